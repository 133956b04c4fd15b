"""Preferences tab: two answers side by side, the annotator votes, every vote is a training pair.

    build(ctx)   # inside a gr.Tab of playground/ui/app.py

Layout and wiring only; the service is playground/stages/preferences/arena.py (prompt modes, generation,
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

from collections.abc import Iterator
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.preferences.arena import (
    Arena,
    PairFrame,
    PromptMode,
    Vote,
    Who,
    adapter_choices,
    dataset_choices,
)
from playground.stages.preferences.judge import JUDGE_OFF, judge_choices
from playground.stages.reward.scorer import pair_scorer
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import caller, needs
from playground.ui.tabs import preferences_sources, preferences_workshop
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
NO_TTFT = "first token: …"
MODE_KEYS = {PromptMode.TYPED: "arena.mode_typed", PromptMode.IN_ORDER: "arena.mode_in_order",
             PromptMode.AT_RANDOM: "arena.mode_random", PromptMode.POOL: "arena.mode_pool"}
NAME_KEY = "playground-arena-annotator"  # localStorage key of the annotator name


def who() -> Who:
    c = caller()
    return Who(name=c.name, session=c.session)


def votable(on: bool) -> tuple[Any, ...]:
    """The four vote buttons' updates: they work only while a pair that may be voted on is on screen."""
    return (gr.update(interactive=on),) * 4


def frame_outputs(f: PairFrame) -> tuple[Any, ...]:
    """A frame as (A, B, ttft A, ttft B, served, prompt, cursor, rating A, rating B, reason, *vote buttons)."""
    if f.note:
        gr.Info(f.note)
    return (f.texts[0], f.texts[1], f.ttft[0], f.ttft[1], f.served,
            f.prompt if f.prompt is not None else gr.skip(), f.cursor, None, None, "", *votable(f.served is not None))


def build(ctx: AppContext) -> None:
    arena = Arena(ctx.ws, cache=ctx.cached, rm_scores=pair_scorer(ctx.ws, ctx.cached))  # the RM judge, from reward
    cap = arena.limiter.limits.max_new_tokens

    with gr.Row():
        annotator = gr.Textbox(label=i18n.t("arena.annotator"), placeholder=i18n.t("arena.annotator_ph"),
                               elem_id="arena-annotator", scale=2)
        pool = gr.Textbox(value="default", label=i18n.t("eval.pool"), info=i18n.t("arena.pool_info"),
                          scale=1, elem_id="arena-pool")
        counter = gr.Markdown(arena.counter("default", ""), elem_id="arena-counter")

    sources = preferences_sources.build(ctx, cap)
    sides, seed = sources.sides, sources.seed

    with gr.Row():
        mode = gr.Radio([(i18n.t(MODE_KEYS[m]), m.value) for m in PromptMode], value=PromptMode.TYPED.value,
                        label=i18n.t("arena.mode"), scale=3)
        dataset = gr.Dropdown(dataset_choices(ctx.ws), value=None, label=i18n.t("common.dataset"), allow_custom_value=True, scale=1,
                              elem_id="arena-dataset")
    prompt = gr.Textbox(label=i18n.t("sft.prompt"), lines=2, placeholder=i18n.t("arena.prompt_ph"),
                        elem_id="arena-prompt")
    with gr.Row():
        gen_btn = gr.Button(i18n.t("arena.generate"), variant="primary", elem_id="arena-generate")
        skip_btn = gr.Button(i18n.t("arena.skip"), elem_id="arena-skip")
        regen_a = gr.Button(i18n.t("arena.regen_a"), size="sm")
        regen_b = gr.Button(i18n.t("arena.regen_b"), size="sm")
    with gr.Row(equal_height=True):
        with gr.Column():
            out_a = gr.Textbox(label="A", lines=10, max_lines=24, interactive=False, elem_id="arena-a")
            ttft_a = gr.Markdown(NO_TTFT)
            rate_a = gr.Radio([1, 2, 3, 4, 5], value=None, label=i18n.t("arena.rate_a"))
        with gr.Column():
            out_b = gr.Textbox(label="B", lines=10, max_lines=24, interactive=False, elem_id="arena-b")
            ttft_b = gr.Markdown(NO_TTFT)
            rate_b = gr.Radio([1, 2, 3, 4, 5], value=None, label=i18n.t("arena.rate_b"))
    reason = gr.Textbox(label=i18n.t("arena.reason"), lines=1)
    with gr.Row():  # off until a pair is on screen (a click then would only be refused)
        vote_btns = {
            "a": gr.Button(i18n.t("arena.vote_a"), variant="primary", elem_id="arena-vote-a", interactive=False),
            "b": gr.Button(i18n.t("arena.vote_b"), variant="primary", elem_id="arena-vote-b", interactive=False),
            "tie": gr.Button(i18n.t("arena.vote_tie"), elem_id="arena-vote-tie", interactive=False),
            "both_bad": gr.Button(i18n.t("arena.vote_bad"), elem_id="arena-vote-bad", interactive=False),
        }
    with gr.Row(equal_height=True):
        reveal = gr.Markdown("", elem_id="arena-reveal")
        judge = gr.Dropdown(judge_choices(ctx.ws), value=JUDGE_OFF, label=i18n.t("arena.judge"),
                            info=i18n.t("arena.judge_info"),
                            allow_custom_value=True, scale=0, min_width=380, elem_id="arena-rm-judge")
        judge_refresh = gr.Button("🔄", size="sm", scale=0, min_width=40)
    gr.Markdown(i18n.t("arena.keys"), elem_classes=["pg-help"])

    gr.HTML("", js_on_load=KEYS_JS, elem_id="arena-keys")  # installs the 1-4 shortcuts once per page
    served = gr.State(None)  # the pair on screen: pairs.serve_pair's dict
    last_voted = gr.State(None)  # the pair just judged (the edit refers to it)
    cursor = gr.State(0)  # next row for "Dataset, in order"
    advance = gr.State(False)  # set by a stored vote: the next pair may load
    extras = preferences_workshop.build(ctx, served=served, last_voted=last_voted, prompt=prompt,
                                        annotator=annotator, pool=pool, who=who)
    targets = ArenaTargets(sides=sides, pool=pool, mode=mode, dataset=dataset, prompt=prompt, cursor=cursor,
                           judge=judge, seed=seed, annotator=annotator,
                           clears=[(served, None), (last_voted, None), (out_a, ""), (out_b, ""), (ttft_a, NO_TTFT),
                                   (ttft_b, NO_TTFT), (reveal, ""), (extras.edit_box, ""), (extras.edit_prompt, ""),
                                   *((b, gr.update(interactive=False)) for b in vote_btns.values()),
                                   *zip(extras.stats, preferences_workshop.empty_statistics())])
    ctx.arena = targets
    preferences_workshop.wire_pool(arena, extras, targets)  # the host's "pre-generate N pairs" reads the form

    # -- generation ----------------------------------------------------------------------------------
    gen_outputs = [out_a, out_b, ttft_a, ttft_b, served, prompt, cursor, rate_a, rate_b, reason, *vote_btns.values()]

    def pair_updates(values: dict[Any, Any]) -> Iterator[tuple[Any, ...]]:
        try:
            for frame in arena.pairs(targets.request(values), who()):
                yield frame_outputs(frame)
        except UserError as e:
            gr.Warning(str(e))
            yield (gr.skip(),) * len(gen_outputs)

    @needs(Role.ANNOTATOR)
    def on_generate(values: dict[Any, Any]) -> Iterator[tuple[Any, ...]]:
        """Load the next pair into this session (a pool pair, a pre-generated one, or one streamed as it grows)."""
        yield from pair_updates(values)

    @needs(Role.ANNOTATOR)
    def on_skip(values: dict[Any, Any]) -> Iterator[tuple[Any, ...]]:
        """Drop the pair on screen without a row; dataset and pool modes move on to the next pair."""
        if PromptMode.parse(values[mode]) is PromptMode.TYPED:
            yield "", "", NO_TTFT, NO_TTFT, None, gr.skip(), gr.skip(), None, None, "", *votable(False)
            return
        yield from pair_updates(values)

    @needs(Role.ANNOTATOR)
    def on_after_vote(values: dict[Any, Any]) -> Iterator[tuple[Any, ...]]:
        """Dataset and pool modes: the next pair (pre-generated while the annotator read) follows a vote."""
        if PromptMode.parse(values[mode]) is PromptMode.TYPED or not values[advance]:
            yield (gr.skip(),) * len(gen_outputs)
            return
        yield from pair_updates(values)

    # a room's requests all reach the shared engine, which batches them and does its own per-user admission
    gen_btn.click(on_generate, targets.form, gen_outputs, api_name="arena_generate", concurrency_limit=GEN_LIMIT)
    skip_btn.click(on_skip, targets.form, gen_outputs, api_visibility="private", concurrency_limit=GEN_LIMIT)

    def regenerate(side: str, values: dict[Any, Any]) -> Iterator[tuple[Any, Any, Any]]:
        i = 0 if side == "A" else 1
        try:
            for text, new in arena.regenerate(values[served], side, targets.setups(values), who()):
                shown = (gr.update(value=text) if i == 0 else gr.skip(), gr.update(value=text) if i == 1 else gr.skip())
                yield (*shown, new if new is not None else gr.skip())
        except UserError as e:
            gr.Warning(str(e))
            yield gr.skip(), gr.skip(), gr.skip()

    @needs(Role.ANNOTATOR)
    def on_regenerate_a(values: dict[Any, Any]) -> Iterator[tuple[Any, Any, Any]]:
        yield from regenerate("A", values)

    @needs(Role.ANNOTATOR)
    def on_regenerate_b(values: dict[Any, Any]) -> Iterator[tuple[Any, Any, Any]]:
        yield from regenerate("B", values)

    regen_inputs = {served, *(c for side in sides for c in side)}
    regen_a.click(on_regenerate_a, regen_inputs, [out_a, out_b, served], api_visibility="private")
    regen_b.click(on_regenerate_b, regen_inputs, [out_a, out_b, served], api_visibility="private")

    # -- voting --------------------------------------------------------------------------------------
    vote_outputs = [reveal, counter, served, last_voted, extras.edit_box, extras.edit_prompt, advance]
    vote_inputs = [served, annotator, reason, rate_a, rate_b, pool, judge]

    def vote(choice: str, served_v: dict | None, annotator_v: str, reason_v: str, rating_a: Any, rating_b: Any,
             pool_v: str, judge_v: str | None) -> tuple[Any, ...]:
        """Store the vote; a refusal only warns and sets advance=False, so no next pair loads."""
        try:
            r = arena.vote(served_v, Vote(choice, annotator_v, reason_v, rating_a, rating_b, pool_v or "",
                                          judge_v or JUDGE_OFF), who())
        except UserError as e:
            gr.Warning(str(e))
            return (gr.skip(),) * (len(vote_outputs) - 1) + (False,)
        return r.reveal, r.counter, r.served, r.last, r.edit_text, r.edit_prompt, True

    @needs(Role.ANNOTATOR)
    def on_vote_api(choice: str, served_v: dict | None, annotator_v: str, reason_v: str, rating_a: Any,
                    rating_b: Any, pool_v: str, judge_v: str = JUDGE_OFF) -> tuple[Any, ...]:
        """choice: a | b | tie | both_bad, for the pair this session loaded with /arena_generate; judge: a
        finished reward run id whose "RM says" verdict is appended to the reveal ("off": none)."""
        return vote(choice, served_v, annotator_v, reason_v, rating_a, rating_b, pool_v, judge_v)

    vote_choice = gr.Textbox(visible=False)  # the API vote endpoint takes the choice as text
    vote_api = gr.Button(visible=False)
    vote_api.click(on_vote_api, [vote_choice, *vote_inputs], vote_outputs, api_name="arena_vote",
                   concurrency_limit=8)

    def vote_for(choice: str) -> Any:
        @needs(Role.ANNOTATOR)
        def on_vote(served_v: dict | None, annotator_v: str, reason_v: str, rating_a: Any, rating_b: Any,
                    pool_v: str, judge_v: str | None) -> tuple[Any, ...]:
            out = vote(choice, served_v, annotator_v, reason_v, rating_a, rating_b, pool_v, judge_v)
            return (*out, *votable(False)) if out[-1] else (*out, *(gr.skip(),) * 4)  # the judged pair is done

        return on_vote

    for choice, btn in vote_btns.items():
        btn.click(vote_for(choice), vote_inputs, [*vote_outputs, *vote_btns.values()], api_visibility="private",
                  concurrency_limit=8).then(
            on_after_vote, {*targets.form, advance}, gen_outputs, api_visibility="private", concurrency_limit=GEN_LIMIT)

    @needs(Role.ANNOTATOR)
    def on_counter(annotator_v: str, pool_v: str) -> str:
        return arena.counter(pool_v, who().annotator(annotator_v))

    annotator.change(on_counter, [annotator, pool], counter, api_visibility="private", show_progress="hidden")
    pool.change(on_counter, [annotator, pool], counter, api_visibility="private", show_progress="hidden")
    # The name is kept in this browser's localStorage by front-end-only events (no server call per keystroke).
    # Not a gr.BrowserState: inside a tab that is not selected when the page opens, it is not read back at load.
    annotator.change(None, annotator, None, js=f"(n) => {{ localStorage.setItem('{NAME_KEY}', (n || '').trim()); }}")

    @needs(Role.VIEWER)
    def on_page_name(saved: str | None) -> Any:
        """Signed in: the box shows the signed-in name (votes are stored under it); else the name kept here."""
        name = caller().name
        if name:
            return gr.update(value=name, interactive=False, info=i18n.say("arena.signed_in"))
        return saved or gr.skip()

    root = gr.context.Context.root_block
    if root is not None:
        root.load(on_page_name, annotator, annotator, js=f"() => localStorage.getItem('{NAME_KEY}') || ''",
                  api_visibility="private", show_progress="hidden")

    # -- pickers ---------------------------------------------------------------------------------------
    @needs(Role.VIEWER)
    def on_refresh_lists() -> tuple[Any, Any, Any]:
        choices = adapter_choices(ctx.ws)
        return gr.update(choices=choices), gr.update(choices=choices), gr.update(choices=dataset_choices(ctx.ws))

    @needs(Role.VIEWER)
    def on_refresh_judge() -> Any:
        return gr.update(choices=judge_choices(ctx.ws))

    sources.refresh.click(on_refresh_lists, None, [sides[0][1], sides[1][1], dataset], api_visibility="private")
    judge_refresh.click(on_refresh_judge, None, judge, api_visibility="private")
    ctx.register_picker(dataset, lambda: dataset_choices(ctx.ws))  # kept current when the workspace changes
    ctx.register_picker(judge, lambda: judge_choices(ctx.ws))
