"""A finished reward run as an automatic judge, shown only after the human voted.

    scores, err = judge_pair(ws, "reward-...", prompt, text_a, text_b, cache=ctx.cached)
    badge_text(*scores, choice="a")   # "🤖 RM says: A (+0.83 vs −0.12) — agrees with you"
    rm_badge(ws, run_id, prompt, text_a, text_b, "a", cache=...)   # the same, "" when the judge is off

A deleted or unfinished run only turns the badge into a one-line message: the vote never depends on it.
Scoring goes through the model's batching scorer (stages/reward/scorer.py): a room's votes judged at the same
moment share one forward pass. `cache(key, load)` shares loaded models (the UI passes AppContext.cached); without
it each call loads the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.core.errors import UserError
from playground.core.runs import adapter_dir, base_model, read_status
from playground.core.workspace import Workspace

JUDGE_OFF = "off"
Cache = Callable[[tuple[str, str], Callable[[], Any]], Any]


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


def rm_scores(ws: Workspace, run_id: str, prompt: Any, text_a: str, text_b: str,
              cache: Cache | None = None) -> tuple[float, float]:
    """The reward run's scores of the two shown answers (A, B); a UserError with one line on failure."""
    from playground.stages.reward import service as rm
    from playground.stages.reward.scorer import scorer_for

    run = ws.get_run(run_id)
    run_dir = str(rm.reward_run_dir(run["run_dir"] if run else run_id))  # one-line error if gone or unfinished
    model, tok = (cache or (lambda _k, load: load()))(("rm", run_dir), lambda: rm.load_reward_model(run_dir))
    a, b = scorer_for(model, tok).score([prompt, prompt], [text_a, text_b])  # shares a pass with other votes
    return a, b


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


def judge_pair(ws: Workspace, run_id: str, prompt: Any, text_a: str, text_b: str,
               cache: Cache | None = None) -> tuple[tuple[float, float] | None, str]:
    """((score A, score B), "") or (None, one-line message). Never raises: the vote must not depend on it."""
    try:
        return rm_scores(ws, run_id, prompt, text_a, text_b, cache), ""
    except UserError as e:
        return None, f"🤖 RM judge unavailable: {e}"
    except Exception as e:  # noqa: BLE001 - a broken run must never lose the vote, only the badge
        first = str(e).splitlines()[0] if str(e) else ""
        return None, f"🤖 RM judge failed: {type(e).__name__}: {first}"


def rm_badge(ws: Workspace, run_id: str, prompt: Any, text_a: str, text_b: str, choice: str,
             cache: Cache | None = None) -> str:
    """The "RM says" line for a judged pair, or "" when no judge is picked; failures give a one-line message."""
    if not run_id or run_id == JUDGE_OFF:
        return ""
    scores, err = judge_pair(ws, run_id, prompt, text_a, text_b, cache)
    return err if scores is None else badge_text(*scores, choice)
