"""`python -m playground datasets ...`: move instruction datasets in and out of the workspace.

    python -m playground datasets import data.jsonl --name my-set [--format auto] [--append] [--strict]
    python -m playground datasets import qa.csv --name qa --map instruction=question,output=answer
    python -m playground datasets import --hub tatsu-lab/alpaca --split train --name alpaca   # needs the hub
    python -m playground datasets export my-set --format jsonl|parquet --out my-set.jsonl [--style prompt_completion]
    python -m playground datasets list
    python -m playground datasets starters [--add NAME]

Import keeps the good rows and reports the rest ("skipped 3 of 1900 rows: line 17, field ...; ... (all reasons:
PATH)"; PATH is a JSONL of the rejected rows with line and reason). --strict imports all rows or none. A file that
cannot be used (or has no good row, or any bad row with --strict) exits 1 with one line on stderr ("error:
file.jsonl line 3, field 'messages[0].role': ...") and leaves the workspace as it was.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from playground.stages.dataset.io import EXPORT_STYLES, FORMATS, FormatError


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, col = part.partition("=")
        key = key.strip()
        if not sep or key not in ("instruction", "input", "output", "system") or not col.strip():
            raise FormatError(f"--map '{part}': expected instruction=COL,output=COL[,input=COL][,system=COL]")
        out[key] = col.strip()
    return out


def cmd_import(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace
    from playground.stages.dataset import io as dio

    mapping = _parse_mapping(args.map)
    ws = Workspace()
    if args.hub:
        if args.file:
            raise FormatError("give either FILE or --hub, not both")
        rows, fmt = dio.load_hub(args.hub, args.split, args.format, mapping)
        res = dio.commit_import(ws, args.name, rows, fmt, f"{args.hub}:{args.split}", append=args.append)
    elif args.file:
        res = dio.import_file(ws, args.file, args.name, args.format, mapping, append=args.append, strict=args.strict)
    else:
        raise FormatError("give a FILE to import (or --hub DATASET_ID)")
    for w in res.warnings[:5]:
        print(f"warning: {w}", file=sys.stderr)
    if len(res.warnings) > 5:
        print(f"warning: ... and {len(res.warnings) - 5} more", file=sys.stderr)
    verb = "created" if res.created else "appended to"
    print(f"imported {res.rows} rows ({dio.FORMAT_LABELS.get(res.fmt, res.fmt)}); {verb} dataset '{res.name}'")
    if res.skipped:
        print(res.note)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace
    from playground.stages.dataset import io as dio

    rows = [r["data"] for r in Workspace().rows(args.name, args.split)]
    if not rows:
        raise FormatError(f"dataset '{args.name}' has no rows{f' in split {args.split}' if args.split else ''}")
    n = dio.export_rows(rows, args.out, args.format, args.style)
    skipped = len(rows) - n
    note = f" ({skipped} without an answer skipped)" if skipped else ""
    print(f"wrote {n} rows to {args.out} ({args.format}, {args.style}){note}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:  # noqa: ARG001
    from playground.core.workspace import Workspace

    ws = Workspace()
    sets = ws.list_datasets()
    if not sets:
        print("no datasets yet: `python -m playground datasets import FILE --name NAME`")
        return 0
    width = max(len(d["name"]) for d in sets)
    print(f"{'name':<{width}}  rows  splits")
    for d in sets:
        splits = Counter(r["split"] for r in ws.rows(d["name"]))
        print(f"{d['name']:<{width}}  {d['rows']:>4}  {', '.join(f'{k}={v}' for k, v in sorted(splits.items()))}")
    return 0


def cmd_starters(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace
    from playground.stages.dataset import io as dio

    if not args.add:
        for name, desc in dio.starters().items():
            print(f"{name:<12} {desc}")
        return 0
    rows = dio.load_starter(args.add)
    target = args.name or f"starter-{args.add}"
    res = dio.commit_import(Workspace(), target, rows, "starter", f"starter:{args.add}", append=False)
    print(f"added {res.rows} rows to dataset '{res.name}'")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `datasets {import,export,list,starters}` to the top-level CLI's subparsers."""
    p = sub.add_parser("datasets", help="import, export and list instruction datasets")
    dsub = p.add_subparsers(dest="datasets_command", required=True)

    imp = dsub.add_parser("import", help="import a JSON / JSONL / CSV / Parquet file into a workspace dataset")
    imp.add_argument("file", nargs="?", help="the file to import")
    imp.add_argument("--name", required=True, help="workspace dataset to create")
    imp.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: detect it)")
    imp.add_argument("--map", help="map columns by hand: instruction=COL,output=COL[,input=COL][,system=COL]")
    imp.add_argument("--append", action="store_true", help="add to an existing dataset instead of refusing")
    imp.add_argument("--strict", action="store_true",
                     help="import nothing if any row is bad (default: import the good rows, report the rest)")
    imp.add_argument("--hub", help="a Hugging Face dataset id instead of a file (needs the hub)")
    imp.add_argument("--split", default="train", help="split of --hub to import (default: train)")
    imp.set_defaults(func=cmd_import)

    exp = dsub.add_parser("export", help="write a workspace dataset as JSONL or Parquet in TRL format")
    exp.add_argument("name", help="workspace dataset")
    exp.add_argument("--format", default="jsonl", choices=("jsonl", "parquet"))
    exp.add_argument("--out", required=True, help="output file")
    exp.add_argument("--style", default="messages", choices=EXPORT_STYLES,
                     help="TRL format: messages (default) or conversational prompt_completion")
    exp.add_argument("--split", choices=("train", "eval"), help="export only this split")
    exp.set_defaults(func=cmd_export)

    lst = dsub.add_parser("list", help="list the workspace's datasets")
    lst.set_defaults(func=cmd_list)

    st = dsub.add_parser("starters", help="list the built-in starter datasets, or add one to the workspace")
    st.add_argument("--add", metavar="STARTER", help="copy this starter into the workspace")
    st.add_argument("--name", help="dataset name for --add (default: starter-STARTER)")
    st.set_defaults(func=cmd_starters)
