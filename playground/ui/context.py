"""Server-wide things every tab shares: the workspace, the job runner, the default model.

Per-user things (the pair a user is judging, the annotator name) live in gr.State inside each tab.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from playground.core.jobs import JobRunner
from playground.core.workspace import Workspace

if TYPE_CHECKING:
    import gradio as gr

    from playground.ui.widgets.arena_targets import ArenaTargets


class TabId(StrEnum):
    """The tabs, in loop order: a handler switches tabs with `ctx.switch_to(TabId.PREFERENCES)`."""

    DATASET = "dataset"
    SFT = "sft"
    PREFERENCES = "preferences"
    REWARD = "reward"
    PPO = "ppo"
    RL = "rl"
    EVALUATE = "evaluate"


@dataclass
class AppContext:
    ws: Workspace
    jobs: JobRunner
    default_model: str = "bundled"
    # loaded models shared by the arena / chat / scoring handlers, keyed by (model, adapter)
    _models: dict[tuple[str, str], Any] = field(default_factory=dict)
    _models_lock: threading.Lock = field(default_factory=threading.Lock)
    # set while the app is built, for the one cross-tab action (PPO tab -> "Arena round" in the arena):
    # the tab switcher (app.py) and the arena inputs it fills (ui/widgets/arena_targets.py); None until then
    tabs: gr.Tabs | None = None
    arena: ArenaTargets | None = None
    # (fn, outputs) run when a page opens (wired by build_app): e.g. run pickers list the runs made since the
    # app was built, CLI runs included, and follow the newest
    on_page_load: list[tuple[Any, list[Any]]] = field(default_factory=list)
    # {fn_index: least role} of every server function, filled by build_app (guard.install)
    roles: dict[int, Any] = field(default_factory=dict)
    # pickers whose choices follow the workspace (datasets, runs, reward models): (dropdown, choices_fn);
    # the page script (widgets/live.wire_page) refreshes them all when what they list changed
    pickers: list[tuple[Any, Any]] = field(default_factory=list)
    # {stage: its live view's plots}: the page poll (widgets/live.wire_page) renders a followed run with them
    live_views: dict[str, Any] = field(default_factory=dict)

    def register_picker(self, dropdown: Any, choices_fn: Any) -> Any:
        """Keep `dropdown`'s choices current: `choices_fn()` is re-read whenever the workspace changes (a new
        dataset, a run queued or finished, a reward model trained) and on page load. Returns the dropdown."""
        self.pickers.append((dropdown, choices_fn))
        return dropdown

    def switch_to(self, tab: TabId) -> Any:
        """The update that selects `tab` (output it to `ctx.tabs`)."""
        import gradio as gr

        return gr.Tabs(selected=tab.value)

    def cached(self, key: tuple[str, str], loader: Any) -> Any:
        """Load once per (model, adapter) and share: a 135M model per request would be far too slow."""
        with self._models_lock:
            if key not in self._models:
                if len(self._models) >= 3:  # keep memory bounded on a laptop
                    self._models.pop(next(iter(self._models)))
                self._models[key] = loader()
            return self._models[key]

    def runs(self, stage: str, finished_only: bool = False) -> list[dict[str, Any]]:
        """A stage's runs with their state; `finished_only`: those that left a usable result (succeeded, or
        stopped after keeping an adapter)."""
        from playground.core.runs import adapter_dir, read_status

        out = []
        for r in self.ws.runs(stage):
            st = read_status(r["run_dir"]).get("state")
            usable = st == "succeeded" or (st == "stopped" and adapter_dir(r["run_dir"]) is not None)
            if finished_only and not usable:
                continue
            out.append({**r, "state": st})
        return out
