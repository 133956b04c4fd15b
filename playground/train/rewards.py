"""Rewards for PPO: rule rewards (no model) or a trained reward model from a finished reward run.

    fn = build_reward("rule:vocab_half", cfg, tokenizer)        # or rule:length, rule:keyword, rm:<run id>
    scores = fn(prompts, responses, response_ids)              # list[float], one per response

Rules
- vocab_half  share of response tokens whose id is even (a fixed half of the vocabulary). Dense from a random
              start, which makes it the reward the tiny-model tests train on.
- length      1 - |n - target| / target (clipped at 0), n = response tokens, target = reward_target_length.
- keyword     +1/k per wanted word present, -1/k per avoided word ("-word") present, k = number of words;
              words come from reward_keywords, e.g. "sea, moon, -ugh".
- rm:<id>     the scalar head of the reward model in runs/<id>/adapter (a LoRA adapter over its base model,
              or a full sequence-classification model), applied to the chat-formatted prompt + response.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playground.config import ConfigError
from playground.train.common import DataError

RULES = ("vocab_half", "length", "keyword")
RewardFn = Callable[[list[Any], list[str], list[list[int]]], list[float]]


def _bad_spec(spec: str) -> ConfigError:
    return ConfigError(
        f"reward {spec!r} is not known: use rule:vocab_half, rule:length, rule:keyword or rm:<reward run id>"
    )


def parse_keywords(text: str) -> tuple[list[str], list[str]]:
    words = [w.strip().lower() for w in (text or "").split(",") if w.strip()]
    wanted = [w for w in words if not w.startswith("-")]
    avoided = [w[1:].strip() for w in words if w.startswith("-") and w[1:].strip()]
    return wanted, avoided


def vocab_half(prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:  # noqa: ARG001
    return [sum(1 for t in ids if t % 2 == 0) / len(ids) if ids else 0.0 for ids in response_ids]


def make_length(target: int) -> RewardFn:
    target = max(1, int(target))

    def length(prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:  # noqa: ARG001
        return [max(0.0, 1.0 - abs(len(ids) - target) / target) for ids in response_ids]

    return length


def make_keyword(wanted: list[str], avoided: list[str]) -> RewardFn:
    k = max(1, len(wanted) + len(avoided))

    def keyword(prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:  # noqa: ARG001
        out = []
        for text in responses:
            low = text.lower()
            out.append((sum(w in low for w in wanted) - sum(w in low for w in avoided)) / k)
        return out

    return keyword


def reward_run_dir(run_id: str) -> Path:
    """runs/<id> for a run id, or the folder itself when a path is given."""
    from playground.paths import runs_dir

    p = Path(run_id).expanduser()
    if p.is_absolute() or run_id.startswith("."):
        return p
    return runs_dir() / run_id


def _rm_base_model(run_dir: Path, adapter: Path) -> str:
    """The RM's base model, from whichever record the reward stage left (result.json, config.yaml, adapter)."""
    for name, key in (("result.json", "base_model"), ("result.json", "model")):
        try:
            value = json.loads((run_dir / name).read_text()).get(key)
            if value:
                return str(value)
        except (OSError, ValueError):
            pass
    try:
        import yaml

        value = (yaml.safe_load((run_dir / "config.yaml").read_text()) or {}).get("model")
        if value:
            return str(value)
    except (OSError, ValueError):
        pass
    try:
        value = json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if value:
            return str(value)
    except (OSError, ValueError):
        pass
    return "bundled"


def load_reward_model(run_id: str, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) of a finished reward run; DataError with one sentence when it is not usable."""
    from playground import models

    run_dir = reward_run_dir(run_id)
    if not run_dir.is_dir():
        raise DataError(f"reward run '{run_id}' not found (expected {run_dir})")
    adapter = run_dir / "adapter"
    try:
        recorded = json.loads((run_dir / "result.json").read_text()).get("adapter")
        if recorded and Path(recorded).is_dir():
            adapter = Path(recorded)
    except (OSError, ValueError):
        pass
    if not adapter.is_dir() or not any((adapter / f).is_file() for f in ("adapter_config.json", "config.json")):
        raise DataError(f"reward run '{run_id}' has no trained model in {adapter} (did it finish?)")
    dev, dtype = models.pick_device(device)
    if (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        spec = models.resolve(_rm_base_model(run_dir, adapter))
        base = models.load_reward_lm(spec, device)
        model = PeftModel.from_pretrained(base, str(adapter), is_trainable=False)
        tok_src: Any = adapter if (adapter / "tokenizer_config.json").is_file() else None
        tok = models.load_tokenizer(spec) if tok_src is None else models.load_tokenizer(models.resolve(str(adapter)))
    else:
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(adapter), num_labels=1, dtype=dtype).to(dev)
        tok = models.load_tokenizer(models.resolve(str(adapter)))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    return model, tok


def make_rm(run_id: str, device: str = "auto", batch_size: int = 16) -> RewardFn:
    import torch

    model, tok = load_reward_model(run_id, device)
    dev = next(model.parameters()).device

    def rm(prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:  # noqa: ARG001
        texts = []
        for prompt, resp in zip(prompts, responses, strict=True):
            msgs = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
            msgs = [*msgs, {"role": "assistant", "content": resp}]
            if tok.chat_template:
                texts.append(tok.apply_chat_template(msgs, tokenize=False))
            else:
                texts.append("\n".join(m["content"] for m in msgs))
        out: list[float] = []
        tok.padding_side = "right"  # the classifier reads the last non-pad token
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, truncation=True, max_length=1024,
                      add_special_tokens=False)
            with torch.no_grad():
                logits = model(input_ids=enc["input_ids"].to(dev), attention_mask=enc["attention_mask"].to(dev)).logits
            out.extend(float(x) for x in logits[:, 0].float().cpu())
        return out

    return rm


def build_reward(spec: str, cfg: Any = None, device: str = "auto") -> RewardFn:
    """Turn a reward spec into a function (prompts, responses, response_ids) -> scores; ConfigError if unknown."""
    spec = (spec or "").strip()
    kind, _, name = spec.partition(":")
    name = name.strip()
    if kind == "rule":
        if name == "vocab_half":
            return vocab_half
        if name == "length":
            return make_length(getattr(cfg, "reward_target_length", 32))
        if name == "keyword":
            wanted, avoided = parse_keywords(getattr(cfg, "reward_keywords", ""))
            if not wanted and not avoided:
                raise ConfigError("reward rule:keyword needs reward_keywords, e.g. 'sea, moon, -ugh'")
            return make_keyword(wanted, avoided)
        raise _bad_spec(spec)
    if kind == "rm":
        if not name:
            raise ConfigError("reward rm: needs a reward run id, e.g. rm:reward-20250101-120000-ab12")
        return make_rm(name, device)
    raise _bad_spec(spec)
