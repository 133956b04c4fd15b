"""Reward-model stage: a scalar head on the registry model, trained with TRL's RewardTrainer.

    python -m playground reward --config presets/reward/tiny-cpu.yaml [--set dataset=workspace]

Objective (Bradley-Terry): L = -log sigma(r(x, y_chosen) - r(x, y_rejected)), averaged over pairs, plus
an optional centring penalty c * mean((r_chosen + r_rejected)^2) that keeps rewards near zero (PPO likes
rewards on a stable scale). The head is `AutoModelForSequenceClassification(num_labels=1)`: the reward is
the score at the last non-padding token. With LoRA the base is adapted by low-rank updates and the
`score` head is trained in full (it starts random, so a low-rank update of it would be pointless).

Pairs longer than max_length are truncated before the trainer sees them (stages/data.fit_preference_rows:
the answer stays whole, the prompt loses its start), because RewardTrainer itself would drop them. The
counts (kept / truncated / dropped) go to the run header (status.json `notes`), metrics.jsonl and result.json.

Speed: each pair is one row in which the prompt the two answers share is run once (stages/reward/shared_prefix.py;
same rewards and loss as TRL's two rows per pair, about half the tokens on conversations with short answers);
`shared_prefix: false` goes back to TRL's layout.

Memory: activation checkpointing is on (recompute each layer's activations in the backward pass instead of
keeping them all), batches are padded to their longest pair, not to max_length, and glibc's mmap threshold is
kept from fragmenting: the job runs on tcmalloc where it is installed (core/alloc.py), else glibc's mmap threshold is
pinned (stages/trainer.tune_malloc): 3.2 -> 1.2 GB peak on the bundled model. bench/README.md has the numbers.

Writes run_dir/adapter (LoRA adapter + score head, or the full model when use_lora is off, plus the
tokenizer) and run_dir/result.json, which `stages/reward/service.load_reward_model` reads back for
inspection, eval-rm, PPO (`reward: rm:<run id>`) and the arena's "RM says" badge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.core import alloc
from playground.stages.reward.config import RewardRun
from playground.stages.trainer import run_trl_stage, tune_malloc


def run(cfg: RewardRun, run_dir: str | Path) -> Any:
    from playground.core import models
    from playground.stages.data import fitted_preference_rows

    pinned = tune_malloc()  # peak memory on glibc: see stages/trainer.tune_malloc and core/alloc.py
    shared = False

    def rows(tok: Any) -> tuple[list[dict], list[dict], dict[str, Any]]:
        return fitted_preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed, tok, cfg.max_length)

    def load_model(spec: Any, device: str) -> Any:  # noqa: ARG001 - load_reward_lm picks the device from cfg
        return models.load_reward_lm(spec, cfg.device, cfg.trust_remote_code,
                                     attn_implementation=cfg.attn_implementation)

    def make_trainer(model: Any, tok: Any, args: dict, train: Any, evals: Any, callbacks: list) -> Any:
        # heavy imports only after the data checked out: a bad dataset fails in seconds, not after loading trl
        from trl import RewardConfig, RewardTrainer

        from playground.stages.reward.shared_prefix import SharedPrefixRewardTrainer, score_head

        nonlocal shared
        rm_args = RewardConfig(**{
            **args,
            "max_length": cfg.max_length,  # every pair already fits, so TRL's filter drops nothing
            "center_rewards_coefficient": cfg.center_rewards_coefficient or None,
            "activation_checkpointing": True,  # peak memory: see the module docstring
            "pad_to_multiple_of": None,
            "dataset_num_proc": None,
        })
        # the prompt a pair shares runs once (stages/reward/shared_prefix.py); TRL's two rows per pair otherwise, and
        # with several processes: the tree pass calls the backbone directly, past a DDP / FSDP wrapper's forward
        shared = cfg.shared_prefix and cfg.num_processes == 1 and score_head(model) is not None
        return (SharedPrefixRewardTrainer if shared else RewardTrainer)(
            model=model, args=rm_args, train_dataset=train, eval_dataset=evals, processing_class=tok,
            peft_config=models.lora_config(cfg, "SEQ_CLS") if cfg.use_lora else None, callbacks=callbacks)

    def result(trainer: Any, eval_metrics: dict[str, float], info: dict[str, Any]) -> dict[str, Any]:
        return {
            "allocator": alloc.in_use() + (" (mmap threshold pinned)" if pinned else ""),
            "shared_prefix": shared,
            "max_length": cfg.max_length,
            "dataset": cfg.dataset,
            "eval_accuracy": eval_metrics.get("eval_accuracy"),
            "eval_loss": eval_metrics.get("eval_loss"),
        }

    return run_trl_stage(
        cfg, run_dir, stage="reward", rows=rows, load_model=load_model, make_trainer=make_trainer, result=result,
        # held-out accuracy before any update: the live plot then starts from chance, not from the first eval
        eval_first=True,
        callback_extra={"objective": "-log sigmoid(r_chosen - r_rejected)"})
