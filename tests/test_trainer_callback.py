"""The shared metrics callback (stages/trainer.make_callback): tokens/s after a resume counts from the restored
token count, not from 0 (issue 29: a throughput spike after every Resume)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from playground.core.runs import read_metrics
from playground.stages import trainer


def test_tokens_per_s_after_resume_counts_from_the_restored_count(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    now = [100.0]
    monkeypatch.setattr(trainer.time, "time", lambda: now[0])
    cb = trainer.make_callback(tmp_path)
    state = SimpleNamespace(global_step=0, max_steps=10, num_input_tokens_seen=0, epoch=0.0)
    cb.on_train_begin(None, state, None)
    # transformers restores the checkpoint's state after on_train_begin, before the first step
    state.global_step, state.num_input_tokens_seen = 5, 50_000
    cb.on_step_begin(None, state, None)
    now[0] = 110.0
    state.global_step, state.num_input_tokens_seen = 6, 50_200
    cb.on_log(None, state, None, logs={"loss": 1.0})
    rows = [r for r in read_metrics(tmp_path) if "loss" in r]
    assert rows[-1]["tokens_per_s"] == 200 / 10  # 200 new tokens in 10 s; from 0 it would read 5,020 tokens/s


def test_a_fresh_run_counts_its_first_batch(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    now = [100.0]
    monkeypatch.setattr(trainer.time, "time", lambda: now[0])
    cb = trainer.make_callback(tmp_path)
    state = SimpleNamespace(global_step=0, max_steps=10, num_input_tokens_seen=0, epoch=0.0)
    cb.on_train_begin(None, state, None)
    state.num_input_tokens_seen = 40  # counted as the first batch is drawn, before on_step_begin
    cb.on_step_begin(None, state, None)
    now[0] = 104.0
    state.global_step = 1
    cb.on_log(None, state, None, logs={"loss": 1.0})
    rows = [r for r in read_metrics(tmp_path) if "loss" in r]
    assert rows[-1]["tokens_per_s"] == 40 / 4
