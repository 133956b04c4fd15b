"""The DPO stage's config: one dataclass, its fields' help, bounds and rules (beta > 0 is a field bound)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_STEPS, MAX_TOKENS, BaseRun, _f  # noqa: F401


@dataclass
class DPORun(BaseRun):
    """Direct preference optimisation from the same pairs, skipping the reward model."""

    STAGE: ClassVar[str] = "dpo"

    sft_run: str = _f("", "Start from this SFT run's adapter (run id), or '' for the base model.")
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out.", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.", min=8, max=MAX_TOKENS)
    beta: float = _f(0.1, "DPO temperature: strength of the implicit KL to the reference.", min_excl=0.0, max=100.0)
