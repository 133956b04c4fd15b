"""Preference pairs in and out of the workspace: import TRL / HH files, export TRL rows, write files, push.

    staged = stage_pairs("hh.jsonl", pool="hh")      # good pairs in .rows, bad rows in .rejected; nothing stored
    commit_pairs(ws, staged)                          # what the user confirms: one transaction
    res = import_pairs(ws, "hh.jsonl", pool="hh")     # both at once (the CLI): res.imported, res.note
    rows = export_pairs(pool="default", ws=ws)        # [{"prompt", "chosen", "rejected"}] conversational
    write_pairs(rows, "prefs.parquet")                # or .jsonl / .json
    push_to_hub(rows, "me/my-prefs", token)           # through core.hub: token required, never the server's login

Files are read by the one reader the dataset import uses (stages/dataset/io.read_records: JSON, JSONL, CSV, TSV,
Parquet, the upload size cap) and HH transcripts by its one parser (parse_transcript). A record is
{"prompt", "chosen", "rejected"} with plain or conversational values, or chosen/rejected full conversations
(implicit prompt: the shared start), or Anthropic-HH transcripts. A row that does not fit (a wrong type, null,
NaN, a lone surrogate, an empty answer such as HH's final "\\n\\nAssistant: ", chosen identical to rejected) is
left out with a reason and listed in a JSONL under PLAYGROUND_HOME/rejects/; strict=True makes it fail the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core.cards import pool_stats, write_dataset_card
from playground.core.errors import FormatError, PrefsError
from playground.core.workspace import Workspace
from playground.stages.dataset import io as dio
from playground.stages.dataset.io import Records, Rejected, one_line, parse_transcript, read_records
from playground.stages.preferences.pairs import agreement, annotator_stats, make_pair_key
from playground.stages.preferences.rows import export_pairs  # noqa: F401 - re-exported (the export's home is rows.py)

__all__ = [
    "PairsImport", "commit_pairs", "export_pairs", "import_pairs", "normalise_record", "parse_hh", "push_to_hub",
    "read_pairs", "read_records", "stage_pairs", "write_pairs",
]


# -- one record -> (prompt, chosen, rejected) ------------------------------------------------------
def _text(name: str, v: Any) -> str:
    if isinstance(v, float) and v != v:
        raise PrefsError(f"field '{name}': missing (NaN)")
    problem = dio.text_problem(v, required=True)
    if problem:
        raise PrefsError(f"field '{name}': {problem}")
    return v if isinstance(v, str) else str(v)


def _messages(name: str, v: Any) -> list[dict[str, str]] | None:
    """A list of {"role", "content"} as clean messages; None when v is not a list at all."""
    if not isinstance(v, list):
        return None
    if not v:
        raise PrefsError(f"field '{name}': an empty list")
    out = []
    for j, m in enumerate(v):
        f = f"{name}[{j}]"
        if not isinstance(m, dict):
            raise PrefsError(f"field '{f}': expected a message with role and content, got {dio._type_name(m)}")
        if "role" not in m or "content" not in m:
            raise PrefsError(f"field '{f}': a message needs 'role' and 'content'")
        raw = _text(f"{f}.role", m["role"])
        role = dio.speaker_role(raw)
        if role is None:
            raise PrefsError(f"field '{f}.role': unknown role '{raw[:40]}' (expected system, user or assistant)")
        out.append({"role": role, "content": _text(f"{f}.content", m["content"])})
    return out


def _answer(name: str, v: Any) -> str:
    msgs = _messages(name, v)
    if msgs is None:
        if isinstance(v, dict):
            raise PrefsError(f"field '{name}': expected text or a list of messages, got object")
        return _text(name, v).strip()
    if all(m["role"] == "assistant" for m in msgs):
        return "\n".join(m["content"] for m in msgs).strip()
    if msgs[-1]["role"] != "assistant":
        raise PrefsError(f"field '{name}': the conversation does not end with an assistant answer")
    return msgs[-1]["content"].strip()


def _transcript(name: str, v: str) -> list[dict[str, str]]:
    msgs = parse_transcript(v)
    if not msgs:
        raise PrefsError(f"field '{name}': plain text with no Human:/Assistant: turns, and no 'prompt' column")
    return msgs


def _split_conversation(chosen: list[dict[str, str]], rejected: list[dict[str, str]]) -> tuple[Any, str, str]:
    """Implicit prompt: the longest shared start is the prompt; the last assistant turns are the answers."""
    for name, msgs in (("chosen", chosen), ("rejected", rejected)):
        if msgs[-1]["role"] != "assistant":
            raise PrefsError(f"field '{name}': the conversation does not end with an assistant answer")
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0:
        raise PrefsError("'chosen' and 'rejected' share no prompt (their first turns differ)")
    return chosen[:n], chosen[-1]["content"].strip(), rejected[-1]["content"].strip()


def _given(v: Any) -> bool:
    return not (v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip()))


def normalise_record(rec: Any, cells_are_text: bool = False) -> tuple[Any, str, str]:
    """(prompt, chosen text, rejected text) from a TRL explicit/implicit-prompt or HH-style record, or PrefsError
    with the reason (one line, no file name). cells_are_text: CSV cells, where a list is JSON text."""
    if not isinstance(rec, dict):
        raise PrefsError(f"expected an object with chosen/rejected, got {dio._type_name(rec)}")
    missing = [k for k in ("chosen", "rejected") if k not in rec]
    if missing:
        cols = ", ".join(str(k) for k in list(rec)[:8]) or "none"
        raise PrefsError(f"missing column '{missing[0]}' (columns: {cols})")
    ch, rj, p = rec["chosen"], rec["rejected"], rec.get("prompt")
    if cells_are_text:
        ch, rj, p = dio.maybe_json(ch), dio.maybe_json(rj), dio.maybe_json(p)
    if _given(p):
        prompt: Any = _messages("prompt", p)
        if prompt is None:
            text = _text("prompt", p)
            prompt = text.strip()
            if "\n\nHuman:" in "\n\n" + text.lstrip() and "Assistant:" in text:  # an HH-style prompt column
                parsed = parse_transcript(text) or []
                if parsed and parsed[-1]["role"] == "assistant" and not parsed[-1]["content"]:
                    parsed = parsed[:-1]
                prompt = parsed or prompt
        chosen, rejected = _answer("chosen", ch), _answer("rejected", rj)
    else:
        cm, rm = _messages("chosen", ch), _messages("rejected", rj)
        if cm is None and isinstance(ch, str):
            cm = _transcript("chosen", _text("chosen", ch))
        if rm is None and isinstance(rj, str):
            rm = _transcript("rejected", _text("rejected", rj))
        if cm is None or rm is None:
            bad, v = ("chosen", ch) if cm is None else ("rejected", rj)
            raise PrefsError(f"field '{bad}': expected text or a list of messages, got {dio._type_name(v)}")
        prompt, chosen, rejected = _split_conversation(cm, rm)
    if not prompt or (isinstance(prompt, list) and not any(m["content"].strip() for m in prompt)):
        raise PrefsError("empty prompt")
    for name, text in (("chosen", chosen), ("rejected", rejected)):
        if not text:
            raise PrefsError(f"field '{name}': empty answer (the last assistant turn has no text)")
    if chosen == rejected:
        raise PrefsError("'chosen' and 'rejected' are the same answer: no preference to learn")
    return prompt, chosen, rejected


def parse_hh(transcript: str) -> list[dict[str, str]]:
    """An Anthropic HH transcript ("\\n\\nHuman: ... \\n\\nAssistant: ...") -> chat messages ([] if none)."""
    return parse_transcript(transcript) or []


# -- a file -> pairs, and the pairs into the workspace ----------------------------------------------
def _records(source: str | Path | list[Any], display_name: str | None = None) -> Records:
    try:
        if isinstance(source, (str, Path)):
            return read_records(source, display_name)
        return Records.from_list(display_name or "records", list(source))
    except FormatError as e:
        raise PrefsError(str(e)) from None


def read_pairs(source: str | Path | list[Any], display_name: str | None = None
               ) -> tuple[list[dict[str, Any]], list[Rejected], Records]:
    """(pairs {"prompt", "chosen", "rejected", "index", "line", "where", "record"}, rows left out with reasons,
    the records read). For anything that scores or imports a preference file (eval-rm too)."""
    records = _records(source, display_name)
    text_cells = records.kind in ("csv", "tsv")
    pairs, rejected = [], list(records.rejected)
    for i, (rec, where) in enumerate(zip(records.items, records.where, strict=True)):
        try:
            prompt, chosen, rejected_text = normalise_record(rec, text_cells)
        except PrefsError as e:
            rejected.append(Rejected(where, records.line_of(i), one_line(str(e)), rec))
            continue
        pairs.append({"prompt": prompt, "chosen": chosen, "rejected": rejected_text, "index": i,
                      "line": records.line_of(i), "where": where, "record": rec})
    rejected.sort(key=lambda r: (r.line if r.line is not None else -1, dio._where_index(r.where)))
    return pairs, rejected, records


@dataclass
class PairsImport:
    """Pairs read from a file and checked: `rows` ready for the pairs table, `rejected` left out with reasons
    (listed in `rejects_path`). `imported` is set once they are stored."""

    source: str
    pool: str
    rows: list[dict[str, Any]]
    rejected: list[Rejected]
    total: int
    rejects_path: str | None = None
    imported: int = 0

    @property
    def note(self) -> str:
        """'skipped 3 of 1900 rows: line 17, field 'chosen': empty answer ...; ... (all reasons: PATH)'."""
        return dio.rejects_note(self.rejected, self.total, self.rejects_path)


def _name(what: str, v: str, default: str) -> str:
    v = (v or "").strip() or default
    problem = dio.text_problem(v)
    if problem or len(v) > 200:
        raise PrefsError(f"{what} name: {problem or 'longer than 200 characters'}")
    return v


def stage_pairs(source: str | Path | list[Any], pool: str = "imported", annotator: str = "import",
                strict: bool = False, display_name: str | None = None) -> PairsImport:
    """Read and check a preference file without touching the workspace (a preview). PrefsError (one line) when
    the file cannot be read, has no usable pair, or (strict) has any bad row; otherwise the good pairs and the
    report of the rest."""
    pool, annotator = _name("pool", pool, "imported"), _name("annotator", annotator, "import")
    pairs, rejected, records = read_pairs(source, display_name)
    name = records.source
    rows = [dict(pool=pool, prompt=p["prompt"], response_a=p["chosen"], response_b=p["rejected"],
                 source_a={"kind": "import", "file": name}, source_b={"kind": "import", "file": name},
                 choice="a", annotator=annotator, kind="import",
                 pair_key=make_pair_key(p["prompt"], p["chosen"], p["rejected"]),
                 meta={"a_slot": 1, "row": p["index"], "line": p["line"]}) for p in pairs]
    staged = PairsImport(name, pool, rows, rejected, records.total)
    if rejected:
        staged.rejects_path = str(dio.write_rejects(name, rejected))
    if rejected and strict:
        more = f" (and {len(rejected) - 1} more bad row(s))" if len(rejected) > 1 else ""
        raise PrefsError(one_line(f"{name} {rejected[0].text}{more}; nothing imported (strict); all reasons: "
                                  f"{staged.rejects_path}", 1000))
    if not rows:
        if not rejected:
            raise PrefsError(f"{name} holds no preference rows.")
        raise PrefsError(one_line(f"{name} {rejected[0].text}; no usable preference rows ({len(rejected)} bad; "
                                  f"all reasons: {staged.rejects_path})", 1000))
    return staged


def commit_pairs(ws: Workspace, staged: PairsImport) -> int:
    """Store staged pairs in one transaction (all of them or none); returns how many."""
    if not staged.rows:
        raise PrefsError("Nothing to import: no pairs are staged.")
    ws.add_pairs(staged.rows)
    staged.imported = len(staged.rows)
    return staged.imported


def import_pairs(ws: Workspace, source: str | Path | list[Any], pool: str = "imported", annotator: str = "import",
                 strict: bool = False, display_name: str | None = None) -> PairsImport:
    """Import TRL / HH preference data into the pairs table: the good rows in one transaction, the rest reported
    (`.note`, `.rejected`, `.rejects_path`); strict=True: all rows or none. Each row becomes a kind='import'
    pair with the chosen answer as A and choice 'a'."""
    staged = stage_pairs(source, pool, annotator, strict, display_name)
    commit_pairs(ws, staged)
    return staged


# -- export ----------------------------------------------------------------------------------------
def write_pairs(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as .jsonl, .json or .parquet (by the file's suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".json", ".jsonl"):
        raise PrefsError(f"Cannot write '{path.name}': use a .jsonl, .json or .parquet file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            import pandas as pd

            pd.DataFrame(rows).to_parquet(path, index=False)
        elif suffix == ".json":
            path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            with open(path, "w", encoding="utf-8") as fh:
                for r in rows:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    except OSError as e:
        raise PrefsError(f"Cannot write '{path}': {e.strerror or e}") from None
    ws = Workspace()  # the card beside it: <name>.README.md with counts and annotator statistics (core/cards)
    write_dataset_card(path, rows, "preferences", export_pairs(ties="both_orders", both_bad="as_tie", with_meta=True,
                                                               ws=ws),
                       lambda pool: pool_stats(ws, pool, annotator_stats, agreement))
    return path


def push_to_hub(rows: list[dict[str, Any]], repo_id: str, token: str | None, private: bool = True) -> str:
    """Push exported rows as a Hub dataset repo through core.hub: the token is required (the server's own login
    is never used), passed in memory only and scrubbed from every message. Returns the dataset URL."""
    from playground.core import hub

    if not rows:
        raise PrefsError("Nothing to push: the export is empty.")
    try:
        return hub.push_rows(rows, repo_id, token, private=private)
    except hub.HubError as e:
        raise PrefsError(str(e)) from None
