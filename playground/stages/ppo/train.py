"""PPO stage: our own compact PPO for causal LMs (TRL removed its PPOTrainer after 1.12).

    python -m playground ppo --config presets/ppo/tiny-cpu.yaml [--set reward=rule:length]

One trained model in memory (plus a sampling-only copy with `rollout_weights` merged or bf16): the policy is
base + LoRA adapter, the reference is the same base with the adapter switched off
(`with model.disable_adapter():`; started from an SFT run, the base has the SFT adapter merged in, so the reference
is the SFT model and KL starts at 0), and the value function is a linear head on the policy's last
hidden state (`value_model: head`) or on the last hidden state of a second LoRA adapter on the same base
(`value_model: adapter`: the value gets its own features for one more backbone pass). Each update:

1. rollout (no grad): sample `response_length` tokens per prompt with KV-cached `generate` (through the training
   model or a copy with the LoRA folded in: `rollout_weights`, rollout_copy.py); one forward pass
   with the adapter on gives old log-probs and values, one with it off gives reference log-probs.
2. reward: score(prompt, response) on the last real token (minus `missing_eos_penalty` when no EOS), and
   a per-token KL penalty  r_t = -beta * (log pi(y_t) - log pi_ref(y_t)).
3. GAE (gamma, lambda) -> advantages (whitened) and returns.
4. `ppo_epochs` passes over shuffled mini-batches, minimising the clipped objective
   L = -min(rho A, clip(rho, 1-eps, 1+eps) A) + vf_coef * 0.5 * max((V-R)^2, (V_clip-R)^2),  rho = pi/pi_old.

Several processes (`num_processes: 2`, launched through `accelerate launch`): each rank rolls out its own
`rollout_batch_size` prompts, advantage whitening and the logged statistics use the statistics of all ranks,
and gradients are averaged with one all_reduce per optimiser step (no DDP wrapper: the trainable LoRA and
value-head parameters are small), so every rank takes the same step and the weights stay identical.

Metrics go to metrics.jsonl every update, sample responses to samples.jsonl every `sample_every` updates
(update 0 is the policy before training), checkpoints to checkpoints/checkpoint-<update>/, the final adapter
(+ value_head.pt) to adapter/ with result.json.

Stop (SIGTERM sets STOP): an update on the bundled model takes minutes on a laptop CPU, so the flag is checked
inside it, during generation (a stopping criterion), between rollout mini-batches and before every optimiser
micro-batch. A stopped update is abandoned: the weights, optimiser and scheduler go back to where the last
completed update left them, and that update's adapter and checkpoint are saved ("kept" in result.json). A stop
before any update finished keeps nothing and says so.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from playground.core.chat import prompt_text
from playground.core.runs import append_jsonl, append_metrics, write_phase, write_result
from playground.stages.ppo import core, rollout_copy
from playground.stages.ppo.config import PPORun
from playground.stages.trackers import open_tracker  # report_to (issue 27)
from playground.stages.trainer import (
    STOP,
    DataError,
    checkpoints_dir,
    is_main_process,
    resolve_resume,
    seed_everything,
    speed_setup,
    speed_used,
)

N_SAMPLE_PROMPTS = 4
# Without gradient accumulation the first optimiser step's forward sees the same weights as the rollout's policy
# forward, on the first micro-batch of the first epoch's shuffle. The rollout therefore runs those rows first,
# with grad, and the first step reuses that pass instead of repeating it (PPOTrainer.rollout / optimise): one
# forward fewer per update, the same numbers. Tests switch it off to compare.
REUSE_ROLLOUT_PASS = True
KEEP_CHECKPOINTS = 2
POLICY_ADAPTER = "default"  # PEFT's name for the first adapter (also what an SFT adapter loads as)
VALUE_ADAPTER = "value"


SFT_ADAPTER, SAVED_POLICY = "sft_start", "policy"  # adapters that exist only while save_final joins them


# ---- the SFT start and the reference (issue 29): begin -------------------------------------------------------
def _sft_start(cfg: PPORun) -> tuple[str, Path | None]:
    """(base model, SFT adapter dir) for the starting policy: the SFT run's adapter and its base (the run-dir
    contract: core/runs), or the base alone."""
    from playground.core import runs

    sft = cfg.sft_run.strip()
    if not sft:
        return cfg.model, None
    adapter = runs.adapter_dir(sft)
    if adapter is None or not (adapter / "adapter_config.json").is_file():
        raise DataError(f"SFT run '{cfg.sft_run}' has no LoRA adapter in {runs.run_dir_of(sft) / 'adapter'} "
                        "(did it finish with use_lora?)")
    return runs.base_model(sft), adapter


def _fold_sft(model: Any, sft_adapter: Path | None) -> Any:
    """The frozen base PPO trains on: with an SFT start, the SFT adapter merged into it. The reference (the PPO
    adapter switched off) is then the SFT model, as in InstructGPT and TRL: KL is 0 at update 1 and the penalty
    holds the policy near its SFT start, not near the base. The rollout copy is built from this merged base too."""
    from peft import PeftModel

    if sft_adapter is None:
        return model
    return PeftModel.from_pretrained(model, str(sft_adapter)).merge_and_unload()


def _save_policy(model: Any, sft_adapter: Path | None, out: Path) -> None:
    """The policy as ONE adapter on the raw base, as every reader of adapter/ expects. With an SFT start the PPO
    adapter alone sits on the SFT-merged base, so it is saved joined with the SFT adapter: PEFT's
    add_weighted_adapter(combination_type="cat") stacks them (rank r_sft + r_ppo), B1 A1 s1 + B2 A2 s2 exactly."""
    if sft_adapter is None:
        model.save_pretrained(str(out), selected_adapters=[POLICY_ADAPTER])
        return
    import tempfile

    active = model.active_adapter
    model.load_adapter(str(sft_adapter), adapter_name=SFT_ADAPTER)
    try:
        model.add_weighted_adapter([SFT_ADAPTER, POLICY_ADAPTER], [1.0, 1.0], SAVED_POLICY, combination_type="cat")
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            model.save_pretrained(tmp, selected_adapters=[SAVED_POLICY])  # PEFT writes a named adapter to tmp/<name>
            for f in (Path(tmp) / SAVED_POLICY).iterdir():
                shutil.move(str(f), out / f.name)
    finally:
        for name in (SAVED_POLICY, SFT_ADAPTER):
            if name in model.peft_config:
                model.delete_adapter(name)
        model.set_adapter(active)
# ---- the SFT start and the reference: end ---------------------------------------------------------------------


class Abandoned(Exception):
    """STOP was seen inside an update: the partial update is dropped (raised between its steps)."""


def _stop_criteria() -> Any:
    """A generation stopping criterion that ends sampling as soon as STOP is set (every row at once)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _OnStop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), STOP.is_set(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_OnStop()])


class Dist:
    """The process group, or a no-op for one process. `accelerate launch` sets RANK / WORLD_SIZE; accelerate's
    PartialState then joins the group (gloo on CPU, NCCL on GPU) and picks this rank's device."""

    def __init__(self, device: str) -> None:
        import os

        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0)
        self.device: str | None = None
        if self.world > 1:
            import torch
            from accelerate import PartialState

            state = PartialState(cpu=device == "cpu" or not torch.cuda.is_available())  # gloo on CPU
            self.world, self.rank, self.device = state.num_processes, state.process_index, str(state.device)

    def sum(self, t: Any) -> Any:
        """In place all-reduce sum (identity for one process)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def mean_grads(self, params: list[Any]) -> None:
        """Average .grad over ranks with one flat all-reduce."""
        if self.world == 1:
            return
        import torch
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        for p in params:
            if p.grad is None:  # every rank must send the same layout
                p.grad = torch.zeros_like(p)
        grads = [p.grad for p in params]
        flat = self.sum(_flatten_dense_tensors(grads)) / self.world
        for g, f in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
            g.copy_(f)

    def any(self, flag: bool) -> bool:
        """True on every rank when it is True on one (stop together, or the others wait in all_reduce)."""
        if self.world == 1:
            return flag
        import torch

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return bool(self.sum(t).item() > 0)


class PPOTrainer:
    """Holds the one model, the value head, the optimiser and the reward; `train()` runs the updates."""

    def __init__(self, cfg: PPORun, run_dir: str | Path) -> None:
        import torch
        from peft import get_peft_model
        from transformers import GenerationConfig, get_scheduler

        from playground.core import models
        from playground.stages.data import prompt_rows
        from playground.stages.ppo.rules import build_reward

        cfg.validate()  # every rule lives in PPORun.validate; a PPORun built in code is checked here too
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.dist = Dist(cfg.device)
        seed_everything(cfg.seed)  # the same seed on every rank: identical LoRA initialisation
        self.speed = speed_setup(cfg)
        # the reward comes first: a bad spec should fail before minutes of model loading
        self.reward_fn = build_reward(cfg.reward, cfg, self.dist.device or cfg.device)
        base_name, sft_adapter = _sft_start(cfg)
        self.base_model = base_name
        spec = models.resolve(base_name)
        self.device, _ = models.pick_device(cfg.device)
        if self.dist.device is not None:
            self.device = self.dist.device  # this rank's GPU (or cpu)
        self.tok = models.load_tokenizer(spec, cfg.trust_remote_code)
        self.tok.padding_side = "left"
        write_phase(run_dir, "loading model")
        model = models.load_causal_lm(spec, cfg.device, cfg.trust_remote_code,
                                      attn_implementation=cfg.attn_implementation).to(self.device)
        self.sft_adapter = sft_adapter
        model = _fold_sft(model, sft_adapter)  # the reference is the SFT model (the base when there is none)
        # the weights that sample (rollout_copy.py): a copy of the base, taken before PEFT wraps it
        self.rollout_weights = rollout_copy.resolve(cfg.rollout_weights, self.device)
        self.sampler: rollout_copy.MergedCopy | None = None
        if self.rollout_weights in ("merged", "bf16"):
            dtype = torch.bfloat16 if self.rollout_weights == "bf16" else next(model.parameters()).dtype
            self.sampler = rollout_copy.MergedCopy.build(model, dtype)
        self.weights_version = 0  # +1 whenever the trainable weights change (the sampler refreshes on it)
        model = get_peft_model(model, models.lora_config(cfg))  # the PPO adapter, B = 0: policy = reference
        # dropout off everywhere: with it on, log pi_old from the rollout and log pi in the first PPO pass
        # would differ for identical weights and the ratio would not start at 1
        model.eval()
        self.model = model
        self.value_adapter = cfg.value_model == "adapter"
        if self.value_adapter:
            # the value function's own LoRA on the same frozen base: its own features, no second model
            model.add_adapter(VALUE_ADAPTER, models.lora_config(cfg))
            model.set_adapter(POLICY_ADAPTER)
        if self.sampler is not None:
            self.sampler.attach(model, POLICY_ADAPTER)
        # PEFT's set_adapter freezes the adapters it switches away from; both must stay trainable
        self._lora_params = [p for n, p in model.named_parameters() if "lora_" in n]
        for p in self._lora_params:
            p.requires_grad_(True)
        base = model.get_base_model()
        self.decoder = base.get_decoder()
        self.lm_head = base.get_output_embeddings()
        models.contiguous_head_input(base)
        if self.sampler is not None:
            models.contiguous_head_input(self.sampler.model)
        hidden = base.config.get_text_config().hidden_size
        # value head in fp32 and zero-initialised: V = 0 at the start, so early advantages are the raw returns
        self.value_head = torch.nn.Linear(hidden, 1).to(self.device, torch.float32)
        torch.nn.init.zeros_(self.value_head.weight)
        torch.nn.init.zeros_(self.value_head.bias)
        params = [p for p in model.parameters() if p.requires_grad] + list(self.value_head.parameters())
        # eps=1e-5 as in the OpenAI / N+ implementations (the default 1e-8 makes early steps jumpy)
        self.optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, eps=1e-5, weight_decay=0.0,
                                           fused=cfg.fused_optimizer or None)
        self.scheduler = get_scheduler(cfg.lr_scheduler_type, self.optimizer, num_warmup_steps=cfg.warmup_steps,
                                       num_training_steps=cfg.total_updates)
        self.kl_ctl: Any = (core.AdaptiveKLController(cfg.kl_coef, cfg.target_kl, cfg.kl_horizon) if cfg.adaptive_kl
                            else core.FixedKLController(cfg.kl_coef))
        self.eos_id = self.tok.eos_token_id
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.eos_id
        self.gen_config = GenerationConfig(
            max_new_tokens=cfg.response_length, min_new_tokens=0, do_sample=True, temperature=cfg.temperature,
            top_k=0, top_p=1.0, eos_token_id=self.eos_id, pad_token_id=self.pad_id, use_cache=True,
        )
        self.prompt_msgs = prompt_rows(cfg.prompts)
        self.prompt_ids = [self._encode_prompt(m) for m in self.prompt_msgs]
        # gold judge (stages/evaluate/gold.py): holds its prompts out of training; None unless gold_every > 0
        from playground.stages.evaluate.gold import GoldJudge

        self.gold = GoldJudge.attach(self)
        self.step = 0

    # ---- data -------------------------------------------------------------------------------------------
    def _encode_prompt(self, msgs: list[dict[str, str]]) -> list[int]:
        if self.tok.chat_template:
            ids = self.tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
        else:
            ids = self.tok("\n".join(m["content"] for m in msgs), add_special_tokens=True)["input_ids"]
        ids = list(ids)[-self.cfg.max_prompt_length:]  # keep the end: the generation prompt must survive
        if not ids:
            raise DataError("a prompt encodes to zero tokens")
        return ids

    def _batch_indices(self, update: int) -> list[int]:
        """Prompts for an update: a deterministic function of (seed, update), so a resumed run sees the same."""
        import numpy as np

        n, b = len(self.prompt_ids), self.cfg.rollout_batch_size
        rng = np.random.default_rng([self.cfg.seed * 100003 + update, self.dist.rank])
        return [int(i) for i in rng.choice(n, size=b, replace=n < b)]

    def _left_pad(self, seqs: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.tensor(s)
            attn[i, width - len(s):] = 1
        return ids.to(self.device), attn.to(self.device)

    # ---- model passes -----------------------------------------------------------------------------------
    def forward(self, ids: Any, attn: Any, ctx: int, values: bool = True) -> tuple[Any, Any]:
        """Logits (temperature-scaled, fp32) and values for the response positions of a batch.

        One pass through the shared backbone; the LM head runs only on the response positions, which is
        most of the saving on a 49k-token vocabulary."""
        h = self._hidden(ids, attn, ctx)
        # in place: a fresh 8 x 48 x 49k output costs more in page faults than the division itself (the matmul
        # saved its inputs, not its output, so autograd allows it)
        logits = self.lm_head(h).float().div_(self.cfg.temperature)
        if not values:
            return logits, None
        if self.value_adapter:
            return logits, self.values(ids, attn, ctx)
        return logits, self.value_head(h.float()).squeeze(-1)

    def _hidden(self, ids: Any, attn: Any, ctx: int) -> Any:
        """Last hidden state at the positions that predict the response tokens (with the active adapter)."""
        pos = (attn.cumsum(1) - 1).clamp(min=0)  # left padding: positions start at each row's first token
        hidden = self.decoder(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=False).last_hidden_state
        return hidden[:, ctx - 1:-1]

    def _activate(self, name: str) -> None:
        self.model.set_adapter(name)
        for p in self._lora_params:  # set_adapter turned requires_grad off for the other adapter
            p.requires_grad_(True)

    def values(self, ids: Any, attn: Any, ctx: int) -> Any:
        """Values from the value adapter's pass (value_model: adapter); the policy adapter is active again after."""
        self._activate(VALUE_ADAPTER)
        try:
            h = self._hidden(ids, attn, ctx)
        finally:
            self._activate(POLICY_ADAPTER)
        return self.value_head(h.float()).squeeze(-1)

    def reference_logits(self, ids: Any, attn: Any, ctx: int) -> Any:
        import torch

        with torch.no_grad(), self.model.disable_adapter():
            out = self.forward(ids, attn, ctx, values=False)[0]
        # leaving disable_adapter re-freezes the inactive (value) adapter; a graph built before this call (the
        # reused rollout pass) would then drop that adapter's gradients, so it stays trainable
        for p in self._lora_params:
            p.requires_grad_(True)
        return out

    def generate(self, ids: Any, attn: Any) -> Any:
        """Sample responses from the policy: through the training model, or through the sampler copy with the
        current adapter folded in (rollout_weights)."""
        import torch

        model = self.model
        if self.sampler is not None:
            self.sampler.refresh(self.weights_version)
            model = self.sampler.model
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=attn, generation_config=self.gen_config,
                                 stopping_criteria=_stop_criteria())
        return out[:, ids.shape[1]:]

    def _decode(self, responses: Any, mask: Any) -> tuple[list[str], list[list[int]]]:
        ids_list = []
        for row, m in zip(responses.tolist(), mask.tolist(), strict=True):
            ids = [t for t, keep in zip(row, m, strict=True) if keep and t != self.eos_id]
            ids_list.append(ids)
        texts = self.tok.batch_decode(ids_list, skip_special_tokens=True)
        return texts, ids_list

    def score(self, msgs: list[Any], texts: list[str], ids_list: list[list[int]], responses: Any) -> Any:
        import torch

        raw = self.reward_fn(msgs, texts, ids_list)
        scores = torch.tensor([float(x) for x in raw], dtype=torch.float32, device=self.device)
        if self.cfg.missing_eos_penalty and self.eos_id is not None:
            has_eos = (responses == self.eos_id).any(1)
            scores = scores - self.cfg.missing_eos_penalty * (~has_eos).float()
        return scores

    # ---- one update -------------------------------------------------------------------------------------
    def rollout(self, update: int) -> dict[str, Any]:
        import torch

        write_phase(self.run_dir, f"rollout {update}: sampling {self.cfg.rollout_batch_size} responses")
        idx = self._batch_indices(update)
        msgs = [self.prompt_msgs[i] for i in idx]
        q_ids, q_attn = self._left_pad([self.prompt_ids[i] for i in idx])
        ctx = q_ids.shape[1]
        # sampling is reproducible per update (and on resume), and differs between ranks
        torch.manual_seed(self.cfg.seed * 7919 + update + 1_000_003 * self.dist.rank)
        responses = self.generate(q_ids, q_attn)
        self.check_stop("generation")  # a stopped generate returns early: its responses are cut short
        mask = core.response_mask(responses, self.eos_id)
        ids = torch.cat([q_ids, responses], 1)
        attn = torch.cat([q_attn, mask.long()], 1)
        n, mb = ids.shape[0], self.cfg.mini_batch_size
        first_pass = None
        chunks = [list(range(s, min(s + mb, n))) for s in range(0, n, mb)]
        reuse = REUSE_ROLLOUT_PASS and self.cfg.ppo_epochs > 0 and self.cfg.gradient_accumulation_steps == 1
        if reuse:
            # the rows of the first optimiser step (optimise draws the same shuffle) go first, with grad
            first = self._shuffle(self.step, n)[:self.cfg.per_device_train_batch_size]
            rest = sorted(set(range(n)) - set(first))
            chunks = [first] + [rest[s:s + mb] for s in range(0, len(rest), mb)]
        logprobs, ref_logprobs, values = [], [], []
        with torch.no_grad():
            for j, rows in enumerate(chunks):
                self.check_stop("rollout scoring")
                sl = torch.tensor(rows, device=self.device)
                with torch.set_grad_enabled(reuse and j == 0):
                    logits, v = self.forward(ids[sl], attn[sl], ctx)
                    lp = core.logprobs_from_logits(logits, responses[sl])
                if lp.requires_grad:
                    first_pass = (rows, logits, v, lp)
                logprobs.append(lp.detach())
                values.append(v.detach())
                del logits
                ref = self.reference_logits(ids[sl], attn[sl], ctx)
                ref_logprobs.append(core.logprobs_from_logits(ref, responses[sl]))
                del ref
        back = torch.argsort(torch.tensor([r for rows in chunks for r in rows], device=self.device))  # to row order
        logprobs, ref_logprobs = torch.cat(logprobs)[back], torch.cat(ref_logprobs)[back]
        values = torch.cat(values)[back]
        texts, ids_list = self._decode(responses, mask)
        scores = self.score(msgs, texts, ids_list, responses)
        kl = core.kl_penalty(logprobs, ref_logprobs, self.cfg.kl_estimator) * mask
        rewards, non_score = core.rewards_with_kl(scores, kl, mask, self.kl_ctl.value)
        values = values * mask
        adv, returns = core.gae(rewards, values, mask, self.cfg.gamma, self.cfg.lam)
        if self.cfg.whiten_advantages:  # with several processes: the mean / variance over every rank's tokens
            adv = core.masked_whiten(adv, mask, total=self.dist.sum)
        return dict(ids=ids, attn=attn, ctx=ctx, responses=responses, mask=mask, logprobs=logprobs * mask,
                    values=values, advantages=adv, returns=returns, scores=scores, kl=kl, non_score=non_score,
                    first_pass=first_pass)

    def optimise(self, batch: dict[str, Any]) -> dict[str, float]:
        import torch

        cfg = self.cfg
        n = batch["ids"].shape[0]
        micro, accum = cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps
        stats: dict[str, list[float]] = {k: [] for k in
                                         ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "vf_clipfrac",
                                          "grad_norm")}
        gen = self._shuffle_generator(self.step)
        first_pass = batch.pop("first_pass", None)  # the rollout's forward of this update's first rows, with grad
        for _epoch in range(cfg.ppo_epochs):
            perm = torch.randperm(n, generator=gen).tolist()
            for start in range(0, n, cfg.mini_batch_size):
                mb_idx = perm[start:start + cfg.mini_batch_size]
                for k in range(0, len(mb_idx), micro):
                    self.check_stop("optimisation")
                    rows = mb_idx[k:k + micro]
                    i = torch.tensor(rows, device=self.device)
                    if first_pass is not None and first_pass[0] == rows:  # the rollout ran these rows: reuse
                        logits, v, lp = first_pass[1:]
                    else:
                        logits, v = self.forward(batch["ids"][i], batch["attn"][i], batch["ctx"])
                        lp = core.logprobs_from_logits(logits, batch["responses"][i])
                    first_pass = None
                    m = batch["mask"][i]
                    pg, clipfrac, approx_kl = core.policy_loss(lp, batch["logprobs"][i], batch["advantages"][i], m,
                                                               cfg.cliprange)
                    vl, vf_clipfrac = core.value_loss(v, batch["values"][i], batch["returns"][i], m, cfg.cliprange_value)
                    loss = (pg + cfg.vf_coef * vl) / accum
                    loss.backward()
                    with torch.no_grad():
                        ent = core.masked_mean(core.entropy_from_logits(logits), m)
                    for key, val in (("policy_loss", pg), ("value_loss", vl), ("entropy", ent),
                                     ("approx_kl", approx_kl), ("clipfrac", clipfrac), ("vf_clipfrac", vf_clipfrac)):
                        stats[key].append(float(val.detach()))
                    del logits, v, lp, loss
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                self.dist.mean_grads(params)
                # the norm is a metric either way; inf = measure without clipping (max_grad_norm 0 = off)
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf)
                stats["grad_norm"].append(float(norm))
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.weights_version += 1
        return {k: sum(v) / max(1, len(v)) for k, v in stats.items()}

    def _shuffle_generator(self, step: int) -> Any:
        """The generator of update `step`'s mini-batch shuffles (reproducible per update and on resume)."""
        import torch

        return torch.Generator().manual_seed(self.cfg.seed * 31 + step)

    def _shuffle(self, step: int, n: int) -> list[int]:
        """The first epoch's order of update `step`'s n rows, as optimise draws it."""
        import torch

        return torch.randperm(n, generator=self._shuffle_generator(step)).tolist()

    def check_stop(self, where: str) -> None:
        """Raise Abandoned when STOP is set (on any rank: every rank leaves the update at the same point)."""
        if self.dist.any(STOP.is_set()):
            raise Abandoned(where)

    def _snapshot(self) -> dict[str, Any]:
        """What one update changes (trainable weights, optimiser, scheduler): the LoRA and value head are small."""
        import copy

        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        return {"params": [p.detach().clone() for p in params], "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "scheduler": copy.deepcopy(self.scheduler.state_dict())}

    def _restore(self, snap: dict[str, Any]) -> None:
        import torch

        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        with torch.no_grad():
            for p, saved in zip(params, snap["params"], strict=True):
                p.copy_(saved)
        self.optimizer.load_state_dict(snap["optimizer"])
        self.scheduler.load_state_dict(snap["scheduler"])
        self.optimizer.zero_grad(set_to_none=True)
        self.weights_version += 1

    def update(self) -> dict[str, float]:
        """One PPO update (rollout + optimise); returns the metrics that go to metrics.jsonl.

        Raises Abandoned when stopped inside it; the model is then as the previous update left it."""
        t0 = time.time()
        self.step += 1
        snap = None
        try:
            batch = self.rollout(self.step)
            t_roll = time.time() - t0
            snap = self._snapshot()
            write_phase(self.run_dir, f"update {self.step}: optimising")
            stats = self.optimise(batch)
        except Abandoned:
            if snap is not None:
                self._restore(snap)
            self.step -= 1
            raise
        self.scheduler.step()
        import torch

        kl_coef = self.kl_ctl.value
        n_seq = batch["ids"].shape[0]
        eos = (batch["responses"] == self.eos_id).any(1).float().sum() if self.eos_id is not None else 0.0
        # sums over this rank's sequences, then over all ranks: every rank logs / adapts beta on the same numbers
        tot = self.dist.sum(torch.tensor([batch["kl"].sum().item(), batch["non_score"].sum().item(),
                                          batch["scores"].sum().item(), float(batch["mask"].sum()), float(eos),
                                          float(n_seq), *stats.values()], dtype=torch.float64, device=self.device))
        tot = tot.tolist()
        n_all = tot[5]
        kl_seq, non_score, score = tot[0] / n_all, tot[1] / n_all, tot[2] / n_all
        stats = {k: v / self.dist.world for k, v in zip(stats, tot[6:], strict=True)}
        self.kl_ctl.update(kl_seq, int(n_all))
        dt = time.time() - t0
        n_tokens = tot[3]
        extra = {}
        if hasattr(self.reward_fn, "errors"):  # rule:expr: responses whose expression failed (scored 0), so far
            extra["reward_errors"] = float(self.reward_fn.errors)
        return dict(**extra, score=score, kl=kl_seq, non_score_reward=non_score, rlhf_reward=score + non_score, **stats,
                    response_length=n_tokens / n_all, tokens_per_s=n_tokens / max(dt, 1e-9),
                    kl_coef=kl_coef, learning_rate=self.scheduler.get_last_lr()[0], eos_fraction=tot[4] / n_all,
                    rollout_s=t_roll, update_s=dt)

    # ---- samples, checkpoints ---------------------------------------------------------------------------
    def write_samples(self, update: int) -> list[float]:
        """Responses to the first few prompts (same sampling seed every time, so rows compare before vs now)."""
        import torch

        k = min(N_SAMPLE_PROMPTS, len(self.prompt_ids))
        ids, attn = self._left_pad(self.prompt_ids[:k])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.seed)
            responses = self.generate(ids, attn)
        if self.dist.any(STOP.is_set()):
            return []  # cut short by a stop: not a sample of the policy
        mask = core.response_mask(responses, self.eos_id)
        texts, ids_list = self._decode(responses, mask)
        scores = self.score(self.prompt_msgs[:k], texts, ids_list, responses).tolist()
        if is_main_process():
            for msgs, text, s in zip(self.prompt_msgs[:k], texts, scores, strict=True):
                prompt = prompt_text(msgs) or msgs[-1]["content"]
                append_jsonl(self.run_dir / "samples.jsonl",
                             {"update": update, "time": time.time(), "prompt": prompt, "response": text, "score": s})
        return scores

    def save_checkpoint(self) -> Path:
        import torch

        out = checkpoints_dir(self.run_dir) / f"checkpoint-{self.step}"
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))  # the policy adapter at the top, a value adapter in value/
        torch.save(self.value_head.state_dict(), out / "value_head.pt")
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                   out / "optimizer.pt")
        (out / "trainer_state.json").write_text(json.dumps({"step": self.step, "kl_coef": self.kl_ctl.value}))
        old = sorted((p for p in out.parent.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                     key=lambda p: int(p.name.split("-")[-1]))
        for p in old[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(p, ignore_errors=True)
        return out

    def load_checkpoint(self, path: str | Path) -> None:
        import torch
        from peft import load_peft_weights, set_peft_model_state_dict

        path = Path(path)
        state_file = path / "trainer_state.json"
        if not state_file.is_file():
            raise DataError(f"{path} is not a PPO checkpoint (no trainer_state.json)")
        state = json.loads(state_file.read_text())
        saved_with = "adapter" if (path / VALUE_ADAPTER).is_dir() else "head"
        if saved_with != self.cfg.value_model:
            raise DataError(f"{path} was saved with value_model: {saved_with}; resume it with the same setting")
        set_peft_model_state_dict(self.model, load_peft_weights(str(path), device=self.device))
        if self.value_adapter:
            set_peft_model_state_dict(self.model, load_peft_weights(str(path / VALUE_ADAPTER), device=self.device),
                                      adapter_name=VALUE_ADAPTER)
        self.value_head.load_state_dict(torch.load(path / "value_head.pt", map_location=self.device))
        opt = torch.load(path / "optimizer.pt", map_location=self.device, weights_only=False)
        self.optimizer.load_state_dict(opt["optimizer"])
        self.scheduler.load_state_dict(opt["scheduler"])
        self.step = int(state["step"])
        self.weights_version += 1
        self.kl_ctl.value = float(state.get("kl_coef", self.kl_ctl.value))

    def save_final(self, extra: dict[str, Any]) -> Path | None:
        """The policy adapter (+ value head) in adapter/ and result.json. Nothing to save before the first update
        finished (step 0): result.json then says that nothing was kept."""
        import torch

        if self.step == 0:
            write_result(self.run_dir, {"global_step": 0, "base_model": self.base_model, "adapter": None,
                                        "use_lora": True, "sft_run": self.cfg.sft_run, "reward": self.cfg.reward,
                                        **extra})
            return None

        out = self.run_dir / "adapter"
        _save_policy(self.model, self.sft_adapter, out)  # the policy only (joined with its SFT start, if any)
        self._activate(POLICY_ADAPTER)  # PEFT's set_adapter froze the value adapter again
        self.tok.save_pretrained(str(out))
        torch.save(self.value_head.state_dict(), out / "value_head.pt")
        write_result(self.run_dir, {
            "global_step": self.step, "base_model": self.base_model, "adapter": str(out), "use_lora": True,
            "sft_run": self.cfg.sft_run, "reward": self.cfg.reward, **extra,
            "speed": {**speed_used(self.speed, self.model, self.optimizer), "rollout_weights": self.rollout_weights},
        })
        return out

    # ---- the loop ---------------------------------------------------------------------------------------
    def train(self) -> None:
        cfg = self.cfg
        resume = resolve_resume(cfg, self.run_dir)
        if resume:
            self.load_checkpoint(resume)
            print(f"resumed from {resume} at update {self.step}", flush=True)
        start = self.step
        main = is_main_process()
        tracker = open_tracker(cfg, self.run_dir, enabled=main)  # report_to: stages/trackers.py
        if main:
            append_metrics(self.run_dir, self.step, event="train_begin", max_steps=cfg.total_updates,
                           prompts=len(self.prompt_ids), resumed=bool(resume))
        first = last = None
        abandoned = ""
        if self.step == 0 and cfg.sample_every > 0:
            s = self.write_samples(0)
            first = sum(s) / len(s) if s else None
        if self.gold is not None and self.step == 0:  # gold judge: the point before training
            self.gold.maybe_log(0)
        while self.step < cfg.total_updates and not self.dist.any(STOP.is_set()):
            try:
                m = self.update()
            except Abandoned as e:
                abandoned = f"update {self.step + 1} was stopped during {e} and dropped"
                if main:
                    print(f"stop: {abandoned}; keeping update {self.step}", flush=True)
                break
            last = m["score"]
            if main:
                append_metrics(self.run_dir, self.step, max_steps=cfg.total_updates, **m)
                tracker.log(self.step, m)  # report_to
                print(f"update {self.step}/{cfg.total_updates} score {m['score']:.4f} kl {m['kl']:.4f} "
                      f"entropy {m['entropy']:.3f} {m['update_s']:.2f}s", flush=True)
            if self.gold is not None:  # gold judge: gold_score every gold_every updates (main process only)
                self.gold.maybe_log(self.step)
            stopping = self.dist.any(STOP.is_set())
            done = self.step >= cfg.total_updates or stopping
            if cfg.sample_every > 0 and not stopping and (self.step % cfg.sample_every == 0 or done):
                self.write_samples(self.step)
            if main and cfg.save_steps > 0 and self.step % cfg.save_steps == 0 and not done:
                self.save_checkpoint()
        if self.dist.world > 1:
            # one line per rank: the test (and a curious user) can check that the ranks hold the same weights
            checksum = sum(float(p.detach().double().sum()) for p in self.model.parameters() if p.requires_grad)
            print(f"rank {self.dist.rank}/{self.dist.world}: trainable checksum {checksum:.10e}", flush=True)
        if main:
            stopped = STOP.is_set()
            if self.step > 0:
                ckpt = self.save_checkpoint()  # always leave a resumable checkpoint (stop / resume)
                kept = f"adapter after update {self.step} ({ckpt.name})"
                if stopped and self.step == start and start > 0:
                    kept += ", as resumed: no new update finished"
            else:
                kept = "nothing: stopped before the first update finished"
            self.save_final({"first_sample_score": first, "last_score": last, "stopped": stopped,
                             "num_processes": self.dist.world, "kept": kept, "abandoned": abandoned or None})
        tracker.close()  # report_to


def run(cfg: PPORun, run_dir: str | Path) -> None:
    PPOTrainer(cfg, run_dir).train()

