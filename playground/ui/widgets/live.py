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

import ast
import functools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.jobs import cli_twin, launch_args
from playground.core.runs import FINAL_STATES, read_metrics, read_status, tail_log
from playground.ui.guard import needs
from playground.ui.widgets.chart import line_chart


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


LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

STATE_BADGE = {
    "queued": "⏳ queued", "running": "🏃 running", "succeeded": "✅ succeeded", "failed": "❌ failed",
    "stopped": "⏹ stopped", "interrupted": "⚠️ interrupted",
}
# page styles of the live view, added once by wire_page: wide formulas scroll inside the objective column instead
# of being clipped; the SVG charts keep their aspect; the log pane reads as a log
CSS = """
.pg-objective .katex-display {overflow-x: auto; overflow-y: hidden; max-width: 100%; padding: 2px 0;}
.pg-objective .katex-display > .katex {font-size: 0.95em;}
.pg-chart svg {height: auto;}
.pg-chart-box {min-width: 300px;}
.pg-advanced > button {font-weight: 600;}
"""
EMA_ALPHA = 0.3  # weight of the newest step time in the smoothed step time the ETA uses


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


def _fmt_s(s: float | None) -> str:
    if s is None or s < 0:
        return "–"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_html(frac: float | None, label: str = "") -> str:
    pct = 0.0 if frac is None else max(0.0, min(1.0, frac)) * 100
    return (
        '<div class="pg-progress" title="training progress" style="position:relative;height:20px;'
        'border-radius:10px;background:var(--border-color-primary);overflow:hidden">'
        f'<div class="pg-progress-bar" style="width:{pct:.1f}%;height:100%;'
        'background:linear-gradient(90deg,#6366f1,#22c55e);transition:width .5s"></div>'
        '<span class="pg-progress-label" style="position:absolute;inset:0;text-align:center;font-size:12px;'
        f'line-height:20px">{label or f"{pct:.0f}%"}</span></div>'
    )


def step_time_ema(rows: list[dict[str, Any]], alpha: float = EMA_ALPHA) -> float | None:
    """Seconds per training step, smoothed (EMA) over the logged steps; None before two steps are logged.

    Only rows where the step grew count (eval rows repeat a step); timing starts at the first step logged
    after the train_begin event, so model loading and the warm-up step do not skew it."""
    ema = None
    last: tuple[int, float] | None = None
    for r in rows:
        step, t = r.get("step"), r.get("time")
        if not isinstance(step, (int, float)) or not isinstance(t, (int, float)):
            continue
        if r.get("event") == "train_begin":
            last = None  # the first step after it carries warm-up: start timing from the first logged step
            continue
        if last is not None and step > last[0] and t >= last[1]:
            per = (t - last[1]) / (step - last[0])
            ema = per if ema is None else alpha * per + (1 - alpha) * ema
        if last is None or step > last[0]:
            last = (int(step), float(t))
    return ema


def summarise(run_dir: Path, run_id: str, stage: str,
              rows: list[dict[str, Any]] | None = None,
              status: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """(status markdown, progress html, command markdown); `rows` / `status` are the run's files if already read.

    While running, the header shows the trainer's phase (status.json `phase`: "loading model", "tokenising
    1,814 rows", "rollout 1") and an ETA from the smoothed step time."""
    status = read_status(run_dir) if status is None else status
    rows = read_metrics(run_dir) if rows is None else rows
    state = status.get("state") or "unknown"
    started = status.get("started")
    ended = status.get("ended")
    elapsed = ((ended or time.time()) - started) if started else None
    step = max((r.get("step", 0) for r in rows), default=0)
    max_steps = max((r.get("max_steps") or 0 for r in rows), default=0) or None
    frac = step / max_steps if max_steps else None
    if state == "succeeded":
        frac = 1.0
    eta = None
    if state == "running" and max_steps and step < max_steps:
        per = step_time_ema(rows)
        if per is not None:
            eta = per * (max_steps - step)
            last_t = max((r.get("time", 0) for r in rows), default=0)
            if last_t:  # count down between log events
                eta = max(0.0, eta - (time.time() - last_t))
    err = status.get("error")
    md = f"**{run_id}** · {STATE_BADGE.get(state, state)} · step {step}{f'/{max_steps}' if max_steps else ''}"
    phase = status.get("phase") if state == "running" else None
    if phase:
        md += f" · *{phase}*"
    md += f" · elapsed {_fmt_s(elapsed)} · ETA {_fmt_s(eta)}"
    if err and state in ("failed", "interrupted", "stopped"):
        md += f"\n\n**{'Error' if state != 'stopped' else 'Note'}:** {err}"
    if max_steps:
        label = f"{step}/{max_steps} steps"
    elif state == "succeeded":
        label = "done"
    else:
        label = phase or state
    cmd = f"`{cli_twin(stage, run_dir / 'config.yaml', *_launch(str(run_dir)))}`"
    return md, progress_html(frac, label), cmd


# a transformers log line: "{'loss': 2.31, 'grad_norm': 1.2, ...}"
_DICT_LINE = re.compile(r"^\s*\{'[^']+': .*\}\s*$")
# warnings stay in log.txt: the line itself and the indented source line Python prints under it
_WARNING = re.compile(r"(Warning:|warnings\.warn\(|^\s*warn\()")


def format_log(text: str) -> str:
    """The log pane's text: metric dicts as 'loss 2.31 · grad_norm 1.2', warnings left out (log.txt keeps them)."""
    out: list[str] = []
    skip_next = False
    for line in text.splitlines():
        if skip_next and line.startswith((" ", "\t")):
            skip_next = False
            continue
        skip_next = False
        if _WARNING.search(line):
            skip_next = True
            continue
        if _DICT_LINE.match(line):
            try:
                d = ast.literal_eval(line.strip())
            except (ValueError, SyntaxError):
                d = None
            if isinstance(d, dict):
                line = " · ".join(f"{k} {_num(v)}" for k, v in d.items())
        out.append(line)
    return "\n".join(out)


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@functools.lru_cache(maxsize=256)
def _launch(run_dir: str) -> tuple[int, str]:
    """How the run was launched (processes, accelerate config), for its CLI twin. Cached: the live view asks
    every second, and a run's launch settings never change once its config.yaml is written."""
    try:
        import yaml

        data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, ValueError):
        return 1, ""
    return launch_args(data) if isinstance(data, dict) else (1, "")


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
    return LiveView(run_id=run_id, timer=timer, outputs=outputs)


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
