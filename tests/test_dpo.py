"""DPO: a tiny run moves the policy's log-ratio toward the chosen answers and logs the implicit-reward
metrics; the adapter it writes loads onto the base like any other; pairs are fitted (not cut or dropped by TRL)
and the counts reach result.json; a missing SFT run is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.core.runs import read_metrics
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent
PRESET = REPO / "presets" / "dpo" / "tiny-cpu.yaml"


@pytest.mark.slow  # ~70 s of CPU: every step takes a log-softmax over the 49k vocabulary, twice (policy + reference)
def test_dpo_moves_margin_toward_chosen(home: Path) -> None:
    from peft import PeftModel

    from playground.core import models
    from playground.stages.data import preference_rows
    from playground.stages.dpo import service as dpo_service
    from playground.stages.dpo import train as dpo

    # fewer, smaller steps than the preset: the vocabulary-wide log-softmax dominates the time on CPU
    cfg = load_config("dpo", PRESET, ["max_steps=6", "per_device_train_batch_size=4", "eval_fraction=0.1",
                                      "eval_steps=0"])
    run_dir = home / "runs" / "dpo-tiny"
    run_dir.mkdir(parents=True)
    dpo.run(cfg, run_dir)

    metrics = read_metrics(run_dir)
    logged = [m for m in metrics if "rewards/margins" in m]
    assert len(logged) >= 6 and all("rewards/accuracies" in m for m in logged)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["global_step"] == 6 and (run_dir / "adapter" / "adapter_config.json").is_file()
    assert not (run_dir / "adapter" / "ref").exists()
    assert result["train_pairs"] + result["eval_pairs"] == 160 and result["fit"]["dropped"] == 0
    assert (run_dir / "checkpoints" / "checkpoint-6").is_dir()  # resumable, without Trainer's private save

    train, _ = preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
    seen = train[:24]  # the first 6 steps x 4 pairs were drawn from these (shuffled) rows and others like them
    spec = models.resolve("tiny")
    tok = models.load_tokenizer(spec)
    base = models.load_causal_lm(spec, "cpu")
    before = dpo_service.logprob_margins(base, tok, seen)
    policy = PeftModel.from_pretrained(base, str(run_dir / "adapter"))
    after = dpo_service.logprob_margins(policy, tok, seen)
    gains = [a - b for a, b in zip(after, before)]
    # log pi(chosen) - log pi(rejected) rose relative to the reference (the base) on most pairs
    assert sum(gains) / len(gains) > 1.0
    assert sum(g > 0 for g in gains) >= 0.8 * len(gains)


def test_missing_sft_run_is_one_line(home: Path) -> None:
    from playground.core.errors import DataError
    from playground.stages.dpo.service import sft_adapter

    with pytest.raises(DataError, match="sft_run 'nope': no LoRA adapter found"):
        sft_adapter("nope")
    (home / "runs" / "sft-half" / "adapter").mkdir(parents=True)  # a run that never saved its adapter
    with pytest.raises(DataError, match="no LoRA adapter found"):
        sft_adapter("sft-half")
    (home / "runs" / "sft-half" / "adapter" / "adapter_config.json").write_text("{}")
    assert sft_adapter("sft-half") == home / "runs" / "sft-half" / "adapter"
