"""The next pair, generated while the annotator reads the current one.

    pre = Prefetcher()
    pre.start(session, key, lambda: make_pair())       # one pending job per browser session
    got = pre.take(session, lambda key: key == wanted)  # its result if the key still fits, else None

One background worker for the whole process: pre-generation must not compete with the pairs people are
waiting for. A session's newer job replaces its older one; forgotten sessions are dropped beyond `max_sessions`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Prefetcher:
    def __init__(self, workers: int = 1, max_sessions: int = 256) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._workers = workers
        self._max = max_sessions
        self._pending: dict[str, tuple[Hashable, Future]] = {}
        self._lock = threading.Lock()

    def start(self, session: str, key: Hashable, job: Callable[[], Any]) -> None:
        """Run `job` in the background for `session`, under `key` (what the result was made for)."""
        if not session:
            return
        with self._lock:
            if self._pool is None:  # started on first use: importing the service starts no thread
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="arena-prefetch")
            self._pending[session] = (key, self._pool.submit(job))
            while len(self._pending) > self._max:
                self._pending.pop(next(iter(self._pending)))

    def take(self, session: str, accept: Callable[[Hashable], bool], timeout: float = 600) -> Any | None:
        """The session's pre-generated result when `accept(key)` holds, waiting for it if still running; None when
        there is none, it no longer fits, or it failed (the caller then generates now)."""
        with self._lock:
            entry = self._pending.pop(session, None)
        if entry is None or not accept(entry[0]):
            return None
        try:
            return entry[1].result(timeout=timeout)
        except Exception:  # noqa: BLE001 - a failed prefetch only means generating now
            return None

    def forget(self, session: str) -> None:
        with self._lock:
            self._pending.pop(session, None)
