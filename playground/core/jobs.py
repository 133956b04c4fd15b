"""Job runner: each run is a subprocess `python -m playground <stage> --config runs/<id>/config.yaml`.

    jobs = JobRunner(workspace)
    run_id = jobs.submit("sft", cfg)       # writes the run dir, queues, starts when the GPU is free
    jobs.stop(run_id)                      # SIGTERM (the trainer saves and exits), then SIGKILL
    jobs.reconcile()                       # on app start: runs whose process is gone -> interrupted

A subprocess can be stopped and gives its memory back; a thread in the web server cannot. Jobs run in
their own process group, so they outlive a closed browser tab. One job runs at a time (one GPU).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from playground.core.config import BaseRun, save_config, stage_of, to_dict
from playground.core.paths import REPO_DIR, home, runs_dir
from playground.core.runs import FINAL_STATES, new_run_id, pid_alive, read_status, write_status
from playground.core.workspace import Workspace

STOP_GRACE_S = 20.0


def build_command(stage: str, config_path: str | Path, run_dir: str | Path, num_processes: int = 1,
                  accelerate_config: str = "") -> list[str]:
    """The argv that runs one stage: plain python for one process, `accelerate launch` for several.

    Several processes always go through the torchrun launcher (`--multi_gpu`), also on a machine without a GPU:
    the trainers pick gloo on CPU themselves. (`accelerate launch --cpu --num_processes 2` would silently start
    one process: accelerate's multi-CPU launch needs mpirun.)"""
    tail = ["-m", "playground", stage, "--config", str(config_path), "--run-dir", str(run_dir)]
    if num_processes <= 1:
        return [sys.executable, *tail]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    if accelerate_config:
        launch += ["--config_file", accelerate_config]
    else:
        launch += ["--multi_gpu"]
    return [*launch, *tail]


def cli_twin(stage: str, config_path: str | Path, num_processes: int = 1, accelerate_config: str = "") -> str:
    """The command a user can copy to run the same config from a shell."""
    if num_processes <= 1:
        return f"python -m playground {stage} --config {shlex.quote(str(config_path))}"
    extra = f" --config_file {shlex.quote(accelerate_config)}" if accelerate_config else " --multi_gpu"
    return (f"accelerate launch --num_processes {num_processes}{extra} -m playground {stage} "
            f"--config {shlex.quote(str(config_path))}")


def launch_args(data: dict[str, Any]) -> tuple[int, str]:
    """(num_processes, accelerate_config) from a run's config (as saved in its config.yaml)."""
    return int(data.get("num_processes", 1) or 1), str(data.get("accelerate_config", "") or "")


class JobRunner:
    def __init__(self, workspace: Workspace | None = None, max_running: int = 1) -> None:
        self.ws = workspace or Workspace()
        self.max_running = max_running
        self.home = home()  # captured: jobs of this runner always land here, whatever the env says later
        self.root = runs_dir()
        self._lock = threading.RLock()
        self._queue: list[str] = []
        self._procs: dict[str, subprocess.Popen] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="playground-jobs", daemon=True)
        self._thread.start()

    # -- public API -------------------------------------------------------------------------------
    def submit(self, stage_or_cfg: str | BaseRun, cfg: BaseRun | None = None, run_id: str | None = None) -> str:
        if cfg is None:
            assert isinstance(stage_or_cfg, BaseRun)
            cfg = stage_or_cfg
        stage = stage_of(cfg)
        run_id = run_id or new_run_id(stage)
        run_dir = self.root / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        write_status(run_dir, state="queued", pid=None, started=None, ended=None, error=None, queued=time.time())
        self.ws.register_run(run_id, stage, run_dir, to_dict(cfg))
        with self._lock:
            self._queue.append(run_id)
        self._wake.set()
        return run_id

    def resume(self, run_id: str) -> str:
        """Start a stopped/failed/interrupted run again in the same directory, from its last checkpoint."""
        run = self.ws.get_run(run_id)
        if run is None:
            raise ValueError(f"No run '{run_id}'.")
        state = self.state(run_id)
        if state not in FINAL_STATES:
            raise ValueError(f"Run {run_id} is {state}; only finished runs can be resumed.")
        run_dir = Path(run["run_dir"])
        import yaml

        cfg_path = run_dir / "config.yaml"
        data = yaml.safe_load(cfg_path.read_text())
        data["resume_from_checkpoint"] = "last"
        cfg_path.write_text(yaml.safe_dump(data, sort_keys=False))
        write_status(run_dir, state="queued", pid=None, ended=None, error=None, queued=time.time())
        with self._lock:
            self._queue.append(run_id)
        self._wake.set()
        return run_id

    def stop(self, run_id: str, grace_s: float = STOP_GRACE_S) -> str:
        """Stop a queued or running job. Returns the final state."""
        run_dir = self.run_dir(run_id)
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
                write_status(run_dir, state="stopped", ended=time.time(), error="stopped before it started")
                return "stopped"
            proc = self._procs.get(run_id)
        pid = proc.pid if proc else read_status(run_dir).get("pid")
        if not pid or not pid_alive(pid):
            return self.state(run_id)
        try:
            os.killpg(os.getpgid(pid), signal.SIGTERM)  # the trainer saves a checkpoint and exits
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + grace_s
        while time.time() < deadline and pid_alive(pid):
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.1)
        if pid_alive(pid) and (proc is None or proc.poll() is None):
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if proc is not None:
                proc.wait(timeout=10)
        if proc is not None:
            proc.wait(timeout=10)
        status = read_status(run_dir)
        if status.get("state") not in FINAL_STATES or status.get("state") == "failed":
            write_status(run_dir, state="stopped", ended=time.time(), error=None)
        return "stopped"

    def state(self, run_id: str) -> str:
        return read_status(self.run_dir(run_id)).get("state") or "unknown"

    def run_dir(self, run_id: str) -> Path:
        run = self.ws.get_run(run_id)
        return Path(run["run_dir"]) if run else self.root / run_id

    def wait(self, run_id: str, timeout: float = 600) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = self.state(run_id)
            with self._lock:
                pending = run_id in self._queue or run_id in self._procs
            if state in FINAL_STATES and not pending:
                return state
            time.sleep(0.1)
        raise TimeoutError(f"run {run_id} still {self.state(run_id)} after {timeout}s")

    def reconcile(self) -> list[str]:
        """Mark runs whose process is gone (the app restarted, the machine rebooted) as interrupted."""
        changed = []
        for run in self.ws.runs():
            run_dir = Path(run["run_dir"])
            status = read_status(run_dir)
            state = status.get("state")
            with self._lock:
                mine = run["id"] in self._queue or run["id"] in self._procs
            if mine or state in FINAL_STATES or state is None:
                continue
            if state == "running" and pid_alive(status.get("pid")):
                continue  # still training, started by an earlier app process: leave it be
            write_status(run_dir, state="interrupted", ended=time.time(),
                         error="the app stopped while this run was " + str(state))
            changed.append(run["id"])
        return changed

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    # -- scheduler --------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            with self._lock:
                for run_id, proc in list(self._procs.items()):
                    if proc.poll() is not None:
                        self._finish(run_id, proc)
                while self._queue and len(self._procs) < self.max_running:
                    self._start(self._queue.pop(0))

    def _start(self, run_id: str) -> None:
        run_dir = self.run_dir(run_id)
        import yaml

        data = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        stage = self.ws.get_run(run_id)["stage"]
        cmd = build_command(stage, run_dir / "config.yaml", run_dir, *launch_args(data))
        env = dict(os.environ, PLAYGROUND_JOB="1", PYTHONUNBUFFERED="1", PLAYGROUND_HOME=str(self.home),
                   HF_DATASETS_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_DIR), env.get("PYTHONPATH", "")) if p)
        log = open(run_dir / "log.txt", "ab")
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=str(REPO_DIR), env=env, start_new_session=True)
        except OSError as e:
            write_status(run_dir, state="failed", ended=time.time(), error=f"could not start: {e}")
            return
        finally:
            log.close()
        write_status(run_dir, state="running", pid=proc.pid, started=time.time())
        self._procs[run_id] = proc

    def _finish(self, run_id: str, proc: subprocess.Popen) -> None:
        del self._procs[run_id]
        run_dir = self.run_dir(run_id)
        status = read_status(run_dir)
        if status.get("state") not in FINAL_STATES:
            # the process died without saying how (killed, segfault, OOM)
            rc = proc.returncode
            reason = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
            write_status(run_dir, state="failed", ended=time.time(),
                         error=f"the process died ({reason}) without reporting; see log.txt")
