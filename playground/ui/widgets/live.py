"""The live-run widget: status + phase, progress bar, elapsed/ETA, line charts, last log lines, CLI twin.

    view = live_view(ctx, "sft", plots=[PlotSpec("Loss", ["loss", "eval_loss"])], objective_md=SFT_OBJECTIVE)
    start_btn.click(start, inputs, [view.run_id, ...])   # set view.run_id to follow a run

A gr.Timer ticks every 2 s while the followed run is live and re-reads metrics.jsonl (append-only) and
status.json; each output is re-sent only when it changed (gr.skip() otherwise), and the timer switches itself
off once the run has ended, so an open page with a finished run costs nothing. Following another run (or
starting / resuming one) switches it back on. The charts are server-rendered SVG (widgets/chart.py): a
gr.LinePlot first drawn empty draws no strokes after updates in Gradio 6.31.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.runs import FINAL_STATES, read_metrics, read_status, tail_log
from playground.ui.guard import needs
from playground.ui.widgets.chart import line_chart
from playground.ui.widgets.run_header import (  # noqa: F401 - re-exported: the header is part of the live view
    STATE_BADGE,
    format_log,
    progress_html,
    step_time_ema,
    summarise,
)


@dataclass
class PlotSpec:
    title: str
    metrics: list[str]
    y_title: str = ""
    help: str = ""  # one sentence: what the metric means


@dataclass
class LiveView:
    run_id: gr.State
    timer: gr.Timer
    outputs: list[Any] = field(default_factory=list)
    # changes exactly when the followed run's files changed: hang other per-run views on its .change
    fingerprint: gr.State | None = None


LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

# page styles of the live view, added once by wire_page: wide formulas scroll inside the objective column instead
# of being clipped; the SVG charts keep their aspect; the log pane reads as a log
CSS = """
.pg-objective .katex-display {overflow-x: auto; overflow-y: hidden; max-width: 100%; padding: 2px 0;}
.pg-objective .katex-display > .katex {font-size: 0.95em;}
.pg-chart svg {height: auto;}
.pg-chart-box {min-width: 300px;}
.pg-advanced > button {font-weight: 600;}
"""


def metrics_frame(rows: list[dict[str, Any]], keys: list[str]) -> pd.DataFrame:
    """Long format (step, value, metric), one row per logged value (the SFT tab's run comparison uses it)."""
    recs = [(r["step"], float(r[k]), k) for r in rows for k in keys if isinstance(r.get(k), (int, float))]
    # explicit dtypes: an empty frame would otherwise be all-object, and a plot would then treat `value` as a
    # category (one tick per loss value, no line)
    return pd.DataFrame({
        "step": pd.Series([r[0] for r in recs], dtype="int64"),
        "value": pd.Series([r[1] for r in recs], dtype="float64"),
        "metric": pd.Series([r[2] for r in recs], dtype="str"),
    })


def chart_html(rows: list[dict[str, Any]], spec: PlotSpec) -> str:
    return line_chart(rows, spec.metrics, spec.title, spec.y_title or spec.title, spec.help)


def live_view(ctx: Any, stage: str, plots: list[PlotSpec], objective_md: str, interval: float = 2.0,
              run_id: str = "") -> LiveView:
    """Build the live panel in the current Blocks context and wire its timer; `run_id` is followed first."""
    run_id = gr.State(run_id)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            status_md = gr.Markdown("No run selected yet.", elem_classes=["pg-status"])
            progress = gr.HTML(progress_html(None, "idle"))
            charts = []
            for i in range(0, len(plots), 2):  # two charts a row: wide enough to read
                with gr.Row():
                    for spec in plots[i : i + 2]:
                        charts.append(gr.HTML(chart_html([], spec), elem_classes=["pg-chart-box"],
                                              min_width=300, js_on_load=None))
            helps = " · ".join(f"**{s.title}**: {s.help}" for s in plots if s.help)
            if helps:
                gr.Markdown(helps, elem_classes=["pg-help"])
        with gr.Column(scale=1, min_width=320):
            # the formulas are wide: scroll inside the column rather than clip
            gr.Markdown(objective_md, elem_classes=["pg-objective"], latex_delimiters=LATEX,
                        max_height=520)
            command = gr.Markdown("", label="CLI twin")
    log = gr.Textbox(label="Last log lines (metrics formatted; warnings stay in log.txt)", lines=6, max_lines=12,
                     interactive=False, autoscroll=True)
    timer = gr.Timer(interval)
    # A tick only stats the run's files and sends nothing unless they changed: every output of an event costs the
    # browser work even when skipped, so the tick has two outputs (the fingerprint, the timer) and the full
    # refresh runs on the fingerprint's change. `shown` holds what this page shows, one value per output, so the
    # refresh re-sends only what changed (a chart only when a metric arrived; per viewer: a workshop has many).
    fingerprint = gr.State(None)
    shown = gr.State(None)

    @needs(Role.VIEWER)
    def poll(rid: str, was: Any) -> list[Any]:
        if not rid:  # nothing followed: sleep until a run is picked or started
            return [gr.skip(), gr.Timer(active=False)]
        run_dir = ctx.jobs.run_dir(rid)
        state = read_status(run_dir).get("state")
        fp = [rid, state, *(_stamp(run_dir / f) for f in ("status.json", "metrics.jsonl", "log.txt")),
              int(time.time() // 15) if state == "running" else 0]  # elapsed / ETA move every 15 s at least
        # a finished run has nothing more to show: stop ticking (following, starting or resuming wakes it)
        return [gr.skip() if fp == was else fp, gr.Timer(active=False) if state in FINAL_STATES else gr.skip()]

    @needs(Role.VIEWER)
    def refresh(rid: str, was: Any) -> list[Any]:
        if not rid:
            return [gr.skip()] * (5 + len(plots))
        run_dir = ctx.jobs.run_dir(rid)
        rows = read_metrics(run_dir)
        status = read_status(run_dir)
        md, bar, cmd = summarise(run_dir, rid, stage, rows, status)
        values = [md, bar, cmd, format_log(tail_log(run_dir, 12))]
        keys = [*values, (rid, len(rows))]
        was = was if isinstance(was, list) and len(was) == len(keys) else [None] * len(keys)
        out = [v if v != w else gr.skip() for v, w in zip(values, was)]
        same_rows = keys[-1] == was[-1]
        charts_out = [gr.skip() if same_rows else chart_html(rows, spec) for spec in plots]
        return [*out, keys, *charts_out]

    @needs(Role.VIEWER)
    def follow(rid: str) -> Any:
        """A newly followed run: wake the timer unless the run has already ended."""
        if not rid:
            return gr.skip()
        return gr.Timer(active=read_status(ctx.jobs.run_dir(rid)).get("state") not in FINAL_STATES)

    outputs = [status_md, progress, command, log, shown, *charts]
    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    timer.tick(poll, inputs=[run_id, fingerprint], outputs=[fingerprint, timer], **quiet)
    fingerprint.change(refresh, inputs=[run_id, shown], outputs=outputs, **quiet)
    run_id.change(refresh, inputs=[run_id, shown], outputs=outputs, **quiet)
    run_id.change(follow, inputs=[run_id], outputs=[timer], **quiet)
    return LiveView(run_id=run_id, timer=timer, outputs=outputs, fingerprint=fingerprint)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


@needs(Role.VIEWER)
def wake() -> Any:
    """The timer update that restarts a live view's polling (after start / resume of the followed run)."""
    return gr.Timer(active=True)


def wire_page(demo: gr.Blocks, ctx: Any, interval: float = 4.0) -> gr.Timer:
    """One page-level watcher for every registered picker (`ctx.register_picker`): a timer asks the workspace
    for its revision (a PRAGMA and a stat per run folder) and, only when it moved, re-reads each picker's
    choices; otherwise the tick sends nothing. A page load refreshes them all at once.

    Call it once, at the end of build_app, inside the Blocks context (after every tab registered its pickers)."""
    pickers = list(ctx.pickers)
    gr.HTML(f"<style>{CSS}</style>", padding=False, container=False, js_on_load=None, elem_id="pg-live-css")
    seen = gr.State(None)
    timer = gr.Timer(interval)

    @needs(Role.VIEWER)
    def check(was: str | None) -> Any:
        try:
            rev = ctx.ws.revision()
        except Exception:  # noqa: BLE001 - a locked or missing database must not break the page; try next tick
            return gr.skip()
        return gr.skip() if rev == was else rev

    @needs(Role.VIEWER)
    def refresh_pickers() -> list[Any]:
        out: list[Any] = []
        for _, choices_fn in pickers:
            try:
                out.append(gr.update(choices=choices_fn()))
            except Exception:  # noqa: BLE001 - one broken list must not stop the others
                out.append(gr.skip())
        return out

    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    # the tick has one output (the revision) and sends nothing when it did not move; the pickers, many
    # outputs, are refreshed only on its change
    timer.tick(check, [seen], [seen], **quiet)
    demo.load(check, [seen], [seen], **quiet)
    seen.change(refresh_pickers, None, [d for d, _ in pickers], **quiet)
    return timer
