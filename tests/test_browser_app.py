"""The app shell in a real browser: a reload reopens the tab you were on, and the header says who you are."""

from __future__ import annotations

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def test_reload_reopens_the_tab_you_were_on(app_server, browser_page) -> None:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    before = page.evaluate("() => localStorage.getItem('playground-tab')")
    page.get_by_role("tab", name="4 · Reward model", exact=True).click()
    # the page itself (no server event) stores the choice, encrypted, in this browser before reloading
    page.wait_for_function("b => localStorage.getItem('playground-tab') !== b", arg=before, timeout=60_000)
    page.reload()
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.wait_for_function("""() => [...document.querySelectorAll('[role=tab]')].some(
        t => t.textContent.includes('4 · Reward model') && t.getAttribute('aria-selected') === 'true')""",
                           timeout=60_000)
    assert "Local mode" in page.inner_text("#pg-who")  # who you are: auth off means the one local admin
    page.screenshot(path=str(ARTIFACTS / "reopened-tab.png"))


def test_reload_shows_the_followed_runs_settings_not_the_preset(app_server, browser_page) -> None:  # noqa: ANN001
    """A PPO run made elsewhere (the CLI, another browser) with its own kl_coef: a page opened afterwards follows
    it and its form shows that run's settings, so "Resume" and a copy of the run start from what it used."""

    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    cfg = load_config("ppo", "presets/ppo/tiny-cpu.yaml", ["kl_coef=0.0777", "total_updates=3"])
    run_id = "ppo-20991231-235959-beef"  # the newest run: the picker follows it
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="succeeded")
    app_server["ctx"].ws.register_run(run_id, "ppo", run_dir, to_dict(cfg))
    page = browser_page
    page.goto(app_server["url"])
    page.get_by_role("tab", name="5 · PPO", exact=True).click()
    kl = page.get_by_label("kl coef", exact=True)
    page.wait_for_function("el => el.value === '0.0777'", arg=kl.element_handle(), timeout=60_000)
    assert page.get_by_label("total updates", exact=True).input_value() == "3"
    page.screenshot(path=str(ARTIFACTS / "ppo-form-after-reload.png"))
