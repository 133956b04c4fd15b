"""The numbers an evaluation reports: win-rate with a Wilson interval, KL to the base, reference metrics.

    win_rate([0.9, 0.1, 0.5], [0.2, 0.3, 0.5])   # {"wins": 1, "ties": 1, "losses": 1, "n": 3, "win_rate": 0.5, ...}
    sequence_logps(model, tok, prompts, responses, ended)   # log p(answer | prompt), summed over its tokens
    reference_scores(hyps, refs)                  # {"bleu": sacrebleu's corpus BLEU, "rougeL": rouge-score's mean F}

Win-rate: a prompt is a win when the judge scores the policy's answer above the baseline's, a loss when below,
a tie when equal (to 1e-9); **ties count half a win**: win_rate = (wins + ties / 2) / n, and the 95% interval is
the Wilson score interval of that proportion (the same function `eval-rm` uses).

KL to the base: for each answer y the policy gave to x, log pi(y | x) - log pi_base(y | x), summed over y's tokens
(the answer re-tokenised, plus EOS when it ended there); the mean over answers estimates KL(pi || pi_base) when
answers are sampled at temperature 1 and top-p 1, and is a drift measure at other settings.

BLEU and ROUGE-L are the libraries' own numbers (sacrebleu's corpus_bleu, rouge-score's RougeScorer with its
stemmer), not re-implementations; perplexity of the references is stages/sft/service.perplexity.
"""

from __future__ import annotations

from typing import Any

from playground.core.chat import Messages, as_messages
from playground.stages.reward.evaluate import wilson_interval

TIE_EPS = 1e-9


def win_rate(policy: list[float], baseline: list[float]) -> dict[str, Any]:
    """Wins / ties / losses of policy over baseline scores (same prompts, in order), with the Wilson 95% CI."""
    if len(policy) != len(baseline):
        raise ValueError("policy and baseline scores must have the same length")
    wins = sum(1 for p, b in zip(policy, baseline, strict=True) if p - b > TIE_EPS)
    losses = sum(1 for p, b in zip(policy, baseline, strict=True) if b - p > TIE_EPS)
    n = len(policy)
    ties = n - wins - losses
    return counts_row(wins, ties, losses)


def counts_row(wins: int, ties: int, losses: int, both_bad: int = 0) -> dict[str, Any]:
    """win_rate = (wins + (ties + both_bad) / 2) / n with its Wilson 95% interval; NaN when n = 0."""
    n = wins + ties + losses + both_bad
    k = wins + 0.5 * (ties + both_bad)
    lo, hi = wilson_interval(k, n)  # type: ignore[arg-type] - the formula takes a fractional count
    return {"wins": wins, "ties": ties, "losses": losses, "both_bad": both_bad, "n": n,
            "win_rate": k / n if n else float("nan"), "ci": [lo, hi]}


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


# -- log-probabilities of given answers -------------------------------------------------------------------
def answer_ids(tok: Any, responses: list[str], ended: list[bool]) -> list[list[int]]:
    """The answers as token ids (re-tokenised, no special tokens), with EOS appended where generation ended."""
    ids = tok(list(responses), add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    return [list(x) + ([eos] if e and eos is not None else []) for x, e in zip(ids, ended, strict=True)]


def _prompt_ids(tok: Any, prompt: Messages) -> list[int]:
    msgs = as_messages(prompt)
    if getattr(tok, "chat_template", None):  # as generation.py's _encode formats a prompt
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    else:
        text = "\n".join(m["content"] for m in msgs) + "\n"
    return list(tok(text, add_special_tokens=False)["input_ids"])


def sequence_logps(model: Any, tok: Any, prompts: list[Messages], answers: list[list[int]],
                   batch_size: int = 8) -> list[float]:
    """log p(answer | prompt) under `model`, summed over the answer's tokens (0.0 for an empty answer)."""
    import torch

    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    rows = [(_prompt_ids(tok, p), a) for p, a in zip(prompts, answers, strict=True)]
    out: list[float] = []
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        width = max(len(p) + len(a) for p, a in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, (p, a) in enumerate(chunk):  # right padding: positions start at 0 for every row
            ids[j, :len(p) + len(a)] = torch.tensor(p + a)
            mask[j, :len(p) + len(a)] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        for j, (p, a) in enumerate(chunk):
            out.append(float(logp[j, len(p) - 1:len(p) + len(a) - 1].sum()) if a else 0.0)
    return out


# -- reference metrics (SFT-style data with answers) ------------------------------------------------------
def bleu(hyps: list[str], refs: list[str]) -> float:
    """sacrebleu's corpus BLEU (0-100) of the answers against one reference each."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


def rouge_l(hyps: list[str], refs: list[str]) -> float:
    """rouge-score's ROUGE-L F-measure (0-1, with its Porter stemmer), averaged over answers."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return mean([scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)])


def reference_scores(hyps: list[str], refs: list[str]) -> dict[str, float]:
    return {"bleu": bleu(hyps, refs), "rougeL": rouge_l(hyps, refs)}
