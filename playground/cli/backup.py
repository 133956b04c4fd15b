"""`python -m playground backup` and `python -m playground bundle ...`: keep and move a workspace.

    python -m playground backup --out playground-backup.db [--force]      # consistent while the app runs
    python -m playground bundle export --out session.tar.gz [--force] [--checkpoints]
    python -m playground bundle import session.tar.gz [--force]

A refused bundle or an existing output exits 1 with one line on stderr and changes nothing.
"""

from __future__ import annotations

import argparse


def cmd_backup(args: argparse.Namespace) -> int:
    from playground.core import backup
    from playground.core.bundle import db_counts

    out = backup.backup(args.out, force=args.force)
    c = db_counts(out)
    print(f"backed up {c['datasets']} datasets, {c['rows']} rows, {c['pairs']} preference pairs, "
          f"{c['runs']} runs to {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from playground.core import bundle

    info = bundle.export_bundle(args.out, force=args.force, checkpoints=args.checkpoints)
    print(f"exported {info.summary()} to {info.path}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from playground.core import bundle
    from playground.core.paths import home

    info = bundle.import_bundle(args.file, force=args.force)
    print(f"imported {info.summary()} into {home()}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="consistent copy of the workspace database (safe while the app runs)")
    p.add_argument("--out", required=True, help="file to write (an SQLite database)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_backup)

    b = sub.add_parser("bundle", help="export or import a whole session as one archive")
    bsub = b.add_subparsers(dest="bundle_command", required=True)
    e = bsub.add_parser("export", help="datasets, votes, runs (configs, metrics, adapters) and presets")
    e.add_argument("--out", required=True, help="archive to write (.tar.gz)")
    e.add_argument("--force", action="store_true", help="replace --out if it exists")
    e.add_argument("--checkpoints", action="store_true", help="include runs' checkpoints/ (large; for resuming)")
    e.set_defaults(func=cmd_export)
    i = bsub.add_parser("import", help="restore a bundle into this workspace (PLAYGROUND_HOME)")
    i.add_argument("file", help="a bundle made by `bundle export`")
    i.add_argument("--force", action="store_true",
                   help="replace what the workspace already holds (its database is backed up first)")
    i.set_defaults(func=cmd_import)
