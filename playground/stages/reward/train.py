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

from playground.core import alloc
from playground.core.config import RewardRun
from playground.core.runs import write_phase, write_result
from playground.stages.trainer import (
    STOP,
    chat_model_setup,
    clean_metrics,
    make_callback,
    resolve_resume,
    seed_everything,
    speed_setup,
    speed_used,
    training_args_common,
    tune_malloc,
)


def run(cfg: RewardRun, run_dir: str | Path) -> None:
    from playground.core import models
    from playground.stages.data import announce_data, fitted_preference_rows

    run_dir = Path(run_dir)
    pinned = tune_malloc()  # peak memory on glibc: see stages/trainer.tune_malloc and core/alloc.py
    seed_everything(cfg.seed)
    speed = speed_setup(cfg)
    spec, device, tok = chat_model_setup(cfg)
    train_rows, eval_rows, info = fitted_preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed, tok,
                                                         cfg.max_length)
    announce_data(run_dir, info)
    # heavy imports only after the data checked out: a bad dataset fails in seconds, not after loading trl
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from playground.stages.reward.shared_prefix import SharedPrefixRewardTrainer, score_head

    write_phase(run_dir, "loading model")
    model = models.load_reward_lm(spec, cfg.device, cfg.trust_remote_code,
                                  attn_implementation=cfg.attn_implementation)
    args = RewardConfig(**{
        **training_args_common(cfg, run_dir, device),
        "max_length": cfg.max_length,  # every pair already fits, so TRL's filter drops nothing
        "center_rewards_coefficient": cfg.center_rewards_coefficient or None,
        "activation_checkpointing": True,  # peak memory: see the module docstring
        "pad_to_multiple_of": None,
        "dataset_num_proc": None,
    })
    write_phase(run_dir, f"tokenising {info['train_pairs'] + info['eval_pairs']:,} pairs")
    # the prompt a pair shares runs once (stages/reward/shared_prefix.py); TRL's two rows per pair otherwise, and
    # with several processes: the tree pass calls the backbone directly, past a DDP / FSDP wrapper's forward
    shared = cfg.shared_prefix and cfg.num_processes == 1 and score_head(model) is not None
    trainer = (SharedPrefixRewardTrainer if shared else RewardTrainer)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=models.lora_config(cfg, "SEQ_CLS") if cfg.use_lora else None,
        callbacks=[make_callback(run_dir, {"train_rows": info["train_pairs"], "eval_rows": info["eval_pairs"],
                                           "fit": info["fit"], "data_warning": info["warning"],
                                           "objective": "-log sigmoid(r_chosen - r_rejected)"})],
    )
    has_eval = trainer.eval_dataset is not None and len(trainer.eval_dataset) > 0
    resume = resolve_resume(cfg, run_dir)
    if has_eval and resume is None:
        # held-out accuracy before any update: the live plot then starts from chance, not from the first eval
        trainer.evaluate()
    write_phase(run_dir, "training")
    trainer.train(resume_from_checkpoint=resume)
    eval_metrics: dict[str, float] = {}
    if has_eval and not STOP.is_set():
        # the callback's on_log already writes these to metrics.jsonl
        eval_metrics = clean_metrics(trainer.evaluate())
    out = run_dir / "adapter"
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    write_result(run_dir, {
        "stage": "reward",
        "speed": speed_used(speed, trainer.model, trainer.optimizer),
        "allocator": alloc.in_use() + (" (mmap threshold pinned)" if pinned else ""),
        "global_step": trainer.state.global_step,
        "base_model": cfg.model,
        "adapter": str(out),
        "use_lora": cfg.use_lora,
        "shared_prefix": shared,
        "max_length": cfg.max_length,
        "dataset": cfg.dataset,
        "train_pairs": len(trainer.train_dataset),
        "eval_pairs": len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0,
        "fit": info["fit"],
        "data_warning": info["warning"],
        "eval_accuracy": eval_metrics.get("eval_accuracy"),
        "eval_loss": eval_metrics.get("eval_loss"),
        "stopped": STOP.is_set(),
    })
