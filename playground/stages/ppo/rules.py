"""Rewards for PPO: the one reward interface of every online stage (stages/reward/functions.py), kept importable
here for PPO, the Evaluate judges and the benches.

    fn = build_reward("rule:vocab_half", cfg)   # or rule:length, rule:keyword, rule:expr, rule:n_words, rm:<run id>
    scores = fn(prompts, responses, response_ids)              # list[float], one per response

The rules and their arguments are listed in stages/reward/functions.py; PPO, GRPO and RLOO call the same callables,
so one text scores the same under every method.
"""

from __future__ import annotations

from playground.stages.reward.functions import (  # noqa: F401 - PPO's names for the shared reward interface
    RULES,
    build_reward,
    make_keyword,
    make_length,
    make_rm,
    parse_keywords,
    vocab_half,
)
