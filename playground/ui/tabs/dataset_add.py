"""Dataset tab, "Add" and "Draft responses": demonstrations typed by a person, drafts from the model to correct.

Layout and wiring only; rows are built and stored by stages/dataset/service, drafts come from stages/dataset/draft.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.dataset import draft, service
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import needs
from playground.ui.tabs.dataset_common import DatasetView, redraw, refresh, warn

EXAMPLE_CONVERSATION = json.dumps([
    {"role": "system", "content": "You are concise."},
    {"role": "user", "content": "What is the capital of Peru?"},
    {"role": "assistant", "content": "Lima."},
    {"role": "user", "content": "And its population?"},
    {"role": "assistant", "content": "About ten million people live in Lima."},
], indent=1, ensure_ascii=False)


@dataclass
class AddForm:
    """The Add form's fields; the draft button is wired with the Draft tab's sampling settings."""

    system: gr.Textbox
    instruction: gr.Textbox
    input: gr.Textbox
    response: gr.Textbox
    draft_btn: gr.Button


def build_add(ctx: AppContext, view: DatasetView) -> AddForm:
    ws = ctx.ws
    with gr.Tab(i18n.t("ds.add_tab")):
        with gr.Row():
            with gr.Column(scale=3):
                system_in = gr.Textbox(label=i18n.t("ds.system"), lines=1)
                instr_in = gr.Textbox(label=i18n.t("ds.instruction"), lines=3, placeholder="Summarise this paragraph: …",
                                      elem_id="ds-instruction")
                input_in = gr.Textbox(label=i18n.t("ds.input"), lines=2,
                                      placeholder="Extra context appended under the instruction")
                resp_in = gr.Textbox(label=i18n.t("inspect.response"), lines=4, elem_id="ds-response",
                                     placeholder="The answer you want the model to learn (may stay empty: "
                                                 "a draft to fill later)")
                with gr.Row():
                    add_btn = gr.Button(i18n.t("ds.add_row"), variant="primary", elem_id="ds-add-row")
                    draft_one_btn = gr.Button(i18n.t("ds.draft_one"))
            with gr.Column(scale=2):
                gr.Markdown(i18n.t("ds.multi_turn"))
                conv_in = gr.Code(value=EXAMPLE_CONVERSATION, language="json", label=i18n.t("ds.conversation"),
                                  lines=12)
                add_conv_btn = gr.Button(i18n.t("ds.add_conv"))
        add_msg = gr.Markdown()

    @needs(Role.ANNOTATOR)
    def on_add(name: str | None, system: str, instr: str, inp: str, resp: str) -> tuple[Any, ...]:
        try:
            name = service.add_rows(ws, name, [service.build_messages(system, instr, inp, resp)])
        except UserError as e:
            return (*view.unchanged(), warn(e), *(gr.skip(),) * 3)
        key = "ds.added_row" if (resp or "").strip() else "ds.added_draft"
        return (*refresh(ws, name), i18n.say(key, name=name), "", "", "")

    @needs(Role.ANNOTATOR)
    def on_add_conv(name: str | None, text: str) -> tuple[Any, ...]:
        try:
            row = service.parse_conversation(text)
            name = service.add_rows(ws, name, [row])
        except UserError as e:
            return (*view.unchanged(), warn(e))
        return (*refresh(ws, name), i18n.say("ds.added_conv", n=len(row["messages"]), name=name))

    add_btn.click(on_add, [view.dataset, system_in, instr_in, input_in, resp_in],
                  [*view.outputs, add_msg, instr_in, input_in, resp_in], api_name="datasets_add_row")
    add_conv_btn.click(on_add_conv, [view.dataset, conv_in], [*view.outputs, add_msg],
                       api_name="datasets_add_conversation")
    return AddForm(system_in, instr_in, input_in, resp_in, draft_one_btn)


def build_draft(ctx: AppContext, view: DatasetView, form: AddForm) -> None:
    ws = ctx.ws
    with gr.Tab(i18n.t("ds.draft_tab")):
        gr.Markdown(i18n.t("ds.draft_help"))
        with gr.Row():
            adapter = gr.Textbox("", label=i18n.t("ds.adapter"), placeholder="SFT run id",
                                 info=i18n.t("ds.adapter_info"))
            temp = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label=i18n.t("common.temperature"))
            max_new = gr.Slider(8, 512, value=128, step=8, label=i18n.t("eval.max_new_tokens"))
        draft_all_btn = gr.Button(i18n.t("ds.draft_all"), variant="primary")
        draft_msg = gr.Markdown()

    def on_draft_all(name: str | None, model: str, adapter_id: str, t: float, n: float,
                     progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        s = draft.Sampling(model, adapter_id or "", float(t), int(n))
        try:
            done = draft.draft_missing(ws, ctx, name, s,
                                       on_start=lambda k: progress(0.05, desc=f"drafting {k} with {model}"))
        except UserError as e:
            return gr.skip(), gr.skip(), warn(e)
        if not done:
            return gr.skip(), gr.skip(), i18n.say("ds.all_have_response")
        return (*redraw(ws, name),
                i18n.say("ds.drafted", n=done, model=model))

    @needs(Role.ANNOTATOR)  # writes nothing: the draft lands in the form, for the person to correct
    def on_draft_one(model: str, system: str, instr: str, inp: str, t: float, n: float) -> Any:
        try:
            return draft.draft_one(ctx, draft.Sampling(model, "", float(t), int(n)), system, instr, inp)
        except UserError as e:
            warn(e)
            return gr.skip()

    draft_all_btn.click(on_draft_all, [view.dataset, view.model, adapter, temp, max_new],
                        [view.table, view.summary, draft_msg], api_name="datasets_draft_all")
    form.draft_btn.click(on_draft_one, [view.model, form.system, form.instruction, form.input, temp, max_new],
                         [form.response], api_name="datasets_draft_one")
