"""The KTO stage's config: one dataclass, its fields' help, bounds and rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_TOKENS, BaseRun, _f, need


@dataclass
class KTORun(BaseRun):
    """Kahneman-Tversky optimisation from unpaired answers, each marked desirable or not: the arena's ratings
    (4-5 desirable, 1-2 undesirable, 3 dropped), optionally its votes, or the built-in pairs split into both kinds."""

    STAGE: ClassVar[str] = "kto"

    sft_run: str = _f("", "Start from this SFT run's adapter (run id), or '' for the base model.")
    # Data arguments
    dataset: str = _f("builtin:prefs", "builtin:prefs (each pair: chosen desirable, rejected undesirable), 'workspace' "
                      "(the arena's rated answers, every pool) or a pool name.")
    use_votes: bool = _f(False, "Also learn from votes: the chosen answer desirable, the rejected undesirable (an "
                         "answer that was rated keeps its rating's label).")
    eval_fraction: float = _f(0.2, "Share of rated answers held out.", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Fit prompt+answer into this many tokens (the prompt's start is cut first).", min=8,
                         max=MAX_TOKENS)
    # KTO arguments
    beta: float = _f(0.1, "KTO temperature: strength of the implicit KL to the reference.", min_excl=0.0, max=100.0)
    desirable_weight: float = _f(1.0, "Weight of the desirable answers' loss (raise it when they are the fewer).",
                                 min_excl=0.0, max=100.0)
    undesirable_weight: float = _f(1.0, "Weight of the undesirable answers' loss.", min_excl=0.0, max=100.0)

    def validate(self, where: str = "config") -> None:
        super().validate(where)
        need(self.per_device_train_batch_size >= 2, where, "per_device_train_batch_size must be >= 2 for KTO (its KL "
             "estimate pairs each answer with another prompt of the same batch)")
