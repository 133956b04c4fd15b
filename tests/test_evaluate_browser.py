"""A real browser (headless Debian chromium) opens the Evaluate tab and sees the leaderboard rows of a stored
evaluation, with the metrics' tooltips. Screenshot: tests/artifacts/evaluate-leaderboard.png."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, NEEDS_CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser, NEEDS_CHROMIUM]


def open_evaluate(page, url: str):  # noqa: ANN001, ANN201
    """The app open on the Evaluate tab, in the session Chromium's fresh page (conftest's browser_page)."""
    page.goto(url)
    wait_loaded(page)  # the page-load event has filled every tab: nothing redraws the tab under a click
    page.get_by_role("tab", name="6 · Evaluate", exact=True).click()
    return page


def test_evaluate_tab_shows_the_leaderboard(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.stages.evaluate.service import EvalRequest, evaluate

    ws = app_server["ctx"].ws
    evaluate(ws, EvalRequest(policies=["base"], prompts="builtin:prompts", judges=["rule:length", "expr:n_words"],
                             n=2, model="tiny", max_new_tokens=4, seed=3))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = open_evaluate(browser_page, app_server["url"])
    page.get_by_role("button", name="🔄 Refresh", exact=True).click()
    board = page.locator("#eval-leaderboard")
    page.wait_for_function("""() => { const b = document.querySelector('#eval-leaderboard');
        return b && /rule:length/.test(b.innerText) && /expr:n_words/.test(b.innerText); }""", timeout=60_000)
    board.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "evaluate-leaderboard.png"), full_page=True)
    text = board.inner_text()
    assert "base" in text and "win_rate" in text
    tips = page.evaluate("""() => [...document.querySelectorAll('.pg-metric')]
        .filter(s => s.getBoundingClientRect().width > 0).map(s => [s.textContent, s.title])""")
    named = dict(tips)
    assert {"win_rate", "kl", "ci_low", "bleu"} <= set(named) and all(t.endswith(".") for t in named.values())


def test_gold_vs_proxy_chart_draws_stroked_lines(app_server, browser_page) -> None:  # noqa: ANN001
    """A tiny PPO run with a gold judge; its proxy and gold lines against KL are drawn, stroked, in the tab."""
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from tests.test_evaluate import run_tiny_ppo

    ws = app_server["ctx"].ws
    run_dir = runs_dir() / "ppo-gold-browser"
    run_tiny_ppo(run_dir, ["gold_judge=expr:n_chars", "gold_every=1"])
    ws.register_run(run_dir.name, "ppo", run_dir, {"model": "tiny", "reward": "rule:vocab_half"})
    write_status(run_dir, state="succeeded", pid=None, started=None, ended=None, error=None)
    page = open_evaluate(browser_page, app_server["url"])
    picker = page.get_by_label("PPO / GRPO / RLOO run with a gold_judge")
    for attempt in range(4):  # a click on a loaded machine can land before the accordion reacts: open it again
        if not picker.is_visible():
            page.get_by_text("Gold vs proxy: split a pool in two by prompt").click()
        try:
            picker.wait_for(state="visible", timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the last try re-raises
            if attempt == 3:
                raise
    picker.click()
    page.get_by_role("option", name="ppo-gold-browser", exact=False).first.click()
    stroked = """() => { const ls = [...document.querySelectorAll('#eval-gold-chart polyline.pg-line')];
        return ls.length === 2 && ls.every(l => { const s = getComputedStyle(l);
            return l.points.numberOfItems === 3 && l.getBBox().width > 0 && s.stroke !== 'none'
                && parseFloat(s.strokeWidth) > 0; }); }"""
    page.wait_for_function(stroked, timeout=60_000)
    page.locator("#eval-gold-chart").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "evaluate-gold.png"), full_page=True)
    assert "KL to the base" in page.locator("#eval-gold-chart").inner_text()
