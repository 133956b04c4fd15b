"""A Gradio upgrade that changes the reply the page script reads must not freeze the live view silently (issue 28,
item 6): when the poll's reply is broken, the page says so in the console and in the live panel's header, naming
the Gradio the script was written for; when replies parse again, the note goes away."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def test_a_broken_poll_reply_is_said_in_the_header_and_the_console(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config
    from playground.ui.widgets.live_page import GRADIO_VERSION

    run_id = f"sft-69991231-{time.strftime('%H%M%S')}-poll"  # the newest SFT run: the tab follows it
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml")
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="running", started=time.time())
    app_server["ctx"].ws.register_run(run_id, "sft", run_dir, to_dict(cfg))
    page = browser_page
    page.set_default_timeout(180_000)  # a loaded 2-core machine answers page-load events slowly
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(app_server["url"])
        page.get_by_text("RLHF Playground").first.wait_for()
        wait_loaded(page)  # the page-load event has filled the tabs
        page.get_by_role("tab", name="2 · SFT", exact=True).click()
        panel = page.locator(f".pg-live[data-pg-run='{run_id}']")
        panel.wait_for()
        # what a changed Gradio might answer: a stream with no 'complete' event
        page.route("**/gradio_api/call/page_poll/*",
                   lambda route: route.fulfill(status=200, content_type="text/event-stream",
                                               body="event: error\ndata: null\n\n"))
        warn = panel.locator(".pg-poll-warn")
        warn.wait_for(timeout=60_000)
        text = warn.inner_text()
        page.screenshot(path=str(ARTIFACTS / "poll-broken-warning.png"), full_page=False)
        assert "Live updates stopped" in text and GRADIO_VERSION in text and "event: complete" in text, text
        assert any("Live updates stopped" in e for e in errors), errors
        page.unroute("**/gradio_api/call/page_poll/*")
        warn.wait_for(state="detached", timeout=60_000)  # replies parse again: the note goes
    finally:
        write_status(run_dir, state="succeeded", ended=time.time())
