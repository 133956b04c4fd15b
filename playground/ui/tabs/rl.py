"""RL tab: group-based online RL, GRPO or RLOO (a method switch), beside the PPO tab; plus "Compare runs".

Each method has its own panel (ui/tabs/rl_method.py): presets, a reward multiselect (the config's comma-separated
`reward` and its `reward_weights`, with the expression check PPO has), the config form from the stage's dataclass,
Start / Stop / Resume as jobs, the live view with the method's objective beside it, the warning when most groups
have identical rewards, a per-reward-function chart and the group table (each prompt's completions, rewards,
advantages). "Compare runs" (ui/tabs/rl_compare.py) judges PPO / GRPO / RLOO / DPO runs by one reward on the same
held-out prompts (stages/compare.py).

Layout only: `build` lays out and returns an `RLTab`; the handlers are module functions taking the panel they act
on and returning {component: value}, each marked with the role it needs (ui/guard.py): admin trains and compares,
viewers read. Training is a subprocess `python -m playground grpo|rloo --config runs/<id>/config.yaml`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.expr import EXAMPLES
from playground.stages.ppo.service import arena_round, expression_status
from playground.stages.reward.functions import split_specs
from playground.ui import i18n
from playground.ui.context import AppContext, TabId
from playground.ui.guard import needs, role_needed
from playground.ui.tabs import rl_compare
from playground.ui.tabs.rl_compare import ComparePanel, build_compare, compare_choices, heldout_choices
from playground.ui.tabs.rl_method import (
    NAMES,
    MethodPanel,
    build_method,
    prompt_choices,
    reward_choices,
    sft_choices,
)
from playground.ui.tabs.rl_view import RL_METRIC_HELP, reward_note
from playground.ui.widgets import chart
from playground.ui.widgets.run_panel import run_choices

# the charts' line tooltips: the GRPO / RLOO keys no other stage logs (a key another stage defines keeps its text)
for _k, _v in RL_METRIC_HELP.items():
    chart.METRIC_HELP.setdefault(_k, _v)

@dataclass
class RLTab:
    method: Any  # gr.Radio: GRPO | RLOO
    panels: dict[str, MethodPanel]  # by stage
    compare: ComparePanel


def bind(fn: Callable[..., Any], *bound: Any) -> Callable[..., Any]:
    """`fn` with its first arguments fixed (the context, the panel), keeping its name, its role mark and, for a
    generator (a streamed handler), being one: Gradio streams only what a generator function returns."""
    if inspect.isgeneratorfunction(fn):
        def call(*values: Any) -> Any:
            yield from fn(*bound, *values)
    else:
        def call(*values: Any) -> Any:
            return fn(*bound, *values)

    call.__name__ = fn.__name__
    return needs(role_needed(fn))(call)


# -- handlers ---------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_method(tab: RLTab, method: str) -> dict[Any, Any]:
    return {p.column: gr.update(visible=NAMES[stage] == method) for stage, p in tab.panels.items()}


@needs(Role.VIEWER)  # fills the form only
def on_rewards_picked(p: MethodPanel, picked: list[str] | None) -> dict[Any, Any]:
    return {p.field("reward"): ", ".join(s.strip() for s in picked or [] if s and s.strip())}


@needs(Role.VIEWER)  # static check here; the expression's evaluation is a budgeted child, two at a time
def on_reward_fields(p: MethodPanel, reward: str, weights: str, expr: str = "") -> dict[Any, Any]:
    """The multiselect follows the form's reward (a preset, a typed spec); the note says what is optimised."""
    specs = split_specs(reward or "")
    out: dict[Any, Any] = {p.rewards: gr.update(value=specs), p.reward_note: reward_note(reward, weights)}
    if p.expr_check is not None:
        out[p.expr_check] = expression_status(expr, "rule:expr" if "rule:expr" in specs else "")
    return out


@needs(Role.VIEWER)
def on_example(p: MethodPanel, name: str | None, reward: str) -> dict[Any, Any]:
    if not name or name not in EXAMPLES:
        return {p.field("reward"): gr.skip()}  # never {}: Gradio reads an empty dict as one value
    specs = split_specs(reward or "")
    return {p.field("reward_expression"): EXAMPLES[name],
            p.field("reward"): ", ".join(specs if "rule:expr" in specs else [*specs, "rule:expr"])}


@needs(Role.VIEWER)
def on_sft_pick(p: MethodPanel, run_id: str | None) -> dict[Any, Any]:
    return {p.field("sft_run"): run_id or ""}


@needs(Role.VIEWER)
def on_refresh(ctx: AppContext, p: MethodPanel) -> dict[Any, Any]:
    return {p.run.follow: gr.update(choices=run_choices(ctx, p.stage)), p.rewards: gr.update(choices=reward_choices(ctx)),
            p.field("prompts"): gr.update(choices=prompt_choices(ctx)), p.sft_pick: gr.update(choices=sft_choices(ctx))}


@needs(Role.ANNOTATOR)  # sets up the blind comparison; votes are what annotators do
def on_rl_arena_round(ctx: AppContext, run_id: str, picked: str | None = None) -> dict[Any, Any]:
    """Fill the arena from the followed run (or the picker's, before any is followed) and switch to it."""
    run_id = run_id or picked or ""
    setup = arena_round(ctx.ws, run_id)
    if isinstance(setup, str):
        gr.Warning(i18n.localise(setup))
        return {ctx.tabs: gr.skip()}
    gr.Info(i18n.say("ppo.arena_ready", run=run_id, pool=setup.pool))
    targets = ctx.arena
    return {ctx.tabs: ctx.switch_to(TabId.PREFERENCES), **dict(zip(targets.outputs, targets.updates(ctx, setup)))}


# -- layout and wiring ------------------------------------------------------------------------------------------
def _wire_method(ctx: AppContext, p: MethodPanel) -> None:
    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    reward, weights = p.field("reward"), p.field("reward_weights")
    expr = p.field("reward_expression") if "reward_expression" in p.form.names else None
    p.rewards.input(bind(on_rewards_picked, p), [p.rewards], [reward], **quiet)
    fields = [reward, weights, *([expr] if expr is not None else [])]
    outs = [p.rewards, p.reward_note, *([p.expr_check] if p.expr_check is not None else [])]
    for box in fields:
        box.change(bind(on_reward_fields, p), fields, outs, **quiet)
    if p.expr_example is not None and expr is not None:
        p.expr_example.change(bind(on_example, p), [p.expr_example, reward], [expr, reward], **quiet)
    p.sft_pick.change(bind(on_sft_pick, p), [p.sft_pick], [p.field("sft_run")], **quiet)
    if p.run.refresh is not None:
        p.run.refresh.click(bind(on_refresh, ctx, p), None, [p.run.follow, p.rewards, p.field("prompts"), p.sft_pick])
    ctx.register_picker(p.rewards, lambda: reward_choices(ctx))
    ctx.register_picker(p.field("prompts"), lambda: prompt_choices(ctx))
    ctx.register_picker(p.sft_pick, lambda: sft_choices(ctx))
    if p.arena_btn is not None and ctx.arena is not None and ctx.tabs is not None:
        # the switch keeps the page's scroll position (mid-page, where this button is): show the arena from its top
        p.arena_btn.click(bind(on_rl_arena_round, ctx), [p.run.view.run_id, p.run.follow],
                          [ctx.tabs, *ctx.arena.outputs], api_visibility="private").then(
            None, js="() => document.getElementById('arena-annotator')?.scrollIntoView({block: 'start'})")


def _wire_compare(ctx: AppContext, c: ComparePanel) -> None:
    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    c.runs.input(bind(rl_compare.on_runs_picked, ctx, c), [c.runs, c.reward], [c.reward, c.prompts], **quiet)
    c.start.click(bind(rl_compare.on_compare, ctx, c), [c.runs, c.prompts, c.reward, c.n],
                  [c.status, c.chart, c.table, c.files, c.job], api_name="rl_compare")
    c.stop.click(bind(rl_compare.on_compare_stop, c), [c.job], [c.status], api_visibility="private")
    ctx.register_picker(c.runs, lambda: compare_choices(ctx))
    ctx.register_picker(c.prompts, lambda: heldout_choices(ctx))


def build(ctx: AppContext) -> RLTab:
    from playground.stages.grpo.config import GRPORun
    from playground.stages.rloo.config import RLOORun

    method = gr.Radio(list(NAMES.values()), value="GRPO", label=i18n.t("rl.method"), elem_id="rl-method",
                      info=i18n.t("rl.method_info"))
    panels = {"grpo": build_method(ctx, "grpo", GRPORun, True), "rloo": build_method(ctx, "rloo", RLOORun, False)}
    tab = RLTab(method, panels, build_compare(ctx))
    method.change(bind(on_method, tab), [method], [p.column for p in panels.values()], api_visibility="private",
                  show_progress="hidden")
    for p in panels.values():
        _wire_method(ctx, p)
    _wire_compare(ctx, tab.compare)
    return tab
