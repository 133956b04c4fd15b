"""A finished reward run as an automatic judge, shown only after the human voted.

    score = scorer.pair_scorer(ws, cache=ctx.cached)   # the UI builds it: Arena(ws, rm_scores=score)
    scores, err = judge_pair(score, "reward-...", prompt, text_a, text_b)
    badge_text(*scores, choice="a")   # "🤖 RM says: A (+0.83 vs −0.12) — agrees with you"
    rm_badge(score, run_id, prompt, text_a, text_b, "a")   # the same, "" when the judge is off

A deleted or unfinished run only turns the badge into a one-line message: the vote never depends on it.
The scoring is the reward stage's (stages/reward/scorer.py `pair_scorer`, through the model's batching scorer:
a room's votes judged at the same moment share one forward pass). It reaches this stage as a callable the UI
passes in, so preferences and reward do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.core.errors import UserError
from playground.core.runs import adapter_dir, base_model, read_status
from playground.core.workspace import Workspace

JUDGE_OFF = "off"
Cache = Callable[[tuple[str, str], Callable[[], Any]], Any]
# (reward run id, prompt, text A, text B) -> (score A, score B); a UserError with one line on failure
PairScorer = Callable[[str, Any, str, str], tuple[float, float]]


def judge_choices(ws: Workspace) -> list[tuple[str, str]]:
    """("off", "off") and every finished reward run with an adapter, as (label, run id)."""
    out = [("off", JUDGE_OFF)]
    try:
        runs = ws.runs("reward")
    except Exception:  # noqa: BLE001 - a broken workspace row must not break the picker
        return out
    for r in runs:
        if read_status(r["run_dir"]).get("state") == "succeeded" and adapter_dir(r["run_dir"]) is not None:
            out.append((f"{r['id']} (base {base_model(r['run_dir'])})", r["id"]))
    return out


def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def badge_text(score_a: float, score_b: float, choice: str) -> str:
    """The badge for scores already computed: which side the RM prefers and whether that matches the vote."""
    if choice not in ("a", "b"):  # a tie or both bad says nothing the RM could agree with
        return f"🤖 RM scores: A {_signed(score_a)} · B {_signed(score_b)}"
    if score_a == score_b:
        return f"🤖 RM says: tie ({_signed(score_a)} both) — disagrees with you"
    rm_pick = "a" if score_a > score_b else "b"
    hi, lo = (score_a, score_b) if rm_pick == "a" else (score_b, score_a)
    verdict = "agrees with you" if rm_pick == choice else "disagrees with you"
    return f"🤖 RM says: {rm_pick.upper()} ({_signed(hi)} vs {_signed(lo)}) — {verdict}"


def judge_pair(score: PairScorer | None, run_id: str, prompt: Any, text_a: str,
               text_b: str) -> tuple[tuple[float, float] | None, str]:
    """((score A, score B), "") or (None, one-line message). Never raises: the vote must not depend on it."""
    if score is None:
        return None, "🤖 RM judge unavailable: this app was started without a reward scorer"
    try:
        return score(run_id, prompt, text_a, text_b), ""
    except UserError as e:
        return None, f"🤖 RM judge unavailable: {e}"
    except Exception as e:  # noqa: BLE001 - a broken run must never lose the vote, only the badge
        first = str(e).splitlines()[0] if str(e) else ""
        return None, f"🤖 RM judge failed: {type(e).__name__}: {first}"


def rm_badge(score: PairScorer | None, run_id: str, prompt: Any, text_a: str, text_b: str, choice: str) -> str:
    """The "RM says" line for a judged pair, or "" when no judge is picked; failures give a one-line message."""
    if not run_id or run_id == JUDGE_OFF:
        return ""
    scores, err = judge_pair(score, run_id, prompt, text_a, text_b)
    return err if scores is None else badge_text(*scores, choice)
