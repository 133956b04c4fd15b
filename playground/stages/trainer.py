"""What every stage's run() shares: the stop flag, the metrics callback, seeding, run-dir helpers, and
`run_trl_stage`, the one skeleton the TRL-based stages (SFT, reward, DPO, GRPO, RLOO) are written on.

A job is stopped with SIGTERM; the handler only sets STOP, and the training loop (or the
TrainerCallback below) notices it at the next step, saves a checkpoint and returns, so a stopped run
can be resumed. What a stopped run kept is written to result.json ("kept") and status.json.

Resuming ("resume_from_checkpoint: last") drops the metrics and samples logged after the checkpoint it resumes
from, so a step never appears twice in metrics.jsonl; with no checkpoint it says so and starts over.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from playground.core.errors import DataError  # noqa: F401 - raised here, re-exported
from playground.core.runs import (  # noqa: F401 - the checkpoint helpers are re-exported for the trainers
    append_metrics,
    atomic_write,
    checkpoint_step,
    checkpoints_dir,
    last_checkpoint,
    read_jsonl,
    write_phase,
    write_result,
)

STOP = threading.Event()


def install_stop_handler() -> None:
    def _handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        STOP.set()

    signal.signal(signal.SIGTERM, _handler)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def clean_metrics(logs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
            out[k] = float(v)
    return out


def drop_records_after(run_dir: str | Path, step: int) -> int:
    """Remove metrics (by "step") and samples (by "update") logged after `step`: a resumed run logs them again.
    Returns how many records were dropped."""
    dropped = 0
    for name, key in (("metrics.jsonl", "step"), ("samples.jsonl", "update")):
        path = Path(run_dir) / name
        if not path.is_file():
            continue
        records = read_jsonl(path)
        keep = [r for r in records if isinstance(r.get(key), (int, float)) and r[key] <= step]
        if len(keep) != len(records):
            dropped += len(records) - len(keep)
            atomic_write(path, "".join(json.dumps(r, default=float) + "\n" for r in keep))
    return dropped


def resolve_resume(cfg: Any, run_dir: str | Path) -> str | None:
    """The checkpoint to resume from (None: start fresh). With "last" and no checkpoint the run starts over, and
    what an earlier attempt logged is cleared, so metrics.jsonl never holds a step twice."""
    value = (getattr(cfg, "resume_from_checkpoint", "") or "").strip()
    if not value:
        return None
    if value == "last":
        found = last_checkpoint(run_dir)
        if found is None:
            if is_main_process():
                drop_records_after(run_dir, -1)
                print("no checkpoint was saved in this run: starting over from the beginning", flush=True)
            return None
    elif not Path(value).is_dir():
        raise DataError(f"resume_from_checkpoint: {value} is not a checkpoint folder")
    else:
        found = value
    step = checkpoint_step(found)
    if is_main_process() and step is not None and Path(found).resolve().parent == checkpoints_dir(run_dir).resolve():
        drop_records_after(run_dir, step)
    return found


# glibc mallopt parameters (malloc.h) and the values a training job pins them to; see tune_malloc
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 128 * 1024


def tune_malloc() -> bool:
    """Pin glibc's mmap threshold at its starting value (128 KiB) so every large tensor stays an mmap of its own;
    nothing when the job runs on tcmalloc (core/alloc.py: the CLI re-executes training commands with it where it
    is installed, which gives the same memory without this price).

    Left alone, glibc raises the threshold to the size of each large block freed (up to 32 MiB), after which the
    activations of every forward/backward (4-20 MB tensors, thousands per step) come from the heap arenas, whose
    freed space fragments and is never given back: the bundled reward model then peaks at ~3.2 GB RSS for ~0.5 GB
    of weights and a few hundred MB of live activations (bench/README.md, "Reward model"). Pinned, a freed tensor
    goes straight back to the OS. The price: each large tensor is a fresh mmap, faulted in page by page, which
    costs time (bench/README.md); so only the reward trainer, whose memory was the problem, calls it, not SFT.
    A no-op where libc is not glibc.
    Returns whether it took effect."""
    import ctypes
    import ctypes.util

    from playground.core import alloc

    if alloc.in_use() != "glibc":
        return False

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                  MMAP_THRESHOLD_BYTES))


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def speed_setup(cfg: Any) -> dict[str, Any]:
    """Apply the config's Speed fields that act on the process (the thread count) and return the settings the run
    uses, for result.json. attn_implementation goes to the model loader, fused_optimizer to the optimiser."""
    import torch

    if getattr(cfg, "torch_threads", 0) > 0:
        torch.set_num_threads(cfg.torch_threads)
    return {"torch_threads": torch.get_num_threads(), "attn_implementation": cfg.attn_implementation,
            "fused_optimizer": cfg.fused_optimizer}


def speed_used(speed: dict[str, Any], model: Any, optimizer: Any) -> dict[str, Any]:
    """speed_setup's dict with what the job actually ran: the model's attention kernel and the optimiser's fused
    flag (a transformers / accelerate wrapper is looked through)."""
    inner = getattr(optimizer, "optimizer", optimizer)
    config = getattr(getattr(model, "get_base_model", lambda: model)(), "config", None)
    return {**speed, "attn_implementation": getattr(config, "_attn_implementation", speed["attn_implementation"]),
            "fused_optimizer": bool(getattr(inner, "defaults", {}).get("fused"))}


def make_callback(run_dir: str | Path, extra: dict[str, Any] | None = None) -> Any:
    """A transformers TrainerCallback that appends every log event to metrics.jsonl and obeys STOP."""
    from transformers import TrainerCallback

    class PlaygroundCallback(TrainerCallback):
        def __init__(self) -> None:
            self.counting = False
            self.t0 = time.time()
            self.last_time = time.time()
            self.last_tokens = 0.0

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            self.counting = False
            if is_main_process():
                append_metrics(run_dir, state.global_step, event="train_begin", max_steps=state.max_steps,
                               **(extra or {}))

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003
            if not is_main_process() or not logs:
                return
            m = clean_metrics(logs)
            now = time.time()
            tokens = float(getattr(state, "num_input_tokens_seen", 0) or 0)
            if tokens and tokens > self.last_tokens and now > self.last_time and "loss" in m:
                m["tokens_per_s"] = (tokens - self.last_tokens) / (now - self.last_time)
                self.last_tokens, self.last_time = tokens, now
            m.setdefault("epoch", float(state.epoch or 0))
            append_metrics(run_dir, state.global_step, max_steps=state.max_steps, elapsed=now - self.t0, **m)

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            # a resumed run restores the checkpoint's token count after on_train_begin: tokens/s counts on from the
            # count the first step starts at, not from 0 (which drew a spike after every Resume)
            if not self.counting:
                self.counting = True
                if state.global_step > 0:  # resumed (a fresh run counts from 0, its first batch included)
                    self.last_tokens = float(getattr(state, "num_input_tokens_seen", 0) or 0)
                    self.last_time = time.time()

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            if STOP.is_set():
                control.should_save = True
                control.should_training_stop = True
            elif state.max_steps and state.global_step >= state.max_steps:
                control.should_save = True  # every run leaves a resumable checkpoint, whatever save_steps says
            return control

    return PlaygroundCallback()


def training_args_common(cfg: Any, run_dir: str | Path, device: str, has_eval: bool | None = None) -> dict[str, Any]:
    """TrainingArguments fields every TRL-based stage shares. `has_eval`: whether there is an eval split (default:
    the config asks for one); with none, no eval is scheduled (TRL refuses an eval strategy without eval data)."""
    from playground.stages import trackers

    if has_eval is None:
        has_eval = getattr(cfg, "eval_fraction", 0) > 0
    return dict(
        output_dir=str(checkpoints_dir(run_dir)),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_steps,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        eval_strategy=("steps" if cfg.eval_steps > 0 else "epoch") if has_eval else "no",
        eval_steps=cfg.eval_steps if cfg.eval_steps > 0 else None,
        save_strategy="steps" if cfg.save_steps > 0 else "no",
        save_steps=cfg.save_steps if cfg.save_steps > 0 else 500,
        seed=cfg.seed,
        data_seed=cfg.seed,
        **trackers.training_args(cfg, run_dir),  # report_to (+ Trackio's project / run name): stages/trackers.py
        use_cpu=device == "cpu",
        bf16=device == "cuda",
        disable_tqdm=True,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        activation_checkpointing=True,  # TRL's default (less memory), under the name transformers 6 keeps
        optim="adamw_torch_fused" if cfg.fused_optimizer else "adamw_torch",
    )


def chat_model_setup(cfg: Any) -> tuple[Any, str, Any]:
    """(model spec, device, tokenizer) for a stage whose data is chat-formatted: resolves cfg.model, picks the
    device and refuses, in one line, a model without a chat template."""
    from playground.core import models

    spec = models.resolve(cfg.model)
    device, _ = models.pick_device(cfg.device)
    tok = models.load_tokenizer(spec, cfg.trust_remote_code)
    if not tok.chat_template:
        raise DataError(f"model '{cfg.model}' has no chat template; pick an instruct model")
    if tok.pad_token is None:  # the trainers pad with the tokenizer's own pad token (TRL 2 drops `pad_token=`)
        tok.pad_token = tok.eos_token
    return spec, device, tok


def final_eval(trainer: Any, has_eval: bool) -> dict[str, float]:
    """Held-out metrics at the last step: the ones already logged there when an eval ran at that step, else a fresh
    `trainer.evaluate()` (which the metrics callback writes to metrics.jsonl). Nothing after a stop, or with no
    eval split."""
    if not has_eval or STOP.is_set():
        return {}
    step = trainer.state.global_step
    for h in reversed(trainer.state.log_history):
        if h.get("step") == step and "eval_loss" in h:
            return clean_metrics(h)
    return clean_metrics(trainer.evaluate())


def run_trl_stage(cfg: Any, run_dir: str | Path, *, stage: str, rows: Any, load_model: Any, make_trainer: Any,
                  result: Any = None, callback_extra: dict[str, Any] | None = None, eval_first: bool = False,
                  save: Any = None) -> Any:
    """The skeleton every TRL-based stage shares: seed, Speed settings, model spec + tokenizer, rows, model,
    trainer, stop/resume, the final eval, the adapter and result.json. A stage supplies what differs:

    - `rows(tok) -> (train_rows, eval_rows, info)`: lists of dicts; `info` may carry "notes" (announced in the run
      header), "warning" and counts; its `train_rows` / `eval_rows` default to the lengths.
    - `load_model(spec, device) -> model`.
    - `make_trainer(model, tok, args, train_dataset, eval_dataset, callbacks) -> trainer`, where `args` holds the
      TrainingArguments every stage shares (training_args_common) for the stage's own TRL config.
    - `result(trainer, eval_metrics, info) -> dict`: the stage's own result.json fields.
    - `save(trainer, out)`: after `trainer.save_model(out)` (e.g. drop a frozen reference adapter).
    `eval_first`: evaluate before the first update (the live plot starts from the untrained model's number).
    Returns the trainer (tests read its state)."""
    from datasets import Dataset

    from playground.stages.data import announce_data, eval_split_note

    run_dir = Path(run_dir)
    seed_everything(cfg.seed)
    speed = speed_setup(cfg)
    spec, device, tok = chat_model_setup(cfg)
    write_phase(run_dir, "reading the data")
    train_rows, eval_rows, info = rows(tok)
    info = {"train_rows": len(train_rows), "eval_rows": len(eval_rows), **(info or {})}
    note = eval_split_note(len(train_rows), len(eval_rows), getattr(cfg, "eval_fraction", 0))
    if note:  # too few rows for the eval split asked for: the run header and the log say it trains without one
        info["notes"] = [*info.get("notes", []), note]
    if info.get("notes"):
        announce_data(run_dir, info)
    has_eval = bool(eval_rows)
    write_phase(run_dir, "loading model")
    model = load_model(spec, device)
    args = training_args_common(cfg, run_dir, device, has_eval=has_eval)
    write_phase(run_dir, f"tokenising {len(train_rows) + len(eval_rows):,} rows")
    extra = {"train_rows": info["train_rows"], "eval_rows": info["eval_rows"], **(callback_extra or {})}
    if "fit" in info:  # preference stages: how the pairs were fitted into max_length, and the too-few warning
        extra.update(fit=info["fit"], data_warning=info.get("warning", ""))
    trainer = make_trainer(model, tok, args, Dataset.from_list(train_rows),
                           Dataset.from_list(eval_rows) if has_eval else None, [make_callback(run_dir, extra)])
    resume = resolve_resume(cfg, run_dir)
    if eval_first and has_eval and resume is None:
        trainer.evaluate()
    write_phase(run_dir, "training")
    trainer.train(resume_from_checkpoint=resume)
    eval_metrics = final_eval(trainer, has_eval)
    write_phase(run_dir, "saving the adapter")
    out = run_dir / "adapter"
    trainer.save_model(str(out))
    if save is not None:
        save(trainer, out)
    tok.save_pretrained(str(out))
    write_result(run_dir, {
        "stage": stage,
        "speed": speed_used(speed, trainer.model, trainer.optimizer),
        "global_step": trainer.state.global_step,
        "base_model": cfg.model,
        "adapter": str(out),
        "use_lora": cfg.use_lora,
        **({"train_pairs": info["train_pairs"], "eval_pairs": info["eval_pairs"], "fit": info["fit"],
            "data_warning": info.get("warning", "")} if "fit" in info else {}),
        **(result(trainer, eval_metrics, info) if result is not None else {}),
        "stopped": STOP.is_set(),
    })
    return trainer
