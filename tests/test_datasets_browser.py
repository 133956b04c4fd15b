"""The Dataset tab in a browser (moved here from test_datasets_ui.py, whose other tests need no browser)."""

from __future__ import annotations

import pytest

from playground.stages.dataset import service

HEADER_LINES = """(sel) => [...document.querySelectorAll(sel)].filter(t => t.offsetParent).map(t => {
    const w = document.createTreeWalker(t, NodeFilter.SHOW_TEXT); const tops = new Set();
    for (let n = w.nextNode(); n; n = w.nextNode()) {
        if (!n.textContent.trim()) continue;
        const r = document.createRange(); r.selectNodeContents(n);
        for (const x of r.getClientRects()) if (x.width > 0) tops.add(Math.round(x.top));
    }
    return [t.innerText.trim(), tops.size]; })"""
TAB_LABELS = "() => [...document.querySelectorAll('[role=tab]')].filter(t => t.offsetParent).map(t => t.innerText)"


@pytest.mark.browser
def test_dataset_tab_in_a_browser(home, browser_page):
    """Headers on one line (empty Rows table, import preview with an empty `system` column), tab labels that
    stay put, "Delete dataset" off without a dataset, and the two-click delete."""
    from playground.ui.app import build_app, make_context, serve_local
    from tests.conftest import ARTIFACTS

    ctx = make_context(default_model="tiny")
    demo = build_app(ctx)
    url = serve_local(demo, concurrency=None)
    try:
        page = browser_page
        page.goto(url)
        page.locator("#ds-table th").first.wait_for()
        delete = page.get_by_role("button", name="🗑 Delete dataset", exact=True)
        assert delete.is_disabled()  # an empty workspace: nothing to delete
        rows_headers = page.evaluate(HEADER_LINES, "#ds-table th")
        assert [h for h, _ in rows_headers] == list(service.TABLE_COLUMNS)
        assert all(n == 1 for _, n in rows_headers), rows_headers
        labels = page.evaluate(TAB_LABELS)

        page.get_by_role("tab", name="Import", exact=True).click()
        assert page.evaluate(TAB_LABELS) == labels  # the selected tab does not rename another one
        page.get_by_label("Start from a starter dataset").click()
        page.get_by_role("option").filter(visible=True).first.click()  # not the language menu's <option>s
        page.get_by_role("button", name="Load starter", exact=True).click()
        page.get_by_text("rows ready").first.wait_for()
        preview = [h for h in page.evaluate(HEADER_LINES, "th") if h[0] in service.PREVIEW_COLUMNS]
        assert [h for h, _ in preview] == list(service.PREVIEW_COLUMNS)
        assert all(n == 1 for _, n in preview), preview
        page.screenshot(path=str(ARTIFACTS / "dataset-import-preview.png"), full_page=True)

        page.get_by_role("button", name="✅ Add to dataset", exact=True).click()
        page.wait_for_function("(b) => !b.disabled", arg=delete.element_handle())  # a dataset now
        name = service.dataset_names(ctx.ws)[0]
        delete.click()
        confirm = page.locator("#ds-confirm-delete")
        page.wait_for_function("(n) => document.querySelector('#ds-confirm-delete')?.innerText.includes(n)",
                               arg=name)
        assert ctx.ws.has_dataset(name)  # asking deletes nothing
        page.screenshot(path=str(ARTIFACTS / "dataset-confirm-delete.png"), full_page=True)
        confirm.click()
        page.wait_for_function("(b) => b.disabled", arg=delete.element_handle())
        assert not ctx.ws.has_dataset(name)
    finally:
        demo.close()
        ctx.jobs.close()
