"""One dataclass per training stage; the UI form, the YAML presets and the CLI all read these.

    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", overrides=["learning_rate=1e-3"])
    save_config(cfg, "runs/x/config.yaml")

Fields are grouped by concern (model / LoRA / data / training). Unknown keys are errors, with a
"did you mean" hint, so a typo in a preset never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playground.core.errors import ConfigError  # noqa: F401 - raised here, re-exported


def _f(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class BaseRun:
    """Fields shared by every stage.

    Model: `model`, `trust_remote_code`. LoRA: `use_lora`, `lora_*`. Training: learning rate, steps,
    batch, logging. Launch: `num_processes`, `accelerate_config`, `device`.
    """

    # Model arguments
    model: str = _f("bundled", "Model: 'bundled' (SmolLM2-135M-Instruct, offline), 'tiny' (random, for tests), "
                    "a hub id or a local path.")
    trust_remote_code: bool = _f(False, "Allow custom model code from the hub. Off unless you trust the repo.")
    # LoRA arguments
    use_lora: bool = _f(True, "Train a LoRA adapter instead of the full model.")
    lora_r: int = _f(8, "LoRA rank: size of the low-rank update.")
    lora_alpha: int = _f(16, "LoRA scaling numerator (update is scaled by alpha / r).")
    lora_dropout: float = _f(0.0, "Dropout on the LoRA input.")
    lora_target_modules: str = _f("all-linear", "Modules to adapt: 'all-linear' or comma-separated names.")
    # Training arguments
    learning_rate: float = _f(2e-4, "Peak learning rate.")
    lr_scheduler_type: str = _f("linear", "Learning-rate schedule: linear, cosine, constant, ...")
    warmup_steps: int = _f(0, "Linear warm-up steps.")
    num_train_epochs: float = _f(1.0, "Passes over the data (ignored when max_steps > 0).")
    max_steps: int = _f(-1, "Stop after this many optimiser steps (-1: use epochs).")
    per_device_train_batch_size: int = _f(4, "Examples per device per forward pass.")
    gradient_accumulation_steps: int = _f(1, "Forward passes per optimiser step.")
    logging_steps: int = _f(1, "Log metrics every N steps.")
    eval_steps: int = _f(0, "Evaluate every N steps (0: once per epoch when there is an eval split).")
    save_steps: int = _f(0, "Save a checkpoint every N steps (0: only at the end).")
    seed: int = _f(0, "Random seed for data order, init and sampling.")
    # Launch arguments
    device: str = _f("auto", "auto (CUDA when present, else CPU), cpu or cuda.")
    num_processes: int = _f(1, "Processes (GPUs); more than one launches through `accelerate launch` (DDP).")
    accelerate_config: str = _f("", "Optional accelerate config file (e.g. presets/accelerate/deepspeed-zero2.yaml).")
    resume_from_checkpoint: str = _f("", "'' to start fresh, 'last' for the newest checkpoint, or a path.")


@dataclass
class SFTRun(BaseRun):
    """Supervised fine-tuning: minimise the token NLL of the responses (TRL SFTTrainer + LoRA)."""

    # Data arguments
    dataset: str = _f("builtin:instructions", "Workspace dataset name, or builtin:instructions.")
    eval_fraction: float = _f(0.1, "Share of rows held out for eval loss (0 to disable).")
    max_length: int = _f(256, "Truncate examples to this many tokens.")
    packing: bool = _f(False, "Pack several short examples into one sequence.")
    completion_only_loss: bool = _f(True, "Train only on completion / assistant tokens (prompt tokens masked).")
    load_in_4bit: bool = _f(False, "QLoRA: load the base in 4-bit (needs CUDA and bitsandbytes).")


@dataclass
class RewardRun(BaseRun):
    """Reward model: a scalar head trained with the Bradley-Terry loss -log sigmoid(r_chosen - r_rejected)."""

    # Data arguments
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out for accuracy.")
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.")
    center_rewards_coefficient: float = _f(0.0, "Penalty that keeps rewards centred on zero (0 to disable).")


@dataclass
class DPORun(BaseRun):
    """Direct preference optimisation from the same pairs, skipping the reward model."""

    sft_run: str = _f("", "Start from this SFT run's adapter (run id), or '' for the base model.")
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out.")
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.")
    beta: float = _f(0.1, "DPO temperature: strength of the implicit KL to the reference.")


@dataclass
class PPORun(BaseRun):
    """PPO with a per-token KL penalty to the reference (the same base with the LoRA adapter switched off).

    Policy / reward: `sft_run`, `reward`, `reward_*`. Data: `prompts`, `max_prompt_length`. Rollout:
    `response_length`, `temperature`, `rollout_batch_size`, `total_updates`. Optimisation: `ppo_epochs`; one
    optimiser step per mini-batch of `per_device_train_batch_size x gradient_accumulation_steps` sequences
    (`mini_batch_size`). Objective: `kl_*`, `gamma`, `lam`, `cliprange*`, `vf_coef`. `save_steps` checkpoints
    every N updates; `lr_scheduler_type` / `warmup_steps` count updates.
    """

    # Policy / reward
    sft_run: str = _f("", "Start the policy from this SFT run's adapter (run id), or '' for the base model.")
    reward: str = _f("rule:vocab_half", "rule:<name> (vocab_half, length, keyword, expr) or rm:<reward run id>.")
    reward_target_length: int = _f(32, "rule:length: the response length (tokens) that scores best.")
    reward_keywords: str = _f("", "rule:keyword: comma-separated words rewarded when present; '-word' is penalised.")
    reward_expression: str = _f("", "rule:expr: a Python expression over text, prompt, n_tokens, n_words, n_chars, words "
                                "(sandboxed), e.g. -abs(n_tokens - 20) / 20 + 0.5 * ('please' in text.lower()).")
    # Data
    prompts: str = _f("builtin:prompts", "Prompts: builtin:prompts or a workspace dataset name (its prompts).")
    max_prompt_length: int = _f(64, "Truncate prompts (left) to this many tokens.")
    # Rollout
    response_length: int = _f(24, "New tokens sampled per response.")
    temperature: float = _f(1.0, "Sampling temperature for rollouts (the training log-probs use the same one).")
    rollout_batch_size: int = _f(16, "Prompts per PPO update (rollout batch), per process when num_processes > 1.")
    total_updates: int = _f(20, "Number of PPO updates (rollout + optimise).")
    missing_eos_penalty: float = _f(0.0, "Subtract this from the score of responses that never emit EOS (0: off).")
    # Optimisation
    ppo_epochs: int = _f(2, "Passes over each rollout batch.")
    # Objective
    kl_coef: float = _f(0.05, "beta: weight of the per-token KL penalty to the reference.")
    kl_estimator: str = _f("k1", "Per-token KL estimate: k1 (log p - log q) or k3 (lower variance, always >= 0).")
    adaptive_kl: bool = _f(False, "Adapt beta to keep KL near target_kl (Ziegler et al.).")
    target_kl: float = _f(6.0, "Target KL for the adaptive controller.")
    kl_horizon: int = _f(10000, "Adaptive controller horizon in sequences: larger adapts beta more slowly.")
    gamma: float = _f(1.0, "Discount factor.")
    lam: float = _f(0.95, "GAE lambda.")
    cliprange: float = _f(0.2, "Policy ratio clip epsilon.")
    cliprange_value: float = _f(0.2, "Value clip range.")
    vf_coef: float = _f(0.1, "Weight of the value loss.")
    value_model: str = _f("head", "head: a linear value head on the policy's own features (one backbone pass); "
                                  "adapter: a second LoRA adapter on the same base feeds the head (its own "
                                  "features, one more backbone pass per step).")
    whiten_advantages: bool = _f(True, "Normalise advantages to zero mean, unit variance per batch.")
    max_grad_norm: float = _f(0.0, "Clip the gradient norm to this (0: off, as in TRL's PPO; clipping at 1.0 "
                                   "measurably slowed the reward gain, see bench/README.md).")
    sample_every: int = _f(5, "Write a sample table (prompt, response, score) every N updates.")

    @property
    def mini_batch_size(self) -> int:
        """Sequences per optimiser step: micro-batch x gradient accumulation."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


STAGES: dict[str, type[BaseRun]] = {"sft": SFTRun, "reward": RewardRun, "dpo": DPORun, "ppo": PPORun}


def field_help(cls: type[BaseRun]) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def _coerce(name: str, tp: Any, value: Any, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: field '{name}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: field '{name}' must be an integer, got {value!r}")
        try:
            f = float(value)
        except ValueError:
            raise ConfigError(f"{where}: field '{name}' must be an integer, got {value!r}") from None
        if f != int(f):
            raise ConfigError(f"{where}: field '{name}' must be an integer, got {value!r}")
        return int(f)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: field '{name}' must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: field '{name}' must be a number, got {value!r}") from None
    if tp is str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: field '{name}' must be a string, got {value!r}")
        return str(value)
    return value


def from_dict(stage: str, data: dict[str, Any], where: str = "config") -> BaseRun:
    """Build the stage's dataclass from a mapping; unknown keys and wrong types raise ConfigError."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (choose from {', '.join(STAGES)})")
    cls = STAGES[stage]
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of field: value, got {type(data).__name__}")
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}' for stage {stage}{hint}")
        kwargs[key] = _coerce(key, hints[key], value, where)
    cfg = cls(**kwargs)
    validate(cfg, where)
    return cfg


def validate(cfg: BaseRun, where: str = "config") -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{where}: {msg}")

    need(cfg.learning_rate > 0, "learning_rate must be > 0")
    need(cfg.per_device_train_batch_size >= 1, "per_device_train_batch_size must be >= 1")
    need(cfg.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1")
    need(cfg.num_processes >= 1, "num_processes must be >= 1")
    need(cfg.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, got {cfg.device!r}")
    need(cfg.lora_r >= 1, "lora_r must be >= 1")
    need(cfg.max_steps != 0, "max_steps must be -1 (use epochs) or a positive number")
    if hasattr(cfg, "eval_fraction"):
        need(0.0 <= cfg.eval_fraction < 1.0, "eval_fraction must be in [0, 1)")
    if isinstance(cfg, PPORun):
        need(cfg.mini_batch_size >= 1 and cfg.rollout_batch_size % cfg.mini_batch_size == 0,
             "rollout_batch_size must be a multiple of per_device_train_batch_size x gradient_accumulation_steps")
        need(cfg.response_length >= 1, "response_length must be >= 1")
        need(cfg.total_updates >= 1, "total_updates must be >= 1")
        need(cfg.reward.startswith(("rule:", "rm:")), f"reward must start with rule: or rm:, got {cfg.reward!r}")
        need(cfg.value_model in ("head", "adapter"), f"value_model must be head or adapter, got {cfg.value_model!r}")
        if cfg.reward.strip() == "rule:expr":  # refuse a bad expression before a job is queued
            from playground.stages.ppo.expr import check_expression

            problem = check_expression(cfg.reward_expression)
            need(not problem, problem)


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out


def load_config(stage: str, path: str | Path | None, overrides: list[str] | None = None) -> BaseRun:
    data: dict[str, Any] = {}
    where = "config"
    if path is not None:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{p}:{line} is not valid YAML ({getattr(e, 'problem', e)})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a UTF-8 text file") from None
        data = loaded or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of field: value")
    data = {**data, **parse_overrides(overrides)}
    return from_dict(stage, data, where)


def to_dict(cfg: BaseRun) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def stage_of(cfg: BaseRun) -> str:
    for name, cls in STAGES.items():
        if type(cfg) is cls:
            return name
    raise ConfigError(f"not a stage config: {type(cfg).__name__}")


def save_config(cfg: BaseRun, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    return p
