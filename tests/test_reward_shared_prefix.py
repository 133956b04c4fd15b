"""The reward trainer's shared-prefix rows (stages/reward/shared_prefix.py): the layout is the hand-drawn tree, and
one forward over tree rows gives the same rewards, loss and gradients as TRL's two padded rows per pair, on the
tiny model with a LoRA adapter and activation checkpointing, with sdpa and with eager attention, including the edge cases (an answer that is a prefix
of the other, two identical answers, rows of different lengths)."""

from __future__ import annotations

import pytest
import torch

from playground.stages.reward.shared_prefix import SharedPrefixCollator, common_prefix, tree_rewards


def test_layout_is_the_hand_drawn_tree() -> None:
    batch = SharedPrefixCollator(pad_token_id=0)([
        {"chosen_ids": [7, 8, 3, 4], "rejected_ids": [7, 8, 5]},  # prefix 2: row 7 8 3 4 5
        {"chosen_ids": [7, 9], "rejected_ids": [7, 9, 6]},  # chosen is a prefix of rejected: row 7 9 6
    ])
    assert batch["input_ids"].tolist() == [[7, 8, 3, 4, 5], [7, 9, 6, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 2], [0, 1, 2, 0, 0]]
    assert batch["chosen_last"].tolist() == [3, 1] and batch["rejected_last"].tolist() == [4, 2]
    # the reward is read at the last token that is not the padding id (where the model's own pooling reads it)
    ends = SharedPrefixCollator(pad_token_id=0)([{"chosen_ids": [7, 8, 3, 0], "rejected_ids": [7, 8, 5, 0]}])
    assert ends["chosen_last"].tolist() == [2] and ends["rejected_last"].tolist() == [4]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    m = batch["tree_mask"][0, 0].int().tolist()
    assert m[4] == [1, 1, 0, 0, 1]  # the rejected token sees the prefix and itself, not the chosen branch
    assert m[3] == [1, 1, 1, 1, 0]  # the chosen branch is plain causal
    pad = batch["tree_mask"][1, 0].int().tolist()
    assert pad[3] == [0, 0, 0, 1, 0] and [r[3] for r in pad[:3]] == [0, 0, 0]  # padding sees only itself
    assert common_prefix([1, 2], [1, 2]) == 2 and common_prefix([], [1]) == 0


@pytest.fixture(scope="module", params=["sdpa", "eager"])
def tiny_rm(request: pytest.FixtureRequest) -> tuple:
    from peft import get_peft_model

    from playground.core.models import load_reward_lm, load_tokenizer, lora_config, resolve
    from playground.stages.reward.config import RewardRun

    torch.manual_seed(0)
    spec = resolve("tiny")
    tok = load_tokenizer(spec)
    model = get_peft_model(load_reward_lm(spec, device="cpu", attn_implementation=request.param),
                           lora_config(RewardRun(), "SEQ_CLS"))
    assert model.get_base_model().config._attn_implementation == request.param
    for n, p in model.named_parameters():  # LoRA B starts at zero: move it so the adapter takes part
        if "lora_B" in n:
            p.data.normal_(0, 0.05)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model, tok


def _pairs(tok: object) -> list[dict]:
    def ids(prompt: str, answer: str) -> list[int]:
        chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        return tok.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"]

    long_prompt = "Tell me, in a few words, about the sea and the boats on it and the birds above them. " * 3
    return [
        {"chosen_ids": ids(long_prompt, "Boats float; birds fly."), "rejected_ids": ids(long_prompt, "no.")},
        {"chosen_ids": ids("Hi?", "Hello there, friend."), "rejected_ids": ids("Hi?", "Hello there")},
        {"chosen_ids": ids("Same?", "Yes."), "rejected_ids": ids("Same?", "Yes.")},
        {"chosen_ids": ids("Short", "a"), "rejected_ids": ids("Short", "a much longer answer than the other one")},
    ]


def _two_rows(model: torch.nn.Module, tok: object, pairs: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL's layout: chosen rows then rejected rows, right-padded, scored by the model's own pooling."""
    from trl.trainer.reward_trainer import DataCollatorForPreference

    batch = DataCollatorForPreference(pad_token_id=tok.pad_token_id)(pairs)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    return torch.chunk(out.logits.squeeze(-1), 2)


def test_tree_rows_give_trls_rewards_loss_and_gradients(tiny_rm: tuple) -> None:
    model, tok = tiny_rm
    pairs = _pairs(tok)
    # the chat template ends every turn with the padding id: the reward is read at the last other token, as
    # TRL's pooling reads it; one pair ends on it, to check that
    assert tok.pad_token_id in pairs[0]["chosen_ids"][:-1]
    pairs.append({"chosen_ids": pairs[1]["chosen_ids"][:-1], "rejected_ids": pairs[1]["rejected_ids"][:-1]})
    assert pairs[-1]["chosen_ids"][-1] == tok.pad_token_id
    batch = SharedPrefixCollator(tok.pad_token_id)(pairs)
    from trl.trainer.reward_trainer import DataCollatorForPreference

    trl_batch = DataCollatorForPreference(pad_token_id=tok.pad_token_id)(pairs)
    # the shared prompts are run once: fewer real tokens, and fewer padded positions
    assert batch["attention_mask"].sum() < 0.75 * trl_batch["attention_mask"].sum()
    assert batch["input_ids"].numel() < 0.6 * trl_batch["input_ids"].numel()

    grads = []
    results = []
    for fn in (lambda: _two_rows(model, tok, pairs), lambda: tree_rewards(model, batch)):
        model.zero_grad()
        rc, rr = fn()
        loss = -torch.nn.functional.logsigmoid(rc - rr).mean()
        loss.backward()
        results.append((rc.detach(), rr.detach(), loss.detach()))
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    (c1, r1, l1), (c2, r2, l2) = results
    assert torch.allclose(c1, c2, atol=1e-5) and torch.allclose(r1, r2, atol=1e-5), (c1, c2, r1, r2)
    assert torch.allclose(l1, l2, atol=1e-6)
    assert c2[2] == r2[2]  # identical answers: identical rewards
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 4  # LoRA matrices and the score head
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-5, rtol=1e-4), n
    assert any(g.abs().sum() > 0 for g in grads[1].values())


def test_scoring_pairs_in_tree_rows_matches_scoring_each_answer(tiny_rm: tuple) -> None:
    """eval-rm, the Inspect section and the length-bias check score pairs as tree rows: same numbers as
    score_batch on each answer alone."""
    from playground.stages.reward import service

    model, tok = tiny_rm
    pairs = [{"prompt": "Tell me about the sea. " * 6, "chosen": "It is wide and deep.", "rejected": "no."},
             {"prompt": [{"role": "user", "content": "Hi?"}], "chosen": "Hello!", "rejected": "Hello!"},
             {"prompt": "Why?", "chosen": "Because it is.", "rejected": "Because it is, and more besides."}]
    model.eval()
    try:
        scored = service.score_pairs(model, tok, pairs, batch_size=2)
        prompts = [p["prompt"] for p in pairs]
        alone_c = service.score_batch(model, tok, prompts, [p["chosen"] for p in pairs], batch_size=1)
        alone_r = service.score_batch(model, tok, prompts, [p["rejected"] for p in pairs], batch_size=1)
    finally:
        model.train()
    assert [s["r_chosen"] for s in scored] == pytest.approx(alone_c, abs=1e-5)
    assert [s["r_rejected"] for s in scored] == pytest.approx(alone_r, abs=1e-5)
    assert scored[1]["margin"] == 0 and scored[0]["agree"] == (alone_c[0] > alone_r[0])


def test_speed_fields_reach_the_job(tmp_path: object) -> None:
    """The Speed group's fields are what the reward job runs with (result.json reads them back from the live
    model and optimiser), and shared_prefix: false trains on TRL's own layout."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    run_dir = Path(str(tmp_path)) / "run"
    sets = ["max_steps=2", "eval_fraction=0", "torch_threads=1", "attn_implementation=eager",
            "fused_optimizer=false", "shared_prefix=false"]
    proc = subprocess.run([sys.executable, "-m", "playground", "reward", "--config",
                           str(repo / "presets/reward/tiny-cpu.yaml"), "--run-dir", str(run_dir),
                           *[x for s in sets for x in ("--set", s)]], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "PLAYGROUND_HOME": str(tmp_path)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["speed"] == {"torch_threads": 1, "attn_implementation": "eager", "fused_optimizer": False}
    assert result["shared_prefix"] is False and result["global_step"] == 2
