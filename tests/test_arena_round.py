"""PPO tab -> "Arena round: policy vs reference": the setup computed from a real tiny PPO run, the refusals,
the arena loading that adapter, and the button's handler in the built app.

    .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_arena_round.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.core.config import to_dict
from playground.core.runs import write_status
from playground.stages.registry import load_config

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets" / "ppo" / "tiny-cpu.yaml"
TINY_PPO = ["response_length=4", "rollout_batch_size=8", "per_device_train_batch_size=8", "total_updates=1",
            "sample_every=1000", "temperature=0.7"]


@pytest.fixture(scope="module")
def world():
    """A workspace with one prompt dataset and two finished tiny PPO runs (builtin prompts / the dataset)."""
    import torch

    from playground.core.jobs import JobRunner
    from playground.core.paths import runs_dir
    from playground.core.workspace import Workspace
    from playground.stages.ppo import train as ppo
    from playground.ui.context import AppContext

    with pytest.MonkeyPatch.context() as mp:
        home = Path(__import__("tempfile").mkdtemp(prefix="arena-round-"))
        mp.setenv("PLAYGROUND_HOME", str(home))
        mp.setenv("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
        ws = Workspace()
        ws.add_rows("my-prompts", [
            {"messages": [{"role": "user", "content": "Name a fruit."}, {"role": "assistant", "content": "Pear."}]},
            {"messages": [{"role": "user", "content": "Name a tree."}, {"role": "assistant", "content": "Oak."}]},
        ], create=True)
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for run_id, extra in (("ppo-builtin", []), ("ppo-dataset", ["prompts=my-prompts"])):
                cfg = load_config("ppo", PRESET, TINY_PPO + extra)
                run_dir = runs_dir() / run_id
                run_dir.mkdir(parents=True)
                ws.register_run(run_id, "ppo", run_dir, to_dict(cfg))
                ppo.run(cfg, run_dir)
                write_status(run_dir, state="succeeded", pid=None, started=None, ended=None, error=None)
        finally:
            torch.set_num_threads(n)
        jobs = JobRunner(ws)
        ctx = AppContext(ws=ws, jobs=jobs, default_model="tiny")
        yield ctx
        jobs.close()


def _register(ctx, run_id: str, state: str, overrides: list[str], with_adapter_from: str = "") -> Path:  # noqa: ANN001
    import shutil

    from playground.core.paths import runs_dir

    run_dir = runs_dir() / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    if with_adapter_from:
        shutil.copytree(runs_dir() / with_adapter_from / "adapter", run_dir / "adapter")
        shutil.copy(runs_dir() / with_adapter_from / "result.json", run_dir / "result.json")
    ctx.ws.register_run(run_id, "ppo", run_dir, to_dict(load_config("ppo", PRESET, TINY_PPO + overrides)))
    write_status(run_dir, state=state, pid=None, started=None, ended=None, error=None)
    return run_dir


def test_setup_from_a_finished_run_with_builtin_prompts(world) -> None:  # noqa: ANN001
    from playground.core import builtin
    from playground.stages.ppo.service import arena_round
    from playground.stages.preferences.arena import PromptMode, dataset_prompt

    setup = arena_round(world.ws, "ppo-builtin")
    assert not isinstance(setup, str), setup
    policy, reference = setup.sources
    assert (policy.model, policy.adapter) == ("tiny", "ppo-builtin")
    assert (reference.model, reference.adapter) == ("tiny", "")
    for src in setup.sources:  # sampled as in the rollouts
        assert (src.temperature, src.top_p, src.max_new_tokens) == (0.7, 1.0, 4)
    assert setup.pool == "ppo-builtin"  # the id already says ppo-
    # the round goes on through the built-in prompts the run trained on (one typed prompt stopped it after one pair)
    assert setup.mode is PromptMode.IN_ORDER and setup.dataset == "builtin:prompts" and setup.prompt is None
    prompt, cursor = dataset_prompt(world.ws, setup.dataset, 0, at_random=False)
    assert prompt[-1]["content"] == builtin.prompts()[0] and cursor == 1
    assert dataset_prompt(world.ws, setup.dataset, 1, at_random=False)[0][-1]["content"] == builtin.prompts()[1]
    assert setup.judge is None


def test_setup_uses_the_runs_workspace_dataset(world) -> None:  # noqa: ANN001
    from playground.stages.ppo.service import arena_round
    from playground.stages.preferences.arena import PromptMode

    setup = arena_round(world.ws, "ppo-dataset")
    assert not isinstance(setup, str), setup
    assert setup.mode is PromptMode.IN_ORDER and setup.dataset == "my-prompts" and setup.prompt is None
    assert setup.pool == "ppo-dataset"


def test_refusals_are_one_line_reasons(world) -> None:  # noqa: ANN001
    from playground.stages.ppo.service import arena_round

    _register(world, "ppo-running", "running", [])
    _register(world, "ppo-failed-early", "failed", [])
    _register(world, "ppo-no-adapter", "succeeded", [])
    cases = {"": "Pick a PPO run", "nope": "No PPO run 'nope'", "ppo-running": "is running",
             "ppo-failed-early": "is failed", "ppo-no-adapter": "has no adapter yet"}
    for run_id, want in cases.items():
        msg = arena_round(world.ws, run_id)
        assert isinstance(msg, str) and want in msg and "\n" not in msg, (run_id, msg)


def test_stopped_run_with_an_adapter_and_rm_reward_sets_the_judge(world) -> None:  # noqa: ANN001
    from playground.stages.ppo.service import arena_round
    from playground.stages.preferences.arena import adapter_choices

    _register(world, "ppo-stopped", "stopped", ["reward=rm:reward-xyz"], with_adapter_from="ppo-builtin")
    setup = arena_round(world.ws, "ppo-stopped")
    assert not isinstance(setup, str), setup
    assert setup.sources[0].adapter == "ppo-stopped" and setup.judge == "reward-xyz"
    # a stopped run that kept its adapter is a usable source in every list (listed once, with or without the round)
    assert [v for _, v in adapter_choices(world.ws)].count("ppo-stopped") == 1
    assert [v for _, v in adapter_choices(world.ws, setup.adapter_run)].count("ppo-stopped") == 1
    _register(world, "ppo-stopped-early", "stopped", [])  # stopped before any update: no adapter, not offered
    assert "ppo-stopped-early" not in [v for _, v in adapter_choices(world.ws)]


def test_arena_generates_from_both_sources_and_the_policy_differs_from_the_reference(world) -> None:  # noqa: ANN001
    from playground.core.generation import Source, generate_pair, load_model
    from playground.stages.ppo.service import arena_round
    from playground.stages.preferences.arena import dataset_prompt

    setup = arena_round(world.ws, "ppo-builtin")
    assert not isinstance(setup, str)
    policy, _ = load_model(setup.sources[0].model, setup.sources[0].adapter)
    reference, _ = load_model(setup.sources[1].model, setup.sources[1].adapter)
    diffs = [(a - b).abs().max().item() for a, b in zip(policy.parameters(), reference.parameters(), strict=True)]
    assert max(diffs) > 0  # one PPO update moved the merged LoRA weights away from the base
    sources = [Source(model=s.model, adapter=s.adapter, temperature=s.temperature, top_p=s.top_p,
                      max_new_tokens=s.max_new_tokens) for s in setup.sources]
    out = generate_pair(dataset_prompt(world.ws, setup.dataset, 0, False)[0], sources, 0, lambda m, a: load_model(m, a))
    assert len(out.texts) == 2 and all(n <= 4 for n in out.n_tokens)


def test_button_handler_fills_the_arena_and_switches_tab(world) -> None:  # noqa: ANN001
    import gradio as gr

    from playground.ui.app import build_app
    from playground.ui.tabs import ppo

    build_app(world)
    assert world.arena is not None and world.tabs is not None
    outputs = ppo.on_arena_round(world, "ppo-dataset")  # the button's handler: {component: value}
    targets = world.arena
    assert set(outputs) == {world.tabs, *targets.outputs}
    tabs, values = outputs[world.tabs], {id(c): outputs[c] for c in targets.outputs}
    assert isinstance(tabs, gr.Tabs) and tabs.selected == "preferences"
    (m1, ad1, t1, tp1, x1), (m2, ad2, *_rest) = targets.sides
    assert values[id(m1)] == "tiny" and values[id(m2)] == "tiny"
    assert values[id(ad1)]["value"] == "ppo-dataset" and values[id(ad2)]["value"] == ""
    assert ("ppo-dataset" in [v for _, v in values[id(ad1)]["choices"]])
    assert (values[id(t1)], values[id(tp1)], values[id(x1)]) == (0.7, 1.0, 4)
    assert values[id(targets.pool)] == "ppo-dataset"
    assert values[id(targets.dataset)]["value"] == "my-prompts" and values[id(targets.cursor)] == 0
    # an unfinished run: a warning, and every output left as it is
    assert ppo.on_arena_round(world, "nope") == {world.tabs: gr.skip()}  # Gradio leaves the rest as it is


def test_round_clears_the_pair_on_screen_and_a_stale_vote_is_refused(world, monkeypatch) -> None:  # noqa: ANN001
    """Issue 14 item 4: after "Arena round" the previous pair (another pool, other sources) is gone from the
    screen, and a vote key pressed on it (a page that still holds it) stores nothing."""
    import gradio as gr

    from playground.stages.preferences.arena import PromptMode
    from playground.ui.app import build_app
    from playground.ui.tabs import ppo

    monkeypatch.setenv("PLAYGROUND_MIN_VOTE_S", "0")  # vote at once: the refusal below must be the pool's
    demo = build_app(world)
    api = {f.api_name: f for f in demo.fns.values() if f.api_name}
    targets = world.arena
    values = {targets.mode: PromptMode.TYPED.value, targets.dataset: None, targets.prompt: "Name a bird.",
              targets.cursor: 0, targets.annotator: "ana", targets.pool: "default", targets.seed: 0}
    for side in targets.sides:
        values.update(zip(side, ["tiny", "", 0.7, 0.9, 4], strict=True))
    gen, vote = api["arena_generate"], api["arena_vote"]  # as wired: each returns {component: value}
    served_c = gen.outputs[4]  # the pair on screen (a gr.State)
    stale = [s[served_c] for s in gen.fn(values) if s.get(served_c)][-1]
    assert stale["pool"] == "default" and not stale["voted"]

    outputs = ppo.on_arena_round(world, "ppo-dataset")
    filled = {id(c): outputs[c] for c in targets.outputs}
    screen = {getattr(c, "elem_id", None): filled[id(c)] for c, _ in targets.clears}
    assert screen["arena-a"] == "" and screen["arena-b"] == ""  # both answers gone from the screen
    states = [filled[id(c)] for c, _ in targets.clears if isinstance(c, gr.State)]
    assert states and all(v is None for v in states)  # the pair in the session is dropped too
    assert filled[id(targets.pool)] == "ppo-dataset"

    n_before = len(world.ws.pairs())
    form = {"annotator_v": "ana", "reason_v": "", "rating_a": None, "rating_b": None, "pool_v": "ppo-dataset",
            "judge_v": "off"}
    with pytest.warns(UserWarning, match="belongs to pool 'default'"):
        out = vote.fn("a", stale, **form)
    reveal_c, advance_c = vote.outputs[0], vote.outputs[-1]
    assert out[advance_c] is False and "Last vote" not in str(out.get(reveal_c))  # refused: nothing revealed, no next pair
    assert len(world.ws.pairs()) == n_before and not stale["voted"]
    # the cleared session holds no pair: pressing 1 now is refused as well
    with pytest.warns(UserWarning, match="no pair to vote on"):
        vote.fn("a", None, **form)
    assert len(world.ws.pairs()) == n_before
