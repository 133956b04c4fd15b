"""`per_device_train_batch_size: auto` (the GPU presets): the split of the effective batch a card's memory fits.

    .venv/bin/python -m pytest -q tests/test_device_batch.py

The decision is core/models.auto_train_batch, a function of numbers (free/total memory, parameter count, sequence
length, LoRA or full), so an H200, an A10G and a T4 are fed in here; resolve_auto_batch reads the card through
cuda_memory(), which these tests replace to run the CUDA branch without a GPU.
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from playground.core import models
from playground.core.errors import ConfigError
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3
SMOLLM2_1_7B = types.SimpleNamespace(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                                     num_attention_heads=32, num_key_value_heads=32, vocab_size=49152)
N_1_7B = 1_711_376_384


@pytest.mark.parametrize("free_gib, want", [(140, (16, 1)), (24, (8, 2)), (16, (4, 4)), (8, (2, 8))])
def test_less_free_memory_means_smaller_batches_and_more_accumulation(free_gib: int, want: tuple[int, int]) -> None:
    got = models.auto_train_batch(16, 4, (free_gib * GIB, 141 * GIB), SMOLLM2_1_7B, N_1_7B, 2048, lora=True)
    assert got == want and got[0] * got[1] == 16  # the effective batch the preset asks for, whatever the card
    assert got[0] <= max(1, models.train_batch_fits(SMOLLM2_1_7B, N_1_7B, 2048, free_gib * GIB))


def test_full_fine_tune_and_longer_rows_fit_fewer() -> None:
    lora = models.auto_train_batch(16, 4, (24 * GIB, 24 * GIB), SMOLLM2_1_7B, N_1_7B, 2048, lora=True)
    full = models.auto_train_batch(16, 4, (40 * GIB, 40 * GIB), SMOLLM2_1_7B, N_1_7B, 2048, lora=False)
    short = models.auto_train_batch(16, 4, (24 * GIB, 24 * GIB), SMOLLM2_1_7B, N_1_7B, 512, lora=True)
    assert full[0] < lora[0] < short[0] == 16
    # nothing fits (27 GB of optimiser state on a 16 GB card): the smallest split, the OOM line names the setting
    assert models.auto_train_batch(16, 4, (16 * GIB, 16 * GIB), SMOLLM2_1_7B, N_1_7B, 2048, lora=False) == (1, 16)


def test_the_stage_rules_and_the_cpu_keep_their_say() -> None:
    # `ok` (the stage's validate): GRPO's batch must hold whole groups of 8 completions
    got = models.auto_train_batch(32, 32, (24 * GIB, 24 * GIB), SMOLLM2_1_7B, N_1_7B, 2048, ok=lambda b: b % 8 == 0)
    assert got == (8, 4)
    # no card reading (CPU) or no model shape: the preset's own numbers
    assert models.auto_train_batch(16, 4, None, SMOLLM2_1_7B, N_1_7B, 2048) == (4, 4)
    assert models.auto_train_batch(16, 4, (24 * GIB, 24 * GIB), None, 0, 2048) == (4, 4)


def test_gpu_preset_with_auto_loads_as_numbers_on_cpu() -> None:
    assert "per_device_train_batch_size: auto:4" in (REPO / "presets/sft/1B-A10G.yaml").read_text()
    cfg = load_config("sft", str(REPO / "presets/sft/1B-A10G.yaml"), ["model=tiny"])
    if models.cuda_memory() is None:  # this machine: the preset's numbers, as a CPU keeps them
        assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (4, 4)
    assert isinstance(cfg.per_device_train_batch_size, int) and \
        cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps == 16
    plain = load_config("sft", str(REPO / "presets/sft/tiny-cpu.yaml"), ["per_device_train_batch_size=auto"])
    assert plain.per_device_train_batch_size == 4  # plain `auto`: the field's default
    with pytest.raises(ConfigError, match=r"per_device_train_batch_size must be a number, 'auto' or 'auto:N'"):
        load_config("sft", str(REPO / "presets/sft/tiny-cpu.yaml"), ["per_device_train_batch_size=auto:lots"])


def test_cuda_branch_splits_for_the_card_and_keeps_the_stage_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA branch of resolve_auto_batch on this CPU: the card's numbers replaced, the tiny model's real config
    (parameter count from the meta device), GRPO's preset (32 completions, groups of num_generations)."""
    from transformers import AutoConfig

    tiny = AutoConfig.from_pretrained(models.model_path(models.resolve("tiny")))
    seen: list[int] = []
    real = models.train_batch_fits

    def fits(*a: object, **k: object) -> int:
        seen.append(real(*a, **k))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(models, "train_batch_fits", fits)
    per_row = 100 * GIB * models.HEADROOM / real(tiny, 0, 256, 100 * GIB)  # bytes a 256-token row takes
    monkeypatch.setattr(models, "cuda_memory", lambda: (int(12 * per_row / models.HEADROOM), 24 * GIB))
    cfg = load_config("grpo", str(REPO / "presets/grpo/1B-A10G.yaml"), ["model=tiny"])
    assert seen and 8 <= seen[-1] < 16, seen  # room for 8..15 rows of 128 prompt + 128 completion tokens
    assert cfg.num_generations == 8 and (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (8, 4)
    monkeypatch.setattr(models, "cuda_memory", lambda: (141 * GIB, 141 * GIB))  # an H200: the whole batch at once
    cfg = load_config("grpo", str(REPO / "presets/grpo/1B-A10G.yaml"), ["model=tiny"])
    assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (32, 1)
    cpu = load_config("grpo", str(REPO / "presets/grpo/1B-A10G.yaml"), ["model=tiny", "device=cpu"])
    assert (cpu.per_device_train_batch_size, cpu.gradient_accumulation_steps) == (32, 1)  # device cpu: no reading
