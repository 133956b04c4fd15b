"""RLOO stage: TRL's RLOOTrainer + LoRA on the online runner GRPO uses (stages/grpo/train.run_online).

    python -m playground rloo --config presets/rloo/tiny-cpu.yaml [--set reward=rule:n_words --set sft_run=<id>]

Objective: each completion's reward has the KL to the reference folded in (r - beta * KL, KL summed over its tokens),
and its baseline is the mean of the other completions of its group (leave one out): A_i = R_i - mean_{j != i} R_j.
What GRPO's docstring says of rewards, samples.jsonl, metrics and the run dir holds here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.stages.grpo.train import run_online
from playground.stages.rloo.config import RLOORun


def run(cfg: RLOORun, run_dir: str | Path) -> Any:
    def trl_classes() -> tuple[Any, Any]:
        from trl import RLOOConfig, RLOOTrainer

        return RLOOConfig, RLOOTrainer

    return run_online(cfg, run_dir, "rloo", trl_classes, {"normalize_advantages": cfg.normalize_advantages})
