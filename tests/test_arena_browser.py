"""The Preferences tab in a real browser (Debian chromium via Playwright): what a person sees after a reload.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_arena_browser.py
"""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def open_preferences(page) -> None:  # noqa: ANN001
    """Open the tab, again if the page's own load event (reopen the remembered tab) switched it back meanwhile."""
    for _ in range(10):
        page.get_by_role("tab", name="3 · Preferences", exact=True).click()
        page.wait_for_timeout(700)
        if page.locator("#arena-annotator").is_visible():
            return
    raise AssertionError("the Preferences tab did not stay open")


def test_annotator_name_is_restored_after_a_reload(app_server, browser_page) -> None:  # noqa: ANN001
    """Issue 14 item 9: "kept in this browser" — the name typed once is back in the box after a reload."""
    page = browser_page
    page.goto(app_server["url"])
    open_preferences(page)
    box = page.locator("#arena-annotator textarea, #arena-annotator input").first
    box.fill("Ada Lovelace")
    box.press("Tab")
    # the counter follows the name: the server saw it
    page.wait_for_function("() => (document.querySelector('#arena-counter')?.innerText || '')"
                           ".includes('Ada Lovelace')", timeout=30_000, polling=200)
    page.reload()
    open_preferences(page)
    box = page.locator("#arena-annotator textarea, #arena-annotator input").first
    page.wait_for_function("() => { const b = document.querySelector('#arena-annotator textarea, "
                           "#arena-annotator input'); return b && b.value === 'Ada Lovelace'; }",
                           timeout=30_000, polling=200)
    assert box.input_value() == "Ada Lovelace"
    # and the vote counter speaks of that name again, not of "anonymous"
    page.wait_for_function("() => (document.querySelector('#arena-counter')?.innerText || '')"
                           ".includes('Ada Lovelace')", timeout=30_000, polling=200)

