"""Import in two steps: stage (read, detect, convert, check: a preview) and commit (add every row, or none).

    up = stage_upload("alpaca.json", "auto")     # up.staged (good rows + .note on skipped ones) or up.error
    st = stage_mapping("odd.csv", {"instruction": "q", "output": "a"})
    st = stage_starter("classify"); st = stage_hub("tatsu-lab/alpaca", "train", "auto")
    res = commit(ws, st, target="", current="my-set")    # io.commit_import: all rows or nothing

Reading and converting is io's (its public functions only); this module keeps what is staged between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playground.core.errors import FormatError
from playground.core.workspace import Workspace
from playground.stages.dataset import io as dio
from playground.stages.dataset.service import DEFAULT_NAME

MAPPING_FIELDS = ("instruction", "input", "output", "system")


@dataclass
class Staged:
    """Rows read and checked, waiting for "Add to dataset"."""

    rows: list[dict[str, Any]]
    fmt: str
    source: str
    warnings: list[str] = field(default_factory=list)
    note: str = ""  # "skipped 3 of 1900 rows: line 17, field ...; ... (all reasons: PATH)" (io.stage_records)
    rejects_path: str | None = None  # JSONL of the skipped rows with line and reason, to offer for download

    def describe(self, shown_warnings: int = 5) -> str:
        """One markdown paragraph: source, detected format, row count, the first warnings."""
        label = dio.FORMAT_LABELS.get(self.fmt, self.fmt)
        warn = ""
        if self.warnings:
            warn = "\n\n" + "\n".join(f"- ⚠️ {w}" for w in self.warnings[:shown_warnings])
            more = len(self.warnings) - shown_warnings
            warn += f"\n- … and {more} more" if more > 0 else ""
        skipped = f"\n\n⚠️ {self.note}" if self.note else ""
        return (f"**{self.source}** · detected **{label}** · {len(self.rows)} rows ready. Check the preview, then "
                f"**Add to dataset**.{skipped}{warn}")


@dataclass
class Upload:
    """An uploaded file: its columns and guessed mapping, and either staged rows or the reason there are none."""

    columns: list[str]
    guess: dict[str, str | None]
    staged: Staged | None = None
    error: str = ""


def _from_io(st: dio.Staged) -> Staged:
    return Staged(st.rows, st.fmt, st.source, st.warnings, st.note, st.rejects_path)


def stage_upload(path: str | Path, fmt: str = "auto", strict: bool = False) -> Upload:
    """Read and convert a file: the good rows are staged and the bad ones reported (strict: any bad row is an
    error). A file that cannot be read raises FormatError; one that reads but does not convert comes back with
    its columns and `error`, so the manual mapping can take over."""
    src = Path(path).name
    recs = dio.read_records(path, src)
    guess = dio.guess_mapping(recs.columns)
    try:
        st = dio.stage_records(recs, fmt, strict=strict)
    except FormatError as e:
        return Upload(recs.columns, guess, None, str(e))
    return Upload(recs.columns, guess, _from_io(st))


def stage_mapping(path: str | Path | None, mapping: dict[str, str], strict: bool = False) -> Staged:
    """Convert an uploaded file with a hand-made column mapping (instruction / input / output / system)."""
    if not path:
        raise FormatError("upload a file first")
    src = Path(path).name
    recs = dio.read_records(path, src)
    return _from_io(dio.stage_records(recs, mapping={k: mapping.get(k) or "" for k in MAPPING_FIELDS},
                                      strict=strict))


def stage_starter(name: str | None) -> Staged:
    if not name:
        raise FormatError("pick a starter dataset")
    return Staged(dio.load_starter(name), "starter", f"starter:{name}")


def stage_hub(dataset_id: str, split: str, fmt: str = "auto") -> Staged:
    rows, used = dio.load_hub(dataset_id, split, fmt)
    source = f"{dataset_id}:{split}"
    return Staged(rows, used, source, dio.check_import(rows, source))


def commit(ws: Workspace, staged: Staged | None, target: str | None, current: str | None) -> dio.ImportResult:
    """Add every staged row to `target` (else the selected dataset, else the default one), made if missing."""
    if not staged:
        raise FormatError("nothing staged: upload a file or load a starter first")
    name = (target or "").strip() or current or DEFAULT_NAME
    return dio.commit_import(ws, name, staged.rows, staged.fmt, staged.source)


def starter_choices() -> list[tuple[str, str]]:
    return [(f"{k} — {v}", k) for k, v in dio.starters().items()]
