"""The job runner with real subprocesses: run, stop + resume, crash, kill, reconcile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from playground.core.jobs import JobRunner, build_command, cli_twin
from playground.core.runs import read_metrics, read_status, write_status
from playground.core.workspace import Workspace
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent
FAST = ["max_length=64", "per_device_train_batch_size=2", "eval_fraction=0", "save_steps=0", "logging_steps=1"]


def _wait_for(pred, timeout: float = 300, what: str = "") -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def set_config(run_dir: Path, **values: object) -> None:
    """Change fields of a run's config.yaml (before a resume)."""
    import yaml

    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    data.update(values)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(data))


def test_commands() -> None:
    cmd = build_command("sft", "runs/x/config.yaml", "runs/x", 1)
    assert cmd[1:5] == ["-m", "playground", "sft", "--config"]
    multi = build_command("sft", "c.yaml", "runs/x", 2, "presets/accelerate/ddp.yaml")
    assert "accelerate.commands.launch" in multi and multi[multi.index("--num_processes") + 1] == "2"
    assert "--config_file" in multi
    assert cli_twin("sft", "c.yaml") == "python -m playground sft --config c.yaml"
    assert cli_twin("sft", "c.yaml", 4).startswith("accelerate launch --num_processes 4 --multi_gpu -m playground")


def test_stop_then_resume_continues_from_checkpoint(home: Path) -> None:
    jobs = JobRunner(Workspace())
    cfg = load_config("sft", REPO / "presets/sft/tiny-cpu.yaml", [*FAST, "max_steps=400"])
    run_id = jobs.submit(cfg)
    run_dir = jobs.run_dir(run_id)
    _wait_for(lambda: any("loss" in m and m["step"] >= 3 for m in read_metrics(run_dir)), what="3 steps")
    assert jobs.stop(run_id) == "stopped"
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["ended"]
    ckpts = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert ckpts, "a stopped run leaves a checkpoint to resume from"
    stopped_at = int(ckpts[-1].name.split("-")[1])
    assert stopped_at >= 3
    assert status["kept"] == f"adapter after step {stopped_at} (checkpoint-{stopped_at})"
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert jobs.stop_message(run_id) == (f"{run_id}: stopped; kept adapter after step {stopped_at} "
                                         f"(checkpoint-{stopped_at}). Resume continues from checkpoint-{stopped_at}.")
    set_config(run_dir, max_steps=stopped_at + 3)  # resume with a nearer end so the test stays short
    jobs.resume(run_id)
    assert jobs.resume_message(run_id) == f"{run_id}: resumes from checkpoint-{stopped_at}."
    assert jobs.wait(run_id, 300) == "succeeded", (run_dir / "log.txt").read_text()[-2000:]
    steps_after = [m["step"] for m in read_metrics(run_dir) if "loss" in m and m["time"] > status["ended"]]
    assert steps_after and min(steps_after) == stopped_at + 1 and max(steps_after) == stopped_at + 3
    jobs.close()


def test_stopped_ppo_job_keeps_its_last_update_and_resumes_without_repeating_steps(home: Path) -> None:
    """A real SIGTERM to a PPO job: the update in progress is dropped, the last finished one is saved (adapter +
    checkpoint), the stop message says which, and resume logs every update exactly once."""
    jobs = JobRunner(Workspace())
    cfg = load_config("ppo", REPO / "presets/ppo/tiny-cpu.yaml",
                      ["total_updates=1000", "rollout_batch_size=16", "per_device_train_batch_size=8",
                       "sample_every=100"])
    run_id = jobs.submit(cfg, owner="alice")
    run_dir = jobs.run_dir(run_id)
    _wait_for(lambda: any("score" in m for m in read_metrics(run_dir)), what="one PPO update")
    assert jobs.stop(run_id, by="alice", is_admin=False) == "stopped"
    done = [m["step"] for m in read_metrics(run_dir) if "score" in m]
    last = done[-1]
    assert done == list(range(1, last + 1))
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["kept"] == f"adapter after update {last} (checkpoint-{last})"
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "checkpoints" / f"checkpoint-{last}" / "optimizer.pt").is_file()
    assert jobs.stop_message(run_id) == (f"{run_id}: stopped; kept adapter after update {last} (checkpoint-{last}). "
                                         f"Resume continues from checkpoint-{last}.")
    set_config(run_dir, total_updates=last + 2)
    jobs.resume(run_id)
    assert jobs.wait(run_id, 300) == "succeeded", (run_dir / "log.txt").read_text()[-2000:]
    assert [m["step"] for m in read_metrics(run_dir) if "score" in m] == list(range(1, last + 3))
    jobs.close()


def test_job_stopped_as_it_starts_keeps_nothing_and_says_resume_starts_over(home: Path) -> None:
    jobs = JobRunner(Workspace())
    run_id = jobs.submit(load_config("ppo", REPO / "presets/ppo/tiny-cpu.yaml", ["total_updates=1000"]))
    run_dir = jobs.run_dir(run_id)
    _wait_for(lambda: read_status(run_dir).get("state") == "running", what="running")
    assert jobs.stop(run_id) == "stopped"
    status = read_status(run_dir)
    assert status["state"] == "stopped" and status["kept"].startswith("nothing")
    assert not (run_dir / "adapter").exists()
    message = jobs.stop_message(run_id)
    assert message.startswith(f"{run_id}: stopped; kept nothing")
    assert message.endswith("Resume starts over: no checkpoint was saved.")
    jobs.close()


def test_bad_data_fails_with_one_line_reason(home: Path) -> None:
    jobs = JobRunner(Workspace())
    cfg = load_config("sft", REPO / "presets/sft/tiny-cpu.yaml", ["dataset=no-such-set"])
    run_id = jobs.submit(cfg)
    assert jobs.wait(run_id, 120) == "failed"
    err = read_status(jobs.run_dir(run_id))["error"]
    assert "no-such-set" in err and "\n" not in err
    jobs.close()


def test_killed_process_is_marked_failed_and_queue_moves_on(home: Path) -> None:
    jobs = JobRunner(Workspace())
    cfg = load_config("sft", REPO / "presets/sft/tiny-cpu.yaml", [*FAST, "max_steps=400"])
    first = jobs.submit(cfg)
    second = jobs.submit(load_config("sft", REPO / "presets/sft/tiny-cpu.yaml", ["dataset=missing"]))
    _wait_for(lambda: read_status(jobs.run_dir(first)).get("state") == "running", what="first running")
    assert read_status(jobs.run_dir(second))["state"] == "queued"  # one job at a time
    pid = read_status(jobs.run_dir(first))["pid"]
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    assert jobs.wait(first, 60) == "failed"
    assert "died" in read_status(jobs.run_dir(first))["error"]
    assert jobs.wait(second, 120) == "failed"  # the queue went on to the next job
    jobs.close()


def test_reconcile_marks_orphans_interrupted(home: Path) -> None:
    ws = Workspace()
    run_dir = home / "runs" / "sft-orphan"
    run_dir.mkdir(parents=True)
    ws.register_run("sft-orphan", "sft", run_dir, {})
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    write_status(run_dir, state="running", pid=dead, started=time.time())
    # stands in for a job an earlier app started: the runner knows its jobs by their command line
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", "playground", "sft"])
    alive_dir = home / "runs" / "sft-alive"
    alive_dir.mkdir(parents=True)
    ws.register_run("sft-alive", "sft", alive_dir, {})
    write_status(alive_dir, state="running", pid=job.pid, started=time.time())
    recycled_dir = home / "runs" / "sft-recycled"  # its pid now belongs to another program (this test)
    recycled_dir.mkdir(parents=True)
    ws.register_run("sft-recycled", "sft", recycled_dir, {})
    write_status(recycled_dir, state="running", pid=os.getpid(), started=time.time())
    jobs = JobRunner(ws)
    try:
        assert sorted(jobs.reconcile()) == ["sft-orphan", "sft-recycled"]
        assert read_status(run_dir)["state"] == "interrupted"
        assert read_status(alive_dir)["state"] == "running" and jobs.adopted() == {"sft-alive": job.pid}
    finally:
        job.kill()
        job.wait()
        jobs.close()
