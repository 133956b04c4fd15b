"""The token preview's trained/masked split is exactly what TRL's SFTTrainer trains on for the same row."""

from __future__ import annotations

import os

import pytest

CACHE = os.environ.get("PLAYGROUND_CACHE") or os.path.join(os.path.dirname(__file__), "..", ".cache", "playground")

ROWS = [
    {"messages": [{"role": "user", "content": "Translate to French: Good morning, how are you?"},
                  {"role": "assistant", "content": "Bonjour, comment allez-vous ?"}]},
    {"messages": [{"role": "system", "content": "You answer in one short sentence."},
                  {"role": "user", "content": "What is the capital of Japan?"},
                  {"role": "assistant", "content": "Tokyo is the capital of Japan."},
                  {"role": "user", "content": "And of Italy? 你好 👋"},
                  {"role": "assistant", "content": "Rome — 罗马 🇮🇹."}]},
    {"prompt": "Summarise: the cat sat on the mat all afternoon.", "completion": "A cat sat on a mat."},
]


@pytest.fixture(scope="module")
def tok():
    os.environ.setdefault("PLAYGROUND_CACHE", CACHE)
    from playground.core import models

    return models.load_tokenizer(models.resolve("tiny"))


@pytest.fixture(scope="module")
def sft_labels(tok, tmp_path_factory):
    """input_ids / labels of SFTTrainer's processed dataset, built the way playground/stages/sft/train.py builds it."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from playground.core import models
    from playground.core.chat import to_prompt_completion

    model = models.load_causal_lm(models.resolve("tiny"), "cpu")
    if tok.pad_token is None:  # as stages/trainer.chat_model_setup does (TRL 2 drops SFTConfig's pad_token)
        tok.pad_token = tok.eos_token
    out = {}
    for max_length in (None, 40):
        args = SFTConfig(output_dir=str(tmp_path_factory.mktemp("sft")), max_length=max_length,
                         completion_only_loss=True, packing=False, use_cpu=True, bf16=False, report_to=[],
                         dataset_num_proc=None, activation_checkpointing=True)
        rows = [to_prompt_completion(r) for r in ROWS]
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok)
        out[max_length] = [(ex["input_ids"], ex["labels"]) for ex in trainer.train_dataset]
    return out


@pytest.mark.parametrize("i", range(len(ROWS)))
def test_trained_tokens_match_sfttrainer(tok, sft_labels, i):
    from playground.stages.dataset.preview import token_preview

    p = token_preview(ROWS[i], tok)
    ids, labels = sft_labels[None][i]
    assert p.ids == ids
    assert p.trained == [lab != -100 for lab in labels]
    assert p.n_trained == sum(lab != -100 for lab in labels) > 0
    assert 0 < p.n_masked < p.n_tokens
    # the trained part decodes to the answer (plus the end-of-turn marker), the masked part holds the question
    trained_text = "".join(t for t, tr in zip(p.pieces, p.trained, strict=True) if tr)
    answer = ROWS[i].get("completion") or ROWS[i]["messages"][-1]["content"]
    assert answer in trained_text
    assert "<|im_end|>" in trained_text


def test_truncation_matches_sfttrainer(tok, sft_labels):
    from playground.stages.dataset.preview import token_preview

    kept = sft_labels[40]
    # SFTTrainer drops rows that truncation left fully masked; the preview reports them as 0 trained tokens
    previews = [token_preview(r, tok, max_length=40) for r in ROWS]
    survivors = [p for p in previews if p.n_trained > 0]
    assert len(survivors) == len(kept)
    for p, (ids, labels) in zip(survivors, kept, strict=True):
        assert p.ids == ids
        assert p.n_trained == sum(lab != -100 for lab in labels)
    assert any(p.truncated for p in previews)


def test_render_html_marks_tokens(tok):
    from playground.stages.dataset.preview import render_html, token_preview

    p = token_preview(ROWS[1], tok, max_length=30)
    h = render_html(p)
    assert h.count('class="tok tok-train"') == p.n_trained - sum(1 for t, tr in zip(p.pieces, p.trained,
                                                                                    strict=True) if tr and t == "")
    assert 'class="tok tok-mask"' in h and f"<b>{p.n_tokens}</b> tokens" in h
    assert "cut to max length 30" in h
    # every character of the (truncated) text is shown once
    assert "".join(p.pieces) == tok.decode(p.ids)


def test_rows_without_answer_are_refused(tok):
    from playground.stages.dataset.io import FormatError
    from playground.stages.dataset.preview import token_preview

    with pytest.raises(FormatError, match="nothing is trained"):
        token_preview({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}, tok)
