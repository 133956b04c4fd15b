"""Dataset cards: every exported data file gets `<name>.README.md` beside it (fields, counts, where the rows came
from, annotator statistics, a licence field), and the annotator lines a model card shares.

    write_dataset_card("exports/sft.jsonl", rows, "instructions", source=stored_rows)    # dataset/io's export
    write_dataset_card("exports/prefs.jsonl", rows, "preferences", source=pairs_with_meta, pool_stats=stats)

Rows are matched to the workspace by content: instruction rows against the workspace's datasets (dataset names,
the annotator of each row), preference rows against the judged pairs exported with their metadata (`source`: the
annotator and pool of each). `pool_stats(pool)` gives a pool's judged pairs, annotators and agreement (the caller
passes stages/preferences' statistics: core imports no stage). Model cards are stages/cards.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playground import __version__
from playground.core.workspace import Workspace

LICENCE = "license: unknown  # set the licence before you publish: the sources of the data and models decide it"


Stat = Callable[[Workspace, "str | None"], Any]


def pool_stats(ws: Workspace, pool: str | None, annotators: Stat, agreement: Stat) -> dict[str, Any]:
    """A pool's (None: every pool's) judged pairs and rated answers, with its annotator table and agreement from the
    functions given (stages/preferences/pairs.annotator_stats and .agreement)."""
    judged = ws.pairs(pool, judged_only=True)
    return {"judged": len(judged), "ratings": sum((r["rating_a"] is not None) + (r["rating_b"] is not None)
                                                  for r in judged),
            "annotators": annotators(ws, pool), "agreement": agreement(ws, pool)}


def annotator_lines(stats: dict[str, Any]) -> list[str]:
    """Markdown lines for a pool's statistics: {"judged", "ratings", "annotators" (stages/preferences/pairs.
    annotator_stats), "agreement" (pairs.agreement)}."""
    out = [f"- judged pairs: {stats['judged']}; rated answers: {stats['ratings']}"]
    for a in stats["annotators"]:
        out.append(f"- annotator `{a['annotator'] or 'anonymous'}`: {a['votes']} votes (A {a['a']}, B {a['b']}, "
                   f"tie {a['tie']}, both bad {a['both_bad']}), {a['edits']} edits")
    ag = stats["agreement"]
    if ag.get("comparisons"):
        out.append(f"- agreement: {ag['agreement_pct']}% over {ag['comparisons']} comparisons on "
                   f"{ag['pairs_with_several']} pairs judged by several annotators (Cohen's kappa {ag['kappa']})")
    else:
        out.append("- agreement: no pair was judged by more than one annotator")
    return out


def _key(row: dict[str, Any], fields: tuple[str, ...]) -> str:
    return json.dumps([row.get(f) for f in fields], ensure_ascii=False, sort_keys=True, default=str)


def _preference_origin(rows: list[dict[str, Any]], annotated: list[dict[str, Any]]) -> tuple[Counter, set[str]]:
    """(annotator -> exported rows, pools) of the rows, matched against `annotated`: the workspace's judged pairs
    exported with their metadata."""
    fields = ("prompt", "chosen", "rejected")
    known: dict[str, list[dict[str, Any]]] = {}
    for r in annotated:  # the same pair judged alike by several annotators: one exported row each, matched in turn
        known.setdefault(_key(r, fields), []).append(r)
    by, pools = Counter(), set()
    for row in rows:
        same = known.get(_key(row, fields)) or [None]
        hit = row if "annotator" in row else (same.pop(0) if len(same) > 1 else same[0])
        if hit is not None:
            by[str(hit.get("annotator") or "anonymous")] += 1
            if hit.get("pool"):
                pools.add(str(hit["pool"]))
    return by, pools


def _instruction_origin(ws: Workspace, rows: list[dict[str, Any]]) -> tuple[Counter, set[str]]:
    """(annotator -> exported rows, workspace datasets) of the rows, matched by their content."""
    known: dict[str, tuple[str, str]] = {}
    for d in ws.list_datasets():
        for r in ws.rows(d["name"]):
            meta = r.get("meta") if isinstance(r.get("meta"), dict) else {}
            known.setdefault(json.dumps(r["data"], ensure_ascii=False, sort_keys=True, default=str),
                             (d["name"], str(meta.get("annotator") or "")))
    by, names = Counter(), set()
    for row in rows:
        hit = known.get(json.dumps(row, ensure_ascii=False, sort_keys=True, default=str))
        if hit is not None:
            names.add(hit[0])
            if hit[1]:
                by[hit[1]] += 1
    return by, names


def dataset_card(path: str | Path, rows: list[dict[str, Any]], kind: str, source: list[dict[str, Any]] | None = None,
                 pool_stats: Callable[[str], dict[str, Any]] | None = None, ws: Workspace | None = None) -> str:
    """The card of an exported file: fields, counts, where the rows came from, annotator statistics, licence.
    `kind` "preferences": `source` holds the workspace's judged pairs with their metadata, which the rows are matched
    against; "instructions": `source` holds the rows as the workspace stores them (before export styling)."""
    ws = ws or Workspace()
    path = Path(path)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    what = "preference pairs" if kind == "preferences" else "rows"
    lines = ["---", LICENCE,
             "tags:", "- rlhf-playground", f"- {kind}", "---", "", f"# {path.name}", "",
             f"Exported by the RLHF Playground {__version__}: {len(rows)} {what} in TRL's "
             f"{'preference' if kind == 'preferences' else 'conversational'} format.", "",
             "## Fields", "", *[f"- `{f}`" for f in fields], "", "## Counts", "", f"- {what}: {len(rows)}"]
    try:
        if kind == "preferences":
            by, origin = _preference_origin(rows, source or [])
            lines.append(f"- pools: {', '.join(f'`{p}`' for p in sorted(origin)) or 'not found in this workspace'}")
            lines += ["", "## Annotators", ""]
            lines += [f"- `{a}`: {n} exported pairs" for a, n in by.most_common()] or ["- not recorded"]
            for pool in sorted(origin) if pool_stats is not None else []:
                lines += ["", f"Pool `{pool}` in the workspace:", *annotator_lines(pool_stats(pool))]
        else:
            by, origin = _instruction_origin(ws, source if source is not None else rows)
            lines.append(f"- workspace datasets: {', '.join(f'`{n}`' for n in sorted(origin)) or 'not found here'}")
            lines += ["", "## Annotators", ""]
            lines += [f"- `{a}`: {n} rows" for a, n in by.most_common()] or ["- not recorded (imported or generated)"]
    except Exception as e:  # noqa: BLE001 - the card is still written when the workspace cannot say more
        lines += ["", f"(workspace statistics not available: {e})"]
    lines += ["", "## Licence", "", "Not recorded: fill in `license:` above (the sources of the prompts and answers, "
              "and the terms of the models that wrote them, decide it)."]
    return "\n".join(lines) + "\n"


def card_path(path: str | Path) -> Path:
    """Where an exported file's card goes: beside it, `<name>.README.md`."""
    path = Path(path)
    return path.with_name(f"{path.stem}.README.md")


def write_dataset_card(path: str | Path, rows: list[dict[str, Any]], kind: str,
                       source: list[dict[str, Any]] | None = None,
                       pool_stats: Callable[[str], dict[str, Any]] | None = None) -> Path:
    """The exported file's card beside it (card_path); see dataset_card."""
    out = card_path(path)
    out.write_text(dataset_card(path, rows, kind, source, pool_stats), encoding="utf-8")
    return out
