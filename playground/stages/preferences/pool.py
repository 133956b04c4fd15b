"""Pre-generating pairs into a workshop pool, so annotators in "Workshop pool" mode are served one at once.

    stop = threading.Event()
    res = pregenerate(arena, PoolRequest(n=20, pool="room1", sources=(s1, s2), mode=PromptMode.AT_RANDOM,
                                         dataset="prompts"), on_progress=lambda done, n: ..., should_stop=stop.is_set)
    res.stored, res.requested, res.stopped, res.message

Prompts come from the arena form's dataset (in order: continuing after the pairs the pool already holds; at
random) or, for the typed and pool modes, from the built-in prompts. The pairs run through the same generation
engine as the arena (generation.pregenerate_pairs: at most half its batch, so a room voting meanwhile keeps its
share) and each finished pair is stored at once with pairs.add_pool_pair: stopping keeps what is done. With a
seed, pair i of the pool uses seed + 2*i, so the pool is reproducible and a second run adds different pairs.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground.core import builtin
from playground.core.errors import PrefsError
from playground.core.generation import PairOutput, pregenerate_pairs
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.arena import (
    Arena,
    PromptMode,
    SourceSetup,
    dataset_prompt,
    pool_name,
    prompt_messages,
)

MAX_POOL_PAIRS = 500  # one request at most; run it again to add more


@dataclass
class PoolRequest:
    n: int = 20
    pool: str = "default"
    sources: tuple[SourceSetup, SourceSetup] = (SourceSetup(), SourceSetup(temperature=1.0))
    mode: PromptMode = PromptMode.TYPED  # dataset modes draw from `dataset`; the others use built-in prompts
    dataset: str | None = None
    seed: int = -1  # -1: random seeds


@dataclass
class PoolResult:
    requested: int
    stored: int
    pool: str
    stopped: bool
    note: str = ""  # e.g. max new tokens capped

    @property
    def message(self) -> str:
        head = (f"⏹️ Stopped: {self.stored} of {self.requested} pairs" if self.stopped
                else f"✅ {self.stored} pairs")
        return f"{head} added to pool '{self.pool}'." + (f" {self.note}" if self.note else "")


def pool_size(arena: Arena, pool: str) -> int:
    """Pairs prepared for the pool so far (unjudged templates)."""
    return sum(1 for r in arena.ws.pairs(pool_name(pool)) if r["choice"] is None and r["pair_key"])


def pool_prompts(arena: Arena, req: PoolRequest, start: int) -> list[Any]:
    """`req.n` prompts: from the dataset (in order from row `start`, or at random) or the built-in prompts (in
    order from `start`, cycling)."""
    n = int(req.n)
    if req.mode.from_dataset:
        dataset_prompt(arena.ws, req.dataset, 0, False)  # a one-line error for no dataset / no usable prompt
        rows = [p for p in (prompt_messages(r["data"]) for r in arena.ws.rows(req.dataset or "")) if p]
        if req.mode is PromptMode.AT_RANDOM:
            rng = random.Random(None if req.seed < 0 else req.seed + start)
            return [rng.choice(rows) for _ in range(n)]
        return [rows[(start + i) % len(rows)] for i in range(n)]
    prompts = builtin.prompts()
    if not prompts:
        raise PrefsError("There are no built-in prompts: pick a dataset to draw prompts from.")
    return [prompts[(start + i) % len(prompts)] for i in range(n)]


def pregenerate(arena: Arena, req: PoolRequest, on_progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> PoolResult:
    """Generate `req.n` pairs from the two sources and store each in the pool as it finishes.
    A UserError (one line) for a bad request; nothing is stored then."""
    try:
        n = int(req.n)
    except (TypeError, ValueError):
        raise PrefsError("Number of pairs must be a whole number.") from None
    if not 1 <= n <= MAX_POOL_PAIRS:
        raise PrefsError(f"Number of pairs must be between 1 and {MAX_POOL_PAIRS} (run it again to add more).")
    pool = pool_name(req.pool)
    start = pool_size(arena, pool)
    prompts = pool_prompts(arena, PoolRequest(n, pool, req.sources, req.mode, req.dataset, req.seed), start)
    sources, note = arena.sources(req.sources)
    stored = 0
    lock = threading.Lock()

    def on_pair(_i: int, prompt: Any, out: PairOutput) -> None:  # called from the generating threads
        nonlocal stored
        with lock:
            prefs.add_pool_pair(arena.ws, prompt, out.texts, [s.to_dict() for s in out.sources], pool=pool)
            stored += 1

    seed = None if req.seed < 0 else req.seed + 2 * start
    stop = should_stop or (lambda: False)
    pregenerate_pairs(prompts, sources, seed, arena.load, on_pair, on_progress, stop)
    return PoolResult(requested=n, stored=stored, pool=pool, stopped=stored < n and stop(), note=note)
