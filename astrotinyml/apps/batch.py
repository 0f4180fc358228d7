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

The batch is four steps, one module each: the sources become one task per target
(:mod:`astrotinyml.apps.sources`, :func:`expand_sources`); each task checks its resume marker
(:mod:`astrotinyml.apps.markers`); the tasks run on Dask (this module); the summaries become
the two tables (:mod:`astrotinyml.apps.tables`).  The settings of one run, validated once,
travel to every task as one :class:`BatchConfig`.

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
import logging
import math
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import detection
from .._version import __version__
from ..atomic import OutputExistsError
from ..errors import InvalidParameterError, TargetTimeoutError
from ..remote.mast import fetch_lightcurve
from ..report import FORMATS, check_formats, write_report
from .markers import (
    LOCK_NAME,
    MARKER_FIELDS,
    MARKER_NAME,
    MARKER_SCHEMA,
    batch_lock,
    clean_parts,
    input_stat,
    jsonable,
    model_identity,
    outputs_complete,
    read_marker,
    remove_outputs,
    resume_key,
    sha256_or_none,
    write_json,
)
from .sources import BatchTask, expand_sources
from .tables import TABLE_FORMATS, candidate_rows, candidates_table, status_table, write_table

__all__ = [
    "BatchConfig",
    "BatchResult",
    "BatchTask",
    "LOCK_NAME",
    "MARKER_NAME",
    "TARGET_TIMEOUT_S",
    "expand_sources",
    "worker_environment",
    "model_identity",
    "run_batch",
]

#: File of the run summary in ``out_dir`` (also marks a directory as a batch output).
BATCH_FILE = "batch.json"
#: Default per-target time limit of :func:`run_batch` in seconds (generous: a full-mission
#: Kepler light curve takes minutes; only a hung target reaches it).
TARGET_TIMEOUT_S = 3600.0

# Errors that may go away by themselves: retried on a rerun even when retry_failed=False.
_TRANSIENT = ("ConnectionError", "TimeoutError", "MemoryError", "ImportError", "KilledWorker",
              "CancelledError", "CommClosedError", "OfflineError", "ArchiveConnectionError")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, eq=False)  # eq=False: hashable by identity (it holds dicts)
class BatchConfig:
    """The settings of one :func:`run_batch` call, validated once and sent to every task.

    Attributes
    ----------
    detect_func : callable
        The detection function (:func:`astrotinyml.detect` unless replaced).
    detect_options : dict
        Its keyword arguments, with the function's keyword-only defaults filled in (so that
        spelling out a default does not change the resume key).
    formats : list of str
        Report formats per target.
    table_formats : tuple of str
        Formats of the combined tables (keys of :data:`~astrotinyml.apps.tables.TABLE_FORMATS`).
    submit_ready : bool
        Also write each target's submission bundle.
    resume : bool
        Skip targets already done with the same key.
    retry_failed : bool
        Kept for compatibility (failed targets are always redone).
    target_timeout : float or None
        Seconds one target may take; None: no limit.
    run_id : str
        Identifies this run in the markers it writes (a target found done by this same run
        was run, not skipped).
    model : dict
        :func:`model_identity` at the start of the run.
    version : str
        The astrotinyml version.
    progress : bool
        Show the progress bar.

    Examples
    --------
    >>> from astrotinyml import detect
    >>> from astrotinyml.apps.batch import BatchConfig
    >>> cfg = BatchConfig(detect_func=detect, detect_options={}, formats=["json"], run_id="r1")
    >>> sorted(cfg.key_common)
    ['astrotinyml', 'detect', 'detect_options', 'formats', 'model', 'submit_ready']
    """

    detect_func: Callable
    detect_options: dict
    formats: list
    table_formats: tuple = ("ecsv", "parquet")
    submit_ready: bool = False
    resume: bool = True
    retry_failed: bool = False
    target_timeout: float | None = TARGET_TIMEOUT_S
    run_id: str = ""
    model: dict = field(default_factory=dict)
    version: str = __version__
    progress: bool = True

    @property
    def key_common(self) -> dict:
        """The part of every task's resume key that is the same for all targets of the run."""
        return {"detect": _func_name(self.detect_func), "detect_options": self.detect_options,
                "formats": sorted(self.formats), "submit_ready": self.submit_ready,
                "model": self.model, "astrotinyml": self.version}


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


def _table_formats(table_formats) -> list[str]:
    tformats: list[str] = []
    for f in ([table_formats] if isinstance(table_formats, str) else table_formats):
        key = str(f).lower().lstrip(".")
        if key not in TABLE_FORMATS:
            raise InvalidParameterError(
                f"run_batch: unknown table format {f!r}; choose from {', '.join(TABLE_FORMATS)}.")
        if key not in tformats:
            tformats.append(key)
    return tformats


def _check_timeout(target_timeout) -> None:
    if target_timeout is not None and not (isinstance(target_timeout, (int, float))
                                           and math.isfinite(target_timeout) and target_timeout > 0):
        raise InvalidParameterError(
            f"run_batch: target_timeout must be a positive number of seconds or None, got {target_timeout!r}.")


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


def _summary(task: BatchTask, index: int, **kw) -> dict:
    out = dict(index=index, task=task.task_id, source=task.source, target=task.name or "",
               status="failed", outcome="failed", error_type="", message="", transient=False,
               n_candidates=0, candidates=[], units={}, kinds={}, detect_s=None,
               task_s=None, cpu_s=None, worker="", files={})
    out.update(kw)
    return out


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_inputs(task: BatchTask, marker: dict | None, stats: list) -> Any:
    """The inputs part of a task's key document: the name and fetch options, or each file's sha256."""
    if task.kind == "name":
        return {"name": task.name, "fetch": dict(task.fetch)}
    if (marker is not None and None not in stats and marker.get("input_stats") == stats
            and len(marker.get("key_doc", {}).get("inputs") or []) == len(stats)):
        # Same size and modification time as when the marker was written: reuse its
        # sha256 instead of reading every input again on a rerun (like make).
        return marker["key_doc"]["inputs"]
    return [{"file": Path(p).name, "sha256": sha256_or_none(p)} for p in task.paths]


def _resumed(task: BatchTask, index: int, task_dir: Path, marker: dict | None, key: str,
             config: BatchConfig, worker: str, t0: float, c0: float) -> dict | None:
    """The summary of a target found done (skipped, or run already by this same run); else None."""
    if not (config.resume and marker is not None and marker.get("key") == key
            and outputs_complete(task_dir, marker)):
        return None
    # A marker written by this same run means the task already ran now and its
    # result was lost with a worker that died later (dask reruns lost results):
    # report it as run, not as skipped.
    this_run = marker.get("run_id") == config.run_id
    # Only a success counts as done: a failed target is always redone on a rerun (its
    # cause may have been fixed without any input changing: a repaired model file, a
    # package installed, a permission granted).
    if not (this_run or marker.get("outcome") == "ok"):
        return None
    kept = {k: marker[k] for k in MARKER_FIELDS if k in marker and k not in ("task", "source")}
    if this_run:  # the worker and times of the run that did the work
        kept["status"] = marker.get("outcome", "failed")
    else:
        kept.update(status="skipped", worker=worker, task_s=time.perf_counter() - t0,
                    cpu_s=time.thread_time() - c0)
    return _summary(task, index, **kept)


def _write_marker(task: BatchTask, task_dir: Path, summary: dict, key: str, key_doc: dict,
                  stats: list, config: BatchConfig) -> None:
    """Write the task's marker last; a failure to write it turns the summary into a (transient) failure."""
    marker = {k: summary[k] for k in MARKER_FIELDS}
    marker.update(schema=MARKER_SCHEMA, key=key, key_doc=jsonable(key_doc), input_stats=stats,
                  run_id=config.run_id, finished_utc=_utc_now())
    try:
        write_json(task_dir / MARKER_NAME, marker, allow_nan=False)
    except Exception as err:  # noqa: BLE001 - e.g. disk full: the target is redone next time
        summary.update(status="failed", outcome="failed", error_type=type(err).__name__,
                       transient=True, message=_one_line(f"{task.source}: could not write {MARKER_NAME}: {err}"))


def _run_task(task: BatchTask, index: int, out_dir: str, config: BatchConfig) -> dict:
    """Process one target on a worker; never raises (failures become a summary)."""
    t0 = time.perf_counter()
    c0 = time.thread_time()  # CPU of this task alone: task_s - cpu_s is time waiting for a core or I/O
    worker = f"{socket.gethostname()}:{os.getpid()}"
    task_dir = Path(out_dir) / task.task_id
    key = key_doc = None
    try:
        task_dir.mkdir(parents=True, exist_ok=True)
        clean_parts(task_dir)
        marker = read_marker(task_dir)
        stats = [input_stat(p) for p in task.paths]
        key_doc = {"schema": MARKER_SCHEMA, "inputs": _key_inputs(task, marker, stats), **config.key_common}
        key = resume_key(key_doc)
        done = _resumed(task, index, task_dir, marker, key, config, worker, t0, c0)
        if done is not None:
            return done
        remove_outputs(task_dir, marker)  # outdated or absent marker: it goes first, then its outputs
        summary = _process_with_timeout(task, index, task_dir, config, worker)
    except Exception as err:  # noqa: BLE001 - isolating failures is the point
        etype = type(err).__name__
        summary = _summary(task, index, error_type=etype, message=_error_message(task, err),
                           transient=_is_transient(etype, err), worker=worker)
    summary["task_s"] = time.perf_counter() - t0
    # This thread's CPU, plus the target's own thread's when it ran in one (the time limit).
    summary["cpu_s"] = time.thread_time() - c0 + (summary.get("cpu_s") or 0.0)
    if key is not None:
        _write_marker(task, task_dir, summary, key, key_doc, stats, config)
    logging.getLogger(__name__).debug("batch task %s: %s", task.task_id, summary["status"])
    return summary


def _process_with_timeout(task: BatchTask, index: int, task_dir: Path, config: BatchConfig,
                          worker: str) -> dict:
    """:func:`_process` with the per-target time limit (``config.target_timeout`` seconds).

    The target runs in a thread of its own; past the limit the task gives up on it and fails
    with :class:`~astrotinyml.errors.TargetTimeoutError`, so one hung input (a file on a
    stalled network mount, a pathological light curve) cannot block the batch.  A thread
    cannot be killed: the abandoned one is told to stop and writes no report when its
    detection returns.
    """
    limit = config.target_timeout
    if not limit:
        return _process(task, index, task_dir, config, worker)
    box: dict[str, Any] = {}
    cancel = threading.Event()

    def run():
        c0 = time.thread_time()
        try:
            box["summary"] = _process(task, index, task_dir, config, worker, cancel=cancel)
            # The CPU of the work itself, which this thread (not the task's) did.
            box["summary"]["cpu_s"] = time.thread_time() - c0
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


def _task_source(task: BatchTask):
    """What ``detect`` is given for a task: the fetched light curve, the list of files, or the file."""
    if task.kind == "name":
        return fetch_lightcurve(task.name, **dict(task.fetch))
    if task.kind == "files":
        return list(task.paths)
    return task.paths[0]


def _process(task: BatchTask, index: int, task_dir: Path, config: BatchConfig, worker: str, *,
             cancel=None) -> dict:
    """Read/fetch, detect and write the reports of one target (raises on failure)."""
    lk_log = logging.getLogger("lightkurve")
    old_level = lk_log.level
    with warnings.catch_warnings():
        # A batch log of thousands of targets is no place for per-file library warnings.
        warnings.simplefilter("ignore")
        lk_log.setLevel(logging.ERROR)
        try:
            source = _task_source(task)
            t = time.perf_counter()
            result = config.detect_func(source, **config.detect_options)
            detect_s = time.perf_counter() - t
            if cancel is not None and cancel.is_set():
                raise TargetTimeoutError(f"{task.source}: finished after its time limit; no report written.")
            paths = write_report(result, task_dir, formats=config.formats, overwrite=True,
                                 submit_ready=config.submit_ready, save_result=True)
        finally:
            lk_log.setLevel(old_level)
    rows, units, kinds = candidate_rows(result.candidates)
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
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    # Every argument is checked before anything is written or any cluster starts.
    formats = check_formats(FORMATS if submit_ready else formats)
    tformats = _table_formats(table_formats)
    # looked up now, not imported once: a detect() replaced on the module is the one run
    detect_func = detection.detect if detect_func is None else detect_func
    options = _resolve_options(detect_func, dict(detect_options or {}))
    tasks = expand_sources(sources, target_column=target_column, recursive=recursive,
                           fetch_options=fetch_options)
    if not tasks:
        raise InvalidParameterError("run_batch: no targets in sources.")
    _check_timeout(target_timeout)
    _check_out_dir(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    with batch_lock(out_dir):
        # only now: the .part files of a run that holds the lock are that run's, not stale
        clean_parts(out_dir)
        config = BatchConfig(
            detect_func=detect_func, detect_options=options, formats=formats, table_formats=tuple(tformats),
            submit_ready=bool(submit_ready), resume=bool(resume), retry_failed=bool(retry_failed),
            target_timeout=None if target_timeout is None else float(target_timeout),
            run_id=uuid.uuid4().hex, model=model_identity(), version=__version__, progress=bool(progress))
        return _locked_run(tasks, out_dir, config, client=client, workers=workers,
                           memory_limit=memory_limit, dashboard=dashboard, t_start=t_start)


def _locked_run(tasks: list[BatchTask], out_dir: Path, config: BatchConfig, *, client, workers,
                memory_limit, dashboard, t_start: float) -> BatchResult:
    """The body of :func:`run_batch`, under the directory's run lock: run the tasks, write the tables."""
    batch_doc = {"astrotinyml_batch": 1, "astrotinyml": config.version, "started_utc": _utc_now(),
                 "finished_utc": None, "n_targets": len(tasks), "detect_options": jsonable(config.detect_options),
                 "formats": config.formats, "model": config.model}
    write_json(out_dir / BATCH_FILE, batch_doc)
    summaries, startup, n_workers, scheduler = _run_on_cluster(
        tasks, out_dir, config, client=client, workers=workers, memory_limit=memory_limit,
        dashboard=dashboard, t_start=t_start)
    done = [s for s in summaries if s is not None]
    status = status_table(done)
    candidates = candidates_table([s for s in done if s["outcome"] == "ok"])
    paths = _write_tables(out_dir, config.table_formats, candidates=candidates, status=status)
    counts = {k: int(sum(1 for s in done if s["status"] == k)) for k in ("ok", "failed", "skipped")}
    elapsed = time.perf_counter() - t_start
    batch_doc.update(finished_utc=_utc_now(),
                     n_ok=counts["ok"], n_failed=counts["failed"], n_skipped=counts["skipped"],
                     n_failed_standing=int(sum(1 for s in done if s["outcome"] == "failed")),
                     n_candidates=len(candidates), elapsed_s=round(elapsed, 3),
                     startup_s=round(startup, 3), workers=n_workers, scheduler=scheduler,
                     tables={k: p.name for k, p in paths.items()})
    write_json(out_dir / BATCH_FILE, batch_doc)
    paths["batch"] = out_dir / BATCH_FILE
    return BatchResult(candidates=candidates, status=status, out_dir=out_dir, paths=paths,
                       n_targets=len(tasks), n_ok=counts["ok"], n_failed=counts["failed"],
                       n_skipped=counts["skipped"], elapsed=elapsed, startup=startup,
                       workers=n_workers, scheduler=scheduler)


def _run_on_cluster(tasks: list[BatchTask], out_dir: Path, config: BatchConfig, *, client, workers,
                    memory_limit, dashboard, t_start: float) -> tuple[list, float, int, str | None]:
    """(summaries in task order, start-up seconds, workers, scheduler address): the tasks run on Dask."""
    summaries: list[dict | None] = [None] * len(tasks)
    cl, cluster, owned = _start_client(client, workers, memory_limit, dashboard)
    startup = time.perf_counter() - t_start
    try:
        n_workers = len(cl.scheduler_info(n_workers=-1).get("workers", {})) if _accepts_n_workers(cl) \
            else len(cl.scheduler_info().get("workers", {}))
        scheduler = getattr(cl, "scheduler", None)
        scheduler = getattr(scheduler, "address", None)
        _gather(cl, tasks, str(out_dir.resolve()), config, summaries)
    finally:
        if owned:
            with contextlib.suppress(Exception):
                cl.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()
    return summaries, startup, n_workers, scheduler


def _write_tables(out_dir: Path, table_formats, *, candidates, status) -> dict[str, Path]:
    """The combined tables in each format; {``<table>_<format>``: path}."""
    paths: dict[str, Path] = {}
    for fmt in table_formats:
        astropy_fmt, suffix = TABLE_FORMATS[fmt]
        for name, table in (("candidates", candidates), ("status", status)):
            path = out_dir / f"{name}{suffix}"
            write_table(table, path, astropy_fmt)
            paths[f"{name}_{fmt}"] = path
    return paths


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def worker_environment(n_workers: int) -> dict[str, str]:
    """Environment of the local cluster's worker processes: the cores shared among them.

    Each worker's search kernels are numba-parallel and would otherwise each start a thread
    per core, i.e. workers x cores threads on the machine.  On 2 cores this measured no
    different (benchmarks/batch_scaling.py: the same targets per CPU second either way); it
    keeps a many-worker cluster from running cores**2 threads.  A ``NUMBA_NUM_THREADS`` the
    user has set is kept.

    Parameters
    ----------
    n_workers : int
        Worker processes of the cluster.

    Returns
    -------
    dict
        ``{"NUMBA_NUM_THREADS": ...}``: the cores (as :func:`os.sched_getaffinity` sees
        them) divided among the workers, at least 1.

    Examples
    --------
    >>> int(worker_environment(10**6)["NUMBA_NUM_THREADS"])
    1
    """
    if os.environ.get("NUMBA_NUM_THREADS"):
        return {"NUMBA_NUM_THREADS": os.environ["NUMBA_NUM_THREADS"]}
    return {"NUMBA_NUM_THREADS": str(max(1, _default_workers() // max(1, int(n_workers))))}


def _start_client(client, workers, memory_limit, dashboard):
    """(client, cluster-or-None, owned) for the ``client=`` argument of run_batch."""
    import dask  # dask stays out of ``import astrotinyml``
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
                               silence_logs=logging.ERROR, env=worker_environment(n))
    cl = Client(cluster, set_as_default=False)
    if dashboard:
        print(f"astrotinyml batch: Dask dashboard at {cl.dashboard_link}", file=sys.stderr)
    return cl, cluster, True


def _accepts_n_workers(client) -> bool:
    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _input_size(task: BatchTask) -> int:
    total = 0
    for p in task.paths:
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return total


def _gather(client, tasks: list[BatchTask], out_dir: str, config: BatchConfig, summaries: list) -> None:
    """Submit one task per target and collect the summaries as they finish."""
    from dask.distributed import as_completed  # dask and tqdm stay out of ``import astrotinyml``
    from tqdm.auto import tqdm

    token = hashlib.sha256(f"{out_dir}{time.time_ns()}{os.getpid()}".encode()).hexdigest()[:10]
    # Largest inputs first (a cheap proxy of run time from os.stat, no reading): long
    # targets start early instead of leaving one worker busy at the end of the batch.
    order = sorted(range(len(tasks)), key=lambda i: -_input_size(tasks[i]))
    keys = [f"astrotinyml-batch-{tasks[i].task_id}-{token}" for i in order]
    futures = client.map(_run_task, [tasks[i] for i in order], order, out_dir=out_dir,
                         config=config, key=keys, pure=False, retries=0)
    where = {f.key: i for f, i in zip(futures, order)}
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    bar = tqdm(total=len(tasks), desc="astrotinyml batch", unit="target", file=sys.stderr,
               disable=not config.progress, dynamic_ncols=True, smoothing=0.05)
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
