"""Humans as the judge: an evaluation's (policy answer, baseline answer) pairs go to a blind arena pool, and the
win-rate table fills in from the votes stored there.

    pool, added, skipped = send_to_arena(ws, report, pool="eval-ppo-vs-base")   # unjudged pool pairs
    # annotators vote in the Preferences tab, mode "Workshop pool", pool eval-ppo-vs-base
    human_results(ws, pool)        # per policy: wins, losses, ties, both bad, win_rate with a Wilson 95% CI

Each pair is stored through pairs.add_pool_pair in a random slot order (and the arena shows it in a fresh random
order again), so nothing on screen says which answer is the policy's. The sources stored with the pair carry
`eval_role` (policy | baseline) and `eval_policy`, which is how a vote is read back. A tie and "both bad" each count
half a win, as in the arena's Bradley-Terry table; both are counted and shown. A pair whose two answers are
identical is not sent (a vote on it says nothing), nor one the pool already holds.
"""

from __future__ import annotations

import random
from typing import Any

from playground.core.errors import PrefsError
from playground.core.workspace import Workspace
from playground.stages.evaluate.metrics import counts_row
from playground.stages.preferences import pairs as prefs

POOL_PREFIX = "eval-"


def default_pool(report: dict[str, Any]) -> str:
    return f"{POOL_PREFIX}{report.get('id', 'x')}-vs-{report.get('baseline', 'base')}"


def _source(report: dict[str, Any], policy: str, role: str) -> dict[str, Any]:
    req = report.get("request", {})
    return {"model": report.get("model", ""), "adapter": "" if policy == "base" else policy,
            "temperature": req.get("temperature"), "top_p": req.get("top_p"),
            "max_new_tokens": req.get("max_new_tokens"), "seed": req.get("seed"),
            "eval_role": role, "eval_policy": policy, "eval_id": report.get("id")}


def send_to_arena(ws: Workspace, report: dict[str, Any], pool: str = "", policies: list[str] | None = None,
                  rng: random.Random | None = None) -> tuple[str, int, int]:
    """(pool name, pairs added, pairs skipped) for every prompt of every policy (or only `policies`) that is not
    the baseline itself. PrefsError (one line) when there is nothing to send."""
    pool = (pool or "").strip() or default_pool(report)
    coin = rng or random.SystemRandom()
    base = report["baseline"]
    held = {r["pair_key"] for r in ws.pairs(pool) if r["pair_key"]}
    added = skipped = 0
    for row in report.get("rows", []):
        pol = row["policy"]
        if pol == base or (policies and pol not in policies):
            continue
        texts = [row["answer"], row["baseline_answer"]]
        sources = [_source(report, pol, "policy"), _source(report, base, "baseline")]
        if texts[0].strip() == texts[1].strip() or {prefs.make_pair_key(row["prompt"], *texts),
                                                    prefs.make_pair_key(row["prompt"], *texts[::-1])} & held:
            skipped += 1
            continue
        if coin.random() < 0.5:
            texts, sources = texts[::-1], sources[::-1]
        held.add(prefs.add_pool_pair(ws, row["prompt"], texts, sources, pool=pool))
        added += 1
    if not added and not skipped:
        raise PrefsError("Nothing to send: the evaluation has no policy other than its baseline.")
    return pool, added, skipped


def human_results(ws: Workspace, pool: str) -> list[dict[str, Any]]:
    """Per policy in the pool: votes counted from the baseline's point of view reversed (wins = votes for the
    policy's answer), ties and both-bad counted half, with the Wilson 95% interval."""
    tally: dict[str, dict[str, int]] = {}
    for r in ws.pairs(pool, judged_only=True):
        if r["kind"] != "vote":
            continue
        roles = {side: (r[f"source_{side}"] or {}).get("eval_role") for side in ("a", "b")}
        if sorted(roles.values(), key=str) != ["baseline", "policy"]:
            continue  # not an evaluation pair
        side = "a" if roles["a"] == "policy" else "b"
        pol = str(r[f"source_{side}"].get("eval_policy", "?"))
        t = tally.setdefault(pol, {"wins": 0, "ties": 0, "losses": 0, "both_bad": 0})
        key = {"tie": "ties", "both_bad": "both_bad"}.get(r["choice"], "wins" if r["choice"] == side else "losses")
        t[key] += 1
    return [{"policy": pol, "judge": f"human:{pool}", **counts_row(t["wins"], t["ties"], t["losses"], t["both_bad"])}
            for pol, t in sorted(tally.items())]


def eval_pools(ws: Workspace) -> list[str]:
    return [p for p in ws.pools() if p.startswith(POOL_PREFIX)]
