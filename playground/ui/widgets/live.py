"""The live-run widget: status, progress bar, elapsed/ETA, line plots, last log lines, CLI twin.

    view = live_view(ctx, "sft", plots=[PlotSpec("Loss", ["loss", "eval_loss"])], objective_md=SFT_OBJECTIVE)
    start_btn.click(start, inputs, [view.run_id, ...])   # set view.run_id to follow a run

A gr.Timer ticks every second and re-reads metrics.jsonl (append-only) and status.json; the training
itself runs in a subprocess, so the UI stays responsive whatever the job does.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.jobs import cli_twin, launch_args
from playground.core.runs import read_metrics, read_status, tail_log


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


def metrics_frame(rows: list[dict[str, Any]], keys: list[str]) -> pd.DataFrame:
    """Long format (step, value, metric) for gr.LinePlot with one line per metric."""
    recs = [(r["step"], float(r[k]), k) for r in rows for k in keys if isinstance(r.get(k), (int, float))]
    # explicit dtypes: an empty frame would otherwise be all-object, and the plot would then treat
    # `value` as a category (one tick per loss value, no line) for the rest of the session
    return pd.DataFrame({
        "step": pd.Series([r[0] for r in recs], dtype="int64"),
        "value": pd.Series([r[1] for r in recs], dtype="float64"),
        "metric": pd.Series([r[2] for r in recs], dtype="str"),
    })


def _fmt_s(s: float | None) -> str:
    if s is None or s < 0:
        return "–"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_html(frac: float | None, label: str = "") -> str:
    pct = 0.0 if frac is None else max(0.0, min(1.0, frac)) * 100
    return (
        '<div class="pg-progress" title="training progress">'
        f'<div class="pg-progress-bar" style="width:{pct:.1f}%"></div>'
        f'<span class="pg-progress-label">{label or f"{pct:.0f}%"}</span></div>'
    )


def summarise(run_dir: Path, run_id: str, stage: str,
              rows: list[dict[str, Any]] | None = None) -> tuple[str, str, str]:
    """(status markdown, progress html, command markdown); `rows` are the run's metrics if already read."""
    status = read_status(run_dir)
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
    if frac and 0 < frac < 1 and elapsed and state == "running":
        eta = elapsed * (1 - frac) / frac
    err = status.get("error")
    md = f"**{run_id}** · {STATE_BADGE.get(state, state)} · step {step}{f'/{max_steps}' if max_steps else ''}"
    md += f" · elapsed {_fmt_s(elapsed)} · ETA {_fmt_s(eta)}"
    if err and state in ("failed", "interrupted"):
        md += f"\n\n**Error:** {err}"
    label = f"{step}/{max_steps} steps" if max_steps else ("done" if state == "succeeded" else state)
    cmd = f"`{cli_twin(stage, run_dir / 'config.yaml', *_launch(str(run_dir)))}`"
    return md, progress_html(frac, label), cmd


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


def live_view(ctx: Any, stage: str, plots: list[PlotSpec], objective_md: str, interval: float = 1.0,
              run_id: str = "") -> LiveView:
    """Build the live panel in the current Blocks context and wire its timer; `run_id` is followed first."""
    run_id = gr.State(run_id)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            status_md = gr.Markdown("No run selected yet.", elem_classes=["pg-status"])
            progress = gr.HTML(progress_html(None, "idle"))
            plot_components = []
            for i in range(0, len(plots), 2):  # two plots a row: wide enough to read
                with gr.Row():
                    for spec in plots[i : i + 2]:
                        plot_components.append(
                            gr.LinePlot(
                                metrics_frame([], spec.metrics), x="step", y="value", color="metric",
                                title=spec.title, y_title=spec.y_title or spec.title, height=240,
                                label=spec.title, show_label=False,
                            )
                        )
            helps = " · ".join(f"**{s.title}**: {s.help}" for s in plots if s.help)
            if helps:
                gr.Markdown(helps, elem_classes=["pg-help"])
        with gr.Column(scale=1, min_width=260):
            gr.Markdown(objective_md, elem_classes=["pg-objective"], latex_delimiters=LATEX)
            command = gr.Markdown("", label="CLI twin")
    log = gr.Textbox(label="Last log lines", lines=6, max_lines=12, interactive=False, autoscroll=True)
    timer = gr.Timer(interval)
    # what this page's plots show, (run id, metric rows): a tick re-sends the plots only when that changed, so a
    # finished run is drawn once instead of re-rendered every second (per viewer: a workshop has many)
    shown = gr.State(None)

    def refresh(rid: str, was: Any) -> list[Any]:
        if not rid:
            return [gr.skip()] * (5 + len(plots))
        run_dir = ctx.jobs.run_dir(rid)
        rows = read_metrics(run_dir)
        md, bar, cmd = summarise(run_dir, rid, stage, rows)
        now = [rid, len(rows)]
        if was == now:
            frames = [gr.skip()] * len(plots)
        else:
            frames = [metrics_frame(rows, spec.metrics) for spec in plots]
        return [md, bar, cmd, tail_log(run_dir, 12), now, *frames]

    outputs = [status_md, progress, command, log, shown, *plot_components]
    timer.tick(refresh, inputs=[run_id, shown], outputs=outputs, api_visibility="private", show_progress="hidden")
    run_id.change(refresh, inputs=[run_id, shown], outputs=outputs, api_visibility="private",
                  show_progress="hidden")
    return LiveView(run_id=run_id, timer=timer, outputs=outputs)
