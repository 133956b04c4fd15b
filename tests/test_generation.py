"""Side-by-side generation on the tiny model: the per-request path (one batched generate call, engine=False),
per-row settings, seeds, streaming, adapters; the engine path (the default) gives the same texts."""

from __future__ import annotations

import os

import pytest

from playground.core.generation import Source, generate_batch, generate_pair, load_model, stream_pair
from playground.core.models import ModelError

CACHE = os.environ.get("PLAYGROUND_CACHE") or os.path.join(os.path.dirname(__file__), "..", ".cache", "playground")
PROMPT = "Tell me about owls."


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    monkeypatch.setenv("PLAYGROUND_CACHE", os.path.abspath(CACHE))
    return tmp_path


@pytest.fixture
def counting_loader(env):
    """Loads each (model, adapter) once and counts model.generate calls (a spy on transformers, not on us)."""
    cache: dict = {}
    calls = {"n": 0}

    def get(model: str, adapter: str):
        if (model, adapter) not in cache:
            m, tok = load_model(model, adapter, device="cpu")
            orig = m.generate

            def spy(*a, **k):
                calls["n"] += 1
                return orig(*a, **k)

            m.generate = spy
            cache[(model, adapter)] = (m, tok)
        return cache[(model, adapter)]

    get.calls = calls  # type: ignore[attr-defined]
    return get


def test_one_batched_call_two_completions_deterministic(counting_loader):
    a = Source(model="tiny", temperature=0.8, top_p=0.9, max_new_tokens=12)
    b = Source(model="tiny", temperature=1.3, top_k=50, max_new_tokens=7)
    out = generate_pair(PROMPT, [a, b], seed=3, loader=counting_loader, engine=False)
    assert counting_loader.calls["n"] == 1  # both sides in ONE generate call
    assert out.done and len(out.texts) == 2 and all(out.texts)
    assert out.texts[0] != out.texts[1]
    assert out.n_tokens[0] <= 12 and out.n_tokens[1] <= 7
    assert [s.seed for s in out.sources] == [3, 4]  # the seeds are recorded with the sources
    assert all(t is not None and t > 0 for t in out.ttft_ms)
    again = generate_pair(PROMPT, [a, b], seed=3, loader=counting_loader, engine=False)
    assert again.texts == out.texts
    other = generate_pair(PROMPT, [a, b], seed=4, loader=counting_loader, engine=False)
    assert other.texts != out.texts
    via_engine = generate_pair(PROMPT, [a, b], seed=3, loader=counting_loader)  # the default path
    assert via_engine.texts == out.texts and via_engine.n_tokens == out.n_tokens
    assert [s.seed for s in via_engine.sources] == [3, 4]
    assert counting_loader.calls["n"] == 3  # the engine steps the model itself, no generate call


def test_batched_row_equals_its_own_solo_run_and_greedy_matches_hf(counting_loader):
    model, tok = counting_loader("tiny", "")
    hot = Source(model="tiny", temperature=1.0, max_new_tokens=10)
    greedy = Source(model="tiny", temperature=0.0, max_new_tokens=10)
    pair = generate_batch(model, tok, [PROMPT, PROMPT], [hot, greedy], [11, 12])
    solo = generate_batch(model, tok, [PROMPT], [hot], [11])
    assert pair.texts[0] == solo.texts[0]  # the other row's settings do not leak into this one
    import torch

    enc = tok.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        ref = model.generate(**enc, do_sample=False, max_new_tokens=10, pad_token_id=tok.pad_token_id)
    ref_text = tok.decode(ref[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert pair.texts[1] == ref_text


def test_fixed_lengths_for_benchmarks(counting_loader):
    model, tok = counting_loader("tiny", "")
    s = Source(model="tiny", temperature=1.0, max_new_tokens=16)
    out = generate_batch(model, tok, [PROMPT, PROMPT], [s, s], [0, 1], min_new_tokens=16)
    assert out.n_tokens == [16, 16]


def test_streaming_grows_and_ends_with_final_texts(counting_loader):
    a = Source(model="tiny", temperature=1.0, max_new_tokens=8)
    b = Source(model="tiny", temperature=0.5, max_new_tokens=8)
    steps = list(stream_pair(PROMPT, [a, b], seed=0, loader=counting_loader))
    assert len(steps) > 2 and steps[-1].done and not steps[0].done
    lengths = [len(s.texts[0]) + len(s.texts[1]) for s in steps[:-1]]
    assert lengths == sorted(lengths) and lengths[-1] > 0
    assert steps[-1].texts == generate_pair(PROMPT, [a, b], seed=0, loader=counting_loader, engine=False).texts
    old_steps = list(stream_pair(PROMPT, [a, b], seed=0, loader=counting_loader, engine=False))
    assert len(old_steps) > 2 and old_steps[-1].done and old_steps[-1].texts == steps[-1].texts


def test_base_vs_adapter_runs_two_groups(counting_loader, env):
    """A LoRA adapter folder (as runs/<id>/adapter holds) is loaded, merged and generated beside the base."""
    import torch
    from peft import LoraConfig, get_peft_model

    base, tok = load_model("tiny", "", device="cpu")
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    run_adapter = env / "runs" / "sft-test" / "adapter"
    peft_model.save_pretrained(str(run_adapter))
    a = Source(model="tiny", temperature=0.0, max_new_tokens=10)
    b = Source(model="tiny", adapter="sft-test", temperature=0.0, max_new_tokens=10)  # a run id
    out = generate_pair(PROMPT, [a, b], seed=0, loader=counting_loader, engine=False)
    assert counting_loader.calls["n"] == 2  # different weights: one call per model
    assert out.texts[0] != out.texts[1]  # the adapter changes the greedy answer
    assert generate_pair(PROMPT, [a, b], seed=0, loader=counting_loader).texts == out.texts  # two engines
    with pytest.raises(ModelError):
        generate_pair(PROMPT, [a, Source(model="tiny", adapter="no-such-run")], loader=counting_loader)


def test_skinny_linears_compute_the_same_product(env):
    """The CPU decode fast path (W @ x^T for a few rows) gives F.linear's numbers, and training keeps F.linear."""
    import torch

    from playground.core.generation import skinny_linears
    from playground.core.models import load_causal_lm, resolve

    model = load_causal_lm(resolve("tiny"), "cpu").eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1000, (2, 7), generator=g)
    with torch.inference_mode():
        prefill_before = model(ids).logits  # 14 rows: above the skinny limit
        step_before = model(ids[:, :1]).logits  # 2 rows: the decode-step shape (the skinny path)
    assert skinny_linears(model) > 0
    assert skinny_linears(model) == 0  # patching twice is a no-op
    with torch.inference_mode():
        assert torch.allclose(model(ids[:, :1]).logits, step_before, atol=1e-5, rtol=1e-4)
        assert torch.allclose(model(ids).logits, prefill_before, atol=1e-5, rtol=1e-4)
    # with gradients on, the patched layers fall back to F.linear and still backpropagate
    loss = model(ids[:, :1]).logits.logsumexp(-1).mean()
    loss.backward()
    assert model.get_output_embeddings().weight.grad is not None


def test_the_lm_head_gets_a_contiguous_input_and_the_same_logits(env):
    """generate's batched prefill hands the head a slice (hidden[:, -1:]); contiguous_head_input copies it first
    (the sliced matmul expanded the weight per row). The logits are unchanged and a second call adds no hook."""
    import torch

    from playground.core.models import contiguous_head_input, load_causal_lm, resolve

    model = load_causal_lm(resolve("tiny"), "cpu").eval()
    head = model.get_output_embeddings()
    seen: list[bool] = []
    spy = head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].is_contiguous()))
    ids = torch.randint(0, 1000, (3, 9), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        before = model(ids, logits_to_keep=1).logits
        assert seen == [False]  # the slice that reaches the head without the hook
        contiguous_head_input(model)
        contiguous_head_input(model)
        assert len(head._forward_pre_hooks) == 1
        after = model(ids, logits_to_keep=1).logits
    spy.remove()
    assert seen == [False, True]
    assert torch.allclose(before, after, atol=1e-5, rtol=1e-5)  # mm instead of a bmm: rounding only


def test_sample_row_top_p_shortcut_draws_what_a_full_sort_draws():
    """sample_row looks at the top 256/2048/... tokens before sorting the whole vocabulary; every draw must be the
    one the plain full-sort nucleus sampler makes with the same generator (peaked and flat rows)."""
    import torch

    from playground.core.generation import sample_row

    def full_sort(row, src, gen):
        probs = torch.softmax(row / src.temperature, dim=-1)
        sp, si = torch.sort(probs, descending=True)
        sp = sp.masked_fill((torch.cumsum(sp, dim=-1) - sp) >= src.top_p, 0.0)
        return int(torch.multinomial(torch.zeros_like(probs).scatter(0, si, sp), 1, generator=gen))

    g = torch.Generator().manual_seed(0)
    for i in range(60):
        sharp = [0.3, 2.0, 8.0][i % 3]  # flat rows need the full sort, peaked ones stop at 256
        row = torch.randn(49152, generator=g) * sharp
        src = Source(temperature=[0.7, 1.0, 1.3][i % 3], top_p=[0.5, 0.9, 0.95][i % 3])
        assert sample_row(row, src, torch.Generator().manual_seed(i)) == full_sort(row, src,
                                                                                    torch.Generator().manual_seed(i))
