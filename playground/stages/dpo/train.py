"""DPO stage: learn from the preference pairs directly, without a reward model (TRL's DPOTrainer + LoRA).

    python -m playground dpo --config presets/dpo/tiny-cpu.yaml [--set sft_run=<sft run id>]

Objective: L = -log sigma(beta * [(log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))]).
The bracket is the policy's log-ratio margin; beta * (log pi - log pi_ref) is the "implicit reward" whose
accuracy and margin (`rewards/accuracies`, `rewards/margins`) the live plot shows.

Reference model: with a fresh LoRA it is the same base with the adapter switched off (no second copy in
memory). With `sft_run` the policy starts from that SFT run's adapter and TRL keeps a frozen copy of it
as a second adapter ("ref"), so the reference is the SFT model, as in the DPO paper. Writes
run_dir/adapter (a LoRA adapter for the base model, loadable like an SFT adapter) and result.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from playground.core.config import ConfigError, DPORun
from playground.stages.trainer import (
    STOP,
    DataError,
    chat_model_setup,
    clean_metrics,
    make_callback,
    resolve_resume,
    seed_everything,
    training_args_common,
)


def sft_adapter_dir(sft_run: str) -> Path:
    """runs/<id>/adapter of a finished SFT run (or a direct path to an adapter folder)."""
    from playground.core.paths import runs_dir

    p = Path(sft_run).expanduser()
    cand = p if (p / "adapter_config.json").is_file() else (p / "adapter" if p.is_dir() else runs_dir() / sft_run / "adapter")
    if not (cand / "adapter_config.json").is_file():
        raise DataError(f"sft_run '{sft_run}': no LoRA adapter found (is it a finished SFT run with use_lora on?)")
    return cand


def logprob_margins(model: Any, tok: Any, rows: list[dict[str, Any]]) -> list[float]:
    """Per pair: log pi(chosen | prompt) - log pi(rejected | prompt), summed over the answer tokens.

    DPO pushes this up relative to the reference; comparing it before and after training shows what DPO did.
    """
    import torch

    device = next(model.parameters()).device

    def answer_logp(prompt: list[dict], answer: list[dict]) -> float:
        p_ids = tok.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        f_ids = tok.apply_chat_template(prompt + answer, tokenize=True, return_dict=True)["input_ids"]
        ids = torch.tensor([f_ids], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        logp = torch.log_softmax(logits, -1).gather(-1, ids[0, 1:, None])[:, 0]
        return float(logp[len(p_ids) - 1:].sum())

    was_training = model.training
    model.eval()
    out = [answer_logp(r["prompt"], r["chosen"]) - answer_logp(r["prompt"], r["rejected"]) for r in rows]
    model.train(was_training)
    return out


def run(cfg: DPORun, run_dir: str | Path) -> None:
    from playground.core import models
    from playground.stages.data import preference_rows

    run_dir = Path(run_dir)
    if cfg.beta <= 0:
        raise ConfigError(f"beta must be > 0 (got {cfg.beta}); 0.1 is the usual starting point")
    seed_everything(cfg.seed)
    train_rows, eval_rows = preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
    # heavy imports only after the data checked out: a bad dataset fails in a second, not after loading trl
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    spec, device, tok = chat_model_setup(cfg)
    adapter_in = sft_adapter_dir(cfg.sft_run) if cfg.sft_run.strip() else None
    model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code)
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
        gradient_checkpointing=device == "cuda",  # DPOConfig defaults to on; on CPU it only costs time
        dataset_num_proc=None,
    )
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[make_callback(run_dir, {"train_rows": len(train_rows), "eval_rows": len(eval_rows),
                                           "objective": "-log sigmoid(beta * (log-ratio chosen - log-ratio rejected))"})],
    )
    trainer.train(resume_from_checkpoint=resolve_resume(cfg, run_dir))
    eval_metrics: dict[str, float] = {}
    if eval_rows and not STOP.is_set():
        eval_metrics = clean_metrics(trainer.evaluate())  # the callback writes them to metrics.jsonl
    out = run_dir / "adapter"
    trainer.save_model(str(out))
    if (out / "ref").is_dir():  # the frozen reference copy of the SFT adapter is not part of the result
        shutil.rmtree(out / "ref")
    tok.save_pretrained(str(out))
    if trainer.args.save_strategy == "no":
        trainer._save_checkpoint(trainer.model, trial=None)  # a resumable checkpoint (stop / resume)
    (run_dir / "result.json").write_text(json.dumps({
        "stage": "dpo",
        "global_step": trainer.state.global_step,
        "base_model": cfg.model,
        "adapter": str(out),
        "use_lora": cfg.use_lora or adapter_in is not None,
        "sft_run": cfg.sft_run,
        "beta": cfg.beta,
        "eval_reward_accuracy": eval_metrics.get("eval_rewards/accuracies"),
        "eval_reward_margin": eval_metrics.get("eval_rewards/margins"),
        "stopped": STOP.is_set(),
    }))
