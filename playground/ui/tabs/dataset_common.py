"""What the parts of the Dataset tab share: the components they read or redraw, and the one way to say no.

`dataset.build` makes the picker, the Rows table and the summary line and hands them to the other parts
(`dataset_add`, `dataset_import`, `dataset_clean`, `dataset_export`) as one `DatasetView`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from playground.core.errors import UserError
from playground.core.workspace import Workspace
from playground.stages.dataset import service
from playground.ui import i18n


@dataclass
class DatasetView:
    dataset: gr.Dropdown  # the selected dataset (every handler's target)
    delete_btn: gr.Button  # "Delete dataset": off while no dataset is selected
    table: gr.Dataframe  # its rows
    summary: gr.Markdown  # one line: rows, train/eval, drafts
    model: gr.Dropdown  # chat template & tokenizer (token counts, preview, drafts)
    max_len: gr.Number  # SFT's max_length
    undo: gr.State  # a stack of deleted row batches (per session): undo puts the last one back

    @property
    def outputs(self) -> list[Any]:
        """The picker, the delete button, the table and the summary: what `refresh` returns."""
        return [self.dataset, self.delete_btn, self.table, self.summary]

    def unchanged(self) -> tuple[Any, ...]:
        """`outputs` left as they are."""
        return (gr.skip(),) * len(self.outputs)


def redraw(ws: Workspace, name: str | None) -> tuple[Any, str]:
    """The table and the summary line of `name`."""
    return service.rows_frame(ws, name), service.summary_line(ws, name)


def refresh(ws: Workspace, name: str | None) -> tuple[Any, ...]:
    """The picker (choices re-read, `name` selected), the delete button, the table and the summary."""
    return (gr.update(choices=service.dataset_names(ws), value=name), gr.update(interactive=bool(name)),
            *redraw(ws, name))


def warn(e: UserError | str) -> str:
    """One toast, and the same line for a message box."""
    gr.Warning(i18n.localise(e))
    return f"⚠️ {i18n.localise(e)}"


def dropped(ws: Workspace, name: str | None, ids: list[int], stack: list, what: str) -> tuple[Any, ...]:
    """Delete rows keeping them for undo: (table, summary, undo stack, message)."""
    if not ids:
        return gr.skip(), gr.skip(), gr.skip(), i18n.say("ds.nothing_to_drop", what=what)
    removed = service.delete_rows(ws, ids)
    return (*redraw(ws, name), [*stack, removed],
            i18n.say("ds.dropped", n=len(ids), what=what))
