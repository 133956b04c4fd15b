"""SFT stage: LoRA fine-tuning with TRL's SFTTrainer, minimising the token NLL of the responses.

    python -m playground sft --config presets/sft/tiny-cpu.yaml

Objective: L = -(1/|C|) * sum_{t in C} log p(y_t | y_<t, x), where C are the completion (assistant)
tokens; prompt tokens are masked out when completion_only_loss is on. The skeleton (seed, rows, stop/resume,
adapter, result.json) is stages/trainer.run_trl_stage; this file holds what is SFT's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.stages.sft.config import SFTRun
from playground.stages.trainer import DataError, run_trl_stage


def run(cfg: SFTRun, run_dir: str | Path) -> Any:
    from playground.core import models
    from playground.stages.data import instruction_rows

    def rows(tok: Any) -> tuple[list[dict], list[dict], dict[str, Any]]:  # noqa: ARG001
        train_rows, eval_rows = instruction_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
        return train_rows, eval_rows, {}

    def load_model(spec: Any, device: str) -> Any:
        quant = {}
        if cfg.load_in_4bit and device != "cuda":  # device 'auto' resolved to the CPU: SFTRun.validate could not tell
            raise DataError("load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes; switch it off on CPU")
        if cfg.load_in_4bit:
            import torch
            from transformers import BitsAndBytesConfig

            quant = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                               bnb_4bit_compute_dtype=torch.bfloat16)}
        return models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                     attn_implementation=cfg.attn_implementation, **quant)

    def make_trainer(model: Any, tok: Any, args: dict, train: Any, evals: Any, callbacks: list) -> Any:
        from trl import SFTConfig, SFTTrainer

        sft_args = SFTConfig(**args, max_length=cfg.max_length, packing=cfg.packing,
                             completion_only_loss=cfg.completion_only_loss, dataset_num_proc=None)
        return SFTTrainer(model=model, args=sft_args, train_dataset=train, eval_dataset=evals, processing_class=tok,
                          peft_config=models.lora_config(cfg) if cfg.use_lora else None, callbacks=callbacks)

    def result(trainer: Any, eval_metrics: dict[str, float], info: dict[str, Any]) -> dict[str, Any]:
        return {"dataset": cfg.dataset, "train_rows": info["train_rows"], "eval_rows": info["eval_rows"],
                "eval_loss": eval_metrics.get("eval_loss"), "max_length": cfg.max_length}

    return run_trl_stage(cfg, run_dir, stage="sft", rows=rows, load_model=load_model, make_trainer=make_trainer,
                         result=result)
