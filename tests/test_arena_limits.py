"""Per-user limits in the arena (issue 13) and the vote guards (issue 14 item 9): a user over the generation cap,
over the votes-per-minute budget, or voting on a pair shown for under half a second is refused with one line and
nothing is stored; max new tokens is clamped to the server's cap; a signed-in user votes under their own name.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_arena_limits.py
"""

from __future__ import annotations

import time
from typing import Any

import gradio as gr
import pytest

from playground.core.errors import ConfigError
from playground.core.jobs import JobRunner
from playground.core.limits import Limiter, LimitError, Limits
from playground.core.workspace import Workspace
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.arena import Arena, PromptMode, Vote, Who
from playground.ui.context import AppContext
from playground.ui.tabs import preferences as arena_tab
from playground.ui.tabs import preferences_handlers as h
from playground.ui.tabs.preferences_handlers import ArenaTab

SRC = [{"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9},
       {"model": "tiny", "adapter": "", "temperature": 1.2, "top_p": 0.9}]


def build(home: Any, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[AppContext, ArenaTab]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ws = Workspace()
    ctx = AppContext(ws=ws, jobs=JobRunner(ws), default_model="tiny")
    with gr.Blocks():
        t = arena_tab.build(ctx)
    return ctx, t


def form(ctx: AppContext, mode: PromptMode, prompt: str = "", max_new_tokens: int = 8) -> dict[Any, Any]:
    t = ctx.arena
    assert t is not None
    values = {t.mode: mode.value, t.dataset: None, t.prompt: prompt, t.cursor: 0, t.annotator: "ana",
              t.pool: "room", t.seed: 0}
    for side, temperature in zip(t.sides, (0.7, 1.2), strict=True):
        values.update(zip(side, ["tiny", "", temperature, 0.9, max_new_tokens], strict=True))
    return values


def share(ws: Workspace, n: int) -> None:
    for i in range(n):
        prefs.add_pool_pair(ws, f"Prompt {i}", [f"first {i}", f"second {i}"], SRC, pool="room")


def load(t: ArenaTab, values: dict[Any, Any]) -> dict[str, Any]:
    (frame,) = list(h.on_generate(t, values))  # a pool pair comes in one frame
    assert frame[t.served] is not None
    return frame[t.served]


def vote(t: ArenaTab, choice: str, served: dict[str, Any] | None) -> dict[Any, Any]:
    """What /arena_vote does: ana votes in pool "room", no RM judge."""
    return h.on_vote_api(t, choice, served, annotator_v="ana", reason_v="", rating_a=None, rating_b=None,
                         pool_v="room", judge_v="off")


def test_limiter_counts_each_user_on_their_own() -> None:
    lim = Limiter(Limits(max_gen_per_user=2, votes_per_min=3))
    with lim.generation("ana"), lim.generation("ana"):
        with pytest.raises(LimitError, match="limit is 2"), lim.generation("ana"):
            pass
        with lim.generation("bob"):  # another user is not held up by ana
            assert lim.running("bob") == 1
    with lim.generation("ana"):  # both slots were given back
        assert lim.running("ana") == 1
    for t in (0.0, 1.0, 2.0):
        lim.vote("ana", now=t)
    with pytest.raises(LimitError, match="3 a minute.*try again in 58 s"):
        lim.vote("ana", now=2.5)
    lim.vote("bob", now=2.5)
    lim.vote("ana", now=60.5)  # the first vote left the window
    assert lim.max_new_tokens(10_000) == 256 and lim.max_new_tokens(0) == 1


def test_limits_from_the_environment_and_bad_values_in_one_line() -> None:
    got = Limits.from_env({"PLAYGROUND_MAX_GEN_PER_USER": "3", "PLAYGROUND_MAX_NEW_TOKENS": "64",
                           "PLAYGROUND_MAX_VOTES_PER_MIN": "0", "PLAYGROUND_MIN_VOTE_S": "0.25"})
    assert got == Limits(max_gen_per_user=3, max_new_tokens=64, votes_per_min=0, min_vote_s=0.25)
    assert Limits.from_env({}) == Limits(2, 256, 30, 0.5)
    for key, raw in (("PLAYGROUND_MAX_NEW_TOKENS", "0"), ("PLAYGROUND_MAX_GEN_PER_USER", "two"),
                     ("PLAYGROUND_MIN_VOTE_S", "nan"), ("PLAYGROUND_MAX_VOTES_PER_MIN", "-1")):
        with pytest.raises(ConfigError, match=key) as e:
            Limits.from_env({key: raw})
        assert "\n" not in str(e.value)


def test_a_user_over_the_generation_cap_is_refused_with_a_message(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, t = build(home, monkeypatch, PLAYGROUND_MAX_GEN_PER_USER="2")
    values = form(ctx, PromptMode.TYPED, "Count to ten.", max_new_tokens=8)
    first, second = h.on_generate(t, values), h.on_generate(t, values)
    assert next(first)[t.out_a] is not None and next(second)[t.out_a] is not None  # both streaming, both holding a slot
    with pytest.warns(UserWarning, match=r"already have 2 generations running \(the limit is 2\)"):
        third = list(h.on_generate(t, values))
    assert third == [{t.served: gr.skip()}]  # nothing shown, nothing served: Gradio leaves every other output as it is
    first.close()  # a finished (or abandoned) stream gives its slot back
    fourth = list(h.on_generate(t, values))
    assert fourth[-1][t.served] is not None and fourth[-1][t.served]["texts"]
    second.close()


def test_max_new_tokens_is_clamped_to_the_servers_cap(home: Any, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    ctx, t = build(home, monkeypatch, PLAYGROUND_MAX_NEW_TOKENS="3")
    frames = list(h.on_generate(t, form(ctx, PromptMode.TYPED, "Say hi.", max_new_tokens=500)))
    served = frames[-1][t.served]
    assert [s["max_new_tokens"] for s in served["sources"]] == [3, 3]
    assert "capped at 3" in capsys.readouterr().out  # told once, as a notice


def test_votes_per_minute_over_the_budget_are_refused(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, t = build(home, monkeypatch, PLAYGROUND_MAX_VOTES_PER_MIN="3", PLAYGROUND_MIN_VOTE_S="0")
    share(ctx.ws, 5)
    values = form(ctx, PromptMode.POOL)
    for _ in range(3):
        out = vote(t, "a", load(t, values))
        assert out[t.reveal].startswith("Last vote")
    served = load(t, values)
    with pytest.warns(UserWarning, match="Too many votes: 3 a minute is the limit"):
        out = vote(t, "b", served)
    assert out[t.advance] is False and not served["voted"]
    assert prefs.counts(ctx.ws, "room", "ana") == (3, 3)


def test_a_vote_on_a_pair_shown_under_half_a_second_is_ignored(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAYGROUND_MIN_VOTE_S", raising=False)  # the default: 0.5 s
    ctx, t = build(home, monkeypatch)
    share(ctx.ws, 1)
    served = load(t, form(ctx, PromptMode.POOL))
    with pytest.warns(UserWarning, match="Vote ignored: that pair was on screen for 0.[0-4] s"):
        out = vote(t, "a", served)
    assert out[t.advance] is False and prefs.counts(ctx.ws, "room", "ana") == (0, 0)
    time.sleep(0.6)  # the annotator reads it: the same pair now takes the vote
    out = vote(t, "a", served)
    assert out[t.reveal].startswith("Last vote") and prefs.counts(ctx.ws, "room", "ana") == (1, 1)


def test_a_signed_in_user_votes_under_the_signed_in_name(home: Any) -> None:
    ws = Workspace()
    arena = Arena(ws, limits=Limits(min_vote_s=0))
    served = prefs.serve_pair("Hi", ["x", "y"], SRC, pool="room")
    r = arena.vote(served, Vote("a", annotator="somebody-else", pool="room"), Who(name="ana", session="s1"))
    assert "**ana:** 1 votes" in r.counter
    (row,) = ws.pairs("room")
    assert row["annotator"] == "ana"
    # auth off (no signed-in name): the typed name is used
    served = prefs.serve_pair("Hi", ["x", "z"], SRC, pool="room")
    arena.vote(served, Vote("b", annotator="  bea ", pool="room"), Who(session="s2"))
    assert sorted(r["annotator"] for r in ws.pairs("room")) == ["ana", "bea"]
