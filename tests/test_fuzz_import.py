"""Fuzz: every file of tests/fuzz_corpus.py through the datasets and preferences imports (the service functions
the CLI and the upload handlers call, and the real CLI for a sample). Counted and printed:

- tracebacks: anything but a UserError (target 0);
- bad messages: a UserError that is not one printable line (target 0);
- junk stored: "None", "nan", "inf", dict / list / bytes reprs stored as text, or text that is not valid
  Unicode (target 0);
- changed on failure: the workspace differs after an import that raised (target 0); staging (the preview)
  never changes it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz_corpus import families, generate

ROOT = Path(__file__).resolve().parent.parent
CAP_MB = "3"  # PLAYGROUND_MAX_UPLOAD_MB for the run: the corpus's "huge-over-cap" files are just above it
JUNK = re.compile(r"^\s*(None|nan|NaN|inf|-inf|Infinity|-Infinity|null|True|False)\s*$|^\s*(\{'|\[\{'|\['|b'|b\"|\[\]$|\{\}$)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    files = generate(tmp_path_factory.mktemp("fuzz"), seed=0, huge_mb=float(CAP_MB))
    assert len(files) >= 300
    return files


def _state(db: Path) -> tuple:
    """What an import changes: the datasets and the last row / pair id (imports only add; MAX(id) is an index
    lookup, COUNT(*) would scan the table on every call)."""
    if not db.exists():
        return ()
    con = sqlite3.connect(db)
    try:
        return (tuple(con.execute("SELECT id, name FROM datasets ORDER BY id")),
                con.execute("SELECT COALESCE(MAX(id), 0) FROM rows").fetchone()[0],
                con.execute("SELECT COALESCE(MAX(id), 0) FROM pairs").fetchone()[0])
    finally:
        con.close()


def _texts(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [t for x in v for t in _texts(x)]
    if isinstance(v, dict):
        return [t for x in v.values() for t in _texts(x)]
    return [repr(v)]  # a non-text leaf inside stored text fields is junk too


def _junk(texts: list[str]) -> list[str]:
    bad = []
    for t in texts:
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(ascii(t)[:80])
            continue
        if JUNK.search(t):
            bad.append(t[:80])
    return bad


def _new_texts(db: Path, rows_after: int, pairs_after: int) -> list[str]:
    con = sqlite3.connect(db)
    try:
        out = []
        for (data,) in con.execute("SELECT data FROM rows WHERE id > ?", (rows_after,)):
            msgs = json.loads(data)["messages"]
            out += _texts(msgs)
            out += [m["role"] for m in msgs if m["role"] not in ("user", "assistant", "system")]
        for prompt, a, b in con.execute("SELECT prompt, response_a, response_b FROM pairs WHERE id > ?",
                                        (pairs_after,)):
            out += _texts(json.loads(prompt) if prompt.startswith("[") else prompt) + [a, b]
        return out
    finally:
        con.close()


@pytest.fixture
def fast_home(tmp_path: Path) -> Any:
    """A PLAYGROUND_HOME in RAM when the machine has /dev/shm: ~3000 imports commit ~1000 SQLite transactions,
    and their fsyncs, not the import code, would dominate the run on a disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = Path(tempfile.mkdtemp(prefix="fuzz-home-", dir=shm))
        yield d / "home"
        shutil.rmtree(d, ignore_errors=True)
    else:
        yield tmp_path / "home"


def _upload(up: Any) -> Any:
    """The Dataset tab shows up.error (a file that reads but does not convert) as its one line."""
    from playground.core.errors import FormatError

    if up.error:
        raise FormatError(up.error)
    return up


def test_fuzz_corpus_through_every_import(corpus, fast_home, monkeypatch, capsys):
    from playground.core.errors import UserError
    from playground.core.workspace import Workspace
    from playground.stages.dataset import io as dio
    from playground.stages.dataset import staging
    from playground.stages.preferences import io as prefs_io

    home = fast_home
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    monkeypatch.setenv("PLAYGROUND_MAX_UPLOAD_MB", CAP_MB)
    ws = Workspace()
    db = home / "playground.db"
    runs = {  # what the CLI and the upload handlers call
        "datasets stage": lambda f: dio.stage_file(f, display_name=f.name),
        "datasets upload stage": lambda f: _upload(staging.stage_upload(f)),  # the Dataset tab's upload handler
        "datasets import": lambda f: dio.import_file(ws, f, "fuzz", append=True),
        "datasets strict": lambda f: dio.import_file(ws, f, "fuzz-strict", append=True, strict=True),
        "prefs stage": lambda f: prefs_io.stage_pairs(f, pool="fuzz"),
        "prefs import": lambda f: prefs_io.import_pairs(ws, f, pool="fuzz"),
        "prefs strict": lambda f: prefs_io.import_pairs(ws, f, pool="fuzz-strict", strict=True),
    }
    counts: Counter = Counter()
    problems: list[str] = []
    for f in corpus:
        for what, run in runs.items():
            before = _state(db)
            rows_max = before[1] if before else 0
            pairs_max = before[2] if before else 0
            counts["runs"] += 1
            try:
                res = run(f)
            except UserError as e:
                counts["refused (one line)"] += 1
                msg = str(e)
                if "\n" in msg or "\r" in msg or not msg.strip() or len(msg) > 1200 or msg != msg.encode(
                        "utf-8", "replace").decode("utf-8"):
                    counts["bad messages"] += 1
                    problems.append(f"{what} {f.name}: bad message {msg[:200]!a}")
                if _state(db) != before:
                    counts["changed on failure"] += 1
                    problems.append(f"{what} {f.name}: workspace changed although it raised: {msg[:120]}")
                continue
            except Exception:  # noqa: BLE001 - exactly what this test counts
                counts["tracebacks"] += 1
                problems.append(f"{what} {f.name}: {traceback.format_exc(limit=3).splitlines()[-1][:200]}")
                continue
            if what.endswith("stage"):
                counts["staged"] += 1
                if _state(db) != before:
                    counts["changed on failure"] += 1
                    problems.append(f"{what} {f.name}: staging changed the workspace")
                continue
            skipped = res.skipped if hasattr(res, "skipped") else res.rejected
            counts["imported, some rows skipped" if skipped else "imported whole"] += 1
            counts["rows stored"] += res.rows if hasattr(res, "skipped") else res.imported
            counts["rows skipped"] += len(skipped)
            if skipped:
                for line in Path(res.rejects_path).read_text(encoding="utf-8").splitlines():
                    json.loads(line)  # the downloadable list is valid JSONL
            junk = _junk(_new_texts(db, rows_max, pairs_max))
            if junk:
                counts["junk stored"] += len(junk)
                problems.append(f"{what} {f.name}: junk stored {junk[:3]}")
    for key in ("tracebacks", "bad messages", "junk stored", "changed on failure"):
        counts.setdefault(key, 0)
    fam = families(corpus)
    with capsys.disabled():
        print(f"\nfuzz corpus: {len(corpus)} files ({', '.join(f'{k}={v}' for k, v in sorted(fam.items()))})")
        print("fuzz counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
        for p in problems[:20]:
            print("  " + p)
    assert counts["tracebacks"] == 0 and counts["bad messages"] == 0, problems[:10]
    assert counts["junk stored"] == 0 and counts["changed on failure"] == 0, problems[:10]
    assert counts["imported whole"] >= 30 and counts["imported, some rows skipped"] >= 30  # the corpus has both


def test_fuzz_sample_through_the_cli(corpus, tmp_path):
    """The real command line on a spread of the corpus: exit 0 or 1, never a traceback, one line on error."""
    env = {**os.environ, "PLAYGROUND_HOME": str(tmp_path / "home"), "PLAYGROUND_MAX_UPLOAD_MB": CAP_MB,
           "HF_HUB_OFFLINE": "1"}
    picks = {p.name.split("-")[0]: p for p in corpus if p.name.split("-")[0] not in ("good",)}  # one per family
    picks["hh"] = next(p for p in corpus if p.name.startswith("hh-empty-turns"))
    counts: Counter = Counter()
    for f in sorted(picks.values()):
        for args in (["datasets", "import", str(f), "--name", "fz", "--append"],
                     ["prefs", "import", str(f), "--pool", "fz"]):
            r = subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=120, errors="backslashreplace")
            counts[f"rc={r.returncode}"] += 1
            assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (f.name, r.stderr[-500:])
            if r.returncode == 1:
                lines = r.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: "), (f.name, r.stderr[-500:])
    assert counts["rc=0"] >= 3 and counts["rc=1"] >= 3, counts
