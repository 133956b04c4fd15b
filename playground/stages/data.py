"""Load training data by name: a workspace dataset or a builtin:* set, as TRL-format rows.

Instruction rows become conversational prompt/completion (the last assistant turn is the completion),
so SFTTrainer's completion_only_loss masks everything before the answer.
"""

from __future__ import annotations

import random
from typing import Any

from playground.core import builtin
from playground.stages.trainer import DataError


def to_prompt_completion(row: dict[str, Any]) -> dict[str, Any] | None:
    """One instruction row -> {"prompt": [...messages], "completion": [assistant message]} or None if unusable."""
    if "messages" in row:
        msgs = [m for m in row["messages"] if isinstance(m, dict) and str(m.get("content", "")).strip()]
        last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
        if last is None or last == 0:
            return None
        return {"prompt": msgs[:last], "completion": [msgs[last]]}
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str):
            if not p.strip() or not str(c).strip():
                return None
            return {"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": str(c)}]}
        return {"prompt": p, "completion": c}
    return None


def _split(rows: list[Any], eval_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    if eval_fraction <= 0 or len(rows) < 4:
        return rows, []
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    n_eval = max(1, int(round(len(rows) * eval_fraction)))
    ev = set(idx[:n_eval])
    return [r for i, r in enumerate(rows) if i not in ev], [r for i, r in enumerate(rows) if i in ev]


def instruction_rows(name: str, eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, eval) rows in prompt/completion form; rows marked split=eval in the workspace are the eval set."""
    if name.startswith("builtin:"):
        if name != "builtin:instructions":
            raise DataError(f"dataset '{name}' is not an instruction set (use builtin:instructions)")
        raw = [(r, "train") for r in builtin.instructions()]
    else:
        from playground.core.workspace import Workspace, WorkspaceError

        try:
            raw = [(r["data"], r["split"]) for r in Workspace().rows(name)]
        except WorkspaceError as e:
            raise DataError(str(e)) from None
    conv = [(to_prompt_completion(r), s) for r, s in raw]
    usable = [(c, s) for c, s in conv if c is not None]
    if not usable:
        raise DataError(f"dataset '{name}' has no usable rows (need a user turn followed by an assistant answer)")
    marked_eval = [c for c, s in usable if s == "eval"]
    if marked_eval:
        return [c for c, s in usable if s != "eval"], marked_eval
    return _split([c for c, _ in usable], eval_fraction, seed)


def preference_rows(name: str, eval_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """(train, eval) preference rows {"prompt", "chosen", "rejected"} (conversational)."""
    if name == "builtin:prefs":
        rows = builtin.preferences()
    elif name.startswith("builtin:"):
        raise DataError(f"dataset '{name}' is not a preference set (use builtin:prefs)")
    else:
        from playground.stages.preferences.pairs import export_pairs  # the arena's pool(s) in TRL format

        pool = None if name in ("workspace", "") else name
        rows = export_pairs(pool=pool)
    if len(rows) < 2:
        raise DataError(f"preference set '{name}' has {len(rows)} usable pair(s); vote on at least 2 first")
    return _split(rows, eval_fraction, seed)


def prompt_rows(name: str) -> list[list[dict[str, str]]]:
    """Prompts as chat message lists, for PPO rollouts."""
    if name == "builtin:prompts":
        texts = builtin.prompts()
        return [[{"role": "user", "content": t}] for t in texts]
    train, ev = instruction_rows(name, 0.0, 0)
    out = [r["prompt"] for r in train + ev]
    if not out:
        raise DataError(f"dataset '{name}' has no prompts")
    return out
