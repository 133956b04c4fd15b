"""KTO stage: learn from answers marked desirable or undesirable, no pairs needed (TRL's KTOTrainer + LoRA).

    python -m playground kto --config presets/kto/tiny-cpu.yaml [--set dataset=workspace --set sft_run=<id>]

Objective (Ethayarajh et al. 2024): with r(x, y) = log pi(y|x) - log pi_ref(y|x) and z_ref an estimate of
KL(pi || pi_ref) from mismatched prompt/answer pairs of the batch (the `kl` series),
    desirable y:   L = w_d * (1 - sigma(beta * (r - z_ref)))
    undesirable y: L = w_u * (1 - sigma(beta * (z_ref - r)))
so desirable answers are pushed above the reference's typical log-ratio and undesirable ones below it. The live
view shows loss, rewards/chosen and rewards/rejected (beta * r of the desirable / undesirable answers) and kl.

Data (service.py): the arena's 1-5 ratings (4-5 desirable, 1-2 undesirable, 3 dropped), optionally its votes, or the
built-in pairs split into both kinds. Each answer is fitted into max_length first (stages/data.fit_pair: the prompt's
start is cut, the answer kept whole where possible) so KTOTrainer does not cut answers at their end.
Reference model: as for DPO, the base with the adapter switched off, or a frozen copy of the SFT run's adapter when
`sft_run` is set. The skeleton is stages/trainer.run_trl_stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playground.stages.dpo.service import drop_ref_adapter, load_policy, sft_adapter
from playground.stages.kto.config import KTORun
from playground.stages.trainer import DataError, run_trl_stage

OBJECTIVE = "desirable: 1 - sigmoid(beta * (log-ratio - KL)); undesirable: 1 - sigmoid(beta * (KL - log-ratio))"


def fit_rows(tok: Any, rows: list[dict], max_length: int) -> tuple[list[dict], Any]:
    """Each answer with its prompt fitted into max_length (stages/data.fit_pair), and the FitReport."""
    from playground.stages.data import FitReport, fit_pair

    report, out = FitReport(max_length), []
    for row in rows:
        prompt, (answer,), how = fit_pair(tok, row["prompt"], [row["completion"]], max_length)
        if how.startswith("dropped"):
            report.dropped += 1
            why = how.split(": ", 1)[1]
            report.reasons[why] = report.reasons.get(why, 0) + 1
            continue
        report.kept += how == "kept"
        report.truncated += how != "kept"
        report.answer_cut += how == "answer_cut"
        out.append({**row, "prompt": prompt, "completion": answer})
    return out, report


def run(cfg: KTORun, run_dir: str | Path) -> Any:
    from playground.core import models
    from playground.stages.data import FitReport
    from playground.stages.kto.service import kto_rows

    adapter_in = sft_adapter(cfg.sft_run) if cfg.sft_run.strip() else None

    def rows(tok: Any) -> tuple[list[dict], list[dict], dict[str, Any]]:
        train, ev, counts = kto_rows(cfg.dataset, cfg.use_votes, cfg.eval_fraction, cfg.seed)
        train_fit, tr = fit_rows(tok, train, cfg.max_length)
        eval_fit, er = fit_rows(tok, ev, cfg.max_length)
        if len(train_fit) < 2:
            raise DataError(f"{len(train_fit)} answer(s) fit max_length={cfg.max_length}: {tr.line()}; raise max_length")
        both = FitReport(cfg.max_length)
        both.add(tr)
        both.add(er)
        good = sum(r["label"] for r in train_fit)
        notes = [f"Data: {len(train_fit)} train / {len(eval_fit)} eval answers ({good} desirable, "
                 f"{len(train_fit) - good} undesirable in train). {both.line().replace('pairs', 'answers')}."]
        return train_fit, eval_fit, {"train_pairs": len(train_fit), "eval_pairs": len(eval_fit), "fit": both.as_dict(),
                                     "warning": "", "notes": notes, **counts}

    def load_model(spec: Any, device: str) -> Any:  # noqa: ARG001 - load_causal_lm picks the device from cfg
        return load_policy(cfg, spec, adapter_in)

    def make_trainer(model: Any, tok: Any, args: dict, train: Any, evals: Any, callbacks: list) -> Any:
        from trl import KTOConfig, KTOTrainer

        kto_args = KTOConfig(**args, max_length=cfg.max_length, beta=cfg.beta, desirable_weight=cfg.desirable_weight,
                             undesirable_weight=cfg.undesirable_weight, dataset_num_proc=None)
        peft_config = models.lora_config(cfg) if adapter_in is None and cfg.use_lora else None
        return KTOTrainer(model=model, args=kto_args, train_dataset=train, eval_dataset=evals, processing_class=tok,
                          peft_config=peft_config, callbacks=callbacks)

    def result(trainer: Any, eval_metrics: dict[str, float], info: dict[str, Any]) -> dict[str, Any]:  # noqa: ARG001
        return {
            "use_lora": cfg.use_lora or adapter_in is not None,
            "sft_run": cfg.sft_run,
            "dataset": cfg.dataset,
            "beta": cfg.beta,
            "max_length": cfg.max_length,
            **{k: info[k] for k in ("desirable", "undesirable", "rated", "neutral", "from_votes")},
            "eval_loss": eval_metrics.get("eval_loss"),
            "eval_kl": eval_metrics.get("eval_kl"),
        }

    return run_trl_stage(cfg, run_dir, stage="kto", rows=rows, load_model=load_model, make_trainer=make_trainer,
                         result=result, save=drop_ref_adapter, callback_extra={"objective": OBJECTIVE})
