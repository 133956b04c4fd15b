"""Job runner: each run is a subprocess `python -m playground <stage> --config runs/<id>/config.yaml`.

    jobs = JobRunner(workspace)
    run_id = jobs.submit(cfg, owner="alice")  # writes the run dir, queues, starts when the GPU is free
    jobs.stop(run_id, by="alice")             # SIGTERM (the trainer keeps its last finished step), then SIGKILL
    jobs.stop_message(run_id)                 # "…: stopped; kept the adapter after update 3 (checkpoint-3). …"
    jobs.reconcile()                          # on app start: runs whose process is gone -> interrupted

A subprocess can be stopped and gives its memory back; a thread in the web server cannot. Jobs run in
their own process group, so they outlive a closed browser tab (and an app restart: the next app adopts a
running job by the pid in its status.json and watches it). One job runs at a time (one GPU).

One app owns the queue of a PLAYGROUND_HOME: it holds an fcntl lock on `<home>/jobs.lock`. A second app on the
same home runs read-only for jobs: it lists and follows runs, but refuses to start, stop or resume them (one
line naming the owner's pid), and never marks the owner's queued or running runs interrupted. It takes the queue
over when the owner exits.

Limits: at most PLAYGROUND_MAX_QUEUED (default 8) runs wait in the queue; only a run's owner or an admin
stops or resumes it.
"""

from __future__ import annotations

import fcntl
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
from playground.core.errors import AccessError, WorkspaceError
from playground.core.paths import REPO_DIR, home, runs_dir
from playground.core.runs import FINAL_STATES, new_run_id, pid_alive, read_status, write_status
from playground.core.workspace import Workspace

STOP_GRACE_S = float(os.environ.get("PLAYGROUND_STOP_GRACE_S", "60") or 60)  # then SIGKILL
DEFAULT_MAX_QUEUED = 8
LOCK_NAME = "jobs.lock"


def max_queued() -> int:
    try:
        return max(0, int(os.environ.get("PLAYGROUND_MAX_QUEUED", DEFAULT_MAX_QUEUED)))
    except ValueError:
        return DEFAULT_MAX_QUEUED


def _checkpoint_name(run_dir: Path) -> str | None:
    from playground.core.runs import last_checkpoint

    found = last_checkpoint(run_dir)
    return Path(found).name if found else None


def resume_hint(run_dir: Path) -> str:
    """What Resume would do for this run, in words."""
    ckpt = _checkpoint_name(run_dir)
    return f"Resume continues from {ckpt}." if ckpt else "Resume starts over: no checkpoint was saved."


def _is_job_process(pid: int | None) -> bool:
    """Alive and (where /proc tells) a playground process: a recycled pid is not our job."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{int(pid)}/cmdline", "rb") as fh:
            cmdline = fh.read()
    except OSError:
        return True
    return b"playground" in cmdline


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
        self._adopted: dict[str, int] = {}  # runs started by an earlier app, still running: run id -> pid
        self._stopping: set[str] = set()  # runs stop() is ending: stop() writes their final state
        self._lock_fd: int | None = None
        self._take_queue()
        self._thread = threading.Thread(target=self._loop, name="playground-jobs", daemon=True)
        self._thread.start()

    # -- public API -------------------------------------------------------------------------------
    def submit(self, stage_or_cfg: str | BaseRun, cfg: BaseRun | None = None, run_id: str | None = None,
               owner: str = "") -> str:
        """Queue a run; `owner` (the caller's login name, "" when auth is off) is recorded in status.json."""
        if cfg is None:
            assert isinstance(stage_or_cfg, BaseRun)
            cfg = stage_or_cfg
        self._need_queue("start a run")
        self._check_queue_room()
        stage = stage_of(cfg)
        run_id = run_id or new_run_id(stage)
        run_dir = self.root / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        write_status(run_dir, state="queued", pid=None, started=None, ended=None, error=None, queued=time.time(),
                     owner=owner or "")
        self.ws.register_run(run_id, stage, run_dir, to_dict(cfg))
        with self._lock:
            self._queue.append(run_id)
        self._wake.set()
        return run_id

    start = submit  # the name the UI's start button reads best with

    def owner(self, run_id: str) -> str:
        """Who started the run ("" when unknown or auth was off)."""
        return str(read_status(self.run_dir(run_id)).get("owner") or "")

    def _check_owner(self, run_id: str, by: str, is_admin: bool, verb: str) -> None:
        if is_admin:
            return
        owner = self.owner(run_id)
        if not owner or owner != (by or ""):
            who = f"started by {owner}" if owner else "not started by you"
            raise AccessError(f"cannot {verb} {run_id}: it was {who}; only its owner or an admin can {verb} it.")

    def resume(self, run_id: str, by: str = "", is_admin: bool = True) -> str:
        """Start a stopped/failed/interrupted run again in the same directory, from its last checkpoint, or from
        the beginning when none was saved (resume_message() says which)."""
        run = self.ws.get_run(run_id)
        if run is None:
            raise WorkspaceError(f"No run '{run_id}'.")
        self._need_queue("resume a run")
        self._check_owner(run_id, by, is_admin, "resume")
        state = self.state(run_id)
        if state not in FINAL_STATES:
            raise WorkspaceError(f"Run {run_id} is {state}; only finished runs can be resumed.")
        self._check_queue_room()
        run_dir = Path(run["run_dir"])
        import yaml

        cfg_path = run_dir / "config.yaml"
        data = yaml.safe_load(cfg_path.read_text())
        data["resume_from_checkpoint"] = "last"
        cfg_path.write_text(yaml.safe_dump(data, sort_keys=False))
        ckpt = _checkpoint_name(run_dir)
        write_status(run_dir, state="queued", pid=None, ended=None, error=None, kept=None, queued=time.time(),
                     resume=f"resumes from {ckpt}" if ckpt else "starts over: no checkpoint was saved")
        with self._lock:
            self._queue.append(run_id)
        self._wake.set()
        return run_id

    def resume_message(self, run_id: str) -> str:
        """One line for the user after resume(): from which checkpoint, or that it starts over."""
        how = read_status(self.run_dir(run_id)).get("resume")
        return f"{run_id}: {how}." if how else f"{run_id}: {self.state(run_id)}."

    def stop(self, run_id: str, grace_s: float | None = None, by: str = "", is_admin: bool = True) -> str:
        """Stop a queued or running job; returns the final state (stop_message() says what was kept).

        Only the run's owner (`by`, the caller's login name) or an admin may stop it. The trainer gets SIGTERM,
        drops the step in progress and saves the last finished one; after `grace_s` it is killed."""
        grace_s = STOP_GRACE_S if grace_s is None else grace_s
        run_dir = self.run_dir(run_id)
        if self.ws.get_run(run_id) is None and not run_dir.is_dir():
            raise WorkspaceError(f"No run '{run_id}'.")
        self._need_queue("stop a run")
        self._check_owner(run_id, by, is_admin, "stop")
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
                write_status(run_dir, state="stopped", ended=time.time(), error=None,
                             kept="nothing: stopped before it started", stopped_by=by or None)
                return "stopped"
            proc = self._procs.get(run_id)
        pid = proc.pid if proc else read_status(run_dir).get("pid")
        if not pid or not pid_alive(pid):
            return self.state(run_id)
        write_status(run_dir, stopped_by=by or None)
        with self._lock:
            self._stopping.add(run_id)
        try:
            return self._end(run_dir, pid, proc, grace_s)
        finally:
            with self._lock:
                self._stopping.discard(run_id)
                self._adopted.pop(run_id, None)

    def _end(self, run_dir: Path, pid: int, proc: subprocess.Popen | None, grace_s: float) -> str:
        """SIGTERM, wait up to grace_s, SIGKILL; then the final state (the trainer's own, or 'stopped')."""
        try:
            os.killpg(os.getpgid(pid), signal.SIGTERM)  # the trainer keeps its last finished step and exits
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + grace_s
        while time.time() < deadline and pid_alive(pid):
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.1)
        killed = False
        if pid_alive(pid) and (proc is None or proc.poll() is None):
            killed = True
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc is not None:
            proc.wait(timeout=10)
        else:
            deadline = time.time() + 10
            while pid_alive(pid) and time.time() < deadline:
                time.sleep(0.1)
        status = read_status(run_dir)
        state = status.get("state")
        if state == "stopped":
            return "stopped"
        if state in ("succeeded", "failed") and not killed:
            return state  # it finished (or failed) on its own before the stop landed
        ckpt = _checkpoint_name(run_dir)
        why = f"the process did not exit within {grace_s:.0f} s and was killed" if killed else "the process ended"
        kept = f"{ckpt} from before the stop ({why})" if ckpt else f"nothing ({why} before saving)"
        write_status(run_dir, state="stopped", ended=time.time(), error=None, kept=kept)
        return "stopped"

    def stop_message(self, run_id: str) -> str:
        """One line after stop(), read from status.json once the process ended: what was kept and what Resume
        will do."""
        run_dir = self.run_dir(run_id)
        status = read_status(run_dir)
        state = status.get("state") or "unknown"
        if state == "stopped":
            kept = status.get("kept") or "nothing recorded"
            if kept.startswith("nothing") and "before it started" in kept:
                return f"{run_id}: stopped before it started; nothing to keep."
            return f"{run_id}: stopped; kept {kept}. {resume_hint(run_dir)}"
        if state in ("succeeded", "failed", "interrupted"):
            extra = f": {status['error']}" if status.get("error") else ""
            return f"{run_id}: {state}{extra}."
        return f"{run_id}: {state}."

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
        """Mark runs whose process is gone (the app restarted, the machine rebooted) as interrupted, and adopt
        the ones still running: they are watched and marked interrupted if their process dies without a word.

        Only the app that owns the queue does this; a second app on the same home changes nothing."""
        if not self.owns_queue():
            return []
        changed = []
        for run in self.ws.runs():
            run_dir = Path(run["run_dir"])
            status = read_status(run_dir)
            state = status.get("state")
            with self._lock:
                mine = run["id"] in self._queue or run["id"] in self._procs
            if mine or state in FINAL_STATES or state is None:
                continue
            if state == "running" and _is_job_process(status.get("pid")):
                with self._lock:  # still training, started by an earlier app process: watch it
                    self._adopted[run["id"]] = int(status["pid"])
                continue
            write_status(run_dir, state="interrupted", ended=time.time(),
                         error=f"the app stopped while this run was {state}. {resume_hint(run_dir)}")
            changed.append(run["id"])
        return changed

    def pending(self) -> list[str]:
        """Runs this runner has queued or is running (not adopted ones), oldest first."""
        with self._lock:
            return [*self._procs, *(r for r in self._queue if r not in self._procs)]

    def adopted(self) -> dict[str, int]:
        """Runs started by an earlier app and still running (run id -> pid)."""
        with self._lock:
            return dict(self._adopted)

    # -- one owner per home -----------------------------------------------------------------------
    def _take_queue(self) -> bool:
        """Try (without waiting) to become the app that runs this home's jobs."""
        if self._lock_fd is not None:
            return True
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def owns_queue(self) -> bool:
        """True when this runner holds the home's job lock (it may take it now, if the owner exited)."""
        if self._lock_fd is not None:
            return True
        with self._lock:
            if self._closed or not self._take_queue():
                return False
            self.reconcile()  # the previous owner is gone: its orphans are ours to mark / adopt
        return True

    def queue_owner_pid(self) -> int | None:
        try:
            return int((self.home / LOCK_NAME).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _need_queue(self, what: str) -> None:
        if self.owns_queue():
            return
        pid = self.queue_owner_pid()
        raise WorkspaceError(f"cannot {what}: another playground app{f' (pid {pid})' if pid else ''} runs the jobs "
                             f"of {self.home}; use that app, or give this one its own PLAYGROUND_HOME.")

    def _check_queue_room(self) -> None:
        cap = max_queued()
        with self._lock:
            waiting = len(self._queue)
        if waiting >= cap:
            raise AccessError(f"the job queue is full ({waiting} runs waiting, limit {cap}); "
                              "wait for one to start or stop one.")

    def close(self) -> None:
        """Stop scheduling and release the home's job lock (running jobs go on; the next app adopts them)."""
        self._closed = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    # -- scheduler --------------------------------------------------------------------------------
    def _loop(self) -> None:
        next_try = 0.0
        while not self._closed:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if self._lock_fd is None:  # read-only: take the queue over once its owner has exited
                if time.time() >= next_try:
                    next_try = time.time() + 5
                    self.owns_queue()
                continue
            with self._lock:
                for run_id, proc in list(self._procs.items()):
                    if proc.poll() is not None:
                        self._finish(run_id, proc)
                for run_id, pid in list(self._adopted.items()):
                    if not pid_alive(pid):
                        self._finish_adopted(run_id, pid)
                while self._queue and len(self._procs) + len(self._adopted) < self.max_running:
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
        if status.get("state") not in FINAL_STATES and run_id not in self._stopping:
            # the process died without saying how (killed, segfault, OOM)
            rc = proc.returncode
            reason = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
            write_status(run_dir, state="failed", ended=time.time(),
                         error=f"the process died ({reason}) without reporting; see log.txt")

    def _finish_adopted(self, run_id: str, pid: int) -> None:
        """An adopted run's process ended: it wrote its own final state, or it died without one (kill -9, OOM)."""
        del self._adopted[run_id]
        run_dir = self.run_dir(run_id)
        status = read_status(run_dir)
        if status.get("state") not in FINAL_STATES and status.get("pid") == pid and run_id not in self._stopping:
            write_status(run_dir, state="interrupted", ended=time.time(),
                         error=f"its process (pid {pid}) died without reporting after the app restarted (killed or "
                               f"out of memory; see log.txt). {resume_hint(run_dir)}")
