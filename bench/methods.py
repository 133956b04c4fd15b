"""Benchmark: PPO vs GRPO vs RLOO vs DPO on one built-in verifiable task, the same CPU budget each, on the bundled
model.

    python bench/methods.py [--budget 300] [--seeds 0] [--methods ppo,grpo,rloo,dpo] [--task n_words]

Each method runs its smollm2-cpu preset through the CLI (the job the UI launches) with the task's reward and prompts
(`rule:<task>`, `builtin:<task>`), for `--budget` seconds of wall clock after its model is loaded (then SIGTERM: stop
keeps the last finished step and its adapter). Afterwards one scorer, the same for every method, samples answers to
the task's held-out prompts (`builtin:<task>-heldout`, topics training never saw) from the base and from each
adapter (temperature 1, the training length, the same seed), scores them with the same reward function, and
estimates KL(policy || base) as the mean over those answers of sum_t log pi(y_t) - log pi_base(y_t). Printed: steps
done, held-out reward base -> trained, gain, gain per CPU-minute of training, KL. The task has no preference pairs,
so DPO makes its own inside its budget (`rule_pairs`: the best and worst of G answers the base gives each training
prompt, ranked by the same rule) and trains on them offline: the online methods' signal, seen once.
Learning goal (issue 24): held-out reward +0.3 within 10 minutes on this 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LENGTH = 24  # completion tokens: GRPO/RLOO max_completion_length and PPO response_length
N_SAMPLES = 2  # answers per held-out prompt
GROUP = 4  # answers per prompt: GRPO/RLOO's num_generations in the smollm2-cpu presets, and DPO's pair sampling
DPO_LR = 5e-4  # the GRPO preset's LoRA learning rate (DPO's preset 5e-5 is for 10x more pairs than a budget makes)


def overrides(method: str, task: str, seed: int, pool: str = "") -> list[str]:
    if method == "dpo":  # pairs from `rule_pairs` in `pool`; a constant lr and epochs enough for any budget
        return [f"dataset={pool}", f"seed={seed}", "device=cpu", "save_steps=1", "eval_fraction=0", "max_steps=1000",
                "num_train_epochs=100", "lr_scheduler_type=constant", "warmup_steps=0", "max_length=128",
                f"learning_rate={DPO_LR}"]
    common = [f"reward=rule:{task}", f"prompts=builtin:{task}", f"seed={seed}", "device=cpu", "save_steps=1"]
    if method == "ppo":
        return common + ["total_updates=1000", f"response_length={LENGTH}", "temperature=1.0", "sample_every=0"]
    return common + ["max_steps=1000", f"max_completion_length={LENGTH}", "eval_fraction=0", "sample_every=0"]


def train(method: str, task: str, seed: int, budget: float, work: Path, pool: str = "") -> dict:
    run_dir = work / f"{method}-{seed}"
    cmd = [sys.executable, "-m", "playground", method, "--config", f"presets/{method}/smollm2-cpu.yaml",
           "--run-dir", str(run_dir)]
    for s in overrides(method, task, seed, pool):
        cmd += ["--set", s]
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(work / f"{method}-{seed}.log", "w"),
                            env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    started = None
    while proc.poll() is None:
        time.sleep(2)
        status = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").is_file() else {}
        if started is None and str(status.get("phase", "")).startswith(("training", "rollout")):
            started = time.time()  # the budget counts training, not model loading
        if started is not None and time.time() - started > budget:
            proc.send_signal(signal.SIGTERM)
            break
    proc.wait()
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = max((r["step"] for r in rows), default=0)
    train_s = time.time() - (started or t0)
    return {"run_dir": run_dir, "steps": steps, "train_s": train_s, "wall_s": time.time() - t0}


def _load(adapter: Path | None, model_name: str = "bundled"):  # noqa: ANN202
    from peft import PeftModel

    from playground.core import models

    spec = models.resolve(model_name)
    tok = models.load_tokenizer(spec)
    tok.padding_side = "left"
    base = models.load_causal_lm(spec, "cpu")
    model = PeftModel.from_pretrained(base, str(adapter)) if adapter is not None else base
    model.eval()
    return model, tok


def sample(model, tok, prompts: list[list[dict[str, str]]], seed: int):  # noqa: ANN001, ANN201
    """Answers to chat `prompts` (temperature 1, LENGTH tokens, one seed): (texts, token ids, enc, out, mask)."""
    import torch

    enc = tok.apply_chat_template(prompts, add_generation_prompt=True, return_tensors="pt", padding=True,
                                  return_dict=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=LENGTH,
                             pad_token_id=tok.pad_token_id or tok.eos_token_id)
    resp = out[:, enc["input_ids"].shape[1]:]
    mask = torch.ones_like(resp, dtype=torch.bool)
    for i, row in enumerate(resp.tolist()):  # up to and including the first EOS
        if tok.eos_token_id in row:
            mask[i, row.index(tok.eos_token_id) + 1:] = False
    ids = [[t for t, m in zip(r, mr, strict=True) if m and t != tok.eos_token_id] for r, mr in
           zip(resp.tolist(), mask.tolist(), strict=True)]
    return tok.batch_decode(ids, skip_special_tokens=True), ids, enc, out, mask


def score_heldout(adapter: Path | None, task: str, seed: int, model_name: str = "bundled") -> tuple[float, float]:
    """(mean held-out reward, KL estimate to the base) of the adapter's answers; the base's own with adapter=None."""
    import torch

    from playground.core import builtin
    from playground.stages.reward.functions import build_rewards

    model, tok = _load(adapter, model_name)
    prompts = [[{"role": "user", "content": p}] for p in builtin.load(f"builtin:{task}-heldout")] * N_SAMPLES
    texts, ids, enc, out, mask = sample(model, tok, prompts, seed)
    resp = out[:, enc["input_ids"].shape[1]:]
    reward = statistics.mean(build_rewards(f"rule:{task}")[0](prompts, texts, ids))
    kl = 0.0
    if adapter is not None:
        attn = torch.cat([enc["attention_mask"], mask.long()], 1)

        def logps() -> torch.Tensor:
            with torch.no_grad():
                logits = model(input_ids=out, attention_mask=attn).logits[:, enc["input_ids"].shape[1] - 1:-1]
            return torch.log_softmax(logits.float(), -1).gather(-1, resp.unsqueeze(-1)).squeeze(-1)

        lp = logps()
        with model.disable_adapter():
            lb = logps()
        kl = float(((lp - lb) * mask).sum(1).mean())
    return reward, kl


def rule_pairs(task: str, seed: int, work: Path, seconds: float) -> tuple[Path, int]:
    """DPO's data, made the way the online methods see the task: the base answers each training prompt G times
    (G = GROUP, temperature 1, LENGTH tokens), the rule scores them, and the best and the worst answer of a group
    whose rewards differ become one (chosen, rejected) pair. Rounds of sampling (new seeds) go on while `seconds`
    last (at least one). Returns (the pairs file, pairs made)."""
    from playground.core import builtin
    from playground.stages.reward.functions import build_rewards

    model, tok = _load(None)
    rule = build_rewards(f"rule:{task}")[0]
    prompts = [[{"role": "user", "content": p}] for p in builtin.load(f"builtin:{task}")]
    path, pairs, t0, rnd = work / f"dpo-pairs-{seed}.jsonl", [], time.time(), 0
    while rnd == 0 or time.time() - t0 < seconds:
        batch = [p for p in prompts for _ in range(GROUP)]
        texts, ids, *_ = sample(model, tok, batch, seed * 1000 + rnd)
        scores = rule(batch, texts, ids)
        for i, prompt in enumerate(prompts):
            group = sorted(zip(scores[i * GROUP:(i + 1) * GROUP], texts[i * GROUP:(i + 1) * GROUP], strict=True))
            (lo, worst), (hi, best) = group[0], group[-1]
            if hi > lo and best.strip() and worst.strip() and best.strip() != worst.strip():
                pairs.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": best}],
                              "rejected": [{"role": "assistant", "content": worst}]})
        rnd += 1
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path, len(pairs)


def train_dpo(task: str, seed: int, budget: float, work: Path) -> dict:
    """DPO on rule-ranked pairs of the base's own answers (`rule_pairs`), in one budget: a quarter of it makes the
    pairs, the rest trains (the pairs' time counts, as the online methods' sampling does)."""
    t0 = time.time()
    path, n = rule_pairs(task, seed, work, budget / 4)
    made_s = time.time() - t0
    pool = f"rule-{task}-{seed}"
    subprocess.run([sys.executable, "-m", "playground", "prefs", "import", str(path), "--pool", pool], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, PLAYGROUND_HOME=str(work)))
    r = train("dpo", task, seed, budget - made_s, work, pool=pool)
    r.update(train_s=r["train_s"] + made_s, pairs=n)
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=300, help="training seconds per method")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--methods", default="ppo,grpo,rloo,dpo")
    ap.add_argument("--task", default="n_words")
    a = ap.parse_args()
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            base, _ = score_heldout(None, a.task, seed)
            print(f"seed {seed}: base held-out reward {base:.3f}", flush=True)
            for method in a.methods.split(","):
                if method == "dpo":
                    r = train_dpo(a.task, seed, a.budget, Path(tmp))
                    print(f"seed {seed}: dpo: {r['pairs']} rule-ranked pairs of the base's answers", flush=True)
                else:
                    r = train(method, a.task, seed, a.budget, Path(tmp))
                adapter = r["run_dir"] / "adapter"
                if not (adapter / "adapter_config.json").is_file():
                    print(f"seed {seed}: {method}: no adapter after {r['steps']} steps (see its log)", flush=True)
                    continue
                reward, kl = score_heldout(adapter, a.task, seed)
                rows.append({"method": method, "seed": seed, "steps": r["steps"], "train_min": r["train_s"] / 60,
                             "base": base, "heldout": reward, "gain": reward - base, "kl": kl})
                curve = [json.loads(x) for x in (r["run_dir"] / "metrics.jsonl").read_text().splitlines()]
                key = {"ppo": "score", "dpo": "rewards/margins"}.get(method, "reward")
                curve = [round(x[key], 2) for x in curve if key in x and isinstance(x[key], float)]
                print(f"seed {seed}: {method}: {r['steps']} steps in {r['train_s'] / 60:.1f} min, held-out "
                      f"{base:.3f} -> {reward:.3f} (gain {reward - base:+.3f}), KL {kl:.2f}; training reward curve "
                      f"{curve}", flush=True)
    print(f"\ntask rule:{a.task}, budget {a.budget:.0f} s of training each, seeds {seeds}, bundled model, CPU")
    print(f"{'method':<6} {'steps':>5} {'min':>5} {'base':>6} {'held-out':>8} {'gain':>7} {'gain sd':>7} "
          f"{'gain/min':>8} {'KL':>6}")
    for m in a.methods.split(","):
        rs = [r for r in rows if r["method"] == m]
        if not rs:
            continue
        avg = {k: statistics.mean(r[k] for r in rs) for k in ("steps", "train_min", "base", "heldout", "gain", "kl")}
        sd = statistics.stdev(r["gain"] for r in rs) if len(rs) > 1 else float("nan")  # across seeds
        print(f"{m:<6} {avg['steps']:>5.0f} {avg['train_min']:>5.1f} {avg['base']:>6.3f} {avg['heldout']:>8.3f} "
              f"{avg['gain']:>+7.3f} {sd:>7.3f} {avg['gain'] / avg['train_min']:>+8.3f} {avg['kl']:>6.2f}")
    if rows:
        means = {m: statistics.mean(r["gain"] for r in rows if r["method"] == m) for m in {r["method"] for r in rows}}
        best = max(means, key=means.get)
        print(f"largest mean held-out gain at this budget: {best} ({means[best]:+.3f} over {len(seeds)} seed(s))")


if __name__ == "__main__":
    main()
