"""SFT on very little data (issue 29, item 2): a one-row dataset, as the arena's "write the answer yourself" makes,
trains without an eval split instead of failing with TRL's "eval_strategy ... but you didn't pass an eval_dataset";
a dataset whose every row is marked eval is refused with one line before any model loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core.runs import read_metrics, read_status

REPO = Path(__file__).resolve().parent.parent
ROW = {"messages": [{"role": "user", "content": "What is the capital of France?"},
                    {"role": "assistant", "content": "Paris."}]}


def _sft(home: Path, dataset: str, run_dir: Path) -> subprocess.CompletedProcess:
    """The CLI twin of the SFT tab's Start on the tiny preset (eval_fraction 0.2 asks for an eval split)."""
    return subprocess.run([sys.executable, "-m", "playground", "sft", "--config", "presets/sft/tiny-cpu.yaml",
                           "--run-dir", str(run_dir), "--set", f"dataset={dataset}", "--set", "max_steps=3",
                           "--set", "save_steps=0"],
                          cwd=REPO, env=dict(os.environ, PLAYGROUND_HOME=str(home)), capture_output=True, text=True,
                          timeout=600)


def test_one_row_trains_without_eval_and_says_so(home: Path) -> None:
    from playground.core.workspace import Workspace

    Workspace().add_rows("one-answer", [ROW], create=True)
    run_dir = home / "runs" / "sft-one-row"
    proc = _sft(home, "one-answer", run_dir)
    log = (run_dir / "log.txt").read_text() if (run_dir / "log.txt").is_file() else ""
    assert proc.returncode == 0, (proc.stderr + log)[-3000:]
    assert "eval_dataset" not in proc.stderr + log  # TRL's raw refusal is gone
    assert read_status(run_dir)["state"] == "succeeded"
    losses = [r["loss"] for r in read_metrics(run_dir) if "loss" in r]
    assert len(losses) == 3 and not any("eval_loss" in r for r in read_metrics(run_dir))
    assert "training without eval" in proc.stdout + proc.stderr + log  # the user is told why there is no eval curve
    result = json.loads((run_dir / "result.json").read_text())
    assert result.get("global_step") == 3, result


def test_every_row_marked_eval_is_one_clear_line(home: Path) -> None:
    from playground.core.workspace import Workspace
    from playground.stages.data import eval_split_note, instruction_rows
    from playground.stages.trainer import DataError

    ws = Workspace()
    ws.add_rows("all-eval", [ROW, ROW], create=True)
    ws.set_splits({row["id"]: "eval" for row in ws.rows("all-eval")})
    with pytest.raises(DataError, match="marked eval, none is left to train on"):
        instruction_rows("all-eval", 0.2, 0)
    assert eval_split_note(1, 0, 0.2).startswith("No eval: 1 row is too few")
    assert eval_split_note(3, 1, 0.2) == "" and eval_split_note(1, 0, 0.0) == ""
