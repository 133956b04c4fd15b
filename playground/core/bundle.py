"""Session bundles: a whole workspace as one archive, to carry it off a Space or onto another machine.

    python -m playground bundle export --out session.tar.gz [--force] [--checkpoints]
    python -m playground bundle import session.tar.gz [--force]

A bundle is a gzipped tar holding
    playground.db             a consistent snapshot (datasets and rows, votes / preference pairs, the run list)
    runs/<run_id>/...         each run's config.yaml, status.json, metrics.jsonl, log.txt, adapter/, samples ...
                              (checkpoints/ only with --checkpoints: they are large and only needed to resume)
    presets/<stage>/*.yaml    the user's own presets
    manifest.json             format, version, counts, and the size and sha256 of every file above

Import checks the whole archive before it writes anything: only plain files and folders, no absolute paths,
no `..`, nothing outside the three places above, no member over the size limit, every file listed in the
manifest with a matching sha256. It refuses a workspace that already holds work unless `force` (and then
keeps a backup of the database it replaces in backups/). Every refusal is one line (BundleError).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from playground.core import backup
from playground.core.errors import UserError
from playground.core.paths import db_path, home, runs_dir

FORMAT = "rlhf-playground-bundle"
VERSION = 1
MANIFEST = "manifest.json"
DB_NAME = "playground.db"
TOP_LEVEL = (DB_NAME, "runs", "presets")
MAX_MEMBER_BYTES = 4 << 30  # one adapter or checkpoint file of a CPU-sized model is far below this
MAX_TOTAL_BYTES = 32 << 30
SKIP_SUFFIXES = (".tmp", ".lock")
CHUNK = 1 << 20

Progress = Callable[[float, str], None]


class BundleError(UserError):
    """A bundle that cannot be written or is refused on import, in one line."""


@dataclass
class BundleInfo:
    path: Path
    files: int = 0
    bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    backup: Path | None = None  # import --force: where the replaced database was kept

    def summary(self) -> str:
        c = self.counts
        text = (f"{c.get('datasets', 0)} datasets ({c.get('rows', 0)} rows), {c.get('pairs', 0)} preference pairs, "
                f"{c.get('runs', 0)} runs; {self.files} files, {self.bytes / 1e6:.1f} MB")
        if self.backup:
            text += f"; the replaced database is kept at {self.backup}"
        return text


def _noop(_fraction: float, _what: str) -> None:
    pass


def db_counts(path: str | Path) -> dict[str, int]:
    """Datasets, rows, pairs and runs in a workspace database (zeros when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {"datasets": 0, "rows": 0, "pairs": 0, "runs": 0}
    from playground.core.workspace import table_counts

    return table_counts(path, ("datasets", "rows", "pairs", "runs"))


# -- export ---------------------------------------------------------------------------------------------
def _walk_files(root: Path, skip_dirs: frozenset[str] | set[str] = frozenset()) -> Iterator[Path]:
    """Regular files under root, sorted, never following or including symlinks."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not os.path.islink(os.path.join(dirpath, d)))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if not p.is_symlink() and p.is_file() and not name.endswith(SKIP_SUFFIXES):
                yield p


def _run_dirs() -> dict[str, Path]:
    """Every run this workspace knows: folders under runs/ plus runs the database lists elsewhere."""
    found = {p.name: p for p in sorted(runs_dir().iterdir()) if p.is_dir() and not p.is_symlink()}
    with contextlib.suppress(sqlite3.Error):
        from playground.core.workspace import Workspace

        for r in Workspace().runs():
            d = Path(r["run_dir"])
            if r["id"] not in found and d.is_dir() and _safe_name(r["id"]):
                found[r["id"]] = d
    return found


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


class _HashingReader:
    """Reads a file for tarfile while hashing exactly the bytes that go into the archive."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh, self.sha = fh, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data


def export_bundle(out: str | Path, force: bool = False, checkpoints: bool = False,
                  progress: Progress = _noop) -> BundleInfo:
    """Write this workspace (PLAYGROUND_HOME) to `out` as a bundle; an existing `out` is kept unless `force`."""
    out = Path(out)
    if out.exists() and not force:
        raise BundleError(f"{out} exists: choose another --out or pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    h = home()
    if out.resolve().is_relative_to(h.resolve() / "runs"):
        raise BundleError("--out must not be inside the workspace's runs/ folder")
    progress(0.0, "snapshotting the database")
    with tempfile.TemporaryDirectory(prefix=".bundle-export-", dir=out.parent) as tmp:
        snap = Path(tmp) / DB_NAME
        if db_path().is_file():
            backup.snapshot(db_path(), snap)
        else:  # an empty workspace still gives a bundle that imports
            from playground.core.workspace import Workspace

            Workspace(snap)
        items: list[tuple[str, Path]] = [(DB_NAME, snap)]
        for run_id, d in _run_dirs().items():
            skip = set() if checkpoints else {"checkpoints"}
            items += [(f"runs/{run_id}/{p.relative_to(d).as_posix()}", p) for p in _walk_files(d, skip)]
        presets = h / "presets"
        if presets.is_dir():
            items += [(f"presets/{p.relative_to(presets).as_posix()}", p) for p in _walk_files(presets)]
        total = sum(p.stat().st_size for _, p in items) or 1
        files: dict[str, dict[str, Any]] = {}
        done = 0
        part = Path(tmp) / "bundle.tar.gz"
        with tarfile.open(part, "w:gz", compresslevel=6) as tf:
            for name, p in items:
                try:
                    fh = open(p, "rb")
                except FileNotFoundError:  # a checkpoint rotated away meanwhile
                    continue
                with fh:
                    size = os.fstat(fh.fileno()).st_size  # a live metrics.jsonl may grow: take what is there now
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = size, int(os.fstat(fh.fileno()).st_mtime), 0o644
                    reader = _HashingReader(fh)
                    tf.addfile(info, reader)  # type: ignore[arg-type]
                files[name] = {"size": size, "sha256": reader.sha.hexdigest()}
                done += size
                progress(0.05 + 0.9 * done / total, f"{name}")
            counts = db_counts(snap)
            counts["run_dirs"] = len({n.split("/")[1] for n in files if n.startswith("runs/")})
            manifest = {"format": FORMAT, "version": VERSION, "created": time.time(), "counts": counts,
                        "files": files}
            data = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tf.addfile(info, io.BytesIO(data))
        os.replace(part, out)
    progress(1.0, "done")
    return BundleInfo(out, len(files), sum(f["size"] for f in files.values()), counts)


# -- import ---------------------------------------------------------------------------------------------
def _member_parts(m: tarfile.TarInfo) -> tuple[str, ...]:
    """The member's path as safe relative parts, or BundleError naming what is wrong with it."""
    name = m.name
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"refused: the archive holds an absolute path ({name!r})")
    parts = tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", "."))
    if ".." in parts:
        raise BundleError(f"refused: the archive holds a path that climbs out with '..' ({name!r})")
    if m.issym() or m.islnk():
        raise BundleError(f"refused: the archive holds a link ({name!r} -> {m.linkname!r})")
    if not (m.isfile() or m.isdir()):
        raise BundleError(f"refused: the archive holds a special file ({name!r})")
    if not parts:
        raise BundleError(f"refused: the archive holds an empty path ({name!r})")
    return parts


def _check_members(tf: tarfile.TarFile, max_member: int, max_total: int) -> tuple[dict[str, Any], list]:
    files, total, manifest_member = [], 0, None
    for m in tf.getmembers():
        parts = _member_parts(m)
        if m.isdir():
            continue
        if m.size > max_member:
            raise BundleError(f"refused: {m.name!r} is {m.size / 1e6:.1f} MB, over the {max_member / 1e6:.1f} MB "
                              "limit for one file")
        total += m.size
        if total > max_total:
            raise BundleError(f"refused: the archive unpacks to more than {max_total / 1e6:.1f} MB")
        rel = "/".join(parts)
        if rel == MANIFEST:
            manifest_member = m
        elif parts[0] not in TOP_LEVEL or (parts[0] == DB_NAME and len(parts) > 1) or (
                parts[0] in ("runs", "presets") and len(parts) < 3):
            raise BundleError(f"refused: {m.name!r} is not a part of a playground bundle")
        else:
            files.append((rel, m))
    if manifest_member is None:
        raise BundleError("refused: not a playground bundle (no manifest.json)")
    try:
        manifest = json.loads(tf.extractfile(manifest_member).read(1 << 24))  # type: ignore[union-attr]
    except (ValueError, AttributeError) as e:
        raise BundleError(f"refused: manifest.json is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("refused: not a playground bundle (manifest format)")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise BundleError(f"refused: bundle version {manifest.get('version')!r} is newer than this playground "
                          f"reads ({VERSION}); upgrade it")
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise BundleError("refused: manifest.json lists no files")
    names = [rel for rel, _ in files]
    if len(set(names)) != len(names):
        raise BundleError("refused: the archive holds the same file twice")
    extra, missing = set(names) - set(listed), set(listed) - set(names)
    if extra or missing:
        which = sorted(extra)[0] if extra else sorted(missing)[0]
        raise BundleError(f"refused: archive and manifest disagree ({which!r} is "
                          f"{'not in the manifest' if extra else 'missing from the archive'})")
    if DB_NAME not in listed:
        raise BundleError(f"refused: the bundle holds no {DB_NAME}")
    return manifest, files


def _conflicts(h: Path, names: list[str]) -> str:
    """What importing would overwrite in home `h`, in words ('' when nothing)."""
    c = db_counts(h / DB_NAME)
    held = [f"{c[k]} {k}" for k in ("datasets", "pairs", "runs") if c[k]]
    runs = {n.split("/")[1] for n in names if n.startswith("runs/")}
    clash = sorted(r for r in runs if (h / "runs" / r).exists())
    presets = [n for n in names if n.startswith("presets/") and (h / n).exists()]
    if clash:
        held.append(f"run folder {clash[0]}" + (f" and {len(clash) - 1} more" if len(clash) > 1 else ""))
    if presets:
        held.append(f"preset {presets[0][len('presets/'):]}")
    return ", ".join(held)


def import_bundle(archive: str | Path, force: bool = False, max_member: int = MAX_MEMBER_BYTES,
                  max_total: int = MAX_TOTAL_BYTES, progress: Progress = _noop) -> BundleInfo:
    """Check `archive` entirely, then restore it into this workspace (PLAYGROUND_HOME)."""
    archive = Path(archive)
    if not archive.is_file():
        raise BundleError(f"no bundle at {archive}")
    progress(0.0, "checking the archive")
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise BundleError(f"refused: {archive.name} is not a bundle archive ({e})") from None
    h = home()
    with tf:
        try:
            manifest, files = _check_members(tf, max_member, max_total)
        except (tarfile.TarError, EOFError, OSError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"refused: {archive.name} is damaged ({e})") from None
        listed = manifest["files"]
        held = _conflicts(h, list(listed))
        if held and not force:
            raise BundleError(f"the workspace {h} already holds {held}: import into an empty PLAYGROUND_HOME, "
                              "or pass --force to replace them (the current database is backed up first)")
        total = sum(m.size for _, m in files) or 1
        staging = Path(tempfile.mkdtemp(prefix=".bundle-import-", dir=h))
        try:
            done = 0
            for rel, m in files:
                want = listed[rel]
                dest = staging.joinpath(*rel.split("/"))
                dest.parent.mkdir(parents=True, exist_ok=True)
                sha, n = hashlib.sha256(), 0
                src = tf.extractfile(m)
                if src is None:
                    raise BundleError(f"refused: {rel!r} cannot be read from the archive")
                with src, open(dest, "wb") as fh:
                    while chunk := src.read(CHUNK):
                        n += len(chunk)
                        if n > max_member:
                            raise BundleError(f"refused: {rel!r} is over the size limit for one file")
                        sha.update(chunk)
                        fh.write(chunk)
                if not isinstance(want, dict) or sha.hexdigest() != want.get("sha256") or n != want.get("size"):
                    raise BundleError(f"refused: {rel!r} does not match its sha256 in the manifest (damaged or edited)")
                done += n
                progress(0.05 + 0.75 * done / total, f"checked {rel}")
            staged_db = staging / DB_NAME
            backup.check_database(staged_db)
            _check_schema(staged_db)
            progress(0.85, "restoring")
            info = _commit(staging, h, [rel for rel, _ in files], force)
        except tarfile.TarError as e:
            raise BundleError(f"refused: {archive.name} is damaged ({e})") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    info.path = archive
    info.bytes = sum(m.size for _, m in files)
    progress(1.0, "done")
    return info


def _check_schema(path: Path) -> None:
    from playground.core.workspace import SCHEMA_VERSION, file_schema_version

    version = file_schema_version(path)
    if version is None:
        raise BundleError(f"refused: the bundle's {DB_NAME} is not a playground workspace")
    if version > SCHEMA_VERSION:
        raise BundleError(f"refused: the bundle's workspace schema ({version}) is newer than this playground's "
                          f"({SCHEMA_VERSION}); upgrade it")


def _commit(staging: Path, h: Path, names: list[str], force: bool) -> BundleInfo:
    """Move the checked files into place: the database through the backup API, run folders and presets by rename."""
    from playground.core.workspace import Workspace

    kept = None
    if force and any(db_counts(db_path()).values()):
        kept = h / "backups" / f"before-import-{time.strftime('%Y%m%d-%H%M%S')}.db"
        backup.snapshot(db_path(), kept)
    backup.restore_into(staging / DB_NAME, db_path())
    ws = Workspace()  # migrates an older bundle's schema
    run_ids = sorted({n.split("/")[1] for n in names if n.startswith("runs/")})
    for run_id in run_ids:
        target = runs_dir() / run_id
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "runs" / run_id, target)
    with ws.transaction() as con:  # the runs' folders now live in this home
        con.executemany("UPDATE runs SET run_dir=? WHERE id=?", [(str(runs_dir() / r), r) for r in run_ids])
    for n in names:
        if n.startswith("presets/"):
            dest = h.joinpath(*n.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging.joinpath(*n.split("/")), dest)
    counts = db_counts(db_path())
    counts["run_dirs"] = len(run_ids)
    return BundleInfo(h, len(names), 0, counts, kept)
