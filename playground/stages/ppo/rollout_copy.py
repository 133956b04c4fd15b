"""The weights that sample PPO's rollouts (`rollout_weights`): the training model itself, or a copy of it with the
policy's LoRA folded into its weights.

Sampling is most of a PPO update on a CPU (48 tokens = 48 sequential forwards of the whole model). Through the
training model every linear layer also runs its LoRA branch (two more small matmuls and PEFT's bookkeeping per
layer per token). A copy of the base with `W + B A * scale` in place of `W` samples the same policy without that
branch, and a bfloat16 copy halves the bytes each token reads. The copy is refreshed from the live adapter before
the next sampling after every optimiser step; the training model (and its frozen base, which is also the
reference model) is never written to, so nothing drifts. Only the sampling uses the copy: old log-probs, values,
the reference log-probs and the loss come from the training model in its own dtype, so the PPO ratio still starts
at exactly 1 and the KL of an untrained policy is exactly 0.

    copy = MergedCopy.build(base_model, dtype)        # before PEFT wraps base_model
    copy.attach(peft_model, "default")                # the LoRA layers to fold in, matched by module name
    copy.refresh(version); copy.model.generate(...)  # version: bumped whenever the adapter's weights change

bench/README.md ("PPO on the bundled model") has the measurement that chose the default.
"""

from __future__ import annotations

import copy as _copy
from functools import lru_cache
from typing import Any

from playground.core.config import ConfigError
from playground.stages.ppo.config import ROLLOUT_WEIGHTS


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU does bfloat16 maths natively (AVX-512 BF16 or AMX): then a bf16 decode is faster."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def resolve(choice: str, device: str) -> str:
    """auto -> bf16 on a CPU with native bf16 maths, adapter elsewhere (a GPU already runs the model in bf16, and a
    copy of a large model costs its memory twice)."""
    assert choice in ROLLOUT_WEIGHTS, choice  # PPORun.validate refuses anything else before a job starts
    if choice != "auto":
        return choice
    return "bf16" if str(device).startswith("cpu") and cpu_has_bf16() else "adapter"


class MergedCopy:
    """A sampling-only copy of a causal LM whose LoRA layers carry the policy adapter's weights folded in."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.pairs: list[tuple[Any, Any]] = []  # (PEFT LoRA layer in the training model, plain module in the copy)
        self.adapter = ""
        self.version = -1  # the training weights' version this copy holds (-1: never filled)

    @classmethod
    def build(cls, base: Any, dtype: Any) -> MergedCopy:
        """Copy `base` (a plain transformers model, before PEFT wraps it) with its parameters in `dtype`.

        Buffers keep their dtype (the rotary frequencies must stay fp32). Tied weights stay tied: a shared
        Parameter is one object, converted once."""
        import torch

        model = _copy.deepcopy(base)
        with torch.no_grad():
            for p in model.parameters():
                p.requires_grad_(False)
                if p.is_floating_point() and p.dtype != dtype:
                    p.data = p.data.to(dtype)
        model.eval()
        return cls(model)

    def attach(self, peft_model: Any, adapter: str) -> None:
        """Match every LoRA layer of `peft_model` that holds `adapter` to the copy's module of the same name."""
        from peft.tuners.lora import LoraLayer

        self.adapter = adapter
        self.pairs = []
        for name, layer in peft_model.get_base_model().named_modules():
            if not isinstance(layer, LoraLayer) or adapter not in layer.lora_A:
                continue
            if getattr(layer, "use_dora", {}).get(adapter) or getattr(layer, "lora_bias", {}).get(adapter):
                raise ConfigError("rollout_weights: merged / bf16 fold plain LoRA only (not DoRA or a LoRA bias); "
                                  "use adapter")
            base_w = layer.get_base_layer().weight
            if not base_w.is_floating_point() or base_w.dtype.itemsize < 2:
                raise ConfigError("rollout_weights: merged / bf16 needs unquantised base weights (QLoRA: use adapter)")
            try:
                target = self.model.get_submodule(name)
            except AttributeError:
                raise ConfigError(f"rollout_weights: the copy has no module {name!r}; use adapter") from None
            if tuple(target.weight.shape) != tuple(base_w.shape):
                raise ConfigError(f"rollout_weights: {name} has another shape in the copy; use adapter")
            self.pairs.append((layer, target))
        if not self.pairs:
            raise ConfigError("rollout_weights: the model has no LoRA layers to fold in; use adapter")

    def refresh(self, version: int) -> None:
        """Fold the adapter's current weights in (W + delta, computed in the training dtype, then cast), unless
        this version is already in."""
        import torch

        if version == self.version:
            return
        with torch.no_grad():
            for layer, target in self.pairs:
                base_w = layer.get_base_layer().weight
                target.weight.copy_(base_w + layer.get_delta_weight(self.adapter).to(base_w.dtype))
        self.version = version
