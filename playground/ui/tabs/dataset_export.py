"""Dataset tab, "Export": a JSONL / Parquet download in TRL format, or a push to the Hugging Face Hub.

Layout only (`build` returns an `ExportPart`; the handlers are the module's functions): files are written by
stages/dataset/service (io.export_rows); the push goes through core.hub.push_rows, the one push that checks the
hub is reachable and keeps the token out of every message.
The token box is cleared after each push; the token is used for that call only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.errors import UserError
from playground.stages.dataset import service
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind
from playground.ui.tabs.dataset_common import DatasetView, warn


@dataclass
class ExportPart:
    """The Export tab's components."""

    fmt: gr.Radio
    style: gr.Radio
    split: gr.Radio
    export_btn: gr.Button
    file: gr.File
    push_repo: gr.Textbox
    push_token: gr.Textbox
    push_private: gr.Checkbox
    push_btn: gr.Button
    msg: gr.Markdown


# exporting and pushing: admin only (unmarked)
def on_export(ctx: AppContext, e: ExportPart, name: str | None, fmt: str, style: str, split: str) -> dict[Any, Any]:
    try:
        path, msg = service.export_file(ctx.ws, name, fmt, style, split)
    except UserError as err:
        return {e.file: None, e.msg: warn(err)}
    return {e.file: str(path), e.msg: i18n.localise(msg)}


def on_push(ctx: AppContext, e: ExportPart, name: str | None, repo: str, token: str, private: bool, style: str,
            split: str) -> dict[Any, Any]:
    try:
        msg = i18n.localise(service.push(ctx.ws, name, repo, token, style, split, bool(private)))
    except UserError as err:
        msg = warn(err)
    return {e.msg: msg, e.push_token: ""}  # the token box is cleared whatever happened


def build(ctx: AppContext, view: DatasetView) -> ExportPart:
    c: dict[str, Any] = {}
    with gr.Tab(i18n.t("sft.export")):
        with gr.Row():
            c["fmt"] = gr.Radio(["jsonl", "parquet"], value="jsonl", label=i18n.t("ds.file_format"))
            c["style"] = gr.Radio([("messages", "messages"), ("prompt / completion", "prompt_completion")],
                                  value="messages", label=i18n.t("ds.trl_format"))
            c["split"] = gr.Radio(["all", "train", "eval"], value="all", label=i18n.t("ds.rows"))
        c["export_btn"] = gr.Button(i18n.t("ds.export_file"), variant="primary")
        c["file"] = gr.File(label=i18n.t("eval.download"), interactive=False)
        with gr.Accordion(i18n.t("ds.push_section"), open=False):
            with gr.Row():
                c["push_repo"] = gr.Textbox(label=i18n.t("ds.push_repo"), placeholder="your-name/my-dataset")
                c["push_token"] = gr.Textbox(label=i18n.t("sft.hub_token"), type="password",
                                             info=i18n.t("ds.push_token_info"))
                c["push_private"] = gr.Checkbox(True, label=i18n.t("ds.private"))
            c["push_btn"] = gr.Button(i18n.t("sft.push"))
        c["msg"] = gr.Markdown()
    e = ExportPart(**c)
    e.export_btn.click(bind(on_export, ctx, e), [view.dataset, e.fmt, e.style, e.split], [e.file, e.msg],
                       api_name="datasets_export")
    e.push_btn.click(bind(on_push, ctx, e), [view.dataset, e.push_repo, e.push_token, e.push_private, e.style,
                                             e.split], [e.msg, e.push_token], api_visibility="private")
    return e
