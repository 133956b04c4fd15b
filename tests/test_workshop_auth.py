"""A workshop room with sign-in on: 20 annotators join with their name and the room code and cast 50 votes each
through gradio_client -> exactly 1000 rows, each stored under the name its voter signed in with."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client import Client

from playground.core.workspace import Workspace
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.arena import PromptMode

from .conftest import REPO

CLIENTS, VOTES, POOL, CODE = 20, 50, "room", "tulip-42"
SRC = [{"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9},
       {"model": "tiny", "adapter": "", "temperature": 1.2, "top_p": 0.9}]

# the arena tab behind the same guard and login page the full app uses, in its own process as in a real room
SERVER = """
import sys
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
demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", **launch_kwargs(auth))
print("URL", demo.local_url, flush=True)
sys.stdin.read()
demo.close()
"""


@pytest.fixture
def room(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_MAX_VOTES_PER_MIN", "0")  # 50 votes in a few minutes: storage, not the budget
    ws = Workspace()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()
        assert line.startswith("URL "), f"server did not start: {line!r}"
        yield ws, line.split()[1]
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _annotate(url: str, name: str) -> int:
    client = Client(url, auth=(name, CODE), verbose=False)
    rng = random.Random(name)
    for _ in range(VOTES):
        # the name field says "someone-else": the server records the signed-in name regardless
        client.predict("someone-else", POOL, "tiny", "", 0.7, 0.9, 16, "tiny", "", 1.2, 0.9, 16, -1,
                       PromptMode.POOL.value, None, "", api_name="/arena_generate")
        time.sleep(0.55)  # a vote on a pair shown for under 0.5 s is ignored
        client.predict(rng.choice(prefs.CHOICES), "someone-else", "", None, None, POOL, api_name="/arena_vote")
    return VOTES


@pytest.mark.slow  # 2000 authenticated round trips: a few minutes on 2 busy cores
def test_twenty_signed_in_annotators_fifty_votes_each_store_exactly_1000_rows(room) -> None:
    ws, url = room
    for i in range(VOTES):
        prefs.add_pool_pair(ws, f"Workshop prompt {i}", [f"first {i}", f"second {i}"], SRC, pool=POOL)
    with ThreadPoolExecutor(CLIENTS) as ex:
        acked = sum(ex.map(lambda i: _annotate(url, f"ann-{i:02d}"), range(CLIENTS)))
    judged = ws.pairs(POOL, judged_only=True)
    assert acked == len(judged) == CLIENTS * VOTES == 1000
    per_name = Counter(r["annotator"] for r in judged)
    assert per_name == Counter({f"ann-{i:02d}": VOTES for i in range(CLIENTS)})  # nobody voted as someone else
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
