"""--to verl: `python -m verl.trainer.main_ppo` with hydra overrides, prompts as verl's RL parquet.

verl does not install on this CPU-only machine (it needs ray, vLLM/SGLang and CUDA), so its own config loader cannot
run here. Every override key below was checked against verl's documented config, the flattened
`verl/trainer/config/_generated_ppo_trainer.yaml` (volcengine/verl, commit 035682ed7d98), and is listed in KEYS;
tests/test_export_job.py fails if the export writes a key outside KEYS.
"""

from __future__ import annotations

import math
from typing import Any

from playground.stages.export.common import (
    Job,
    merge_reward_model,
    model_path,
    policy_start,
    ppo_internals,
    reward_module,
    reward_specs,
    write_launch,
)

KEYS = frozenset("""
data.train_files data.val_files data.prompt_key data.max_prompt_length data.max_response_length data.train_batch_size
data.truncation data.filter_overlong_prompts
actor_rollout_ref.model.path actor_rollout_ref.model.lora_rank actor_rollout_ref.model.lora_alpha
actor_rollout_ref.model.target_modules actor_rollout_ref.model.trust_remote_code
actor_rollout_ref.model.enable_gradient_checkpointing
actor_rollout_ref.actor.optim.lr actor_rollout_ref.actor.optim.lr_warmup_steps actor_rollout_ref.actor.optim.warmup_style
actor_rollout_ref.actor.ppo_mini_batch_size actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu
actor_rollout_ref.actor.ppo_epochs actor_rollout_ref.actor.clip_ratio actor_rollout_ref.actor.grad_clip
actor_rollout_ref.actor.use_kl_loss actor_rollout_ref.actor.kl_loss_coef actor_rollout_ref.actor.kl_loss_type
actor_rollout_ref.actor.loss_agg_mode
actor_rollout_ref.rollout.temperature actor_rollout_ref.rollout.n
critic.model.path critic.optim.lr critic.cliprange_value critic.ppo_micro_batch_size_per_gpu critic.model.lora_rank
critic.model.lora_alpha
algorithm.adv_estimator algorithm.gamma algorithm.lam algorithm.use_kl_in_reward algorithm.kl_penalty
algorithm.kl_ctrl.type algorithm.kl_ctrl.kl_coef algorithm.kl_ctrl.target_kl algorithm.kl_ctrl.horizon
algorithm.norm_adv_by_std_in_grpo
custom_reward_function.path custom_reward_function.name reward_model.enable reward_model.model.path
trainer.total_training_steps trainer.n_gpus_per_node trainer.nnodes trainer.save_freq trainer.logger
trainer.project_name trainer.experiment_name trainer.val_before_train trainer.test_freq trainer.device
""".split())
KL_PENALTY = {"k1": "kl", "k3": "low_var_kl"}
LOSS_AGG = {"grpo": "seq-mean-token-mean", "dapo": "token-mean", "dr_grpo": "seq-mean-token-sum-norm"}
REWARD_BODY = """
from transformers import AutoTokenizer

_FN = build_reward(_CFG.reward, _CFG, device="cpu")
_TOK = AutoTokenizer.from_pretrained({model!r})


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    \"\"\"verl's custom reward signature; the prompt (the rules that read a target from it need it) is in
    extra_info["prompt"], as the export wrote it.\"\"\"
    prompt = (extra_info or {{}}).get("prompt")
    ids = _TOK(solution_str, add_special_tokens=False)["input_ids"]
    return float(_FN([prompt], [solution_str], [ids])[0])
"""


def data(job: Job) -> int:
    import pandas as pd

    from playground.stages.data import prompt_rows

    prompts = prompt_rows(job.cfg.prompts)
    source = f"playground/{job.cfg.prompts}"
    rows = [{"data_source": source, "prompt": p, "ability": "chat",
             "reward_model": {"style": "rule", "ground_truth": ""},
             "extra_info": {"index": i, "prompt": p, "split": "train"}} for i, p in enumerate(prompts)]
    job.out.joinpath("data").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_parquet(job.out / "data" / "train.parquet", index=False)
    job.files["data/train.parquet"] = (f"{len(rows)} prompts: data_source, prompt (chat messages), ability, "
                                       "reward_model {style, ground_truth}, extra_info {index, prompt, split}")
    job.map("prompts", "data.train_files (data/train.parquet)", job.cfg.prompts)
    return len(rows)


def build(job: Job) -> None:
    cfg, stage = job.cfg, job.stage
    o: dict[str, Any] = {}
    n_prompts = data(job)

    def put(ours: str | None, key: str, value: Any) -> None:
        o[key] = job.map(ours, key, value) if ours else value

    model = model_path(cfg.model)
    put("model", "actor_rollout_ref.model.path", model)
    put("trust_remote_code", "actor_rollout_ref.model.trust_remote_code", cfg.trust_remote_code)
    put("use_lora", "actor_rollout_ref.model.lora_rank", cfg.lora_r if cfg.use_lora else 0)
    job.map("lora_r", "actor_rollout_ref.model.lora_rank", cfg.lora_r)
    put("lora_alpha", "actor_rollout_ref.model.lora_alpha", cfg.lora_alpha)
    put("lora_target_modules", "actor_rollout_ref.model.target_modules", cfg.lora_target_modules or "all-linear")
    o["actor_rollout_ref.model.enable_gradient_checkpointing"] = True
    put("learning_rate", "actor_rollout_ref.actor.optim.lr", cfg.learning_rate)
    put("warmup_steps", "actor_rollout_ref.actor.optim.lr_warmup_steps", cfg.warmup_steps)
    if cfg.lr_scheduler_type in ("constant", "cosine"):
        put("lr_scheduler_type", "actor_rollout_ref.actor.optim.warmup_style", cfg.lr_scheduler_type)
    put("num_processes", "trainer.n_gpus_per_node", cfg.num_processes)
    o.update({"data.train_files": "data/train.parquet", "data.val_files": "data/train.parquet",
              "data.prompt_key": "prompt", "data.truncation": "left", "trainer.nnodes": 1,
              "trainer.logger": "[console]", "trainer.project_name": "playground",
              "trainer.experiment_name": job.run_id, "trainer.val_before_train": False, "trainer.test_freq": -1})
    put("device", "trainer.device", "cpu" if cfg.device == "cpu" else "cuda")
    put("save_steps", "trainer.save_freq", cfg.save_steps or -1)
    put("temperature", "actor_rollout_ref.rollout.temperature", cfg.temperature)
    put("max_prompt_length" if hasattr(cfg, "max_prompt_length") else None, "data.max_prompt_length",
        getattr(cfg, "max_prompt_length", 512))
    put("per_device_train_batch_size", "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu",
        cfg.per_device_train_batch_size)
    if stage == "ppo":
        ppo(job, put, model)
        steps = cfg.total_updates
        put("total_updates", "trainer.total_training_steps", steps)
    else:
        online(job, put)
        put("max_steps", "trainer.total_training_steps", cfg.max_steps if cfg.max_steps > 0 else
            math.ceil(n_prompts / max(1, o["data.train_batch_size"]) * cfg.num_train_epochs))
    rewards(job, put, model)
    policy_start(job)
    job.skip("seed", "verl seeds its data sampler itself (data.seed is not in its documented config)")
    bad = sorted(set(o) - KEYS)
    if bad:
        raise AssertionError(f"verl export wrote keys outside its documented config: {bad}")
    args = " \\\n    ".join(f"{k}={_value(v)}" for k, v in o.items())
    job.launch = f"python -m verl.trainer.main_ppo \\\n    {args}"
    write_launch(job, f'exec "${{PYTHON:-python}}" -m verl.trainer.main_ppo \\\n    {args} \\\n    "$@"\n')
    job.notes.append("verl samples with vLLM or SGLang (actor_rollout_ref.rollout.name): install one; the playground "
                     "samples with transformers")
    job.checked = ("verl is not installed here (it needs ray, vLLM/SGLang and CUDA), so its hydra loader could not "
                   "run. Every override key was checked against verl's documented config "
                   "(verl/trainer/config/_generated_ppo_trainer.yaml, volcengine/verl commit 035682ed7d98): see KEYS "
                   "in playground/stages/export/verl.py.")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, str) and (" " in v or "," in v) and not v.startswith("["):
        return "'" + v + "'"
    return str(v)


def ppo(job: Job, put: Any, model: str) -> None:
    cfg = job.cfg
    put("rollout_batch_size", "data.train_batch_size", cfg.rollout_batch_size * cfg.num_processes)
    job.map("gradient_accumulation_steps", "actor_rollout_ref.actor.ppo_mini_batch_size (x micro batch)",
            cfg.gradient_accumulation_steps)
    put(None, "actor_rollout_ref.actor.ppo_mini_batch_size", cfg.mini_batch_size * cfg.num_processes)
    put("response_length", "data.max_response_length", cfg.response_length)
    put("ppo_epochs", "actor_rollout_ref.actor.ppo_epochs", cfg.ppo_epochs)
    put("cliprange", "actor_rollout_ref.actor.clip_ratio", cfg.cliprange)
    put("cliprange_value", "critic.cliprange_value", cfg.cliprange_value)
    put(None, "algorithm.adv_estimator", "gae")
    put("gamma", "algorithm.gamma", cfg.gamma)
    put("lam", "algorithm.lam", cfg.lam)
    put(None, "algorithm.use_kl_in_reward", True)  # ours: a per-token KL penalty in the reward
    put("kl_coef", "algorithm.kl_ctrl.kl_coef", cfg.kl_coef)
    put("kl_estimator", "algorithm.kl_penalty", KL_PENALTY[cfg.kl_estimator])
    put("adaptive_kl", "algorithm.kl_ctrl.type", "adaptive" if cfg.adaptive_kl else "fixed")
    put("target_kl", "algorithm.kl_ctrl.target_kl", cfg.target_kl)
    put("kl_horizon", "algorithm.kl_ctrl.horizon", cfg.kl_horizon)
    put(None, "critic.model.path", model)
    put(None, "critic.optim.lr", cfg.learning_rate)
    put(None, "critic.ppo_micro_batch_size_per_gpu", cfg.per_device_train_batch_size)
    put(None, "critic.model.lora_rank", cfg.lora_r if cfg.use_lora else 0)
    put(None, "critic.model.lora_alpha", cfg.lora_alpha)
    if ppo_internals(job, "verl", "critic.model.path: the policy's base with its own LoRA",
                     "actor_rollout_ref.actor.grad_clip"):
        put("max_grad_norm", "actor_rollout_ref.actor.grad_clip", cfg.max_grad_norm)


def online(job: Job, put: Any) -> None:
    cfg = job.cfg
    prompts = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps // cfg.num_generations
    put(None, "data.train_batch_size", prompts * cfg.num_processes)  # prompts: completions / num_generations
    job.map("per_device_train_batch_size", "data.train_batch_size (x num_generations)", prompts * cfg.num_processes)
    o_key = "actor_rollout_ref.actor.ppo_mini_batch_size"
    put("gradient_accumulation_steps", o_key, prompts * cfg.num_processes)
    put("num_generations", "actor_rollout_ref.rollout.n", cfg.num_generations)
    put("max_completion_length", "data.max_response_length", cfg.max_completion_length)
    put("epsilon", "actor_rollout_ref.actor.clip_ratio", cfg.epsilon)
    put("num_iterations", "actor_rollout_ref.actor.ppo_epochs", cfg.num_iterations)
    put("max_grad_norm", "actor_rollout_ref.actor.grad_clip", cfg.max_grad_norm)
    put(None, "algorithm.adv_estimator", job.stage)
    if job.stage == "grpo":  # GRPO: the KL is a loss term; RLOO: it is folded into the reward
        put("beta", "actor_rollout_ref.actor.kl_loss_coef", cfg.beta)
        put(None, "actor_rollout_ref.actor.use_kl_loss", cfg.beta > 0)
        put(None, "actor_rollout_ref.actor.kl_loss_type", "low_var_kl")
        put("scale_rewards", "algorithm.norm_adv_by_std_in_grpo", cfg.scale_rewards != "none")
        if cfg.loss_type in LOSS_AGG:
            put("loss_type", "actor_rollout_ref.actor.loss_agg_mode", LOSS_AGG[cfg.loss_type])
        if cfg.scale_rewards == "batch":
            job.notes.append("scale_rewards: batch has no verl counterpart: verl divides by the group's std")
    else:
        put("beta", "algorithm.kl_ctrl.kl_coef", cfg.beta)
        put(None, "algorithm.use_kl_in_reward", cfg.beta > 0)
        job.skip("normalize_advantages", "verl's RLOO estimator does not rescale by the batch std")
    job.skip("eval_fraction", "held-out prompts: set data.val_files and trainer.test_freq")
    job.skip("sample_every", "the playground's sample table; verl logs generations (trainer.log_val_generations)")


def rewards(job: Job, put: Any, model: str) -> None:
    rules, rms = reward_specs(job)
    if rms:
        put("reward", "reward_model.model.path", merge_reward_model(job, rms[0]))
        put(None, "reward_model.enable", True)
    if rules:
        reward_module(job, REWARD_BODY.format(model=model), "the rule rewards as verl's compute_score")
        put("reward", "custom_reward_function.path", "reward.py")
        put(None, "custom_reward_function.name", "compute_score")
    if rules and rms or len(rms) > 1:
        job.notes.append("several reward sources: verl adds the reward model's score and the function's; the "
                         "playground's reward_weights are not applied (check reward.py)")
    if hasattr(job.cfg, "reward_weights"):
        job.skip("reward_weights", "verl has one custom reward function: reward.py applies the weights itself"
                 if rules and not rms else "verl sums a reward model's and a function's score without weights")
