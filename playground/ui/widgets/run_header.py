"""The header of a followed run: state badge and phase, progress bar, elapsed and a smoothed ETA, the log pane.

Plain functions from a run's files to HTML / markdown (live.py calls them on every tick that saw a change).
"""

from __future__ import annotations

import ast
import functools
import re
import time
from pathlib import Path
from typing import Any

from playground.core.jobs import cli_twin, launch_args
from playground.core.runs import read_metrics, read_status
from playground.ui.i18n import lang_now, localise, text

STATE_BADGE = {  # the state word in the caller's language: the catalogues' `job.state.*` entries
    "queued": "⏳ queued", "running": "🏃 running", "succeeded": "✅ succeeded", "failed": "❌ failed",
    "stopped": "⏹ stopped", "interrupted": "⚠️ interrupted",
}
EMA_ALPHA = 0.3  # weight of the newest step time in the smoothed step time the ETA uses


def _fmt_s(s: float | None) -> str:
    if s is None or s < 0:
        return "–"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_html(frac: float | None, label: str = "", lang: str = "en") -> str:
    pct = 0.0 if frac is None else max(0.0, min(1.0, frac)) * 100
    return (
        f'<div class="pg-progress" title="{text("live.progress", lang)}" style="position:relative;height:20px;'
        'border-radius:10px;background:var(--border-color-primary);overflow:hidden">'
        f'<div class="pg-progress-bar" style="width:{pct:.1f}%;height:100%;'
        'background:linear-gradient(90deg,#6366f1,#22c55e);transition:width .5s"></div>'
        '<span class="pg-progress-label" style="position:absolute;inset:0;text-align:center;font-size:12px;'
        f'line-height:20px">{label or f"{pct:.0f}%"}</span></div>'
    )


def step_time_ema(rows: list[dict[str, Any]], alpha: float = EMA_ALPHA) -> float | None:
    """Seconds per training step, smoothed (EMA) over the logged steps; None before two steps are logged.

    Only rows where the step grew count (eval rows repeat a step); timing starts at the first step logged
    after the train_begin event, so model loading and the warm-up step do not skew it."""
    ema = None
    last: tuple[int, float] | None = None
    for r in rows:
        step, t = r.get("step"), r.get("time")
        if not isinstance(step, (int, float)) or not isinstance(t, (int, float)):
            continue
        if r.get("event") == "train_begin":
            last = None  # the first step after it carries warm-up: start timing from the first logged step
            continue
        if last is not None and step > last[0] and t >= last[1]:
            per = (t - last[1]) / (step - last[0])
            ema = per if ema is None else alpha * per + (1 - alpha) * ema
        if last is None or step > last[0]:
            last = (int(step), float(t))
    return ema


def earlier_attempts_s(rows: list[dict[str, Any]], started: float | None) -> float:
    """Seconds the run trained before its current attempt began at `started` (a resumed run): per earlier attempt
    (its metrics rows from one train_begin event to the next), from its first logged row to its last."""
    if not started:
        return 0.0
    spans: list[list[float]] = []
    for r in rows:
        t = r.get("time")
        if not isinstance(t, (int, float)) or t >= started:
            continue
        if r.get("event") == "train_begin" or not spans:
            spans.append([float(t), float(t)])
        spans[-1][1] = max(spans[-1][1], float(t))
    return sum(b - a for a, b in spans)


def _elapsed_md(status: dict[str, Any], rows: list[dict[str, Any]], lang: str = "en") -> str:
    """'elapsed 3:10', or for a resumed run 'elapsed 3:10 (0:12 this attempt)': a resume does not start at 0:00."""
    started, ended = status.get("started"), status.get("ended")
    now = ((ended or time.time()) - started) if started else None
    before = earlier_attempts_s(rows, started)
    if before and now is not None:
        return text("live.elapsed_resumed", lang, total=_fmt_s(before + now), now=_fmt_s(now))
    return text("live.elapsed", lang, time=_fmt_s(now))


def current_phase(status: dict[str, Any]) -> str | None:
    """The trainer's phase while it runs; one written before this attempt started (a resumed run's old "saving the
    adapter") is not what it is doing now."""
    phase, at, started = status.get("phase"), status.get("phase_at"), status.get("started")
    if status.get("state") != "running" or not phase:
        return None
    if isinstance(at, (int, float)) and isinstance(started, (int, float)) and at < started:
        return None
    return phase


def summarise(run_dir: Path, run_id: str, stage: str,
              rows: list[dict[str, Any]] | None = None,
              status: dict[str, Any] | None = None, lang: str | None = None) -> tuple[str, str, str]:
    """(status markdown, progress html, command markdown); `rows` / `status` are the run's files if already read.
    In `lang` (default: the caller's language): the trainer's phase, notes and error through i18n.localise.

    While running, the header shows the trainer's phase (status.json `phase`: "loading model", "tokenising
    1,814 rows", "rollout 1") and an ETA from the smoothed step time."""
    status = read_status(run_dir) if status is None else status
    rows = read_metrics(run_dir) if rows is None else rows
    lang = lang or lang_now()
    state = status.get("state") or "unknown"
    step = max((r.get("step", 0) for r in rows), default=0)
    max_steps = max((r.get("max_steps") or 0 for r in rows), default=0) or None
    frac = step / max_steps if max_steps else None
    if state == "succeeded":
        frac = 1.0
    eta = None
    if state == "running" and max_steps and step < max_steps:
        per = step_time_ema(rows)
        if per is not None:
            eta = per * (max_steps - step)
            last_t = max((r.get("time", 0) for r in rows), default=0)
            if last_t:  # count down between log events
                eta = max(0.0, eta - (time.time() - last_t))
    err = status.get("error")
    badge = STATE_BADGE.get(state, state).replace(state, localise(state, lang))  # '🏃 running', '🏃 运行中'
    md = f"**{run_id}** · {badge} · {text('live.step', lang, step=f'{step}/{max_steps}' if max_steps else step)}"
    phase = current_phase(status)
    phase = localise(phase, lang) if phase else phase
    if phase:
        md += f" · *{phase}*"
    md += f" · {_elapsed_md(status, rows, lang)} · {text('live.eta', lang, time=_fmt_s(eta))}"
    if err and state in ("failed", "interrupted", "stopped"):
        md += f"\n\n**{text('live.error' if state != 'stopped' else 'live.note', lang)}** {localise(err, lang)}"
    if state == "stopped" and status.get("kept"):
        md += f"\n\n**{text('live.kept', lang)}** {localise(status['kept'], lang)}"
    notes = status.get("notes")  # the trainer's data lines: pairs kept / truncated / dropped, too-few warnings
    if isinstance(notes, list) and notes:
        md += "\n\n" + "  \n".join(localise(n, lang) for n in notes[:4])
    if max_steps:
        label = text("live.steps_done", lang, step=step, total=max_steps)
    elif state == "succeeded":
        label = text("live.done", lang)
    else:
        label = phase or badge
    cmd = f"`{cli_twin(stage, run_dir / 'config.yaml', *_launch(str(run_dir)))}`"
    return md, progress_html(frac, label, lang), cmd


# a transformers log line: "{'loss': 2.31, 'grad_norm': 1.2, ...}"
_DICT_LINE = re.compile(r"^\s*\{'[^']+': .*\}\s*$")
# warnings stay in log.txt: the line itself and the indented source line Python prints under it
_WARNING = re.compile(r"(Warning:|warnings\.warn\(|^\s*warn\()")


def format_log(text: str) -> str:
    """The log pane's text: metric dicts as 'loss 2.31 · grad_norm 1.2', warnings left out (log.txt keeps them)."""
    out: list[str] = []
    skip_next = False
    for line in text.splitlines():
        if skip_next and line.startswith((" ", "\t")):
            skip_next = False
            continue
        skip_next = False
        if _WARNING.search(line):
            skip_next = True
            continue
        if _DICT_LINE.match(line):
            try:
                d = ast.literal_eval(line.strip())
            except (ValueError, SyntaxError):
                d = None
            if isinstance(d, dict):
                line = " · ".join(f"{k} {_num(v)}" for k, v in d.items())
        out.append(line)
    return "\n".join(out)


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@functools.lru_cache(maxsize=256)
def _launch(run_dir: str) -> tuple[int, str]:
    """How the run was launched (processes, accelerate config), for its CLI twin. Cached: the live view asks
    every second, and a run's launch settings never change once its config.yaml is written."""
    try:
        import yaml

        data = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, ValueError):
        return 1, ""
    return launch_args(data) if isinstance(data, dict) else (1, "")
