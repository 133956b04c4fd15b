"""report_to: a tiny SFT's curves land in TensorBoard event files (read back by tensorboard's own reader) and in
the workspace's Trackio store (read back through Trackio's API); our own PPO loop writes them too; a tracker that is
not installed is refused in one line that says how to install it; the Trackio dashboard serves the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from playground.core.config import ConfigError
from playground.core.runs import read_metrics
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent


def cli_sft(home: Path, run_id: str, *sets: str) -> Path:
    """The CLI twin on the tiny preset, 3 steps, no eval: what the issue's CLI contract names."""
    run_dir = home / "runs" / run_id
    cmd = [sys.executable, "-m", "playground", "sft", "--config", "presets/sft/tiny-cpu.yaml", "--run-dir",
           str(run_dir), "--set", "max_steps=3", "--set", "eval_fraction=0", "--set", "save_steps=0"]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PLAYGROUND_HOME=str(home)), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in a TensorBoard folder, through tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.slow
def test_sft_report_to_tensorboard_leaves_the_loss_series(tmp_path: Path) -> None:
    run_dir = cli_sft(tmp_path / "home", "sft-tb", "report_to=tensorboard")
    assert list((run_dir / "tensorboard").glob("events.out.tfevents*")), "event files under runs/<id>/tensorboard"
    series = scalars(run_dir / "tensorboard")
    losses = [(m["step"], m["loss"]) for m in read_metrics(run_dir) if "loss" in m]
    assert [s for s, _ in series["train/loss"]] == [s for s, _ in losses] == [1, 2, 3]
    assert [v for _, v in series["train/loss"]] == pytest.approx([v for _, v in losses], rel=1e-5)


@pytest.mark.slow
def test_sft_report_to_trackio_lands_in_the_workspace_store(tmp_path: Path) -> None:
    home = tmp_path / "myroom"
    run_dir = cli_sft(home, "sft-trackio", "report_to=trackio")
    assert (home / "trackio" / "myroom.db").is_file(), "the store is in the workspace, project = its folder"
    # read back in a fresh process: Trackio fixes its store when first imported (this process may hold another)
    read = ("import json, trackio; from trackio.sqlite_storage import SQLiteStorage; "
            "runs = [r.name for r in trackio.Api().runs('myroom')]; "
            "print(json.dumps({'runs': runs, 'logs': SQLiteStorage.get_logs('myroom', 'sft-trackio')}))")
    out = subprocess.run([sys.executable, "-c", read], env=dict(os.environ, TRACKIO_DIR=str(home / "trackio")),
                         capture_output=True, text=True, timeout=120, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["runs"] == ["sft-trackio"]
    tracked = [(r["train/global_step"], r["train/loss"]) for r in got["logs"] if "train/loss" in r]
    losses = [(m["step"], m["loss"]) for m in read_metrics(run_dir) if "loss" in m]
    assert [s for s, _ in tracked] == [s for s, _ in losses] == [1, 2, 3]
    assert [v for _, v in tracked] == pytest.approx([v for _, v in losses], rel=1e-5)


@pytest.mark.slow
def test_ppo_writes_its_curves_to_tensorboard(home: Path, tmp_path: Path) -> None:
    from playground.stages.ppo.train import run

    cfg = load_config("ppo", REPO / "presets/ppo/tiny-cpu.yaml",
                      ["total_updates=2", "rollout_batch_size=8", "per_device_train_batch_size=8", "sample_every=0",
                       "report_to=tensorboard"])
    run_dir = tmp_path / "ppo-tb"
    run_dir.mkdir()
    run(cfg, run_dir)
    series = scalars(run_dir / "tensorboard")
    rows = [m for m in read_metrics(run_dir) if "score" in m]
    assert [s for s, _ in series["score"]] == [m["step"] for m in rows] == [1, 2]
    assert [v for _, v in series["kl"]] == pytest.approx([m["kl"] for m in rows], rel=1e-5)


def test_missing_tracker_is_one_line_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trackio" else real(name, *a))
    with pytest.raises(ConfigError) as e:
        load_config("dpo", REPO / "presets/dpo/tiny-cpu.yaml", ["report_to=trackio"])
    msg = str(e.value)
    assert "\n" not in msg and "pip install trackio" in msg and "report_to" in msg
    assert load_config("dpo", REPO / "presets/dpo/tiny-cpu.yaml", ["report_to=none"]).report_to == "none"
    with pytest.raises(ConfigError, match="report_to must be none, tensorboard or trackio"):
        load_config("sft", REPO / "presets/sft/tiny-cpu.yaml", ["report_to=wandb"])


def test_trackio_dashboard_serves_the_workspace_or_says_how_to_install(home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.stages import trackers

    line = trackers.dashboard()
    try:
        url = trackers._DASHBOARD["url"]
        assert url in line and f"project={home.name}" in url
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        assert trackers.dashboard() == line, "a second click shows the same dashboard, no second server"
    finally:
        trackers.stop_dashboard()
    monkeypatch.setattr(trackers, "installed", lambda name: False)
    assert "pip install trackio" in trackers.dashboard()
