"""The run controls every training tab shares: preset -> form, form -> preset, start, stop, resume.

Each tab keeps thin handlers (their names are the API endpoints) that call these with its stage and form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from playground.config import ConfigError
from playground.ui.context import AppContext
from playground.ui.forms import ConfigForm, list_presets, load_preset, save_preset


def preset_values(stage: str, form: ConfigForm, name: str) -> list[Any]:
    """The preset's values for the form's fields; a bad preset warns and leaves the form as it is."""
    try:
        return form.values_from(load_preset(stage, name))
    except (ConfigError, OSError) as e:
        gr.Warning(f"Preset {name}: {e}")
        return [gr.skip()] * len(form.names)


def save_form_preset(stage: str, form: ConfigForm, name: str, values: list[Any]) -> Any:
    try:
        saved = save_preset(stage, name, form.to_config(stage, values))
    except ConfigError as e:
        gr.Warning(str(e))
        return gr.skip()
    gr.Info(f"Saved preset {saved}")
    return gr.update(choices=list_presets(stage), value=saved)


def start_run(ctx: AppContext, stage: str, form: ConfigForm, values: list[Any],
              choices: Callable[[], list[Any]]) -> tuple[Any, str, Any]:
    """(followed run id, message, run picker update). A bad value is a one-line message; nothing is queued."""
    try:
        cfg = form.to_config(stage, values)
    except ConfigError as e:
        gr.Warning(str(e))
        return gr.skip(), f"⚠️ {e}", gr.skip()
    run_id = ctx.jobs.submit(cfg)
    return run_id, f"Started **{run_id}**.", gr.update(choices=choices(), value=run_id)


def stop_run(ctx: AppContext, run_id: str) -> str:
    if not run_id:
        return "Pick a run first."
    state = ctx.jobs.stop(run_id)
    return f"{run_id}: {state} (a checkpoint was saved if training had begun; Resume continues from it)."


def resume_run(ctx: AppContext, run_id: str) -> tuple[Any, str]:
    if not run_id:
        return gr.skip(), "Pick a run first."
    try:
        ctx.jobs.resume(run_id)
    except ValueError as e:
        return gr.skip(), f"⚠️ {e}"
    return run_id, f"Resuming **{run_id}** from its last checkpoint."
