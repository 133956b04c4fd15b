"""Reward-model tab: train an RM on the votes (a job), watch it live, then inspect it before PPO uses it.

Sections: the train form (preset picker, dataset: builtin:prefs / workspace / one pool), start / stop /
resume, the live plot with the Bradley-Terry objective beside it; Inspect (score any prompt + response,
agreement with the human votes overall and per annotator, the length-bias check, the most-wrong pairs);
and DPO, the alternative that learns from the same pairs without a reward model.

Handlers take plain values and call services (jobs, playground.rm); training runs in a subprocess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from playground.core.config import DPORun, RewardRun
from playground.core.paths import PRESETS_DIR
from playground.core.runs import read_metrics
from playground.stages.trainer import DataError
from playground.ui.context import AppContext
from playground.ui.widgets.forms import ConfigForm, config_form, default_preset, list_presets, load_preset
from playground.ui.widgets.live import PlotSpec
from playground.ui.widgets.run_panel import run_choices, run_panel, wire_presets

OBJECTIVE = r"""**Objective: Bradley–Terry pairwise loss**

$$\mathcal{L}_{\text{RM}} = -\log \sigma\big(r(x, y_c) - r(x, y_r)\big)$$

$y_c$ is the answer the human chose, $y_r$ the one rejected. The head outputs one number per answer. The loss only cares about the *difference*: it pushes the
reward of the answer the human picked above the other one. **Accuracy** is the share of pairs where
$r(x, y_c) > r(x, y_r)$ (0.5 = chance); **margin** is the mean $r(x, y_c) - r(x, y_r)$. Trust the
held-out (eval) accuracy: train accuracy near 1 with flat eval accuracy means it memorised the votes."""

PLOTS = [
    PlotSpec("Loss", ["loss", "eval_loss"], "BT loss", "−log σ(r_chosen − r_rejected); 0.69 is a coin flip"),
    PlotSpec("Accuracy", ["accuracy", "eval_accuracy"], "accuracy",
             "share of pairs where the chosen answer scores higher (eval = held-out pairs)"),
    PlotSpec("Margin", ["margin", "eval_margin"], "r_c − r_r", "mean reward gap between chosen and rejected"),
    PlotSpec("Reward scale", ["mean_reward", "min_reward", "max_reward"], "reward",
             "where the rewards sit; PPO prefers them centred near 0"),
]

GROUPS = [
    ("Model & data", ["model", "dataset", "max_length", "eval_fraction", "center_rewards_coefficient"]),
    ("LoRA (the score head is always trained in full)", ["use_lora", "lora_r", "lora_alpha", "lora_dropout",
                                                         "lora_target_modules"]),
    ("Training", ["learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "eval_steps", "save_steps", "seed"]),
    ("Launch", ["device", "num_processes", "accelerate_config"]),
]
FIELDS = [n for _, names in GROUPS for n in names]

DPO_OBJECTIVE = r"""**Objective: DPO (no reward model)**

$$\mathcal{L}_{\text{DPO}} = -\log \sigma\Big(\beta \big[\log\tfrac{\pi_\theta(y_c|x)}{\pi_{\text{ref}}(y_c|x)}
- \log\tfrac{\pi_\theta(y_r|x)}{\pi_{\text{ref}}(y_r|x)}\big]\Big)$$

The policy itself plays the reward model: $\beta \log \frac{\pi_\theta}{\pi_{\text{ref}}}$ is its implicit
reward. The reference $\pi_{\text{ref}}$ is the same model with the LoRA adapter off (or the SFT model).
**Reward accuracy**: share of pairs whose implicit reward ranks the chosen answer first; **margin**: the
mean gap. Larger β keeps the policy closer to the reference."""

DPO_PLOTS = [
    PlotSpec("DPO loss", ["loss", "eval_loss"], "loss", "the DPO loss; 0.69 = no preference learned yet"),
    PlotSpec("Implicit reward accuracy", ["rewards/accuracies", "eval_rewards/accuracies"], "accuracy",
             "share of pairs where β·log-ratio ranks the chosen answer first"),
    PlotSpec("Implicit reward margin", ["rewards/margins", "eval_rewards/margins"], "margin",
             "mean β·(log-ratio chosen − log-ratio rejected)"),
    PlotSpec("Implicit rewards", ["rewards/chosen", "rewards/rejected"], "β·log-ratio",
             "chosen should rise, rejected fall"),
]
DPO_GROUPS = [
    ("Model & data", ["model", "sft_run", "dataset", "max_length", "eval_fraction", "beta"]),
    ("LoRA", ["use_lora", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"]),
    ("Training", ["learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                  "gradient_accumulation_steps", "eval_steps", "save_steps", "seed"]),
    ("Launch", ["device", "num_processes", "accelerate_config"]),
]
DPO_FIELDS = [n for _, names in DPO_GROUPS for n in names]

BUILTIN_SOURCE = "builtin:prefs (synthetic)"
ALL_POOLS = "workspace (all pools)"


def dataset_choices(ctx: AppContext) -> list[str]:
    return ["builtin:prefs", "workspace", *ctx.ws.pools()]


def pair_sources(ctx: AppContext) -> list[str]:
    return [ALL_POOLS, *[f"pool: {p}" for p in ctx.ws.pools()], BUILTIN_SOURCE]


def runs_table(ctx: AppContext) -> pd.DataFrame:
    cols = ["run", "state", "model", "dataset", "steps", "last loss", "eval accuracy"]
    rows = []
    for r in ctx.runs("reward"):
        m = read_metrics(r["run_dir"])
        losses = [x["loss"] for x in m if "loss" in x]
        evals = [x["eval_accuracy"] for x in m if "eval_accuracy" in x]
        rows.append({"run": r["id"], "state": r["state"], "model": r["config"].get("model"),
                     "dataset": r["config"].get("dataset"), "steps": max((x["step"] for x in m), default=0),
                     "last loss": round(losses[-1], 4) if losses else None,
                     "eval accuracy": round(evals[-1], 3) if evals else None})
    return pd.DataFrame(rows, columns=cols)


def _short(text: Any, n: int = 140) -> str:
    from playground.stages.reward.service import _response_text, prompt_text

    s = prompt_text(text) if isinstance(text, list) and text and text[0].get("role") == "user" else (
        _response_text(text) if isinstance(text, list) else str(text))
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def agreement_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"annotator": r["annotator"], "pairs": r["pairs"], "RM agrees": r["agree"],
                          "agreement": f"{r['agreement']:.0%}" if r["pairs"] else "–"} for r in rows],
                        columns=["annotator", "pairs", "RM agrees", "agreement"])


def wrong_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["pair", "annotator", "prompt", "human chose", "RM preferred", "r(chosen)", "r(rejected)", "margin"]
    return pd.DataFrame([{"pair": r.get("id", ""), "annotator": r.get("annotator", ""),
                          "prompt": _short(r["prompt"], 80), "human chose": _short(r["chosen"]),
                          "RM preferred": _short(r["rejected"]), "r(chosen)": round(r["r_chosen"], 3),
                          "r(rejected)": round(r["r_rejected"], 3), "margin": round(r["margin"], 3)}
                         for r in rows], columns=cols)


def bias_markdown(b: dict[str, Any]) -> str:
    def pct(x: float) -> str:
        return "–" if x != x else f"{x:.0%}"  # NaN -> dash

    corr = "–" if b["corr_reward_length"] != b["corr_reward_length"] else f"{b['corr_reward_length']:+.2f}"
    head = f"### {'⚠️' if b['flagged'] else '✅'} {b['warning']}"
    return (f"{head}\n\n| measure | value |\n|---|---|\n"
            f"| correlation of reward with response length (characters) | {corr} |\n"
            f"| pairs where the RM prefers the longer answer | {pct(b['rm_prefers_longer'])} |\n"
            f"| pairs where the humans preferred the longer answer | {pct(b['humans_prefer_longer'])} |\n"
            f"| RM accuracy where the human picked the **shorter** answer | {pct(b['accuracy_chosen_shorter'])} "
            f"({b['chosen_shorter_pairs']} pair{'' if b['chosen_shorter_pairs'] == 1 else 's'}) |")


def _form(cls: type, groups: list[tuple[str, list[str]]], choices: dict[str, list[str]],
          initial: dict[str, Any] | None) -> ConfigForm:
    parts = []
    for title, names in groups:
        with gr.Group():
            gr.Markdown(f"**{title}**")
            with gr.Row():
                parts.append(config_form(cls, names, choices, initial))
    return ConfigForm.merge(parts)


def _accelerate_choices() -> list[str]:
    return ["", *[str(p.relative_to(PRESETS_DIR.parent)) for p in sorted((PRESETS_DIR / "accelerate").glob("*.yaml"))]]


def build(ctx: AppContext) -> None:
    first = default_preset("reward", ctx.default_model)
    gr.Markdown("Train a reward model on the preference votes, then **inspect it before PPO uses it**: "
                "agreement with each annotator, and whether it simply rewards longer answers.")
    with gr.Row():
        preset = gr.Dropdown(list_presets("reward"), value=first, label="Preset",
                             info="Fills the form; tiny-cpu trains a random tiny model in seconds.", scale=3)
        preset_name = gr.Textbox(label="Save form as preset", placeholder="my-rm", scale=2)
        save_btn = gr.Button("💾 Save preset", scale=1)
    choices = {
        "model": ["bundled", "tiny"],
        "dataset": dataset_choices(ctx),
        "lr_scheduler_type": ["linear", "cosine", "constant", "constant_with_warmup"],
        "device": ["auto", "cpu", "cuda"],
        "accelerate_config": _accelerate_choices(),
    }
    with gr.Accordion("Configuration", open=True):
        form = _form(RewardRun, GROUPS, choices, load_preset("reward", first) if first else None)
    panel = run_panel(ctx, "reward", form, start_label="▶ Train reward model", plots=PLOTS, objective=OBJECTIVE,
                      follow_info="Pick any reward run to watch or control.")
    wire_presets("reward", form, preset, preset_name, save_btn)
    follow, refresh_runs = panel.follow, panel.refresh
    ctx.register_picker(form.components[FIELDS.index("dataset")], lambda: dataset_choices(ctx))
    with gr.Accordion("All reward runs", open=False):
        table = gr.Dataframe(runs_table(ctx), interactive=False)

    with gr.Accordion("Inspect a reward model", open=True):
        gr.Markdown("Use it in PPO as `reward: rm:<run id>`; the arena shows its verdict after each vote.")
        with gr.Row():
            insp_run = gr.Dropdown(run_choices(ctx, "reward", finished_only=True), label="Finished reward run", scale=4,
                                   allow_custom_value=True, info="🔄 lists runs that finished since the page loaded.")
            insp_refresh = gr.Button("🔄", scale=0, min_width=60)
        ctx.register_picker(insp_run, lambda: run_choices(ctx, "reward", finished_only=True))
        with gr.Row():
            sc_prompt = gr.Textbox(label="Prompt", value="Tell me about bees.", lines=2, scale=2)
            sc_response = gr.Textbox(label="Response", lines=2, scale=3,
                                     value="Happy to help! Bees are insects that make honey and pollinate flowers.")
            sc_out = gr.Number(label="Reward", interactive=False, scale=1)
        sc_btn = gr.Button("Score this response")
        with gr.Row():
            source = gr.Dropdown(pair_sources(ctx), value=ALL_POOLS, label="Compare with the votes in", scale=3)
            top_k = gr.Slider(1, 50, value=10, step=1, label="Most-wrong pairs to show", scale=2)
            check_btn = gr.Button("Check against the votes", variant="secondary", scale=1)
        bias_md = gr.Markdown("")
        with gr.Row():
            agree_df = gr.Dataframe(agreement_frame([]), label="Agreement with the human votes", interactive=False,
                                    scale=2)
            wrong_df = gr.Dataframe(wrong_frame([]), label="Pairs it gets most wrong (most confident first)",
                                    interactive=False, scale=5, wrap=True)

    with gr.Accordion("DPO: learn from the same pairs without a reward model", open=False):
        dpo_first = default_preset("dpo", ctx.default_model)
        with gr.Row():
            dpo_preset = gr.Dropdown(list_presets("dpo"), value=dpo_first, label="DPO preset", scale=3)
        dpo_choices = {**choices, "sft_run": ["", *[r["id"] for r in ctx.runs("sft", True)]]}
        dpo_form = _form(DPORun, DPO_GROUPS, dpo_choices, load_preset("dpo", dpo_first) if dpo_first else None)
        run_panel(ctx, "dpo", dpo_form, start_label="▶ Train with DPO", plots=DPO_PLOTS, objective=DPO_OBJECTIVE,
                  follow_label="Follow DPO run", resume=False, refresh=False)
        wire_presets("dpo", dpo_form, dpo_preset)

    # -- handlers: training ----------------------------------------------------------------------
    def on_refresh() -> tuple[Any, ...]:
        return (gr.update(choices=run_choices(ctx, "reward")), runs_table(ctx),
                gr.update(choices=run_choices(ctx, "reward", finished_only=True)), gr.update(choices=dataset_choices(ctx)),
                gr.update(choices=pair_sources(ctx)))

    # -- handlers: inspection --------------------------------------------------------------------
    def load_rm(run_id: str) -> tuple[Any, Any]:
        from playground.stages.reward import service as rm

        if not run_id:
            raise DataError("Pick a finished reward run first.")
        run = ctx.ws.get_run(run_id)
        run_dir = str(Path(run["run_dir"]) if run else rm.reward_run_dir(run_id))
        rm.reward_run_dir(run_dir)  # one-line error if it has not finished
        return ctx.cached(("rm", run_dir), lambda: rm.load_reward_model(run_dir))

    def on_score(run_id: str, prompt: str, response: str) -> Any:
        from playground.stages.reward import service as rm

        if not prompt.strip() or not response.strip():
            gr.Warning("Type a prompt and a response.")
            return gr.skip()
        try:
            model, tok = load_rm(run_id)
        except DataError as e:
            gr.Warning(str(e))
            return gr.skip()
        return round(rm.score(model, tok, prompt, response), 4)

    def pairs_for(src: str) -> list[dict[str, Any]]:
        from playground.core import builtin
        from playground.stages.reward import service as rm

        if src == BUILTIN_SOURCE:
            return [{**p, "id": i, "annotator": "synthetic"} for i, p in enumerate(builtin.preferences())]
        pool = src[len("pool: "):] if src.startswith("pool: ") else None
        return rm.pairs_from_workspace(ctx.ws, pool)

    def on_check(run_id: str, src: str, k: float) -> tuple[Any, ...]:
        from playground.stages.reward import service as rm

        try:
            model, tok = load_rm(run_id)
            report = rm.inspect_pairs(model, tok, pairs_for(src or ALL_POOLS), int(k))
        except DataError as e:
            gr.Warning(str(e))
            return f"⚠️ {e}", agreement_frame([]), wrong_frame([])
        return bias_markdown(report["length_bias"]), agreement_frame(report["agreement"]), wrong_frame(
            report["most_wrong"])

    refresh_runs.click(on_refresh, None, [follow, table, insp_run, form.components[FIELDS.index("dataset")], source])
    insp_refresh.click(on_refresh, None, [follow, table, insp_run, form.components[FIELDS.index("dataset")], source])
    sc_btn.click(on_score, [insp_run, sc_prompt, sc_response], [sc_out], api_name="reward_score")
    check_btn.click(on_check, [insp_run, source, top_k], [bias_md, agree_df, wrong_df], api_name="reward_inspect")


