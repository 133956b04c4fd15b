"""After SFT: load base or base+adapter, chat, eval-set perplexity, merge the adapter, push to the Hub.

    model, tok = load_policy("tiny", run_dir / "adapter")     # adapter=None -> the base model
    reply = chat(model, tok, [{"role": "user", "content": "Hi"}])
    ppl = perplexity(model, tok, eval_rows)                 # rows in prompt/completion form
    merged_dir = merge_adapter(run_dir)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from playground.core import models


def run_base_model(run_dir: str | Path) -> str:
    import yaml

    cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    return str(cfg.get("model", "bundled"))


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
    import yaml

    from playground.stages.data import instruction_rows

    cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    train, ev = instruction_rows(cfg.get("dataset", "builtin:instructions"), float(cfg.get("eval_fraction", 0.1)),
                                 int(cfg.get("seed", 0)))
    return ev or train[: max(1, len(train) // 5)]


def merge_adapter(run_dir: str | Path) -> Path:
    """Fold the LoRA update into the base weights and save a standalone model to run_dir/merged."""
    run_dir = Path(run_dir)
    model, tok = load_policy(run_base_model(run_dir), run_dir / "adapter", device="cpu")
    merged = model.merge_and_unload()
    out = run_dir / "merged"
    merged.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "playground.json").write_text(json.dumps({"merged_from": str(run_dir / "adapter")}))
    return out


def push_to_hub(folder: str | Path, repo_id: str, token: str) -> str:
    """Upload a folder; the token is passed in memory only, never written to disk or logs."""
    from huggingface_hub import HfApi

    if not token or not repo_id:
        raise ValueError("give both a repo id and a token to push")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id)
    except Exception as e:  # noqa: BLE001 - offline hub, bad token...: one line for the user
        raise ValueError(f"push to {repo_id} failed: {str(e).splitlines()[0][:200]}") from None
    return f"https://huggingface.co/{repo_id}"
