"""`python -m playground evaluate`: policies against a baseline on held-out prompts, scored by judges.

    python -m playground evaluate --policies ppo-2026...,sft-2026... --baseline base --prompts heldout.jsonl \
        --n 64 --judge rm:reward-2026... --judge rule:length --judge 'expr:-abs(n_tokens - 20) / 20'

Prints, per policy and judge, one line `policy=<id> judge=<judge> win_rate=0.xxx ci=[0.xxx,0.xxx] n=N` (ties count
half; the interval is a 95% Wilson interval), then an indented line with the mean score, the baseline's, the mean
length and the KL to the base; prompts with reference answers add `reference policy=<id> ppl=... bleu=...
rougeL=...`. What was evaluated (and how many answers came from the cache) goes to stderr. PROMPTS is a file
(prompt / messages / prompt-completion rows, or a preference file whose prompts are used), a workspace dataset, or
a preference pool. The report is stored in the workspace (the Evaluate tab's leaderboard shows it). Bad input
exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_evaluate(args: argparse.Namespace) -> int:
    from playground.core.workspace import Workspace
    from playground.stages.evaluate.service import EvalRequest, evaluate, header_line, report_lines

    req = EvalRequest(policies=[p for p in args.policies.split(",") if p.strip()], prompts=args.prompts,
                      baseline=args.baseline, judges=args.judge or [], n=args.n, model=args.model,
                      temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                      seed=args.seed, batch_size=args.batch_size)
    report = evaluate(Workspace(), req)
    print(header_line(report), file=sys.stderr, flush=True)
    print("\n".join(report_lines(report)), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `evaluate` to the top-level CLI's subparsers."""
    p = sub.add_parser("evaluate", help="win-rates of policies vs a baseline on held-out prompts, by judges")
    p.add_argument("--policies", required=True, help="comma-separated: base and/or finished policy run ids")
    p.add_argument("--baseline", default="base", help="base (default) or a run id")
    p.add_argument("--prompts", required=True, help="a file, a workspace dataset or a preference pool")
    p.add_argument("--n", type=int, default=32, help="prompts to use, the first N of the set (default 32)")
    p.add_argument("--judge", action="append", metavar="SPEC",
                   help="rm:RUN, rule:NAME (vocab_half, length[:N], keyword:WORDS) or expr:EXPRESSION; repeatable")
    p.add_argument("--model", default="bundled", help="base model when only 'base' is named (a run brings its own)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="sampling seed (answers are cached per seed)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (default 8)")
    p.add_argument("--json", help="also write the full report (per-prompt rows included) here")
    p.set_defaults(func=cmd_evaluate)
