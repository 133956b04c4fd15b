"""Preferences tab: two answers side by side, the annotator votes, every vote is a training pair.

    t = build(ctx)   # inside a gr.Tab of playground/ui/app.py: the tab's components as one ArenaTab

Layout and wiring only: the handlers live in ui/tabs/preferences_handlers.py (each takes the ArenaTab and returns
{component: value}); the service is playground/stages/preferences/arena.py (prompt modes, generation,
prefetch, vote checks and limits), the RM judge is stages/preferences/judge.py. The sources section is laid out by
ui/tabs/preferences_sources.py, the workshop extras (edit, demonstration, pool, statistics, export) by
ui/tabs/preferences_workshop.py.

The pair being judged lives in gr.State (per browser session); the workspace DB is server-wide. The form is
one `ArenaTargets` (ui/widgets/arena_targets.py), registered as `ctx.arena`: the PPO tab's "Arena round"
fills it, which also empties the pair on screen.

API (gradio_client): /arena_generate (the form's values in creation order: annotator, pool, source 1 (model,
adapter, T, top-p, max new tokens), source 2, seed, mode, dataset, prompt) loads the next pair into the
session; /arena_vote (choice, annotator, reason, rating_a, rating_b, pool, judge="off") -> reveal, counter,
edit box, edit heading. Element ids for browser tests: arena-generate, arena-skip, arena-vote-a, arena-vote-b,
arena-vote-tie, arena-vote-bad, arena-a, arena-b, arena-counter, arena-reveal, arena-annotator, arena-prompt,
arena-rm-judge, arena-pool, arena-dataset, arena-edit, arena-edit-prompt.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from playground.stages.preferences.arena import Arena, PromptMode, dataset_choices
from playground.stages.preferences.judge import JUDGE_OFF, judge_choices
from playground.stages.reward.scorer import pair_scorer
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import bind
from playground.ui.tabs import preferences_sources, preferences_workshop
from playground.ui.tabs.preferences_handlers import (
    NO_TTFT,
    ArenaTab,
    on_after_vote,
    on_counter,
    on_generate,
    on_page_name,
    on_refresh_judge,
    on_refresh_lists,
    on_regenerate_a,
    on_regenerate_b,
    on_skip,
    on_vote,
    on_vote_api,
)
from playground.ui.widgets.arena_targets import ArenaTargets

GEN_LIMIT = 32  # generations in flight across the room: the engine batches them (PLAYGROUND_ENGINE_BATCH)

# keys 1-4 click the vote buttons while the arena is visible and no text field has the focus
KEYS_JS = """
if (!window.__arenaKeys) {
  window.__arenaKeys = true;
  const ids = {"1": "arena-vote-a", "2": "arena-vote-b", "3": "arena-vote-tie", "4": "arena-vote-bad"};
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || !(ev.key in ids)) return;
    const t = ev.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const el = document.getElementById(ids[ev.key]);
    const btn = el && (el.tagName === "BUTTON" ? el : el.querySelector("button"));
    if (!btn || btn.disabled || btn.offsetParent === null) return;  // hidden tab: do nothing
    ev.preventDefault();
    btn.click();
  });
}
"""
MODE_KEYS = {PromptMode.TYPED: "arena.mode_typed", PromptMode.IN_ORDER: "arena.mode_in_order",
             PromptMode.AT_RANDOM: "arena.mode_random", PromptMode.POOL: "arena.mode_pool"}
NAME_KEY = "playground-arena-annotator"  # localStorage key of the annotator name


# -- layout ------------------------------------------------------------------------------------------------------
def _prompt_form(ctx: AppContext) -> dict[str, Any]:
    """Prompt mode, dataset, prompt, and the generate / skip / regenerate buttons."""
    c: dict[str, Any] = {}
    with gr.Row():
        c["mode"] = gr.Radio([(i18n.t(MODE_KEYS[m]), m.value) for m in PromptMode], value=PromptMode.TYPED.value,
                             label=i18n.t("arena.mode"), scale=3)
        c["dataset"] = gr.Dropdown(dataset_choices(ctx.ws), value=None, label=i18n.t("common.dataset"),
                                   allow_custom_value=True, scale=1, elem_id="arena-dataset")
    c["prompt"] = gr.Textbox(label=i18n.t("sft.prompt"), lines=2, placeholder=i18n.t("arena.prompt_ph"),
                             elem_id="arena-prompt")
    with gr.Row():
        c["gen_btn"] = gr.Button(i18n.t("arena.generate"), variant="primary", elem_id="arena-generate")
        c["skip_btn"] = gr.Button(i18n.t("arena.skip"), elem_id="arena-skip")
        c["regen_a"] = gr.Button(i18n.t("arena.regen_a"), size="sm")
        c["regen_b"] = gr.Button(i18n.t("arena.regen_b"), size="sm")
    return c


def _pair(ctx: AppContext) -> dict[str, Any]:
    """The two answers with their first-token times and ratings, the reason, the vote buttons and the verdict."""
    c: dict[str, Any] = {}
    with gr.Row(equal_height=True):
        for side in ("a", "b"):
            with gr.Column():
                c[f"out_{side}"] = gr.Textbox(label=side.upper(), lines=10, max_lines=24, interactive=False,
                                              elem_id=f"arena-{side}")
                c[f"ttft_{side}"] = gr.Markdown(NO_TTFT)
                c[f"rate_{side}"] = gr.Radio([1, 2, 3, 4, 5], value=None, label=i18n.t(f"arena.rate_{side}"))
    c["reason"] = gr.Textbox(label=i18n.t("arena.reason"), lines=1)
    with gr.Row():  # off until a pair is on screen (a click then would only be refused)
        c["vote_btns"] = {
            "a": gr.Button(i18n.t("arena.vote_a"), variant="primary", elem_id="arena-vote-a", interactive=False),
            "b": gr.Button(i18n.t("arena.vote_b"), variant="primary", elem_id="arena-vote-b", interactive=False),
            "tie": gr.Button(i18n.t("arena.vote_tie"), elem_id="arena-vote-tie", interactive=False),
            "both_bad": gr.Button(i18n.t("arena.vote_bad"), elem_id="arena-vote-bad", interactive=False),
        }
    with gr.Row(equal_height=True):
        c["reveal"] = gr.Markdown("", elem_id="arena-reveal")
        c["judge"] = gr.Dropdown(judge_choices(ctx.ws), value=JUDGE_OFF, label=i18n.t("arena.judge"),
                                 info=i18n.t("arena.judge_info"),
                                 allow_custom_value=True, scale=0, min_width=380, elem_id="arena-rm-judge")
        c["judge_refresh"] = gr.Button("🔄", size="sm", scale=0, min_width=40)
    gr.Markdown(i18n.t("arena.keys"), elem_classes=["pg-help"])
    gr.HTML("", js_on_load=KEYS_JS, elem_id="arena-keys")  # installs the 1-4 shortcuts once per page
    return c


def build(ctx: AppContext) -> ArenaTab:
    arena = Arena(ctx.ws, cache=ctx.cached, rm_scores=pair_scorer(ctx.ws, ctx.cached))  # the RM judge, from reward
    with gr.Row():
        annotator = gr.Textbox(label=i18n.t("arena.annotator"), placeholder=i18n.t("arena.annotator_ph"),
                               elem_id="arena-annotator", scale=2)
        pool = gr.Textbox(value="default", label=i18n.t("eval.pool"), info=i18n.t("arena.pool_info"),
                          scale=1, elem_id="arena-pool")
        counter = gr.Markdown(arena.counter("default", ""), elem_id="arena-counter")
    sources = preferences_sources.build(ctx, arena.limiter.limits.max_new_tokens)
    form, c = _prompt_form(ctx), _pair(ctx)
    served, last_voted = gr.State(None), gr.State(None)  # the pair on screen, the pair just judged
    cursor, advance = gr.State(0), gr.State(False)  # next row for "Dataset, in order"; a vote stored: go on
    extras = preferences_workshop.build(ctx, served=served, last_voted=last_voted, prompt=form["prompt"],
                                        annotator=annotator, pool=pool)
    clears = [(served, None), (last_voted, None), (c["out_a"], ""), (c["out_b"], ""), (c["ttft_a"], NO_TTFT),
              (c["ttft_b"], NO_TTFT), (c["reveal"], ""), (extras.edit_box, ""), (extras.edit_prompt, ""),
              *((b, gr.update(interactive=False)) for b in c["vote_btns"].values()),
              *zip(extras.stats, preferences_workshop.empty_statistics())]
    targets = ArenaTargets(sides=sources.sides, pool=pool, mode=form.pop("mode"), dataset=form.pop("dataset"),
                           prompt=form.pop("prompt"), cursor=cursor, judge=c.pop("judge"), seed=sources.seed,
                           annotator=annotator, clears=clears)
    ctx.arena = targets
    t = ArenaTab(arena=arena, targets=targets, extras=extras, counter=counter, served=served, last_voted=last_voted,
                 advance=advance, vote_choice=gr.Textbox(visible=False), vote_api=gr.Button(visible=False),
                 **form, **c)
    preferences_workshop.wire_pool(arena, extras, targets)  # the host's "pre-generate N pairs" reads the form
    wire(ctx, t, sources.refresh)
    return t


def wire(ctx: AppContext, t: ArenaTab, refresh_lists: gr.Button) -> None:
    tg = t.targets
    # a room's requests all reach the shared engine, which batches them and does its own per-user admission
    t.gen_btn.click(bind(on_generate, t), tg.form, t.gen_outputs, api_name="arena_generate",
                    concurrency_limit=GEN_LIMIT)
    t.skip_btn.click(bind(on_skip, t), tg.form, t.gen_outputs, api_visibility="private", concurrency_limit=GEN_LIMIT)
    regen_inputs = {t.served, *(c for side in tg.sides for c in side)}
    for btn, fn in ((t.regen_a, on_regenerate_a), (t.regen_b, on_regenerate_b)):
        btn.click(bind(fn, t), regen_inputs, [t.out_a, t.out_b, t.served], api_visibility="private")

    t.vote_api.click(bind(on_vote_api, t), [t.vote_choice, t.served], t.vote_outputs, inputs_kwargs=t.vote_form,
                     api_name="arena_vote", concurrency_limit=8)
    for choice, btn in t.vote_btns.items():
        btn.click(bind(on_vote, t, choice), [t.served], [*t.vote_outputs, *t.vote_btns.values()],
                  inputs_kwargs=t.vote_form, api_visibility="private", concurrency_limit=8).then(
            bind(on_after_vote, t), {*tg.form, t.advance}, t.gen_outputs, api_visibility="private",
            concurrency_limit=GEN_LIMIT)

    for box in (tg.annotator, tg.pool):
        box.change(bind(on_counter, t), [tg.annotator, tg.pool], t.counter, api_visibility="private",
                   show_progress="hidden")
    # The name is kept in this browser's localStorage by front-end-only events (no server call per keystroke).
    # Not a gr.BrowserState: inside a tab that is not selected when the page opens, it is not read back at load.
    tg.annotator.change(None, tg.annotator, None,
                        js=f"(n) => {{ localStorage.setItem('{NAME_KEY}', (n || '').trim()); }}")
    root = gr.context.Context.root_block
    if root is not None:
        root.load(on_page_name, tg.annotator, tg.annotator, js=f"() => localStorage.getItem('{NAME_KEY}') || ''",
                  api_visibility="private", show_progress="hidden")

    refresh_lists.click(bind(on_refresh_lists, ctx, t), None, [tg.sides[0][1], tg.sides[1][1], tg.dataset],
                        api_visibility="private")
    t.judge_refresh.click(bind(on_refresh_judge, ctx), None, tg.judge, api_visibility="private")
    ctx.register_picker(tg.dataset, lambda: dataset_choices(ctx.ws))  # kept current when the workspace changes
    ctx.register_picker(tg.judge, lambda: judge_choices(ctx.ws))
