"""A followed run as a person reads it (issue 29, item 5): a resumed run's header keeps counting from where it was
and drops the earlier attempt's last phase; a learning rate's tick labels clear the axis title; the SFT run
comparison draws at the live charts' size, not three times it."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


@pytest.fixture
def page(browser_page):  # noqa: ANN001, ANN201
    """A fresh page of the session's chromium (conftest); each test opens the app itself."""
    return browser_page


def _sft_run(app_server, rows: list[dict], **status) -> str:  # noqa: ANN001, ANN003
    """The newest SFT run of the app's workspace (the SFT tab follows it), with these metrics rows and status."""
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    run_id = f"sft-39991231-{time.strftime('%H%M%S')}-{time.time_ns() % 65536:04x}"
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", ["max_steps=40"])
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_status(run_dir, **status)
    app_server["ctx"].ws.register_run(run_id, "sft", run_dir, to_dict(cfg))
    return run_id


def _follow(page, app_server, run_id: str) -> None:  # noqa: ANN001
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.get_by_role("tab", name="2 · SFT", exact=True).click()
    page.wait_for_function("rid => [...document.querySelectorAll('.pg-live')].some(p => p.offsetParent !== null "
                           "&& p.dataset.pgRun === rid && p.querySelector('polyline'))", arg=run_id, timeout=60_000,
                           polling=300)


def _rows(t0: float, steps: range, lr0: float = 2e-5) -> list[dict]:
    return [{"step": s, "time": t0 + 2 * s, "loss": 2.0 - s / 50, "learning_rate": lr0 * (1 - s / 40),
             "tokens_per_s": 900.0, "max_steps": 40} for s in steps]


def test_resumed_run_keeps_its_elapsed_time_and_drops_the_old_phase(page, app_server) -> None:  # noqa: ANN001
    now = time.time()
    first = [{"step": 0, "time": now - 400, "event": "train_begin", "max_steps": 40}, *_rows(now - 400, range(1, 21))]
    again = [{"step": 20, "time": now - 3, "event": "train_begin", "max_steps": 40}]
    run_id = _sft_run(app_server, first + again, state="running", pid=None, started=now - 5, ended=None,
                      phase="saving the adapter", phase_at=now - 350)
    _follow(page, app_server, run_id)
    header = page.locator(".pg-live .pg-status").filter(has_text=run_id).first
    text = header.inner_text()
    page.screenshot(path=str(ARTIFACTS / "resumed-run-header.png"), full_page=False)
    assert "saving the adapter" not in text, text
    # the first attempt trained 40 s (steps 0-20, 2 s each): the clock goes on from there, not from 0:00
    m = re.search(r"elapsed (\d+):(\d\d) \((\d+):(\d\d) this attempt\)", text)
    assert m, text
    total, attempt = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
    assert 39 <= total - attempt <= 41, text


def test_learning_rate_ticks_clear_the_axis_title(page, app_server) -> None:  # noqa: ANN001
    now = time.time()
    run_id = _sft_run(app_server, _rows(now - 100, range(1, 30)), state="succeeded", started=now - 100, ended=now)
    _follow(page, app_server, run_id)
    gaps = page.evaluate("""rid => {
        const panel = [...document.querySelectorAll('.pg-live')].find(p => p.dataset.pgRun === rid);
        const svg = [...panel.querySelectorAll('svg')].find(s => s.getAttribute('aria-label') === 'Learning rate');
        const title = svg.querySelector('.pg-y-title').getBoundingClientRect();
        return [...svg.querySelectorAll('.pg-y-tick')].map(t => t.getBoundingClientRect().left - title.right);
    }""", run_id)
    page.screenshot(path=str(ARTIFACTS / "lr-axis.png"), full_page=False)
    assert gaps and min(gaps) >= 1, f"a tick label runs into the axis title: gaps {gaps} px"


def test_run_comparison_draws_at_the_live_charts_size(page, app_server) -> None:  # noqa: ANN001
    now = time.time()
    run_id = _sft_run(app_server, _rows(now - 100, range(1, 10)), state="succeeded", started=now - 100, ended=now)
    _follow(page, app_server, run_id)
    page.get_by_text("Compare two runs", exact=True).click()
    box = page.get_by_label("Run A", exact=True)
    box.click()
    page.get_by_role("option").filter(has_text=run_id).first.click()
    page.locator("#sft-compare polyline").first.wait_for()
    widths = page.evaluate("""rid => {
        const live = [...document.querySelectorAll('.pg-live')].find(p => p.dataset.pgRun === rid)
            .querySelector('svg').getBoundingClientRect().width;
        return [live, document.querySelector('#sft-compare svg').getBoundingClientRect().width];
    }""", run_id)
    page.locator("#sft-compare").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "sft-compare.png"), full_page=False)
    # the SVG's text scales with its width: the same width is the same font size
    assert widths[1] <= 1.5 * widths[0], f"comparison chart {widths[1]:.0f} px wide, live charts {widths[0]:.0f} px"
