"""The shared generation engine on the tiny model: determinism under batching, cancel, caps, pool pre-generation."""

from __future__ import annotations

import os
import queue
import threading

import pytest

from playground.core.engine import Engine, EngineBusy, RowDone, Token, engine_for
from playground.core.generation import Source, _encode, generate_pair, load_model, pregenerate_pairs, stream_pair

CACHE = os.environ.get("PLAYGROUND_CACHE") or os.path.join(os.path.dirname(__file__), "..", ".cache", "playground")
LONG_PROMPT = "Tell me everything you know about owls, their habits, their food and where they live."
SHORT_PROMPT = "Hi!"


@pytest.fixture
def loader(tmp_path, monkeypatch):
    """Loads each (model, adapter) once for this test: a fresh model, so a fresh engine."""
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_CACHE", os.path.abspath(CACHE))
    cache: dict = {}

    def get(model: str, adapter: str):
        if (model, adapter) not in cache:
            cache[(model, adapter)] = load_model(model, adapter, device="cpu")
        return cache[(model, adapter)]

    return get


def _ids(tok, prompt: str) -> list[int]:
    return _encode(tok, [prompt], "cpu")["input_ids"][0].tolist()


def test_two_users_batched_together_get_exactly_their_solo_texts(loader):
    """Alice's long pair is decoding when Bob's pair (another prompt length, other settings and seed) joins the
    running batch; each gets the texts it gets alone, through the engine and through the old per-request path."""
    alice = [Source(model="tiny", temperature=0.8, top_p=0.9, max_new_tokens=120),
             Source(model="tiny", temperature=1.3, top_k=50, max_new_tokens=90)]
    bob = [Source(model="tiny", temperature=0.0, max_new_tokens=20),
           Source(model="tiny", temperature=1.0, top_p=0.5, max_new_tokens=25)]
    a_steps = stream_pair(LONG_PROMPT, alice, seed=7, loader=loader, min_new_tokens=120, user="alice")
    first = next(a_steps)  # alice's rows are decoding now
    assert not first.done and any(first.texts)
    got: dict = {}
    th = threading.Thread(target=lambda: got.update(
        bob=generate_pair(SHORT_PROMPT, bob, seed=1234, loader=loader, user="bob")))
    th.start()
    a_final = [s for s in a_steps][-1]
    th.join()
    model, tok = loader("tiny", "")
    assert engine_for(model, tok).max_rows_seen == 4  # both pairs shared decoding steps
    b_final = got["bob"]
    assert a_final.done and b_final.done and a_final.n_tokens == [120, 90]
    assert [s.seed for s in a_final.sources] == [7, 8] and [s.seed for s in b_final.sources] == [1234, 1235]
    for prompt, srcs, seed, batched, mtok in ((LONG_PROMPT, alice, 7, a_final, 120), (SHORT_PROMPT, bob, 1234,
                                                                                       b_final, 0)):
        alone = generate_pair(prompt, srcs, seed=seed, loader=loader, min_new_tokens=mtok, user="solo")
        old_path = generate_pair(prompt, srcs, seed=seed, loader=loader, min_new_tokens=mtok, engine=False)
        assert batched.texts == alone.texts == old_path.texts
        assert all(batched.texts)
    assert a_final.texts != b_final.texts


def test_cancel_frees_the_slot_for_the_waiting_request(loader):
    model, tok = loader("tiny", "")
    eng = Engine(model, tok, max_batch=2)
    long = [Source(model="tiny", temperature=1.0, max_new_tokens=900)] * 2
    bob = [Source(model="tiny", temperature=0.7, max_new_tokens=12)] * 2
    a_sink: queue.Queue = queue.Queue()
    a = eng.submit(_ids(tok, LONG_PROMPT), long, [1, 2], user="alice", min_new_tokens=900, sink=a_sink)
    a_sink.put(a_sink.get())  # wait for alice's first token: her two rows fill the batch
    b = eng.submit(_ids(tok, SHORT_PROMPT), bob, [5, 6], user="bob")
    assert b.queue_position() == 1  # saturated: bob waits, and can be told where he stands
    a.cancel()
    b_events = list(b.events())
    b_tokens = {ev.row: ev.tokens for ev in b_events if isinstance(ev, RowDone)}
    assert sorted(b_tokens) == [0, 1] and all(len(t) == 12 for t in b_tokens.values())
    a_events = []
    while not a_sink.empty():
        a_events.append(a_sink.get()[1])
    assert not any(isinstance(ev, RowDone) for ev in a_events)  # alice never finished: her cancel let bob in
    assert sum(isinstance(ev, Token) for ev in a_events) < 1800
    assert eng.load() == {"running": 0, "waiting": 0}
    solo = generate_pair(SHORT_PROMPT, bob, seed=5, loader=loader, engine=False)
    assert [tok.decode(b_tokens[i], skip_special_tokens=True).strip() for i in (0, 1)] == solo.texts


def test_user_over_the_cap_is_refused_and_closing_a_stream_frees_it(loader):
    srcs = [Source(model="tiny", temperature=1.0, max_new_tokens=900)] * 2
    first = stream_pair(LONG_PROMPT, srcs, seed=1, loader=loader, min_new_tokens=900, user="carol")
    second = stream_pair(LONG_PROMPT, srcs, seed=3, loader=loader, min_new_tokens=900, user="carol")
    next(first), next(second)  # 4 rows in flight: carol's cap
    with pytest.raises(EngineBusy, match=r"already have 4 generation\(s\) running or waiting"):
        next(stream_pair(SHORT_PROMPT, srcs, seed=5, loader=loader, user="carol"))
    short = [Source(model="tiny", temperature=1.0, max_new_tokens=5)] * 2
    assert generate_pair(SHORT_PROMPT, short, seed=5, loader=loader, user="dave").done  # others are served
    first.close()  # carol's browser left: her rows are cancelled
    again = generate_pair(SHORT_PROMPT, short, seed=5, loader=loader, user="carol")
    assert again.done and again.n_tokens == [5, 5]
    second.close()


def test_pregenerate_pairs_reports_progress_and_matches_single_pairs(loader):
    srcs = [Source(model="tiny", temperature=0.7, max_new_tokens=8), Source(model="tiny", temperature=1.2,
                                                                           max_new_tokens=8)]
    prompts = [f"Question number {i}?" for i in range(5)]
    progress: list[tuple[int, int]] = []
    stored: dict[int, list[str]] = {}
    outs = pregenerate_pairs(prompts, srcs, seed=100, loader=loader,
                             on_pair=lambda i, p, out: stored.__setitem__(i, out.texts),
                             on_progress=lambda d, t: progress.append((d, t)))
    assert sorted(progress) == [(d, 5) for d in range(1, 6)]
    assert sorted(stored) == list(range(5)) and all(all(t) for t in stored.values())
    assert outs[3].texts == generate_pair(prompts[3], srcs, seed=106, loader=loader, engine=False).texts
    stopped = pregenerate_pairs(prompts, srcs, seed=100, loader=loader, should_stop=lambda: True)
    assert stopped == [None] * 5


def test_a_room_of_six_pairs_decoding_together_gets_the_per_request_texts(loader):
    """12 rows in one batch (the rows are then sampled on several threads, and the cache grows past its spare
    columns): every pair equals what the old per-request path gives for its prompt and seed."""
    srcs = [Source(model="tiny", temperature=0.7, top_p=0.9, max_new_tokens=70),
            Source(model="tiny", temperature=1.2, top_p=0.95, max_new_tokens=70)]
    prompts = [SHORT_PROMPT, LONG_PROMPT, "Why is the sea salty?", "Name a bird.", "Count to ten.", "Say hello."]
    model, tok = loader("tiny", "")  # loaded once, before the threads: one model, one engine
    got: dict = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, generate_pair(
        prompts[i], srcs, seed=50 + 2 * i, loader=loader, min_new_tokens=70, user=f"user{i}"))) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert engine_for(model, tok).max_rows_seen >= 8
    for i in range(6):
        assert got[i].n_tokens == [70, 70]
        assert got[i].texts == generate_pair(prompts[i], srcs, seed=50 + 2 * i, loader=loader, min_new_tokens=70,
                                             engine=False).texts


EXIT_MID_BATCH = r"""
import os, sys
from playground.core.generation import Source, load_model, stream_pair
loaded = {}
def loader(model, adapter):
    if (model, adapter) not in loaded:
        loaded[(model, adapter)] = load_model(model, adapter, device="cpu")
    return loaded[(model, adapter)]
srcs = [Source(model="tiny", temperature=1.0, max_new_tokens=400)] * 2
steps = stream_pair("Tell me a long story.", srcs, seed=3, loader=loader, min_new_tokens=400)
for i, _ in enumerate(steps):
    if i == 20:
        print("exiting mid-batch", flush=True)
        sys.exit(0)  # the worker is inside a decoding step
"""


def test_a_process_leaving_mid_batch_exits_cleanly(tmp_path):
    """The app stopping while a batch decodes: the worker finishes its step and returns at exit, so the process
    exits 0 (a daemon worker killed inside a torch op made the C++ runtime abort: 'terminate called without an
    active exception', exit -6)."""
    import subprocess
    import sys

    env = dict(os.environ, PLAYGROUND_HOME=str(tmp_path), PLAYGROUND_CACHE=os.path.abspath(CACHE),
               HF_HUB_OFFLINE="1", PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", EXIT_MID_BATCH], env=env, capture_output=True, text=True,
                          timeout=300)
    assert "exiting mid-batch" in proc.stdout, proc.stderr[-2000:]
    assert "terminate called" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]
