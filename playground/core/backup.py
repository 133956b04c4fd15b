"""A consistent copy of the workspace database, taken while the app keeps running.

    python -m playground backup --out playground-backup.db [--force]

SQLite's online backup API copies the database under one read transaction: in WAL mode writers carry on
meanwhile, and the copy holds exactly the transactions committed before it started (every acknowledged vote
up to then, none half-written). The copy is a single self-contained file (rollback journal, not WAL) that
`sqlite3 FILE "PRAGMA integrity_check"` passes and that works as a PLAYGROUND_HOME's playground.db.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from playground.core.errors import UserError
from playground.core.paths import db_path
from playground.core.workspace import copy_database, integrity

Progress = Callable[[float, str], None]


class BackupError(UserError):
    """A backup or restore that cannot be done, in one line."""


def _noop(_fraction: float, _what: str) -> None:
    pass


def check_database(path: str | Path) -> None:
    """BackupError unless `path` is an SQLite database that passes its own integrity check."""
    try:
        result = integrity(path)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{Path(path).name} is not a usable SQLite database ({e})") from None
    if result != "ok":
        raise BackupError(f"{Path(path).name} fails SQLite's integrity check: {result}")


def snapshot(src: str | Path, out: str | Path, progress: Progress = _noop) -> Path:
    """Copy database `src` to `out` (replaced atomically) with the online backup API; return `out`."""
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise BackupError(f"no workspace database at {src}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    progress(0.0, "copying the database")
    try:
        copy_database(src, tmp, "DELETE")  # one file, no -wal beside it
        progress(0.8, "checking the copy")
        check_database(tmp)
        os.replace(tmp, out)
    except sqlite3.Error as e:
        raise BackupError(f"backup of {src} failed: {e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    progress(1.0, "done")
    return out


def backup(out: str | Path, force: bool = False, progress: Progress = _noop) -> Path:
    """Snapshot this workspace's playground.db to `out`; an existing `out` is kept unless `force`."""
    out = Path(out)
    if out.exists() and not force:
        raise BackupError(f"{out} exists: choose another --out or pass --force to replace it")
    if out.resolve() == db_path().resolve():
        raise BackupError("--out must not be the workspace database itself")
    return snapshot(db_path(), out, progress)


def restore_into(src: str | Path, dest: str | Path) -> None:
    """Replace database `dest`'s content with `src`'s through the backup API (safe while other
    connections have `dest` open: they see the old or the new content, never a mix)."""
    check_database(src)
    try:
        copy_database(src, dest, "WAL", src_read_only=True)
    except sqlite3.Error as e:
        raise BackupError(f"restoring {Path(src).name} failed: {e}") from None
