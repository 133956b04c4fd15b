"""The RL tab in a real browser: the page is open on the tab BEFORE a GRPO run exists; a run appears and progresses
(files written as the trainer writes them) and the page shows it without a reload: stroked reward lines, the
zero-variance warning once most groups have identical rewards, the group table. Screenshot: tests/artifacts/rl-live.png.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import ARTIFACTS, CHROMIUM, wait_loaded

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]

RUN = "grpo-20991231-235959-brow"
# a line a person can see: real geometry and a computed stroke, in a chart that is on screen
STROKED = """sel => [...document.querySelectorAll(sel + ' polyline.pg-line')].filter(l => {
    if (l.closest('svg').getBoundingClientRect().width === 0) return false;
    const s = getComputedStyle(l), box = l.getBBox();
    return l.points.numberOfItems >= 2 && box.width > 0 && s.stroke !== 'none' && s.stroke !== ''
        && parseFloat(s.strokeWidth) > 0 && parseFloat(s.opacity) > 0 && s.visibility !== 'hidden';
}).map(l => l.closest('.pg-series').dataset.metric)"""


def _step(run_dir, step: int, zero_std: float) -> None:  # noqa: ANN001
    """One logged GRPO step and its sampled groups, as the trainer writes them."""
    row = {"step": step, "time": time.time(), "max_steps": 6, "reward": 0.2 + 0.1 * step, "reward_std": 0.2,
           "frac_reward_zero_std": zero_std, "rewards/n_words/mean": 0.2 + 0.1 * step, "kl": 0.01 * step,
           "entropy": 2.0 - 0.1 * step, "completions/mean_length": 10 - step, "clip_ratio/region_mean": 0.0}
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    with (run_dir / "samples.jsonl").open("a") as f:
        for g, rewards in enumerate(([1.0, 0.0], [0.5, 0.5])):
            for i, r in enumerate(rewards):
                f.write(json.dumps({"update": step, "group": g, "prompt": f"Say it in exactly {g + 3} words.",
                                    "completion": f"answer {g}.{i} at step {step}", "reward": r,
                                    "rewards": {"n_words": r}, "advantage": r - sum(rewards) / 2}) + "\n")


def test_rl_tab_opened_before_the_run_shows_it_live(app_server, browser_page) -> None:  # noqa: ANN001
    from playground.core.config import save_config, to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.stages.registry import load_config

    ctx, page = app_server["ctx"], browser_page
    page.goto(app_server["url"])
    page.get_by_text("RLHF Playground").first.wait_for()
    wait_loaded(page)  # the page-load event has filled the tabs
    page.get_by_role("tab", name="5b · GRPO / RLOO", exact=True).click()
    page.get_by_text("Objective: GRPO, group-normalised advantage").first.wait_for()
    assert page.locator("#grpo-zero-std").count() == 0 or not page.locator("#grpo-zero-std").is_visible()
    page.wait_for_timeout(3_000)  # the page's load events settle before the run appears

    # the run appears after the page opened (as a UI start or the CLI would register it), and is picked to follow
    cfg = load_config("grpo", "presets/grpo/tiny-cpu.yaml", [])
    run_dir = runs_dir() / RUN
    save_config(cfg, run_dir / "config.yaml")
    write_status(run_dir, state="running", started=time.time())
    ctx.ws.register_run(RUN, "grpo", run_dir, to_dict(cfg))
    _step(run_dir, 1, 0.0)
    picker = page.get_by_label("Follow GRPO run", exact=True)
    for _ in range(60):  # the page's watcher lists the new run within a few seconds
        picker.click()
        option = page.get_by_role("option", name=RUN, exact=False)
        if option.count():
            option.first.click()
            break
        picker.blur()
        page.wait_for_timeout(1_000)
    panel = f".pg-live[data-pg-run='{RUN}']"
    page.wait_for_selector(panel, state="visible", timeout=60_000)
    try:
        for step in (2, 3):  # the run progresses; most groups turn flat at step 3
            _step(run_dir, step, 0.75 if step == 3 else 0.0)
            page.wait_for_function("([sel, s]) => document.querySelector(sel)?.innerText.includes(`step ${s}/6`)",
                                   arg=[panel, step], timeout=60_000)
        page.wait_for_function(f"() => ({STROKED})(\"{panel}\").includes('reward')", timeout=30_000, polling=500)
        drawn = page.evaluate(STROKED, panel)
        assert {"reward", "kl", "entropy", "frac_reward_zero_std"} <= set(drawn), drawn
        line = page.evaluate("""sel => { const l = [...document.querySelectorAll(sel + ' .pg-series')]
            .find(g => g.dataset.metric === 'reward').querySelector('polyline');
            return {n: l.points.numberOfItems, stroke: getComputedStyle(l).stroke,
                    tip: l.closest('.pg-series').querySelector('title').textContent}; }""", panel)
        assert line["n"] == 3 and line["stroke"] not in ("none", ""), line
        assert line["tip"].startswith("reward: Mean reward of the sampled completions")  # the metric's tooltip
        # the warning and the group table follow the run (its latest sampled step)
        warning = page.locator("#grpo-zero-std")
        warning.wait_for(state="visible", timeout=60_000)
        assert "Most groups have identical rewards: nothing to learn from" in warning.inner_text()
        page.wait_for_function("() => (document.querySelector('#grpo-groups')?.innerText || '')"
                               ".includes('answer 0.0 at step 3')", timeout=60_000, polling=500)
        assert "no signal" in page.locator("#grpo-groups").inner_text()
        assert page.evaluate(STROKED, "#grpo-fn-chart") == ["rewards/n_words/mean"]
        page.locator("#grpo-zero-std").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "rl-live.png"), full_page=True)
    finally:
        write_status(run_dir, state="succeeded", started=time.time() - 5, ended=time.time())
