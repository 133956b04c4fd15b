"""The preference service: fair A/B order, storage mapping, edits, demonstrations, stats, import/export."""

from __future__ import annotations

import argparse
import json
import math
import os
import random

import pytest

from playground.core.workspace import Workspace
from playground.stages.preferences import io as prefs_io
from playground.stages.preferences import pairs as prefs

CACHE = os.environ.get("PLAYGROUND_CACHE") or os.path.join(os.path.dirname(__file__), "..", ".cache", "playground")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_CACHE", os.path.abspath(CACHE))
    return Workspace()


SRC1 = {"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9, "seed": 1}
SRC2 = {"model": "tiny", "adapter": "sft-run", "temperature": 1.0, "top_p": 0.9, "seed": 2}


def test_order_randomisation_is_unbiased_and_stored_mapping_is_right(ws):
    n = 4000
    shown_first = sum(prefs.serve_pair("p", ["one", "two"], [SRC1, SRC2])["a_slot"] == 1 for _ in range(n))
    # binomial(n, 1/2): 4.5 standard deviations -> a fair coin fails this about once in 150 000 runs
    assert abs(shown_first - n / 2) < 4.5 * math.sqrt(n / 4), shown_first

    texts = {1: "slot one text", 2: "slot two text"}
    srcs = {1: SRC1, 2: SRC2}
    served_slots = []
    for i in range(60):
        s = prefs.serve_pair(f"prompt {i}", [texts[1], texts[2]], [SRC1, SRC2], pool="map")
        served_slots.append(s["a_slot"])
        # what is shown as A really is the slot the pair says it is
        assert s["texts"][0] == texts[s["a_slot"]] and s["sources"][0] == srcs[s["a_slot"]]
        prefs.record_vote(ws, s, "a" if i % 3 else "b", annotator="ana")
    assert {1, 2} <= set(served_slots)
    rows = ws.pairs("map")
    assert len(rows) == 60
    for i, r in enumerate(rows):
        a_slot = r["meta"]["a_slot"]
        assert a_slot == served_slots[i]
        assert r["response_a"] == texts[a_slot] and r["response_b"] == texts[3 - a_slot]
        assert r["source_a"] == srcs[a_slot] and r["source_b"] == srcs[3 - a_slot]
        winner_slot = a_slot if r["choice"] == "a" else 3 - a_slot
        assert prefs.slot_choice(r) == str(winner_slot)
        # the export follows the text the annotator preferred, whichever side it was shown on
    exported = prefs_io.export_pairs(pool="map", ws=ws)
    for r, ex in zip(rows, exported, strict=True):
        assert ex["chosen"][0]["content"] == (r["response_a"] if r["choice"] == "a" else r["response_b"])


def test_vote_validation_and_no_double_vote(ws):
    s = prefs.serve_pair("hi", ["x", "y"], [SRC1, SRC2])
    with pytest.raises(prefs.PrefsError):
        prefs.record_vote(ws, s, "maybe")
    with pytest.raises(prefs.PrefsError):
        prefs.record_vote(ws, s, "a", rating_a=9)
    with pytest.raises(prefs.PrefsError):
        prefs.record_vote(ws, None, "a")
    assert ws.count_pairs() == 0  # bad input leaves the workspace unchanged
    prefs.record_vote(ws, s, "tie", annotator="bo", reason="same", rating_a=4, rating_b="4")
    with pytest.raises(prefs.PrefsError, match="already"):
        prefs.record_vote(ws, s, "a", annotator="bo")
    (row,) = ws.pairs()
    assert (row["choice"], row["rating_a"], row["rating_b"], row["reason"], row["annotator"]) == (
        "tie", 4, 4, "same", "bo")
    assert row["latency_ms"] is not None and row["latency_ms"] >= 0


def test_export_ties_and_both_bad_options(ws):
    for choice in ("a", "b", "tie", "both_bad"):
        prefs.record_vote(ws, prefs.serve_pair(f"q-{choice}", ["x", "y"], [SRC1, SRC2]), choice, annotator="c")
    assert len(prefs_io.export_pairs(ws=ws)) == 2
    both = prefs_io.export_pairs(ties="both_orders", ws=ws)
    assert len(both) == 4
    tie_rows = [r for r in both if r["prompt"][0]["content"] == "q-tie"]
    assert {(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in tie_rows} == {("x", "y"), ("y", "x")}
    assert len(prefs_io.export_pairs(ties="both_orders", both_bad="as_tie", ws=ws)) == 6
    meta = prefs_io.export_pairs(with_meta=True, ws=ws)
    assert all(r["annotator"] == "c" and "source_chosen" in r for r in meta)
    with pytest.raises(prefs.PrefsError):
        prefs_io.export_pairs(ties="random", ws=ws)


def test_edit_produces_edited_over_original_pair(ws):
    prompt = [{"role": "user", "content": "Name a colour."}]
    with pytest.raises(prefs.PrefsError):
        prefs.record_edit(ws, prompt, "Blue.", "Blue.")
    prefs.record_edit(ws, prompt, "blue i guess", "Blue is a calm colour.", annotator="ed", pool="p", source=SRC1)
    (ex,) = prefs_io.export_pairs(pool="p", ws=ws)
    assert ex == {"prompt": prompt, "chosen": [{"role": "assistant", "content": "Blue is a calm colour."}],
                  "rejected": [{"role": "assistant", "content": "blue i guess"}]}
    assert ws.pairs("p")[0]["kind"] == "edit"


def test_demonstration_goes_into_an_sft_dataset(ws):
    prefs.add_demonstration(ws, "demos", "Say hi.", "Hi there!", annotator="dee")
    prefs.add_demonstration(ws, "demos", [{"role": "user", "content": "Say bye."}], "Bye!", annotator="dee")
    rows = ws.rows("demos")
    assert [r["data"]["messages"][-1]["content"] for r in rows] == ["Hi there!", "Bye!"]
    assert rows[0]["data"]["messages"][0] == {"role": "user", "content": "Say hi."}
    assert rows[0]["meta"]["annotator"] == "dee"
    from playground.core.chat import to_prompt_completion

    assert to_prompt_completion(rows[0]["data"])["completion"][0]["content"] == "Hi there!"


def test_pool_serves_each_pair_once_per_annotator_fewest_first(ws):
    keys = [prefs.add_pool_pair(ws, f"pool prompt {i}", [f"a{i}", f"b{i}"], [SRC1, SRC2], pool="w") for i in range(3)]
    rng = random.Random(0)
    seen = []
    while (s := prefs.next_pool_pair(ws, "w", "ann1", rng)) is not None:
        seen.append(s["pair_key"])
        prefs.record_vote(ws, s, "a", annotator="ann1")
    assert sorted(seen) == sorted(keys)
    # ann2 first gets the pair with the fewest judgements: all have one, then a new judgement changes that
    first = prefs.next_pool_pair(ws, "w", "ann2", rng)
    prefs.record_vote(ws, first, "b", annotator="ann2")
    nxt = prefs.next_pool_pair(ws, "w", "ann3", rng)
    assert nxt["pair_key"] != first["pair_key"]
    assert prefs.counts(ws, "w", "ann1") == (3, 4)
    # the unjudged templates never reach the export
    assert len(prefs_io.export_pairs(pool="w", ws=ws)) == 4


def test_cohen_kappa_and_agreement(ws):
    assert prefs.cohen_kappa(["1", "1", "2", "2"], ["1", "2", "2", "2"]) == pytest.approx(0.5)
    assert prefs.cohen_kappa(["1", "2"], ["1", "2"]) == pytest.approx(1.0)
    keys = [prefs.add_pool_pair(ws, f"q{i}", [f"x{i}", f"y{i}"], [SRC1, SRC2], pool="ag") for i in range(4)]
    truth_x = ["1", "1", "2", "2"]  # slot labels given by annotator x
    truth_y = ["1", "2", "2", "2"]
    rng = random.Random(1)
    for name, labels in (("x", truth_x), ("y", truth_y)):
        for key, lab in zip(keys, labels, strict=True):
            t = next(p for p in ws.pairs("ag") if p["pair_key"] == key and p["choice"] is None)
            s = prefs.serve_pair(t["prompt"], [t["response_a"], t["response_b"]], [SRC1, SRC2], pool="ag",
                                 rng=rng, pair_key=key)
            # vote for the slot, whichever side it was shown on
            prefs.record_vote(ws, s, "a" if str(s["a_slot"]) == lab else "b", annotator=name)
    ag = prefs.agreement(ws, "ag")
    assert ag["pairs_with_several"] == 4 and ag["comparisons"] == 4
    assert ag["agreement_pct"] == 75.0 and ag["kappa"] == pytest.approx(0.5)
    stats = {s["annotator"]: s for s in prefs.annotator_stats(ws, "ag")}
    assert stats["x"]["votes"] == 4 and stats["y"]["votes"] == 4


def test_leaderboard_ranks_the_better_source_with_intervals(ws):
    rng = random.Random(0)
    good = {"model": "tiny", "adapter": "good", "temperature": 0.7, "top_p": 0.9}
    bad = {"model": "tiny", "adapter": "", "temperature": 0.7, "top_p": 0.9}
    rows = []
    for i in range(120):
        s = prefs.serve_pair(f"p{i}", ["g", "b"], [good, bad], rng=rng)
        good_wins = rng.random() < 0.8
        good_is_a = s["a_slot"] == 1
        choice = "a" if good_wins == good_is_a else "b"
        rows.append(dict(pool="lb", prompt=s["prompt"], response_a=s["texts"][0], response_b=s["texts"][1],
                         source_a=s["sources"][0], source_b=s["sources"][1], choice=choice, annotator="z",
                         kind="vote", meta={"a_slot": s["a_slot"]}))
    ws.add_pairs(rows)
    table = prefs.leaderboard(ws, "lb", n_boot=100)
    assert [r["source"] for r in table] == [prefs.source_label(good), prefs.source_label(bad)]
    top, low = table
    assert 0.7 < top["win_rate"] < 0.9 and top["battles"] == 120
    assert top["ci_low"] < top["rating"] < top["ci_high"] and top["ci_low"] > low["ci_high"]
    assert top["wins"] + top["losses"] + top["ties"] == 120


def test_import_trl_and_hh_files_then_export(ws, tmp_path):
    hh = tmp_path / "hh.jsonl"
    hh.write_text("\n".join(json.dumps(r) for r in [
        {"chosen": "\n\nHuman: What is 2+2?\n\nAssistant: 4.", "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: 5."},
        {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: Goodbye!",
         "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: no."},
    ]) + "\n")
    assert prefs_io.import_pairs(ws, hh, pool="hh").imported == 2
    out = prefs_io.export_pairs(pool="hh", ws=ws)
    assert out[0] == {"prompt": [{"role": "user", "content": "What is 2+2?"}],
                      "chosen": [{"role": "assistant", "content": "4."}],
                      "rejected": [{"role": "assistant", "content": "5."}]}
    assert [m["role"] for m in out[1]["prompt"]] == ["user", "assistant", "user"]
    assert out[1]["chosen"][0]["content"] == "Goodbye!"

    trl = [{"prompt": "Say hi", "chosen": "Hi!", "rejected": "no"},
           {"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "A"}],
            "rejected": [{"role": "assistant", "content": "B"}]},
           {"chosen": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "good"}],
            "rejected": [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "bad"}]}]
    pq = prefs_io.write_pairs(trl[1:], tmp_path / "trl.parquet")
    assert prefs_io.import_pairs(ws, trl[:1], pool="trl").imported == 1
    assert prefs_io.import_pairs(ws, pq, pool="trl").imported == 2
    got = prefs_io.export_pairs(pool="trl", ws=ws)
    assert [(g["prompt"][-1]["content"], g["chosen"][0]["content"], g["rejected"][0]["content"]) for g in got] == [
        ("Say hi", "Hi!", "no"), ("Q", "A", "B"), ("Q2", "good", "bad")]
    # strict: a file with a bad row imports nothing; without strict the good row goes in and the bad one is listed
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "x", "chosen": "y", "rejected": "z"}) + "\n" + json.dumps({"text": 1}) + "\n")
    with pytest.raises(prefs.PrefsError, match="line 2: missing column 'chosen'"):
        prefs_io.import_pairs(ws, bad, pool="bad", strict=True)
    assert ws.count_pairs("bad") == 0
    res = prefs_io.import_pairs(ws, bad, pool="bad")
    assert res.imported == 1 == ws.count_pairs("bad") and [r.line for r in res.rejected] == [2]


def _hh(q: str, a: str) -> str:
    return f"\n\nHuman: {q}\n\nAssistant: {a}"


def test_hh_file_with_empty_final_turns_imports_the_rest_and_lists_them(ws, tmp_path):
    """The real-file case: a few HH rows end in an empty "\\n\\nAssistant: " and must not sink the import."""
    rows = [{"chosen": _hh(f"Question {i}?", "" if i in (3, 11, 17) else f"Good answer {i}."),
             "rejected": _hh(f"Question {i}?", f"Bad answer {i}.")} for i in range(20)]
    f = tmp_path / "hh-real.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    before = ws.count_pairs()
    with pytest.raises(prefs.PrefsError) as err:
        prefs_io.import_pairs(ws, f, pool="hh", strict=True)
    assert str(err.value).startswith("hh-real.jsonl line 4, field 'chosen': empty answer")
    assert "and 2 more" in str(err.value) and ws.count_pairs() == before
    staged = prefs_io.stage_pairs(f, pool="hh")  # the preview a UI shows: nothing stored yet
    assert len(staged.rows) == 17 and ws.count_pairs() == before
    assert [r.line for r in staged.rejected] == [4, 12, 18]
    assert staged.note.startswith("skipped 3 of 20 rows: line 4, field 'chosen': empty answer")
    assert prefs_io.commit_pairs(ws, staged) == 17
    stored = ws.pairs("hh")
    assert [p["response_a"] for p in stored][:3] == ["Good answer 0.", "Good answer 1.", "Good answer 2."]
    assert stored[0]["prompt"] == [{"role": "user", "content": "Question 0?"}]
    listed = [json.loads(x) for x in open(staged.rejects_path, encoding="utf-8")]
    assert [x["line"] for x in listed] == [4, 12, 18] and listed[0]["row"] == rows[3]


@pytest.mark.parametrize("value, reason", [
    (None, "field 'chosen': missing (null)"), (float("nan"), "missing (NaN)"), ([], "field 'chosen': an empty list"),
    ({"text": "x"}, "got object"), (True, "got true/false"), ([{"role": "assistant"}], "needs 'role' and 'content'"),
    ("\ud800 hi", "lone surrogate"), ("", "empty answer"), ("same", "same answer"),
])
def test_junk_values_are_rejected_not_stored_as_text(ws, value, reason):
    res = prefs_io.import_pairs(ws, [{"prompt": "p", "chosen": "fine", "rejected": "same"},
                                     {"prompt": "p", "chosen": value, "rejected": "same"}], pool="junk")
    assert res.imported == 1 and len(res.rejected) == 1 and reason in res.rejected[0].reason
    assert [(p["response_a"], p["response_b"]) for p in ws.pairs("junk")] == [("fine", "same")]


def test_cli_import_export_roundtrip(ws, tmp_path, capsys):
    from playground.cli import preferences as prefs_cli

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
    parser = argparse.ArgumentParser()
    prefs_cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prefs", "import", str(src), "--pool", "cli"])
    assert args.func(args) == 0
    out = tmp_path / "out.parquet"
    args = parser.parse_args(["prefs", "export", "--out", str(out), "--pool", "cli", "--meta"])
    assert args.func(args) == 0
    import pandas as pd

    df = pd.read_parquet(out)
    assert list(df["chosen"].iloc[0][0].values()) == ["assistant", "c"] and df["annotator"].iloc[0] == "import"
    args = parser.parse_args(["prefs", "export", "--out", str(tmp_path / "x.jsonl"), "--pool", "empty"])
    assert args.func(args) == 1
    assert "error: no judged pairs" in capsys.readouterr().err
    # partial import through the CLI: the report line names the bad line; --strict imports nothing
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"prompt": "p2", "chosen": "c", "rejected": "r"}) + "\n{broken\n", encoding="utf-8")
    args = parser.parse_args(["prefs", "import", str(mixed), "--pool", "cli", "--strict"])
    assert args.func(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mixed.jsonl line 2: invalid JSON") and "\n" not in err
    assert ws.count_pairs("cli") == 1
    args = parser.parse_args(["prefs", "import", str(mixed), "--pool", "cli"])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "imported 1 pairs into pool 'cli'" and out[1].startswith("skipped 1 of 2 rows: line 2: invalid")
    assert ws.count_pairs("cli") == 2


def test_export_trains_trl_reward_trainer_one_step(ws, tmp_path):
    """What export_pairs writes is what TRL's RewardTrainer accepts: one step on the tiny model moves weights."""
    import torch
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from playground.core.models import load_reward_lm, load_tokenizer, resolve

    for i in range(4):
        s = prefs.serve_pair(f"Tell me about item {i}.", [f"A helpful answer about item {i}.", "no."],
                             [SRC1, SRC2], rng=random.Random(i))
        prefs.record_vote(ws, s, "a" if s["a_slot"] == 1 else "b", annotator="t")
    rows = prefs_io.export_pairs(ws=ws)
    assert len(rows) == 4 and all(r["chosen"][0]["content"].startswith("A helpful") for r in rows)
    spec = resolve("tiny")
    tok = load_tokenizer(spec)
    model = load_reward_lm(spec, device="cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = RewardConfig(output_dir=str(tmp_path / "rm"), max_steps=1, per_device_train_batch_size=4,
                        learning_rate=1e-2, use_cpu=True, bf16=False, report_to=[], logging_steps=1,
                        save_strategy="no", max_length=128, activation_checkpointing=True)
    trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
    trainer.train()
    assert trainer.state.global_step == 1
    assert any("loss" in h for h in trainer.state.log_history)
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert changed, "one RewardTrainer step on the exported pairs should change the weights"


def test_push_needs_a_token_and_never_shows_it(ws, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = [{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
             "rejected": [{"role": "assistant", "content": "b"}]}]
    with pytest.raises(prefs.PrefsError, match="token"):
        prefs_io.push_to_hub(rows, "me/prefs", None)  # never falls back to the server's own login
    token = "hf_secretSECRETsecret123"
    with pytest.raises(prefs.PrefsError, match="not reachable") as err:
        prefs_io.push_to_hub(rows, "me/prefs", token)
    assert token not in str(err.value)
    with pytest.raises(prefs.PrefsError, match="empty"):
        prefs_io.push_to_hub([], "me/prefs", token)
