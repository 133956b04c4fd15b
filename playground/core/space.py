"""Space mode: the settings a public Hugging Face Space needs, read from the environment.

    PLAYGROUND_SPACE=1            force Space mode (on automatically when the Space sets SPACE_ID; =0 forces it off)
    PLAYGROUND_HOME               the workspace; wins over everything below
    PLAYGROUND_DATA_DIR           where a storage bucket is mounted (default /data)
    PLAYGROUND_MODEL_ALLOWLIST    models the Space accepts besides bundled/tiny (default: ALLOWED_MODELS)

In Space mode the workspace goes on the mounted volume (`/data/workspace`) when one is mounted and writable;
without one it lives in the container and is lost on restart, which `banner_text()` says in the header.
Models are limited to an allow-list, CPU-sized defaults apply (free Spaces: 2 vCPU, 16 GB) and login is by
Hugging Face OAuth. Outside Space mode nothing here changes anything.

`python -m playground.core.space [app.py args]` applies these settings and runs app.py (the image's CMD).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# hub models small enough to sample and LoRA-train on 2 vCPU / 16 GB (bundled and tiny are always allowed)
ALLOWED_MODELS: tuple[str, ...] = (
    "HuggingFaceTB/SmolLM2-135M-Instruct",
    "HuggingFaceTB/SmolLM2-360M-Instruct",
    "Qwen/Qwen2.5-0.5B-Instruct",
)

NOT_PERSISTENT = "⚠️ Your work is lost when this Space restarts — export a bundle (Workspace panel) to keep it."


@dataclass(frozen=True)
class CPUDefaults:
    """What a free CPU Space can carry: one training run at a time, one process, short generations."""

    torch_threads: int = 2
    num_processes: int = 1
    max_concurrent_runs: int = 1
    queue_concurrency: int = 4
    max_new_tokens: int = 128
    preset: str = "smollm2-cpu"


CPU_DEFAULTS = CPUDefaults()


def is_space() -> bool:
    """PLAYGROUND_SPACE decides when set; otherwise on exactly when the Space runtime's SPACE_ID is set."""
    flag = os.environ.get("PLAYGROUND_SPACE", "").strip().lower()
    if flag in _TRUE:
        return True
    if flag in _FALSE:
        return False
    return bool(os.environ.get("SPACE_ID", "").strip())


def data_dir() -> Path:
    """Where a storage bucket would be mounted."""
    return Path(os.environ.get("PLAYGROUND_DATA_DIR") or "/data")


def volume_mounted() -> bool:
    d = data_dir()
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def workspace_home() -> Path:
    """PLAYGROUND_HOME if set; in Space mode the mounted volume's `workspace/` when writable; else ./workspace."""
    explicit = os.environ.get("PLAYGROUND_HOME")
    if explicit:
        return Path(explicit).resolve()
    if is_space() and volume_mounted():
        return (data_dir() / "workspace").resolve()
    return Path("workspace").resolve()


def persistent() -> bool:
    """Does the workspace survive a restart? Always outside Space mode (a local disk); in Space mode only
    when it lies on the mounted volume."""
    if not is_space():
        return True
    if not volume_mounted():
        return False
    home = workspace_home()
    return home == data_dir().resolve() or data_dir().resolve() in home.parents


def banner_text() -> str:
    """The header warning when the workspace is not persistent; empty when there is nothing to warn about."""
    return "" if persistent() else NOT_PERSISTENT


def allowed_models() -> list[str]:
    """The models a user may pick: every model outside Space mode (empty list = no limit)."""
    raw = os.environ.get("PLAYGROUND_MODEL_ALLOWLIST")
    if raw is not None:
        return [x.strip() for x in raw.split(",") if x.strip()]
    return list(ALLOWED_MODELS) if is_space() else []


def oauth_enabled() -> bool:
    """Space mode signs people in with Hugging Face OAuth (`hf_oauth: true` in the README front matter)."""
    return is_space()


def defaults() -> CPUDefaults | None:
    """CPU-sized defaults in Space mode, None elsewhere (the machine's own sizes apply)."""
    return CPU_DEFAULTS if is_space() else None


def configure() -> bool:
    """Apply Space mode to this process's environment before anything reads it (idempotent; explicit
    settings win). Returns whether Space mode is on."""
    if not is_space():
        return False
    os.environ.setdefault("PLAYGROUND_HOME", str(workspace_home()))
    os.environ.setdefault("PLAYGROUND_OAUTH", "1")  # core/auth.py: HF sign-in, PLAYGROUND_ADMINS are admins
    os.environ.setdefault("PLAYGROUND_MODEL_ALLOWLIST", ",".join(ALLOWED_MODELS))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(CPU_DEFAULTS.torch_threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return True


def main(argv: list[str] | None = None) -> None:
    import runpy

    from playground.core.paths import REPO_DIR

    on = configure()
    home = os.environ.get("PLAYGROUND_HOME") or str(workspace_home())
    print(f"space mode: {'on' if on else 'off'} · workspace: {home} · "
          f"{'persistent' if persistent() else 'NOT persistent'}", flush=True)
    sys.argv = [str(REPO_DIR / "app.py"), *(sys.argv[1:] if argv is None else argv)]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
