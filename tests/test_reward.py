"""Reward model: the tiny preset learns the separable built-in set through the CLI twin; scoring is
deterministic; agreement with stored human votes matches a hand count; the length-bias check flags an RM
trained on length-only votes and not one trained on content; an empty workspace gives a one-line error.
Long pairs are truncated, not dropped (every pair kept, every answer whole); `eval-rm` on a small fixture file
gives the hand-counted accuracy with its interval, in the CLI and the Inspect section; too few pairs warn."""

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
    assert result["shared_prefix"] is True  # one tree row per pair (stages/reward/shared_prefix.py)
    assert result["speed"]["attn_implementation"] == "sdpa" and result["speed"]["fused_optimizer"] is True
    # the job ran on tcmalloc where it is installed (.ci/run installs it), else on glibc with the threshold pinned
    from playground.core import alloc

    assert result["allocator"] == ("tcmalloc" if alloc.find_tcmalloc() else "glibc (mmap threshold pinned)")
    assert result["eval_accuracy"] >= 0.9
    # the run header: pair counts per split, what fitting did, and no too-few warning at 128 / 32 pairs
    assert (result["train_pairs"], result["eval_pairs"]) == (128, 32) and result["data_warning"] == ""
    assert result["fit"]["kept"] == 160 and result["fit"]["dropped"] == 0
    notes = read_status(rd)["notes"]
    assert len(notes) == 1 and "128 train / 32 eval pairs" in notes[0]
    assert (rd / "checkpoints" / "checkpoint-16").is_dir()  # a resumable checkpoint at the end, as before
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
    from playground.stages.registry import load_config
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


def test_reward_tab_evaluates_an_uploaded_file(trained: dict[str, Any], app_server: dict[str, Any],
                                               tmp_path: Path) -> None:
    """Inspect -> Evaluate on a held-out file: the same report as eval-rm, n beside the accuracy."""
    from gradio_client import Client, handle_file

    client = Client(app_server["url"], verbose=False)
    f = _eval_fixture(tmp_path / "heldout.jsonl")
    md = client.predict(str(trained["run_dir"]), handle_file(str(f)), api_name="/reward_eval_file")
    assert md.startswith("### accuracy 0.714 on n = 7 pairs (95% interval 0.359–0.918)")
    assert "| alice | 3 | 1.000 |" in md and "| bob | 4 | 0.500 |" in md and "Skipped 2 unreadable" in md
    md = client.predict("", handle_file(str(f)), api_name="/reward_eval_file")
    assert md.startswith("⚠️") and "Pick a finished reward run" in md
    # the data check beside the form: 160 built-in pairs are enough; the too-few warning shows before a run
    assert client.predict("builtin:prefs", 0.2, 0, api_name="/reward_data_check") == "✅ 128 train / 32 eval pairs."
    assert client.predict("workspace", 0.2, 0, api_name="/reward_data_check").startswith("⚠️")


# -- truncation instead of dropping ---------------------------------------------------------------------------------
def _long_pairs(n: int) -> list[dict[str, Any]]:
    """HH-like multi-turn conversations, most far longer than 128 tokens; the answers are short."""
    out = []
    for i in range(n):
        history = []
        for t in range(i % 4 + 1):
            history += [{"role": "user", "content": f"Question {t} about topic {i}: " + "tell me more, " * (10 + 5 * i)},
                        {"role": "assistant", "content": "Here is an earlier answer. " * (8 + i)}]
        last = f"Finally, topic {i}: what is the one thing to remember? (end of question {i})"
        out.append({"prompt": [*history, {"role": "user", "content": last}],
                    "chosen": [{"role": "assistant", "content": GOOD.format(t=f"topic {i}")}],
                    "rejected": [{"role": "assistant", "content": BAD.format(t=f"topic {i}")}]})
    return out


@pytest.fixture(scope="module")
def tiny_tok() -> Any:
    from playground.core import models

    return models.load_tokenizer(models.resolve("tiny"))


def test_truncation_keeps_every_pair_and_the_answer_whole(tiny_tok: Any) -> None:
    from playground.stages.data import _template_len, fit_preference_rows

    rows = _long_pairs(12)
    rows.append({"prompt": "Tell me about owls.", "chosen": GOOD.format(t="owls"), "rejected": BAD.format(t="owls")})
    too_long = [r for r in rows if max(_template_len(tiny_tok, [*_msgs(r["prompt"]), *_msgs(r[k])])
                                       for k in ("chosen", "rejected")) > 128]
    assert len(too_long) == 12  # TRL's RewardTrainer would have dropped these
    fitted, report = fit_preference_rows(tiny_tok, rows, 128)
    assert len(fitted) == 13 and (report.kept, report.truncated, report.dropped) == (1, 12, 0)
    for before, after in zip(rows, fitted):
        for k in ("chosen", "rejected"):  # the answer is whole and the whole sequence fits
            assert after[k] == _msgs(before[k], "assistant")
            assert _template_len(tiny_tok, after["prompt"] + after[k]) <= 128
        # the prompt lost its start, not its end: the last question is still there, word for word at the end
        last = _msgs(before["prompt"])[-1]["content"]
        assert after["prompt"][-1]["role"] == "user" and after["prompt"][-1]["content"].endswith(last[-30:])
    # an answer too long on its own is cut at its end rather than dropped; nothing fits in 20 tokens: dropped
    long_answer = {"prompt": "Hi", "chosen": "word " * 300, "rejected": "No."}
    fitted, report = fit_preference_rows(tiny_tok, [long_answer], 128)
    assert report.truncated == 1 and report.answer_cut == 1 and fitted[0]["rejected"][0]["content"] == "No."
    assert fitted[0]["chosen"][0]["content"].startswith("word word") and _template_len(
        tiny_tok, fitted[0]["prompt"] + fitted[0]["chosen"]) <= 128
    _, report = fit_preference_rows(tiny_tok, rows[:2], 20)
    assert report.dropped == 2 and "chat template alone" in report.line()


def _msgs(v: Any, role: str = "user") -> list[dict[str, str]]:
    return [{"role": role, "content": v}] if isinstance(v, str) else v


@pytest.mark.slow  # a 2-step tiny RM run on long pairs (~30 s of CPU)
def test_reward_run_on_long_pairs_keeps_them_all(home: Path) -> None:
    from playground.core.workspace import Workspace
    from playground.stages.registry import load_config
    from playground.stages.reward import train as reward

    ws = Workspace()
    for p in _long_pairs(10):
        ws.add_pair(pool="long", prompt=p["prompt"], response_a=p["chosen"][0]["content"],
                    response_b=p["rejected"][0]["content"], choice="a", annotator="planted")
    run_dir = home / "runs" / "rm-long"
    run_dir.mkdir(parents=True)
    reward.run(load_config("reward", PRESET, ["dataset=long", "max_steps=2", "eval_steps=0"]), run_dir)
    result = json.loads((run_dir / "result.json").read_text())
    assert result["train_pairs"] + result["eval_pairs"] == 10  # TRL alone would have kept 0 of them
    assert result["fit"]["truncated"] == 10 and result["fit"]["dropped"] == 0
    notes = read_status(run_dir)["notes"]
    assert "10 truncated, 0 dropped" in notes[0] and "Too little data" in notes[1]


# -- too little data -------------------------------------------------------------------------------------------------
def test_too_few_pairs_warns_before_and_in_the_run_header(home: Path, tiny_tok: Any) -> None:
    from playground.core.workspace import Workspace
    from playground.stages.data import fitted_preference_rows, preference_data_check

    ws = Workspace()
    for t in ["kites", "salt", "maps", "tea", "owls", "bees", "chess"]:
        ws.add_pair(pool="few", prompt=f"Tell me about {t}.", response_a=GOOD.format(t=t),
                    response_b=BAD.format(t=t), choice="a", annotator="alice")
    line = preference_data_check("few", 0.2, 0)
    assert line.startswith("⚠️ 6 train / 1 eval pairs.") and "Too little data" in line
    train, ev, info = fitted_preference_rows("few", 0.2, 0, tiny_tok, 128)
    assert (len(train), len(ev)) == (6, 1)
    assert "6 training pairs" in info["warning"] and "1 held-out pair " in info["warning"]
    assert info["notes"][0].startswith("Data: 6 train / 1 eval pairs (eval accuracy is over 1 pair)")
    assert info["notes"][1] == f"⚠️ {info['warning']}"
    assert preference_data_check("builtin:prefs", 0.2, 0) == "✅ 128 train / 32 eval pairs."


# -- eval-rm ----------------------------------------------------------------------------------------------------------
def _eval_fixture(path: Path) -> Path:
    """7 readable pairs in three formats + 2 unreadable rows. The tiny RM ranks the helpful answer first, so it is
    right exactly where the helpful answer was chosen: 5 of 7 (alice 3/3, bob 2/4)."""
    def hh(t: str, first: str, second: str) -> tuple[str, str]:
        head = f"\n\nHuman: Tell me about {t}.\n\nAssistant: "
        return head + first, head + second

    rows: list[Any] = []
    for t, good_chosen, who in [("kites", True, "alice"), ("salt", True, "alice"), ("maps", True, "bob"),
                                ("tea", False, "bob"), ("owls", False, "bob")]:
        ch, rj = (GOOD, BAD) if good_chosen else (BAD, GOOD)
        rows.append({"prompt": [{"role": "user", "content": f"Tell me about {t}."}],
                     "chosen": [{"role": "assistant", "content": ch.format(t=t)}],
                     "rejected": [{"role": "assistant", "content": rj.format(t=t)}], "annotator": who})
    rows.append({"prompt": "Tell me about bees.", "chosen": GOOD.format(t="bees"), "rejected": BAD.format(t="bees"),
                 "annotator": "alice"})
    ch, rj = hh("chess", GOOD.format(t="chess"), BAD.format(t="chess"))
    rows.append({"chosen": ch, "rejected": rj, "annotator": "bob"})
    rows.append({"chosen": "only one side"})  # unreadable: no rejected
    ch, rj = hh("sand", "", BAD.format(t="sand"))
    rows.append({"chosen": ch, "rejected": rj})  # unreadable: empty final assistant turn
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_wilson_interval_matches_published_values() -> None:
    from playground.stages.reward.evaluate import wilson_interval

    lo, hi = wilson_interval(5, 7)
    assert (round(lo, 3), round(hi, 3)) == (0.359, 0.918)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 3) == 0.278


def test_eval_rm_cli_gives_hand_counted_accuracy(trained: dict[str, Any], tmp_path: Path) -> None:
    f = _eval_fixture(tmp_path / "heldout.jsonl")
    out = tmp_path / "report.json"
    proc = _cli(trained["home"], "eval-rm", "--run", "rm-tiny", "--file", str(f), "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "accuracy=0.714 n=7"
    assert "95% interval (Wilson): [0.359, 0.918]" in lines[1]
    assert any(ln.split()[:3] == ["alice", "accuracy=1.000", "n=3"] for ln in lines)
    assert any(ln.split()[:3] == ["bob", "accuracy=0.500", "n=4"] for ln in lines)
    assert "warning: only 7 pairs: too few for the accuracy to mean much" in proc.stdout
    assert "skipped 2 unreadable row(s): line 8" in proc.stdout and "line 9" in proc.stdout
    report = json.loads(out.read_text())
    assert report["correct"] == 5 and report["n"] == 7 and report["skipped"] == 2
    assert [r["group"] for r in report["by"]["annotator"]] == ["alice", "bob"]
    # a file with nothing readable, or an unknown run: one line, exit 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"chosen": "x"}\n', encoding="utf-8")
    for args in (("--run", "rm-tiny", "--file", str(bad)), ("--run", "nope", "--file", str(f))):
        proc = _cli(trained["home"], "eval-rm", *args)
        assert proc.returncode == 1 and proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_ppo_reward_from_the_rm_scores_as_the_reward_tab(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """PPO's `rm:` reward folds the LoRA into the weights (stages/ppo/rules.make_rm): the same scores as the
    Reward tab's scorer on the adapter model, long texts cut the same way."""
    from playground.stages.ppo.rules import make_rm

    monkeypatch.setenv("PLAYGROUND_HOME", str(trained["home"]))
    reward = make_rm(str(trained["run_dir"]), "cpu")
    prompts = ["Tell me about the sea.", "Why is the sky blue?", "Hi"]
    answers = [GOOD.format(t="the sea"), BAD.format(t="the sky"), " ".join([GOOD.format(t="length")] * 40)]
    merged = reward(prompts, answers, [[] for _ in answers])
    direct = rm.score_batch(trained["model"], trained["tok"], prompts, answers)
    assert merged == pytest.approx(direct, abs=1e-5)
    assert merged[0] > merged[1]
