"""A real browser (Debian chromium, headless, driven by Playwright) opens the app, clicks through every
tab, starts the tiny SFT preset and watches the live plot get points. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, visible
from tests.conftest import CHROMIUM_ARGS as ARGS  # noqa: F401 - still imported from here by older tests

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]

# What a person sees: in the visible tab, a chart line with real geometry (several points, non-zero width) and a
# visible computed stroke. Counting path nodes is not enough: Gradio 6.31's LinePlot drew paths with no stroke.
LINE_VISIBLE = """() => [...document.querySelectorAll('polyline.pg-line')].some(l => {
    if (l.closest('svg').getBoundingClientRect().width === 0) return false;  // in a hidden tab
    const s = getComputedStyle(l), box = l.getBBox();
    return l.points.numberOfItems >= 2 && box.width > 0 && s.stroke !== 'none' && s.stroke !== ''
        && parseFloat(s.strokeWidth) > 0 && parseFloat(s.opacity) > 0 && s.visibility !== 'hidden';
})"""
LINES_DRAWN = LINE_VISIBLE


@pytest.fixture
def page(app_page):  # noqa: ANN001, ANN201
    """The shared app open in the module's one page (conftest's `app_page`): each test picks its tab and reads only
    what is visible (tabs a test visited before stay in the page, hidden)."""
    return app_page


def test_click_through_tabs(page) -> None:  # noqa: ANN001
    from playground.ui.app import TABS

    for tab_id, title, blurb, _ in TABS:
        tab = page.get_by_role("tab", name=title, exact=True)
        tab.click()
        page.wait_for_timeout(400)
        page.screenshot(path=str(ARTIFACTS / f"tab-{tab_id.value}.png"), full_page=True)
        # what a person sees: this tab is the selected one and its own content is on screen, the others' is not
        assert tab.get_attribute("aria-selected") == "true"
        assert page.get_by_text(blurb, exact=True).is_visible()
        assert not any(page.get_by_text(b, exact=True).is_visible() for _, _, b, _ in TABS if b != blurb)


def test_chart_draws_a_visible_line_in_a_page_opened_before_the_run(page, app_server) -> None:  # noqa: ANN001
    """The page is open before the run exists; the run starts from it and its loss line becomes visible without a
    reload; when the run ends, the "Follow run" label says so (no stale "queued")."""
    from playground.core.runs import read_metrics

    page.get_by_role("tab", name="2 · SFT", exact=True).click()
    page.wait_for_timeout(2000)  # let the page's load events settle before the first click
    visible(page.get_by_role("button", name="▶ Start training", exact=True)).click()
    visible(page.get_by_text("Started")).wait_for()
    run = app_server["ctx"].ws.runs("sft")[0]
    # the live header names the new run at a step > 0 and its line is drawn (an earlier run of the shared app
    # may have been followed at page load: its line does not count)
    page.wait_for_function(f"""() => /{run['id']}.*step [1-9]/.test(document.body.innerText)
        && ({LINE_VISIBLE})()""", timeout=240_000, polling=500)
    page.screenshot(path=str(ARTIFACTS / "sft-live.png"), full_page=True)
    line = page.evaluate("""() => { const l = [...document.querySelectorAll('polyline.pg-line')]
        .find(l => l.closest('svg').getBoundingClientRect().width > 0); const s = getComputedStyle(l);
        return {points: l.points.numberOfItems, width: l.getBBox().width, stroke: s.stroke, sw: s.strokeWidth}; }""")
    assert line["points"] >= 2 and line["width"] > 0 and line["stroke"] not in ("none", "") and line["sw"] != "0px"
    assert any("loss" in m for m in read_metrics(run["run_dir"]))
    # the run picker's label follows the run's state to the end
    follow = visible(page.get_by_label("Follow run", exact=True))
    page.wait_for_function("""id => [...document.querySelectorAll('input')].some(
        i => i.value.startsWith(id) && i.value.includes('succeeded'))""", arg=run["id"], timeout=300_000,
        polling=500)
    assert run["id"] in follow.input_value()


def test_new_dataset_appears_in_the_sft_picker_without_refresh(page, app_server) -> None:  # noqa: ANN001
    """A dataset made elsewhere (here: the CLI, another process) is listed in the SFT dataset picker of a page
    that was already open, with no Refresh press and no reload."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    page.get_by_role("tab", name="2 · SFT", exact=True).click()
    box = visible(page.get_by_label("dataset", exact=True))
    box.click()
    assert page.get_by_role("option", name="from-the-cli", exact=True).count() == 0
    box.blur()  # closes the list; a click on the focused box would not reopen it
    src = app_server["home"] / "cli-rows.jsonl"
    src.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                            {"role": "assistant", "content": "Hello."}]}) + "\n")
    env = dict(os.environ, PLAYGROUND_HOME=str(app_server["home"]))
    out = subprocess.run([sys.executable, "-m", "playground", "datasets", "import", str(src), "--name", "from-the-cli"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    for _ in range(60):  # the page's watcher polls every 4 s; open the list until the new name is in it
        page.wait_for_timeout(1000)
        box.click()
        found = page.get_by_role("option", name="from-the-cli", exact=True).count() > 0
        if found:
            break
        box.blur()
    page.screenshot(path=str(ARTIFACTS / "sft-picker-new-dataset.png"), full_page=False)
    assert found, "the SFT dataset picker never listed the dataset the CLI made"


def test_page_opened_later_follows_a_cli_run_and_draws_it(app_server, browser_page) -> None:  # noqa: ANN001
    """A run made after the app was built (here by the CLI) is listed, followed and plotted when a page opens."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = dict(os.environ, PLAYGROUND_HOME=str(app_server["home"]), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "playground", "ppo", "--config", str(REPO / "presets/ppo/tiny-cpu.yaml"),
                          "--set", "total_updates=3", "--set", "rollout_batch_size=16", "--set", "sample_every=0"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    run_id = app_server["ctx"].ws.runs("ppo")[0]["id"]
    page = browser_page
    page.goto(app_server["url"])
    page.get_by_role("tab", name="5 · PPO", exact=True).click()
    page.get_by_text(f"{run_id} · ✅ succeeded").first.wait_for()
    page.wait_for_function(LINES_DRAWN, timeout=60_000, polling=500)
    page.screenshot(path=str(ARTIFACTS / "ppo-cli-run.png"), full_page=True)


def test_dataset_add_row_shows_in_table(page, app_server) -> None:  # noqa: ANN001
    page.get_by_role("tab", name="1 · Dataset", exact=True).click()
    # a dataset of its own, so the shared app's default 'my-dataset' stays as other tests expect
    page.get_by_label("New dataset name").fill("browser-set")
    page.get_by_role("button", name="➕ Create dataset", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('browser-set')", timeout=30_000)
    visible(page.get_by_role("tab", name="Add", exact=True)).click()
    page.locator("#ds-instruction textarea").fill("Name a colour of the sky.")
    page.locator("#ds-response textarea").fill("Blue.")
    page.locator("#ds-add-row").click()
    visible(page.get_by_role("tab", name="Rows", exact=True)).click()
    page.wait_for_function(
        "() => (document.querySelector('#ds-table')?.innerText || '').includes('Name a colour of the sky.')",
        timeout=60_000, polling=500,
    )
    page.screenshot(path=str(ARTIFACTS / "dataset-row-added.png"), full_page=True)
    rows = [r["data"] for r in app_server["ctx"].ws.rows("browser-set")]
    assert rows and "Name a colour of the sky." in str(rows[-1])


def test_arena_vote_with_keyboard_moves_counter(page, app_server) -> None:  # noqa: ANN001
    before = app_server["ctx"].ws.count_pairs()
    page.get_by_role("tab", name="3 · Preferences", exact=True).click()
    page.locator("#arena-prompt textarea").fill("Write a line about the moon.")
    page.locator("#arena-generate").click()
    # both sides finished streaming: each shows its token count
    page.wait_for_function("() => (document.body.innerText.match(/ tokens · /g) || []).length >= 2",
                           timeout=120_000, polling=300)
    page.locator("#arena-counter").click()  # focus away from any text field
    page.wait_for_timeout(600)  # read the pair: a vote on a pair shown for under 0.5 s is ignored
    page.keyboard.press("1")
    page.wait_for_function(
        "() => /[1-9][0-9]* votes/.test(document.querySelector('#arena-counter')?.innerText || '')",
        timeout=30_000, polling=300,
    )
    page.screenshot(path=str(ARTIFACTS / "arena-voted.png"), full_page=True)
    pairs = app_server["ctx"].ws.pairs()
    assert len(pairs) == before + 1 and pairs[-1]["choice"] == "a"
    assert "Write a line about the moon." in str(pairs[-1]["prompt"])
