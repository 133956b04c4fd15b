"""Concurrent gradio_client sessions voting through the launched arena tab: every vote stored once, none lost or
doubled. Here 6 clients x 5 votes; `bench/vote_load.py` runs the same check at workshop size (20 x 50 = 1000 rows).

Each client is a separate browser session (its own gr.State): it loads a shared workshop-pool pair with
/arena_generate and votes on it with /arena_vote, as a person in a workshop room would.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from playground.core.workspace import Workspace
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.arena import PromptMode

CACHE = os.environ.get("PLAYGROUND_CACHE") or os.path.join(os.path.dirname(__file__), "..", ".cache", "playground")
CLIENTS, VOTES = 6, 5  # bench/vote_load.py: 20 x 50
POOL = "room"
SRC = [{"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9},
       {"model": "tiny", "adapter": "", "temperature": 1.2, "top_p": 0.9}]


# The server runs in its own process, as in a real workshop: 20 client threads and the server sharing one
# interpreter lock would measure the lock, not the arena.
SERVER = """
import os
import time
import gradio as gr
from playground.core.jobs import JobRunner
from playground.ui.tabs import preferences as arena_tab
from playground.ui.context import AppContext
from playground.core.workspace import Workspace

ws = Workspace()
ctx = AppContext(ws=ws, jobs=JobRunner(ws), default_model="tiny")
with gr.Blocks() as demo:
    arena_tab.build(ctx)
demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1",
            server_port=int(os.environ["PLAYGROUND_TEST_PORT"]))
while True:  # serve until terminated
    time.sleep(3600)
"""


@pytest.fixture
def app(tmp_path, monkeypatch, spawn_app):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_CACHE", os.path.abspath(CACHE))
    # 50 votes each in a few minutes is more than a person casts: this test measures storage under concurrency,
    # so the votes-per-minute budget is off (its own test is in test_arena_limits.py)
    monkeypatch.setenv("PLAYGROUND_MAX_VOTES_PER_MIN", "0")
    ws = Workspace()
    return ws, spawn_app(tmp_path, script=SERVER).url


def _generate_args(annotator: str) -> list:
    # the form in creation order: annotator, pool, source 1 (model, adapter, T, top_p, max), source 2, seed,
    # mode, dataset, prompt
    return [annotator, POOL, "tiny", "", 0.7, 0.9, 16, "tiny", "", 1.2, 0.9, 16, -1, PromptMode.POOL.value, None, ""]


def _annotate(url: str, annotator: str, votes: int) -> list[str]:
    client = Client(url, verbose=False)
    rng = random.Random(annotator)
    shown = []
    for _ in range(votes):
        a, b, *_ = client.predict(*_generate_args(annotator), api_name="/arena_generate")
        shown.append(a)
        time.sleep(0.55)  # read the pair: a vote on a pair shown for under 0.5 s is ignored
        _, counter, edit_text, _ = client.predict(rng.choice(prefs.CHOICES), annotator, "", None, None, POOL,
                                                  api_name="/arena_vote")
        assert f"**{annotator}:**" in counter
        assert edit_text in (a, b)  # the edit box holds an answer of the pair just judged
    # a second vote on the same loaded pair is refused, not stored twice
    again = client.predict("a", annotator, "", None, None, POOL, api_name="/arena_vote")
    assert "Last vote" not in str(again[0])  # refused with a warning: nothing revealed, nothing stored
    return shown


def test_concurrent_clients_each_vote_on_every_shared_pair_exactly_once(app):
    ws, url = app
    check_concurrent_votes(ws, url, CLIENTS, VOTES)


def check_concurrent_votes(ws, url: str, clients: int, votes: int) -> None:  # noqa: ANN001
    """`clients` sessions at once, `votes` votes each on `votes` shared pairs: exactly clients x votes rows."""
    keys = [prefs.add_pool_pair(ws, f"Workshop prompt {i}", [f"first answer {i}", f"second answer {i}"], SRC,
                                pool=POOL) for i in range(votes)]
    with ThreadPoolExecutor(clients) as ex:
        results = list(ex.map(lambda i: _annotate(url, f"annotator-{i:02d}", votes), range(clients)))
    judged = ws.pairs(POOL, judged_only=True)
    assert len(judged) == clients * votes
    per_annotator = Counter(r["annotator"] for r in judged)
    assert set(per_annotator.values()) == {votes} and len(per_annotator) == clients
    # every annotator judged every shared pair exactly once: nothing lost, nothing doubled
    assert Counter((r["annotator"], r["pair_key"]) for r in judged).most_common(1)[0][1] == 1
    assert {r["pair_key"] for r in judged} == set(keys)
    # each client saw a text of the pair it voted on, and the stored order matches the served one
    for r in judged:
        texts = {f"first answer {i}" for i in range(votes)} | {f"second answer {i}" for i in range(votes)}
        assert r["response_a"] in texts and r["response_b"] in texts
        slot1 = r["response_a"] if r["meta"]["a_slot"] == 1 else r["response_b"]
        assert slot1.startswith("first answer")
    assert all(len(s) == votes for s in results)
    assert prefs.counts(ws, POOL, "annotator-00") == (votes, clients * votes)
    # agreement statistics now have every annotator on every shared pair
    ag = prefs.agreement(ws, POOL)
    assert ag["pairs_with_several"] == votes and ag["comparisons"] == votes * clients * (clients - 1) // 2
