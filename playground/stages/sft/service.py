"""After SFT: load base or base+adapter, chat, eval-set perplexity, merge the adapter, push to the Hub.

    model, tok = load_policy("tiny", run_dir / "adapter")     # adapter=None -> the base model
    reply = chat(model, tok, [{"role": "user", "content": "Hi"}])
    ppl = perplexity(model, tok, eval_rows)                 # rows in prompt/completion form
    merged_dir = merge_adapter(run_dir)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playground.core import hub, models
from playground.core.errors import DataError
from playground.core.runs import adapter_dir, base_model, read_config, run_dir_of
from playground.stages.cards import write_model_card

# (key, loader) -> model: the UI passes its shared cache so a 135M model is loaded once per process
Cache = Callable[[tuple[str, str], Callable[[], Any]], Any]


def _finished(run: str | Path) -> tuple[Path, Path]:
    run_dir = run_dir_of(run)
    adapter = adapter_dir(run_dir)
    if adapter is None:
        raise DataError(f"run '{run_dir.name}' has no adapter yet: pick a finished SFT run")
    return run_dir, adapter


def base_and_tuned(run: str | Path, cache: Cache) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """((model, tok) of the base, (model, tok) of base + the run's adapter), loaded once through `cache`."""
    run_dir, adapter = _finished(run)
    base = base_model(run_dir)
    return (cache((base, ""), lambda: load_policy(base)),
            cache((base, str(adapter)), lambda: load_policy(base, adapter)))


def compare_replies(run: str | Path, prompt: str, cache: Cache) -> tuple[str, str]:
    """The base model's reply and the tuned model's reply to one prompt (greedy, same settings)."""
    if not prompt.strip():
        raise DataError("type a prompt")
    (m0, t0), (m1, t1) = base_and_tuned(run, cache)
    msgs = [{"role": "user", "content": prompt}]
    return chat(m0, t0, msgs), chat(m1, t1, msgs)


def perplexity_report(run: str | Path, cache: Cache, progress: Callable[[float, str], None] | None = None) -> str:
    """Eval-split perplexity before -> after the adapter, as one line of markdown."""
    step = progress or (lambda _f, _d: None)
    rows = eval_rows_of(run_dir_of(run))
    step(0.1, "base model")
    (m0, t0), (m1, t1) = base_and_tuned(run, cache)
    before = perplexity(m0, t0, rows)
    step(0.6, "with adapter")
    after = perplexity(m1, t1, rows)
    return (f"Perplexity on {len(rows)} held-out rows: **{before:.2f} → {after:.2f}** "
            f"({'better' if after < before else 'worse'}; perplexity = exp(mean token NLL)).")


def load_policy(model: str, adapter: str | Path | None = None, device: str = "auto") -> tuple[Any, Any]:
    spec = models.resolve(model)
    tok = models.load_tokenizer(spec)
    base = models.load_causal_lm(spec, device)
    if adapter:
        from peft import PeftModel

        base = PeftModel.from_pretrained(base, str(adapter))
    base.eval()
    return base, tok


def chat(model: Any, tok: Any, messages: list[dict[str, str]], max_new_tokens: int = 96,
         temperature: float = 0.0, seed: int = 0) -> str:
    import torch

    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=temperature > 0,
                             temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
                             pad_token_id=tok.pad_token_id)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def perplexity(model: Any, tok: Any, rows: list[dict[str, Any]], max_length: int = 512) -> float:
    """exp(mean NLL over completion tokens): the quantity SFT minimises, measured on held-out rows."""
    import torch

    total_nll, total_tok = 0.0, 0
    for row in rows:
        prompt_ids = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True,
                                             return_dict=True)["input_ids"]
        full_ids = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=True,
                                           return_dict=True)["input_ids"]
        full_ids = full_ids[:max_length]
        if len(full_ids) <= len(prompt_ids):
            continue
        ids = torch.tensor([full_ids], device=model.device)
        labels = ids.clone()
        labels[:, : len(prompt_ids)] = -100
        with torch.no_grad():
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[:, :-1], -1)
        tgt = labels[:, 1:]
        mask = tgt != -100
        nll = -logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask]
        total_nll += float(nll.sum())
        total_tok += int(mask.sum())
    if total_tok == 0:
        raise ValueError("no completion tokens to evaluate")
    return math.exp(total_nll / total_tok)


def eval_rows_of(run_dir: str | Path) -> list[dict[str, Any]]:
    """The eval split the run held out (same seed and fraction as the run)."""
    from playground.stages.data import instruction_rows

    cfg = read_config(run_dir)
    train, ev = instruction_rows(cfg.get("dataset", "builtin:instructions"), float(cfg.get("eval_fraction", 0.1)),
                                 int(cfg.get("seed", 0)))
    return ev or train[: max(1, len(train) // 5)]


def merge_adapter(run_dir: str | Path) -> Path:
    """Fold the LoRA update into the base weights and save a standalone model to run_dir/merged."""
    run_dir, adapter = _finished(run_dir)
    model, tok = load_policy(base_model(run_dir), adapter, device="cpu")
    merged = model.merge_and_unload()
    out = run_dir / "merged"
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "playground.json").write_text(json.dumps({"merged_from": str(adapter)}))
    write_model_card(run_dir, out, "merged")  # README.md: base, method chain, data, hyperparameters (stages/cards)
    return out


def push_run_folder(run: str | Path, what: str, repo_id: str, token: str) -> str:
    """Push a run's `adapter` or `merged` folder as a model repo (core.hub: token required, never stored)."""
    if what not in ("adapter", "merged"):
        raise DataError(f"push what? 'adapter' or 'merged', got {what!r}")
    folder = run_dir_of(run) / what
    if not folder.is_dir():
        raise DataError(f"no {what} folder yet: {'merge first' if what == 'merged' else 'the run has not finished'}")
    write_model_card(run, folder, what)  # the pushed repo's README.md says how the model was made (stages/cards)
    return hub.push_folder(folder, repo_id, token)
