"""Gold vs proxy during online RL: a judge the policy is not trained on, scored on fixed held-out prompts every K updates.

    gold_judge: str = gold_judge_field()        # the config fields PPO, GRPO and RLOO share (stages/*/config.py),
    gold_every: int = gold_every_field()        # and their rule: check_gold(cfg, where) in each validate()

    gold = GoldJudge.attach(trainer)            # PPO (stages/ppo/train.py): holds its prompts out, None when off
    gold.maybe_log(update)                      # every gold_every updates (and at update 0): one metrics.jsonl line

    train, sample, held = split_off(rows, seed)            # GRPO / RLOO (stages/grpo/train.py): before the dataset
    trainer.add_callback(trl_gold_callback(trainer, ...))  # a TrainerCallback: update 0, then every gold_every steps

The sample: up to HELD_OUT prompts picked with the run's seed and **removed from the training prompts** (with fewer
than 4 prompts nothing can be held out: the first prompt is scored and `gold_held_out` is 0). Every time, the same
prompts are answered with the same sampling seed by the current policy (the RNG is forked: scoring does not change
what training samples); the line carries `gold_score` (the gold judge's mean), `gold_proxy_score` (the training
reward's mean on the same answers), `gold_n`, and on the TRL path `gold_kl`, the mean over the answers of
log pi - log pi_base summed over each answer's tokens (the Evaluate tab's KL, stages/evaluate/metrics.py), so proxy
and gold can be drawn against KL: the over-optimisation plot (proxy keeps rising, gold turns down).

Only the main process scores (the answers are a measurement, not training); every process holds the same prompts
out. PPO's trainer is used through its own methods (`_left_pad`, `generate`, `reward_fn`): no import of stages/ppo;
TRL's through its own generation config and `unwrap_model_for_generation`, as its trainers generate.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from playground.core.config import MAX_STEPS, _f, need
from playground.core.errors import ConfigError
from playground.core.runs import append_metrics
from playground.stages.evaluate.judges import Judge, ScoreFn, build_judge, reward_spec
from playground.stages.trainer import STOP, is_main_process

HELD_OUT = 16
Answers = Callable[[], tuple[list[str], list[list[int]]]]  # the sample's answers now: (texts, token ids w/o EOS)


# -- the config fields PPO, GRPO and RLOO share --------------------------------------------------------------
def gold_judge_field() -> Any:
    return _f("", "A judge the policy is not trained on (rm:<run>, rule:<name>, expr:<expression>), scored every "
                  "gold_every updates on a fixed held-out prompt sample: gold_score in the metrics.")


def gold_every_field() -> Any:
    return _f(0, "Score the gold judge every N updates (0: off); its prompts are held out of training.", min=0,
              max=MAX_STEPS)


def check_gold(cfg: Any, where: str) -> None:
    """gold_every needs a judge; a judge spec must be well formed (a rule known, an expression that parses, an rm:
    with a run id). Nothing loads: whether the reward run exists is checked when the job starts."""
    spec = (cfg.gold_judge or "").strip()
    need(not cfg.gold_every or spec, where, "gold_every needs a gold_judge (e.g. rm:<run>)")
    if not spec:
        return
    try:
        target, params = reward_spec(spec)
        if target.startswith("rm:"):
            if not target[3:].strip():
                raise ConfigError("rm: needs a reward run id, e.g. rm:reward-20250101-120000-ab12")
        elif target == "rule:expr":
            from playground.core.expr import check_expression

            problem = check_expression(params.reward_expression)
            if problem:
                raise ConfigError(problem.removeprefix("reward_expression: "))
        else:
            from playground.stages.reward.functions import build_reward

            build_reward(target, params)  # rules are cheap to build
    except ConfigError as e:
        raise ConfigError(f"{where}: gold_judge: {e}") from None


# -- the sample ----------------------------------------------------------------------------------------------
def split_off(items: list[Any], seed: int) -> tuple[list[Any], list[Any], bool]:
    """(the items left for training, the gold sample, whether the sample is held out of training)."""
    n = len(items)
    k = min(HELD_OUT, n // 4)
    if not k:
        return list(items), list(items[:1]), False
    held = set(random.Random(seed).sample(range(n), k))
    return [x for i, x in enumerate(items) if i not in held], [items[i] for i in sorted(held)], True


@contextlib.contextmanager
def seeded(seed: int, device: Any = None) -> Iterator[None]:
    """The sample is drawn with its own seed, and the training RNG streams continue as if nothing was drawn."""
    import torch

    devices = [device] if device is not None and getattr(device, "type", str(device)) == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


class GoldJudge:
    def __init__(self, judge: Judge, msgs: list[Any], answers: Answers, proxy: ScoreFn, run_dir: Any, every: int,
                 held_out: bool, kl: Callable[[list[list[int]]], float | None] | None = None) -> None:
        self.judge, self.msgs, self.answers, self.proxy, self.kl = judge, msgs, answers, proxy, kl
        self.run_dir, self.every, self.held_out = run_dir, int(every), held_out

    @classmethod
    def attach(cls, trainer: Any) -> GoldJudge | None:
        """PPO: the sample is split off `trainer.prompt_ids` / `prompt_msgs` (which keep the rest)."""
        cfg = trainer.cfg
        if int(getattr(cfg, "gold_every", 0) or 0) <= 0:
            return None
        judge = build_judge(cfg.gold_judge, trainer.dist.device or cfg.device)  # a bad spec fails before any update
        keep, sample, held = split_off(list(zip(trainer.prompt_ids, trainer.prompt_msgs, strict=True)), cfg.seed)
        trainer.prompt_ids, trainer.prompt_msgs = [k[0] for k in keep], [k[1] for k in keep]
        ids, msgs = [s[0] for s in sample], [s[1] for s in sample]
        return cls(judge, msgs, lambda: _ppo_answers(trainer, ids), trainer.reward_fn, trainer.run_dir,
                   cfg.gold_every, held)

    def maybe_log(self, update: int) -> dict[str, float] | None:
        """Score and append the gold line when `update` is due (main process only); the values, else None."""
        if update % self.every != 0 or not is_main_process():
            return None
        texts, rows = self.answers()
        if STOP.is_set():
            return None  # generation was cut short by a stop: not a measurement of the policy
        gold = [float(x) for x in self.judge.score(self.msgs, texts, rows)]
        proxy = [float(x) for x in self.proxy(self.msgs, texts, rows)]
        out = {"gold_score": _mean(gold), "gold_proxy_score": _mean(proxy), "gold_n": float(len(texts)),
               "gold_held_out": float(self.held_out)}
        kl = self.kl(rows) if self.kl is not None else None
        if kl is not None:
            out["gold_kl"] = kl
        append_metrics(self.run_dir, update, **out)
        return out


def _cut(rows: list[list[int]], eos: set[int]) -> list[list[int]]:
    """Each answer's tokens before its first EOS (generate pads after it)."""
    out = []
    for row in rows:
        end = next((i for i, t in enumerate(row) if t in eos), len(row))
        out.append(row[:end])
    return out


def _ppo_answers(trainer: Any, ids: list[list[int]]) -> tuple[list[str], list[list[int]]]:
    t = trainer
    batch, attn = t._left_pad(ids)
    with seeded(int(t.cfg.seed) + 1, batch.device):
        responses = t.generate(batch, attn)
    rows = _cut(responses.tolist(), {t.eos_id})
    return t.tok.batch_decode(rows, skip_special_tokens=True), rows


# -- TRL's online trainers (GRPO, RLOO) ----------------------------------------------------------------------
@contextlib.contextmanager
def _policy(trainer: Any) -> Iterator[Any]:
    """TRL's policy ready to sample as its trainer samples (unwrapped, TRL's generation kwargs, gradient
    checkpointing off), in eval mode (no dropout) for the measurement."""
    import torch
    from trl.models import unwrap_model_for_generation

    with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                     generation_kwargs=getattr(trainer, "generation_kwargs", None),
                                     gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs) as model:
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield model
        finally:
            model.train(was)


def _trl_answers(trainer: Any, msgs: list[Any], seed: int) -> tuple[list[str], list[list[int]]]:
    import torch

    from playground.stages.evaluate.metrics import _prompt_ids

    tok = trainer.processing_class
    prompts = [_prompt_ids(tok, m) for m in msgs]
    width = max(len(p) for p in prompts)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attn = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):  # left padding, as generation wants
        ids[i, width - len(p):] = torch.tensor(p)
        attn[i, width - len(p):] = 1
    device = trainer.accelerator.device
    with _policy(trainer) as model, seeded(seed + 1, device):
        out = model.generate(input_ids=ids.to(device), attention_mask=attn.to(device),
                             generation_config=trainer.generation_config)
    eos = set(getattr(trainer, "eos_token_ids", None) or [tok.eos_token_id])
    rows = _cut(out[:, width:].tolist(), eos)
    return tok.batch_decode(rows, skip_special_tokens=True), rows


def _trl_kl(trainer: Any, msgs: list[Any], rows: list[list[int]]) -> float | None:
    """Mean over the answers of log pi(y|x) - log pi_base(y|x) (the adapter off); None without an adapter."""
    from playground.stages.evaluate.metrics import sequence_logps

    tok = trainer.processing_class
    with _policy(trainer) as model:
        if not hasattr(model, "disable_adapter"):
            return None
        logp = sequence_logps(model, tok, msgs, rows)
        with model.disable_adapter():
            base = sequence_logps(model, tok, msgs, rows)
    return _mean([a - b for a, b in zip(logp, base, strict=True)])


def trl_gold_callback(trainer: Any, cfg: Any, run_dir: Any, sample: list[Any], held_out: bool, proxy: ScoreFn,
                      device: str) -> Any:
    """A TrainerCallback scoring the gold judge on `sample` (prompt messages split off the training rows with
    split_off) before the first step and after every `gold_every`-th; the judge is built here (a reward model
    loads once)."""
    from transformers import TrainerCallback

    judge = build_judge(cfg.gold_judge, device)
    gold = GoldJudge(judge, sample, lambda: _trl_answers(trainer, sample, int(cfg.seed)), proxy, run_dir,
                     cfg.gold_every, held_out, kl=lambda rows: _trl_kl(trainer, sample, rows))

    class GoldCallback(TrainerCallback):
        def __init__(self) -> None:
            self.gold, self.began = gold, False

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            if state.global_step == 0 and not self.began:  # the point before training (not on a resume)
                self.began = True
                gold.maybe_log(0)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003
            if not STOP.is_set():
                gold.maybe_log(state.global_step)

    return GoldCallback()
