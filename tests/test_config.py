"""Every preset loads with exactly the dataclass fields; typos and wrong types are caught with a clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.core.config import STAGES, ConfigError, from_dict, load_config, save_config, to_dict

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
