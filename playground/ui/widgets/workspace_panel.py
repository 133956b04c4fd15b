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
from playground.ui.context import AppContext
from playground.ui.guard import needs


def summary_md() -> str:
    """Where the workspace is, what it holds, and whether it survives a restart."""
    c = bundle.db_counts(db_path())
    text = (f"**Workspace:** `{home()}` · {c['datasets']} datasets ({c['rows']} rows) · "
            f"{c['pairs']} preference pairs · {c['runs']} runs")
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
        gr.Warning(str(e))
        return gr.skip(), f"⚠️ {e}"
    return str(info.path), f"Exported {info.summary()}. Download it below."


def import_session(upload: str | None, force: bool, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:
    if not upload:
        return gr.skip(), "Choose a bundle file (.tar.gz from *Export bundle*) first."
    try:
        info = bundle.import_bundle(upload, force=bool(force), progress=_progress_cb(progress))
    except UserError as e:
        gr.Warning(str(e))
        return gr.skip(), f"⚠️ {e}"
    return summary_md(), f"Imported {info.summary()}."


def backup_database(progress: gr.Progress = gr.Progress()) -> tuple[Any, str]:
    out = _scratch(f"playground-backup-{time.strftime('%Y%m%d-%H%M%S')}.db")
    try:
        backup.backup(out, progress=_progress_cb(progress))
    except UserError as e:
        gr.Warning(str(e))
        return gr.skip(), f"⚠️ {e}"
    c = bundle.db_counts(out)
    return str(out), (f"Backed up {c['datasets']} datasets, {c['pairs']} preference pairs and {c['runs']} runs "
                      "(a consistent SQLite copy, taken without stopping anyone).")


@needs(Role.VIEWER)
def refresh_summary() -> str:
    """On page load: what the workspace holds now, not when the app was built."""
    return summary_md()


def build(ctx: AppContext | None) -> gr.Accordion:
    """The panel, in a closed accordion. The services read PLAYGROUND_HOME, like their CLI twins; `ctx` (when
    given) refreshes the summary on every page load."""
    with gr.Accordion("🗄️ Workspace: bundles and backups (admin)", open=False) as panel:
        summary = gr.Markdown(summary_md())
        message = gr.Markdown()
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Export** the whole session (datasets, votes, runs with metrics and adapters, "
                            "your presets) as one archive with a manifest and checksums.")
                checkpoints = gr.Checkbox(False, label="Include checkpoints (large; only needed to resume runs)")
                export_btn = gr.Button("Export bundle", variant="primary")
                download = gr.File(label="Bundle", interactive=False)
            with gr.Column():
                gr.Markdown("**Import** a bundle into this workspace. It is checked entirely first (paths, links, "
                            "sizes, checksums); work already here is never replaced unless you tick the box.")
                upload = gr.File(label="Bundle to import", file_types=[".gz", ".tgz", ".tar"], type="filepath")
                force = gr.Checkbox(False, label="Replace what this workspace holds (its database is backed up first)")
                import_btn = gr.Button("Import bundle")
            with gr.Column():
                gr.Markdown("**Back up** the database (datasets, votes, run list) as one SQLite file, consistent "
                            "while people keep voting.")
                backup_btn = gr.Button("Back up database")
                backup_file = gr.File(label="Backup", interactive=False)
        export_btn.click(export_session, [checkpoints], [download, message], api_name="workspace_export")
        import_btn.click(import_session, [upload, force], [summary, message], api_name="workspace_import")
        backup_btn.click(backup_database, None, [backup_file, message], api_name="workspace_backup")
    if ctx is not None:
        ctx.on_page_load.append((refresh_summary, [summary]))
    return panel
