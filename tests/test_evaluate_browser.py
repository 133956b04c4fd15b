"""A real browser (headless Debian chromium) opens the Evaluate tab and sees the leaderboard rows of a stored
evaluation, with the metrics' tooltips. Screenshot: tests/artifacts/evaluate-leaderboard.png."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ARTIFACTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def test_evaluate_tab_shows_the_leaderboard(app_server) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    from playground.stages.evaluate.service import EvalRequest, evaluate

    ws = app_server["ctx"].ws
    evaluate(ws, EvalRequest(policies=["base"], prompts="builtin:prompts", judges=["rule:length", "expr:n_words"],
                             n=2, model="tiny", max_new_tokens=4, seed=3))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app_server["url"])
        page.get_by_text("RLHF Playground").first.wait_for()
        page.get_by_role("tab", name="6 · Evaluate", exact=True).click()
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
        browser.close()
