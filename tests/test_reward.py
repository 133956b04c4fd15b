"""Reward model: the tiny preset learns the separable built-in set through the CLI twin; scoring is
deterministic; agreement with stored human votes matches a hand count; the length-bias check flags an RM
trained on length-only votes and not one trained on content; an empty workspace gives a one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playground.core.runs import read_metrics, read_status
from playground.stages.reward import service as rm

REPO = Path(__file__).resolve().parent.parent
PRESET = REPO / "presets" / "reward" / "tiny-cpu.yaml"
GOOD = "Sure, happy to help! Here is a clear, friendly and useful answer about {t}, explained simply."
BAD = "no. {t} is boring and a stupid question, go away, not answering that, whatever, ugh, bye now."


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "playground", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One tiny RM run on builtin:prefs through the CLI twin, shared by the tests below."""
    home = tmp_path_factory.mktemp("rmhome")
    run_dir = home / "runs" / "rm-tiny"
    proc = _cli(home, "reward", "--config", str(PRESET), "--run-dir", str(run_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYGROUND_HOME", str(home))
        model, tok = rm.load_reward_model(run_dir)
    return {"home": home, "run_dir": run_dir, "model": model, "tok": tok}


def test_cli_run_learns_separable_prefs(trained: dict[str, Any]) -> None:
    rd = trained["run_dir"]
    assert read_status(rd)["state"] == "succeeded"
    metrics = read_metrics(rd)
    losses = [m["loss"] for m in metrics if "loss" in m]
    evals = [m["eval_accuracy"] for m in metrics if "eval_accuracy" in m]
    assert len(losses) >= 10 and len(evals) >= 2
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3  # loss falls
    assert evals[0] < 0.8 and evals[-1] >= 0.9  # held-out accuracy from about chance to well above it
    assert all({"accuracy", "margin"} <= set(m) for m in metrics if "loss" in m and "train_loss" not in m)
    result = json.loads((rd / "result.json").read_text())
    assert result["base_model"] == "tiny" and result["use_lora"] and result["global_step"] == 16
    assert result["eval_accuracy"] >= 0.9
    # the score head is saved in full beside the LoRA weights, so the run can be loaded elsewhere
    from safetensors.torch import load_file

    keys = load_file(str(rd / "adapter" / "adapter_model.safetensors")).keys()
    assert any(k.endswith("score.weight") for k in keys) and any("lora_A" in k for k in keys)


def test_scoring_is_deterministic_and_separates(trained: dict[str, Any]) -> None:
    model, tok = trained["model"], trained["tok"]
    prompt = [{"role": "user", "content": "Tell me about owls."}]
    good, bad = GOOD.format(t="owls"), BAD.format(t="owls")
    a = rm.score(model, tok, prompt, good)
    assert a == rm.score(model, tok, prompt, good)
    batch = rm.score_batch(model, tok, [prompt, "Tell me about owls."], [bad, good], batch_size=2)
    assert batch[1] == pytest.approx(a, abs=1e-4)  # a plain-string prompt is the same single user turn
    assert batch[0] == pytest.approx(rm.score(model, tok, prompt, bad), abs=1e-4)  # padding changes nothing
    assert a > batch[0] + 1.0
    with pytest.MonkeyPatch.context() as mp:  # a second load gives the same numbers
        mp.setenv("PLAYGROUND_HOME", str(trained["home"]))
        m2, t2 = rm.load_reward_model("rm-tiny")
    assert rm.score(m2, t2, prompt, good) == pytest.approx(a, abs=1e-5)


def test_agreement_matches_hand_count(trained: dict[str, Any], home: Path) -> None:
    from playground.core.workspace import Workspace

    ws = Workspace()
    topics = ["kites", "salt", "maps", "tea", "owls", "bees", "chess"]

    def pair(t: str, annotator: str, human_picks_good: bool | None, good_first: bool = True) -> None:
        a, b = (GOOD, BAD) if good_first else (BAD, GOOD)
        choice = None if human_picks_good is None else ("a" if human_picks_good == good_first else "b")
        ws.add_pair(pool="fixture", prompt=[{"role": "user", "content": f"Tell me about {t}."}],
                    response_a=a.format(t=t), response_b=b.format(t=t), choice=choice, annotator=annotator)

    pair(topics[0], "alice", True)
    pair(topics[1], "alice", True, good_first=False)
    pair(topics[2], "alice", True)
    pair(topics[3], "bob", True)
    pair(topics[4], "bob", False)
    pair(topics[5], "bob", False, good_first=False)
    pair(topics[6], "bob", True, good_first=False)
    pair(topics[0], "carol", False)
    ws.add_pair(pool="fixture", prompt="Tell me about tea.", response_a="x", response_b="y", choice="tie",
                annotator="carol")  # a tie carries no preference
    pair(topics[1], "carol", None)  # not judged yet
    pairs = rm.pairs_from_workspace(ws, pool="fixture")
    assert len(pairs) == 8
    report = rm.inspect_pairs(trained["model"], trained["tok"], pairs)
    table = {r["annotator"]: (r["agree"], r["pairs"]) for r in report["agreement"]}
    # by hand: the RM prefers the helpful answer, so it agrees exactly with the votes for the helpful one
    assert table == {"all": (5, 8), "alice": (3, 3), "bob": (2, 4), "carol": (0, 1)}
    # and the same count from single scores
    agree = sum(rm.score(trained["model"], trained["tok"], p["prompt"], p["chosen"])
                > rm.score(trained["model"], trained["tok"], p["prompt"], p["rejected"]) for p in pairs)
    assert agree == 5
    wrong = report["most_wrong"]
    assert len(wrong) == 3 and all(w["margin"] < 0 for w in wrong)
    assert [w["margin"] for w in wrong] == sorted(w["margin"] for w in wrong)


FILLER = " Also, as I said before, and to repeat it once more in other words, that is what I think about it."


def _length_pairs(n: int, seed: int, chosen_longer_share: float) -> list[dict[str, Any]]:
    """Same content on both sides; one side has filler. The human picks the longer side in the given share."""
    import random

    rng = random.Random(seed)
    topics = ["the sea", "bread", "winter", "music", "a river", "maps", "clouds", "tea", "owls", "salt"]
    stems = ["{T} is a topic with a few facts worth knowing.", "Here is a note about {t}.",
             "{T}: a short summary follows.", "Some people like {t}; others do not."]
    out = []
    for i in range(n):
        t = topics[i % len(topics)]
        short = rng.choice(stems).format(t=t, T=t[0].upper() + t[1:])
        long = short + FILLER * rng.choice([1, 2])
        longer_wins = i < round(n * chosen_longer_share)
        out.append({"prompt": [{"role": "user", "content": f"Tell me about {t}."}],
                    "chosen": long if longer_wins else short, "rejected": short if longer_wins else long,
                    "annotator": "planted"})
    return out


@pytest.mark.slow  # a second tiny RM run (~15 s of CPU)
def test_length_bias_check_flags_length_rm_not_content_rm(trained: dict[str, Any], home: Path) -> None:
    from playground.core.workspace import Workspace

    ws = Workspace()
    for p in _length_pairs(96, 0, 1.0):  # votes that always prefer the longer answer
        ws.add_pair(pool="lengthy", prompt=p["prompt"], response_a=p["chosen"], response_b=p["rejected"],
                    choice="a", annotator="planted")
    from playground.core.config import load_config
    from playground.stages.reward import train as reward

    run_dir = home / "runs" / "rm-length"
    run_dir.mkdir(parents=True)
    reward.run(load_config("reward", PRESET, ["dataset=lengthy"]), run_dir)
    model, tok = rm.load_reward_model("rm-length")
    probe = _length_pairs(40, 1, 0.5)  # half the time the human picked the shorter answer
    biased = rm.length_bias(rm.score_pairs(model, tok, probe))
    assert biased["flagged"], biased
    assert biased["rm_prefers_longer"] >= 0.75 and biased["accuracy_chosen_shorter"] < 0.5
    assert "mostly rewards length" in biased["warning"]
    # on the voted pairs alone (no shorter winner) the check still fires, on correlation
    on_votes = rm.length_bias(rm.score_pairs(model, tok, rm.pairs_from_workspace(ws, "lengthy")[:40]))
    assert on_votes["flagged"] and on_votes["chosen_shorter_pairs"] == 0

    # the content RM, on pairs whose winner is shorter or longer independently of content: not flagged
    from playground.core import builtin

    balanced = builtin.preferences(n=40, seed=3)
    for p in balanced[:20]:  # make the rejected (dismissive) answer the longer one in half
        p["rejected"] = [{"role": "assistant", "content": p["rejected"][0]["content"] + FILLER}]
    ok = rm.length_bias(rm.score_pairs(trained["model"], trained["tok"], balanced))
    assert not ok["flagged"], ok
    assert ok["chosen_shorter_pairs"] >= 10 and ok["accuracy_chosen_shorter"] >= 0.8
    assert ok["warning"].startswith("No strong length bias")


def test_length_bias_rule_on_planted_scores() -> None:
    pairs = _length_pairs(20, 2, 0.5)
    by_length = [{**p, "r_chosen": len(p["chosen"]) / 10, "r_rejected": len(p["rejected"]) / 10} for p in pairs]
    for s in by_length:
        s["margin"] = s["r_chosen"] - s["r_rejected"]
        s["agree"] = s["margin"] > 0
    assert rm.length_bias(by_length)["flagged"]
    by_vote = [{**s, "r_chosen": 1.0, "r_rejected": -1.0, "margin": 2.0, "agree": True} for s in by_length]
    res = rm.length_bias(by_vote)
    assert not res["flagged"] and res["accuracy_chosen_shorter"] == 1.0 and res["rm_prefers_longer"] == 0.5
    assert rm.agreement(by_length)[0]["agree"] == 10


def test_empty_workspace_gives_one_line_error(home: Path) -> None:
    proc = _cli(home, "reward", "--config", str(PRESET), "--set", "dataset=workspace")
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines[-1].startswith("error:") and "0 usable pair" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_unfinished_run_is_a_clear_error(home: Path) -> None:
    from playground.stages.trainer import DataError

    with pytest.raises(DataError, match="not found"):
        rm.load_reward_model("nope")
    (home / "runs" / "half").mkdir(parents=True)
    with pytest.raises(DataError, match="has not finished"):
        rm.load_reward_model("half")


def test_reward_tab_scores_and_inspects(trained: dict[str, Any], app_server: dict[str, Any]) -> None:
    """The Inspect section through the running app (gradio_client): score a typed response, check the votes."""
    from gradio_client import Client

    client = Client(app_server["url"], verbose=False)
    run = str(trained["run_dir"])  # a run dir works as well as a run id of this workspace
    got = client.predict(run, "Tell me about owls.", GOOD.format(t="owls"), api_name="/reward_score")
    want = rm.score(trained["model"], trained["tok"], "Tell me about owls.", GOOD.format(t="owls"))
    assert got == pytest.approx(want, abs=1e-3)
    bias, agree, wrong = client.predict(run, "builtin:prefs (synthetic)", 5, api_name="/reward_inspect")
    assert "No strong length bias" in bias
    first = agree["data"][0]
    assert first[0] == "all" and first[1] == 160 and first[2] >= 150
    assert len(wrong["data"]) <= 5
    bias, agree, _ = client.predict("", "builtin:prefs (synthetic)", 5, api_name="/reward_inspect")
    assert bias.startswith("⚠️") and "Pick a finished reward run" in bias and agree["data"] in ([], [[]])
