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

This module lays out the picker and the Rows table and wires their events; every decision is a call into
playground/stages/dataset (service, staging, clean, draft, preview). Bad input is one toast and changes nothing.
Deleting a dataset takes two clicks: the first gets a server-side token (kept in session state), "Confirm
delete <name>" spends it, and a raw call without one is refused.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.dataset import service
from playground.ui.context import AppContext
from playground.ui.guard import issue_token, needs, take_token
from playground.ui.tabs import dataset_add, dataset_clean, dataset_export, dataset_import
from playground.ui.tabs.dataset_common import DatasetView, redraw, refresh, warn

DELETE = "delete dataset"  # the confirmation token's action
# narrow columns get fixed widths so their headers ("split", "turns") stay on one line, even in an empty table
TABLE_WIDTHS = ["72px", "80px", "16%", "32%", "32%", "96px"]


def build(ctx: AppContext) -> None:
    ws = ctx.ws
    first = (service.dataset_names(ws) or [None])[0]
    selected = gr.State(None)  # row id picked in the table
    pending = gr.State(None)  # the delete confirmation token issued to this session
    undo = gr.State([])  # a stack of deleted row batches (per session): undo puts the last one back

    with gr.Row(equal_height=True):
        dataset = gr.Dropdown(service.dataset_names(ws), value=first, label="Dataset", scale=3, elem_id="ds-dataset",
                              info="Named datasets in this workspace; SFT trains on the one you pick there.")
        ctx.register_picker(dataset, lambda: service.dataset_names(ws))
        new_name = gr.Textbox(label="New dataset name", placeholder="my-dataset", scale=2)
        create_btn = gr.Button("➕ Create dataset", scale=1)
        delete_btn = gr.Button("🗑 Delete dataset", variant="stop", scale=1, interactive=first is not None)
    with gr.Row(visible=False) as confirm_row:
        confirm_md = gr.Markdown()
        confirm_yes = gr.Button("Confirm delete", variant="stop", elem_id="ds-confirm-delete")
        confirm_no = gr.Button("Cancel")
    ds_msg = gr.Markdown()
    with gr.Row(equal_height=True):
        model = gr.Dropdown(["bundled", "tiny"], value=ctx.default_model, label="Model (chat template & tokenizer)",
                            allow_custom_value=True, scale=3,
                            info="Used for token counts, the token preview and drafting responses.")
        max_len = gr.Number(256, precision=0, label="Max length (tokens)", scale=1,
                            info="SFT's max_length: longer rows are cut.")
    summary = gr.Markdown(service.summary_line(ws, first))

    with gr.Tabs():
        with gr.Tab("Rows"):
            table = gr.Dataframe(service.rows_frame(ws, first), label="Rows", interactive=True, wrap=True,
                                 elem_id="ds-table", static_columns=[0, 5], max_height=520, column_widths=TABLE_WIDTHS)
            gr.Markdown("Edit cells, then **Save table edits**. Click a row to select it (for delete or the token "
                        "preview). Multi-turn rows show their last exchange; `split` is train or eval.",
                        elem_classes=["pg-help"])
            with gr.Row():
                save_btn = gr.Button("💾 Save table edits", variant="primary")
                del_row_btn = gr.Button("Delete selected row")
                undo_btn = gr.Button("↶ Undo last delete")
                reload_btn = gr.Button("🔄 Reload")
            row_msg = gr.Markdown()
        view = DatasetView(dataset=dataset, delete_btn=delete_btn, table=table, summary=summary, model=model, max_len=max_len,
                           undo=undo)
        form = dataset_add.build_add(ctx, view)
        dataset_import.build(ctx, view)
        dataset_clean.build_check(ctx, view)
        prev_id = dataset_clean.build_token_preview(ctx, view)
        dataset_add.build_draft(ctx, view, form)
        dataset_export.build(ctx, view)

    # -- picking, creating and deleting datasets ------------------------------------------------------------
    @needs(Role.VIEWER)
    def on_pick(name: str | None) -> tuple[Any, ...]:
        """Show `name`; the delete button works only with a dataset picked, and a pending confirm is dropped; the
        token preview starts on its first row."""
        return (*redraw(ws, name), gr.update(interactive=bool(name)), gr.update(visible=False), None,
                dataset_clean.first_row_id(ws, name))

    def on_create(name: str) -> tuple[Any, ...]:
        try:
            ws.create_dataset(name)
        except UserError as e:
            return (*view.unchanged(), warn(e), gr.skip())
        return (*refresh(ws, name.strip()), f"Created **{name.strip()}**.", "")

    def on_delete_ask(name: str | None) -> tuple[Any, ...]:
        if not name or not ws.has_dataset(name):
            gr.Warning("Pick a dataset first.")
            return gr.update(visible=False), "", gr.skip(), None
        n = len(ws.rows(name))
        return (gr.update(visible=True), f"Delete **{name}** and its {n} rows? This cannot be undone.",
                gr.update(value=f"Confirm delete {name}", variant="stop"), issue_token(DELETE, name))

    def on_delete(name: str | None, token: str | None) -> tuple[Any, ...]:
        try:
            take_token(token, DELETE, name or "")
            service.delete_dataset(ws, name or "")
        except UserError as e:
            return (*view.unchanged(), warn(e), gr.update(visible=False), None)
        gr.Info(f"Deleted dataset {name}.")
        rest = service.dataset_names(ws)
        return (*refresh(ws, rest[0] if rest else None), f"🗑 Deleted **{name}**.", gr.update(visible=False), None)

    @needs(Role.VIEWER)
    def on_cancel_confirm() -> tuple[Any, None]:
        return gr.update(visible=False), None

    # -- the Rows table -------------------------------------------------------------------------------------
    @needs(Role.VIEWER)
    def on_select(df: pd.DataFrame, evt: gr.SelectData) -> tuple[Any, Any, str]:
        try:
            rid = int(df.iloc[evt.index[0]]["id"])
        except (IndexError, KeyError, TypeError, ValueError):  # a click on the header or an empty table
            return gr.skip(), gr.skip(), ""
        return rid, rid, f"Selected row id **{rid}**."

    @needs(Role.ANNOTATOR)
    def on_save(name: str | None, df: pd.DataFrame) -> tuple[Any, ...]:
        try:
            n = service.apply_table_edits(ws, name, df)
        except UserError as e:
            return gr.skip(), gr.skip(), warn(e)
        return (*redraw(ws, name), f"💾 Saved {n} change(s).")

    def on_delete_row(name: str | None, rid: int | None, stack: list) -> tuple[Any, ...]:
        if rid is None:
            gr.Warning("Click a row in the table first.")
            return (gr.skip(),) * 4
        try:
            removed = service.delete_rows(ws, [int(rid)])
        except UserError as e:
            return (gr.skip(),) * 3 + (warn(e),)
        return (*redraw(ws, name), [*stack, removed], f"Deleted row id {rid}. **Undo last delete** brings it back.")

    def on_undo(name: str | None, stack: list) -> tuple[Any, ...]:
        if not stack:
            gr.Info("Nothing to undo.")
            return (gr.skip(),) * 4
        try:
            n = service.restore_rows(ws, stack[-1])
        except UserError as e:  # e.g. the dataset was deleted meanwhile
            return (gr.skip(),) * 3 + (warn(e),)
        return (*redraw(ws, name), stack[:-1], f"↶ Restored {n} row(s).")

    # -- wiring ---------------------------------------------------------------------------------------------
    pick_outputs = [table, summary, delete_btn, confirm_row, pending, prev_id]
    dataset.change(on_pick, [dataset], pick_outputs, api_visibility="private")
    reload_btn.click(on_pick, [dataset], pick_outputs, api_visibility="private")
    create_btn.click(on_create, [new_name], [*view.outputs, ds_msg, new_name], api_name="datasets_create")
    delete_btn.click(on_delete_ask, [dataset], [confirm_row, confirm_md, confirm_yes, pending],
                     api_name="datasets_delete_ask")
    confirm_yes.click(on_delete, [dataset, pending], [*view.outputs, ds_msg, confirm_row, pending],
                      api_name="datasets_delete")
    confirm_no.click(on_cancel_confirm, None, [confirm_row, pending], api_visibility="private")
    table.select(on_select, [table], [selected, prev_id, row_msg], api_visibility="private")
    save_btn.click(on_save, [dataset, table], [table, summary, row_msg], api_name="datasets_save_table")
    del_row_btn.click(on_delete_row, [dataset, selected, view.undo], [table, summary, view.undo, row_msg])
    undo_btn.click(on_undo, [dataset, view.undo], [table, summary, view.undo, row_msg])
