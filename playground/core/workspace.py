"""The SQLite workspace: datasets and their rows, preference pairs, and runs, in one WAL-mode file.

    ws = Workspace()                       # $PLAYGROUND_HOME/playground.db
    ws.create_dataset("my-set")
    ws.add_rows("my-set", [{"messages": [{"role": "user", "content": "Hi"}, ...]}])

Every public method opens its own short connection, so the object is safe to share between Gradio's
worker threads; writes are single transactions, so concurrent voters never lose or duplicate a row.
The schema is versioned in `meta.schema_version`; MIGRATIONS[i] upgrades version i to i + 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playground.core.errors import WorkspaceError  # noqa: F401 - raised here, re-exported
from playground.core.paths import db_path

MIGRATIONS: list[str] = [
    # 0 -> 1: the initial schema
    """
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL
    );
    CREATE TABLE rows (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        data TEXT NOT NULL,               -- JSON: {"messages": [...]} or {"prompt", "completion"}
        split TEXT NOT NULL DEFAULT 'train',
        meta TEXT NOT NULL DEFAULT '{}',  -- JSON: source, annotator, ...
        created REAL NOT NULL
    );
    CREATE INDEX rows_dataset ON rows(dataset_id);
    CREATE TABLE pairs (
        id INTEGER PRIMARY KEY,
        pool TEXT NOT NULL DEFAULT 'default',
        prompt TEXT NOT NULL,             -- JSON list of messages, or a plain string
        response_a TEXT NOT NULL,
        response_b TEXT NOT NULL,
        source_a TEXT NOT NULL DEFAULT '{}',  -- JSON: model, adapter, sampling params, seed
        source_b TEXT NOT NULL DEFAULT '{}',
        choice TEXT,                      -- a | b | tie | both_bad | NULL (not judged yet)
        rating_a INTEGER,
        rating_b INTEGER,
        reason TEXT NOT NULL DEFAULT '',
        annotator TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'vote',    -- vote | edit | import
        pair_key TEXT NOT NULL DEFAULT '',    -- same key = same pair shown to several annotators
        latency_ms REAL,
        meta TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE INDEX pairs_pool ON pairs(pool);
    CREATE INDEX pairs_key ON pairs(pair_key);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        stage TEXT NOT NULL,
        run_dir TEXT NOT NULL,
        config TEXT NOT NULL,
        created REAL NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _row_dict(cur: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row)}


class Workspace:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # revision(): a connection kept open only to read PRAGMA data_version, plus a count of this object's
        # commits (data_version moves on commits by *other* connections, this process's and the CLI's alike)
        self._writes = 0
        self._rev_con: sqlite3.Connection | None = None
        self._rev_lock = threading.Lock()
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            self._migrate(con)

    # -- plumbing ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = _row_dict
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: either every statement lands or none does."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            self._writes += 1

    def revision(self) -> str:
        """A cheap token that changes whenever the workspace does: any committed write to the database (from
        this process or another, e.g. the CLI) or any run's status.json (a run queued, started, finished).

        The UI polls it every few seconds and refreshes its pickers only when it moved; one call is a PRAGMA on
        a kept-open connection plus a stat per run folder."""
        with self._rev_lock:
            if self._rev_con is None:
                self._rev_con = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            version = self._rev_con.execute("PRAGMA data_version").fetchone()[0]
        runs = self.path.parent / "runs"
        stamp = 0
        try:
            with os.scandir(runs) as it:
                for entry in it:
                    with contextlib.suppress(OSError):
                        stamp ^= hash((entry.name, os.stat(os.path.join(entry.path, "status.json")).st_mtime_ns))
        except OSError:
            pass
        return f"{version}.{self._writes}.{stamp:x}"

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row["value"]) if row else 0
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{self.path}: schema version {version} is newer than this playground ({SCHEMA_VERSION}); upgrade it."
            )
        while version < SCHEMA_VERSION:
            con.execute("BEGIN IMMEDIATE")
            try:
                # re-check under the write lock: another process may have migrated meanwhile
                row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                version = int(row["value"]) if row else 0
                if version >= SCHEMA_VERSION:
                    con.execute("COMMIT")
                    break
                for stmt in MIGRATIONS[version].split(";"):
                    if stmt.strip():
                        con.execute(stmt)
                version += 1
                con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(version),))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def schema_version(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()["value"])

    # -- datasets ---------------------------------------------------------------------------------
    def create_dataset(self, name: str, description: str = "") -> int:
        name = (name or "").strip()
        if not name:
            raise WorkspaceError("A dataset needs a name.")
        if name.startswith("builtin:"):
            raise WorkspaceError("Names starting with 'builtin:' are reserved for the shipped datasets.")
        try:
            with self.transaction() as con:
                cur = con.execute(
                    "INSERT INTO datasets(name, description, created) VALUES (?, ?, ?)", (name, description, time.time())
                )
                return int(cur.lastrowid)
        except sqlite3.IntegrityError:
            raise WorkspaceError(f"A dataset named '{name}' already exists.") from None

    def _dataset_id(self, con: sqlite3.Connection, name: str) -> int:
        row = con.execute("SELECT id FROM datasets WHERE name=?", (name,)).fetchone()
        if row is None:
            raise WorkspaceError(f"No dataset named '{name}' in the workspace.")
        return int(row["id"])

    def has_dataset(self, name: str) -> bool:
        with self._connect() as con:
            return con.execute("SELECT 1 FROM datasets WHERE name=?", (name,)).fetchone() is not None

    def list_datasets(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            return con.execute(
                "SELECT d.id, d.name, d.description, d.created, COUNT(r.id) AS rows FROM datasets d "
                "LEFT JOIN rows r ON r.dataset_id = d.id GROUP BY d.id ORDER BY d.name"
            ).fetchall()

    def delete_dataset(self, name: str) -> None:
        with self.transaction() as con:
            con.execute("DELETE FROM datasets WHERE id=?", (self._dataset_id(con, name),))

    def rename_dataset(self, name: str, new_name: str) -> None:
        try:
            with self.transaction() as con:
                con.execute("UPDATE datasets SET name=? WHERE id=?", (new_name.strip(), self._dataset_id(con, name)))
        except sqlite3.IntegrityError:
            raise WorkspaceError(f"A dataset named '{new_name}' already exists.") from None

    # -- rows -------------------------------------------------------------------------------------
    def add_rows(
        self, name: str, rows: list[dict[str, Any]], split: str = "train", meta: dict[str, Any] | None = None,
        create: bool = False,
    ) -> list[int]:
        """Append rows in one transaction (all or nothing). With create=True, a missing dataset is made."""
        if create and not self.has_dataset(name):
            self.create_dataset(name)
        now = time.time()
        ids = []
        with self.transaction() as con:
            ds = self._dataset_id(con, name)
            for r in rows:
                row_meta = dict(meta or {})
                row_meta.update(r.pop("_meta", {}) if isinstance(r, dict) else {})
                cur = con.execute(
                    "INSERT INTO rows(dataset_id, data, split, meta, created) VALUES (?, ?, ?, ?, ?)",
                    (ds, json.dumps(r, ensure_ascii=False), split,
                     json.dumps(row_meta, ensure_ascii=False), now),
                )
                ids.append(int(cur.lastrowid))
        return ids

    def rows(self, name: str, split: str | None = None) -> list[dict[str, Any]]:
        """Rows as {"id", "data", "split", "meta", "created"} with data/meta decoded, in insertion order."""
        with self._connect() as con:
            ds = self._dataset_id(con, name)
            q = "SELECT id, data, split, meta, created FROM rows WHERE dataset_id=?"
            args: tuple = (ds,)
            if split:
                q += " AND split=?"
                args = (ds, split)
            out = con.execute(q + " ORDER BY id", args).fetchall()
        for r in out:
            r["data"] = json.loads(r["data"])
            r["meta"] = json.loads(r["meta"])
        return out

    def get_row(self, row_id: int) -> dict[str, Any]:
        with self._connect() as con:
            r = con.execute(
                "SELECT r.id, r.data, r.split, r.meta, r.created, d.name AS dataset FROM rows r "
                "JOIN datasets d ON d.id = r.dataset_id WHERE r.id=?", (row_id,)
            ).fetchone()
        if r is None:
            raise WorkspaceError(f"No row with id {row_id}.")
        r["data"] = json.loads(r["data"])
        r["meta"] = json.loads(r["meta"])
        return r

    def update_row(self, row_id: int, data: dict[str, Any]) -> None:
        with self.transaction() as con:
            cur = con.execute("UPDATE rows SET data=? WHERE id=?", (json.dumps(data, ensure_ascii=False), row_id))
            if cur.rowcount != 1:
                raise WorkspaceError(f"No row with id {row_id}.")

    def delete_rows(self, row_ids: list[int]) -> list[dict[str, Any]]:
        """Delete rows and return them whole, so the caller can offer undo via restore_rows()."""
        removed = [self.get_row(i) for i in row_ids]
        with self.transaction() as con:
            con.executemany("DELETE FROM rows WHERE id=?", [(i,) for i in row_ids])
        return removed

    def restore_rows(self, removed: list[dict[str, Any]]) -> None:
        with self.transaction() as con:
            for r in removed:
                ds = self._dataset_id(con, r["dataset"])
                con.execute(
                    "INSERT INTO rows(id, dataset_id, data, split, meta, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (r["id"], ds, json.dumps(r["data"], ensure_ascii=False), r["split"],
                     json.dumps(r["meta"], ensure_ascii=False), r["created"]),
                )

    def set_splits(self, assignments: dict[int, str]) -> None:
        with self.transaction() as con:
            con.executemany("UPDATE rows SET split=? WHERE id=?", [(s, i) for i, s in assignments.items()])

    # -- preference pairs -------------------------------------------------------------------------
    PAIR_FIELDS = (
        "pool", "prompt", "response_a", "response_b", "source_a", "source_b", "choice", "rating_a", "rating_b",
        "reason", "annotator", "kind", "pair_key", "latency_ms", "meta",
    )
    _JSON_PAIR_FIELDS = ("source_a", "source_b", "meta")

    def add_pair(self, **fields: Any) -> int:
        return self.add_pairs([fields])[0]

    def add_pairs(self, pairs: list[dict[str, Any]]) -> list[int]:
        ids = []
        with self.transaction() as con:
            for p in pairs:
                unknown = set(p) - set(self.PAIR_FIELDS)
                if unknown:
                    raise WorkspaceError(f"unknown pair field(s): {', '.join(sorted(unknown))}")
                vals = dict(p)
                for k in self._JSON_PAIR_FIELDS:
                    if k in vals and not isinstance(vals[k], str):
                        vals[k] = json.dumps(vals[k], ensure_ascii=False)
                if not isinstance(vals.get("prompt", ""), str):
                    vals["prompt"] = json.dumps(vals["prompt"], ensure_ascii=False)
                cols = list(vals) + ["created"]
                cur = con.execute(
                    f"INSERT INTO pairs({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                    [*vals.values(), time.time()],
                )
                ids.append(int(cur.lastrowid))
        return ids

    def pairs(self, pool: str | None = None, judged_only: bool = False) -> list[dict[str, Any]]:
        q = "SELECT * FROM pairs WHERE 1=1"
        args: list[Any] = []
        if pool:
            q += " AND pool=?"
            args.append(pool)
        if judged_only:
            q += " AND choice IS NOT NULL"
        with self._connect() as con:
            out = con.execute(q + " ORDER BY id", args).fetchall()
        return [self._decode_pair(r) for r in out]

    def _decode_pair(self, r: dict[str, Any]) -> dict[str, Any]:
        for k in self._JSON_PAIR_FIELDS:
            r[k] = json.loads(r[k]) if r[k] else {}
        if r["prompt"].startswith("["):
            with contextlib.suppress(json.JSONDecodeError):  # a plain prompt that happens to start with '['
                r["prompt"] = json.loads(r["prompt"])
        return r

    def get_pair(self, pair_id: int) -> dict[str, Any]:
        """One pair by id, decoded as pairs() decodes them."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM pairs WHERE id=?", (pair_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no pair with id {pair_id}")
        return self._decode_pair(row)

    def count_judged(self, pool: str | None = None, annotator: str | None = None) -> int:
        """Judged pairs (choice set), in one pool or all, by one annotator or anyone."""
        q, args = "SELECT COUNT(*) AS n FROM pairs WHERE choice IS NOT NULL", []
        if pool:
            q, args = q + " AND pool=?", [*args, pool]
        if annotator is not None:
            q, args = q + " AND annotator=?", [*args, annotator]
        with self._connect() as con:
            return int(con.execute(q, args).fetchone()["n"])

    def open_pool_pairs(self, pool: str, annotator: str) -> list[dict[str, Any]]:
        """The pool's unjudged template pairs this annotator has not judged yet, each with its number of judgements
        ({"id", "pair_key", "n"}), fewest first."""
        with self._connect() as con:
            return con.execute(
                "SELECT t.id, t.pair_key, (SELECT COUNT(*) FROM pairs v WHERE v.pair_key = t.pair_key "
                "AND v.pool = t.pool AND v.choice IS NOT NULL) AS n FROM pairs t WHERE t.pool=? AND t.choice IS NULL "
                "AND t.pair_key != '' AND NOT EXISTS (SELECT 1 FROM pairs v WHERE v.pair_key = t.pair_key "
                "AND v.pool = t.pool AND v.annotator=? AND v.choice IS NOT NULL) ORDER BY n, t.id",
                (pool, annotator),
            ).fetchall()

    def count_pairs(self, pool: str | None = None) -> int:
        with self._connect() as con:
            if pool:
                return con.execute("SELECT COUNT(*) AS n FROM pairs WHERE pool=?", (pool,)).fetchone()["n"]
            return con.execute("SELECT COUNT(*) AS n FROM pairs").fetchone()["n"]

    def pools(self) -> list[str]:
        with self._connect() as con:
            return [r["pool"] for r in con.execute("SELECT DISTINCT pool FROM pairs ORDER BY pool").fetchall()]

    def delete_pairs(self, pair_ids: list[int]) -> None:
        with self.transaction() as con:
            con.executemany("DELETE FROM pairs WHERE id=?", [(i,) for i in pair_ids])

    # -- runs -------------------------------------------------------------------------------------
    def register_run(self, run_id: str, stage: str, run_dir: str | Path, config: dict[str, Any]) -> None:
        with self.transaction() as con:
            con.execute(
                "INSERT OR REPLACE INTO runs(id, stage, run_dir, config, created) VALUES (?, ?, ?, ?, ?)",
                (run_id, stage, str(run_dir), json.dumps(config), time.time()),
            )

    def runs(self, stage: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM runs"
        args: tuple = ()
        if stage:
            q += " WHERE stage=?"
            args = (stage,)
        with self._connect() as con:
            out = con.execute(q + " ORDER BY created DESC", args).fetchall()
        for r in out:
            r["config"] = json.loads(r["config"])
        return out

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._connect() as con:
            r = con.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if r:
            r["config"] = json.loads(r["config"])
        return r

    # -- evaluation: cached answers and stored reports (stages/evaluate) ---------------------------------------
    # Made on first use (IF NOT EXISTS), not by a schema migration: the answers are a cache that can always be
    # generated again and the reports are additive, so older code reading this database is unaffected.
    _EVAL_SCHEMA = (
        "CREATE TABLE IF NOT EXISTS eval_answers (key TEXT PRIMARY KEY, policy TEXT NOT NULL, prompt TEXT NOT NULL,"
        " seed INTEGER NOT NULL, settings TEXT NOT NULL, response TEXT NOT NULL, n_tokens INTEGER NOT NULL,"
        " logp REAL, logp_base REAL, created REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS evaluations (id INTEGER PRIMARY KEY, created REAL NOT NULL,"
        " prompts TEXT NOT NULL, baseline TEXT NOT NULL, report TEXT NOT NULL)",
    )
    _EVAL_ANSWER_FIELDS = ("key", "policy", "prompt", "seed", "settings", "response", "n_tokens", "logp",
                           "logp_base")

    def _eval_tables(self, con: sqlite3.Connection) -> None:
        for stmt in self._EVAL_SCHEMA:
            con.execute(stmt)

    def eval_answers(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Cached evaluation answers by key (only the keys found)."""
        out: dict[str, dict[str, Any]] = {}
        with self._connect() as con:
            self._eval_tables(con)
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = con.execute(f"SELECT * FROM eval_answers WHERE key IN ({', '.join('?' * len(chunk))})",
                                   chunk).fetchall()
                out.update({r["key"]: r for r in rows})
        return out

    def put_eval_answers(self, rows: list[dict[str, Any]]) -> None:
        """Store (or replace) cached evaluation answers in one transaction."""
        now = time.time()
        with self.transaction() as con:
            self._eval_tables(con)
            for r in rows:
                vals = [r.get(k) for k in self._EVAL_ANSWER_FIELDS]
                con.execute(f"INSERT OR REPLACE INTO eval_answers({', '.join(self._EVAL_ANSWER_FIELDS)}, created) "
                            f"VALUES ({', '.join('?' * (len(vals) + 1))})", [*vals, now])

    def add_evaluation(self, report: dict[str, Any]) -> int:
        """Store one evaluation report (JSON); returns its id."""
        with self.transaction() as con:
            self._eval_tables(con)
            cur = con.execute("INSERT INTO evaluations(created, prompts, baseline, report) VALUES (?, ?, ?, ?)",
                              (time.time(), str(report.get("prompts", "")), str(report.get("baseline", "")),
                               json.dumps(report, ensure_ascii=False, default=float)))
            return int(cur.lastrowid)

    def evaluations(self, limit: int = 200) -> list[dict[str, Any]]:
        """Stored evaluation reports, newest first: {"id", "created", "report"} with the report decoded."""
        with self._connect() as con:
            self._eval_tables(con)
            rows = con.execute("SELECT id, created, report FROM evaluations ORDER BY id DESC LIMIT ?",
                               (int(limit),)).fetchall()
        for r in rows:
            r["report"] = json.loads(r["report"])
        return rows


# -- database files by path (backups, bundles): the same SQLite, never through a Workspace's connection ----------
def _read_only(path: str | Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)


def integrity(path: str | Path) -> str:
    """SQLite's own integrity check of the database at `path`, read-only: "ok" when sound, else its first finding.
    sqlite3.DatabaseError when the file is not a database at all."""
    con = _read_only(path)
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def copy_database(src: str | Path, dest: str | Path, journal_mode: str, src_read_only: bool = False) -> None:
    """Copy database `src` into `dest` with the online backup API, then set dest's journal mode (DELETE: one file for
    a backup; WAL: a live workspace). Safe while other connections use either: they see the old or the new content.
    pages=-1: one step under one read transaction; a paged copy restarts whenever another connection writes
    between steps, which under steady voting could never finish. sqlite3.Error on failure."""
    assert journal_mode in ("DELETE", "WAL"), journal_mode
    source = _read_only(src) if src_read_only else sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dest, timeout=30)
    try:
        source.backup(target, pages=-1)
        target.execute(f"PRAGMA journal_mode={journal_mode}")
    finally:
        target.close()
        source.close()


def table_counts(path: str | Path, tables: tuple[str, ...] = ("datasets", "rows", "pairs", "runs")) -> dict[str, int]:
    """Rows per table in the database at `path`, read-only (0 for a table a database made before the schema lacks)."""
    con = _read_only(path)
    try:
        out = {}
        for table in tables:
            try:
                out[table] = int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            except sqlite3.OperationalError:
                out[table] = 0
        return out
    finally:
        con.close()


def file_schema_version(path: str | Path) -> int | None:
    """The schema version a workspace database at `path` records, or None when it is not a playground workspace."""
    con = _read_only(path)
    try:
        row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    return None if row is None else int(row[0])
