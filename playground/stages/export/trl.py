"""--to trl: TRL's own scripts (`trl.scripts.<stage>`) with one YAML of their ScriptArguments, <Stage>Config and
ModelConfig fields, TRL's dataset formats as JSONL, launched by `accelerate launch` (presets/accelerate for DDP, FSDP
and DeepSpeed). The YAML is parsed by the script's own parser (TrlParser) before the job is written."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from playground.core.errors import ConfigError
from playground.stages.export.common import (
    Job,
    dump_yaml,
    jsonl,
    merge_reward_model,
    model_path,
    policy_start,
    reward_module,
    reward_specs,
    write_launch,
)

CONFIG_CLASS = {"sft": "SFTConfig", "reward": "RewardConfig", "dpo": "DPOConfig", "grpo": "GRPOConfig",
                "rloo": "RLOOConfig"}
# our field -> TRL's key, where the name and meaning are the same
SAME = ("learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs", "max_steps",
        "per_device_train_batch_size", "gradient_accumulation_steps", "logging_steps", "seed", "lora_r", "lora_alpha",
        "lora_dropout", "attn_implementation", "trust_remote_code")
STAGE_SAME = {"sft": ("max_length", "packing", "completion_only_loss", "load_in_4bit"),
              "reward": ("max_length", "center_rewards_coefficient"), "dpo": ("max_length", "beta"),
              "grpo": ("num_generations", "max_completion_length", "temperature", "beta", "epsilon", "num_iterations",
                       "max_grad_norm", "loss_type", "scale_rewards"),
              "rloo": ("num_generations", "max_completion_length", "temperature", "beta", "epsilon", "num_iterations",
                       "max_grad_norm", "normalize_advantages")}


def data(job: Job) -> bool:
    """data/train.jsonl (+ data/test.jsonl): the rows the run trained on, in TRL's conversational formats. Returns
    whether there is a test split."""
    from playground.stages import data as rows

    cfg = job.cfg
    if job.stage == "sft":
        train, test = rows.instruction_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
        kind, field = "prompt/completion (conversational)", "dataset"
    elif job.stage in ("reward", "dpo"):
        train, test = rows.preference_rows(cfg.dataset, cfg.eval_fraction, cfg.seed)
        kind, field = "preference prompt/chosen/rejected (conversational)", "dataset"
    else:
        train, test = [{"prompt": p} for p in rows.prompt_rows(cfg.prompts)], []
        kind, field = "prompt-only (conversational)", "prompts"
    job.write("data/train.jsonl", jsonl(train), f"{len(train)} rows, TRL {kind}")
    if test:
        job.write("data/test.jsonl", jsonl(test), f"{len(test)} held-out rows, same format")
    job.map(field, "dataset_name (data/: train.jsonl, test.jsonl)", getattr(cfg, field))
    if hasattr(cfg, "eval_fraction"):
        job.map("eval_fraction", "data/test.jsonl", cfg.eval_fraction)
    return bool(test)


def rewards(job: Job, out: dict[str, Any]) -> None:
    """GRPO/RLOO: the rule rewards as functions in rewards.py (reward_funcs: rewards.reward_<i>), an rm: reward as
    the merged reward model (reward_model_name_or_path); weights in TRL's order (the model first)."""
    from playground.stages.reward.functions import parse_weights, split_specs

    specs = split_specs(job.cfg.reward)
    rules, rms = reward_specs(job)
    if len(rms) > 1:
        raise ConfigError("export-job: TRL's GRPO/RLOO script takes one reward model; this run has "
                          f"{len(rms)} ({', '.join(rms)})")
    weights = parse_weights(job.cfg.reward_weights, len(specs))
    order = [specs.index(s) for s in rms] + [specs.index(s) for s in rules]
    if rms:
        out["reward_model_name_or_path"] = job.map("reward", "reward_model_name_or_path",
                                                   merge_reward_model(job, rms[0]))
    if rules:
        body = (f"_SPECS = {rules!r}\n"
                "_FNS = [build_rewards(s, _CFG, device='cpu')[0] for s in _SPECS]\n\n")
        for i, spec in enumerate(rules):
            body += (f"\ndef reward_{i}(prompts, completions, completion_ids=None, **kwargs):  # {spec}\n"
                     f"    return _FNS[{i}](prompts, completions, completion_ids)\n")
        reward_module(job, body, "the rule rewards as TRL reward functions", "rewards.py")
        out["reward_funcs"] = job.map("reward", "reward_funcs", [f"rewards.reward_{i}" for i in range(len(rules))])
    out["reward_weights"] = job.map("reward_weights", "reward_weights", [weights[i] for i in order])


def build(job: Job) -> None:
    cfg = job.cfg
    out: dict[str, Any] = {"model_name_or_path": job.map("model", "model_name_or_path", model_path(cfg.model))}
    for name in SAME + STAGE_SAME[job.stage]:
        out[name] = job.map(name, name, getattr(cfg, name))
    out["use_peft"] = job.map("use_lora", "use_peft", cfg.use_lora)
    targets = cfg.lora_target_modules.strip() or "all-linear"
    out["lora_target_modules"] = job.map("lora_target_modules", "lora_target_modules", targets if targets ==
                                         "all-linear" else [t.strip() for t in targets.split(",") if t.strip()])
    if getattr(cfg, "load_in_4bit", False):
        out["bnb_4bit_quant_type"] = "nf4"
        job.notes.append("QLoRA: load_in_4bit with NF4, as the playground loads it (needs bitsandbytes and CUDA)")
    out["optim"] = job.map("fused_optimizer", "optim", "adamw_torch_fused" if cfg.fused_optimizer else "adamw_torch")
    cuda = cfg.device != "cpu"
    out["bf16"] = job.map("device", "bf16 / use_cpu", cuda)
    out["use_cpu"] = not cuda
    if cfg.device == "auto":
        job.notes.append("device was 'auto': the job is written for GPUs (bf16); set use_cpu: true in config.yaml "
                         "for a CPU")
    has_test = data(job)
    out.update(dataset_name="data", dataset_train_split="train", dataset_test_split="test")
    out["eval_strategy"] = job.map("eval_steps", "eval_strategy / eval_steps",
                                   ("steps" if cfg.eval_steps > 0 else "epoch") if has_test else "no")
    if has_test and cfg.eval_steps > 0:
        out["eval_steps"] = cfg.eval_steps
    out["save_strategy"] = job.map("save_steps", "save_strategy / save_steps", "steps" if cfg.save_steps else "no")
    if cfg.save_steps:
        out["save_steps"] = cfg.save_steps
    out["report_to"] = job.map("report_to", "report_to", getattr(cfg, "report_to", "") or "none")
    out.update(output_dir="output", activation_checkpointing=True,
               include_num_input_tokens_seen=True)
    if job.stage in ("grpo", "rloo"):
        rewards(job, out)
    policy_start(job)
    job.skip("resume_from_checkpoint", "a playground checkpoint belongs to its run; TRL resumes from its own "
                                       "(resume_from_checkpoint in config.yaml, after a first run)")
    job.skip("torch_threads", "set OMP_NUM_THREADS in launch.sh's environment instead")
    for name in ("shared_prefix", "sample_every"):
        if hasattr(cfg, name):
            job.skip(name, "the playground's own (TRL's trainer has no such option)")
    job.write("config.yaml", dump_yaml(out), f"TRL {CONFIG_CLASS[job.stage]} + ModelConfig + ScriptArguments")
    launch(job)
    job.checked = check(job)


def launch(job: Job) -> None:
    cfg = job.cfg
    n = cfg.num_processes
    if cfg.accelerate_config:
        shutil.copy(Path(cfg.accelerate_config), job.out / "accelerate.yaml")
        job.files["accelerate.yaml"] = f"the run's accelerate config ({Path(cfg.accelerate_config).name})"
        job.map("accelerate_config", "accelerate launch --config_file accelerate.yaml", cfg.accelerate_config)
    else:
        job.skip("accelerate_config", "'' : plain DDP (--multi_gpu) when NUM_PROCESSES > 1; copy one of "
                                      "presets/accelerate/{ddp,fsdp,deepspeed-zero2}.yaml here as accelerate.yaml")
    job.map("num_processes", "accelerate launch --num_processes (NUM_PROCESSES)", n)
    job.write("train.py", TRAIN_SCRIPT.format(stage=job.stage), f"runs `trl.scripts.{job.stage}` (TRL's own parser "
              "and main) and frees the process group after it: see the script's docstring")
    job.launch = (f"NUM_PROCESSES={n} bash launch.sh   # = accelerate launch --num_processes {n} "
                  f"{'--config_file accelerate.yaml ' if cfg.accelerate_config else '--multi_gpu ' if n > 1 else ''}"
                  "train.py --config config.yaml")
    write_launch(job, f"""N="${{NUM_PROCESSES:-{n}}}"
LAUNCH=("${{PYTHON:-python}}" -m accelerate.commands.launch --num_processes "$N")
if [ -f accelerate.yaml ]; then LAUNCH+=(--config_file accelerate.yaml)
elif [ "$N" -gt 1 ]; then LAUNCH+=(--multi_gpu)  # torchrun, also on CPU (--cpu with 2 processes starts one)
fi
exec "${{LAUNCH[@]}}" train.py --config config.yaml "$@"
""")


# TRL's script, run so that every process exits on its own. Without the held reference, rank 0 of a gloo (CPU) run
# hung about one time in two after "Model saved": trainer.end() has already taken the group out of torch's table, so
# the DDP Reducer holds its last reference, and pybind frees the Reducer with the GIL held; ~ProcessGroupGloo then
# joins its worker threads, and a worker that is freeing a finished all_gather waits for the GIL to drop a tensor's
# Python object (py-spy, torch 2.13: ~ProcessGroupGloo -> std::thread::join vs ~AsyncAllgatherWork ->
# gil_scoped_acquire). The ProcessGroup's own binding frees it with the GIL released, so dropping our reference last
# lets that worker finish.
TRAIN_SCRIPT = '''"""TRL's `trl.scripts.{stage}`, as `python -m trl.scripts.{stage} --config config.yaml` runs it (its own parser
and main), holding torch's process group until the script has returned and its trainer is freed: the group's last
reference then goes through the ProcessGroup's binding, which releases the GIL while the gloo worker threads are
joined (freed last by DDP's Reducer instead, rank 0 of a CPU run can deadlock after "Model saved")."""

import gc

import torch.distributed as dist
from trl.scripts import {stage} as script


def run() -> None:
    args = script.make_parser().parse_args_and_config(fail_with_unknown_args=False)
    args[1].device  # accelerate's PartialState: init_process_group when launched with more than one process
    group = dist.group.WORLD if dist.is_initialized() else None
    script.main(*args)  # trains, saves, trainer.end() (trackers finished, group destroyed)
    gc.collect()  # the trainer and its DDP wrapper go while we still hold the group
    del group


if __name__ == "__main__":
    run()
'''


def check(job: Job) -> str:
    """Parse config.yaml with the TRL script's own parser: an unknown key or a bad value fails the export."""
    try:  # spelled out (not import_module): tests/test_layout.py follows every import edge
        if job.stage == "sft":
            from trl.scripts import sft as script
        elif job.stage == "reward":
            from trl.scripts import reward as script
        elif job.stage == "dpo":
            from trl.scripts import dpo as script
        elif job.stage == "grpo":
            from trl.scripts import grpo as script
        else:
            from trl.scripts import rloo as script
    except ImportError as e:
        return f"not checked: TRL is not importable here ({e})"
    import contextlib
    import io

    parser = script.make_parser()
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            parsed = parser.parse_args_and_config(["--config", str(job.out / "config.yaml")],
                                                  return_remaining_strings=True)
    except (SystemExit, ValueError, TypeError) as e:
        why = (said.getvalue().strip().splitlines() or [str(e)])[-1]
        raise ConfigError(f"export-job: TRL's {job.stage} parser refused the exported config: {why}") from None
    rest = [x for x in parsed[-1] if x]
    if rest:
        raise ConfigError(f"export-job: TRL's {job.stage} parser did not know {rest}")
    import trl

    return (f"Parsed by `trl.scripts.{job.stage}.make_parser()` (TrlParser, trl {trl.__version__}) at export time: "
            "every key is a field of its dataclasses.")
