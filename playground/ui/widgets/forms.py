"""Config forms built from the stage dataclasses, so the UI, the YAML presets and the CLI share one definition.

    form = config_form(SFTRun, ["model", "learning_rate", ...])
    cfg = form.to_config("sft", *values)          # ConfigError -> show the one-line reason
    preset_values = form.values_from(load_preset(...))
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import yaml

from playground.core.config import BaseRun, ConfigError, from_dict, to_dict
from playground.core.paths import PRESETS_DIR, home
from playground.stages.registry import load_config
from playground.ui.i18n import field_help_key, group_title, say, t

# fields better shown as sliders (min, max, step)
SLIDERS = {
    "lora_r": (1, 128, 1), "lora_alpha": (1, 256, 1), "lora_dropout": (0.0, 0.5, 0.01),
    "eval_fraction": (0.0, 0.5, 0.05), "num_processes": (1, 8, 1), "temperature": (0.1, 2.0, 0.05),
    "cliprange": (0.05, 0.5, 0.01), "lam": (0.5, 1.0, 0.01), "gamma": (0.9, 1.0, 0.005),
}


@dataclass
class ConfigForm:
    cls: type[BaseRun]
    names: list[str]
    components: list[Any]

    def to_config(self, stage: str, values: list[Any], base: dict[str, Any] | None = None) -> BaseRun:
        data = dict(base or {})
        data.update(dict(zip(self.names, values)))
        return from_dict(self.cls, data, where="form")

    @staticmethod
    def merge(forms: list[ConfigForm]) -> ConfigForm:
        """Several forms laid out in separate groups, read as one."""
        return ConfigForm(forms[0].cls, [n for f in forms for n in f.names], [c for f in forms for c in f.components])

    def values_from(self, cfg: dict[str, Any]) -> list[Any]:
        defaults = to_dict(self.cls())
        return [cfg.get(n, defaults[n]) for n in self.names]


# a row wraps rather than squash a field: "adaptive kl" stays whole, a run id in a dropdown stays readable
NARROW, WIDE = 170, 260
RUN_WIDE, RUN_FIELDS = 300, ("reward", "sft_run")  # their values hold run ids: 'rm:reward-20261130-142233-a1b2'
# Gradio 6.31 drops min_width for Checkbox and Slider: the pg-minw class (app CSS: NARROW px) sets it, or a crowded
# row squeezes them ("adaptive kl" read "ad kl" with its help one word a line, a slider's right end was cut)
MIN_W = ["pg-minw"]


def config_form(cls: type[BaseRun], names: list[str], choices: dict[str, list[str]] | None = None,
                initial: dict[str, Any] | None = None) -> ConfigForm:
    """One component per field, with the dataclass help text as the tooltip (info).

    `initial` (e.g. a preset's values) overrides the dataclass defaults shown at first render."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    comps = []
    for name in names:
        f = fields[name]
        tp = hints[name]
        label = t(f"field.{name}")  # the catalogues' field.* entries: the dataclass help, translated (i18n.py)
        info = t(field_help_key(cls.STAGE, name)) if f.metadata.get("help") else ""
        value = (initial or {}).get(name, f.default)
        declared = (choices or {}).get(name, f.metadata.get("choices"))  # the tab's live list, else the field's own
        if declared is not None:
            opts = list(declared)
            if value not in opts:
                opts.append(value)
            comps.append(gr.Dropdown(opts, value=value, label=label, info=info, allow_custom_value=True,
                                     min_width=RUN_WIDE if name in RUN_FIELDS else WIDE))
        elif tp is bool:
            comps.append(gr.Checkbox(value=value, label=label, info=info, min_width=NARROW, elem_classes=MIN_W))
        elif name in SLIDERS:
            lo, hi, step = SLIDERS[name]
            comps.append(gr.Slider(lo, hi, value=value, step=step, label=label, info=info, min_width=NARROW,
                                   elem_classes=MIN_W))
        elif tp is int:
            comps.append(gr.Number(value=value, precision=0, label=label, info=info, min_width=NARROW))
        elif tp is float:
            comps.append(gr.Number(value=value, label=label, info=info, min_width=NARROW))
        else:
            comps.append(gr.Textbox(value=value, label=label, info=info, max_lines=1,
                                    min_width=RUN_WIDE if name in RUN_FIELDS else NARROW))
    return ConfigForm(cls, names, comps)


# the handful of fields a learner changes, per stage (by config class name); the rest fold under "Advanced"
BASIC = {
    "SFTRun": ["model", "dataset", "max_steps", "learning_rate", "lora_r"],
    "RewardRun": ["model", "dataset", "max_steps", "learning_rate", "eval_fraction"],
    "DPORun": ["model", "sft_run", "dataset", "beta", "max_steps", "learning_rate"],
    "PPORun": ["model", "reward", "prompts", "total_updates", "kl_coef"],  # the policy: "Start the policy from"
}


def grouped_form(cls: type[BaseRun], groups: list[tuple[str, list[str]]], choices: dict[str, Any] | None = None,
                 initial: dict[str, Any] | None = None, basic: list[str] | None = None,
                 after: dict[str, Any] | None = None) -> ConfigForm:
    """The stage form: its basic fields on one row, every other field in its group under a closed "Advanced".

    `basic` defaults to BASIC for the class; `after` maps a field to a callable run right after that field's
    group is laid out (e.g. PPO's example expressions under the reward expression). The returned form lists
    the fields in `groups` order whatever the layout, so `form.components[FIELDS.index(name)]` still works."""
    names_all = [n for _, names in groups for n in names]
    keep = [n for n in (basic if basic is not None else BASIC.get(cls.__name__, [])) if n in names_all]
    built: dict[str, Any] = {}
    if keep:
        with gr.Group(elem_classes=["pg-basic"]), gr.Row():
            f = config_form(cls, keep, choices, initial)
            built.update(zip(f.names, f.components))
    with gr.Accordion(t("form.advanced"), open=not keep, elem_classes=["pg-advanced"]):
        for title, names in groups:
            rest = [n for n in names if n not in built]
            if not rest:
                continue
            with gr.Group():
                gr.Markdown(f"**{group_title(title)}**")
                with gr.Row():
                    f = config_form(cls, rest, choices, initial)
                    built.update(zip(f.names, f.components))
                for name in names:
                    if after and name in after:
                        after[name]()
    return ConfigForm(cls, names_all, [built[n] for n in names_all])


def user_presets_dir(stage: str) -> Path:
    return home() / "presets" / stage


def list_presets(stage: str) -> list[str]:
    """Shipped presets (presets/<stage>/*.yaml) then the user's saved ones (under PLAYGROUND_HOME)."""
    names = [p.stem for p in sorted((PRESETS_DIR / stage).glob("*.yaml"))]
    names += [f"my/{p.stem}" for p in sorted(user_presets_dir(stage).glob("*.yaml"))]
    return names


def preset_path(stage: str, name: str) -> Path:
    if name.startswith("my/"):
        return user_presets_dir(stage) / f"{name[3:]}.yaml"
    return PRESETS_DIR / stage / f"{name}.yaml"


def default_preset(stage: str, model: str) -> str:
    """The preset a tab opens with: tiny-cpu when the app runs on the tiny model, else smollm2-cpu."""
    names = list_presets(stage)
    want = "tiny-cpu" if model == "tiny" else "smollm2-cpu"
    return want if want in names else (names[0] if names else "")


def load_preset(stage: str, name: str) -> dict[str, Any]:

    return to_dict(load_config(stage, preset_path(stage, name)))


def save_preset(stage: str, name: str, cfg: BaseRun) -> str:
    name = "".join(c for c in name.strip() if c.isalnum() or c in "-_.")
    if not name:
        raise ConfigError(say("form.preset_name"))
    d = user_presets_dir(stage)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return f"my/{name}"

