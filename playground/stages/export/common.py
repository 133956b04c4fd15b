"""What every engine's export shares: the run it reads, the job it writes, the README that accounts for each field."""

from __future__ import annotations

import dataclasses
import json
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from playground.core.errors import DataError
from playground.core.paths import REPO_DIR

ENGINE_STAGES: dict[str, tuple[str, ...]] = {
    "trl": ("sft", "reward", "dpo", "grpo", "rloo"),
    "verl": ("ppo", "grpo", "rloo"),
    "openrlhf": ("ppo", "grpo", "rloo"),
}
WHY_NOT = {
    ("trl", "ppo"): "TRL has no PPO any more (removed in trl#7020); export PPO with --to verl or --to openrlhf, or "
                    "train GRPO/RLOO here and export that to TRL",
    ("verl", "sft"): "verl's main_ppo trains online RL; export SFT, reward and DPO runs with --to trl",
    ("openrlhf", "sft"): "this export writes OpenRLHF's train_ppo_ray jobs (online RL); use --to trl for SFT, "
                         "reward and DPO",
}


@dataclass
class Job:
    """One export being written: the run's config and where each of its fields went."""

    engine: str
    stage: str
    run_id: str
    run_dir: Path
    cfg: Any
    out: Path
    mapped: list[tuple[str, str, Any]] = field(default_factory=list)  # (our field, their key, value)
    unmapped: dict[str, str] = field(default_factory=dict)  # our field -> why it does not carry over
    files: dict[str, str] = field(default_factory=dict)  # path in the job -> what it is
    launch: str = ""
    notes: list[str] = field(default_factory=list)
    checked: str = ""  # how the config was validated

    def map(self, ours: str, theirs: str, value: Any) -> Any:
        self.mapped.append((ours, theirs, value))
        return value

    def skip(self, ours: str, why: str) -> None:
        self.unmapped[ours] = why

    def write(self, rel: str, text: str, what: str) -> Path:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files[rel] = what
        return path


def resolve_run(run: str) -> tuple[str, Path, str, Any]:
    """(run id, run dir, stage, config) of a run id or run folder; the stage from the id's prefix, else result.json,
    else the smallest stage whose fields hold every key of the config."""
    from playground.core.runs import read_config, run_dir_of
    from playground.stages.registry import STAGES, from_dict

    run_dir = run_dir_of(run)
    if not (run_dir / "config.yaml").is_file():
        raise DataError(f"export-job: run '{run}' not found (no config.yaml in {run_dir})")
    from playground.core.runs import read_result

    data = read_config(run_dir)
    prefix = run_dir.name.split("-", 1)[0]
    fits = [s for s, cls in STAGES.items() if set(data) <= {f.name for f in dataclasses.fields(cls)}]
    stage = next((s for s in (prefix, read_result(run_dir).get("stage")) if s in STAGES), "") or (
        min(fits, key=lambda s: len(dataclasses.fields(STAGES[s]))) if fits else "")
    if not stage:
        raise DataError(f"export-job: cannot tell which stage run '{run}' is (its config matches none)")
    return run_dir.name, run_dir, stage, from_dict(stage, data, str(run_dir / "config.yaml"))


def model_path(name: str) -> str:
    """A path or hub id the other engine can load: the bundled and tiny models as the folders the playground keeps."""
    from playground.core import models

    return models.model_path(models.resolve(name))


def jsonl(rows: list[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def policy_start(job: Job) -> None:
    """sft_run: the other engines start from a plain model, so an SFT adapter must be merged first."""
    if getattr(job.cfg, "sft_run", ""):
        job.skip("sft_run", f"the policy starts from SFT run {job.cfg.sft_run}'s adapter: merge it (SFT tab, "
                            "'Merge') and set the model path to the merged folder")
    elif hasattr(job.cfg, "sft_run"):
        job.skip("sft_run", "'' (the base model): nothing to carry")


def merge_reward_model(job: Job, spec: str) -> str:
    """An `rm:<run>` reward as a full sequence-classification model in the job (the engines load a folder, not our
    LoRA adapter on a base): the adapter folded into its base, saved under reward_model/."""
    from playground.stages.reward import service as rm_service

    run = spec.strip()[3:]
    model, tok = rm_service.load_reward_model(run, "cpu")
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    dest = job.out / "reward_model"
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    job.files["reward_model/"] = f"reward model of run {run}, LoRA merged into its base (score head included)"
    return str(dest.resolve())


def reward_specs(job: Job) -> tuple[list[str], list[str]]:
    """(rule specs, rm specs) of an online stage's reward field."""
    from playground.stages.reward.functions import split_specs

    specs = split_specs(job.cfg.reward)
    return [s for s in specs if s.startswith("rule:")], [s for s in specs if s.startswith("rm:")]


def reward_module(job: Job, body: str, what: str, name: str = "reward.py") -> str:
    """A Python file in the job that rebuilds the run's rule rewards with the playground's own code (the same
    functions, the same config), plus the config it reads."""
    from playground.core.config import save_config

    save_config(job.cfg, job.out / "playground_config.yaml")
    job.files["playground_config.yaml"] = "the run's config, read by the reward file"
    head = (f'"""Rewards of playground run {job.run_id} ({job.cfg.reward}) for {job.engine}: the playground\'s own\n'
            'rule functions, built from the run\'s config. Needs the playground importable (launch.sh sets\n'
            'PYTHONPATH)."""\n\nfrom pathlib import Path\n\nimport yaml\n\n'
            'from playground.stages.registry import from_dict\n'
            'from playground.stages.reward.functions import build_reward, build_rewards  # noqa: F401\n\n'
            f'_CFG = from_dict("{job.stage}", yaml.safe_load((Path(__file__).parent / "playground_config.yaml")'
            '.read_text()))\n')
    job.write(name, head + body, what)
    for f in ("reward_target_length", "reward_keywords", "reward_expression"):
        if hasattr(job.cfg, f):
            job.map(f, f"{name} (the rule's parameter)", getattr(job.cfg, f))
    return name


def ppo_internals(job: Job, engine: str, critic: str, clip: str) -> bool:
    """The fields of our PPO that another engine does its own way (its critic is a separate model); returns
    whether max_grad_norm maps to the engine's `clip` setting (on here) or not (0: off here, always on there)."""
    cfg = job.cfg
    job.skip("value_model", f"{cfg.value_model}: {engine}'s critic is a separate model ({critic}), not a head or "
                            "adapter on the policy")
    job.skip("vf_coef", f"{engine}'s critic has its own optimiser and loss, not a weighted value term")
    job.skip("whiten_advantages", f"{engine}'s GAE normalises advantages itself")
    job.skip("rollout_weights", f"the playground's own sampler copy; {engine} samples its own way")
    job.skip("missing_eos_penalty", f"no counterpart in {engine} (a reward-function matter there)")
    job.skip("sample_every", "the playground's sample table")
    if cfg.max_grad_norm <= 0:
        job.skip("max_grad_norm", f"0 (off) here; {engine} always clips ({clip}, default 1.0)")
    return cfg.max_grad_norm > 0


def write_readme(job: Job) -> None:
    lines = [f"# {job.stage.upper()} run {job.run_id} as a {job.engine} job", "",
             f"Exported by `python -m playground export-job {job.run_id} --to {job.engine}`. Run it with "
             "`bash launch.sh` (extra arguments go to the trainer).", "", "## Files", ""]
    lines += [f"- `{k}`: {v}" for k, v in job.files.items()]
    lines += ["", "## Launch", "", "```bash", job.launch.strip(), "```", ""]
    if job.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in job.notes], ""]
    lines += ["## What maps", "", f"| playground field | {job.engine} | value |", "| --- | --- | --- |"]
    lines += [f"| `{o}` | `{t}` | `{v!r}` |" for o, t, v in job.mapped]
    lines += ["", "## What does not map", "", "| playground field | value | why |", "| --- | --- | --- |"]
    lines += [f"| `{o}` | `{getattr(job.cfg, o)!r}` | {why} |" for o, why in job.unmapped.items()]
    lines += ["", "## How the config was checked", "", job.checked or "not checked", ""]
    job.write("README.md", "\n".join(lines), "this file")


def write_launch(job: Job, script: str) -> None:
    path = job.write("launch.sh", "#!/usr/bin/env bash\n# " + job.launch.strip().replace("\n", "\n# ") +
                     "\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n"
                     f"export PYTHONPATH=\"${{PLAYGROUND_REPO:-{REPO_DIR}}}${{PYTHONPATH:+:$PYTHONPATH}}\"\n" + script,
                     "the launch command")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def dump_yaml(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
