"""Which policies can be evaluated: the base model, or any run that left a causal-LM adapter.

    policy_choices(ws)                     # [("base model", "base"), ("ppo-2026... (ppo, base tiny)", "ppo-2026..."), ...]
    resolve_policies(ws, ["base", "sft-..."], baseline="base", model="tiny")   # Policy(id, model, adapter) list

A run is a policy when it ended with an adapter (succeeded, or stopped after saving one) and that adapter is a
causal LM (PEFT task_type CAUSAL_LM, or a full *ForCausalLM model): SFT, DPO, PPO, GRPO, RLOO and any stage added
later are found the same way. Reward runs save a sequence-classification adapter and are left out by that test
(and by NOT_POLICY_STAGES, the one list of stage names here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core.errors import ConfigError
from playground.core.runs import adapter_dir, base_model, read_status, run_dir_of
from playground.core.workspace import Workspace

BASE = "base"
NOT_POLICY_STAGES = ("reward", "evaluate")  # stages whose adapter/ (if any) is not a policy


@dataclass(frozen=True)
class Policy:
    id: str  # "base" or a run id
    model: str  # the base model the adapter sits on
    adapter: str  # "" for the base model, else the run id (the generation code finds runs/<id>/adapter)


def is_policy_adapter(path: Path) -> bool:
    """True for a LoRA adapter of a causal LM, or a saved *ForCausalLM model."""
    try:
        if (path / "adapter_config.json").is_file():
            task = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("task_type")
            return task in (None, "CAUSAL_LM")
        if (path / "config.json").is_file():
            archs = json.loads((path / "config.json").read_text(encoding="utf-8")).get("architectures") or []
            return any(str(a).endswith("ForCausalLM") for a in archs)
    except (OSError, ValueError):
        return False
    return False


def _usable(run_dir: str | Path) -> bool:
    state = read_status(run_dir).get("state")
    return state == "succeeded" or (state == "stopped" and adapter_dir(run_dir) is not None)


def policy_runs(ws: Workspace) -> list[dict[str, Any]]:
    """Workspace runs (newest first) that ended with a causal-LM adapter."""
    try:
        runs = ws.runs()
    except Exception:  # noqa: BLE001 - a broken run row must not break a picker
        return []
    out = []
    for r in runs:
        if r["stage"] in NOT_POLICY_STAGES or not _usable(r["run_dir"]):
            continue
        ad = adapter_dir(r["run_dir"])
        if ad is not None and is_policy_adapter(ad):
            out.append(r)
    return out


def policy_choices(ws: Workspace) -> list[tuple[str, str]]:
    """("base model", "base") and every policy run as (label, run id)."""
    return [("base model", BASE), *[(f"{r['id']} ({r['stage']}, base {base_model(r['run_dir'])})", r["id"])
                                    for r in policy_runs(ws)]]


def _run_policy(ws: Workspace, run_id: str) -> Policy:
    row = ws.get_run(run_id)
    run_dir = Path(row["run_dir"]) if row else run_dir_of(run_id)
    if not run_dir.is_dir():
        raise ConfigError(f"policy '{run_id}': no such run (use 'base' or a finished SFT/DPO/PPO/GRPO/RLOO run id)")
    if (row and row["stage"] in NOT_POLICY_STAGES) or not _usable(run_dir):
        state = read_status(run_dir).get("state", "unknown")
        raise ConfigError(f"policy '{run_id}': the run is {state} or not a policy run (needs a finished policy run)")
    ad = adapter_dir(run_dir)
    if ad is None or not is_policy_adapter(ad):
        raise ConfigError(f"policy '{run_id}': the run left no causal-LM adapter")
    return Policy(run_id, base_model(run_dir), run_id)


def resolve_policies(ws: Workspace, ids: list[str], baseline: str, model: str) -> tuple[list[Policy], Policy]:
    """(the policies, the baseline), all on one base model: a run's own base, else `model` when only 'base' is
    named. ConfigError (one line) for an unknown or unfinished run, or runs on different base models."""
    ids = [i.strip() for i in ids if i and i.strip()]
    if not ids:
        raise ConfigError("policies: name at least one ('base' or a finished run id)")
    runs = {i: _run_policy(ws, i) for i in dict.fromkeys([*ids, baseline.strip() or BASE]) if i != BASE}
    bases = sorted({p.model for p in runs.values()})
    if len(bases) > 1:
        raise ConfigError(f"policies sit on different base models ({', '.join(bases)}): evaluate them separately")
    base = bases[0] if bases else (model or "bundled")
    base_policy = Policy(BASE, base, "")
    pick = {**runs, BASE: base_policy}
    return [pick[i] for i in dict.fromkeys(ids)], pick[baseline.strip() or BASE]
