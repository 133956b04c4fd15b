"""DPO stage: learn from the preference pairs directly, without a reward model (TRL's DPOTrainer + LoRA).

    python -m playground dpo --config presets/dpo/tiny-cpu.yaml [--set sft_run=<sft run id>]

Objective: L = -log sigma(beta * [(log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))]).
The bracket is the policy's log-ratio margin; beta * (log pi - log pi_ref) is the "implicit reward" whose
accuracy and margin (`rewards/accuracies`, `rewards/margins`) the live plot shows.

Reference model: with a fresh LoRA it is the same base with the adapter switched off (no second copy in
memory). With `sft_run` the policy starts from that SFT run's adapter and TRL keeps a frozen copy of it
as a second adapter ("ref"), so the reference is the SFT model, as in the DPO paper. Writes
run_dir/adapter (a LoRA adapter for the base model, loadable like an SFT adapter) and result.json.

Pairs are fitted into max_length first (stages/data.fit_preference_rows), as for the reward model; the counts go
to the run header and result.json. Activation checkpointing is on (TRL's default: less memory). Services (the SFT
adapter lookup, log-ratio margins) live in service.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playground.core.config import ConfigError, DPORun
from playground.core.runs import write_phase, write_result
from playground.stages.dpo.service import sft_adapter
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
)


def run(cfg: DPORun, run_dir: str | Path) -> None:
    from playground.core import models
    from playground.stages.data import announce_data, fitted_preference_rows

    run_dir = Path(run_dir)
    if cfg.beta <= 0:
        raise ConfigError(f"beta must be > 0 (got {cfg.beta}); 0.1 is the usual starting point")
    seed_everything(cfg.seed)
    speed = speed_setup(cfg)
    adapter_in = sft_adapter(cfg.sft_run) if cfg.sft_run.strip() else None
    spec, device, tok = chat_model_setup(cfg)
    # fitted here (the answer whole, the prompt's start cut) so DPOTrainer neither cuts answers nor drops pairs
    train_rows, eval_rows, info = fitted_preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed, tok,
                                                         cfg.max_length)
    announce_data(run_dir, info)
    # heavy imports only after the data checked out: a bad dataset fails in seconds, not after loading trl
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    write_phase(run_dir, "loading model")
    model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                  attn_implementation=cfg.attn_implementation)
    peft_config = None
    if adapter_in is not None:
        from peft import PeftModel

        # trained further; DPOTrainer adds a frozen copy as the "ref" adapter
        model = PeftModel.from_pretrained(model, str(adapter_in), is_trainable=True)
    elif cfg.use_lora:
        peft_config = models.lora_config(cfg)
    args = DPOConfig(
        **training_args_common(cfg, run_dir, device),
        max_length=cfg.max_length,
        beta=cfg.beta,
        dataset_num_proc=None,
    )
    write_phase(run_dir, f"tokenising {info['train_pairs'] + info['eval_pairs']:,} pairs")
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[make_callback(run_dir, {"train_rows": info["train_pairs"], "eval_rows": info["eval_pairs"],
                                           "fit": info["fit"], "data_warning": info["warning"],
                                           "objective": "-log sigmoid(beta * (log-ratio chosen - log-ratio rejected))"})],
    )
    write_phase(run_dir, "training")
    trainer.train(resume_from_checkpoint=resolve_resume(cfg, run_dir))
    eval_metrics: dict[str, float] = {}
    if eval_rows and not STOP.is_set():
        eval_metrics = clean_metrics(trainer.evaluate())  # the callback writes them to metrics.jsonl
    out = run_dir / "adapter"
    trainer.save_model(str(out))
    if (out / "ref").is_dir():  # the frozen reference copy of the SFT adapter is not part of the result
        shutil.rmtree(out / "ref")
    tok.save_pretrained(str(out))
    write_result(run_dir, {
        "stage": "dpo",
        "speed": speed_used(speed, trainer.model, trainer.optimizer),
        "global_step": trainer.state.global_step,
        "base_model": cfg.model,
        "adapter": str(out),
        "use_lora": cfg.use_lora or adapter_in is not None,
        "sft_run": cfg.sft_run,
        "beta": cfg.beta,
        "max_length": cfg.max_length,
        "train_pairs": info["train_pairs"],
        "eval_pairs": info["eval_pairs"],
        "fit": info["fit"],
        "data_warning": info["warning"],
        "eval_reward_accuracy": eval_metrics.get("eval_rewards/accuracies"),
        "eval_reward_margin": eval_metrics.get("eval_rewards/margins"),
        "stopped": STOP.is_set(),
    })
