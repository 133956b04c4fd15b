"""The SFT stage's config: one dataclass, its fields' help, bounds and rules (read by the form, presets, CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_STEPS, MAX_TOKENS, BaseRun, _f, need  # noqa: F401


@dataclass
class SFTRun(BaseRun):
    """Supervised fine-tuning: minimise the token NLL of the responses (TRL SFTTrainer + LoRA)."""

    STAGE: ClassVar[str] = "sft"

    # Data arguments
    dataset: str = _f("builtin:instructions", "Workspace dataset name, or builtin:instructions.")
    eval_fraction: float = _f(0.1, "Share of rows held out for eval loss (0 to disable).", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate examples to this many tokens.", min=8, max=MAX_TOKENS)
    packing: bool = _f(False, "Pack several short examples into one sequence.")
    completion_only_loss: bool = _f(True, "Train only on completion / assistant tokens (prompt tokens masked).")
    load_in_4bit: bool = _f(False, "QLoRA: load the base in 4-bit (needs CUDA and bitsandbytes).")

    def validate(self, where: str = "config") -> None:
        super().validate(where)
        need(not (self.load_in_4bit and self.device == "cpu"), where,
             "load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes; switch it off on CPU")
