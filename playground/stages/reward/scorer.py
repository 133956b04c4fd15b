"""One batching scorer per loaded reward model: concurrent requests share forward passes.

    s = scorer_for(model, tok)                       # the same scorer for the same loaded model
    a, b = s.score([prompt, prompt], [text_a, text_b])   # blocks until scored; other threads' requests join
    s.passes                                         # forward-pass batches run so far (what a room saves)

A worker thread takes the first waiting request, collects whatever else arrives within `wait_s` (a few ms), up to
`max_rows` rows, and scores them all with service.score_batch in one call. Rows are right-padded and the head reads
the last real token, so a row scores the same (to float rounding) alone or in a batch. The worker ends after
`idle_s` without requests (and starts again on the next one), so a model dropped from the cache can be freed.
Used by the arena's RM judge (`pair_scorer`, which the UI hands to stages/preferences/judge.py) and the Reward
tab's "score any text".
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from playground.core.workspace import Workspace
from playground.stages.reward import service

ScoreFn = Callable[[Any, Any, list[Any], list[Any], int], list[float]]
_ATTR = "_playground_scorer"
_lock = threading.Lock()


def _score_batch(model: Any, tok: Any, prompts: list[Any], responses: list[Any], batch_size: int) -> list[float]:
    return service.score_batch(model, tok, prompts, responses, batch_size=batch_size)


class BatchScorer:
    def __init__(self, model: Any, tok: Any, wait_s: float = 0.005, max_rows: int = 32, idle_s: float = 30.0,
                 score_fn: ScoreFn = _score_batch) -> None:
        self.model, self.tok = model, tok
        self.wait_s, self.max_rows, self.idle_s = wait_s, max_rows, idle_s
        self.score_fn = score_fn
        self.passes = 0  # score_fn calls so far
        self._queue: queue.Queue[tuple[list[Any], list[Any], Future]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def score(self, prompts: list[Any], responses: list[Any]) -> list[float]:
        """Rewards for prompt/response pairs, in order, scored together with other waiting requests."""
        if len(prompts) != len(responses):
            raise ValueError("prompts and responses must have the same length")
        if not prompts:
            return []
        fut: Future = Future()
        with self._lock:
            self._queue.put((list(prompts), list(responses), fut))
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="rm-scorer", daemon=True)
                self._worker.start()
        return fut.result()

    def score_one(self, prompt: Any, response: Any) -> float:
        return self.score([prompt], [response])[0]

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:  # nothing arrived: end, unless a request slipped in while deciding
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            batch = [first]
            rows = len(first[0])
            deadline = time.monotonic() + self.wait_s
            while rows < self.max_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                batch.append(item)
                rows += len(item[0])
            self._serve(batch)

    def _serve(self, batch: list[tuple[list[Any], list[Any], Future]]) -> None:
        prompts = [p for ps, _, _ in batch for p in ps]
        responses = [r for _, rs, _ in batch for r in rs]
        try:
            self.passes += 1
            scores = self.score_fn(self.model, self.tok, prompts, responses, max(self.max_rows, len(prompts)))
        except BaseException as e:  # noqa: BLE001 - every waiting caller gets the error, the worker lives on
            for _, _, fut in batch:
                fut.set_exception(e)
            return
        i = 0
        for ps, _, fut in batch:
            fut.set_result(scores[i:i + len(ps)])
            i += len(ps)


def scorer_for(model: Any, tok: Any) -> BatchScorer:
    """The scorer of this loaded reward model (created on first use, kept on the model object)."""
    with _lock:
        s = getattr(model, _ATTR, None)
        if s is None:
            s = BatchScorer(model, tok)
            try:
                object.__setattr__(model, _ATTR, s)
            except (AttributeError, TypeError):  # an object that takes no attributes: a scorer per call
                pass
        return s


def score_text(model: Any, tok: Any, prompt: Any, response: Any) -> float:
    """One prompt/response scored through the model's shared scorer (the Reward tab's "score any text")."""
    return scorer_for(model, tok).score_one(prompt, response)


def pair_scorer(ws: Workspace, cache: Callable[[tuple[str, str], Callable[[], Any]], Any] | None = None,
                ) -> Callable[[str, Any, str, str], tuple[float, float]]:
    """The arena's RM judge as a callable the UI hands to the Preferences stage (which does not import this one):
    score(reward run id, prompt, text A, text B) -> (score A, score B), or a UserError with one line (a deleted or
    unfinished run). `cache(key, load)` shares loaded models (the UI passes AppContext.cached); the model's
    batching scorer (below) lets a room's votes judged at the same moment share one forward pass."""
    def score(run_id: str, prompt: Any, text_a: str, text_b: str) -> tuple[float, float]:
        run = ws.get_run(run_id)
        run_dir = str(service.reward_run_dir(run["run_dir"] if run else run_id))  # one-line error if gone or unfinished
        model, tok = (cache or (lambda _k, load: load()))(("rm", run_dir), lambda: service.load_reward_model(run_dir))
        a, b = scorer_for(model, tok).score([prompt, prompt], [text_a, text_b])  # shares a pass with other votes
        return a, b

    return score
