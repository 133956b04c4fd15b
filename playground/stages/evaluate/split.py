"""Gold vs proxy, the data side: split one preference pool in two by prompt, so a *proxy* reward model and a *gold*
reward model can be trained on disjoint prompts (the over-optimisation experiment).

    split_by_prompt(ws, "hh", seed=0)   # -> {"proxy": "hh-proxy", "gold": "hh-gold", "proxy_pairs": 951, ...}

Every judged pair of the pool is copied (not moved) into `<pool>-proxy` or `<pool>-gold`; all pairs of one prompt go
to the same half, prompts are shuffled with the seed and cut in half. Train the proxy RM on one and the gold RM on
the other (Reward tab, dataset = the pool), PPO with `reward: rm:<proxy>`, `gold_judge: rm:<gold>`.
"""

from __future__ import annotations

import random
from typing import Any

from playground.core.chat import prompt_key
from playground.core.errors import DataError
from playground.core.workspace import Workspace


def split_by_prompt(ws: Workspace, pool: str, seed: int = 0) -> dict[str, Any]:
    """Copy the pool's judged pairs into two new pools with disjoint prompts; DataError (one line) when the pool is
    unknown, has fewer than two distinct prompts, or a target pool already exists."""
    pool = (pool or "").strip()
    if pool not in ws.pools():
        raise DataError(f"split: no preference pool named '{pool}'")
    names = {"proxy": f"{pool}-proxy", "gold": f"{pool}-gold"}
    taken = [n for n in names.values() if n in ws.pools()]
    if taken:
        raise DataError(f"split: pool '{taken[0]}' already exists (delete it or split another pool)")
    rows = [r for r in ws.pairs(pool, judged_only=True)]
    keys = sorted({prompt_key(r["prompt"]) for r in rows})
    if len(keys) < 2:
        raise DataError(f"split: pool '{pool}' has {len(keys)} distinct judged prompt(s); two halves need at least 2")
    random.Random(seed).shuffle(keys)
    gold = set(keys[:len(keys) // 2])
    halves: dict[str, list[dict[str, Any]]] = {"proxy": [], "gold": []}
    for r in rows:
        half = "gold" if prompt_key(r["prompt"]) in gold else "proxy"
        halves[half].append({**{k: r[k] for k in Workspace.PAIR_FIELDS if k != "pool"}, "pool": names[half]})
    for half in ("proxy", "gold"):
        ws.add_pairs(halves[half])
    return {**names, "proxy_pairs": len(halves["proxy"]), "gold_pairs": len(halves["gold"]),
            "proxy_prompts": len(keys) - len(gold), "gold_prompts": len(gold)}
