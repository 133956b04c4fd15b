"""Measure a finished reward model on held-out preference data: `python -m playground eval-rm --run RUN --file F`.

    report = evaluate_file("reward-20260101-120000-ab12", "heldout.jsonl")
    report["accuracy"], report["ci95"], report["n"]          # 0.6, (0.55, 0.65), 399
    print(report_text(report))                                # first line: accuracy=0.600 n=399

The file is any preference file the Preferences import understands (TRL prompt/chosen/rejected, conversational or
implicit-prompt, Anthropic HH transcripts; .jsonl / .json / .parquet). Rows the import cannot read are skipped
and counted, never fatal. Accuracy is the share of pairs where r(chosen) > r(rejected) (a tie counts as wrong),
with a 95% Wilson score interval: with n pairs the interval is about +-1/sqrt(n) wide, so 20 pairs cannot tell
0.6 from chance. The report adds the margin, the length-bias check (service.length_bias) and the accuracy per
source and per annotator where the file records them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from playground.core.errors import DataError
from playground.stages.reward.service import length_bias, load_reward_model, score_pairs

Z95 = 1.959964  # two-sided 95% normal quantile
GROUP_FIELDS = {"source": ("source", "pool", "kind"), "annotator": ("annotator",)}
SKIPPED_SHOWN = 5  # skipped rows listed by line number in the report


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n (stays inside [0, 1] and is sane for small n)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _group(rec: dict[str, Any], names: tuple[str, ...]) -> str:
    for name in names:
        v = rec.get(name)
        if v not in (None, ""):
            return str(v)
    return ""


def pairs_from_file(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(pairs {"prompt", "chosen", "rejected", "source", "annotator", "row"}, skipped rows as "line N: reason").

    Read by the Preferences import's reader (stages/preferences/io.read_pairs), so it takes the same files."""
    from playground.stages.preferences.io import read_pairs

    found, rejected, _ = read_pairs(path)
    pairs = []
    for p in found:
        rec = p["record"] if isinstance(p.get("record"), dict) else {}
        pairs.append({"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"], "row": p["where"],
                      **{g: _group(rec, names) for g, names in GROUP_FIELDS.items()}})
    return pairs, [r.text for r in rejected]


def _accuracy_row(name: str, scored: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(scored)
    k = sum(bool(s["agree"]) for s in scored)
    lo, hi = wilson_interval(k, n)
    margins = [s["margin"] for s in scored]
    return {"group": name, "n": n, "correct": k, "accuracy": k / n if n else float("nan"), "ci95": (lo, hi),
            "mean_margin": sum(margins) / n if n else float("nan")}


def summarise(scored: list[dict[str, Any]], skipped: list[str] | None = None) -> dict[str, Any]:
    """The report of scored pairs (service.score_pairs rows carrying "source" / "annotator")."""
    if not scored:
        raise DataError("no preference pairs to evaluate")
    overall = _accuracy_row("all", scored)
    margins = sorted(s["margin"] for s in scored)
    mid = len(margins) // 2
    median = margins[mid] if len(margins) % 2 else (margins[mid - 1] + margins[mid]) / 2
    breakdown: dict[str, list[dict[str, Any]]] = {}
    for g in GROUP_FIELDS:
        groups: dict[str, list[dict[str, Any]]] = {}
        for s in scored:
            if s.get(g):
                groups.setdefault(str(s[g]), []).append(s)
        if groups:
            breakdown[g] = [_accuracy_row(name, rows) for name, rows in sorted(groups.items())]
    from playground.stages.data import MIN_EVAL_PAIRS

    few = (f"only {len(scored)} pairs: too few for the accuracy to mean much (want at least {MIN_EVAL_PAIRS})"
           if len(scored) < MIN_EVAL_PAIRS else "")
    return {**overall, "median_margin": median, "length_bias": length_bias(scored), "by": breakdown, "warning": few,
            "skipped": len(skipped or []), "skipped_rows": list(skipped or [])[:SKIPPED_SHOWN]}


def evaluate_pairs(model: Any, tok: Any, pairs: list[dict[str, Any]], batch_size: int = 16,
                   skipped: list[str] | None = None) -> dict[str, Any]:
    if not pairs:
        raise DataError(f"no readable preference pairs{f' ({len(skipped)} rows skipped)' if skipped else ''}")
    return summarise(score_pairs(model, tok, pairs, batch_size), skipped)


def evaluate_file(run: str | Path, path: str | Path, batch_size: int = 16, model_tok: Any = None) -> dict[str, Any]:
    """Load the run (unless `model_tok` is given), read the file, score every pair, summarise."""
    pairs, skipped = pairs_from_file(path)
    if not pairs:
        raise DataError(f"{Path(path).name}: no readable preference pairs ({len(skipped)} rows skipped"
                        f"{'; ' + skipped[0] if skipped else ''})")
    model, tok = model_tok if model_tok is not None else load_reward_model(run)
    report = evaluate_pairs(model, tok, pairs, batch_size, skipped)
    report["file"] = str(path)
    report["run"] = str(run)
    return report


def _pct(x: float) -> str:
    return "–" if x != x else f"{x:.3f}"


def _lines(report: dict[str, Any], head: list[str], group_head: str, row: str, skipped: str) -> str:
    """The report as text: `head`, then per breakdown `group_head` and one `row` per group (str.format fields:
    g, group, n, acc, lo, hi, margin), then the skipped rows."""
    out = list(head)
    for g, rows in report["by"].items():
        out.append(group_head.format(g=g))
        out += [row.format(group=r["group"], n=r["n"], acc=_pct(r["accuracy"]), lo=_pct(r["ci95"][0]),
                           hi=_pct(r["ci95"][1]), margin=r["mean_margin"]) for r in rows]
    if report["skipped"]:
        out.append(skipped.format(n=report["skipped"]) + "; ".join(report["skipped_rows"]))
    return "\n".join(out)


def report_text(report: dict[str, Any]) -> str:
    """Plain lines for the CLI; the first is `accuracy=0.xxx n=N`."""
    lo, hi = report["ci95"]
    head = [f"accuracy={report['accuracy']:.3f} n={report['n']}",
            f"95% interval (Wilson): [{lo:.3f}, {hi:.3f}]  ({report['correct']} of {report['n']} pairs ranked the "
            "chosen answer first; a tie counts as wrong)",
            f"margin r(chosen) - r(rejected): mean {report['mean_margin']:+.3f}, median {report['median_margin']:+.3f}",
            f"length bias: {report['length_bias']['warning']}"]
    if report["warning"]:
        head.append(f"warning: {report['warning']}")
    return _lines(report, head, "by {g}:", "  {group:<24} accuracy={acc} n={n}  [{lo}, {hi}]  margin {margin:+.3f}",
                  "skipped {n} unreadable row(s): ")


def report_markdown(report: dict[str, Any]) -> str:
    """The same report for the Reward tab's Inspect section."""
    lo, hi = report["ci95"]
    head = [f"### accuracy {report['accuracy']:.3f} on n = {report['n']} pairs (95% interval {lo:.3f}–{hi:.3f})",
            f"Mean margin {report['mean_margin']:+.3f}, median {report['median_margin']:+.3f}. "
            f"{report['length_bias']['warning']}"]
    if report["warning"]:
        head.insert(1, f"⚠️ {report['warning'].capitalize()}.")
    return _lines(report, head, "\n| {g} | n | accuracy | 95% interval | mean margin |\n|---|---|---|---|---|",
                  "| {group} | {n} | {acc} | {lo}–{hi} | {margin:+.3f} |", "\nSkipped {n} unreadable row(s): ")
