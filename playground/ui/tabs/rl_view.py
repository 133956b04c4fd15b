"""What the RL tab shows of a GRPO / RLOO run, as plain values (no gradio): the group table, the no-signal warning,
the reward line under the picker, the per-function reward chart, the metrics' one-sentence meanings.

    groups_frame(run_dir)            # DataFrame: each group's completions, rewards, advantages (latest update)
    zero_signal_warning(rows)        # '' or the warning when most groups had identical rewards
    reward_note("rule:n_words, rule:ends_question", "1, 0.5")   # 'rule:n_words × 1 + rule:ends_question × 0.5'

The run writes samples.jsonl, one row per completion: {"update", "group", "prompt", "completion", "reward",
"rewards": {function: value}, "advantage"}; metrics.jsonl rows carry TRL's GRPO/RLOO keys.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from playground.core.config import ConfigError
from playground.core.runs import read_jsonl
from playground.stages.grpo.config import zero_signal
from playground.stages.reward.functions import parse_weights, split_specs
from playground.ui import i18n
from playground.ui.widgets.run_views import grid_html, markdown

GROUP_COLUMNS = ["group", "prompt", "group reward", "completion", "reward", "by function", "advantage"]

# one sentence per metric the GRPO / RLOO trainers log (the charts' line tooltips)
RL_METRIC_HELP = {
    "reward": "Mean reward of the sampled completions in the batch (weighted sum of the reward functions).",
    "reward_std": "Standard deviation of the reward within each prompt's group, averaged: the spread advantages need.",
    "frac_reward_zero_std": "Share of groups whose completions all got the same reward: they carry no learning signal.",
    "completions/mean_length": "Mean number of tokens in the sampled completions.",
    "completions/clipped_ratio": "Share of completions cut off at the maximum completion length (no EOS).",
    "entropy": "Mean per-token entropy of the policy on its completions; a collapse means it stopped exploring.",
    "clip_ratio/region_mean": "Share of tokens whose probability ratio left the clip range (either side).",
    "clip_ratio/low_mean": "Share of tokens clipped below 1 − ε (negative advantage, ratio pushed too low).",
    "clip_ratio/high_mean": "Share of tokens clipped above 1 + ε (positive advantage, ratio pushed too high).",
}
KL_HELP = {"grpo": "Mean per-token KL of the policy to the reference (the adapter switched off); GRPO subtracts "
                   "β × KL from its objective.",
           "rloo": "Mean per-token KL of the policy to the reference (the adapter switched off); RLOO subtracts "
                   "β × KL from each completion's reward."}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _group_stats(rewards: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(rewards) if rewards else float("nan")
    std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    return mean, std


def groups_frame(run_dir: str | Path | None, update: int | None = None) -> tuple[pd.DataFrame, str]:
    """(the group table of one update, default the latest; a caption). One row per completion, groups in order, the
    prompt and the group's reward mean ± std on its first row; a group whose rewards are all equal is flagged."""
    empty = pd.DataFrame(columns=GROUP_COLUMNS)
    rows = read_jsonl(Path(run_dir) / "samples.jsonl") if run_dir else []
    rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("update"), int)]
    if not rows:
        return i18n.frame(empty), i18n.say("rl.no_samples")
    step = max(r["update"] for r in rows) if update is None else int(update)
    picked = [r for r in rows if r["update"] == step]
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in picked:
        groups.setdefault(r.get("group", 0), []).append(r)
    out, flat = [], 0
    for g, members in groups.items():
        rewards = [x for x in (_num(m.get("reward")) for m in members) if x is not None]
        mean, std = _group_stats(rewards)
        flat += std == 0.0
        stats = f"{mean:.3f} ± {std:.3f}" + (f"  ⚠ {i18n.say('rl.no_signal')}" if std == 0.0 else "")
        for i, m in enumerate(sorted(members, key=lambda m: -(_num(m.get("reward")) or -math.inf))):
            by_fn = m.get("rewards") if isinstance(m.get("rewards"), dict) else {}
            out.append({"group": g if i == 0 else "", "prompt": str(m.get("prompt", "")) if i == 0 else "",
                        "group reward": stats if i == 0 else "", "completion": str(m.get("completion", "")),
                        "reward": _round(m.get("reward")),
                        "by function": ", ".join(f"{k} {_round(v)}" for k, v in by_fn.items()),
                        "advantage": _round(m.get("advantage"))})
    caption = i18n.say("rl.caption", step=step, groups=len(groups), size=len(picked) // max(1, len(groups)), flat=flat)
    return i18n.frame(pd.DataFrame(out, columns=GROUP_COLUMNS)), caption


def _round(v: Any) -> float | None:
    x = _num(v)
    return None if x is None else round(x, 3)


def zero_signal_warning(rows: list[dict[str, Any]]) -> str:
    """The warning when most groups of the latest logged step had zero reward variance (stages/grpo/config.zero_signal),
    else ''; when they agree at the top it says the task looks learned instead of "raise the temperature"."""
    last = next((r for r in reversed(rows) if _num(r.get("frac_reward_zero_std")) is not None), None)
    if last is None:
        return ""
    zero, mean = float(last["frac_reward_zero_std"]), _num(last.get("reward"))
    signal = zero_signal(zero, mean)
    if not signal:
        return ""
    step, share = last.get("step", "?"), f"{zero:.0%}"
    if signal == "learned":
        return i18n.say("rl.zero_signal_top", step=step, share=share, mean=f"{mean:.2f}")
    return i18n.say("rl.zero_signal", step=step, share=share)


def reward_functions(rows: list[dict[str, Any]]) -> list[str]:
    """The per-function mean keys a run logged (`rewards/<fn>/mean`), in first-seen order."""
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            if k.startswith("rewards/") and k.endswith("/mean"):
                seen.setdefault(k, None)
    return list(seen)


FN_HELP = "mean of this reward function over the batch (before weighting)"


def function_chart(rows: list[dict[str, Any]], lang: str | None = None, elem_id: str = "") -> str:
    """The per-reward-function chart (the names depend on the run's rewards, so it is drawn here, not in the live
    panel's fixed plots), as wide as one of the live panel's charts."""
    from playground.ui.widgets.chart import line_chart

    svg = line_chart(rows, reward_functions(rows), "Reward per function", "reward", FN_HELP, lang)
    ident = f' id="{elem_id}"' if elem_id else ""
    return f'<div class="pg-fn-chart"{ident} style="max-width: 460px">{svg}</div>'


def run_view_html(stage: str, run_dir: Path | None, rows: list[dict[str, Any]], lang: str) -> str:
    """What the live panel shows below its log for a GRPO / RLOO run (a live.RunSection, drawn by the page poll: no
    Gradio event per step): the zero-variance warning (only when it applies), the per-function chart, and the
    group table of the latest sampled step with its caption."""
    md = markdown
    warning = zero_signal_warning(rows)
    warn = f'<div class="pg-warning" id="{stage}-zero-std">{md(warning)}</div>' if warning else ""
    frame, caption = groups_frame(run_dir)
    grid = grid_html(frame)
    return (f'<div class="pg-rl-view">{warn}{function_chart(rows, lang, f"{stage}-fn-chart")}'
            f'<div class="pg-run-table pg-table-groups">{md(i18n.text("rl.groups", lang))}'
            f'<div id="{stage}-groups-caption">{md(caption)}</div><div id="{stage}-groups">{grid}</div></div></div>')


def reward_note(reward: str, weights: str) -> str:
    """The rewards and their weights as one line (what the trainer will optimise), or the one-line problem."""
    specs = split_specs(reward or "")
    if not specs:
        return i18n.say("rl.pick_reward")
    try:
        ws = parse_weights(weights or "", len(specs))
    except ConfigError as e:
        return f"⚠️ {i18n.localise(e)}"
    terms = " + ".join(f"`{s}` × {w:g}" for s, w in zip(specs, ws))
    return i18n.say("rl.optimises", terms=terms)
