"""The live-run widget: status + phase, progress bar, elapsed/ETA, line charts, last log lines, CLI twin.

    view = live_view(ctx, "sft", plots=[PlotSpec("Loss", ["loss", "eval_loss"])], objective_md=SFT_OBJECTIVE)
    start_btn.click(start, inputs, [view.run_id, ...]).then(*view.reshow)  # follow a run, draw it at once
    view.on_run_change(fn, [view.run_id], [samples])   # a per-run view of its own: runs once per update / state

Why no gr.Timer: every Gradio event costs the browser work that grows with the size of the page (Gradio 6.31's
front end walks its whole component tree for each loading status of each event: ~700 components here), so a
2 s timer cost ~10-25% of a core even when every output was skipped (bench/page_cpu.py). Instead one small page
script (PAGE_JS, installed by wire_page) asks the server every 2 s, with a plain HTTP call to `/page_poll` that
touches none of the front end's state, for (a) the workspace's picker revision and (b) the followed runs of the
live views that are visible and still live, sending what it already shows. The server answers only what changed:
the new inner HTML of a live panel (header, progress, SVG charts, log), rendered here. The script writes it into
the panel and fires a Gradio event only when something needs one: a picker's choices changed (one hidden button
refreshes them all) or a per-run view registered with `on_run_change` has a new update to show. A finished run
is not polled; a hidden tab's panel waits until it is shown; a hidden browser tab asks nothing.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from markdown_it import MarkdownIt

from playground.core.auth import Role
from playground.core.models import device_label
from playground.core.runs import FINAL_STATES, read_metrics, read_status, tail_log
from playground.ui.guard import needs
from playground.ui.i18n import lang_now, localise, text
from playground.ui.widgets.chart import line_chart
from playground.ui.widgets.live_page import CSS, PAGE_JS, gradio_mismatch
from playground.ui.widgets.pickers import PickerRevision, picker_updates
from playground.ui.widgets.run_header import (  # noqa: F401 - re-exported: the header is part of the live view
    STATE_BADGE,
    format_log,
    progress_html,
    step_time_ema,
    summarise,
)
from playground.ui.widgets.run_views import RunSection, RunTable, tables_html  # noqa: F401 - re-exported

_MD = MarkdownIt("commonmark", {"html": False, "breaks": True})  # raw HTML in a status (an error text) is escaped
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_POLLED_RUNS = 8  # runs one poll may ask about (a page has four live views)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


@dataclass
class PlotSpec:
    title: str
    metrics: list[str]
    y_title: str = ""
    help: str = ""  # one sentence: what the metric means


RunKey = Any  # (run_dir, status, metrics rows) -> str: changes when a per-run view has something new to show


@dataclass
class ViewSpec:
    """What the page poll needs to render a stage's followed run: its charts, and the keys its per-run views wait
    for (on_run_change). Only a change of those keys costs the page a Gradio event."""

    plots: list[PlotSpec]
    keys: list[RunKey] = field(default_factory=list)
    tables: list[RunTable | RunSection] = field(default_factory=list)

    def coarse(self, run_dir: Path, status: dict[str, Any], rows: list[dict[str, Any]]) -> str:
        if not self.keys:
            return coarse_key(status.get("state"), rows)
        return "|".join(str(k(run_dir, status, rows)) for k in self.keys)


@dataclass
class LiveView:
    run_id: gr.State
    body: gr.HTML
    # (fn, inputs, outputs) to chain after an event that (re)starts the followed run: draws it at once, live
    reshow: tuple[Any, list[Any], list[Any]]
    # changes once per new metrics row / state of the followed run: per-run views hang on it (on_run_change)
    fingerprint: gr.State
    poke: gr.Button
    outputs: list[Any] = field(default_factory=list)
    # a page opening on run `rid`: values for `load_outputs` (panel, CLI twin, fingerprint: wakes per-run views)
    on_load: Any = None
    load_outputs: list[Any] = field(default_factory=list)
    _notify: list[bool] = field(default_factory=lambda: [False])
    spec: ViewSpec | None = None

    def on_run_change(self, fn: Any, inputs: list[Any], outputs: list[Any], key: RunKey | None = None) -> None:
        """Run `fn` when the followed run changes in what `key(run_dir, status, rows)` returns (default: a new
        metrics row or state), and when another run is followed. Each run of `fn` is a Gradio event, which costs
        the page more the bigger the page is: give a key that moves only when `fn` has something new to show."""
        self._notify[0] = True
        if self.spec is not None:
            self.spec.keys.append(key or (lambda _d, status, rows: coarse_key(status.get("state"), rows)))
        quiet = {"api_visibility": "private", "show_progress": "hidden"}
        self.fingerprint.change(fn, inputs, outputs, **quiet)
        self.run_id.change(fn, inputs, outputs, **quiet)


def metrics_frame(rows: list[dict[str, Any]], keys: list[str]) -> Any:
    """Long format (step, value, metric), one row per logged value (the SFT tab's run comparison uses it)."""
    import pandas as pd

    recs = [(r["step"], float(r[k]), k) for r in rows for k in keys if isinstance(r.get(k), (int, float))]
    # explicit dtypes: an empty frame would otherwise be all-object, and a plot would then treat `value` as a
    # category (one tick per loss value, no line)
    return pd.DataFrame({
        "step": pd.Series([r[0] for r in recs], dtype="int64"),
        "value": pd.Series([r[1] for r in recs], dtype="float64"),
        "metric": pd.Series([r[2] for r in recs], dtype="str"),
    })


def chart_html(rows: list[dict[str, Any]], spec: PlotSpec, lang: str = "en") -> str:
    return line_chart(rows, spec.metrics, spec.title, spec.y_title or spec.title, spec.help, lang)


def helps_html(plots: list[PlotSpec], lang: str) -> str:
    """The line under the charts: what each plot shows, in `lang`."""
    helps = " · ".join(f"<b>{html.escape(localise(s.title, lang))}</b>: {html.escape(localise(s.help, lang))}"
                       for s in plots if s.help)
    return f'<div class="pg-help pg-plot-help">{helps}</div>' if helps else ""


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


def fingerprint_of(run_dir: Path, state: str | None) -> str:
    """Changes when the run's files do (and every 15 s while it runs: elapsed and ETA move)."""
    parts = [state, *(_stamp(run_dir / f) for f in ("status.json", "metrics.jsonl", "log.txt", "samples.jsonl")),
             int(time.time() // 15) if state == "running" else 0]
    return hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest()


def coarse_key(state: str | None, rows: list[dict[str, Any]]) -> str:
    """Changes once per metrics row or state: what per-run views (on_run_change) wait for."""
    return f"{state}:{len(rows)}"


def panel_inner(ctx: Any, stage: str, spec: ViewSpec, rid: str,
                status: dict[str, Any] | None = None) -> tuple[str, dict[str, str], str]:
    """(inner HTML of the live panel, its data attributes, the CLI twin) for the followed run `rid` ('' = none);
    `status` is the run's status.json if already read. In the caller's language (English outside a request)."""
    plots, lang = spec.plots, lang_now()
    if not rid:
        charts = "".join(chart_html([], s, lang) for s in plots)
        return (f'<div class="pg-status"><p>{text("live.no_run", lang)}</p></div>'
                f'{progress_html(None, text("live.idle", lang), lang)}'
                f'<div class="pg-charts">{charts}</div>{helps_html(plots, lang)}{tables_html(spec.tables, None, [], lang)}',
                {"run": "", "fp": "", "live": "0", "coarse": ""}, "")
    run_dir = ctx.jobs.run_dir(rid)
    status = read_status(run_dir) if status is None else status
    state = status.get("state")
    fp = fingerprint_of(run_dir, state)
    rows = read_metrics(run_dir)
    md, bar, cmd = summarise(run_dir, rid, stage, rows, status, lang)
    charts = "".join(chart_html(rows, s, lang) for s in plots)
    log = html.escape(format_log(tail_log(run_dir, 12)))
    inner = (f'<div class="pg-status">{_MD.render(md)}</div>{bar}<div class="pg-charts">{charts}</div>'
             f'{helps_html(plots, lang)}<div class="pg-log-label">{text("live.log_label", lang)}</div>'
             f'<pre class="pg-log">{log}</pre>{tables_html(spec.tables, run_dir, rows, lang)}')
    live = "0" if state in FINAL_STATES else "1"
    return inner, {"run": rid, "fp": fp, "live": live, "coarse": spec.coarse(run_dir, status, rows)}, cmd


def panel_html(ctx: Any, stage: str, spec: ViewSpec, rid: str, poke_id: str) -> tuple[str, str]:
    """(the whole live panel with its data attributes, the CLI twin)."""
    inner, attrs, cmd = panel_inner(ctx, stage, spec, rid)
    data = " ".join(f'data-pg-{k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    poke = f' data-pg-poke="{poke_id}"' if poke_id else ""
    return f'<div class="pg-live" data-pg-stage="{stage}"{poke} {data}>{inner}</div>', cmd


_COUNTER = iter(range(1, 1 << 30))


def live_view(ctx: Any, stage: str, plots: list[PlotSpec], objective_md: str, run_id: str = "",
              tables: list[RunTable | RunSection] | None = None) -> LiveView:
    """Build the live panel in the current Blocks context; `run_id` is followed first; `tables` are drawn below
    the log (RunTable)."""
    run_id_state = gr.State(run_id)
    poke_id = f"pg-poke-{stage}-{next(_COUNTER)}"
    notify = [False]
    spec = ViewSpec(plots, tables=list(tables or []))
    ctx.live_views[stage] = spec  # the page poll renders a followed run of this stage with these charts
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=420):
            # built in English; each page load redraws it in the caller's language (on_load), the page poll too
            body = gr.HTML(panel_html(ctx, stage, spec, run_id, "")[0], elem_classes=["pg-live-box"],
                           js_on_load=None)
        with gr.Column(scale=1, min_width=320):
            # the formulas are wide: scroll inside the column rather than clip
            gr.Markdown(objective_md, elem_classes=["pg-objective"], latex_delimiters=LATEX, max_height=520)
            command = gr.Markdown("", label="CLI twin")
    fingerprint = gr.State(None)
    # clicked by the page script when the followed run has a new update and someone listens (on_run_change)
    poke = gr.Button("refresh", elem_id=poke_id, elem_classes=["pg-hidden"], visible="hidden")

    @needs(Role.VIEWER)
    def show(rid: str) -> list[Any]:
        """Draw the followed run now (a run picked, started or resumed): the page script takes over from here."""
        if rid and not _known(ctx, rid):
            return [gr.skip()] * 2
        return list(panel_html(ctx, stage, spec, rid, poke_id if notify[0] else ""))

    @needs(Role.VIEWER)
    def coarse(rid: str) -> Any:
        if not rid or not _known(ctx, rid):
            return gr.skip()
        run_dir = ctx.jobs.run_dir(rid)
        return f"{rid}:{spec.coarse(run_dir, read_status(run_dir), read_metrics(run_dir))}"

    def on_load(rid: str) -> list[Any]:
        """The panel as of now (its build-time HTML may be hours old) and a fresh fingerprint, so per-run views
        (PPO samples, reward notes) fill in too; called by the run panel's page-load handler (role-checked)."""
        return [*show(rid), coarse(rid)]

    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    run_id_state.change(show, [run_id_state], [body, command], **quiet)
    poke.click(coarse, [run_id_state], [fingerprint], **quiet)
    view = LiveView(run_id=run_id_state, body=body, reshow=(show, [run_id_state], [body, command]),
                    fingerprint=fingerprint, poke=poke, outputs=[body, command], on_load=on_load,
                    load_outputs=[body, command, fingerprint], _notify=notify, spec=spec)
    return view


def _known(ctx: Any, rid: str) -> bool:
    """A run id from a browser names a run of this workspace (never a path)."""
    return bool(_RUN_ID.match(rid or "")) and ctx.ws.get_run(rid) is not None


def wire_page(demo: gr.Blocks, ctx: Any) -> None:
    """The page script and its server side: `/page_poll` (see the module docstring) and the pickers' refresh.

    Call it once, at the end of build_app, inside the Blocks context (after every tab registered its pickers)."""
    pickers = list(ctx.pickers)
    picker_rev = PickerRevision(ctx)
    mismatch = gradio_mismatch()  # the page script parses Gradio's reply: say so at start when Gradio is not its own
    if mismatch:
        print(f"warning: {mismatch}", file=sys.stderr, flush=True)
        gr.Markdown(f"⚠️ {mismatch}", elem_id="pg-gradio-mismatch")
    gr.HTML(f"<style>{CSS}</style>", padding=False, container=False, js_on_load=PAGE_JS, elem_id="pg-live-css")
    poke = gr.Button("refresh pickers", elem_id="pg-pickers-poke", elem_classes=["pg-hidden"], visible="hidden")

    @needs(Role.VIEWER)
    def page_poll(payload: str) -> str:
        """{"rev": what the page's pickers show, "runs": {run id: panel fingerprint shown}} -> what changed."""
        try:
            ask = json.loads(payload) if isinstance(payload, str) and len(payload) < 4096 else {}
        except ValueError:
            ask = {}
        runs = ask.get("runs") if isinstance(ask, dict) else None
        out: dict[str, Any] = {"rev": picker_rev(), "runs": {}, "device": device_label()}  # live GPU memory
        for rid, shown in list(runs.items())[:MAX_POLLED_RUNS] if isinstance(runs, dict) else []:
            stage = shown.get("stage") if isinstance(shown, dict) else None
            if stage not in ctx.live_views or not _known(ctx, rid):
                continue
            run_dir = ctx.jobs.run_dir(rid)
            status = read_status(run_dir)
            if fingerprint_of(run_dir, status.get("state")) == shown.get("fp"):
                continue
            inner, attrs, _ = panel_inner(ctx, stage, ctx.live_views[stage], rid, status)
            out["runs"][rid] = {"html": inner, **attrs}
        return json.dumps(out)

    seen = gr.State({})  # what this page's pickers listed at the last refresh (FollowNew pickers select the new)

    @needs(Role.VIEWER)
    def refresh_pickers(listed: dict[int, list[Any]] | None) -> list[Any]:
        updates, now = picker_updates(pickers, listed)
        return [*updates, now]

    gr.api(page_poll, api_name="page_poll", api_visibility="undocumented", concurrency_limit=None)
    quiet = {"api_visibility": "private", "show_progress": "hidden"}
    outputs = [*(d for d, _ in pickers), seen]
    poke.click(refresh_pickers, [seen], outputs, **quiet)
    demo.load(refresh_pickers, [seen], outputs, **quiet)
