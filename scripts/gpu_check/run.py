"""Every stage on CUDA through its CLI twin, in one short call (scripts/gpu_check.sh runs this; read its usage).

    python scripts/gpu_check/run.py --out $OUT            # random-weight SmolLM2 shapes (135M, 1.7B) on CUDA
    python scripts/gpu_check/run.py --qlora --out $OUT    # SFT with load_in_4bit (needs bitsandbytes' wheel)
    python scripts/gpu_check/run.py --cpu [--qlora] --out DIR   # the rehearsal: the same steps, tiny shapes, CPU

Steps run in order of importance, each in its own subprocess with its own timeout, all within --budget seconds
(a step that would start past it is skipped, and says so). Each step is the command a user would type
(`python -m playground sft --config presets/sft/tiny-cpu.yaml --set model=<dir> --set device=cuda ...`) wrapped by
peak.py for its peak memory. What comes out: one table (stage, rc, wall, tok/s or s/update, peak memory) on stdout
and in OUT/gpu_check.txt, every step's output in OUT/gpu_check.log, the numbers in OUT/gpu_check.json (the QLoRA
command writes gpu_check_qlora.*): three files per command. The last line is `gpu_check: K of N steps ok`.

In the CPU rehearsal (tests/test_gpu_check.py) the QLoRA steps run with device=auto and must end in the trainer's
one-line refusal (load_in_4bit needs CUDA): that is what "ok" means for them there.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CARRIED_TOKENIZER = REPO / ".gpu_check" / "tokenizer"  # scripts/gpu_check.sh --prepare puts it there
GIB = 1024**3

# The shapes: SmolLM2-135M and SmolLM2-1.7B (their config.json), and tiny stand-ins of each for the CPU rehearsal.
SHAPES = {
    "gpu": {
        "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                     num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0),
        "1.7b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                     num_key_value_heads=32, max_position_embeddings=8192, rope_theta=130000.0),
    },
    "cpu": {
        "135m": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=1024),
        "1.7b": dict(hidden_size=96, intermediate_size=192, num_hidden_layers=3, num_attention_heads=4,
                     num_key_value_heads=4, max_position_embeddings=1024),
    },
}
# Sizes per mode: steps/updates, batch, lengths, engine load. GPU sizes keep the whole run under ~7 minutes.
SIZES = {
    "gpu": dict(sft_steps=40, sft_batch=16, sft_len=512, rm_steps=30, dpo_steps=20, ppo_updates=6, ppo_rollout=64,
                ppo_batch=16, ppo_len=64, big_updates=3, big_rollout=32, big_batch=8, users=30, tokens=64,
                phase_s=20.0, qlora_steps=20, eval_fraction=0.2, grpo_steps=10, grpo_batch=32),
    "cpu": dict(sft_steps=3, sft_batch=4, sft_len=128, rm_steps=3, dpo_steps=2, ppo_updates=2, ppo_rollout=8,
                ppo_batch=4, ppo_len=4, big_updates=1, big_rollout=4, big_batch=4, users=30, tokens=4, phase_s=6.0,
                qlora_steps=2, eval_fraction=0.0, grpo_steps=2, grpo_batch=8),  # eval off: 32 DPO pairs took 30 s on 2 busy cores
}


@dataclass
class Step:
    name: str
    timeout: float
    what: str  # one line: what the step shows
    argv: list[str] = field(default_factory=list)
    rc: int | None = None
    wall: float = 0.0
    speed: str = ""
    peak: str = ""
    note: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.rc == 0


# -- models ----------------------------------------------------------------------------------------------------
def tokenizer_source(mode: str) -> Path:
    """The bundled tokenizer's files: the carried copy (GPU machine), else the playground's own cache (here)."""
    if (CARRIED_TOKENIZER / "tokenizer_config.json").is_file():
        return CARRIED_TOKENIZER
    if mode != "cpu":
        raise SystemExit(f"gpu_check: no tokenizer at {CARRIED_TOKENIZER}: run `scripts/gpu_check.sh --prepare` "
                         "on a machine with the playground installed, and carry .gpu_check")
    if str(REPO) not in sys.path:  # a clean clone (CI) has no carried copy: the playground's own, from this checkout
        sys.path.insert(0, str(REPO))
    from playground.core.models import tokenizer_dir

    return tokenizer_dir()


def copy_tokenizer(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.name.endswith(".gz"):  # carried compressed (tokenizer.json: 3.5 MB -> ~0.8 MB of the 64 MiB)
            with gzip.open(f, "rb") as fin, open(dst / f.name[:-3], "wb") as fout:
                shutil.copyfileobj(fin, fout)
        elif f.is_file():
            shutil.copy2(f, dst / f.name)


def build_models(mode: str, work: Path) -> dict[str, Any]:
    """Random-weight Llamas with the SmolLM2 shapes and the bundled tokenizer, saved as model folders."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok_dir = work / "tokenizer"
    copy_tokenizer(tokenizer_source(mode), tok_dir)
    tok = AutoTokenizer.from_pretrained(tok_dir)
    device = "cuda" if mode == "gpu" else "cpu"
    out = {}
    for name, shape in SHAPES[mode].items():
        target = work / f"smollm2-{name}"
        cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, tie_word_embeddings=True, initializer_range=0.2 if
                          mode == "cpu" else 0.02, **shape)
        torch.manual_seed(0)
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
        if device == "cuda":
            model = model.to(torch.bfloat16)
        model.save_pretrained(target)
        tok.save_pretrained(target)
        out[name] = {"dir": str(target), "params": sum(p.numel() for p in model.parameters())}
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
    return out


# -- steps -----------------------------------------------------------------------------------------------------
def cli(stage: str, preset: str, model: str, device: str, run_dir: Path, sets: dict[str, Any]) -> list[str]:
    argv = ["-m", "playground", stage, "--config", str(REPO / "presets" / stage / preset), "--run-dir", str(run_dir),
            "--set", f"model={model}", "--set", f"device={device}"]
    for k, v in sets.items():
        argv += ["--set", f"{k}={v}"]
    return argv


def plan(mode: str, models: dict[str, Any], work: Path, qlora: bool = False) -> list[Step]:
    """The steps, most important first: each stage of the loop on the 135M shape, the TRL reference, PPO with a
    reward model, PPO at 1.7B, GRPO/RLOO when they exist, the engine under a room's load."""
    s = SIZES[mode]
    dev = "cpu" if mode == "cpu" else "cuda"
    small = models["135m"]["dir"]
    runs = work / "runs"
    t = 1.0 if mode != "cpu" else 2.0  # per-step timeouts below are the GPU's; the CPU gets slack for imports
    py = [sys.executable, str(HERE / "peak.py")]
    if qlora:
        dev = "auto" if mode == "cpu" else dev  # on CPU: past the config check, into the trainer's own refusal
        steps = [Step("sft-qlora-135m", 150, "SFT with load_in_4bit (bitsandbytes NF4) on the 135M shape",
                      cli("sft", "tiny-cpu.yaml", small, dev, runs / "qlora-135m",
                          {"load_in_4bit": "true", "max_steps": s["qlora_steps"], "eval_fraction": 0,
                           "per_device_train_batch_size": s["sft_batch"], "max_length": s["sft_len"],
                           "save_steps": 0}))]
        steps.append(Step("sft-qlora-1.7b", 200, "SFT with load_in_4bit on the 1.7B shape",
                              cli("sft", "tiny-cpu.yaml", models["1.7b"]["dir"], dev, runs / "qlora-1.7b",
                                  {"load_in_4bit": "true", "max_steps": s["qlora_steps"], "eval_fraction": 0,
                                   "per_device_train_batch_size": s["big_batch"], "max_length": s["sft_len"],
                                   "save_steps": 0})))
        return _finish(steps, py, t)
    sft_sets = {"max_steps": s["sft_steps"], "eval_fraction": 0, "per_device_train_batch_size": s["sft_batch"],
                "max_length": s["sft_len"], "save_steps": 0}
    ppo_sets = {"total_updates": s["ppo_updates"], "rollout_batch_size": s["ppo_rollout"],
                "per_device_train_batch_size": s["ppo_batch"], "response_length": s["ppo_len"], "sample_every": 0,
                "save_steps": 0}
    steps = [
        Step("sft", 90, "our SFT (TRL SFTTrainer + LoRA) on the 135M shape",
             cli("sft", "tiny-cpu.yaml", small, dev, runs / "sft", sft_sets)),
        Step("sft-trl", 90, "plain TRL SFT script, same settings: the tok/s reference",
             [str(HERE / "trl_sft.py"), "--config", str(REPO / "presets/sft/tiny-cpu.yaml"), "--out",
              str(runs / "sft-trl")] + sum((["--set", f"{k}={v}"] for k, v in
                                            {"model": small, "device": dev, **sft_sets}.items()), [])),
        Step("ppo", 70, "our PPO, rule reward, 135M shape",
             cli("ppo", "tiny-cpu.yaml", small, dev, runs / "ppo", ppo_sets)),
        Step("reward", 60, "reward model (TRL RewardTrainer), 135M shape",
             cli("reward", "tiny-cpu.yaml", small, dev, runs / "reward",
                 {"max_steps": s["rm_steps"], "eval_fraction": s["eval_fraction"], "save_steps": 0})),
        Step("ppo-rm", 70, "our PPO scored by the reward model just trained",
             cli("ppo", "tiny-cpu.yaml", small, dev, runs / "ppo-rm", {**ppo_sets, "reward": f"rm:{runs / 'reward'}"})),
        Step("dpo", 60, "DPO (TRL DPOTrainer, reference = adapter off), 135M shape",
             cli("dpo", "tiny-cpu.yaml", small, dev, runs / "dpo",
                 {"max_steps": s["dpo_steps"], "eval_fraction": s["eval_fraction"], "save_steps": 0})),
        Step("sft-auto", 60, "SFT from a GPU preset (0.5B-T4) with per_device_train_batch_size: auto, 135M shape",
             cli("sft", AUTO_PRESET, small, dev, runs / "sft-auto",
                 {"max_steps": max(2, s["sft_steps"] // 4), "eval_fraction": 0, "max_length": s["sft_len"],
                  "save_steps": 0})),
        Step("ppo-1.7b", 100, "our PPO on the 1.7B shape (rollout copy, LoRA, value adapter)",
             cli("ppo", "tiny-cpu.yaml", models["1.7b"]["dir"], dev, runs / "ppo-1.7b",
                 {**ppo_sets, "total_updates": s["big_updates"], "rollout_batch_size": s["big_rollout"],
                  "per_device_train_batch_size": s["big_batch"]})),
        Step("engine", 70, f"generation engine vs per-request, {s['users']} simulated users",
             [str(HERE / "engine_load.py"), "--model", small, "--device", dev, "--users", str(s["users"]),
              "--tokens", str(s["tokens"]), "--phase-s", str(s["phase_s"])]),
    ]
    for stage in ("grpo", "rloo"):  # another issue adds these stages; run them when their presets exist
        preset = REPO / "presets" / stage / "tiny-cpu.yaml"
        step = Step(stage, 70, f"{stage.upper()} (TRL {stage.upper()}Trainer), 135M shape")
        if preset.is_file():
            step.argv = cli(stage, "tiny-cpu.yaml", small, dev, runs / stage,
                            {"max_steps": s["grpo_steps"], "max_completion_length": s["ppo_len"],
                             "per_device_train_batch_size": s["grpo_batch"], "num_generations": 4})
        else:
            step.note = f"not present: presets/{stage}/tiny-cpu.yaml does not exist yet"
        steps.append(step)
    return _finish(steps, py, t)


AUTO_PRESET = "0.5B-T4.yaml"  # per_device_train_batch_size: auto:8, gradient_accumulation_steps: 2


def auto_split(st: Step, runs: Path) -> None:
    """The sft-auto step's note: the preset's `auto:N x accumulation` and the split the run took (its config.yaml):
    on CUDA from the card's free memory (core/models.resolve_auto_batch), on CPU the preset's own numbers."""
    import yaml

    preset = yaml.safe_load((REPO / "presets" / "sft" / AUTO_PRESET).read_text())
    ran = runs / st.name / "config.yaml"
    if not ran.is_file():
        return
    cfg = yaml.safe_load(ran.read_text())
    b, a = cfg["per_device_train_batch_size"], cfg["gradient_accumulation_steps"]
    st.numbers.update(auto_batch=b, auto_accumulation=a)
    st.note = (f"{preset['per_device_train_batch_size']} x {preset['gradient_accumulation_steps']} -> {b} x {a}"
               + (f"; {st.note}" if st.note else ""))


def _finish(steps: list[Step], py: list[str], slack: float) -> list[Step]:
    for st in steps:
        st.timeout *= slack
        if st.argv:
            st.argv = [*py, "", *st.argv]  # the peak file is filled in when the step runs
    return steps


def run_step(st: Step, env: dict[str, str], log: Any, work: Path, deadline: float) -> None:
    left = deadline - time.time()
    if not st.argv:
        return
    if left < 10:
        st.note = f"skipped: the {int(BUDGET)} s budget is spent"
        st.argv = []
        return
    peak_file = work / f"peak-{st.name}.json"
    st.argv[2] = str(peak_file)
    timeout = min(st.timeout, left)
    log.write(f"\n===== {st.name}: {st.what}\n$ {' '.join(st.argv)}\n")
    log.flush()
    t0 = time.time()
    try:
        proc = subprocess.run(st.argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
        st.rc = proc.returncode
    except subprocess.TimeoutExpired:
        st.rc, st.note = 124, f"timed out after {timeout:.0f} s"
    st.wall = time.time() - t0
    log.write(f"----- {st.name}: rc={st.rc} wall={st.wall:.1f}s\n")
    log.flush()
    if peak_file.is_file():
        p = json.loads(peak_file.read_text())
        st.numbers.update(p)
        gpu, rss = p.get("gpu_peak_bytes"), p.get("rss_peak_bytes")
        st.peak = f"{gpu / GIB:.2f} GiB gpu" if gpu else f"{rss / GIB:.2f} GiB rss"


# -- reading what each step measured ---------------------------------------------------------------------------
def _rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trl_speed(run_dir: Path) -> tuple[str, dict[str, float]]:
    """tok/s = tokens seen / train_runtime (the final summary row TRL logs): the same measure trl_sft.py prints."""
    final = [r for r in _rows(run_dir) if "train_runtime" in r and "train_loss" in r]
    if not final:
        return "", {}
    r = final[-1]
    steps = max(1, int(r.get("step", 1)))
    if r.get("num_input_tokens_seen"):
        tps = r["num_input_tokens_seen"] / r["train_runtime"]
        return f"{tps:,.0f} tok/s", {"tokens_per_s": tps, "s_per_step": r["train_runtime"] / steps}
    return f"{r['train_runtime'] / steps:.3f} s/step", {"s_per_step": r["train_runtime"] / steps}


def ppo_speed(run_dir: Path) -> tuple[str, dict[str, float]]:
    """s/update: the median of update_s after the first update (which pays for warm-up)."""
    times = [r["update_s"] for r in _rows(run_dir) if "update_s" in r]
    if not times:
        return "", {}
    med = statistics.median(times[1:] or times)
    return f"{med:.2f} s/update", {"s_per_update": med, "updates": len(times)}


def read_speed(st: Step, log_text: str, runs: Path) -> None:
    if st.name == "sft-trl":
        line = next((x for x in log_text.splitlines()[::-1] if x.startswith("RESULT ")), None)
        if line:
            res = json.loads(line[7:])
            st.numbers.update(res)
            st.speed = f"{res['tokens_per_s']:,.0f} tok/s"
    elif st.name == "engine":
        line = next((x for x in log_text.splitlines()[::-1] if x.startswith("RESULT ")), None)
        if line:
            res = json.loads(line[7:])
            st.numbers.update(res)
            st.speed = (f"{res['engine_pairs_per_s']:.2f} vs {res['per_request_pairs_per_s']:.2f} pairs/s "
                        f"({res['ratio']:.1f}x)")
    elif st.name.startswith("ppo"):
        st.speed, nums = ppo_speed(runs / st.name)
        st.numbers.update(nums)
    else:
        st.speed, nums = trl_speed(runs / st.name.replace("sft-qlora-", "qlora-"))
        st.numbers.update(nums)


def qlora_cpu_refusal(st: Step, text: str) -> None:
    """On CPU the QLoRA step must be refused in one line (load_in_4bit needs CUDA): that is its 'ok' there."""
    if st.rc == 1 and "load_in_4bit (QLoRA) needs a CUDA GPU" in text:
        st.rc, st.note = 0, "refused on CPU in one line, as it must be (needs CUDA + bitsandbytes)"


# -- the table ---------------------------------------------------------------------------------------------------
def table(steps: list[Step]) -> str:
    head = ("stage", "rc", "wall", "tok/s or s/update", "peak memory", "note")
    rows = [(s.name, "skip" if s.rc is None else str(s.rc), f"{s.wall:.1f}s" if s.rc is not None else "-",
             s.speed or "-", s.peak or "-", s.note) for s in steps]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(head[:-1], widths, strict=False)) + " | note |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|------|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + f" | {r[-1]} |"
              for r in rows]
    return "\n".join(lines)


def environment(mode: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"mode": mode, "python": sys.version.split()[0], "torch": torch.__version__}
    for name in ("transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes"):
        try:
            info[name] = __import__(name).__version__
        except Exception as e:  # noqa: BLE001 - reported, the steps that need it fail on their own
            info[name] = f"missing ({type(e).__name__})"
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(0)
        info.update(gpu=torch.cuda.get_device_name(0), gpu_total_gib=round(total / GIB, 1),
                    gpu_free_gib=round(free / GIB, 1), bf16=torch.cuda.is_bf16_supported())
    return info


BUDGET = 450.0


def main() -> int:
    global BUDGET
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu", action="store_true", help="the CPU rehearsal: tiny shapes, device cpu")
    ap.add_argument("--qlora", action="store_true", help="the QLoRA steps instead of the others")
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu_check_out")
    ap.add_argument("--budget", type=float, default=0.0, help=f"seconds for all steps (default {BUDGET:.0f} on the "
                    "GPU: the device call's limit; 1800 on CPU, where a busy 2-core box takes ~7 minutes)")
    ap.add_argument("--work", default="", help="scratch folder (default: a temporary one, removed at the end)")
    args = ap.parse_args()
    BUDGET = args.budget or (1800.0 if args.cpu else BUDGET)
    start = time.time()
    deadline = start + BUDGET
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    mode = "cpu" if args.cpu else "gpu"
    stem = "gpu_check_qlora" if args.qlora else "gpu_check"
    import torch

    if mode == "gpu" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU is visible; run `scripts/gpu_check.sh --cpu` for the CPU rehearsal")
        print("gpu_check: 0 of 1 steps ok")
        return 1
    env = dict(os.environ, PLAYGROUND_HOME=str(work / "home"), PLAYGROUND_CACHE=str(work / "cache"),
               HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(x for x in (str(REPO), os.environ.get("PYTHONPATH", "")) if x))
    if mode == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")
    info = environment(mode + (" qlora" if args.qlora else ""))
    print("gpu_check: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    build = Step("build-models", 120, "random-weight SmolLM2 shapes with the bundled tokenizer")
    t0 = time.time()
    try:
        models = build_models(mode, work)
        build.rc = 0
        build.note = ", ".join(f"{k}: {v['params'] / 1e6:.0f}M params" for k, v in models.items())
    except Exception as e:  # noqa: BLE001 - the table says what broke
        build.rc, build.note, models = 1, f"{type(e).__name__}: {str(e).splitlines()[0][:150]}", {}
    build.wall = time.time() - t0
    steps = [build] + (plan(mode, models, work, args.qlora) if models else [])
    log_path = out / f"{stem}.log"
    with open(log_path, "w") as log:
        log.write(f"gpu_check {info['mode']}: {json.dumps(info)}\nbuild-models: {build.note}\n")
        for st in steps[1:]:
            before = log.tell()
            run_step(st, env, log, work, deadline)
            if st.rc is None:
                continue
            log.flush()
            with open(log_path) as fh:
                fh.seek(before)
                text = fh.read()
            if st.name.startswith("sft-qlora") and mode == "cpu":
                qlora_cpu_refusal(st, text)
            read_speed(st, text, work / "runs")
            if st.name == "sft-auto":
                auto_split(st, work / "runs")
            if st.rc != 0 and not st.note:
                lines = [x for x in text.splitlines() if x.strip() and not x.startswith(("-----", "====="))]
                errors = [x for x in lines if x.startswith("error:")]
                st.note = (errors[-1] if errors else lines[-1] if lines else "")[:160]
            print(f"  {st.name}: rc={st.rc} {st.wall:.1f}s {st.speed} {st.peak} {st.note}".rstrip(), flush=True)
    ours, ref = (next((s for s in steps if s.name == n), None) for n in ("sft", "sft-trl"))
    summary = []
    if ours and ref and ours.numbers.get("tokens_per_s") and ref.numbers.get("tokens_per_s"):
        ratio = ours.numbers["tokens_per_s"] / ref.numbers["tokens_per_s"]
        summary.append(f"SFT tok/s ours / plain TRL = {ratio:.2f}")
    ran = [s for s in steps if s.rc is not None]
    skipped = [s for s in steps if s.rc is None]
    ok = sum(s.ok for s in ran)
    text = table(steps)
    summary.append(f"whole run {time.time() - start:.0f} s (budget {BUDGET:.0f} s)")
    if skipped:
        summary.append(f"{len(skipped)} skipped: " + "; ".join(f"{s.name} ({s.note})" for s in skipped))
    final = f"gpu_check: {ok} of {len(ran)} steps ok"
    report = "\n".join([text, "", *summary, final])
    print(report, flush=True)
    (out / f"{stem}.txt").write_text(report + "\n")
    (out / f"{stem}.json").write_text(json.dumps({"env": info, "steps": [
        {"name": s.name, "rc": s.rc, "wall_s": round(s.wall, 2), "speed": s.speed, "peak": s.peak, "note": s.note,
         **s.numbers} for s in steps]}, indent=1))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok == len(ran) else 1


if __name__ == "__main__":
    raise SystemExit(main())
