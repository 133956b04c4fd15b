"""Reward-model tab: train an RM on the votes (a job), watch it live, then inspect it before PPO uses it.

Sections: the train form (preset picker, dataset: builtin:prefs / workspace / one pool) with a data check
that warns before a run starts when the pairs are too few, start / stop / resume, the live plot with the
Bradley-Terry objective beside it and the followed run's data lines (train / eval pairs, truncated / dropped);
Inspect (ui/tabs/reward_inspect.py); and DPO, the alternative that learns from the same pairs without a reward
model (ui/tabs/reward_dpo.py).

Layout only: `build` returns the components as one `RewardTab`; the handlers are the module's functions (plain
values in, services called: jobs, stages/reward, stages/data; `{component: value}` out). Training runs in a
subprocess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.paths import PRESETS_DIR
from playground.core.runs import read_metrics, read_result, read_status
from playground.stages.data import VOTES_AND_BUILTIN, preference_data_check
from playground.stages.reward.config import RewardRun
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, needs
from playground.ui.tabs import reward_dpo, reward_inspect, reward_kto
from playground.ui.widgets.forms import ConfigForm, default_preset, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_choices, run_panel, wire_presets

OBJECTIVE = i18n.t("reward.objective")  # the formula stays, the prose is translated

PLOTS = [
    PlotSpec("Loss", ["loss", "eval_loss"], "BT loss", "−log σ(r_chosen − r_rejected); 0.69 is a coin flip"),
    PlotSpec("Accuracy", ["accuracy", "eval_accuracy"], "accuracy",
             "share of pairs where the chosen answer scores higher (eval = held-out pairs; n in the run header)"),
    PlotSpec("Margin", ["margin", "eval_margin"], "r_c − r_r", "mean reward gap between chosen and rejected"),
    PlotSpec("Reward scale", ["mean_reward", "min_reward", "max_reward"], "reward",
             "where the rewards sit; PPO prefers them centred near 0"),
]

GROUPS = [
    ("Model & data", ["model", "dataset", "max_length", "eval_fraction", "center_rewards_coefficient"]),
    ("LoRA (the score head is always trained in full)", ["use_lora", "lora_r", "lora_alpha", "lora_dropout",
                                                         "lora_target_modules"]),
    ("Training", ["learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "eval_steps", "save_steps", "seed"]),
    ("Speed", ["shared_prefix", "torch_threads", "attn_implementation", "fused_optimizer"]),
    ("Launch", ["device", "num_processes", "accelerate_config"]),
]
FIELDS = [n for _, names in GROUPS for n in names]


def dataset_choices(ctx: AppContext) -> list[str]:
    """builtin:prefs, 'workspace' (my votes, every pool), my votes + the built-in pairs, one pool."""
    return ["builtin:prefs", "workspace", VOTES_AND_BUILTIN, *ctx.ws.pools()]


def runs_table(ctx: AppContext) -> pd.DataFrame:
    cols = ["run", "state", "model", "dataset", "steps", "last loss", "eval accuracy", "eval pairs"]
    rows = []
    for r in ctx.runs("reward"):
        m = read_metrics(r["run_dir"])
        losses = [x["loss"] for x in m if "loss" in x]
        evals = [x["eval_accuracy"] for x in m if "eval_accuracy" in x]
        n_eval = read_result(r["run_dir"]).get("eval_pairs", next((x["eval_rows"] for x in m if "eval_rows" in x), None))
        rows.append({"run": r["id"], "state": r["state"], "model": r["config"].get("model"),
                     "dataset": r["config"].get("dataset"), "steps": max((x["step"] for x in m), default=0),
                     "last loss": round(losses[-1], 4) if losses else None,
                     "eval accuracy": round(evals[-1], 3) if evals else None, "eval pairs": n_eval})
    return i18n.frame(pd.DataFrame(rows, columns=cols))


def run_notes(ctx: AppContext, run_id: str) -> str:
    """The followed run's data lines (train / eval pairs, truncated / dropped, too-few warning) from status.json."""
    if not run_id:
        return ""
    notes = read_status(ctx.jobs.run_dir(run_id)).get("notes") or []
    return "\n\n".join(i18n.localise(n) for n in notes)


def notes_key(_run_dir: Any, status: dict[str, Any], _rows: list[dict[str, Any]]) -> str:
    """Moves when the run's data lines do (written once the data is read), not on every metrics row: each move
    is a Gradio event, which costs the page CPU."""
    return repr(status.get("notes"))


def _accelerate_choices() -> list[str]:
    return ["", *[str(p.relative_to(PRESETS_DIR.parent)) for p in sorted((PRESETS_DIR / "accelerate").glob("*.yaml"))]]


@dataclass
class RewardTab:
    """The Reward tab's components (build lays them out; the handlers below read and fill them)."""

    form: ConfigForm
    panel: RunPanel
    data_md: gr.Markdown  # train / eval pairs of the picked dataset, before a run starts
    notes_md: gr.Markdown  # the followed run's data lines
    shown_notes: gr.State  # what notes_md shows (a re-read that changes nothing sends nothing)
    table: gr.Dataframe  # all reward runs
    inspect: reward_inspect.InspectView
    dpo: reward_dpo.DPOSection

    def field(self, name: str) -> Any:
        return self.form.components[FIELDS.index(name)]


# -- handlers ----------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_refresh(ctx: AppContext, t: RewardTab) -> dict[Any, Any]:
    return {t.panel.follow: gr.update(choices=run_choices(ctx, "reward")), t.table: runs_table(ctx),
            t.inspect.run: gr.update(choices=run_choices(ctx, "reward", finished_only=True)),
            t.field("dataset"): gr.update(choices=dataset_choices(ctx)),
            t.inspect.source: gr.update(choices=reward_inspect.pair_sources(ctx))}


@needs(Role.VIEWER)
def on_notes(ctx: AppContext, t: RewardTab, run_id: str, shown: str) -> dict[Any, Any]:
    now = run_notes(ctx, run_id)
    if now == shown:  # nothing new: both left as they are (an empty dict would be an error to Gradio)
        return {t.notes_md: gr.skip(), t.shown_notes: gr.skip()}
    return {t.notes_md: now, t.shown_notes: now}


# -- layout ------------------------------------------------------------------------------------------------------
def _config(ctx: AppContext) -> tuple[ConfigForm, dict[str, Any], dict[str, Any] | None]:
    """(the form, the choices the DPO form shares, the preset's values). lr_scheduler_type and device take their
    choices from the dataclass metadata."""
    first = default_preset("reward", ctx.default_model)
    with gr.Row():
        preset = gr.Dropdown(list_presets("reward"), value=first, label=i18n.t("form.preset"),
                             info=i18n.t("form.preset_info"), scale=3)
        preset_name = gr.Textbox(label=i18n.t("form.save_as"), placeholder="my-rm", scale=2)
        save_btn = gr.Button(i18n.t("form.save"), scale=1)
    choices = {"model": ["bundled", "tiny"], "dataset": dataset_choices(ctx), "accelerate_config": _accelerate_choices()}
    initial = load_preset("reward", first) if first else None
    with gr.Accordion(i18n.t("form.configuration"), open=True):
        form = reward_dpo.grouped_form(RewardRun, GROUPS, choices, initial)
    wire_presets("reward", form, preset, preset_name, save_btn)
    return form, choices, initial


def build(ctx: AppContext) -> RewardTab:
    gr.Markdown(i18n.t("reward.intro"))
    form, choices, initial = _config(ctx)
    data_md = gr.Markdown(preference_data_check(initial["dataset"], initial["eval_fraction"], initial["seed"])
                          if initial else "", elem_id="reward-data-check")
    panel = run_panel(ctx, "reward", form, PanelSpec(i18n.t("reward.start"), PLOTS, OBJECTIVE,
                                                       follow_info=i18n.t("reward.follow_info")))
    notes_md = gr.Markdown("", elem_id="reward-run-notes")
    with gr.Accordion(i18n.t("reward.all_runs"), open=False):
        table = gr.Dataframe(runs_table(ctx), interactive=False)
    with gr.Accordion(i18n.t("reward.inspect"), open=True):
        inspect = reward_inspect.build(ctx)
    with gr.Accordion(i18n.t("reward.dpo"), open=False):
        dpo = reward_dpo.build(ctx, choices)
    reward_kto.section(ctx, choices)  # KTO beside DPO: learn from rated answers (issue 24 item 5)
    t = RewardTab(form=form, panel=panel, data_md=data_md, notes_md=notes_md, shown_notes=gr.State(""), table=table,
                  inspect=inspect, dpo=dpo)
    wire(ctx, t)
    i18n.redraw_on_load(ctx, {t.table: lambda: runs_table(ctx)})
    return t


def wire(ctx: AppContext, t: RewardTab) -> None:
    ctx.register_picker(t.field("dataset"), lambda: dataset_choices(ctx))
    refresh_outputs = [t.panel.follow, t.table, t.inspect.run, t.field("dataset"), t.inspect.source]
    for btn in (t.panel.refresh, t.inspect.refresh):
        if btn is not None:
            btn.click(bind(on_refresh, ctx, t), None, refresh_outputs)
    data_in = [t.field(n) for n in ("dataset", "eval_fraction", "seed")]
    t.field("dataset").change(reward_dpo.on_data, data_in, [t.data_md], api_name="reward_data_check",
                              show_progress="hidden")
    for comp in data_in[1:]:
        comp.change(reward_dpo.on_data, data_in, [t.data_md], api_visibility="private", show_progress="hidden")
    t.panel.view.on_run_change(bind(on_notes, ctx, t), [t.panel.view.run_id, t.shown_notes],
                               [t.notes_md, t.shown_notes], key=notes_key)
