"""The RL tab's "Compare runs" section: finished PPO / GRPO / RLOO / DPO runs judged by one reward on the same
held-out prompts (stages/compare.py), drawn as reward vs wall-clock and vs samples generated, plus KL to the base;
CSV and PNG to download. Layout in `build_compare`; handlers are module functions taking the `ComparePanel`.

The comparison runs in the background through the Evaluate stage's runner (one evaluation or comparison at a time
per server); the Compare button's handler streams its progress and then the chart.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.core.runs import read_config
from playground.stages.compare import COMPARE_STAGES, CSV_COLUMNS, CompareRequest, chart_svg, compare, write_outputs
from playground.stages.evaluate.policies import policy_runs
from playground.stages.evaluate.runner import RUNNER
from playground.stages.reward.functions import split_specs
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import caller, needs

POLL_S = 1.0


def compare_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """Finished policy runs of the compared stages, newest first: (label 'id (stage)', run id)."""
    return [(f"{r['id']} ({r['stage']})", r["id"]) for r in policy_runs(ctx.ws) if r["stage"] in COMPARE_STAGES]


def heldout_choices(ctx: AppContext) -> list[str]:
    from playground.core import builtin

    sets = [b for b in builtin.BUILTIN if b.endswith("-heldout")]
    return [*sets, "builtin:prompts", *[d["name"] for d in ctx.ws.list_datasets()]]


@dataclass
class ComparePanel:
    runs: Any
    prompts: Any
    reward: Any
    n: Any
    start: Any
    stop: Any
    status: Any
    chart: Any
    table: Any
    files: Any
    job: Any  # gr.State: the running job's id (this browser's)


def build_compare(ctx: AppContext) -> ComparePanel:
    with gr.Accordion(i18n.t("cmp.section"), open=False, elem_id="rl-compare"):
        gr.Markdown(i18n.t("cmp.help"), elem_classes=["pg-help"])
        with gr.Row():
            runs = gr.Dropdown(compare_choices(ctx), value=[], multiselect=True, label=i18n.t("cmp.runs"), scale=3,
                               elem_id="rl-compare-runs", info=i18n.t("cmp.runs_info"))
            prompts = gr.Dropdown(heldout_choices(ctx), value="builtin:ends_question-heldout", allow_custom_value=True,
                                  label=i18n.t("cmp.prompts"), scale=2,
                                  info=i18n.t("cmp.prompts_info"))
            reward = gr.Textbox(label=i18n.t("inspect.reward"), scale=2, elem_id="rl-compare-reward",
                                info=i18n.t("cmp.reward_info"))
            n = gr.Number(16, precision=0, minimum=1, maximum=500, label=i18n.t("cmp.n"), scale=1,
                          info=i18n.t("cmp.n_info"))
        with gr.Row():
            start = gr.Button(i18n.t("cmp.start"), variant="primary", elem_id="rl-compare-start")
            stop = gr.Button(i18n.t("cmp.stop"))
        status = gr.Markdown("", elem_id="rl-compare-status")
        chart = gr.HTML("", elem_id="rl-compare-chart")
        table = gr.Dataframe(pd.DataFrame(columns=CSV_COLUMNS), interactive=False, elem_id="rl-compare-table")
        i18n.redraw_on_load(ctx, {table: lambda: i18n.frame(pd.DataFrame(columns=CSV_COLUMNS))})
        files = gr.File(label=i18n.t("cmp.files"), file_count="multiple", interactive=False)
        job = gr.State(None)
    return ComparePanel(runs, prompts, reward, n, start, stop, status, chart, table, files, job)


# -- handlers -------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)  # fills the form only
def on_runs_picked(ctx: AppContext, c: ComparePanel, runs: list[str] | None, reward: str) -> dict[Any, Any]:
    """The first picked run's reward (its first spec) fills an empty reward box; its built-in task's held-out twin
    becomes the prompts."""
    if not runs or (reward or "").strip():
        return {c.reward: gr.skip()}  # never {}: Gradio reads an empty dict as one value
    row = ctx.ws.get_run(runs[0])
    cfg = (row or {}).get("config") or (read_config(row["run_dir"]) if row else {})
    out: dict[Any, Any] = {c.reward: gr.skip()}
    specs = split_specs(str(cfg.get("reward", "")))
    if specs:
        out[c.reward] = specs[0]
    task = str(cfg.get("prompts", ""))
    if task.startswith("builtin:") and f"{task}-heldout" in heldout_choices(ctx):
        out[c.prompts] = f"{task}-heldout"
    return out


def result_frame(result: dict[str, Any]) -> pd.DataFrame:
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k in CSV_COLUMNS}
            for r in result["rows"]]
    return i18n.frame(pd.DataFrame(rows, columns=CSV_COLUMNS))


def result_view(c: ComparePanel, result: dict[str, Any], took: float) -> dict[Any, Any]:
    """The chart, table and downloads of a finished comparison."""
    paths = write_outputs(result, tempfile.mkdtemp(prefix="pg-compare-"))
    best = max(result["rows"], key=lambda r: r["gain"] if r["gain"] == r["gain"] else float("-inf"))
    line = i18n.say("cmp.done", runs=len(result["rows"]), n=result["n"], prompts=result["prompts"], took=f"{took:.0f}",
                    generated=result["generated"], cached=result["cached"], best=best["run"],
                    stage=best["stage"].upper(), gain=f"{best['gain']:+.3f}")
    return {c.status: line, c.chart: chart_svg(result), c.table: result_frame(result),
            c.files: [str(paths["csv"]), str(paths["png"])], c.job: None}


@needs(Role.ADMIN)  # loads models and keeps the CPU busy, like training
def on_compare(ctx: AppContext, c: ComparePanel, runs: list[str] | None, prompts: str, reward: str,
               n: float | None) -> Iterator[dict[Any, Any]]:
    """Start the comparison in the background and stream its progress, then its result; one line when refused."""
    req = CompareRequest(runs=list(runs or []), prompts=str(prompts or ""), reward=str(reward or ""),
                         n=int(n or 16))
    try:
        req.validate(ctx.ws)
        job = RUNNER.start(lambda progress, stop: compare(ctx.ws, req, None, progress, stop), owner=caller().name)
    except UserError as e:
        yield {c.status: f"⚠️ {i18n.localise(e)}"}
        return
    yield {c.status: i18n.say("cmp.starting"), c.job: job.id}
    while not job.done:
        time.sleep(POLL_S)
        yield {c.status: i18n.localise(f"⏳ {job.fraction:.0%} · {job.message} · {time.time() - job.started:.0f} s")}
    if job.error or not job.report:
        yield {c.status: f"⚠️ {i18n.localise(job.error) if job.error else i18n.say('cmp.nothing')}", c.job: None}
        return
    yield result_view(c, job.report, time.time() - job.started)


@needs(Role.ADMIN)
def on_compare_stop(c: ComparePanel, job_id: int | None) -> dict[Any, Any]:
    stopped = RUNNER.stop(job_id)
    return {c.status: i18n.say("cmp.stopping") if stopped else i18n.say("cmp.nothing_to_stop")}
