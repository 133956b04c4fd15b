"""The arena's form as one typed object: what a handler reads as a PairRequest, and what another tab may fill.

    targets = ArenaTargets(sides=..., pool=..., ...)      # built by ui/tabs/preferences.py, kept as ctx.arena
    btn.click(fn, targets.form, ...)                        # fn(values) -> targets.request(values)
    btn.click(fill, ..., [tabs, *targets.outputs])          # fill returns [switch, *targets.updates(ctx, setup)]

A fill is a context switch (other sources, another pool): it also empties the pair on screen (`clears`), so no
vote can land on the previous pair. Lives apart from the tabs so the PPO tab and ui.context import it without
importing the Preferences tab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import gradio as gr

from playground.stages.preferences.arena import (
    ArenaSetup,
    PairRequest,
    PromptMode,
    SourceSetup,
    adapter_choices,
    dataset_choices,
)
from playground.stages.preferences.judge import judge_choices

if TYPE_CHECKING:
    from playground.ui.context import AppContext


@dataclass
class ArenaTargets:
    """The arena inputs; `outputs` and `updates(ctx, setup)` line up one to one."""

    sides: list[list[Any]]  # per source: model, adapter, temperature, top-p, max new tokens
    pool: gr.Textbox
    mode: gr.Radio
    dataset: gr.Dropdown
    prompt: gr.Textbox
    cursor: gr.State
    judge: gr.Dropdown
    seed: gr.Number
    annotator: gr.Textbox
    clears: list[tuple[Any, Any]] = field(default_factory=list)  # (component, its empty value): the pair on screen

    # -- reading the form ------------------------------------------------------------------------------
    @property
    def form(self) -> set[Any]:
        """Inputs as a set: the handler gets one dict {component: value} (read it with `request`)."""
        return {*(c for side in self.sides for c in side), self.pool, self.mode, self.dataset, self.prompt,
                self.cursor, self.seed, self.annotator}

    def setups(self, values: dict[Any, Any]) -> tuple[SourceSetup, SourceSetup]:
        s1, s2 = (SourceSetup(*(values[c] for c in side)) for side in self.sides)
        return s1, s2

    def request(self, values: dict[Any, Any]) -> PairRequest:
        seed = values[self.seed]
        return PairRequest(mode=PromptMode.parse(values[self.mode]), prompt=values[self.prompt] or "",
                           dataset=values[self.dataset], cursor=int(values[self.cursor] or 0),
                           annotator=values[self.annotator] or "", pool=values[self.pool] or "",
                           sources=self.setups(values), seed=int(seed if seed is not None else -1))

    # -- filling it from another tab -------------------------------------------------------------------
    @property
    def outputs(self) -> list[Any]:
        return [c for side in self.sides for c in side] + [self.pool, self.mode, self.dataset, self.prompt,
                                                          self.cursor, self.judge] + [c for c, _ in self.clears]

    def updates(self, ctx: AppContext, setup: ArenaSetup) -> list[Any]:
        adapters = adapter_choices(ctx.ws, setup.adapter_run)
        out: list[Any] = []
        for src in setup.sources:
            out += [src.model, gr.update(choices=adapters, value=src.adapter), src.temperature, src.top_p,
                    src.max_new_tokens]
        dataset = gr.update(choices=dataset_choices(ctx.ws), value=setup.dataset) if setup.dataset else gr.skip()
        judge = gr.update(choices=judge_choices(ctx.ws), value=setup.judge) if setup.judge else gr.skip()
        prompt = setup.prompt if setup.prompt is not None else gr.skip()
        return out + [setup.pool, setup.mode.value, dataset, prompt, 0, judge] + [v for _, v in self.clears]
