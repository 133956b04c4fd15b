"""RL tab (GRPO | RLOO): handlers called directly on fake run dirs — the group table, the zero-variance warning shown and
hidden, the reward multiselect and the form round trip with the real GRPORun / RLOORun, the method switch, roles.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_rl_tab.py
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path

import gradio as gr
import pytest

from playground.core.auth import Role
from playground.core.config import ConfigError, to_dict
from playground.core.runs import read_metrics, write_status
from playground.stages.grpo.config import GRPORun
from playground.stages.registry import from_dict
from playground.ui.guard import role_needed
from playground.ui.tabs import rl, rl_compare
from playground.ui.tabs.rl_view import groups_frame, run_view_html, zero_signal_warning


@pytest.fixture
def tab(home: Path):  # noqa: ANN201
    from playground.ui.app import make_context

    ctx = make_context(default_model="tiny")
    with gr.Blocks():
        built = rl.build(ctx)
    yield ctx, built
    ctx.jobs.close()


def fake_run(ctx, run_id: str, samples: list[dict], metrics: list[dict], stage: str = "grpo") -> Path:  # noqa: ANN001
    """A run dir as the trainer leaves it: config, status, metrics.jsonl, samples.jsonl (no training)."""
    cfg = from_dict(stage, {"model": "tiny", "reward": "rule:n_words, rule:ends_question", "reward_weights": "1, 0.5",
                            "prompts": "builtin:n_words"})
    run_dir = ctx.jobs.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx.ws.register_run(run_id, stage, run_dir, to_dict(cfg))
    write_status(run_dir, state="running", started=time.time())
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"time": time.time(), **m}) + "\n" for m in metrics))
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return run_dir


def completion(update: int, group: int, text: str, reward: float, adv: float, prompt: str = "") -> dict:
    return {"update": update, "group": group, "prompt": prompt or f"prompt {group}", "completion": text,
            "reward": reward, "rewards": {"n_words": reward, "ends_question": 0.0}, "advantage": adv}


SAMPLES = [
    completion(1, 0, "old", 0.1, 0.0),  # an earlier update: not shown
    completion(2, 0, "two words", 0.5, -0.7), completion(2, 0, "exactly four words here", 1.0, 0.7),
    completion(2, 1, "same", 0.2, 0.0), completion(2, 1, "same too", 0.2, 0.0),
]


def test_group_table_shows_each_groups_completions_rewards_and_advantages(tab) -> None:  # noqa: ANN001
    ctx, t = tab
    p = t.panels["grpo"]
    fake_run(ctx, "grpo-20990101-000000-aaaa", SAMPLES,
             [{"step": 2, "reward": 0.475, "rewards/n_words/mean": 0.475, "rewards/ends_question/mean": 0.0,
               "frac_reward_zero_std": 0.5}])
    run_dir = ctx.jobs.run_dir("grpo-20990101-000000-aaaa")
    frame, caption = groups_frame(run_dir)
    assert list(frame["completion"]) == ["exactly four words here", "two words", "same", "same too"]  # latest update
    assert list(frame["reward"]) == [1.0, 0.5, 0.2, 0.2] and list(frame["advantage"]) == [0.7, -0.7, 0.0, 0.0]
    # the prompt and the group's mean ± std on the group's first row only; the flat group is flagged
    assert list(frame["prompt"]) == ["prompt 0", "", "prompt 1", ""]
    assert frame["group reward"][0] == "0.750 ± 0.354" and "no signal" in frame["group reward"][2]
    assert "n_words 1.0" in frame["by function"][0]
    assert "Update 2: 2 groups of 2 completions; 1 with identical rewards" in caption
    # what the live panel draws below its log (the page poll renders it: no Gradio event per step): the
    # per-function chart, one stroked line per reward function the run logged, then the caption and the table
    view = run_view_html(p.stage, run_dir, read_metrics(run_dir), "en")
    chart = view.split('id="grpo-fn-chart"')[1].split("</svg>")[0]
    assert chart.count('class="pg-line"') == 2 and "rewards/ends_question/mean" in chart
    assert "Update 2: 2 groups of 2 completions" in view and "exactly four words here" in view
    assert "grpo-zero-std" not in view  # half the groups flat: at the limit, no warning
    assert 'id="grpo-groups"' in ctx.live_views["grpo"].tables[0].html(run_dir, read_metrics(run_dir), "en")


def test_zero_variance_warning_shown_above_half_and_hidden_otherwise(tab) -> None:  # noqa: ANN001
    ctx, t = tab
    p = t.panels["rloo"]
    run_dir = fake_run(ctx, "rloo-20990101-000000-bbbb", SAMPLES,
                       [{"step": 1, "reward": 0.1, "frac_reward_zero_std": 0.25}], stage="rloo")
    assert "rloo-zero-std" not in run_view_html(p.stage, run_dir, read_metrics(run_dir), "en")
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 2, "time": time.time(), "reward": 0.1, "frac_reward_zero_std": 0.75}) + "\n")
    view = run_view_html(p.stage, run_dir, read_metrics(run_dir), "en")
    assert 'id="rloo-zero-std"' in view
    text = zero_signal_warning(read_metrics(run_dir))
    assert "<strong>Most groups have identical rewards: nothing to learn from" in view  # the warning, as Markdown
    assert "most groups have identical rewards: nothing to learn from" in text.lower()
    assert "raise temperature / num_generations or use a denser reward" in text and "step 2: 75%" in text
    # the groups agree at the top of a 0-1 rule (the task is learned): said so, not "raise the temperature"
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "time": time.time(), "reward": 0.97, "frac_reward_zero_std": 0.875}) + "\n")
    text = zero_signal_warning(read_metrics(run_dir))
    assert "the task looks learned" in text and "mean of 0.97" in text and "step 3: 88%" in text
    assert "raise temperature" not in text
    # no run followed: the table keeps its headers, no warning
    assert "rloo-zero-std" not in run_view_html(p.stage, None, [], "en") and "completion" in run_view_html(
        p.stage, None, [], "en")


def test_reward_multiselect_and_form_round_trip_with_the_real_config(tab) -> None:  # noqa: ANN001
    ctx, t = tab
    p = t.panels["grpo"]
    picked = rl.on_rewards_picked(p, ["rule:n_words", "rule:keyword:sea,-ugh", " "])
    reward = picked[p.field("reward")]
    assert reward == "rule:n_words, rule:keyword:sea,-ugh"
    want = GRPORun(model="tiny", reward=reward, reward_weights="1, 0.5", num_generations=4,
                   per_device_train_batch_size=8, max_steps=3, beta=0.1)
    values = p.form.values_from(to_dict(want))
    values[p.form.names.index("reward")] = reward
    got = p.form.to_config("grpo", values)
    assert isinstance(got, GRPORun) and to_dict(got) == to_dict(want)
    # the note says what is optimised; the multiselect follows a typed reward
    fields = rl.on_reward_fields(p, reward, "1, 0.5", "")
    assert fields[p.rewards]["value"] == ["rule:n_words", "rule:keyword:sea,-ugh"]
    assert "`rule:n_words` × 1 + `rule:keyword:sea,-ugh` × 0.5" in fields[p.reward_note]
    # one weight for two rewards: a one-line problem under the picker, and the form refuses to build the config
    assert fields_note(p, reward, "1").startswith("⚠️ reward_weights needs one finite number per reward (2)")
    values[p.form.names.index("reward_weights")] = "1"
    with pytest.raises(ConfigError, match="reward_weights"):
        p.form.to_config("grpo", values)


def fields_note(p, reward: str, weights: str) -> str:  # noqa: ANN001
    return rl.on_reward_fields(p, reward, weights, "")[p.reward_note]


def test_expression_check_and_example(tab) -> None:  # noqa: ANN001
    _, t = tab
    p = t.panels["grpo"]
    assert rl.on_reward_fields(p, "rule:expr", "", "")[p.expr_check].startswith("⚠️ rule:expr needs an expression")
    assert rl.on_reward_fields(p, "rule:expr", "", "len(text) +")[p.expr_check].startswith("⚠️")
    name = next(iter(rl.EXAMPLES))
    out = rl.on_example(p, name, "rule:n_words")
    assert out[p.field("reward")] == "rule:n_words, rule:expr" and out[p.field("reward_expression")]
    assert rl.on_reward_fields(p, "rule:n_words, rule:expr", "", out[p.field("reward_expression")])[
        p.expr_check] == "✅ expression OK"


def test_method_switch_shows_one_panel(tab) -> None:  # noqa: ANN001
    _, t = tab
    out = rl.on_method(t, "RLOO")
    assert out[t.panels["rloo"].column]["visible"] is True and out[t.panels["grpo"].column]["visible"] is False
    assert t.panels["rloo"].form.cls.STAGE == "rloo" and "normalize_advantages" in t.panels["rloo"].form.names


def test_roles_admin_trains_and_compares_viewers_read(home: Path) -> None:
    from playground.ui.app import build_app, make_context

    assert role_needed(rl_compare.on_compare) == Role.ADMIN and role_needed(rl_compare.on_compare_stop) == Role.ADMIN
    for fn in (rl.on_method, rl.on_rewards_picked, rl.on_reward_fields, rl.on_refresh):
        assert role_needed(fn) == Role.VIEWER
    assert role_needed(rl.on_rl_arena_round) == Role.ANNOTATOR
    ctx = make_context(default_model="tiny")
    try:
        demo = build_app(ctx)
        names = {bf.api_name: ctx.roles[i] for i, bf in demo.fns.items() if i in ctx.roles}
        assert names["grpo_start"] == Role.ADMIN and names["rloo_stop"] == Role.ADMIN
        assert names["rl_compare"] == Role.ADMIN and names["grpo_preset"] == Role.VIEWER
        # the Compare button streams (a generator through the binding and the guard): a bad pick is one line
        compare_fn = next(bf.fn for bf in demo.fns.values() if bf.api_name == "rl_compare")
        assert inspect.isgeneratorfunction(compare_fn)
        assert [list(o.values()) for o in compare_fn(["nope"], "builtin:prompts", "rule:vocab_half", 4)] == [
            ["⚠️ compare: run 'nope' is not in this workspace"]]
    finally:
        ctx.jobs.close()


def test_arena_round_and_judge_take_a_grpo_run(tab) -> None:  # noqa: ANN001
    from playground.stages.ppo.service import arena_round
    from playground.stages.preferences.arena import adapter_choices

    ctx, t = tab
    run_dir = fake_run(ctx, "grpo-20990101-000000-arena", SAMPLES, [{"step": 1, "reward": 0.5}])
    assert "is running" in arena_round(ctx.ws, "grpo-20990101-000000-arena")
    (run_dir / "adapter").mkdir()
    write_status(run_dir, state="succeeded")
    ctx.ws.register_run("grpo-20990101-000000-arena", "grpo", run_dir,
                        {**to_dict(from_dict("grpo", {"model": "tiny"})), "reward": "rule:length, rm:reward-xyz",
                         "max_completion_length": 12, "temperature": 0.9})
    setup = arena_round(ctx.ws, "grpo-20990101-000000-arena")
    assert setup.pool == "grpo-20990101-000000-arena" and setup.judge == "reward-xyz"
    assert (setup.sources[0].adapter, setup.sources[1].adapter) == ("grpo-20990101-000000-arena", "")
    assert setup.sources[0].max_new_tokens == 12 and setup.sources[0].temperature == 0.9
    assert "grpo-20990101-000000-arena" in [v for _, v in adapter_choices(ctx.ws)]

    # the tab's button handler (in the built app, behind its role check) fills the arena and switches to it
    from playground.ui.app import build_app

    demo = build_app(ctx)
    fns = [f for f in demo.fns.values() if getattr(f, "name", "") == "on_rl_arena_round"]
    assert len(fns) == 2  # GRPO's and RLOO's panels
    out = fns[0].fn("grpo-20990101-000000-arena")
    assert out[ctx.tabs].selected == "preferences" and out[ctx.arena.pool] == "grpo-20990101-000000-arena"
    assert fns[0].fn("nope") == {ctx.tabs: gr.skip()}
    # what Gradio does with these dicts: every "nothing to change" answer passes its output check (an empty dict
    # does not: Gradio reads it as one value)
    from tests.conftest import run_coroutine

    nothing = {"on_rl_arena_round": ("nope",), "on_example": (None, ""),
               "on_runs_picked": ([], "")}
    checked = set()
    for bf in demo.fns.values():
        if getattr(bf, "name", "") in nothing and bf.fn.__qualname__.startswith("bind."):  # this tab's
            run_coroutine(demo.postprocess_data(bf, bf.fn(*nothing[bf.name]), None))
            checked.add(bf.name)
    assert checked == set(nothing)
    with pytest.raises(ValueError, match="enough output values"):
        run_coroutine(demo.postprocess_data(fns[0], {}, None))


def test_compare_section_handlers(tab, tmp_path: Path) -> None:  # noqa: ANN001
    ctx, t = tab
    c = t.compare
    fake_run(ctx, "grpo-20990101-000000-cmp", SAMPLES, [{"step": 1, "reward": 0.5}])
    picked = rl_compare.on_runs_picked(ctx, c, ["grpo-20990101-000000-cmp"], "")
    assert picked == {c.reward: "rule:n_words", c.prompts: "builtin:n_words-heldout"}
    assert rl_compare.on_runs_picked(ctx, c, ["grpo-20990101-000000-cmp"], "rule:length") == {c.reward: gr.skip()}
    # a bad pick is one line and starts nothing
    out = list(rl_compare.on_compare(ctx, c, ["nope"], "builtin:prompts", "rule:vocab_half", 4))
    assert out == [{c.status: "⚠️ compare: run 'nope' is not in this workspace"}]
    # a finished comparison: chart, table, CSV + PNG to download
    row = {"run": "grpo-x", "stage": "grpo", "steps": 3, "wall_s": 30.0, "samples": 24, "heldout_reward": 0.6,
           "base_reward": 0.4, "gain": 0.2, "kl_to_base": 0.3, "win_rate": 0.75, "length": 9.0, "n": 4}
    result = {"request": {"reward": "rule:vocab_half"}, "n": 4, "prompts": "builtin:prompts", "model": "tiny",
              "base_reward": 0.4, "rows": [row], "generated": 8, "cached": 0, "evaluation": 1}
    view = rl_compare.result_view(c, result, 12.0)
    assert "Largest held-out gain: **grpo-x** (GRPO, +0.200 over the base)" in view[c.status]
    assert view[c.chart].count("<polyline") == 2 and list(view[c.table]["samples"]) == [24]
    csv_path, png_path = (Path(f) for f in view[c.files])
    assert csv_path.read_text().splitlines()[1].startswith("grpo-x,grpo,3,30.0,24,0.6000,0.4000,0.2000")
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
