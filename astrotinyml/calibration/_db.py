"""SQLite calibration database: one file, schema-versioned, safe for concurrent writers.

Layout (schema version 2)::

    schema_version(version)                       one row
    runs(id, created, software_version, model_sha256, reference_set,
         parameters_json, summary_json, drift, drift_json)
    reference_results(run_id, kind, idx, reference, row_json)   kind: reference|detection|signal
    parameters(run_id, name, value_json)
    metrics(run_id, name, value)

Every write is one ``BEGIN IMMEDIATE`` transaction (a run is stored completely or not at
all), the journal is WAL and connections wait up to ``timeout`` seconds for a lock, so
several processes (batch workers) may write at once.  Version 1 (the first layout: no model
hash, no drift columns, results in ``results``, no ``parameters`` table) is migrated in place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..config import cache_dir
from ..errors import CalibrationDatabaseError

if TYPE_CHECKING:  # pragma: no cover
    import sqlite3

SCHEMA_VERSION = 2

_V1 = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, software_version TEXT,
    reference_set TEXT, parameters_json TEXT);
CREATE TABLE IF NOT EXISTS results (run_id TEXT NOT NULL REFERENCES runs(id), row_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value REAL);
"""


def _migrate_1_to_2(con: sqlite3.Connection) -> None:
    con.execute("ALTER TABLE runs ADD COLUMN model_sha256 TEXT")
    con.execute("ALTER TABLE runs ADD COLUMN summary_json TEXT")
    con.execute("ALTER TABLE runs ADD COLUMN drift INTEGER NOT NULL DEFAULT 0")
    con.execute("ALTER TABLE runs ADD COLUMN drift_json TEXT")
    con.execute("""CREATE TABLE reference_results (
        run_id TEXT NOT NULL REFERENCES runs(id), kind TEXT NOT NULL, idx INTEGER NOT NULL,
        reference TEXT, row_json TEXT NOT NULL)""")
    con.execute("INSERT INTO reference_results (run_id, kind, idx, reference, row_json) "
                "SELECT run_id, 'reference', rowid, json_extract(row_json, '$.reference'), row_json FROM results")
    con.execute("DROP TABLE results")
    con.execute("""CREATE TABLE parameters (
        run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value_json TEXT,
        PRIMARY KEY (run_id, name))""")
    con.execute("CREATE INDEX IF NOT EXISTS runs_created ON runs(created)")
    con.execute("CREATE INDEX IF NOT EXISTS rr_run ON reference_results(run_id)")
    con.execute("CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id)")


#: migration functions: MIGRATIONS[v] turns schema v into v + 1 (inside the caller's transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_1_to_2}


def default_path() -> Path:
    """``<cache_dir>/calibration.sqlite``."""
    return cache_dir() / "calibration.sqlite"


def resolve(db) -> Path:
    return default_path() if db is None else Path(os.fspath(db)).expanduser()


def _fail(path: Path, exc: Exception) -> CalibrationDatabaseError:
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return CalibrationDatabaseError(
            f"{path}: the calibration database cannot be written ({exc}): the file or its directory "
            f"is read-only.  Reading it needs no write access (detect, calibrate --history); to store "
            f"a run make it writable, or pass db=/--db with another path (or --no-store).")
    return CalibrationDatabaseError(
        f"{path}: not a usable calibration database ({exc}).  Nothing was written to it.  Move the "
        f"file aside (or pass db=/--db with another path) and rerun calibrate to start a new database.")


def connect(db=None, *, timeout: float = 60.0, create: bool = True) -> sqlite3.Connection:
    """Open (and create / migrate) the database; autocommit mode, transactions are explicit."""
    import sqlite3  # ~20 ms: loaded when a database is opened, not by import astrotinyml

    path = resolve(db)
    if not create and not path.exists():
        raise FileNotFoundError(path)
    if path.exists() and path.is_dir():
        raise CalibrationDatabaseError(f"{path} is a directory; pass the path of a .sqlite file.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CalibrationDatabaseError(
            f"{path}: cannot create its directory ({exc.strerror or exc}); pass --db/db= with a "
            f"writable path.") from None
    try:
        con = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise _fail(path, exc) from None
    import time

    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
                # Reading the header fails here for a file that is not SQLite.
                mode = con.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA foreign_keys = ON")
                _ensure_schema(con, path)
                break
            except sqlite3.OperationalError as exc:
                # Switching to WAL / creating the schema while another process does the same
                # can report "locked" without waiting: retry until the timeout.
                msg = str(exc).lower()
                if ("locked" in msg or "busy" in msg) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise
    except sqlite3.DatabaseError as exc:
        con.close()
        raise _fail(path, exc) from None
    except BaseException:
        con.close()
        raise
    return con


def _readonly_uris(path: Path) -> list[str]:
    uri = path.resolve().as_uri()
    # mode=ro never writes (no journal-mode switch, no schema); immutable=1 is the fallback for
    # a WAL database in a directory we cannot write (ro would need to create its -shm file)
    return [f"{uri}?mode=ro", f"{uri}?mode=ro&immutable=1"]


def connect_readonly(db=None, *, timeout: float = 60.0) -> sqlite3.Connection | None:
    """Open the database for reading only: nothing about the file changes (journal mode included).

    Returns None for a file without tables (nothing stored yet).  A version-1 database is
    migrated first through :func:`connect` (the only write a reader makes, and only if the
    file is writable).  Every SQLite failure is a :class:`CalibrationDatabaseError` naming
    the file.
    """
    import sqlite3  # ~20 ms: loaded when a database is opened, not by import astrotinyml

    path = resolve(db)
    if not path.exists():
        raise FileNotFoundError(path)
    if path.is_dir():
        raise CalibrationDatabaseError(f"{path} is a directory; pass the path of a .sqlite file.")
    uris = _readonly_uris(path)
    for i, uri in enumerate(uris):
        con = None
        try:
            con = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            v = _version(con)
        except sqlite3.OperationalError as exc:
            if con is not None:
                con.close()
            if i + 1 < len(uris) and "unable to open" in str(exc).lower():
                continue
            raise _fail(path, exc) from None
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            raise _fail(path, exc) from None
        break
    if v is None:
        con.close()
        raise CalibrationDatabaseError(
            f"{path}: an SQLite file without an astrotinyml calibration schema; nothing was read or "
            f"written.  Pass db=/--db another path, or move the file aside.")
    if v > SCHEMA_VERSION:
        con.close()
        raise CalibrationDatabaseError(
            f"{path}: schema version {v} is newer than this astrotinyml understands ({SCHEMA_VERSION}); "
            f"upgrade astrotinyml.")
    if v == 0:
        con.close()
        return None
    if v < SCHEMA_VERSION:
        con.close()
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise CalibrationDatabaseError(
                f"{path}: schema version {v} needs migrating to {SCHEMA_VERSION}, which needs write "
                f"access to the file and its directory.  Run 'astrotinyml calibrate --history' once "
                f"where it is writable, or copy it somewhere writable and pass --db.")
        return connect(path, timeout=timeout)
    return con


def check_writable(db=None, *, timeout: float = 60.0) -> Path:
    """Raise :class:`CalibrationDatabaseError` now unless a run can be stored in ``db``.

    Called before a calibration run (minutes of work) so that a read-only file, a read-only
    directory or a foreign/corrupt file is reported before the work, not after it.  Creates
    (and migrates) the database as storing would; takes the write lock and releases it.
    """
    import sqlite3  # ~20 ms: loaded when a database is opened, not by import astrotinyml

    path = resolve(db)
    try:
        con = connect(path, timeout=timeout)
    except CalibrationDatabaseError:
        raise
    except OSError as exc:
        raise CalibrationDatabaseError(
            f"{path}: cannot create the calibration database ({exc.strerror or exc}).  Pass "
            f"--db with a writable path, or --no-store.") from None
    except sqlite3.Error as exc:  # pragma: no cover - connect() wraps these
        raise _fail(path, exc) from None
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise CalibrationDatabaseError(
            f"{path}: the calibration database cannot be written ({exc}); checked before the run, "
            f"nothing was computed.  Make it writable, pass --db with another path, or --no-store.") from None
    finally:
        con.close()
    return path


def _version(con) -> int | None:
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "schema_version" not in have:
        return 0 if not have else None
    row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _ensure_schema(con: sqlite3.Connection, path: Path) -> None:
    v = _version(con)
    if v == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")
    try:
        v = _version(con)  # again, under the write lock (another process may have done it)
        if v is None:
            raise CalibrationDatabaseError(
                f"{path}: an SQLite file without an astrotinyml calibration schema; nothing was written.  "
                f"Pass db= another path, or move the file aside.")
        if v > SCHEMA_VERSION:
            raise CalibrationDatabaseError(
                f"{path}: schema version {v} is newer than this astrotinyml understands ({SCHEMA_VERSION}); "
                f"upgrade astrotinyml.")
        if v == 0:
            # statement by statement: executescript() would COMMIT our transaction
            for stmt in _V1.strip().split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute("INSERT INTO schema_version (version) VALUES (1)")
            v = 1
        while v < SCHEMA_VERSION:
            MIGRATIONS[v](con)
            v += 1
            con.execute("DELETE FROM schema_version")
            con.execute("INSERT INTO schema_version (version) VALUES (?)", (v,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def create_v1(db) -> None:
    """Create an empty database in the old (version 1) layout -- for migration tests."""
    import sqlite3  # ~20 ms: loaded when a database is opened, not by import astrotinyml

    path = resolve(db)
    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        for stmt in _V1.strip().split(";"):
            if stmt.strip():
                con.execute(stmt)
        con.execute("INSERT INTO schema_version (version) VALUES (1)")
        con.execute("COMMIT")
    finally:
        con.close()


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    return str(o)


def dumps(obj) -> str:
    return json.dumps(clean(obj), default=_json_default, sort_keys=True)


def clean(obj):
    """NaN/inf -> None (recursively, numpy scalars and arrays as plain Python) so that the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.floating):
            return float(obj) if np.isfinite(obj) else None
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.ndarray):
            return clean(obj.tolist())
    except ImportError:  # pragma: no cover
        pass
    return obj


def write_run(con: sqlite3.Connection, doc: dict, *, drift_fn=None, fail_after_rows: int | None = None) -> dict:
    """Store one run (``Calibration.to_dict()``) in one transaction; returns the drift dict.

    ``drift_fn(previous_metrics or None, metrics) -> dict`` is evaluated under the write lock
    against the latest run already stored, so concurrent writers each compare to a complete
    predecessor.  ``fail_after_rows`` raises after that many result rows (tests of rollback).
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        prev = con.execute("SELECT id FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()
        prev_metrics = None
        if prev is not None:
            prev_metrics = {n: v for n, v in con.execute("SELECT name, value FROM metrics WHERE run_id = ?",
                                                         (prev[0],))}
        drift = drift_fn(prev[0] if prev else None, prev_metrics, doc.get("metrics", {})) if drift_fn else {}
        con.execute(
            "INSERT INTO runs (id, created, software_version, model_sha256, reference_set, parameters_json, "
            "summary_json, drift, drift_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc["id"], doc["created"], doc.get("software_version"), doc.get("model_sha256"),
             dumps(doc.get("reference_summary", {})), dumps(doc.get("options", {})),
             dumps({k: v for k, v in doc.items() if k not in ("tables", "parameters", "metrics")}),
             int(bool(drift.get("flagged"))), dumps(drift)))
        n = 0
        for kind, rows in doc.get("tables", {}).items():
            for i, row in enumerate(rows):
                con.execute("INSERT INTO reference_results (run_id, kind, idx, reference, row_json) "
                            "VALUES (?, ?, ?, ?, ?)", (doc["id"], kind, i, str(row.get("reference", "")),
                                                       dumps(row)))
                n += 1
                if fail_after_rows is not None and n >= fail_after_rows:
                    raise RuntimeError(f"simulated failure after {n} rows")
        for name, value in doc.get("parameters", {}).items():
            con.execute("INSERT INTO parameters (run_id, name, value_json) VALUES (?, ?, ?)",
                        (doc["id"], name, dumps(value)))
        for name, value in doc.get("metrics", {}).items():
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, (int, float)) or value is None:
                v = None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
                con.execute("INSERT INTO metrics (run_id, name, value) VALUES (?, ?, ?)", (doc["id"], name, v))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return drift


def run_ids(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT id FROM runs ORDER BY created, rowid")]


def read_run(con, run_id: str) -> dict | None:
    row = con.execute("SELECT id, created, software_version, model_sha256, reference_set, parameters_json, "
                      "summary_json, drift, drift_json FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    summary = json.loads(row[6]) if row[6] else {}
    doc: dict[str, Any] = dict(summary)
    doc.update(id=row[0], created=row[1], software_version=row[2], model_sha256=row[3],
               reference_summary=json.loads(row[4]) if row[4] else {},
               options=json.loads(row[5]) if row[5] else {},
               drift=json.loads(row[8]) if row[8] else {"flagged": bool(row[7])})
    doc["parameters"] = {n: json.loads(v) if v is not None else None
                         for n, v in con.execute("SELECT name, value_json FROM parameters WHERE run_id = ?",
                                                 (run_id,))}
    doc["metrics"] = {n: (float("nan") if v is None else v)
                      for n, v in con.execute("SELECT name, value FROM metrics WHERE run_id = ?", (run_id,))}
    tables: dict[str, list] = {}
    for kind, rj in con.execute("SELECT kind, row_json FROM reference_results WHERE run_id = ? ORDER BY kind, idx",
                                (run_id,)):
        tables.setdefault(kind, []).append(json.loads(rj))
    doc["tables"] = tables
    return doc


def history_rows(con) -> list[dict]:
    out = []
    for rid, created, ver, sha, ref, drift, drift_json in con.execute(
            "SELECT id, created, software_version, model_sha256, reference_set, drift, drift_json "
            "FROM runs ORDER BY created, rowid"):
        metrics = {n: (float("nan") if v is None else v)
                   for n, v in con.execute("SELECT name, value FROM metrics WHERE run_id = ?", (rid,))}
        out.append(dict(id=rid, created=created, software_version=ver, model_sha256=sha,
                        reference_set=json.loads(ref) if ref else {}, drift=bool(drift),
                        drift_detail=json.loads(drift_json) if drift_json else {}, metrics=metrics))
    return out
