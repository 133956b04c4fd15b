"""Dataset tab: make, import, check and export the instruction datasets everything downstream trains on.

    Rows     pick / create / delete a named dataset; edit rows in the table, delete, undo the last delete
    Add      instruction / optional input / response (+ system prompt), or a multi-turn conversation as JSON;
             "Draft a response" asks the current model and lets you edit before adding      (dataset_add)
    Import   JSON / JSONL / CSV / Parquet upload, a Hub dataset id, or a built-in starter: detected format and a
             preview first, manual column mapping, nothing lands until "Add to dataset"  (dataset_import)
    Check    validation report, duplicate groups with one-click drop, seeded train/eval split, length filter
    Tokens   a row through the model's chat template: trained tokens vs masked ones      (dataset_clean)
    Draft    responses from the model for rows without one, to correct                   (dataset_add)
    Export   JSONL / Parquet download in TRL format, or a push to the Hub (token used once, never saved)
                                                                                          (dataset_export)

This module lays out the picker and the Rows table (`build` returns them as one `DatasetTab`) and wires their events
to the module's handlers, which return `{component: value}`; every decision is a call into
playground/stages/dataset (service, staging, clean, draft, preview). Bad input is one toast and changes nothing.
Deleting a dataset takes two clicks: the first gets a server-side token (kept in session state), "Confirm
delete <name>" spends it, and a raw call without one is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.dataset import service
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, issue_token, needs, take_token
from playground.ui.tabs import dataset_add, dataset_clean, dataset_export, dataset_import
from playground.ui.tabs.dataset_common import DatasetView, redraw, refresh, warn

DELETE = "delete dataset"  # the confirmation token's action
# narrow columns get fixed widths so their headers ("split", "turns") stay on one line, even in an empty table
TABLE_WIDTHS = ["72px", "80px", "16%", "32%", "32%", "96px"]


@dataclass
class DatasetTab:
    """The Dataset tab's own components; `view` is what its parts (add, import, check, export) share."""

    view: DatasetView
    selected: gr.State  # row id picked in the table
    pending: gr.State  # the delete confirmation token issued to this session
    new_name: gr.Textbox
    create_btn: gr.Button
    confirm_row: gr.Row
    confirm_md: gr.Markdown
    confirm_yes: gr.Button
    confirm_no: gr.Button
    ds_msg: gr.Markdown
    save_btn: gr.Button
    del_row_btn: gr.Button
    undo_btn: gr.Button
    reload_btn: gr.Button
    row_msg: gr.Markdown
    prev_id: gr.Number | None = None  # the token preview's row id (filled by a pick and by a click on a row)


# -- picking, creating and deleting datasets ---------------------------------------------------------------------
@needs(Role.VIEWER)
def on_pick(ctx: AppContext, t: DatasetTab, name: str | None) -> dict[Any, Any]:
    """Show `name`; the delete button works only with a dataset picked, a pending confirm is dropped, and the token
    preview starts on its first row."""
    table, summary = redraw(ctx.ws, name)
    return {t.view.table: table, t.view.summary: summary, t.view.delete_btn: gr.update(interactive=bool(name)),
            t.confirm_row: gr.update(visible=False), t.pending: None,
            t.prev_id: dataset_clean.first_row_id(ctx.ws, name)}


def _refreshed(ctx: AppContext, t: DatasetTab, name: str | None) -> dict[Any, Any]:
    return dict(zip(t.view.outputs, refresh(ctx.ws, name), strict=True))


def on_create(ctx: AppContext, t: DatasetTab, name: str) -> dict[Any, Any]:  # admin
    try:
        ctx.ws.create_dataset(name)
    except UserError as e:
        return {t.ds_msg: warn(e)}
    return {**_refreshed(ctx, t, name.strip()), t.ds_msg: i18n.say("ds.created", name=name.strip()), t.new_name: ""}


def on_delete_ask(ctx: AppContext, t: DatasetTab, name: str | None) -> dict[Any, Any]:  # admin
    if not name or not ctx.ws.has_dataset(name):
        gr.Warning(i18n.say("ds.pick_first"))
        return {t.confirm_row: gr.update(visible=False), t.confirm_md: "", t.pending: None}
    n = len(ctx.ws.rows(name))
    return {t.confirm_row: gr.update(visible=True),
            t.confirm_md: i18n.say("ds.confirm", name=name, n=n),
            t.confirm_yes: gr.update(value=i18n.say("ds.confirm_delete", name=name), variant="stop"), t.pending: issue_token(DELETE, name)}


def on_delete(ctx: AppContext, t: DatasetTab, name: str | None, token: str | None) -> dict[Any, Any]:  # admin
    try:
        take_token(token, DELETE, name or "")
        service.delete_dataset(ctx.ws, name or "")
    except UserError as e:
        return {t.ds_msg: warn(e), t.confirm_row: gr.update(visible=False), t.pending: None}
    gr.Info(i18n.say("ds.deleted", name=name))
    rest = service.dataset_names(ctx.ws)
    return {**_refreshed(ctx, t, rest[0] if rest else None), t.ds_msg: i18n.say("ds.deleted_md", name=name),
            t.confirm_row: gr.update(visible=False), t.pending: None}


@needs(Role.VIEWER)
def on_cancel_confirm(t: DatasetTab) -> dict[Any, Any]:
    return {t.confirm_row: gr.update(visible=False), t.pending: None}


# -- the Rows table ----------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_select(t: DatasetTab, df: pd.DataFrame, evt: gr.SelectData) -> dict[Any, Any]:
    try:
        rid = int(df.iloc[evt.index[0]]["id"])
    except (IndexError, KeyError, TypeError, ValueError):  # a click on the header or an empty table
        return {t.row_msg: ""}
    return {t.selected: rid, t.prev_id: rid, t.row_msg: i18n.say("ds.selected", id=rid)}


@needs(Role.ANNOTATOR)
def on_save(ctx: AppContext, t: DatasetTab, name: str | None, df: pd.DataFrame) -> dict[Any, Any]:
    try:
        n = service.apply_table_edits(ctx.ws, name, df)
    except UserError as e:
        return {t.row_msg: warn(e)}
    table, summary = redraw(ctx.ws, name)
    return {t.view.table: table, t.view.summary: summary, t.row_msg: i18n.say("ds.saved", n=n)}


def on_delete_row(ctx: AppContext, t: DatasetTab, name: str | None, rid: int | None, stack: list) -> dict[Any, Any]:
    """Delete the selected row, kept on the undo stack (admin)."""
    if rid is None:
        gr.Warning(i18n.say("ds.click_row"))
        return {t.row_msg: gr.skip()}  # an empty dict is not "nothing" to Gradio: name one output, skipped
    try:
        removed = service.delete_rows(ctx.ws, [int(rid)])
    except UserError as e:
        return {t.row_msg: warn(e)}
    table, summary = redraw(ctx.ws, name)
    return {t.view.table: table, t.view.summary: summary, t.view.undo: [*stack, removed],
            t.row_msg: i18n.say("ds.row_deleted", id=rid)}


def on_undo(ctx: AppContext, t: DatasetTab, name: str | None, stack: list) -> dict[Any, Any]:  # admin
    if not stack:
        gr.Info(i18n.say("ds.nothing_to_undo"))
        return {t.row_msg: gr.skip()}
    try:
        n = service.restore_rows(ctx.ws, stack[-1])
    except UserError as e:  # e.g. the dataset was deleted meanwhile
        return {t.row_msg: warn(e)}
    table, summary = redraw(ctx.ws, name)
    return {t.view.table: table, t.view.summary: summary, t.view.undo: stack[:-1], t.row_msg: i18n.say("ds.restored", n=n)}


# -- layout ------------------------------------------------------------------------------------------------------
def _picker(ctx: AppContext) -> dict[str, Any]:
    """The dataset row, the delete confirmation, the model and max length, the summary line."""
    ws, c = ctx.ws, {}
    first = (service.dataset_names(ws) or [None])[0]
    with gr.Row(equal_height=True):
        c["dataset"] = gr.Dropdown(service.dataset_names(ws), value=first, label=i18n.t("common.dataset"), scale=3,
                                   elem_id="ds-dataset", info=i18n.t("ds.dataset_info"))
        c["new_name"] = gr.Textbox(label=i18n.t("ds.new_name"), placeholder="my-dataset", scale=2)
        c["create_btn"] = gr.Button(i18n.t("ds.create"), scale=1)
        c["delete_btn"] = gr.Button("🗑 Delete dataset", variant="stop", scale=1, interactive=first is not None)
    with gr.Row(visible=False) as c["confirm_row"]:
        c["confirm_md"] = gr.Markdown()
        c["confirm_yes"] = gr.Button(i18n.t("ds.confirm_delete"), variant="stop", elem_id="ds-confirm-delete")
        c["confirm_no"] = gr.Button(i18n.t("ds.cancel"))
    c["ds_msg"] = gr.Markdown()
    with gr.Row(equal_height=True):
        c["model"] = gr.Dropdown(["bundled", "tiny"], value=ctx.default_model, label=i18n.t("ds.model"),
                                 allow_custom_value=True, scale=3, info=i18n.t("ds.model_info"))
        c["max_len"] = gr.Number(256, precision=0, label=i18n.t("ds.max_len"), scale=1,
                                 info=i18n.t("ds.max_len_info"))
    c["summary"] = gr.Markdown(service.summary_line(ws, first))
    return c


def _rows_tab(ctx: AppContext, name: str | None) -> dict[str, Any]:
    c: dict[str, Any] = {}
    with gr.Tab(i18n.t("ds.rows")):
        c["table"] = gr.Dataframe(service.rows_frame(ctx.ws, name), label=i18n.t("ds.rows"), interactive=True, wrap=True,
                                  elem_id="ds-table", static_columns=[0, 5], max_height=520,
                                  column_widths=TABLE_WIDTHS)
        gr.Markdown(i18n.t("ds.rows_help"),
                    elem_classes=["pg-help"])
        with gr.Row():
            c["save_btn"] = gr.Button(i18n.t("ds.save"), variant="primary")
            c["del_row_btn"] = gr.Button(i18n.t("ds.del_row"))
            c["undo_btn"] = gr.Button(i18n.t("ds.undo"))
            c["reload_btn"] = gr.Button(i18n.t("ds.reload"))
        c["row_msg"] = gr.Markdown()
    return c


def build(ctx: AppContext) -> DatasetTab:
    # session states before the tabs: a gr.State directly under gr.Tabs renames the tabs when you switch
    selected, pending, undo = gr.State(None), gr.State(None), gr.State([])
    p = _picker(ctx)
    ctx.register_picker(p["dataset"], lambda: service.dataset_names(ctx.ws))
    with gr.Tabs():
        r = _rows_tab(ctx, p["dataset"].value)
        view = DatasetView(dataset=p.pop("dataset"), delete_btn=p.pop("delete_btn"), table=r.pop("table"),
                           summary=p.pop("summary"), model=p.pop("model"), max_len=p.pop("max_len"), undo=undo)
        form = dataset_add.build_add(ctx, view)
        dataset_import.build(ctx, view)
        dataset_clean.build_check(ctx, view)
        prev_id = dataset_clean.build_token_preview(ctx, view)
        dataset_add.build_draft(ctx, view, form)
        dataset_export.build(ctx, view)
    t = DatasetTab(view=view, selected=selected, pending=pending, prev_id=prev_id, **p, **r)
    wire(ctx, t)
    return t


def wire(ctx: AppContext, t: DatasetTab) -> None:
    v = t.view
    pick_outputs = [v.table, v.summary, v.delete_btn, t.confirm_row, t.pending, t.prev_id]
    v.dataset.change(bind(on_pick, ctx, t), [v.dataset], pick_outputs, api_visibility="private")
    t.reload_btn.click(bind(on_pick, ctx, t), [v.dataset], pick_outputs, api_visibility="private")
    t.create_btn.click(bind(on_create, ctx, t), [t.new_name], [*v.outputs, t.ds_msg, t.new_name],
                       api_name="datasets_create")
    v.delete_btn.click(bind(on_delete_ask, ctx, t), [v.dataset], [t.confirm_row, t.confirm_md, t.confirm_yes, t.pending],
                       api_name="datasets_delete_ask")
    t.confirm_yes.click(bind(on_delete, ctx, t), [v.dataset, t.pending],
                        [*v.outputs, t.ds_msg, t.confirm_row, t.pending], api_name="datasets_delete")
    t.confirm_no.click(bind(on_cancel_confirm, t), None, [t.confirm_row, t.pending], api_visibility="private")
    v.table.select(bind(on_select, t), [v.table], [t.selected, t.prev_id, t.row_msg], api_visibility="private")
    t.save_btn.click(bind(on_save, ctx, t), [v.dataset, v.table], [v.table, v.summary, t.row_msg],
                     api_name="datasets_save_table")
    t.del_row_btn.click(bind(on_delete_row, ctx, t), [v.dataset, t.selected, v.undo],
                        [v.table, v.summary, v.undo, t.row_msg])
    t.undo_btn.click(bind(on_undo, ctx, t), [v.dataset, v.undo], [v.table, v.summary, v.undo, t.row_msg])
