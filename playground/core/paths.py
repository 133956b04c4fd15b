"""Where things live: PLAYGROUND_HOME (default ./workspace) holds the DB, runs and the model cache."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # playground/
REPO_DIR = PACKAGE_DIR.parent
PRESETS_DIR = REPO_DIR / "presets"
BUILTIN_DATA_DIR = PACKAGE_DIR / "data"


def home() -> Path:
    p = Path(os.environ.get("PLAYGROUND_HOME", "workspace")).resolve()
    p.mkdir(parents=True, exist_ok=True)
    return p


def runs_dir() -> Path:
    p = home() / "runs"
    p.mkdir(parents=True, exist_ok=True)
    return p


def cache_dir() -> Path:
    """Converted models; PLAYGROUND_CACHE lets tests share one cache across temporary homes."""
    p = Path(os.environ.get("PLAYGROUND_CACHE") or (home() / "cache")).resolve()
    p.mkdir(parents=True, exist_ok=True)
    return p


def db_path() -> Path:
    return home() / "playground.db"
