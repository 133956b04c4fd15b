"""`python -m playground eval-rm --run RUN --file FILE`: a finished reward model's accuracy on held-out pairs.

    python -m playground eval-rm --run reward-20260101-120000-ab12 --file heldout.jsonl [--json report.json]

The first line printed is `accuracy=0.xxx n=N`; then the 95% interval, the margin, the length-bias check and
the accuracy per source / annotator where the file records them. The same report is in the Reward tab
(Inspect). A run that has not finished or a file with no readable pair exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_eval_rm(args: argparse.Namespace) -> int:
    from playground.stages.reward.evaluate import evaluate_file, report_text

    report = evaluate_file(args.run, args.file, batch_size=args.batch_size)
    print(report_text(report), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `eval-rm` to the top-level CLI's subparsers."""
    p = sub.add_parser("eval-rm", help="measure a finished reward model on a preference file")
    p.add_argument("--run", required=True, help="reward run id (or run folder)")
    p.add_argument("--file", required=True, help="preference file: .jsonl / .json / .parquet, TRL or HH format")
    p.add_argument("--batch-size", type=int, default=16, help="pairs scored per forward pass (default 16)")
    p.add_argument("--json", help="also write the full report here")
    p.set_defaults(func=cmd_eval_rm)
