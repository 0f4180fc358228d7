"""What a batch leaves on disk to resume from: per-target markers, the resume key, the run lock.

Each task directory of :func:`~astrotinyml.apps.batch.run_batch` gets a marker,
``_done.json`` (:data:`MARKER_NAME`), written last and atomically.  It holds a *key*: the
sha256 (:func:`resume_key`) of a canonical JSON document (:func:`jsonable`, keys sorted)
with

* the inputs: the sha256 of each input file (:func:`sha256_or_none`), or the target name and
  fetch options;
* the ``detect`` function's qualified name and its options with defaults resolved;
* the report formats;
* the model and calibration identity (:func:`model_identity`);
* the library version and the marker layout (:data:`MARKER_SCHEMA`).

It also keeps the size and modification time of each input (:func:`input_stat`): a rerun
whose inputs have the same ones reuses the recorded sha256 instead of reading every file
again, as ``make`` trusts timestamps.  And it lists the output files with their sizes, so
that a rerun can tell a complete target (:func:`outputs_complete`) from one whose outputs
were lost, and remove the outputs of an outdated marker (:func:`remove_outputs`) before the
target is redone.

A run killed at any point loses at most the targets in flight: their directory has no valid
marker and is redone next time, and the ``.part`` files the atomic writes left behind are
removed (:func:`clean_parts`).  One run per output directory at a time: :func:`batch_lock`
holds an exclusive ``flock`` on ``out_dir/.batch.lock`` (:data:`LOCK_NAME`), which the kernel
releases if the process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from ..calibration.store import current_calibration_id
from ..config import MODELS_DIR
from ..errors import BatchLockedError
from ..provenance import sha256_file

__all__ = [
    "LOCK_NAME",
    "MARKER_FIELDS",
    "MARKER_NAME",
    "MARKER_SCHEMA",
    "batch_lock",
    "clean_parts",
    "input_stat",
    "jsonable",
    "model_identity",
    "outputs_complete",
    "read_marker",
    "remove_outputs",
    "resume_key",
    "sha256_or_none",
    "umask_mode",
    "write_json",
]

#: Name of the per-target marker file, written last and atomically.
MARKER_NAME = "_done.json"
#: Version of the marker / key layout; bumping it invalidates every earlier marker.
MARKER_SCHEMA = 1
#: Lock file of a batch directory (held while a run writes into it).
LOCK_NAME = ".batch.lock"
#: What a marker keeps of a task's summary (enough to rebuild both tables without rerunning).
MARKER_FIELDS = ("task", "source", "target", "outcome", "error_type", "message", "transient",
                 "n_candidates", "candidates", "units", "kinds", "detect_s", "files", "worker",
                 "task_s", "cpu_s")


# --------------------------------------------------------------------------- the key


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
      calibration store holds no calibration, ``"unreadable"`` when it cannot be read.

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
    model, files = _model_files(MODELS_DIR / "registry.json")
    try:
        value = current_calibration_id()
        calibration = None if value is None else str(value)
    except Exception:  # noqa: BLE001 - an unreadable calibration store means "unknown"
        calibration = "unreadable"
    return {"model_sha256": model, "model_files": files, "calibration_id": calibration}


def _model_files(registry: Path) -> tuple[str | None, dict[str, str | None]]:
    """(model sha256, {file name: sha256 of its bytes}) of a model registry; (None, {}) without one."""
    model = None
    files: dict[str, str | None] = {}
    if not registry.is_file():
        return model, files
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
                files[name] = sha256_or_none(str(registry.parent / name))
    return model, files


def jsonable(value):
    """A copy of ``value`` that ``json.dumps`` writes: quantities as ``{"value", "unit"}``,
    numpy scalars as Python ones, non-finite floats and unknown objects as their ``repr``.

    Dict order is kept (column order); the key is computed with sorted keys.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
        Nested dicts, lists, str, int, float, bool and None.

    Examples
    --------
    >>> import numpy as np
    >>> from astrotinyml.apps.markers import jsonable
    >>> jsonable({"a": np.float64(1.5), "b": (1, float("nan")), "c": None})
    {'a': 1.5, 'b': [1, 'nan'], 'c': None}
    """
    if hasattr(value, "unit") and hasattr(value, "value"):
        return {"value": jsonable(value.value), "unit": str(value.unit)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}  # order kept (column order)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def resume_key(doc: dict) -> str:
    """The resume key of a key document: sha256 of its canonical JSON (sorted keys, no spaces).

    Parameters
    ----------
    doc : dict

    Returns
    -------
    str
        64 hex digits; equal documents (whatever their key order) give equal keys.

    Examples
    --------
    >>> from astrotinyml.apps.markers import resume_key
    >>> resume_key({"a": 1, "b": 2}) == resume_key({"b": 2, "a": 1})
    True
    """
    text = json.dumps(jsonable(doc), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def input_stat(path: str) -> list | None:
    """``[size, mtime_ns]`` of an input file, None when it cannot be stat'ed.

    Examples
    --------
    >>> from astrotinyml.apps.markers import input_stat
    >>> input_stat("no/such/file.fits") is None
    True
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def sha256_or_none(path: str) -> str | None:
    """sha256 of a regular file's bytes; None when it is missing, unreadable or not a regular file.

    A FIFO or device is never opened here (it would block or never end); the reader's gate
    reports it as the target's failure.

    Examples
    --------
    >>> from astrotinyml.apps.markers import sha256_or_none
    >>> sha256_or_none("no/such/file.fits") is None
    True
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        return sha256_file(path)
    except OSError:
        return None


# --------------------------------------------------------------------------- markers


def read_marker(task_dir: Path) -> dict | None:
    """The marker of a task directory, None when absent, unreadable or of another layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.apps.markers import read_marker, write_json, MARKER_NAME, MARKER_SCHEMA
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> read_marker(d) is None
    True
    >>> _ = write_json(d / MARKER_NAME, {"schema": MARKER_SCHEMA, "key": "k"})
    >>> read_marker(d)["key"]
    'k'
    """
    try:
        doc = json.loads((Path(task_dir) / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == MARKER_SCHEMA else None


def outputs_complete(task_dir: Path, marker: dict) -> bool:
    """Whether every output file a marker lists is present with its recorded size.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.apps.markers import outputs_complete
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.json").write_text("{}")
    >>> outputs_complete(d, {"files": {"a.json": 2}}), outputs_complete(d, {"files": {"b.json": 2}})
    (True, False)
    """
    for name, size in (marker.get("files") or {}).items():
        try:
            if (Path(task_dir) / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def remove_outputs(task_dir: Path, marker: dict | None) -> None:
    """Remove an outdated (or absent) marker, first, then the output files it listed.

    Only plain names inside ``task_dir`` are removed (no sub-paths, no hidden files).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.apps.markers import remove_outputs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.json").write_text("{}")
    >>> remove_outputs(d, {"files": {"a.json": 2}})
    >>> sorted(p.name for p in d.iterdir())
    []
    """
    task_dir = Path(task_dir)
    with contextlib.suppress(FileNotFoundError):
        (task_dir / MARKER_NAME).unlink()
    for name in (marker or {}).get("files") or {}:
        if "/" not in name and not name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                (task_dir / name).unlink()


def clean_parts(directory: Path) -> int:
    """Remove ``.part`` files left by a killed run (atomic_path names them ``.<name>.*.part``).

    Returns
    -------
    int
        Files removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.apps.markers import clean_parts
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".status.ecsv.x1.part").write_text("")
    >>> clean_parts(d)
    1
    """
    n = 0
    with contextlib.suppress(OSError):
        for p in Path(directory).iterdir():
            if p.name.startswith(".") and p.name.endswith(".part") and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    n += 1
    return n


def umask_mode() -> int:
    """Permission bits of a new file under the current umask (``mkstemp`` makes 0600).

    Examples
    --------
    >>> from astrotinyml.apps.markers import umask_mode
    >>> umask_mode() & 0o600
    384
    """
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_json(path: Path, doc: dict, *, allow_nan: bool = True) -> Path:
    """Write ``jsonable(doc)`` as indented JSON, atomically, with the umask's permissions.

    Parameters
    ----------
    path : path-like
    doc : dict
    allow_nan : bool
        False: a NaN left in ``doc`` is an error (a marker must be strict JSON).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> from astrotinyml.apps.markers import write_json
    >>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "batch.json", {"n": 1})
    >>> json.loads(p.read_text())
    {'n': 1}
    """
    path = Path(path)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(doc), indent=1, allow_nan=allow_nan) + "\n")
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600; shared batch outputs follow the umask
    return path


# --------------------------------------------------------------------------- the run lock


@contextlib.contextmanager
def batch_lock(out_dir: Path):
    """Hold an exclusive lock on ``out_dir`` for one run; a second run is refused at once.

    ``flock`` on ``out_dir/.batch.lock``: released by the kernel when the process ends, so a
    killed run never leaves a stale lock.  The file says who holds it, for the message.

    Raises
    ------
    BatchLockedError
        Another process holds the lock.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.apps.markers import batch_lock, LOCK_NAME
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with batch_lock(d):
    ...     (d / LOCK_NAME).read_text().startswith("pid ")
    True
    """
    path = Path(out_dir) / LOCK_NAME
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
