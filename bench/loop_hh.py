"""The whole loop on a real preference file, judged by a reward model it was not trained on (issue 25's benchmark).

    .venv/bin/python bench/loop_hh.py PATH/harmless-base/test.jsonl.gz [--rows 1912] [--model bundled] [--updates 12]
    .venv/bin/python bench/loop_hh.py prefs.jsonl --model tiny --rows 160 --updates 2 --rm-steps 8   # plumbing check

Steps, each through its CLI twin in a fresh PLAYGROUND_HOME (CPU minutes of each printed): import the file into a
pool (HH transcripts or TRL rows; .gz is unpacked first, nothing is downloaded), split it by prompt into proxy and
gold halves (stages/evaluate/split.py), train a proxy RM on one and a gold RM on the other, measure the gold RM on
the proxy half (`eval-rm`: the real-data anchor), PPO on the proxy half's prompts with `reward: rm:<proxy>` and
`gold_judge: rm:<gold>` (gold_score every `--gold-every` updates), then `evaluate` the PPO policy against the base
on the gold half's prompts with the gold RM as judge. Prints the proxy gain, the gold gain, the gold win-rate vs the
base with its 95% CI, the final KL and the CPU minutes per stage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli(args: list[str], env: dict[str, str], minutes: dict[str, float], stage: str) -> str:
    """Run `python -m playground ARGS`; its stdout; the CPU minutes it took are added to minutes[stage]."""
    before, t0 = cpu_s(), time.time()
    out = subprocess.run([sys.executable, "-m", "playground", *args], cwd=REPO, env=env, capture_output=True,
                         text=True)
    minutes[stage] = minutes.get(stage, 0.0) + (cpu_s() - before) / 60
    if out.returncode != 0:
        raise SystemExit(f"{stage} failed ({time.time() - t0:.0f} s): {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def run_id(stdout: str) -> str:
    line = next(x for x in stdout.splitlines() if x.startswith("run dir: "))
    return Path(line.removeprefix("run dir: ").strip()).name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="preference file (.jsonl, .json, .parquet, or .jsonl.gz): HH transcripts or TRL rows")
    ap.add_argument("--rows", type=int, default=1912, help="first N rows of the file")
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--rm-steps", type=int, default=60)
    ap.add_argument("--updates", type=int, default=12, help="PPO updates")
    ap.add_argument("--gold-every", type=int, default=3)
    ap.add_argument("--n", type=int, default=64, help="held-out prompts for the final evaluation")
    ap.add_argument("--home", default="", help="PLAYGROUND_HOME to use (default: a fresh temporary one)")
    a = ap.parse_args()
    home = Path(a.home or tempfile.mkdtemp(prefix="loop-hh-"))
    env = {**os.environ, "PLAYGROUND_HOME": str(home)}
    os.environ["PLAYGROUND_HOME"] = str(home)
    src = Path(a.file)
    rows_file = home / "input.jsonl"
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8") as fh, open(rows_file, "w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= a.rows:
                break
            out.write(line)
    minutes: dict[str, float] = {}
    cli(["prefs", "import", str(rows_file), "--pool", "hh"], env, minutes, "import")
    from playground.core.workspace import Workspace
    from playground.stages.evaluate.split import split_by_prompt
    from playground.stages.preferences.rows import export_pairs

    ws = Workspace()
    halves = split_by_prompt(ws, "hh", seed=0)
    ws.add_rows("proxy-prompts", [{"messages": [*r["prompt"], *r["chosen"]]} for r in export_pairs(pool=halves["proxy"])],
                create=True)
    preset = "tiny-cpu" if a.model == "tiny" else "smollm2-cpu"
    rm = {}
    for half in ("proxy", "gold"):
        out = cli(["reward", "--config", f"presets/reward/{preset}.yaml", "--set", f"model={a.model}",
                   "--set", f"dataset={halves[half]}", "--set", f"max_steps={a.rm_steps}"], env, minutes, f"rm {half}")
        rm[half] = run_id(out)
    held = home / "proxy-half.jsonl"
    with open(held, "w", encoding="utf-8") as fh:
        for r in export_pairs(pool=halves["proxy"]):
            fh.write(json.dumps(r) + "\n")
    anchor = cli(["eval-rm", "--run", rm["gold"], "--file", str(held)], env, minutes, "gold RM on proxy half")
    out = cli(["ppo", "--config", f"presets/ppo/{preset}.yaml", "--set", f"model={a.model}",
               "--set", f"reward=rm:{rm['proxy']}", "--set", "prompts=proxy-prompts",
               "--set", f"total_updates={a.updates}", "--set", f"gold_judge=rm:{rm['gold']}",
               "--set", f"gold_every={a.gold_every}"], env, minutes, "ppo")
    ppo = run_id(out)
    from playground.stages.evaluate.board import gold_curve

    curve = gold_curve(home / "runs" / ppo)
    ev = cli(["evaluate", "--policies", ppo, "--baseline", "base", "--prompts", f"pool:{halves['gold']}",
              "--n", str(a.n), "--judge", f"rm:{rm['gold']}", "--model", a.model], env, minutes, "evaluate")
    print(f"pools: {halves}")
    print(f"gold RM on the proxy half: {anchor.splitlines()[0]}")
    if curve:
        first, last = curve[0], curve[-1]
        print(f"proxy gain {last['gold_proxy_score'] - first['gold_proxy_score']:+.4f}, gold gain "
              f"{last['gold_score'] - first['gold_score']:+.4f} over {last['update']} updates, KL {last['kl']:.3f}")
    print(ev.strip())
    print("CPU minutes: " + ", ".join(f"{k} {v:.1f}" for k, v in minutes.items()) + f"; total {sum(minutes.values()):.1f}")
    if not a.home:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
