"""Dataset tab, "Import": a file, a starter or a Hub dataset is staged (format, preview, warnings) and lands only
on "Add to dataset".

Layout and wiring only: reading, detecting, converting and committing are stages/dataset/staging (over io).
`shown` is the one place a staged import is drawn (message + preview table): a report of skipped rows goes there.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground.core.errors import UserError
from playground.stages.dataset import io as dio
from playground.stages.dataset import service, staging
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.tabs.dataset_common import DatasetView, refresh, warn

PREVIEW_WIDTHS = ["18%", "36%", "36%", "10%"]  # an empty `system` column must not squeeze its header to a letter
INTRO = i18n.t("ds.import_intro")


def shown(st: staging.Staged) -> tuple[Any, ...]:
    """A staged import on screen: (state, message, preview table, "Add to dataset" enabled, skipped-rows file)."""
    rejects = gr.update(value=st.rejects_path, visible=True) if st.rejects_path else gr.update(value=None,
                                                                                              visible=False)
    return st, st.describe(), service.preview_frame(st.rows), gr.update(interactive=True), rejects


def refused(e: UserError | str) -> tuple[Any, ...]:
    """Nothing staged: (state, message, empty preview, "Add to dataset" disabled, no skipped-rows file)."""
    return None, warn(e), service.preview_frame([]), gr.update(interactive=False), gr.update(value=None,
                                                                                              visible=False)


def column_choices(up: staging.Upload | None) -> list[Any]:
    """The manual mapping's four dropdowns: the file's columns, pre-filled with the guessed mapping."""
    if up is None:
        return [gr.update(choices=[])] * 4
    return [gr.update(choices=["", *up.columns], value=up.guess.get(k) or "") for k in staging.MAPPING_FIELDS]


def build(ctx: AppContext, view: DatasetView) -> None:
    ws = ctx.ws
    with gr.Tab(i18n.t("ds.import_tab")):
        staged = gr.State(None)  # a staging.Staged waiting for "Add to dataset" (a State directly under
        # gr.Tabs would shift the tab labels: keep it inside the Tab)
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=i18n.t("ds.upload"), elem_id="ds-upload",
                                 file_types=[".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"])
                fmt_in = gr.Dropdown(list(dio.FORMATS), value="auto", label=i18n.t("ds.format"),
                                     info=i18n.t("ds.format_info"))
                strict = gr.Checkbox(False, label=i18n.t("ds.strict"),
                                     info=i18n.t("ds.strict_info"))
                with gr.Accordion(i18n.t("ds.mapping"), open=False) as map_acc:
                    map_instr = gr.Dropdown([], label=i18n.t("ds.col_instr"), allow_custom_value=True)
                    map_input = gr.Dropdown([], label=i18n.t("ds.col_input"), allow_custom_value=True)
                    map_output = gr.Dropdown([], label=i18n.t("ds.col_output"), allow_custom_value=True)
                    map_system = gr.Dropdown([], label=i18n.t("ds.col_system"), allow_custom_value=True)
                    map_btn = gr.Button(i18n.t("ds.map_preview"))
            with gr.Column():
                starter = gr.Dropdown(staging.starter_choices(), label=i18n.t("ds.starter"))
                starter_btn = gr.Button(i18n.t("ds.load_starter"))
                with gr.Accordion(i18n.t("ds.hub_section"), open=False):
                    hub_id = gr.Textbox(label=i18n.t("ds.hub_id"), placeholder="tatsu-lab/alpaca")
                    hub_split = gr.Textbox("train", label=i18n.t("ds.hub_split"))
                    hub_btn = gr.Button(i18n.t("ds.hub_load"))
        import_md = gr.Markdown(INTRO)
        import_preview = gr.Dataframe(service.preview_frame([]), label=i18n.t("ds.import_preview"), interactive=False,
                                      wrap=True, max_height=320, column_widths=PREVIEW_WIDTHS)
        rejects_file = gr.File(label=i18n.t("ds.rejects"), visible=False, interactive=False)
        with gr.Row():
            import_target = gr.Textbox(label=i18n.t("ds.import_target"), placeholder=i18n.t("ds.import_target_ph"),
                                       info=i18n.t("ds.import_target_info"))
            commit_btn = gr.Button(i18n.t("ds.commit"), variant="primary", interactive=False)

    # every handler here imports: admin only (unmarked)
    def on_upload(file: str | None, fmt: str, strict_on: bool) -> tuple[Any, ...]:
        if not file:
            return (None, "", service.preview_frame([]), gr.update(interactive=False), gr.update(visible=False),
                    *column_choices(None), gr.skip())
        try:
            up = staging.stage_upload(file, fmt, strict=bool(strict_on))
        except UserError as e:  # unreadable: nothing to map
            return (*refused(e), *column_choices(None), gr.skip())
        if up.staged is None:  # reads fine, but the columns are unknown: open the mapping, pre-filled
            return (*refused(up.error), *column_choices(up), gr.update(open=True))
        return (*shown(up.staged), *column_choices(up), gr.skip())

    def on_map(file: str | None, strict_on: bool, instr: str, inp: str, out: str, system: str) -> tuple[Any, ...]:
        if not file:  # keeps what is staged
            gr.Warning(i18n.say("ds.upload_first"))
            return (gr.skip(),) * 5
        mapping = {"instruction": instr, "input": inp, "output": out, "system": system}
        try:
            return shown(staging.stage_mapping(file, mapping, strict=bool(strict_on)))
        except UserError as e:
            return refused(e)

    def on_starter(name: str | None) -> tuple[Any, ...]:
        if not name:  # keeps what is staged
            gr.Warning(i18n.say("ds.pick_starter"))
            return (gr.skip(),) * 6
        try:
            return (*shown(staging.stage_starter(name)), f"starter-{name}")
        except UserError as e:
            return (*refused(e), gr.skip())

    def on_hub(dataset_id: str, split: str, fmt: str) -> tuple[Any, ...]:
        try:
            return shown(staging.stage_hub(dataset_id, split, fmt))
        except UserError as e:
            return refused(e)

    def on_commit(st: staging.Staged | None, target: str, current: str | None) -> tuple[Any, ...]:
        try:
            res = staging.commit(ws, st, target, current)
        except UserError as e:
            return (*view.unchanged(), gr.skip(), warn(e), gr.skip())
        made, toast = (("ds.import_created", "ds.import_created_toast") if res.created
                       else ("ds.import_appended", "ds.import_appended_toast"))
        gr.Info(i18n.say(toast, name=res.name, n=res.rows))
        return (*refresh(ws, res.name), None, i18n.say(made, name=res.name, n=res.rows, source=st.source),
                gr.update(interactive=False))

    map_outputs = [map_instr, map_input, map_output, map_system]
    stage_outputs = [staged, import_md, import_preview, commit_btn, rejects_file]
    upload.change(on_upload, [upload, fmt_in, strict], [*stage_outputs, *map_outputs, map_acc],
                  api_name="datasets_upload")
    for ev in (fmt_in.change, strict.change):
        ev(on_upload, [upload, fmt_in, strict], [*stage_outputs, *map_outputs, map_acc], api_visibility="private")
    map_btn.click(on_map, [upload, strict, *map_outputs], stage_outputs, api_name="datasets_map_columns")
    starter_btn.click(on_starter, [starter], [*stage_outputs, import_target], api_name="datasets_starter")
    hub_btn.click(on_hub, [hub_id, hub_split, fmt_in], stage_outputs, api_name="datasets_hub")
    commit_btn.click(on_commit, [staged, import_target, view.dataset],
                     [*view.outputs, staged, import_md, commit_btn], api_name="datasets_commit_import")
