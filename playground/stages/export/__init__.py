"""Hand a run over to a distributed engine when one machine is not enough: `python -m playground export-job`.

    from playground.stages.export import export_job
    export_job("sft-20261204-101500-ab12", "trl", "jobs/sft-trl")   # -> the folder, with README.md and launch.sh

What each engine gets (the stages it takes, its data format, its launcher):
- trl       sft, reward, dpo, grpo, rloo: TRL's dataset formats as JSONL (data/train.jsonl, data/test.jsonl), one YAML
            with the script's ScriptArguments + <Stage>Config + ModelConfig fields, `accelerate launch train.py
            --config config.yaml` (train.py runs trl.scripts.<stage>; presets/accelerate DDP / FSDP / DeepSpeed).
            TRL has no PPO any more.
- verl      ppo, grpo, rloo: parquet with verl's `data_source`, `prompt` (chat messages), `ability`, `reward_model`
            {style, ground_truth}, `extra_info`; `python -m verl.trainer.main_ppo` with hydra overrides.
- openrlhf  ppo, grpo, rloo: JSONL {"prompt": messages} read with --input_key prompt --apply_chat_template;
            `ray job submit -- python -m openrlhf.cli.train_ppo_ray ...`.
Every field of the run's config is either mapped (README.md lists ours -> theirs = value) or listed as not mapped,
with the reason. A rule reward travels as a Python file that calls the playground's own rule (reward.py /
rewards.py; the playground must be importable where the job runs); an `rm:` reward as the reward model, merged.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from playground.core.errors import ConfigError
from playground.stages.export import openrlhf, trl, verl
from playground.stages.export.common import ENGINE_STAGES, WHY_NOT, Job, resolve_run, write_readme

__all__ = ["ENGINE_STAGES", "export_job"]


def export_job(run: str, to: str, out: str | Path) -> Path:
    """Write the job for engine `to` into folder `out` (new or empty); returns it. One-line errors: DataError /
    ConfigError naming what is wrong."""
    if to not in ENGINE_STAGES:
        raise ConfigError(f"export-job: --to must be one of {', '.join(ENGINE_STAGES)}, got {to!r}")
    run_id, run_dir, stage, cfg = resolve_run(run)
    if stage not in ENGINE_STAGES[to]:
        why = WHY_NOT.get((to, stage)) or WHY_NOT.get((to, "sft"), "")
        raise ConfigError(f"export-job: a {stage} run cannot go to {to} ({why}); {to} takes "
                          f"{', '.join(ENGINE_STAGES[to])} runs")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"export-job: {out} is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    job = Job(engine=to, stage=stage, run_id=run_id, run_dir=run_dir, cfg=cfg, out=out)
    try:
        {"trl": trl, "verl": verl, "openrlhf": openrlhf}[to].build(job)
        for f in dataclasses.fields(cfg):  # every field accounted for: what no table named is said plainly
            if f.name not in {m[0] for m in job.mapped} and f.name not in job.unmapped:
                job.skip(f.name, f"no counterpart in {to}")
        write_readme(job)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-written job left behind
        raise
    return out
