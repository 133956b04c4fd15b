"""The admin's workspace panel: export the session as a bundle, import one, back up the database.

    from playground.ui.widgets import workspace_panel
    workspace_panel.build(ctx)        # inside gr.Blocks, e.g. in an accordion under the header

Every button handler here is admin-only (undecorated: see ui/guard.py; the page-load summary is viewer-level) and shows a progress bar; a refused bundle
is one warning line and changes nothing. The services are core/bundle.py and core/backup.py, the same code
as `python -m playground bundle ...` / `backup`.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr

from playground.core import backup, bundle, space
from playground.core.auth import Role
from playground.core.errors import UserError
from playground.core.paths import db_path, home
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import needs


def summary_md() -> str:
    """Where the workspace is, what it holds, and whether it survives a restart."""
    c = bundle.db_counts(db_path())
    text = i18n.say("ws.summary", home=home(), datasets=c["datasets"], rows=c["rows"], pairs=c["pairs"], runs=c["runs"])
    warning = space.banner_text()
    return f"{text}\n\n{warning}" if warning else text


def _progress_cb(progress: gr.Progress) -> Any:
    def report(fraction: float, what: str) -> None:
        progress(fraction, desc=what)

    return report


def _scratch(name: str) -> Path:
    """A fresh file path in the system temp folder (Gradio serves downloads from there)."""
    return Path(tempfile.mkdtemp(prefix="playground-")) / name


def export_session(checkpoints: bool, progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
    out = _scratch(f"playground-session-{time.strftime('%Y%m%d-%H%M%S')}.tar.gz")
    try:
        info = bundle.export_bundle(out, checkpoints=bool(checkpoints), progress=_progress_cb(progress))
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return gr.skip(), f"⚠️ {i18n.localise(e)}"
    return str(info.path), i18n.say("ws.exported", what=i18n.localise(info.summary()))


def import_session(upload: str | None, force: bool, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
    if not upload:
        return gr.skip(), i18n.say("ws.choose_bundle")
    try:
        info = bundle.import_bundle(upload, force=bool(force), progress=_progress_cb(progress))
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return gr.skip(), f"⚠️ {i18n.localise(e)}"
    return summary_md(), i18n.say("ws.imported", what=i18n.localise(info.summary()))


def backup_database(progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
    out = _scratch(f"playground-backup-{time.strftime('%Y%m%d-%H%M%S')}.db")
    try:
        backup.backup(out, progress=_progress_cb(progress))
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return gr.skip(), f"⚠️ {i18n.localise(e)}"
    c = bundle.db_counts(out)
    return str(out), i18n.say("ws.backed_up", datasets=c["datasets"], pairs=c["pairs"], runs=c["runs"])


@needs(Role.VIEWER)
def refresh_summary() -> str:
    """On page load: what the workspace holds now, not when the app was built."""
    return summary_md()


def build(ctx: AppContext | None) -> gr.Accordion:
    """The panel, in a closed accordion. The services read PLAYGROUND_HOME, like their CLI twins; `ctx` (when
    given) refreshes the summary on every page load."""
    with gr.Accordion(i18n.t("ws.title"), open=False) as panel:
        summary = gr.Markdown(summary_md())
        message = gr.Markdown()
        with gr.Row():
            with gr.Column():
                gr.Markdown(i18n.t("ws.export_help"))
                checkpoints = gr.Checkbox(False, label=i18n.t("ws.checkpoints"))
                export_btn = gr.Button(i18n.t("ws.export"), variant="primary")
                download = gr.File(label=i18n.t("ws.bundle"), interactive=False)
            with gr.Column():
                gr.Markdown(i18n.t("ws.import_help"))
                upload = gr.File(label=i18n.t("ws.bundle_in"), file_types=[".gz", ".tgz", ".tar"], type="filepath")
                force = gr.Checkbox(False, label=i18n.t("ws.force"))
                import_btn = gr.Button(i18n.t("ws.import"))
            with gr.Column():
                gr.Markdown(i18n.t("ws.backup_help"))
                backup_btn = gr.Button(i18n.t("ws.backup"))
                backup_file = gr.File(label=i18n.t("ws.backup_file"), interactive=False)
        export_btn.click(export_session, [checkpoints], [download, message], api_name="workspace_export")
        import_btn.click(import_session, [upload, force], [summary, message], api_name="workspace_import")
        backup_btn.click(backup_database, None, [backup_file, message], api_name="workspace_backup")
    if ctx is not None:
        ctx.on_page_load.append((refresh_summary, [summary]))
    return panel
