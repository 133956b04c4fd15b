"""The held-out prompts an evaluation runs on, with reference answers where the source has them.

    prompts, where = load_prompts(ws, "my-dataset", n=32)    # EvalPrompt(prompt=[messages], reference=str | None)

A source is, in this order: a built-in set (`builtin:prompts`, `builtin:instructions`, `builtin:prefs`), a file
(JSONL/JSON/CSV/Parquet: rows with `prompt`, `messages` or prompt/completion, a preference file whose prompts are
used, or any format the dataset import converts), a workspace dataset (its eval split when it has one), or a
preference pool (`pool:NAME` or the bare name). Prompts are de-duplicated and the first n kept, so a larger n only
adds prompts at the end (the answers to the first ones stay cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core import builtin
from playground.core.chat import Messages, as_messages, prompt_key, response_text, to_prompt_completion
from playground.core.errors import DataError
from playground.core.workspace import Workspace

MAX_PROMPTS = 500  # one evaluation at most


@dataclass
class EvalPrompt:
    prompt: Messages
    reference: str | None = None  # the dataset's answer (SFT-style data), for perplexity / BLEU / ROUGE-L


def row_prompt(row: Any) -> EvalPrompt | None:
    """One instruction or prompt-only row -> EvalPrompt (the last assistant turn becomes the reference)."""
    if not isinstance(row, dict):
        return None
    pc = to_prompt_completion(row)
    if pc is not None and as_messages(pc["prompt"]):
        ref = response_text(pc["completion"]).strip()
        return EvalPrompt(as_messages(pc["prompt"]), ref or None)
    if isinstance(row.get("messages"), list):
        msgs = [m for m in as_messages(row["messages"]) if m["role"] != "assistant"]
        return EvalPrompt(msgs) if msgs else None
    p = row.get("prompt")
    if (isinstance(p, str) and p.strip()) or (isinstance(p, list) and p):
        return EvalPrompt(as_messages(p))
    return None


def _file_prompts(path: Path) -> list[EvalPrompt]:
    from playground.stages.dataset.io import convert, read_records
    from playground.stages.preferences.io import read_pairs

    records = read_records(path)  # FormatError (one line) for an unreadable file
    items = [r for r in records if isinstance(r, dict)]
    if any("chosen" in r and "rejected" in r for r in items):  # a preference file: its prompts
        pairs, _, _ = read_pairs(path)
        return [EvalPrompt(as_messages(p["prompt"])) for p in pairs if p["prompt"]]
    out = [p for p in (row_prompt(r) for r in items) if p]
    if not out:  # alpaca, sharegpt, HH transcripts...: what the dataset import converts
        rows, _ = convert(records)
        out = [p for p in (row_prompt(r) for r in rows) if p]
    return out


def _dataset_prompts(ws: Workspace, name: str) -> tuple[list[EvalPrompt], str]:
    rows = ws.rows(name)
    held = [r for r in rows if r["split"] == "eval"]
    use = held or rows
    where = f"dataset '{name}'" + (" (eval split)" if held else "")
    return [p for p in (row_prompt(r["data"]) for r in use) if p], where


def _builtin(name: str) -> list[EvalPrompt]:
    if name == "builtin:prefs":
        return [EvalPrompt(as_messages(r["prompt"])) for r in builtin.preferences()]
    return [p for p in (row_prompt(r if isinstance(r, dict) else {"prompt": r}) for r in builtin.load(name)) if p]


def load_prompts(ws: Workspace, source: str, n: int = 0) -> tuple[list[EvalPrompt], str]:
    """(up to n distinct prompts, a short description of where they came from); n <= 0 takes all (capped at
    MAX_PROMPTS). DataError (one line) when the source is unknown or holds no usable prompt."""
    source = (source or "").strip()
    if not source:
        raise DataError("prompts: name a file, a workspace dataset or a preference pool")
    pool = source.removeprefix("pool:").strip()
    if source in builtin.BUILTIN:
        found, where = _builtin(source), source
    elif Path(source).expanduser().is_file():
        found, where = _file_prompts(Path(source).expanduser()), f"file {Path(source).name}"
    elif not source.startswith("pool:") and ws.has_dataset(source):
        found, where = _dataset_prompts(ws, source)
    elif pool in ws.pools():
        found = [EvalPrompt(as_messages(r["prompt"])) for r in ws.pairs(pool) if r["prompt"]]
        where = f"pool '{pool}'"
    else:
        raise DataError(f"prompts '{source}': not a file, a workspace dataset or a preference pool")
    seen: dict[str, EvalPrompt] = {}
    for p in found:
        seen.setdefault(prompt_key(p.prompt), p)
    out = list(seen.values())
    if not out:
        raise DataError(f"prompts '{source}': {where} holds no usable prompt")
    cap = MAX_PROMPTS if n <= 0 else min(int(n), MAX_PROMPTS)
    return out[:cap], where
