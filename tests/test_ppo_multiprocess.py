"""PPO across two processes through `accelerate launch` on CPU (gloo): the ranks average their gradients, so
they must end with the same weights, and only rank 0 writes the run's files.

    .venv/bin/python -m pytest -q tests/test_ppo_multiprocess.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from playground.core.jobs import build_command, cli_twin, launch_args

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets" / "ppo" / "tiny-cpu.yaml"


def test_launch_args_and_commands():
    assert launch_args({"num_processes": 1}) == (1, "")
    assert launch_args({"num_processes": 2, "accelerate_config": "a.yaml"}) == (2, "a.yaml")
    cmd = build_command("ppo", "c.yaml", "rd", 2)
    # torchrun launcher even without a GPU: `--cpu` with 2 processes would start only one
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "2"] and "--multi_gpu" in cmd
    assert "--cpu" not in cmd
    assert build_command("ppo", "c.yaml", "rd", 1)[1:4] == ["-m", "playground", "ppo"]
    assert cli_twin("ppo", "c.yaml", 2).startswith("accelerate launch --num_processes 2 --multi_gpu -m playground")


@pytest.mark.slow
def test_two_processes_train_in_step(tmp_path):
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    updates = 3
    cmd = build_command("ppo", PRESET, run_dir, 2)
    cmd += ["--set", f"total_updates={updates}", "--set", "rollout_batch_size=16", "--set", "num_processes=2",
            "--set", "per_device_train_batch_size=8", "--set", "sample_every=0", "--set", "device=cpu"]
    env = dict(os.environ, PLAYGROUND_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1",
               PLAYGROUND_CACHE=os.environ.get("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground")),
               PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]

    # every rank reports its trainable weights; averaged gradients keep them identical
    # (the two ranks print at the same moment, so their lines may run together)
    sums = dict(re.findall(r"rank (\d)/2: trainable checksum ([-+]?\d\.\d+e[-+]\d+)", out))
    assert set(sums) == {"0", "1"}, out[-3000:]
    assert sums["0"] == sums["1"]

    # one writer: exactly one metrics row per update, status and result from rank 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "score" in r]
    assert steps == list(range(1, updates + 1))
    assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    result = json.loads((run_dir / "result.json").read_text())
    assert result["num_processes"] == 2 and result["global_step"] == updates

    # the adapter trained (LoRA B starts at zero)
    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    assert any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in weights.items())
