"""`python -m playground prefs ...`: move preference pairs in and out of the workspace.

    python -m playground prefs import hh.jsonl --pool hh [--strict]   # TRL prompt/chosen/rejected or HH transcripts
    python -m playground prefs export --out prefs.jsonl [--pool default] [--ties exclude|both_orders]
    python -m playground prefs export --out prefs.parquet --meta    # with annotator, sources, reason, time
    python -m playground prefs stats [--pool default]                # per annotator, agreement, win rates

Import keeps the good rows and reports the rest in one line (count, first line numbers and reasons, and the path
of a JSONL listing every rejected row); --strict imports all rows or none. Bad input exits 1 with one line on
stderr and leaves the workspace as it was.
"""

from __future__ import annotations

import argparse
import sys

from playground.core.errors import UserError
from playground.stages.preferences import io as prefs_io
from playground.stages.preferences import pairs as prefs
from playground.stages.preferences.pairs import PrefsError


def cmd_import(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace

    res = prefs_io.import_pairs(Workspace(), args.file, pool=args.pool, annotator=args.annotator, strict=args.strict)
    print(f"imported {res.imported} pairs into pool '{res.pool}'")
    if res.rejected:
        print(res.note)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    rows = prefs_io.export_pairs(pool=args.pool, ties=args.ties, both_bad=args.both_bad, with_meta=args.meta)
    if not rows:
        raise PrefsError(f"no judged pairs to export{f' in pool {args.pool!r}' if args.pool else ''}")
    path = prefs_io.write_pairs(rows, args.out)
    print(f"wrote {len(rows)} pairs to {path}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace

    ws = Workspace()
    for s in prefs.annotator_stats(ws, args.pool):
        print(f"{s['annotator']:<20} votes={s['votes']} edits={s['edits']} a={s['a']} b={s['b']} "
              f"tie={s['tie']} both_bad={s['both_bad']}")
    ag = prefs.agreement(ws, args.pool)
    print(f"agreement: {ag['agreement_pct']}% over {ag['comparisons']} comparisons, kappa={ag['kappa']}")
    for r in prefs.leaderboard(ws, args.pool):
        print(f"{r['rating']:7.1f} [{r['ci_low']:.0f}, {r['ci_high']:.0f}]  win {r['win_rate']:.2f}  "
              f"n={r['battles']}  {r['source']}")
    return 0


def _guard(fn: object) -> object:
    """A UserError -> `error: ...` on stderr and exit code 1, also when called without the top-level CLI."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)  # type: ignore[operator]
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    return run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `prefs {import,export,stats}` to the top-level CLI's subparsers."""
    p = sub.add_parser("prefs", help="import and export preference pairs (TRL format)")
    psub = p.add_subparsers(dest="prefs_command", required=True)

    imp = psub.add_parser("import", help="import a JSONL / JSON / CSV / Parquet preference file into the pairs table")
    imp.add_argument("file", help="rows with prompt/chosen/rejected (plain or conversational) or HH transcripts")
    imp.add_argument("--strict", action="store_true",
                     help="import nothing if any row is bad (default: import the good rows, report the rest)")
    imp.add_argument("--pool", default="imported", help="pool to put the pairs in (default: imported)")
    imp.add_argument("--annotator", default="import", help="annotator name stored with the rows")
    imp.set_defaults(func=_guard(cmd_import))

    exp = psub.add_parser("export", help="write judged pairs in TRL's conversational preference format")
    exp.add_argument("--out", required=True, help="output file: .jsonl, .json or .parquet")
    exp.add_argument("--pool", default=None, help="only this pool (default: all pools)")
    exp.add_argument("--ties", default="exclude", choices=prefs.TIES_OPTIONS,
                     help="exclude ties (default) or keep each tie as both orders")
    exp.add_argument("--both-bad", default="exclude", choices=prefs.BOTH_BAD_OPTIONS,
                     help="exclude both-bad votes (default) or treat them as ties")
    exp.add_argument("--meta", action="store_true", help="add annotator, sources, reason, time columns")
    exp.set_defaults(func=_guard(cmd_export))

    st = psub.add_parser("stats", help="per-annotator counts, agreement and the win-rate table")
    st.add_argument("--pool", default=None, help="only this pool (default: all pools)")
    st.set_defaults(func=_guard(cmd_stats))
