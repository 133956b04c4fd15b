"""Dataset tab, "Export": a JSONL / Parquet download in TRL format, or a push to the Hugging Face Hub.

Layout and wiring only: files are written by stages/dataset/service (io.export_rows); the push goes through
core.hub.push_rows, the one push that checks the hub is reachable and keeps the token out of every message.
The token box is cleared after each push; the token is used for that call only.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground.core.errors import UserError
from playground.stages.dataset import service
from playground.ui.context import AppContext
from playground.ui.tabs.dataset_common import DatasetView, warn


def build(ctx: AppContext, view: DatasetView) -> None:
    ws = ctx.ws
    with gr.Tab("Export"):
        with gr.Row():
            exp_fmt = gr.Radio(["jsonl", "parquet"], value="jsonl", label="File format")
            exp_style = gr.Radio([("messages", "messages"), ("prompt / completion", "prompt_completion")],
                                 value="messages", label="TRL format")
            exp_split = gr.Radio(["all", "train", "eval"], value="all", label="Rows")
        export_btn = gr.Button("⬇️ Export file", variant="primary")
        export_file = gr.File(label="Download", interactive=False)
        with gr.Accordion("Push to the Hugging Face Hub", open=False):
            with gr.Row():
                push_repo = gr.Textbox(label="Hub dataset repo", placeholder="your-name/my-dataset")
                push_token = gr.Textbox(label="Hub token", type="password",
                                        info="Used for this push only; never saved or logged.")
                push_private = gr.Checkbox(True, label="Private")
            push_btn = gr.Button("Push to the Hub")
        export_msg = gr.Markdown()

    # exporting and pushing: admin only (unmarked)
    def on_export(name: str | None, fmt: str, style: str, split: str) -> tuple[Any, str]:
        try:
            path, msg = service.export_file(ws, name, fmt, style, split)
        except UserError as e:
            return None, warn(e)
        return str(path), msg

    def on_push(name: str | None, repo: str, token: str, private: bool, style: str, split: str) -> tuple[str, str]:
        try:
            msg = service.push(ws, name, repo, token, style, split, bool(private))
        except UserError as e:
            return warn(e), ""  # the token box is cleared whatever happened
        return msg, ""

    export_btn.click(on_export, [view.dataset, exp_fmt, exp_style, exp_split], [export_file, export_msg],
                     api_name="datasets_export")
    push_btn.click(on_push, [view.dataset, push_repo, push_token, push_private, exp_style, exp_split],
                   [export_msg, push_token], api_visibility="private")
