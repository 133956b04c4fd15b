"""`python -m playground export-job RUN --to trl|verl|openrlhf --out DIR`: the data in the engine's format, a config
that accounts for every field, a launch command; the TRL job really trains with 2 CPU processes.

    .venv/bin/python -m pytest -q tests/test_export_job.py            # exports, formats, keys (seconds)
    .venv/bin/python -m pytest -q -m slow tests/test_export_job.py    # + the TRL job trains 2 steps on 2 processes
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core.config import save_config
from playground.core.errors import ConfigError
from playground.stages.export import export_job, verl
from playground.stages.export import openrlhf as orl
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parents[1]


def _run(home: Path, stage: str, *overrides: str, name: str | None = None) -> Path:
    """A run folder as the playground leaves it (config.yaml under runs/<stage>-...): export reads only that."""
    cfg = load_config(stage, str(REPO / "presets" / stage / "tiny-cpu.yaml"), list(overrides))
    run_dir = home / "runs" / (name or f"{stage}-20261204-000000-ab12")
    save_config(cfg, run_dir / "config.yaml")
    return run_dir


def _readme_fields(text: str) -> tuple[set[str], set[str]]:
    mapped = set(re.findall(r"^\| `(\w+)` \| `", text.split("## What does not map")[0], re.M))
    unmapped = set(re.findall(r"^\| `(\w+)` \| `", text.split("## What does not map")[1], re.M))
    return mapped, unmapped


def _all_fields(stage: str) -> set[str]:
    from playground.stages.registry import STAGES

    return {f.name for f in dataclasses.fields(STAGES[stage])}


@pytest.mark.parametrize("stage", ["sft", "reward", "dpo", "grpo", "rloo"])
def test_trl_export_writes_data_config_and_launch(home: Path, tmp_path: Path, stage: str) -> None:
    run = _run(home, stage, "num_processes=2", "accelerate_config=presets/accelerate/fsdp.yaml")
    out = export_job(run.name, "trl", tmp_path / "job")
    readme = (out / "README.md").read_text()
    mapped, unmapped = _readme_fields(readme)
    assert mapped | unmapped == _all_fields(stage) and not mapped & unmapped  # every field, once
    assert "Parsed by `trl.scripts." in readme  # TRL's own parser accepted the config
    rows = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    keys = {"sft": {"prompt", "completion"}, "reward": {"prompt", "chosen", "rejected"},
            "dpo": {"prompt", "chosen", "rejected"}, "grpo": {"prompt"}, "rloo": {"prompt"}}[stage]
    assert rows and set(rows[0]) == keys and rows[0]["prompt"][0]["role"] == "user"
    launch = (out / "launch.sh").read_text()
    assert "train.py --config config.yaml" in launch and os.access(out / "launch.sh", os.X_OK)
    assert f"from trl.scripts import {stage} as script" in (out / "train.py").read_text()
    assert (out / "accelerate.yaml").read_text() == (REPO / "presets/accelerate/fsdp.yaml").read_text()
    assert "NUM_PROCESSES=2" in readme
    if stage in ("grpo", "rloo"):  # the rule reward travels as the playground's own function
        import yaml

        cfg = yaml.safe_load((out / "config.yaml").read_text())
        assert cfg["reward_funcs"] == ["rewards.reward_0"] and cfg["num_generations"] == 4
        sys.path.insert(0, str(out))
        try:
            import rewards  # noqa: PLC0415 - the exported module, as TRL imports it
            scores = rewards.reward_0([[{"role": "user", "content": "hi"}]], ["a b"], completion_ids=[[2, 4, 5, 7]])
            assert scores == [0.5]  # vocab_half: two of four ids are even
        finally:
            sys.path.remove(str(out))
            sys.modules.pop("rewards", None)


@pytest.mark.parametrize("stage", ["ppo", "grpo", "rloo"])
def test_verl_export_uses_documented_keys_and_parquet(home: Path, tmp_path: Path, stage: str) -> None:
    import pandas as pd

    run = _run(home, stage)
    out = export_job(run.name, "verl", tmp_path / "job")
    launch = (out / "launch.sh").read_text()
    assert "-m verl.trainer.main_ppo" in launch
    keys = re.findall(r"^    ([\w.]+)=", launch, re.M)
    assert keys and set(keys) <= verl.KEYS  # documented keys only (verl itself does not install here)
    assert ("algorithm.adv_estimator=" + {"ppo": "gae", "grpo": "grpo", "rloo": "rloo"}[stage]) in launch
    df = pd.read_parquet(out / "data" / "train.parquet")
    assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert df.iloc[0]["reward_model"]["style"] == "rule" and df.iloc[0]["prompt"][0]["role"] == "user"
    mapped, unmapped = _readme_fields((out / "README.md").read_text())
    assert mapped | unmapped == _all_fields(stage)
    sys.path.insert(0, str(out))
    try:
        import reward  # noqa: PLC0415 - verl's custom_reward_function.path

        score = reward.compute_score("playground", "hello there", "", {"prompt": df.iloc[0]["prompt"].tolist()})
        assert isinstance(score, float)
    finally:
        sys.path.remove(str(out))
        sys.modules.pop("reward", None)


@pytest.mark.parametrize("stage", ["ppo", "grpo"])
def test_openrlhf_export_uses_the_parsers_flags(home: Path, tmp_path: Path, stage: str) -> None:
    run = _run(home, stage)
    out = export_job(run.name, "openrlhf", tmp_path / "job")
    launch = (out / "launch.sh").read_text()
    assert "ray job submit" in launch and "-m openrlhf.cli.train_ppo_ray" in launch
    flags = re.findall(r"--(\w+)", launch.rsplit("openrlhf.cli.train_ppo_ray", 1)[1])
    assert flags and set(flags) <= orl.FLAGS
    assert "--input_key prompt" in launch and "--apply_chat_template" in launch
    rows = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"prompt"}
    if stage == "grpo":
        assert "--advantage_estimator group_norm" in launch and "--n_samples_per_prompt 4" in launch


def test_refusals_are_one_line(home: Path, tmp_path: Path) -> None:
    run = _run(home, "ppo")
    with pytest.raises(ConfigError, match="TRL has no PPO"):
        export_job(run.name, "trl", tmp_path / "a")
    with pytest.raises(ConfigError, match="verl takes ppo, grpo, rloo"):
        export_job(_run(home, "sft").name, "verl", tmp_path / "b")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty"):
        export_job(run.name, "verl", tmp_path / "full")
    assert not (tmp_path / "a").exists()  # nothing half-written
    proc = subprocess.run([sys.executable, "-m", "playground", "export-job", "nope", "--to", "trl", "--out",
                           str(tmp_path / "c")], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PLAYGROUND_HOME": str(home)})
    assert proc.returncode == 1 and proc.stderr.strip().startswith("error: export-job: run 'nope' not found")
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_trl_job_trains_two_steps_on_two_cpu_processes(home: Path, tmp_path: Path) -> None:
    """The round trip: an SFT run exported to TRL, launched as written (`accelerate launch --multi_gpu
    --num_processes 2`, torchrun, gloo on CPU), trains 2 steps in 2 processes and saves the adapter."""
    run = _run(home, "sft", "max_steps=2", "eval_fraction=0", "save_steps=2", "per_device_train_batch_size=2")
    out = export_job(run.name, "trl", tmp_path / "job")
    env = {**os.environ, "NUM_PROCESSES": "2", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "PLAYGROUND_REPO": str(REPO)}
    log = tmp_path / "launch.log"
    with open(log, "w") as fh:  # both ranks must exit 0 on their own (rank 0 used to hang after saving: train.py)
        proc = subprocess.Popen(["bash", str(out / "launch.sh")], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=300)  # ~1 min on 2 busy cores
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
            rc = None
    text = log.read_text()
    assert rc == 0, (rc, text[-4000:])  # torchrun's agent returns 0 only when every rank exited 0
    assert "Model saved to output" in text, text[-4000:]
    state = json.loads(next((out / "output").glob("checkpoint-*/trainer_state.json")).read_text())
    assert state["global_step"] == 2
    assert (out / "output" / "adapter_model.safetensors").is_file()
    # two processes, 2 rows each: an epoch of n rows is ceil(n / 4) steps (one process: ceil(n / 2))
    n = len((out / "data" / "train.jsonl").read_text().splitlines())
    assert state["epoch"] == pytest.approx(2 / math.ceil(n / 4)), (state["epoch"], n)
    assert state["epoch"] != pytest.approx(2 / math.ceil(n / 2))
