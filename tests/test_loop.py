"""The closed loop through the CLI twins, as the UI runs it: SFT -> reward model -> PPO whose policy starts
from the SFT adapter and whose reward is the trained reward model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core.runs import read_jsonl, read_metrics, read_status

REPO = Path(__file__).resolve().parent.parent


def _run(stage: str, home: Path, run_id: str, *sets: str) -> Path:
    run_dir = home / "runs" / run_id
    cmd = [sys.executable, "-m", "playground", stage, "--config", f"presets/{stage}/tiny-cpu.yaml",
           "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PLAYGROUND_HOME=str(home)), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_status(run_dir)["state"] == "succeeded"
    return run_dir


@pytest.mark.slow
def test_sft_then_reward_then_ppo_on_the_reward_model(home: Path) -> None:
    _run("sft", home, "sft-loop", "max_steps=4", "eval_fraction=0", "save_steps=0")
    rm_dir = _run("reward", home, "rm-loop")
    assert json.loads((rm_dir / "result.json").read_text())["eval_accuracy"] > 0.8
    ppo_dir = _run("ppo", home, "ppo-loop", "sft_run=sft-loop", "reward=rm:rm-loop", "total_updates=2",
                   "rollout_batch_size=16", "response_length=8")
    rows = [m for m in read_metrics(ppo_dir) if "score" in m]
    assert len(rows) == 2 and all(isinstance(m["score"], float) for m in rows)
    # the RM's scores are real numbers from the reward head, not a rule's share in [0, 1]
    samples = read_jsonl(ppo_dir / "samples.jsonl")
    assert samples and any(s["score"] < 0 or s["score"] > 1 for s in samples)
    assert (ppo_dir / "adapter").is_dir()
