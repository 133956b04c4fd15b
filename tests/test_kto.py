"""KTO from the arena's ratings: answers rated 4-5 are desirable, 1-2 undesirable, 3 dropped, votes only when asked;
a tiny KTO run trains from rated workspace rows (the LoRA moves, the live metrics are logged); too few rated answers
is one line, before any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.core.config import ConfigError
from playground.core.errors import DataError
from playground.core.runs import read_metrics, read_result, read_status
from playground.core.workspace import Workspace
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent


def rate(ws: Workspace, n: int, pool: str = "room", choice: str | None = None) -> None:
    """n pairs whose first answer is rated 5 and second 1 (a polite and a rude answer to the same question)."""
    for i in range(n):
        ws.add_pair(pool=pool, prompt=f"Question {i}: how do plants grow?", response_a=f"Kindly: with light {i}.",
                    response_b=f"No. Go away {i}.", choice=choice, rating_a=5, rating_b=1, annotator="ann",
                    kind="vote", pair_key=f"k{i}", meta={"a_slot": 1})


def test_ratings_label_answers_and_votes_only_when_asked(home: Path) -> None:
    from playground.stages.kto.service import labelled_answers

    ws = Workspace()
    ws.add_pair(pool="p", prompt="q1", response_a="good", response_b="meh", rating_a=4, rating_b=3, choice="b",
                annotator="x", kind="vote")
    ws.add_pair(pool="p", prompt="q2", response_a="bad", response_b="fine", rating_a=2, choice="b", annotator="x",
                kind="vote")
    ws.add_pair(pool="p", prompt="q3", response_a="u", response_b="v", choice="a", annotator="x", kind="vote")
    ws.add_pair(pool="p", prompt="q4", response_a="s", response_b="t", choice="tie", annotator="x", kind="vote")

    def labels(use_votes: bool) -> list[tuple[str, bool]]:
        rows, _ = labelled_answers("p", use_votes, ws)
        return sorted((r["completion"][0]["content"], r["label"]) for r in rows)

    assert labels(False) == [("bad", False), ("good", True)]  # 3 is dropped, votes ignored
    # a vote labels unrated answers only: 'meh' (rated 3, yet chosen) stays out, 'good' (rated 4, yet not chosen)
    # stays desirable
    assert labels(True) == [("bad", False), ("fine", True), ("good", True), ("u", True), ("v", False)]
    rows, counts = labelled_answers("p", True, ws)
    assert counts == {"rated": 3, "neutral": 1, "from_votes": 3}
    assert rows[0]["prompt"] == [{"role": "user", "content": "q1"}]
    builtin, _ = labelled_answers("builtin:prefs", False)
    assert len(builtin) == 320 and sum(r["label"] for r in builtin) == 160


def test_too_few_rated_answers_is_one_line_before_any_model(home: Path) -> None:
    from playground.cli import main
    from playground.stages.kto.service import data_line, kto_rows

    rate(Workspace(), 2)
    with pytest.raises(DataError) as e:
        kto_rows("room", False, 0.2, 0)
    msg = str(e.value)
    assert "\n" not in msg and "4 labelled answers (2 desirable, 2 undesirable" in msg and "at least 8" in msg
    assert "use_votes" in msg
    assert data_line("room", False, 0.2).startswith("⚠️ dataset 'room': 4 labelled answers")
    rc = main(["kto", "--config", str(REPO / "presets/kto/tiny-cpu.yaml"), "--set", "dataset=room",
               "--run-dir", str(home / "runs" / "kto-few")])
    status = read_status(home / "runs" / "kto-few")
    assert rc == 1 and status["state"] == "failed" and "at least 8" in status["error"]
    assert "loading model" not in str(status.get("phase"))  # refused while reading the data
    with pytest.raises(DataError, match="no such pool"):
        kto_rows("nope", False, 0.2, 0)


def test_config_refuses_a_batch_of_one() -> None:
    with pytest.raises(ConfigError, match="per_device_train_batch_size must be >= 2 for KTO"):
        load_config("kto", REPO / "presets/kto/tiny-cpu.yaml", ["per_device_train_batch_size=1"])


@pytest.mark.slow
def test_tiny_kto_trains_from_rated_answers(home: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from playground.stages.kto.train import run

    rate(Workspace(), 6)
    cfg = load_config("kto", REPO / "presets/kto/tiny-cpu.yaml",
                      ["dataset=room", "max_steps=3", "eval_fraction=0", "per_device_train_batch_size=4"])
    run_dir = tmp_path / "kto"
    run_dir.mkdir()
    trainer = run(cfg, run_dir)
    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # peft starts every B at zero: training moved them
    result = read_result(run_dir)
    assert (result["stage"], result["desirable"], result["undesirable"], result["global_step"]) == ("kto", 6, 6, 3)
    rows = [m for m in read_metrics(run_dir) if "loss" in m]
    assert len(rows) == 3 and all("kl" in m and "rewards/chosen" in m for m in rows)
    assert trainer.state.global_step == 3
