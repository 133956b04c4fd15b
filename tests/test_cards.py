"""Cards: a merged tiny model's README.md names its base, the method chain its runs link to, each stage's data
counts, every hyperparameter, the stored evaluation and the command that reproduces each stage; exported preference
and instruction files carry a card with their counts and annotator statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from playground.core.config import save_config
from playground.core.runs import read_result
from playground.core.workspace import Workspace
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parent.parent


def train(stage: str, run_dir: Path, overrides: list[str]) -> dict:
    """A tiny run as the job runner makes it: config.yaml in the run folder, then the stage's trainer."""
    from playground.stages.registry import trainer

    cfg = load_config(stage, REPO / f"presets/{stage}/tiny-cpu.yaml", overrides)
    save_config(cfg, run_dir / "config.yaml")
    trainer(stage).run(cfg, run_dir)
    return yaml.safe_load((run_dir / "config.yaml").read_text())


@pytest.mark.slow
def test_merged_model_card_names_base_chain_data_and_reproduction(home: Path) -> None:
    from playground.stages.sft.service import merge_adapter

    runs = home / "runs"
    sft_cfg = train("sft", runs / "sft-card", ["max_steps=2", "eval_fraction=0", "save_steps=0"])
    dpo_cfg = train("dpo", runs / "dpo-card", ["sft_run=sft-card", "max_steps=2", "eval_fraction=0"])
    ws = Workspace()
    ws.add_evaluation({"n": 8, "where": "builtin:prompts", "baseline": "base", "results": [
        {"policy": "dpo-card", "judge": "rule:vocab_half", "baseline": "base", "win_rate": 0.625, "ci": [0.3, 0.86],
         "mean_score": 0.51, "baseline_score": 0.48, "kl": 0.02, "length": 12.0}]})

    card = (merge_adapter(runs / "dpo-card") / "README.md").read_text(encoding="utf-8")

    assert "base_model: tiny" in card and "- base model: `tiny`" in card
    assert "- method chain: SFT → DPO" in card
    sft, dpo = read_result(runs / "sft-card"), read_result(runs / "dpo-card")
    assert sft["train_rows"] > 0 and dpo["train_pairs"] > 0
    assert f"- used: train rows {sft['train_rows']}, eval rows 0" in card
    assert f"train pairs {dpo['train_pairs']}" in card
    assert "- data: `builtin:instructions`" in card and "- data: `builtin:prefs`" in card
    sft_part, dpo_part = card.split("## 2. DPO")
    for cfg, part in ((sft_cfg, sft_part), (dpo_cfg, dpo_part)):
        for key in cfg:
            assert f"| {key} |" in part, key  # every hyperparameter of each stage, in its own section
    assert "| beta | 0.1 |" in dpo_part and "| sft_run | sft-card |" in dpo_part
    assert "python -m playground sft --config runs/sft-card/config.yaml" in sft_part
    assert "python -m playground dpo --config runs/dpo-card/config.yaml" in dpo_part
    assert "win rate 0.625 [0.3, 0.86]" in dpo_part and "no stored evaluation" in sft_part
    assert "library_name: transformers" in card and "license: unknown" in card
    import playground

    assert f"RLHF Playground {playground.__version__}" in card


def test_chain_follows_sft_and_reward_model_links(home: Path) -> None:
    from playground.stages.cards import chain_line, method_chain, model_card

    runs = home / "runs"
    for run_id, cfg in (("sft-a", {"model": "tiny", "dataset": "builtin:instructions"}),
                        ("reward-b", {"model": "tiny", "dataset": "builtin:prefs"}),
                        ("ppo-c", {"model": "tiny", "sft_run": "sft-a", "reward": "rm:reward-b"})):
        (runs / run_id).mkdir(parents=True)
        (runs / run_id / "config.yaml").write_text(yaml.safe_dump(cfg))
    chain = method_chain("ppo-c")
    assert [r["id"] for r in chain] == ["sft-a", "reward-b", "ppo-c"]
    assert chain_line(chain) == "SFT → RM → PPO"
    card = model_card("ppo-c")
    assert "Built on: start `sft-a`, reward `reward-b`" in card and "library_name: peft" in card


def _vote(ws: Workspace, annotator: str, key: str, choice: str, rating: int | None = None) -> None:
    ws.add_pair(pool="room", prompt=f"prompt {key}", response_a=f"answer A {key}", response_b=f"answer B {key}",
                choice=choice, annotator=annotator, kind="vote", pair_key=key, rating_a=rating,
                meta={"a_slot": 1})


def test_exported_preference_set_card_has_counts_and_annotator_stats(home: Path) -> None:
    from playground.stages.preferences import io as prefs_io

    ws = Workspace()
    for key, (c1, c2) in {"k1": ("a", "a"), "k2": ("b", "a"), "k3": ("a", "a")}.items():
        _vote(ws, "ann", key, c1, rating=5)
        _vote(ws, "bo", key, c2)
    _vote(ws, "ann", "k4", "tie")
    rows = prefs_io.export_pairs(pool="room")  # ties excluded, no metadata in the rows
    path = prefs_io.write_pairs(rows, home / "exports" / "prefs.jsonl")
    card = (home / "exports" / "prefs.README.md").read_text(encoding="utf-8")
    assert len(rows) == 6
    assert "- preference pairs: 6" in card and "- pools: `room`" in card
    assert "- `ann`: 3 exported pairs" in card and "- `bo`: 3 exported pairs" in card
    assert "- annotator `ann`: 4 votes (A 2, B 1, tie 1, both bad 0)" in card
    assert "- agreement: 66.7% over 3 comparisons on 3 pairs judged by several annotators" in card
    assert "- judged pairs: 7; rated answers: 3" in card
    for field in ("prompt", "chosen", "rejected"):
        assert f"- `{field}`" in card
    assert "license: unknown" in card and path.name in card


def test_exported_dataset_card_names_its_dataset_and_annotators(home: Path) -> None:
    from playground.stages.dataset import io as dio

    ws = Workspace()
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(3)]
    ws.add_rows("demos", rows[:2], meta={"annotator": "ann"}, create=True)
    ws.add_rows("demos", rows[2:])
    out = home / "sft.jsonl"
    assert dio.export_rows([r["data"] for r in ws.rows("demos")], out) == 3
    card = (home / "sft.README.md").read_text(encoding="utf-8")
    assert "- rows: 3" in card and "- workspace datasets: `demos`" in card and "- `ann`: 2 rows" in card
    assert "- `messages`" in card
