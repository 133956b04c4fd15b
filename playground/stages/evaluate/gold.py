"""Gold vs proxy during PPO: a judge the policy is not trained on, scored on fixed held-out prompts every K updates.

    gold = GoldJudge.attach(trainer)   # in PPOTrainer.__init__ once its prompts are encoded; None when gold_every is 0
    gold.maybe_log(update)             # every gold_every updates (and at update 0): one metrics.jsonl line

The sample: up to HELD_OUT prompts picked with the run's seed and **removed from the training prompts** (with fewer
than 4 prompts nothing can be held out: the first prompt is scored and the line says held_out=false). Every time,
the same prompts are answered with the same sampling seed by the current policy; the line carries `gold_score` (the
gold judge's mean), `gold_proxy_score` (the training reward's mean on the same answers) and `gold_n`, so proxy and
gold can be drawn against the update's KL, the over-optimisation plot (proxy keeps rising, gold turns down).

Only the main process scores (the answers are a measurement, not training); every process holds the same prompts
out. The trainer is used through its own methods (`_left_pad`, `generate`, `reward_fn`): no import of stages/ppo.
"""

from __future__ import annotations

import random
from typing import Any

from playground.core.runs import append_metrics
from playground.stages.evaluate.judges import Judge, build_judge
from playground.stages.evaluate.metrics import mean
from playground.stages.trainer import STOP, is_main_process

HELD_OUT = 16


class GoldJudge:
    def __init__(self, trainer: Any, judge: Judge, ids: list[list[int]], msgs: list[Any], held_out: bool) -> None:
        self.trainer, self.judge, self.ids, self.msgs, self.held_out = trainer, judge, ids, msgs, held_out
        self.every = int(trainer.cfg.gold_every)

    @classmethod
    def attach(cls, trainer: Any) -> GoldJudge | None:
        cfg = trainer.cfg
        if int(getattr(cfg, "gold_every", 0) or 0) <= 0:
            return None
        judge = build_judge(cfg.gold_judge, trainer.dist.device or cfg.device)  # a bad spec fails before any update
        n = len(trainer.prompt_ids)
        k = min(HELD_OUT, n // 4)
        held = sorted(random.Random(cfg.seed).sample(range(n), k)) if k else [0]
        ids = [trainer.prompt_ids[i] for i in held]
        msgs = [trainer.prompt_msgs[i] for i in held]
        if k:
            keep = [i for i in range(n) if i not in set(held)]
            trainer.prompt_ids = [trainer.prompt_ids[i] for i in keep]
            trainer.prompt_msgs = [trainer.prompt_msgs[i] for i in keep]
        return cls(trainer, judge, ids, msgs, held_out=bool(k))

    def _answers(self) -> tuple[list[str], list[list[int]]]:
        import torch

        t = self.trainer
        ids, attn = t._left_pad(self.ids)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(t.cfg.seed) + 1)
            responses = t.generate(ids, attn)
        eos = t.eos_id
        rows = []
        for row in responses.tolist():  # the answer: tokens before the first EOS (generate pads after it)
            rows.append(row[:row.index(eos)] if eos in row else row)
        return t.tok.batch_decode(rows, skip_special_tokens=True), rows

    def maybe_log(self, update: int) -> dict[str, float] | None:
        """Score and append the gold line when `update` is due (main process only); the values, else None."""
        if update % self.every != 0 or not is_main_process():
            return None
        texts, rows = self._answers()
        if STOP.is_set():
            return None  # generation was cut short by a stop: not a measurement of the policy
        gold = [float(x) for x in self.judge.score(self.msgs, texts, rows)]
        proxy = [float(x) for x in self.trainer.reward_fn(self.msgs, texts, rows)]
        out = {"gold_score": mean(gold), "gold_proxy_score": mean(proxy), "gold_n": float(len(texts))}
        append_metrics(self.trainer.run_dir, update, **out)
        return out
