"""The run directory contract: runs/<run_id>/{config.yaml, status.json, metrics.jsonl, log.txt, ...}.

No heavy imports here: the UI polls these files every second.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "succeeded", "failed", "stopped", "interrupted")
FINAL_STATES = ("succeeded", "failed", "stopped", "interrupted")


def new_run_id(stage: str) -> str:
    return f"{stage}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_status(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json and write it atomically (readers never see half a file)."""
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    status.update(fields)
    for key in ("state", "pid", "started", "ended", "error"):
        status.setdefault(key, None)
    atomic_write(run_dir / "status.json", json.dumps(status))
    return status


def write_phase(run_dir: str | Path, text: str) -> None:
    """What the trainer is doing before / between steps ("loading model", "tokenising 1,814 rows", "rollout 1"):
    status.json `phase`, shown in the live header while the run is running. Only the main process writes it."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    try:
        write_status(run_dir, phase=text, phase_at=time.time())
    except OSError:
        pass  # a progress note must never stop training


def read_status(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / "status.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=float) + "\n")
        fh.flush()


def append_metrics(run_dir: str | Path, step: int, **metrics: Any) -> None:
    append_jsonl(Path(run_dir) / "metrics.jsonl", {"step": int(step), "time": time.time(), **metrics})


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line being written right now
    except FileNotFoundError:
        pass
    return out


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def tail_log(run_dir: str | Path, lines: int = 20) -> str:
    p = Path(run_dir) / "log.txt"
    try:
        with open(p, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    # progress bars write \r; keep the last state of each line
    text = "\n".join(part.split("\r")[-1] for part in data.splitlines())
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# -- what a run left behind: the one place that maps a run id to its folders and base model --------------------
def run_dir_of(run: str | Path) -> Path:
    """A run id (under runs/) or a run folder -> the run folder (which may not exist)."""
    from playground.core.paths import runs_dir

    raw = str(run).strip()
    if raw.startswith("rm:"):
        raw = raw[3:]
    p = Path(raw).expanduser()
    return p if (raw and p.is_dir()) else runs_dir() / raw


def adapter_dir(run: str | Path) -> Path | None:
    """The LoRA adapter a run saved: runs/<id>/adapter, or the folder itself when it is an adapter; else None."""
    p = Path(str(run)).expanduser()
    if (p / "adapter_config.json").is_file():
        return p
    cand = run_dir_of(run) / "adapter"
    return cand if cand.is_dir() else None


def read_result(run: str | Path) -> dict[str, Any]:
    """result.json of a finished run ({} when absent or unreadable)."""
    try:
        data = json.loads((run_dir_of(run) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_result(run_dir: str | Path, result: dict[str, Any]) -> None:
    atomic_write(Path(run_dir) / "result.json", json.dumps(result, indent=2, default=str))


def read_config(run: str | Path) -> dict[str, Any]:
    """config.yaml of a run as a mapping ({} when absent or unreadable)."""
    import yaml

    try:
        data = yaml.safe_load((run_dir_of(run) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def base_model(run: str | Path) -> str:
    """The base model a run's adapter sits on: result.json's base_model (a PPO or DPO run started from an SFT
    run trains over that run's base), else the configured model, else the bundled one."""
    return str(read_result(run).get("base_model") or read_config(run).get("model") or "bundled")


# -- checkpoints: runs/<id>/checkpoints/checkpoint-<step> --------------------------------------------------
def checkpoints_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def last_checkpoint(run_dir: str | Path) -> str | None:
    ck = checkpoints_dir(run_dir)
    if not ck.is_dir():
        return None
    found = [p for p in ck.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    if not found:
        return None
    return str(max(found, key=lambda p: int(p.name.split("-")[-1])))


def checkpoint_step(path: str | Path) -> int | None:
    """The step (PPO: update) a checkpoint-<n> folder was saved at."""
    tail = Path(path).name.rsplit("-", 1)[-1]
    return int(tail) if Path(path).name.startswith("checkpoint-") and tail.isdigit() else None
