"""Faults with real processes: a job killed after an app restart, two apps on one home, limits and owners of
jobs, and a hub id that cannot be reached.

    .venv/bin/python -m pytest -q tests/test_faults.py
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core.errors import AccessError, ModelError, WorkspaceError
from playground.core.jobs import JobRunner
from playground.core.runs import read_metrics, read_status
from playground.core.workspace import Workspace
from playground.stages.registry import load_config
from tests.test_jobs import FAST, REPO, _wait_for, set_config

SFT = REPO / "presets/sft/tiny-cpu.yaml"


def _sft(*extra: str):  # noqa: ANN202
    return load_config("sft", SFT, [*FAST, *extra])


# ---- an app restart while a job runs, then the job dies ----------------------------------------------
def test_adopted_job_killed_after_restart_is_interrupted_and_resume_starts_over(home: Path) -> None:
    ws = Workspace()
    first_app = JobRunner(ws)
    run_id = first_app.submit(_sft("max_steps=100000"), owner="alice")
    run_dir = first_app.run_dir(run_id)
    _wait_for(lambda: any("loss" in m for m in read_metrics(run_dir)), what="the job training")
    pid = read_status(run_dir)["pid"]
    first_app.close()  # the app restarts; the job (its own session) goes on

    second_app = JobRunner(ws)
    assert second_app.reconcile() == []  # still alive: adopted, not interrupted
    assert second_app.adopted() == {run_id: pid}
    assert read_status(run_dir)["state"] == "running"

    os.killpg(os.getpgid(pid), signal.SIGKILL)
    _wait_for(lambda: read_status(run_dir)["state"] != "running", timeout=60, what="the dead job noticed")
    status = read_status(run_dir)
    assert status["state"] == "interrupted"
    assert f"pid {pid}" in status["error"] and "Resume starts over: no checkpoint was saved" in status["error"]
    assert second_app.adopted() == {}

    # resume says it starts over, and the restarted run does not log its steps twice
    set_config(run_dir, max_steps=3)
    second_app.resume(run_id)
    assert second_app.resume_message(run_id) == f"{run_id}: starts over: no checkpoint was saved."
    assert second_app.wait(run_id, 300) == "succeeded", (run_dir / "log.txt").read_text()[-2000:]
    steps = [m["step"] for m in read_metrics(run_dir) if "loss" in m]
    assert sorted(steps) == [1, 2, 3]
    assert "starting over" in (run_dir / "log.txt").read_text()
    second_app.close()


def test_job_killed_while_no_app_runs_is_interrupted_on_restart(home: Path) -> None:
    ws = Workspace()
    app = JobRunner(ws)
    run_id = app.submit(_sft("max_steps=100000"))
    run_dir = app.run_dir(run_id)
    _wait_for(lambda: read_status(run_dir).get("state") == "running", what="running")
    pid = read_status(run_dir)["pid"]
    app.close()
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    _wait_for(lambda: not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes(),
              timeout=30, what="the process gone")
    restarted = JobRunner(ws)
    assert restarted.reconcile() == [run_id]
    status = read_status(run_dir)
    assert status["state"] == "interrupted" and "Resume starts over" in status["error"]
    restarted.close()


# ---- two apps on one PLAYGROUND_HOME ------------------------------------------------------------------
def test_second_app_on_the_same_home_is_read_only_for_jobs(home: Path) -> None:
    ws = Workspace()
    owner = JobRunner(ws, max_running=0)  # max_running=0: runs stay queued, no subprocess needed
    queued = owner.submit(_sft("max_steps=3"))
    second = JobRunner(Workspace())
    assert owner.owns_queue() and not second.owns_queue()
    assert second.reconcile() == []
    assert read_status(owner.run_dir(queued))["state"] == "queued"  # not marked interrupted by the second app
    runs_before = len(ws.runs())
    with pytest.raises(WorkspaceError, match=rf"another playground app \(pid {os.getpid()}\) runs the jobs"):
        second.submit(_sft("max_steps=3"))
    with pytest.raises(WorkspaceError, match="another playground app"):
        second.stop(queued)
    assert len(ws.runs()) == runs_before and read_status(owner.run_dir(queued))["state"] == "queued"

    # a second app in another process is refused the same way
    code = ("from playground.core.jobs import JobRunner\nj = JobRunner()\nprint(j.owns_queue(), j.reconcile())")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert out.stdout.strip() == "False []", out.stderr[-2000:]
    assert read_status(owner.run_dir(queued))["state"] == "queued"

    # the owner exits: the second app takes the queue over (and marks the orphaned queued run interrupted)
    owner.close()
    assert second.owns_queue()
    assert read_status(owner.run_dir(queued))["state"] == "interrupted"
    second.close()


# ---- limits and owners ----------------------------------------------------------------------------------
def test_queued_jobs_cap_refuses_with_one_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYGROUND_MAX_QUEUED", "2")
    ws = Workspace()
    jobs = JobRunner(ws, max_running=0)
    jobs.submit(_sft("max_steps=3"))
    jobs.submit(_sft("max_steps=3"))
    with pytest.raises(AccessError) as err:
        jobs.submit(_sft("max_steps=3"))
    assert str(err.value) == "the job queue is full (2 runs waiting, limit 2); wait for one to start or stop one."
    assert len(ws.runs()) == 2  # the refused run left nothing behind
    jobs.close()


def test_only_the_owner_or_an_admin_stops_a_job(home: Path) -> None:
    jobs = JobRunner(Workspace(), max_running=0)
    mine = jobs.submit(_sft("max_steps=3"), owner="alice")
    other = jobs.start(_sft("max_steps=3"), owner="alice")
    assert jobs.owner(mine) == "alice" and read_status(jobs.run_dir(mine))["owner"] == "alice"
    with pytest.raises(AccessError, match=f"cannot stop {mine}: it was started by alice; only its owner or an admin"):
        jobs.stop(mine, by="bob", is_admin=False)
    assert jobs.state(mine) == "queued"
    assert jobs.stop(mine, by="alice", is_admin=False) == "stopped"
    assert jobs.stop_message(mine) == f"{mine}: stopped before it started; nothing to keep."
    assert jobs.stop(other, by="carol", is_admin=True) == "stopped"
    jobs.close()


# ---- a hub id that cannot be reached ------------------------------------------------------------------
@pytest.fixture
def no_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The hub 'online' as far as the settings go, but its endpoint a closed local port; an empty HF cache."""
    import socket

    from huggingface_hub import constants

    from playground.core import models

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_CACHE": str(tmp_path / "hf-cache")}
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
    monkeypatch.setattr(models, "_HUB_UP", None)
    return env


def test_unreachable_hub_id_is_one_line_model_error(no_hub: dict[str, str]) -> None:
    from playground.core import models

    spec = models.resolve("nobody/no-such-model")
    with pytest.raises(ModelError) as err:
        models.load_tokenizer(spec)
    assert str(err.value) == ("Cannot load 'nobody/no-such-model': the Hugging Face hub is not reachable from here "
                              "and the model is not in the local cache. Use 'bundled', 'tiny' or a local folder.")


def test_unreachable_hub_still_loads_a_cached_copy(no_hub: dict[str, str]) -> None:
    from playground.core import models

    snap = Path(no_hub["HF_HUB_CACHE"]) / "models--me--tiny"
    shutil.copytree(models.tiny_dir(), snap / "snapshots" / "abc123")
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text("abc123")
    tok = models.load_tokenizer(models.resolve("me/tiny"))
    assert tok("hello")["input_ids"]


def test_cli_run_on_an_unreachable_hub_id_fails_with_one_line(no_hub: dict[str, str], home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(no_hub, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "playground", "sft", "--config", str(SFT), "--set",
                          "model=nobody/no-such-model", "--run-dir", str(home / "runs" / "hub")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Cannot load 'nobody/no-such-model': the Hugging Face hub is not reachable")
    status = read_status(home / "runs" / "hub")
    assert status["state"] == "failed" and "not reachable" in status["error"]
