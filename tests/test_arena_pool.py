"""Pre-generating pairs into a workshop pool (issue 15 item 2): the host's N pairs are stored with the form's two
sources and the progress reaches N; a second run adds more; stopping keeps what is done and stops early; bad
input is one line and stores nothing; an annotator in "Workshop pool" mode is then served a stored pair through
gradio_client against the launched app.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_arena_pool.py
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gradio_client import Client

from playground.core import builtin
from playground.core import engine as eng_mod
from playground.core.errors import PrefsError
from playground.core.jobs import JobRunner
from playground.core.workspace import Workspace
from playground.stages.preferences import pool
from playground.stages.preferences.arena import Arena, PromptMode, SourceSetup
from playground.ui.context import AppContext
from playground.ui.tabs import preferences as arena_tab
from playground.ui.tabs.preferences_workshop import on_pregenerate, on_stop_pregenerate

SIDES = (SourceSetup("tiny", "", 0.7, 0.9, 8), SourceSetup("tiny", "", 1.2, 0.9, 8))


def templates(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return [r for r in ws.pairs(name) if r["choice"] is None]


def test_pregenerate_stores_n_pairs_and_a_second_run_adds_more(home: Path) -> None:
    arena = Arena(Workspace())
    progress: list[tuple[int, int]] = []
    res = pool.pregenerate(arena, pool.PoolRequest(3, "room", SIDES, PromptMode.TYPED, seed=5),
                           on_progress=lambda d, t: progress.append((d, t)))
    assert (res.stored, res.requested, res.stopped) == (3, 3, False) and "3 pairs" in res.message
    assert sorted(progress) == [(1, 3), (2, 3), (3, 3)]
    rows = templates(arena.ws, "room")
    assert len(rows) == 3 and pool.pool_size(arena, "room") == 3
    for r in rows:  # the form's two sources, in order, with the seeds that made them
        assert (r["source_a"]["model"], r["source_a"]["temperature"]) == ("tiny", 0.7)
        assert (r["source_b"]["model"], r["source_b"]["temperature"]) == ("tiny", 1.2)
        assert r["source_a"]["seed"] is not None and r["response_a"] and r["response_b"]
    # typed mode: the built-in prompts (stored in the order they finish)
    assert sorted(r["prompt"] for r in rows) == sorted(builtin.prompts()[:3])

    again = pool.pregenerate(arena, pool.PoolRequest(2, "room", SIDES, PromptMode.TYPED, seed=5))
    rows = templates(arena.ws, "room")
    assert again.stored == 2 and len(rows) == 5 and len({r["pair_key"] for r in rows}) == 5
    assert sorted(r["prompt"] for r in rows[3:]) == sorted(builtin.prompts()[3:5])  # it continues, not repeats
    assert templates(arena.ws, "default") == []  # only the named pool


def test_pregenerate_from_a_dataset_and_bad_input(home: Path) -> None:
    arena = Arena(Workspace())
    arena.ws.add_rows("qs", [{"prompt": f"Question {i}?"} for i in range(4)], create=True)
    res = pool.pregenerate(arena, pool.PoolRequest(2, "room", SIDES, PromptMode.IN_ORDER, dataset="qs"))
    assert res.stored == 2
    assert sorted(r["prompt"][-1]["content"] for r in templates(arena.ws, "room")) == ["Question 0?", "Question 1?"]
    for bad, words in ((pool.PoolRequest(0, "room", SIDES), "between 1 and 500"),
                       (pool.PoolRequest(501, "room", SIDES), "between 1 and 500"),
                       (pool.PoolRequest(2, "room", SIDES, PromptMode.AT_RANDOM, dataset=None), "Pick a workspace")):
        with pytest.raises(PrefsError, match=words) as e:
            pool.pregenerate(arena, bad)
        assert "\n" not in str(e.value)
    assert len(templates(arena.ws, "room")) == 2  # nothing stored by the refused requests


def test_stop_keeps_what_is_done_and_stops_early(home: Path) -> None:
    arena = Arena(Workspace())
    n = 3 * max(1, eng_mod.MAX_BATCH // 4)  # three waves of the engine's share for pre-generation
    stopped = []
    res = pool.pregenerate(arena, pool.PoolRequest(n, "room", SIDES, seed=1),
                           on_progress=lambda d, t: stopped.append(d), should_stop=lambda: bool(stopped))
    assert res.stopped and 1 <= res.stored < n and res.message.startswith("⏹️ Stopped:")
    assert len(templates(arena.ws, "room")) == res.stored  # every finished pair kept, none half-made


def test_tab_control_shows_progress_and_the_annotator_gets_a_pool_pair(app_server: dict[str, Any],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's control in the tab (admin, private) fills the pool; an annotator through gradio_client in
    "Workshop pool" mode is served one of those pairs."""
    # the pool is filled in the served app's own workspace (other fixtures may have moved PLAYGROUND_HOME since)
    monkeypatch.setenv("PLAYGROUND_HOME", str(app_server["home"]))
    ctx = AppContext(ws=Workspace(), jobs=JobRunner(Workspace()), default_model="tiny")
    try:
        with gr.Blocks() as demo:
            tab = arena_tab.build(ctx)
        t, x = tab.targets, tab.extras
        assert ctx.arena is t
        (wired,) = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_pregenerate"]
        assert x.pool_n in wired.inputs and x.pool_n.label == "Pairs (N)"  # the button reads the slider

        def fn(values: dict[Any, Any]) -> Any:  # what the host's "Pre-generate N pairs into the pool" button runs
            return on_pregenerate(tab.arena, x, t, values)

        def stop_fn() -> str:  # the Stop button beside it
            return on_stop_pregenerate(x)

        values = {t.mode: PromptMode.TYPED.value, t.dataset: None, t.prompt: "", t.cursor: 0, t.annotator: "host",
                  t.pool: "room-ui", t.seed: 3}
        for side, s in zip(t.sides, SIDES, strict=True):
            values.update(zip(side, [s.model, s.adapter, s.temperature, s.top_p, s.max_new_tokens], strict=True))
        slider = x.pool_n
        values[slider] = 2
        msgs = list(fn(values))
        # the Stop button: the run ends early with what it finished
        assert stop_fn().startswith("Nothing is being pre-generated")
        values[t.pool], values[slider] = "room-stop", 40
        gen = fn(values)
        next(gen)
        assert stop_fn().startswith("⏹️ Stopping")
        last = list(gen)[-1]
        assert last.startswith("⏹️ Stopped: ") and "of 40 pairs added to pool 'room-stop'" in last, last
        assert len(templates(ctx.ws, "room-stop")) < 40
        # the host's browser leaves: gradio closes the handler, which stops the run; what finished is kept
        values[t.pool], values[slider] = "room-left", 40
        gen = fn(values)
        assert next(gen).startswith("⏳ 0 / 40 pairs")
        gen.close()
        for th in [th for th in threading.enumerate() if th.name == "pool-pregenerate-ui"]:
            th.join()
        assert len(templates(ctx.ws, "room-left")) < 40
    finally:
        ctx.jobs.close()
    assert msgs[0].startswith("⏳ 0 / 2 pairs") and msgs[-1].startswith("✅ 2 pairs added to pool 'room-ui'"), msgs
    stored = {(r["response_a"], r["response_b"]) for r in templates(ctx.ws, "room-ui")}
    assert len(stored) == 2

    client = Client(app_server["url"], verbose=False)
    args = ["ana", "room-ui", "tiny", "", 0.7, 0.9, 8, "tiny", "", 1.2, 0.9, 8, -1, PromptMode.POOL.value, None, ""]
    a, b, ttft_a, *_ = client.predict(*args, api_name="/arena_generate")
    assert (a, b) in stored or (b, a) in stored
    assert "shared pair" in ttft_a  # served from the pool, not generated
