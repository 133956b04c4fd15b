"""Plain TRL SFT with the settings of a playground SFT config: the reference the GPU check compares tok/s against.

    python scripts/gpu_check/trl_sft.py --config presets/sft/tiny-cpu.yaml --set model=DIR --set device=cuda \
        --set max_steps=30 --out DIR

Only the config file and the built-in rows come from the playground; the model, LoRA, SFTConfig and SFTTrainer are
TRL's and peft's, set as the playground's SFT sets them (bf16 on CUDA, activation checkpointing, fused AdamW,
completion-only loss, no eval). Prints `RESULT {"tokens_per_s": ..., "train_runtime": ..., "steps": ...}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from playground.stages.data import instruction_rows
    from playground.stages.registry import load_config

    cfg = load_config("sft", args.config, args.overrides)
    cuda = cfg.device != "cpu" and torch.cuda.is_available()
    torch.manual_seed(cfg.seed)
    rows, _ = instruction_rows(cfg.dataset, 0.0, cfg.seed)
    tok = AutoTokenizer.from_pretrained(cfg.model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=torch.bfloat16 if cuda else torch.float32,
                                                 attn_implementation=cfg.attn_implementation)
    sft_args = SFTConfig(
        output_dir=args.out, learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler_type,
        max_steps=cfg.max_steps, per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, logging_steps=cfg.logging_steps,
        save_strategy="no", eval_strategy="no", report_to=[], seed=cfg.seed, use_cpu=not cuda, bf16=cuda,
        disable_tqdm=True, dataloader_num_workers=0, include_num_input_tokens_seen="non_padding",
        activation_checkpointing=True, optim="adamw_torch_fused" if cfg.fused_optimizer else "adamw_torch",
        max_length=cfg.max_length, packing=cfg.packing, completion_only_loss=cfg.completion_only_loss,
    )
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules="all-linear", task_type="CAUSAL_LM") if cfg.use_lora else None
    trainer = SFTTrainer(model=model, args=sft_args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=lora)
    out = trainer.train()
    runtime = float(out.metrics["train_runtime"])
    tokens = float(trainer.state.num_input_tokens_seen)
    print("RESULT " + json.dumps({"tokens_per_s": tokens / runtime, "train_runtime": runtime,
                                  "steps": trainer.state.global_step}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
