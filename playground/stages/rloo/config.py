"""The RLOO stage's config: GRPO's shared online fields (stages/grpo/config.OnlineRun) plus RLOO's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import _f
from playground.stages.grpo.config import OnlineRun


@dataclass
class RLOORun(OnlineRun):
    """RLOO (Ahmadian et al. 2024): the KL to the reference is folded into each completion's reward
    (r - beta * KL), and the baseline is the mean reward of the *other* completions of its group (leave one out)."""

    STAGE: ClassVar[str] = "rloo"

    normalize_advantages: bool = _f(False, "Scale advantages to zero mean, unit std over the batch.")
