"""The live plots' data: numeric axes even before the first metric arrives (an all-object empty frame made
the plot treat the loss as a category for the whole session: one tick per value and no line)."""

from __future__ import annotations

import gradio as gr

from playground.core.runs import append_metrics, write_status
from playground.ui.widgets.live import metrics_frame, progress_html, summarise


def test_frames_are_quantitative_empty_or_not() -> None:
    for rows in ([], [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}]):
        df = metrics_frame(rows, ["loss", "eval_loss"])
        out = gr.LinePlot(df, x="step", y="value", color="metric").postprocess(df)
        assert out.datatypes["step"] == "quantitative" and out.datatypes["value"] == "quantitative"
    df = metrics_frame([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}], ["loss", "eval_loss"])
    assert list(df["metric"]) == ["loss", "loss", "eval_loss"] and list(df["value"]) == [2.0, 1.5, 1.7]


def test_summary_shows_progress_eta_and_error(tmp_path) -> None:  # noqa: ANN001
    write_status(tmp_path, state="running", pid=1, started=1.0)
    append_metrics(tmp_path, 5, loss=1.0, max_steps=20)
    md, bar, cmd = summarise(tmp_path, "sft-x", "sft")
    assert "step 5/20" in md and "running" in md and "ETA" in md
    assert "width:25.0%" in bar and "python -m playground sft --config" in cmd
    write_status(tmp_path, state="failed", error="dataset 'x' has no usable rows")
    md, _, _ = summarise(tmp_path, "sft-x", "sft")
    assert "no usable rows" in md
    assert "width:100.0%" in progress_html(1.5)
