"""The Evaluate stage on the tiny model: cached answers, win-rates with Wilson intervals, KL, the human judge
through an arena pool, reference metrics against the libraries, the CLI line, and the tab's handlers.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_evaluate.py
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest

LINE = re.compile(r"^policy=(\S+) judge=(\S+) win_rate=(\d\.\d{3}) ci=\[(\d\.\d{3}),(\d\.\d{3})\] n=(\d+)$")


def make_policy_run(ws, run_id: str, stage: str, seed: int) -> Path:  # noqa: ANN001
    """A finished run with a random (non-zero) LoRA adapter on the tiny model: a policy that differs from the base."""
    import torch
    from peft import LoraConfig, get_peft_model

    from playground.core.models import load_causal_lm, resolve
    from playground.core.paths import runs_dir
    from playground.core.runs import write_result, write_status

    torch.manual_seed(seed)
    model = get_peft_model(load_causal_lm(resolve("tiny"), "cpu"),
                           LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                                      task_type="CAUSAL_LM"))
    run_dir = runs_dir() / run_id
    model.save_pretrained(run_dir / "adapter")
    write_result(run_dir, {"base_model": "tiny"})
    write_status(run_dir, state="succeeded", pid=None, started=None, ended=None, error=None)
    ws.register_run(run_id, stage, run_dir, {"model": "tiny"})
    return run_dir


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A workspace with two policy runs (an SFT and a GRPO stage: found by their adapter, not a stage list), a
    reward run's lookalike that must not count, and a small dataset with reference answers."""
    from playground.core.workspace import Workspace

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYGROUND_HOME", str(tmp_path_factory.mktemp("evalhome")))
        ws = Workspace()
        make_policy_run(ws, "sft-a", "sft", 1)
        make_policy_run(ws, "grpo-b", "grpo", 2)
        make_policy_run(ws, "reward-c", "reward", 3)
        ws.add_rows("heldout", [
            {"messages": [{"role": "user", "content": f"Name a {w}."}, {"role": "assistant", "content": f"A {w}: {a}."}]}
            for w, a in (("fruit", "pear"), ("tree", "oak"), ("bird", "owl"), ("fish", "trout"), ("city", "Rome"),
                         ("river", "Nile"))], create=True)
        yield ws


def _req(**kw):  # noqa: ANN003, ANN202
    from playground.stages.evaluate.service import EvalRequest

    base = {"policies": ["sft-a", "grpo-b"], "prompts": "heldout", "judges": ["rule:vocab_half", "expr:n_words"],
            "n": 4, "model": "tiny", "max_new_tokens": 8, "temperature": 1.0, "top_p": 1.0, "seed": 7}
    return EvalRequest(**{**base, **kw})


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows generated through the generation code's batched call, counted."""
    from playground.stages.evaluate import service

    calls: list[int] = []
    real = service.generate_batch

    def spy(model, tok, prompts, sources, seeds, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(len(prompts))
        return real(model, tok, prompts, sources, seeds, *a, **k)

    monkeypatch.setattr(service, "generate_batch", spy)
    return calls


def test_policies_are_found_by_their_adapter_whatever_the_stage(world) -> None:  # noqa: ANN001
    from playground.stages.evaluate.policies import policy_choices, resolve_policies

    ids = [v for _, v in policy_choices(world)]
    assert ids[0] == "base" and {"sft-a", "grpo-b"} <= set(ids) and "reward-c" not in ids
    pols, base = resolve_policies(world, ["grpo-b"], "base", "bundled")
    assert (pols[0].model, pols[0].adapter, base.model) == ("tiny", "grpo-b", "tiny")  # the run's base wins
    with pytest.raises(Exception, match="reward-c.*not a policy run"):
        resolve_policies(world, ["reward-c"], "base", "tiny")


def test_same_win_rate_from_the_cache_twice_and_no_second_generation(world, counted) -> None:  # noqa: ANN001
    from playground.stages.evaluate.service import evaluate

    first = evaluate(world, _req())
    assert sum(counted) == 3 * 4 and first["generated"] == 12  # sft-a, grpo-b and the base: 4 prompts each
    counted.clear()
    second = evaluate(world, _req())
    assert counted == [] and second["generated"] == 0 and second["cached"] == 12
    assert second["results"] == first["results"] and second["id"] != first["id"]
    r = next(x for x in first["results"] if x["policy"] == "sft-a" and x["judge"] == "expr:n_words")
    assert r["n"] == 4 and r["wins"] + r["ties"] + r["losses"] == 4
    assert r["win_rate"] == pytest.approx((r["wins"] + r["ties"] / 2) / 4)
    assert r["kl"] != 0.0 and math.isfinite(r["kl"])  # a random adapter drifts from the base
    rows = [x for x in first["rows"] if x["policy"] == "sft-a"]
    assert r["kl"] == pytest.approx(sum(x["kl"] for x in rows) / 4)
    # a larger n generates only the new prompts' answers
    counted.clear()
    third = evaluate(world, _req(n=6))
    assert sum(counted) == 3 * 2 and third["generated"] == 6


def test_kl_is_the_log_prob_difference_of_the_stored_answers(world) -> None:  # noqa: ANN001
    from playground.core.generation import load_model
    from playground.stages.evaluate import metrics
    from playground.stages.evaluate.service import evaluate

    report = evaluate(world, _req(policies=["sft-a"], judges=["rule:length"], n=2))
    row = report["rows"][0]
    pol, tok = load_model("tiny", "sft-a")
    base, _ = load_model("tiny", "")
    ids = metrics.answer_ids(tok, [row["answer"]], [row["length"] < 8])
    lp = metrics.sequence_logps(pol, tok, [row["prompt"]], ids)[0]
    lb = metrics.sequence_logps(base, tok, [row["prompt"]], ids)[0]
    assert row["kl"] == pytest.approx(lp - lb, rel=1e-4, abs=1e-4)


def test_wilson_interval_on_hand_made_counts() -> None:
    from playground.stages.evaluate.metrics import counts_row, win_rate

    z = 1.959964
    r = counts_row(wins=7, ties=2, losses=1)  # 7 + 2/2 = 8 of 10
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert r["win_rate"] == pytest.approx(0.8)
    assert r["ci"] == pytest.approx([centre - half, centre + half])
    assert r["ci"] == pytest.approx([0.4902, 0.9433], abs=1e-4)  # the textbook Wilson interval of 8/10
    w = win_rate([1.0, 0.2, 0.5, 0.5], [0.0, 0.9, 0.5, 0.1])  # win, loss, tie, win
    assert (w["wins"], w["losses"], w["ties"], w["win_rate"]) == (2, 1, 1, 0.625)
    both = counts_row(wins=1, ties=0, losses=1, both_bad=2)
    assert both["win_rate"] == 0.5 and both["n"] == 4


def test_bleu_and_rouge_equal_the_libraries_numbers() -> None:
    import sacrebleu
    from rouge_score import rouge_scorer

    from playground.stages.evaluate.metrics import reference_scores

    hyps = ["the cat is on the mat", "a quick brown fox jumps over the lazy dog", "hello there"]
    refs = ["the cat sat on the mat", "the quick brown fox jumped over the lazy dog", "general kenobi"]
    ours = reference_scores(hyps, refs)
    assert ours["bleu"] == sacrebleu.corpus_bleu(hyps, [refs]).score
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert ours["rougeL"] == pytest.approx(sum(sc.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs)) / 3)
    # and by hand: LCS("the cat is on the mat", "the cat sat on the mat") = 5 of 6 words each way
    assert reference_scores(hyps[:1], refs[:1])["rougeL"] == pytest.approx(5 / 6)
    assert reference_scores(["same words here ok"], ["same words here ok"]) == {"bleu": pytest.approx(100.0),
                                                                              "rougeL": pytest.approx(1.0)}


def test_reference_metrics_in_a_report(world) -> None:  # noqa: ANN001
    import sacrebleu

    from playground.stages.evaluate.service import evaluate

    report = evaluate(world, _req(policies=["sft-a"], judges=["rule:length"], n=4))
    ref = report["reference"][0]
    rows = [r for r in report["rows"] if r["policy"] == "sft-a"]
    assert ref["n"] == 4 and math.isfinite(ref["ppl"]) and ref["ppl"] > 1
    assert ref["bleu"] == sacrebleu.corpus_bleu([r["answer"] for r in rows], [[r["reference"] for r in rows]]).score


def test_human_judge_fills_the_table_as_votes_are_stored(world) -> None:  # noqa: ANN001
    from playground.stages.evaluate.board import arena_ratings, leaderboard
    from playground.stages.evaluate.human import human_results, send_to_arena
    from playground.stages.evaluate.service import evaluate
    from playground.stages.preferences import pairs as prefs

    report = evaluate(world, _req(policies=["sft-a"], judges=["rule:length"], n=4))
    pool, added, skipped = send_to_arena(world, report, pool="eval-test", rng=random.Random(0))
    assert added + skipped == 4 and added >= 3
    assert send_to_arena(world, report, pool="eval-test")[1] == 0  # the same pairs are not sent twice
    assert human_results(world, pool) == []
    # the stored pairs are blind: sources as shown carry the role, the texts' order is random
    templates = [r for r in world.pairs(pool) if r["choice"] is None]
    assert len(templates) == added
    assert all({r["source_a"]["eval_role"], r["source_b"]["eval_role"]} == {"policy", "baseline"} for r in templates)
    wanted = ["policy", "baseline", "tie", "both_bad"][:added]
    for i, want in enumerate(wanted):
        served = prefs.next_pool_pair(world, pool, "ana", rng=random.Random(i))
        policy_side = "a" if served["sources"][0]["eval_role"] == "policy" else "b"
        choice = {"policy": policy_side, "baseline": "b" if policy_side == "a" else "a"}.get(want, want)
        prefs.record_vote(world, served, choice, annotator="ana")
        got = human_results(world, pool)[0]
        assert got["n"] == i + 1 and got["policy"] == "sft-a" and got["judge"] == "human:eval-test"
    counts = (got["wins"], got["losses"], got["ties"], got["both_bad"])
    assert counts == tuple(int(k in wanted) for k in ("policy", "baseline", "tie", "both_bad"))
    assert got["win_rate"] == pytest.approx((got["wins"] + (got["ties"] + got["both_bad"]) / 2) / got["n"])
    board = leaderboard(world)
    assert any(r["judge"] == "human:eval-test" and r["n"] == len(wanted) for r in board)
    assert not arena_ratings(world).empty  # the arena's Bradley-Terry table over the evaluation pool


def test_prompt_sources(world, tmp_path: Path) -> None:  # noqa: ANN001
    from playground.stages.evaluate.prompts import load_prompts

    prefs_file = tmp_path / "prefs.jsonl"
    prefs_file.write_text("\n".join(json.dumps({"prompt": f"Q{i}?", "chosen": "yes", "rejected": "no"})
                                    for i in range(3)) + "\n")
    got, where = load_prompts(world, str(prefs_file), 10)
    assert [p.prompt[0]["content"] for p in got] == ["Q0?", "Q1?", "Q2?"] and got[0].reference is None
    plain = tmp_path / "prompts.jsonl"
    plain.write_text('{"prompt": "Hi"}\n{"prompt": "Hi"}\n{"messages": [{"role": "user", "content": "Yo"}]}\n')
    got, _ = load_prompts(world, str(plain), 0)
    assert [p.prompt[0]["content"] for p in got] == ["Hi", "Yo"]  # de-duplicated
    got, where = load_prompts(world, "heldout", 2)
    assert len(got) == 2 and got[0].reference == "A fruit: pear." and "heldout" in where
    with pytest.raises(Exception, match="not a file, a workspace dataset or a preference pool"):
        load_prompts(world, "no-such-thing", 2)


def test_cli_prints_one_line_per_policy_and_judge(world, capsys: pytest.CaptureFixture) -> None:  # noqa: ANN001
    from playground.cli import main

    rc = main(["evaluate", "--policies", "sft-a,grpo-b", "--baseline", "base", "--prompts", "heldout", "--n", "4",
               "--judge", "rule:vocab_half", "--judge", "expr:n_words", "--model", "tiny", "--max-new-tokens", "8",
               "--temperature", "1.0", "--top-p", "1.0", "--seed", "7"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    hits = [LINE.match(x) for x in out]
    found = {(m.group(1), m.group(2)) for m in hits if m}
    assert found == {(p, j) for p in ("sft-a", "grpo-b") for j in ("rule:vocab_half", "expr:n_words")}
    assert sum(1 for m in hits if m) == 4
    for i, m in enumerate(hits):
        if m:
            lo, wr, hi = float(m.group(4)), float(m.group(3)), float(m.group(5))
            assert lo <= wr <= hi and m.group(6) == "4"
            assert out[i + 1].startswith("  mean_score=") and " kl=" in out[i + 1] and " length=" in out[i + 1]
    rc = main(["evaluate", "--policies", "nope", "--prompts", "heldout", "--judge", "rule:length"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("error: policy 'nope'")
    rc = main(["evaluate", "--policies", "base", "--prompts", "heldout", "--judge", "rule:nope", "--model", "tiny"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "judge 'rule:nope'" in err[0]


# -- the tab's handlers, called directly -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tab(world):  # noqa: ANN001, ANN201
    import gradio as gr

    from playground.core.jobs import JobRunner
    from playground.ui.context import AppContext
    from playground.ui.tabs import evaluate as ev

    jobs = JobRunner(world)
    ctx = AppContext(ws=world, jobs=jobs, default_model="tiny")
    with gr.Blocks():
        view = ev.build(ctx)
    yield ctx, view
    jobs.close()


def _form(view, **kw):  # noqa: ANN001, ANN003, ANN202
    values = {view.policies: ["sft-a"], view.baseline: "base", view.prompts: "heldout", view.prompt_file: None,
              view.n: 3, view.judges: ["rule:vocab_half"], view.temperature: 1.0, view.top_p: 1.0,
              view.max_new_tokens: 8, view.seed: 7, view.job: None, view.pool: "", view.sort_by: "win_rate"}
    return {**values, **{getattr(view, k): v for k, v in kw.items()}}


def test_tab_run_streams_progress_then_fills_results_and_leaderboard(tab) -> None:  # noqa: ANN001
    from playground.core.auth import Role
    from playground.ui.guard import role_needed
    from playground.ui.tabs import evaluate as ev

    ctx, v = tab
    frames = list(ev.on_run(ctx, v, _form(v)))
    last = frames[-1]
    assert last[v.status].startswith("✅ Done") and last[v.job] is None
    res = last[v.results]
    assert list(res["policy"]) == ["sft-a"] and list(res["judge"]) == ["rule:vocab_half"] and list(res["n"]) == [3]
    assert len(last[v.rows]) == 3 and last[v.pool].startswith("eval-")
    assert "sft-a" in set(last[v.board]["policy"])
    assert role_needed(ev.on_run) == Role.ADMIN and role_needed(ev.on_board) == Role.VIEWER
    # the per-prompt browser follows the picked policy and judge
    rows = ev.on_browse(ctx, v, {v.report: last[v.report], v.browse_policy: "sft-a",
                                 v.browse_judge: "rule:vocab_half"})[v.rows]
    assert list(rows["policy"]) == ["sft-a"] * 3 and set(rows["outcome"]) <= {"win", "loss", "tie"}
    # send to the arena, then the human table and the export
    sent = ev.on_send(ctx, v, {v.report: last[v.report], v.pool: "eval-ui"})
    assert sent[v.pool] == "eval-ui" and "blind pairs in pool" in sent[v.human_md]
    path = ev.on_export(ctx, v, {v.export_fmt: "CSV", v.sort_by: "kl"})[v.export_file]["value"]
    text = Path(path).read_text()
    assert text.splitlines()[0].startswith("policy,judge,baseline,win_rate") and "sft-a" in text
    md = ev.on_export(ctx, v, {v.export_fmt: "Markdown", v.sort_by: "win_rate"})[v.export_file]["value"]
    assert Path(md).read_text().startswith("| policy | judge |") and "**kl**:" in Path(md).read_text()


def test_tab_caps_n_and_tokens_and_refuses_bad_input_in_one_line(tab, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from playground.ui.tabs import evaluate as ev

    ctx, v = tab
    monkeypatch.setenv("PLAYGROUND_MAX_NEW_TOKENS", "8")
    req, note = ev.request_from(ctx, v, _form(v, n=10_000, max_new_tokens=64))
    assert (req.n, req.max_new_tokens) == (ev.MAX_UI_PROMPTS, 8) and "capped" in note
    (only,) = list(ev.on_run(ctx, v, _form(v, policies=[])))
    assert only[v.status].startswith("⚠️ policies:") and "\n" not in only[v.status]
    (only,) = list(ev.on_run(ctx, v, _form(v, judges=["rule:nope"])))
    assert only[v.status].startswith("⚠️ judge 'rule:nope'")
    assert ev.on_send(ctx, v, {v.report: None, v.pool: ""})[v.human_md].startswith("⚠️")


# -- gold vs proxy in a PPO run --------------------------------------------------------------------------------
PPO_PRESET = Path(__file__).resolve().parents[1] / "presets" / "ppo" / "tiny-cpu.yaml"
TINY_PPO = ["response_length=4", "rollout_batch_size=8", "per_device_train_batch_size=8", "total_updates=2",
            "sample_every=0", "save_steps=0"]


def run_tiny_ppo(run_dir: Path, extra: list[str]) -> None:
    """Two tiny PPO updates into run_dir (one torch thread: the suite shares two cores)."""
    import torch

    from playground.stages.ppo import train as ppo
    from playground.stages.registry import load_config

    run_dir.mkdir(parents=True, exist_ok=True)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ppo.run(load_config("ppo", PPO_PRESET, [*TINY_PPO, *extra]), run_dir)
    finally:
        torch.set_num_threads(n)


def test_gold_series_appears_in_a_ppo_runs_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from playground.core import builtin
    from playground.core.errors import ConfigError
    from playground.core.runs import read_metrics
    from playground.stages.evaluate.gold import HELD_OUT
    from playground.stages.registry import load_config

    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="gold_every needs a gold_judge"):
        load_config("ppo", PPO_PRESET, [*TINY_PPO, "gold_every=1"])
    run_dir = tmp_path / "ppo-gold"
    run_tiny_ppo(run_dir, ["gold_judge=expr:n_chars", "gold_every=1"])
    gold = [r for r in read_metrics(run_dir) if "gold_score" in r]
    held = min(HELD_OUT, len(builtin.prompts()) // 4)
    assert [r["step"] for r in gold] == [0, 1, 2]
    assert all(r["gold_n"] == held and r["gold_score"] >= 0 and "gold_proxy_score" in r for r in gold)
    updates = [r for r in read_metrics(run_dir) if "kl" in r and "gold_score" not in r]
    assert len(updates) == 2  # the gold lines sit beside the update lines, with the KL to plot against
    from playground.stages.evaluate.board import gold_curve
    from playground.ui.tabs.evaluate import gold_chart_html

    curve = gold_curve(run_dir)
    assert [c["update"] for c in curve] == [0, 1, 2] and curve[0]["kl"] == 0.0
    assert [c["kl"] for c in curve[1:]] == [r["kl"] for r in updates]
    chart = gold_chart_html(curve)
    assert chart.count("<polyline") == 2 and "KL to the base (nats)" in chart and ">step<" not in chart


def test_split_a_pool_in_two_by_prompt(tab) -> None:  # noqa: ANN001
    from playground.core.chat import prompt_key
    from playground.ui.tabs import evaluate as ev

    ctx, v = tab
    ws = ctx.ws
    ws.add_pairs([{"pool": "room", "prompt": [{"role": "user", "content": f"Q{i}?"}], "response_a": f"good {j}",
                   "response_b": f"bad {j}", "choice": "a", "kind": "vote", "annotator": "ana"}
                  for i in range(6) for j in range(2)] + [{"pool": "room", "prompt": "unjudged", "response_a": "x",
                                                          "response_b": "y", "choice": None}])
    out = ev.on_split(ctx, v, {v.split_pool: "room", v.seed: 0})[v.split_md]
    assert out.startswith("✅ **room-proxy**: 6 pairs (3 prompts)") and "**room-gold**: 6 pairs (3 prompts)" in out
    proxy = {prompt_key(r["prompt"]) for r in ws.pairs("room-proxy")}
    gold = {prompt_key(r["prompt"]) for r in ws.pairs("room-gold")}
    assert len(proxy) == len(gold) == 3 and not proxy & gold and len(ws.pairs("room")) == 13  # copied, not moved
    assert all(r["choice"] == "a" and r["annotator"] == "ana" for r in ws.pairs("room-gold"))
    again = ev.on_split(ctx, v, {v.split_pool: "room", v.seed: 0})[v.split_md]
    assert again == "⚠️ split: pool 'room-proxy' already exists (delete it or split another pool)"
    assert ev.on_split(ctx, v, {v.split_pool: "nope", v.seed: 0})[v.split_md].startswith("⚠️ split: no preference pool")
