"""Dataset tab, "Check & clean" and "Token preview": what is wrong with the rows, and what SFT will train on.

Layout only (the handlers are the module's functions, returning `{component: value}`): reports and row choices
come from stages/dataset/clean, the preview from stages/dataset/preview; rows are dropped through service.delete_rows, so "Undo last delete" brings them back.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.dataset import clean, preview, service
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, needs
from playground.ui.tabs.dataset_common import DatasetView, dropped, redraw, warn


@dataclass
class CheckPart:
    """The "Check & clean" tab's components."""

    validate_btn: gr.Button
    report: gr.Markdown
    threshold: gr.Slider
    dup_btn: gr.Button
    dup_table: gr.Dataframe
    drop_dups_btn: gr.Button
    eval_frac: gr.Slider
    split_seed: gr.Number
    split_btn: gr.Button
    min_tok: gr.Number
    max_tok: gr.Number
    filter_btn: gr.Button
    msg: gr.Markdown


@needs(Role.VIEWER)
def on_validate(ctx: AppContext, name: str | None, model: str, length: float) -> str:
    try:
        return clean.validation_report(ctx.ws, name, model, int(length or 0))
    except UserError as e:
        return warn(e)


@needs(Role.VIEWER)
def on_dups(ctx: AppContext, c: CheckPart, name: str | None, thr: float) -> dict[Any, Any]:
    try:
        df, drop = clean.dup_frame(ctx.ws, name, float(thr))
    except UserError as e:
        return {c.msg: warn(e)}
    return {c.dup_table: i18n.frame(df), c.drop_dups_btn: gr.update(interactive=bool(drop), value=i18n.say("ds.drop_n", n=len(drop))),
            c.msg: clean.dup_message(len(df), len(drop))}


def _dropped(view: DatasetView, c: CheckPart, out: tuple[Any, ...]) -> dict[Any, Any]:
    return dict(zip([view.table, view.summary, view.undo, c.msg], out, strict=True))


def on_drop_dups(ctx: AppContext, view: DatasetView, c: CheckPart, name: str | None, thr: float,  # admin
                 stack: list) -> dict[Any, Any]:
    try:
        _, drop = clean.dup_frame(ctx.ws, name, float(thr))
        out = dropped(ctx.ws, name, drop, stack, "duplicates")
    except UserError as e:
        return {c.msg: warn(e)}
    return {**_dropped(view, c, out), c.dup_table: pd.DataFrame(), c.drop_dups_btn: gr.update(interactive=False)}


def on_split(ctx: AppContext, view: DatasetView, c: CheckPart, name: str | None, frac: float,  # admin
             seed: float) -> dict[Any, Any]:
    try:
        n_train, n_eval = service.split_rows(ctx.ws, name, float(frac), int(seed or 0))
    except UserError as e:
        return {c.msg: warn(e)}
    table, summary = redraw(ctx.ws, name)
    return {view.table: table, view.summary: summary,
            c.msg: i18n.say("ds.split_done", seed=int(seed or 0), train=n_train, eval=n_eval)}


def on_filter(ctx: AppContext, view: DatasetView, c: CheckPart, name: str | None, lo: float, hi: float,  # admin
              model: str, stack: list) -> dict[Any, Any]:
    try:
        ids = clean.out_of_range(ctx.ws, name, model, int(lo or 0), int(hi or 0) or None)
        return _dropped(view, c, dropped(ctx.ws, name, ids, stack, f"outside {int(lo or 0)}–{int(hi or 0)} tokens"))
    except UserError as e:
        return {c.msg: warn(e)}


def build_check(ctx: AppContext, view: DatasetView) -> CheckPart:
    k: dict[str, Any] = {}
    with gr.Tab(i18n.t("ds.clean_tab")):
        with gr.Row():
            k["validate_btn"] = gr.Button(i18n.t("ds.validate"))
        k["report"] = gr.Markdown()
        with gr.Accordion(i18n.t("ds.dups"), open=True):
            with gr.Row():
                k["threshold"] = gr.Slider(0.5, 1.0, value=0.8, step=0.05, label=i18n.t("ds.threshold"),
                                           info=i18n.t("ds.threshold_info"))
                k["dup_btn"] = gr.Button(i18n.t("ds.find_dups"))
            k["dup_table"] = gr.Dataframe(label=i18n.t("ds.dup_groups"), interactive=False, wrap=True, max_height=300)
            k["drop_dups_btn"] = gr.Button(i18n.t("ds.drop_dups"), interactive=False)
        with gr.Accordion(i18n.t("ds.split"), open=True):
            with gr.Row():
                k["eval_frac"] = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label=i18n.t("common.eval_fraction"))
                k["split_seed"] = gr.Number(0, precision=0, label=i18n.t("common.seed"))
                k["split_btn"] = gr.Button(i18n.t("ds.apply_split"))
        with gr.Accordion(i18n.t("ds.length_filter"), open=True):
            with gr.Row():
                k["min_tok"] = gr.Number(1, precision=0, label=i18n.t("ds.min_tok"))
                k["max_tok"] = gr.Number(256, precision=0, label=i18n.t("ds.max_tok"))
                k["filter_btn"] = gr.Button(i18n.t("ds.filter"))
        k["msg"] = gr.Markdown()
    c = CheckPart(**k)
    v = view
    c.validate_btn.click(bind(on_validate, ctx), [v.dataset, v.model, v.max_len], [c.report], api_name="datasets_validate")
    c.dup_btn.click(bind(on_dups, ctx, c), [v.dataset, c.threshold], [c.dup_table, c.drop_dups_btn, c.msg],
                    api_name="datasets_dups")
    c.drop_dups_btn.click(bind(on_drop_dups, ctx, v, c), [v.dataset, c.threshold, v.undo],
                          [v.table, v.summary, v.undo, c.msg, c.dup_table, c.drop_dups_btn],
                          api_name="datasets_drop_dups")
    c.split_btn.click(bind(on_split, ctx, v, c), [v.dataset, c.eval_frac, c.split_seed], [v.table, v.summary, c.msg],
                      api_name="datasets_split")
    c.filter_btn.click(bind(on_filter, ctx, v, c), [v.dataset, c.min_tok, c.max_tok, v.model, v.undo],
                       [v.table, v.summary, v.undo, c.msg], api_name="datasets_length_filter")
    return c


@needs(Role.VIEWER)
def on_preview(ctx: AppContext, rid: float | None, model: str, length: float, completion_only: bool) -> Any:
    if rid is None:
        gr.Warning(i18n.say("ds.pick_row"))
        return gr.skip()
    try:
        return preview.stored_row_html(ctx.ws, int(rid), model, int(length or 0), bool(completion_only))
    except UserError as e:
        return f"<p>{html.escape(warn(e))}</p>"


def first_row_id(ws: Any, name: str | None) -> int | None:
    """The row the token preview starts on: the picked dataset's first row (None: no dataset, or no rows)."""
    if not name or not ws.has_dataset(name):
        return None
    rows = ws.rows(name)
    return int(rows[0]["id"]) if rows else None


def build_token_preview(ctx: AppContext, view: DatasetView) -> gr.Number:
    """The Token preview tab; returns its row id box (clicking a row in the Rows table fills it, picking a dataset
    sets it to that dataset's first row)."""
    ws = ctx.ws
    with gr.Tab(i18n.t("ds.preview_tab")):
        with gr.Row():
            prev_id = gr.Number(first_row_id(ws, view.dataset.value), precision=0, label=i18n.t("ds.row_id"),
                                info=i18n.t("ds.row_id_info"))
            only_completion = gr.Checkbox(True, label=i18n.t("field.completion_only_loss"),
                                          info=i18n.t("ds.only_completion_info"))
            prev_btn = gr.Button(i18n.t("ds.show_tokens"), variant="primary")
        prev_html = gr.HTML(elem_id="ds-token-preview")
        gr.Markdown(i18n.t("ds.preview_help"), elem_classes=["pg-help"])

    prev_btn.click(bind(on_preview, ctx), [prev_id, view.model, view.max_len, only_completion], [prev_html],
                   api_name="datasets_preview")
    return prev_id
