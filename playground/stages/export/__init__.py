"""Hand a run over to a distributed engine when one machine is not enough: `python -m playground export-job`.

    from playground.stages.export import export_job
    export_job("sft-20261204-101500-ab12", "trl", "jobs/sft-trl")   # -> the folder, with README.md and launch.sh

What each engine gets (the stages it takes, its data format, its launcher):
- trl       sft, reward, dpo, grpo, rloo: TRL's dataset formats as JSONL (data/train.jsonl, data/test.jsonl), one YAML
            with the script's ScriptArguments + <Stage>Config + ModelConfig fields, `accelerate launch -m trl.scripts.
            <stage> --config config.yaml` (presets/accelerate DDP / FSDP / DeepSpeed). TRL has no PPO any more.
- verl      ppo, grpo, rloo: parquet with verl's `data_source`, `prompt` (chat messages), `ability`, `reward_model`
            {style, ground_truth}, `extra_info`; `python -m verl.trainer.main_ppo` with hydra overrides.
- openrlhf  ppo, grpo, rloo: JSONL {"prompt": messages} read with --input_key prompt --apply_chat_template;
            `ray job submit -- python -m openrlhf.cli.train_ppo_ray ...`.
Every field of the run's config is either mapped (README.md lists ours -> theirs = value) or listed as not mapped,
with the reason. A rule reward travels as a Python file that calls the playground's own rule (reward.py /
rewards.py; the playground must be importable where the job runs); an `rm:` reward as the reward model, merged.
"""

from __future__ import annotations

from playground.stages.export.common import ENGINE_STAGES, export_job  # noqa: F401 - the public entry

__all__ = ["ENGINE_STAGES", "export_job"]
