"""Reward-model scoring service: load a finished reward run, score text, and measure it against humans.

    model, tok = load_reward_model("reward-20250101-120000-ab12")     # a run id or a run dir
    score(model, tok, [{"role": "user", "content": "Hi"}], "Hello! How can I help?")   # -> float
    report = inspect_pairs(model, tok, pairs_from_workspace(Workspace()))
    report["agreement"], report["length_bias"]["warning"], report["most_wrong"]

Used by the reward tab (Inspect), eval-rm (evaluate.py), PPO (`reward: rm:<run id>`) and the arena's "RM says"
badge. The text is formatted exactly as RewardTrainer saw it during training: prompt messages + one assistant
message through the tokenizer's chat template, fitted into the run's max_length the same way (the answer whole,
the prompt's start cut); the reward is the head's score at the last real token.

Length bias: reward models learn whatever separates the votes, and "the longer answer" often does. The
check reports the correlation of reward with response length, how often the RM prefers the longer answer,
and its accuracy on the pairs where the human picked the shorter one; it warns when length explains the
RM's preferences better than content does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from playground.core.chat import Messages, as_messages, prompt_text, response_text
from playground.core.errors import DataError
from playground.core.runs import read_result, run_dir_of

__all__ = ["Messages", "as_messages", "prompt_text", "response_text"]  # re-exported for callers of this service


# -- locating and loading a reward run --------------------------------------------------------------
def reward_run_dir(run_id_or_dir: str | Path) -> Path:
    """The run dir of a finished reward run, or DataError with one line saying what is missing."""
    from playground.core.paths import runs_dir

    raw = str(run_id_or_dir).strip().removeprefix("rm:")
    if not raw:
        raise DataError("no reward run given: pick a finished reward run")
    rd = run_dir_of(raw)
    if not rd.is_dir():
        raise DataError(f"reward run '{raw}' not found under {runs_dir()}")
    if not (rd / "result.json").is_file() or not (rd / "adapter").is_dir():
        raise DataError(f"reward run '{rd.name}' has not finished (no adapter saved yet)")
    return rd


def run_result(run_id_or_dir: str | Path) -> dict[str, Any]:
    return read_result(reward_run_dir(run_id_or_dir))


def load_reward_model(run_id_or_dir: str | Path, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) of a finished reward run, in eval mode on `device` (auto: CUDA when present)."""
    import torch  # noqa: F401 - make sure torch is importable before transformers' lazy modules

    from playground.core import models

    rd = reward_run_dir(run_id_or_dir)
    result = run_result(rd)
    adapter = rd / "adapter"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(adapter))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if (adapter / "adapter_config.json").is_file():
        import warnings

        from peft import PeftModel

        base = models.load_reward_lm(models.resolve(result["base_model"]), device)
        with warnings.catch_warnings():  # peft calls a deprecated transformers property; nothing for the user
            warnings.simplefilter("ignore", FutureWarning)
            model = PeftModel.from_pretrained(base, str(adapter))
    else:  # use_lora off: the full model was saved
        from transformers import AutoModelForSequenceClassification

        dev, dtype = models.pick_device(device)
        model = AutoModelForSequenceClassification.from_pretrained(str(adapter), num_labels=1, dtype=dtype).to(dev)
    model.config.pad_token_id = tok.pad_token_id
    model.eval()
    model.max_length = int(result.get("max_length") or 1024)  # the length it was trained on; longer is cut
    return model, tok


# -- scoring ----------------------------------------------------------------------------------------
def encode(tok: Any, prompt: str | Messages, response: str | Messages, max_length: int | None = None) -> list[int]:
    """Token ids of prompt + one assistant answer through the chat template, fitted into max_length the way the
    trainer fitted its pairs (stages/data.fit_pair: the answer whole, the prompt's start cut)."""
    from playground.stages.data import fit_pair

    msgs = as_messages(prompt)
    answer: Messages = [{"role": "assistant", "content": response_text(response)}]
    if max_length:
        fitted, (fit_answer,), how = fit_pair(tok, msgs, [answer], max_length)
        if not how.startswith("dropped"):
            msgs, answer = fitted, fit_answer
    ids = list(tok.apply_chat_template(msgs + answer, tokenize=True, return_dict=True)["input_ids"])
    if max_length and len(ids) > max_length:  # nothing fits (an empty answer, a tiny max_length): keep the end
        ids = ids[-max_length:]
    return ids


def score_batch(model: Any, tok: Any, prompts: list[str | Messages], responses: list[str | Messages],
                batch_size: int = 16) -> list[float]:
    """Rewards for prompt/response pairs, in order. Deterministic: eval mode, no sampling, no dropout."""
    import torch

    if len(prompts) != len(responses):
        raise ValueError("prompts and responses must have the same length")
    max_length = getattr(model, "max_length", None)
    device = next(model.parameters()).device
    pad = tok.pad_token_id
    out: list[float] = []
    encoded = [encode(tok, p, r, max_length) for p, r in zip(prompts, responses)]
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            chunk = encoded[i:i + batch_size]
            width = max(len(x) for x in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for j, x in enumerate(chunk):  # right padding, as in training
                ids[j, :len(x)] = torch.tensor(x)
                mask[j, :len(x)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            out.extend(float(v) for v in logits[:, 0].float().cpu())
    return out


def score(model: Any, tok: Any, prompt_messages: str | Messages, response_text: str) -> float:
    return score_batch(model, tok, [prompt_messages], [response_text])[0]


# -- stored pairs -----------------------------------------------------------------------------------
def pairs_from_workspace(ws: Any, pool: str | None = None) -> list[dict[str, Any]]:
    """The judged pairs with a winner (a or b) as {"id", "prompt", "chosen", "rejected", "annotator", "pool"}.

    Ties and both-bad votes carry no preference and are left out."""
    out = []
    for p in ws.pairs(pool=pool, judged_only=True):
        if p["choice"] not in ("a", "b"):
            continue
        a, b = p["response_a"], p["response_b"]
        chosen, rejected = (a, b) if p["choice"] == "a" else (b, a)
        out.append({"id": p["id"], "prompt": p["prompt"], "chosen": chosen, "rejected": rejected,
                    "annotator": p.get("annotator") or "(anonymous)", "pool": p.get("pool", "")})
    return out


def _score_tree_rows(model: Any, tok: Any, pairs: list[dict[str, Any]], batch_size: int) -> tuple[list, list]:
    """(r_chosen, r_rejected) with one row per pair, the shared prompt run once (stages/reward/shared_prefix.py):
    the same rewards as score_batch on each answer, to float rounding, for about half the tokens."""
    import torch

    from playground.stages.reward.shared_prefix import SharedPrefixCollator, tree_rewards

    max_length = getattr(model, "max_length", None)
    device = next(model.parameters()).device
    collate = SharedPrefixCollator(tok.pad_token_id)
    rc: list[float] = []
    rr: list[float] = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch_size):
            batch = collate([{"chosen_ids": encode(tok, p["prompt"], p["chosen"], max_length),
                              "rejected_ids": encode(tok, p["prompt"], p["rejected"], max_length)}
                             for p in pairs[i:i + batch_size]])
            c, r = tree_rewards(model, {k: v.to(device) for k, v in batch.items()})
            rc.extend(float(v) for v in c.float().cpu())
            rr.extend(float(v) for v in r.float().cpu())
    return rc, rr


def score_pairs(model: Any, tok: Any, pairs: list[dict[str, Any]], batch_size: int = 16) -> list[dict[str, Any]]:
    """Each pair plus r_chosen, r_rejected, margin (r_chosen - r_rejected) and agree (margin > 0)."""
    if not pairs:
        return []
    from playground.stages.reward.shared_prefix import score_head

    if score_head(model) is not None:
        rc, rr = _score_tree_rows(model, tok, pairs, batch_size)
    else:
        prompts = [p["prompt"] for p in pairs]
        rc = score_batch(model, tok, prompts, [p["chosen"] for p in pairs], batch_size)
        rr = score_batch(model, tok, prompts, [p["rejected"] for p in pairs], batch_size)
    out = []
    for p, c, r in zip(pairs, rc, rr):
        out.append({**p, "r_chosen": c, "r_rejected": r, "margin": c - r, "agree": c > r})
    return out


# -- measures (pure functions of scored pairs) ------------------------------------------------------
def agreement(scored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows {"annotator", "pairs", "agree", "agreement"}: first "all", then each annotator by name."""
    groups: dict[str, list[bool]] = {}
    for s in scored:
        groups.setdefault(str(s.get("annotator") or "(anonymous)"), []).append(bool(s["agree"]))
    rows = [{"annotator": "all", "pairs": len(scored), "agree": sum(bool(s["agree"]) for s in scored)}]
    rows += [{"annotator": a, "pairs": len(v), "agree": sum(v)} for a, v in sorted(groups.items())]
    for r in rows:
        r["agreement"] = r["agree"] / r["pairs"] if r["pairs"] else float("nan")
    return rows


def _pearson(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 3:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


# Thresholds of the length-bias flag. A content-driven RM prefers the longer answer about as often as the
# humans did and stays right when the human picked the shorter one; a length-driven RM does neither.
LONGER_SHARE_FLAG = 0.75  # the RM prefers the longer answer in at least this share of pairs ...
SHORTER_ACC_FLAG = 0.5  # ... and is right on fewer than this share of the chosen-is-shorter pairs
CORR_FLAG = 0.5  # (when no human picked a shorter answer: reward/length correlation at least this)
MIN_SHORTER = 3  # fewer chosen-is-shorter pairs than this say nothing


def length_bias(scored: list[dict[str, Any]]) -> dict[str, Any]:
    """Does the RM mostly reward length? Returns the numbers, `flagged` and a plain-language `warning`."""
    lens: list[float] = []
    rewards: list[float] = []
    longer = differ = human_longer = 0
    shorter_pairs: list[bool] = []
    for s in scored:
        lc, lr = len(response_text(s["chosen"])), len(response_text(s["rejected"]))
        lens += [lc, lr]
        rewards += [s["r_chosen"], s["r_rejected"]]
        if lc == lr:
            continue
        differ += 1
        rm_picks_chosen = s["r_chosen"] > s["r_rejected"]
        longer += int(rm_picks_chosen == (lc > lr))
        human_longer += int(lc > lr)
        if lc < lr:
            shorter_pairs.append(bool(s["agree"]))
    corr = _pearson(lens, rewards)
    rm_longer = longer / differ if differ else float("nan")
    hum_longer = human_longer / differ if differ else float("nan")
    acc_short = sum(shorter_pairs) / len(shorter_pairs) if shorter_pairs else float("nan")
    enough_short = len(shorter_pairs) >= MIN_SHORTER
    flagged = False
    if differ and rm_longer >= LONGER_SHARE_FLAG:
        flagged = acc_short < SHORTER_ACC_FLAG if enough_short else (not math.isnan(corr) and corr >= CORR_FLAG)
    if not scored:
        warning = "No judged pairs to check."
    elif flagged:
        warning = (f"Warning: this reward model mostly rewards length. It prefers the longer answer in "
                   f"{rm_longer:.0%} of pairs (reward/length correlation {corr:+.2f})")
        if enough_short:
            warning += (f" and agrees with the humans on only {acc_short:.0%} of the {len(shorter_pairs)} pairs "
                        "where they picked the shorter answer")
        else:
            warning += (f"; the humans picked the longer answer in {hum_longer:.0%} of pairs, so the votes "
                        "themselves teach it that longer is better")
        warning += ". PPO against it will likely learn to ramble: add pairs where the shorter answer wins."
    else:
        warning = f"No strong length bias: the RM prefers the longer answer in {rm_longer:.0%} of pairs"
        if enough_short:
            warning += f" and agrees with the humans on {acc_short:.0%} of the pairs where they picked the shorter one"
        warning += f" (reward/length correlation {corr:+.2f})."
    return {"pairs": len(scored), "corr_reward_length": corr, "rm_prefers_longer": rm_longer,
            "humans_prefer_longer": hum_longer, "chosen_shorter_pairs": len(shorter_pairs),
            "accuracy_chosen_shorter": acc_short, "flagged": flagged, "warning": warning}


def most_wrong(scored: list[dict[str, Any]], k: int = 10) -> list[dict[str, Any]]:
    """The k pairs where the RM disagrees with the human vote most confidently (most negative margin)."""
    wrong = [s for s in scored if not s["agree"]]
    return sorted(wrong, key=lambda s: s["margin"])[:k]


def inspect_pairs(model: Any, tok: Any, pairs: list[dict[str, Any]], k: int = 10) -> dict[str, Any]:
    """Everything the Inspect section shows, from one scoring pass over the pairs."""
    if not pairs:
        raise DataError("no judged pairs with a winner to compare against; vote in the arena first")
    scored = score_pairs(model, tok, pairs)
    return {"scored": scored, "agreement": agreement(scored), "length_bias": length_bias(scored),
            "most_wrong": most_wrong(scored, k)}
