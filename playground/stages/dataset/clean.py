"""Check & clean a named dataset: a validation report, duplicate groups, a token-length filter.

    md = validation_report(ws, "my-set", "tiny", 256)     # markdown naming row ids and fields
    df, drop = dup_frame(ws, "my-set", 0.8)               # groups as a table; ids to drop (all but the first)
    drop = out_of_range(ws, "my-set", "tiny", 1, 256)     # ids of rows outside a token range

Nothing here deletes: the caller drops ids through service.delete_rows, which keeps them for undo.
"""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd

from playground.core.errors import ModelError
from playground.core.workspace import Workspace
from playground.stages.dataset import io as dio
from playground.stages.dataset.service import dataset_rows

DUP_COLUMNS = ["group", "kind", "similarity", "keep id", "drop ids", "text"]


@functools.lru_cache(maxsize=4)
def tokenizer_for(model: str) -> Any:
    """Tokenizers are small and shared by every session; models go through the app's model cache instead."""
    from playground.core import models

    return models.load_tokenizer(models.resolve(model))


def validation_report(ws: Workspace, name: str | None, model: str, max_length: int) -> str:
    """Markdown: counts, then one line per issue naming the row id and the field."""
    ids, rows = dataset_rows(ws, name)
    if not rows:
        return "The dataset is empty."
    tok = None
    note = ""
    try:
        tok = tokenizer_for(model)
    except ModelError as e:
        note = f"\n\n_Token lengths not checked: {e}_"
    issues = dio.validate(rows, tokenizer=tok, max_length=int(max_length) if max_length else None)
    errors = [i for i in issues if i.level == "error"]
    warns = [i for i in issues if i.level == "warning"]
    bad_rows = {i.row for i in issues}
    head = (f"**{len(rows)} rows checked** · {len(errors)} error(s) · {len(warns)} warning(s) · "
            f"{len(rows) - len(bad_rows)} rows clean")
    if not issues:
        return f"✅ {head}. Every row alternates user → assistant and fits in {int(max_length)} tokens.{note}"
    lines = [f"- {'❌' if i.level == 'error' else '⚠️'} row id **{ids[i.row]}**, field `{i.field}`: {i.message}"
             for i in issues[:50]]
    more = f"\n- … and {len(issues) - 50} more" if len(issues) > 50 else ""
    hint = ("\n\n_Empty responses are drafts: fill them in the table or with “Draft responses”. "
            "Rows with errors are skipped by training._")
    return f"{head}\n\n" + "\n".join(lines) + more + hint + note


def dup_frame(ws: Workspace, name: str | None, threshold: float) -> tuple[pd.DataFrame, list[int]]:
    """Duplicate groups as a table, and the row ids to drop (every member but the first of each group)."""
    ids, rows = dataset_rows(ws, name)
    groups = dio.find_duplicates(rows, threshold=float(threshold))
    out, drop = [], []
    for n, g in enumerate(groups, 1):
        gid = [ids[i] for i in g.rows]
        drop += gid[1:]
        text = dio.row_text(rows[g.rows[0]]).replace("\n", " ")
        out.append([n, g.kind, g.similarity, gid[0], ", ".join(map(str, gid[1:])), text[:120]])
    return pd.DataFrame(out, columns=DUP_COLUMNS), drop


def dup_message(groups: int, drop: int) -> str:
    if not groups:
        return "✅ No duplicates found."
    return f"Found {groups} group(s); dropping keeps the first row of each and removes {drop}."


def out_of_range(ws: Workspace, name: str | None, model: str, lo: int, hi: int | None) -> list[int]:
    """Ids of the rows whose token count (with `model`'s chat template) is outside [lo, hi]."""
    ids, rows = dataset_rows(ws, name)
    tok = tokenizer_for(model)
    _, drop = dio.length_filter(rows, int(lo or 0), int(hi or 0) or None, count=lambda r: dio.count_tokens(r, tok))
    return [ids[i] for i in drop]
