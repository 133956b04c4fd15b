"""Model cards: a README.md that says how a model was made, for merged and pushed models.

    write_model_card("ppo-20261204-101500-ab12", folder, "adapter")   # folder/README.md (adapter or merged)

A model card follows the run's links back to where it started (`sft_run: <id>`, `reward: rm:<id>`, in each run's
config.yaml) and gives, for every stage of that chain (SFT -> RM -> PPO ...): its data (dataset names, row / pair
counts from result.json; the workspace's annotators and agreement for preference sets), every hyperparameter
(config.yaml as it ran), its final metrics (result.json and the last logged values), the evaluation numbers the
workspace stored for it (stages/evaluate), and the CLI command that reproduces it (core/jobs.cli_twin). The
front matter names the base model, the library and a licence field left for the user to fill in.
Exported data files get dataset cards from core/cards.py.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from playground import __version__
from playground.core.cards import LICENCE, annotator_lines, pool_stats
from playground.core.runs import read_config, read_metrics, read_result, run_dir_of
from playground.core.workspace import Workspace

STAGE_NAMES = {"sft": "SFT", "reward": "RM", "dpo": "DPO", "kto": "KTO", "ppo": "PPO", "grpo": "GRPO",
               "rloo": "RLOO"}
LIBRARIES = ("torch", "transformers", "trl", "peft")
SKIP_METRICS = {"step", "time", "elapsed", "max_steps", "epoch", "event"}


def _stage(run_dir: Path, result: dict[str, Any]) -> str:
    stage = str(result.get("stage") or "")
    if stage:
        return stage
    prefix = run_dir.name.split("-", 1)[0]
    return prefix if prefix in STAGE_NAMES else "run"


def _links(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, run id) of the runs this one was built on: its SFT start and its reward models."""
    out = []
    if str(cfg.get("sft_run") or "").strip():
        out.append(("start", str(cfg["sft_run"]).strip()))
    for part in str(cfg.get("reward") or "").split(","):
        if part.strip().startswith("rm:"):
            out.append(("reward", part.strip()[3:]))
    return out


def method_chain(run: str | Path) -> list[dict[str, Any]]:
    """Every run the model depends on, in training order (ancestors first), each once: {"id", "dir", "stage",
    "config", "result", "role"}."""
    order: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(ref: str, role: str) -> None:
        run_dir = run_dir_of(ref)
        key = str(run_dir.resolve())
        if key in seen:  # each run once (and a loop in broken configs ends here)
            return
        seen.add(key)
        cfg, result = read_config(run_dir), read_result(run_dir)
        for sub_role, sub in _links(cfg):
            visit(sub, sub_role)
        order.append({"id": run_dir.name, "dir": run_dir, "stage": _stage(run_dir, result), "config": cfg,
                      "result": result, "role": role})

    visit(str(run), "this model")
    return order


def chain_line(chain: list[dict[str, Any]]) -> str:
    return " → ".join(STAGE_NAMES.get(r["stage"], r["stage"]) for r in chain)


# ---- the data a run trained on ------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def preference_stats(ws: Workspace, pool: str | None) -> dict[str, Any]:
    """Judged pairs, annotators and agreement of a pool (None: every pool), from stages/preferences/pairs."""
    from playground.stages.preferences import pairs

    return pool_stats(ws, pool, pairs.annotator_stats, pairs.agreement)


def _data_lines(ws: Workspace, stage: str, cfg: dict[str, Any], result: dict[str, Any]) -> list[str]:
    name = str(cfg.get("dataset") or cfg.get("prompts") or "")
    out = [f"- data: `{name}`" if name else "- data: (not recorded)"]
    counts = [f"{k.replace('_', ' ')} {result[k]}" for k in ("train_rows", "eval_rows", "train_pairs", "eval_pairs",
                                                             "train_examples", "desirable", "undesirable")
              if isinstance(result.get(k), int)]
    if counts:
        out.append(f"- used: {', '.join(counts)}")
    if name.startswith("builtin:"):
        out.append("- a built-in set shipped inside the playground package")
    elif stage in ("reward", "dpo", "kto") and name:
        try:
            out += annotator_lines(preference_stats(ws, None if name.startswith("workspace") else name))
        except Exception as e:  # noqa: BLE001 - a card is still written when the workspace cannot say more
            out.append(f"- annotators: not available ({e})")
    elif name and ws.has_dataset(name):
        rows = ws.rows(name)
        by = Counter(str(r["meta"].get("annotator") or "") for r in rows if isinstance(r.get("meta"), dict))
        splits = Counter(r["split"] for r in rows)
        out.append(f"- workspace dataset: {len(rows)} rows ({', '.join(f'{k} {v}' for k, v in sorted(splits.items()))})")
        named = {k: v for k, v in by.items() if k}
        if named:
            out.append("- annotators: " + ", ".join(f"`{k}` {v}" for k, v in sorted(named.items())))
    return out


# ---- numbers a run left -------------------------------------------------------------------------------------
def final_metrics(run_dir: Path, result: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """result.json's numbers, then the last logged value of every other metric (not the hyperparameters again)."""
    skip = SKIP_METRICS | set(cfg)
    out: dict[str, Any] = {k: v for k, v in result.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in skip}
    last: dict[str, Any] = {}
    for row in read_metrics(run_dir):
        last.update((k, v) for k, v in row.items()
                    if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool))
    for k, v in last.items():
        out.setdefault(k, v)
    return out


def evaluation_lines(ws: Workspace, run_id: str) -> list[str]:
    """The workspace's stored evaluations of this run (stages/evaluate): win rate per judge, KL, reference scores."""
    out = []
    try:
        reports = ws.evaluations()
    except Exception:  # noqa: BLE001 - an older workspace: no evaluations
        return out
    for rep in reports:
        report = rep["report"]
        for r in report.get("results", []):
            if r.get("policy") == run_id:
                lo, hi = (r.get("ci") or [None, None])[:2]
                out.append(f"- evaluation {rep['id']} ({report.get('n')} prompts from {report.get('where')}): judge "
                           f"`{r.get('judge')}` vs `{r.get('baseline')}`: win rate {_fmt(r.get('win_rate'))} "
                           f"[{_fmt(lo)}, {_fmt(hi)}], mean score {_fmt(r.get('mean_score'))} (baseline "
                           f"{_fmt(r.get('baseline_score'))}), KL {_fmt(r.get('kl'))}, length {_fmt(r.get('length'))}")
        for r in report.get("reference", []):
            if r.get("policy") == run_id:
                out.append(f"- evaluation {rep['id']}: reference answers: perplexity {_fmt(r.get('ppl'))}, BLEU "
                           f"{_fmt(r.get('bleu'))}, ROUGE-L {_fmt(r.get('rougeL'))} (n {r.get('n')})")
    return out


def _reproduce(run: dict[str, Any]) -> str:
    from playground.core.jobs import cli_twin, launch_args

    n, acc = launch_args(run["config"])
    return cli_twin(run["stage"], f"runs/{run['id']}/config.yaml", n, acc)


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for lib in LIBRARIES:
        try:
            found.append(f"{lib} {version(lib)}")
        except PackageNotFoundError:
            continue
    return ", ".join(found)


def model_card(run: str | Path, what: str = "adapter") -> str:
    """The README.md of a run's `adapter` or `merged` model."""
    chain = method_chain(run)
    last = chain[-1]
    base = str(last["result"].get("base_model") or last["config"].get("model") or "bundled")
    from playground.core.models import BUNDLED_ALIASES

    hub_base = "HuggingFaceTB/SmolLM2-135M-Instruct" if base.lower() in BUNDLED_ALIASES else base
    stages = [r["stage"] for r in chain]
    ws = Workspace()
    lines = ["---", f"base_model: {hub_base}", f"library_name: {'peft' if what == 'adapter' else 'transformers'}",
             LICENCE,
             "tags:", "- rlhf-playground", *[f"- {s}" for s in dict.fromkeys(stages)],
             *(["- lora"] if what == "adapter" else []), "---", "",
             f"# {last['id']} ({'LoRA adapter' if what == 'adapter' else 'merged model'})", "",
             f"Made with the RLHF Playground {__version__} ({_versions()}).", "",
             f"- base model: `{base}`" + (f" (= {hub_base})" if hub_base != base else ""),
             f"- method chain: {chain_line(chain)}",
             f"- {'a LoRA adapter on the base model' if what == 'adapter' else 'the LoRA update merged into the base weights'}",
             ""]
    for i, r in enumerate(chain, 1):
        cfg, result = r["config"], r["result"]
        lines += [f"## {i}. {STAGE_NAMES.get(r['stage'], r['stage'])}: `{r['id']}` ({r['role']})", "",
                  "### Data", *_data_lines(ws, r["stage"], cfg, result), ""]
        links = _links(cfg)
        if links:
            lines += ["Built on: " + ", ".join(f"{role} `{rid}`" for role, rid in links), ""]
        metrics = final_metrics(r["dir"], result, cfg)
        if metrics:
            lines += ["### Final metrics", "", "| metric | value |", "| --- | --- |",
                      *[f"| {k} | {_fmt(v)} |" for k, v in metrics.items()], ""]
        evals = evaluation_lines(ws, r["id"])
        lines += ["### Evaluation", *(evals or ["- no stored evaluation of this run (stages/evaluate)"]), ""]
        lines += ["### Hyperparameters", "", "| field | value |", "| --- | --- |",
                  *[f"| {k} | {_fmt(v)} |" for k, v in cfg.items()], ""]
        lines += ["### Reproduce", "", "```bash", _reproduce(r), "```", ""]
    lines += ["(Run folders are under the workspace's `runs/`; each `config.yaml` above is the one the run used.)"]
    return "\n".join(lines) + "\n"


def write_model_card(run: str | Path, folder: str | Path, what: str = "adapter") -> Path:
    """folder/README.md for run's model (replacing PEFT's template card)."""
    out = Path(folder) / "README.md"
    out.write_text(model_card(run, what), encoding="utf-8")
    return out
