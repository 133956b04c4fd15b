"""Following a reward or PPO run costs the page no Gradio event per logged step (issue 29, item 4).

Each Gradio event costs the browser work that grows with the page (bench/README.md, "The open page's CPU"). The
reward tab's run notes and the PPO tab's samples table are per-run views: they used to be re-read (one Gradio
event each) on every metrics row, 10-20% of a core while following a reward run. Now the notes listen to what
they show (the run's data notes) and the PPO samples table is drawn inside the live panel by the plain poll
(ui/widgets/live.RunTable): the rows and the samples reach the page with no Gradio event. These tests
count the requests the page sends while rows arrive.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def _live_run(app_server, stage: str, **status) -> tuple[str, object]:  # noqa: ANN001, ANN003
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    run_id = f"{stage}-59991231-{time.strftime('%H%M%S')}-{time.time_ns() % 65536:04x}"  # newest: followed
    cfg = load_config(stage, f"presets/{stage}/tiny-cpu.yaml", [])
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="running", started=time.time(), **status)
    app_server["ctx"].ws.register_run(run_id, stage, run_dir, to_dict(cfg))
    return run_id, run_dir


def _open(page, url: str, tab: str) -> dict[str, int]:  # noqa: ANN001
    calls = {"events": 0, "polls": 0}

    def on_request(req) -> None:  # noqa: ANN001
        if "/queue/join" in req.url:
            calls["events"] += 1
        elif "/call/page_poll" in req.url and req.method == "POST":
            calls["polls"] += 1
    page.on("request", on_request)
    page.set_default_timeout(180_000)  # a loaded 2-core machine answers page-load events slowly
    page.goto(url)
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.get_by_role("tab", name=tab, exact=True).click()
    return calls


def _settle(page, calls: dict[str, int], quiet_s: float = 12) -> None:  # noqa: ANN001
    """Wait out the page-load events (on a loaded machine they trickle in for most of a minute): no Gradio event for
    `quiet_s` and at least one poll; then count from zero."""
    for _ in range(20):
        before = calls["events"]
        page.wait_for_timeout(quiet_s * 1000)
        if calls["events"] == before and calls["polls"] >= 1:
            break
    calls.update(events=0, polls=0)


def _log_rows(page, run_dir, panel: str, rows: list[dict]) -> None:  # noqa: ANN001
    for r in rows:
        with (run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({**r, "time": time.time()}) + "\n")
        page.wait_for_function("([sel, s]) => document.querySelector(sel)?.innerText.includes(`step ${s}/`)",
                               arg=[panel, r["step"]], timeout=90_000)


def test_following_a_reward_run_sends_no_event_per_step(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core.runs import write_status

    run_id, run_dir = _live_run(app_server, "reward", notes=["Data: 12 train / 4 eval pairs"])
    try:
        calls = _open(browser_page, app_server["url"], "4 · Reward model")
        panel = f".pg-live[data-pg-run='{run_id}']"
        browser_page.wait_for_selector(panel, state="visible")
        browser_page.wait_for_function("() => document.querySelector('#reward-run-notes')?.innerText"
                                       ".includes('12 train / 4 eval pairs')", timeout=60_000)
        _settle(browser_page, calls)
        _log_rows(browser_page, run_dir, panel, [
            {"step": s, "loss": 0.7 - s / 100, "accuracy": 0.5 + s / 100, "max_steps": 20} for s in (1, 2, 3)] + [
            {"step": 3, "eval_loss": 0.66, "eval_accuracy": 0.6, "max_steps": 20},
            *({"step": s, "loss": 0.6, "max_steps": 20} for s in (4, 5, 6))])
        browser_page.screenshot(path=str(ARTIFACTS / "reward-live-no-events.png"))
        # seven rows through the plain poll: before, each cost two events (the poke and the notes re-read), 14 in
        # all; a straggling page-load event of another tab may still come in on a loaded machine
        assert calls["events"] <= 1, calls
        write_status(run_dir, notes=["Data: 12 train / 4 eval pairs", "⚠️ too few pairs"])
        browser_page.wait_for_function("() => document.querySelector('#reward-run-notes')?.innerText"
                                       ".includes('too few pairs')", timeout=30_000)
        assert calls["events"] >= 1  # new notes: the notes view is re-read
    finally:
        write_status(run_dir, state="succeeded")


def test_following_a_ppo_run_draws_its_samples_with_no_gradio_event(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core.runs import write_status

    run_id, run_dir = _live_run(app_server, "ppo")
    try:
        calls = _open(browser_page, app_server["url"], "5 · PPO")
        panel = f".pg-live[data-pg-run='{run_id}']"
        browser_page.wait_for_selector(panel, state="visible")
        _settle(browser_page, calls)
        _log_rows(browser_page, run_dir, panel, [
            {"step": s, "score": 0.1 * s, "kl": 0.01 * s, "max_steps": 50} for s in range(1, 7)])
        # six updates and no samples written: before, each cost two events (poke, samples re-read), 12 in all
        assert calls["events"] <= 1, calls
        with (run_dir / "samples.jsonl").open("a") as f:
            for u in (0, 4):
                f.write(json.dumps({"update": u, "prompt": "Tell me about the sea.", "response": f"waves {u}",
                                    "score": 0.1 * u}) + "\n")
        _log_rows(browser_page, run_dir, panel, [{"step": 7, "score": 0.5, "kl": 0.05, "max_steps": 50}])
        # the samples table is part of the live panel: the poll draws it, inside the panel, with no Gradio event
        browser_page.wait_for_function("s => document.querySelector(s)?.innerText.includes('waves 4')",
                                       arg=f"{panel} .pg-table-samples", timeout=120_000)
        browser_page.locator(panel).screenshot(path=str(ARTIFACTS / "ppo-live-samples-event.png"))
        assert calls["events"] <= 1, calls  # was 2-3 when the table was a Dataframe re-read through an event
        assert "waves 0" in browser_page.inner_text(f"{panel} .pg-table-samples")  # 'before' beside 'now'
    finally:
        write_status(run_dir, state="succeeded")
