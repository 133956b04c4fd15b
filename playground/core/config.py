"""What every stage's config shares: `BaseRun` (model / LoRA / training / launch / speed fields), the field helper
`_f` (help, bounds and choices in the field's metadata), coercion, bounds checks and YAML in and out.

Each stage's own dataclass lives beside its trainer (`playground/stages/<stage>/config.py`) and owns every rule of
that stage in its `validate` method; `playground/stages/registry.py` maps stage names to them:

    from playground.stages.registry import load_config
    cfg = load_config("sft", "presets/sft/tiny-cpu.yaml", overrides=["learning_rate=1e-3"])
    save_config(cfg, "runs/x/config.yaml")

Unknown keys are errors, with a "did you mean" hint, so a typo in a preset never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from playground.core.errors import ConfigError  # noqa: F401 - raised here, re-exported

# Bounds every job is checked against before it is queued (a room's server must not accept max_steps=1e9)
MAX_STEPS = 1_000_000
MAX_TOKENS = 32_768
MAX_CONFIG_BYTES = 256 * 1024


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

    STAGE: ClassVar[str] = ""  # the stage name (CLI command, run-id prefix); each stage's dataclass sets it

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
    # ^ a YAML file or --set may say `auto` / `auto:N`: N on CPU, on a GPU the split of N x gradient_accumulation_steps
    #   that fits its free memory (from_dict -> core/models.resolve_auto_batch); the config then holds numbers
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
    # Tracker (stages/trackers.py): the curves also go to a tracker, besides metrics.jsonl
    report_to: str = _f("none", "Also log the curves to: none, tensorboard (runs/<id>/tensorboard; needs `pip install "
                        "tensorboard`) or trackio (the workspace's trackio/ store; needs `pip install trackio`).",
                        choices=("none", "tensorboard", "trackio"),
                        install={"tensorboard": "pip install tensorboard==2.21.0",
                                 "trackio": "pip install trackio==0.43.0"})

    def validate(self, where: str = "config") -> None:
        """Every rule of the config, checked before a job is queued; a stage's dataclass extends it with its own.
        Raises ConfigError with one line naming `where` and the field."""
        check_bounds(self, where)
        _check_accelerate_config(self.accelerate_config, where)
        need(self.max_steps != 0, where, "max_steps must be -1 (use epochs) or a positive number")
        _check_tracker(self.report_to, where)


def need(cond: bool, where: str, msg: str) -> None:
    """Raise ConfigError(f"{where}: {msg}") unless cond."""
    if not cond:
        raise ConfigError(f"{where}: {msg}")




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


def from_dict(cls: type[BaseRun], data: dict[str, Any], where: str = "config") -> BaseRun:
    """Build `cls` from a mapping; unknown keys, wrong types and broken rules raise ConfigError."""
    stage = cls.STAGE or cls.__name__
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of field: value, got {type(data).__name__}")
    from playground.core import models

    batch = next(f for f in dataclasses.fields(cls) if f.name == "per_device_train_batch_size")
    auto = models.auto_batch_default(data.get(batch.name), batch.default, where)
    if auto is not None:  # `auto` / `auto:N`: built with N (what a CPU keeps), split for the card below
        data = {**data, batch.name: auto}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}' for stage {stage}{hint}")
        kwargs[key] = _coerce(key, hints[key], value, where)
    cfg = cls(**kwargs)
    cfg.validate(where)
    models.check_allowed(cfg.model, where)  # last: resolving a path is cheap, but the stage's own rules say more
    return models.resolve_auto_batch(cfg, where) if auto is not None else cfg


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


def _check_tracker(name: str, where: str) -> None:
    """report_to names a tracker that is installed; else one line saying how to install it."""
    import importlib.util

    install = {f.name: f for f in dataclasses.fields(BaseRun)}["report_to"].metadata["install"]
    if name in install and importlib.util.find_spec(name) is None:
        raise ConfigError(f"{where}: report_to {name}: {name} is not installed here; `{install[name]}` (or set "
                          "report_to: none)")


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


def load_into(cls: type[BaseRun], path: str | Path | None, overrides: list[str] | None = None) -> BaseRun:
    """`cls` from a YAML file (or its defaults when path is None) with `key=value` overrides on top."""
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
    return from_dict(cls, data, where)


def to_dict(cfg: BaseRun) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def stage_of(cfg: BaseRun) -> str:
    if not type(cfg).STAGE:
        raise ConfigError(f"not a stage config: {type(cfg).__name__}")
    return type(cfg).STAGE


def save_config(cfg: BaseRun, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")
    return p
