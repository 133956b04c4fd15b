"""The reward-model stage's config: one dataclass, its fields' help, bounds and rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_STEPS, MAX_TOKENS, BaseRun, _f  # noqa: F401


@dataclass
class RewardRun(BaseRun):
    """Reward model: a scalar head trained with the Bradley-Terry loss -log sigmoid(r_chosen - r_rejected)."""

    STAGE: ClassVar[str] = "reward"

    # Data arguments
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out for accuracy.", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.", min=8, max=MAX_TOKENS)
    center_rewards_coefficient: float = _f(0.0, "Penalty that keeps rewards centred on zero (0 to disable).",
                                            min=0.0, max=100.0)
    # Performance
    shared_prefix: bool = _f(True, "Run the prompt a pair's two answers share once, not twice (same loss, "
                             "fewer tokens; off, or with several processes: TRL's two padded rows per pair).")
