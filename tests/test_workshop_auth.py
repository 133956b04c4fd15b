"""A workshop room with sign-in on: annotators join with their name and the room code and vote at once through
gradio_client -> exactly one row per vote, each stored under the name its voter signed in with. Here 6 x 5 votes;
`bench/vote_load.py` runs it at workshop size (20 annotators x 50 votes = 1000 rows)."""

from __future__ import annotations

import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from playground.core.workspace import Workspace
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.arena import PromptMode

CLIENTS, VOTES, POOL, CODE = 6, 5, "room", "tulip-42"  # bench/vote_load.py: 20 x 50
SRC = [{"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9},
       {"model": "tiny", "adapter": "", "temperature": 1.2, "top_p": 0.9}]

# the arena tab behind the same guard and login page the full app uses, in its own process as in a real room
SERVER = """
import os
import sys
import time
import gradio as gr
from playground.core.auth import AuthConfig
from playground.core.jobs import JobRunner
from playground.core.workspace import Workspace
from playground.ui import guard
from playground.ui.app import launch_kwargs
from playground.ui.context import AppContext
from playground.ui.tabs import preferences

auth = AuthConfig.from_env("host:host-pw", sys.argv[1], oauth=False)
ws = Workspace()
ctx = AppContext(ws=ws, jobs=JobRunner(ws), default_model="tiny")
with gr.Blocks() as demo:
    preferences.build(ctx)
guard.install(demo, auth)
demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1",
            server_port=int(os.environ["PLAYGROUND_TEST_PORT"]), **launch_kwargs(auth))
while True:  # serve until terminated
    time.sleep(3600)
"""


@pytest.fixture
def room(tmp_path, monkeypatch, spawn_app):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_MAX_VOTES_PER_MIN", "0")  # 50 votes in a few minutes: storage, not the budget
    ws = Workspace()
    return ws, spawn_app(tmp_path, CODE, script=SERVER).url


def _annotate(url: str, name: str, votes: int) -> int:
    client = Client(url, auth=(name, CODE), verbose=False)
    rng = random.Random(name)
    for _ in range(votes):
        # the name field says "someone-else": the server records the signed-in name regardless
        client.predict("someone-else", POOL, "tiny", "", 0.7, 0.9, 16, "tiny", "", 1.2, 0.9, 16, -1,
                       PromptMode.POOL.value, None, "", api_name="/arena_generate")
        time.sleep(0.55)  # a vote on a pair shown for under 0.5 s is ignored
        client.predict(rng.choice(prefs.CHOICES), "someone-else", "", None, None, POOL, api_name="/arena_vote")
    return votes


def test_signed_in_annotators_voting_at_once_each_store_under_their_own_name(room) -> None:
    ws, url = room
    check_signed_in_votes(ws, url, CLIENTS, VOTES)


def check_signed_in_votes(ws, url: str, clients: int, votes: int) -> None:  # noqa: ANN001
    """`clients` signed-in sessions at once, `votes` votes each: exactly clients x votes rows, under their names."""
    for i in range(votes):
        prefs.add_pool_pair(ws, f"Workshop prompt {i}", [f"first {i}", f"second {i}"], SRC, pool=POOL)
    with ThreadPoolExecutor(clients) as ex:
        acked = sum(ex.map(lambda i: _annotate(url, f"ann-{i:02d}", votes), range(clients)))
    judged = ws.pairs(POOL, judged_only=True)
    assert acked == len(judged) == clients * votes
    per_name = Counter(r["annotator"] for r in judged)
    assert per_name == Counter({f"ann-{i:02d}": votes for i in range(clients)})  # nobody voted as someone else
    assert Counter((r["annotator"], r["pair_key"]) for r in judged).most_common(1)[0][1] == 1


def test_a_signed_in_vote_is_stored_under_the_signed_in_name(room) -> None:
    ws, url = room
    prefs.add_pool_pair(ws, "Say hi", ["hi", "hello"], SRC, pool=POOL)
    with pytest.raises(Exception):  # noqa: B017 - a wrong code gets no session at all
        Client(url, auth=("eve", "wrong-code"), verbose=False)
    _annotate_once(url, "solo")
    judged = ws.pairs(POOL, judged_only=True)
    assert [r["annotator"] for r in judged] == ["solo"]


def _annotate_once(url: str, name: str) -> None:
    client = Client(url, auth=(name, CODE), verbose=False)
    client.predict("someone-else", POOL, "tiny", "", 0.7, 0.9, 16, "tiny", "", 1.2, 0.9, 16, -1,
                   PromptMode.POOL.value, None, "", api_name="/arena_generate")
    time.sleep(0.55)
    client.predict("a", "someone-else", "", None, None, POOL, api_name="/arena_vote")
