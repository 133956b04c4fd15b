"""PPO tab: pick a policy (base or a finished SFT run), a reward (rule or a finished reward run), prompts and a
preset; start / stop / resume the job; watch score, KL, entropy, clip fraction, value loss and response length
live beside the PPO objective; compare sample responses before training and now.

Reward `rule:expr` scores a response with a sandboxed Python expression (`reward_expression`, checked live
under the form, with a small menu of examples). "⚔ Arena round: policy vs reference" takes the followed run,
once it has ended with an adapter, to the Preferences tab: source 1 = its base + adapter, source 2 = the same
base alone (the PPO reference), both sampled like the rollouts, votes in pool `<run id>` (ppo-...)
(`stages.ppo.service.arena_round(ws, run_id)` computes that setup).

Layout only: `build` returns the components as one `PPOTab`; the handlers are the module's functions (plain values
in, services called, `{component: value}` out). The training itself is a subprocess running
`python -m playground ppo --config runs/<id>/config.yaml` (playground/stages/ppo/train.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.expr import EXAMPLES
from playground.stages.ppo.config import PPORun
from playground.stages.ppo.service import REWARD_RULES, arena_round, expression_status, samples_frame
from playground.ui import i18n
from playground.ui.context import AppContext, TabId
from playground.ui.guard import bind, needs
from playground.ui.widgets.forms import ConfigForm, default_preset, grouped_form, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec, RunTable
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_choices, run_panel, wire_presets

OBJECTIVE = i18n.t("ppo.objective")  # the formula stays, the prose is translated

PLOTS = [
    PlotSpec("Score", ["score", "rlhf_reward", "gold_score", "gold_proxy_score"], "reward",
             "mean reward-model / rule score; RLHF reward = score − β·KL; with a gold judge, its score on held-out "
             "prompts beside the training reward's on the same answers (proxy up, gold down: over-optimisation)"),
    PlotSpec("KL to reference", ["kl"], "nats", "sum over the response of log π − log π_ref, mean over the batch"),
    PlotSpec("Entropy", ["entropy"], "nats", "per-token entropy of the policy; a collapse means it stopped exploring"),
    PlotSpec("Clip fraction", ["clipfrac", "vf_clipfrac", "approx_kl"], "share",
             "tokens whose ratio hit the clip (policy / value), and the approximate KL per update"),
    PlotSpec("Value loss", ["value_loss"], "loss", "the value head's error predicting returns"),
    PlotSpec("Response length", ["response_length"], "tokens", "mean generated tokens (up to and with EOS)"),
]

GROUPS = [
    ("Policy, reward & prompts", ["model", "sft_run", "reward", "reward_target_length", "reward_keywords",
                                  "reward_expression", "prompts"]),
    ("Rollout", ["response_length", "temperature", "rollout_batch_size", "total_updates", "missing_eos_penalty",
                 "max_prompt_length", "sample_every"]),
    ("Gold judge (held-out)", ["gold_judge", "gold_every"]),
    ("Objective", ["kl_coef", "adaptive_kl", "target_kl", "kl_estimator", "gamma", "lam", "cliprange",
                   "cliprange_value", "vf_coef", "value_model", "whiten_advantages"]),
    ("Optimisation", ["learning_rate", "lr_scheduler_type", "ppo_epochs", "per_device_train_batch_size",
                      "gradient_accumulation_steps", "max_grad_norm", "save_steps", "seed"]),
    ("Speed", ["rollout_weights", "torch_threads", "attn_implementation", "fused_optimizer"]),
    ("LoRA & launch", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "device",
                       "num_processes"]),
]
FIELDS = [n for _, names in GROUPS for n in names]


def reward_choices(ctx: AppContext) -> list[str]:
    return [*REWARD_RULES, *[f"rm:{r['id']}" for r in ctx.runs("reward", finished_only=True)]]


def sft_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [(i18n.say("common.base_model"), ""), *[(f"SFT {r['id']}", r["id"]) for r in ctx.runs("sft", finished_only=True)]]


def prompt_choices(ctx: AppContext) -> list[str]:
    return ["builtin:prompts", *[d["name"] for d in ctx.ws.list_datasets()]]


@dataclass
class PPOTab:
    """The PPO tab's components (build lays them out; the handlers below read and fill them)."""

    form: ConfigForm
    panel: RunPanel
    expr_example: gr.Dropdown  # example reward expressions
    expr_check: gr.Markdown  # the live check under the expression
    sft_pick: gr.Dropdown | None  # "Start the policy from": base or a finished SFT run (fills the sft_run field)
    arena_btn: gr.Button | None  # "Arena round" (None when the app has no arena)

    def field(self, name: str) -> Any:
        return self.form.components[FIELDS.index(name)]


# -- handlers ----------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_refresh(ctx: AppContext, t: PPOTab) -> dict[Any, Any]:
    out = {t.panel.follow: gr.update(choices=run_choices(ctx, "ppo")),
           t.field("reward"): gr.update(choices=reward_choices(ctx)),
           t.field("prompts"): gr.update(choices=prompt_choices(ctx))}
    if t.sft_pick is not None:
        out[t.sft_pick] = gr.update(choices=sft_choices(ctx))
    return out


@needs(Role.VIEWER)  # fills the form only; starting a run is what needs admin
def on_sft_pick(picked: str | None) -> str:
    return picked or ""


@needs(Role.VIEWER)  # fills the form only
def on_example(t: PPOTab, name: str | None) -> dict[Any, Any]:
    if not name or name not in EXAMPLES:
        return {t.field("reward"): gr.skip()}  # an empty dict is not "nothing" to Gradio: one output, skipped
    return {t.field("reward_expression"): EXAMPLES[name], t.field("reward"): "rule:expr"}


@needs(Role.VIEWER)  # bounded: static check here, evaluation in a budgeted child, two at a time
def on_expression(expr: str, reward: str) -> str:
    return expression_status(expr, reward)


@needs(Role.ANNOTATOR)  # sets up the blind comparison; votes are what annotators do
def on_arena_round(ctx: AppContext, run_id: str, picked: str | None = None) -> dict[Any, Any]:
    """Fill the arena (ctx.arena) from the followed run and switch to it (ctx.tabs); a warning and no change
    otherwise. `picked` is the run picker's value: at page load it shows the newest run before any is followed."""
    run_id = run_id or picked or ""
    setup = arena_round(ctx.ws, run_id)
    if isinstance(setup, str):
        gr.Warning(i18n.localise(setup))
        return {ctx.tabs: gr.skip()}  # every output left as it is
    gr.Info(i18n.say("ppo.arena_ready", run=run_id, pool=setup.pool))
    targets = ctx.arena
    return {ctx.tabs: ctx.switch_to(TabId.PREFERENCES), **dict(zip(targets.outputs, targets.updates(ctx, setup),
                                                                  strict=True))}


# -- layout ------------------------------------------------------------------------------------------------------
def _config(ctx: AppContext) -> tuple[ConfigForm, dict[str, Any]]:
    """(the form, the expression helpers laid out under the reward expression)."""
    first = default_preset("ppo", ctx.default_model)
    with gr.Row():
        preset = gr.Dropdown(list_presets("ppo"), value=first, label=i18n.t("form.preset"),
                             info=i18n.t("ppo.preset_info"), scale=3)
        preset_name = gr.Textbox(label=i18n.t("form.save_as"), placeholder="my-ppo", scale=2)
        save_btn = gr.Button(i18n.t("form.save"), scale=1)
    choices: dict[str, Any] = {"model": ["bundled", "tiny"], "reward": reward_choices(ctx),
                               "prompts": prompt_choices(ctx)}
    extra: dict[str, Any] = {}

    def expression_helpers() -> None:  # laid out under the reward expression, in its group
        with gr.Row():
            extra["expr_example"] = gr.Dropdown(list(EXAMPLES), value=None, label=i18n.t("ppo.examples"),
                                                info=i18n.t("ppo.examples_info"), scale=1)
            extra["expr_check"] = gr.Markdown("", elem_id="ppo-expr-check")

    with gr.Accordion(i18n.t("form.configuration"), open=True):
        form = grouped_form(PPORun, GROUPS, choices, load_preset("ppo", first) if first else None,
                            after={"reward_expression": expression_helpers})
    wire_presets("ppo", form, preset, preset_name, save_btn)
    # the SFT run is picked from finished runs (value = run id, label says which)
    sft_box = form.components[FIELDS.index("sft_run")]
    extra["sft_pick"] = None
    if isinstance(sft_box, gr.Textbox):
        sft_box.info = i18n.t("ppo.sft_box_info")
        extra["sft_pick"] = gr.Dropdown(sft_choices(ctx), value="", label=i18n.t("ppo.sft_pick"),
                                        info=i18n.t("ppo.sft_pick_info"))
    form.components[FIELDS.index("reward_expression")].elem_id = "ppo-reward-expression"  # read at launch
    return form, extra


def build(ctx: AppContext) -> PPOTab:
    form, extra = _config(ctx)
    # the samples table (before training vs now) is drawn inside the live panel by the page poll: a run writing
    # samples costs the page no Gradio event (issue 29, bench/page_cpu.py)
    samples = RunTable("ppo.samples", samples_frame, "samples")
    panel = run_panel(ctx, "ppo", form, PanelSpec(i18n.t("ppo.start"), PLOTS, OBJECTIVE,
                                                    follow_info=i18n.t("ppo.follow_info"), tables=[samples]))
    arena_btn = None
    if ctx.arena is not None and ctx.tabs is not None:  # the app built the arena tab before this one
        with gr.Row():
            arena_btn = gr.Button(i18n.t("ppo.arena"), elem_id="ppo-arena-round", scale=0,
                                  min_width=300)
            gr.Markdown(i18n.t("ppo.arena_help"),
                        elem_classes=["pg-help"])
    t = PPOTab(form=form, panel=panel, arena_btn=arena_btn, **extra)
    wire(ctx, t)
    return t


def wire(ctx: AppContext, t: PPOTab) -> None:
    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    ctx.register_picker(t.field("reward"), lambda: reward_choices(ctx))
    ctx.register_picker(t.field("prompts"), lambda: prompt_choices(ctx))
    refresh_outputs = [t.panel.follow, t.field("reward"), t.field("prompts")]
    if t.sft_pick is not None:
        ctx.register_picker(t.sft_pick, lambda: sft_choices(ctx))
        refresh_outputs.append(t.sft_pick)
        t.sft_pick.change(on_sft_pick, [t.sft_pick], [t.field("sft_run")], api_visibility="private")
    if t.panel.refresh is not None:
        t.panel.refresh.click(bind(on_refresh, ctx, t), None, refresh_outputs)
    t.expr_example.change(bind(on_example, t), [t.expr_example], [t.field("reward_expression"), t.field("reward")],
                          api_visibility="private")
    for ev in (t.field("reward_expression").change, t.field("reward").change):
        ev(on_expression, [t.field("reward_expression"), t.field("reward")], [t.expr_check], **quiet)
    if t.arena_btn is not None:
        # the switch keeps the page's scroll position (mid-page, where this button is): show the arena from its top
        t.arena_btn.click(bind(on_arena_round, ctx), [t.panel.view.run_id, t.panel.follow],
                          [ctx.tabs, *ctx.arena.outputs], api_visibility="private").then(
            None, js="() => document.getElementById('arena-annotator')?.scrollIntoView({block: 'start'})")
