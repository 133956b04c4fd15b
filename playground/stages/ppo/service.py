"""PPO services the tab and the CLI call: the sample table, the live expression check, the arena round setup.

No gradio here; the trainer is train.py (a subprocess), its maths core.py, its rule rewards rules.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from playground.core import builtin
from playground.core.expr import check_expression
from playground.core.runs import adapter_dir, base_model, read_jsonl, read_status
from playground.core.workspace import Workspace
from playground.stages.ppo.rules import RULES
from playground.stages.preferences.arena import BUILTIN_PROMPTS, ArenaSetup, PromptMode, SourceSetup
from playground.stages.reward.functions import split_specs

REWARD_RULES = [f"rule:{r}" for r in RULES]
ROUND_STATES = ("succeeded", "stopped")  # a stopped PPO run saves its adapter too
ROUND_STAGES = ("ppo", "grpo", "rloo")  # online runs whose policy an arena round compares with its reference


def samples_frame(run_dir: str | Path | None) -> pd.DataFrame:
    """One row per sample prompt: the response and score before training (update 0) and at the latest update."""
    cols = ["prompt", "before", "score before", "now", "score now", "update"]
    if not run_dir:
        return pd.DataFrame(columns=cols)
    rows = read_jsonl(Path(run_dir) / "samples.jsonl")
    if not rows:
        return pd.DataFrame(columns=cols)
    last = max(r["update"] for r in rows)
    before = {r["prompt"]: r for r in rows if r["update"] == 0}
    now = [r for r in rows if r["update"] == last]
    out = []
    for r in now:
        b = before.get(r["prompt"], {})
        out.append({"prompt": r["prompt"], "before": b.get("response", ""),
                    "score before": round(b["score"], 3) if "score" in b else None,
                    "now": r["response"], "score now": round(r["score"], 3), "update": last})
    return pd.DataFrame(out, columns=cols)


def expression_status(expr: str, reward: str) -> str:
    """The live check under the expression box: OK, the one-line reason, or nothing when unused."""
    if not (expr or "").strip():
        return "⚠️ rule:expr needs an expression (pick an example)." if reward == "rule:expr" else ""
    err = check_expression(expr)
    return f"⚠️ {err}" if err else "✅ expression OK"


def arena_round(ws: Workspace, run_id: str) -> ArenaSetup | str:
    """The arena setup that compares a finished PPO run's policy with its reference, or a one-line reason.

    Source 1 is the run's base model + its adapter, source 2 the reference PPO held the policy near: its SFT start
    (the same base + the SFT run's adapter) when it started from one, else the same base with no adapter; both sampled as in the rollouts (the run's temperature, top-p 1, response_length
    new tokens). Votes go to a pool named after the run (`ppo-<...>`, the run id). Prompts: the run's workspace
    dataset or the built-in prompts, in order; another built-in set's first prompt typed in the box. With an `rm:` reward, that reward model
    is the RM judge."""
    if not run_id:
        return "Pick a PPO run (or GRPO / RLOO run) to follow first."
    run = ws.get_run(run_id)
    if run is None or run.get("stage") not in ROUND_STAGES:
        return f"No PPO run '{run_id}' (nor GRPO / RLOO run) in this workspace."
    state = read_status(run["run_dir"]).get("state", "unknown")
    if state not in ROUND_STATES:
        return f"Run {run_id} is {state}: the arena round needs a run that has ended (succeeded or stopped)."
    if adapter_dir(run["run_dir"]) is None:
        return f"Run {run_id} has no adapter yet (a run saves adapter/ when it ends; Resume to finish it)."
    cfg = run["config"]
    base = base_model(run["run_dir"])
    temperature = min(2.0, max(0.0, float(cfg.get("temperature", 1.0))))
    tokens = max(1, min(512, int(cfg.get("response_length", cfg.get("max_completion_length", 24)))))
    start = str(cfg.get("sft_run") or "").strip()  # PPO's reference is its SFT start (ppo/train._fold_sft)
    sources = (SourceSetup(base, run_id, temperature, 1.0, tokens), SourceSetup(base, start, temperature, 1.0, tokens))
    prompts = str(cfg.get("prompts", BUILTIN_PROMPTS))
    if prompts == BUILTIN_PROMPTS or (not prompts.startswith("builtin:") and ws.has_dataset(prompts)):
        mode, dataset, prompt = PromptMode.IN_ORDER, prompts, None  # the round goes on through the run's prompts
    else:
        mode, dataset, prompt = PromptMode.TYPED, None, (builtin.prompts() or [""])[0]
    reward = str(cfg.get("reward", ""))
    # the first reward model among the run's rewards (GRPO / RLOO may list several: "rm:<id>, rule:length")
    judge = next((s[3:].strip() or None for s in split_specs(reward) if s.startswith("rm:")), None)
    stage = run["stage"]
    pool = run_id if run_id.startswith(f"{stage}-") else f"{stage}-{run_id}"  # ids are <stage>-<date>-... already
    return ArenaSetup(sources=sources, pool=pool, mode=mode, dataset=dataset, prompt=prompt, judge=judge,
                      adapter_run=run)
