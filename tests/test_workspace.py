"""The SQLite workspace is a real file: CRUD, undo of deletes, migrations, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from playground.core.workspace import SCHEMA_VERSION, Workspace, WorkspaceError

ROW = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}


def test_file_is_wal_and_versioned(home: Path) -> None:
    ws = Workspace()
    assert ws.path == home / "playground.db" and ws.path.is_file()
    con = sqlite3.connect(ws.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ws.schema_version() == SCHEMA_VERSION
    Workspace()  # re-opening migrates nothing and keeps the data
    assert ws.schema_version() == SCHEMA_VERSION


def test_dataset_and_row_crud_with_undo(home: Path) -> None:
    ws = Workspace()
    ws.create_dataset("a")
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.create_dataset("a")
    ids = ws.add_rows("a", [dict(ROW), dict(ROW)])
    assert [d["rows"] for d in ws.list_datasets()] == [2]
    ws.update_row(ids[0], {"prompt": "p", "completion": "c"})
    assert ws.rows("a")[0]["data"] == {"prompt": "p", "completion": "c"}
    removed = ws.delete_rows([ids[1]])
    assert len(ws.rows("a")) == 1
    ws.restore_rows(removed)
    assert [r["id"] for r in ws.rows("a")] == ids
    ws.rename_dataset("a", "b")
    assert ws.has_dataset("b") and not ws.has_dataset("a")
    ws.delete_dataset("b")
    assert ws.list_datasets() == []
    with pytest.raises(WorkspaceError, match="No dataset"):
        ws.rows("b")


def test_failed_batch_changes_nothing(home: Path) -> None:
    ws = Workspace()
    ws.create_dataset("a")
    with pytest.raises(TypeError):
        ws.add_rows("a", [dict(ROW), {"bad": object()}])  # the second row cannot be serialised
    assert ws.rows("a") == []


def test_pairs_and_runs(home: Path) -> None:
    ws = Workspace()
    pid = ws.add_pair(prompt=[{"role": "user", "content": "q"}], response_a="x", response_b="y", choice="a",
                      source_a={"model": "tiny"}, annotator="ann")
    p = ws.pairs()[0]
    assert p["id"] == pid and p["prompt"] == [{"role": "user", "content": "q"}] and p["source_a"] == {"model": "tiny"}
    with pytest.raises(WorkspaceError, match="unknown pair field"):
        ws.add_pair(prompt="q", response_a="x", response_b="y", colour="red")
    ws.register_run("sft-1", "sft", home / "runs" / "sft-1", {"model": "tiny"})
    assert ws.get_run("sft-1")["config"] == {"model": "tiny"}
    assert [r["id"] for r in ws.runs("sft")] == ["sft-1"]


def test_concurrent_writers_lose_nothing(home: Path) -> None:
    ws = Workspace()
    errors = []

    def vote(n: int) -> None:
        try:
            for i in range(25):
                Workspace().add_pair(prompt=f"p{n}-{i}", response_a="a", response_b="b", choice="a")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=vote, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    prompts = [p["prompt"] for p in ws.pairs()]
    assert len(prompts) == 200 and len(set(prompts)) == 200
