"""PPO: the tensor helpers against hand-computed numbers, the rule rewards, and training on the tiny model.

    .venv/bin/python -m pytest -q tests/test_ppo.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from playground.core.config import ConfigError
from playground.stages.ppo import core
from playground.stages.registry import load_config
from playground.stages.trainer import DataError

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "presets" / "ppo" / "tiny-cpu.yaml"


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))


@pytest.fixture()
def one_thread():
    """The tiny model's ops are far too small for two threads to pay off; on a busy 2-core box they thrash."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---- pure helpers ---------------------------------------------------------------------------------------
def test_gae_matches_hand_computed_fixture():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 9.0]])
    values = torch.tensor([[0.5, 0.4, 0.3], [1.0, 1.0, 7.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # row 2 ended after two tokens
    # row 1 with gamma=1, lam=0.5:  A2 = 1-0.3 = 0.7;  A1 = (0.3-0.4) + 0.5*0.7 = 0.25;  A0 = (0.4-0.5) + 0.5*0.25
    adv, ret = core.gae(rewards[:1], values[:1], mask[:1], gamma=1.0, lam=0.5)
    assert torch.allclose(adv, torch.tensor([[0.025, 0.25, 0.7]]))
    assert torch.allclose(ret, torch.tensor([[0.525, 0.65, 1.0]]))
    # row 2 with gamma=0.9, lam=1: the masked step (r=9, V=7) must not leak back
    # A1 = 2 + 0.9*0 - 1 = 1;  A0 = (0 + 0.9*1 - 1) + 0.9*1 = 0.8
    adv, ret = core.gae(rewards[1:], values[1:], mask[1:], gamma=0.9, lam=1.0)
    assert torch.allclose(adv, torch.tensor([[0.8, 1.0, 0.0]]))
    assert torch.allclose(ret, torch.tensor([[1.8, 2.0, 0.0]]))


def test_whitening_matches_hand_computed_fixture():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    # mean 2, unbiased variance (1 + 0 + 1) / 2 = 1; the padded 100 is ignored and comes back as 0
    assert torch.allclose(core.masked_whiten(x, mask), torch.tensor([[-1.0, 0.0, 1.0, 0.0]]), atol=1e-6)
    assert torch.allclose(core.masked_whiten(x, mask, shift_mean=False), torch.tensor([[1.0, 2.0, 3.0, 0.0]]),
                          atol=1e-6)
    assert core.masked_mean(x, mask).item() == pytest.approx(2.0)


def test_whitening_with_a_process_total_uses_every_ranks_tokens():
    """Two ranks holding the same tokens (the all-reduce doubles every sum) whiten like one rank holding both."""
    x = torch.tensor([[1.0, 2.0, 4.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    both = core.masked_whiten(torch.cat([x, x]), torch.cat([mask, mask]))[:1]
    assert torch.allclose(core.masked_whiten(x, mask, total=lambda t: 2 * t), both, atol=1e-6)
    assert not torch.allclose(core.masked_whiten(x, mask), both, atol=1e-3)  # Bessel's n-1 sees 6 tokens, not 3


def test_response_mask_keeps_tokens_up_to_first_eos():
    eos = 2
    resp = torch.tensor([[5, 2, 2, 2], [5, 6, 7, 8], [2, 9, 9, 9]])
    expect = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float32)
    mask = core.response_mask(resp, eos)
    assert torch.equal(mask, expect)
    assert core.last_index(mask).tolist() == [1, 3, 0]


def test_score_goes_on_last_real_token_and_kl_on_every_token():
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    kl = torch.tensor([[0.5, 1.0, 0.0]])
    rewards, non_score = core.rewards_with_kl(torch.tensor([3.0]), kl, mask, kl_coef=0.1)
    assert torch.allclose(rewards, torch.tensor([[-0.05, 3.0 - 0.1, 0.0]]))
    assert torch.allclose(non_score, torch.tensor([[-0.05, -0.1, 0.0]]))


def test_clipped_losses_and_kl_estimators():
    mask = torch.ones(1, 2)
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.5, 0.5]]))
    adv = torch.tensor([[1.0, -1.0]])
    # ratio 1.5 with A=+1 is clipped to 1.2 -> -1.2; ratio 0.5 with A=-1 is clipped to 0.8 -> +0.8
    loss, clipfrac, approx_kl = core.policy_loss(new, old, adv, mask, cliprange=0.2)
    assert loss.item() == pytest.approx(-0.2)
    assert clipfrac.item() == pytest.approx(1.0)
    assert approx_kl.item() == pytest.approx(0.25 * (math.log(1.5) ** 2 + math.log(0.5) ** 2))
    # value: V moved 1.0 from V_old=0 towards R=2 with clip 0.2 -> max((1-2)^2, (0.2-2)^2) = 3.24
    vl, vclip = core.value_loss(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[2.0]]),
                                torch.ones(1, 1), 0.2)
    assert vl.item() == pytest.approx(0.5 * 3.24)
    assert vclip.item() == 1.0
    lp, ref = torch.tensor([[-1.0, -3.0]]), torch.tensor([[-2.0, -1.0]])
    assert torch.allclose(core.kl_penalty(lp, ref, "k1"), torch.tensor([[1.0, -2.0]]))
    k3 = core.kl_penalty(lp, ref, "k3")
    assert (k3 >= 0).all() and k3[0, 0].item() == pytest.approx(math.exp(-1) - 1 + 1)
    with pytest.raises(ValueError):
        core.kl_penalty(lp, ref, "k9")


def test_logprobs_and_entropy_from_logits():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = (0.25, 0.75)
    lp = core.logprobs_from_logits(logits, torch.tensor([[1]]))
    assert lp.item() == pytest.approx(math.log(0.75))
    ent = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert core.entropy_from_logits(logits).item() == pytest.approx(ent, rel=1e-5)


def test_adaptive_kl_controller_moves_beta_towards_target():
    ctl = core.AdaptiveKLController(0.1, target=1.0, horizon=100)
    assert ctl.update(current_kl=5.0, n_steps=10) == pytest.approx(0.1 * (1 + 0.2 * 0.1))
    ctl = core.AdaptiveKLController(0.1, target=1.0, horizon=100)
    assert ctl.update(current_kl=0.0, n_steps=10) < 0.1


# ---- rewards --------------------------------------------------------------------------------------------
def test_rule_rewards():
    from playground.stages.ppo.rules import build_reward

    cfg = load_config("ppo", None, ["reward_target_length=4", "reward_keywords=sea, -ugh"])
    half = build_reward("rule:vocab_half", cfg)
    assert half([None, None, None], ["", "", ""], [[2, 4, 5, 7], [2, 4], []]) == [0.5, 1.0, 0.0]
    length = build_reward("rule:length", cfg)
    assert length([None, None], ["", ""], [[1, 2, 3, 4], [1, 2]]) == [1.0, 0.5]
    kw = build_reward("rule:keyword", cfg)
    assert kw([None] * 3, ["The Sea!", "ugh, the sea", "nothing"], [[], [], []]) == [0.5, 0.0, 0.0]


@pytest.mark.parametrize("spec,err", [("rule:nope", ConfigError), ("magic", ConfigError), ("rm:", ConfigError),
                                      ("rule:keyword", ConfigError), ("rm:reward-does-not-exist", DataError)])
def test_bad_reward_spec_is_a_clear_error(spec, err):
    from playground.stages.ppo.rules import build_reward

    cfg = load_config("ppo", None)
    with pytest.raises(err) as info:
        build_reward(spec, cfg)
    msg = str(info.value)
    assert "\n" not in msg and ("reward" in msg)


def test_cli_bad_reward_exits_with_one_line(tmp_path, capsys):
    from playground.cli import main

    rc = main(["ppo", "--config", str(PRESET), "--set", "reward=rule:nope", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err[-1].startswith("error:") and "rule:vocab_half" in err[-1]
    assert json.loads((tmp_path / "r" / "status.json").read_text())["state"] == "failed"


def test_presets_load():
    for p in sorted((REPO / "presets" / "ppo").glob("*.yaml")):
        load_config("ppo", p)


# ---- training on the tiny model -------------------------------------------------------------------------
def _metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "score" in r]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny-cpu run shared by the checks below (training is the slow part)."""
    import os

    home = tmp_path_factory.mktemp("ppo-home")
    old = {k: os.environ.get(k) for k in ("PLAYGROUND_HOME", "PLAYGROUND_CACHE")}
    os.environ["PLAYGROUND_HOME"] = str(home)
    os.environ["PLAYGROUND_CACHE"] = str(REPO / ".cache" / "playground")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from playground.stages.ppo import train as ppo

        run_dir = home / "runs" / "ppo-test"
        run_dir.mkdir(parents=True)
        # a short run is enough for the mechanics (files, resume, reference); learning has its own slow test
        cfg = load_config("ppo", PRESET, ["total_updates=6", "sample_every=3"])
        ppo.run(cfg, run_dir)
        yield run_dir, cfg
    finally:
        torch.set_num_threads(n)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.slow
def test_score_rises_and_kl_stays_bounded(tmp_path, one_thread):
    from playground.stages.ppo import train as ppo

    cfg = load_config("ppo", PRESET, ["sample_every=1000"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    ppo.run(cfg, run_dir)
    rows = _metrics(run_dir)
    assert [r["step"] for r in rows] == list(range(1, cfg.total_updates + 1))
    k = max(3, len(rows) // 4)
    first = sum(r["score"] for r in rows[:k]) / k
    last = sum(r["score"] for r in rows[-k:]) / k
    assert last > first + 0.05, (first, last)
    assert all(math.isfinite(r["kl"]) for r in rows)
    assert rows[-1]["kl"] < 20.0 * cfg.response_length  # bounded: far from a collapsed, runaway policy


def test_metrics_have_every_dashboard_key(trained):
    run_dir, cfg = trained
    rows = _metrics(run_dir)
    assert [r["step"] for r in rows] == list(range(1, cfg.total_updates + 1))
    for key in ("non_score_reward", "rlhf_reward", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
                "vf_clipfrac", "response_length", "tokens_per_s", "kl_coef", "time"):
        assert key in rows[-1], key


def test_run_writes_samples_adapter_and_checkpoint(trained):
    run_dir, cfg = trained
    samples = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    updates = sorted({s["update"] for s in samples})
    assert updates[0] == 0 and updates[-1] == cfg.total_updates
    assert all({"prompt", "response", "score"} <= set(s) for s in samples)
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert (run_dir / "adapter" / "value_head.pt").is_file()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["global_step"] == cfg.total_updates
    from playground.stages.ppo import rollout_copy

    assert result["speed"]["rollout_weights"] == rollout_copy.resolve("auto", "cpu")  # what sampled, resolved
    assert (run_dir / "checkpoints" / f"checkpoint-{cfg.total_updates}" / "optimizer.pt").is_file()


def test_resume_continues_from_saved_step(trained, one_thread):
    from playground.stages.ppo import train as ppo

    run_dir, cfg = trained
    cfg2 = load_config("ppo", PRESET, [f"total_updates={cfg.total_updates + 2}", "resume_from_checkpoint=last"])
    ppo.run(cfg2, run_dir)
    steps = [r["step"] for r in _metrics(run_dir)]
    assert steps == list(range(1, cfg.total_updates + 3))
    assert json.loads((run_dir / "result.json").read_text())["global_step"] == cfg.total_updates + 2


def test_reference_logits_never_change_and_large_beta_stays_near_reference(trained, tmp_path, one_thread):
    from playground.stages.ppo.train import PPOTrainer

    run_dir, cfg = trained
    big = load_config("ppo", PRESET, ["kl_coef=2.0", "total_updates=4", "sample_every=1000"])
    tr = PPOTrainer(big, tmp_path / "run")
    ids, attn = tr._left_pad(tr.prompt_ids[:4])
    resp = tr.generate(ids, attn)
    full, fattn = torch.cat([ids, resp], 1), torch.cat([attn, torch.ones_like(resp)], 1)
    ref_before = tr.reference_logits(full, fattn, ids.shape[1]).clone()
    lora_before = {n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad}
    kls = [tr.update()["kl"] for _ in range(big.total_updates)]
    assert torch.equal(tr.reference_logits(full, fattn, ids.shape[1]), ref_before)
    changed = [n for n, p in tr.model.named_parameters() if p.requires_grad and not torch.equal(p, lora_before[n])]
    assert changed, "the adapter did not train"
    with torch.no_grad():
        policy = tr.forward(full, fattn, ids.shape[1], values=False)[0]
    assert not torch.equal(policy, ref_before)
    free_kl = _metrics(run_dir)[big.total_updates - 1]["kl"]  # same update count, preset beta
    assert kls[-1] < 0.5 * free_kl, (kls, free_kl)


def test_value_adapter_trains_its_own_lora_saves_and_resumes(tmp_path, one_thread):
    """value_model: adapter - the value reads a second LoRA on the same base; both adapters train, generation
    and the saved adapter stay the policy's, and a checkpoint carries the value adapter for resume."""
    from playground.stages.ppo import train as ppo

    cfg = load_config("ppo", PRESET, ["value_model=adapter", "total_updates=2", "rollout_batch_size=16",
                                      "sample_every=1000"])
    tr = ppo.PPOTrainer(cfg, tmp_path / "run")
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad}
    assert any(f".{ppo.VALUE_ADAPTER}." in n for n in before) and any(f".{ppo.POLICY_ADAPTER}." in n for n in before)
    for _ in range(cfg.total_updates):
        m = tr.update()
        assert math.isfinite(m["value_loss"]) and tr.model.active_adapter == ppo.POLICY_ADAPTER
    moved = {n for n, p in tr.model.named_parameters() if p.requires_grad and not torch.equal(p, before[n])}
    assert any(f".{ppo.VALUE_ADAPTER}." in n for n in moved), "the value adapter did not train"
    assert any(f".{ppo.POLICY_ADAPTER}." in n for n in moved), "the policy adapter did not train"
    ids, attn = tr._left_pad(tr.prompt_ids[:2])
    with torch.no_grad():
        own = tr.values(ids, attn, ids.shape[1] - 1)
        shared = tr.value_head(tr._hidden(ids, attn, ids.shape[1] - 1).float()).squeeze(-1)
    assert not torch.allclose(own, shared), "the value head should read the value adapter's features"

    run_dir = tmp_path / "cli"
    run_dir.mkdir()
    ppo.run(cfg, run_dir)
    assert not (run_dir / "adapter" / ppo.VALUE_ADAPTER).exists()  # the exported adapter is the policy alone
    assert (run_dir / "checkpoints" / "checkpoint-2" / ppo.VALUE_ADAPTER / "adapter_config.json").is_file()
    more = load_config("ppo", PRESET, ["value_model=adapter", "total_updates=3", "rollout_batch_size=16",
                                       "sample_every=1000", "resume_from_checkpoint=last"])
    ppo.run(more, run_dir)
    assert [r["step"] for r in _metrics(run_dir)] == [1, 2, 3]
    # a head-only checkpoint cannot resume a value-adapter run: one clear line, not a PEFT or optimiser traceback
    head_dir = tmp_path / "head"
    head_dir.mkdir()
    ppo.run(load_config("ppo", PRESET, ["value_model=head", "total_updates=1", "rollout_batch_size=16",
                                        "sample_every=1000"]), head_dir)
    with pytest.raises(DataError, match="saved with value_model: head"):
        ppo.run(load_config("ppo", PRESET, ["value_model=adapter", "total_updates=2", "rollout_batch_size=16",
                                            "sample_every=1000", "resume_from_checkpoint=last"]), head_dir)


# ---- stop: the update in progress is dropped, the last finished one is kept -------------------------------
STOP_CFG = ["total_updates=5", "rollout_batch_size=16", "per_device_train_batch_size=8", "sample_every=100"]


def test_stop_inside_an_update_keeps_the_last_finished_one(tmp_path, one_thread):
    """Four optimiser steps per update (2 mini-batches x 2 epochs); STOP lands after the 2nd step of update 2:
    that update is dropped, the weights go back to update 1's, and update 1's adapter and checkpoint are saved."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from playground.stages.ppo import train as ppo
    from playground.stages.trainer import STOP

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tr = ppo.PPOTrainer(load_config("ppo", PRESET, STOP_CFG), run_dir)
    real_step = tr.optimizer.step
    seen: dict[str, dict[str, torch.Tensor]] = {}

    def trainable() -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad}

    def step(*a, **k):  # noqa: ANN002, ANN003, ANN202
        out = real_step(*a, **k)
        seen["calls"] = seen.get("calls", 0) + 1
        if seen["calls"] == 4:  # the last optimiser step of update 1
            seen["after_1"] = trainable()
        if seen["calls"] == 6:  # half way through update 2
            seen["mid_2"] = trainable()
            STOP.set()
        return out

    tr.optimizer.step = step
    try:
        tr.train()
    finally:
        STOP.clear()
    assert seen["calls"] == 6 and tr.step == 1
    now = trainable()
    assert all(torch.equal(now[n], seen["after_1"][n]) for n in now), "the weights are not update 1's"
    assert any(not torch.equal(seen["mid_2"][n], seen["after_1"][n]) for n in now)  # update 2 had moved them
    result = json.loads((run_dir / "result.json").read_text())
    assert result["kept"] == "adapter after update 1 (checkpoint-1)" and result["stopped"] is True
    assert result["abandoned"] == "update 2 was stopped during optimisation and dropped"
    saved = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    policy = get_peft_model_state_dict(tr.model, adapter_name=ppo.POLICY_ADAPTER)
    assert saved.keys() == policy.keys() and all(torch.equal(saved[k], policy[k]) for k in saved)
    assert [r["step"] for r in _metrics(run_dir)] == [1]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["checkpoint-1"]

    # resume goes on from update 1 and logs each update once
    ppo.run(load_config("ppo", PRESET, [*STOP_CFG, "total_updates=2", "resume_from_checkpoint=last"]), run_dir)
    assert [r["step"] for r in _metrics(run_dir)] == [1, 2]


def test_stop_before_the_first_update_keeps_nothing_and_says_so(tmp_path, one_thread):
    from playground.stages.ppo import train as ppo
    from playground.stages.trainer import STOP

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tr = ppo.PPOTrainer(load_config("ppo", PRESET, STOP_CFG), run_dir)
    STOP.set()
    try:
        tr.train()
    finally:
        STOP.clear()
    result = json.loads((run_dir / "result.json").read_text())
    assert result["kept"] == "nothing: stopped before the first update finished" and result["adapter"] is None
    assert not (run_dir / "adapter").exists() and not (run_dir / "checkpoints").exists()
    assert not (run_dir / "samples.jsonl").exists()  # the cut-short sample generation is not logged


@pytest.mark.slow
def test_two_processes_stop_together_and_keep_the_same_update(tmp_path):
    """SIGTERM to a 2-process run (its whole process group, as the job runner sends it): both ranks leave the
    update at the same point (no rank left waiting in an all-reduce), rank 0 saves the last finished update."""
    import os
    import re
    import signal
    import subprocess
    import time

    from playground.core.jobs import build_command

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cmd = build_command("ppo", PRESET, run_dir, 2)
    cmd += ["--set", "total_updates=1000", "--set", "rollout_batch_size=16", "--set", "num_processes=2",
            "--set", "per_device_train_batch_size=8", "--set", "sample_every=100", "--set", "device=cpu"]
    env = dict(os.environ, PLAYGROUND_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    with open(tmp_path / "log.txt", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while not ((run_dir / "metrics.jsonl").is_file() and _metrics(run_dir)):
        assert proc.poll() is None and time.time() < deadline, (tmp_path / "log.txt").read_text()[-3000:]
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=300)
    out = (tmp_path / "log.txt").read_text()
    status = json.loads((run_dir / "status.json").read_text())
    last = _metrics(run_dir)[-1]["step"]
    assert status["state"] == "stopped", out[-3000:]
    assert status["kept"] == f"adapter after update {last} (checkpoint-{last})"
    sums = dict(re.findall(r"rank (\d)/2: trainable checksum ([-+]?\d\.\d+e[-+]\d+)", out))
    assert set(sums) == {"0", "1"} and sums["0"] == sums["1"], out[-3000:]


@pytest.mark.parametrize("value_model", ["head", "adapter"])
def test_reusing_the_rollout_pass_trains_the_same(tmp_path, one_thread, monkeypatch, value_model):
    """With the whole rollout in one micro-batch, the first optimiser step reuses the rollout's own policy forward
    (REUSE_ROLLOUT_PASS): the weights after two updates and every logged number are those of the run that does
    the forward again."""
    from playground.stages.ppo import train as ppo

    # 16 rollouts in micro-batches of 8: the first step's rows are half the rollout, drawn by the shuffle
    sets = [f"value_model={value_model}", "total_updates=2", "rollout_batch_size=16",
            "per_device_train_batch_size=8", "sample_every=1000"]
    weights, metrics = [], []
    for reuse in (True, False):
        monkeypatch.setattr(ppo, "REUSE_ROLLOUT_PASS", reuse)
        calls = []
        tr = ppo.PPOTrainer(load_config("ppo", PRESET, sets), tmp_path / f"run-{reuse}")
        forward = tr.forward
        monkeypatch.setattr(tr, "forward", lambda *a, _f=forward, _c=calls, **k: _c.append(1) or _f(*a, **k))
        metrics.append([tr.update() for _ in range(2)])
        weights.append({n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad})
        weights[-1]["value_head"] = tr.value_head.weight.detach().clone()
        # per update: 2 rollout + 2 reference + 2 epochs x 2 micro-batches; the reuse saves one per update
        assert len(calls) == (7 if reuse else 8) * 2, (reuse, len(calls))
    assert weights[0].keys() == weights[1].keys()
    for n in weights[0]:
        assert torch.allclose(weights[0][n], weights[1][n], atol=1e-6, rtol=1e-5), n
    for a, b in zip(metrics[0], metrics[1], strict=True):
        for k in ("score", "kl", "policy_loss", "value_loss", "approx_kl", "clipfrac", "entropy", "grad_norm"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k


# ---- rollout_weights: the sampling copy ----------------------------------------------------------------------
def test_rollout_weights_auto_picks_bf16_only_on_a_cpu_with_native_bf16(monkeypatch):
    from playground.stages.ppo import rollout_copy

    for native in (True, False):
        monkeypatch.setattr(rollout_copy, "cpu_has_bf16", lambda _n=native: _n)
        assert rollout_copy.resolve("auto", "cpu") == ("bf16" if native else "adapter")
        assert rollout_copy.resolve("auto", "cuda") == "adapter"  # a GPU already runs bf16; no second copy
        assert rollout_copy.resolve("merged", "cpu") == "merged"
    with pytest.raises(ConfigError, match="rollout_weights"):
        load_config("ppo", PRESET, ["rollout_weights=fp8"])


@pytest.mark.parametrize("weights", ["merged", "bf16"])
def test_the_sampling_copy_follows_the_adapter_and_leaves_the_reference_alone(tmp_path, one_thread, weights):
    """After updates the copy holds base + the trained LoRA (its logits are the policy's: equal in fp32, within bf16
    rounding in bf16); the training model's frozen base, which is also the reference, is bit-for-bit unchanged."""
    from playground.stages.ppo import train as ppo
    from playground.stages.ppo.train import PPOTrainer

    cfg = load_config("ppo", PRESET, [f"rollout_weights={weights}", "total_updates=2", "rollout_batch_size=16",
                                      "sample_every=1000"])
    tr = PPOTrainer(cfg, tmp_path / "run")
    assert tr.rollout_weights == weights and tr.sampler is not None
    frozen = {n: p.detach().clone() for n, p in tr.model.named_parameters() if not p.requires_grad}
    ids, attn = tr._left_pad(tr.prompt_ids[:4])
    for _ in range(cfg.total_updates):
        tr.update()
    assert all(torch.equal(p, frozen[n]) for n, p in tr.model.named_parameters() if not p.requires_grad)
    assert tr.sampler.version == tr.weights_version - 2  # refreshed at the last rollout, not since its 2 steps
    tr.sampler.refresh(tr.weights_version)
    with torch.no_grad():
        policy = tr.model(input_ids=ids, attention_mask=attn).logits.float()
        copy = tr.sampler.model(input_ids=ids, attention_mask=attn).logits.float()
        with tr.model.disable_adapter():
            base = tr.model(input_ids=ids, attention_mask=attn).logits.float()
    dtype = torch.bfloat16 if weights == "bf16" else torch.float32
    for layer, target in tr.sampler.pairs:  # every folded layer holds W + B A * scale of the trained adapter
        want = layer.get_base_layer().weight + layer.get_delta_weight(ppo.POLICY_ADAPTER)
        assert target.weight.dtype == dtype and torch.equal(target.weight, want.to(dtype))
    gap, moved = (copy - policy).abs().max().item(), (policy - base).abs().max().item()
    assert moved > 1e-3, "the adapter did not train"
    if weights == "merged":
        assert gap < 1e-4, gap
    else:  # bf16 rounding moves the logits, but far less than the training did: the copy samples the policy
        assert gap < (copy - base).abs().max().item() / 2, (gap, moved)


def test_merged_sampling_draws_the_tokens_the_adapter_draws(tmp_path, one_thread):
    """The fp32 copy is the same policy: the same seed samples the same responses as the training model."""
    from playground.stages.ppo.train import PPOTrainer

    out = {}
    for weights in ("adapter", "merged"):
        tr = PPOTrainer(load_config("ppo", PRESET, [f"rollout_weights={weights}", "total_updates=1",
                                                   "rollout_batch_size=16", "sample_every=1000"]), tmp_path / weights)
        tr.update()  # a trained adapter, not the B = 0 start
        ids, attn = tr._left_pad(tr.prompt_ids[:8])
        torch.manual_seed(5)
        out[weights] = tr.generate(ids, attn)
    assert torch.equal(out["adapter"], out["merged"])


def _sft_run_with_adapter(cfg, lora_r: int = 4) -> tuple[str, object]:  # noqa: ANN001
    """A finished SFT run in the workspace whose LoRA really moves the model (B drawn at random, not 0): its id,
    and the raw base it sits on."""
    import dataclasses

    from peft import get_peft_model

    from playground.core import models
    from playground.core.paths import runs_dir
    from playground.core.runs import write_result, write_status

    spec = models.resolve(cfg.model)
    torch.manual_seed(0)
    sft = get_peft_model(models.load_causal_lm(spec, "cpu"), models.lora_config(dataclasses.replace(cfg, lora_r=lora_r)))
    with torch.no_grad():
        for name, p in sft.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    run_id = "sft-20990101-000000-refs"
    run_dir = runs_dir() / run_id
    sft.save_pretrained(str(run_dir / "adapter"))
    write_status(run_dir, state="succeeded")
    write_result(run_dir, {"base_model": cfg.model, "adapter": str(run_dir / "adapter"), "use_lora": True})
    return run_id, models.load_causal_lm(spec, "cpu")


def test_from_an_sft_run_the_reference_is_the_sft_model(tmp_path, one_thread):
    """Issue 29: PPO started from an SFT run anchors its KL to the SFT model (its adapter merged into the frozen
    base), not to the base: KL is 0 at update 1. The sampling copy holds SFT + PPO, and the saved adapter on the raw
    base is the trained policy (the SFT and PPO adapters joined)."""
    from peft import PeftModel

    from playground.stages.ppo.train import PPOTrainer

    cfg0 = load_config("ppo", PRESET, [])
    sft_id, raw_base = _sft_run_with_adapter(cfg0)
    cfg = load_config("ppo", PRESET, [f"sft_run={sft_id}", "rollout_weights=merged", "total_updates=2",
                                      "rollout_batch_size=16", "sample_every=1000"])
    tr = PPOTrainer(cfg, tmp_path / "run")
    ids, attn = tr._left_pad(tr.prompt_ids[:4])
    with torch.no_grad():
        raw = raw_base(input_ids=ids, attention_mask=attn).logits.float()
        with tr.model.disable_adapter():
            ref = tr.model(input_ids=ids, attention_mask=attn).logits.float()
    assert (ref - raw).abs().max().item() > 1e-2, "the reference is the raw base, not the SFT model"
    first = tr.update()
    assert abs(first["kl"]) < 1e-6, first["kl"]  # the base as reference gave KL > 0 here (1.9 nats on SmolLM2)
    tr.update()
    tr.sampler.refresh(tr.weights_version)
    tr.save_final({})
    with torch.no_grad():
        policy = tr.model(input_ids=ids, attention_mask=attn).logits.float()
        copy = tr.sampler.model(input_ids=ids, attention_mask=attn).logits.float()
        saved = PeftModel.from_pretrained(raw_base, str(tmp_path / "run" / "adapter"))(
            input_ids=ids, attention_mask=attn).logits.float()
    assert (policy - ref).abs().max().item() > 1e-4, "the PPO adapter did not train"
    assert (copy - policy).abs().max().item() < 1e-4  # the rollout copy samples SFT + PPO
    assert (saved - policy).abs().max().item() < 1e-4  # adapter/ on the raw base is the policy
    config = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 + cfg.lora_r
    assert sorted(tr.model.peft_config) == ["default", "value"]  # the joined adapters were only for saving
    assert all(p.requires_grad for p in tr._lora_params)


def test_the_arena_round_of_a_run_started_from_sft_compares_with_that_sft_run(tmp_path):
    """Policy vs its reference: for a PPO run started from an SFT run, the second side is that SFT run's adapter."""
    from playground.core.config import to_dict
    from playground.core.paths import runs_dir
    from playground.core.runs import write_status
    from playground.core.workspace import Workspace
    from playground.stages.ppo.service import arena_round

    ws = Workspace()
    for run_id, extra in (("ppo-from-sft", ["sft_run=sft-20990101-000000-refs"]), ("ppo-from-base", [])):
        run_dir = runs_dir() / run_id
        (run_dir / "adapter").mkdir(parents=True)
        ws.register_run(run_id, "ppo", run_dir, to_dict(load_config("ppo", PRESET, extra)))
        write_status(run_dir, state="succeeded")
    policy, reference = arena_round(ws, "ppo-from-sft").sources
    assert (policy.adapter, reference.adapter) == ("ppo-from-sft", "sft-20990101-000000-refs")
    assert reference.model == policy.model
    assert arena_round(ws, "ppo-from-base").sources[1].adapter == ""
