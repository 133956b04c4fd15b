"""A real tiny SFT run: loss falls, LoRA weights move, eval loss is logged, the adapter reloads, merging
keeps the logits, and a dataset with nothing usable fails fast with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.core.runs import read_metrics, read_status
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CLI twin, exactly as a user would type it, on the tiny-cpu preset in an empty workspace."""
    import os

    home = tmp_path_factory.mktemp("sfthome")
    env = dict(os.environ, PLAYGROUND_HOME=str(home))
    run_dir = home / "runs" / "sft-test"
    proc = subprocess.run(
        [sys.executable, "-m", "playground", "sft", "--config", "presets/sft/tiny-cpu.yaml", "--run-dir", str(run_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def test_loss_falls_and_eval_is_logged(sft_run: Path) -> None:
    assert read_status(sft_run)["state"] == "succeeded"
    rows = read_metrics(sft_run)
    assert all("step" in r and "time" in r for r in rows)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) >= 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 1.0, losses
    assert any("eval_loss" in r for r in rows)
    assert any("tokens_per_s" in r for r in rows)


def test_lora_weights_moved_and_adapter_reloads(sft_run: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(str(sft_run / "adapter" / "adapter_model.safetensors"))
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b, "adapter holds LoRA B matrices"
    # peft initialises every B to zero: any non-zero entry means training moved it
    assert all(v.abs().sum() > 0 for v in lora_b.values())

    from playground.stages.sft import service as sft_tools

    base, tok = sft_tools.load_policy("tiny", device="cpu")
    tuned, _ = sft_tools.load_policy("tiny", sft_run / "adapter", device="cpu")
    ids = tok("Translate to French: Good morning", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        lb = base(input_ids=ids).logits
        lt = tuned(input_ids=ids).logits
    assert not torch.allclose(lb, lt, atol=1e-4)


def test_merged_model_matches_adapter_logits(sft_run: Path) -> None:
    from playground.stages.sft import service as sft_tools

    merged_dir = sft_tools.merge_adapter(sft_run)
    tuned, tok = sft_tools.load_policy("tiny", sft_run / "adapter", device="cpu")
    merged, _ = sft_tools.load_policy(str(merged_dir), device="cpu")
    ids = tok("What is the capital of Italy?", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, tuned(input_ids=ids).logits, atol=1e-4, rtol=1e-4)


def test_perplexity_improves_on_training_rows(sft_run: Path) -> None:
    from playground.stages.data import instruction_rows
    from playground.stages.sft import service as sft_tools

    train, _ = instruction_rows("builtin:instructions", 0.2, 0)
    base, tok = sft_tools.load_policy("tiny", device="cpu")
    tuned, _ = sft_tools.load_policy("tiny", sft_run / "adapter", device="cpu")
    assert sft_tools.perplexity(tuned, tok, train[:5]) < sft_tools.perplexity(base, tok, train[:5])


def test_zero_usable_rows_fails_fast(home: Path) -> None:
    from playground.cli import main
    from playground.core.workspace import Workspace

    Workspace().add_rows("empty-ish", [{"messages": [{"role": "user", "content": "no answer"}]}], create=True)
    rc = main(["sft", "--config", str(REPO / "presets/sft/tiny-cpu.yaml"), "--set", "dataset=empty-ish",
               "--run-dir", str(home / "runs" / "bad")])
    assert rc == 1
    status = read_status(home / "runs" / "bad")
    assert status["state"] == "failed" and "no usable rows" in status["error"]


def test_cli_rejects_bad_config_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: tiny\nlerning_rate: 1\n")
    proc = subprocess.run([sys.executable, "-m", "playground", "sft", "--config", str(bad)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "did you mean 'learning_rate'" in proc.stderr
    assert load_config("sft", REPO / "presets/sft/tiny-cpu.yaml").model == "tiny"
