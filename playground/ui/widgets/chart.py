"""Server-rendered line charts: one inline SVG per plot, shown in a gr.HTML.

    html = line_chart(rows, ["loss", "eval_loss"], title="Loss", y_title="NLL", help="token NLL ...")

Why not gr.LinePlot: in Gradio 6.31 a LinePlot first rendered with an empty frame and later updated draws its
line paths with no stroke until the page reloads (the "Gradio 6.31 LinePlot pitfall" of the project's design
notes), so a page opened before a run showed axes and no line. An SVG polyline with an explicit stroke draws on every update, costs one string
per tick (a few kB), and needs no chart library in the browser.

Each series is a `<g class="pg-series">` holding a `<title>` (the browser's tooltip: what the metric means, in
one sentence) and a `<polyline>`; the legend shows each metric's last value.
"""

from __future__ import annotations

import html
import math
from typing import Any

from playground.ui.i18n import lang_now, localise, text

# Tableau 10: distinguishable, readable on light and dark backgrounds
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]

# one sentence per metric a trainer logs: the tooltip of its line (unknown metrics fall back to the plot's help); the
# English text: a chart shows it in the caller's language through the catalogues' `metric.*` entries (i18n.localise)
METRIC_HELP = {
    "loss": "Training loss on the latest batches; lower is better.",
    "eval_loss": "Loss on the held-out split; rising while the training loss falls means overfitting.",
    "mean_token_accuracy": "Share of response tokens the model predicts exactly on training batches.",
    "eval_mean_token_accuracy": "Share of held-out response tokens the model predicts exactly.",
    "learning_rate": "The optimiser's step size at this step (the scheduler changes it over time).",
    "tokens_per_s": "Training tokens processed per second.",
    "accuracy": "Share of training pairs where the chosen answer scores above the rejected one.",
    "eval_accuracy": "Share of held-out pairs where the chosen answer scores above the rejected one.",
    "margin": "Mean reward gap r(chosen) − r(rejected) on training pairs.",
    "eval_margin": "Mean reward gap r(chosen) − r(rejected) on held-out pairs.",
    "mean_reward": "Mean reward the model gives to the answers in a batch.",
    "min_reward": "Lowest reward in a batch.",
    "max_reward": "Highest reward in a batch.",
    "rewards/accuracies": "Share of pairs where the implicit reward prefers the chosen answer.",
    "eval_rewards/accuracies": "Held-out share of pairs where the implicit reward prefers the chosen answer.",
    "rewards/margins": "Mean implicit-reward gap between chosen and rejected answers.",
    "eval_rewards/margins": "Held-out mean implicit-reward gap between chosen and rejected answers.",
    "rewards/chosen": "β × log-ratio of policy to reference on the chosen answers.",
    "rewards/rejected": "β × log-ratio of policy to reference on the rejected answers.",
    "score": "Mean reward-model or rule score of the sampled responses.",
    "rlhf_reward": "Score minus β × KL: what PPO actually maximises.",
    "kl": "How far the policy moved from the reference: sum of log π − log π_ref over a response.",
    "entropy": "Per-token entropy of the policy; a collapse means it stopped exploring.",
    "clipfrac": "Share of tokens whose probability ratio hit the PPO clip.",
    "vf_clipfrac": "Share of value predictions that hit the value clip.",
    "approx_kl": "Approximate KL between the policy before and after one update.",
    "value_loss": "The value head's squared error predicting returns.",
    "response_length": "Mean number of generated tokens per response.",
}

W, H = 460, 240  # viewBox; the SVG scales to its column's width
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 26, 30
CHAR_W = 6.6  # width of one tick-label character at 11px (digits, 'e', '-' in a sans-serif), a little generous
Y_TITLE_RIGHT = 17  # the rotated y-axis title ends here: tick labels start to its right


def _nice_ticks(lo: float, hi: float, n: int = 4, min_step: float = 0.0) -> list[float]:
    """About n round numbers covering [lo, hi] (1, 2, 5 × 10^k steps, at least `min_step` apart)."""
    if hi <= lo:
        return [lo]
    raw = max((hi - lo) / n, min_step)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))
    k0, k1 = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    # multiples of the step, rounded so float drift never prints 2.0000000000000004
    return [round(k * step, 12) for k in range(k0, min(k1, k0 + 11) + 1)]


def _fmt(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.4g}"


def series_of(rows: list[dict[str, Any]], metrics: list[str]) -> dict[str, list[tuple[float, float]]]:
    """{metric: [(step, value), ...]} for the metrics that have at least one finite value, in `metrics` order."""
    out: dict[str, list[tuple[float, float]]] = {}
    for m in metrics:
        pts = []
        for r in rows:
            v = r.get(m)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and "step" in r:
                pts.append((float(r["step"]), float(v)))
        if pts:
            out[m] = pts
    return out


def _ranges(series: dict[str, list[tuple[float, float]]]) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of the plotted area: y padded by 5% (10% of the value when flat)."""
    xs = [p[0] for pts in series.values() for p in pts]
    ys = [p[1] for pts in series.values() for p in pts]
    xmin, xmax = min(xs), max(xs)
    ymin, ymax = min(ys), max(ys)
    if xmax == xmin:
        xmin, xmax = xmin - 1, xmax + 1
    if ymax == ymin:
        pad = abs(ymin) * 0.1 or 1.0
    else:
        pad = (ymax - ymin) * 0.05
    return xmin, xmax, ymin - pad, ymax + pad


def left_margin(y_ticks: list[float]) -> int:
    """The plot's left edge: LEFT, or further right when the tick labels are wide (a learning rate's 2.00e-05), so
    no label runs into the rotated axis title."""
    widest = max((len(_fmt(t)) for t in y_ticks), default=0)
    return max(LEFT, math.ceil(Y_TITLE_RIGHT + 8 + widest * CHAR_W))


def line_chart(rows: list[dict[str, Any]], metrics: list[str], title: str = "", y_title: str = "",
               help: str = "", lang: str | None = None) -> str:  # noqa: A002 - the PlotSpec field's name
    """An inline SVG line chart of `metrics` over `step`: one polyline per metric, axes, legend, last values. Its
    words are in `lang` (default: the caller's language; the titles and helps given in English are translated)."""
    lang = lang or lang_now()
    title, y_title, help = (localise(x, lang) for x in (title, y_title, help))  # noqa: A001
    series = series_of(rows, metrics)
    esc = html.escape
    xmin, xmax, ymin, ymax = _ranges(series) if series else (0.0, 1.0, 0.0, 1.0)
    y_ticks = _nice_ticks(ymin, ymax) if series else []
    x0, x1, y0, y1 = left_margin(y_ticks), W - RIGHT, TOP, H - BOTTOM
    parts = [f'<svg class="pg-chart-svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
             f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg" '
             'style="font: 11px sans-serif; display: block; max-width: 100%;">',
             f'<text x="{LEFT}" y="14" font-weight="600" font-size="12" fill="currentColor">{esc(title)}</text>']
    parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="none" '
                 'stroke="currentColor" stroke-opacity="0.25"/>')
    if y_title:
        parts.append(f'<text class="pg-y-title" transform="translate(11 {(y0 + y1) / 2:.0f}) rotate(-90)" '
                     f'text-anchor="middle" fill="currentColor" fill-opacity="0.7">{esc(y_title)}</text>')
    parts.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{H - 2}" text-anchor="middle" fill="currentColor" '
                 f'fill-opacity="0.7">{esc(text("chart.step", lang))}</text>')
    if not series:
        parts.append(f'<text x="{(x0 + x1) / 2:.0f}" y="{(y0 + y1) / 2:.0f}" text-anchor="middle" '
                     f'fill="currentColor" fill-opacity="0.6">{esc(text("chart.waiting", lang))}</text></svg>')
        return f'<div class="pg-chart" title="{esc(help)}">{"".join(parts)}</div>'

    def sx(v: float) -> float:
        return x0 + (v - xmin) / (xmax - xmin) * (x1 - x0)

    def sy(v: float) -> float:
        return y1 - (v - ymin) / (ymax - ymin) * (y1 - y0)

    for t in y_ticks:
        y = sy(t)
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
                     'stroke-opacity="0.1"/>')
        parts.append(f'<text class="pg-y-tick" x="{x0 - 4}" y="{y + 3:.1f}" text-anchor="end" fill="currentColor" '
                     f'fill-opacity="0.7">{_fmt(t)}</text>')
    for t in _nice_ticks(xmin, xmax, 5, min_step=1.0):  # steps are whole numbers
        x = sx(t)
        parts.append(f'<text x="{x:.1f}" y="{y1 + 13}" text-anchor="middle" fill="currentColor" '
                     f'fill-opacity="0.7">{int(t)}</text>')
    legend = []
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        about = localise(METRIC_HELP[name], lang) if name in METRIC_HELP else help
        tip = text("chart.tip", lang, name=name, help=about, value=_fmt(pts[-1][1]), step=int(pts[-1][0]))
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        parts.append(f'<g class="pg-series" data-metric="{esc(name)}"><title>{esc(tip)}</title>'
                     f'<polyline class="pg-line" points="{coords}" fill="none" stroke="{color}" '
                     'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>')
        lx, ly = sx(pts[-1][0]), sy(pts[-1][1])
        parts.append(f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="3" fill="{color}"/></g>')
        legend.append((name, color, pts[-1][1], tip))
    parts.append("</svg>")
    items = "".join(
        f'<span class="pg-legend-item" title="{esc(tip)}" style="margin-right:12px;white-space:nowrap">'
        f'<span style="display:inline-block;width:14px;height:3px;background:{color};vertical-align:middle;'
        f'margin-right:4px"></span>{esc(name)} <b>{_fmt(last)}</b></span>'
        for name, color, last, tip in legend
    )
    return (f'<div class="pg-chart" title="{esc(help)}">{"".join(parts)}'
            f'<div class="pg-legend" style="font-size:12px;line-height:18px;padding-left:{LEFT}px">{items}</div>'
            "</div>")
