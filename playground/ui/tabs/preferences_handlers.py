"""The arena's components as one `ArenaTab`, and its handlers: each takes the tab first and returns
{component: value} (an output left out stays as it is on screen).

    t = preferences.build(ctx)                        # ui/tabs/preferences.py lays out and wires
    for step in on_generate(t, values): ...           # values: {component: value} of t.targets.form
    out = vote(t, served, Vote("a", "ana", pool="room"))   # what /arena_vote and the vote buttons call
    out[t.advance]                                    # True: stored, the next pair may load

Every decision is a call into stages/preferences/arena.py (prompt modes, generation, prefetch, vote checks and
limits); a refused request is one warning and changes nothing on screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.auth import Role
from playground.core.errors import UserError
from playground.stages.preferences.arena import (
    Arena,
    PairFrame,
    PromptMode,
    Vote,
    adapter_choices,
    dataset_choices,
)
from playground.stages.preferences.judge import JUDGE_OFF, judge_choices
from playground.ui import i18n
from playground.ui.context import AppContext
from playground.ui.guard import caller, needs
from playground.ui.tabs.preferences_workshop import Extras, who
from playground.ui.widgets.arena_targets import ArenaTargets

NO_TTFT = "first token: …"


@dataclass
class ArenaTab:
    """The Preferences tab: its service, its form (`targets`, also filled by the PPO tab), the pair on screen."""

    arena: Arena  # the service: generation, prefetch, votes, per-user limits
    targets: ArenaTargets
    extras: Extras  # edit, demonstration, pool, statistics, export (ui/tabs/preferences_workshop.py)
    counter: gr.Markdown
    gen_btn: gr.Button
    skip_btn: gr.Button
    regen_a: gr.Button
    regen_b: gr.Button
    out_a: gr.Textbox
    out_b: gr.Textbox
    ttft_a: gr.Markdown
    ttft_b: gr.Markdown
    rate_a: gr.Radio
    rate_b: gr.Radio
    reason: gr.Textbox
    vote_btns: dict[str, gr.Button]  # a | b | tie | both_bad
    reveal: gr.Markdown
    judge_refresh: gr.Button
    served: gr.State  # the pair on screen: pairs.serve_pair's dict
    last_voted: gr.State  # the pair just judged (the edit refers to it)
    advance: gr.State  # set by a stored vote: the next pair may load
    vote_choice: gr.Textbox  # hidden: the API vote endpoint takes the choice as text
    vote_api: gr.Button  # hidden: /arena_vote

    @property
    def gen_outputs(self) -> list[Any]:
        return [self.out_a, self.out_b, self.ttft_a, self.ttft_b, self.served, self.targets.prompt,
                self.targets.cursor, self.rate_a, self.rate_b, self.reason, *self.vote_btns.values()]

    @property
    def vote_form(self) -> dict[str, Any]:
        """Vote's fields after the choice, by the names /arena_vote takes them (Gradio's `inputs_kwargs`)."""
        tg = self.targets
        return {"annotator_v": tg.annotator, "reason_v": self.reason, "rating_a": self.rate_a, "rating_b": self.rate_b,
                "pool_v": tg.pool, "judge_v": tg.judge}

    @property
    def vote_outputs(self) -> list[Any]:
        return [self.reveal, self.counter, self.served, self.last_voted, self.extras.edit_box,
                self.extras.edit_prompt, self.advance]


def votable(t: ArenaTab, on: bool) -> dict[Any, Any]:
    """The four vote buttons: they work only while a pair that may be voted on is on screen."""
    return {b: gr.update(interactive=on) for b in t.vote_btns.values()}


def nothing(t: ArenaTab) -> dict[Any, Any]:
    """Every output left as it is (an empty dict is not "nothing" to Gradio: name one output, skipped)."""
    return {t.served: gr.skip()}


def frame_outputs(t: ArenaTab, f: PairFrame) -> dict[Any, Any]:
    """A frame on screen: both answers, their first-token times, the pair (once it may be voted on), the prompt and
    cursor it came from, ratings and reason emptied."""
    if f.note:
        gr.Info(i18n.localise(f.note))
    out = {t.out_a: f.texts[0], t.out_b: f.texts[1], t.ttft_a: f.ttft[0], t.ttft_b: f.ttft[1], t.served: f.served,
           t.targets.cursor: f.cursor, t.rate_a: None, t.rate_b: None, t.reason: "", **votable(t, f.served is not None)}
    if f.prompt is not None:
        out[t.targets.prompt] = f.prompt
    return out


# -- generation ------------------------------------------------------------------------------------------------
def pair_updates(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    try:
        for frame in t.arena.pairs(t.targets.request(values), who()):
            yield frame_outputs(t, frame)
    except UserError as e:
        gr.Warning(i18n.localise(e))
        yield nothing(t)


@needs(Role.ANNOTATOR)
def on_generate(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    """Load the next pair into this session (a pool pair, a pre-generated one, or one streamed as it grows)."""
    yield from pair_updates(t, values)


@needs(Role.ANNOTATOR)
def on_skip(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    """Drop the pair on screen without a row; dataset and pool modes move on to the next pair."""
    if PromptMode.parse(values[t.targets.mode]) is PromptMode.TYPED:
        yield {t.out_a: "", t.out_b: "", t.ttft_a: NO_TTFT, t.ttft_b: NO_TTFT, t.served: None, t.rate_a: None,
               t.rate_b: None, t.reason: "", **votable(t, False)}
        return
    yield from pair_updates(t, values)


@needs(Role.ANNOTATOR)
def on_after_vote(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    """Dataset and pool modes: the next pair (pre-generated while the annotator read) follows a vote."""
    if PromptMode.parse(values[t.targets.mode]) is PromptMode.TYPED or not values[t.advance]:
        yield nothing(t)
        return
    yield from pair_updates(t, values)


def regenerate(t: ArenaTab, side: str, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    """One side of the pair on screen sampled again (its text streams in; the pair is replaced at the end)."""
    box = t.out_a if side == "A" else t.out_b
    try:
        for text, new in t.arena.regenerate(values[t.served], side, t.targets.setups(values), who()):
            yield {box: gr.update(value=text), **({t.served: new} if new is not None else {})}
    except UserError as e:
        gr.Warning(i18n.localise(e))
        yield nothing(t)


@needs(Role.ANNOTATOR)
def on_regenerate_a(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    yield from regenerate(t, "A", values)


@needs(Role.ANNOTATOR)
def on_regenerate_b(t: ArenaTab, values: dict[Any, Any]) -> Iterator[dict[Any, Any]]:
    yield from regenerate(t, "B", values)


# -- voting ----------------------------------------------------------------------------------------------------
def ballot(choice: str, annotator_v: str = "", reason_v: str = "", rating_a: Any = None, rating_b: Any = None,
           pool_v: str = "", judge_v: str | None = JUDGE_OFF) -> Vote:
    """A vote from the form's values (an empty pool or judge: none)."""
    return Vote(choice, annotator_v, reason_v, rating_a, rating_b, pool_v or "", judge_v or JUDGE_OFF)


def vote(t: ArenaTab, served_v: dict | None, v: Vote) -> dict[Any, Any]:
    """Store the vote: reveal, counter, the judged pair, the edit box; a refusal only warns and sets advance=False,
    so no next pair loads."""
    try:
        r = t.arena.vote(served_v, v, who())
    except UserError as e:
        gr.Warning(i18n.localise(e))
        return {t.advance: False}
    return {t.reveal: r.reveal, t.counter: r.counter, t.served: r.served, t.last_voted: r.last,
            t.extras.edit_box: r.edit_text, t.extras.edit_prompt: r.edit_prompt, t.advance: True}


@needs(Role.ANNOTATOR)
def on_vote_api(t: ArenaTab, choice: str, served_v: dict | None, **form: Any) -> dict[Any, Any]:
    """choice: a | b | tie | both_bad, for the pair this session loaded with /arena_generate; judge: a
    finished reward run id whose "RM says" verdict is appended to the reveal ("off": none)."""
    return vote(t, served_v, ballot(choice, **form))


@needs(Role.ANNOTATOR)
def on_vote(t: ArenaTab, choice: str, served_v: dict | None, **form: Any) -> dict[Any, Any]:
    """A vote button (form: `ArenaTab.vote_form`): the vote, and the judged pair's buttons off (a refused vote
    leaves them on)."""
    out = vote(t, served_v, ballot(choice, **form))
    return {**out, **votable(t, False)} if out[t.advance] else out


@needs(Role.ANNOTATOR)
def on_counter(t: ArenaTab, annotator_v: str, pool_v: str) -> str:
    return t.arena.counter(pool_v, who().annotator(annotator_v))


@needs(Role.VIEWER)
def on_page_name(saved: str | None) -> Any:
    """Signed in: the box shows the signed-in name (votes are stored under it); else the name kept here."""
    name = caller().name
    if name:
        return gr.update(value=name, interactive=False, info=i18n.say("arena.signed_in"))
    return saved or gr.skip()


# -- pickers ---------------------------------------------------------------------------------------------------
@needs(Role.VIEWER)
def on_refresh_lists(ctx: AppContext, t: ArenaTab) -> dict[Any, Any]:
    choices = adapter_choices(ctx.ws)
    return {t.targets.sides[0][1]: gr.update(choices=choices), t.targets.sides[1][1]: gr.update(choices=choices),
            t.targets.dataset: gr.update(choices=dataset_choices(ctx.ws))}


@needs(Role.VIEWER)
def on_refresh_judge(ctx: AppContext) -> Any:
    return gr.update(choices=judge_choices(ctx.ws))
