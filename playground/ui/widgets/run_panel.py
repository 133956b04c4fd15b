"""The run controls every training tab shares: preset -> form, form -> preset, start, stop, resume.

`run_panel` builds the start/stop/resume row, the run picker and the live view and wires them as the API
endpoints `<stage>_start`, `<stage>_stop`, `<stage>_resume`; `wire_presets` adds `<stage>_preset`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.config import BaseRun, ConfigError, field_choices
from playground.core.errors import UserError
from playground.core.runs import read_config
from playground.stages import trackers
from playground.ui.context import AppContext
from playground.ui.guard import caller, needs
from playground.ui.i18n import field_help_key, lang_now, localise, say, t
from playground.ui.widgets.forms import ConfigForm, list_presets, load_preset, save_preset
from playground.ui.widgets.live import LiveView, PlotSpec, RunSection, RunTable, live_view


def preset_values(stage: str, form: ConfigForm, name: str) -> list[Any]:
    """The preset's values for the form's fields; a bad preset warns and leaves the form as it is."""
    try:
        return form.values_from(load_preset(stage, name))
    except (ConfigError, OSError) as e:
        gr.Warning(say("run.preset_bad", name=name, error=localise(e)))
        return [gr.skip()] * len(form.names)


def save_form_preset(stage: str, form: ConfigForm, name: str, values: list[Any]) -> Any:
    try:
        saved = save_preset(stage, name, form.to_config(stage, values))
    except ConfigError as e:
        gr.Warning(localise(e))
        return gr.skip()
    gr.Info(say("run.preset_saved", name=saved))
    return gr.update(choices=list_presets(stage), value=saved)


def start_run(ctx: AppContext, stage: str, form: ConfigForm, values: list[Any],
              choices: Callable[[], list[Any]], base: dict[str, Any] | None = None) -> tuple[Any, str, Any]:
    """(followed run id, message, run picker update). A bad value, a full queue or a read-only app is a one-line
    message; nothing is queued. The run records who started it. `base`: fields set outside the form (report_to)."""
    try:
        cfg = form.to_config(stage, values, base)
        run_id = ctx.jobs.submit(cfg, owner=caller().name)
    except UserError as e:
        gr.Warning(localise(e))
        return gr.skip(), f"⚠️ {localise(e)}", gr.skip()
    return run_id, say("run.started", run=run_id), gr.update(choices=choices(), value=run_id)


def stop_run(ctx: AppContext, run_id: str) -> str:
    """Stop and say exactly what was kept (read from the run's status once its process ended)."""
    if not run_id:
        return say("run.pick_first")
    c = caller()
    try:
        ctx.jobs.stop(run_id, by=c.name, is_admin=c.role >= Role.ADMIN)
    except UserError as e:
        return f"⚠️ {localise(e)}"
    return localise(ctx.jobs.stop_message(run_id))


def resume_run(ctx: AppContext, run_id: str) -> tuple[Any, str]:
    """Resume from the last checkpoint, or say that it starts over when none was saved."""
    if not run_id:
        return gr.skip(), say("run.pick_first")
    c = caller()
    try:
        ctx.jobs.resume(run_id, by=c.name, is_admin=c.role >= Role.ADMIN)
    except (UserError, ValueError) as e:
        return gr.skip(), f"⚠️ {localise(e)}"
    return run_id, localise(ctx.jobs.resume_message(run_id))


def run_choices(ctx: AppContext, stage: str | tuple[str, ...], finished_only: bool = False) -> list[tuple[str, str]]:
    """Runs of one stage (or of several, stage by stage) for a picker: label 'id · state' (the state in the caller's
    language), value the run id."""
    lang = lang_now()
    return [(f"{r['id']} · {state_word(r['state'], lang)}", r["id"])
            for s in ((stage,) if isinstance(stage, str) else stage) for r in ctx.runs(s, finished_only)]


def state_word(state: str, lang: str) -> str:
    """A run's state as a picker or table shows it: 'succeeded', '已成功'."""
    return localise(state, lang)


@dataclass(frozen=True)
class PanelSpec:
    """What a training tab's run panel says: its start button, plots, objective and picker."""

    start_label: str
    plots: list[PlotSpec]
    objective: str
    follow_label: Any = t("run.follow")
    follow_info: str = ""
    resume: bool = True
    refresh: bool = True
    tables: list[RunTable | RunSection] = field(default_factory=list)  # per-run views drawn inside the live panel


@dataclass
class RunPanel:
    view: LiveView
    message: gr.Markdown
    follow: gr.Dropdown
    refresh: gr.Button | None


def wire_presets(stage: str, form: ConfigForm, preset: gr.Dropdown, preset_name: gr.Textbox | None = None,
                 save_btn: gr.Button | None = None) -> None:
    """Picking a preset fills the form; the save button stores the form as the user's own preset."""
    preset.change(needs(Role.VIEWER)(lambda name: preset_values(stage, form, name)), [preset], form.components,
                  api_name=f"{stage}_preset")  # fills the form only: starting a run is what needs admin
    if save_btn is not None and preset_name is not None:
        def on_save_preset(name: str, *values: Any) -> Any:  # admin: presets are shared by everyone here
            return save_form_preset(stage, form, name, list(values))

        save_btn.click(on_save_preset,
                       [preset_name, *form.components], [preset], api_name=f"{stage}_save_preset")


def run_panel(ctx: AppContext, stage: str, form: ConfigForm, spec: PanelSpec) -> RunPanel:
    """Start / stop / (resume) buttons, a run picker and the live view, wired as `<stage>_start` etc."""
    start_label, plots, objective, resume, refresh = (spec.start_label, spec.plots, spec.objective, spec.resume,
                                                      spec.refresh)
    follow_label, follow_info = spec.follow_label, spec.follow_info
    with gr.Row():
        start = gr.Button(start_label, variant="primary")
        stop = gr.Button(t("run.stop"), variant="stop")
        resume_btn = gr.Button(t("run.resume")) if resume else None
    message = gr.Markdown("")
    with gr.Row():
        runs = run_choices(ctx, stage)
        # the picker shows its first run as selected, so the live view (and stop / resume) follow that run too
        first = runs[0][1] if runs else None
        follow = gr.Dropdown(runs, value=first, label=follow_label, info=follow_info or None, scale=4)
        refresh_btn = gr.Button(t("run.refresh"), scale=1) if refresh else None
    # ---- trackers (issue 27): report_to beside the start button unless the tab's form has it; Trackio's dashboard
    with gr.Row():
        report = gr.Dropdown(list(field_choices(BaseRun)["report_to"]), value="none", label=t("field.report_to"),
                             info=t(field_help_key("sft", "report_to")), scale=4, visible="report_to" not in form.names)
        trackio_btn = gr.Button(t("run.trackio"), scale=1)
    # ---- trackers: end
    view = live_view(ctx, stage, plots, objective, run_id=first or "", tables=spec.tables)

    def on_start(*values: Any) -> tuple[Any, str, Any]:  # admin
        *values, report_to = values
        base = {} if "report_to" in form.names else {"report_to": report_to}
        return start_run(ctx, stage, form, list(values), lambda: run_choices(ctx, stage), base)

    def on_trackio() -> str:  # admin: it starts a server process
        return trackers.dashboard()

    def on_stop(run_id: str) -> str:  # admin (the job runner also lets a run's own starter stop it)
        return stop_run(ctx, run_id)

    def on_resume(run_id: str) -> tuple[Any, str]:  # admin
        return resume_run(ctx, run_id)

    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    # draw the started / resumed run at once (resume keeps the same run id: no .change would fire)
    start.click(on_start, [*form.components, report], [view.run_id, message, follow],
                api_name=f"{stage}_start").then(*view.reshow, **quiet)
    trackio_btn.click(on_trackio, None, [message], api_name=f"{stage}_trackio")
    stop.click(on_stop, [view.run_id], [message], api_name=f"{stage}_stop")
    if resume_btn is not None:
        resume_btn.click(on_resume, [view.run_id], [view.run_id, message], api_name=f"{stage}_resume").then(
            *view.reshow, **quiet)

    @needs(Role.VIEWER)
    def on_follow(run_id: str | None) -> Any:
        return run_id or gr.skip()

    follow.change(on_follow, [follow], [view.run_id], api_visibility="private")
    # labels say each run's state ("· ✅ succeeded"): the page-level workspace watcher keeps them current
    ctx.register_picker(follow, lambda: run_choices(ctx, stage))

    @needs(Role.VIEWER)
    def on_page_load() -> tuple[Any, ...]:
        """A page opened after the app was built sees the runs made since (from this UI or the CLI), follows the
        newest, and shows that run's settings in the form (not the preset's)."""
        admin = caller().role >= Role.ADMIN  # the server refuses anyway; greyed buttons say so before a click
        buttons = [gr.update(interactive=admin) for _ in controls]
        now = run_choices(ctx, stage)
        if not now:  # the empty panel still redraws: in the caller's language
            return (*buttons, *[gr.skip()] * (2 + len(form.components)), *view.on_load(""))
        cfg = read_config(ctx.jobs.run_dir(now[0][1]))
        values = form.values_from(cfg) if cfg else [gr.skip()] * len(form.components)
        reported = cfg.get("report_to", "none") if cfg else gr.skip()
        return (*buttons, gr.update(choices=now, value=now[0][1]), *values, reported, *view.on_load(now[0][1]))

    controls = [b for b in (start, stop, resume_btn, trackio_btn) if b is not None]
    ctx.on_page_load.append((on_page_load, [*controls, follow, *form.components, report, *view.load_outputs]))
    return RunPanel(view=view, message=message, follow=follow, refresh=refresh_btn)
