"""One dataclass per training stage; the UI form, the YAML presets and the CLI all read these.

    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", overrides=["learning_rate=1e-3"])
    save_config(cfg, "runs/x/config.yaml")

Fields are grouped by concern (model / LoRA / data / training). Unknown keys are errors, with a
"did you mean" hint, so a typo in a preset never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playground.core.errors import ConfigError  # noqa: F401 - raised here, re-exported

# Bounds every job is checked against before it is queued (a room's server must not accept max_steps=1e9)
MAX_STEPS = 1_000_000
MAX_TOKENS = 32_768
MAX_CONFIG_BYTES = 256 * 1024
ROLLOUT_WEIGHTS = ("auto", "adapter", "merged", "bf16")  # PPORun.rollout_weights (stages/ppo/rollout_copy.py)


def _f(default: Any, help: str, **extra: Any) -> Any:
    """A field with its help (the form's tooltip) and, where they apply, its bounds and choices:
    `min` / `max` (inclusive), `min_excl` / `max_excl` (exclusive), `choices` (allowed values)."""
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
    lora_r: int = _f(8, "LoRA rank: size of the low-rank update.", min=1, max=1024)
    lora_alpha: int = _f(16, "LoRA scaling numerator (update is scaled by alpha / r).", min=1, max=4096)
    lora_dropout: float = _f(0.0, "Dropout on the LoRA input.", min=0.0, max=0.9)
    lora_target_modules: str = _f("all-linear", "Modules to adapt: 'all-linear' or comma-separated names.")
    # Training arguments
    learning_rate: float = _f(2e-4, "Peak learning rate.", min_excl=0.0, max=1.0)
    lr_scheduler_type: str = _f("linear", "Learning-rate schedule.",
                                choices=("linear", "cosine", "constant", "constant_with_warmup"))
    warmup_steps: int = _f(0, "Linear warm-up steps.", min=0, max=MAX_STEPS)
    num_train_epochs: float = _f(1.0, "Passes over the data (ignored when max_steps > 0).", min_excl=0.0, max=1000)
    max_steps: int = _f(-1, "Stop after this many optimiser steps (-1: use epochs).", min=-1, max=MAX_STEPS)
    per_device_train_batch_size: int = _f(4, "Examples per device per forward pass.", min=1, max=512)
    gradient_accumulation_steps: int = _f(1, "Forward passes per optimiser step.", min=1, max=1024)
    logging_steps: int = _f(1, "Log metrics every N steps.", min=1, max=MAX_STEPS)
    eval_steps: int = _f(0, "Evaluate every N steps (0: once per epoch when there is an eval split).", min=0, max=MAX_STEPS)
    save_steps: int = _f(0, "Save a checkpoint every N steps (0: only at the end).", min=0, max=MAX_STEPS)
    seed: int = _f(0, "Random seed for data order, init and sampling.", min=0, max=2**32 - 1)
    # Launch arguments
    device: str = _f("auto", "auto (CUDA when present, else CPU), cpu or cuda.", choices=("auto", "cpu", "cuda"))
    num_processes: int = _f(1, "Processes (GPUs); more than one launches through `accelerate launch` (DDP).", min=1,
                            max=64)
    accelerate_config: str = _f("", "Optional accelerate config file (e.g. presets/accelerate/deepspeed-zero2.yaml).")
    resume_from_checkpoint: str = _f("", "'' to start fresh, 'last' for the newest checkpoint, or a path.")
    # Speed (bench/README.md, "CPU speed push", has what each measured on the bundled model)
    torch_threads: int = _f(0, "CPU threads for the job's maths (0: torch's default, one per core).", min=0, max=256)
    attn_implementation: str = _f("sdpa", "Attention kernel: sdpa (PyTorch's fused attention) or eager (plain "
                                  "matmuls; 1.07x sdpa for the CPU reward job, bench/README.md).",
                                  choices=("sdpa", "eager"))
    fused_optimizer: bool = _f(True, "AdamW as one fused kernel per step instead of a loop over the tensors.")


@dataclass
class SFTRun(BaseRun):
    """Supervised fine-tuning: minimise the token NLL of the responses (TRL SFTTrainer + LoRA)."""

    # Data arguments
    dataset: str = _f("builtin:instructions", "Workspace dataset name, or builtin:instructions.")
    eval_fraction: float = _f(0.1, "Share of rows held out for eval loss (0 to disable).", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate examples to this many tokens.", min=8, max=MAX_TOKENS)
    packing: bool = _f(False, "Pack several short examples into one sequence.")
    completion_only_loss: bool = _f(True, "Train only on completion / assistant tokens (prompt tokens masked).")
    load_in_4bit: bool = _f(False, "QLoRA: load the base in 4-bit (needs CUDA and bitsandbytes).")


@dataclass
class RewardRun(BaseRun):
    """Reward model: a scalar head trained with the Bradley-Terry loss -log sigmoid(r_chosen - r_rejected)."""

    # Data arguments
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out for accuracy.", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.", min=8, max=MAX_TOKENS)
    center_rewards_coefficient: float = _f(0.0, "Penalty that keeps rewards centred on zero (0 to disable).",
                                            min=0.0, max=100.0)
    # Performance
    shared_prefix: bool = _f(True, "Run the prompt a pair's two answers share once, not twice (same loss, "
                             "fewer tokens; off, or with several processes: TRL's two padded rows per pair).")


@dataclass
class DPORun(BaseRun):
    """Direct preference optimisation from the same pairs, skipping the reward model."""

    sft_run: str = _f("", "Start from this SFT run's adapter (run id), or '' for the base model.")
    dataset: str = _f("builtin:prefs", "builtin:prefs, 'workspace' (the arena's pairs) or a preference set name.")
    eval_fraction: float = _f(0.2, "Share of pairs held out.", min=0.0, max_excl=1.0)
    max_length: int = _f(256, "Truncate prompt+response to this many tokens.", min=8, max=MAX_TOKENS)
    beta: float = _f(0.1, "DPO temperature: strength of the implicit KL to the reference.", min_excl=0.0, max=100.0)


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
    reward_target_length: int = _f(32, "rule:length: the response length (tokens) that scores best.", min=1,
                                   max=MAX_TOKENS)
    reward_keywords: str = _f("", "rule:keyword: comma-separated words rewarded when present; '-word' is penalised.")
    reward_expression: str = _f("", "rule:expr: a Python expression over text, prompt, n_tokens, n_words, n_chars, words "
                                "(sandboxed), e.g. -abs(n_tokens - 20) / 20 + 0.5 * ('please' in text.lower()).")
    # Data
    prompts: str = _f("builtin:prompts", "Prompts: builtin:prompts or a workspace dataset name (its prompts).")
    max_prompt_length: int = _f(64, "Truncate prompts (left) to this many tokens.", min=1, max=MAX_TOKENS)
    # Rollout
    response_length: int = _f(24, "New tokens sampled per response.", min=1, max=4096)
    temperature: float = _f(1.0, "Sampling temperature for rollouts (the training log-probs use the same one).",
                            min_excl=0.0, max=10.0)
    rollout_batch_size: int = _f(16, "Prompts per PPO update (rollout batch), per process when num_processes > 1.",
                                 min=1, max=4096)
    total_updates: int = _f(20, "Number of PPO updates (rollout + optimise).", min=1, max=MAX_STEPS)
    missing_eos_penalty: float = _f(0.0, "Subtract this from the score of responses that never emit EOS (0: off).",
                                     min=0.0, max=1e3)
    # Optimisation
    ppo_epochs: int = _f(2, "Passes over each rollout batch.", min=1, max=100)
    # Objective
    kl_coef: float = _f(0.05, "beta: weight of the per-token KL penalty to the reference.", min=0.0, max=100.0)
    kl_estimator: str = _f("k1", "Per-token KL estimate: k1 (log p - log q) or k3 (lower variance, always >= 0).",
                            choices=("k1", "k3"))
    adaptive_kl: bool = _f(False, "Adapt beta to keep KL near target_kl (Ziegler et al.).")
    target_kl: float = _f(6.0, "Target KL for the adaptive controller.", min_excl=0.0, max=1e4)
    kl_horizon: int = _f(10000, "Adaptive controller horizon in sequences: larger adapts beta more slowly.", min=1,
                         max=10**9)
    gamma: float = _f(1.0, "Discount factor.", min=0.0, max=1.0)
    lam: float = _f(0.95, "GAE lambda.", min=0.0, max=1.0)
    cliprange: float = _f(0.2, "Policy ratio clip epsilon.", min_excl=0.0, max=10.0)
    cliprange_value: float = _f(0.2, "Value clip range.", min_excl=0.0, max=1e3)
    vf_coef: float = _f(0.1, "Weight of the value loss.", min=0.0, max=100.0)
    value_model: str = _f("head", "head: a linear value head on the policy's own features (one backbone pass); "
                                  "adapter: a second LoRA adapter on the same base feeds the head (its own "
                                  "features, one more backbone pass per step).", choices=("head", "adapter"))
    whiten_advantages: bool = _f(True, "Normalise advantages to zero mean, unit variance per batch.")
    rollout_weights: str = _f("auto", "What samples rollouts: adapter (the training model), merged (a copy with the "
                                      "LoRA folded in) or bf16 (that copy in bfloat16: ~1.9x faster on CPU). auto: "
                                      "bf16 on a CPU with native bf16, else adapter. Log-probs and loss: the training model.",
                                choices=ROLLOUT_WEIGHTS)
    max_grad_norm: float = _f(0.0, "Clip the gradient norm to this (0: off, as in TRL's PPO; clipping at 1.0 "
                                   "measurably slowed the reward gain, see bench/README.md).", min=0.0, max=1e6)
    sample_every: int = _f(5, "Write a sample table (prompt, response, score) every N updates (0: off).", min=0,
                           max=MAX_STEPS)

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


def field_choices(cls: type[BaseRun]) -> dict[str, tuple[Any, ...]]:
    """{field: allowed values} from the dataclass metadata: the form's dropdowns and the validator read this."""
    return {f.name: tuple(f.metadata["choices"]) for f in dataclasses.fields(cls) if "choices" in f.metadata}


def check_bounds(cfg: BaseRun, where: str = "config") -> None:
    """Every number finite and within its field's bounds; every choice field one of its choices."""
    for f in dataclasses.fields(cfg):
        v, md = getattr(cfg, f.name), f.metadata
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{where}: {f.name} must be a finite number, got {v!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "min" in md and v < md["min"]:
                raise ConfigError(f"{where}: {f.name} must be >= {md['min']}, got {v!r}")
            if "max" in md and v > md["max"]:
                raise ConfigError(f"{where}: {f.name} must be <= {md['max']}, got {v!r}")
            if "min_excl" in md and v <= md["min_excl"]:
                raise ConfigError(f"{where}: {f.name} must be > {md['min_excl']}, got {v!r}")
            if "max_excl" in md and v >= md["max_excl"]:
                raise ConfigError(f"{where}: {f.name} must be < {md['max_excl']}, got {v!r}")
        if "choices" in md and v not in md["choices"]:
            *first, last = map(str, md["choices"])
            raise ConfigError(f"{where}: {f.name} must be {', '.join(first)} or {last}, got {v!r}")


def _check_accelerate_config(value: str, where: str) -> None:
    """Only the shipped accelerate configs or YAML files inside PLAYGROUND_HOME: never an arbitrary server path."""
    if not value:
        return
    from playground.core.paths import PRESETS_DIR, home

    p = Path(value).expanduser()
    p = (p if p.is_absolute() else Path.cwd() / p).resolve()
    allowed = [(PRESETS_DIR / "accelerate").resolve(), home().resolve()]
    if p.suffix not in (".yaml", ".yml") or not any(p.is_relative_to(a) for a in allowed):
        raise ConfigError(f"{where}: accelerate_config must be a .yaml under presets/accelerate/ or the workspace, "
                          f"got {value!r}")
    if not p.is_file():
        raise ConfigError(f"{where}: accelerate_config {value!r} not found")


def validate(cfg: BaseRun, where: str = "config") -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{where}: {msg}")

    check_bounds(cfg, where)
    _check_accelerate_config(cfg.accelerate_config, where)
    need(cfg.max_steps != 0, "max_steps must be -1 (use epochs) or a positive number")
    if isinstance(cfg, PPORun):
        need(cfg.mini_batch_size >= 1 and cfg.rollout_batch_size % cfg.mini_batch_size == 0,
             "rollout_batch_size must be a multiple of per_device_train_batch_size x gradient_accumulation_steps")
        need(cfg.reward.startswith(("rule:", "rm:")), f"reward must start with rule: or rm:, got {cfg.reward!r}")
        if cfg.reward.strip() == "rule:expr":  # refuse a bad expression before a job is queued
            from playground.core.expr import check_expression

            problem = check_expression(cfg.reward_expression)
            need(not problem, problem)
    from playground.core.models import check_allowed

    check_allowed(cfg.model, where)  # last: resolving a path is cheap, but the field errors above say more


def safe_yaml(text: str, where: str) -> Any:
    """yaml.safe_load, refusing aliases before anything is expanded (a 'billion laughs' file costs nothing) and
    oversize input."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{where}: too large for a config ({len(text)} bytes, limit {MAX_CONFIG_BYTES})")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise ConfigError(f"{where}: YAML aliases (*name) are not allowed in configs")
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}:{line} is not valid YAML ({getattr(e, 'problem', None) or e})") from None


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = safe_yaml(raw, f"--set {key.strip()}") if raw != "" else ""
        except ConfigError as e:
            if "alias" in str(e) or "too large" in str(e):
                raise
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
        if p.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: too large for a config ({p.stat().st_size} bytes, limit {MAX_CONFIG_BYTES})")
        try:
            loaded = safe_yaml(p.read_text(encoding="utf-8"), str(p))
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
