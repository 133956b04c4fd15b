"""Benchmark: our GRPO (or RLOO) job, the CLI twin the UI launches, vs a plain TRL GRPOTrainer (RLOOTrainer) script.

    python bench/grpo_vs_trl.py [--stage grpo|rloo] [--model bundled] [--steps 6] [--rounds 1] [--cb]

Same model, prompts (builtin:n_words), reward (rule:n_words, the same callable on both sides), group size, batch,
completion length, temperature, beta, LoRA, lr and seed. Each side runs in its own subprocess under /usr/bin/time -v
(peak RSS of the whole process); s/step is TRL's own `step_time` (generation + scoring + update), the mean over the
steps after the first; the reward curve is each side's logged batch reward. Sides alternate (a, b, a, b...) so
machine noise hits both. `--cb` adds a third side: the plain script with TRL's
`use_transformers_continuous_batching=True` (transformers' paged continuous-batching generation, no vLLM).
Targets (issue 24): s/step ours/plain <= 1.0, peak RSS <= 0.8x, the same reward curve within noise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIME = "/usr/bin/time"

PLAIN = r'''
import json, sys
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
sys.path.insert(0, sys.argv[3])
from playground.core import models
from playground.core.builtin import load
from playground.stages.reward.functions import build_rewards
c = json.loads(sys.argv[1]); out = sys.argv[2]
if c["stage"] == "grpo":
    from trl import GRPOConfig as Config, GRPOTrainer as Trainer
    extra = {"loss_type": "grpo", "scale_rewards": "group"}
else:
    from trl import RLOOConfig as Config, RLOOTrainer as Trainer
    extra = {"normalize_advantages": False}
path = models.model_path(models.resolve(c["model"]))
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
rows = [{"prompt": [{"role": "user", "content": p}]} for p in load("builtin:n_words")]
funcs = build_rewards("rule:n_words")
args = Config(output_dir=out, learning_rate=c["lr"], max_steps=c["steps"], per_device_train_batch_size=c["batch"],
              num_generations=c["G"], max_completion_length=c["len"], temperature=c["T"], beta=c["beta"],
              logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False, seed=c["seed"],
              data_seed=c["seed"], disable_tqdm=True, lr_scheduler_type="constant", max_grad_norm=1.0,
              use_transformers_continuous_batching=c["cb"], **extra)
lora = LoraConfig(r=c["r"], lora_alpha=c["alpha"], target_modules="all-linear", task_type="CAUSAL_LM")
tr = Trainer(model=model, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
             peft_config=lora)
tr.train()
rows = [h for h in tr.state.log_history if "reward" in h]
print("RESULT " + json.dumps({"step_time": [h.get("step_time") for h in rows], "reward": [h["reward"] for h in rows]}))
'''


def peak_rss_mb(stderr: str) -> float:
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024


def run_ours(c: dict, work: Path, i: int) -> dict:
    run_dir = work / f"ours-{i}"
    sets = [f"model={c['model']}", f"learning_rate={c['lr']}", f"max_steps={c['steps']}",
            f"per_device_train_batch_size={c['batch']}", f"num_generations={c['G']}",
            f"max_completion_length={c['len']}", f"temperature={c['T']}", f"beta={c['beta']}", f"lora_r={c['r']}",
            f"lora_alpha={c['alpha']}", "eval_fraction=0", "save_steps=0", "sample_every=1", f"seed={c['seed']}",
            "device=cpu", "reward=rule:n_words", "prompts=builtin:n_words"]
    cmd = [sys.executable, "-m", "playground", c["stage"], "--config", f"presets/{c['stage']}/smollm2-cpu.yaml",
           "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.time()
    proc = subprocess.run([TIME, "-v", *cmd], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    if proc.returncode:
        raise SystemExit(f"ours failed: {proc.stderr[-2000:]}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    return {"step_time": [r.get("step_time") for r in rows], "reward": [r["reward"] for r in rows],
            "wall_s": time.time() - t0, "peak_rss_mb": peak_rss_mb(proc.stderr)}


def run_plain(c: dict, work: Path, i: int) -> dict:
    t0 = time.time()
    proc = subprocess.run([TIME, "-v", sys.executable, "-c", PLAIN, json.dumps(c), str(work / f"plain-{i}"),
                           str(REPO)], cwd=work, capture_output=True, text=True,
                          env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    return {**res, "wall_s": time.time() - t0, "peak_rss_mb": peak_rss_mb(proc.stderr)}


def s_per_step(r: dict) -> float:
    times = [t for t in r["step_time"][1:] if t is not None] or [t for t in r["step_time"] if t is not None]
    return statistics.mean(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="grpo", choices=("grpo", "rloo"))
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cb", action="store_true", help="also run plain TRL with use_transformers_continuous_batching")
    a = ap.parse_args()
    c = {"stage": a.stage, "model": a.model, "steps": a.steps, "batch": 16, "G": 4, "len": 24, "T": 1.0,
         "beta": 0.04, "lr": 5e-4, "r": 8, "alpha": 16, "seed": 0, "cb": False}
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load = lambda: Path("/proc/loadavg").read_text().split()[0]  # noqa: E731
    sides = [("ours", run_ours, c), ("plain TRL", run_plain, c)]
    if a.cb:
        sides.append(("plain TRL+cb", run_plain, {**c, "cb": True}))
    results: dict[str, list[dict]] = {name: [] for name, _, _ in sides}
    print(f"{a.stage} on {a.model}: {c}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            for name, fn, conf in sides:
                l0 = load()
                r = fn(conf, Path(tmp), i)
                results[name].append(r)
                if "error" in r:
                    print(f"round {i}: {name:<12} failed: {r['error']}", flush=True)
                    continue
                print(f"round {i}: {name:<12} {s_per_step(r):.1f} s/step, peak RSS {r['peak_rss_mb']:.0f} MB, "
                      f"wall {r['wall_s']:.0f} s, load {l0}->{load()}, reward "
                      f"{' '.join(f'{x:.3f}' for x in r['reward'])}", flush=True)
    ok = {k: [r for r in v if "error" not in r] for k, v in results.items()}
    o, p = ok["ours"], ok["plain TRL"]
    if o and p:
        os_, ps = statistics.median(map(s_per_step, o)), statistics.median(map(s_per_step, p))
        orss, prss = (statistics.median(r["peak_rss_mb"] for r in x) for x in (o, p))
        orw, prw = (statistics.mean(r["reward"][-3:]) for r in (o[-1], p[-1]))
        print(f"{a.stage}: s/step ours {os_:.1f} vs plain {ps:.1f} = {os_ / ps:.2f}x (target <= 1.0); peak RSS "
              f"{orss:.0f} vs {prss:.0f} MB = {orss / prss:.2f}x (target <= 0.8); reward over the last 3 steps "
              f"{orw:.3f} vs {prw:.3f}")
    if a.cb and ok.get("plain TRL+cb") and p:
        cs = statistics.median(map(s_per_step, ok["plain TRL+cb"]))
        print(f"continuous batching: {cs:.1f} s/step = {cs / statistics.median(map(s_per_step, p)):.2f}x plain")


if __name__ == "__main__":
    main()
