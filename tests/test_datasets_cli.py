"""`python -m playground datasets {import,export,list,starters}`: exit codes, one-line errors, workspace untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures" / "datasets"
CACHE = os.environ.get("PLAYGROUND_CACHE") or str(ROOT / ".cache" / "playground")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PLAYGROUND_CACHE", CACHE)
    return tmp_path / "home"


def cli(*args: str) -> subprocess.CompletedProcess:
    """The real command line in a subprocess (argparse, exit codes, stderr), as a user runs it."""
    return subprocess.run([sys.executable, "-m", "playground", "datasets", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())


def in_process(*args: str) -> int:
    from playground.cli import main

    return main(["datasets", *map(str, args)])


def rows_of(name: str) -> list:
    from playground.core.workspace import Workspace

    return [r["data"] for r in Workspace().rows(name)]


def test_import_list_export_round_trip(home, tmp_path):
    r = cli("import", FIX / "formats" / "sharegpt.jsonl", "--name", "chat")
    assert r.returncode == 0, r.stderr
    assert "imported 3 rows" in r.stdout and "sharegpt" in r.stdout
    r = cli("list")
    assert r.returncode == 0 and "chat" in r.stdout and "train=3" in r.stdout
    out = tmp_path / "chat.parquet"
    r = cli("export", "chat", "--format", "parquet", "--out", out)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "wrote 3 rows" in r.stdout
    r = cli("import", out, "--name", "chat2")
    assert r.returncode == 0, r.stderr
    assert rows_of("chat2") == rows_of("chat")


def test_in_process_formats_mapping_and_styles(home, tmp_path, capsys):
    assert in_process("import", FIX / "formats" / "alpaca.json", "--name", "a", "--format", "alpaca") == 0
    assert in_process("import", FIX / "formats" / "qa_unmapped.csv", "--name", "qa",
                      "--map", "instruction=question,output=answer") == 0
    assert rows_of("qa")[1]["messages"][1]["content"] == "Leonardo da Vinci."
    out = tmp_path / "a.jsonl"
    assert in_process("export", "a", "--format", "jsonl", "--out", out, "--style", "prompt_completion") == 0
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"prompt", "completion"} and first["completion"][0]["role"] == "assistant"
    assert in_process("list") == 0
    listed = capsys.readouterr().out
    assert "a " in listed and "qa" in listed
    assert in_process("starters") == 0
    assert "translate" in capsys.readouterr().out
    assert in_process("starters", "--add", "classify") == 0
    assert len(rows_of("starter-classify")) == 24


@pytest.mark.parametrize("args, reason", [
    (["import", FIX / "malformed" / "truncated.json", "--name", "x"], "truncated.json line 1: JSON ends too early"),
    (["import", FIX / "malformed" / "empty.jsonl", "--name", "x"], "empty (0 bytes)"),
    (["import", FIX / "malformed" / "junk.bin", "--name", "x"], "binary file"),
    (["import", FIX / "malformed" / "latin1.csv", "--name", "x"], "not UTF-8"),
    (["import", FIX / "malformed" / "roles_out_of_order.jsonl", "--name", "x", "--strict"], "roles out of order"),
    (["import", FIX / "formats" / "qa_unmapped.csv", "--name", "x"], "map the columns by hand"),
    (["import", FIX / "formats" / "qa_unmapped.csv", "--name", "x", "--map", "instruction=question"],
     "needs a column for: output"),
    (["import", FIX / "formats" / "messages.jsonl", "--name", "keep"], "already exists"),
    (["import", "/no/such/file.jsonl", "--name", "x"], "no such file"),
    (["export", "nope", "--format", "jsonl", "--out", "/tmp/x.jsonl"], "No dataset named 'nope'"),
    (["export", "keep", "--format", "jsonl", "--out", "/no/such/dir/x.jsonl"], "does not exist"),
])
def test_bad_input_exits_nonzero_with_one_line(home, capsys, args, reason):
    assert in_process("import", FIX / "formats" / "messages.jsonl", "--name", "keep") == 0
    from playground.core.workspace import Workspace

    before = [(d["name"], d["rows"]) for d in Workspace().list_datasets()]
    capsys.readouterr()
    assert in_process(*args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and reason in err
    assert [(d["name"], d["rows"]) for d in Workspace().list_datasets()] == before


def test_subprocess_error_exit_code(home):
    r = cli("import", FIX / "malformed" / "wrong_type.jsonl", "--name", "x")
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: wrong_type.jsonl line 1, field 'messages[1].content': expected text, got list; "
                           "no usable rows (1 bad; all reasons: ")
    assert "Traceback" not in r.stderr
    r = cli("list")
    assert r.returncode == 0 and "no datasets yet" in r.stdout
    r = cli("export", "x", "--format", "csv", "--out", "x.csv")
    assert r.returncode == 2  # argparse: invalid choice


def test_partial_import_reports_skipped_rows_and_strict_imports_nothing(home, tmp_path):
    good = {"instruction": "Name a colour.", "output": "Blue."}
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join([json.dumps(good), '{"instruction": "cut', json.dumps({"instruction": None, "output": "x"}),
                            json.dumps(good)]) + "\n", encoding="utf-8")
    r = cli("import", f, "--name", "mixed", "--strict")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: mixed.jsonl line 2: JSON ends too early") and "and 1 more bad row(s)" in line
    assert "no datasets yet" in cli("list").stdout
    r = cli("import", f, "--name", "mixed")
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()
    assert out[0].startswith("imported 2 rows (alpaca")
    assert out[1].startswith("skipped 2 of 4 rows: line 2: JSON ends too early")
    assert "line 3, field 'instruction': missing (null)" in out[1]
    path = Path(out[1].rsplit("(all reasons: ", 1)[1].rstrip(")"))
    assert path.parent == home / "rejects"
    assert [json.loads(x)["line"] for x in path.read_text(encoding="utf-8").splitlines()] == [2, 3]
    assert len(rows_of("mixed")) == 2
