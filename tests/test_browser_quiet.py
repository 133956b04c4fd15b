"""An open page costs nothing while nothing changes (issue 14, item 5), and still shows a run as it goes.

Every Gradio event costs the browser work that grows with the page (the front end walks its ~700-component tree
for each loading status), so the live view and the pickers are fed by one plain poll (`/gradio_api/call/
page_poll`) and fire a Gradio event (`/queue/join`) only when something they show changed. These tests count the
requests the page really sends.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from playground.core.runs import write_status
from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def _open_sft(page, url: str) -> tuple[object, dict[str, Any]]:  # noqa: ANN001
    """(the fresh `page` on the SFT tab, a live count of the Gradio events and page polls it sends)."""
    calls: dict[str, Any] = {"events": 0, "polls": 0, "fns": []}

    def on_request(req) -> None:  # noqa: ANN001
        if "/queue/join" in req.url:
            calls["events"] += 1
            calls["fns"].append(json.loads(req.post_data or "{}").get("fn_index"))
        elif "/call/page_poll" in req.url and req.method == "POST":
            calls["polls"] += 1
    page.on("request", on_request)
    # counts the frames the page asks the browser for (installed before any of the page's own scripts)
    page.add_init_script("""(() => { const raf = window.requestAnimationFrame.bind(window); window.__frames = 0;
        window.requestAnimationFrame = (cb) => { window.__frames++; return raf(cb); }; })()""")
    page.goto(url)
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs (and _settle's quiet window starts after it)
    page.get_by_role("tab", name="2 · SFT", exact=True).click()
    return page, calls


def _settle(page, calls: dict[str, Any]) -> list[int]:  # noqa: ANN001
    """Wait until the page-load events are done (a busy machine answers them slowly): the page script has polled
    and no Gradio event was sent for 5 s (after the page-loaded mark, which _open_sft waited for: a starved
    renderer can take longer than 5 s to apply the load event, sending nothing); then start counting from zero.
    Returns the fn_index of each Gradio event sent till then."""
    for _ in range(40):
        before = calls["events"]
        page.wait_for_timeout(5_000)
        if calls["events"] == before and calls["polls"] >= 1:
            break
    sent = list(calls["fns"])
    calls.update(events=0, polls=0, fns=[])
    return sent


def test_an_idle_page_sends_no_gradio_event_and_picks_up_a_new_run(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    ctx = app_server["ctx"]
    for run_id in ctx.jobs.pending():  # an earlier test's job still writing would rightly move the page
        ctx.jobs.wait(run_id)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, calls = _open_sft(browser_page, app_server["url"])
    # opening the page: every tab's page-load handler in one event (app.page_load), the pickers' refresh, the
    # reopened tab and the arena's stored name: 4 page-load events (15 when each tab had its own)
    sent = _settle(page, calls)
    config = httpx.get(app_server["url"] + "config", timeout=60).json()
    on_load = {d["id"] for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])}
    loads = [i for i in sent if i in on_load]  # the rest: picker refreshes for runs other tests made meanwhile
    assert 1 <= len(loads) <= 5, f"opening the page sent {len(loads)} page-load events ({len(on_load)} wired)"
    page.wait_for_timeout(12_000)
    # nothing changed: the page polled (cheap, no front-end state) and fired no Gradio event
    assert calls["polls"] >= 1, calls
    assert calls["events"] == 0, calls
    # and it asks for almost no frames: Gradio's own loops (status trackers, Svelte's animation loop) re-arm
    # 60 times a second each on every page; the head script (live_page.PAGE_HEAD, first in <head>) holds
    # them to 2 a second while nobody touches the page. Without it this page asks 60 or more frames/s.
    frames0 = page.evaluate("() => window.__frames")
    page.wait_for_timeout(3_000)
    per_s = (page.evaluate("() => window.__frames") - frames0) / 3
    assert per_s <= 15, f"{per_s:.0f} frames/s on an idle page"
    assert page.evaluate("() => window.__pgRaf.throttled") > 0

    # a run appears (made elsewhere: the CLI, another browser): the pickers list it without Refresh, through
    # one Gradio event (the pickers' refresh), not one per tick
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", [])
    run_id = "sft-20991231-235959-quie"
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="succeeded")
    ctx.ws.register_run(run_id, "sft", run_dir, to_dict(cfg))
    deadline = time.time() + 60
    picker = page.get_by_label("Follow run", exact=False).first
    while time.time() < deadline:
        picker.click()
        if page.get_by_role("option", name=run_id, exact=False).count():
            break
        picker.blur()  # closes the list (a click on the focused box would not reopen it)
        page.wait_for_timeout(1_000)
    listed = page.evaluate("() => [...document.querySelectorAll('[role=option]')].map(o => o.textContent.trim())")
    assert any(run_id in o for o in listed), listed
    picker.blur()
    assert 1 <= calls["events"] <= 3, calls


def test_a_followed_live_run_updates_through_the_poll_alone(app_server, browser_page) -> None:  # noqa: ANN001
    """A running run's panel (header, charts, log) moves with its files while the page fires no Gradio event."""

    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    ctx = app_server["ctx"]
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", [])
    run_id = "sft-20991231-235960-live"  # sorts after every other run: the page follows it
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="running", started=time.time())
    ctx.ws.register_run(run_id, "sft", run_dir, to_dict(cfg))

    def log_step(step: int) -> None:
        with (run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": step, "loss": 2.0 / step, "max_steps": 10, "time": time.time()}) + "\n")
        with (run_dir / "log.txt").open("a") as f:
            f.write(f"{{'loss': {2.0 / step}, 'epoch': {step / 10}}}\n")

    try:
        page, calls = _open_sft(browser_page, app_server["url"])
        panel = f".pg-live[data-pg-run='{run_id}']"
        page.wait_for_selector(panel, state="visible")
        _settle(page, calls)
        for step in (1, 2, 3):
            log_step(step)
            page.wait_for_function("([sel, s]) => document.querySelector(sel)?.innerText.includes(`step ${s}/10`)",
                                   arg=[panel, step], timeout=30_000)
        # the loss line is drawn with a visible stroke and three points; the log pane shows the formatted line
        line = page.evaluate("""sel => { const l = document.querySelector(sel + ' polyline.pg-line');
            const r = l.getBoundingClientRect(); const cs = getComputedStyle(l);
            return {n: l.getAttribute('points').trim().split(/\\s+/).length, w: r.width, stroke: cs.stroke,
                    sw: parseFloat(cs.strokeWidth), log: document.querySelector(sel + ' .pg-log').innerText}; }""",
                             panel)
        assert line["n"] == 3 and line["w"] > 10 and line["stroke"] not in ("none", "") and line["sw"] > 0, line
        assert "loss 0.6667 · epoch 0.3" in line["log"], line["log"]
        assert calls["events"] == 0, calls  # every update came through the plain poll
        write_status(run_dir, state="succeeded", started=time.time() - 5, ended=time.time())
        page.wait_for_function("sel => document.querySelector(sel)?.dataset.pgLive === '0'", arg=panel)
        page.screenshot(path=str(ARTIFACTS / "sft-live-poll.png"))
        calls.update(events=0, polls=0)
        page.wait_for_timeout(6_000)
        assert calls["events"] == 0, calls  # a finished run is no longer asked about
    finally:
        write_status(run_dir, state="succeeded")


def test_a_page_opened_later_shows_the_followed_run_as_it_is_now(home, browser_page) -> None:  # noqa: ANN001
    """The app was built while a PPO run was live; a page opened after the run finished follows the same run (the
    picker's value does not change), yet shows its final state and its samples table, not the build-time view."""

    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.stages.registry import load_config
    from playground.ui.app import build_app, make_context, serve_local

    ctx = make_context(default_model="tiny")
    cfg = load_config("ppo", "presets/ppo/tiny-cpu.yaml", [])
    run_id = "ppo-20991231-235959-late"
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="running", started=time.time())
    ctx.ws.register_run(run_id, "ppo", run_dir, to_dict(cfg))
    demo = build_app(ctx)  # its PPO panel is rendered now: running, no samples
    with (run_dir / "samples.jsonl").open("w") as f:
        for update in (0, 2):
            f.write(json.dumps({"update": update, "prompt": "Say hi.", "response": f"hello at {update}",
                                "score": 0.1 * update}) + "\n")
    with (run_dir / "metrics.jsonl").open("w") as f:
        for step in (1, 2):
            f.write(json.dumps({"step": step, "score": 0.1 * step, "max_steps": 2, "time": time.time()}) + "\n")
    write_status(run_dir, state="succeeded", started=time.time() - 9, ended=time.time())
    url = serve_local(demo, concurrency=None)
    try:
        page = browser_page
        page.goto(url)
        page.get_by_role("tab", name="5 · PPO", exact=True).click()
        page.wait_for_function("""id => { const p = document.querySelector(`.pg-live[data-pg-run='${id}']`);
            return p && p.innerText.includes('succeeded') && p.dataset.pgLive === '0'; }""", arg=run_id)
        page.locator("text=hello at 2 >> visible=true").first.wait_for()  # the samples table: update 2
    finally:
        demo.close()
        ctx.jobs.close()
