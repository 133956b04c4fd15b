"""The stages, by name: the CLI, the forms, the job runner and the presets test read this one table.

    cfg = load_config("ppo", "presets/ppo/tiny-cpu.yaml", ["total_updates=3"])
    train = trainer("ppo")            # the subprocess entry: train.run(cfg, run_dir), imported only when it runs

Each stage keeps its dataclass in `stages/<stage>/config.py` (fields, help, bounds, choices and its `validate`)
and its subprocess entry in `stages/<stage>/train.py`.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

from playground.core import config as _config
from playground.core.config import BaseRun, ConfigError
from playground.stages.dpo.config import DPORun
from playground.stages.grpo.config import GRPORun
from playground.stages.kto.config import KTORun
from playground.stages.ppo.config import PPORun
from playground.stages.reward.config import RewardRun
from playground.stages.rloo.config import RLOORun
from playground.stages.sft.config import SFTRun

STAGES: dict[str, type[BaseRun]] = {cls.STAGE: cls for cls in (SFTRun, RewardRun, DPORun, KTORun, PPORun, GRPORun,
                                                                RLOORun)}


def config_class(stage: str) -> type[BaseRun]:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (choose from {', '.join(STAGES)})")
    return STAGES[stage]


def from_dict(stage: str, data: dict[str, Any], where: str = "config") -> BaseRun:
    """The stage's dataclass from a mapping; unknown keys, wrong types and broken rules raise ConfigError."""
    return _config.from_dict(config_class(stage), data, where)


def load_config(stage: str, path: str | Path | None, overrides: list[str] | None = None) -> BaseRun:
    """The stage's dataclass from a YAML file (None: defaults) plus `key=value` overrides."""
    return _config.load_into(config_class(stage), path, overrides)


def trainer(stage: str) -> ModuleType:
    """The stage's subprocess entry module (`run(config, run_dir)`), imported only when that stage runs."""
    config_class(stage)
    # spelled out (not import_module): tests/test_layout.py follows every import edge
    if stage == "sft":
        from playground.stages.sft import train
    elif stage == "reward":
        from playground.stages.reward import train
    elif stage == "dpo":
        from playground.stages.dpo import train
    elif stage == "kto":
        from playground.stages.kto import train
    elif stage == "grpo":
        from playground.stages.grpo import train
    elif stage == "rloo":
        from playground.stages.rloo import train
    else:
        from playground.stages.ppo import train
    return train
