"""The GRPO stage's config, and `OnlineRun`, the fields GRPO and RLOO share (stages/rloo/config.py adds its own).

Every rule lives in `validate`: group size >= 2, completions per batch divisible by the group size, known rewards,
a well-formed gold judge (stages/evaluate/gold.check_gold, as PPO's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_STEPS, MAX_TOKENS, BaseRun, _f, need
from playground.stages.evaluate.gold import check_gold, gold_every_field, gold_judge_field

ZERO_STD_LIMIT = 0.5  # frac_reward_zero_std above this: most groups carry no learning signal
LEARNED_REWARD = 0.95  # ...and a batch mean reward this high: a 0-1 rule's top, the task looks learned


def zero_signal(frac_zero_std: float | None, reward: float | None) -> str:
    """What a logged step's share of zero-variance groups says: '' (enough signal), 'learned' (most groups agree at
    a mean reward of LEARNED_REWARD or more: the task looks learned) or 'flat' (they agree lower: nothing to learn)."""
    if frac_zero_std is None or frac_zero_std <= ZERO_STD_LIMIT:
        return ""
    return "learned" if reward is not None and reward >= LEARNED_REWARD else "flat"


@dataclass
class OnlineRun(BaseRun):
    """Group-based online RL: per prompt, `num_generations` completions are sampled and scored by the reward
    functions; each completion's advantage is its reward against its group's (no value model).

    Policy / reward: `sft_run`, `reward` (comma-separated specs), `reward_weights`, `reward_*` parameters.
    Data: `prompts`, `eval_fraction`. Generation: `num_generations`, `max_completion_length`, `temperature`.
    Objective: `beta`, `epsilon`, `num_iterations`. Gold judge: `gold_judge`, `gold_every` (steps), scored on prompts
    held out of training. `per_device_train_batch_size` counts completions
    (`per_device_train_batch_size / num_generations` prompts per step).
    """

    # Policy / reward
    sft_run: str = _f("", "Start the policy from this SFT run's adapter (run id), trained further, or '' for the base.")
    reward: str = _f("rule:n_words", "Reward function(s), comma-separated: rule:<name>[:<argument>] (vocab_half, "
                     "length, keyword, expr, n_words, include, json_keys, ends_question) or rm:<reward run id>.")
    reward_weights: str = _f("", "One weight per reward, comma-separated (e.g. '1, 0.5'); '' weighs each 1.")
    reward_target_length: int = _f(32, "rule:length: the completion length (tokens) that scores best.", min=1,
                                   max=MAX_TOKENS)
    reward_keywords: str = _f("", "rule:keyword: comma-separated words rewarded when present; '-word' is penalised.")
    reward_expression: str = _f("", "rule:expr: a Python expression over text, prompt, n_tokens, n_words, n_chars, "
                                "words (sandboxed), e.g. -abs(n_tokens - 20) / 20.")
    # Data
    prompts: str = _f("builtin:n_words", "Prompts: builtin:<task> (n_words, include, json_keys, ends_question), "
                      "builtin:prompts or a workspace dataset name (its prompts).")
    eval_fraction: float = _f(0.0, "Held-out reward before and after training: a builtin:<task> uses its held-out "
                              "twin (builtin:<task>-heldout), a dataset this share of its prompts (0: none).",
                              min=0.0, max_excl=1.0)
    # Generation
    num_generations: int = _f(4, "Group size: completions sampled per prompt (>= 2: the baseline is the group's).",
                              min=1, max=1024)
    max_completion_length: int = _f(32, "New tokens sampled per completion.", min=1, max=MAX_TOKENS)
    temperature: float = _f(1.0, "Sampling temperature (the training log-probs use the same one).", min_excl=0.0,
                            max=10.0)
    # Objective
    beta: float = _f(0.04, "Weight of the KL term to the reference (the base, adapter off). > 0: the live plot's KL "
                     "is this term's own number.", min_excl=0.0, max=100.0)
    epsilon: float = _f(0.2, "Clip range of the probability ratio.", min_excl=0.0, max=10.0)
    num_iterations: int = _f(1, "Optimiser passes over each generated batch (mu; > 1 makes the clip act).", min=1,
                             max=100)
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this (0: off).", min=0.0, max=1e6)
    sample_every: int = _f(1, "Write every completion of a step to samples.jsonl every N steps (0: off).", min=0,
                           max=MAX_STEPS)
    # Gold judge (stages/evaluate/gold.py, the fields PPO has): a reward the policy is NOT trained on
    gold_judge: str = gold_judge_field()
    gold_every: int = gold_every_field()

    def validate(self, where: str = "config") -> None:
        """Bounds and choices from the fields, then the group rules, then the reward specs (nothing loads)."""
        super().validate(where)
        need(self.num_generations >= 2, where, f"num_generations (group size) must be at least 2, got "
             f"{self.num_generations}: the advantage compares a completion with the rest of its group")
        need(self.per_device_train_batch_size % self.num_generations == 0, where,
             f"per_device_train_batch_size ({self.per_device_train_batch_size} completions) must be divisible by "
             f"num_generations ({self.num_generations})")
        from playground.stages.reward.functions import check_specs

        check_specs(self.reward, self, where)
        check_gold(self, where)


@dataclass
class GRPORun(OnlineRun):
    """GRPO (DeepSeekMath): advantage = (r - mean of the group) / std of the group, a clipped ratio objective and a
    per-token KL term beta * KL(pi || pi_ref) in the loss."""

    STAGE: ClassVar[str] = "grpo"

    loss_type: str = _f("grpo", "How token losses are averaged: grpo (per sequence, then the batch), dapo (over all "
                        "tokens of the batch), dr_grpo (by a constant), bnpo.", choices=("grpo", "dapo", "dr_grpo",
                                                                                         "bnpo"))
    scale_rewards: str = _f("group", "Divide advantages by the group's reward std (group), the batch's (batch) or "
                            "not at all (none: Dr. GRPO).", choices=("group", "batch", "none"))
