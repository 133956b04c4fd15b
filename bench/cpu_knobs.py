"""Benchmark: the Speed fields of a stage, one at a time, on the bundled model (the "CPU speed push").

    python bench/cpu_knobs.py [--stage reward|sft] [--model bundled] [--steps 5] [--rounds 1]
                              [--variants "default;torch_threads=1;attn_implementation=eager;..."]

Each variant is our CLI job (`python -m playground <stage>`, as the app launches it) with the preset's settings
plus the variant's `--set`s, in its own subprocess under /usr/bin/time (peak RSS). Time per step is read from the
job's own metrics.jsonl (`elapsed` at each step's log, logging every step): the median over steps 2..N, so model
loading, tokenising and the first step's warm-up are not counted. Variants alternate within a round; each ratio
is against `default` of the same round. Data: the reward stage trains on reward_vs_trl.py's synthetic
conversations (about max_length tokens, a shared multi-turn prompt and a short answer); the SFT stage on the
built-in instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VARIANTS = {
    "reward": "default;torch_threads=1;attn_implementation=eager;fused_optimizer=false;shared_prefix=false",
    "sft": "default;torch_threads=1;attn_implementation=eager;fused_optimizer=false",
}


def run_variant(stage: str, sets: list[str], work: Path, env: dict) -> dict:
    from playground.core.runs import read_metrics

    run_dir = work / f"run-{len(list(work.glob('run-*')))}"
    args = [sys.executable, "-m", "playground", stage, "--config", str(REPO / f"presets/{stage}/tiny-cpu.yaml"),
            "--run-dir", str(run_dir)]
    args += [x for s in sets for x in ("--set", s)]
    proc = subprocess.run(["/usr/bin/time", "-v", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"variant failed ({proc.returncode}): {' '.join(sets)}\n{proc.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    steps = [m for m in read_metrics(run_dir) if "loss" in m and "elapsed" in m and "train_loss" not in m]
    per_step = [b["elapsed"] - a["elapsed"] for a, b in zip(steps, steps[1:])]
    return {"s_per_step": statistics.median(per_step), "peak_rss_mb": rss,
            "losses": [m["loss"] for m in steps[:3]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", choices=["reward", "sft"], default="reward")
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--variants", help="';'-separated, each 'default' or comma-separated KEY=VALUE sets")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    work = Path(tempfile.mkdtemp(prefix="cpu-knobs-"))
    env = {**os.environ, "PLAYGROUND_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false",
           "PLAYGROUND_CACHE": os.environ.get("PLAYGROUND_CACHE") or str(REPO / ".cache" / "playground")}
    os.environ.update({k: env[k] for k in ("PLAYGROUND_HOME", "HF_HUB_OFFLINE", "PLAYGROUND_CACHE")})
    base = [f"model={a.model}", f"max_steps={a.steps}", f"per_device_train_batch_size={a.batch}",
            f"max_length={a.max_length}", "eval_fraction=0", "save_steps=0", "logging_steps=1",
            "lr_scheduler_type=constant", "seed=0", "device=cpu"]
    if a.stage == "reward":
        from reward_vs_trl import make_pairs

        from playground.core.workspace import Workspace

        ws = Workspace()
        for p in make_pairs(48, a.max_length):
            ws.add_pair(pool="bench", prompt=p["prompt"], response_a=p["chosen"][0]["content"],
                        response_b=p["rejected"][0]["content"], choice="a", annotator="bench")
        base += ["dataset=bench", "learning_rate=0.0001"]
    else:
        base += ["dataset=builtin:instructions"]
    variants = [v.strip() for v in (a.variants or DEFAULT_VARIANTS[a.stage]).split(";") if v.strip()]
    if "default" not in variants:
        variants.insert(0, "default")
    print(f"stage={a.stage} model={a.model} steps={a.steps} batch={a.batch} max_length={a.max_length} "
          f"cores={os.cpu_count()}", flush=True)
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for rnd in range(a.rounds):
        for v in variants:
            sets = base + ([] if v == "default" else [s.strip() for s in v.split(",")])
            load0 = Path("/proc/loadavg").read_text().split()[0]
            r = run_variant(a.stage, sets, work, env)
            results[v].append(r)
            print(f"round {rnd}: {v:<36} {r['s_per_step']:7.2f} s/step  peak {r['peak_rss_mb']:6.0f} MB  "
                  f"load {load0}->{Path('/proc/loadavg').read_text().split()[0]}  losses "
                  + " ".join(f"{x:.4f}" for x in r["losses"]), flush=True)
    d = statistics.median(r["s_per_step"] for r in results["default"])
    print(f"\n{'variant':<38}{'s/step':>8}{'vs default':>12}{'peak MB':>10}")
    for v in variants:
        s = statistics.median(r["s_per_step"] for r in results[v])
        print(f"{v:<38}{s:8.2f}{d / s:11.2f}x{max(r['peak_rss_mb'] for r in results[v]):10.0f}")
    print("(vs default > 1: the variant is faster than the defaults)")


if __name__ == "__main__":
    main()
