"""The model registry: tiny builds, unknown ids give one sentence, the bundled model answers offline."""

from __future__ import annotations

import pytest

from playground.core import models


def test_resolve_kinds(tmp_path) -> None:  # noqa: ANN001
    assert models.resolve("bundled").kind == "bundled"
    assert models.resolve("").kind == "bundled"
    assert models.resolve("tiny").kind == "tiny"
    assert models.resolve("HuggingFaceTB/SmolLM2-360M-Instruct").kind == "hub"
    with pytest.raises(models.ModelError, match="does not exist"):
        models.resolve("./nowhere/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(models.ModelError, match="no config.json"):
        models.resolve(str(tmp_path / "empty"))
    with pytest.raises(models.ModelError, match="neither a local path nor a hub id"):
        models.resolve("a/b/c d")


def test_unknown_hub_id_offline_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelError) as e:
        models.load_tokenizer(models.resolve("nobody/no-such-model-xyz"))
    assert "not reachable" in str(e.value) and "\n" not in str(e.value)


def test_tiny_model_is_small_and_deterministic() -> None:
    import torch

    spec = models.resolve("tiny")
    tok = models.load_tokenizer(spec)
    m1 = models.load_causal_lm(spec, "cpu")
    m2 = models.load_causal_lm(spec, "cpu")
    assert sum(p.numel() for p in m1.parameters()) < 5_000_000
    ids = tok("hello", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(m1(input_ids=ids).logits, m2(input_ids=ids).logits)
    assert tok.chat_template and tok.pad_token


@pytest.mark.slow
def test_bundled_model_answers_offline() -> None:
    from playground.stages.sft import service as sft_tools

    assert models.pick_device("auto")[0] in ("cpu", "cuda")
    model, tok = sft_tools.load_policy("bundled", device="cpu")
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    reply = sft_tools.chat(model, tok, [{"role": "user", "content": "What is the capital of France?"}], 16)
    assert "Paris" in reply
