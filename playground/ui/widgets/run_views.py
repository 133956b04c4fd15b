"""Per-run views drawn inside the live panel, below its log, by the page poll that draws the charts (ui/widgets/live.py):
a table (RunTable: PPO's samples) or any HTML (RunSection: GRPO / RLOO's warning, per-function chart and groups).
The poll sends a followed run's panel when its files change and the page script patches only the parts that did, so a
run writing samples costs the page no Gradio event (issue 29: one event costs this ~900-component page 1-2.5 s of
renderer CPU; bench/page_cpu.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from playground.ui.i18n import frame as localised_frame
from playground.ui.i18n import text

_MD = MarkdownIt("commonmark", {"html": False, "breaks": True})


def markdown(md: str) -> str:
    """Markdown as HTML for a per-run view (raw HTML in it is escaped)."""
    return _MD.render(md)


def grid_html(df: Any) -> str:
    """A DataFrame as the per-run views' HTML table (cells escaped; CSS `.pg-run-table .pg-table`)."""
    return df.to_html(index=False, escape=True, na_rep="", border=0, classes="pg-table")


@dataclass
class RunTable:
    """`frame(run_dir or None)` -> a DataFrame, drawn as an HTML table; `title` a catalogue key (Markdown)."""

    title: str
    frame: Any
    name: str  # the table's CSS class suffix: `pg-table-<name>` (column widths, tests)

    def html(self, run_dir: Path | None, _rows: list[dict[str, Any]], lang: str) -> str:
        """The table (headers in `lang`); with no rows it keeps its headers."""
        grid = grid_html(localised_frame(self.frame(run_dir), lang))
        return f'<div class="pg-run-table pg-table-{self.name}">{markdown(text(self.title, lang))}{grid}</div>'


@dataclass
class RunSection:
    """Any other per-run view drawn inside the live panel by the poll: `render(run_dir or None, metrics rows, lang)`
    -> HTML (a warning, a chart of its own). Same reason as RunTable: no Gradio event per update."""

    render: Any

    def html(self, run_dir: Path | None, rows: list[dict[str, Any]], lang: str) -> str:
        return self.render(run_dir, rows, lang)


def tables_html(tables: list[RunTable | RunSection], run_dir: Path | None, rows: list[dict[str, Any]],
                lang: str) -> str:
    """The panel's per-run tables and sections, below its log."""
    return "".join(tb.html(run_dir, rows, lang) for tb in tables)
