"""Run one evaluation at a time in a background thread, so the web server stays free while it works.

    job = RUNNER.start(lambda progress, stop: evaluate(ws, req, loader, progress, stop), owner="ana")
    job.fraction, job.message, job.done, job.report, job.error     # what the tab polls
    RUNNER.stop(job.id)                                             # answers generated so far stay cached

One at a time per process: an evaluation keeps the CPU (or GPU) busy, and a second would only halve the speed of
both; asking while one runs is a one-line refusal that names whose it is.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playground.core.errors import AccessError, UserError

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], dict[str, Any]]
_ids = itertools.count(1)


@dataclass
class EvalJob:
    id: int
    owner: str
    started: float = field(default_factory=time.time)
    fraction: float = 0.0
    message: str = "starting"
    done: bool = False
    report: dict[str, Any] | None = None
    error: str = ""
    stop_event: threading.Event = field(default_factory=threading.Event)

    def status_line(self) -> str:
        took = time.time() - self.started
        if self.error:
            return f"⚠️ {self.error}"
        if self.done:
            return f"✅ Done in {took:.0f} s: evaluation {self.report.get('id') if self.report else '?'} stored."
        return f"⏳ {self.fraction:.0%} · {self.message} · {took:.0f} s"


class EvalRunner:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, EvalJob] = {}

    def running(self) -> EvalJob | None:
        with self._lock:
            return next((j for j in self._jobs.values() if not j.done), None)

    def get(self, job_id: int | None) -> EvalJob | None:
        with self._lock:
            return self._jobs.get(int(job_id)) if job_id else None

    def start(self, work: Work, owner: str = "") -> EvalJob:
        with self._lock:
            busy = next((j for j in self._jobs.values() if not j.done), None)
            if busy is not None:
                raise AccessError(f"An evaluation is already running (started by {busy.owner or 'someone'}, "
                                  f"{busy.fraction:.0%} done): wait for it or stop it.")
            job = EvalJob(next(_ids), owner)
            self._jobs = {k: v for k, v in self._jobs.items() if time.time() - v.started < 3600}
            self._jobs[job.id] = job

        def progress(fraction: float, message: str) -> None:
            job.fraction, job.message = max(0.0, min(1.0, fraction)), message

        def run() -> None:
            try:
                job.report = work(progress, job.stop_event.is_set)
            except UserError as e:
                job.error = str(e)
            except Exception as e:  # noqa: BLE001 - the thread must always end the job with a line to show
                job.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            finally:
                job.done = True

        threading.Thread(target=run, name=f"evaluate-{job.id}", daemon=True).start()
        return job

    def stop(self, job_id: int | None) -> bool:
        job = self.get(job_id)
        if job is None or job.done:
            return False
        job.stop_event.set()
        return True

    def wait(self, job_id: int, timeout: float = 600.0) -> EvalJob | None:
        """Block until the job is done (tests, the CLI); the job, or None when unknown."""
        end = time.time() + timeout
        job = self.get(job_id)
        while job is not None and not job.done and time.time() < end:
            time.sleep(0.05)
        return job


RUNNER = EvalRunner()  # one per process: the app's
