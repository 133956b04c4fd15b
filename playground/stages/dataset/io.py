"""Instruction datasets in and out: read files, detect and convert formats, validate, dedupe, split, export.

    rows, fmt = load_file("alpaca.json")                    # -> [{"messages": [...]}, ...], "alpaca" (all or error)
    issues = validate(rows, tokenizer=tok, max_length=512)  # -> [Issue(row=3, field="messages[1].content", ...)]
    groups = find_duplicates(rows)                          # -> [DupGroup(kind="near", rows=[4, 17], ...)]
    staged = stage_file("hh.jsonl")                         # good rows + Rejected(line, reason) list; no workspace
    res = import_file(ws, "alpaca.json", name="my-set")     # good rows in, the rest in res.skipped / res.note
    export_rows(rows, "out.parquet", style="prompt_completion")

Every row is stored in one canonical shape, TRL's conversational "messages" format:
{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}. Import understands alpaca
(instruction/input/output), sharegpt (conversations with from/value), messages, prompt/completion, plain
"text" holding a transcript, and Anthropic-HH transcripts ("\\n\\nHuman: ... \\n\\nAssistant: ...").

Bad input, one line, nothing lost: a file that cannot be read at all (over PLAYGROUND_MAX_UPLOAD_MB, binary,
not UTF-8, a truncated JSON document, an unknown format) raises FormatError naming the file (and line) before
the workspace is touched. Single bad rows (a broken JSONL line, not an object, a wrong type, a lone surrogate,
roles out of order) are left out with a reason: the import keeps the good rows, and the bad ones are listed in
a JSONL under PLAYGROUND_HOME/rejects/ (line, reason, row). strict=True makes any bad row fail the import.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import tempfile
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.core.cards import write_dataset_card
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
DEFAULT_MAX_UPLOAD_MB = 50  # PLAYGROUND_MAX_UPLOAD_MB overrides it; checked before a byte is read
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
def max_file_bytes() -> int:
    """The import size cap in bytes: PLAYGROUND_MAX_UPLOAD_MB (default 50), else the web upload cap
    PLAYGROUND_MAX_UPLOAD ("50mb", "1gb", "500kb"); read at each import, so a Space can set it."""
    raw = os.environ.get("PLAYGROUND_MAX_UPLOAD_MB", "").strip()
    name, unit = "PLAYGROUND_MAX_UPLOAD_MB", 2**20
    if not raw and os.environ.get("PLAYGROUND_MAX_UPLOAD", "").strip():
        name, raw = "PLAYGROUND_MAX_UPLOAD", os.environ["PLAYGROUND_MAX_UPLOAD"].strip().lower()
        m = re.fullmatch(r"([\d.]+)\s*(b|kb|mb|gb)?", raw)
        units = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}
        raw, unit = (m.group(1), units[m.group(2) or "b"]) if m else (raw, 1)
    if not raw:
        return DEFAULT_MAX_UPLOAD_MB * 2**20
    try:
        size = float(raw) * unit
    except ValueError:
        size = float("nan")
    if not (0 < size < 2**50):  # also refuses nan / inf
        raise FormatError(f"{name}={raw[:40]!r} is not a size (PLAYGROUND_MAX_UPLOAD_MB takes megabytes, e.g. 50)")
    return int(size)


def one_line(text: str, limit: int = 400) -> str:
    """A message safe to print anywhere: one line, valid UTF-8 (lone surrogates escaped), at most `limit` chars."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Rejected:
    """A row left out of an import: where it was ("line 17"), its line number when known, why, and the raw row."""

    where: str
    line: int | None
    reason: str
    raw: Any = None

    @property
    def text(self) -> str:
        """'line 17, field 'chosen': empty answer' / 'line 3: invalid JSON ...'."""
        return f"{self.where}{', ' if self.reason.startswith('field ') else ': '}{self.reason}"

    def short(self, limit: int = 160) -> str:
        return one_line(self.text, limit)


@dataclass
class Records:
    """Raw records from a file, each with where it came from ("line 4", "row 7") for error messages; rows that
    could not be read as records at all (broken JSON line, not an object, too big) are in `rejected`."""

    source: str
    items: list[dict[str, Any]]
    where: list[str]
    rejected: list[Rejected] = field(default_factory=list)
    kind: str = ""  # jsonl | json | csv | tsv | parquet | "" (rows given in memory)
    lines: list[int | None] = field(default_factory=list)  # line number of each item when the format has lines

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.items[:1000]:
            for k in r:
                seen.setdefault(str(k), None)
        return list(seen)

    @property
    def total(self) -> int:
        return len(self.items) + len(self.rejected)

    def __iter__(self) -> Iterator[dict[str, Any]]:  # the readable records, as a plain list would give them
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def line_of(self, i: int) -> int | None:
        return self.lines[i] if i < len(self.lines) else None

    def add(self, where: str, line: int | None, obj: Any) -> None:
        self.items.append(obj)
        self.where.append(where)
        self.lines.append(line)
        if self.total > MAX_ROWS:
            raise FormatError(f"{self.source}: more than {MAX_ROWS} rows; split the file")

    def reject(self, where: str, line: int | None, reason: str, raw: Any = None) -> None:
        self.rejected.append(Rejected(where, line, one_line(reason), raw))
        if self.total > MAX_ROWS:
            raise FormatError(f"{self.source}: more than {MAX_ROWS} rows; split the file")

    @classmethod
    def from_list(cls, source: str, items: list[Any]) -> Records:
        """Rows given in memory (a Hub split, a test): non-objects are rejected like a file's."""
        recs = cls(source, [], [], kind="")
        for i, obj in enumerate(items, 1):
            recs._add_checked(f"row {i}", None, obj)
        return recs

    def _add_checked(self, where: str, line: int | None, obj: Any, size: int | None = None) -> None:
        if not isinstance(obj, dict):
            self.reject(where, line, f"expected a JSON object like {{\"messages\": [...]}}, got {_type_name(obj)}",
                        obj)
            return
        problem = _row_size_problem(obj, size)
        if problem:
            self.reject(where, line, problem, None)
            return
        self.add(where, line, obj)


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float) and v != v:
        return "NaN"
    return {dict: "object", list: "list", str: "text", bool: "true/false", bytes: "bytes"}.get(type(v),
                                                                                             type(v).__name__)


def _kind_from_name(path: Path, head: bytes) -> str:
    ext = path.name.lower().rsplit(".", 1)[-1] if "." in path.name else ""
    if head[:4] == b"PAR1":
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext in ("parquet", "pq"):
        return "parquet"
    if ext in ("jsonl", "ndjson"):
        return "jsonl"
    if ext == "json":
        return "json"
    if stripped[:1] in (b"[", b"{"):  # JSON under a .csv / .txt name (or none): a header never starts so
        return "json"
    if ext in ("csv", "tsv"):
        return ext
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


def _row_size_problem(obj: Any, size: int | None = None) -> str:
    if size is None:
        try:
            size = len(json.dumps(obj, ensure_ascii=False, default=str))
        except (RecursionError, ValueError):
            return "nested too deeply to read"
    if size > MAX_ROW_CHARS:
        return f"row is {size / 1e6:.2g} MB of text, over the {MAX_ROW_CHARS / 1e6:g} MB limit per row; split or trim it"
    return ""


def _check_row_size(src: str, where: str, obj: Any, size: int | None = None) -> None:
    problem = _row_size_problem(obj, size)
    if problem:
        raise FormatError(f"{src} {where}: {problem}")


def _json_problem(text: str, e: json.JSONDecodeError) -> str:
    """Why a JSON text does not parse, without the file name ("JSON ends too early ...", "invalid JSON ...")."""
    if e.pos >= len(text.rstrip()) or "Unterminated" in e.msg:
        return f"JSON ends too early ({e.msg}); the file looks truncated"
    return f"invalid JSON at column {e.colno} ({e.msg})"


def _loads(text: str) -> Any:
    """json.loads with the two ways it fails besides bad syntax turned into ValueError with a plain reason."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer literal over Python's 4300-digit limit
        raise ValueError(f"unreadable JSON value ({str(e).split(';')[0][:80]})") from None


def _read_jsonl(src: str, text: str) -> Records:
    recs = Records(src, [], [], kind="jsonl")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {n}"
        if len(line) > MAX_ROW_CHARS:
            recs.reject(where, n, _row_size_problem(None, len(line)), line[:2000])
            continue
        try:
            obj = _loads(line)
        except json.JSONDecodeError as e:
            recs.reject(where, n, _json_problem(line, e), line)
            continue
        except ValueError as e:
            recs.reject(where, n, str(e), line[:2000])
            continue
        recs._add_checked(where, n, obj, len(line))
    return recs


def _read_json(src: str, text: str) -> Records:
    try:
        obj = _loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several objects, one per line: JSON Lines under a .json name
            return _read_jsonl(src, text)
        raise FormatError(f"{src} line {e.lineno}: {_json_problem(text, e)}") from None
    except ValueError as e:
        raise FormatError(f"{src}: {e}") from None
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
        raise FormatError(f"{src}: expected a JSON list of objects, got {_type_name(obj)}")
    if len(obj) > MAX_ROWS:
        raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
    recs = Records(src, [], [], kind="json")
    for i, x in enumerate(obj, 1):
        recs._add_checked(f"item {i}", None, x)
    return recs


def _read_csv(src: str, text: str, delimiter: str) -> Records:
    csv.field_size_limit(MAX_ROW_CHARS + 1)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    recs = Records(src, [], [], kind="tsv" if delimiter == "\t" else "csv")
    try:
        header = reader.fieldnames
        if not header or not any(h and h.strip() for h in header):
            raise FormatError(f"{src} line 1: no header row; the first line must name the columns")
        header = [h.strip() for h in header]
        reader.fieldnames = header
        blank = [i + 1 for i, h in enumerate(header) if not h]
        if blank:
            raise FormatError(f"{src} line 1: column {blank[0]} of the header has no name")
        dup = next((h for i, h in enumerate(header) if h in header[:i]), None)
        if dup:
            raise FormatError(f"{src} line 1: the header names column '{dup}' twice")
        for n, row in enumerate(reader, 1):
            where_n = f"row {n} (line {reader.line_num})"
            if None in row:
                recs.reject(where_n, reader.line_num, f"{len(header) + len(row[None])} cells but the header names "
                            f"{len(header)} columns", {k if k is not None else "_extra": v for k, v in row.items()})
                continue
            size = sum(len(v or "") for v in row.values())
            recs._add_checked(where_n, reader.line_num, {k: ("" if v is None else v) for k, v in row.items()}, size)
    except csv.Error as e:
        msg = str(e)
        if "field larger than field limit" in msg:
            raise FormatError(f"{src} line {reader.line_num + 1}: a cell is over the "
                              f"{MAX_ROW_CHARS / 1e6:g} MB limit per row; split or trim it") from None
        raise FormatError(f"{src} line {reader.line_num}: broken CSV ({msg})") from None
    return recs


def _read_parquet(src: str, path: Path) -> Records:
    try:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows > MAX_ROWS:
            raise FormatError(f"{src}: more than {MAX_ROWS} rows; split the file")
        items = pf.read().to_pylist()
    except FormatError:
        raise
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for a bad file
        first = str(e).replace(str(path), src).splitlines()[0][:160] if str(e) else type(e).__name__
        raise FormatError(f"{src}: not a readable Parquet file ({first})") from None
    recs = Records(src, [], [], kind="parquet")
    for i, r in enumerate(items, 1):
        recs._add_checked(f"row {i}", None, r)
    return recs


def read_records(path: str | Path, display_name: str | None = None) -> Records:
    """Raw records from a JSON / JSONL / CSV / TSV / Parquet file. A file that cannot be read at all raises
    FormatError saying what is wrong; single rows that cannot be read are listed in `.rejected`. The size cap
    (PLAYGROUND_MAX_UPLOAD_MB) is checked before anything is read."""
    path = Path(path)
    src = one_line(display_name or path.name, 120)
    try:
        return _read_records(path, src)
    except FormatError as e:
        raise FormatError(one_line(str(e))) from None


def _read_records(path: Path, src: str) -> Records:
    if not path.is_file():
        raise FormatError(f"{src}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise FormatError(f"{src}: the file is empty (0 bytes)")
    cap = max_file_bytes()
    if size > cap:
        raise FormatError(f"{src}: {size / 2**20:.1f} MB is over the {cap / 2**20:.3g} MB import limit "
                          "(PLAYGROUND_MAX_UPLOAD_MB)")
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
    if not recs.items and not recs.rejected:
        raise FormatError(f"{src}: no rows found")
    return recs


# -- format detection --------------------------------------------------------------------------------------
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
    """A cell as a string; numbers are accepted (CSV, spreadsheets), containers, true/false, infinities and text
    that is not valid Unicode (a lone surrogate such as "\\ud800") are a type error — never stored as "None"."""
    problem = text_problem(v, required)
    if problem:
        raise FormatError(f"{src} {where}, field '{field_name}': {problem}")
    if v is None or (isinstance(v, float) and v != v):  # NaN from a spreadsheet = empty cell
        return ""
    return v if isinstance(v, str) else str(v)


def text_problem(v: Any, required: bool = True) -> str:
    """Why v cannot be stored as text ("" when it can): the one check behind every imported text field."""
    if v is None:
        return "missing (null)" if required else ""
    if isinstance(v, float) and v != v:
        return ""
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        return f"expected text, got {_type_name(v)}"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "expected text, got an infinite number"
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError as e:
            return (f"not valid Unicode (a lone surrogate {v[e.start]!a} at character {e.start}); "
                    "fix the text or its \\u escapes")
    return ""


def speaker_role(raw: str) -> str | None:
    """'human' / 'gpt' / 'User' ... -> user | assistant | system; None for a name we do not know."""
    return _SPEAKERS.get(raw.strip().lower())


def maybe_json(v: Any) -> Any:
    """CSV cells hold nested data as JSON text."""
    if isinstance(v, str) and v.lstrip()[:1] in ("[", "{"):
        try:
            return _loads(v)
        except ValueError:  # JSONDecodeError too: plain text that starts with a bracket
            return v
    return v


def _messages_from_list(src: str, where: str, field_name: str, v: Any, role_key: str = "role",
                        content_key: str = "content") -> list[dict[str, str]]:
    v = maybe_json(v)
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
        raw_role = _text(src, where, f"{f}.{rk}", m[rk]).strip().lower()
        role = _SPEAKERS.get(raw_role)
        if role is None:
            raise FormatError(f"{src} {where}, field '{f}.{rk}': unknown role '{raw_role[:40]}' "
                              "(expected system, user or assistant)")
        out.append({"role": role, "content": _text(src, where, f"{f}.{ck}", m[ck])})
    return out


def parse_transcript(text: str) -> list[dict[str, str]] | None:
    """'\\n\\nHuman: hi\\n\\nAssistant: hello' (Anthropic HH), 'User:/Assistant:', ChatML or alpaca-style
    '### Instruction / ### Response' text -> messages; None when the text has no such structure."""
    t = text.replace("\r\n", "\n")
    if "\n\nHuman:" in "\n\n" + t.lstrip() and "\n\nAssistant:" in t:
        hh = _parse_hh(t)  # Anthropic HH: turns are separated by a blank line, so "A:" inside a turn stays text
        if hh is not None:
            return hh
    if "<|im_start|>" in t:
        parts = re.findall(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", t, re.S)
        msgs = [{"role": _SPEAKERS.get(r.lower(), ""), "content": c.strip()} for r, c in parts]
        return msgs if msgs and all(m["role"] for m in msgs) else None
    # markers are found one search at a time (no lazy .*? spanning them), so odd text costs linear time
    mi = re.search(r"###[ \t]*Instruction:?[ \t]*\n", t)
    mr = re.compile(r"###[ \t]*Response:?[ \t]*\n").search(t, mi.end()) if mi else None
    if mi and mr:
        body = t[mi.end():mr.start()]
        mn = re.search(r"###[ \t]*Input:?[ \t]*\n", body)
        instr, inp = (body[:mn.start()].strip(), body[mn.end():].strip()) if mn else (body.strip(), "")
        return [{"role": "user", "content": f"{instr}\n\n{inp}" if inp else instr},
                {"role": "assistant", "content": t[mr.end():].strip()}]
    pat = re.compile(r"(?:^|\n)[ \t]*(Human|User|Assistant|H|A):[ \t]?")
    marks = list(pat.finditer(t))
    if len(marks) < 2 or t[: marks[0].start()].strip():
        return None
    msgs = []
    for i, mk in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(t)
        role = "assistant" if mk.group(1) in ("Assistant", "A") else "user"
        msgs.append({"role": role, "content": t[mk.end():end].strip()})
    return msgs


def _parse_hh(t: str) -> list[dict[str, str]] | None:
    text = t if t.startswith("\n\n") else "\n\n" + t.lstrip()
    parts = re.split(r"\n\n(Human|Assistant):[ \t]?", text)  # ["", role, content, role, content, ...]
    if parts[0].strip() or len(parts) < 5:
        return None
    return [{"role": "user" if role == "Human" else "assistant", "content": content.strip()}
            for role, content in zip(parts[1::2], parts[2::2], strict=True)]


def _convert_one(src: str, where: str, r: dict[str, Any], fmt: str, mapping: dict[str, str] | None) -> dict:
    def need(col: str) -> Any:
        if col not in r:
            raise FormatError(f"{src} {where}: missing column '{col}' (columns: {', '.join(map(str, r))})")
        return r[col]

    if fmt == "messages":
        msgs = _messages_from_list(src, where, "messages", need("messages"))
    elif fmt == "sharegpt":
        conv = maybe_json(need("conversations"))
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
        p = maybe_json(need("prompt"))
        cc = "completion" if "completion" in r else "response"
        c = maybe_json(need(cc))
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


def _resolve_format(records: Records, fmt: str, mapping: dict[str, str] | None) -> tuple[str, dict | None]:
    if mapping:
        mapping = {k: v for k, v in mapping.items() if v}
        missing = [k for k in ("instruction", "output") if k not in mapping]
        if missing:
            raise FormatError(f"column mapping needs a column for: {', '.join(missing)}")
        cols = set(records.columns)
        bad = [v for v in mapping.values() if v not in cols]
        if bad:
            raise FormatError(f"{records.source}: no column '{bad[0]}' (columns: {', '.join(records.columns)})")
        return "mapped", mapping
    if fmt in ("auto", "", None):
        return detect_format(records), None
    if fmt not in FORMATS:
        raise FormatError(f"unknown format '{fmt}' (choose one of {', '.join(FORMATS)})")
    return fmt, None


def _no_usable_rows(records: Records, rejected: list[Rejected]) -> FormatError:
    if not rejected:
        return FormatError(f"{records.source}: no rows found")
    return FormatError(one_line(f"{records.source} {rejected[0].text}; no usable rows ({len(rejected)} bad)"))


def convert(records: Records, fmt: str = "auto", mapping: dict[str, str] | None = None) -> tuple[list[dict], str]:
    """All-or-nothing: (rows in {"messages": [...]} form, the format used), or FormatError naming the first bad
    row. mapping={"instruction": col, "output": col, "input": col, "system": col} maps columns by hand."""
    if records.rejected:
        r = records.rejected[0]
        raise FormatError(one_line(f"{records.source} {r.text}"))
    if not records.items:
        raise _no_usable_rows(records, [])
    fmt, mapping = _resolve_format(records, fmt, mapping)
    try:
        rows = [_convert_one(records.source, w, r, fmt, mapping)
                for r, w in zip(records.items, records.where, strict=True)]
    except FormatError as e:
        raise FormatError(one_line(str(e))) from None
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
        from playground.core.chat import to_prompt_completion

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
        write_dataset_card(path, out, "instructions", source=rows)  # <name>.README.md beside it (core/cards)
    except OSError as e:
        raise FormatError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(out)


def push_to_hub(rows: list[dict[str, Any]], repo_id: str, token: str, style: str = "messages",
                private: bool = True, split: str = "train") -> str:
    """Push rows as a Hub dataset through core.hub (token required, never stored, scrubbed from messages)."""
    from playground.core import hub

    out, _ = styled_rows(rows, style)
    if not out:
        raise FormatError("nothing to push: no row has an answer")
    try:
        return hub.push_rows(out, repo_id, token, private=private, split=split)
    except hub.HubError as e:
        raise FormatError(str(e)) from None


def load_hub(dataset_id: str, split: str = "train", fmt: str = "auto", mapping: dict[str, str] | None = None,
             max_rows: int = 20_000) -> tuple[list[dict], str]:
    """Import a Hub dataset split (first max_rows rows) when the hub is reachable; FormatError otherwise."""
    dataset_id = (dataset_id or "").strip()
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", dataset_id):
        raise FormatError(f"'{dataset_id}' is not a dataset id like 'tatsu-lab/alpaca'")
    split = (split or "train").strip()
    from playground.core import hub

    if not hub.reachable():
        raise FormatError(hub.message("load", dataset_id, "unreachable"))
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset_id, split=f"{split}[:{max_rows}]")
    except Exception as e:  # noqa: BLE001
        raise FormatError(hub.message("load", dataset_id, str(e))) from None
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


# -- partial import: the good rows in, the rest reported ---------------------------------------------------
REJECTS_DIR = "rejects"  # under PLAYGROUND_HOME, next to playground.db


def _jsonable(v: Any) -> Any:
    return repr(v)[:2000] if isinstance(v, bytes) else str(v)[:2000]


def write_rejects(source: str, rejected: list[Rejected]) -> Path:
    """The rejected rows as JSONL ({"line", "where", "reason", "row"} per line) in PLAYGROUND_HOME/rejects/;
    returns its path. ASCII-escaped, so rows with lone surrogates or odd bytes are written as they came."""
    from playground.core.paths import home

    folder = home() / REJECTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "_", Path(source).name)[:60].strip("._") or "import"
    fd, tmp = tempfile.mkstemp(prefix=f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".rejected.jsonl",
                               dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for r in rejected:
            try:
                line = json.dumps({"line": r.line, "where": r.where, "reason": r.reason, "row": r.raw},
                                  default=_jsonable)
            except (RecursionError, ValueError):
                line = json.dumps({"line": r.line, "where": r.where, "reason": r.reason, "row": None})
            fh.write(line + "\n")
    return Path(tmp)


def rejects_note(rejected: list[Rejected], total: int, path: str | Path | None = None, shown: int = 3) -> str:
    """One line: 'skipped 3 of 1900 rows: line 17: ...; line 240: ...; line 1203: ... (all reasons: PATH)'."""
    if not rejected:
        return ""
    first = "; ".join(r.short(140) for r in rejected[:shown])
    more = f"; … {len(rejected) - shown} more" if len(rejected) > shown else ""
    where = f" (all reasons: {path})" if path else ""
    return one_line(f"skipped {len(rejected)} of {total} rows: {first}{more}{where}", 1000)


@dataclass
class Staged:
    """A file read, converted and checked, not yet in the workspace: what a preview shows before the user
    confirms. `rows` are the good rows; `rejected` the rest with reasons (also written to `rejects_path`)."""

    source: str
    fmt: str
    rows: list[dict[str, Any]]
    where: list[str]
    rejected: list[Rejected]
    warnings: list[str]
    total: int
    rejects_path: str | None = None

    @property
    def note(self) -> str:
        return rejects_note(self.rejected, self.total, self.rejects_path)


def stage_records(records: Records, fmt: str = "auto", mapping: dict[str, str] | None = None,
                  strict: bool = False) -> Staged:
    """Convert and check every row; bad rows are set aside with a reason instead of failing the file.

    strict=True: any bad row fails the whole import (FormatError naming the first, plus how many more). Either
    way a list of the bad rows is written (write_rejects) and its path given. A file with no good row at all,
    or one whose format cannot be told, raises FormatError. Nothing here touches the workspace."""
    src = records.source
    rejected: dict[int, Rejected] = {}  # item index -> why it was left out
    if records.items:
        fmt, mapping = _resolve_format(records, fmt, mapping)
    elif fmt in ("auto", "", None):
        fmt = "unknown"
    rows, where, raws = [], [], []
    for i, (r, w) in enumerate(zip(records.items, records.where, strict=True)):
        try:
            rows.append(_convert_one(src, w, r, fmt, mapping))
            where.append(w)
            raws.append(i)
        except FormatError as e:
            rejected[i] = Rejected(w, records.line_of(i), one_line(_strip_prefix(str(e), src, w)), r)
    issues = validate(rows)
    bad_rows: dict[int, Issue] = {}
    for issue in issues:
        if issue.level == "error":
            bad_rows.setdefault(issue.row, issue)
    for k, issue in bad_rows.items():
        i = raws[k]
        rejected[i] = Rejected(where[k], records.line_of(i), one_line(f"field '{issue.field}': {issue.message}"),
                               records.items[i])
    keep = [k for k in range(len(rows)) if k not in bad_rows]
    warnings = [one_line(f"{src} {where[i.row]}, field '{i.field}': {i.message}") for i in issues
                if i.level != "error" and i.row not in bad_rows]
    listed = [*records.rejected, *rejected.values()]
    listed.sort(key=lambda r: (r.line if r.line is not None else -1, _where_index(r.where)))
    staged = Staged(src, fmt, [rows[k] for k in keep], [where[k] for k in keep], listed, warnings, records.total)
    if listed:
        staged.rejects_path = str(write_rejects(src, listed))
    if listed and strict:
        first = listed[0]
        more = f" (and {len(listed) - 1} more bad row(s))" if len(listed) > 1 else ""
        raise FormatError(one_line(f"{src} {first.text}{more}; nothing imported (strict); "
                                   f"all reasons: {staged.rejects_path}", 1000))
    if not staged.rows:
        if not listed:
            raise FormatError(f"{src}: no rows found")
        raise FormatError(one_line(f"{src} {listed[0].text}; no usable rows ({len(listed)} bad; all reasons: "
                                   f"{staged.rejects_path})", 1000))
    return staged


def _where_index(where: str) -> int:
    m = re.search(r"\d+", where)
    return int(m.group()) if m else 0


def _strip_prefix(msg: str, src: str, where: str) -> str:
    for prefix in (f"{src} {where}, ", f"{src} {where}: ", f"{src} {where}"):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def stage_file(path: str | Path, fmt: str = "auto", mapping: dict[str, str] | None = None,
               display_name: str | None = None, strict: bool = False) -> Staged:
    """read_records + stage_records: what the Dataset tab's upload shows before "Add to dataset"."""
    return stage_records(read_records(path, display_name), fmt, mapping, strict)


# -- the workspace side -------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    name: str
    fmt: str
    rows: int
    created: bool
    warnings: list[str] = field(default_factory=list)
    skipped: list[Rejected] = field(default_factory=list)  # rows left out, with reasons
    rejects_path: str | None = None  # the JSONL listing them
    total: int = 0  # rows in the file

    @property
    def note(self) -> str:
        return rejects_note(self.skipped, self.total or self.rows + len(self.skipped), self.rejects_path)


def commit_rows(ws: Any, name: str, rows: list[dict[str, Any]], meta: dict[str, Any] | None = None,
                create: bool = True, must_be_new: bool = False) -> bool:
    """Add rows to dataset `name` in one transaction; a dataset made here is removed again if that fails.
    Returns whether the dataset was created."""
    from playground.core.workspace import WorkspaceError

    name = (name or "").strip()
    if text_problem(name):
        raise FormatError(f"dataset name: {text_problem(name)}")
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
                append: bool = True, display_name: str | None = None, strict: bool = False) -> ImportResult:
    """Read, convert and check a file, then add its good rows to `name` (made if missing) in one transaction;
    the bad ones are reported (ImportResult.skipped / .note / .rejects_path). strict=True: all rows or none."""
    staged = stage_file(path, fmt, mapping, display_name, strict)
    return commit_staged(ws, name, staged, append)


def commit_staged(ws: Any, name: str, staged: Staged, append: bool = True) -> ImportResult:
    """Add a staged file's good rows to `name` (made if missing): what "Add to dataset" does after a preview."""
    res = commit_import(ws, name, staged.rows, staged.fmt, staged.source, staged.where, append)
    res.warnings = staged.warnings
    res.skipped, res.rejects_path, res.total = staged.rejected, staged.rejects_path, staged.total
    return res


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
