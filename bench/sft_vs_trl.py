"""Benchmark: our SFT job (the CLI twin the UI launches) vs a plain TRL SFTTrainer script.

    python bench/sft_vs_trl.py [--model tiny|bundled] [--steps 30] [--rounds 2]

Same model, data, LoRA, batch, max length and seed on both sides; the two are alternated (a, b, a, b...)
in one run so machine noise hits both. Each side runs in its own subprocess under /usr/bin/time -v (peak RSS of
the whole process); throughput is training tokens per second as TRL counts them (num_input_tokens_seen /
train_runtime), plus whole-process wall time. Target: ratio ours/plain >= 1.0 (the playground adds no tax).

Fraction of the machine: 6 * N * tokens/s (N = every parameter of the model, the tied LM head included, as it is a
matmul; the usual forward + backward count, without the recompute that activation checkpointing adds) over the
fp32 torch.matmul peak measured in this run (square 1024-2048 matmuls on all threads, best of a few, taken before
and after the sides; the higher counts). The load average is printed beside it: on a shared machine both drop.

The plain script sets bf16=False on CPU, as ours does: TRL's SFTConfig defaults to bf16=True, and bf16
autocast on a CPU without bf16 units is far slower, which would flatter us unfairly.
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
import json, sys, time
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer
sys.path.insert(0, sys.argv[3])
from playground.core import models
from playground.stages.data import instruction_rows
cfg = json.loads(sys.argv[1]); out = sys.argv[2]
path = models.model_path(models.resolve(cfg["model"]))
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
train, _ = instruction_rows("builtin:instructions", 0.0, cfg["seed"])
args = SFTConfig(output_dir=out, learning_rate=cfg["lr"], max_steps=cfg["steps"], per_device_train_batch_size=cfg["batch"],
                 max_length=cfg["max_length"], logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                 seed=cfg["seed"], data_seed=cfg["seed"], disable_tqdm=True, lr_scheduler_type="constant", bf16=False,
                 include_num_input_tokens_seen="non_padding", completion_only_loss=True, pad_token=tok.pad_token)
lora = LoraConfig(r=cfg["r"], lora_alpha=cfg["alpha"], target_modules="all-linear", task_type="CAUSAL_LM")
tr = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(train), processing_class=tok, peft_config=lora)
tr.train()
last = tr.state.log_history[-1]
losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
print("RESULT " + json.dumps({"tokens": tr.state.num_input_tokens_seen, "train_runtime": last["train_runtime"],
                             "losses": losses}))
'''


def peak_rss_mb(stderr: str) -> float:
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024


def matmul_peak_flops(seconds: float = 3.0) -> float:
    """fp32 FLOP/s of torch.matmul on this machine now: the best of square 1024/1536/2048 matmuls, all threads."""
    import torch

    best = 0.0
    for n in (1024, 1536, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.matmul(a, b)  # warm-up
        t_end = time.perf_counter() + seconds / 3
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            torch.matmul(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def count_params(model: str) -> int:
    from safetensors import safe_open

    sys.path.insert(0, str(REPO))
    from playground.core import models

    total = 0
    for f in Path(models.model_path(models.resolve(model))).glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():  # noqa: SIM118 - safe_open is not a mapping
                n = 1
                for d in st.get_slice(k).get_shape():
                    n *= d
                total += n
    return total


def run_ours(c: dict, work: Path, i: int) -> dict:
    run_dir = work / f"ours-{i}"
    t0 = time.time()
    sets = [f"model={c['model']}", f"learning_rate={c['lr']}", f"max_steps={c['steps']}",
            f"per_device_train_batch_size={c['batch']}", f"max_length={c['max_length']}", f"lora_r={c['r']}",
            f"lora_alpha={c['alpha']}", "eval_fraction=0", "save_steps=0", "lr_scheduler_type=constant",
            f"seed={c['seed']}", "device=cpu", "logging_steps=1"]
    cmd = [sys.executable, "-m", "playground", "sft", "--run-dir", str(run_dir)]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.run([TIME, "-v", *cmd], cwd=REPO, check=True, capture_output=True, text=True,
                          env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    wall = time.time() - t0
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if "train_runtime" in r][-1]
    tokens = max(r.get("num_input_tokens_seen", 0) for r in rows)
    return {"tokens_per_s": tokens / final["train_runtime"], "wall_s": wall, "peak_rss_mb": peak_rss_mb(proc.stderr),
            "losses": [r["loss"] for r in rows if "loss" in r]}


def run_plain(c: dict, work: Path, i: int) -> dict:
    t0 = time.time()
    proc = subprocess.run([TIME, "-v", sys.executable, "-c", PLAIN, json.dumps(c), str(work / f"plain-{i}"),
                           str(REPO)], cwd=work, check=True, capture_output=True, text=True,
                          env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    wall = time.time() - t0
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    return {"tokens_per_s": res["tokens"] / res["train_runtime"], "wall_s": wall,
            "peak_rss_mb": peak_rss_mb(proc.stderr), "losses": res["losses"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    c = {"model": a.model, "steps": a.steps, "batch": a.batch, "max_length": 128, "lr": 1e-3, "r": 8, "alpha": 16,
         "seed": 0}
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    n_params = count_params(a.model)
    load = lambda: Path("/proc/loadavg").read_text().split()[0]  # noqa: E731
    peak0, load0 = matmul_peak_flops(), load()
    print(f"model={a.model} N={n_params / 1e6:.1f}M params; fp32 matmul peak {peak0 / 1e9:.1f} GFLOP/s "
          f"(load {load0})", flush=True)
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            for side, fn, out in (("ours", run_ours, ours), ("plain TRL", run_plain, plain)):
                l0 = load()
                out.append(fn(c, Path(tmp), i))
                r = out[-1]
                print(f"round {i}: {side:<9} {r['tokens_per_s']:.0f} tok/s ({r['wall_s']:.1f} s wall), "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB, load {l0}->{load()}, "
                      f"losses {' '.join(f'{x:.4f}' for x in r['losses'][:3])}", flush=True)
    peak = max(peak0, matmul_peak_flops())
    print(f"fp32 matmul peak after the sides {peak / 1e9:.1f} GFLOP/s (load {load()}); using the higher")
    o = statistics.median(r["tokens_per_s"] for r in ours)
    p = statistics.median(r["tokens_per_s"] for r in plain)
    ow = statistics.median(r["wall_s"] for r in ours)
    pw = statistics.median(r["wall_s"] for r in plain)
    orss = statistics.median(r["peak_rss_mb"] for r in ours)
    prss = statistics.median(r["peak_rss_mb"] for r in plain)
    frac = lambda tps: 6 * n_params * tps / peak  # noqa: E731
    print(f"model={a.model} steps={a.steps} batch={a.batch}: ours {o:.0f} tok/s, plain TRL {p:.0f} tok/s, "
          f"ratio ours/plain = {o / p:.2f} (target >= 1.0); wall {ow:.1f} s vs {pw:.1f} s; "
          f"peak RSS {orss:.0f} vs {prss:.0f} MB ({orss / prss:.2f}x); "
          f"fraction of fp32 matmul peak: ours {frac(o):.1%}, plain {frac(p):.1%}")


if __name__ == "__main__":
    main()
