"""Command line: the same code paths the UI uses.

    python -m playground sft    --config presets/sft/tiny-cpu.yaml [--set key=value ...] [--run-dir DIR]
    python -m playground reward --config presets/reward/tiny-cpu.yaml
    python -m playground ppo    --config presets/ppo/tiny-cpu.yaml
    python -m playground dpo    --config presets/dpo/tiny-cpu.yaml
    python -m playground datasets {import,export,list} ...
    python -m playground prefs {import,export} ...
    python -m playground backup --out FILE
    python -m playground bundle {export,import} ...
    python -m playground eval-rm --run RUN --file FILE

A bad config or bad data exits non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from playground.core.config import save_config, to_dict
from playground.core.errors import ConfigError, UserError
from playground.stages.registry import STAGES, load_config
from playground.stages.registry import trainer as trainer  # noqa: PLC0414 - re-exported


def run_stage(stage: str, config: str | None, overrides: list[str], run_dir: str | None) -> int:
    from playground.core.paths import runs_dir
    from playground.core.runs import new_run_id, write_status
    from playground.stages.trainer import STOP, install_stop_handler, is_main_process

    install_stop_handler()  # first: a stop during model loading then ends the run as "stopped", not killed
    try:
        cfg = load_config(stage, config, overrides)
    except ConfigError as e:
        if run_dir and is_main_process():  # a run dir the UI (or a user) named: say there why it failed
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            write_status(run_dir, state="failed", ended=time.time(), error=str(e))
        print(f"error: {e}", file=sys.stderr)
        return 2
    rd = Path(run_dir) if run_dir else runs_dir() / new_run_id(stage)
    rd.mkdir(parents=True, exist_ok=True)
    main = is_main_process()
    if main:
        cfg_path = rd / "config.yaml"
        if not (config and Path(config).resolve() == cfg_path.resolve()) or overrides:
            save_config(cfg, cfg_path)
        if not run_dir:  # foreground CLI run: record it in the workspace so the UI lists it
            try:
                from playground.core.workspace import Workspace

                Workspace().register_run(rd.name, stage, rd, to_dict(cfg))
            except Exception as e:  # noqa: BLE001 - the run itself does not need the DB
                print(f"warning: run not recorded in the workspace: {e}", file=sys.stderr)
        write_status(rd, state="running", pid=os.getpid(), started=time.time(), ended=None, error=None)
        print(f"run dir: {rd}", flush=True)
    module = trainer(stage)
    try:
        module.run(cfg, rd)
    except UserError as e:
        if main:
            write_status(rd, state="failed", ended=time.time(), error=str(e))
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if main:
            write_status(rd, state="stopped", ended=time.time(), error=None)
        return 130
    except _cuda_oom():  # one line naming the setting to lower; the checkpoints saved so far stay in the run dir
        from playground.core.models import cuda_memory, oom_hint
        from playground.core.runs import last_checkpoint

        traceback.print_exc()
        mem, ckpt = cuda_memory(), last_checkpoint(rd)
        kept = f"{Path(ckpt).name} (resume_from_checkpoint: last)" if ckpt else "nothing: no checkpoint saved yet"
        line = f"{oom_hint(stage, cfg, mem[0] if mem else None)}; kept {kept}"
        if main:
            write_status(rd, state="failed", ended=time.time(), error=line, kept=kept)
        print(f"error: {line}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - unexpected: keep the traceback in log.txt, one line in status
        traceback.print_exc()
        line = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        if main:
            write_status(rd, state="failed", ended=time.time(), error=line)
        print(f"error: {line}", file=sys.stderr)
        return 1
    if main:
        if STOP.is_set():
            kept = stopped_kept(rd, stage)
            write_status(rd, state="stopped", ended=time.time(), error=None, kept=kept)
            print(f"stopped: kept {kept}", flush=True)
        else:
            write_status(rd, state="succeeded", ended=time.time(), error=None)
    return 0


class _NeverRaised(Exception):
    pass


def _cuda_oom() -> type[BaseException]:
    """torch.cuda.OutOfMemoryError once torch is loaded (a trainer imported it), else a class nothing raises: the CLI
    never imports torch for a command that does not train."""
    torch = sys.modules.get("torch")
    return getattr(getattr(torch, "cuda", None), "OutOfMemoryError", _NeverRaised)


def stopped_kept(run_dir: Path, stage: str) -> str:
    """What a stopped run left behind, in words: the trainer's own account (result.json "kept"), else the adapter
    and checkpoint it saved."""
    from playground.core.runs import last_checkpoint, read_result

    result = read_result(run_dir)
    if result.get("kept"):
        return str(result["kept"])
    unit = "update" if stage == "ppo" else "step"
    step = result.get("global_step")
    ckpt = last_checkpoint(run_dir)
    where = f" ({Path(ckpt).name})" if ckpt else ""
    if result.get("adapter") and Path(str(result["adapter"])).is_dir() and step:
        return f"adapter after {unit} {step}{where}"
    if ckpt:
        return f"{Path(ckpt).name} only (no adapter)"
    return f"nothing: stopped before the first {unit} finished"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m playground", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        p = sub.add_parser(stage, help=f"run the {stage} stage in the foreground")
        p.add_argument("--config", help="YAML config (keys are the stage's fields)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one field (repeatable)")
        p.add_argument("--run-dir", help="write the run here (default: a new folder under runs/)")
    from playground.cli import access
    from playground.cli import backup as backup_cli
    from playground.cli import compare as compare_cli
    from playground.cli import datasets as datasets_cli
    from playground.cli import eval_rm as eval_rm_cli
    from playground.cli import evaluate as evaluate_cli
    from playground.cli import export_job as export_job_cli
    from playground.cli import preferences as prefs_cli

    datasets_cli.add_parsers(sub)
    prefs_cli.add_parsers(sub)
    eval_rm_cli.add_parsers(sub)
    evaluate_cli.add_parsers(sub)
    compare_cli.add_parsers(sub)
    export_job_cli.add_parsers(sub)
    access.add_parsers(sub)
    backup_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in STAGES:
        return run_stage(args.command, args.config, args.overrides, args.run_dir)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
