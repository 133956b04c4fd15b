"""The PPO tab's "Arena round" and the reward model's data, in a real browser (issue 29, item 5): the round shows the
arena from its top with the new pool's (empty) statistics and goes on through the run's prompts after a vote; the
reward form offers "my votes + built-in" and its data check counts both."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def _finished_ppo_run(app_server) -> str:  # noqa: ANN001
    """The newest PPO run of the app's workspace: tiny preset (built-in prompts), succeeded, with a LoRA adapter
    (made directly with peft: what a round needs is an adapter on the run's base, not a trained one)."""
    from peft import LoraConfig, get_peft_model

    from playground.core.config import save_config, to_dict
    from playground.core.generation import load_model
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    run_id = f"ppo-49991231-{time.strftime('%H%M%S')}-{time.time_ns() % 65536:04x}"
    cfg = load_config("ppo", "presets/ppo/tiny-cpu.yaml", ["response_length=4", "temperature=0.7"])
    assert cfg.prompts == "builtin:prompts"
    run_dir = runs_dir() / run_id
    save_config(cfg, run_dir / "config.yaml")
    model, _ = load_model("tiny")
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(__import__("copy").deepcopy(model), lora).save_pretrained(str(run_dir / "adapter"))
    write_status(run_dir, state="succeeded", started=time.time() - 60, ended=time.time())
    app_server["ctx"].ws.register_run(run_id, "ppo", run_dir, to_dict(cfg))
    return run_id


def _vote_on_a_new_pair(page) -> None:  # noqa: ANN001
    page.wait_for_function("() => !document.querySelector('#arena-vote-a').disabled", timeout=120_000, polling=300)
    page.wait_for_timeout(700)  # a vote on a pair shown for under 0.5 s is ignored
    page.locator("#arena-vote-a").click()


def test_arena_round_shows_the_new_pool_and_goes_on_through_the_runs_prompts(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core import builtin

    page = browser_page
    run_id = _finished_ppo_run(app_server)
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    # a vote in the default pool first, and its statistics open: the round must not show them as its own
    page.get_by_role("tab", name="3 · Preferences", exact=True).click()
    page.locator("#arena-annotator textarea, #arena-annotator input").first.fill("round-tester")
    page.locator("#arena-prompt textarea").fill("Name a colour.")
    page.locator("#arena-generate").click()
    _vote_on_a_new_pair(page)
    page.get_by_text("📊 Statistics", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('round-tester')", timeout=30_000, polling=300)

    page.get_by_role("tab", name="5 · PPO", exact=True).click()
    page.get_by_text(f"{run_id} · ✅ succeeded").first.wait_for()
    page.locator("#ppo-arena-round").scroll_into_view_if_needed()
    page.locator("#ppo-arena-round").click()
    page.wait_for_function("rid => (document.querySelector('#arena-pool textarea, #arena-pool input') || {}).value "
                           "=== rid", arg=run_id, timeout=30_000, polling=300)
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "arena-round-landed.png"), full_page=False)
    top = page.locator("#arena-annotator").bounding_box()
    assert top is not None and -2 <= top["y"] < 300, f"the arena's first row is at y={top and top['y']}"
    tables = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => t.offsetParent !== null)
        .map(t => t.innerText)""")
    assert not any("round-tester" in t for t in tables), "the old pool's statistics are still shown"

    prompts = builtin.prompts()
    page.locator("#arena-generate").click()
    prompt_box = page.locator("#arena-prompt textarea")
    page.wait_for_function("([el, p]) => el.value.includes(p)", arg=[prompt_box.element_handle(), prompts[0]],
                           timeout=120_000, polling=300)
    _vote_on_a_new_pair(page)
    # the vote is stored in the run's pool and the next of the run's prompts follows, with no typing
    page.wait_for_function("([el, p]) => el.value.includes(p)", arg=[prompt_box.element_handle(), prompts[1]],
                           timeout=120_000, polling=300)
    page.screenshot(path=str(ARTIFACTS / "arena-round-next-prompt.png"), full_page=False)
    assert any(p["pool"] == run_id for p in app_server["ctx"].ws.pairs(run_id, judged_only=True))


def test_reward_form_offers_my_votes_plus_the_builtin_pairs(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core import builtin
    from playground.stages.preferences.io import export_pairs, import_pairs

    ws = app_server["ctx"].ws
    import_pairs(ws, [{"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."},
                      {"prompt": "Say bye.", "chosen": "Bye!", "rejected": "Hi."}], pool="reward-mix")
    want = len(export_pairs(pool=None, ws=ws)) + len(builtin.preferences())
    page = browser_page
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.get_by_role("tab", name="4 · Reward model", exact=True).click()
    box = page.get_by_label("dataset", exact=True).filter(visible=True).first  # the other tabs' forms are hidden
    box.click()
    option = page.get_by_role("option", name="workspace+builtin:prefs", exact=True)
    assert option.count() == 1, "no 'my votes + built-in' choice in the reward form's dataset list"
    option.click()
    check = page.locator("#reward-data-check")
    total = """([el, want]) => { const m = /(\\d+) train \\/ (\\d+) eval pairs/.exec(el.innerText);
                                  return m && +m[1] + +m[2] === want; }"""
    try:  # the votes and the built-in pairs, counted together (builtin:prefs alone has fewer)
        page.wait_for_function(total, arg=[check.element_handle(), want], timeout=30_000, polling=300)
    finally:
        page.screenshot(path=str(ARTIFACTS / "reward-votes-plus-builtin.png"), full_page=False)
    m = re.search(r"(\d+) train / (\d+) eval pairs", check.inner_text())
    assert m and int(m[1]) + int(m[2]) == want > len(builtin.preferences()), (check.inner_text(), want)
