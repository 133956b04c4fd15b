"""PPO tab: pick a policy (base or a finished SFT run), a reward (rule or a finished reward run), prompts and a
preset; start / stop / resume the job; watch score, KL, entropy, clip fraction, value loss and response length
live beside the PPO objective; compare sample responses before training and now.

Reward `rule:expr` scores a response with a sandboxed Python expression (`reward_expression`, checked live
under the form, with a small menu of examples). "⚔ Arena round: policy vs reference" takes the followed run,
once it has ended with an adapter, to the Preferences tab: source 1 = its base + adapter, source 2 = the same
base alone (the PPO reference), both sampled like the rollouts, votes in pool `<run id>` (ppo-...)
(`stages.ppo.service.arena_round(ws, run_id)` computes that setup).

Handlers take plain values and call services (jobs, run files); the training itself is a subprocess running
`python -m playground ppo --config runs/<id>/config.yaml` (playground/stages/ppo/train.py).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.expr import EXAMPLES
from playground.stages.ppo.config import PPORun
from playground.stages.ppo.service import REWARD_RULES, arena_round, expression_status, samples_frame
from playground.ui.context import AppContext, TabId
from playground.ui.guard import needs
from playground.ui.widgets.forms import default_preset, grouped_form, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.run_panel import PanelSpec, run_choices, run_panel, wire_presets

OBJECTIVE = r"""**Objective: PPO with a KL-penalised reward**

$$r_t = -\beta \log\frac{\pi_\theta(y_t\mid s_t)}{\pi_{\text{ref}}(y_t\mid s_t)} + [t = T]\, R(x, y)$$

$$\mathcal{L}^{\text{clip}} = -\,\mathbb{E}_t\Big[\min\big(\rho_t \hat A_t,\ \text{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\, \hat A_t\big)\Big],
\quad \rho_t = \frac{\pi_\theta(y_t\mid s_t)}{\pi_{\text{old}}(y_t\mid s_t)}$$

The policy earns the reward model's (or rule's) **score** at the last token and pays **β × KL** to the
reference (the same model with the LoRA adapter switched off) at every token; $\hat A_t$ comes from GAE
with a value head on the policy's features (or, with `value_model: adapter`, on a second LoRA adapter's).
The clip stops any one update from moving the policy far: **clip fraction** is the share of tokens that
hit it. Rising score with KL that levels off is healthy; score rising while KL explodes is reward hacking."""

PLOTS = [
    PlotSpec("Score", ["score", "rlhf_reward"], "reward", "mean reward-model / rule score; RLHF reward = score − β·KL"),
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
    return [("base model (no SFT)", ""), *[(f"SFT {r['id']}", r["id"]) for r in ctx.runs("sft", finished_only=True)]]


def prompt_choices(ctx: AppContext) -> list[str]:
    return ["builtin:prompts", *[d["name"] for d in ctx.ws.list_datasets()]]


def build(ctx: AppContext) -> None:
    first = default_preset("ppo", ctx.default_model)
    with gr.Row():
        preset = gr.Dropdown(list_presets("ppo"), value=first, label="Preset",
                             info="Fills the form; tiny-cpu trains a random tiny model on a rule reward.", scale=3)
        preset_name = gr.Textbox(label="Save form as preset", placeholder="my-ppo", scale=2)
        save_btn = gr.Button("💾 Save preset", scale=1)
    choices: dict[str, Any] = {
        "model": ["bundled", "tiny"],
        "reward": reward_choices(ctx),
        "prompts": prompt_choices(ctx),
    }
    initial = load_preset("ppo", first) if first else None
    extra: dict[str, Any] = {}

    def expression_helpers() -> None:  # laid out under the reward expression, in its group
        with gr.Row():
            extra["example"] = gr.Dropdown(list(EXAMPLES), value=None, label="Example expressions",
                                           info="Fills the expression and picks rule:expr.", scale=1)
            extra["check"] = gr.Markdown("", elem_id="ppo-expr-check")

    with gr.Accordion("Configuration", open=True):
        form = grouped_form(PPORun, GROUPS, choices, initial, after={"reward_expression": expression_helpers})
    expr_example, expr_check = extra["example"], extra["check"]
    # the SFT run is picked from finished runs (value = run id, label says which)
    sft_box = form.components[FIELDS.index("sft_run")]
    sft_box_new = None
    if isinstance(sft_box, gr.Textbox):
        sft_box.info = "Finished SFT run id to start from ('' = the base model). Pick one below."
        sft_box_new = gr.Dropdown(sft_choices(ctx), value="", label="Start the policy from",
                                  info="The base model, or the LoRA adapter of a finished SFT run.")
    panel = run_panel(ctx, "ppo", form, PanelSpec("▶ Start PPO", PLOTS, OBJECTIVE,
                                                    follow_info="Pick any PPO run to watch or control."))
    wire_presets("ppo", form, preset, preset_name, save_btn)
    view, follow, refresh_runs = panel.view, panel.follow, panel.refresh
    ctx.register_picker(form.components[FIELDS.index("reward")], lambda: reward_choices(ctx))
    ctx.register_picker(form.components[FIELDS.index("prompts")], lambda: prompt_choices(ctx))
    if sft_box_new is not None:
        ctx.register_picker(sft_box_new, lambda: sft_choices(ctx))
    gr.Markdown("**Samples: before training vs now** (same prompts and sampling seed; refreshed as the run "
                "writes samples.jsonl every *sample every* updates)")
    samples = gr.Dataframe(samples_frame(None), interactive=False, wrap=True,  # 'now' stays on screen
                           column_widths=["18%", "29%", "8%", "29%", "8%", "8%"])
    arena_btn = None
    if ctx.arena is not None and ctx.tabs is not None:  # the app built the arena tab before this one
        with gr.Row():
            arena_btn = gr.Button("⚔ Arena round: policy vs reference", elem_id="ppo-arena-round", scale=0,
                                  min_width=300)
            gr.Markdown("Judge the followed run's policy against its reference (the base without the adapter), "
                        "blind, in the Preferences tab; the votes form their own pool, named after the run.",
                        elem_classes=["pg-help"])

    # -- handlers ---------------------------------------------------------------------------------
    @needs(Role.VIEWER)
    def on_refresh() -> tuple[Any, ...]:
        out = [gr.update(choices=run_choices(ctx, "ppo")), gr.update(choices=reward_choices(ctx)),
               gr.update(choices=prompt_choices(ctx))]
        if sft_box_new is not None:
            out.append(gr.update(choices=sft_choices(ctx)))
        return tuple(out)

    @needs(Role.VIEWER)
    def on_samples(run_id: str) -> Any:
        if not run_id:
            return gr.skip()
        return samples_frame(ctx.jobs.run_dir(run_id))

    refresh_outputs = [follow, form.components[FIELDS.index("reward")], form.components[FIELDS.index("prompts")]]
    if sft_box_new is not None:
        refresh_outputs.append(sft_box_new)
        sft_box_new.change(needs(Role.VIEWER)(lambda v: v or ""), [sft_box_new], [sft_box], api_visibility="private")
    refresh_runs.click(on_refresh, None, refresh_outputs)
    # the samples table follows the live view: re-read once per update of the followed run (no timer of its own)
    view.on_run_change(on_samples, [view.run_id], [samples])

    reward_box = form.components[FIELDS.index("reward")]
    expr_box = form.components[FIELDS.index("reward_expression")]
    expr_box.elem_id = "ppo-reward-expression"  # set before launch, like sft_box.info above: config is read then

    @needs(Role.VIEWER)  # fills the form only; starting a run is what needs admin
    def on_example(name: str | None) -> tuple[Any, Any]:
        if not name or name not in EXAMPLES:
            return gr.skip(), gr.skip()
        return EXAMPLES[name], "rule:expr"

    @needs(Role.VIEWER)  # bounded: static check here, evaluation in a budgeted child, two at a time
    def on_expression(expr: str, reward: str) -> str:
        return expression_status(expr, reward)

    expr_example.change(on_example, [expr_example], [expr_box, reward_box], api_visibility="private")
    for ev in (expr_box.change, reward_box.change):
        ev(on_expression, [expr_box, reward_box], [expr_check], api_visibility="private", show_progress="hidden")

    if arena_btn is not None:
        targets, tabs = ctx.arena, ctx.tabs

        @needs(Role.ANNOTATOR)  # sets up the blind comparison; votes are what annotators do
        def on_arena_round(run_id: str, picked: str | None = None) -> list[Any]:
            """Fill the arena from the followed run and switch to it; a warning and no change otherwise.

            `picked` is the run picker's value: at page load it shows the newest run before any is followed."""
            run_id = run_id or picked or ""
            setup = arena_round(ctx.ws, run_id)
            if isinstance(setup, str):
                gr.Warning(setup)
                return [gr.skip()] * (1 + len(targets.outputs))
            gr.Info(f"Arena ready: {run_id} vs its reference in pool {setup.pool}. Press Generate.")
            return [ctx.switch_to(TabId.PREFERENCES), *targets.updates(ctx, setup)]

        arena_btn.click(on_arena_round, [view.run_id, follow], [tabs, *targets.outputs], api_visibility="private")
