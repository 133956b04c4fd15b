"""The PPO stage's config: one dataclass, its fields' help, bounds and every rule of the stage (validate)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from playground.core.config import MAX_STEPS, MAX_TOKENS, BaseRun, _f, need  # noqa: F401
from playground.stages.evaluate.gold import check_gold, gold_every_field, gold_judge_field

ROLLOUT_WEIGHTS = ("auto", "adapter", "merged", "bf16")  # PPORun.rollout_weights (stages/ppo/rollout_copy.py)

@dataclass
class PPORun(BaseRun):
    """PPO with a per-token KL penalty to the reference (the same base with the LoRA adapter switched off).

    Policy / reward: `sft_run`, `reward`, `reward_*`. Data: `prompts`, `max_prompt_length`. Rollout:
    `response_length`, `temperature`, `rollout_batch_size`, `total_updates`. Optimisation: `ppo_epochs`; one
    optimiser step per mini-batch of `per_device_train_batch_size x gradient_accumulation_steps` sequences
    (`mini_batch_size`). Objective: `kl_*`, `gamma`, `lam`, `cliprange*`, `vf_coef`. `save_steps` checkpoints
    every N updates; `lr_scheduler_type` / `warmup_steps` count updates.
    """

    STAGE: ClassVar[str] = "ppo"

    # Policy / reward
    sft_run: str = _f("", "Start the policy from this SFT run's adapter (run id), or '' for the base model.")
    reward: str = _f("rule:vocab_half", "rule:<name> (vocab_half, length, keyword, expr) or rm:<reward run id>.")
    reward_target_length: int = _f(32, "rule:length: the response length (tokens) that scores best.", min=1,
                                   max=MAX_TOKENS)
    reward_keywords: str = _f("", "rule:keyword: comma-separated words rewarded when present; '-word' is penalised.")
    reward_expression: str = _f("", "rule:expr: a Python expression over text, prompt, n_tokens, n_words, n_chars, words "
                                "(sandboxed), e.g. -abs(n_tokens - 20) / 20 + 0.5 * ('please' in text.lower()).")
    # Data
    prompts: str = _f("builtin:prompts", "Prompts: builtin:prompts or a workspace dataset name (its prompts).")
    max_prompt_length: int = _f(64, "Truncate prompts (left) to this many tokens.", min=1, max=MAX_TOKENS)
    # Rollout
    response_length: int = _f(24, "New tokens sampled per response.", min=1, max=4096)
    temperature: float = _f(1.0, "Sampling temperature for rollouts (the training log-probs use the same one).",
                            min_excl=0.0, max=10.0)
    rollout_batch_size: int = _f(16, "Prompts per PPO update (rollout batch), per process when num_processes > 1.",
                                 min=1, max=4096)
    total_updates: int = _f(20, "Number of PPO updates (rollout + optimise).", min=1, max=MAX_STEPS)
    missing_eos_penalty: float = _f(0.0, "Subtract this from the score of responses that never emit EOS (0: off).",
                                     min=0.0, max=1e3)
    # Optimisation
    ppo_epochs: int = _f(2, "Passes over each rollout batch.", min=1, max=100)
    # Objective
    kl_coef: float = _f(0.05, "beta: weight of the per-token KL penalty to the reference.", min=0.0, max=100.0)
    kl_estimator: str = _f("k1", "Per-token KL estimate: k1 (log p - log q) or k3 (lower variance, always >= 0).",
                            choices=("k1", "k3"))
    adaptive_kl: bool = _f(False, "Adapt beta to keep KL near target_kl (Ziegler et al.).")
    target_kl: float = _f(6.0, "Target KL for the adaptive controller.", min_excl=0.0, max=1e4)
    kl_horizon: int = _f(10000, "Adaptive controller horizon in sequences: larger adapts beta more slowly.", min=1,
                         max=10**9)
    gamma: float = _f(1.0, "Discount factor.", min=0.0, max=1.0)
    lam: float = _f(0.95, "GAE lambda.", min=0.0, max=1.0)
    cliprange: float = _f(0.2, "Policy ratio clip epsilon.", min_excl=0.0, max=10.0)
    cliprange_value: float = _f(0.2, "Value clip range.", min_excl=0.0, max=1e3)
    vf_coef: float = _f(0.1, "Weight of the value loss.", min=0.0, max=100.0)
    value_model: str = _f("head", "head: a linear value head on the policy's own features (one backbone pass); "
                                  "adapter: a second LoRA adapter on the same base feeds the head (its own "
                                  "features, one more backbone pass per step).", choices=("head", "adapter"))
    whiten_advantages: bool = _f(True, "Normalise advantages to zero mean, unit variance per batch.")
    rollout_weights: str = _f("auto", "What samples rollouts: adapter (the training model), merged (a copy with the "
                                      "LoRA folded in) or bf16 (that copy in bfloat16: ~1.9x faster on CPU). auto: "
                                      "bf16 on a CPU with native bf16, else adapter. Log-probs and loss: the training model.",
                                choices=ROLLOUT_WEIGHTS)
    max_grad_norm: float = _f(0.0, "Clip the gradient norm to this (0: off, as in TRL's PPO; clipping at 1.0 "
                                   "measurably slowed the reward gain, see bench/README.md).", min=0.0, max=1e6)
    sample_every: int = _f(5, "Write a sample table (prompt, response, score) every N updates (0: off).", min=0,
                           max=MAX_STEPS)
    # Gold judge (stages/evaluate): a reward the policy is NOT trained on, to watch over-optimisation of the proxy
    gold_judge: str = gold_judge_field()
    gold_every: int = gold_every_field()

    def validate(self, where: str = "config") -> None:
        """Every PPO rule (the trainer and rollout_copy no longer re-check): bounds and choices from the fields,
        then the rules that tie fields together, then the reward spec (an expression is parsed, not run)."""
        super().validate(where)
        need(self.use_lora, where, "PPO needs use_lora: true (the reference model is the base with the adapter off)")
        need(self.mini_batch_size >= 1 and self.rollout_batch_size % self.mini_batch_size == 0, where,
             "rollout_batch_size must be a multiple of per_device_train_batch_size x gradient_accumulation_steps")
        need(self.reward.startswith(("rule:", "rm:")), where, f"reward must start with rule: or rm:, got {self.reward!r}")
        check_gold(self, where)
        if self.reward.strip() == "rule:expr":  # refuse a bad expression before a job is queued
            from playground.core.expr import check_expression

            problem = check_expression(self.reward_expression)
            need(not problem, where, problem)

    @property
    def mini_batch_size(self) -> int:
        """Sequences per optimiser step: micro-batch x gradient accumulation."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps
