"""Rewards for PPO: rule rewards (no model) or a trained reward model from a finished reward run.

    fn = build_reward("rule:vocab_half", cfg)   # or rule:length, rule:keyword, rule:expr, rm:<run id>
    scores = fn(prompts, responses, response_ids)              # list[float], one per response

Rules
- vocab_half  share of response tokens whose id is even (a fixed half of the vocabulary). Dense from a random
              start, which makes it the reward the tiny-model tests train on.
- length      1 - |n - target| / target (clipped at 0), n = response tokens, target = reward_target_length.
- keyword     +1/k per wanted word present, -1/k per avoided word ("-word") present, k = number of words;
              words come from reward_keywords, e.g. "sea, moon, -ugh".
- expr        a Python expression in reward_expression over the response, checked against a whitelist and
              run in a sandbox (playground/core/expr.py), e.g.
              -abs(n_tokens - 20) / 20 + 0.5 * ("please" in text.lower()). Variables: text, prompt, n_tokens,
              n_words, n_chars, words. A bad expression is a ConfigError before any model loads; a response
              whose evaluation fails scores 0 (counted, printed to the log); a batch where all fail is a DataError.
- rm:<id>     the scalar head of the reward model in runs/<id>/adapter (a LoRA adapter over its base model,
              or a full sequence-classification model), applied to the chat-formatted prompt + response.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.core.config import ConfigError
from playground.stages.trainer import DataError

RULES = ("vocab_half", "length", "keyword", "expr")
RewardFn = Callable[[list[Any], list[str], list[list[int]]], list[float]]


def _bad_spec(spec: str) -> ConfigError:
    return ConfigError(
        f"reward {spec!r} is not known: use rule:vocab_half, rule:length, rule:keyword, rule:expr or "
        "rm:<reward run id>"
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


def make_rm(run_id: str, device: str = "auto", batch_size: int = 16) -> RewardFn:
    """A trained reward model as PPO's reward. Loading and scoring go through stages/reward/service.py, the same code
    the Reward tab uses, so text is formatted and truncated exactly as in reward training (the start of a
    long text is cut, never the last token the reward is read from)."""
    from playground.stages.reward import service as rm_service

    if not rm_service.reward_run_dir(run_id).is_dir():
        raise DataError(f"reward run '{run_id}' not found (expected {rm_service.reward_run_dir(run_id)})")
    model, tok = rm_service.load_reward_model(run_id, device)
    if hasattr(model, "merge_and_unload"):  # frozen here: the LoRA folded into the weights, one matmul per layer
        max_length = model.max_length
        model = model.merge_and_unload()
        model.max_length = max_length

    def rm(prompts: list[Any], responses: list[str], response_ids: list[list[int]]) -> list[float]:  # noqa: ARG001
        return rm_service.score_batch(model, tok, prompts, responses, batch_size=batch_size)

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
        if name == "expr":
            from playground.core.expr import make_expr_reward

            source = getattr(cfg, "reward_expression", "")
            if not (source or "").strip():
                raise ConfigError("reward rule:expr needs reward_expression, e.g. -abs(n_tokens - 20) / 20")
            return make_expr_reward(source)
        raise _bad_spec(spec)
    if kind == "rm":
        if not name:
            raise ConfigError("reward rm: needs a reward run id, e.g. rm:reward-20250101-120000-ab12")
        return make_rm(name, device)
    raise _bad_spec(spec)
