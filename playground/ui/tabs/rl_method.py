"""One method's panel in the RL tab (GRPO or RLOO): preset row, reward picker, config form, run panel with the live
view and the method's objective, the no-signal warning, the per-function reward chart, the group table, the arena
round. Layout only: `build_method` returns a `MethodPanel`; the handlers are in rl.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr

from playground.core.config import BaseRun
from playground.core.expr import EXAMPLES
from playground.stages.reward.functions import RULES, split_specs
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.tabs.rl_view import KL_HELP, reward_note, run_view_html
from playground.ui.widgets.forms import ConfigForm, default_preset, grouped_form, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec, RunSection
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_panel, wire_presets

NAMES = {"grpo": "GRPO", "rloo": "RLOO"}

OBJECTIVES = {
    "grpo": i18n.t("grpo.objective"),  # the formulas stay, the prose is translated
    "rloo": i18n.t("rloo.objective"),  # the formulas stay, the prose is translated
}


def plots(stage: str) -> list[PlotSpec]:
    return [
        PlotSpec("Reward", ["reward", "reward_std", "gold_score", "gold_proxy_score"], "reward",
                 "mean reward of the sampled completions and its within-group spread; with a gold judge, its score on "
                 "held-out prompts beside the training reward's on the same answers (proxy up, gold down: "
                 "over-optimisation)"),
        PlotSpec("Zero-variance groups", ["frac_reward_zero_std", "completions/clipped_ratio"], "share",
                 "share of groups whose rewards are all equal (no learning signal), and of completions cut at the "
                 "length limit"),
        PlotSpec("Completion length", ["completions/mean_length"], "tokens", "mean tokens per sampled completion"),
        PlotSpec("KL to reference", ["kl"], "nats", KL_HELP[stage]),
        PlotSpec("Clip fraction", ["clip_ratio/region_mean", "clip_ratio/low_mean", "clip_ratio/high_mean"], "share",
                 "share of tokens whose probability ratio hit the clip"),
        PlotSpec("Entropy", ["entropy"], "nats", "per-token entropy of the policy; a collapse means it stopped "
                 "exploring"),
    ]


# the form's groups (fields a stage does not have are left out; any field not named lands in "Other")
GROUPS = [
    ("Policy, reward & prompts", ["model", "sft_run", "reward", "reward_weights", "reward_target_length",
                                  "reward_keywords", "reward_expression", "prompts", "eval_fraction"]),
    ("Generation", ["num_generations", "max_completion_length", "temperature", "sample_every"]),
    ("Gold judge (held-out)", ["gold_judge", "gold_every"]),
    ("Objective", ["beta", "epsilon", "num_iterations", "loss_type", "scale_rewards", "normalize_advantages"]),
    ("Optimisation", ["learning_rate", "lr_scheduler_type", "warmup_steps", "max_steps", "num_train_epochs",
                      "per_device_train_batch_size", "gradient_accumulation_steps", "max_grad_norm", "logging_steps",
                      "save_steps", "seed"]),
    ("LoRA & launch", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "device",
                       "num_processes"]),
]
BASIC = ["model", "prompts", "reward_weights", "num_generations", "max_steps", "beta"]
NOT_IN_FORM = ("trust_remote_code", "accelerate_config", "resume_from_checkpoint")  # Resume has its own button


def form_groups(cls: type[BaseRun]) -> list[tuple[str, list[str]]]:
    have = [f.name for f in dataclasses.fields(cls) if f.name not in NOT_IN_FORM]
    named = {n for _, names in GROUPS for n in names}
    groups = [(title, [n for n in names if n in have]) for title, names in GROUPS]
    rest = [n for n in have if n not in named]
    return [g for g in [*groups, ("Other", rest)] if g[1]]


def reward_choices(ctx: AppContext) -> list[str]:
    return [*(f"rule:{r}" for r in RULES), *(f"rm:{r['id']}" for r in ctx.runs("reward", finished_only=True))]


def prompt_choices(ctx: AppContext) -> list[str]:
    from playground.core import builtin

    sets = [b for b in builtin.BUILTIN if b not in ("builtin:instructions", "builtin:prefs") and
            not b.endswith("-heldout")]
    return [*sets, *[d["name"] for d in ctx.ws.list_datasets()]]


def sft_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(i18n.say("common.base_model"), ""), *[(f"SFT {r['id']}", r["id"]) for r in ctx.runs("sft", finished_only=True)]]


@dataclass
class MethodPanel:
    stage: str
    column: Any  # gr.Column: shown when the method switch picks this method
    form: ConfigForm
    run: RunPanel
    preset: Any
    rewards: Any  # multiselect of reward specs (writes the form's `reward`)
    reward_note: Any
    expr_example: Any
    expr_check: Any
    sft_pick: Any
    arena_btn: Any | None

    def field(self, name: str) -> Any:
        return self.form.components[self.form.names.index(name)]


def _expression_helpers(stage: str, extra: dict[str, Any]) -> Any:
    def lay_out() -> None:  # under the reward expression, in its group
        with gr.Row():
            extra["example"] = gr.Dropdown(list(EXAMPLES), value=None, label=i18n.t("ppo.examples"),
                                           info=i18n.t("rl.examples_info"), scale=1)
            extra["check"] = gr.Markdown("", elem_id=f"{stage}-expr-check")
    return lay_out


def build_method(ctx: AppContext, stage: str, cls: type[BaseRun], visible: bool) -> MethodPanel:
    first = default_preset(stage, ctx.default_model)
    initial = load_preset(stage, first) if first else {}
    with gr.Column(visible=visible) as column:
        with gr.Row():
            preset = gr.Dropdown(list_presets(stage), value=first or None, scale=3,
                                 label=i18n.t({"grpo": "grpo.preset", "rloo": "rloo.preset"}[stage]),
                                 info=i18n.t("ppo.preset_info"))
            preset_name = gr.Textbox(label=i18n.t("form.save_as"), placeholder=f"my-{stage}", scale=2)
            save_btn = gr.Button(i18n.t("form.save"), scale=1)
        reward0, weights0 = str(initial.get("reward", "")), str(initial.get("reward_weights", ""))
        rewards = gr.Dropdown(reward_choices(ctx), value=split_specs(reward0), multiselect=True,
                              allow_custom_value=True, label=i18n.t("rl.rewards"), elem_id=f"{stage}-rewards",
                              info=i18n.t("rl.rewards_info"))
        note = gr.Markdown(reward_note(reward0, weights0), elem_id=f"{stage}-reward-note")
        extra: dict[str, Any] = {}
        groups = form_groups(cls)
        after = {"reward_expression": _expression_helpers(stage, extra)} if "reward_expression" in \
            {n for _, g in groups for n in g} else {}
        with gr.Accordion(i18n.t("form.configuration"), open=True):
            form = grouped_form(cls, groups, {"model": ["bundled", "tiny"], "prompts": prompt_choices(ctx)},
                                initial or None, basic=BASIC, after=after)
        wire_presets(stage, form, preset, preset_name, save_btn)
        sft_pick = gr.Dropdown(sft_choices(ctx), value=str(initial.get("sft_run", "")), label=i18n.t("ppo.sft_pick"),
                               info=i18n.t("ppo.sft_pick_info"))
        run = run_panel(ctx, stage, form, PanelSpec(
            i18n.t({"grpo": "grpo.start", "rloo": "rloo.start"}[stage]), plots(stage), OBJECTIVES[stage],
            follow_label=i18n.t({"grpo": "grpo.follow", "rloo": "rloo.follow"}[stage]),
            follow_info=i18n.t({"grpo": "grpo.follow_info", "rloo": "rloo.follow_info"}[stage]),
            # the zero-variance warning, the per-function chart and the group table are drawn inside the live panel
            # by the page poll: a GRPO / RLOO step costs the page no Gradio event (issue 29, bench/page_cpu.py)
            tables=[RunSection(partial(run_view_html, stage))]))
        arena_btn = None
        if ctx.arena is not None and ctx.tabs is not None:
            with gr.Row():
                arena_btn = gr.Button(i18n.t("ppo.arena"), elem_id=f"{stage}-arena-round",
                                      scale=0, min_width=300)
                gr.Markdown(i18n.t("ppo.arena_help"),
                            elem_classes=["pg-help"])
    return MethodPanel(stage, column, form, run, preset, rewards, note, extra.get("example"), extra.get("check"),
                       sft_pick, arena_btn)
