"""Space mode is read from the environment: SPACE_ID turns it on, PLAYGROUND_SPACE overrides, the workspace
goes on the mounted volume unless PLAYGROUND_HOME says otherwise, and the banner warns only when work would be
lost on restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from playground.core import models, space
from playground.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
VARS = ("SPACE_ID", "PLAYGROUND_SPACE", "PLAYGROUND_HOME", "PLAYGROUND_DATA_DIR", "PLAYGROUND_MODEL_ALLOWLIST",
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PLAYGROUND_OAUTH")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for var in VARS:  # set then delete: monkeypatch then also removes what configure() sets during the test
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLAYGROUND_DATA_DIR", str(tmp_path / "data"))  # no volume until a test makes one
    return monkeypatch


def test_off_by_default_and_nothing_changes(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert not space.is_space() and not space.oauth_enabled() and space.defaults() is None
    assert space.persistent() and space.banner_text() == ""
    assert space.allowed_models() == [] and models.allow_list() is None
    assert space.configure() is False
    from playground.core.auth import AuthConfig

    assert not AuthConfig.from_env(spec="").oauth
    assert "PLAYGROUND_HOME" not in os.environ and "PLAYGROUND_MODEL_ALLOWLIST" not in os.environ
    assert space.workspace_home() == tmp_path / "workspace"


@pytest.mark.parametrize("space_id, flag, on", [
    ("user/rlhf-playground", None, True),   # what a Space sets
    ("", "1", True), (None, "true", True),  # forced on locally
    ("user/rlhf-playground", "0", False),   # forced off inside a Space
    (None, None, False), ("  ", None, False),
])
def test_space_mode_toggles(env: pytest.MonkeyPatch, space_id: str | None, flag: str | None, on: bool) -> None:
    if space_id is not None:
        env.setenv("SPACE_ID", space_id)
    if flag is not None:
        env.setenv("PLAYGROUND_SPACE", flag)
    assert space.is_space() is on
    assert space.oauth_enabled() is on
    assert (space.defaults() is not None) is on


def test_without_a_volume_the_workspace_is_not_persistent(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("SPACE_ID", "user/demo")
    assert space.workspace_home() == tmp_path / "workspace"
    assert not space.persistent()
    assert "lost when this Space restarts" in space.banner_text() and "export a bundle" in space.banner_text()


def test_a_mounted_volume_holds_the_workspace(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("SPACE_ID", "user/demo")
    (tmp_path / "data").mkdir()
    assert space.workspace_home() == tmp_path / "data" / "workspace"
    assert space.persistent() and space.banner_text() == ""
    assert space.configure() is True
    assert os.environ["PLAYGROUND_HOME"] == str(tmp_path / "data" / "workspace")
    from playground.core.paths import db_path

    assert db_path() == tmp_path / "data" / "workspace" / "playground.db"


def test_something_else_at_the_mount_point_is_not_used(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("SPACE_ID", "user/demo")
    (tmp_path / "data").write_text("not a volume")
    assert space.workspace_home() == tmp_path / "workspace" and not space.persistent()


def test_playground_home_wins(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("SPACE_ID", "user/demo")
    (tmp_path / "data").mkdir()
    env.setenv("PLAYGROUND_HOME", str(tmp_path / "elsewhere"))
    assert space.workspace_home() == tmp_path / "elsewhere"
    assert not space.persistent() and space.banner_text()  # not on the volume: lost on restart
    env.setenv("PLAYGROUND_HOME", str(tmp_path / "data" / "team-a"))
    assert space.persistent() and space.banner_text() == ""
    space.configure()
    assert os.environ["PLAYGROUND_HOME"] == str(tmp_path / "data" / "team-a")


def test_allow_list_and_cpu_sizes(env: pytest.MonkeyPatch) -> None:
    env.setenv("SPACE_ID", "user/demo")
    assert space.allowed_models() == list(space.ALLOWED_MODELS)
    space.configure()
    assert os.environ["OMP_NUM_THREADS"] == "2"
    from playground.core.auth import AuthConfig

    assert AuthConfig.from_env(spec="").oauth  # Hugging Face sign-in is on
    models.check_allowed("bundled")
    models.check_allowed("HuggingFaceTB/SmolLM2-360M-Instruct")
    with pytest.raises(ConfigError, match="not allowed"):
        models.check_allowed("meta-llama/Llama-3.1-70B")
    env.setenv("PLAYGROUND_MODEL_ALLOWLIST", "org/only-this")  # the operator's list wins
    assert space.allowed_models() == ["org/only-this"]
    assert space.CPU_DEFAULTS.num_processes == 1 and space.CPU_DEFAULTS.max_concurrent_runs == 1


def test_entry_point_reports_the_workspace(tmp_path: Path) -> None:
    """The image's CMD: Space settings applied, then app.py runs with the given arguments."""
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env.update(SPACE_ID="user/demo", PLAYGROUND_DATA_DIR=str(tmp_path / "none"), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "playground.core.space", "--help"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    first, *rest = proc.stdout.splitlines()
    assert first == f"space mode: on · workspace: {tmp_path / 'workspace'} · NOT persistent"
    assert any("--port" in line for line in rest)  # app.py's own --help
