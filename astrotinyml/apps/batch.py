"""Batch detection over many targets on Dask: resumable, with failures isolated.

:func:`run_batch` maps :func:`astrotinyml.detect` over many targets with
``dask.distributed``.  Each Dask task handles **one target**: it reads (or fetches) the
light curve, runs ``detect()``, writes the reports of that target into
``out_dir/<task>/`` and returns a small summary (the candidate rows as plain values and a
status).  The driver never holds light curves; it only gathers the summaries into

* ``out_dir/candidates.ecsv`` and ``out_dir/candidates.parquet``: one row per candidate,
  with ``task``, ``target`` and ``source`` columns in front of the candidate columns;
* ``out_dir/status.ecsv`` and ``out_dir/status.parquet``: one row per target, ``status``
  ``ok`` / ``failed`` / ``skipped`` with the error type and a one-line message;
* ``out_dir/batch.json``: counts, timings, options and provenance of the run.

Every file is written atomically (temporary ``.part`` file, then a rename).

Resuming
--------
Each task directory gets a ``_done.json`` marker, written last, holding a *key*: the
sha256 of a JSON document with the sha256 of each input file (or the target name and
fetch options), the ``detect`` options with defaults resolved, the report formats, the
model/calibration identity (:func:`model_identity`) and the library version.  On a rerun an
input whose size and modification time equal those recorded in the marker is not read
again (its recorded sha256 is used, as ``make`` trusts timestamps); ``resume=False`` redoes
everything.  A rerun skips
a target whose marker holds the same key and whose listed output files are all present
with their recorded sizes; anything else is redone (the outputs listed by an outdated
marker are removed first).  A run killed at any point therefore loses at most the targets
in flight: their directory has no valid marker and is redone next time, and stale
``.part`` files are removed.  Only a success counts as done: a target that failed, for
whatever reason, is redone on every rerun (its cause may have been fixed without any input
changing).  The model identity in the key includes the sha256 of the model files' bytes, so
a repaired or replaced model file redoes every target.

One run per output directory at a time: a run holds an exclusive lock on
``out_dir/.batch.lock`` (released by the kernel if the process dies); a second run into the
same directory is refused at once with :class:`~astrotinyml.errors.BatchLockedError`.

Each target has a time limit (``target_timeout``, default one hour): past it the target is
recorded as failed (``TargetTimeoutError``) and the batch goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import socket
import stat
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..atomic import OutputExistsError, atomic_path
from ..config import MODELS_DIR
from ..errors import BatchLockedError, InvalidParameterError, TargetTimeoutError

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import QTable, Table

__all__ = [
    "BatchResult",
    "BatchTask",
    "MARKER_NAME",
    "TARGET_TIMEOUT_S",
    "expand_sources",
    "model_identity",
    "run_batch",
]

#: Name of the per-target marker file, written last and atomically.
MARKER_NAME = "_done.json"
#: Version of the marker / key layout; bumping it invalidates every earlier marker.
MARKER_SCHEMA = 1
#: File of the run summary in ``out_dir`` (also marks a directory as a batch output).
BATCH_FILE = "batch.json"
#: Formats the combined tables can be written in.
TABLE_FORMATS = {"ecsv": ("ascii.ecsv", ".ecsv"), "parquet": ("parquet", ".parquet"),
                 "csv": ("ascii.csv", ".csv"), "fits": ("fits", ".fits")}

# Errors that may go away by themselves: retried on a rerun even when retry_failed=False.
_TRANSIENT = ("ConnectionError", "TimeoutError", "MemoryError", "ImportError", "KilledWorker",
              "CancelledError", "CommClosedError", "OfflineError", "ArchiveConnectionError")

# Table columns naming targets, in order of preference, with the prefix a bare id needs.
_PATH_COLUMNS = ("path", "file", "filename", "source_file")
_NAME_COLUMNS = {
    "target": "", "target_name": "", "tic_id": "TIC", "tid": "TIC", "ticid": "TIC", "tic": "TIC",
    "kepid": "KIC", "kic": "KIC", "kic_id": "KIC", "epic": "EPIC", "epic_id": "EPIC",
    "epic_number": "EPIC", "hostname": "", "name": "", "pl_name": "", "toi": "TOI",
}
_FETCH_COLUMNS = ("mission", "sector", "quarter", "campaign", "author", "exptime")


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class BatchTask:
    """One unit of work of :func:`run_batch`: one target.

    Attributes
    ----------
    task_id : str
        Name of the target's output directory in ``out_dir`` (a safe file name, unique
        within the batch).
    kind : str
        ``"file"`` (one light-curve file), ``"files"`` (several files of one star, stitched)
        or ``"name"`` (a target name fetched with ``astrotinyml.remote.mast.fetch_lightcurve``).
    source : str
        The source as the user gave it (path(s) joined with ``;``, or the name).
    paths : tuple of str
        Input files (empty for ``"name"``).
    name : str or None
        Target name for ``"name"`` tasks.
    fetch : tuple of (str, object) pairs
        Keyword arguments for ``fetch_lightcurve`` (mission, sector, ...) of a ``"name"`` task.
    """

    task_id: str
    kind: str
    source: str
    paths: tuple = ()
    name: str | None = None
    fetch: tuple = ()


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _is_lightcurve_file(path: Path) -> bool:
    from ..detection import _FILE_SUFFIXES

    name = path.name.lower()
    return (path.is_file() and not name.startswith((".", "manifest", "_done"))
            and any(name.endswith(s) for s in _FILE_SUFFIXES))


def _dir_files(path: Path, recursive: bool) -> list[Path]:
    it = path.rglob("*") if recursive else path.iterdir()
    files = sorted(p for p in it if _is_lightcurve_file(p))
    if not files:
        raise InvalidParameterError(
            f"run_batch: directory {path} holds no light-curve files "
            f"({'searched recursively' if recursive else 'pass recursive=True to search sub-directories'}).")
    return files


def _plain_cell(value):
    """A Python scalar from a table cell; None for masked/empty."""
    import numpy as np

    if value is None or value is np.ma.masked:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table_tasks(table, target_column: str | None) -> list[dict]:
    cols = {c.lower(): c for c in table.colnames}
    if target_column is not None:
        if target_column not in table.colnames:
            raise InvalidParameterError(
                f"run_batch: target_column={target_column!r} is not a column of the table "
                f"(columns: {', '.join(table.colnames)}).")
        chosen = target_column
    else:
        chosen = next((cols[c] for c in _PATH_COLUMNS if c in cols), None) or \
            next((cols[c] for c in _NAME_COLUMNS if c in cols), None)
        if chosen is None:
            raise InvalidParameterError(
                "run_batch: cannot tell which column of the table names the targets; pass "
                f"target_column= (columns: {', '.join(table.colnames)}).")
    is_path = chosen.lower() in _PATH_COLUMNS
    prefix = _NAME_COLUMNS.get(chosen.lower(), "")
    items: list[dict] = []
    skipped = 0
    for row in table:
        value = _plain_cell(row[chosen])
        if value is None:
            skipped += 1
            continue
        if is_path:
            items.append({"path": str(value)})
            continue
        name = str(value)
        if isinstance(value, float) and value.is_integer():
            name = str(int(value))
        if prefix and name.replace(".", "").isdigit():
            name = f"{prefix} {name}" if prefix != "TOI" else f"TOI-{name}"
        fetch = {}
        for key in _FETCH_COLUMNS:
            if key in cols:
                v = _plain_cell(row[cols[key]])
                if v is not None:
                    fetch[key] = v
        items.append({"name": name, "fetch": fetch})
    if skipped:
        warnings.warn(f"run_batch: {skipped} row(s) with an empty {chosen!r} were left out", stacklevel=3)
    return items


def expand_sources(sources, *, target_column: str | None = None, recursive: bool = False,
                   fetch_options: dict | None = None) -> list[BatchTask]:
    """Turn the ``sources`` of :func:`run_batch` into one :class:`BatchTask` per target.

    Nothing is read: this only looks at names, so it is cheap for many thousands of sources.

    Parameters
    ----------
    sources : str, path-like, astropy Table, or an iterable of them
        * an existing **file**: one target;
        * a **directory**: every light-curve file directly inside it (``recursive=True``:
          in sub-directories too), one target each;
        * a **glob pattern** (``"sector_05/*.fits"``): the matching files;
        * a **list or tuple of paths** inside ``sources``: several files of one star
          (quarters/sectors), read and stitched into one target;
        * a **target name** (``"TIC 100100827"``, ``"Kepler-90"``): fetched by the task with
          ``astrotinyml.remote.mast.fetch_lightcurve``;
        * an **astropy Table** (e.g. from ``query_toi``): a column of file paths
          (``path``/``file``) or of target names (``target``, ``tic_id``/``tid`` (as
          ``TIC n``), ``kepid`` (``KIC n``), ``epic``, ``hostname``, ``toi``, ...); columns
          ``mission``, ``sector``, ``quarter``, ``campaign``, ``author``, ``exptime`` become
          fetch options of their row.  Repeated targets (several planets of one star) run once.

        A string that does not exist but looks like a path (has a separator or a light-curve
        suffix) stays a file source and fails as a missing file in the status table.
    target_column : str, optional
        Column of a table naming the targets (default: guessed, see above).
    recursive : bool
        Search directories recursively.
    fetch_options : dict, optional
        Fetch options applied to every target name (a table row's own values win).

    Returns
    -------
    list of BatchTask
        In the order given; ``task_id`` is the file stem or the target name made safe, with
        a short hash of the full source appended when two sources would share one.

    Examples
    --------
    >>> from astrotinyml.apps.batch import expand_sources
    >>> [t.task_id for t in expand_sources(["TIC 100100827", "Kepler-90"])]
    ['TIC_100100827', 'Kepler-90']
    >>> expand_sources(["TIC 100100827"])[0].kind
    'name'
    """
    import glob as _glob

    from ..detection import _looks_like_path

    if sources is None:
        raise InvalidParameterError("run_batch: sources is None; pass files, directories, names or a table.")
    try:
        from astropy.table import Table as _Table
    except ImportError:  # pragma: no cover - astropy is a hard dependency
        _Table = ()
    if isinstance(sources, (str, os.PathLike)) or (_Table and isinstance(sources, _Table)):
        sources = [sources]
    base_fetch = dict(fetch_options or {})
    items: list[dict] = []
    for src in sources:
        if _Table and isinstance(src, _Table):
            items.extend(_table_tasks(src, target_column))
        elif isinstance(src, (list, tuple)):
            paths = [os.fspath(p) for p in src]
            if not paths:
                raise InvalidParameterError("run_batch: an inner list of sources (one stitched star) is empty.")
            items.append({"paths": paths})
        elif isinstance(src, (str, os.PathLike)):
            s = os.fspath(src)
            p = Path(s)
            if p.is_dir():
                items.extend({"path": str(f)} for f in _dir_files(p, recursive))
            elif p.exists():
                items.append({"path": s})
            elif any(ch in s for ch in "*?[") and _glob.glob(s, recursive=True):
                items.extend({"path": f} for f in sorted(_glob.glob(s, recursive=True))
                             if _is_lightcurve_file(Path(f)))
            elif _looks_like_path(s):
                items.append({"path": s})  # missing: fails as such in its task
            elif s.strip():
                items.append({"name": s.strip(), "fetch": {}})
            else:
                raise InvalidParameterError("run_batch: an empty string is not a source.")
        else:
            raise InvalidParameterError(
                f"run_batch: a source must be a path, a target name, a list of paths (one star) "
                f"or an astropy Table; got {type(src).__name__}.")

    from ..report import safe_name

    drafts = []
    seen: set = set()
    for item in items:
        if "name" in item:
            fetch = {**base_fetch, **item["fetch"]}
            ident = ("name", item["name"], tuple(sorted((k, str(v)) for k, v in fetch.items())))
            extra = "_".join(f"{k}{v}" for k, v in sorted(fetch.items())
                             if k in ("mission", "sector", "quarter", "campaign"))
            draft = dict(kind="name", source=item["name"], paths=(), name=item["name"],
                         fetch=tuple(sorted(fetch.items())),
                         stem=safe_name(item["name"] + (f"_{extra}" if extra else "")))
        else:
            paths = tuple(item["paths"]) if "paths" in item else (item["path"],)
            ident = ("files", tuple(os.path.abspath(p) for p in paths))
            kind = "files" if len(paths) > 1 else "file"
            stem = safe_name(Path(paths[0]).name.split(".")[0] if len(paths) == 1 else
                             f"{Path(paths[0]).name.split('.')[0]}_stitched{len(paths)}")
            draft = dict(kind=kind, source=";".join(paths), paths=paths, name=None, fetch=(), stem=stem)
        if ident in seen:  # the same file or target twice: once is enough
            continue
        seen.add(ident)
        draft["ident"] = repr(ident)
        drafts.append(draft)

    # Stems shared by different sources all get a hash suffix, so ids do not depend on order.
    counts: dict[str, int] = {}
    for d in drafts:
        counts[d["stem"].lower()] = counts.get(d["stem"].lower(), 0) + 1
    tasks = []
    for d in drafts:
        tid = d["stem"] if counts[d["stem"].lower()] == 1 else f"{d['stem']}_{_short_hash(d['ident'])}"
        tasks.append(BatchTask(task_id=tid, kind=d["kind"], source=d["source"], paths=d["paths"],
                               name=d["name"], fetch=d["fetch"]))
    return tasks


# --------------------------------------------------------------------------- keys


def model_identity() -> dict[str, Any]:
    """Identity of the classifier model and calibration that detections depend on.

    It is part of every resume key, so a new model or a new calibration run makes a rerun
    redo every target.  It is read from two documented places:

    * ``model_sha256``: the ``sha256`` recorded in the shipped model registry
      ``astrotinyml/models/registry.json`` (top-level ``"sha256"`` or, when it lists several
      model files, the sha256 of the registry file itself, which records each model's hash);
      None when no model ships yet;
    * ``model_files``: the sha256 of the bytes of each model file the registry lists (a
      model file repaired or replaced under an unchanged registry changes it);
    * ``calibration_id``: ``astrotinyml.calibration.store.current_calibration_id()`` (the calibration
      the pipeline applies: the user's latest run or the shipped default); None when the
      calibration module does not exist yet or holds no calibration.

    Returns
    -------
    dict
        ``{"model_sha256": str or None, "model_files": {file name: sha256}, "calibration_id": str or None}``

    Examples
    --------
    >>> from astrotinyml.apps.batch import model_identity
    >>> sorted(model_identity())
    ['calibration_id', 'model_files', 'model_sha256']
    """
    from ..report._common import sha256_file

    model = None
    files: dict[str, str | None] = {}
    registry = MODELS_DIR / "registry.json"
    if registry.is_file():
        try:
            doc = json.loads(registry.read_text())
            model = doc.get("sha256") if isinstance(doc, dict) and isinstance(doc.get("sha256"), str) else None
        except (OSError, ValueError):
            doc = None
        model = model or sha256_file(registry)
        # The bytes of every model file the registry lists, not only the hashes it records: a
        # model file repaired (or damaged) under an unchanged registry must change the key.
        entries = (doc or {}).get("models", {}) if isinstance(doc, dict) else {}
        for entry in entries.values() if isinstance(entries, dict) else ():
            for spec in ((entry or {}).get("files") or {}).values():
                name = spec.get("file") if isinstance(spec, dict) else None
                if isinstance(name, str) and "/" not in name and "\\" not in name:
                    files[name] = _sha256_or_none(str(registry.parent / name))
    calibration = None
    try:
        from ..calibration.store import current_calibration_id  # type: ignore[attr-defined]
    except ImportError:
        current_calibration_id = None
    if current_calibration_id is not None:
        try:
            value = current_calibration_id()
            calibration = None if value is None else str(value)
        except Exception:  # noqa: BLE001 - an unreadable calibration store means "unknown"
            calibration = "unreadable"
    return {"model_sha256": model, "model_files": files, "calibration_id": calibration}


def _jsonable(value):
    if hasattr(value, "unit") and hasattr(value, "value"):
        return {"value": _jsonable(value.value), "unit": str(value.unit)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}  # order kept (column order)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _func_name(func) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _resolve_options(func, options: dict) -> dict:
    """Options with the function's defaults filled in, so spelling a default does not change keys."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return dict(options)
    params = sig.parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in options if k not in params and not takes_kwargs]
    if unknown or "source" in options:
        bad = unknown or ["source"]
        raise InvalidParameterError(
            f"run_batch: detect_options has unknown option(s) {', '.join(map(repr, bad))}; "
            f"{_func_name(func)} accepts {', '.join(n for n in params if n != 'source')}.")
    resolved = {n: p.default for n, p in params.items()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    resolved.update(options)
    return resolved


def _key(doc: dict) -> str:
    text = json.dumps(_jsonable(doc), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- the task


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _error_message(task: BatchTask, err: BaseException) -> str:
    msg = _one_line(str(err)) or type(err).__name__
    names = [Path(p).name for p in task.paths] or [task.name or task.source]
    if not any(n and n in msg for n in names):
        msg = f"{task.source}: {msg}"
    return _one_line(msg)


def _is_transient(error_type: str, err: BaseException | None = None) -> bool:
    if err is not None:
        if isinstance(err, (ConnectionError, TimeoutError, MemoryError, ImportError)):
            return True
    return error_type in _TRANSIENT


def _cell(value):
    """A JSON-able plain value of one candidate cell (NaN and masked become None)."""
    import numpy as np

    if value is np.ma.masked:
        return None
    if hasattr(value, "unit") and hasattr(value, "value"):
        value = value.value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return None  # vector cells are not part of the combined table


def _candidate_rows(table) -> tuple[list[dict], dict, dict]:
    """Rows as plain dicts, units per column, kind per column (f, i, b, U)."""
    units, kinds, keep = {}, {}, []
    for name in table.colnames:
        col = table[name]
        if getattr(col, "ndim", 1) != 1:
            continue
        keep.append(name)
        unit = getattr(col, "unit", None)
        if unit is not None and str(unit):
            units[name] = str(unit)
        kinds[name] = col.dtype.kind if col.dtype.kind in "fiubU" else "U"
    rows = [{name: _cell(table[name][i]) for name in keep} for i in range(len(table))]
    return rows, units, kinds


def _read_marker(task_dir: Path) -> dict | None:
    try:
        doc = json.loads((task_dir / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == MARKER_SCHEMA else None


def _outputs_complete(task_dir: Path, marker: dict) -> bool:
    for name, size in (marker.get("files") or {}).items():
        try:
            if (task_dir / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def _clean_parts(directory: Path) -> int:
    """Remove ``.part`` files left by a killed run (atomic_path names them ``.<name>.*.part``)."""
    n = 0
    with contextlib.suppress(OSError):
        for p in directory.iterdir():
            if p.name.startswith(".") and p.name.endswith(".part") and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
    return n


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _sha256_or_none(path: str) -> str | None:
    from ..report._common import sha256_file

    try:
        # a FIFO or device is never opened here (it would block or never end); the reader's
        # gate reports it as the target's failure
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return sha256_file(path)
    except OSError:
        return None


# What a marker keeps of a task's summary (enough to rebuild both tables without rerunning).
_MARKER_FIELDS = ("task", "source", "target", "outcome", "error_type", "message", "transient",
                  "n_candidates", "candidates", "units", "kinds", "detect_s", "files", "worker",
                  "task_s", "cpu_s")


def _summary(task: BatchTask, index: int, **kw) -> dict:
    out = dict(index=index, task=task.task_id, source=task.source, target=task.name or "",
               status="failed", outcome="failed", error_type="", message="", transient=False,
               n_candidates=0, candidates=[], units={}, kinds={}, detect_s=None,
               task_s=None, cpu_s=None, worker="", files={})
    out.update(kw)
    return out


def _load_fetched(task: BatchTask):
    try:
        from ..remote.mast import fetch_lightcurve
    except ImportError as err:
        raise ImportError(
            f"{task.name}: fetching a target by name needs astrotinyml.remote.mast.fetch_lightcurve, "
            f"which this installation does not have ({err}); pass light-curve files instead.") from err
    return fetch_lightcurve(task.name, **dict(task.fetch))


def _run_task(task: BatchTask, index: int, out_dir: str, config: dict) -> dict:
    """Process one target on a worker; never raises (failures become a summary)."""
    import logging
    import socket

    t0 = time.perf_counter()
    c0 = time.thread_time()  # CPU of this task alone: task_s - cpu_s is time waiting for a core or I/O
    worker = f"{socket.gethostname()}:{os.getpid()}"
    task_dir = Path(out_dir) / task.task_id
    key = key_doc = None
    try:
        task_dir.mkdir(parents=True, exist_ok=True)
        _clean_parts(task_dir)
        marker = _read_marker(task_dir)
        stats = [_stat(p) for p in task.paths]
        if task.kind == "name":
            inputs: Any = {"name": task.name, "fetch": dict(task.fetch)}
        elif (marker is not None and None not in stats and marker.get("input_stats") == stats
              and len(marker.get("key_doc", {}).get("inputs") or []) == len(stats)):
            # Same size and modification time as when the marker was written: reuse its
            # sha256 instead of reading every input again on a rerun (like make).
            inputs = marker["key_doc"]["inputs"]
        else:
            inputs = [{"file": Path(p).name, "sha256": _sha256_or_none(p)} for p in task.paths]
        key_doc = {"schema": MARKER_SCHEMA, "inputs": inputs, **config["key_common"]}
        key = _key(key_doc)
        if (config["resume"] and marker is not None and marker.get("key") == key
                and _outputs_complete(task_dir, marker)):
            # A marker written by this same run means the task already ran now and its
            # result was lost with a worker that died later (dask reruns lost results):
            # report it as run, not as skipped.
            this_run = marker.get("run_id") == config["run_id"]
            # Only a success counts as done: a failed target is always redone on a rerun (its
            # cause may have been fixed without any input changing: a repaired model file, a
            # package installed, a permission granted).
            if this_run or marker.get("outcome") == "ok":
                kept = {k: marker[k] for k in _MARKER_FIELDS if k in marker and k not in ("task", "source")}
                if this_run:  # the worker and times of the run that did the work
                    kept["status"] = marker.get("outcome", "failed")
                else:
                    kept.update(status="skipped", worker=worker, task_s=time.perf_counter() - t0,
                                cpu_s=time.thread_time() - c0)
                return _summary(task, index, **kept)
        # Outdated or absent marker: remove it (first) and the outputs it listed.
        with contextlib.suppress(FileNotFoundError):
            (task_dir / MARKER_NAME).unlink()
        for name in (marker or {}).get("files") or {}:
            if "/" not in name and not name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    (task_dir / name).unlink()
        summary = _process_with_timeout(task, index, task_dir, config, worker)
    except Exception as err:  # noqa: BLE001 - isolating failures is the point
        etype = type(err).__name__
        summary = _summary(task, index, error_type=etype, message=_error_message(task, err),
                           transient=_is_transient(etype, err), worker=worker)
    summary["task_s"] = time.perf_counter() - t0
    summary["cpu_s"] = time.thread_time() - c0
    if key is not None:
        marker = {k: summary[k] for k in _MARKER_FIELDS}
        marker.update(schema=MARKER_SCHEMA, key=key, key_doc=_jsonable(key_doc), input_stats=stats,
                      run_id=config["run_id"], finished_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            with atomic_path(task_dir / MARKER_NAME, overwrite=True) as tmp:
                tmp.write_text(json.dumps(_jsonable(marker), indent=1, allow_nan=False) + "\n")
                os.chmod(tmp, _umask_mode())
        except Exception as err:  # noqa: BLE001 - e.g. disk full: the target is redone next time
            summary.update(status="failed", outcome="failed", error_type=type(err).__name__,
                           transient=True, message=_one_line(f"{task.source}: could not write {MARKER_NAME}: {err}"))
    logging.getLogger(__name__).debug("batch task %s: %s", task.task_id, summary["status"])
    return summary


def _process_with_timeout(task: BatchTask, index: int, task_dir: Path, config: dict, worker: str) -> dict:
    """:func:`_process` with the per-target time limit (``config["target_timeout"]`` seconds).

    The target runs in a thread of its own; past the limit the task gives up on it and fails
    with :class:`~astrotinyml.errors.TargetTimeoutError`, so one hung input (a file on a
    stalled network mount, a pathological light curve) cannot block the batch.  A thread
    cannot be killed: the abandoned one is told to stop and writes no report when its
    detection returns.
    """
    import threading

    limit = config.get("target_timeout")
    if not limit:
        return _process(task, index, task_dir, config, worker)
    box: dict[str, Any] = {}
    cancel = threading.Event()

    def run():
        try:
            box["summary"] = _process(task, index, task_dir, config, worker, cancel=cancel)
        except BaseException as err:  # noqa: BLE001 - handed to the task below
            box["error"] = err

    thread = threading.Thread(target=run, name=f"astrotinyml-batch-{task.task_id}", daemon=True)
    thread.start()
    thread.join(float(limit))
    if thread.is_alive():
        cancel.set()
        raise TargetTimeoutError(
            f"{task.source}: still running after the per-target limit of {float(limit):g} s "
            f"(target_timeout=, --target-timeout); recorded as failed and redone on the next run.")
    if "error" in box:
        raise box["error"]
    return box["summary"]


def _process(task: BatchTask, index: int, task_dir: Path, config: dict, worker: str, *,
             cancel=None) -> dict:
    """Read/fetch, detect and write the reports of one target (raises on failure)."""
    import logging

    from ..report import write_report

    detect_func = config["detect_func"]
    lk_log = logging.getLogger("lightkurve")
    old_level = lk_log.level
    with warnings.catch_warnings():
        # A batch log of thousands of targets is no place for per-file library warnings.
        warnings.simplefilter("ignore")
        lk_log.setLevel(logging.ERROR)
        try:
            if task.kind == "name":
                source = _load_fetched(task)
            elif task.kind == "files":
                source = list(task.paths)
            else:
                source = task.paths[0]
            t = time.perf_counter()
            result = detect_func(source, **config["detect_options"])
            detect_s = time.perf_counter() - t
            if cancel is not None and cancel.is_set():
                raise TargetTimeoutError(f"{task.source}: finished after its time limit; no report written.")
            paths = write_report(result, task_dir, formats=config["formats"], overwrite=True,
                                 submit_ready=config["submit_ready"], save_result=True)
        finally:
            lk_log.setLevel(old_level)
    rows, units, kinds = _candidate_rows(result.candidates)
    files = {Path(p).name: Path(p).stat().st_size for p in paths.values()}
    return _summary(task, index, status="ok", outcome="ok", target=str(result.target),
                    n_candidates=len(rows), candidates=rows, units=units, kinds=kinds,
                    detect_s=detect_s, files=files, worker=worker)


def _crash_summary(task: BatchTask, index: int, err: BaseException) -> dict:
    """Summary of a task whose worker died (or that Dask could not run)."""
    etype = type(err).__name__
    if etype == "KilledWorker":
        tries = getattr(err, "allowed_failures", None)
        tries = f" {tries + 1} time(s)" if isinstance(tries, int) else ""
        msg = (f"{task.source}: the worker process died while running this target{tries} "
               "(segfault, killed for exceeding its memory limit, or os._exit); see the worker logs")
    else:
        msg = _error_message(task, err)
    return _summary(task, index, error_type=etype, message=_one_line(msg), transient=True)


# --------------------------------------------------------------------------- tables


def _candidates_table(summaries: list[dict]):
    import numpy as np
    from astropy.table import Column, MaskedColumn, QTable

    order: list[str] = []
    units: dict[str, str] = {}
    kinds: dict[str, str] = {}
    # Column order from the rows themselves (a target with no candidate still reports its
    # column kinds, which must not hide those columns from the targets that have rows).
    for s in summaries:
        for row in s["candidates"]:
            for name in row:
                if name not in order:
                    order.append(name)
        for name, unit in s["units"].items():
            units.setdefault(name, unit)
        for name, kind in s["kinds"].items():
            kinds.setdefault(name, kind)
    fixed = ["task", "target", "source", "candidate"]
    order = [n for n in order if n not in fixed]
    records = [(s, i, row) for s in summaries for i, row in enumerate(s["candidates"], start=1)]
    table = QTable()
    table["task"] = Column([s["task"] for s, _, _ in records], dtype=str)
    table["target"] = Column([s["target"] for s, _, _ in records], dtype=str)
    table["source"] = Column([s["source"] for s, _, _ in records], dtype=str)
    table["candidate"] = Column([i for _, i, _ in records], dtype=np.int64)
    for name in order:
        values = [row.get(name) for _, _, row in records]
        kind = kinds.get(name, "U")
        if kind == "f":
            col = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
            table[name] = col * _unit(units[name]) if name in units else Column(col)
            continue
        missing = np.array([v is None for v in values], dtype=bool)
        if kind in "iu":
            data = np.array([0 if v is None else int(v) for v in values], dtype=np.int64)
        elif kind == "b":
            data = np.array([False if v is None else bool(v) for v in values], dtype=bool)
        else:
            data = np.array(["" if v is None else str(v) for v in values], dtype=str)
        table[name] = MaskedColumn(data, mask=missing) if missing.any() else Column(data)
    table.meta["description"] = "astrotinyml run_batch: one row per candidate"
    return table


def _unit(text: str):
    import astropy.units as u

    try:
        return u.Unit(text)
    except ValueError:  # pragma: no cover - units come from astropy
        return u.dimensionless_unscaled


def _status_table(summaries: list[dict]):
    import numpy as np
    from astropy.table import Column, Table

    table = Table()
    table["task"] = Column([s["task"] for s in summaries], dtype=str)
    table["source"] = Column([s["source"] for s in summaries], dtype=str)
    table["target"] = Column([s["target"] or "" for s in summaries], dtype=str)
    table["status"] = Column([s["status"] for s in summaries], dtype=str)
    table["outcome"] = Column([s["outcome"] for s in summaries], dtype=str)
    table["error_type"] = Column([s["error_type"] or "" for s in summaries], dtype=str)
    table["message"] = Column([s["message"] or "" for s in summaries], dtype=str)
    table["n_candidates"] = Column([int(s["n_candidates"]) for s in summaries], dtype=np.int64)
    table["detect_s"] = Column([float(s["detect_s"]) if s["detect_s"] is not None else np.nan
                                for s in summaries], dtype=float)
    for name in ("task_s", "cpu_s"):
        table[name] = Column([float(s[name]) if s.get(name) is not None else np.nan
                              for s in summaries], dtype=float)
    table["worker"] = Column([s["worker"] or "" for s in summaries], dtype=str)
    table["report_dir"] = Column([s["task"] for s in summaries], dtype=str)
    table.meta["description"] = ("astrotinyml run_batch: one row per target; status ok/failed/skipped "
                                 "(this run); outcome ok/failed (standing result, for skipped rows the "
                                 "earlier run's); report_dir is relative to the batch directory")
    return table


def _umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _write_table(table, path: Path, fmt: str) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. parquet's note on serialized units
            table.write(tmp, format=fmt, overwrite=True)
        os.chmod(tmp, _umask_mode())  # mkstemp makes 0600; shared batch outputs follow the umask


# --------------------------------------------------------------------------- result


@dataclass(eq=False)
class BatchResult:
    """What :func:`run_batch` did.

    Attributes
    ----------
    candidates : astropy.table.QTable
        One row per candidate of every target with outcome ok (run now or skipped as
        already done): ``task``, ``target``, ``source``, ``candidate`` (1-based index within
        the target), then the candidate columns of :func:`astrotinyml.detect` with units.
    status : astropy.table.Table
        One row per target: ``task``, ``source``, ``target``, ``status`` (``ok`` / ``failed``
        / ``skipped`` in this run), ``outcome`` (``ok`` / ``failed``: the standing result,
        the earlier run's for skipped targets), ``error_type``, ``message`` (one line naming
        the file or target), ``n_candidates``, ``detect_s`` (seconds in ``detect``, from
        the run that did the target), ``task_s`` and ``cpu_s`` (wall-clock and CPU seconds
        of the task in this run: a large gap means the worker waited for a core or for I/O),
        ``worker`` (host:pid), ``report_dir`` (relative to ``out_dir``).
    out_dir : pathlib.Path
        The batch directory.
    paths : dict of str to pathlib.Path
        Combined files written: ``candidates_ecsv``, ``candidates_parquet``, ``status_ecsv``,
        ``status_parquet`` (per ``table_formats``) and ``batch``.
    n_targets, n_ok, n_failed, n_skipped : int
        Targets, and how many succeeded / failed / were skipped in this run.
    elapsed : float
        Wall-clock seconds of the whole call.
    startup : float
        Seconds spent starting (or connecting to) the Dask cluster, included in ``elapsed``.
    workers : int or None
        Workers the cluster had when the batch started.
    scheduler : str or None
        Address of the Dask scheduler.
    """

    candidates: Any
    status: Any
    out_dir: Path
    paths: dict = field(default_factory=dict)
    n_targets: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0
    elapsed: float = float("nan")
    startup: float = float("nan")
    workers: int | None = None
    scheduler: str | None = None

    @property
    def failures(self):
        """Rows of :attr:`status` whose standing outcome is ``failed`` (this run or earlier)."""
        return self.status[self.status["outcome"] == "failed"]

    @property
    def rate(self) -> float:
        """Targets processed (not skipped) per second of wall clock after cluster start-up."""
        run = self.n_ok + self.n_failed
        busy = self.elapsed - self.startup
        return run / busy if busy > 0 else float("nan")

    def __repr__(self) -> str:
        return (f"BatchResult(out_dir={str(self.out_dir)!r}, n_targets={self.n_targets}, ok={self.n_ok}, "
                f"failed={self.n_failed}, skipped={self.n_skipped}, candidates={len(self.candidates)}, "
                f"elapsed={self.elapsed:.1f} s)")


# --------------------------------------------------------------------------- driver


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def _start_client(client, workers, memory_limit, dashboard):
    """(client, cluster-or-None, owned) for the ``client=`` argument of run_batch."""
    import logging

    import dask
    from dask.distributed import Client, LocalCluster

    if client is not None and workers is not None:
        raise InvalidParameterError(
            "run_batch: workers= sizes the local cluster run_batch starts; with client= (or "
            "--scheduler) the cluster is yours to size (e.g. cluster.scale(n)).")
    if client is not None and not isinstance(client, str):
        return client, None, False
    if isinstance(client, str):
        return Client(client, set_as_default=False), None, True
    n = _default_workers() if workers is None else int(workers)
    if n < 1:
        raise InvalidParameterError(f"run_batch: workers must be at least 1, got {workers!r}.")
    # One task per worker at a time (saturation 1.0) and a task that kills its worker twice is
    # given up as KilledWorker (allowed-failures 1): a crash costs one retry, never the batch.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        # The scheduler always serves HTTP (health checks); a free port avoids clashing with
        # another cluster on 8787.  The dashboard itself is off unless asked for.
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               memory_limit=memory_limit, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": bool(dashboard)},
                               silence_logs=logging.ERROR)
    cl = Client(cluster, set_as_default=False)
    if dashboard:
        print(f"astrotinyml batch: Dask dashboard at {cl.dashboard_link}", file=sys.stderr)
    return cl, cluster, True


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"run_batch: out_dir {out_dir} exists and is not a directory.")
    if out_dir.is_dir() and not (out_dir / BATCH_FILE).exists() and not overwrite:
        entries = [p.name for p in out_dir.iterdir() if not p.name.startswith(".")]
        if entries:
            raise OutputExistsError(
                f"run_batch: {out_dir} is not empty and holds no {BATCH_FILE} (it is not a batch "
                "directory); choose an empty or new directory, or pass overwrite=True to use it "
                "(run_batch then owns the sub-directories it writes).")


#: Lock file of a batch directory (held while a run writes into it).
LOCK_NAME = ".batch.lock"
#: Default per-target time limit of :func:`run_batch` in seconds (generous: a full-mission
#: Kepler light curve takes minutes; only a hung target reaches it).
TARGET_TIMEOUT_S = 3600.0


@contextlib.contextmanager
def _run_lock(out_dir: Path):
    """Hold an exclusive lock on ``out_dir`` for one run; a second run is refused at once.

    ``flock`` on ``out_dir/.batch.lock``: released by the kernel when the process ends, so a
    killed run never leaves a stale lock.  The file says who holds it, for the message.
    """
    path = out_dir / LOCK_NAME
    fh = open(path, "a+")
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks here
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = " ".join(fh.read(300).split()) or "another process"
                raise BatchLockedError(
                    f"run_batch: {out_dir} is in use by another batch run ({holder}); two runs into "
                    f"one directory would overwrite each other's files.  Wait for it to finish, or "
                    f"choose another output directory.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, started "
                 f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock


def run_batch(
    sources,
    *,
    out_dir,
    client=None,
    workers: int | None = None,
    memory_limit: str | float | None = "auto",
    resume: bool = True,
    retry_failed: bool = False,
    formats: Iterable[str] = ("json", "csv"),
    submit_ready: bool = False,
    table_formats: Iterable[str] = ("ecsv", "parquet"),
    detect_options: dict | None = None,
    fetch_options: dict | None = None,
    target_column: str | None = None,
    recursive: bool = False,
    detect_func: Callable | None = None,
    progress: bool = True,
    dashboard: bool = False,
    overwrite: bool = False,
    target_timeout: float | None = TARGET_TIMEOUT_S,
) -> BatchResult:
    """Run :func:`astrotinyml.detect` over many targets on Dask, writing reports per target.

    Each target is one Dask task that reads (or fetches) its light curve, runs ``detect``,
    writes its reports into ``out_dir/<task>/`` and returns only a small summary; the
    driver gathers the summaries into a candidates table and a status table.  A failing
    target (corrupt file, unreachable archive, a worker that segfaults or is killed for
    memory) is recorded in the status table and the batch goes on.  A rerun skips targets
    already done with the same inputs, options, model and calibration (see the module
    documentation of :mod:`astrotinyml.apps.batch` for the resume key).

    Parameters
    ----------
    sources : str, path-like, astropy Table, or an iterable of them
        Files, directories (their light-curve files), glob patterns, lists of paths (one
        stitched star), target names or a table of targets; see :func:`expand_sources`.
    out_dir : str or path-like
        Batch directory (created if missing).  Holds one sub-directory per target plus
        ``candidates.*``, ``status.*`` and ``batch.json``.  On a real cluster it must be
        on a file system every worker can write.
    client : dask.distributed.Client or str, optional
        An existing client (a real cluster: dask-jobqueue, dask-kubernetes, ...) or a
        scheduler address (``"tcp://host:8786"``).  Default: a local cluster of worker
        *processes* started for this call and closed afterwards.
    workers : int, optional
        Worker processes of the local cluster (one thread each); default: the CPU cores
        this process may use.  Not allowed together with a ``client`` object.
    memory_limit : str or float, optional
        Memory limit per local worker (``"4GiB"``, bytes, ``"auto"`` = machine memory /
        workers, None = unlimited).  A worker above 95 % of it is restarted by its nanny
        and its target recorded as failed (``KilledWorker``).
    resume : bool
        Skip targets whose ``_done.json`` key matches and whose outputs are complete.
        False redoes every target (replacing its outputs).
    retry_failed : bool
        Kept for compatibility; failed targets are always redone on a rerun (only a success
        counts as done), whatever the reason they failed.
    formats : sequence of str
        Report formats per target (:func:`astrotinyml.write_report`): ``"json"``, ``"csv"``,
        ``"fits"``, ``"pdf"``.  Default JSON and CSV; the PDF costs about a second a target.
    submit_ready : bool
        Also write the submission bundle of each target (implies all four formats).
    table_formats : sequence of str
        Formats of the combined tables: ``"ecsv"``, ``"parquet"`` (needs pyarrow),
        ``"csv"``, ``"fits"``.
    detect_options : dict, optional
        Keyword arguments for ``detect`` (``max_planets``, ``period_max``, ...).  Part of
        the resume key: changing one redoes every target.
    fetch_options : dict, optional
        Keyword arguments for ``astrotinyml.remote.mast.fetch_lightcurve`` used for target names
        (``mission``, ``author``, ``exptime``, ``cache_dir``, ``offline``; a table row's
        ``sector`` etc. win).  On a real cluster pass ``cache_dir`` and ``offline`` here:
        the workers do not see the driver's environment variables.
    target_column : str, optional
        Column of a table source naming the targets (default: guessed).
    recursive : bool
        Search directory sources recursively.
    detect_func : callable, optional
        Used instead of :func:`astrotinyml.detect` (same signature and return type), e.g. a
        wrapper adding steps; it must be importable (or picklable) on the workers.  Its
        qualified name is part of the resume key.
    progress : bool
        Show a progress bar on standard error (targets, ok / failed / skipped, rate).
    dashboard : bool
        Serve the Dask dashboard of the local cluster on a free port (default off).
    overwrite : bool
        Allow a non-empty ``out_dir`` that is not a batch directory.
    target_timeout : float or None
        Seconds one target may take (reading, detection, reports); past it the target is
        recorded as failed (``TargetTimeoutError``) and the batch goes on.  Default
        :data:`TARGET_TIMEOUT_S` (one hour); None: no limit.

    Returns
    -------
    BatchResult
        Candidates and status tables, paths of the combined files, counts and timings.

    Raises
    ------
    InvalidParameterError
        Bad arguments (unknown format or detect option, a directory without light curves).
    OutputExistsError
        ``out_dir`` is a non-empty directory not made by ``run_batch`` (see ``overwrite``).
    BatchLockedError
        Another run is writing into ``out_dir`` (one run per directory at a time).

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.apps.batch import run_batch
    >>> from astrotinyml.datasets import sample_path
    >>> res = run_batch([sample_path("wasp-18"), "no/such/file.fits"], out_dir=tempfile.mkdtemp(),
    ...                 workers=1, progress=False)  # doctest: +SKIP
    >>> res.n_ok, res.n_failed, [str(e) for e in res.status["error_type"]]  # doctest: +SKIP
    (1, 1, ['', 'LightCurveFileNotFoundError'])
    >>> str(res.candidates["target"][0])  # doctest: +SKIP
    'TIC 100100827'

    On a cluster (see the how-to "Run detection over thousands of targets")::

        from dask.distributed import Client
        res = run_batch("sector_05/*.fits", out_dir="/shared/s05", client=Client("tcp://host:8786"))
    """
    from .._version import __version__
    from ..detection import detect as _detect
    from ..report import FORMATS, _check_formats

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    formats = _check_formats(FORMATS if submit_ready else formats)
    tformats = []
    for f in ([table_formats] if isinstance(table_formats, str) else table_formats):
        key = str(f).lower().lstrip(".")
        if key not in TABLE_FORMATS:
            raise InvalidParameterError(
                f"run_batch: unknown table format {f!r}; choose from {', '.join(TABLE_FORMATS)}.")
        if key not in tformats:
            tformats.append(key)
    detect_func = _detect if detect_func is None else detect_func
    options = _resolve_options(detect_func, dict(detect_options or {}))
    tasks = expand_sources(sources, target_column=target_column, recursive=recursive,
                           fetch_options=fetch_options)
    if not tasks:
        raise InvalidParameterError("run_batch: no targets in sources.")
    if target_timeout is not None and not (isinstance(target_timeout, (int, float))
                                           and math.isfinite(target_timeout) and target_timeout > 0):
        raise InvalidParameterError(
            f"run_batch: target_timeout must be a positive number of seconds or None, got {target_timeout!r}.")
    _check_out_dir(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(out_dir):
        return _locked_run(tasks, out_dir, formats=formats, tformats=tformats, options=options,
                           detect_func=detect_func, submit_ready=submit_ready, resume=resume,
                           retry_failed=retry_failed, target_timeout=target_timeout, client=client,
                           workers=workers, memory_limit=memory_limit, dashboard=dashboard,
                           progress=progress, t_start=t_start)


def _locked_run(tasks, out_dir: Path, *, formats, tformats, options, detect_func, submit_ready, resume,
                retry_failed, target_timeout, client, workers, memory_limit, dashboard, progress,
                t_start) -> BatchResult:
    """The body of :func:`run_batch`, under the directory's run lock."""
    from .._version import __version__

    # only now: the .part files of a run that holds the lock are that run's, not stale
    _clean_parts(out_dir)
    model = model_identity()
    key_common = {"detect": _func_name(detect_func), "detect_options": options,
                  "formats": sorted(formats), "submit_ready": bool(submit_ready),
                  "model": model, "astrotinyml": __version__}
    config = {"key_common": key_common, "detect_options": options, "detect_func": detect_func,
              "formats": formats, "submit_ready": bool(submit_ready), "resume": bool(resume),
              "retry_failed": bool(retry_failed), "run_id": uuid.uuid4().hex,
              "target_timeout": None if target_timeout is None else float(target_timeout)}
    started_utc = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    batch_doc = {"astrotinyml_batch": 1, "astrotinyml": __version__, "started_utc": started_utc,
                 "finished_utc": None, "n_targets": len(tasks), "detect_options": _jsonable(options),
                 "formats": formats, "model": model}
    _write_json(out_dir / BATCH_FILE, batch_doc)

    summaries: list[dict | None] = [None] * len(tasks)
    cl, cluster, owned = _start_client(client, workers, memory_limit, dashboard)
    startup = time.perf_counter() - t_start
    try:
        n_workers = len(cl.scheduler_info(n_workers=-1).get("workers", {})) if _accepts_n_workers(cl) \
            else len(cl.scheduler_info().get("workers", {}))
        scheduler = getattr(cl, "scheduler", None)
        scheduler = getattr(scheduler, "address", None)
        _gather(cl, tasks, str(out_dir.resolve()), config, summaries, progress)
    finally:
        if owned:
            with contextlib.suppress(Exception):
                cl.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()

    done = [s for s in summaries if s is not None]
    status = _status_table(done)
    candidates = _candidates_table([s for s in done if s["outcome"] == "ok"])
    paths: dict[str, Path] = {}
    for fmt in tformats:
        astropy_fmt, suffix = TABLE_FORMATS[fmt]
        for name, table in (("candidates", candidates), ("status", status)):
            path = out_dir / f"{name}{suffix}"
            _write_table(table, path, astropy_fmt)
            paths[f"{name}_{fmt}"] = path
    counts = {k: int(sum(1 for s in done if s["status"] == k)) for k in ("ok", "failed", "skipped")}
    elapsed = time.perf_counter() - t_start
    batch_doc.update(finished_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     n_ok=counts["ok"], n_failed=counts["failed"], n_skipped=counts["skipped"],
                     n_failed_standing=int(sum(1 for s in done if s["outcome"] == "failed")),
                     n_candidates=len(candidates), elapsed_s=round(elapsed, 3),
                     startup_s=round(startup, 3), workers=n_workers, scheduler=scheduler,
                     tables={k: p.name for k, p in paths.items()})
    _write_json(out_dir / BATCH_FILE, batch_doc)
    paths["batch"] = out_dir / BATCH_FILE
    return BatchResult(candidates=candidates, status=status, out_dir=out_dir, paths=paths,
                       n_targets=len(tasks), n_ok=counts["ok"], n_failed=counts["failed"],
                       n_skipped=counts["skipped"], elapsed=elapsed, startup=startup,
                       workers=n_workers, scheduler=scheduler)


def _accepts_n_workers(client) -> bool:
    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _write_json(path: Path, doc: dict) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(_jsonable(doc), indent=1) + "\n")
        os.chmod(tmp, _umask_mode())


def _input_size(task: BatchTask) -> int:
    total = 0
    for p in task.paths:
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return total


def _gather(client, tasks, out_dir: str, config: dict, summaries: list, progress: bool) -> None:
    """Submit one task per target and collect the summaries as they finish."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    token = _short_hash(f"{out_dir}{time.time_ns()}{os.getpid()}", 10)
    # Largest inputs first (a cheap proxy of run time from os.stat, no reading): long
    # targets start early instead of leaving one worker busy at the end of the batch.
    order = sorted(range(len(tasks)), key=lambda i: -_input_size(tasks[i]))
    keys = [f"astrotinyml-batch-{tasks[i].task_id}-{token}" for i in order]
    futures = client.map(_run_task, [tasks[i] for i in order], order, out_dir=out_dir,
                         config=config, key=keys, pure=False, retries=0)
    where = {f.key: i for f, i in zip(futures, order)}
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    bar = tqdm(total=len(tasks), desc="astrotinyml batch", unit="target", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, smoothing=0.05)
    try:
        for fut in as_completed(futures, loop=client.loop):
            i = where[fut.key]
            try:
                summary = fut.result()
            except Exception as err:  # noqa: BLE001 - a dead worker or a Dask error for this target
                summary = _crash_summary(tasks[i], i, err)
            summaries[i] = summary
            counts[summary["status"]] = counts.get(summary["status"], 0) + 1
            fut.release()
            bar.set_postfix(ok=counts["ok"], failed=counts["failed"], skipped=counts["skipped"],
                            refresh=False)
            bar.update(1)
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        bar.close()
