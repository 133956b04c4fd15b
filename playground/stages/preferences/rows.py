"""Judged pairs -> TRL preference rows: what the reward and DPO trainers (stages/data.py), the Preferences export
and the CLI read. Needs only `core` (the workspace and the chat helpers), so a trainer reading the arena's votes
pulls in no other stage.

    rows = export_pairs(pool="default", ws=ws)        # [{"prompt", "chosen", "rejected"}] conversational
"""

from __future__ import annotations

import json
from typing import Any

from playground.core.chat import as_messages
from playground.core.errors import PrefsError
from playground.core.workspace import Workspace

TIES_OPTIONS = ("exclude", "both_orders")
BOTH_BAD_OPTIONS = ("exclude", "as_tie")


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def export_pairs(
    pool: str | None = None, ties: str = "exclude", both_bad: str = "exclude", with_meta: bool = False,
    ws: Workspace | None = None,
) -> list[dict[str, Any]]:
    """Judged pairs in TRL's conversational preference format: [{"prompt", "chosen", "rejected"}].

    Every judgement is one example (several annotators on one pair give several examples). Ties and
    both-bad carry no preference and are excluded by default; ties="both_orders" keeps a tie as the two
    examples (A, B) and (B, A), whose Bradley-Terry losses pull the two rewards together;
    both_bad="as_tie" treats both-bad like a tie. with_meta adds annotator, sources, kind, pool, time.
    """
    if ties not in TIES_OPTIONS:
        raise PrefsError(f"ties must be one of {', '.join(TIES_OPTIONS)}, not '{ties}'.")
    if both_bad not in BOTH_BAD_OPTIONS:
        raise PrefsError(f"both_bad must be one of {', '.join(BOTH_BAD_OPTIONS)}, not '{both_bad}'.")
    ws = ws or Workspace()
    out: list[dict[str, Any]] = []
    for r in ws.pairs(pool, judged_only=True):
        c = r["choice"]
        if c == "both_bad":
            if both_bad == "exclude":
                continue
            c = "tie"
        if c == "tie":
            if ties == "exclude":
                continue
            orders = [("a", "b"), ("b", "a")]
        else:
            orders = [("a", "b")] if c == "a" else [("b", "a")]
        for win, lose in orders:
            ex: dict[str, Any] = {"prompt": as_messages(r["prompt"]), "chosen": _assistant(r[f"response_{win}"]),
                                  "rejected": _assistant(r[f"response_{lose}"])}
            if with_meta:
                ex.update(annotator=r["annotator"], kind=r["kind"], pool=r["pool"], choice=r["choice"],
                          source_chosen=json.dumps(r[f"source_{win}"]), source_rejected=json.dumps(r[f"source_{lose}"]),
                          reason=r["reason"], pair_key=r["pair_key"], created=r["created"])
            out.append(ex)
    return out
