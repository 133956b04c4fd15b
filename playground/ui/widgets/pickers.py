"""Pickers that follow the workspace: what they list, one short hash of it, and the updates a page gets.

    ctx.register_picker(dropdown, lambda: choices)             # choices kept current (live.wire_page)
    ctx.register_picker(dropdown, FollowNew(lambda: choices))  # ...and a new choice (a run just finished) is picked

live.wire_page refreshes every registered picker on page load and whenever PickerRevision moves; the page's own
list of what it showed (a gr.State) tells a choice that is new to this page.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import gradio as gr


class FollowNew:
    """A picker's choices function whose picker also selects a choice that was not listed before (a run that just
    finished, a dataset just made): `ctx.register_picker(dropdown, FollowNew(lambda: ...))`."""

    def __init__(self, choices_fn: Any) -> None:
        self.choices_fn = choices_fn

    def __call__(self) -> Any:
        return self.choices_fn()


def _values(choices: list[Any]) -> list[Any]:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in choices]


def picker_updates(pickers: list[tuple[Any, Any]], seen: dict[int, list[Any]] | None) -> tuple[list[Any], dict]:
    """(one update per picker, what this page's pickers list now). A FollowNew picker selects the first choice
    that this page did not list before; the first call of a page (`seen` empty) only records."""
    seen = dict(seen or {})
    first = not seen
    out: list[Any] = []
    for i, (c, (_, fn)) in enumerate(zip(picker_choices(pickers), pickers)):
        if c is None:
            out.append(gr.skip())
            continue
        new = [v for v in _values(c) if v not in seen.get(i, [])]
        if isinstance(fn, FollowNew) and new and not first:
            out.append(gr.update(choices=c, value=new[0]))
        else:
            out.append(gr.update(choices=c))
        seen[i] = _values(c)
    return out, seen


def picker_choices(pickers: list[tuple[Any, Any]]) -> list[Any]:
    """Each registered picker's current choices (None for one whose list failed: it must not stop the others)."""
    out: list[Any] = []
    for _, choices_fn in pickers:
        try:
            out.append(choices_fn())
        except Exception:  # noqa: BLE001 - one broken list must not stop the others
            out.append(None)
    return out


class PickerRevision:
    """What the pickers show, as one short hash, recomputed only when the workspace's revision moved (a vote
    moves it, but changes no picker: pages then get no event). Shared by every page of the app."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._raw: str | None = None
        self._hash = ""

    def __call__(self) -> str:
        raw = self.ctx.ws.revision()
        with self._lock:
            if raw == self._raw:
                return self._hash
        digest = hashlib.blake2s(repr(picker_choices(self.ctx.pickers)).encode(), digest_size=8).hexdigest()
        with self._lock:
            self._raw, self._hash = raw, digest
        return digest
