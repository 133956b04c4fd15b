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
adapter lookup, log-ratio margins) live in service.py; the skeleton is stages/trainer.run_trl_stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.stages.dpo.config import DPORun
from playground.stages.dpo.service import drop_ref_adapter, load_policy, sft_adapter
from playground.stages.trainer import run_trl_stage


def run(cfg: DPORun, run_dir: str | Path) -> Any:
    from playground.core import models
    from playground.stages.data import fitted_preference_rows

    adapter_in = sft_adapter(cfg.sft_run) if cfg.sft_run.strip() else None

    def rows(tok: Any) -> tuple[list[dict], list[dict], dict[str, Any]]:
        # fitted here (the answer whole, the prompt's start cut) so DPOTrainer neither cuts answers nor drops pairs
        return fitted_preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed, tok, cfg.max_length)

    def load_model(spec: Any, device: str) -> Any:  # noqa: ARG001 - load_causal_lm picks the device from cfg
        return load_policy(cfg, spec, adapter_in)

    def make_trainer(model: Any, tok: Any, args: dict, train: Any, evals: Any, callbacks: list) -> Any:
        # heavy imports only after the data checked out: a bad dataset fails in seconds, not after loading trl
        from trl import DPOConfig, DPOTrainer

        dpo_args = DPOConfig(**args, max_length=cfg.max_length, beta=cfg.beta, dataset_num_proc=None)
        peft_config = models.lora_config(cfg) if adapter_in is None and cfg.use_lora else None
        return DPOTrainer(model=model, args=dpo_args, train_dataset=train, eval_dataset=evals, processing_class=tok,
                          peft_config=peft_config, callbacks=callbacks)

    def result(trainer: Any, eval_metrics: dict[str, float], info: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
        return {
            "use_lora": cfg.use_lora or adapter_in is not None,
            "sft_run": cfg.sft_run,
            "beta": cfg.beta,
            "max_length": cfg.max_length,
            "eval_reward_accuracy": eval_metrics.get("eval_rewards/accuracies"),
            "eval_reward_margin": eval_metrics.get("eval_rewards/margins"),
        }

    return run_trl_stage(
        cfg, run_dir, stage="dpo", rows=rows, load_model=load_model, make_trainer=make_trainer, result=result,
        save=drop_ref_adapter, callback_extra={"objective": "-log sigmoid(beta * (log-ratio chosen - log-ratio rejected))"})
