"""--to openrlhf: `ray job submit -- python -m openrlhf.cli.train_ppo_ray ...`, prompts as JSONL {"prompt": messages}.

OpenRLHF does not install on this CPU-only machine (it needs ray, DeepSpeed, vLLM and CUDA), so its argument parser
cannot run here. Every flag below was checked against the parser in `openrlhf/cli/train_ppo_ray.py` (OpenRLHF/OpenRLHF,
commit 021d1b096419) and is listed in FLAGS; tests/test_export_job.py fails if the export writes a flag outside it.
"""

from __future__ import annotations

import math
import shlex
from typing import Any

from playground.stages.export.common import (
    Job,
    jsonl,
    merge_reward_model,
    model_path,
    policy_start,
    ppo_internals,
    reward_module,
    reward_specs,
    write_launch,
)

FLAGS = frozenset("""
pretrain reward_pretrain remote_rm_url critic_pretrain prompt_data input_key apply_chat_template prompt_max_len
generate_max_len rollout_batch_size micro_rollout_batch_size train_batch_size micro_train_batch_size max_epochs
num_episodes max_samples actor_learning_rate critic_learning_rate lr_warmup_ratio lr_scheduler init_kl_coef
kl_estimator kl_target kl_horizon use_kl_loss gamma lambd eps_clip value_clip max_norm temperature seed lora_rank
lora_alpha lora_dropout target_modules load_in_4bit bf16 gradient_checkpointing advantage_estimator
n_samples_per_prompt no_advantage_std_norm actor_num_nodes actor_num_gpus_per_node ref_num_nodes ref_num_gpus_per_node
critic_num_nodes critic_num_gpus_per_node reward_num_nodes reward_num_gpus_per_node colocate_all_models
vllm_num_engines save_path ckpt_path save_steps logging_steps attn_implementation
""".split())
KL = {"k1": "k1", "k3": "k3"}
REWARD_BODY = """
import torch
from transformers import AutoTokenizer

_FN = build_reward(_CFG.reward, _CFG, device="cpu")
_TOK = AutoTokenizer.from_pretrained({model!r})


def reward_func(queries, prompts, labels, **kwargs):
    \"\"\"OpenRLHF's --remote_rm_url python-file reward: queries are prompt + response as text.\"\"\"
    responses = [q[len(p):] if q.startswith(p) else q for q, p in zip(queries, prompts)]
    ids = [_TOK(r, add_special_tokens=False)["input_ids"] for r in responses]
    scores = torch.tensor(_FN(list(prompts), responses, ids), dtype=torch.float32)
    return {{"rewards": scores, "scores": scores, "extra_logs": {{}}}}
"""


def build(job: Job) -> None:
    from playground.stages.data import prompt_rows

    cfg, stage = job.cfg, job.stage
    a: dict[str, Any] = {}

    def put(ours: str | None, flag: str, value: Any) -> None:
        a[flag] = job.map(ours, f"--{flag}", value) if ours else value

    prompts = prompt_rows(cfg.prompts)
    job.write("data/train.jsonl", jsonl([{"prompt": p} for p in prompts]),
              f"{len(prompts)} prompts as {{\"prompt\": chat messages}} (--input_key prompt --apply_chat_template)")
    job.map("prompts", "--prompt_data data/train.jsonl", cfg.prompts)
    model = model_path(cfg.model)
    put("model", "pretrain", model)
    a.update(prompt_data="data/train.jsonl", input_key="prompt", apply_chat_template=True, save_path="output",
             ckpt_path="output/ckpt", gradient_checkpointing=True)
    put("learning_rate", "actor_learning_rate", cfg.learning_rate)
    put("seed", "seed", cfg.seed)
    put("temperature", "temperature", cfg.temperature)
    put("logging_steps", "logging_steps", cfg.logging_steps)
    put("save_steps", "save_steps", cfg.save_steps or -1)
    if cfg.use_lora:
        put("lora_r", "lora_rank", cfg.lora_r)
        put("lora_alpha", "lora_alpha", cfg.lora_alpha)
        put("lora_dropout", "lora_dropout", cfg.lora_dropout)
        put("lora_target_modules", "target_modules", cfg.lora_target_modules or "all-linear")
        job.map("use_lora", "--lora_rank > 0", True)
    else:
        put("use_lora", "lora_rank", 0)
    put("device", "bf16", cfg.device != "cpu")
    put("attn_implementation", "attn_implementation", cfg.attn_implementation)
    n = cfg.num_processes
    for role in ("actor", "ref", "critic", "reward"):
        a[f"{role}_num_nodes"] = 1
        a[f"{role}_num_gpus_per_node"] = n
    job.map("num_processes", "--{actor,ref,critic,reward}_num_gpus_per_node", n)
    a.update(colocate_all_models=True, vllm_num_engines=0)
    if stage == "ppo":
        rollout, updates = cfg.rollout_batch_size * n, cfg.total_updates
        put("rollout_batch_size", "rollout_batch_size", rollout)
        put("max_prompt_length", "prompt_max_len", cfg.max_prompt_length)
        put("response_length", "generate_max_len", cfg.response_length)
        put("per_device_train_batch_size", "micro_train_batch_size", cfg.per_device_train_batch_size)
        put(None, "micro_rollout_batch_size", cfg.per_device_train_batch_size)
        put("gradient_accumulation_steps", "train_batch_size", cfg.mini_batch_size * n)
        put("ppo_epochs", "max_epochs", cfg.ppo_epochs)
        put(None, "advantage_estimator", "gae")
        put("kl_coef", "init_kl_coef", cfg.kl_coef)
        put("kl_estimator", "kl_estimator", KL[cfg.kl_estimator])
        if cfg.adaptive_kl:
            put("adaptive_kl", "kl_target", cfg.target_kl)
            job.map("target_kl", "--kl_target", cfg.target_kl)
        else:
            job.skip("adaptive_kl", "off: no --kl_target (fixed KL coefficient)")
            job.skip("target_kl", "only with adaptive_kl")
        put("kl_horizon", "kl_horizon", cfg.kl_horizon)
        put("gamma", "gamma", cfg.gamma)
        put("lam", "lambd", cfg.lam)
        put("cliprange", "eps_clip", cfg.cliprange)
        put("cliprange_value", "value_clip", cfg.cliprange_value)
        put(None, "critic_learning_rate", cfg.learning_rate)
        if ppo_internals(job, "OpenRLHF", "--critic_pretrain, the reward model by default", "--max_norm"):
            put("max_grad_norm", "max_norm", cfg.max_grad_norm)
    else:
        group = cfg.num_generations
        per_step = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps // group * n
        rollout = per_step
        updates = cfg.max_steps if cfg.max_steps > 0 else math.ceil(len(prompts) / per_step * cfg.num_train_epochs)
        put("per_device_train_batch_size", "rollout_batch_size", rollout)
        put("num_generations", "n_samples_per_prompt", group)
        put("gradient_accumulation_steps", "train_batch_size", rollout * group)
        put(None, "micro_train_batch_size", cfg.per_device_train_batch_size)
        put(None, "micro_rollout_batch_size", cfg.per_device_train_batch_size)
        put(None, "prompt_max_len", 1024)
        put("max_completion_length", "generate_max_len", cfg.max_completion_length)
        put("epsilon", "eps_clip", cfg.epsilon)
        put("num_iterations", "max_epochs", cfg.num_iterations)
        put("max_grad_norm", "max_norm", cfg.max_grad_norm)
        put("beta", "init_kl_coef", cfg.beta)
        if stage == "grpo":
            put(None, "advantage_estimator", "group_norm" if cfg.loss_type != "dr_grpo" else "dr_grpo")
            job.map("loss_type", "--advantage_estimator", a["advantage_estimator"])
            put(None, "use_kl_loss", cfg.beta > 0)
            put(None, "kl_estimator", "k3")
            if cfg.scale_rewards == "none":
                put("scale_rewards", "no_advantage_std_norm", True)
            else:
                job.skip("scale_rewards", f"{cfg.scale_rewards}: OpenRLHF's group_norm divides by the group's std")
        else:
            put(None, "advantage_estimator", "rloo")
            job.skip("normalize_advantages", "no counterpart flag for RLOO")
        job.skip("eval_fraction", "held-out prompts: --eval_dataset (needs a python-file reward)")
        job.skip("sample_every", "the playground's sample table")
    job.map("total_updates" if stage == "ppo" else "max_steps", "--max_samples / --num_episodes", updates)
    a["max_samples"] = updates * a["rollout_batch_size"]
    a["num_episodes"] = max(1, math.ceil(a["max_samples"] / max(1, len(prompts))))
    if cfg.warmup_steps:
        put("warmup_steps", "lr_warmup_ratio", round(cfg.warmup_steps / max(1, updates), 4))
    else:
        a["lr_warmup_ratio"] = 0.0
        job.map("warmup_steps", "--lr_warmup_ratio", 0.0)
    sched = {"constant": "constant", "constant_with_warmup": "constant_with_warmup", "cosine": "cosine_with_min_lr",
             "linear": "linear"}
    put("lr_scheduler_type", "lr_scheduler", sched[cfg.lr_scheduler_type])
    rules, rms = reward_specs(job)
    if rms:
        put("reward", "reward_pretrain", merge_reward_model(job, rms[0]))
    if rules:
        reward_module(job, REWARD_BODY.format(model=model), "the rule rewards as OpenRLHF's reward_func")
        put("reward", "remote_rm_url", "reward.py")
    if rules and rms or len(rms) > 1:
        job.notes.append("several reward sources: OpenRLHF takes a reward model or a reward file; check which one "
                         "the command uses")
    if hasattr(cfg, "reward_weights"):
        job.skip("reward_weights", "applied inside reward.py" if rules and not rms else "no counterpart flag")
    if getattr(cfg, "load_in_4bit", False):
        put("load_in_4bit", "load_in_4bit", True)
    policy_start(job)
    bad = sorted(set(a) - FLAGS)
    if bad:
        raise AssertionError(f"OpenRLHF export wrote flags outside train_ppo_ray's parser: {bad}")
    parts = []
    for k, v in a.items():
        if v is True:
            parts.append(f"--{k}")
        elif v is not False:
            parts.append(f"--{k} {shlex.quote(str(v))}")
    args = " \\\n    ".join(parts)
    job.launch = ("ray job submit --address=\"$RAY_ADDRESS\" --runtime-env-json='{\"working_dir\": \".\"}' \\\n"
                  f"  -- python3 -m openrlhf.cli.train_ppo_ray \\\n    {args}")
    write_launch(job, 'RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"\n'
                 'exec ray job submit --address="$RAY_ADDRESS" --runtime-env-json="{\\"working_dir\\": \\".\\", '
                 '\\"env_vars\\": {\\"PYTHONPATH\\": \\"$PYTHONPATH\\"}}" \\\n'
                 f'  -- python3 -m openrlhf.cli.train_ppo_ray \\\n    {args} \\\n    "$@"\n')
    job.notes.append("vllm_num_engines 0: generation through DeepSpeed's model; add vLLM engines for speed")
    job.notes.append("--remote_rm_url reward.py follows OpenRLHF's python-file reward (reward_func(queries, prompts, "
                     "labels) -> {rewards, scores, extra_logs}); not run here")
    job.checked = ("OpenRLHF is not installed here (it needs ray, DeepSpeed, vLLM and CUDA), so its parser could not "
                   "run. Every flag was checked against `openrlhf/cli/train_ppo_ray.py`'s argparse definitions "
                   "(OpenRLHF/OpenRLHF commit 021d1b096419): see FLAGS in playground/stages/export/openrlhf.py.")
