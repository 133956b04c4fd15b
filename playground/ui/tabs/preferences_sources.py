"""The Preferences tab's "Sources" section: the two generators (model, adapter, sampling) and the seed, hidden from
the annotator until the vote. Layout only; `on_adapter` is its one handler.

    sources = build(ctx, max_new_tokens_cap)
    sources.sides    # per source: [model, adapter, temperature, top-p, max new tokens]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.core.generation import adapter_path
from playground.core.runs import base_model
from playground.stages.preferences.arena import adapter_choices
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind, needs


@dataclass
class Sources:
    sides: list[list[Any]]
    seed: gr.Number
    refresh: gr.Button  # "Refresh runs and datasets"


@needs(Role.VIEWER)
def on_adapter(ctx: AppContext, run_id: str, model_v: str) -> Any:
    """Picking a run's adapter sets the model to the base it was trained on."""
    if not run_id:
        return gr.skip()
    run = ctx.ws.get_run(run_id)
    if run is None:
        try:
            adapter_path(run_id)
        except UserError as e:
            gr.Warning(i18n.localise(e))
        return gr.skip()
    return base_model(run["run_dir"]) or model_v


def build(ctx: AppContext, cap: int) -> Sources:
    models = list(dict.fromkeys([ctx.default_model, "bundled", "tiny"]))
    with gr.Accordion(i18n.t("arena.sources"), open=False):
        sides: list[list[Any]] = []
        with gr.Row():
            for n, temp in ((1, 0.7), (2, 1.0)):
                with gr.Column():
                    gr.Markdown(i18n.t({1: "arena.source_1", 2: "arena.source_2"}[n]))
                    m = gr.Dropdown(models, value=ctx.default_model, label=i18n.t("common.model"), allow_custom_value=True)
                    ad = gr.Dropdown(adapter_choices(ctx.ws), value="", label=i18n.t("arena.adapter"),
                                     allow_custom_value=True)
                    t = gr.Slider(0.0, 2.0, value=temp, step=0.05, label=i18n.t("common.temperature"), info=i18n.t("arena.greedy"))
                    tp = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label=i18n.t("eval.top_p"))
                    mx = gr.Slider(1, cap, value=min(128, cap), step=1, label=i18n.t("eval.max_new_tokens"),
                                   info=i18n.t("arena.cap_info"))
                    sides.append([m, ad, t, tp, mx])
        with gr.Row():
            seed = gr.Number(value=-1, precision=0, label=i18n.t("arena.seed"))
            refresh = gr.Button(i18n.t("arena.refresh"), size="sm")
    for m, ad, *_ in sides:
        ad.change(bind(on_adapter, ctx), [ad, m], m, api_visibility="private")
        ctx.register_picker(ad, lambda: adapter_choices(ctx.ws))  # kept current when the workspace changes
    return Sources(sides=sides, seed=seed, refresh=refresh)
