"""Dataset tab, "Add" and "Draft responses": demonstrations typed by a person, drafts from the model to correct.

Layout and wiring only: `build_add` / `build_draft` lay out their part as one `AddForm` / `DraftTab` and wire it
to this module's handlers, which take it first and return {component: value}; rows are built and stored by
stages/dataset/service, drafts come from stages/dataset/draft.
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
from playground.ui.guard import bind, needs
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
    """The Add form; its draft button is wired with the Draft tab's sampling settings (`build_draft`)."""

    view: DatasetView
    system: gr.Textbox
    instruction: gr.Textbox
    input: gr.Textbox
    response: gr.Textbox
    add_btn: gr.Button
    draft_btn: gr.Button
    conversation: gr.Code
    add_conv_btn: gr.Button
    add_msg: gr.Markdown


@dataclass
class DraftTab:
    """The Draft responses tab: the sampling settings (also used by the Add form's draft button)."""

    view: DatasetView
    adapter: gr.Textbox
    temp: gr.Slider
    max_new: gr.Slider
    draft_all_btn: gr.Button
    draft_msg: gr.Markdown


def _refreshed(ctx: AppContext, view: DatasetView, name: str | None) -> dict[Any, Any]:
    return dict(zip(view.outputs, refresh(ctx.ws, name), strict=True))


# -- handlers ----------------------------------------------------------------------------------------------------
@needs(Role.ANNOTATOR)
def on_add(ctx: AppContext, f: AddForm, name: str | None, system: str, instr: str, inp: str,
           resp: str) -> dict[Any, Any]:
    try:
        name = service.add_rows(ctx.ws, name, [service.build_messages(system, instr, inp, resp)])
    except UserError as e:
        return {f.add_msg: warn(e)}
    key = "ds.added_row" if (resp or "").strip() else "ds.added_draft"
    return {**_refreshed(ctx, f.view, name), f.add_msg: i18n.say(key, name=name), f.instruction: "", f.input: "",
            f.response: ""}


@needs(Role.ANNOTATOR)
def on_add_conv(ctx: AppContext, f: AddForm, name: str | None, text: str) -> dict[Any, Any]:
    try:
        row = service.parse_conversation(text)
        name = service.add_rows(ctx.ws, name, [row])
    except UserError as e:
        return {f.add_msg: warn(e)}
    return {**_refreshed(ctx, f.view, name), f.add_msg: i18n.say("ds.added_conv", n=len(row["messages"]), name=name)}


def on_draft_all(ctx: AppContext, d: DraftTab, name: str | None, model: str, adapter_id: str, t: float, n: float,
                 progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # admin: writes every missing response
    s = draft.Sampling(model, adapter_id or "", float(t), int(n))
    try:
        done = draft.draft_missing(ctx.ws, ctx, name, s,
                                   on_start=lambda k: progress(0.05, desc=f"drafting {k} with {model}"))
    except UserError as e:
        return {d.draft_msg: warn(e)}
    if not done:
        return {d.draft_msg: i18n.say("ds.all_have_response")}
    table, summary = redraw(ctx.ws, name)
    return {d.view.table: table, d.view.summary: summary, d.draft_msg: i18n.say("ds.drafted", n=done, model=model)}


@needs(Role.ANNOTATOR)  # writes nothing: the draft lands in the form, for the person to correct
def on_draft_one(ctx: AppContext, model: str, system: str, instr: str, inp: str, t: float, n: float) -> Any:
    try:
        return draft.draft_one(ctx, draft.Sampling(model, "", float(t), int(n)), system, instr, inp)
    except UserError as e:
        warn(e)
        return gr.skip()


# -- layout ------------------------------------------------------------------------------------------------------
def build_add(ctx: AppContext, view: DatasetView) -> AddForm:
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
    f = AddForm(view=view, system=system_in, instruction=instr_in, input=input_in, response=resp_in, add_btn=add_btn,
                draft_btn=draft_one_btn, conversation=conv_in, add_conv_btn=add_conv_btn, add_msg=add_msg)
    f.add_btn.click(bind(on_add, ctx, f), [view.dataset, f.system, f.instruction, f.input, f.response],
                    [*view.outputs, f.add_msg, f.instruction, f.input, f.response], api_name="datasets_add_row")
    f.add_conv_btn.click(bind(on_add_conv, ctx, f), [view.dataset, f.conversation], [*view.outputs, f.add_msg],
                         api_name="datasets_add_conversation")
    return f


def build_draft(ctx: AppContext, view: DatasetView, form: AddForm) -> DraftTab:
    with gr.Tab(i18n.t("ds.draft_tab")):
        gr.Markdown(i18n.t("ds.draft_help"))
        with gr.Row():
            adapter = gr.Textbox("", label=i18n.t("ds.adapter"), placeholder="SFT run id",
                                 info=i18n.t("ds.adapter_info"))
            temp = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label=i18n.t("common.temperature"))
            max_new = gr.Slider(8, 512, value=128, step=8, label=i18n.t("eval.max_new_tokens"))
        draft_all_btn = gr.Button(i18n.t("ds.draft_all"), variant="primary")
        draft_msg = gr.Markdown()
    d = DraftTab(view=view, adapter=adapter, temp=temp, max_new=max_new, draft_all_btn=draft_all_btn,
                 draft_msg=draft_msg)
    d.draft_all_btn.click(bind(on_draft_all, ctx, d), [view.dataset, view.model, d.adapter, d.temp, d.max_new],
                          [view.table, view.summary, d.draft_msg], api_name="datasets_draft_all")
    form.draft_btn.click(bind(on_draft_one, ctx), [view.model, form.system, form.instruction, form.input, d.temp,
                                                   d.max_new], [form.response], api_name="datasets_draft_one")
    return d
