"""GRPO stage: group-based online RL with TRL's GRPOTrainer + LoRA; `run_online` is also RLOO's (stages/rloo/train.py).

    python -m playground grpo --config presets/grpo/tiny-cpu.yaml [--set reward=rule:n_words --set sft_run=<id>]

Each step samples `num_generations` completions for each of `per_device_train_batch_size / num_generations` prompts
(transformers' generate: `use_vllm` is off), scores them with the reward functions (stages/reward/functions.py, the
interface PPO uses too), and updates the LoRA adapter on
    GRPO: A_i = (r_i - mean(r_group)) / std(r_group);  L = -mean_t min(rho_t A_i, clip(rho_t, 1 +- eps) A_i) + beta KL_t
    RLOO: A_i = (r_i - beta KL_i) - mean_{j != i}(r_j - beta KL_j)   (the KL folded into the reward, leave-one-out)
The reference is the base with the adapter off (or, with `sft_run`, a frozen copy of the SFT adapter).

Run dir: metrics.jsonl rows carry TRL's keys as logged (`reward`, `kl`, `reward_std`, `frac_reward_zero_std`,
`rewards/<fn>/mean`, `completions/mean_length`, `entropy`, `clip_ratio/region_mean`...); samples.jsonl holds every
completion of a step every `sample_every` steps, {"update", "group", "prompt", "completion", "reward", "rewards",
"advantage"}; a warning line goes to the log when most groups have zero reward variance (nothing to learn from).
With `gold_judge` / `gold_every`, a fixed sample of prompts is held out of training and the gold judge scores the
policy's answers to it before the first step and every gold_every steps: `gold_score`, `gold_proxy_score`, `gold_kl`
lines in metrics.jsonl (stages/evaluate/gold.py, the scorer PPO uses).
The skeleton (seed, rows, stop/resume, final eval, adapter, result.json) is stages/trainer.run_trl_stage.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from playground.stages.grpo.config import GRPORun, OnlineRun, zero_signal
from playground.stages.trainer import is_main_process, run_trl_stage

OBJECTIVES = {
    "grpo": "-min(rho A, clip(rho, 1-eps, 1+eps) A) + beta KL, A = (r - group mean) / group std",
    "rloo": "-min(rho A, clip(rho, 1-eps, 1+eps) A), A = (r - beta KL) - mean of the other completions' (r - beta KL)",
}


def online_rows(cfg: OnlineRun) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Conversational prompt rows {"prompt": messages} for training and held-out evaluation: a builtin:<task> is
    held out by its -heldout twin (other topics), any other set by `eval_fraction` of its prompts."""
    from playground.core import builtin
    from playground.stages.data import _split, prompt_rows

    prompts = prompt_rows(cfg.prompts)
    heldout = f"{cfg.prompts}-heldout"
    if cfg.eval_fraction <= 0:
        train, evals = prompts, []
    elif heldout in builtin.PROMPT_SETS:
        train, evals = prompts, prompt_rows(heldout)
    else:
        train, evals = _split(prompts, cfg.eval_fraction, cfg.seed)
    return [{"prompt": p} for p in train], [{"prompt": p} for p in evals], {}


def samples_callback(trainer: Any, run_dir: Path, cfg: OnlineRun, weights: list[float]) -> Any:
    """A TrainerCallback that writes the step's completions (TRL's own `_logs`: prompt, completion, each reward
    function's score, advantage) to samples.jsonl every `sample_every` steps, and warns in the log when most groups
    had zero reward variance."""
    from transformers import TrainerCallback

    from playground.core.chat import prompt_text, response_text
    from playground.core.runs import append_jsonl

    class OnlineSamples(TrainerCallback):
        def __init__(self) -> None:
            self.warned = False

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003
            if not is_main_process() or not logs or "reward" not in logs:  # eval rows carry eval_reward
                return
            step = state.global_step
            zero, reward = logs.get("frac_reward_zero_std"), float(logs["reward"])
            signal = zero_signal(zero if isinstance(zero, (int, float)) else None, reward)
            if signal and not self.warned:
                same = f"step {step}: {zero:.0%} of the groups gave all {cfg.num_generations} completions the same reward"
                if signal == "learned":
                    print(f"note: {same}, at a mean of {reward:.2f}: for a 0-1 rule the task looks learned (stop keeps "
                          "this adapter; or try a harder task)", flush=True)
                else:
                    print(f"warning: {same}: no learning signal there (try a denser reward, a higher temperature or a "
                          "larger group)", flush=True)
            self.warned = bool(signal)
            if cfg.sample_every <= 0 or not (step == 1 or step % cfg.sample_every == 0):
                return
            logs_ = trainer._logs  # TRL keeps the latest generation batch here (what its completions table reads)
            names = list(logs_["rewards"])
            rows = []
            for i, (p, c) in enumerate(zip(list(logs_["prompt"]), list(logs_["completion"]), strict=False)):
                per = {n: float(logs_["rewards"][n][i]) for n in names}
                total = sum(w * v for w, v in zip(weights, per.values(), strict=False) if not math.isnan(v))
                adv = list(logs_["advantages"])
                rows.append({"update": step, "group": i // cfg.num_generations, "prompt": prompt_text(p),
                             "completion": response_text(c), "reward": total, "rewards": per,
                             "advantage": float(adv[i]) if i < len(adv) else 0.0})
            for r in rows:
                append_jsonl(run_dir / "samples.jsonl", r)

    return OnlineSamples()


def _reward_curve(trainer: Any) -> tuple[float | None, float | None]:
    """(mean training reward over the first 3 logged steps, over the last 3)."""
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h and "loss" in h]
    if not rewards:
        return None, None
    k = min(3, len(rewards))
    return sum(rewards[:k]) / k, sum(rewards[-k:]) / k


def run_online(cfg: OnlineRun, run_dir: str | Path, stage: str, trl_classes: Any, stage_args: dict[str, Any]) -> Any:
    """GRPO's and RLOO's run: `trl_classes()` -> (TRL config class, TRL trainer class), imported when the job runs;
    `stage_args` the method's own config fields."""
    from playground.core import models
    from playground.stages.dpo.service import sft_adapter
    from playground.stages.reward.functions import build_rewards, parse_weights, split_specs

    run_dir = Path(run_dir)
    adapter_in = sft_adapter(cfg.sft_run) if cfg.sft_run.strip() else None
    weights = parse_weights(cfg.reward_weights, len(split_specs(cfg.reward)))
    holder: dict[str, Any] = {}

    def rows(tok: Any) -> tuple[list[dict], list[dict], dict[str, Any]]:  # noqa: ARG001
        train, evals, info = online_rows(cfg)
        if cfg.gold_every > 0:  # the gold judge's fixed sample, held out of training (stages/evaluate/gold.py)
            from playground.stages.evaluate.gold import split_off

            train, sample, held = split_off(train, cfg.seed)
            holder["gold"] = ([r["prompt"] for r in sample], held)
        return train, evals, info

    def load_model(spec: Any, device: str) -> Any:  # noqa: ARG001 - load_causal_lm picks the device from cfg
        model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                      attn_implementation=cfg.attn_implementation)
        if adapter_in is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter_in), is_trainable=True)  # TRL copies it as "ref"
        return model

    def make_trainer(model: Any, tok: Any, args: dict, train: Any, evals: Any, callbacks: list) -> Any:
        config_cls, trainer_cls = trl_classes()
        strip = {t for t in (tok.eos_token_id, tok.pad_token_id) if t is not None}
        device = str(next(model.parameters()).device)
        funcs = build_rewards(cfg.reward, cfg, device, strip_ids=strip)
        trl_args = config_cls(
            **args, num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
            temperature=cfg.temperature, beta=cfg.beta, epsilon=cfg.epsilon, num_iterations=cfg.num_iterations,
            max_grad_norm=cfg.max_grad_norm, reward_weights=weights, use_vllm=False, log_completions=False,
            **stage_args)
        peft_config = models.lora_config(cfg) if adapter_in is None and cfg.use_lora else None
        trainer = trainer_cls(model=model, reward_funcs=funcs, args=trl_args, train_dataset=train, eval_dataset=evals,
                              processing_class=tok, peft_config=peft_config, callbacks=callbacks)
        trainer.add_callback(samples_callback(trainer, run_dir, cfg, weights))
        if "gold" in holder:  # gold_score (and gold_kl) every gold_every steps, beside TRL's reward
            from playground.stages.evaluate.gold import trl_gold_callback
            from playground.stages.reward.functions import WeightedRewards

            sample, held = holder["gold"]
            trainer.add_callback(trl_gold_callback(trainer, cfg, run_dir, sample, held, WeightedRewards(funcs, weights),
                                                   device))
        holder["trainer"] = trainer
        return trainer

    def save(trainer: Any, out: Path) -> None:  # noqa: ARG001
        if (out / "ref").is_dir():  # the frozen reference copy of the SFT adapter is not part of the result
            shutil.rmtree(out / "ref")

    def result(trainer: Any, eval_metrics: dict[str, float], info: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
        first, last = _reward_curve(trainer)
        evals = [h["eval_reward"] for h in trainer.state.log_history if "eval_reward" in h]
        return {
            "use_lora": cfg.use_lora or adapter_in is not None,
            "sft_run": cfg.sft_run,
            "reward": cfg.reward,
            "reward_weights": weights,
            "prompts": cfg.prompts,
            "num_generations": cfg.num_generations,
            "beta": cfg.beta,
            "first_reward": first,
            "final_reward": last,
            "heldout_reward_before": evals[0] if len(evals) > 1 else None,
            "heldout_reward": eval_metrics.get("eval_reward"),
        }

    return run_trl_stage(cfg, run_dir, stage=stage, rows=rows, load_model=load_model, make_trainer=make_trainer,
                         result=result, save=save, eval_first=True,
                         callback_extra={"objective": OBJECTIVES[stage], "num_generations": cfg.num_generations,
                                         "reward_spec": cfg.reward})


def run(cfg: GRPORun, run_dir: str | Path) -> Any:
    def trl_classes() -> tuple[Any, Any]:
        from trl import GRPOConfig, GRPOTrainer

        return GRPOConfig, GRPOTrainer

    return run_online(cfg, run_dir, "grpo", trl_classes,
                      {"loss_type": cfg.loss_type, "scale_rewards": cfg.scale_rewards})

