"""Judges: what scores an answer. Every automatic judge goes through the online stages' reward builder
(`playground.stages.reward.functions.build_reward`, which PPO, GRPO and RLOO use), so a judge scores exactly as
the same reward would in training.

    rm:<reward run id>          a trained reward model
    rule:vocab_half             rule rewards: vocab_half, length (rule:length or rule:length:20 for the target),
    rule:length:20              keyword (rule:keyword:sea,moon,-ugh)
    rule:keyword:sea,moon,-ugh
    expr:<expression>           a sandboxed expression over text, prompt, n_tokens, ... (playground/core/expr.py)

Humans are the fourth judge: stages/evaluate/human.py sends pairs to the arena and reads the votes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from playground.core.errors import ConfigError

ScoreFn = Callable[[list[Any], list[str], list[list[int]]], list[float]]
RULE_JUDGES = ("rule:vocab_half", "rule:length", "rule:keyword:", "expr:")  # what the pickers offer to start from
DEFAULT_LENGTH = 32


@dataclass
class Judge:
    spec: str  # as the user wrote it (the report's and the leaderboard's key)
    score: ScoreFn


def reward_spec(spec: str) -> tuple[str, Any]:
    """A judge spec -> (build_reward spec, the config object it reads parameters from); ConfigError if malformed."""
    spec = (spec or "").strip()
    kind, _, rest = spec.partition(":")
    if kind == "expr":
        if not rest.strip():
            raise ConfigError("judge 'expr:' needs an expression, e.g. expr:-abs(n_tokens - 20) / 20")
        return "rule:expr", SimpleNamespace(reward_expression=rest.strip())
    if kind == "rule":
        name, _, arg = rest.partition(":")
        name = name.strip()
        if name == "length":
            try:
                target = int(arg) if arg.strip() else DEFAULT_LENGTH
            except ValueError:
                raise ConfigError(f"judge '{spec}': the length target must be a whole number") from None
            return "rule:length", SimpleNamespace(reward_target_length=target)
        if name == "keyword":
            return "rule:keyword", SimpleNamespace(reward_keywords=arg)
        if name == "expr":
            return reward_spec(f"expr:{arg}")
        return f"rule:{name}", SimpleNamespace()
    if kind == "rm":
        return f"rm:{rest.strip()}", SimpleNamespace()
    raise ConfigError(f"judge '{spec}' is not known: use rm:RUN, rule:NAME or expr:EXPRESSION")


def check_judge(spec: str) -> None:
    """Checks before any model loads: the spec's shape, a reward run that exists (DataError), a rule or expression
    that builds (rules are cheap to build; a reward model is loaded only when judging)."""
    target, cfg = reward_spec(spec)
    if target.startswith("rm:"):
        from playground.stages.reward.service import reward_run_dir

        reward_run_dir(target[3:])  # DataError (one line) when missing or unfinished
        return
    from playground.stages.reward.functions import build_reward

    try:
        build_reward(target, cfg)
    except ConfigError as e:
        raise ConfigError(f"judge '{spec.strip()}': {e}") from None


def build_judge(spec: str, device: str = "auto") -> Judge:
    from playground.stages.reward.functions import build_reward

    target, cfg = reward_spec(spec)
    return Judge(spec.strip(), build_reward(target, cfg, device))
