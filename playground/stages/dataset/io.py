"""Instruction datasets in and out: read files, detect and convert formats, validate, dedupe, split, export.

    rows, fmt = load_file("alpaca.json")                    # -> [{"messages": [...]}, ...], "alpaca"
    issues = validate(rows, tokenizer=tok, max_length=512)  # -> [Issue(row=3, field="messages[1].content", ...)]
    groups = find_duplicates(rows)                          # -> [DupGroup(kind="near", rows=[4, 17], ...)]
    import_file(ws, "alpaca.json", name="my-set")           # all rows or none land in the workspace
    export_rows(rows, "out.parquet", style="prompt_completion")

Every row is stored in one canonical shape, TRL's conversational "messages" format:
{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}. Import understands alpaca
(instruction/input/output), sharegpt (conversations with from/value), messages, prompt/completion, plain
"text" holding a transcript, and Anthropic-HH transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...").

A file that cannot be used raises FormatError with one line naming the file, the line/row and the field; it
is raised before the workspace is touched, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.core.errors import FormatError  # noqa: F401 - raised here, re-exported
from playground.core.paths import BUILTIN_DATA_DIR

FORMATS = ("auto", "messages", "alpaca", "sharegpt", "prompt_completion", "hh", "text")
FORMAT_LABELS = {
    "messages": "messages (TRL conversational)",
    "alpaca": "alpaca (instruction / input / output)",
    "sharegpt": "sharegpt (conversations with from / value)",
    "prompt_completion": "prompt / completion",
    "hh": "Anthropic-HH transcript (Human: / Assistant:)",
    "text": "text (a transcript in one field)",
    "mapped": "manual column mapping",
    "starter": "built-in starter",
}
EXPORT_STYLES = ("messages", "prompt_completion")
ROLES = ("system", "user", "assistant")
MAX_FILE_BYTES = 512 * 1024 * 1024  # bigger than any instruction set a playground user builds by hand
MAX_ROW_CHARS = 1_000_000  # one row over ~1 MB of text is a broken file, not an instruction
MAX_ROWS = 200_000
STARTERS_DIR = BUILTIN_DATA_DIR / "starters"

# sharegpt speakers seen in the wild -> our roles
_SPEAKERS = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant", "bing": "assistant",
    "model": "assistant", "bot": "assistant",
    "system": "system",
}


# -- reading files ---------------------------------------------------------------------------------------
@dataclass
class Records:
    """Raw records from a file, each with where it came from ("line 4", "row 7") for error messages."""

    source: str
    items: list[dict[str, Any]]
    where: list[str]

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.items[:1000]:
            for k in r:
                seen.setdefault(str(k), None)
        return list(seen)


def _kind_from_name(path: Path, head: bytes) -> str:
    ext = path.name.lower().rsplit(".", 1)[-1] if "." in path.name else ""
    if head[:4] == b"PAR1":
        return "parquet"
    if ext in ("parquet", "pq"):
        return "parquet"
    if ext in ("jsonl", "ndjson"):
        return "jsonl"
    if ext == "json":
        return "json"
    if ext in ("csv", "tsv"):
        return ext
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"[", b"{"):
        return "json"
    return "csv"


def _decode(src: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM (Windows "Unicode" text): readable
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FormatError(f"{src}: broken UTF-16 text; save the file as UTF-8") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise FormatError(
            f"{src} line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save the file as UTF-8"
        ) from None


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    # many control characters that text never has
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 13, 12))
    return len(head) > 0 and ctrl / len(head) > 0.1


def _check_row_size(src: str, where: str, obj: Any, size: int | None = None) -> None:
    size = size if size is not None else len(json.dumps(obj, ensure_ascii=False, default=str))
    if size > MAX_ROW_CHARS:
        raise FormatError(f"{src} {where}: row is {size / 1e6:.2g} MB of text, over the "
                          f"{MAX_ROW_CHARS / 1e6:g} MB limit per row; split or trim it")


def _json_error(src: str, text: str, e: json.JSONDecodeError, line_offset: int = 0) -> FormatError:
    line = line_offset + e.lineno
    if e.pos >= len(text.rstrip()) or "Unterminated" in e.msg:
        return FormatError(f"{src} line {line}: JSON ends too early ({e.msg}); the file looks truncated")
    return FormatError(f"{src} line {line} column {e.colno}: invalid JSON ({e.msg})")


def _as_record(src: str, where: str, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise FormatError(f"{src} {where}: expected a JSON object like {{\"messages\": [...]}}, "
                          f"got {type(obj).__name__}")
    _check_row_size(src, where, obj)
    return obj


def _read_jsonl(src: str, text: str) -> Records:
    items, where = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if len(line) > MAX_ROW_CHARS:
            _check_row_size(src, f"line {n}", None, len(line))
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise _json_error(src, line, e, n - 1) from None
        items.append(_as_record(src, f"line {n}", obj))
        where.append(f"line {n}")
        if len(items) > MAX_ROWS:
            raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
    return Records(src, items, where)


def _read_json(src: str, text: str) -> Records:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several objects, one per line: JSON Lines under a .json name
            return _read_jsonl(src, text)
        raise _json_error(src, text, e) from None
    if isinstance(obj, dict):
        # {"data": [...]}, {"train": [...]}, {"rows": [...]}; or a single row
        lists = [k for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        for key in ("data", "rows", "train", "examples", "items"):
            if key in lists:
                obj = obj[key]
                break
        else:
            obj = [obj]
    if not isinstance(obj, list):
        raise FormatError(f"{src}: expected a JSON list of objects, got {type(obj).__name__}")
    if len(obj) > MAX_ROWS:
        raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
    return Records(src, [_as_record(src, f"item {i}", x) for i, x in enumerate(obj, 1)],
                   [f"item {i}" for i in range(1, len(obj) + 1)])


def _read_csv(src: str, text: str, delimiter: str) -> Records:
    csv.field_size_limit(MAX_ROW_CHARS + 1)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    items, where = [], []
    try:
        header = reader.fieldnames
        if not header or not any(h and h.strip() for h in header):
            raise FormatError(f"{src} line 1: no header row; the first line must name the columns")
        header = [h.strip() for h in header]
        reader.fieldnames = header
        blank = [i + 1 for i, h in enumerate(header) if not h]
        if blank:
            raise FormatError(f"{src} line 1: column {blank[0]} of the header has no name")
        for n, row in enumerate(reader, 1):
            where_n = f"row {n} (line {reader.line_num})"
            if None in row:
                raise FormatError(f"{src} {where_n}: {len(header) + len(row[None])} cells but the header names "
                                  f"{len(header)} columns")
            _check_row_size(src, where_n, None, sum(len(v or "") for v in row.values()))
            items.append({k: ("" if v is None else v) for k, v in row.items()})
            where.append(where_n)
            if len(items) > MAX_ROWS:
                raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
    except csv.Error as e:
        msg = str(e)
        if "field larger than field limit" in msg:
            raise FormatError(f"{src} line {reader.line_num + 1}: a cell is over the "
                              f"{MAX_ROW_CHARS / 1e6:g} MB limit per row; split or trim it") from None
        raise FormatError(f"{src} line {reader.line_num}: broken CSV ({msg})") from None
    return Records(src, items, where)


def _read_parquet(src: str, path: Path) -> Records:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        first = str(e).replace(str(path), src).splitlines()[0][:160] if str(e) else type(e).__name__
        raise FormatError(f"{src}: not a readable Parquet file ({first})") from None
    if table.num_rows > MAX_ROWS:
        raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
    items = table.to_pylist()
    for i, r in enumerate(items, 1):
        _check_row_size(src, f"row {i}", r)
    return Records(src, items, [f"row {i}" for i in range(1, len(items) + 1)])


def read_records(path: str | Path, display_name: str | None = None) -> Records:
    """Raw records from a JSON / JSONL / CSV / TSV / Parquet file, or FormatError saying what is wrong."""
    path = Path(path)
    src = display_name or path.name
    if not path.is_file():
        raise FormatError(f"{src}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise FormatError(f"{src}: the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise FormatError(f"{src}: {size / 2**20:.0f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB import limit")
    with open(path, "rb") as fh:
        head = fh.read(8192)
    kind = _kind_from_name(path, head)
    if kind == "parquet":
        recs = _read_parquet(src, path)
    else:
        data = path.read_bytes()
        if _looks_binary(data):
            raise FormatError(f"{src}: looks like a binary file, not JSON / JSONL / CSV text or Parquet")
        text = _decode(src, data)
        if not text.strip():
            raise FormatError(f"{src}: the file holds only whitespace")
        if kind == "jsonl":
            recs = _read_jsonl(src, text)
        elif kind == "json":
            recs = _read_json(src, text)
        else:
            recs = _read_csv(src, text, "\t" if kind == "tsv" else ",")
    if not recs.items:
        raise FormatError(f"{src}: no rows found")
    return recs


# -- format detection --------------------------------------------------------------------------------------
_HH_RE = re.compile(r"(?:^|\n\n)(Human|Assistant|H|A):\s?", re.S)


def _is_msg_list(v: Any, keys: tuple[str, str]) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) for m in v) and keys[0] in v[0] \
        and keys[1] in v[0]


def _looks_hh(v: Any) -> bool:
    return isinstance(v, str) and "Human:" in v and "Assistant:" in v


def detect_format(records: Records | list[dict[str, Any]]) -> str:
    """The format of the rows ("alpaca", "sharegpt", ...) or FormatError listing the columns found."""
    items = records.items if isinstance(records, Records) else records
    src = records.source if isinstance(records, Records) else "data"
    sample = [r for r in items[:50] if isinstance(r, dict)]
    if not sample:
        raise FormatError(f"{src}: no rows to detect a format from")
    cols = set().union(*(set(r) for r in sample))
    first = next((r for r in sample if r), sample[0])

    def has(*names: str) -> bool:
        return all(n in cols for n in names)

    if has("messages") and _is_msg_list(first.get("messages"), ("role", "content")):
        return "messages"
    if has("conversations"):
        conv = first.get("conversations")
        if _is_msg_list(conv, ("from", "value")) or _is_msg_list(conv, ("role", "content")):
            return "sharegpt"
    if has("instruction") and (has("output") or has("response")):
        return "alpaca"
    if has("prompt") and (has("completion") or has("response")):
        return "prompt_completion"
    if has("chosen") and _looks_hh(first.get("chosen")):
        return "hh"
    for col in ("text", "transcript", "conversation", "dialogue"):
        if has(col) and isinstance(first.get(col), str):
            return "hh" if _looks_hh(first.get(col)) else "text"
    if has("messages"):
        return "messages"  # a messages column whose first row is odd: conversion names the row
    shown = ", ".join(sorted(map(str, cols))[:12])
    raise FormatError(
        f"{src}: cannot tell the format from the columns ({shown}); expected messages, instruction/output, "
        "conversations, prompt/completion or text — map the columns by hand"
    )


_GUESSES = {
    "instruction": ("instruction", "question", "query", "prompt", "input_text", "source", "request", "task", "q"),
    "input": ("input", "context", "passage", "document"),
    "output": ("output", "answer", "response", "completion", "target", "reply", "label", "summary", "a"),
    "system": ("system", "system_prompt"),
}


def guess_mapping(columns: list[str]) -> dict[str, str | None]:
    """Best guesses for a manual mapping (instruction / input / output / system -> column), for the UI to pre-fill."""
    lower = {c.lower().strip(): c for c in columns}
    out: dict[str, str | None] = {}
    used: set[str] = set()
    for key, names in _GUESSES.items():
        hit = next((lower[n] for n in names if n in lower and lower[n] not in used), None)
        out[key] = hit
        if hit:
            used.add(hit)
    return out


# -- conversion to {"messages": [...]} -----------------------------------------------------------------------
def _text(src: str, where: str, field_name: str, v: Any, required: bool = True) -> str:
    """A cell as a string; numbers are accepted (CSV, spreadsheets), containers are a type error."""
    if v is None:
        if required:
            raise FormatError(f"{src} {where}, field '{field_name}': missing (null)")
        return ""
    if isinstance(v, float) and v != v:  # NaN from a spreadsheet = empty cell
        return ""
    if isinstance(v, bool) or isinstance(v, (dict, list)):
        raise FormatError(f"{src} {where}, field '{field_name}': expected text, got {type(v).__name__}")
    if isinstance(v, (int, float)):
        return str(v)
    if not isinstance(v, str):
        raise FormatError(f"{src} {where}, field '{field_name}': expected text, got {type(v).__name__}")
    return v


def _maybe_json(v: Any) -> Any:
    """CSV cells hold nested data as JSON text."""
    if isinstance(v, str) and v.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _messages_from_list(src: str, where: str, field_name: str, v: Any, role_key: str = "role",
                        content_key: str = "content") -> list[dict[str, str]]:
    v = _maybe_json(v)
    if not isinstance(v, list) or not v:
        raise FormatError(f"{src} {where}, field '{field_name}': expected a non-empty list of messages, "
                          f"got {type(v).__name__ if not isinstance(v, list) else 'an empty list'}")
    out = []
    for i, m in enumerate(v):
        f = f"{field_name}[{i}]"
        if not isinstance(m, dict):
            raise FormatError(f"{src} {where}, field '{f}': expected an object with {role_key}/{content_key}, "
                              f"got {type(m).__name__}")
        rk = role_key if role_key in m else ("role" if "role" in m else role_key)
        ck = content_key if content_key in m else ("content" if "content" in m else content_key)
        if rk not in m:
            raise FormatError(f"{src} {where}, field '{f}': no '{role_key}' key")
        if ck not in m:
            raise FormatError(f"{src} {where}, field '{f}': no '{content_key}' key")
        raw_role = str(m[rk]).strip().lower()
        role = _SPEAKERS.get(raw_role)
        if role is None:
            raise FormatError(f"{src} {where}, field '{f}.{rk}': unknown role '{m[rk]}' "
                              "(expected system, user or assistant)")
        out.append({"role": role, "content": _text(src, where, f"{f}.{ck}", m[ck])})
    return out


def parse_transcript(text: str) -> list[dict[str, str]] | None:
    """'\\n\\nHuman: hi\\n\\nAssistant: hello' (Anthropic HH), 'User:/Assistant:', ChatML or alpaca-style
    '### Instruction / ### Response' text -> messages; None when the text has no such structure."""
    t = text.replace("\r\n", "\n")
    if "<|im_start|>" in t:
        parts = re.findall(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", t, re.S)
        msgs = [{"role": _SPEAKERS.get(r.lower(), ""), "content": c.strip()} for r, c in parts]
        return msgs if msgs and all(m["role"] for m in msgs) else None
    m = re.search(r"###\s*Instruction:?\s*\n(.*?)(?:###\s*Input:?\s*\n(.*?))?###\s*Response:?\s*\n(.*)", t, re.S)
    if m:
        instr, inp, resp = (g.strip() if g else "" for g in m.groups())
        return [{"role": "user", "content": f"{instr}\n\n{inp}" if inp else instr},
                {"role": "assistant", "content": resp}]
    pat = re.compile(r"(?:^|\n+)\s*(Human|User|Assistant|H|A):[ \t]?", re.S)
    marks = list(pat.finditer(t))
    if len(marks) < 2 or t[: marks[0].start()].strip():
        return None
    msgs = []
    for i, mk in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(t)
        role = "assistant" if mk.group(1) in ("Assistant", "A") else "user"
        msgs.append({"role": role, "content": t[mk.end():end].strip()})
    return msgs


def _convert_one(src: str, where: str, r: dict[str, Any], fmt: str, mapping: dict[str, str] | None) -> dict:
    def need(col: str) -> Any:
        if col not in r:
            raise FormatError(f"{src} {where}: missing column '{col}' (columns: {', '.join(map(str, r))})")
        return r[col]

    if fmt == "messages":
        msgs = _messages_from_list(src, where, "messages", need("messages"))
    elif fmt == "sharegpt":
        conv = _maybe_json(need("conversations"))
        keys = ("role", "content") if _is_msg_list(conv, ("role", "content")) else ("from", "value")
        msgs = _messages_from_list(src, where, "conversations", conv, *keys)
        sys_prompt = _text(src, where, "system", r.get("system"), required=False).strip()
        if sys_prompt and msgs[0]["role"] != "system":
            msgs.insert(0, {"role": "system", "content": sys_prompt})
    elif fmt in ("alpaca", "mapped"):
        m = mapping or {}
        ic = m.get("instruction") or "instruction"
        oc = m.get("output") or ("output" if "output" in r or "response" not in r else "response")
        inc = m.get("input") if mapping else "input"
        sc = m.get("system") if mapping else "system"
        instr = _text(src, where, ic, need(ic))
        inp = _text(src, where, inc, r.get(inc), required=False) if inc else ""
        out = _text(src, where, oc, need(oc), required=False)
        sys_prompt = _text(src, where, sc, r.get(sc), required=False) if sc else ""
        msgs = []
        if sys_prompt.strip():
            msgs.append({"role": "system", "content": sys_prompt})
        msgs.append({"role": "user", "content": f"{instr}\n\n{inp}" if inp.strip() else instr})
        msgs.append({"role": "assistant", "content": out})
    elif fmt == "prompt_completion":
        p = _maybe_json(need("prompt"))
        cc = "completion" if "completion" in r else "response"
        c = _maybe_json(need(cc))
        if isinstance(p, list):
            msgs = _messages_from_list(src, where, "prompt", p)
            msgs += _messages_from_list(src, where, cc, c) if isinstance(c, list) else [
                {"role": "assistant", "content": _text(src, where, cc, c, required=False)}]
        else:
            msgs = [{"role": "user", "content": _text(src, where, "prompt", p)},
                    {"role": "assistant", "content": _text(src, where, cc, c, required=False)}]
    elif fmt in ("hh", "text"):
        col = next((c for c in ("chosen", "text", "transcript", "conversation", "dialogue") if c in r), None)
        if col is None:
            raise FormatError(f"{src} {where}: missing column 'text' (or 'chosen' for HH)")
        text = _text(src, where, col, r[col])
        parsed = parse_transcript(text)
        if parsed is None:
            raise FormatError(f"{src} {where}, field '{col}': plain text with no Human:/Assistant: (or "
                              "### Instruction / ### Response) turns to split into prompt and answer")
        msgs = parsed
    else:
        raise FormatError(f"unknown format '{fmt}' (choose one of {', '.join(FORMATS)})")
    return {"messages": msgs}


def convert(records: Records, fmt: str = "auto", mapping: dict[str, str] | None = None) -> tuple[list[dict], str]:
    """(rows in {"messages": [...]} form, the format used). mapping={"instruction": col, "output": col,
    "input": col, "system": col} maps columns by hand (format "mapped")."""
    if mapping:
        mapping = {k: v for k, v in mapping.items() if v}
        missing = [k for k in ("instruction", "output") if k not in mapping]
        if missing:
            raise FormatError(f"column mapping needs a column for: {', '.join(missing)}")
        cols = set(records.columns)
        bad = [v for v in mapping.values() if v not in cols]
        if bad:
            raise FormatError(f"{records.source}: no column '{bad[0]}' (columns: {', '.join(records.columns)})")
        fmt = "mapped"
    elif fmt in ("auto", "", None):
        fmt = detect_format(records)
    elif fmt not in FORMATS:
        raise FormatError(f"unknown format '{fmt}' (choose one of {', '.join(FORMATS)})")
    rows = [_convert_one(records.source, w, r, fmt, mapping)
            for r, w in zip(records.items, records.where, strict=True)]
    return rows, fmt


def load_file(path: str | Path, fmt: str = "auto", mapping: dict[str, str] | None = None,
              display_name: str | None = None) -> tuple[list[dict], str]:
    """Read and convert a file: (rows, detected format). Raises FormatError; touches nothing."""
    return convert(read_records(path, display_name), fmt, mapping)


# -- validation ---------------------------------------------------------------------------------------------
@dataclass
class Issue:
    row: int  # 0-based index into the rows given
    field: str
    message: str
    level: str = "error"  # error | warning

    def line(self, source: str = "") -> str:
        prefix = f"{source} " if source else ""
        return f"{prefix}row {self.row + 1}, field '{self.field}': {self.message}"


def validate(rows: list[dict[str, Any]], tokenizer: Any = None, max_length: int | None = None) -> list[Issue]:
    """Problems a trainer would trip on or silently skip: wrong types, empty fields, roles out of order,
    rows longer than max_length tokens (counted with the tokenizer's chat template)."""
    issues: list[Issue] = []
    for i, row in enumerate(rows):
        msgs = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(msgs, list) or not msgs:
            issues.append(Issue(i, "messages", "expected a non-empty list of messages"))
            continue
        ok = True
        for j, m in enumerate(msgs):
            f = f"messages[{j}]"
            if not isinstance(m, dict):
                issues.append(Issue(i, f, f"expected an object, got {type(m).__name__}"))
                ok = False
                continue
            if m.get("role") not in ROLES:
                issues.append(Issue(i, f"{f}.role", f"role '{m.get('role')}' is not system, user or assistant"))
                ok = False
            c = m.get("content")
            if not isinstance(c, str):
                issues.append(Issue(i, f"{f}.content", f"expected text, got {type(c).__name__}"))
                ok = False
            elif not c.strip():
                what = "response" if m.get("role") == "assistant" else f"{m.get('role')} message"
                issues.append(Issue(i, f"{f}.content", f"empty {what}", "warning" if what == "response" else "error"))
        if not ok:
            continue
        roles = [m["role"] for m in msgs]
        body = roles[1:] if roles[0] == "system" else roles
        if "system" in body:
            issues.append(Issue(i, f"messages[{roles.index('system', 1)}].role",
                                "a system message may only come first"))
        elif not body:
            issues.append(Issue(i, "messages", "only a system prompt: add a user message and a response"))
        else:
            for j, r in enumerate(body):
                want = "user" if j % 2 == 0 else "assistant"
                if r != want:
                    k = j + (len(roles) - len(body))
                    issues.append(Issue(i, f"messages[{k}].role", f"roles out of order: expected {want}, got {r} "
                                        "(turns must alternate user, assistant, ...)"))
                    break
            else:
                if body[-1] != "assistant":
                    issues.append(Issue(i, f"messages[{len(roles) - 1}]", "ends without an assistant response",
                                        "warning"))
        if tokenizer is not None and max_length:
            n = count_tokens(row, tokenizer)
            if n > max_length:
                issues.append(Issue(i, "messages", f"{n} tokens, longer than max length {max_length} "
                                    "(the end is cut off in training)", "warning"))
    return issues


def count_tokens(row: dict[str, Any], tokenizer: Any) -> int:
    """Tokens of the whole conversation through the tokenizer's chat template (or plain text without one)."""
    msgs = [m for m in row.get("messages", []) if isinstance(m, dict) and isinstance(m.get("content"), str)]
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)
        return len(out["input_ids"])
    return len(tokenizer("\n".join(m["content"] for m in msgs))["input_ids"])


# -- cleaning: duplicates, splits, length --------------------------------------------------------------------
def row_text(row: dict[str, Any]) -> str:
    msgs = row.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in msgs if isinstance(m, dict))


def normalise(text: str) -> str:
    """Case, accents, punctuation and whitespace folded away, so trivially different copies hash alike."""
    t = unicodedata.normalize("NFKD", text.lower())
    t = "".join(c for c in t if not unicodedata.combining(c))
    t = re.sub(r"[^\w\s]", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def _shingles(text: str, k: int = 5) -> set[int]:
    t = normalise(text)
    if len(t) <= k:
        return {zlib.crc32(t.encode())}
    return {zlib.crc32(t[i:i + k].encode()) for i in range(len(t) - k + 1)}


@dataclass
class DupGroup:
    kind: str  # exact | near
    rows: list[int]  # 0-based indices; the first is the one to keep
    similarity: float  # lowest Jaccard similarity of a member to the first (1.0 for exact)

    @property
    def drop(self) -> list[int]:
        return self.rows[1:]


def find_duplicates(rows: list[dict[str, Any]], near: bool = True, threshold: float = 0.8) -> list[DupGroup]:
    """Exact duplicates (same normalised text) and near-duplicates (character 5-gram Jaccard >= threshold,
    candidates found with MinHash LSH so thousands of rows stay fast). Groups are disjoint."""
    texts = [row_text(r) for r in rows]
    norm = [normalise(t) for t in texts]
    by_hash: dict[str, list[int]] = {}
    for i, t in enumerate(norm):
        by_hash.setdefault(t, []).append(i)
    groups = [DupGroup("exact", ix, 1.0) for ix in by_hash.values() if len(ix) > 1]
    if not near:
        return groups
    reps = [ix[0] for ix in by_hash.values()]  # near-duplicates among distinct texts only
    sh = {i: _shingles(texts[i]) for i in reps}
    candidates = _lsh_candidates(reps, sh, threshold)
    parent = {i: i for i in reps}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    sim: dict[tuple[int, int], float] = {}
    for a, b in candidates:
        inter = len(sh[a] & sh[b])
        j = inter / max(1, len(sh[a] | sh[b]))
        if j >= threshold:
            sim[(a, b)] = j
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    clusters: dict[int, list[int]] = {}
    for i in reps:
        clusters.setdefault(find(i), []).append(i)
    for members in clusters.values():
        if len(members) > 1:
            members.sort()
            first = members[0]
            low = min(len(sh[first] & sh[m]) / max(1, len(sh[first] | sh[m])) for m in members[1:])
            groups.append(DupGroup("near", members, round(low, 3)))
    groups.sort(key=lambda g: g.rows[0])
    return groups


def _lsh_candidates(ids: list[int], sh: dict[int, set[int]], threshold: float) -> set[tuple[int, int]]:
    if len(ids) <= 400:  # small sets: compare every pair, exact and simple
        return {(a, b) for n, a in enumerate(ids) for b in ids[n + 1:]}
    import numpy as np

    n_perm, bands = 64, 16  # 16 bands x 4 rows: pairs with Jaccard 0.8 collide in some band with p > 0.99
    rows_per_band = n_perm // bands
    rng = np.random.default_rng(0)
    prime = (1 << 61) - 1
    a = rng.integers(1, 1 << 31, n_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, n_perm, dtype=np.uint64)
    buckets: dict[tuple, list[int]] = {}
    for i in ids:
        h = np.fromiter(sh[i], dtype=np.uint64)
        sig = ((np.outer(h, a) + b) % np.uint64(prime)).min(axis=0)
        for band in range(bands):
            key = (band, *sig[band * rows_per_band:(band + 1) * rows_per_band].tolist())
            buckets.setdefault(key, []).append(i)
    out: set[tuple[int, int]] = set()
    for members in buckets.values():
        if 1 < len(members) <= 200:
            for n, x in enumerate(members):
                for y in members[n + 1:]:
                    out.add((x, y))
    del threshold  # the exact Jaccard check happens in the caller
    return out


def assign_splits(n: int, eval_fraction: float, seed: int) -> list[str]:
    """'train' / 'eval' for n rows, the same for the same seed; at least one eval row when asked for any."""
    if not 0 <= eval_fraction < 1:
        raise FormatError(f"eval fraction must be in [0, 1), got {eval_fraction}")
    out = ["train"] * n
    if eval_fraction <= 0 or n < 2:
        return out
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    for i in idx[: max(1, min(n - 1, round(n * eval_fraction)))]:
        out[i] = "eval"
    return out


def length_filter(rows: list[dict[str, Any]], min_len: int = 0, max_len: int | None = None,
                  count: Callable[[dict[str, Any]], int] | None = None) -> tuple[list[int], list[int]]:
    """(kept, dropped) row indices by length; count defaults to characters (pass a token counter)."""
    count = count or (lambda r: len(row_text(r)))
    keep, drop = [], []
    for i, r in enumerate(rows):
        n = count(r)
        (keep if n >= min_len and (not max_len or n <= max_len) else drop).append(i)
    return keep, drop


# -- export -----------------------------------------------------------------------------------------------
def to_style(row: dict[str, Any], style: str = "messages") -> dict[str, Any] | None:
    """A canonical row in TRL's 'messages' or conversational 'prompt_completion' format (None: not trainable)."""
    if style == "messages":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    if style == "prompt_completion":
        from playground.stages.data import to_prompt_completion

        return to_prompt_completion(row)
    raise FormatError(f"unknown export style '{style}' (choose messages or prompt_completion)")


def styled_rows(rows: Iterable[dict[str, Any]], style: str = "messages") -> tuple[list[dict[str, Any]], int]:
    """(converted rows, number skipped because they have no trainable answer)."""
    out, skipped = [], 0
    for r in rows:
        s = to_style(r, style)
        if s is None:
            skipped += 1
        else:
            out.append(s)
    return out, skipped


def export_rows(rows: list[dict[str, Any]], path: str | Path, fmt: str | None = None,
                style: str = "messages") -> int:
    """Write rows as JSONL or Parquet (by fmt or the file's extension), atomically; returns rows written."""
    path = Path(path)
    fmt = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise FormatError(f"unknown export format '{fmt}' (choose jsonl or parquet)")
    if not path.parent.is_dir():
        raise FormatError(f"{path}: folder {path.parent} does not exist")
    out, _ = styled_rows(rows, style)
    if not out:
        raise FormatError(f"nothing to export: no row has a {'' if style == 'messages' else 'trainable '}answer")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".export-", dir=path.parent)
    except OSError as e:
        raise FormatError(f"{path}: cannot write in {path.parent} ({e.strerror or e})") from None
    os.close(fd)
    try:
        if fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as fh:
                for r in out:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(out), tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise FormatError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(out)


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def push_to_hub(rows: list[dict[str, Any]], repo_id: str, token: str, style: str = "messages",
                private: bool = True, split: str = "train") -> str:
    """Push rows as a Hub dataset. The token goes to the call only: never to disk, env or logs."""
    repo_id = (repo_id or "").strip()
    if not token or not token.strip():
        raise FormatError("a Hugging Face token (write access) is needed to push")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise FormatError(f"'{repo_id}' is not a dataset id like 'your-name/my-dataset'")
    out, _ = styled_rows(rows, style)
    if not out:
        raise FormatError("nothing to push: no row has an answer")
    if not hub_reachable():
        raise FormatError(_hub_message("push to", repo_id, "unreachable"))
    try:
        from datasets import Dataset

        Dataset.from_list(out).push_to_hub(repo_id, token=token.strip(), private=private, split=split)
    except Exception as e:  # noqa: BLE001 - network / auth errors of every kind become one line
        raise FormatError(_hub_message("push to", repo_id, _scrub(str(e), token.strip()))) from None
    return f"https://huggingface.co/datasets/{repo_id}"


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so an offline machine gets its answer in seconds instead of after minutes of retries."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_message(verb: str, repo_id: str, text: str) -> str:
    first = text.splitlines()[0][:200] if text else "unknown error"
    low = text.lower()
    if any(w in low for w in ("offline", "connect", "resolve", "network", "timed out", "max retries", "unreachable",
                              "couldn't reach", "name or service", "not known")):
        return f"cannot {verb} '{repo_id}': the Hugging Face hub is not reachable from here"
    if "401" in low or "unauthorized" in low or "invalid" in low and "token" in low:
        return f"cannot {verb} '{repo_id}': the token was refused (needs write access)"
    return f"cannot {verb} '{repo_id}': {first}"


def load_hub(dataset_id: str, split: str = "train", fmt: str = "auto", mapping: dict[str, str] | None = None,
             max_rows: int = 20_000) -> tuple[list[dict], str]:
    """Import a Hub dataset split (first max_rows rows) when the hub is reachable; FormatError otherwise."""
    dataset_id = (dataset_id or "").strip()
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", dataset_id):
        raise FormatError(f"'{dataset_id}' is not a dataset id like 'tatsu-lab/alpaca'")
    split = (split or "train").strip()
    if not hub_reachable():
        raise FormatError(_hub_message("load", dataset_id, "unreachable"))
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset_id, split=f"{split}[:{max_rows}]")
    except Exception as e:  # noqa: BLE001
        raise FormatError(_hub_message("load", dataset_id, str(e))) from None
    items = ds.to_list()
    return convert(Records(f"{dataset_id}:{split}", items, [f"row {i}" for i in range(1, len(items) + 1)]),
                   fmt, mapping)


# -- starters -----------------------------------------------------------------------------------------------
def starters() -> dict[str, str]:
    """Built-in starter datasets: name -> one-line description (first line of each file's .txt)."""
    out = {}
    for p in sorted(STARTERS_DIR.glob("*.jsonl")):
        desc = p.with_suffix(".txt")
        out[p.stem] = desc.read_text(encoding="utf-8").strip().splitlines()[0] if desc.is_file() else p.stem
    return out


def load_starter(name: str) -> list[dict[str, Any]]:
    path = STARTERS_DIR / f"{name}.jsonl"
    if name not in starters():
        raise FormatError(f"no starter dataset named '{name}' (have: {', '.join(starters())})")
    rows, _ = load_file(path, "messages")
    return rows


# -- the workspace side -------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    name: str
    fmt: str
    rows: int
    created: bool
    warnings: list[str] = field(default_factory=list)


def commit_rows(ws: Any, name: str, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None,
                create: bool = True, must_be_new: bool = False) -> bool:
    """Add rows to dataset `name` in one transaction; a dataset made here is removed again if that fails.
    Returns whether the dataset was created."""
    from playground.core.workspace import WorkspaceError

    name = (name or "").strip()
    exists = ws.has_dataset(name) if name else False
    if must_be_new and exists:
        raise WorkspaceError(f"A dataset named '{name}' already exists; pick another name or append to it.")
    if not exists and not create:
        raise WorkspaceError(f"No dataset named '{name}' in the workspace.")
    if not rows:
        raise FormatError("no rows to add")
    created = False
    if not exists:
        ws.create_dataset(name)
        created = True
    try:
        ws.add_rows(name, [dict(r) for r in rows], meta=meta)
    except BaseException:
        if created:
            ws.delete_dataset(name)
        raise
    return created


def import_file(ws: Any, path: str | Path, name: str, fmt: str = "auto", mapping: dict[str, str] | None = None,
                append: bool = True, display_name: str | None = None) -> ImportResult:
    """Read, convert and check a file, then add every row to `name` (made if missing) — or nothing at all."""
    recs = read_records(path, display_name)
    rows, used = convert(recs, fmt, mapping)
    return commit_import(ws, name, rows, used, recs.source, recs.where, append)


def check_import(rows: list[dict[str, Any]], source: str, where: list[str] | None = None) -> list[str]:
    """Warnings (one line each) for rows about to be imported; FormatError on the first hard error."""
    where = where or [f"row {i + 1}" for i in range(len(rows))]
    issues = validate(rows)
    errors = [i for i in issues if i.level == "error"]
    if errors:
        e = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise FormatError(f"{source} {where[e.row]}, field '{e.field}': {e.message}{more}")
    return [f"{source} {where[i.row]}, field '{i.field}': {i.message}" for i in issues]


def commit_import(ws: Any, name: str, rows: list[dict[str, Any]], fmt: str, source: str,
                  where: list[str] | None = None, append: bool = True) -> ImportResult:
    """Check converted rows and add them all to `name` (made if missing), or raise and change nothing."""
    warnings = check_import(rows, source, where)
    created = commit_rows(ws, name, rows, {"source": source, "format": fmt}, create=True, must_be_new=not append)
    return ImportResult(name.strip(), fmt, len(rows), created, warnings)
