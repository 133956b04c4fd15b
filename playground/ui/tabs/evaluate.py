"""Evaluate tab: policies vs a baseline on held-out prompts, judged by reward models, rules, expressions and humans.
Layout only in `build()` (returns an `EvaluateView`); handlers are module-level functions of (ctx, view, values)
returning {component: value}, tested directly. The work is stages/evaluate's: `service.evaluate` in a background
thread (`runner.RUNNER`, one at a time) while Run streams its progress; tables and exports come from `board`."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.core.generation import load_model
from playground.core.limits import Limiter, Limits
from playground.stages.evaluate import board
from playground.stages.evaluate.human import default_pool, send_to_arena
from playground.stages.evaluate.judges import RULE_JUDGES
from playground.stages.evaluate.policies import BASE, policy_choices
from playground.stages.evaluate.runner import RUNNER
from playground.stages.evaluate.service import EvalRequest, evaluate, preflight
from playground.stages.evaluate.split import split_by_prompt
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import caller, needs
from playground.ui.widgets.chart import line_chart
from playground.ui.widgets.run_panel import run_choices

MAX_UI_PROMPTS = 200  # per evaluation from the UI (the CLI takes up to 500)
POLL_S = 0.5


@dataclass
class EvaluateView:
    policies: gr.Dropdown
    baseline: gr.Dropdown
    prompts: gr.Dropdown
    prompt_file: gr.File
    n: gr.Slider
    judges: gr.Dropdown
    temperature: gr.Slider
    top_p: gr.Slider
    max_new_tokens: gr.Slider
    seed: gr.Number
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    job: gr.State
    report: gr.State
    results: gr.Dataframe
    reference: gr.Dataframe
    browse_policy: gr.Dropdown
    browse_judge: gr.Dropdown
    rows: gr.Dataframe
    pool: gr.Textbox
    send: gr.Button
    human_md: gr.Markdown
    human: gr.Dataframe
    sort_by: gr.Dropdown
    board: gr.Dataframe
    ratings: gr.Dataframe
    refresh: gr.Button
    export_fmt: gr.Radio
    export: gr.Button
    export_file: gr.File
    split_pool: gr.Dropdown
    split: gr.Button
    split_md: gr.Markdown
    gold_run: gr.Dropdown
    gold_chart: gr.HTML


def legend(keys: list[str]) -> str:
    """The metrics' one-sentence explanations as hover tooltips (and a dotted underline to show there is one)."""
    spans = [f'<span class="pg-metric" title="{html.escape(board.METRIC_HELP[k])}" '
             f'style="border-bottom:1px dotted;margin-right:14px;cursor:help">{k}</span>' for k in keys]
    return '<div class="pg-help">' + i18n.t("eval.hover") + " " + "".join(spans) + "</div>"


def prompt_choices(ctx: AppContext) -> list[str]:
    return ["builtin:prompts", "builtin:instructions", *[d["name"] for d in ctx.ws.list_datasets()],
            *[f"pool:{p}" for p in ctx.ws.pools()]]


def judge_choices(ctx: AppContext) -> list[str]:
    return [*RULE_JUDGES, *[f"rm:{r['id']}" for r in ctx.runs("reward", finished_only=True)]]


def build(ctx: AppContext) -> EvaluateView:
    gr.Markdown(i18n.t("eval.intro"))
    with gr.Row():
        policies = gr.Dropdown(policy_choices(ctx.ws), value=[BASE], multiselect=True, label=i18n.t("eval.policies"), scale=3,
                               info=i18n.t("eval.policies_info"))
        baseline = gr.Dropdown(policy_choices(ctx.ws), value=BASE, label=i18n.t("eval.baseline"), scale=2,
                               info=i18n.t("eval.baseline_info"))
        prompts = gr.Dropdown(prompt_choices(ctx), value="builtin:prompts", allow_custom_value=True, scale=2,
                              label=i18n.t("cmp.prompts"), info=i18n.t("eval.prompts_info"))
        prompt_file = gr.File(label=i18n.t("eval.prompt_file"), file_types=[".jsonl", ".json", ".parquet",
                                                                                  ".csv"], type="filepath", scale=2,
                              height=130)
    with gr.Row():
        judges = gr.Dropdown(judge_choices(ctx), value=["rule:length"], multiselect=True, allow_custom_value=True,
                             label=i18n.t("eval.judges"), scale=3, info=i18n.t("eval.judges_info"))
        n = gr.Slider(1, MAX_UI_PROMPTS, value=16, step=1, label=i18n.t("eval.n"), scale=2)
    with gr.Row():
        temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05, label=i18n.t("common.temperature"), scale=1)
        top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label=i18n.t("eval.top_p"), scale=1)
        max_new_tokens = gr.Slider(1, Limits.from_env().max_new_tokens, value=48, step=1, label=i18n.t("eval.max_new_tokens"),
                                   scale=1)
        seed = gr.Number(0, precision=0, label=i18n.t("common.seed"), scale=1, minimum=0)
    with gr.Row():
        run = gr.Button(i18n.t("eval.run"), variant="primary", elem_id="eval-run")
        stop = gr.Button(i18n.t("run.stop"), scale=0, min_width=100)
    status = gr.Markdown("", elem_id="eval-status")
    job, report = gr.State(None), gr.State(None)
    gr.HTML(legend(["win_rate", "ci_low", "ci_high", "n", "ties", "mean_score", "length", "kl"]))
    results = gr.Dataframe(board.results_frame(None), label=i18n.t("eval.results"), interactive=False)
    gr.HTML(legend(["ppl", "bleu", "rougeL"]))
    reference = gr.Dataframe(board.reference_frame(None), label=i18n.t("eval.reference"),
                             interactive=False)
    with gr.Accordion(i18n.t("eval.per_prompt"), open=False):
        with gr.Row():
            browse_policy = gr.Dropdown([], label=i18n.t("eval.policy"), scale=1)
            browse_judge = gr.Dropdown([], label=i18n.t("eval.by_judge"), scale=1)
        rows = gr.Dataframe(board.prompt_frame(None), interactive=False, wrap=True, max_height=600)
    with gr.Accordion(i18n.t("eval.humans"), open=False):
        with gr.Row():
            pool = gr.Textbox(label=i18n.t("eval.pool"), placeholder="eval-<id>-vs-base", scale=3,
                              info=i18n.t("eval.pool_info"))
            send = gr.Button(i18n.t("eval.send"), scale=1)
        human_md = gr.Markdown("")
        gr.HTML(legend(["win_rate", "ci_low", "both_bad", "ties"]))
        human = gr.Dataframe(board.human_frame(ctx.ws, ""), label=i18n.t("eval.human"),
                             interactive=False)
    with gr.Accordion(i18n.t("eval.gold"), open=False):
        with gr.Row():
            split_pool = gr.Dropdown(ctx.ws.pools(), label=i18n.t("eval.pool"), scale=3,
                                     info=i18n.t("eval.split_info"))
            split = gr.Button(i18n.t("eval.split"), scale=1)
        split_md = gr.Markdown("")
        gold_run = gr.Dropdown(run_choices(ctx, board.GOLD_STAGES), value=None, label=i18n.t("eval.gold_run"),
                               info=i18n.t("eval.gold_run_info"))
        gold_chart = gr.HTML(gold_chart_html([]), elem_id="eval-gold-chart")
    gr.Markdown(i18n.t("eval.board_title"))
    with gr.Row():
        sort_by = gr.Dropdown(board.SORTABLE, value="win_rate", label=i18n.t("eval.sort_by"), scale=1)
        refresh = gr.Button(i18n.t("run.refresh"), scale=0, min_width=100)
        export_fmt = gr.Radio(["CSV", "Markdown"], value="CSV", label=i18n.t("eval.export_as"), scale=1)
        export = gr.Button(i18n.t("eval.export"), scale=0, min_width=100)
        export_file = gr.File(label=i18n.t("eval.download"), interactive=False, scale=1, visible=False)  # shown once made
    gr.HTML(legend(list(board.METRIC_HELP)))
    with gr.Row():
        board_df = gr.Dataframe(board.board_frame(board.leaderboard(ctx.ws)), interactive=False, scale=3,
                                elem_id="eval-leaderboard", label=i18n.t("eval.board"))
        ratings = gr.Dataframe(board.arena_ratings(ctx.ws), interactive=False, scale=2,
                               label=i18n.t("eval.ratings"))
    v = EvaluateView(policies, baseline, prompts, prompt_file, n, judges, temperature, top_p, max_new_tokens, seed,
                     run, stop, status, job, report, results, reference, browse_policy, browse_judge, rows, pool,
                     send, human_md, human, sort_by, board_df, ratings, refresh, export_fmt, export, export_file,
                     split_pool, split, split_md, gold_run, gold_chart)
    wire(ctx, v)
    return v


# -- handlers: (ctx, view, values) -> {component: value} ---------------------------------------------------------
def request_from(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> tuple[EvalRequest, str]:
    """The form as an EvalRequest, with N and max new tokens capped before anything is allocated; plus a note."""
    limiter = Limiter(Limits.from_env())
    asked_n, asked_tokens = int(values[v.n] or 1), int(values[v.max_new_tokens] or 1)
    n, tokens = max(1, min(asked_n, MAX_UI_PROMPTS)), limiter.max_new_tokens(asked_tokens)
    note = (i18n.say("eval.capped", asked_n=asked_n, n=n, asked_tokens=asked_tokens, tokens=tokens)
            if (n, tokens) != (asked_n, asked_tokens) else "")
    picked = values[v.policies] or []
    req = EvalRequest(policies=list(picked if isinstance(picked, list) else [picked]),
                      prompts=values[v.prompt_file] or values[v.prompts] or "", baseline=values[v.baseline] or BASE,
                      judges=list(values[v.judges] or []), n=n, model=ctx.default_model,
                      temperature=float(values[v.temperature]), top_p=float(values[v.top_p]), max_new_tokens=tokens,
                      seed=int(values[v.seed] or 0))
    req.validate()
    return req, note


def report_outputs(v: EvaluateView, report: dict[str, Any] | None) -> dict[Any, Any]:
    pols = list(dict.fromkeys(r["policy"] for r in (report or {}).get("results", [])))
    judges = list(dict.fromkeys(r["judge"] for r in (report or {}).get("results", [])))
    return {v.report: report, v.results: i18n.frame(board.results_frame(report)),
            v.reference: i18n.frame(board.reference_frame(report)),
            v.browse_policy: gr.update(choices=pols, value=pols[0] if pols else None),
            v.browse_judge: gr.update(choices=judges, value=judges[0] if judges else None),
            v.rows: i18n.frame(board.prompt_frame(report, pols[0] if pols else "", judges[0] if judges else "")),
            v.pool: default_pool(report) if report else ""}


@needs(Role.ADMIN)  # runs models for minutes, like training
def on_run(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    try:
        req, note = request_from(ctx, v, values)
        preflight(ctx.ws, req)  # a bad policy, judge or prompt set is refused here, before the thread starts

        def work(progress: Callable[[float, str], None], stop: Callable[[], bool]) -> dict[str, Any]:
            return evaluate(ctx.ws, req, lambda m, a: ctx.cached((m, a), lambda: load_model(m, a)), progress, stop)
        job = RUNNER.start(work, owner=caller().name or "local")
    except UserError as e:
        yield {v.status: f"⚠️ {i18n.localise(e)}"}
        return
    while not job.done:
        yield {v.status: i18n.localise(job.status_line()) + note, v.job: job.id}
        time.sleep(POLL_S)
    yield {v.status: i18n.localise(job.status_line()) + note, v.job: None,
           **(report_outputs(v, job.report) if job.report else {}), **on_board(ctx, v, values)}


@needs(Role.ADMIN)
def on_stop(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    stopped = RUNNER.stop(values[v.job]) or RUNNER.stop(getattr(RUNNER.running(), "id", None))
    return {v.status: i18n.say("eval.stopping") if stopped else i18n.say("eval.nothing_running")}


@needs(Role.VIEWER)
def on_browse(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    return {v.rows: i18n.frame(board.prompt_frame(values[v.report], values[v.browse_policy] or "",
                                                  values[v.browse_judge] or ""))}


@needs(Role.ADMIN)  # writes pairs into a pool
def on_send(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    report = values[v.report]
    if not report:
        return {v.human_md: i18n.say("eval.run_first")}
    try:
        pool, added, skipped = send_to_arena(ctx.ws, report, values[v.pool] or "")
    except UserError as e:
        return {v.human_md: f"⚠️ {i18n.localise(e)}"}
    skip = i18n.say("eval.skipped", n=skipped) if skipped else ""
    return {v.pool: pool, v.human: i18n.frame(board.human_frame(ctx.ws, pool)),
            v.human_md: i18n.say("eval.sent", n=added, pool=pool, skip=skip)}


@needs(Role.VIEWER)
def on_board(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    pool = (values.get(v.pool) or "").strip()
    return {v.board: i18n.frame(board.board_frame(board.leaderboard(ctx.ws, values.get(v.sort_by) or "win_rate"))),
            v.ratings: i18n.frame(board.arena_ratings(ctx.ws)), v.human: i18n.frame(board.human_frame(ctx.ws, pool))}


@needs(Role.ADMIN)  # exports are admin's, as everywhere
def on_export(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    try:
        path, msg = board.export_board(ctx.ws, values[v.export_fmt], values[v.sort_by] or "win_rate")
    except UserError as e:
        return {v.export_file: None, v.human_md: f"⚠️ {i18n.localise(e)}"}
    return {v.export_file: gr.update(value=str(path), visible=True), v.human_md: msg}


@needs(Role.ADMIN)  # writes two new pools
def on_split(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    try:
        r = split_by_prompt(ctx.ws, values[v.split_pool] or "", int(values[v.seed] or 0))
    except UserError as e:
        return {v.split_md: f"⚠️ {i18n.localise(e)}"}
    return {v.split_md: i18n.say("eval.split_done", proxy=r["proxy"], proxy_pairs=r["proxy_pairs"],
                                 proxy_prompts=r["proxy_prompts"], gold=r["gold"], gold_pairs=r["gold_pairs"],
                                 gold_prompts=r["gold_prompts"])}


def gold_chart_html(points: list[dict[str, Any]]) -> str:
    """Proxy and gold against KL to the base: the over-optimisation picture (gold turns down while proxy climbs)."""
    svg = line_chart([{**p, "step": p["kl"]} for p in points], ["gold_proxy_score", "gold_score"],
                     title="Proxy vs gold reward", y_title="score", help=board.GOLD_HELP)
    return svg.replace(f">{i18n.say('chart.step')}</text>", f">{i18n.say('eval.gold_x')}</text>", 1)


@needs(Role.VIEWER)
def on_gold(ctx: AppContext, v: EvaluateView, values: dict[Any, Any]) -> dict[Any, Any]:
    run = ctx.ws.get_run(values[v.gold_run] or "")
    return {v.gold_chart: gold_chart_html(board.gold_curve(run["run_dir"] if run else None))}


def bind(fn: Callable[..., Any], ctx: AppContext, v: EvaluateView) -> Callable[..., Any]:
    """fn with (ctx, view) filled in, keeping its name and role (and being a generator when fn is one)."""
    if fn is on_run:
        def call(values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
            yield from fn(ctx, v, values)
    else:
        def call(values: dict[Any, Any] | None = None) -> Any:  # None: a page-load event has no inputs
            return fn(ctx, v, values or {})
    call.__name__, call.__doc__ = fn.__name__, fn.__doc__
    return needs(getattr(fn, "__playground_role__", Role.ADMIN))(call)


def wire(ctx: AppContext, v: EvaluateView) -> None:
    form = {v.policies, v.baseline, v.prompts, v.prompt_file, v.n, v.judges, v.temperature, v.top_p,
            v.max_new_tokens, v.seed, v.job, v.pool, v.sort_by}
    shown = [v.status, v.job, v.report, v.results, v.reference, v.browse_policy, v.browse_judge, v.rows, v.pool,
             v.board, v.ratings, v.human]
    v.run.click(bind(on_run, ctx, v), form, shown, api_name="evaluate_run", concurrency_limit=4)
    v.stop.click(bind(on_stop, ctx, v), {v.job}, [v.status], api_visibility="private")
    browse = {v.report, v.browse_policy, v.browse_judge}
    for ev in (v.browse_policy.change, v.browse_judge.change):
        ev(bind(on_browse, ctx, v), browse, [v.rows], api_visibility="private", show_progress="hidden")
    v.send.click(bind(on_send, ctx, v), {v.report, v.pool}, [v.pool, v.human, v.human_md], api_name="evaluate_send")
    for ev in (v.refresh.click, v.sort_by.change):
        ev(bind(on_board, ctx, v), {v.pool, v.sort_by}, [v.board, v.ratings, v.human], api_visibility="private")
    v.export.click(bind(on_export, ctx, v), {v.export_fmt, v.sort_by}, [v.export_file, v.human_md],
                   api_visibility="private")
    for picker, choices in ((v.policies, lambda: policy_choices(ctx.ws)), (v.baseline, lambda: policy_choices(ctx.ws)),
                            (v.prompts, lambda: prompt_choices(ctx)), (v.judges, lambda: judge_choices(ctx)),
                            (v.split_pool, ctx.ws.pools), (v.gold_run, lambda: run_choices(ctx, board.GOLD_STAGES))):
        ctx.register_picker(picker, choices)
    v.gold_run.change(bind(on_gold, ctx, v), {v.gold_run}, [v.gold_chart], api_visibility="private")
    v.split.click(bind(on_split, ctx, v), {v.split_pool, v.seed}, [v.split_md], api_visibility="private")
    ctx.on_page_load.append((bind(on_board, ctx, v), [v.board, v.ratings, v.human]))
    i18n.redraw_on_load(ctx, {v.results: lambda: i18n.frame(board.results_frame(None)),
                              v.reference: lambda: i18n.frame(board.reference_frame(None)),
                              v.rows: lambda: i18n.frame(board.prompt_frame(None)),
                              v.gold_chart: lambda: gold_chart_html([])})
