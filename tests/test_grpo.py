"""GRPO on the tiny model through the shared runner: metrics rows carry reward and kl, samples.jsonl holds every
completion with its group and advantage, the adapter moved, stop keeps the last finished step and resume continues,
and bad configs are one-line errors through the CLI. tests/test_rloo.py runs the same checks for RLOO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent
STAGE = "grpo"
SAMPLE_KEYS = {"update", "group", "prompt", "completion", "reward", "rewards", "advantage"}


def preset(stage: str) -> Path:
    return REPO / "presets" / stage / "tiny-cpu.yaml"


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def train_rows(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in metrics(run_dir) if "loss" in r]


def lora_b_norm(adapter: Path) -> float:
    from safetensors.torch import load_file

    weights = load_file(str(adapter / "adapter_model.safetensors"))
    return float(sum(v.float().norm() for k, v in weights.items() if "lora_B" in k))


def trains_and_logs(stage: str, home: Path, steps: int = 4) -> None:
    from playground.stages.registry import trainer

    cfg = load_config(stage, preset(stage), [f"max_steps={steps}", "sample_every=2", "torch_threads=1"])
    run_dir = home / "runs" / "r"
    run_dir.mkdir(parents=True)
    trainer(stage).run(cfg, run_dir)
    rows = train_rows(run_dir)
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for r in rows:  # the contract the RL tab reads
        for key in ("reward", "kl", "reward_std", "frac_reward_zero_std", "rewards/vocab_half/mean", "entropy",
                    "completions/mean_length"):
            assert isinstance(r.get(key), float), (key, r)
    assert rows[-1]["kl"] > 0  # the policy left the reference
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert sorted({s["update"] for s in samples}) == [1, 2, 4]
    per_update = cfg.per_device_train_batch_size
    assert len(samples) == 3 * per_update
    assert all(set(s) == SAMPLE_KEYS for s in samples)
    assert {s["group"] for s in samples} == set(range(per_update // cfg.num_generations))
    first = [s for s in samples if s["update"] == 1]
    assert [s["reward"] for s in first] == [s["rewards"]["vocab_half"] for s in first]
    for g in range(per_update // cfg.num_generations):  # one prompt per group; advantages centred in the group
        group = [s for s in first if s["group"] == g]
        assert len({s["prompt"] for s in group}) == 1 and len(group) == cfg.num_generations
        assert abs(sum(s["advantage"] for s in group)) < 1e-3 * cfg.num_generations + 1e-6
    result = json.loads((run_dir / "result.json").read_text())
    assert result["stage"] == stage and result["global_step"] == steps and result["num_generations"] == 4
    assert result["reward"] == "rule:vocab_half" and isinstance(result["final_reward"], float)
    assert lora_b_norm(run_dir / "adapter") > 0  # LoRA B starts at zero: the adapter moved


def test_grpo_trains_logs_reward_kl_and_samples(home: Path) -> None:
    trains_and_logs(STAGE, home)


def stop_then_resume(stage: str, home: Path) -> None:
    """STOP after step 2 of 4: the run keeps step 2 (adapter + checkpoint-2), nothing logged after it; resuming
    with "last" continues at step 3 and ends at 4 with every step logged once."""
    from transformers import TrainerCallback

    from playground.stages import trainer as shared
    from playground.stages.registry import trainer

    class StopAt2(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            if state.global_step == 2:
                shared.STOP.set()

    real = shared.make_callback

    def with_stop(run_dir: Any, extra: Any = None) -> Any:
        cb = real(run_dir, extra)
        stop = StopAt2()
        original = cb.on_step_end

        def on_step_end(args, state, control, **kw):  # noqa: ANN001, ANN003, ANN202
            stop.on_step_end(args, state, control, **kw)
            return original(args, state, control, **kw)

        cb.on_step_end = on_step_end
        return cb

    run_dir = home / "runs" / "s"
    run_dir.mkdir(parents=True)
    cfg = load_config(stage, preset(stage), ["max_steps=4", "sample_every=1", "torch_threads=1"])
    shared.make_callback = with_stop
    try:
        trainer(stage).run(cfg, run_dir)
    finally:
        shared.make_callback = real
        stopped = shared.STOP.is_set()
        shared.STOP.clear()
    assert stopped
    result = json.loads((run_dir / "result.json").read_text())
    assert result["stopped"] and result["global_step"] == 2
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()
    assert [r["step"] for r in train_rows(run_dir)] == [1, 2]
    cfg2 = load_config(stage, preset(stage), ["max_steps=4", "sample_every=1", "torch_threads=1",
                                              "resume_from_checkpoint=last"])
    trainer(stage).run(cfg2, run_dir)
    assert [r["step"] for r in train_rows(run_dir)] == [1, 2, 3, 4]
    updates = [json.loads(x)["update"] for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert sorted(set(updates)) == [1, 2, 3, 4] and len(updates) == 4 * cfg.per_device_train_batch_size
    assert json.loads((run_dir / "result.json").read_text())["global_step"] == 4


@pytest.mark.slow
def test_grpo_stop_keeps_the_last_step_and_resume_continues(home: Path) -> None:
    stop_then_resume(STAGE, home)


def reward_rises(stage: str, home: Path) -> None:
    from playground.stages.registry import trainer

    cfg = load_config(stage, preset(stage), ["sample_every=0", "torch_threads=1"])
    run_dir = home / "runs" / "rise"
    run_dir.mkdir(parents=True)
    trainer(stage).run(cfg, run_dir)
    rewards = [r["reward"] for r in train_rows(run_dir)]
    k = len(rewards) // 4
    first, last = sum(rewards[:k]) / k, sum(rewards[-k:]) / k
    assert last > first + 0.05, (first, last, rewards)


@pytest.mark.slow
def test_grpo_reward_rises_on_the_tiny_rule(home: Path) -> None:
    reward_rises(STAGE, home)


BAD = [("num_generations=1", "num_generations (group size) must be at least 2"),
       ("per_device_train_batch_size=6", "must be divisible by num_generations"),
       ("reward=rule:nope", "is not known"),
       ("gold_judge=rule:nope", "gold_judge: reward 'rule:nope' is not known"),
       ("gold_every=2", "gold_every needs a gold_judge")]


def bad_config_is_one_line(stage: str, override: str, expected: str, home: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "playground", stage, "--config", str(preset(stage)), "--set", override],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], proc.stderr


@pytest.mark.parametrize("override,expected", BAD)
def test_grpo_bad_config_is_one_line(override: str, expected: str, home: Path) -> None:
    bad_config_is_one_line(STAGE, override, expected, home)


def test_zero_variance_warning_and_sample_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The callback reads TRL's `_logs` (here a stand-in with TRL's shape): one row per completion with its group,
    and one warning line while most groups have identical rewards."""
    from collections import deque
    from types import SimpleNamespace

    from playground.stages.grpo.train import samples_callback

    cfg = load_config(STAGE, preset(STAGE), ["sample_every=2"])
    logs = {"prompt": deque([[{"role": "user", "content": "p1"}]] * 4 + [[{"role": "user", "content": "p2"}]] * 4),
            "completion": deque([[{"role": "assistant", "content": f"c{i}"}] for i in range(8)]),
            "rewards": {"vocab_half": deque([0.5] * 4 + [0.1, 0.2, 0.3, 0.4])},
            "advantages": deque([0.0] * 4 + [-1.0, -0.5, 0.5, 1.0])}
    cb = samples_callback(SimpleNamespace(_logs=logs), tmp_path, cfg, [2.0])
    cb.on_log(None, SimpleNamespace(global_step=2), None, logs={"loss": 0.0, "reward": 0.3, "frac_reward_zero_std": 0.75})
    out = capsys.readouterr().out
    assert out.count("warning:") == 1 and "75%" in out
    cb.on_log(None, SimpleNamespace(global_step=3), None, logs={"loss": 0.0, "reward": 0.3, "frac_reward_zero_std": 0.8})
    assert "warning" not in capsys.readouterr().out  # said once while it lasts, again after it recovers
    cb.on_log(None, SimpleNamespace(global_step=5), None, logs={"loss": 0.0, "reward": 0.3, "frac_reward_zero_std": 0.0})
    cb.on_log(None, SimpleNamespace(global_step=7), None, logs={"loss": 0.0, "reward": 0.3, "frac_reward_zero_std": 0.6})
    assert capsys.readouterr().out.count("warning:") == 1
    rows = [json.loads(x) for x in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["update"] for r in rows} == {2}  # steps 3, 5, 7 are not multiples of sample_every
    assert [r["group"] for r in rows] == [0] * 4 + [1] * 4 and rows[4]["prompt"] == "p2" and rows[4]["completion"] == "c4"
    assert rows[5]["rewards"] == {"vocab_half": 0.2} and rows[5]["reward"] == pytest.approx(0.4)
    assert rows[7]["advantage"] == 1.0


def test_grpo_gold_judge_scores_held_out_prompts_every_k_steps(home: Path) -> None:
    """gold_judge + gold_every: gold lines at step 0 and every step, on a sample that training never sees; the KL of
    those answers to the base starts at 0 (LoRA B is zero) and grows; the Evaluate tab's curve reads them."""
    from playground.core.chat import prompt_text
    from playground.stages.data import prompt_rows
    from playground.stages.evaluate.board import gold_curve
    from playground.stages.evaluate.gold import split_off
    from playground.stages.registry import trainer

    cfg = load_config(STAGE, preset(STAGE), ["max_steps=2", "sample_every=1", "torch_threads=1",
                                             "gold_judge=expr:n_chars", "gold_every=1"])
    run_dir = home / "runs" / "gold"
    run_dir.mkdir(parents=True)
    trainer(STAGE).run(cfg, run_dir)
    gold = [r for r in metrics(run_dir) if "gold_score" in r]
    _, sample, held = split_off(prompt_rows(cfg.prompts), cfg.seed)
    assert held and [r["step"] for r in gold] == [0, 1, 2]
    assert all(r["gold_n"] == len(sample) and r["gold_held_out"] == 1 and r["gold_score"] > 0 for r in gold)
    assert gold[0]["gold_kl"] == pytest.approx(0.0, abs=1e-4) and gold[-1]["gold_kl"] > 0
    trained_on = {json.loads(x)["prompt"] for x in (run_dir / "samples.jsonl").read_text().splitlines()}
    assert trained_on and not trained_on & {prompt_text(p) for p in sample}  # held out of training
    curve = gold_curve(run_dir)  # against the gold answers' own KL (TRL's KL at a step predates its update)
    assert [c["update"] for c in curve] == [0, 1, 2] and [c["kl"] for c in curve] == [r["gold_kl"] for r in gold]
