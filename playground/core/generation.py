"""Batched side-by-side sampling for the preference arena, with streaming and time-to-first-token.

    from playground.core.generation import Source, generate_pair, stream_pair

    a = Source(model="bundled", temperature=0.7)
    b = Source(model="bundled", temperature=1.2, top_p=0.95)
    out = generate_pair("Tell me about owls.", [a, b], seed=0)   # PairOutput: texts, ttft_ms, total_ms
    for step in stream_pair("Tell me about owls.", [a, b], seed=0):
        print(step.texts)                                          # both sides, growing

By default each side is one row in the shared engine of its loaded model (playground/core/engine.py):
continuous batching of every user's requests, each row sampled with `sample_row` and its own generator,
so a side's text depends only on its prompt, settings and seed. `pregenerate_pairs` fills a workshop
pool through the same engine. `PLAYGROUND_ENGINE=0` (or engine=False) keeps the per-request path below,
which the benchmark (bench/workshop_load.py) compares against.

Per-request path: when both sides share a model (same model and adapter) they are generated in ONE
`model.generate` call with a batch of two rows. The rows may use different sampling settings: `PerRowSampler` does the
sampling itself (per-row temperature / top-k / top-p, and a per-row `torch.Generator` so each side is
reproducible from its seed and independent of other threads) and hands `generate` a one-hot score row,
so `generate` runs in greedy mode and simply takes the sampled token. `PerRowMaxNewTokens` stops each
row at its own length. Sides on different models run in two threads at once and stream into one queue.

transformers' TextIteratorStreamer only accepts batch size 1, so `_BatchStreamer` does the same job per
row. Time-to-first-token is measured per side from the start of its generate call (model loading, a
one-off, is not counted) to that side's first token; within one batched call both sides get their first
token in the same forward pass.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playground.core.models import ModelError
from playground.core.sampling import sample_row  # noqa: F401 - the per-row sampler both paths share

ModelLoader = Callable[[str, str], tuple[Any, Any]]  # (model name, adapter) -> (model, tokenizer)


@dataclass
class Source:
    """One side's generator: a model, an optional adapter (run id or folder), and sampling settings."""

    model: str = "bundled"
    adapter: str = ""  # '' for the base model, a run id (runs/<id>/adapter) or an adapter folder
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 128
    seed: int | None = None  # filled in by the generator when not given, and stored with the vote

    @property
    def key(self) -> tuple[str, str]:
        """Sides with the same key share one loaded model and one batched generate call."""
        return (self.model, self.adapter)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    def label(self) -> str:
        name = self.model + (f" + {Path(self.adapter).name if '/' in self.adapter else self.adapter}"
                             if self.adapter else "")
        return f"{name} (T={self.temperature:g}, top_p={self.top_p:g})"


@dataclass
class PairOutput:
    texts: list[str]
    ttft_ms: list[float | None]
    total_ms: float = 0.0
    n_tokens: list[int] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    done: bool = False
    queue_position: int = 0  # > 0 while the engine is saturated: rows to be admitted before this pair
    status: str = ""  # a line to show while waiting ("waiting for the generator: 3 ahead"), else ''


# -- model loading ----------------------------------------------------------------------------------
def adapter_path(adapter: str) -> Path:
    """A run id (runs/<id>/adapter) or a folder -> the adapter folder; ModelError if neither exists."""
    from playground.core.runs import adapter_dir

    p = Path(adapter).expanduser()
    found = p if p.is_dir() else adapter_dir(adapter)
    if found is None:
        raise ModelError(f"No adapter '{adapter}': not a folder and not a finished run with an adapter/ folder.")
    return found


# from_pretrained builds on the meta device by patching torch globally, so two threads loading at once
# corrupt each other ("Cannot copy out of meta tensor"); loads are serialised.
_LOAD_LOCK = threading.Lock()


def load_model(model: str, adapter: str = "", device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation. A LoRA adapter is merged into a private copy of the base."""
    with _LOAD_LOCK:
        return _load_model(model, adapter, device)


def _load_model(model: str, adapter: str, device: str) -> tuple[Any, Any]:
    from playground.core.models import contiguous_head_input, load_causal_lm, load_tokenizer, resolve

    spec = resolve(model)
    tok = load_tokenizer(spec)
    if adapter:
        path = adapter_path(adapter)
        if (path / "adapter_config.json").is_file():
            from peft import PeftModel

            base = load_causal_lm(spec, device)
            try:
                m = PeftModel.from_pretrained(base, str(path)).merge_and_unload()
            except Exception as e:  # noqa: BLE001 - e.g. adapter trained on another base model
                raise ModelError(f"Adapter '{adapter}' does not fit model '{model}': {str(e).splitlines()[0][:160]}") from None
        elif (path / "config.json").is_file():  # use_lora=False runs save the whole model there
            m = load_causal_lm(resolve(str(path)), device)
        else:
            raise ModelError(f"'{path}' holds neither an adapter nor a model.")
    else:
        m = load_causal_lm(spec, device)
    m.eval()
    skinny_linears(m)
    contiguous_head_input(m)  # generate's prefill slices the last position: a batched prefill's head ran slow
    return m, tok


SKINNY_ROWS = (2, 4)  # the row counts where W @ x^T beats F.linear here (bench/linear_rows.py)


def skinny_linears(model: Any) -> int:
    """Make CPU decode steps with 2-4 rows fast; returns how many Linear layers were patched.

    A decode step multiplies 1-2 hidden states (one per A/B side) by every weight matrix. The CPU BLAS
    behind `F.linear` takes a slow path for a few rows. On this 2-core box (bench/linear_rows.py, quiet),
    SmolLM2's 210 body matrices, read from RAM, took 39 ms for one row but 62 ms for two, and the
    49152 x 576 LM head took 10 ms vs 25 ms. The same product written as W @ x^T (a tall-skinny GEMM that
    streams the weights once) takes 38 ms and 8 ms for two rows, so a second row is almost free, as on a
    GPU. For one row, or 8 and more, F.linear is as fast or faster, so only no-grad CPU calls with 2-4 rows
    take the new path. Training, prefill and single rows are unchanged. The numbers are the same product
    (allclose, tests/test_generation.py); the end-to-end effect is bench/ab_generation.py's ratio."""
    import torch

    n = 0
    for mod in model.modules():
        if (type(mod) is not torch.nn.Linear or mod.weight.device.type != "cpu"
                or getattr(mod, "_skinny", False)):
            continue
        mod.forward = _skinny_forward(mod)
        mod._skinny = True
        n += 1
    return n


def _skinny_forward(mod: Any) -> Callable[[Any], Any]:
    import torch

    linear = mod.forward

    def forward(x: Any) -> Any:
        rows = x.numel() // max(1, x.shape[-1])
        if torch.is_grad_enabled() or not SKINNY_ROWS[0] <= rows <= SKINNY_ROWS[1] or x.dtype != mod.weight.dtype:
            return linear(x)
        y = torch.mm(mod.weight, x.reshape(rows, x.shape[-1]).t()).t().contiguous()
        if mod.bias is not None:
            y = y + mod.bias
        return y.reshape(*x.shape[:-1], mod.out_features)

    return forward


def default_loader() -> ModelLoader:
    """A process-wide cache of loaded models (the UI passes ctx.cached instead)."""
    cache: dict[tuple[str, str], tuple[Any, Any]] = {}
    lock = threading.Lock()

    def get(model: str, adapter: str) -> tuple[Any, Any]:
        with lock:
            if (model, adapter) not in cache:
                cache[(model, adapter)] = load_model(model, adapter)
            return cache[(model, adapter)]

    return get


_DEFAULT_LOADER: ModelLoader | None = None


def _loader(loader: ModelLoader | None) -> ModelLoader:
    global _DEFAULT_LOADER
    if loader is not None:
        return loader
    if _DEFAULT_LOADER is None:
        _DEFAULT_LOADER = default_loader()
    return _DEFAULT_LOADER


# -- per-row sampling inside one generate call -------------------------------------------------------
class PerRowSampler:
    """A LogitsProcessor that samples each row with its own settings and generator.

    It returns scores that are 0 at the sampled token and -inf elsewhere, so `generate(do_sample=False)`
    picks exactly that token. Rows with temperature <= 0 are greedy.
    """

    def __init__(self, sources: Sequence[Source], seeds: Sequence[int], device: Any) -> None:
        import torch

        self.sources = list(sources)
        self.gens = []
        for s in seeds:
            g = torch.Generator(device=device)
            g.manual_seed(int(s))
            self.gens.append(g)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores.float()
        out = torch.full_like(scores, float("-inf"))
        for i, src in enumerate(self.sources):
            out[i, sample_row(scores[i], src, self.gens[i])] = 0.0
        return out


class PerRowMaxNewTokens:
    """A StoppingCriteria that stops row i after limits[i] new tokens (the batch runs to the longest)."""

    def __init__(self, prompt_len: int, limits: Sequence[int]) -> None:
        self.prompt_len = prompt_len
        self.limits = list(limits)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        n = input_ids.shape[1] - self.prompt_len
        return torch.tensor([n >= lim for lim in self.limits], device=input_ids.device)


class _BatchStreamer:
    """transformers' streamer protocol (put/end) for a batch: per-row token lists, pushed to a callback."""

    def __init__(self, tok: Any, on_update: Callable[[int, str, bool, float | None], None], t0: float) -> None:
        self.tok = tok
        self.on_update = on_update  # (row, text so far, finished, time-to-first-token in ms)
        self.t0 = t0
        self.tokens: list[list[int]] = []
        self.finished: list[bool] = []
        self.ttft_ms: list[float | None] = []
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # the first call carries the prompt ids
            self._prompt_seen = True
            n = value.shape[0] if value.dim() > 1 else 1
            self.tokens = [[] for _ in range(n)]
            self.finished = [False] * n
            self.ttft_ms = [None] * n
            return
        now = (time.perf_counter() - self.t0) * 1000
        ids = value.view(-1).tolist()
        eos = set(_eos_ids(self.tok))
        for i, t in enumerate(ids):
            if self.finished[i]:
                continue
            if self.ttft_ms[i] is None:
                self.ttft_ms[i] = now
            if t in eos:
                self.finished[i] = True
            else:
                self.tokens[i].append(t)
            self.on_update(i, self.tok.decode(self.tokens[i], skip_special_tokens=True), self.finished[i],
                           self.ttft_ms[i])

    def end(self) -> None:
        for i in range(len(self.tokens)):
            if not self.finished[i]:
                self.finished[i] = True
                self.on_update(i, self.tok.decode(self.tokens[i], skip_special_tokens=True), True, self.ttft_ms[i])


def _eos_ids(tok: Any) -> list[int]:
    ids = {tok.eos_token_id, tok.pad_token_id}
    return [i for i in ids if i is not None]


def chat_prompt(prompt: str | list[dict[str, str]]) -> list[dict[str, str]]:
    """A plain string becomes one user turn; a message list is used as it is."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return list(prompt)


def _encode(tok: Any, prompts: Sequence[str | list[dict[str, str]]], device: Any) -> Any:
    texts = []
    for p in prompts:
        msgs = chat_prompt(p)
        if getattr(tok, "chat_template", None):
            texts.append(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        else:
            texts.append("\n".join(m["content"] for m in msgs) + "\n")
    # left padding: every row's next token goes in the same last column
    enc = tok(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    return {k: v.to(device) for k, v in enc.items()}


def generate_batch(
    model: Any, tok: Any, prompts: Sequence[str | list[dict[str, str]]], sources: Sequence[Source],
    seeds: Sequence[int], on_update: Callable[[int, str, bool, float | None], None] | None = None,
    min_new_tokens: int = 0,
) -> PairOutput:
    """One `generate` call over len(prompts) rows, row i sampled with sources[i] and seeds[i].

    min_new_tokens > 0 forbids EOS before that many tokens (benchmarks use it to fix lengths).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    if not (len(prompts) == len(sources) == len(seeds)):
        raise ValueError("prompts, sources and seeds must have the same length")
    device = next(model.parameters()).device
    enc = _encode(tok, prompts, device)
    limits = [max(1, int(s.max_new_tokens)) for s in sources]
    gen_cfg = GenerationConfig(
        do_sample=False, max_new_tokens=max(limits), min_new_tokens=min(min_new_tokens, max(limits)) or None,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
    )
    t0 = time.perf_counter()
    streamer = _BatchStreamer(tok, on_update or (lambda i, t, f, ms: None), t0)
    with torch.inference_mode():
        out = model.generate(
            **enc, generation_config=gen_cfg,
            logits_processor=LogitsProcessorList([PerRowSampler(sources, seeds, device)]),
            stopping_criteria=StoppingCriteriaList([PerRowMaxNewTokens(enc["input_ids"].shape[1], limits)]),
            streamer=streamer,
        )
    total = (time.perf_counter() - t0) * 1000
    new = out[:, enc["input_ids"].shape[1]:].tolist()
    eos = set(_eos_ids(tok))
    texts, counts = [], []
    for i, row in enumerate(new):
        row = row[:limits[i]]
        cut = next((j for j, t in enumerate(row) if t in eos), len(row))
        texts.append(tok.decode(row[:cut], skip_special_tokens=True).strip())
        counts.append(cut)
    srcs = [Source.from_dict({**s.to_dict(), "seed": int(sd)}) for s, sd in zip(sources, seeds, strict=True)]
    return PairOutput(texts=texts, ttft_ms=list(streamer.ttft_ms) or [None] * len(texts), total_ms=total,
                      n_tokens=counts, sources=srcs, done=True)


def _seeds(sources: Sequence[Source], seed: int | None) -> list[int]:
    """Each side's seed: its own if set, else seed + side index (so two equal settings still differ)."""
    import random

    base = seed if seed is not None else random.SystemRandom().randrange(2**31)
    return [int(s.seed) if s.seed is not None else base + i for i, s in enumerate(sources)]


def stream_pair(
    prompt: str | list[dict[str, str]], sources: Sequence[Source], seed: int | None = None,
    loader: ModelLoader | None = None, min_new_tokens: int = 0, engine: bool | None = None, user: str | None = None,
) -> Iterator[PairOutput]:
    """Yield PairOutput snapshots as both sides grow; the last one has done=True and the final texts.

    By default every side is one row in the shared engine of its (model, adapter) (playground.core.engine:
    continuous batching across all users' requests); engine=False, or PLAYGROUND_ENGINE=0 when engine is
    None, runs the old per-request path. Both give a side the same text for the same seed. While the engine
    is saturated the snapshots carry queue_position > 0 and a status line. user (default: the gradio
    caller) is who the fair share and the per-user cap count. Errors (ModelError for a bad model or
    adapter, EngineBusy for a refused request) are raised from the iterator; closing the iterator early
    (the browser left) cancels the request and frees its rows.
    """
    from playground.core import engine as eng_mod

    seeds = _seeds(sources, seed)
    if not (eng_mod.engine_enabled() if engine is None else engine):
        yield from _stream_pair_direct(prompt, sources, loader, min_new_tokens, seeds)
        return
    who = eng_mod.current_user() if user is None else user
    yield from _stream_pair_engine(prompt, sources, loader, min_new_tokens, seeds, who, capped=True)


def _stream_pair_engine(
    prompt: str | list[dict[str, str]], sources: Sequence[Source], loader: ModelLoader | None, min_new_tokens: int,
    seeds: list[int], who: str, capped: bool,
) -> Iterator[PairOutput]:
    from playground.core import engine as eng_mod

    get = _loader(loader)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(sources):
        groups.setdefault(s.key, []).append(i)
    loaded = {key: get(*key) for key in groups}  # ModelError surfaces here, before anything is queued
    sink: queue.Queue = queue.Queue()
    tickets: dict[Any, list[int]] = {}  # ticket -> the side index of each of its rows
    try:
        for key, idx in groups.items():
            model, tok = loaded[key]
            e = eng_mod.engine_for(model, tok)
            ids = _encode(tok, [prompt], "cpu")["input_ids"][0].tolist()
            t = e.submit(ids, [sources[i] for i in idx], [seeds[i] for i in idx], who, min_new_tokens, sink,
                         capped=capped)
            tickets[t] = idx
    except eng_mod.EngineUnsupported:
        for t in tickets:
            t.cancel()
        yield from _stream_pair_direct(prompt, sources, loader, min_new_tokens, seeds)
        return
    except BaseException:
        for t in tickets:
            t.cancel()
        raise
    n = len(sources)
    tokens: list[list[int]] = [[] for _ in range(n)]
    texts = [""] * n
    ttft: list[float | None] = [None] * n
    done = [False] * n
    tok_of = {t: loaded[sources[idx[0]].key][1] for t, idx in tickets.items()}
    t0 = time.perf_counter()
    shown_position = 0
    finished = False
    try:
        while not all(done):
            try:
                t, ev = sink.get(timeout=0.25)
            except queue.Empty:
                pos = max(t.queue_position() for t in tickets)
                if pos != shown_position:
                    shown_position = pos
                    yield PairOutput(texts=list(texts), ttft_ms=list(ttft), sources=list(sources),
                                     total_ms=(time.perf_counter() - t0) * 1000, queue_position=pos,
                                     status=f"waiting for the generator: {pos} ahead" if pos else "")
                continue
            if isinstance(ev, eng_mod.Failed):
                if isinstance(ev.error, eng_mod.EngineUnsupported) and not any(tokens):
                    for other in tickets:
                        other.cancel()
                    yield from _stream_pair_direct(prompt, sources, loader, min_new_tokens, seeds)
                    finished = True
                    return
                raise ev.error
            side = tickets[t][ev.row]
            if isinstance(ev, eng_mod.Token):
                tokens[side].append(ev.token)
                ttft[side] = ev.ttft_ms
                texts[side] = tok_of[t].decode(tokens[side], skip_special_tokens=True)
            else:
                done[side] = True
                ttft[side] = ev.ttft_ms
            shown_position = 0
            yield PairOutput(texts=list(texts), ttft_ms=list(ttft), total_ms=(time.perf_counter() - t0) * 1000,
                             sources=list(sources))
        finished = True
    finally:
        if not finished:  # the consumer stopped early (browser gone) or an error: free the rows
            for t in tickets:
                t.cancel()
    final_texts = [tok_of[t].decode(tokens[i], skip_special_tokens=True).strip()
                   for t, idx in tickets.items() for i in idx]
    order = [i for idx in tickets.values() for i in idx]
    out_texts = [""] * n
    for i, text in zip(order, final_texts, strict=True):
        out_texts[i] = text
    final_sources = [Source.from_dict({**s.to_dict(), "seed": int(sd)}) for s, sd in zip(sources, seeds, strict=True)]
    yield PairOutput(texts=out_texts, ttft_ms=ttft, total_ms=(time.perf_counter() - t0) * 1000,
                     n_tokens=[len(x) for x in tokens], sources=final_sources, done=True)


def _stream_pair_direct(
    prompt: str | list[dict[str, str]], sources: Sequence[Source], loader: ModelLoader | None, min_new_tokens: int,
    seeds: list[int],
) -> Iterator[PairOutput]:
    """The per-request path (PLAYGROUND_ENGINE=0): sides that share (model, adapter) run in one batched
    `generate` call of their own; other groups run in parallel threads."""
    get = _loader(loader)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(sources):
        groups.setdefault(s.key, []).append(i)
    n = len(sources)
    texts = [""] * n
    ttft: list[float | None] = [None] * n
    events: queue.Queue = queue.Queue()
    t0 = time.perf_counter()
    results: dict[tuple[str, str], PairOutput] = {}

    def work(key: tuple[str, str], idx: list[int]) -> None:
        try:
            model, tok = get(*key)

            def on_update(row: int, text: str, finished: bool, ttft_ms: float | None) -> None:
                events.put(("update", idx[row], (text, ttft_ms)))

            results[key] = generate_batch(model, tok, [prompt] * len(idx), [sources[i] for i in idx],
                                          [seeds[i] for i in idx], on_update, min_new_tokens)
            events.put(("done", key, None))
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            events.put(("error", key, e))

    threads = [threading.Thread(target=work, args=(k, v), daemon=True) for k, v in groups.items()]
    for th in threads:
        th.start()
    pending = len(threads)
    while pending:
        kind, who, payload = events.get()
        if kind == "error":
            for th in threads:  # let the other side finish: no thread left running inside torch
                th.join(timeout=60)
            raise payload
        if kind == "done":
            pending -= 1
            continue
        texts[who], ttft[who] = payload
        yield PairOutput(texts=list(texts), ttft_ms=list(ttft), total_ms=(time.perf_counter() - t0) * 1000,
                         sources=list(sources))
    final_texts, counts, final_sources = [""] * n, [0] * n, list(sources)
    for key, idx in groups.items():
        r = results[key]
        for j, i in enumerate(idx):
            final_texts[i], counts[i], final_sources[i] = r.texts[j], r.n_tokens[j], r.sources[j]
            ttft[i] = r.ttft_ms[j]
    # total of the generate calls themselves (they overlap when the sides run in parallel threads)
    yield PairOutput(texts=final_texts, ttft_ms=ttft, total_ms=max(r.total_ms for r in results.values()),
                     n_tokens=counts, sources=final_sources, done=True)


def generate_pair(
    prompt: str | list[dict[str, str]], sources: Sequence[Source], seed: int | None = None,
    loader: ModelLoader | None = None, min_new_tokens: int = 0, engine: bool | None = None, user: str | None = None,
) -> PairOutput:
    """The final PairOutput of stream_pair (no streaming)."""
    final = None
    for step in stream_pair(prompt, sources, seed, loader, min_new_tokens, engine, user):
        final = step
    assert final is not None and final.done
    return final


def pregenerate_pairs(
    prompts: Sequence[str | list[dict[str, str]]], sources: Sequence[Source], seed: int | None = None,
    loader: ModelLoader | None = None, on_pair: Callable[[int, Any, PairOutput], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None, should_stop: Callable[[], bool] | None = None,
    engine: bool | None = None, user: str = "pool-host",
) -> list[PairOutput | None]:
    """Generate one pair per prompt for a workshop pool, through the same engine the arena uses.

    Pairs run concurrently, at most half the engine's batch at a time, so annotators voting meanwhile
    keep their fair share. on_pair(index, prompt, output) is called as each pair finishes (e.g. to store
    it with prefs.add_pool_pair), on_progress(done, total) after it (a progress bar). should_stop() is
    checked between pairs; pairs not started are left as None. With a seed, pair i uses seed + 2*i, so a
    rerun gives the same pool. Returns the outputs in prompt order.
    """
    from concurrent.futures import ThreadPoolExecutor

    from playground.core import engine as eng_mod

    use = eng_mod.engine_enabled() if engine is None else engine
    total = len(prompts)
    results: list[PairOutput | None] = [None] * total
    done = 0
    lock = threading.Lock()
    stop = should_stop or (lambda: False)

    def one(i: int) -> None:
        nonlocal done
        if stop():
            return
        seeds = _seeds(sources, None if seed is None else seed + 2 * i)
        steps = (_stream_pair_engine(prompts[i], sources, loader, 0, seeds, user, capped=False) if use
                 else _stream_pair_direct(prompts[i], sources, loader, 0, seeds))
        out = None
        for step in steps:
            if stop():
                steps.close()  # cancels the rows in the engine
                return
            out = step
        assert out is not None and out.done
        results[i] = out
        if on_pair is not None:
            on_pair(i, prompts[i], out)
        with lock:
            done += 1
            n = done
        if on_progress is not None:
            on_progress(n, total)

    width = max(1, eng_mod.MAX_BATCH // (2 * max(1, len(sources)))) if use else 1
    with ThreadPoolExecutor(width, thread_name_prefix="pool-pregenerate") as ex:
        for f in [ex.submit(one, i) for i in range(total)]:
            f.result()  # the first error (ModelError ...) is raised here
    return results
