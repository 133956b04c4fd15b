"""PPO tab: pick a policy (base or a finished SFT run), a reward (rule or a finished reward run), prompts and a
preset; start / stop / resume the job; watch score, KL, entropy, clip fraction, value loss and response length
live beside the PPO objective; compare sample responses before training and now.

Handlers take plain values and call services (jobs, run files); the training itself is a subprocess running
`python -m playground ppo --config runs/<id>/config.yaml` (playground/train/ppo.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.config import PPORun
from playground.runs import read_jsonl
from playground.ui.context import AppContext
from playground.ui.forms import ConfigForm, config_form, default_preset, list_presets, load_preset
from playground.ui.live import PlotSpec
from playground.ui.run_controls import run_choices, run_panel, wire_presets

OBJECTIVE = r"""**Objective: PPO with a KL-penalised reward**

$$r_t = -\beta \log\frac{\pi_\theta(y_t\mid s_t)}{\pi_{\text{ref}}(y_t\mid s_t)} + [t = T]\, R(x, y)$$

$$\mathcal{L}^{\text{clip}} = -\,\mathbb{E}_t\Big[\min\big(\rho_t \hat A_t,\ \text{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\, \hat A_t\big)\Big],
\quad \rho_t = \frac{\pi_\theta(y_t\mid s_t)}{\pi_{\text{old}}(y_t\mid s_t)}$$

The policy earns the reward model's (or rule's) **score** at the last token and pays **β × KL** to the
reference (the same model with the LoRA adapter switched off) at every token; $\hat A_t$ comes from GAE
with a value head on the policy. The clip stops any one update from moving the policy far: **clip
fraction** is the share of tokens that hit it. Rising score with KL that levels off is healthy; score
rising while KL explodes is reward hacking."""

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
    ("Policy, reward & prompts", ["model", "sft_run", "reward", "reward_target_length", "reward_keywords", "prompts"]),
    ("Rollout", ["response_length", "temperature", "rollout_batch_size", "total_updates", "missing_eos_penalty",
                 "max_prompt_length", "sample_every"]),
    ("Objective", ["kl_coef", "adaptive_kl", "target_kl", "kl_estimator", "gamma", "lam", "cliprange",
                   "cliprange_value", "vf_coef", "whiten_advantages"]),
    ("Optimisation", ["learning_rate", "lr_scheduler_type", "ppo_epochs", "per_device_train_batch_size",
                      "gradient_accumulation_steps", "max_grad_norm", "save_steps", "seed"]),
    ("LoRA & launch", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "device"]),
]
FIELDS = [n for _, names in GROUPS for n in names]
RULES = ["rule:vocab_half", "rule:length", "rule:keyword"]


def reward_choices(ctx: AppContext) -> list[str]:
    return [*RULES, *[f"rm:{r['id']}" for r in ctx.runs("reward", finished_only=True)]]


def sft_choices(ctx: AppContext) -> list[tuple[str, str]]:
    return [("base model (no SFT)", ""), *[(f"SFT {r['id']}", r["id"]) for r in ctx.runs("sft", finished_only=True)]]


def prompt_choices(ctx: AppContext) -> list[str]:
    return ["builtin:prompts", *[d["name"] for d in ctx.ws.list_datasets()]]


def samples_frame(run_dir: str | Path | None) -> pd.DataFrame:
    """One row per sample prompt: the response and score before training (update 0) and at the latest update."""
    cols = ["prompt", "before", "score before", "now", "score now", "update"]
    if not run_dir:
        return pd.DataFrame(columns=cols)
    rows = read_jsonl(Path(run_dir) / "samples.jsonl")
    if not rows:
        return pd.DataFrame(columns=cols)
    last = max(r["update"] for r in rows)
    before = {r["prompt"]: r for r in rows if r["update"] == 0}
    now = [r for r in rows if r["update"] == last]
    out = []
    for r in now:
        b = before.get(r["prompt"], {})
        out.append({"prompt": r["prompt"], "before": b.get("response", ""),
                    "score before": round(b["score"], 3) if "score" in b else None,
                    "now": r["response"], "score now": round(r["score"], 3), "update": last})
    return pd.DataFrame(out, columns=cols)


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
        "kl_estimator": ["k1", "k3"],
        "lr_scheduler_type": ["linear", "cosine", "constant", "constant_with_warmup"],
        "device": ["auto", "cpu", "cuda"],
    }
    initial = load_preset("ppo", first) if first else None
    with gr.Accordion("Configuration", open=True):
        parts = []
        for title, names in GROUPS:
            with gr.Group():
                gr.Markdown(f"**{title}**")
                with gr.Row():
                    parts.append(config_form(PPORun, names, choices, initial))
        form = ConfigForm.merge(parts)
    # the SFT run is picked from finished runs (value = run id, label says which)
    sft_box = form.components[FIELDS.index("sft_run")]
    sft_box_new = None
    if isinstance(sft_box, gr.Textbox):
        sft_box.info = "Finished SFT run id to start from ('' = the base model). Pick one below."
        sft_box_new = gr.Dropdown(sft_choices(ctx), value="", label="Start the policy from",
                                  info="The base model, or the LoRA adapter of a finished SFT run.")
    panel = run_panel(ctx, "ppo", form, start_label="▶ Start PPO", plots=PLOTS, objective=OBJECTIVE,
                      follow_info="Pick any PPO run to watch or control.")
    wire_presets("ppo", form, preset, preset_name, save_btn)
    view, follow, refresh_runs = panel.view, panel.follow, panel.refresh
    gr.Markdown("**Samples: before training vs now** (same prompts and sampling seed; refreshed as the run "
                "writes samples.jsonl every *sample every* updates)")
    samples = gr.Dataframe(samples_frame(None), interactive=False, wrap=True)
    sample_timer = gr.Timer(3.0)

    # -- handlers ---------------------------------------------------------------------------------
    def on_refresh() -> tuple[Any, ...]:
        out = [gr.update(choices=run_choices(ctx, "ppo")), gr.update(choices=reward_choices(ctx)),
               gr.update(choices=prompt_choices(ctx))]
        if sft_box_new is not None:
            out.append(gr.update(choices=sft_choices(ctx)))
        return tuple(out)

    def on_samples(run_id: str) -> Any:
        if not run_id:
            return gr.skip()
        return samples_frame(ctx.jobs.run_dir(run_id))

    refresh_outputs = [follow, form.components[FIELDS.index("reward")], form.components[FIELDS.index("prompts")]]
    if sft_box_new is not None:
        refresh_outputs.append(sft_box_new)
        sft_box_new.change(lambda v: v or "", [sft_box_new], [sft_box], api_visibility="private")
    refresh_runs.click(on_refresh, None, refresh_outputs)
    sample_timer.tick(on_samples, [view.run_id], [samples], api_visibility="private", show_progress="hidden")
    view.run_id.change(on_samples, [view.run_id], [samples], api_visibility="private", show_progress="hidden")
