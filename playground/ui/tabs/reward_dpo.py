"""The Reward tab's DPO section: learn from the same pairs without a reward model (stages/dpo, a job).

Layout only (`build` returns a `DPOSection`; `on_data` is the one handler of its own): the trainer is
stages/dpo/train.py, its services stages/dpo/service.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.stages.data import preference_data_check
from playground.stages.dpo.config import DPORun
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import needs
from playground.ui.widgets import forms
from playground.ui.widgets.forms import ConfigForm, default_preset, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_panel, wire_presets

OBJECTIVE = i18n.t("dpo.objective")  # the formula stays, the prose is translated

PLOTS = [
    PlotSpec("DPO loss", ["loss", "eval_loss"], "loss", "the DPO loss; 0.69 = no preference learned yet"),
    PlotSpec("Implicit reward accuracy", ["rewards/accuracies", "eval_rewards/accuracies"], "accuracy",
             "share of pairs where β·log-ratio ranks the chosen answer first (eval n: see the run header)"),
    PlotSpec("Implicit reward margin", ["rewards/margins", "eval_rewards/margins"], "margin",
             "mean β·(log-ratio chosen − log-ratio rejected)"),
    PlotSpec("Implicit rewards", ["rewards/chosen", "rewards/rejected"], "β·log-ratio",
             "chosen should rise, rejected fall"),
]
GROUPS = [
    ("Model & data", ["model", "sft_run", "dataset", "max_length", "eval_fraction", "beta"]),
    ("LoRA", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"]),
    ("Training", ["learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "eval_steps", "save_steps", "seed"]),
    ("Speed", ["torch_threads", "attn_implementation", "fused_optimizer"]),
    ("Launch", ["device", "num_processes", "accelerate_config"]),
]
FIELDS = [n for _, names in GROUPS for n in names]


def grouped_form(cls: type, groups: list[tuple[str, list[str]]], choices: dict[str, list[str]],
                 initial: dict[str, Any] | None) -> ConfigForm:
    """A config form in titled groups (the reward form uses it too): basic fields, the rest under "Advanced"."""
    return forms.grouped_form(cls, groups, choices, initial)


def sft_runs(ctx: AppContext) -> list[str]:
    return ["", *[r["id"] for r in ctx.runs("sft", True)]]


@dataclass
class DPOSection:
    """The DPO section's components (build lays them out; on_data fills the data check)."""

    form: ConfigForm
    panel: RunPanel
    data_md: gr.Markdown  # the train / eval pair counts of the picked dataset

    def field(self, name: str) -> Any:
        return self.form.components[FIELDS.index(name)]


@needs(Role.VIEWER)
def on_data(dataset: str, eval_fraction: float, seed: float) -> str:
    """The data check under the form: train / eval pairs of the picked dataset, and the too-few warning."""
    return preference_data_check(dataset or "", float(eval_fraction or 0), int(seed or 0))


def build(ctx: AppContext, choices: dict[str, list[str]]) -> DPOSection:
    first = default_preset("dpo", ctx.default_model)
    with gr.Row():
        preset = gr.Dropdown(list_presets("dpo"), value=first, label=i18n.t("dpo.preset"), scale=3)
    form = grouped_form(DPORun, GROUPS, {**choices, "sft_run": sft_runs(ctx)},
                        load_preset("dpo", first) if first else None)
    data_md = gr.Markdown("")
    panel = run_panel(ctx, "dpo", form, PanelSpec(i18n.t("dpo.start"), PLOTS, OBJECTIVE, follow_label=i18n.t("dpo.follow"),
                                                  resume=False, refresh=False))
    wire_presets("dpo", form, preset)
    d = DPOSection(form=form, panel=panel, data_md=data_md)
    ctx.register_picker(d.field("sft_run"), lambda: sft_runs(ctx))
    data_in = [d.field(n) for n in ("dataset", "eval_fraction", "seed")]
    for comp in data_in:
        comp.change(on_data, data_in, [d.data_md], api_visibility="private", show_progress="hidden")
    return d
