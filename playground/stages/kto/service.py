"""KTO's data: rated answers as TRL's unpaired rows {"prompt", "completion", "label"}, and the form's data line.

    train, evals, counts = kto_rows("workspace", use_votes=False, eval_fraction=0.2, seed=0)
    data_line("workspace", False, 0.2)     # "✅ 12 train / 3 eval answers (9 desirable, 6 undesirable) ..."

The arena stores a 1-5 rating per answer (pairs.rating_a / rating_b, beside the vote). An answer rated 4 or 5 is
desirable, 1 or 2 undesirable, 3 says neither and is dropped. With `use_votes` a vote (or an edit) also labels its
answers: the chosen one desirable, the rejected one undesirable; ties and both-bad say nothing and are skipped, and an
answer that was rated keeps its rating's label. `builtin:prefs` splits the built-in pairs the same way (chosen
desirable, rejected undesirable), so the tiny preset runs in an empty workspace.
"""

from __future__ import annotations

import random
from typing import Any

from playground.core import builtin
from playground.core.chat import as_messages
from playground.core.errors import DataError
from playground.core.workspace import Workspace

DESIRABLE_MIN, UNDESIRABLE_MAX = 4, 2  # ratings >= 4 desirable, <= 2 undesirable, 3 dropped
MIN_ANSWERS = 8  # fewer labelled answers and KTO has nothing to learn a direction from


def _answer(v: Any) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": v}] if isinstance(v, str) else as_messages(v)


def _row(prompt: Any, answer: Any, desirable: bool) -> dict[str, Any]:
    return {"prompt": as_messages(prompt), "completion": _answer(answer), "label": desirable}


def labelled_answers(name: str, use_votes: bool, ws: Workspace | None = None) -> tuple[list[dict], dict[str, int]]:
    """(rows, counts): every labelled answer of the set, and {"rated", "neutral" (rated 3), "from_votes"}."""
    counts = {"rated": 0, "neutral": 0, "from_votes": 0}
    if name == "builtin:prefs":
        rows = [r for p in builtin.preferences() for r in (_row(p["prompt"], p["chosen"], True),
                                                          _row(p["prompt"], p["rejected"], False))]
        return rows, counts
    if name.startswith("builtin:"):
        raise DataError(f"dataset '{name}' has no rated answers (use builtin:prefs, 'workspace' or a pool name)")
    ws = ws or Workspace()
    pool = None if name in ("workspace", "") else name
    if pool is not None and pool not in ws.pools():
        raise DataError(f"dataset '{name}': no such pool (pools: {', '.join(ws.pools()) or 'none yet'})")
    rows = []
    for p in ws.pairs(pool):
        texts = {"a": p["response_a"], "b": p["response_b"]}
        labels: dict[str, bool] = {}
        rated = set()
        for slot in ("a", "b"):
            rating = p[f"rating_{slot}"]
            if rating is None:
                continue
            rated.add(slot)
            counts["rated"] += 1
            if rating >= DESIRABLE_MIN:
                labels[slot] = True
            elif rating <= UNDESIRABLE_MAX:
                labels[slot] = False
            else:
                counts["neutral"] += 1
        if use_votes and p["choice"] in ("a", "b"):
            win = p["choice"]
            for slot, label in ((win, True), ("b" if win == "a" else "a", False)):
                if slot not in rated:
                    labels[slot] = label
                    counts["from_votes"] += 1
        rows += [_row(p["prompt"], texts[slot], label) for slot, label in labels.items()]
    return rows, counts


def kto_rows(name: str, use_votes: bool, eval_fraction: float, seed: int,
             ws: Workspace | None = None) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(train, eval, counts) in a seeded order (KTO's KL estimate pairs neighbours in a batch, so the two answers to
    one prompt should not sit side by side). Too few labelled answers, or only one kind, is a one-line DataError."""
    from playground.stages.data import _split

    rows, counts = labelled_answers(name, use_votes, ws)
    good = sum(r["label"] for r in rows)
    counts.update(desirable=good, undesirable=len(rows) - good)
    if len(rows) < MIN_ANSWERS or not good or good == len(rows):
        votes = "" if use_votes or name.startswith("builtin:") else ", or set use_votes to learn from votes too"
        raise DataError(f"dataset '{name}': {len(rows)} labelled answers ({good} desirable, {len(rows) - good} "
                        f"undesirable, {counts['neutral']} rated 3 dropped); KTO needs at least {MIN_ANSWERS} with "
                        f"both kinds: rate answers 1-5 in the arena{votes}")
    random.Random(seed).shuffle(rows)
    train, ev = _split(rows, eval_fraction, seed)
    return train, ev, counts


def data_line(name: str, use_votes: bool, eval_fraction: float, seed: int = 0) -> str:
    """One line for the form, before a run starts: the answers each split gets and how they were labelled."""
    try:
        train, ev, c = kto_rows(name, use_votes, eval_fraction, seed)
    except DataError as e:
        return f"⚠️ {e}"
    extra = f", {c['rated']} rated ({c['neutral']} rated 3 dropped)" if c["rated"] else ""
    votes = f", {c['from_votes']} labelled by votes" if c["from_votes"] else ""
    return (f"✅ {len(train)} train / {len(ev)} eval answers ({c['desirable']} desirable, {c['undesirable']} "
            f"undesirable{extra}{votes}).")
