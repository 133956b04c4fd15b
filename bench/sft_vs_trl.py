"""Benchmark: our SFT job (the CLI twin the UI launches) vs a plain TRL SFTTrainer script.

    python bench/sft_vs_trl.py [--model tiny|bundled] [--steps 30] [--rounds 2]

Same model, data, LoRA, batch, max length and seed on both sides; the two are alternated (a, b, a, b...)
in one run so machine noise hits both. Each side runs in its own subprocess; throughput is training
tokens per second as TRL counts them (num_input_tokens_seen / train_runtime), plus whole-process wall
time. Target: ratio ours/plain >= 1.0 (the playground adds no tax).

The plain script sets bf16=False on CPU, as ours does: TRL's SFTConfig defaults to bf16=True, and bf16
autocast on a CPU without bf16 units is far slower, which would flatter us unfairly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

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
print("RESULT " + json.dumps({"tokens": tr.state.num_input_tokens_seen, "train_runtime": last["train_runtime"]}))
'''


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
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    wall = time.time() - t0
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if "train_runtime" in r][-1]
    tokens = max(r.get("num_input_tokens_seen", 0) for r in rows)
    return {"tokens_per_s": tokens / final["train_runtime"], "wall_s": wall}


def run_plain(c: dict, work: Path, i: int) -> dict:
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", PLAIN, json.dumps(c), str(work / f"plain-{i}"), str(REPO)],
                          cwd=work, check=True, capture_output=True, text=True,
                          env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    wall = time.time() - t0
    res = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    return {"tokens_per_s": res["tokens"] / res["train_runtime"], "wall_s": wall}


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
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.rounds):
            ours.append(run_ours(c, Path(tmp), i))
            plain.append(run_plain(c, Path(tmp), i))
            print(f"round {i}: ours {ours[-1]['tokens_per_s']:.0f} tok/s ({ours[-1]['wall_s']:.1f} s), "
                  f"plain TRL {plain[-1]['tokens_per_s']:.0f} tok/s ({plain[-1]['wall_s']:.1f} s)", flush=True)
    o = statistics.median(r["tokens_per_s"] for r in ours)
    p = statistics.median(r["tokens_per_s"] for r in plain)
    ow = statistics.median(r["wall_s"] for r in ours)
    pw = statistics.median(r["wall_s"] for r in plain)
    print(f"model={a.model} steps={a.steps} batch={a.batch}: ours {o:.0f} tok/s, plain TRL {p:.0f} tok/s, "
          f"ratio ours/plain = {o / p:.2f} (target >= 1.0); wall {ow:.1f} s vs {pw:.1f} s")


if __name__ == "__main__":
    main()
