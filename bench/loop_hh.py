"""The whole loop on a real preference file, judged by a reward model it was not trained on (issue 25's benchmark).

    .venv/bin/python bench/loop_hh.py .cache/hh/harmless-base-test.jsonl.gz              # the bundled model, defaults
    .venv/bin/python bench/loop_hh.py .cache/hh/harmless-base-test.jsonl.gz --model tiny --quick   # plumbing, ~2 min

The file: Anthropic HH-RLHF `harmless-base/test.jsonl.gz` (MIT; `fetch github:anthropics/hh-rlhf`, then
`git show HEAD:harmless-base/test.jsonl.gz`); any preference file the import reads works. Nothing is downloaded.

Steps, each through its CLI twin in a fresh PLAYGROUND_HOME:
 1. import the first `--rows` rows into a pool (.gz unpacked first), 2. split it by prompt into a proxy half and a
    gold half (disjoint prompts, stages/evaluate/split.py),
 3. train a proxy RM on the proxy half and a gold RM on the gold half (`--rm-steps` each, no eval split),
 4. `eval-rm`: the gold RM's accuracy on `--anchor-pairs` pairs of the proxy half (pairs it never saw: the real-data
    anchor, 0.56-0.63 for far bigger public RMs on this split),
 5. PPO (`--ppo-updates`) and GRPO (`--grpo-steps`) on the proxy half's prompts with `reward: rm:<proxy>` and
    `gold_judge: rm:<gold>` (a fixed sample of 16 of those prompts held out of training, scored every `--gold-every`
    updates: the training curve of proxy and gold against KL),
 6. `evaluate` both policies against the base on `--n` prompts of the gold half (no policy trained on them), judged
    by the proxy RM and the gold RM.

Prints the proxy gain and the gold gain (mean score of the policy minus the base's on the held-out prompts, and over
the training curve), the gold win-rate vs the base with its 95% Wilson interval, the KL to the base, the gold RM's
held-out accuracy, and the CPU minutes of each stage: the process CPU time of its subprocess (user + system, children
included), which stays readable on a busy machine where wall time does not. `--json FILE` keeps every number.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULTS = {  # the bundled model: sized to fit <= 30 CPU minutes on a 2-core CPU (bench/README.md, "loop_hh")
    "rows": 1912, "rm_steps": 12, "anchor_pairs": 200, "ppo_updates": 8, "grpo_steps": 3, "gold_every": 0,
    "n": 48, "eval_tokens": 32,
}
QUICK = {  # --quick: the plumbing on a few rows (with --model tiny: about two minutes)
    "rows": 160, "rm_steps": 2, "anchor_pairs": 24, "ppo_updates": 2, "grpo_steps": 2, "gold_every": 1,
    "n": 8, "eval_tokens": 8,
}
GOAL_WIN_RATE, GOAL_CPU_MIN = 0.60, 30.0


def cpu_s(who: int = resource.RUSAGE_CHILDREN) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


class Stages:
    """CPU seconds per stage: a subprocess's own (RUSAGE_CHILDREN counts it, and its children, once it is waited
    for), plus what this process spends in between (the split)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.cpu, self.wall = env, {}, {}

    def cli(self, stage: str, args: list[str]) -> str:
        """Run `python -m playground ARGS`; its stdout. A failure ends the benchmark with the stage's last line."""
        before, t0 = cpu_s(), time.time()
        out = subprocess.run([sys.executable, "-m", "playground", *args], cwd=REPO, env=self.env,
                             capture_output=True, text=True)
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu_s() - before
        self.wall[stage] = self.wall.get(stage, 0.0) + time.time() - t0
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise SystemExit(f"{stage} failed after {time.time() - t0:.0f} s: {last}")
        return out.stdout

    def here(self, stage: str, before: float, t0: float) -> None:
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu_s(resource.RUSAGE_SELF) - before
        self.wall[stage] = self.wall.get(stage, 0.0) + time.time() - t0


def run_id(stdout: str) -> str:
    line = next(x for x in stdout.splitlines() if x.startswith("run dir: "))
    return Path(line.removeprefix("run dir: ").strip()).name


def settings(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("file", help="preference file (.jsonl, .json, .parquet, or .jsonl.gz): HH transcripts or TRL rows")
    ap.add_argument("--model", default="bundled", help="bundled (smollm2-cpu presets) or tiny (tiny-cpu presets)")
    ap.add_argument("--quick", action="store_true", help="plumbing sizes: " + ", ".join(f"{k}={v}" for k, v in
                                                                                       QUICK.items()))
    ap.add_argument("--rows", type=int, help="first N rows of the file")
    ap.add_argument("--rm-steps", type=int, help="reward-model steps, each RM (8 pairs a step on the bundled preset)")
    ap.add_argument("--anchor-pairs", type=int, help="proxy-half pairs the gold RM is measured on (eval-rm)")
    ap.add_argument("--ppo-updates", "--updates", type=int, dest="ppo_updates", help="PPO updates (0: no PPO)")
    ap.add_argument("--grpo-steps", type=int, help="GRPO steps (0: no GRPO)")
    ap.add_argument("--gold-every", type=int, help="score the gold judge every K updates / steps during training "
                    "(0: half the run's length, so it is scored at the start, the middle and the end)")
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for every stage (0: torch's default)")
    ap.add_argument("--n", type=int, help="held-out gold-half prompts for the final evaluation")
    ap.add_argument("--eval-tokens", type=int, help="new tokens per answer in the final evaluation")
    ap.add_argument("--seed", type=int, default=0, help="split, training and sampling seed")
    ap.add_argument("--home", default="", help="PLAYGROUND_HOME to use and keep (default: a fresh temporary one)")
    ap.add_argument("--json", help="write every number here")
    a = ap.parse_args(argv)
    for k, v in (QUICK if a.quick else DEFAULTS).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    return a


def copy_rows(src: Path, dst: Path, rows: int) -> None:
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rt", encoding="utf-8") as fh, open(dst, "w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            if i >= rows:
                break
            out.write(line)


def curve(run_dir: Path) -> list[dict[str, Any]]:
    """The run's gold lines: update, proxy and gold on the fixed held-out sample, the update's KL (and gold_kl, the
    sample's own KL to the base, where the run logs it)."""
    from playground.core.runs import read_metrics
    from playground.stages.evaluate.board import gold_curve

    kl = {r["step"]: r.get("gold_kl") for r in read_metrics(run_dir) if "gold_score" in r}
    return [{**p, "gold_kl": kl.get(p["update"])} for p in gold_curve(run_dir)]


def fmt(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or x != x else format(float(x), spec)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = settings(argv)
    home = Path(a.home or tempfile.mkdtemp(prefix="loop-hh-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PLAYGROUND_HOME"] = str(home)
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))  # the converted bundled model, once
    if a.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
    env = dict(os.environ)
    preset = "tiny-cpu" if a.model == "tiny" else "smollm2-cpu"
    model = ["--set", f"model={a.model}", "--set", f"seed={a.seed}"]
    st = Stages(env)
    rows_file = home / "input.jsonl"
    copy_rows(Path(a.file), rows_file, a.rows)
    imported = st.cli("import", ["prefs", "import", str(rows_file), "--pool", "hh"]).strip().splitlines()

    before, t0 = cpu_s(resource.RUSAGE_SELF), time.time()
    from playground.core.workspace import Workspace
    from playground.stages.evaluate.split import split_by_prompt
    from playground.stages.preferences.rows import export_pairs

    ws = Workspace()
    halves = split_by_prompt(ws, "hh", seed=a.seed)
    proxy_pairs = list(export_pairs(pool=halves["proxy"]))
    ws.add_rows("proxy-prompts", [{"messages": [*r["prompt"], *r["chosen"]]} for r in proxy_pairs], create=True)
    anchor_file = home / "proxy-half.jsonl"
    with open(anchor_file, "w", encoding="utf-8") as fh:
        for r in proxy_pairs[-a.anchor_pairs:]:
            fh.write(json.dumps(r) + "\n")
    st.here("split", before, t0)

    rm = {}
    for half in ("proxy", "gold"):
        out = st.cli(f"rm {half}", ["reward", "--config", f"presets/reward/{preset}.yaml", *model,
                                    "--set", f"dataset={halves[half]}", "--set", f"max_steps={a.rm_steps}",
                                    "--set", "eval_fraction=0", "--set", "save_steps=0"])
        rm[half] = run_id(out)
    anchor = st.cli("gold RM acc", ["eval-rm", "--run", rm["gold"], "--file", str(anchor_file),
                                    "--json", str(home / "anchor.json")])
    anchor_report = json.loads((home / "anchor.json").read_text())

    def gold(total: int) -> list[str]:
        every = a.gold_every or max(1, total // 2)
        return ["--set", f"reward=rm:{rm['proxy']}", "--set", "prompts=proxy-prompts", "--set", "save_steps=0",
                "--set", "sample_every=0", "--set", f"gold_judge=rm:{rm['gold']}", "--set", f"gold_every={every}"]

    policies: dict[str, str] = {}
    if a.ppo_updates > 0:
        out = st.cli("ppo", ["ppo", "--config", f"presets/ppo/{preset}.yaml", *model, *gold(a.ppo_updates),
                             "--set", f"total_updates={a.ppo_updates}"])
        policies["ppo"] = run_id(out)
    if a.grpo_steps > 0:
        out = st.cli("grpo", ["grpo", "--config", f"presets/grpo/{preset}.yaml", *model, *gold(a.grpo_steps),
                              "--set", f"max_steps={a.grpo_steps}", "--set", "eval_fraction=0"])
        policies["grpo"] = run_id(out)
    curves = {m: curve(home / "runs" / r) for m, r in policies.items()}

    report: dict[str, Any] = {"results": []}
    if policies:
        st.cli("evaluate", ["evaluate", "--policies", ",".join(policies.values()), "--baseline", "base",
                            "--prompts", f"pool:{halves['gold']}", "--n", str(a.n), "--judge", f"rm:{rm['proxy']}",
                            "--judge", f"rm:{rm['gold']}", "--model", a.model, "--max-new-tokens", str(a.eval_tokens),
                            "--seed", str(a.seed), "--json", str(home / "evaluate.json")])
        report = json.loads((home / "evaluate.json").read_text())

    units = {"rm proxy": a.rm_steps, "rm gold": a.rm_steps, "ppo": a.ppo_updates, "grpo": a.grpo_steps}
    total_cpu = sum(st.cpu.values()) / 60
    held: dict[str, dict[str, Any]] = {}
    for m, r in policies.items():
        by = {x["judge"]: x for x in report["results"] if x["policy"] == r}
        p, g = by.get(f"rm:{rm['proxy']}", {}), by.get(f"rm:{rm['gold']}", {})
        held[m] = {"run": r, "proxy_gain": p.get("mean_score", float("nan")) - p.get("baseline_score", float("nan")),
                   "gold_gain": g.get("mean_score", float("nan")) - g.get("baseline_score", float("nan")),
                   "gold_win_rate": g.get("win_rate"), "gold_ci": g.get("ci"), "n": g.get("n"), "kl": g.get("kl"),
                   "proxy_win_rate": p.get("win_rate"), "length": g.get("length")}

    print(f"settings: model={a.model} rows={a.rows} rm_steps={a.rm_steps} anchor_pairs={a.anchor_pairs} "
          f"ppo_updates={a.ppo_updates} grpo_steps={a.grpo_steps} gold_every={a.gold_every} n={a.n} "
          f"eval_tokens={a.eval_tokens} seed={a.seed} threads={a.threads or 'default'}")
    print(f"import: {imported[-1] if imported else ''}")
    print(f"split: proxy {halves['proxy_pairs']} pairs / {halves['proxy_prompts']} prompts, gold "
          f"{halves['gold_pairs']} pairs / {halves['gold_prompts']} prompts (disjoint prompts)")
    lo, hi = anchor_report.get("ci95", [None, None])
    print(f"gold RM held-out accuracy (proxy-half pairs it never saw): {fmt(anchor_report.get('accuracy'))} "
          f"[{fmt(lo)}, {fmt(hi)}] n={anchor_report.get('n')}  ({anchor.splitlines()[0]})")
    for m, c in curves.items():
        print(f"{m} training curve on its 16 held-out prompts (update: proxy / gold / KL of the update"
              f"{' / KL of those answers' if any(p['gold_kl'] is not None for p in c) else ''}):")
        print("  " + "  ".join(f"{p['update']}: {fmt(p['gold_proxy_score'])} / {fmt(p['gold_score'])} / "
                               f"{fmt(p['kl'], '.2f')}" + (f" / {fmt(p['gold_kl'], '.2f')}" if p["gold_kl"] is not None
                                                           else "") for p in c))
        if len(c) > 1:
            print(f"  {m} over training: proxy gain {c[-1]['gold_proxy_score'] - c[0]['gold_proxy_score']:+.4f}, "
                  f"gold gain {c[-1]['gold_score'] - c[0]['gold_score']:+.4f} by update {c[-1]['update']}")
    for m, h in held.items():
        ci = h["gold_ci"] or [None, None]
        print(f"{m} vs base on {h['n']} gold-half prompts: proxy gain {h['proxy_gain']:+.4f}, gold gain "
              f"{h['gold_gain']:+.4f}, gold win-rate {fmt(h['gold_win_rate'])} [{fmt(ci[0])}, {fmt(ci[1])}], "
              f"KL {fmt(h['kl'])} nats/answer, length {fmt(h['length'], '.1f')}")
    print("CPU minutes (process CPU time): " + ", ".join(
        f"{k} {v / 60:.1f}" + (f" ({v / units[k]:.0f} CPU-s per step, start-up included)" if units.get(k) else "")
        for k, v in st.cpu.items()) + f"; total {total_cpu:.1f} (wall {sum(st.wall.values()) / 60:.1f} min)")
    met = [m for m, h in held.items() if h["gold_win_rate"] is not None and h["gold_win_rate"] >= GOAL_WIN_RATE
           and h["gold_ci"][0] > 0.5]
    print(f"goal (gold win-rate >= {GOAL_WIN_RATE} with the CI above 0.5, <= {GOAL_CPU_MIN:.0f} CPU minutes): "
          f"{'met by ' + ', '.join(met) if met and total_cpu <= GOAL_CPU_MIN else 'not met'}")
    out = {"settings": vars(a), "halves": halves, "anchor": {k: anchor_report.get(k) for k in ("accuracy", "ci95", "n")},
           "curves": curves, "held_out": held, "cpu_min": {k: v / 60 for k, v in st.cpu.items()},
           "wall_min": {k: v / 60 for k, v in st.wall.items()}, "total_cpu_min": total_cpu}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    if not a.home:
        shutil.rmtree(home, ignore_errors=True)
    return out


if __name__ == "__main__":
    main()
