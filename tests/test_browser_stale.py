"""Widgets that were stale until Refresh (issue 29, item 3), seen in a real browser: each test opens a page, makes
something happen the way a user (or the CLI) would, and reads what the page shows, with no Refresh press."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, visible, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


@pytest.fixture
def page(browser_page):  # noqa: ANN001, ANN201
    """A fresh page of the session's chromium (conftest); each test opens the app itself."""
    return browser_page


def _open(page, app_server, tab: str) -> None:  # noqa: ANN001
    """A fresh page opened now (what was made before this call is there at page load), on `tab`."""
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.get_by_role("tab", name=tab, exact=True).click()


def _on(page, tab: str):  # noqa: ANN001, ANN202
    """The module's open page (conftest's `app_page`, opened before anything here happened), on `tab`."""
    page.get_by_role("tab", name=tab, exact=True).click()
    return page


def _sft_run(app_server, state: str) -> str:  # noqa: ANN001
    """A tiny SFT run registered in the app's workspace (as the CLI would), in `state`."""
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    run_id = f"sft-29991231-{time.strftime('%H%M%S')}-{time.time_ns() % 65536:04x}"
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml")
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "time": 1.0, "loss": 2.0}\n')
    write_status(run_dir, state=state)
    app_server["ctx"].ws.register_run(run_id, "sft", run_dir, to_dict(cfg))
    return run_id


def _options(page, box) -> list[str]:  # noqa: ANN001
    """The option labels a dropdown lists (opened with a click, closed again)."""
    box.click()
    page.wait_for_timeout(300)
    out = [o.inner_text() for o in page.get_by_role("option").all()]
    box.blur()
    return out


def test_compare_pickers_list_the_runs_made_since_the_app_started(page, app_server) -> None:  # noqa: ANN001
    run_id = _sft_run(app_server, "succeeded")
    _open(page, app_server, "2 · SFT")
    page.get_by_text("Compare two runs", exact=True).click()
    box = page.get_by_label("Run A", exact=True)
    for _ in range(20):  # page load fills the pickers: give it a few seconds
        if any(run_id in o for o in _options(page, box)):
            break
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "stale-compare-pickers.png"), full_page=True)
    assert any(run_id in o for o in _options(page, box)), "Run A does not list a run made before the page opened"
    assert any(run_id in o for o in _options(page, page.get_by_label("Run B", exact=True)))


def test_try_the_result_picks_the_run_that_just_finished(app_page, app_server) -> None:  # noqa: ANN001
    from playground.core.runs import write_status

    run_id = _sft_run(app_server, "running")
    page = _on(app_page, "2 · SFT")
    visible(page.get_by_text("Try the result: base vs adapter", exact=True)).click()
    box = visible(page.get_by_label("Finished run", exact=True))
    page.wait_for_timeout(1500)
    assert run_id not in box.input_value()
    write_status(app_server["ctx"].jobs.run_dir(run_id), state="succeeded")
    page.wait_for_function("([el, rid]) => el.value.includes(rid)", arg=[box.element_handle(), run_id],
                           timeout=30_000, polling=500)
    page.screenshot(path=str(ARTIFACTS / "stale-try-picks-finished.png"), full_page=False)


def test_sft_form_takes_the_dataset_just_made(app_page, app_server) -> None:  # noqa: ANN001
    page = _on(app_page, "2 · SFT")
    box = visible(page.get_by_label("dataset", exact=True))
    page.wait_for_timeout(1500)
    name = f"made-now-{time.time_ns() % 100000}"
    ws = app_server["ctx"].ws
    ws.create_dataset(name)
    ws.add_rows(name, [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}])
    page.wait_for_function("([el, n]) => el.value === n", arg=[box.element_handle(), name], timeout=30_000,
                           polling=500)


def test_statistics_tables_show_their_own_columns(app_page) -> None:  # noqa: ANN001
    page = _on(app_page, "3 · Preferences")
    visible(page.get_by_text("📊 Statistics", exact=True)).click()
    page.wait_for_timeout(1500)
    heads = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => t.offsetParent !== null)
        .map(t => [...t.querySelectorAll('thead th')].map(th => th.innerText.trim()).filter(Boolean))""")
    page.screenshot(path=str(ARTIFACTS / "stale-statistics.png"), full_page=True)
    flat = [h for t in heads for h in t]
    assert "annotator" in flat and "source" in flat, heads
    assert not {"1", "2", "3"} & set(flat), f"placeholder columns: {heads}"


def test_token_preview_starts_on_a_row_that_exists(page, app_server) -> None:  # noqa: ANN001
    ws = app_server["ctx"].ws
    if not ws.has_dataset("preview-set"):
        ws.create_dataset("preview-set")
        ws.add_rows("preview-set", [{"messages": [{"role": "user", "content": "Say yes."},
                                                  {"role": "assistant", "content": "Yes."}]}])
    _open(page, app_server, "1 · Dataset")
    box = page.get_by_label("Dataset", exact=True)
    box.click()
    page.get_by_role("option", name="preview-set", exact=True).click()
    page.get_by_role("tab", name="Token preview", exact=True).click()
    first = ws.rows("preview-set")[0]["id"]
    rid = page.get_by_label("Row id", exact=True)
    page.wait_for_function("([el, v]) => el.value === v", arg=[rid.element_handle(), str(first)], timeout=30_000,
                           polling=300)
    page.get_by_role("button", name="Show tokens", exact=True).click()
    page.locator("#ds-token-preview .tok-train").first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "stale-token-preview.png"), full_page=False)


def test_vote_buttons_are_off_until_a_pair_is_on_screen(app_page) -> None:  # noqa: ANN001
    page = _on(app_page, "3 · Preferences")
    vote_a = page.locator("#arena-vote-a")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "stale-vote-buttons-off.png"), full_page=False)
    assert vote_a.is_disabled(), "the vote button looks active with no pair on screen"
    page.locator("#arena-prompt textarea").fill("Name a fruit.")
    page.locator("#arena-generate").click()
    page.wait_for_function("() => !document.querySelector('#arena-vote-a').disabled", timeout=120_000, polling=300)
    page.wait_for_timeout(600)
    vote_a.click()
    page.wait_for_function("() => document.querySelector('#arena-vote-a').disabled", timeout=30_000, polling=300)
