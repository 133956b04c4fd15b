"""The app shell in a real browser: a reload reopens the tab you were on, and the header says who you are."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS
from tests.test_browser import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def test_reload_reopens_the_tab_you_were_on(app_server) -> None:  # noqa: ANN001
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(app_server["url"])
        page.get_by_text("RLHF Playground").first.wait_for()
        before = page.evaluate("() => localStorage.getItem('playground-tab')")
        page.get_by_role("tab", name="4 · Reward model", exact=True).click()
        # the server answers the tab's select event and the browser stores the choice (encrypted) before reloading
        page.wait_for_function("b => localStorage.getItem('playground-tab') !== b", arg=before, timeout=60_000)
        page.reload()
        page.get_by_text("RLHF Playground").first.wait_for()
        page.wait_for_function("""() => [...document.querySelectorAll('[role=tab]')].some(
            t => t.textContent.includes('4 · Reward model') && t.getAttribute('aria-selected') === 'true')""",
                               timeout=60_000)
        assert "Local mode" in page.inner_text("#pg-who")  # who you are: auth off means the one local admin
        page.screenshot(path=str(ARTIFACTS / "reopened-tab.png"))
        browser.close()
