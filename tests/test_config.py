"""Every preset loads with exactly the dataclass fields; typos and wrong types are caught with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.core.config import ConfigError, save_config, to_dict
from playground.stages.registry import STAGES, from_dict, load_config

PRESETS = sorted(p for stage in STAGES for p in (Path(__file__).parent.parent / "presets" / stage).glob("*.yaml"))


def test_every_stage_has_a_tiny_cpu_preset() -> None:
    names = {(p.parent.name, p.stem) for p in PRESETS}
    for stage in ("sft", "reward", "ppo"):
        if stage != "sft" and not (Path(__file__).parent.parent / "presets" / stage).is_dir():
            pytest.skip(f"presets/{stage} not written yet")
        assert (stage, "tiny-cpu") in names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_preset_round_trips(path: Path, tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load(path.read_text())
    cfg = load_config(path.parent.name, path)  # unknown keys would raise here
    assert set(raw) <= set(to_dict(cfg))
    out = save_config(cfg, tmp_path / "c.yaml")
    assert load_config(path.parent.name, out) == cfg


def test_unknown_key_is_an_error_with_a_hint(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("model: tiny\nlerning_rate: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config("sft", p)
    msg = str(e.value)
    assert "lerning_rate" in msg and "learning_rate" in msg and str(p) in msg
    assert "\n" not in msg


def test_wrong_type_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_steps.*integer"):
        from_dict("sft", {"max_steps": "lots"})
    with pytest.raises(ConfigError, match="use_lora"):
        from_dict("sft", {"use_lora": "maybe"})
    with pytest.raises(ConfigError, match="value_model must be head or adapter"):
        from_dict("ppo", {"value_model": "critic"})
    p = tmp_path / "broken.yaml"
    p.write_text("model: [tiny\n")
    with pytest.raises(ConfigError, match="line"):
        load_config("sft", p)
    with pytest.raises(ConfigError, match="not found"):
        load_config("sft", tmp_path / "missing.yaml")


def test_overrides_are_typed() -> None:
    cfg = load_config("sft", None, ["learning_rate=1e-3", "max_steps=7", "packing=true", "model=tiny"])
    assert cfg.learning_rate == 1e-3 and cfg.max_steps == 7 and cfg.packing is True and cfg.model == "tiny"
    with pytest.raises(ConfigError, match="key=value"):
        load_config("sft", None, ["oops"])


# -- bounds: a shared server refuses absurd or hostile values before a job is queued -------------------------
@pytest.mark.parametrize("stage,key,value,needle", [
    ("sft", "learning_rate", ".inf", "learning_rate must be a finite number"),
    ("sft", "learning_rate", ".nan", "learning_rate must be a finite number"),
    ("sft", "learning_rate", "1e400", "learning_rate must be a finite number"),
    ("sft", "max_steps", "-5", "max_steps must be >= -1"),
    ("sft", "max_steps", "1000000000", "max_steps must be <= 1000000"),
    ("sft", "num_train_epochs", "-1", "num_train_epochs must be > 0"),
    ("sft", "lora_alpha", "-16", "lora_alpha must be >= 1"),
    ("sft", "per_device_train_batch_size", "1000000", "per_device_train_batch_size must be <= 512"),
    ("sft", "num_processes", "1000", "num_processes must be <= 64"),
    ("sft", "max_length", "10000000", "max_length must be <= 32768"),
    ("ppo", "gamma", "1.5", "gamma must be <= 1.0"),
    ("ppo", "kl_coef", "-0.1", "kl_coef must be >= 0.0"),
    ("ppo", "vf_coef", "-1", "vf_coef must be >= 0.0"),
    ("ppo", "ppo_epochs", "0", "ppo_epochs must be >= 1"),
    ("ppo", "kl_estimator", "k2", "kl_estimator must be k1 or k3, got 'k2'"),
    ("ppo", "lr_scheduler_type", "warp", "lr_scheduler_type must be linear, cosine, constant or constant_with_warmup"),
    ("reward", "center_rewards_coefficient", "-2", "center_rewards_coefficient must be >= 0.0"),
    ("dpo", "beta", "0", "beta must be > 0.0"),
    ("sft", "accelerate_config", "/etc/passwd", "accelerate_config must be a .yaml under presets/accelerate/"),
    ("sft", "model", "/etc", "holds no config.json"),
])
def test_out_of_bounds_values_are_one_line_errors(home, stage: str, key: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(stage, None, [f"{key}={value}"])
    msg = str(e.value)
    assert needle in msg and "\n" not in msg


def test_every_choice_field_is_declared_in_metadata() -> None:
    from playground.core.config import field_choices
    from playground.stages.ppo.config import PPORun

    ch = field_choices(PPORun)
    assert ch["value_model"] == ("head", "adapter") and ch["kl_estimator"] == ("k1", "k3")
    assert ch["device"] == ("auto", "cpu", "cuda")


def test_yaml_alias_bomb_is_refused_before_expansion(home, tmp_path) -> None:
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghi", "bcdefghij", strict=True):
        bomb.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(bomb) + "\n")
    with pytest.raises(ConfigError, match="aliases"):
        load_config("sft", f)


def test_model_allow_list(home, monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_MODEL_ALLOWLIST", "HuggingFaceTB/SmolLM2-360M-Instruct")
    load_config("sft", None, ["model=tiny"])  # the registry is always allowed
    load_config("sft", None, ["model=HuggingFaceTB/SmolLM2-360M-Instruct"])
    with pytest.raises(ConfigError, match="not allowed on this server"):
        load_config("sft", None, ["model=someone/huge-model"])
