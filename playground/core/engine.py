"""One generation engine per loaded model: continuous batching across every pending request from every user.

    from playground.core.engine import engine_for

    eng = engine_for(model, tok)                      # one per loaded model (+ merged adapter), made on demand
    ticket = eng.submit(prompt, [src_a, src_b], seeds=[3, 4], user="alice")
    for ev in ticket.events():                        # Token / RowDone events as the rows grow
        ...
    ticket.cancel()                                   # frees the rows' slots at the next step

Why not transformers' own continuous batching (`model.init_continuous_batching()` / `generate_batch`,
transformers 5.23)? It runs on CPU with our models (checked: tiny model, paged sdpa), but samples every
request from one global torch RNG seeded once (`continuous_batching_config.seed` -> `torch.manual_seed`), so
a request's text depends on who else was in the batch. The arena stores a seed with every vote and promises
that a side is reproducible from it, so this engine samples each row from its own logits with its own
`torch.Generator`, exactly as `generation.PerRowSampler` does inside one `generate` call.

How it works: one worker thread per engine (started on demand, gone after `IDLE_S` without work) holds one
left-padded batch and its DynamicCache. Between decoding steps it drops finished and cancelled rows (the
cache rows are index-selected away), admits waiting requests (each prompt is prefilled alone, once for all
rows of a request that share it, and its cache is left-padded into the batch), then runs one forward pass
for all rows: every row feeds its last token at its own position (`position_ids`), padding columns are
masked out. Admission is fair: the next request admitted is the oldest one of the user with the fewest rows
running; at most `max_batch` rows decode at once; a user may hold at most `per_user` rows (running plus
waiting) and is refused with a one-line message beyond that; `queue_position()` says how many rows must
be admitted first.

Determinism: a row's tokens come from its own logits, its own generator and its own settings; other rows
only change the padding around it, which the mask removes (up to float rounding in a batched matmul, far
below what changes a sampled token). tests/test_engine.py checks two users' texts under batching against
each one generated alone.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from playground.core.errors import ModelError

IDLE_S = 30.0  # the worker thread exits after this long without requests (it keeps the model alive)


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "") or default))
    except ValueError:
        return default


MAX_BATCH = _env_int("PLAYGROUND_ENGINE_BATCH", 48)  # rows decoding at once (a room of 20-24, 2 rows each)
PER_USER = _env_int("PLAYGROUND_ENGINE_PER_USER", 4)  # rows a user may have running or waiting (2 pairs)
MAX_WAITING = _env_int("PLAYGROUND_ENGINE_QUEUE", 256)  # rows waiting in all, beyond that everyone is refused
# Torch CPU threads of the worker (0: torch's default). On the shared 2-core box, a worker thread with torch's
# 2 OpenMP threads ran a tiny-model pair 10-25x slower than with 1 (0.8 s vs 9-11 s; the main thread's plain
# generate: 0.4-2 s), so CPU engines default to 1; set it to 2+ on a quiet multi-core machine and measure.
THREADS = int(os.environ.get("PLAYGROUND_ENGINE_THREADS", "1") or 0)
# Threads that sample the rows of a step. Each row draws from its own generator over the whole vocabulary
# (torch.multinomial draws one Exp(1) variate per token: ~3 ms a row for SmolLM2's 49k, as much as a third of a
# 40-row step), and torch releases the GIL meanwhile, so rows are sampled in parallel; a row's draws do not
# depend on which thread takes it.
SAMPLE_THREADS = _env_int("PLAYGROUND_ENGINE_SAMPLE_THREADS", min(4, os.cpu_count() or 1))


def engine_enabled() -> bool:
    """`PLAYGROUND_ENGINE=0` switches the arena back to one `generate` call per request (the benchmark does)."""
    return os.environ.get("PLAYGROUND_ENGINE", "1").strip().lower() not in ("0", "false", "no", "off")


class EngineBusy(ModelError):
    """A request refused at admission: the user already has too many rows, or the queue is full."""


class EngineUnsupported(RuntimeError):
    """The model's cache is not a plain DynamicCache (sliding windows, ...): callers fall back to generate()."""


def current_user() -> str:
    """Who the running gradio handler serves: the login name, else the browser session, else '' (CLI, tests).

    Read from gradio's request context only when gradio is already loaded, so CLI paths never import it."""
    ctx = sys.modules.get("gradio.context")
    if ctx is None:
        return ""
    try:
        req = ctx.LocalContext.request.get(None)
    except Exception:  # noqa: BLE001 - no request context in this thread
        return ""
    if req is None:
        return ""
    return getattr(req, "username", None) or getattr(req, "session_hash", None) or ""


# -- events a ticket delivers -----------------------------------------------------------------------
@dataclass
class Token:
    row: int
    token: int
    ttft_ms: float  # from submit to this row's first token


@dataclass
class RowDone:
    row: int
    tokens: list[int]  # the row's tokens, EOS excluded
    ttft_ms: float | None
    total_ms: float  # from admission (the row started decoding) to its end


@dataclass
class Failed:
    error: BaseException


@dataclass
class _Row:
    ticket: Ticket
    index: int  # row index inside its ticket
    source: Any  # generation.Source
    gen: Any  # torch.Generator
    tokens: list[int] = field(default_factory=list)
    last: int = -1  # the sampled token not yet fed to the model
    done: bool = False
    ttft_ms: float | None = None
    started: float = 0.0


class Ticket:
    """One request: a prompt and len(sources) rows, each with its own settings and seed."""

    _ids = itertools.count()

    def __init__(self, engine: Engine, prompt_ids: list[int], sources: Sequence[Any], seeds: Sequence[int],
                 user: str, min_new_tokens: int, sink: queue.Queue | None = None) -> None:
        self.id = next(self._ids)
        self.engine = engine
        self.prompt_ids = list(prompt_ids)
        self.sources = list(sources)
        self.seeds = [int(s) for s in seeds]
        self.user = user
        self.min_new_tokens = int(min_new_tokens)
        self.submitted = time.perf_counter()
        self.cancelled = False
        self.admitted = False
        self._sink: queue.Queue = sink if sink is not None else queue.Queue()  # (ticket, event) pairs
        self._open = len(self.sources)

    @property
    def size(self) -> int:
        return len(self.sources)

    def cancel(self) -> None:
        """Drop this request: waiting, it leaves the queue; running, its rows leave at the next step."""
        self.engine._cancel(self)

    def queue_position(self) -> int:
        """0 once decoding; else 1 + the number of waiting rows that will be admitted before this request."""
        return self.engine._position(self)

    def events(self, poll_s: float | None = None) -> Iterator[Token | RowDone | Failed | None]:
        """Token and RowDone events until every row is done (None every poll_s while nothing happens)."""
        while self._open > 0:
            try:
                _, ev = self._sink.get(timeout=poll_s)
            except queue.Empty:
                yield None
                continue
            if isinstance(ev, RowDone):
                self._open -= 1
            yield ev
            if isinstance(ev, Failed):
                return

    def _put(self, ev: Token | RowDone | Failed) -> None:
        self._sink.put((self, ev))


class Engine:
    """The continuous-batching scheduler for one loaded (model, tokenizer)."""

    def __init__(self, model: Any, tok: Any, max_batch: int = MAX_BATCH, per_user: int = PER_USER,
                 max_waiting: int = MAX_WAITING) -> None:
        self.model = model
        self.tok = tok
        self.max_batch = max_batch
        self.per_user = per_user
        self.max_waiting = max_waiting
        self.device = next(model.parameters()).device
        self.eos = {i for i in (tok.eos_token_id, tok.pad_token_id) if i is not None}
        eos_cfg = tok.eos_token_id
        self.min_len_block = [eos_cfg] if isinstance(eos_cfg, int) else list(eos_cfg or [])
        self.unsupported = False
        self.steps = 0  # decoding steps run (a test and the benchmark read it)
        self.max_rows_seen = 0  # the widest batch a step has run
        self._lock = threading.Condition()
        self._waiting: list[Ticket] = []
        self._rows: list[_Row] = []  # the running batch, in cache order
        self._cache: Any = None
        self._mask: Any = None  # (rows, columns) 1 = real token, 0 = left padding
        self._thread: threading.Thread | None = None
        self._pool: Any = None  # the sampling threads (made on the first wide step)
        self._closing = False
        _LIVE.add(self)

    # -- public ---------------------------------------------------------------------------------------
    def submit(self, prompt_ids: list[int], sources: Sequence[Any], seeds: Sequence[int], user: str = "",
               min_new_tokens: int = 0, sink: queue.Queue | None = None, capped: bool = True) -> Ticket:
        """Queue one request; EngineBusy (one line) when the user or the engine is over its cap.

        sink: a queue shared by several tickets (it receives (ticket, event) pairs); capped=False skips the
        per-user and queue caps (the host's pool pre-generation keeps its own window)."""
        if self.unsupported:
            raise EngineUnsupported("this model's cache cannot be batched by the engine")
        if len(sources) != len(seeds) or not sources:
            raise ValueError("one seed per source, at least one source")
        t = Ticket(self, prompt_ids, sources, seeds, user, min_new_tokens, sink)
        with self._lock:
            mine = self._rows_of(user)
            if capped and user and mine + t.size > self.per_user:
                raise EngineBusy(f"You already have {mine} generation(s) running or waiting (at most "
                                 f"{self.per_user} each); wait for them to finish.")
            waiting = sum(w.size for w in self._waiting)
            if capped and waiting + t.size > self.max_waiting:
                raise EngineBusy(f"The generator is saturated ({waiting} generations waiting); try again in a "
                                 "minute.")
            self._waiting.append(t)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="generation-engine", daemon=True)
                self._thread.start()
            self._lock.notify_all()
        return t

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker after the step it is in (its requests fail with one line) and wait for it."""
        with self._lock:
            self._closing = True
            thread = self._thread
            self._lock.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def load(self) -> dict[str, int]:
        """Rows running and waiting now (for a status line)."""
        with self._lock:
            running = sum(1 for r in self._rows if not r.done and not r.ticket.cancelled)
            return {"running": running, "waiting": sum(w.size for w in self._waiting)}

    # -- admission and fairness -----------------------------------------------------------------------
    def _rows_of(self, user: str) -> int:
        running = sum(1 for r in self._rows if r.ticket.user == user and not r.done and not r.ticket.cancelled)
        return running + sum(w.size for w in self._waiting if w.user == user)

    def _admission_order(self) -> list[Ticket]:
        """Waiting tickets in the order they will be admitted: the oldest ticket of the user with the fewest
        rows running (counting those admitted before it in this order)."""
        running: dict[str, int] = {}
        for r in self._rows:
            running[r.ticket.user] = running.get(r.ticket.user, 0) + 1
        left = list(self._waiting)
        order = []
        while left:
            best = min(left, key=lambda t: (running.get(t.user, 0), t.id))
            order.append(best)
            left.remove(best)
            running[best.user] = running.get(best.user, 0) + best.size
        return order

    def _position(self, t: Ticket) -> int:
        with self._lock:
            if t.admitted or t.cancelled:
                return 0
            ahead = 0
            for w in self._admission_order():
                if w is t:
                    free = self.max_batch - len(self._rows)
                    return 0 if ahead + t.size <= free else 1 + ahead
                ahead += w.size
            return 0

    def _cancel(self, t: Ticket) -> None:
        with self._lock:
            t.cancelled = True
            if t in self._waiting:
                self._waiting.remove(t)
            self._lock.notify_all()

    def _admit(self) -> list[Ticket]:
        """Under the lock: waiting tickets that fit into the free rows, fairest first (stops at the first
        that does not fit, so a big request is not overtaken forever)."""
        taken = []
        free = self.max_batch - len(self._rows)
        for t in self._admission_order():
            if t.size > free and (self._rows or taken):
                break
            taken.append(t)
            free -= t.size
            self._waiting.remove(t)
            t.admitted = True
        return taken

    # -- the worker -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        import torch

        if THREADS and self.device.type == "cpu":
            torch.set_num_threads(THREADS)  # OpenMP: this worker thread's own team only
        while True:
            with self._lock:
                if self._closing:
                    victims = {r.ticket for r in self._rows} | set(self._waiting)
                    self._rows, self._waiting, self._cache, self._mask, self._thread = [], [], None, None, None
                    for t in victims:
                        t._put(Failed(ModelError("the app is shutting down; this generation was not finished")))
                    return
                self._drop_cancelled()
                if not self._rows and not self._waiting:
                    self._lock.wait(timeout=IDLE_S)
                    self._drop_cancelled()
                    if not self._rows and not self._waiting:
                        self._thread = None
                        self._cache = self._mask = None
                        return
                new = self._admit()
            try:
                with torch.inference_mode():
                    for t in new:
                        self._prefill(t)
                    with self._lock:
                        self._drop_cancelled()  # rows done at their first token (EOS, max_new_tokens=1)
                    if self._rows:
                        self._step()
            except BaseException as e:  # noqa: BLE001 - every running request learns of it
                if isinstance(e, EngineUnsupported):
                    self.unsupported = True
                with self._lock:
                    victims = {r.ticket for r in self._rows} | set(new)
                    self._rows, self._cache, self._mask = [], None, None
                for t in victims:
                    t._put(Failed(e))

    def _drop_cancelled(self) -> None:
        keep = [i for i, r in enumerate(self._rows) if not r.ticket.cancelled and not r.done]
        if len(keep) != len(self._rows):
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        """Keep only these batch rows (cache and mask), then cut leading columns that are padding in every row."""
        import torch

        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache = self._mask = None
            return
        idx = torch.tensor(keep, device=self.device)
        mask = self._mask.index_select(0, idx)
        real_cols = mask.any(dim=0).nonzero()
        start = int(real_cols[0]) if len(real_cols) else 0
        kv = [(k.index_select(0, idx)[:, :, start:], v.index_select(0, idx)[:, :, start:]) for k, v in
              self._layers()]
        self._mask = mask[:, start:]
        self._cache = self._new_cache(kv)

    def _layers(self) -> list[tuple[Any, Any]]:
        return [(layer.keys, layer.values) for layer in self._cache.layers]

    def _new_cache(self, kv: list[tuple[Any, Any]]) -> Any:
        from transformers import DynamicCache

        cache = DynamicCache()
        cache.layers = [_grow_layer()(k, v) for k, v in kv]
        return cache

    def _prefill(self, t: Ticket) -> None:
        """Run the prompt once, sample each row's first token, and left-pad the prompt's cache into the batch."""
        import torch
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        if t.cancelled:
            return
        ids = torch.tensor([t.prompt_ids], device=self.device)
        cache = DynamicCache(config=self.model.config)
        out = self.model(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache, use_cache=True,
                         logits_to_keep=1)
        cache = out.past_key_values
        if any(type(layer) is not DynamicLayer for layer in cache.layers):
            raise EngineUnsupported(f"{type(self.model).__name__} uses a cache the engine cannot batch")
        logits = out.logits[0, -1]
        now = time.perf_counter()
        rows = []
        for i, (src, seed) in enumerate(zip(t.sources, t.seeds, strict=True)):
            g = torch.Generator(device=self.device)
            g.manual_seed(seed)
            rows.append(_Row(ticket=t, index=i, source=src, gen=g, started=now))
        n = len(rows)
        kv = [(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1)) for layer in cache.layers]
        mask = torch.ones((n, ids.shape[1]), dtype=torch.long, device=self.device)
        with self._lock:
            if self._rows:
                cols = max(self._mask.shape[1], mask.shape[1])
                old_kv = [(_pad_left(k, cols), _pad_left(v, cols)) for k, v in self._layers()]
                kv = [(torch.cat([ok, _pad_left(k, cols)]), torch.cat([ov, _pad_left(v, cols)]))
                      for (ok, ov), (k, v) in zip(old_kv, kv, strict=True)]
                mask = torch.cat([_pad_left(self._mask, cols), _pad_left(mask, cols)])
            self._cache = self._new_cache(kv)
            self._mask = mask
            self._rows.extend(rows)
        for r in rows:
            self._take(r, logits)

    def _step(self) -> None:
        """One decoding step for every running row, then drop the rows that finished."""
        import torch

        rows = self._rows
        last = torch.tensor([[r.last] for r in rows], device=self.device)
        pos = self._mask.sum(dim=1, keepdim=True)  # each row's next position = its real tokens so far
        mask = torch.cat([self._mask, torch.ones((len(rows), 1), dtype=self._mask.dtype, device=self.device)], 1)
        cols = self._mask.shape[1]
        out = self.model(input_ids=last, attention_mask=mask, position_ids=pos, past_key_values=self._cache,
                         cache_position=torch.tensor([cols], device=self.device), use_cache=True)
        self.steps += 1
        self.max_rows_seen = max(self.max_rows_seen, len(rows))
        logits = out.logits[:, -1]
        with self._lock:
            self._mask = mask
        live = [(r, logits[i]) for i, r in enumerate(rows) if not r.done and not r.ticket.cancelled]
        for (r, _), tok in zip(live, self._sample_rows(live), strict=True):
            self._emit(r, tok)
        with self._lock:
            self._drop_cancelled()

    def _take(self, r: _Row, logits: Any) -> None:
        """Sample row r's next token from its logits; emit it, or finish the row (EOS or its length)."""
        self._emit(r, self._sample(r, logits))

    def _sample(self, r: _Row, logits: Any) -> int:
        from playground.core.sampling import sample_row

        scores = logits.float()
        if len(r.tokens) < r.ticket.min_new_tokens and self.min_len_block:
            scores = scores.clone()
            scores[self.min_len_block] = float("-inf")
        return sample_row(scores, r.source, r.gen)

    def _sample_rows(self, live: list[tuple[_Row, Any]]) -> list[int]:
        """Each row's next token; rows dealt round-robin to SAMPLE_THREADS threads, sampled in parallel."""
        n = min(SAMPLE_THREADS, len(live) // 4)
        if n < 2:
            return [self._sample(r, x) for r, x in live]
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=SAMPLE_THREADS, thread_name_prefix="engine-sample")
        chunks = [live[i::n] for i in range(n)]
        parts = list(self._pool.map(lambda c: [self._sample(r, x) for r, x in c], chunks))
        out = [0] * len(live)
        for i in range(n):
            out[i::n] = parts[i]
        return out

    def _emit(self, r: _Row, tok: int) -> None:
        limit = max(1, int(r.source.max_new_tokens))
        now = time.perf_counter()
        if r.ttft_ms is None:
            r.ttft_ms = (now - r.ticket.submitted) * 1000
        if tok in self.eos:
            r.done = True
        else:
            r.tokens.append(tok)
            r.last = tok
            r.ticket._put(Token(r.index, tok, r.ttft_ms))
            r.done = len(r.tokens) >= limit
        if r.done:
            r.ticket._put(RowDone(r.index, list(r.tokens), r.ttft_ms, (now - r.started) * 1000))


GROW_COLS = 64  # spare cache columns allocated at once: a step writes its column in place instead of re-copying


def _grow_layer() -> type:
    """A DynamicLayer that keeps its keys/values in a buffer with spare columns, so a decoding step writes one
    column in place. DynamicLayer's `torch.cat` re-copies the whole cache of every layer on every step (20% of a
    16-row step of SmolLM2 at 100 columns, growing with the length). The step sees the same numbers."""
    global _GROW
    if _GROW is None:
        from transformers.cache_utils import DynamicLayer

        class GrowLayer(DynamicLayer):
            def __init__(self, keys: Any, values: Any) -> None:
                super().__init__()
                self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
                self._n = keys.shape[2]
                self._k, self._v = self._alloc(keys), self._alloc(values)
                self.keys, self.values = self._k[:, :, :self._n], self._v[:, :, :self._n]

            def _alloc(self, x: Any) -> Any:
                buf = x.new_empty((x.shape[0], x.shape[1], x.shape[2] + GROW_COLS, x.shape[3]))
                buf[:, :, :x.shape[2]] = x
                return buf

            def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
                add = key_states.shape[2]
                if self._n + add > self._k.shape[2]:
                    self._k, self._v = self._alloc(self.keys), self._alloc(self.values)
                self._k[:, :, self._n:self._n + add] = key_states
                self._v[:, :, self._n:self._n + add] = value_states
                self._n += add
                self.keys, self.values = self._k[:, :, :self._n], self._v[:, :, :self._n]
                return self.keys, self.values

        _GROW = GrowLayer
    return _GROW


_GROW: type | None = None


def _pad_left(x: Any, cols: int) -> Any:
    """Left-pad a (rows, columns) mask or a (rows, heads, columns, dim) cache tensor with zeros to `cols`."""
    import torch.nn.functional as F

    dim = 1 if x.dim() == 2 else 2
    n = cols - x.shape[dim]
    if n <= 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim) + [n, 0]
    return F.pad(x, pad)


# -- one engine per loaded model ---------------------------------------------------------------------
_ENGINES_LOCK = threading.Lock()
_LIVE: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At interpreter exit each worker finishes its step and returns: a daemon thread still inside a torch op
    when the interpreter tears down made the C++ runtime abort ('terminate called without an active
    exception': tests/test_engine.py exits a process mid-batch)."""
    for eng in list(_LIVE):
        eng.close(timeout=10.0)


_ATTR = "_playground_engine"


def default_max_batch(model: Any, free_bytes: int | None) -> int:
    """Rows decoding at once: MAX_BATCH on a CPU (free_bytes None) or when PLAYGROUND_ENGINE_BATCH is set; on a GPU
    as many as the free memory holds KV cache for (models.engine_batch), never fewer than MAX_BATCH."""
    from playground.core.models import engine_batch

    if free_bytes is None or os.environ.get("PLAYGROUND_ENGINE_BATCH"):
        return MAX_BATCH
    dtype_bytes = next(model.parameters()).element_size()
    return max(MAX_BATCH, engine_batch(model.config, free_bytes, dtype_bytes=dtype_bytes))


def engine_for(model: Any, tok: Any) -> Engine:
    """The engine that serves this loaded model (stored on the model, so it lives and dies with it)."""
    with _ENGINES_LOCK:
        eng = model.__dict__.get(_ATTR)
        if eng is None or eng.tok is not tok:
            from playground.core.models import cuda_memory

            mem = cuda_memory() if next(model.parameters()).device.type == "cuda" else None
            eng = Engine(model, tok, max_batch=default_max_batch(model, mem[0] if mem else None))
            object.__setattr__(model, _ATTR, eng)
        return eng
