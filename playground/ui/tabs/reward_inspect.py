"""The Reward tab's Inspect section: score a typed response, check a finished RM against the workspace votes
(agreement per annotator, the length-bias check, the most-wrong pairs), and evaluate it on an uploaded
preference file (the same report as `python -m playground eval-rm`).

Layout only: `build` returns the components as one `InspectView`; the handlers are the module's functions (they
return `{component: value}`); scoring, the checks and the file report are stages/reward/{service,evaluate}.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.auth import Role
from playground.core.chat import prompt_text, response_text
from playground.core.errors import UserError
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, needs
from playground.ui.widgets.run_panel import run_choices

BUILTIN_SOURCE = "builtin:prefs (synthetic)"
ALL_POOLS = "workspace (all pools)"


@dataclass
class InspectView:
    """The Inspect section's components (build lays them out; the handlers below read and fill them)."""

    run: gr.Dropdown  # the finished reward run every check uses
    source: gr.Dropdown  # which votes to compare with
    refresh: gr.Button
    sc_prompt: gr.Textbox
    sc_response: gr.Textbox
    sc_out: gr.Number
    sc_btn: gr.Button
    top_k: gr.Slider
    check_btn: gr.Button
    bias_md: gr.Markdown
    agree_df: gr.Dataframe
    wrong_df: gr.Dataframe
    eval_file: gr.File
    eval_btn: gr.Button
    eval_md: gr.Markdown


def pair_sources(ctx: AppContext) -> list[tuple[str, str]]:
    """(label in the caller's language, value) per source of human votes."""
    return [(i18n.say("inspect.all_pools"), ALL_POOLS),
            *[(i18n.say("inspect.pool", pool=p), f"pool: {p}") for p in ctx.ws.pools()],
            (i18n.say("inspect.builtin"), BUILTIN_SOURCE)]


def _short(text: Any, n: int = 140) -> str:
    if isinstance(text, list) and text and text[0].get("role") == "user":
        s = prompt_text(text)
    else:
        s = response_text(text)
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def agreement_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"annotator": r["annotator"], "pairs": r["pairs"], "RM agrees": r["agree"],
                          "agreement": f"{r['agreement']:.0%} (n={r['pairs']})" if r["pairs"] else "–"}
                         for r in rows], columns=["annotator", "pairs", "RM agrees", "agreement"]).pipe(i18n.frame)


def wrong_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["pair", "annotator", "prompt", "human chose", "RM preferred", "r(chosen)", "r(rejected)", "margin"]
    return pd.DataFrame([{"pair": r.get("id", ""), "annotator": r.get("annotator", ""),
                          "prompt": _short(r["prompt"], 80), "human chose": _short(r["chosen"]),
                          "RM preferred": _short(r["rejected"]), "r(chosen)": round(r["r_chosen"], 3),
                          "r(rejected)": round(r["r_rejected"], 3), "margin": round(r["margin"], 3)}
                         for r in rows], columns=cols).pipe(i18n.frame)


def bias_markdown(b: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return "–" if x != x else f"{x:.0%}"  # NaN -> dash

    corr = "–" if b["corr_reward_length"] != b["corr_reward_length"] else f"{b['corr_reward_length']:+.2f}"
    head = f"### {'⚠️' if b['flagged'] else '✅'} {b['warning']}"
    return head + "\n\n" + i18n.say("inspect.bias_table", corr=corr, rm_longer=pct(b["rm_prefers_longer"]),
                                      humans_longer=pct(b["humans_prefer_longer"]),
                                      acc_shorter=pct(b["accuracy_chosen_shorter"]), n=b["chosen_shorter_pairs"])


def load_rm(ctx: AppContext, run_id: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a finished reward run, loaded once and shared; a UserError in one line otherwise."""
    from playground.stages.reward import service as rm

    if not run_id:
        raise UserError(i18n.say("inspect.pick_run"))
    run = ctx.ws.get_run(run_id)
    run_dir = str(rm.reward_run_dir(run["run_dir"] if run else run_id))  # one-line error if gone or unfinished
    return ctx.cached(("rm", run_dir), lambda: rm.load_reward_model(run_dir))


def pairs_for(ctx: AppContext, src: str) -> list[dict[str, Any]]:
    from playground.core import builtin
    from playground.stages.reward import service as rm

    if src == BUILTIN_SOURCE:
        return [{**p, "id": i, "annotator": "synthetic"} for i, p in enumerate(builtin.preferences())]
    pool = src[len("pool: "):] if src.startswith("pool: ") else None
    return rm.pairs_from_workspace(ctx.ws, pool)


# -- handlers --------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_score(ctx: AppContext, run_id: str, prompt: str, response: str) -> Any:
    from playground.stages.reward import scorer

    if not prompt.strip() or not response.strip():
        gr.Warning(i18n.say("inspect.type_both"))
        return gr.skip()
    try:
        model, tok = load_rm(ctx, run_id)
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return gr.skip()
    return round(scorer.score_text(model, tok, prompt, response), 4)  # batched with other requests


@needs(Role.VIEWER)
def on_check(ctx: AppContext, v: InspectView, run_id: str, src: str, k: float) -> dict[Any, Any]:
    from playground.stages.reward import service as rm

    try:
        model, tok = load_rm(ctx, run_id)
        report = rm.inspect_pairs(model, tok, pairs_for(ctx, src or ALL_POOLS), int(k))
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return {v.bias_md: f"⚠️ {i18n.localise(e)}", v.agree_df: agreement_frame([]), v.wrong_df: wrong_frame([])}
    return {v.bias_md: bias_markdown(report["length_bias"]), v.agree_df: agreement_frame(report["agreement"]),
            v.wrong_df: wrong_frame(report["most_wrong"])}


def on_eval_file(ctx: AppContext, run_id: str, path: str | None) -> str:  # admin: reads an upload, scores every pair
    from playground.stages.reward.evaluate import evaluate_file, report_markdown

    if not path:
        return i18n.say("inspect.upload_first")
    try:
        return report_markdown(evaluate_file(run_id, path, model_tok=load_rm(ctx, run_id)))
    except UserError as e:
        return f"⚠️ {i18n.localise(e)}"


# -- layout ------------------------------------------------------------------------------------------------------
def build(ctx: AppContext) -> InspectView:
    c: dict[str, Any] = {}
    gr.Markdown(i18n.t("inspect.intro"))
    with gr.Row():
        c["run"] = gr.Dropdown(run_choices(ctx, "reward", finished_only=True), label=i18n.t("inspect.run"), scale=4,
                               allow_custom_value=True, info=i18n.t("inspect.run_info"))
        c["refresh"] = gr.Button("🔄", scale=0, min_width=60)
    with gr.Row():
        c["sc_prompt"] = gr.Textbox(label=i18n.t("sft.prompt"), value="Tell me about bees.", lines=2, scale=2)
        c["sc_response"] = gr.Textbox(label=i18n.t("inspect.response"), lines=2, scale=3,
                                      value="Happy to help! Bees are insects that make honey and pollinate flowers.")
        c["sc_out"] = gr.Number(label=i18n.t("inspect.reward"), interactive=False, scale=1)
    c["sc_btn"] = gr.Button(i18n.t("inspect.score"))
    with gr.Row():
        c["source"] = gr.Dropdown(pair_sources(ctx), value=ALL_POOLS, label=i18n.t("inspect.source"), scale=3)
        c["top_k"] = gr.Slider(1, 50, value=10, step=1, label=i18n.t("inspect.top_k"), scale=2)
        c["check_btn"] = gr.Button(i18n.t("inspect.check"), variant="secondary", scale=1)
    c["bias_md"] = gr.Markdown("")
    with gr.Row():
        c["agree_df"] = gr.Dataframe(agreement_frame([]), label=i18n.t("inspect.agreement"), interactive=False,
                                     scale=2)
        c["wrong_df"] = gr.Dataframe(wrong_frame([]), label=i18n.t("inspect.wrong"),
                                     interactive=False, scale=5, wrap=True)
    with gr.Accordion(i18n.t("inspect.eval_file_section"), open=False):
        gr.Markdown(i18n.t("inspect.eval_file_help"))
        with gr.Row():
            c["eval_file"] = gr.File(label=i18n.t("inspect.eval_file"), file_types=[".jsonl", ".json", ".parquet"],
                                     type="filepath", scale=3)
            c["eval_btn"] = gr.Button(i18n.t("inspect.evaluate"), variant="secondary", scale=1)
        c["eval_md"] = gr.Markdown("")
    v = InspectView(**c)
    i18n.redraw_on_load(ctx, {v.agree_df: lambda: agreement_frame([]), v.wrong_df: lambda: wrong_frame([])})
    wire(ctx, v)
    return v


def wire(ctx: AppContext, v: InspectView) -> None:
    ctx.register_picker(v.run, lambda: run_choices(ctx, "reward", finished_only=True))
    v.sc_btn.click(bind(on_score, ctx), [v.run, v.sc_prompt, v.sc_response], [v.sc_out], api_name="reward_score")
    v.check_btn.click(bind(on_check, ctx, v), [v.run, v.source, v.top_k], [v.bias_md, v.agree_df, v.wrong_df],
                      api_name="reward_inspect")
    v.eval_btn.click(bind(on_eval_file, ctx), [v.run, v.eval_file], [v.eval_md], api_name="reward_eval_file")
