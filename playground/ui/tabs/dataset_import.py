"""Dataset tab, "Import": a file, a starter or a Hub dataset is staged (format, preview, warnings) and lands only
on "Add to dataset".

Layout and wiring only: `build` lays out the part as one `ImportTab` and wires it to this module's handlers, which
take it first and return {component: value}; reading, detecting, converting and committing are
stages/dataset/staging (over io). `shown` is the one place a staged import is drawn (message + preview table): a
report of skipped rows goes there. Every handler here imports: admin only (unmarked).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.errors import UserError
from playground.stages.dataset import io as dio
from playground.stages.dataset import service, staging
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind
from playground.ui.tabs.dataset_common import DatasetView, refresh, warn

PREVIEW_WIDTHS = ["18%", "36%", "36%", "10%"]  # an empty `system` column must not squeeze its header to a letter
INTRO = i18n.t("ds.import_intro")


@dataclass
class ImportTab:
    view: DatasetView  # the picker, table and summary the whole Dataset tab shares
    staged: gr.State  # a staging.Staged waiting for "Add to dataset"
    upload: gr.File
    fmt_in: gr.Dropdown
    strict: gr.Checkbox
    map_acc: gr.Accordion
    map_instr: gr.Dropdown
    map_input: gr.Dropdown
    map_output: gr.Dropdown
    map_system: gr.Dropdown
    map_btn: gr.Button
    starter: gr.Dropdown
    starter_btn: gr.Button
    hub_id: gr.Textbox
    hub_split: gr.Textbox
    hub_btn: gr.Button
    import_md: gr.Markdown
    import_preview: gr.Dataframe
    rejects_file: gr.File
    import_target: gr.Textbox
    commit_btn: gr.Button

    @property
    def mapping(self) -> list[Any]:
        """The manual mapping's four dropdowns, in staging.MAPPING_FIELDS order."""
        return [self.map_instr, self.map_input, self.map_output, self.map_system]

    @property
    def stage_outputs(self) -> list[Any]:
        return [self.staged, self.import_md, self.import_preview, self.commit_btn, self.rejects_file]


def shown(x: ImportTab, st: staging.Staged) -> dict[Any, Any]:
    """A staged import on screen: state, message, preview table, "Add to dataset" enabled, skipped-rows file."""
    rejects = gr.update(value=st.rejects_path, visible=True) if st.rejects_path else gr.update(value=None,
                                                                                              visible=False)
    return {x.staged: st, x.import_md: st.describe(), x.import_preview: service.preview_frame(st.rows),
            x.commit_btn: gr.update(interactive=True), x.rejects_file: rejects}


def refused(x: ImportTab, e: UserError | str) -> dict[Any, Any]:
    """Nothing staged: no state, the message, an empty preview, "Add to dataset" disabled, no skipped-rows file."""
    return {x.staged: None, x.import_md: warn(e), x.import_preview: service.preview_frame([]),
            x.commit_btn: gr.update(interactive=False), x.rejects_file: gr.update(value=None, visible=False)}


def column_choices(x: ImportTab, up: staging.Upload | None) -> dict[Any, Any]:
    """The manual mapping's four dropdowns: the file's columns, pre-filled with the guessed mapping."""
    if up is None:
        return {d: gr.update(choices=[]) for d in x.mapping}
    return {d: gr.update(choices=["", *up.columns], value=up.guess.get(k) or "")
            for d, k in zip(x.mapping, staging.MAPPING_FIELDS, strict=True)}


# -- handlers: every one imports, so admin only (unmarked) ---------------------------------------------------------
def on_upload(x: ImportTab, file: str | None, fmt: str, strict_on: bool) -> dict[Any, Any]:
    if not file:
        return {x.staged: None, x.import_md: "", x.import_preview: service.preview_frame([]),
                x.commit_btn: gr.update(interactive=False), x.rejects_file: gr.update(visible=False),
                **column_choices(x, None)}
    try:
        up = staging.stage_upload(file, fmt, strict=bool(strict_on))
    except UserError as e:  # unreadable: nothing to map
        return {**refused(x, e), **column_choices(x, None)}
    if up.staged is None:  # reads fine, but the columns are unknown: open the mapping, pre-filled
        return {**refused(x, up.error), **column_choices(x, up), x.map_acc: gr.update(open=True)}
    return {**shown(x, up.staged), **column_choices(x, up)}


def on_map(x: ImportTab, file: str | None, strict_on: bool, instr: str, inp: str, out: str,
           system: str) -> dict[Any, Any]:
    if not file:  # keeps what is staged
        gr.Warning(i18n.say("ds.upload_first"))
        return {x.staged: gr.skip()}
    mapping = {"instruction": instr, "input": inp, "output": out, "system": system}
    try:
        return shown(x, staging.stage_mapping(file, mapping, strict=bool(strict_on)))
    except UserError as e:
        return refused(x, e)


def on_starter(x: ImportTab, name: str | None) -> dict[Any, Any]:
    if not name:  # keeps what is staged
        gr.Warning(i18n.say("ds.pick_starter"))
        return {x.staged: gr.skip()}
    try:
        return {**shown(x, staging.stage_starter(name)), x.import_target: f"starter-{name}"}
    except UserError as e:
        return refused(x, e)


def on_hub(x: ImportTab, dataset_id: str, split: str, fmt: str) -> dict[Any, Any]:
    try:
        return shown(x, staging.stage_hub(dataset_id, split, fmt))
    except UserError as e:
        return refused(x, e)


def on_commit(ctx: AppContext, x: ImportTab, st: staging.Staged | None, target: str,
              current: str | None) -> dict[Any, Any]:
    try:
        res = staging.commit(ctx.ws, st, target, current)
    except UserError as e:
        return {x.import_md: warn(e)}
    made, toast = (("ds.import_created", "ds.import_created_toast") if res.created
                   else ("ds.import_appended", "ds.import_appended_toast"))
    gr.Info(i18n.say(toast, name=res.name, n=res.rows))
    return {**dict(zip(x.view.outputs, refresh(ctx.ws, res.name), strict=True)), x.staged: None,
            x.import_md: i18n.say(made, name=res.name, n=res.rows, source=st.source),
            x.commit_btn: gr.update(interactive=False)}


# -- layout ------------------------------------------------------------------------------------------------------
def _sources() -> dict[str, Any]:
    """A file (format, strict, manual mapping) on the left; a built-in starter or a Hub dataset on the right."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            c["upload"] = gr.File(label=i18n.t("ds.upload"), elem_id="ds-upload",
                                  file_types=[".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"])
            c["fmt_in"] = gr.Dropdown(list(dio.FORMATS), value="auto", label=i18n.t("ds.format"),
                                      info=i18n.t("ds.format_info"))
            c["strict"] = gr.Checkbox(False, label=i18n.t("ds.strict"),
                                      info=i18n.t("ds.strict_info"))
            with gr.Accordion(i18n.t("ds.mapping"), open=False) as c["map_acc"]:
                c["map_instr"] = gr.Dropdown([], label=i18n.t("ds.col_instr"), allow_custom_value=True)
                c["map_input"] = gr.Dropdown([], label=i18n.t("ds.col_input"), allow_custom_value=True)
                c["map_output"] = gr.Dropdown([], label=i18n.t("ds.col_output"), allow_custom_value=True)
                c["map_system"] = gr.Dropdown([], label=i18n.t("ds.col_system"), allow_custom_value=True)
                c["map_btn"] = gr.Button(i18n.t("ds.map_preview"))
        with gr.Column():
            c["starter"] = gr.Dropdown(staging.starter_choices(), label=i18n.t("ds.starter"))
            c["starter_btn"] = gr.Button(i18n.t("ds.load_starter"))
            with gr.Accordion(i18n.t("ds.hub_section"), open=False):
                c["hub_id"] = gr.Textbox(label=i18n.t("ds.hub_id"), placeholder="tatsu-lab/alpaca")
                c["hub_split"] = gr.Textbox("train", label=i18n.t("ds.hub_split"))
                c["hub_btn"] = gr.Button(i18n.t("ds.hub_load"))
    return c


def build(ctx: AppContext, view: DatasetView) -> ImportTab:
    with gr.Tab(i18n.t("ds.import_tab")):
        staged = gr.State(None)  # a State directly under gr.Tabs would shift the tab labels: keep it inside the Tab
        c = _sources()
        c["import_md"] = gr.Markdown(INTRO)
        c["import_preview"] = gr.Dataframe(service.preview_frame([]), label=i18n.t("ds.import_preview"),
                                           interactive=False, wrap=True, max_height=320, column_widths=PREVIEW_WIDTHS)
        c["rejects_file"] = gr.File(label=i18n.t("ds.rejects"), visible=False, interactive=False)
        with gr.Row():
            c["import_target"] = gr.Textbox(label=i18n.t("ds.import_target"),
                                            placeholder=i18n.t("ds.import_target_ph"),
                                            info=i18n.t("ds.import_target_info"))
            c["commit_btn"] = gr.Button(i18n.t("ds.commit"), variant="primary", interactive=False)
    x = ImportTab(view=view, staged=staged, **c)
    wire(ctx, x)
    return x


def wire(ctx: AppContext, x: ImportTab) -> None:
    upload_outputs = [*x.stage_outputs, *x.mapping, x.map_acc]
    x.upload.change(bind(on_upload, x), [x.upload, x.fmt_in, x.strict], upload_outputs, api_name="datasets_upload")
    for ev in (x.fmt_in.change, x.strict.change):
        ev(bind(on_upload, x), [x.upload, x.fmt_in, x.strict], upload_outputs, api_visibility="private")
    x.map_btn.click(bind(on_map, x), [x.upload, x.strict, *x.mapping], x.stage_outputs,
                    api_name="datasets_map_columns")
    x.starter_btn.click(bind(on_starter, x), [x.starter], [*x.stage_outputs, x.import_target],
                        api_name="datasets_starter")
    x.hub_btn.click(bind(on_hub, x), [x.hub_id, x.hub_split, x.fmt_in], x.stage_outputs, api_name="datasets_hub")
    x.commit_btn.click(bind(on_commit, ctx, x), [x.staged, x.import_target, x.view.dataset],
                       [*x.view.outputs, x.staged, x.import_md, x.commit_btn], api_name="datasets_commit_import")
