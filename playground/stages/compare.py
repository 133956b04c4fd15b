"""Compare finished policy runs across methods (PPO, GRPO, RLOO, DPO, SFT) on one footing.

    req = CompareRequest(runs=["ppo-...", "grpo-...", "dpo-..."], prompts="builtin:prompts", reward="rule:length:8")
    result = compare(ws, req)                 # every run's adapter judged by the same reward on the same prompts
    paths = write_outputs(result, out_dir)    # compare.csv, compare.svg, compare.png, compare.json
    print("\n".join(summary_lines(result)))

What the training curves cannot give: each method logs its own reward (PPO a KL-penalised score, DPO none at all,
GRPO/RLOO the batch mean of their reward functions), on its own prompts, so their curves do not compare. Here each
run's final adapter answers the same held-out prompts with the same seeded sampling, and one reward function scores
every answer and the base model's. The generation, the answer cache, the judges and the KL to the base are the
Evaluate stage's (`stages/evaluate/service.evaluate`: answers cached per (policy, prompt, seed, sampling), so a
second comparison only generates what is new; the report is also stored for the Evaluate leaderboard).

What each run cost comes from its own files: wall-clock = training time in metrics.jsonl (the time between each
`train_begin` and the last row after it, summed over resumes; `elapsed` when a trainer logs it), samples generated
= optimiser steps x completions sampled per step (PPO: rollout_batch_size per update; GRPO/RLOO: the completions
of per_device_train_batch_size x gradient_accumulation_steps, divided by num_iterations reuse; DPO / SFT: 0, they
train on fixed data). The chart draws, per run, the held-out reward from the base's (at 0) to the run's (at its
cost), against wall-clock and against samples generated, and the KL of each policy to the base.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playground.core.errors import ConfigError
from playground.core.runs import read_config, read_metrics, read_status
from playground.core.workspace import Workspace

COMPARE_STAGES = ("ppo", "grpo", "rloo", "dpo", "kto", "sft")  # policy runs a comparison accepts
DEFAULT_TOKENS = 48
CSV_COLUMNS = ["run", "stage", "steps", "wall_s", "samples", "heldout_reward", "base_reward", "gain", "kl_to_base",
               "win_rate", "length", "n"]


@dataclass
class CompareRequest:
    """Runs to compare, the held-out prompts, one reward (a judge spec: rule:NAME[:ARG], expr:EXPR, rm:RUN)."""

    runs: list[str]
    prompts: str
    reward: str
    n: int = 16  # prompts: the first n of the set
    temperature: float = 1.0  # 1 and top-p 1: the mean log-ratio of the answers is then an estimate of the KL
    top_p: float = 1.0
    max_new_tokens: int = 0  # 0: the longest completion the runs trained on (their max_completion_length /
    #                          response_length), DEFAULT_TOKENS when no run says
    seed: int = 0

    def validate(self, ws: Workspace) -> None:
        """ConfigError (one line naming the field) before any model loads."""
        ids = [r.strip() for r in self.runs if r and r.strip()]
        if len(ids) < 1:
            raise ConfigError("compare: runs: name at least one finished PPO/GRPO/RLOO/DPO run")
        for rid in ids:
            row = ws.get_run(rid)
            if row is None:
                raise ConfigError(f"compare: run '{rid}' is not in this workspace")
            if row["stage"] not in COMPARE_STAGES:
                raise ConfigError(f"compare: run '{rid}' is a {row['stage']} run; compare takes policy runs "
                                  f"({', '.join(COMPARE_STAGES)})")
        if not (self.reward or "").strip():
            raise ConfigError("compare: reward: name one (e.g. rule:length:8, expr:..., rm:RUN)")


# -- what each run cost -----------------------------------------------------------------------------------------
def train_seconds(rows: list[dict[str, Any]]) -> float:
    """Training wall-clock from metrics.jsonl: per segment (a train_begin and the rows after it), last time minus
    begin time, summed over resumes; a trainer's own `elapsed` on the last row when it has no train_begin."""
    total, begin, last = 0.0, None, None
    for r in rows:
        t = r.get("time")
        if not isinstance(t, (int, float)):
            continue
        if r.get("event") == "train_begin":
            if begin is not None and last is not None:
                total += max(0.0, last - begin)
            begin, last = float(t), float(t)
        elif begin is not None:
            last = float(t)
    if begin is not None and last is not None:
        total += max(0.0, last - begin)
    if total == 0.0:
        el = [r["elapsed"] for r in rows if isinstance(r.get("elapsed"), (int, float))]
        total = float(el[-1]) if el else 0.0
    return total


def samples_per_step(stage: str, cfg: dict[str, Any]) -> float:
    """Completions sampled per logged step (see the module docstring); 0 for offline methods."""
    procs = max(1, int(cfg.get("num_processes", 1) or 1))
    if stage == "ppo":
        return float(cfg.get("rollout_batch_size", 0)) * procs
    if stage in ("grpo", "rloo"):
        per = int(cfg.get("per_device_train_batch_size", 0)) * int(cfg.get("gradient_accumulation_steps", 1) or 1)
        return per * procs / max(1, int(cfg.get("num_iterations", 1) or 1))
    return 0.0


def run_cost(run_dir: str | Path, stage: str, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"steps", "wall_s", "samples"} of one run from its metrics.jsonl and config."""
    rows = read_metrics(run_dir)
    steps = max([int(r["step"]) for r in rows if isinstance(r.get("step"), int) and r.get("event") is None] or [0])
    cfg = cfg if cfg is not None else read_config(run_dir)
    logged = [r["samples"] for r in rows if isinstance(r.get("samples"), (int, float))]  # a trainer's own count
    samples = float(logged[-1]) if logged else steps * samples_per_step(stage, cfg)
    return {"steps": steps, "wall_s": round(train_seconds(rows), 3), "samples": int(samples)}


def answer_tokens(ws: Workspace, ids: list[str], asked: int) -> int:
    """`asked`, or (0) the longest completion length the runs sampled in training."""
    if int(asked) > 0:
        return int(asked)
    lengths = []
    for rid in ids:
        cfg = (ws.get_run(rid) or {}).get("config") or {}
        lengths += [int(cfg[k]) for k in ("max_completion_length", "response_length") if isinstance(cfg.get(k), int)]
    return max(lengths) if lengths else DEFAULT_TOKENS


# -- the comparison -------------------------------------------------------------------------------------------
def compare(ws: Workspace, req: CompareRequest, loader: Any = None,
            progress: Callable[[float, str], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Judge every run's adapter and the base model with `req.reward` on the same prompts; the result rows (one per
    run, CSV_COLUMNS) with the base's reward. UserError (one line) for bad input, before any model loads."""
    from playground.stages.evaluate.service import EvalRequest, evaluate

    req.validate(ws)
    ids = list(dict.fromkeys(r.strip() for r in req.runs if r and r.strip()))
    tokens = answer_tokens(ws, ids, req.max_new_tokens)
    ev = EvalRequest(policies=ids, prompts=req.prompts, baseline="base", judges=[req.reward.strip()], n=int(req.n),
                     temperature=float(req.temperature), top_p=float(req.top_p),
                     max_new_tokens=tokens, seed=int(req.seed))
    report = evaluate(ws, ev, loader, progress, should_stop)
    by_run = {r["policy"]: r for r in report["results"]}
    rows = []
    for rid in ids:
        run = ws.get_run(rid)
        res = by_run[rid]
        cost = run_cost(run["run_dir"], run["stage"], run.get("config") or None)
        rows.append({"run": rid, "stage": run["stage"], **cost, "heldout_reward": res["mean_score"],
                     "base_reward": res["baseline_score"], "gain": res["mean_score"] - res["baseline_score"],
                     "kl_to_base": res["kl"], "win_rate": res["win_rate"], "length": res["length"], "n": res["n"]})
    base = rows[0]["base_reward"] if rows else float("nan")
    return {"created": time.time(), "request": asdict(req), "max_new_tokens": tokens, "prompts": report["where"],
            "n": report["n"],
            "model": report["model"], "base_reward": base, "rows": rows, "evaluation": report.get("id"),
            "generated": report["generated"], "cached": report["cached"],
            "states": {rid: read_status(ws.get_run(rid)["run_dir"]).get("state") for rid in ids}}


def _num(v: Any, fmt: str) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def csv_text(result: dict[str, Any]) -> str:
    """One row per run, CSV_COLUMNS, numbers at full precision (4 decimals for rewards)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result["rows"]:
        w.writerow([r["run"], r["stage"], r["steps"], _num(r["wall_s"], ".1f"), r["samples"],
                    *(_num(r[k], ".4f") for k in ("heldout_reward", "base_reward", "gain", "kl_to_base", "win_rate")),
                    _num(r["length"], ".1f"), r["n"]])
    return buf.getvalue()


def summary_lines(result: dict[str, Any]) -> list[str]:
    """`run=<id> stage=<s> reward=0.xxxx (base 0.xxxx, gain +0.xxxx) kl=0.xxxx wall_s=N samples=N` per run."""
    req = result["request"]
    out = [f"reward {req['reward']} on {result['n']} prompts from {result['prompts']} (model {result['model']}); "
           f"base reward {_num(result['base_reward'], '.4f')}"]
    for r in sorted(result["rows"], key=lambda r: -r["gain"] if r["gain"] == r["gain"] else math.inf):
        out.append(f"run={r['run']} stage={r['stage']} reward={_num(r['heldout_reward'], '.4f')} "
                   f"(base {_num(r['base_reward'], '.4f')}, gain {_num(r['gain'], '+.4f')}) "
                   f"kl={_num(r['kl_to_base'], '.4f')} wall_s={_num(r['wall_s'], '.1f')} samples={r['samples']} "
                   f"steps={r['steps']}")
    return out


def write_outputs(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """compare.csv, compare.svg, compare.png and compare.json in `out_dir` (made if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "compare.csv", "svg": out / "compare.svg", "png": out / "compare.png",
             "json": out / "compare.json"}
    paths["csv"].write_text(csv_text(result), encoding="utf-8")
    paths["svg"].write_text(chart_svg(result), encoding="utf-8")
    write_png(result, paths["png"])
    paths["json"].write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return paths


# -- the chart: one scene of shapes, written as SVG (the UI, compare.svg) and drawn as PNG with Pillow ----------
# (no plotting library: matplotlib is not a dependency; Pillow comes with gradio)
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]
CW, CH, PW, PH = 1260, 400, 340, 270  # canvas, one panel's plot area
PX, PY = [60, 480, 900], 40  # panels' left edges, top edge
Shape = tuple[Any, ...]  # ("line", x1, y1, x2, y2, colour, width, dashed) / ("poly", pts, colour, width) /
#                          ("dot", x, y, r, colour) / ("rect", x, y, w, h, colour, fill) / ("text", x, y, s, anchor,
#                          size, colour, bold)


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About n round values in [lo, hi] (steps of 1, 2, 5 x 10^k)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    return [round(k * step, 12) for k in range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)]


def _label(v: float) -> str:
    a = abs(v)
    return "0" if a == 0 else (f"{v:.1e}" if a >= 1e5 or a < 1e-3 else f"{v:.4g}")


def _span(vals: list[float], floor0: bool = False) -> tuple[float, float]:
    vals = [v for v in vals if v == v and math.isfinite(v)] or [0.0]
    lo, hi = (min(0.0, *vals) if floor0 else min(vals)), max(vals)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return (lo if floor0 and lo == 0 else lo - pad), hi + pad


def _axes(px: int, title: str, x_title: str, xr: tuple[float, float], yr: tuple[float, float],
          x_ticks: bool = True) -> tuple[list[Shape], Callable[[float], float], Callable[[float], float]]:
    def sx(v: float) -> float:
        return px + (v - xr[0]) / (xr[1] - xr[0]) * PW

    def sy(v: float) -> float:
        return PY + PH - (v - yr[0]) / (yr[1] - yr[0]) * PH

    grey = "#888888"
    out: list[Shape] = [("text", px, PY - 12, title, "start", 14, "#222222", True),
                        ("rect", px, PY, PW, PH, grey, None),
                        ("text", px + PW / 2, PY + PH + 36, x_title, "middle", 12, "#555555", False)]
    for t in _ticks(*yr):
        out += [("line", px, sy(t), px + PW, sy(t), "#dddddd", 1, False),
                ("text", px - 5, sy(t) + 4, _label(t), "end", 11, "#555555", False)]
    for t in _ticks(*xr, n=4) if x_ticks else []:
        out.append(("text", sx(t), PY + PH + 16, _label(t), "middle", 11, "#555555", False))
    return out, sx, sy


def chart_scene(result: dict[str, Any]) -> list[Shape]:
    """Held-out reward vs wall-clock, vs samples generated (a line per run from the base's reward at 0 to the run's
    at its cost), and KL to the base per run; a legend under the panels."""
    rows, base = result["rows"], result["base_reward"]
    yr = _span([base, *(r["heldout_reward"] for r in rows)])
    shapes: list[Shape] = []
    for px, key, title, xt in ((PX[0], "wall_s", "Held-out reward vs wall-clock", "training seconds"),
                               (PX[1], "samples", "Held-out reward vs samples generated", "completions sampled")):
        axes, sx, sy = _axes(px, title, xt, _span([0.0, *(float(r[key]) for r in rows)], floor0=True), yr)
        shapes += axes
        if base == base:
            shapes.append(("line", px, sy(base), px + PW, sy(base), "#999999", 1, True))
        for i, r in enumerate(rows):
            c = PALETTE[i % len(PALETTE)]
            pts = [(sx(0.0), sy(base)), (sx(float(r[key])), sy(r["heldout_reward"]))]
            shapes += [("poly", pts, c, 2.5), ("dot", *pts[-1], 4.5, c)]
    kls = [r["kl_to_base"] for r in rows]
    axes, _sx, sy = _axes(PX[2], "KL to the base (nats per answer)", "runs", (0.0, max(1, len(rows))),
                          _span(kls, floor0=True), x_ticks=False)
    shapes += axes
    width = PW / max(1, len(rows))
    for i, r in enumerate(rows):
        kl = r["kl_to_base"] if r["kl_to_base"] == r["kl_to_base"] else 0.0
        top, zero = sy(max(kl, 0.0)), sy(min(kl, 0.0))
        shapes.append(("rect", PX[2] + i * width + width * 0.2, top, width * 0.6, max(1.0, zero - top),
                       PALETTE[i % len(PALETTE)], PALETTE[i % len(PALETTE)]))
    x, y = PX[0], PY + PH + 62
    shapes.append(("line", x, y - 4, x + 22, y - 4, "#999999", 1, True))
    shapes.append(("text", x + 28, y, f"base model {_label(base) if base == base else '?'}", "start", 12, "#333333",
                   False))
    x += 170
    for i, r in enumerate(rows):
        label = f"{r['run']} ({r['stage'].upper()}) {_label(r['heldout_reward'])}"
        shapes += [("line", x, y - 4, x + 22, y - 4, PALETTE[i % len(PALETTE)], 3, False),
                   ("text", x + 28, y, label, "start", 12, "#333333", False)]
        x += 40 + 7 * len(label)
        if x > CW - 300:
            x, y = PX[0], y + 20
    return shapes


def chart_svg(result: dict[str, Any]) -> str:
    """The chart as one inline SVG (strokes explicit: nothing depends on the page's CSS)."""
    from html import escape

    parts = [f'<svg class="pg-compare-svg" viewBox="0 0 {CW} {CH}" width="100%" role="img" '
             f'aria-label="run comparison" xmlns="http://www.w3.org/2000/svg" style="font-family: sans-serif; '
             f'background: #ffffff">']
    for s in chart_scene(result):
        kind = s[0]
        if kind == "line":
            dash = ' stroke-dasharray="5 4"' if s[7] else ""
            parts.append(f'<line x1="{s[1]:.1f}" y1="{s[2]:.1f}" x2="{s[3]:.1f}" y2="{s[4]:.1f}" stroke="{s[5]}" '
                         f'stroke-width="{s[6]}"{dash}/>')
        elif kind == "poly":
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in s[1])
            parts.append(f'<polyline class="pg-line" points="{pts}" fill="none" stroke="{s[2]}" '
                         f'stroke-width="{s[3]}" stroke-linecap="round"/>')
        elif kind == "dot":
            parts.append(f'<circle cx="{s[1]:.1f}" cy="{s[2]:.1f}" r="{s[3]}" fill="{s[4]}"/>')
        elif kind == "rect":
            parts.append(f'<rect x="{s[1]:.1f}" y="{s[2]:.1f}" width="{s[3]:.1f}" height="{s[4]:.1f}" '
                         f'stroke="{s[5]}" fill="{s[6] or "none"}"/>')
        else:
            weight = ' font-weight="600"' if s[7] else ""
            parts.append(f'<text x="{s[1]:.1f}" y="{s[2]:.1f}" text-anchor="{s[4]}" font-size="{s[5]}" '
                         f'fill="{s[6]}"{weight}>{escape(str(s[3]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_png(result: dict[str, Any], path: str | Path, scale: int = 2) -> Path:
    """The same scene drawn with Pillow at `scale` x the SVG's size."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (CW * scale, CH * scale), "white")
    draw = ImageDraw.Draw(img)
    fonts: dict[int, Any] = {}

    def font(size: int) -> Any:
        if size not in fonts:
            fonts[size] = ImageFont.load_default(size=size * scale)
        return fonts[size]

    def xy(*v: float) -> list[float]:
        return [c * scale for c in v]

    for s in chart_scene(result):
        kind = s[0]
        if kind == "line" and s[7]:  # dashed
            x1, y1, x2, y2 = s[1:5]
            n = max(1, int(math.hypot(x2 - x1, y2 - y1) / 9))
            for k in range(n):
                a, b = k / n, (k + 0.55) / n
                draw.line(xy(x1 + (x2 - x1) * a, y1 + (y2 - y1) * a, x1 + (x2 - x1) * b, y1 + (y2 - y1) * b),
                          fill=s[5], width=max(1, int(s[6] * scale)))
        elif kind == "line":
            draw.line(xy(*s[1:5]), fill=s[5], width=max(1, int(s[6] * scale)))
        elif kind == "poly":
            draw.line([c for p in s[1] for c in xy(*p)], fill=s[2], width=int(s[3] * scale), joint="curve")
        elif kind == "dot":
            draw.ellipse(xy(s[1] - s[3], s[2] - s[3], s[1] + s[3], s[2] + s[3]), fill=s[4])
        elif kind == "rect":
            draw.rectangle(xy(s[1], s[2], s[1] + s[3], s[2] + s[4]), outline=s[5], fill=s[6])
        else:
            anchor = {"start": "ls", "middle": "ms", "end": "rs"}[s[4]]
            draw.text(xy(s[1], s[2]), str(s[3]), fill=s[6], font=font(s[5]), anchor=anchor)
    img.save(path, format="PNG")
    return Path(path)
