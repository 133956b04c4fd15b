"""Print a PPO run's learning curve as text: score, KL and response length per update, with bars.

    .venv/bin/python bench/ppo_curve.py RUN_DIR_OR_ID [--window 4]

Reads runs/<id>/metrics.jsonl (and samples.jsonl for the before / after table). Used for the bundled-model
curve in bench/README.md; works for any PPO run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from playground.core.paths import runs_dir
    from playground.core.runs import read_jsonl

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--window", type=int, default=4, help="updates averaged at the start and the end")
    a = ap.parse_args()
    run = Path(a.run) if Path(a.run).is_dir() else runs_dir() / a.run
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if "score" in r]
    if not rows:
        raise SystemExit(f"{run}: no PPO updates in metrics.jsonl")
    lo, hi = min(r["score"] for r in rows), max(r["score"] for r in rows)
    span = (hi - lo) or 1.0
    print(f"{'update':>6} {'score':>7} {'KL':>6} {'len':>5}  score bar ({lo:.2f} .. {hi:.2f})")
    for r in rows:
        bar = "#" * (1 + round(30 * (r["score"] - lo) / span))
        print(f"{r['step']:>6} {r['score']:7.3f} {r['kl']:6.2f} {r['response_length']:5.1f}  {bar}")
    w = max(1, min(a.window, len(rows) // 2))
    first = statistics.mean(r["score"] for r in rows[:w])
    last = statistics.mean(r["score"] for r in rows[-w:])
    print(f"mean score, first {w} updates {first:.3f} -> last {w} updates {last:.3f} ({last - first:+.3f})")
    samples = read_jsonl(run / "samples.jsonl")
    if samples:
        end = max(s["update"] for s in samples)
        before = {s["prompt"]: s for s in samples if s["update"] == 0}
        print(f"\nsamples: update 0 vs update {end}")
        for s in (s for s in samples if s["update"] == end):
            b = before.get(s["prompt"], {})
            print(f"- {s['prompt']}\n    before ({b.get('score', float('nan')):.2f}): {b.get('response', '')!r}"
                  f"\n    after  ({s['score']:.2f}): {s['response']!r}")
    print(json.dumps({"updates": len(rows), "first": round(first, 4), "last": round(last, 4)}))


if __name__ == "__main__":
    main()
