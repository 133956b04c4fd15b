"""SFT stage: LoRA fine-tuning with TRL's SFTTrainer, minimising the token NLL of the responses.

    python -m playground sft --config presets/sft/tiny-cpu.yaml

Objective: L = -(1/|C|) * sum_{t in C} log p(y_t | y_<t, x), where C are the completion (assistant)
tokens; prompt tokens are masked out when completion_only_loss is on.
"""

from __future__ import annotations

import json
from pathlib import Path

from playground.core.config import SFTRun
from playground.core.runs import write_phase
from playground.stages.trainer import (
    STOP,
    DataError,
    chat_model_setup,
    make_callback,
    resolve_resume,
    seed_everything,
    speed_setup,
    speed_used,
    training_args_common,
)


def run(cfg: SFTRun, run_dir: str | Path) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from playground.core import models
    from playground.stages.data import instruction_rows

    run_dir = Path(run_dir)
    seed_everything(cfg.seed)
    speed = speed_setup(cfg)
    write_phase(run_dir, "reading the dataset")
    train_rows, eval_rows = instruction_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
    spec, device, tok = chat_model_setup(cfg)
    if cfg.load_in_4bit and device != "cuda":
        raise DataError("load_in_4bit (QLoRA) needs a CUDA GPU and bitsandbytes; switch it off on CPU")
    quant = {}
    if cfg.load_in_4bit:
        import torch
        from transformers import BitsAndBytesConfig

        quant = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=torch.bfloat16)}
    write_phase(run_dir, "loading model")
    model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                  attn_implementation=cfg.attn_implementation, **quant)
    args = SFTConfig(
        **training_args_common(cfg, run_dir, device),
        max_length=cfg.max_length,
        packing=cfg.packing,
        completion_only_loss=cfg.completion_only_loss,
        dataset_num_proc=None,
    )
    write_phase(run_dir, f"tokenising {len(train_rows) + len(eval_rows):,} rows")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=models.lora_config(cfg) if cfg.use_lora else None,
        callbacks=[make_callback(run_dir, {"train_rows": len(train_rows), "eval_rows": len(eval_rows)})],
    )
    resume = resolve_resume(cfg, run_dir)
    write_phase(run_dir, "training")
    trainer.train(resume_from_checkpoint=resume)
    evaluated = any("eval_loss" in h and h.get("step") == trainer.state.global_step for h in trainer.state.log_history)
    if eval_rows and not evaluated and not STOP.is_set():
        trainer.evaluate()  # the callback writes eval_loss for the final step
    write_phase(run_dir, "saving the adapter")
    out = run_dir / "adapter"
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    (run_dir / "result.json").write_text(json.dumps({
        "global_step": trainer.state.global_step, "base_model": cfg.model, "adapter": str(out),
        "use_lora": cfg.use_lora, "speed": speed_used(speed, trainer.model, trainer.optimizer),
    }))
