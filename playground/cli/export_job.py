"""`python -m playground export-job RUN --to trl|verl|openrlhf --out DIR`: the run as a job another engine runs at
scale (DIR/README.md says what maps and what does not, DIR/launch.sh starts it). See playground/stages/export."""

from __future__ import annotations

import argparse


def cmd_export_job(args: argparse.Namespace) -> int:
    from playground.stages.export import export_job

    out = export_job(args.run, args.to, args.out)
    print(f"wrote {out}/README.md and {out}/launch.sh: bash {out}/launch.sh")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `export-job` to the top-level CLI's subparsers."""
    from playground.stages.export.common import ENGINE_STAGES

    p = sub.add_parser("export-job", help="write a run as a TRL / verl / OpenRLHF job (data, config, launch.sh)")
    p.add_argument("run", help="run id (or run folder)")
    p.add_argument("--to", required=True, choices=sorted(ENGINE_STAGES),
                   help="; ".join(f"{k}: {', '.join(v)}" for k, v in ENGINE_STAGES.items()))
    p.add_argument("--out", required=True, help="a new (or empty) folder for the job")
    p.set_defaults(func=cmd_export_job)
