"""Arena "RM says" judge: a tiny reward run (trained through the CLI twin) agrees with a vote for the helpful
built-in answer and disagrees with a vote for the dismissive one; ties only show the scores; a missing or
unfinished run gives a one-line badge and the vote is still stored; the generate handler never shows a
verdict (the judge is not even one of its inputs) and the vote handler stores the scores in the pair's meta."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
import yaml

from playground.core import builtin
from playground.core.jobs import JobRunner
from playground.core.workspace import Workspace
from playground.stages.preferences import judge
from playground.stages.preferences.arena import PromptMode
from playground.stages.reward.scorer import pair_scorer
from playground.ui.context import AppContext
from playground.ui.tabs import preferences as arena_tab
from playground.ui.tabs import preferences_handlers as h
from playground.ui.tabs.preferences_handlers import ArenaTab

REPO = Path(__file__).resolve().parent.parent
PRESET = REPO / "presets" / "reward" / "tiny-cpu.yaml"
RUN = "rm-x"


@pytest.fixture(scope="module")
def rm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("arena-rm")
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "playground", "reward", "--config", str(PRESET), "--run-dir",
                           str(home / "runs" / RUN)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # listed as the UI's job runner would have (a CLI run with --run-dir is not recorded in the workspace)
    cfg = yaml.safe_load((home / "runs" / RUN / "config.yaml").read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLAYGROUND_HOME", str(home))
        Workspace().register_run(RUN, "reward", home / "runs" / RUN, cfg)
    return home


@pytest.fixture
def ctx(rm_home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PLAYGROUND_HOME", str(rm_home))
    monkeypatch.setenv("PLAYGROUND_MIN_VOTE_S", "0")  # these votes follow generation at once (tested elsewhere)
    ws = Workspace()
    c = AppContext(ws=ws, jobs=JobRunner(ws), default_model="tiny")
    yield c
    c.jobs.close()


def _text(msgs: list[dict[str, str]]) -> str:
    return msgs[-1]["content"]


def scores(ctx: AppContext, *args: Any) -> tuple[float, float]:
    return pair_scorer(ctx.ws, ctx.cached)(RUN, *args)


def rm_badge(ctx: AppContext, run: str, *args: Any) -> str:
    return judge.rm_badge(pair_scorer(ctx.ws, ctx.cached), run, *args)


def test_badge_agrees_and_disagrees_with_the_vote(ctx: AppContext) -> None:
    assert RUN in [v for _, v in judge.judge_choices(ctx.ws)]  # the finished run is offered as a judge
    rows = builtin.preferences(n=8, seed=7)
    agree = 0
    for r in rows:
        prompt, good, bad = r["prompt"], _text(r["chosen"]), _text(r["rejected"])
        s_good, s_bad = scores(ctx, prompt, good, bad)
        rm_right = s_good > s_bad
        agree += rm_right
        # the helpful answer shown as A and voted for: the badge agrees exactly when the RM scores it higher
        badge = rm_badge(ctx, RUN, prompt, good, bad, "a")
        assert ("agrees with you" in badge and "disagrees" not in badge) == rm_right, badge
        assert badge.startswith("🤖 RM says: " + ("A" if rm_right else "B"))
        # a vote for the dismissive answer, shown as B: the opposite verdict, same scores
        swapped = rm_badge(ctx, RUN, prompt, good, bad, "b")
        assert ("disagrees with you" in swapped) == rm_right, swapped
        # the same answers the other way round: the RM's pick follows the text, not the side
        flipped = rm_badge(ctx, RUN, prompt, bad, good, "b")
        assert flipped.startswith("🤖 RM says: " + ("B" if rm_right else "A"))
        assert ("agrees with you" in flipped and "disagrees" not in flipped) == rm_right
    assert agree >= 7, f"the trained RM should prefer the helpful answer almost always, got {agree}/8"

    r = rows[0]
    tie = rm_badge(ctx, RUN, r["prompt"], _text(r["chosen"]), _text(r["rejected"]), "tie")
    assert tie.startswith("🤖 RM scores: A ") and " · B " in tie and "agrees" not in tie
    assert rm_badge(ctx, judge.JUDGE_OFF, "p", "x", "y", "a") == ""
    # a deleted run and an unfinished one: one line, no traceback
    gone = rm_badge(ctx, "reward-deleted-0000", "p", "x", "y", "a")
    assert gone.startswith("🤖 RM judge unavailable:") and "not found" in gone and "\n" not in gone
    unfinished = Path(os.environ["PLAYGROUND_HOME"]) / "runs" / "rm-unfinished"
    shutil.copytree(Path(os.environ["PLAYGROUND_HOME"]) / "runs" / RUN, unfinished)
    (unfinished / "result.json").unlink()
    assert "has not finished" in rm_badge(ctx, str(unfinished), "p", "x", "y", "a")


def _tab(ctx: AppContext) -> tuple[ArenaTab, dict[str, Any]]:
    """The built tab, and its API events (their wiring: which inputs each one gets)."""
    with gr.Blocks() as demo:
        t = arena_tab.build(ctx)
    return t, {f.api_name: f for f in demo.fns.values() if f.api_name}


def _vote(t: ArenaTab, choice: str, served: dict[str, Any], **judge: str) -> tuple[Any, ...]:
    """/arena_vote for ana in the default pool; its outputs in the API's order."""
    out = h.on_vote_api(t, choice, served, annotator_v="ana", reason_v="", rating_a=None, rating_b=None,
                        pool_v="default", **judge)
    return tuple(out.get(c) for c in t.vote_outputs)


def test_badge_only_after_the_vote_and_scores_stored(ctx: AppContext) -> None:
    t, fns = _tab(ctx)
    judge_ids = {"arena-rm-judge"}
    # generation cannot see the judge
    assert not judge_ids & {getattr(b, "elem_id", None) for b in fns["arena_generate"].inputs}
    assert judge_ids & {getattr(b, "elem_id", None) for b in fns["arena_vote"].inputs}

    r = builtin.preferences(n=1, seed=3)[0]
    prompt = r["prompt"][0]["content"]
    form = ctx.arena  # the tab's form: its handlers take {component: value}
    assert form is not None
    args = {form.mode: PromptMode.TYPED.value, form.dataset: None, form.prompt: prompt, form.cursor: 0,
            form.annotator: "ana", form.pool: "default", form.seed: 0}
    for side, temperature in zip(form.sides, (0.7, 1.0), strict=True):
        args.update(zip(side, ["tiny", "", temperature, 0.9, 8], strict=True))
    assert set(args) == form.form
    steps = list(h.on_generate(t, args))
    shown = [str(list(s.values())) for s in steps]
    assert steps and all("RM says" not in s and "RM scores" not in s for s in shown)
    served = steps[-1][t.served]
    assert served and served["texts"][0] and not served.get("voted")

    reveal, counter, served_after, last, edit_text, edit_heading, advanced = _vote(t, "a", served, judge_v=RUN)
    # the edit box holds the preferred answer, and its prompt is shown with it
    assert advanced is True and edit_text == served["texts"][0] and last["better"] == 0
    assert prompt[:40] in edit_heading
    assert reveal.startswith("Last vote: you preferred **A**") and "🤖 RM says: " in reveal
    assert "1 votes" in counter and served_after["voted"]
    (row,) = ctx.ws.pairs("default")
    assert row["choice"] == "a"
    s_a, s_b = scores(ctx, served["prompt"], served["texts"][0], served["texts"][1])
    assert row["meta"]["rm"] == {"run": RUN, "score_a": pytest.approx(s_a, abs=1e-5),
                                 "score_b": pytest.approx(s_b, abs=1e-5)}
    assert ("agrees with you" in reveal and "disagrees" not in reveal) == (s_a > s_b)
    assert row["latency_ms"] is not None and row["latency_ms"] >= 0

    # a judge that is gone: the vote is stored all the same, the badge says why in one line
    served2 = next(s[t.served] for s in reversed(list(h.on_generate(t, args))) if s.get(t.served))
    reveal2, *_ = _vote(t, "tie", served2, judge_v="reward-deleted-0000")
    assert "called it a **tie**" in reveal2 and "RM judge unavailable" in reveal2
    assert len(ctx.ws.pairs("default")) == 2
    # judge off (the API default): no badge at all
    served3 = next(s[t.served] for s in reversed(list(h.on_generate(t, args))) if s.get(t.served))
    reveal3, *_ = _vote(t, "b", served3)
    assert "RM" not in reveal3 and len(ctx.ws.pairs("default")) == 3


def test_concurrent_judge_requests_share_forward_passes(ctx: AppContext) -> None:
    """Votes judged at the same moment from several browsers: each gets the scores it would get alone, and the
    scorer serves them in fewer forward passes than requests (counted on the model itself)."""
    from playground.stages.reward import service as rm
    from playground.stages.reward.scorer import score_text, scorer_for

    rows = builtin.preferences(n=8, seed=11)
    reqs = [(r["prompt"], _text(r["chosen"]), _text(r["rejected"])) for r in rows]
    alone = [scores(ctx, *q) for q in reqs]  # one at a time (also loads the run into the cache)
    run_dir = str(rm.reward_run_dir(ctx.ws.get_run(RUN)["run_dir"]))
    model, tok = ctx.cached(("rm", run_dir), lambda: pytest.fail("the judge should have cached the model"))
    scorer = scorer_for(model, tok)
    assert scorer is scorer_for(model, tok)  # one scorer per loaded model
    scorer.wait_s = 0.5  # a wide window: on a busy 2-core box the 8 threads may take a while to all arrive
    forwards = []
    hook = model.register_forward_pre_hook(lambda *_: forwards.append(1))
    barrier = threading.Barrier(len(reqs))

    def one(q: tuple[Any, str, str]) -> tuple[tuple[float, float] | None, str]:
        barrier.wait()
        return judge.judge_pair(pair_scorer(ctx.ws, ctx.cached), RUN, *q)

    try:
        with ThreadPoolExecutor(len(reqs)) as ex:
            together = list(ex.map(one, reqs))
    finally:
        hook.remove()
        scorer.wait_s = 0.005
    for (got, err), want in zip(together, alone, strict=True):
        assert err == "" and got == pytest.approx(want, abs=1e-4)
    assert 1 <= len(forwards) < len(reqs), f"{len(reqs)} judge requests took {len(forwards)} forward passes"
    # the Reward tab's "score any text" goes through the same scorer and gives the judge's score
    q = reqs[0]
    assert score_text(model, tok, q[0], q[1]) == pytest.approx(alone[0][0], abs=1e-4)
