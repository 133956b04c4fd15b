"""`python -m playground compare`: finished PPO / GRPO / RLOO / DPO runs judged by one reward on the same prompts.

    python -m playground compare ppo-2026... grpo-2026... rloo-2026... dpo-2026... --prompts builtin:prompts \
        --reward rule:length:8 --n 16 --out compare-out/

Prints one line per run, best gain first: `run=<id> stage=<s> reward=0.xxxx (base 0.xxxx, gain +0.xxxx) kl=0.xxxx
wall_s=N samples=N steps=N`, and writes compare.csv, compare.png, compare.svg and compare.json to --out (default
PLAYGROUND_HOME/compare/<time>). REWARD is a judge spec: rule:NAME[:ARG] (vocab_half, length:N, keyword:WORDS),
expr:EXPRESSION or rm:RUN. Answers are cached per (run, prompt, seed, sampling): a second comparison of the same runs
only generates what is new. Bad input exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time


def cmd_compare(args: argparse.Namespace) -> int:
    from playground.core.paths import home
    from playground.core.workspace import Workspace
    from playground.stages.compare import CompareRequest, compare, summary_lines, write_outputs

    req = CompareRequest(runs=args.runs, prompts=args.prompts, reward=args.reward, n=args.n,
                         temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                         seed=args.seed)
    result = compare(Workspace(), req)
    out = args.out or str(home() / "compare" / time.strftime("compare-%Y%m%d-%H%M%S"))
    paths = write_outputs(result, out)
    print(f"{result['generated']} answers generated, {result['cached']} from the cache; "
          f"evaluation {result['evaluation']} stored", file=sys.stderr, flush=True)
    print("\n".join(summary_lines(result)), flush=True)
    print(f"wrote {paths['csv']} {paths['png']} {paths['svg']} {paths['json']}", flush=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add `compare` to the top-level CLI's subparsers."""
    p = sub.add_parser("compare", help="held-out reward, cost and KL of finished policy runs across methods")
    p.add_argument("runs", nargs="+", metavar="RUN", help="finished PPO/GRPO/RLOO/DPO (or SFT) run ids")
    p.add_argument("--prompts", required=True, help="held-out prompts: a file, a workspace dataset, a pool, "
                   "or builtin:prompts")
    p.add_argument("--reward", required=True, help="rule:NAME[:ARG], expr:EXPRESSION or rm:RUN")
    p.add_argument("--n", type=int, default=16, help="prompts to use, the first N of the set (default 16)")
    p.add_argument("--out", help="folder for compare.csv/.png/.svg/.json (default PLAYGROUND_HOME/compare/<time>)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (1: KL is an estimate)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=0,
                   help="tokens per answer (default: the longest completion length the runs trained with)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (answers are cached per seed)")
    p.set_defaults(func=cmd_compare)
