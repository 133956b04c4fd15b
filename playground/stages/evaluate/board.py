"""The leaderboard: every evaluated policy with its latest numbers from each judge, plus the human verdicts.

    rows = leaderboard(ws)                  # newest evaluation wins per (policy, judge); human:<pool> rows too
    to_csv(rows), to_markdown(rows)         # the exports
    arena_ratings(ws)                       # the arena's Bradley-Terry / Elo table over the evaluation pools

Tables for the tab (pandas frames, one row per result / prompt) are built here too, so the tab only lays out.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from playground.core.errors import DataError
from playground.core.workspace import Workspace
from playground.stages.evaluate.human import eval_pools, human_results
from playground.stages.evaluate.service import prompt_label
from playground.stages.preferences import pairs as prefs

BOARD_COLUMNS = ["policy", "judge", "baseline", "win_rate", "ci_low", "ci_high", "n", "wins", "ties", "losses",
                 "both_bad", "mean_score", "length", "kl", "ppl", "bleu", "rougeL", "prompts", "evaluated"]
SORTABLE = ["win_rate", "ci_low", "mean_score", "kl", "length", "n", "ppl", "bleu", "rougeL", "policy", "judge"]
# one sentence per metric: the tab shows them as hover tooltips, the Markdown export as a legend
METRIC_HELP = {
    "win_rate": "Share of prompts where the judge scored the policy's answer above the baseline's; ties count half.",
    "ci_low": "Lower end of the 95% Wilson interval of the win-rate: above 0.5 means better than the baseline.",
    "ci_high": "Upper end of the 95% Wilson interval of the win-rate.",
    "n": "Prompts judged (for humans: votes).",
    "ties": "Prompts where both answers scored the same (humans: called a tie); each counts half a win.",
    "both_bad": "Human votes saying both answers were bad; each counts half a win, like a tie.",
    "mean_score": "The judge's mean score of the policy's answers.",
    "length": "Mean answer length in generated tokens.",
    "kl": "Mean of log p_policy(y|x) - log p_base(y|x) over the policy's answers: how far it drifted from the base.",
    "ppl": "Perplexity of the dataset's reference answers under the policy (lower: the references look likelier).",
    "bleu": "sacrebleu corpus BLEU (0-100) of the answers against the reference answers.",
    "rougeL": "rouge-score ROUGE-L F-measure (0-1) of the answers against the reference answers, averaged.",
}


def _r(x: Any, nd: int = 3) -> Any:
    return None if x is None or x != x else round(float(x), nd)


def _row(r: dict[str, Any], ref: dict[str, Any] | None, prompts: str, when: float) -> dict[str, Any]:
    lo, hi = r["ci"]
    ref = ref or {}
    return {"policy": r["policy"], "judge": r["judge"], "baseline": r.get("baseline", ""),
            "win_rate": _r(r["win_rate"]), "ci_low": _r(lo), "ci_high": _r(hi), "n": r["n"], "wins": r["wins"],
            "ties": r["ties"], "losses": r["losses"], "both_bad": r.get("both_bad", 0),
            "mean_score": _r(r.get("mean_score"), 4), "length": _r(r.get("length"), 1), "kl": _r(r.get("kl"), 4),
            "ppl": _r(ref.get("ppl"), 2), "bleu": _r(ref.get("bleu"), 2), "rougeL": _r(ref.get("rougeL"), 4),
            "prompts": prompts, "evaluated": time.strftime("%Y-%m-%d %H:%M", time.localtime(when))}


def leaderboard(ws: Workspace, sort_by: str = "win_rate") -> list[dict[str, Any]]:
    """Latest result per (policy, judge) over every stored evaluation, then the human pools' verdicts."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in ws.evaluations():
        rep = ev["report"]
        refs = {r["policy"]: r for r in rep.get("reference", [])}
        for r in rep.get("results", []):
            key = (r["policy"], r["judge"])
            if key not in seen:
                seen[key] = _row(r, refs.get(r["policy"]), rep.get("where", rep.get("prompts", "")), ev["created"])
    for pool in eval_pools(ws):
        for r in human_results(ws, pool):
            seen.setdefault((r["policy"], r["judge"]), _row(r, None, f"pool '{pool}'", time.time()))
    rows = list(seen.values())
    key = sort_by if sort_by in SORTABLE else "win_rate"
    text = key in ("policy", "judge")
    rows.sort(key=lambda r: (r[key] is None, r[key] if text else -(r[key] or 0.0)))
    return rows


def board_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=BOARD_COLUMNS)


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=BOARD_COLUMNS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def to_markdown(rows: list[dict[str, Any]]) -> str:
    def cell(v: Any) -> str:
        return "" if v is None else str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(BOARD_COLUMNS) + " |", "|" + " --- |" * len(BOARD_COLUMNS)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in BOARD_COLUMNS) + " |" for r in rows]
    legend = [f"- **{k}**: {v}" for k, v in METRIC_HELP.items()]
    return "\n".join(lines + ["", *legend]) + "\n"


def export_board(ws: Workspace, fmt: str, sort_by: str = "win_rate") -> tuple[Path, str]:
    """The leaderboard as a CSV or Markdown file in a temporary folder: (path, one-line message)."""
    rows = leaderboard(ws, sort_by)
    if not rows:
        raise DataError("The leaderboard is empty: run an evaluation first.")
    md = fmt.lower() in ("md", "markdown")
    out = Path(tempfile.mkdtemp(prefix="pg-board-")) / f"leaderboard.{'md' if md else 'csv'}"
    out.write_text(to_markdown(rows) if md else to_csv(rows), encoding="utf-8")
    return out, f"⬇️ {len(rows)} rows as {'Markdown' if md else 'CSV'}."


def arena_ratings(ws: Workspace) -> pd.DataFrame:
    """The arena's Bradley-Terry / Elo table (pairs.leaderboard) of each evaluation pool that has votes."""
    cols = ["pool", "source", "rating", "ci_low", "ci_high", "battles", "wins", "losses", "ties", "win_rate"]
    rows = [{"pool": pool, **r} for pool in eval_pools(ws) for r in prefs.leaderboard(ws, pool, n_boot=100)]
    return pd.DataFrame(rows, columns=cols)


# -- the tab's tables for one report ------------------------------------------------------------------------
RESULT_COLUMNS = ["policy", "judge", "win_rate", "ci_low", "ci_high", "n", "wins", "ties", "losses", "mean_score",
                  "baseline_score", "length", "kl"]


def results_frame(report: dict[str, Any] | None) -> pd.DataFrame:
    rows = []
    for r in (report or {}).get("results", []):
        lo, hi = r["ci"]
        rows.append({"policy": r["policy"], "judge": r["judge"], "win_rate": _r(r["win_rate"]), "ci_low": _r(lo),
                     "ci_high": _r(hi), "n": r["n"], "wins": r["wins"], "ties": r["ties"], "losses": r["losses"],
                     "mean_score": _r(r["mean_score"], 4), "baseline_score": _r(r["baseline_score"], 4),
                     "length": _r(r["length"], 1), "kl": _r(r["kl"], 4)})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def reference_frame(report: dict[str, Any] | None) -> pd.DataFrame:
    rows = [{"policy": r["policy"], "n": r["n"], "ppl": _r(r["ppl"], 2), "bleu": _r(r["bleu"], 2),
             "rougeL": _r(r["rougeL"], 4)} for r in (report or {}).get("reference", [])]
    return pd.DataFrame(rows, columns=["policy", "n", "ppl", "bleu", "rougeL"])


def prompt_frame(report: dict[str, Any] | None, policy: str = "", judge: str = "") -> pd.DataFrame:
    """Per-prompt rows of one policy (all when ""): prompt, both answers, length, KL and one judge's two scores."""
    cols = ["#", "policy", "prompt", "answer", "baseline answer", "score", "baseline score", "outcome", "length",
            "kl", "reference"]
    out = []
    for r in (report or {}).get("rows", []):
        if policy and r["policy"] != policy:
            continue
        s = r["scores"].get(judge) or next(iter(r["scores"].values()), [None, None])
        diff = None if None in s else s[0] - s[1]
        outcome = "" if diff is None else ("win" if diff > 1e-9 else "loss" if diff < -1e-9 else "tie")
        out.append({"#": r["i"], "policy": r["policy"], "prompt": prompt_label(r["prompt"], 200), "answer": r["answer"],
                    "baseline answer": r["baseline_answer"], "score": _r(s[0], 4), "baseline score": _r(s[1], 4),
                    "outcome": outcome, "length": r["length"], "kl": _r(r["kl"], 4), "reference": r["reference"] or ""})
    return pd.DataFrame(out, columns=cols)


def human_frame(ws: Workspace, pool: str) -> pd.DataFrame:
    cols = ["policy", "judge", "votes", "wins", "losses", "ties", "both_bad", "win_rate", "ci_low", "ci_high"]
    rows = [{"policy": r["policy"], "judge": r["judge"], "votes": r["n"], "wins": r["wins"], "losses": r["losses"],
             "ties": r["ties"], "both_bad": r["both_bad"], "win_rate": _r(r["win_rate"]), "ci_low": _r(r["ci"][0]),
             "ci_high": _r(r["ci"][1])} for r in (human_results(ws, pool) if pool else [])]
    return pd.DataFrame(rows, columns=cols)


# -- gold vs proxy of a PPO run (gold_judge / gold_every, stages/evaluate/gold.py) ---------------------------------
GOLD_HELP = ("gold_proxy_score: the training reward on a fixed held-out prompt sample; gold_score: a judge the policy "
             "is not trained on, on the same answers; x: KL to the reference at that update.")


GOLD_STAGES = ("ppo", "grpo", "rloo")  # the stages whose config takes a gold_judge (stages/evaluate/gold.py)


def gold_curve(run_dir: str | Path | None) -> list[dict[str, Any]]:
    """The run's gold lines as points against KL to the reference: [{"update", "kl", "gold_score",
    "gold_proxy_score"}]. KL: the gold answers' own KL to the base when the line has it (`gold_kl`: GRPO / RLOO,
    whose training KL at a step is the one before that step's update), else the training KL logged at the same
    update (PPO), 0 before training."""
    from playground.core.runs import read_metrics

    if not run_dir:
        return []
    rows = read_metrics(run_dir)
    kl = {r["step"]: r["kl"] for r in rows if isinstance(r.get("kl"), (int, float)) and "gold_score" not in r}

    def kl_of(r: dict[str, Any]) -> float | None:
        if isinstance(r.get("gold_kl"), (int, float)):
            return float(r["gold_kl"])
        return 0.0 if r["step"] == 0 else kl.get(r["step"])

    return [{"update": r["step"], "kl": kl_of(r), "gold_score": r["gold_score"],
             "gold_proxy_score": r.get("gold_proxy_score")} for r in rows
            if "gold_score" in r and kl_of(r) is not None]
