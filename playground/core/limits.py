"""Per-user limits a shared server enforces: how much one person may ask of it at once.

    limiter = Limiter(Limits.from_env())
    with limiter.generation(user):          # LimitError (one line) over the per-user cap
        ...stream a pair...
    limiter.vote(user)                      # LimitError over the votes-per-minute budget
    n = limiter.max_new_tokens(requested)   # clamped to the server's cap

Settings (environment, read once when the service is built; a bad value is a one-line ConfigError):
    PLAYGROUND_MAX_GEN_PER_USER     concurrent generations per user          (default 2)
    PLAYGROUND_MAX_NEW_TOKENS       cap on new tokens per generated answer   (default 256)
    PLAYGROUND_MAX_VOTES_PER_MIN    votes per user in any 60 s window        (default 30)
    PLAYGROUND_MIN_VOTE_S           a pair must be on screen this long (s) before a vote counts (default 0.5)

"user" is whatever names a person: the signed-in name, else the browser session. No gradio here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields

from playground.core.errors import AccessError, ConfigError


class LimitError(AccessError):
    """A request over a per-user limit; str(e) says which limit and what to do."""


ENV = {"max_gen_per_user": "PLAYGROUND_MAX_GEN_PER_USER", "max_new_tokens": "PLAYGROUND_MAX_NEW_TOKENS",
       "votes_per_min": "PLAYGROUND_MAX_VOTES_PER_MIN", "min_vote_s": "PLAYGROUND_MIN_VOTE_S"}


@dataclass(frozen=True)
class Limits:
    max_gen_per_user: int = 2  # generations one user may have running at once (0: no limit)
    max_new_tokens: int = 256  # new tokens per answer, whatever the form asks
    votes_per_min: int = 30  # votes one user may cast in any 60 s (0: no limit)
    min_vote_s: float = 0.5  # a vote on a pair shown for less time than this is ignored (a double key-press)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(ENV[f.name], "").strip()
            if not raw:
                continue
            try:
                v = float(raw)
            except ValueError:
                raise ConfigError(f"{ENV[f.name]}={raw!r} is not a number.") from None
            if not math.isfinite(v) or v < 0 or (f.name == "max_new_tokens" and v < 1):
                raise ConfigError(f"{ENV[f.name]}={raw!r} is out of range (a finite number >= "
                                  f"{1 if f.name == 'max_new_tokens' else 0}).")
            values[f.name] = v if f.type == "float" else int(v)
        return cls(**values)  # type: ignore[arg-type]


class Limiter:
    """Counts what each user is doing right now; thread-safe, process-wide for one app."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._running: dict[str, int] = defaultdict(int)
        self._votes: dict[str, deque[float]] = defaultdict(deque)

    @contextmanager
    def generation(self, user: str) -> Iterator[None]:
        """Hold one of the user's generation slots for the duration of the block."""
        cap = self.limits.max_gen_per_user
        with self._lock:
            if cap and self._running[user] >= cap:
                raise LimitError(f"You already have {self._running[user]} generations running (the limit is {cap}): "
                                 "wait for one to finish.")
            self._running[user] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[user] -= 1
                if self._running[user] <= 0:
                    del self._running[user]

    def running(self, user: str) -> int:
        with self._lock:
            return self._running.get(user, 0)

    def vote(self, user: str, now: float | None = None) -> None:
        """Count one vote, or raise LimitError when the user has used the minute's budget."""
        cap = self.limits.votes_per_min
        if not cap:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._votes[user]
            while q and q[0] <= now - 60.0:
                q.popleft()
            if len(q) >= cap:
                wait = max(1, math.ceil(q[0] + 60.0 - now))
                raise LimitError(f"Too many votes: {cap} a minute is the limit here; try again in {wait} s.")
            q.append(now)
            if len(self._votes) > 10_000:  # forgotten users
                for k in [k for k, v in self._votes.items() if not v or v[-1] <= now - 60.0]:
                    del self._votes[k]

    def max_new_tokens(self, requested: int) -> int:
        return max(1, min(int(requested), self.limits.max_new_tokens))
