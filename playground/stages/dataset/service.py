"""What the Dataset tab and scripts do to a named dataset: rows in, rows edited, rows out.

    row = build_messages("", "Say hi", "", "Hi!")            # the Add form's fields as one stored row
    name = add_rows(ws, None, [row])                         # None: the default dataset, made if missing
    df = rows_frame(ws, name)                                # the Rows table (id, split, system, prompt, ...)
    apply_table_edits(ws, name, df)                          # edited cells back into the rows
    removed = delete_rows(ws, [rid]); restore_rows(ws, removed)   # delete with undo
    path, msg = export_file(ws, name, "jsonl", "messages", "all")
    push(ws, name, "me/my-set", token, "messages", "all")    # through core.hub.push_rows (the one safe push)

Every refusal raises a UserError subclass with one line; nothing here imports gradio.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from playground.core import hub
from playground.core.chat import prompt_text, response_text
from playground.core.errors import FormatError, WorkspaceError
from playground.core.workspace import Workspace
from playground.stages.dataset import io as dio

TABLE_COLUMNS = ["id", "split", "system", "prompt", "response", "turns"]
PREVIEW_COLUMNS = ["system", "prompt", "response", "turns"]
DEFAULT_NAME = "my-dataset"
SPLITS = ("train", "eval")


# -- one row as the table shows it ----------------------------------------------------------------------------
def summarise_row(data: dict[str, Any]) -> tuple[str, str, str, int]:
    """(system, last user message, last response, user turns) of a stored row, for the table."""
    msgs = data.get("messages") or []
    system = msgs[0]["content"] if msgs and msgs[0].get("role") == "system" else ""
    last = msgs[-1:] if msgs and msgs[-1].get("role") == "assistant" else []
    return system, prompt_text(msgs), response_text(last), sum(m.get("role") == "user" for m in msgs)


def rows_frame(ws: Workspace, name: str | None) -> pd.DataFrame:
    """The Rows table of dataset `name` (an empty table when there is none)."""
    if not name or not ws.has_dataset(name):
        return pd.DataFrame(columns=TABLE_COLUMNS)
    out = [[r["id"], r["split"], *summarise_row(r["data"])] for r in ws.rows(name)]
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def preview_frame(rows: list[dict[str, Any]], n: int = 8) -> pd.DataFrame:
    """The first `n` rows of an import, as the preview table shows them."""
    return pd.DataFrame([list(summarise_row(r)) for r in rows[:n]], columns=PREVIEW_COLUMNS)


def summary_line(ws: Workspace, name: str | None) -> str:
    """One markdown line: rows, train/eval counts and drafts still without a response."""
    if not name or not ws.has_dataset(name):
        return "_No dataset selected: create one, or just add a row (it goes to **my-dataset**)._"
    rs = ws.rows(name)
    n_eval = sum(r["split"] == "eval" for r in rs)
    drafts = sum(1 for r in rs if not summarise_row(r["data"])[2].strip())
    d = f" · ✏️ {drafts} without a response" if drafts else ""
    return f"**{name}** · {len(rs)} rows · train {len(rs) - n_eval} / eval {n_eval}{d}"


def dataset_names(ws: Workspace) -> list[str]:
    return [d["name"] for d in ws.list_datasets()]


def dataset_rows(ws: Workspace, name: str | None, split: str | None = None) -> tuple[list[int], list[dict]]:
    """(row ids, row data) of `name`, optionally one split; FormatError when no dataset is picked."""
    if not name:
        raise FormatError("pick or create a dataset first")
    rs = ws.rows(name, split)
    return [r["id"] for r in rs], [r["data"] for r in rs]


# -- adding rows ----------------------------------------------------------------------------------------------
def build_messages(system: str, instruction: str, inp: str, response: str) -> dict[str, Any]:
    """The form's fields as one canonical row; a missing response is kept as an empty draft to fill later."""
    if not (instruction or "").strip():
        raise FormatError("the instruction is empty: type what the user asks")
    user = instruction.strip() + (f"\n\n{inp.strip()}" if (inp or "").strip() else "")
    msgs = [{"role": "system", "content": system.strip()}] if (system or "").strip() else []
    msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": (response or "").strip()}]
    return {"messages": msgs}


def parse_conversation(text: str) -> dict[str, Any]:
    """A JSON list of {"role", "content"} messages (or {"messages": [...]}) from the multi-turn box."""
    try:
        obj = json.loads(text or "")
    except json.JSONDecodeError as e:
        raise FormatError(f"conversation JSON, line {e.lineno} column {e.colno}: {e.msg}") from None
    if isinstance(obj, dict):
        obj = obj.get("messages")
    rec = dio.Records("conversation", [{"messages": obj}], ["box"])
    rows, _ = dio.convert(rec, "messages")
    dio.check_import(rows, "conversation", ["box"])
    return rows[0]


def ensure_dataset(ws: Workspace, name: str | None) -> str:
    """`name` (or the default dataset), made if missing."""
    name = (name or "").strip() or DEFAULT_NAME
    if not ws.has_dataset(name):
        ws.create_dataset(name)
    return name


def add_rows(ws: Workspace, name: str | None, rows: list[dict[str, Any]], source: str = "form") -> str:
    """Add demonstration rows to `name` (the default dataset when empty); returns the dataset's name."""
    name = ensure_dataset(ws, name)
    ws.add_rows(name, rows, meta={"source": source})
    return name


# -- editing rows ---------------------------------------------------------------------------------------------
def edit_row(data: dict[str, Any], system: str, prompt: str, response: str) -> dict[str, Any]:
    """Apply the table's system / prompt / response cells to a stored row (the last exchange of multi-turn)."""
    msgs = [dict(m) for m in data.get("messages") or []]
    has_sys = bool(msgs) and msgs[0].get("role") == "system"
    if (system or "").strip():
        if has_sys:
            msgs[0]["content"] = system
        else:
            msgs.insert(0, {"role": "system", "content": system})
    elif has_sys:
        msgs.pop(0)
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    if users:
        msgs[users[-1]]["content"] = prompt
    else:
        msgs.append({"role": "user", "content": prompt})
    if msgs[-1].get("role") == "assistant":
        msgs[-1]["content"] = response
    elif (response or "").strip():
        msgs.append({"role": "assistant", "content": response})
    return {**data, "messages": msgs}


def _cell(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def apply_table_edits(ws: Workspace, name: str | None, df: pd.DataFrame) -> int:
    """Write the edited cells back; returns the number of rows changed. Unknown ids are an error, and a bad
    cell changes nothing (every row is checked before the first write)."""
    if not name:
        raise FormatError("pick a dataset first")
    stored = {r["id"]: r for r in ws.rows(name)}
    edits: dict[int, dict[str, Any]] = {}
    splits: dict[int, str] = {}
    for rec in df.to_dict("records"):
        try:
            rid = int(rec["id"])
        except (TypeError, ValueError):
            raise FormatError(f"table row with id '{rec.get('id')}': ids cannot be edited") from None
        if rid not in stored:
            raise FormatError(f"row id {rid} is not in dataset '{name}' (reload the table)")
        old = stored[rid]
        new = edit_row(old["data"], _cell(rec.get("system")), _cell(rec.get("prompt")), _cell(rec.get("response")))
        split = _cell(rec.get("split")).strip() or old["split"]
        if split not in SPLITS:
            raise FormatError(f"row id {rid}, field 'split': '{split}' is not train or eval")
        issues = [i for i in dio.validate([new]) if i.level == "error"]
        if issues:
            raise FormatError(f"row id {rid}, field '{issues[0].field}': {issues[0].message}")
        if new != old["data"]:
            edits[rid] = new
        if split != old["split"]:
            splits[rid] = split
    for rid, new in edits.items():
        ws.update_row(rid, new)
    if splits:
        ws.set_splits(splits)
    return len(edits) + len(splits)


# -- deleting rows, with undo ---------------------------------------------------------------------------------
def delete_rows(ws: Workspace, ids: list[int]) -> list[dict[str, Any]]:
    """Delete rows; returns them whole, for `restore_rows` (undo)."""
    return ws.delete_rows([int(i) for i in ids])


def restore_rows(ws: Workspace, removed: list[dict[str, Any]]) -> int:
    """Put deleted rows back (undo); WorkspaceError when that is no longer possible (dataset deleted...)."""
    try:
        ws.restore_rows(removed)
    except sqlite3.Error as e:
        raise WorkspaceError(f"cannot undo: {str(e).splitlines()[0]}") from None
    return len(removed)


def delete_dataset(ws: Workspace, name: str) -> None:
    if not ws.has_dataset(name):
        raise WorkspaceError(f"No dataset named '{name}' in the workspace.")
    ws.delete_dataset(name)


# -- train / eval split ---------------------------------------------------------------------------------------
def split_rows(ws: Workspace, name: str | None, eval_fraction: float, seed: int) -> tuple[int, int]:
    """A seeded train/eval split of every row; returns (train, eval) counts."""
    ids, _ = dataset_rows(ws, name)
    splits = dio.assign_splits(len(ids), float(eval_fraction), int(seed))
    ws.set_splits(dict(zip(ids, splits, strict=True)))
    n_eval = splits.count("eval")
    return len(ids) - n_eval, n_eval


# -- export and push ------------------------------------------------------------------------------------------
def _split_rows(ws: Workspace, name: str | None, split: str) -> list[dict[str, Any]]:
    return dataset_rows(ws, name, None if split == "all" else split)[1]


def export_file(ws: Workspace, name: str | None, fmt: str, style: str, split: str = "all") -> tuple[Path, str]:
    """Write the rows in TRL format to a temporary file; returns (path, one-line message)."""
    rows = _split_rows(ws, name, split)
    out = Path(tempfile.mkdtemp(prefix="pg-export-")) / f"{name}{'' if split == 'all' else '-' + split}.{fmt}"
    n = dio.export_rows(rows, out, fmt, style)
    skipped = len(rows) - n
    note = f" ({skipped} without a response skipped)" if skipped else ""
    return out, f"⬇️ {n} rows as {fmt} ({style}){note}."


def push(ws: Workspace, name: str | None, repo_id: str, token: str | None, style: str = "messages",
         split: str = "all", private: bool = True) -> str:
    """Push the rows (TRL format) as a Hub dataset through core.hub; returns a one-line message."""
    out, _ = dio.styled_rows(_split_rows(ws, name, split), style)
    if not out:
        raise hub.HubError("nothing to push: no row has an answer")
    url = hub.push_rows(out, repo_id, token, private=bool(private))
    return f"✅ Pushed {len(out)} rows to {url}"
