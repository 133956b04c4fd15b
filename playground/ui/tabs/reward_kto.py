"""The Reward tab's KTO section, beside DPO: learn from rated answers, no pairs needed (stages/kto, a job).

Layout only (`build` returns a `KTOSection`; `on_data` is the one handler of its own): the trainer is
stages/kto/train.py, its data and the form's data line stages/kto/service.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.stages.kto.config import KTORun
from playground.stages.kto.service import data_line
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import needs
from playground.ui.tabs import reward_dpo
from playground.ui.widgets.forms import ConfigForm, default_preset, grouped_form, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_panel, wire_presets

OBJECTIVE = i18n.t("kto.objective")  # the formula stays, the prose is translated

PLOTS = [
    PlotSpec("KTO loss", ["loss", "eval_loss"], "loss", "0.5 = nothing learned yet (σ(0) on both kinds)"),
    PlotSpec("Implicit rewards", ["rewards/chosen", "rewards/rejected", "eval_rewards/chosen", "eval_rewards/rejected"],
             "β·log-ratio", "desirable should rise, undesirable fall"),
    PlotSpec("KL estimate", ["kl", "eval_kl"], "z_ref", "the reference point both kinds are measured against"),
    PlotSpec("Implicit reward margin", ["rewards/margins", "eval_rewards/margins"], "margin",
             "mean reward of desirable minus undesirable answers"),
]
GROUPS = [
    ("Model & data", ["model", "sft_run", "dataset", "use_votes", "max_length", "eval_fraction", "beta"]),
    ("KTO", ["desirable_weight", "undesirable_weight"]),
    *[g for g in reward_dpo.GROUPS if g[0] != "Model & data"],  # LoRA, Training, Speed, Launch: as DPO's
]
FIELDS = [n for _, names in GROUPS for n in names]
BASIC = ["model", "sft_run", "dataset", "use_votes", "beta", "max_steps", "learning_rate"]


def dataset_choices(ctx: AppContext) -> list[str]:
    """builtin:prefs (the built-in pairs split into answers), 'workspace' (every pool's ratings), one pool."""
    return ["builtin:prefs", "workspace", *ctx.ws.pools()]


@dataclass
class KTOSection:
    """The KTO section's components (build lays them out; on_data fills the data check)."""

    form: ConfigForm
    panel: RunPanel
    data_md: gr.Markdown  # train / eval answers of the picked dataset, and how they were labelled

    def field(self, name: str) -> Any:
        return self.form.components[FIELDS.index(name)]


@needs(Role.VIEWER)
def on_data(dataset: str, use_votes: bool, eval_fraction: float, seed: float) -> str:
    """The data check under the form: labelled answers per split, or why there are too few."""
    return i18n.localise(data_line(dataset or "", bool(use_votes), float(eval_fraction or 0), int(seed or 0)))


def build(ctx: AppContext, choices: dict[str, list[str]]) -> KTOSection:
    first = default_preset("kto", ctx.default_model)
    initial = load_preset("kto", first) if first else None
    with gr.Row():
        preset = gr.Dropdown(list_presets("kto"), value=first, label=i18n.t("kto.preset"), scale=3)
    pickers = {"dataset": dataset_choices(ctx), "sft_run": reward_dpo.sft_runs(ctx)}
    form = grouped_form(KTORun, GROUPS, {**choices, **pickers}, initial, basic=BASIC)
    data_md = gr.Markdown(on_data(initial["dataset"], initial["use_votes"], initial["eval_fraction"], initial["seed"])
                          if initial else "", elem_id="kto-data-check")
    panel = run_panel(ctx, "kto", form, PanelSpec(i18n.t("kto.start"), PLOTS, OBJECTIVE, follow_label=i18n.t("kto.follow"),
                                                  resume=False, refresh=False))
    wire_presets("kto", form, preset)
    k = KTOSection(form=form, panel=panel, data_md=data_md)
    ctx.register_picker(k.field("sft_run"), lambda: reward_dpo.sft_runs(ctx))
    ctx.register_picker(k.field("dataset"), lambda: dataset_choices(ctx))
    data_in = [k.field(n) for n in ("dataset", "use_votes", "eval_fraction", "seed")]
    for comp in data_in:
        comp.change(on_data, data_in, [k.data_md], api_visibility="private", show_progress="hidden")
    return k


def section(ctx: AppContext, choices: dict[str, list[str]]) -> KTOSection:
    """The section in its own closed accordion (the Reward tab's one line for it)."""
    with gr.Accordion(i18n.t("kto.section"), open=False):
        return build(ctx, choices)
