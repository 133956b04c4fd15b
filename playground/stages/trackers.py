"""Trackers: a run's curves also go to TensorBoard or Trackio (the config's `report_to`), besides metrics.jsonl.

    args = {**training_args_common(...)}            # TRL stages: report_to / run_name / project come from here
    tracker = open_tracker(cfg, run_dir)            # our own loops (PPO): the same library calls TRL's callbacks make
    tracker.log(step, {"score": 0.4}); tracker.close()
    dashboard()                                      # Trackio's own local dashboard for the workspace (a subprocess)

Where the logs land, so backups and bundles of the workspace hold them:
- tensorboard: `runs/<id>/tensorboard/events.out.tfevents*` (transformers' TensorBoardCallback reads the folder from
  TENSORBOARD_LOGGING_DIR; PPO writes with `torch.utils.tensorboard.SummaryWriter`).
- trackio: the workspace's `trackio/` store (TRACKIO_DIR; Trackio reads it once, when first imported, so it is set
  before anything imports trackio), project = the workspace folder's name, run name = the run id.
Both are optional packages: the config refuses a tracker that is not installed, in one line saying how to install it
(core/config.py, `report_to`), and nothing else changes without them.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from playground.core.errors import DataError
from playground.core.paths import home

TRACKIO_INSTALL = "pip install trackio==0.43.0"


def tensorboard_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "tensorboard"


def trackio_dir() -> Path:
    return home() / "trackio"


def trackio_project() -> str:
    """The Trackio project of this workspace: its folder's name."""
    return home().name or "playground"


def installed(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def point_trackio_here() -> None:
    """TRACKIO_DIR -> the workspace's store. Trackio reads it at import: one imported earlier with another store
    would log elsewhere, so that is refused in one line."""
    want = trackio_dir()
    os.environ["TRACKIO_DIR"] = str(want)
    mod = sys.modules.get("trackio.utils")
    if mod is not None and Path(mod.TRACKIO_DIR).resolve() != want.resolve():
        raise DataError(f"report_to trackio: trackio was imported with the store {mod.TRACKIO_DIR} before this run "
                        f"could point it at {want}")


def training_args(cfg: Any, run_dir: str | Path) -> dict[str, Any]:
    """The TrainingArguments fields that route a TRL stage's logs (transformers' own tracker callbacks)."""
    kind = getattr(cfg, "report_to", "none")
    if kind == "tensorboard":
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(tensorboard_dir(run_dir))
        return {"report_to": ["tensorboard"]}
    if kind == "trackio":
        point_trackio_here()
        # no Space, no static Space sync on push: the store stays local, in the workspace
        return {"report_to": ["trackio"], "project": trackio_project(), "run_name": Path(run_dir).name,
                "trackio_static_space_id": False}
    return {"report_to": []}


class Tracker:
    """Our own loops' tracker (PPO is not a transformers Trainer): TensorBoard's SummaryWriter or trackio's
    init/log/finish, as transformers' callbacks call them. `none` logs nothing."""

    def __init__(self, kind: str, run_dir: str | Path, config: dict[str, Any] | None = None) -> None:
        self.kind, self.writer, self.trackio = kind, None, None
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(tensorboard_dir(run_dir)))
        elif kind == "trackio":
            point_trackio_here()
            import trackio

            trackio.init(project=trackio_project(), name=Path(run_dir).name, config=config or {}, resume="allow",
                         embed=False)
            self.trackio = trackio

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        scalars = {k: float(v) for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, step)
            self.writer.flush()
        if self.trackio is not None:
            self.trackio.log(scalars, step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.trackio is not None:
            self.trackio.finish()
            self.trackio = None


def open_tracker(cfg: Any, run_dir: str | Path, enabled: bool = True) -> Tracker:
    """The config's tracker for `run_dir` (its fields go to Trackio's run config); `enabled=False` (a process other
    than the main one) logs nothing."""
    from playground.core.config import to_dict

    return Tracker(getattr(cfg, "report_to", "none") if enabled else "none", run_dir, to_dict(cfg))


# ---- Trackio's dashboard for the workspace ------------------------------------------------------------------
_DASHBOARD: dict[str, Any] = {}  # server-wide: one dashboard process per app ({"proc", "url", "dir"})
# the dashboard ends with the app that started it, however the app ends (a SIGTERM skips atexit): it watches its parent
_SHOW = """
import os, sys, threading, time
import trackio
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(2)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
trackio.show(project=sys.argv[1], open_browser=False, block_thread=True, server_port=int(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout_s: float) -> bool:
    end = time.time() + timeout_s
    while time.time() < end and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.3)
    return False


def dashboard(timeout_s: float = 60.0) -> str:
    """Start (once) Trackio's own local dashboard on this workspace's store; a Markdown line with its address, or
    how to install Trackio. The dashboard is its own process (its own Gradio app) bound to 127.0.0.1."""
    if not installed("trackio"):
        return f"Trackio is not installed here: `{TRACKIO_INSTALL}`, then restart the app."
    store = trackio_dir()
    running = _DASHBOARD.get("proc")
    if running is not None and running.poll() is None and _DASHBOARD.get("dir") == store:
        return _dashboard_line(_DASHBOARD["url"], store)
    if running is not None and running.poll() is None:
        running.terminate()
    store.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(os.environ, TRACKIO_DIR=str(store), GRADIO_ANALYTICS_ENABLED="False")
    log = open(store / "dashboard.log", "ab")  # noqa: SIM115 - the child writes to it for as long as it runs
    proc = subprocess.Popen([sys.executable, "-c", _SHOW, trackio_project(), str(port)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    log.close()
    if not _wait_listening(port, proc, timeout_s):
        proc.terminate()
        return f"⚠️ Trackio's dashboard did not start; see {store / 'dashboard.log'}"
    url = f"http://127.0.0.1:{port}/?project={trackio_project()}"
    if not _DASHBOARD:
        atexit.register(stop_dashboard)  # its own session: it would outlive the app otherwise
    _DASHBOARD.update(proc=proc, url=url, dir=store)
    return _dashboard_line(url, store)


def _dashboard_line(url: str, store: Path) -> str:
    return (f"Trackio dashboard: [{url}]({url}) (on the machine running the app; elsewhere run "
            f"`TRACKIO_DIR={store} trackio show --project {trackio_project()}`)")


def stop_dashboard() -> None:
    proc = _DASHBOARD.get("proc")
    if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)
