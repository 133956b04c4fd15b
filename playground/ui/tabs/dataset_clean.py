"""Dataset tab, "Check & clean" and "Token preview": what is wrong with the rows, and what SFT will train on.

Layout and wiring only: reports and row choices come from stages/dataset/clean, the preview from
stages/dataset/preview; rows are dropped through service.delete_rows, so "Undo last delete" brings them back.
"""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.dataset import clean, preview, service
from playground.ui.context import AppContext
from playground.ui.guard import needs
from playground.ui.tabs.dataset_common import DatasetView, dropped, redraw, warn


def build_check(ctx: AppContext, view: DatasetView) -> None:
    ws = ctx.ws
    with gr.Tab("Check & clean"):
        with gr.Row():
            validate_btn = gr.Button("🔎 Validate")
        report = gr.Markdown()
        with gr.Accordion("Duplicates", open=True):
            with gr.Row():
                threshold = gr.Slider(0.5, 1.0, value=0.8, step=0.05, label="Near-duplicate similarity",
                                      info="Character 5-gram Jaccard; 1.0 finds only exact copies "
                                           "(after case/punctuation folding).")
                dup_btn = gr.Button("Find duplicates")
            dup_table = gr.Dataframe(label="Duplicate groups", interactive=False, wrap=True, max_height=300)
            drop_dups_btn = gr.Button("Drop duplicates (keep the first of each group)", interactive=False)
        with gr.Accordion("Train / eval split", open=True):
            with gr.Row():
                eval_frac = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Eval fraction")
                split_seed = gr.Number(0, precision=0, label="Seed")
                split_btn = gr.Button("Apply split")
        with gr.Accordion("Length filter", open=True):
            with gr.Row():
                min_tok = gr.Number(1, precision=0, label="Min tokens")
                max_tok = gr.Number(256, precision=0, label="Max tokens")
                filter_btn = gr.Button("Drop rows outside the range")
        clean_msg = gr.Markdown()

    @needs(Role.VIEWER)
    def on_validate(name: str | None, model: str, length: float) -> str:
        try:
            return clean.validation_report(ws, name, model, int(length or 0))
        except UserError as e:
            return warn(e)

    @needs(Role.VIEWER)
    def on_dups(name: str | None, thr: float) -> tuple[Any, ...]:
        try:
            df, drop = clean.dup_frame(ws, name, float(thr))
        except UserError as e:
            return gr.skip(), gr.skip(), warn(e)
        return (df, gr.update(interactive=bool(drop), value=f"Drop {len(drop)} duplicate row(s)"),
                clean.dup_message(len(df), len(drop)))

    def on_drop_dups(name: str | None, thr: float, stack: list) -> tuple[Any, ...]:
        try:
            _, drop = clean.dup_frame(ws, name, float(thr))
            out = dropped(ws, name, drop, stack, "duplicates")
        except UserError as e:
            return (gr.skip(),) * 3 + (warn(e),) + (gr.skip(),) * 2
        return (*out, pd.DataFrame(), gr.update(interactive=False))

    def on_split(name: str | None, frac: float, seed: float) -> tuple[Any, ...]:
        try:
            n_train, n_eval = service.split_rows(ws, name, float(frac), int(seed or 0))
        except UserError as e:
            return gr.skip(), gr.skip(), warn(e)
        return (*redraw(ws, name), f"Split with seed {int(seed or 0)}: {n_train} train / {n_eval} eval. SFT uses "
                "rows marked eval as its eval set.")

    def on_filter(name: str | None, lo: float, hi: float, model: str, stack: list) -> tuple[Any, ...]:
        try:
            ids = clean.out_of_range(ws, name, model, int(lo or 0), int(hi or 0) or None)
            return dropped(ws, name, ids, stack, f"outside {int(lo or 0)}–{int(hi or 0)} tokens")
        except UserError as e:
            return (gr.skip(),) * 3 + (warn(e),)

    validate_btn.click(on_validate, [view.dataset, view.model, view.max_len], [report], api_name="datasets_validate")
    dup_btn.click(on_dups, [view.dataset, threshold], [dup_table, drop_dups_btn, clean_msg], api_name="datasets_dups")
    drop_dups_btn.click(on_drop_dups, [view.dataset, threshold, view.undo],
                        [view.table, view.summary, view.undo, clean_msg, dup_table, drop_dups_btn],
                        api_name="datasets_drop_dups")
    split_btn.click(on_split, [view.dataset, eval_frac, split_seed], [view.table, view.summary, clean_msg],
                    api_name="datasets_split")
    filter_btn.click(on_filter, [view.dataset, min_tok, max_tok, view.model, view.undo],
                     [view.table, view.summary, view.undo, clean_msg], api_name="datasets_length_filter")


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
    with gr.Tab("Token preview"):
        with gr.Row():
            prev_id = gr.Number(first_row_id(ws, view.dataset.value), precision=0, label="Row id",
                                info="Click a row in the Rows table, or type")
            only_completion = gr.Checkbox(True, label="completion only loss",
                                          info="As in SFT: train on the last response only.")
            prev_btn = gr.Button("Show tokens", variant="primary")
        prev_html = gr.HTML(elem_id="ds-token-preview")
        gr.Markdown("Exactly what SFT does with this row: the conversation is rendered with the model's chat "
                    "template; the **last** assistant reply is the completion (earlier turns are context); "
                    "only its tokens carry a loss.", elem_classes=["pg-help"])

    @needs(Role.VIEWER)
    def on_preview(rid: float | None, model: str, length: float, completion_only: bool) -> Any:
        if rid is None:
            gr.Warning("Pick a row: click it in the Rows table or type its id.")
            return gr.skip()
        try:
            return preview.stored_row_html(ws, int(rid), model, int(length or 0), bool(completion_only))
        except UserError as e:
            return f"<p>{html.escape(warn(e))}</p>"

    prev_btn.click(on_preview, [prev_id, view.model, view.max_len, only_completion], [prev_html],
                   api_name="datasets_preview")
    return prev_id
