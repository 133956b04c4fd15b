"""Benchmark: our reward-model job (the CLI twin the UI launches) vs a plain TRL RewardTrainer script.

    python bench/reward_vs_trl.py [--model tiny|bundled] [--steps 6] [--batch 4] [--max-length 256] [--pairs 48]
                                  [--sides ours,ours-glibc,ours-nockpt,plain]

Data: --pairs synthetic multi-turn preference pairs whose prompt + answer run to about max_length tokens, fitted
into max_length by our code once and written to a JSONL file that every side reads (so TRL drops nothing and all
sides train on identical token sequences). Same model, LoRA (r 8, all-linear, SEQ_CLS), batch, max length, steps
and seed on every side; each side runs in its own subprocess under /usr/bin/time, which reports its peak RSS.

Sides:
  ours         python -m playground reward ... (as the UI runs it: activation checkpointing on)
  ours-glibc   the same job with glibc's malloc left as it is (stages/trainer.tune_malloc off: the stage before it)
  ours-nockpt  the same job with activation checkpointing and tune_malloc off (what the stage did at first)
  plain        a plain TRL script: RewardConfig defaults (TRL turns gradient checkpointing on by default), bf16 off

pairs/s = steps x batch / train_runtime (TRL's own clock for the training loop); peak RSS of the whole process;
the loss of the first steps of each side (same data order and seed, so they should agree), and the load average
before and after each side (2 shared cores: a busy machine makes the speed ratios noise, not the memory ones).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIME = "/usr/bin/time"

PLAIN = r'''
import json, sys
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardConfig, RewardTrainer
sys.path.insert(0, sys.argv[3])
from playground.core import models
cfg = json.loads(sys.argv[1]); out = sys.argv[2]
path = models.model_path(models.resolve(cfg["model"]))
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
model.config.pad_token_id = tok.pad_token_id
rows = [json.loads(line) for line in open(cfg["data"])]
args = RewardConfig(output_dir=out, learning_rate=1e-4, max_steps=cfg["steps"], per_device_train_batch_size=cfg["batch"],
                    max_length=cfg["max_length"], logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                    seed=0, data_seed=0, disable_tqdm=True, lr_scheduler_type="constant", bf16=False)
lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="SEQ_CLS")
tr = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, peft_config=lora)
tr.train()
last = tr.state.log_history[-1]
losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
print("RESULT " + json.dumps({"train_runtime": last["train_runtime"], "losses": losses}))
'''

# the same job as `ours` with glibc's malloc left alone (before stages/trainer.tune_malloc) and, for ours-nockpt,
# activation checkpointing forced off too (how the stage ran before it was turned on)
GLIBC = r'''
import sys
import playground.stages.trainer as trainer
trainer.tune_malloc = lambda: False
from playground.cli import main
raise SystemExit(main(sys.argv[1:]))
'''

NOCKPT = r'''
import sys
import trl
import playground.stages.trainer as trainer
trainer.tune_malloc = lambda: False
Orig = trl.RewardConfig
class NoCheckpointing(Orig):
    def __init__(self, *a, **k):
        k["activation_checkpointing"] = False
        super().__init__(*a, **k)
trl.RewardConfig = NoCheckpointing
from playground.cli import main
raise SystemExit(main(sys.argv[1:]))
'''


def make_pairs(n: int, max_length: int) -> list[dict]:
    """Multi-turn conversations about max_length tokens long (a few turns of ~20-token sentences)."""
    out = []
    for i in range(n):
        turns = []
        for t in range(max(1, max_length // 45)):
            turns += [{"role": "user", "content": f"Question {t} on topic {i}: could you say a little more about it?"},
                      {"role": "assistant", "content": f"Sure. Topic {i} has several parts worth knowing, step {t}."}]
        turns.append({"role": "user", "content": f"So what is the one thing to remember about topic {i}?"})
        out.append({"prompt": turns,
                    "chosen": [{"role": "assistant", "content": f"The key point about topic {i} is that it "
                                "connects the earlier parts; here is a short, clear summary of why."}],
                    "rejected": [{"role": "assistant", "content": f"no idea about topic {i}, whatever."}]})
    return out


def timed(cmd: list[str], env: dict) -> tuple[str, float]:
    """(stdout, peak RSS in MB) of one subprocess run under /usr/bin/time -v."""
    proc = subprocess.run([TIME, "-v", *cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        sys.exit(f"side failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 1024
    return proc.stdout, rss


def run_side(side: str, c: dict, work: Path, env: dict) -> dict:
    if side == "plain":
        stdout, rss = timed([sys.executable, "-c", PLAIN, json.dumps(c), str(work / "plain"), str(REPO)], env)
        res = json.loads(next(ln for ln in stdout.splitlines() if ln.startswith("RESULT "))[7:])
        return {"side": side, "pairs_per_s": c["steps"] * c["batch"] / res["train_runtime"], "peak_rss_mb": rss,
                "train_runtime_s": res["train_runtime"], "losses": res["losses"]}
    run_dir = work / side
    sets = [f"model={c['model']}", "dataset=bench", "learning_rate=0.0001", f"max_steps={c['steps']}",
            f"per_device_train_batch_size={c['batch']}", f"max_length={c['max_length']}", "lora_r=8", "lora_alpha=16",
            "eval_fraction=0", "save_steps=0", "lr_scheduler_type=constant", "seed=0", "device=cpu"]
    args = ["reward", "--config", str(REPO / "presets/reward/tiny-cpu.yaml"), "--run-dir", str(run_dir)]
    args += [x for s in sets for x in ("--set", s)]
    head = {"ours": [sys.executable, "-m", "playground"], "ours-glibc": [sys.executable, "-c", GLIBC],
            "ours-nockpt": [sys.executable, "-c", NOCKPT]}[side]
    _, rss = timed([*head, *args], env)
    from playground.core.runs import read_metrics

    # every step's log carries the running train_runtime; the last one is the whole training loop
    metrics = read_metrics(run_dir)
    runtime = [m["train_runtime"] for m in metrics if "train_runtime" in m][-1]
    return {"side": side, "pairs_per_s": c["steps"] * c["batch"] / runtime, "peak_rss_mb": rss,
            "train_runtime_s": runtime, "losses": [m["loss"] for m in metrics if "loss" in m]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=48)
    ap.add_argument("--sides", default="ours,ours-nockpt,plain")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO))
    work = Path(tempfile.mkdtemp(prefix="reward-bench-"))
    env = {**os.environ, "PLAYGROUND_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PLAYGROUND_CACHE": os.environ.get("PLAYGROUND_CACHE") or str(REPO / ".cache" / "playground")}
    os.environ.update({k: env[k] for k in ("PLAYGROUND_HOME", "HF_HUB_OFFLINE", "PLAYGROUND_CACHE")})
    from playground.core import models
    from playground.core.workspace import Workspace
    from playground.stages.data import fit_preference_rows

    pairs = make_pairs(a.pairs, a.max_length)
    ws = Workspace()
    for p in pairs:
        ws.add_pair(pool="bench", prompt=p["prompt"], response_a=p["chosen"][0]["content"],
                    response_b=p["rejected"][0]["content"], choice="a", annotator="bench")
    tok = models.load_tokenizer(models.resolve(a.model))
    fitted, report = fit_preference_rows(tok, pairs, a.max_length)
    data = work / "pairs.jsonl"
    data.write_text("".join(json.dumps({k: r[k] for k in ("prompt", "chosen", "rejected")}) + "\n" for r in fitted))
    c = {"model": a.model, "steps": a.steps, "batch": a.batch, "max_length": a.max_length, "data": str(data)}
    print(f"model={a.model} steps={a.steps} batch={a.batch} max_length={a.max_length} data: {report.line()}",
          flush=True)
    results = []
    for side in a.sides.split(","):
        load0 = Path("/proc/loadavg").read_text().split()[0]
        r = run_side(side, c, work, env)
        results.append(r)
        load1 = Path("/proc/loadavg").read_text().split()[0]
        print(f"{side:<12} pairs/s={r['pairs_per_s']:.3f}  peak_rss={r['peak_rss_mb']:.0f} MB  "
              f"train_runtime={r['train_runtime_s']:.1f} s  load {load0}->{load1}  "
              f"losses {' '.join(f'{x:.4f}' for x in r['losses'][:4])}", flush=True)
    by = {r["side"]: r for r in results}
    if "ours" in by and "plain" in by:
        print(f"ours/plain: speed {by['ours']['pairs_per_s'] / by['plain']['pairs_per_s']:.2f}x  "
              f"memory {by['ours']['peak_rss_mb'] / by['plain']['peak_rss_mb']:.2f}x")
    if "ours" in by and "ours-glibc" in by:
        print(f"ours / ours-glibc (malloc left alone): speed "
              f"{by['ours']['pairs_per_s'] / by['ours-glibc']['pairs_per_s']:.2f}x  "
              f"memory {by['ours']['peak_rss_mb'] / by['ours-glibc']['peak_rss_mb']:.2f}x")
    if "ours" in by and "ours-nockpt" in by:
        print(f"ours (checkpointing on) / before (off): speed "
              f"{by['ours']['pairs_per_s'] / by['ours-nockpt']['pairs_per_s']:.2f}x  "
              f"memory {by['ours']['peak_rss_mb'] / by['ours-nockpt']['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    main()
