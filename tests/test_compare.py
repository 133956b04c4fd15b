"""Compare runs across methods (stages/compare.py, `python -m playground compare`): two tiny policy runs (a GRPO and a
DPO run whose adapters are random LoRA updates of the tiny model, with their metrics.jsonl) judged by one reward on the
same prompts; the CSV, the chart (SVG + PNG), the cache, the one-line refusals.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_compare.py
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from playground.core.config import ConfigError, save_config, to_dict
from playground.core.runs import write_result, write_status
from playground.stages.compare import (
    CSV_COLUMNS,
    CompareRequest,
    answer_tokens,
    compare,
    csv_text,
    run_cost,
    write_outputs,
)
from playground.stages.registry import from_dict

GRPO, DPO = "grpo-20990101-000000-cmp1", "dpo-20990101-000000-cmp2"
T0 = 1_900_000_000.0


def _adapter(path: Path, seed: int) -> None:
    """A LoRA adapter on the tiny model whose update is not zero (init_lora_weights=False): a policy that differs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from playground.core.models import load_causal_lm, resolve

    torch.manual_seed(seed)
    model = load_causal_lm(resolve("tiny"), "cpu")
    peft = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=32, target_modules="all-linear",
                                            init_lora_weights=False))
    peft.save_pretrained(str(path))


def _run(ws, run_id: str, stage: str, data: dict, metrics: list[dict], seed: int) -> Path:  # noqa: ANN001
    from playground.core.paths import runs_dir

    run_dir = runs_dir() / run_id
    cfg = from_dict(stage, {"model": "tiny", **data})
    save_config(cfg, run_dir / "config.yaml")
    _adapter(run_dir / "adapter", seed)
    write_result(run_dir, {"stage": stage, "adapter": str(run_dir / "adapter"), "base_model": "tiny"})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    write_status(run_dir, state="succeeded", started=T0, ended=T0 + 100)
    ws.register_run(run_id, stage, run_dir, to_dict(cfg))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One workspace for the module (the adapters take a few seconds to make)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYGROUND_HOME", str(tmp_path_factory.mktemp("compare-home")))
        yield _two_runs()


def _two_runs():  # noqa: ANN202
    from playground.core.workspace import Workspace

    ws = Workspace()
    # GRPO: 3 steps of 8 completions, trained 30 s (a stop and a resume: 20 s + 10 s); DPO: 12 steps over 50 s
    grpo_rows = [{"step": 0, "time": T0, "event": "train_begin"}, {"step": 1, "time": T0 + 10, "reward": 0.4},
                 {"step": 2, "time": T0 + 20, "reward": 0.5}, {"step": 2, "time": T0 + 500, "event": "train_begin"},
                 {"step": 3, "time": T0 + 510, "reward": 0.6}]
    _run(ws, GRPO, "grpo", {"reward": "rule:vocab_half", "num_generations": 4, "per_device_train_batch_size": 8},
         grpo_rows, seed=1)
    dpo_rows = [{"step": 0, "time": T0, "event": "train_begin"}, {"step": 12, "time": T0 + 50, "loss": 0.6}]
    _run(ws, DPO, "dpo", {}, dpo_rows, seed=2)
    return ws


def test_cost_from_metrics_and_config(runs) -> None:  # noqa: ANN001
    from playground.core.paths import runs_dir

    assert run_cost(runs_dir() / GRPO, "grpo") == {"steps": 3, "wall_s": 30.0, "samples": 24}
    assert run_cost(runs_dir() / DPO, "dpo") == {"steps": 12, "wall_s": 50.0, "samples": 0}  # offline: samples none
    # answers as long as the longest completion the runs trained on (GRPORun's max_completion_length; DPO has none)
    assert answer_tokens(runs, [GRPO, DPO], 0) == 32 and answer_tokens(runs, [DPO], 0) == 48
    assert answer_tokens(runs, [GRPO], 7) == 7


def test_compare_two_runs_csv_chart_and_cache(runs, tmp_path: Path) -> None:  # noqa: ANN001
    req = CompareRequest(runs=[GRPO, DPO], prompts="builtin:prompts", reward="rule:vocab_half", n=4, max_new_tokens=6)
    result = compare(runs, req)
    rows = {r["run"]: r for r in result["rows"]}
    assert [r["run"] for r in result["rows"]] == [GRPO, DPO] and result["n"] == 4
    assert result["generated"] == 12 and result["cached"] == 0  # 4 prompts x (2 runs + the base)
    for r in rows.values():
        assert 0.0 <= r["heldout_reward"] <= 1.0 and r["base_reward"] == result["base_reward"]
        assert r["gain"] == pytest.approx(r["heldout_reward"] - r["base_reward"])
        assert r["kl_to_base"] > 0  # a random LoRA update moved the policy away from the base
    # the scores are the reward's own numbers on the answers the evaluation stored
    report = next(e["report"] for e in runs.evaluations() if e["id"] == result["evaluation"])
    got = [row["scores"]["rule:vocab_half"][0] for row in report["rows"] if row["policy"] == GRPO]
    assert len(got) == 4 and rows[GRPO]["heldout_reward"] == pytest.approx(sum(got) / len(got))
    # CSV: one row per run, the columns in order, numbers as the result holds them
    table = list(csv.reader(io.StringIO(csv_text(result))))
    assert table[0] == CSV_COLUMNS and [t[0] for t in table[1:]] == [GRPO, DPO]
    line = dict(zip(CSV_COLUMNS, table[1]))
    assert (line["stage"], line["steps"], line["wall_s"], line["samples"]) == ("grpo", "3", "30.0", "24")
    assert float(line["heldout_reward"]) == pytest.approx(rows[GRPO]["heldout_reward"], abs=1e-4)
    assert dict(zip(CSV_COLUMNS, table[2]))["samples"] == "0"
    # chart: a line per run in each of the two reward panels, and a PNG of the same scene
    paths = write_outputs(result, tmp_path / "out")
    svg = paths["svg"].read_text()
    assert svg.count("<polyline") == 4 and GRPO in svg and "KL to the base" in svg
    from PIL import Image

    with Image.open(paths["png"]) as img:
        assert img.format == "PNG" and img.size == (2520, 800)
        colours = {c for _, c in img.getcolors(maxcolors=1 << 20)}
    assert (78, 121, 167) in colours and (242, 142, 43) in colours  # the two runs' line colours were drawn
    # a second comparison generates nothing new
    again = compare(runs, req)
    assert again["generated"] == 0 and again["rows"][0]["heldout_reward"] == rows[GRPO]["heldout_reward"]


def test_refusals_are_one_line(runs) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="'nope' is not in this workspace"):
        compare(runs, CompareRequest(runs=[GRPO, "nope"], prompts="builtin:prompts", reward="rule:vocab_half"))
    runs.register_run("reward-x", "reward", Path("/nonexistent"), {})
    with pytest.raises(ConfigError, match="reward run; compare takes policy runs"):
        compare(runs, CompareRequest(runs=["reward-x"], prompts="builtin:prompts", reward="rule:vocab_half"))
    with pytest.raises(ConfigError, match="reward: name one"):
        compare(runs, CompareRequest(runs=[GRPO], prompts="builtin:prompts", reward=" "))


def test_cli(runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from playground.cli import main

    rc = main(["compare", GRPO, DPO, "--prompts", "builtin:prompts", "--reward", "rule:vocab_half", "--n", "4",
               "--max-new-tokens", "6", "--out", str(tmp_path / "cli")])  # the settings above: answers cached
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert sum(line.startswith("run=") for line in out.out.splitlines()) == 2
    assert {p.name for p in (tmp_path / "cli").iterdir()} == {"compare.csv", "compare.png", "compare.svg",
                                                              "compare.json"}
    rc = main(["compare", "nope", "--prompts", "builtin:prompts", "--reward", "rule:vocab_half"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err == "error: compare: run 'nope' is not in this workspace"
