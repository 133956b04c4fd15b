"""SFT tab: LoRA instruction tuning as a job, with live loss / eval loss / accuracy / throughput plots,
stop / resume, run comparison, base-vs-adapter chat, perplexity, merge and push.

Layout only: `build` lays the tab out and returns its components as one `SFTTab`; the handlers are the module's
functions, which take plain values and call services (jobs, stages/sft/service.py) and return
`{component: value}`. The training itself is a subprocess.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import DataError
from playground.core.paths import PRESETS_DIR
from playground.core.runs import read_metrics
from playground.stages.sft import service as sft_service
from playground.stages.sft.config import SFTRun
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, needs, user_errors
from playground.ui.widgets.chart import line_chart
from playground.ui.widgets.forms import ConfigForm, default_preset, grouped_form, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.pickers import FollowNew
from playground.ui.widgets.run_panel import PanelSpec, RunPanel, run_choices, run_panel, wire_presets

OBJECTIVE = i18n.t("sft.objective")  # the formula stays, the prose is translated

PLOTS = [
    PlotSpec("Loss", ["loss", "eval_loss"], "NLL", "token NLL on train batches and on the held-out split"),
    PlotSpec("Token accuracy", ["mean_token_accuracy", "eval_mean_token_accuracy"], "accuracy",
             "share of response tokens the model predicts exactly"),
    PlotSpec("Learning rate", ["learning_rate"], "lr", "the optimiser step size over time"),
    PlotSpec("Throughput", ["tokens_per_s"], "tokens/s", "training tokens processed per second"),
]

GROUPS = [
    ("Model & data", ["model", "dataset", "max_length", "eval_fraction", "completion_only_loss", "packing"]),
    ("LoRA", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit"]),
    ("Training", ["learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "eval_steps", "save_steps", "seed"]),
    ("Speed", ["torch_threads", "attn_implementation", "fused_optimizer"]),
    ("Launch", ["device", "num_processes", "accelerate_config"]),
]
FIELDS = [n for _, names in GROUPS for n in names]


def qlora_available() -> tuple[bool, Any]:
    import torch

    if not torch.cuda.is_available():
        return False, i18n.t("sft.qlora_no_gpu")
    if importlib.util.find_spec("bitsandbytes") is None:
        return False, i18n.t("sft.qlora_no_bnb")
    return True, i18n.t("sft.qlora_ok")


def dataset_choices(ctx: AppContext) -> list[str]:
    return ["builtin:instructions", *[d["name"] for d in ctx.ws.list_datasets()]]


def runs_table(ctx: AppContext) -> pd.DataFrame:
    rows = []
    for r in ctx.runs("sft"):
        m = read_metrics(r["run_dir"])
        losses = [x["loss"] for x in m if "loss" in x]
        evals = [x["eval_loss"] for x in m if "eval_loss" in x]
        rows.append({"run": r["id"], "state": r["state"], "model": r["config"].get("model"),
                     "dataset": r["config"].get("dataset"), "steps": max((x["step"] for x in m), default=0),
                     "last loss": round(losses[-1], 4) if losses else None,
                     "last eval loss": round(evals[-1], 4) if evals else None})
    return i18n.frame(pd.DataFrame(rows, columns=["run", "state", "model", "dataset", "steps", "last loss",
                                                  "last eval loss"]))


def compare_html(ctx: AppContext, a: str | None, b: str | None, metric: str) -> str:
    """Two runs' `metric` over steps on one SVG chart (one line per run id)."""
    rows: list[dict[str, Any]] = []
    ids = [rid for rid in (a, b) if rid and ctx.ws.get_run(rid) is not None]
    for rid in ids:
        rows += [{"step": r["step"], rid: r[metric]} for r in read_metrics(ctx.ws.get_run(rid)["run_dir"])
                 if isinstance(r.get(metric), (int, float)) and "step" in r]
    return line_chart(rows, ids, title=f"Run comparison: {metric}", y_title=metric,
                      help=f"{metric} of each picked run over its training steps")


def _picked(run_id: str | None) -> str:
    if not run_id:
        raise DataError(i18n.say("sft.pick_finished"))
    return run_id


@dataclass
class SFTTab:
    """The SFT tab's components (build lays them out; the handlers below read and fill them)."""

    form: ConfigForm
    panel: RunPanel
    table: gr.Dataframe  # all SFT runs
    cmp_a: gr.Dropdown
    cmp_b: gr.Dropdown
    cmp_metric: gr.Dropdown
    cmp_plot: gr.HTML
    try_run: gr.Dropdown  # the finished run "Try the result", perplexity, merge and push act on
    try_prompt: gr.Textbox
    try_btn: gr.Button
    base_out: gr.Textbox
    tuned_out: gr.Textbox
    ppl_btn: gr.Button
    ppl_out: gr.Markdown
    merge_btn: gr.Button
    hub_repo: gr.Textbox
    hub_token: gr.Textbox
    push_what: gr.Radio
    push_btn: gr.Button
    export_out: gr.Markdown

    def field(self, name: str) -> Any:
        return self.form.components[FIELDS.index(name)]


# -- handlers: plain values in, a stage service decides; a UserError becomes one toast ---------------------------
@needs(Role.VIEWER)
def on_refresh(ctx: AppContext, t: SFTTab) -> dict[Any, Any]:
    choices = run_choices(ctx, "sft")
    return {t.panel.follow: gr.update(choices=choices), t.table: runs_table(ctx), t.cmp_a: gr.update(choices=choices),
            t.cmp_b: gr.update(choices=choices), t.try_run: gr.update(choices=run_choices(ctx, "sft", True)),
            t.field("dataset"): gr.update(choices=dataset_choices(ctx))}


@needs(Role.VIEWER)
def on_compare(ctx: AppContext, a: str | None, b: str | None, metric: str) -> str:
    return compare_html(ctx, a, b, metric)


@needs(Role.ANNOTATOR)
def on_try(ctx: AppContext, t: SFTTab, run_id: str, prompt: str) -> dict[Any, Any]:
    with user_errors():
        base, tuned = sft_service.compare_replies(_picked(run_id), prompt, ctx.cached)
    return {t.base_out: base, t.tuned_out: tuned}


def on_ppl(ctx: AppContext, run_id: str, progress: gr.Progress = gr.Progress()) -> str:  # admin
    with user_errors():
        return sft_service.perplexity_report(_picked(run_id), ctx.cached, lambda f, d: progress(f, desc=d))


def on_merge(run_id: str) -> str:  # admin
    with user_errors():
        return i18n.say("sft.merged", path=sft_service.merge_adapter(_picked(run_id)))


def on_push(run_id: str, repo: str, token: str, what: str) -> str:  # admin
    with user_errors():
        return i18n.say("sft.pushed", where=sft_service.push_run_folder(_picked(run_id), what, repo, token))


# -- layout ------------------------------------------------------------------------------------------------------
def _config(ctx: AppContext) -> ConfigForm:
    """Preset row and the grouped form (choices of lr_scheduler_type / device come from the dataclass metadata)."""
    q_ok, q_why = qlora_available()
    first = default_preset("sft", ctx.default_model)
    with gr.Row():
        preset = gr.Dropdown(list_presets("sft"), value=first, label=i18n.t("form.preset"),
                             info=i18n.t("form.preset_info"), scale=3)
        preset_name = gr.Textbox(label=i18n.t("form.save_as"), placeholder="my-preset", scale=2)
        save_btn = gr.Button(i18n.t("form.save"), scale=1)
    choices = {
        "model": ["bundled", "tiny"],
        "dataset": dataset_choices(ctx),
        "accelerate_config": ["", *[str(p.relative_to(PRESETS_DIR.parent))
                                   for p in sorted((PRESETS_DIR / "accelerate").glob("*.yaml"))]],
    }
    with gr.Accordion(i18n.t("form.configuration"), open=True):
        form = grouped_form(SFTRun, GROUPS, choices, load_preset("sft", first) if first else None)
        q_box = form.components[FIELDS.index("load_in_4bit")]
        q_box.interactive = q_ok
        q_box.info = q_why
    wire_presets("sft", form, preset, preset_name, save_btn)
    return form


def _results(ctx: AppContext) -> dict[str, Any]:
    """The accordions under the live panel: all runs, compare two, try the result, export."""
    c: dict[str, Any] = {}
    with gr.Accordion(i18n.t("sft.all_runs"), open=False):
        c["table"] = gr.Dataframe(runs_table(ctx), interactive=False)
    with gr.Accordion(i18n.t("run.compare"), open=False):
        with gr.Row():
            c["cmp_a"] = gr.Dropdown(run_choices(ctx, "sft"), label=i18n.t("run.run_a"))
            c["cmp_b"] = gr.Dropdown(run_choices(ctx, "sft"), label=i18n.t("run.run_b"))
            c["cmp_metric"] = gr.Dropdown(["loss", "eval_loss", "mean_token_accuracy", "learning_rate"],
                                          value="loss", label=i18n.t("run.metric"))
        c["cmp_plot"] = gr.HTML(compare_html(ctx, None, None, "loss"), elem_classes=["pg-compare"],
                                elem_id="sft-compare")
    with gr.Accordion(i18n.t("sft.try"), open=False):
        with gr.Row():
            done = run_choices(ctx, "sft", finished_only=True)
            c["try_run"] = gr.Dropdown(done, value=done[0][1] if done else None, label=i18n.t("run.finished"))
            c["try_prompt"] = gr.Textbox(label=i18n.t("sft.prompt"), value="Translate to French: Good night.", scale=3)
        c["try_btn"] = gr.Button(i18n.t("sft.answer_both"))
        with gr.Row():
            c["base_out"] = gr.Textbox(label=i18n.t("sft.base_out"), lines=4)
            c["tuned_out"] = gr.Textbox(label=i18n.t("sft.tuned_out"), lines=4)
        c["ppl_btn"] = gr.Button(i18n.t("sft.ppl"))
        c["ppl_out"] = gr.Markdown()
    with gr.Accordion(i18n.t("sft.export"), open=False):
        c["merge_btn"] = gr.Button(i18n.t("sft.merge"))
        with gr.Row():
            c["hub_repo"] = gr.Textbox(label=i18n.t("sft.hub_repo"), placeholder="you/my-sft-model")
            c["hub_token"] = gr.Textbox(label=i18n.t("sft.hub_token"), type="password", info=i18n.t("sft.hub_token_info"))
            c["push_what"] = gr.Radio(["adapter", "merged"], value="adapter", label=i18n.t("sft.push_what"))
        c["push_btn"] = gr.Button(i18n.t("sft.push"))
        c["export_out"] = gr.Markdown()
    return c


def build(ctx: AppContext) -> SFTTab:
    form = _config(ctx)
    panel = run_panel(ctx, "sft", form, PanelSpec(i18n.t("sft.start"), PLOTS, OBJECTIVE,
                                                    follow_info=i18n.t("sft.follow_info")))
    t = SFTTab(form=form, panel=panel, **_results(ctx))
    i18n.redraw_on_load(ctx, {t.table: lambda: runs_table(ctx), t.cmp_plot: lambda: compare_html(ctx, None, None, "loss")})
    wire(ctx, t)
    return t


def wire(ctx: AppContext, t: SFTTab) -> None:
    # a dataset made after the page opened (Dataset tab, CLI) is listed and picked: SFT trains on what you just made
    ctx.register_picker(t.field("dataset"), FollowNew(lambda: dataset_choices(ctx)))
    for box in (t.cmp_a, t.cmp_b):
        ctx.register_picker(box, lambda: run_choices(ctx, "sft"))
    # a run that finishes while the page is open is picked: "Try the result" tries the run just trained
    ctx.register_picker(t.try_run, FollowNew(lambda: run_choices(ctx, "sft", finished_only=True)))
    if t.panel.refresh is not None:
        t.panel.refresh.click(bind(on_refresh, ctx, t), None,
                              [t.panel.follow, t.table, t.cmp_a, t.cmp_b, t.try_run, t.field("dataset")])
    for c in (t.cmp_a, t.cmp_b, t.cmp_metric):
        c.change(bind(on_compare, ctx), [t.cmp_a, t.cmp_b, t.cmp_metric], [t.cmp_plot], api_visibility="private")
    t.try_btn.click(bind(on_try, ctx, t), [t.try_run, t.try_prompt], [t.base_out, t.tuned_out])
    t.ppl_btn.click(bind(on_ppl, ctx), [t.try_run], [t.ppl_out])
    t.merge_btn.click(on_merge, [t.try_run], [t.export_out])
    t.push_btn.click(on_push, [t.try_run, t.hub_repo, t.hub_token, t.push_what], [t.export_out])
