"""Shared fixtures: a temporary PLAYGROUND_HOME per test, one converted-model cache for the session,
no hub, and a launched app for gradio_client / browser tests."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_CACHE", str(REPO / ".cache" / "playground"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ARTIFACTS = REPO / "tests" / "artifacts"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("PLAYGROUND_HOME", str(h))
    return h


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory):
    """The full app, launched once for the session on a free port, default model 'tiny'."""
    h = tmp_path_factory.mktemp("apphome")
    old = os.environ.get("PLAYGROUND_HOME")
    os.environ["PLAYGROUND_HOME"] = str(h)
    from playground.ui.app import build_app, make_context, serve_local

    ctx = make_context(default_model="tiny")
    demo = build_app(ctx)
    yield {"url": serve_local(demo), "ctx": ctx, "home": h}
    demo.close()
    ctx.jobs.close()
    if old is None:
        os.environ.pop("PLAYGROUND_HOME", None)
    else:
        os.environ["PLAYGROUND_HOME"] = old
