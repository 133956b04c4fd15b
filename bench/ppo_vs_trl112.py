"""Benchmark: our PPO (playground/train/ppo.py) vs TRL 1.12's `trl.experimental.ppo.PPOTrainer`.

    python bench/ppo_vs_trl112.py [--model tiny|bundled] [--updates 12] [--rounds 2] [--threads 1]

TRL deleted its PPOTrainer after 1.12, so trl==1.12.0 is installed with `pip install --no-deps --target
.cache/bench/trl112` (never into .venv, never a project dependency) and put first on sys.path only inside the
TRL child process. Both sides get the same model, prompts (builtin:prompts, same chat template), reward, LoRA,
rollout batch, mini-batch, response length, temperature, PPO epochs, learning rate (constant), KL coefficient,
clip ranges, gamma/lambda, seed and thread count. They run alternately (ours, TRL, ours, TRL...) in separate
subprocesses, so peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss` of each child) is per side.
Our child runs on the malloc our PPO job runs on: `python -m playground ppo` re-executes itself with tcmalloc
preloaded where it is installed (playground/core/alloc.py), so the child gets the same LD_PRELOAD; TRL's child
runs on glibc, as a plain TRL script does. `--parallel N` runs up to N seeds at once (each still ours, then TRL)
and then compares CPU seconds per update.

Reward: `rule:vocab_half` (share of response tokens with an even id; the only reward a random tiny model gets a
signal from, see bench/README.md). TRL needs a sequence-classification module (`base_model_prefix` backbone +
`score`, read at the last non-pad token), so the TRL side gets `VocabHalfRM`, a parameter-free module computing
the same share; the child checks on a random batch that TRL's own `get_reward` on it equals
`playground.train.rewards.vocab_half` before training. It needs the prompt width, which TRL's `get_reward` knows
but does not pass on: the one bench-only patch wraps `get_reward` to hand it `context_length`.

TRL gets the same LoRA (`peft_config`), so its reference is the adapter-off policy as ours; its value model is
TRL's design, a second full AutoModelForSequenceClassification (all weights trained). `--trl-no-peft` runs TRL
with a full policy and a full reference copy instead.

Printed: wall time per update (median over updates after the first, and mean), peak RSS, reward gain per update
((mean score of the last 3 updates - score of update 1) / (updates - 2)), the least-squares slope of the score
(shape-sensitive: lower for a curve that rises early and then levels off), first/last scores, and the ratios.
Targets: time <= 0.5x, memory <= 0.6x, reward gain >= TRL's.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRL_DIR = REPO / ".cache" / "bench" / "trl112"
TRL_VERSION = "1.12.0"


# ---- shared helpers ---------------------------------------------------------------------------------------
def slope(ys: list[float]) -> float:
    """Least-squares slope of ys against 1..n (reward gain per update)."""
    n = len(ys)
    if n < 2:
        return 0.0
    xm, ym = (n + 1) / 2, sum(ys) / n
    return sum((i + 1 - xm) * (y - ym) for i, y in enumerate(ys)) / sum((i + 1 - xm) ** 2 for i in range(n))


def gain(ys: list[float]) -> float:
    """Reward gained per update: (mean of the last 3 scores - the first score) / updates between them.

    The first score is the rollout of the untrained policy, the last three are averaged against noise, and
    their centre is update n-1, so the distance is n-2 updates. Unlike the least-squares slope this does not
    penalise a curve that rises early and then levels off."""
    n = len(ys)
    if n < 4:
        return slope(ys)
    return (sum(ys[-3:]) / 3 - ys[0]) / (n - 2)


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def ppo_cfg(c: dict):  # noqa: ANN201 - PPORun, imported lazily
    from playground.stages.registry import load_config

    reward = f"rm:{RM_RUN}" if c.get("reward") == "rm" else "rule:vocab_half"
    sets = [f"model={c['model']}", "device=cpu", f"seed={c['seed']}", f"reward={reward}",
            f"response_length={c['response_length']}", f"temperature={c['temperature']}",
            f"rollout_batch_size={c['batch']}", f"total_updates={c['updates']}",
            f"per_device_train_batch_size={c['mini']}", "gradient_accumulation_steps=1",
            f"ppo_epochs={c['epochs']}", f"learning_rate={c['lr']}", "lr_scheduler_type=constant",
            f"kl_coef={c['kl_coef']}", "kl_estimator=k1", "adaptive_kl=false", "missing_eos_penalty=0",
            "sample_every=0", "save_steps=0", "whiten_advantages=true", *c.get("ours_set", [])]
    preset = "smollm2-cpu.yaml" if c["model"] == "bundled" else "tiny-cpu.yaml"  # value_model etc. of that preset
    return load_config("ppo", REPO / "presets" / "ppo" / preset, sets)


# ---- the RM reward (--reward rm): a reward model made once with our own reward stage ------------------------
RM_HOME = REPO / ".cache" / "bench" / "rm-you"  # its own PLAYGROUND_HOME: workspace, runs/, merged model
RM_RUN = RM_HOME / "runs" / "reward-you"
RM_MERGED = RM_HOME / "merged-seqcls"  # the LoRA merged into a full AutoModelForSequenceClassification (TRL's side)
RM_CHECK = RM_HOME / "check.json"  # texts + our scorer's scores, which the TRL child must reproduce
RM_STEPS = 24
RM_SETS = ["dataset=you", f"max_steps={RM_STEPS}", "per_device_train_batch_size=4", "gradient_accumulation_steps=1",
           "learning_rate=1e-3", "warmup_steps=2", "eval_fraction=0", "save_steps=0", "device=cpu"]

# A synthetic preference set with one visible property: the chosen answer speaks to the reader ("you"), the
# rejected one says the same thing impersonally, with an opener of about the same length (so length does not
# separate them). The bundled model says "you" in some answers and not in others, so a policy can climb it.
_YOU = ["You can see that", "As you may know,", "If you look closely,", "You will notice that",
        "I think you will like this:", "Here is something for you:", "You might enjoy this:", "Trust me, you"]
_NEUTRAL = ["It is clear that", "As is well known,", "On closer inspection,", "One will notice that",
            "I think this is nice:", "Here is something short:", "This might be fine:", "Surely it"]
_CONTENT = ["the light changes slowly over the water.", "small things often matter the most.",
            "the morning is calm and the air is cool.", "a good friend listens more than they talk.",
            "trees grow slowly but stand for a long time.", "the sky looks blue because air scatters light.",
            "a warm drink makes a grey day better.", "the city hums softly long after midnight.",
            "kindness costs little and means a lot.", "the fox ran quietly through the tall grass.",
            "wind carries seeds far from where they fell.", "birds lift themselves with strong, curved wings.",
            "music is sound arranged with care and feeling.", "the mountain stands still above the clouds.",
            "simple food shared with others tastes best.", "a short greeting can brighten a whole day."]
_ENDS = (["Hope this helps you.", "Enjoy it, you deserve it.", "Let me know what you think."],
         ["Hope this helps a bit.", "Enjoy it, it is deserved.", "Let me know what is thought."])
# held-out texts not built from the templates above: does the score follow "you" beyond the training phrases?
_FREE = [("Tell me about the sea.", "You would love the sea at dawn, when the waves are slow and quiet.",
          "The sea at dawn is lovely, when the waves are slow and quiet."),
         ("Give advice for a rainy day.", "Stay in, make tea, and read the book you have been saving.",
          "Stay in, make tea, and read a book that has been waiting."),
         ("What is kindness?", "Kindness is what you do when you help someone expecting nothing back.",
          "Kindness is helping someone while expecting nothing back at all."),
         ("Describe a mountain.", "Picture yourself at the foot of a mountain: you feel very small.",
          "At the foot of a mountain, a person feels very small indeed."),
         ("How do birds fly?", "Birds flap their wings to push air down, which lifts them up, as you see.",
          "Birds flap their wings to push air down, which lifts them up into the air."),
         ("Write a greeting for a friend.", "Hello, my friend! I hope you are well and happy today.",
          "Hello, my friend! I hope all is well and happy today."),
         ("Describe the wind.", "The wind tugs at your coat and whistles past your ears.",
          "The wind tugs at a coat and whistles past the trees."),
         ("What is music?", "Music is sound that moves you, arranged in time with care.",
          "Music is sound that moves people, arranged in time with care.")]


def you_prefs(n: int = 240, seed: int = 0) -> list[dict]:
    """prompt/chosen/rejected rows (plain text), chosen addressing the reader, rejected the same content without."""
    import random

    from playground.core.builtin import prompts

    rng = random.Random(seed)
    ps = prompts()
    rows = []
    for i in range(n):
        k = rng.randrange(len(_YOU))
        body = " ".join(rng.sample(_CONTENT, 2))
        end = rng.randrange(len(_ENDS[0])) if rng.random() < 0.5 else None
        chosen = f"{_YOU[k]} {body}" + (f" {_ENDS[0][end]}" if end is not None else "")
        rejected = f"{_NEUTRAL[k]} {body}" + (f" {_ENDS[1][end]}" if end is not None else "")
        rows.append({"prompt": ps[i % len(ps)], "chosen": chosen, "rejected": rejected})
    return rows


def ensure_rm() -> None:
    """Train (once) the bench's reward model with our reward stage, then merge it for TRL and record the check."""
    if RM_MERGED.joinpath("config.json").is_file() and RM_CHECK.is_file():
        return
    env = dict(os.environ, PLAYGROUND_HOME=str(RM_HOME), PYTHONPATH=str(REPO))
    if not (RM_RUN / "result.json").is_file():
        import shutil

        shutil.rmtree(RM_HOME, ignore_errors=True)  # a fresh workspace: the pairs are imported once
        RM_HOME.mkdir(parents=True)
        data = RM_HOME / "you_prefs.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in you_prefs()), encoding="utf-8")
        py = [sys.executable, "-m", "playground"]
        print(f"making the bench reward model in {RM_RUN} ({RM_STEPS} steps of our reward stage)", flush=True)
        subprocess.run([*py, "prefs", "import", str(data), "--pool", "you", "--strict"], cwd=REPO, env=env,
                       check=True)
        # the smollm2-cpu reward preset, shortened for a 2-core box: RM_STEPS steps of 4 pairs, no eval split
        # (child_rmprep measures held-out pairs instead)
        subprocess.run([*py, "reward", "--config", str(REPO / "presets" / "reward" / "smollm2-cpu.yaml"),
                        *[x for kv in RM_SETS for x in ("--set", kv)], "--run-dir", str(RM_RUN)],
                       cwd=REPO, env=env, check=True)
    subprocess.run([sys.executable, __file__, "--child", "rmprep", "--cfg", "{}", "--work", str(RM_HOME)],
                   cwd=REPO, env=env, check=True)


def child_rmprep() -> dict:
    """Our scorer on held-out texts (does the score follow "you"?), then the merged seq-cls model for TRL."""
    from playground.stages.reward import service

    model, tok = service.load_reward_model(str(RM_RUN), "cpu")
    held = you_prefs(24, seed=1)  # same templates, other draws
    s_c = service.score_batch(model, tok, [r["prompt"] for r in held], [r["chosen"] for r in held])
    s_r = service.score_batch(model, tok, [r["prompt"] for r in held], [r["rejected"] for r in held])
    f_c = service.score_batch(model, tok, [p for p, _, _ in _FREE], [c for _, c, _ in _FREE])
    f_r = service.score_batch(model, tok, [p for p, _, _ in _FREE], [r for _, _, r in _FREE])
    report = {
        "template_pairs_accuracy": sum(c > r for c, r in zip(s_c, s_r)) / len(held),
        "template_mean_you": statistics.mean(s_c), "template_mean_no_you": statistics.mean(s_r),
        "free_pairs_accuracy": sum(c > r for c, r in zip(f_c, f_r)) / len(_FREE),
        "free_mean_you": statistics.mean(f_c), "free_mean_no_you": statistics.mean(f_r),
    }
    print("RM check (our scorer): " + ", ".join(f"{k} {v:.3f}" for k, v in report.items()), flush=True)
    # texts TRL's get_reward must score the same: free texts, an empty answer, and one longer than max_length
    long_resp = " ".join(["You keep walking and the road keeps going."] * 60)
    texts = [(p, c) for p, c, _ in _FREE] + [(p, r) for p, _, r in _FREE[:4]]
    texts += [("Describe a quiet morning.", ""), ("What makes a good friend?", long_resp)]
    ours = service.score_batch(model, tok, [p for p, _ in texts], [r for _, r in texts])
    merged = model.merge_and_unload()
    merged.config.pad_token_id = tok.pad_token_id
    merged.save_pretrained(str(RM_MERGED))
    tok.save_pretrained(str(RM_MERGED))
    check = {"max_length": int(service.run_result(str(RM_RUN)).get("max_length") or 1024), "report": report,
             "texts": [{"prompt": p, "response": r, "score": s} for (p, r), s in zip(texts, ours)]}
    RM_CHECK.write_text(json.dumps(check, indent=1), encoding="utf-8")
    return report


# ---- our side (child) -------------------------------------------------------------------------------------
def child_ours(c: dict, work: Path) -> dict:
    from playground.stages.ppo.train import PPOTrainer

    cfg = ppo_cfg(c)
    tr = PPOTrainer(cfg, work / "ours")
    rss_loaded = peak_rss_mb()
    times, cpu, scores, kls = [], [], [], []
    for _ in range(cfg.total_updates):
        t0, c0 = time.perf_counter(), time.process_time()
        m = tr.update()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        scores.append(m["score"])
        kls.append(m["kl"])
        print(f"  ours update {len(times)}: score {m['score']:.3f} kl {m['kl']:.2f} {times[-1]:.2f}s", flush=True)
    from playground.core import alloc

    return {"times": times, "cpu": cpu, "scores": scores, "kls": kls, "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": peak_rss_mb(), "allocator": alloc.in_use()}


# ---- TRL side (child) -------------------------------------------------------------------------------------
def make_vocab_half_rm(pad_id: int):  # noqa: ANN201 - nn.Module, torch imported lazily
    from types import SimpleNamespace

    import torch

    class Backbone(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.context_length = 0

        def forward(self, input_ids, attention_mask, **_: object):  # noqa: ANN001, ANN202
            ctx = self.context_length
            resp, valid = input_ids[:, ctx:], attention_mask[:, ctx:].float()
            even = ((resp % 2) == 0).float() * valid
            share = even.cumsum(1) / valid.cumsum(1).clamp(min=1)
            h = torch.zeros(input_ids.shape[0], input_ids.shape[1], 1)
            h[:, ctx:, 0] = share
            return SimpleNamespace(hidden_states=[h])

    class VocabHalfRM(torch.nn.Module):
        """Sequence-classification-shaped vocab_half: the value at the last response token is the even-id share."""

        base_model_prefix = "backbone"

        def __init__(self) -> None:
            super().__init__()
            self.backbone = Backbone()
            self.score = torch.nn.Identity()
            self.pad_id = pad_id

    return VocabHalfRM()


def vocab_half_for_trl(tok, orig_get_reward):  # noqa: ANN001, ANN201
    """(VocabHalfRM, get_reward) for TRL, checked against our rule on a random batch."""
    import torch

    from playground.stages.ppo.rules import vocab_half

    rm = make_vocab_half_rm(tok.pad_token_id)

    # the one patch: hand the prompt width to VocabHalfRM (TRL's get_reward knows it, the module call does not)
    def get_reward(model, query_responses, pad_token_id, context_length):  # noqa: ANN001, ANN202
        if model is rm:
            rm.backbone.context_length = context_length
        return orig_get_reward(model, query_responses, pad_token_id, context_length)

    # self-check: TRL's reward path on VocabHalfRM == our rule, including EOS-truncated and empty responses
    g = torch.Generator().manual_seed(1)
    q = torch.randint(0, 1000, (8, 5), generator=g)
    r = torch.randint(0, 1000, (8, 6), generator=g)
    r[1, 3:] = tok.pad_token_id
    r[2, :] = tok.pad_token_id
    _, got, _ = get_reward(rm, torch.cat([q, r], 1), tok.pad_token_id, 5)
    ids = [row[: row.index(tok.pad_token_id)] if tok.pad_token_id in row else row for row in r.tolist()]
    want = torch.tensor(vocab_half([None] * 8, [""] * 8, ids))
    if not torch.allclose(got, want):
        raise SystemExit(f"VocabHalfRM disagrees with rewards.vocab_half: {got.tolist()} vs {want.tolist()}")
    return rm, get_reward


def rm_reward_for_trl(tok, cfg, orig_get_reward):  # noqa: ANN001, ANN201
    """(merged seq-cls RM, get_reward) for TRL, checked against our scorer's stored scores.

    The bench-only patch: for the reward model, TRL's get_reward gets the text formatted as our scorer formats
    it (stages/reward/service.encode: prompt messages + one assistant message through the chat template, fitted
    into the RM's max_length). TRL's own layout (left-padded query ids + raw response ids, pad = EOS = <|im_end|>)
    would mask every <|im_end|> inside the chat-formatted prompt as padding and read the score at the last
    response token instead of after the assistant turn's end: another input than the RM was trained on.
    So each row is decoded (prompt messages by their token ids, response up to the first EOS/pad, special tokens
    skipped, as our trainer's _decode), re-encoded, right-padded with an id that occurs in no row, and TRL's
    unmodified get_reward reads the merged model's score at the last real token."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from playground.core.builtin import prompts
    from playground.stages.reward.service import encode

    check = json.loads(RM_CHECK.read_text(encoding="utf-8"))
    max_length = check["max_length"]
    rm = AutoModelForSequenceClassification.from_pretrained(str(RM_MERGED), num_labels=1, dtype=torch.float32)
    rm.config.pad_token_id = tok.pad_token_id
    rm.eval()
    eos = tok.eos_token_id

    def prompt_ids(text: str) -> list[int]:
        out = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
        out = out["input_ids"] if hasattr(out, "keys") else out
        return list(out)[-cfg.max_prompt_length:]

    prompt_of = {tuple(prompt_ids(t)): [{"role": "user", "content": t}] for t in prompts()}

    def reformat(query_responses, pad_token_id, context_length):  # noqa: ANN001, ANN202
        rows = []
        for row in query_responses.tolist():
            q, r = row[:context_length], row[context_length:]
            start = next((i for i, t in enumerate(q) if t != pad_token_id), len(q))  # left padding only
            end = next((i for i, t in enumerate(r) if t in (pad_token_id, eos)), len(r))
            text = tok.decode(r[:end], skip_special_tokens=True)
            rows.append(encode(tok, prompt_of[tuple(q[start:])], text, max_length))
        used = {t for x in rows for t in x}
        sentinel = next(i for i in range(len(tok) - 1, -1, -1) if i not in used)
        ids = torch.full((len(rows), max(len(x) for x in rows)), sentinel, dtype=torch.long)
        for i, x in enumerate(rows):
            ids[i, :len(x)] = torch.tensor(x)
        return ids, sentinel

    def get_reward(model, query_responses, pad_token_id, context_length):  # noqa: ANN001, ANN202
        if model is rm:
            ids, sentinel = reformat(query_responses, pad_token_id, context_length)
            with torch.no_grad():
                return orig_get_reward(model, ids.to(query_responses.device), sentinel, 0)
        return orig_get_reward(model, query_responses, pad_token_id, context_length)

    # self-check: TRL's rollout layout through the patched get_reward == our scorer (stored by ensure_rm)
    items = check["texts"]
    qs = [prompt_ids(x["prompt"]) for x in items]
    rs = [tok(x["response"], add_special_tokens=False)["input_ids"] + [eos] for x in items]
    qw, rw = max(map(len, qs)), max(map(len, rs))
    pad = tok.pad_token_id
    qr = torch.tensor([[pad] * (qw - len(q)) + q + r + [pad] * (rw - len(r)) for q, r in zip(qs, rs)])
    _, got, _ = get_reward(rm, qr, pad, qw)
    want = torch.tensor([x["score"] for x in items])
    with torch.no_grad():
        _, raw, _ = orig_get_reward(rm, qr, pad, qw)
    diff, raw_diff = (got - want).abs().max().item(), (raw - want).abs().max().item()
    print(f"  RM check: patched get_reward vs our scorer on {len(items)} texts: max |diff| {diff:.2e} "
          f"(unpatched TRL layout: {raw_diff:.3f}; scores span {want.min():.2f}..{want.max():.2f})", flush=True)
    if diff > 1e-3:
        raise SystemExit(f"merged RM via TRL disagrees with our scorer: {got.tolist()} vs {want.tolist()}")
    return rm, get_reward


def child_trl(c: dict, work: Path) -> dict:
    sys.path.insert(0, str(TRL_DIR))
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback

    if trl.__version__ != TRL_VERSION:
        raise SystemExit(f"expected trl {TRL_VERSION} from {TRL_DIR}, got {trl.__version__} from {trl.__file__}")
    try:
        from trl.experimental.ppo import PPOConfig, PPOTrainer
        from trl.experimental.ppo import ppo_trainer as ppo_mod
    except Exception as e:  # noqa: BLE001 - the report must say why, not crash with a traceback
        raise SystemExit(f"TRL {TRL_VERSION} PPO does not import here: {type(e).__name__}: {e}") from None

    from playground.core import models
    from playground.core.builtin import prompts

    cfg = ppo_cfg(c)
    torch.manual_seed(c["seed"])
    spec = models.resolve(c["model"])
    tok = models.load_tokenizer(spec)
    tok.padding_side = "left"
    orig_get_reward = ppo_mod.get_reward
    if c.get("reward") == "rm":
        rm, get_reward = rm_reward_for_trl(tok, cfg, orig_get_reward)
    else:
        rm, get_reward = vocab_half_for_trl(tok, orig_get_reward)
    ppo_mod.get_reward = get_reward

    # prompts: the same chat-formatted token ids our trainer uses (last max_prompt_length tokens)
    rows = []
    for text in prompts():
        msgs = [{"role": "user", "content": text}]
        out = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        out = out["input_ids"] if hasattr(out, "keys") else out
        rows.append(list(out)[-cfg.max_prompt_length:])
    reps = max(2, -(-2 * c["batch"] // len(rows)))  # TRL's loader drops the last partial batch: need >= batch rows
    train = Dataset.from_dict({"input_ids": rows * reps})

    policy = models.load_causal_lm(spec, "cpu")
    value = models.load_reward_lm(spec, "cpu")
    value.config.pad_token_id = tok.pad_token_id
    peft_config = None if c["trl_no_peft"] else models.lora_config(cfg)
    args = PPOConfig(
        output_dir=str(work / "trl"), report_to=[], use_cpu=True, save_strategy="no", logging_steps=1,
        disable_tqdm=True, seed=c["seed"], bf16=False,
        learning_rate=c["lr"], lr_scheduler_type="constant", adam_epsilon=1e-5, weight_decay=0.0,
        # batch layout = ours: rollout batch `batch`, mini-batches of `mini`, one optimiser step per mini-batch
        per_device_train_batch_size=c["batch"], gradient_accumulation_steps=1,
        num_mini_batches=c["batch"] // c["mini"], num_ppo_epochs=c["epochs"],
        local_rollout_forward_batch_size=c["mini"], total_episodes=c["updates"] * c["batch"],
        response_length=c["response_length"], temperature=c["temperature"], stop_token="eos",
        missing_eos_penalty=None, kl_coef=c["kl_coef"], kl_estimator="k1", cliprange=cfg.cliprange,
        cliprange_value=cfg.cliprange_value, vf_coef=cfg.vf_coef, gamma=cfg.gamma, lam=cfg.lam,
        whiten_rewards=False, num_sample_generations=0,
    )

    times, cpu, scores, kls = [], [], [], []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k) -> None:  # noqa: ANN002, ANN003
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_log(self, args, state, control, logs=None, **k) -> None:  # noqa: ANN001, ANN003
            if logs and "objective/scores" in logs:
                scores.append(logs["objective/scores"])
                kls.append(logs["objective/kl"])

        def on_step_end(self, *a, **k) -> None:  # noqa: ANN002, ANN003
            now, now_cpu = time.perf_counter(), time.process_time()
            times.append(now - self.t)
            cpu.append(now_cpu - self.c)
            self.t, self.c = now, now_cpu
            print(f"  trl  update {len(times)}: score {scores[-1]:.3f} kl {kls[-1]:.2f} {times[-1]:.2f}s", flush=True)

    trainer = PPOTrainer(args=args, processing_class=tok, model=policy, ref_model=None, reward_model=rm,
                         train_dataset=train, value_model=value, peft_config=peft_config, callbacks=[Clock()])
    rss_loaded = peak_rss_mb()
    trainer.train()
    return {"times": times, "cpu": cpu, "scores": scores, "kls": kls, "rss_loaded_mb": rss_loaded,
            "peak_rss_mb": peak_rss_mb()}


# ---- parent -----------------------------------------------------------------------------------------------
def ensure_trl() -> None:
    if (TRL_DIR / "trl" / "experimental" / "ppo" / "ppo_trainer.py").is_file():
        return
    print(f"installing trl=={TRL_VERSION} into {TRL_DIR} (bench only, --no-deps)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(TRL_DIR),
                    f"trl=={TRL_VERSION}"], check=True)


def run_child(side: str, c: dict, work: Path, tag: str = "") -> dict:
    env = dict(os.environ, PLAYGROUND_HOME=str(work), OMP_NUM_THREADS=str(c["threads"]),
               MKL_NUM_THREADS=str(c["threads"]), PYTHONPATH=str(REPO))
    if side == "ours":  # the malloc our PPO job runs on (`python -m playground ppo` re-executes on tcmalloc)
        sys.path.insert(0, str(REPO))
        from playground.core import alloc

        lib = alloc.find_tcmalloc() if alloc.wanted() else None
        if lib:
            env.update(LD_PRELOAD=lib, **{alloc.MARK: "1"})
    t0 = time.time()
    # stdout streams (per-update lines show while a long run goes on); stderr goes to a file, its tail on failure
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, __file__, "--child", side, "--cfg", json.dumps(c), "--work",
                                 str(work)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        lines = []
        for ln in proc.stdout:
            lines.append(ln.rstrip("\n"))
            if not ln.startswith(("RESULT ", "{'eps'", "===training")):  # TRL's own per-step log dicts: noise here
                print(tag + ln.rstrip("\n"), flush=True)
        proc.wait()
        err.seek(0)
        stderr = err.read()
    wall = time.time() - t0
    res = [ln for ln in lines if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not res:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{side} side failed (exit {proc.returncode}):\n{tail}")
    out = json.loads(res[-1][7:])
    out["wall_s"] = wall
    return out


def summary(runs: list[dict]) -> dict:
    per_update = [t for r in runs for t in r["times"][1:]]  # the first update pays one-off warm-up costs
    return {
        "s_per_update_median": statistics.median(per_update),
        "s_per_update_mean": statistics.mean(t for r in runs for t in r["times"]),
        # CPU seconds (all the child's threads): the same work measure when rounds share the machine (--parallel)
        "cpu_s_per_update_median": statistics.median(t for r in runs for t in r["cpu"][1:]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "rss_loaded_mb": max(r["rss_loaded_mb"] for r in runs),
        "gain_per_update": statistics.mean(gain(r["scores"]) for r in runs),
        "slope_per_update": statistics.mean(slope(r["scores"]) for r in runs),
        "first": statistics.mean(r["scores"][0] for r in runs),
        "last": statistics.mean(statistics.mean(r["scores"][-3:]) for r in runs),
        "mean_score": statistics.mean(statistics.mean(r["scores"]) for r in runs),
        "kl_last": statistics.mean(r["kls"][-1] for r in runs),
        "wall_s": statistics.mean(r["wall_s"] for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--reward", choices=["rule", "rm"], default="rule",
                    help="rule: rule:vocab_half (default); rm: the bench's reward model (made once, see ensure_rm)")
    ap.add_argument("--updates", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2, help="ours/TRL pairs, alternated")
    ap.add_argument("--batch", type=int, default=64, help="rollout batch (prompts per update)")
    ap.add_argument("--mini", type=int, default=16, help="mini-batch per optimiser step")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--response-length", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl-coef", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=1, metavar="N",
                    help="run up to N rounds (seeds) at the same time, each ours then TRL; CPU s/update is the "
                         "time measure then (each TRL child peaks at ~6.6 GB on the bundled model)")
    ap.add_argument("--trl-no-peft", action="store_true", help="TRL with a full policy + full reference copy")
    ap.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra PPORun override for our side only (ablations), e.g. --ours-set max_grad_norm=1e9")
    ap.add_argument("--sides", default="ours,trl", help="which sides to run: ours,trl (default), ours or trl")
    ap.add_argument("--child", choices=["ours", "trl", "rmprep"], help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))

    if a.child:
        c, work = json.loads(a.cfg), Path(a.work)
        if a.child == "rmprep":
            child_rmprep()
            return
        res = child_ours(c, work) if a.child == "ours" else child_trl(c, work)
        print("RESULT " + json.dumps(res), flush=True)
        return

    c = {"model": a.model, "reward": a.reward, "updates": a.updates, "batch": a.batch, "mini": a.mini,
         "epochs": a.epochs, "response_length": a.response_length, "temperature": a.temperature, "lr": a.lr,
         "kl_coef": a.kl_coef, "threads": a.threads, "seed": a.seed, "trl_no_peft": a.trl_no_peft,
         "ours_set": a.ours_set}
    sides = {x.strip() for x in a.sides.split(",") if x.strip()}
    if not sides or sides - {"ours", "trl"}:
        raise SystemExit("--sides takes ours, trl or ours,trl")
    if a.batch % a.mini:
        raise SystemExit("--batch must be a multiple of --mini")
    if "trl" in sides:
        ensure_trl()
    if a.reward == "rm":
        ensure_rm()
        print("RM check (our scorer, made once): " + ", ".join(
            f"{k} {v:.3f}" for k, v in json.loads(RM_CHECK.read_text(encoding="utf-8"))["report"].items()), flush=True)
    print(f"config: {json.dumps(c)}", flush=True)
    ours, theirs = [], []

    def one_round(i: int, tmp: str) -> dict:
        ci = {**c, "seed": a.seed + i}  # each round a different seed: real repeats, same seed on both sides
        tag = f"[seed {ci['seed']}] " if a.parallel > 1 else ""
        out = {}
        for side in ("ours", "trl"):
            if side in sides:
                r = out[side] = run_child(side, ci, Path(tmp) / f"{side}-{i}", tag)
                med = statistics.median(r["times"][1:] or r["times"])
                print(f"round {i} (seed {ci['seed']}): {side} {med:.2f} s/update (median, >=2nd), "
                      f"malloc {r.get('allocator', 'glibc')}, "
                      f"{statistics.median(r['cpu'][1:] or r['cpu']):.2f} CPU s/update, "
                      f"{r['peak_rss_mb']:.0f} MB, gain {gain(r['scores']):.4f}, slope {slope(r['scores']):.4f}, "
                      f"last-3 {statistics.mean(r['scores'][-3:]):.3f}, KL last {r['kls'][-1]:.2f}, "
                      f"load {Path('/proc/loadavg').read_text().split()[0]}, scores "
                      + " ".join(f"{x:.3f}" for x in r["scores"]), flush=True)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        if a.parallel > 1:  # rounds side by side, each still ours then TRL: both sides share the machine alike
            with ThreadPoolExecutor(a.parallel) as pool:
                done = list(pool.map(lambda i: one_round(i, tmp), range(a.rounds)))
        else:
            done = [one_round(i, tmp) for i in range(a.rounds)]
    for d in done:
        if "ours" in d:
            ours.append(d["ours"])
        if "trl" in d:
            theirs.append(d["trl"])
    if len(sides) == 1:
        one = summary(ours or theirs)
        print(f"\n{next(iter(sides))} only: " + ", ".join(f"{k} {v:.4f}" for k, v in one.items()))
        return
    o, t = summary(ours), summary(theirs)
    print(f"\nmodel={a.model} reward={a.reward} updates={a.updates} rounds={a.rounds} batch={a.batch} mini={a.mini} "
          f"epochs={a.epochs} "
          f"response_length={a.response_length} T={a.temperature} threads={a.threads} "
          f"{f'up to {a.parallel} rounds at once ' if a.parallel > 1 else ''}"
          f"TRL {'full policy+ref' if a.trl_no_peft else 'LoRA policy, adapter-off ref, full value model'}")
    print(f"{'':28}{'ours':>12}{'TRL 1.12':>12}{'ours/TRL':>10}   target")
    rows = [("s/update (median, >=2nd)", "s_per_update_median", "<= 0.5"),
            ("s/update (mean, all)", "s_per_update_mean", ""),
            ("CPU s/update (median, >=2nd)", "cpu_s_per_update_median", ""),
            ("peak RSS MB", "peak_rss_mb", "<= 0.6"),
            ("RSS after load MB", "rss_loaded_mb", ""),
            ("reward gain / update", "gain_per_update", ">= 1.0"),
            ("least-squares slope", "slope_per_update", ""),
            ("score first update", "first", ""),
            ("score last 3 updates", "last", ""),
            ("mean score over all updates", "mean_score", ""),
            ("KL last update (nats)", "kl_last", ""),
            ("child wall s", "wall_s", "")]
    for label, k, target in rows:
        # a ratio of slopes means nothing when TRL's is <= 0 (then ours >= TRL's iff ours >= it, shown as such)
        ratio = f"{o[k] / t[k]:10.2f}" if t[k] > 0 else f"{'n/a':>10}"
        print(f"{label:28}{o[k]:12.4f}{t[k]:12.4f}{ratio}   {target}")
    when = "cpu_s_per_update_median" if a.parallel > 1 else "s_per_update_median"  # wall time is shared then
    ok = {"time": o[when] <= 0.5 * t[when],
          "memory": o["peak_rss_mb"] <= 0.6 * t["peak_rss_mb"],
          "reward gain": o["gain_per_update"] >= t["gain_per_update"]}
    print("targets: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in ok.items()))


if __name__ == "__main__":
    main()
