"""The live view's pieces: the SVG chart draws a stroked line per metric, the header shows the trainer's phase and
an ETA from the smoothed step time, the log pane formats metric lines and leaves warnings in log.txt, and the
workspace revision moves on every change a picker cares about (and only then)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from playground.core.runs import append_metrics, write_phase, write_status
from playground.core.workspace import Workspace
from playground.ui.widgets.chart import line_chart
from playground.ui.widgets.live import format_log, metrics_frame, progress_html, step_time_ema, summarise


def test_chart_draws_a_stroked_polyline_per_metric_from_the_second_point() -> None:
    empty = line_chart([], ["loss", "eval_loss"], "Loss")
    assert "<polyline" not in empty and "waiting for the first logged step" in empty
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}, {"step": 3, "loss": 1.2}]
    svg = line_chart(rows, ["loss", "eval_loss", "never_logged"], "Loss", "NLL", "token NLL")
    lines = re.findall(r'<polyline class="pg-line" points="([^"]+)" fill="none" stroke="(#[0-9a-f]{6})" '
                       r'stroke-width="2"', svg)
    assert [len(p.split()) for p, _ in lines] == [3, 1]  # loss: 3 points; eval_loss: 1; never_logged: no line
    assert lines[0][1] != lines[1][1]  # one colour per metric
    xs = [float(pt.split(",")[0]) for pt in lines[0][0].split()]
    ys = [float(pt.split(",")[1]) for pt in lines[0][0].split()]
    assert xs == sorted(xs) and xs[0] < xs[-1] and ys[0] < ys[-1]  # steps go right; a falling loss goes down
    assert "<title>loss: Training loss" in svg and "1.2</b>" in svg  # tooltip and last value in the legend


def test_frames_are_quantitative_empty_or_not() -> None:
    df = metrics_frame([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}], ["loss", "eval_loss"])
    assert list(df["metric"]) == ["loss", "loss", "eval_loss"] and list(df["value"]) == [2.0, 1.5, 1.7]
    assert str(metrics_frame([], ["loss"])["value"].dtype) == "float64"


def test_summary_shows_phase_progress_smoothed_eta_and_error(tmp_path) -> None:  # noqa: ANN001
    write_status(tmp_path, state="running", pid=1, started=1.0)
    write_phase(tmp_path, "tokenising 1,814 rows")
    md, bar, _ = summarise(tmp_path, "sft-x", "sft")
    assert "tokenising 1,814 rows" in md and "ETA –" in md and "tokenising" in bar
    append_metrics(tmp_path, 5, loss=1.0, max_steps=20)
    md, bar, cmd = summarise(tmp_path, "sft-x", "sft")
    assert "step 5/20" in md and "running" in md and "ETA" in md
    assert "width:25.0%" in bar and "python -m playground sft --config" in cmd
    write_status(tmp_path, state="failed", error="dataset 'x' has no usable rows")
    md, _, _ = summarise(tmp_path, "sft-x", "sft")
    assert "no usable rows" in md and "tokenising" not in md  # the phase is shown only while running
    assert "width:100.0%" in progress_html(1.5)


def test_eta_uses_smoothed_step_time_not_the_loading_time() -> None:
    # model loading took 100 s before step 1; then steps take 2 s, one slow outlier of 10 s
    rows = [{"step": 0, "time": 0.0, "event": "train_begin"}, {"step": 1, "time": 100.0},
            {"step": 2, "time": 102.0}, {"step": 3, "time": 104.0}, {"step": 4, "time": 114.0},
            {"step": 4, "time": 115.0, "eval_loss": 1.0}, {"step": 6, "time": 118.0}]
    ema = step_time_ema(rows)
    assert 2.0 < ema < 6.0  # neither the 100 s load nor the 10 s outlier dominates
    assert step_time_ema(rows[:2]) is None


def test_log_pane_formats_metric_dicts_and_drops_warnings() -> None:
    raw = ("run dir: /x\n/venv/lib/trl/foo.py:12: FutureWarning: `x` is deprecated\n  warnings.warn(\n"
           "{'loss': 2.312345, 'grad_norm': 1.5, 'epoch': 0.5}\nsaving adapter")
    out = format_log(raw)
    assert "FutureWarning" not in out and "warnings.warn" not in out
    assert "loss 2.312 · grad_norm 1.5 · epoch 0.5" in out and "run dir: /x" in out and "saving adapter" in out


def test_revision_moves_on_db_writes_from_any_process_and_on_run_status(tmp_path) -> None:  # noqa: ANN001
    ws = Workspace(tmp_path / "playground.db")
    r0 = ws.revision()
    assert ws.revision() == r0  # nothing changed: same token (the UI then sends nothing)
    ws.create_dataset("mine")
    r1 = ws.revision()
    assert r1 != r0
    # another process (the CLI) writes: this object's counter does not move, PRAGMA data_version does
    code = ("import sys; from playground.core.workspace import Workspace; "
            "Workspace(sys.argv[1]).create_dataset('from-cli')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "playground.db")], check=True)
    r2 = ws.revision()
    assert r2 != r1 and ws.revision() == r2
    run = tmp_path / "runs" / "sft-1"
    run.mkdir(parents=True)
    write_status(run, state="running")
    r3 = ws.revision()
    assert r3 != r2
    os.utime(run / "status.json", ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # a later write
    assert ws.revision() != r3


def test_sft_run_comparison_draws_one_stroked_line_per_run(home) -> None:
    """The comparison chart was a gr.LinePlot (no strokes after an update in Gradio 6.31): now the same SVG as the
    live charts, one polyline per picked run."""
    from playground.core.jobs import JobRunner
    from playground.core.runs import append_metrics
    from playground.core.workspace import Workspace
    from playground.ui.context import AppContext
    from playground.ui.tabs.sft import compare_html

    ws = Workspace()
    for rid, slope in (("sft-a", 1.0), ("sft-b", 0.5)):
        rd = home / "runs" / rid
        rd.mkdir(parents=True)
        ws.register_run(rid, "sft", rd, {"model": "tiny"})
        for step in range(1, 5):
            append_metrics(rd, step, loss=3.0 - slope * step / 4)
    ctx = AppContext(ws=ws, jobs=JobRunner(ws), default_model="tiny")
    try:
        svg = compare_html(ctx, "sft-a", "sft-b", "loss")
    finally:
        ctx.jobs.close()
    assert svg.count('class="pg-line"') == 2 and "sft-a" in svg and "sft-b" in svg
    assert 'stroke="none"' not in svg.split('class="pg-line"')[1].split(">")[0]


def test_run_header_shows_the_data_notes_and_what_a_stop_kept(tmp_path) -> None:
    from playground.core.runs import write_status

    write_status(tmp_path, state="running", started=1.0,
                 notes=["Data: 6 train / 1 eval pairs", "⚠️ too few pairs for the accuracy to mean much"])
    md, _, _ = summarise(tmp_path, "reward-x", "reward")
    assert "6 train / 1 eval pairs" in md and "too few pairs" in md
    write_status(tmp_path, state="stopped", kept="adapter after update 3 (checkpoint-3)")
    md, _, _ = summarise(tmp_path, "ppo-x", "ppo")
    assert "Kept:** adapter after update 3" in md


def test_a_gradio_other_than_the_page_scripts_is_named_at_start() -> None:
    from playground.ui.widgets.live_page import GRADIO_VERSION, gradio_mismatch

    major, minor, _ = GRADIO_VERSION.split(".")
    assert gradio_mismatch(GRADIO_VERSION) == "" and gradio_mismatch(f"{major}.{minor}.99") == ""
    warn = gradio_mismatch(f"{major}.{int(minor) + 1}.0")
    assert f"Gradio {major}.{int(minor) + 1}.0 is installed" in warn and f"against Gradio {GRADIO_VERSION}" in warn
    assert "\n" not in warn
