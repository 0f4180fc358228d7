"""What a batch runs on: the ``sources`` of :func:`~astrotinyml.apps.batch.run_batch` as one task per target.

:func:`expand_sources` turns files, directories, glob patterns, lists of files of one star,
target names and tables of targets into :class:`BatchTask` records, one per target, without
reading anything: it only looks at names (and, for directories and patterns, at the file
system's listing), so it is cheap for many thousands of sources.

Three rules decide what a source is:

* a string that exists on disk is a file (or a directory of light-curve files, those whose
  name ends in one of :data:`astrotinyml.io.read.LIGHTCURVE_SUFFIXES`);
* a string that does not exist but looks like a path (:func:`astrotinyml.io.read.looks_like_path`:
  a separator or a light-curve suffix) stays a file source, so that it fails as a missing
  file in the status table instead of being fetched as a target name;
* anything else is a target name, fetched by its task.

A table names its targets in one column: a column of paths (``path``, ``file``, ...) or of
names (``target``, ``tic_id`` as ``TIC n``, ``kepid`` as ``KIC n``, ``toi`` as ``TOI-n``, ...);
the mission, sector, quarter, campaign, author and cadence columns of a row become that
row's fetch options.  A target given twice (the same file, or the same name with the same
fetch options: several planets of one star) runs once.

Each task gets an id, the name of its output directory: the file stem or the target name made
safe for a file name; sources that would share an id all get a short hash of their full
source appended, so an id does not depend on the order of the sources.
"""

from __future__ import annotations

import glob
import hashlib
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from ..candidates import plain
from ..errors import InvalidParameterError
from ..io.read import LIGHTCURVE_SUFFIXES, looks_like_path
from ..report import safe_name

__all__ = ["BatchTask", "expand_sources"]

# Table columns naming targets, in order of preference, with the prefix a bare id needs.
_PATH_COLUMNS = ("path", "file", "filename", "source_file")
_NAME_COLUMNS = {
    "target": "", "target_name": "", "tic_id": "TIC", "tid": "TIC", "ticid": "TIC", "tic": "TIC",
    "kepid": "KIC", "kic": "KIC", "kic_id": "KIC", "epic": "EPIC", "epic_id": "EPIC",
    "epic_number": "EPIC", "hostname": "", "name": "", "pl_name": "", "toi": "TOI",
}
_FETCH_COLUMNS = ("mission", "sector", "quarter", "campaign", "author", "exptime")
# Fetch options that tell two tasks of one target name apart in their ids.
_ID_FETCH_KEYS = ("mission", "sector", "quarter", "campaign")


@dataclass(frozen=True)
class BatchTask:
    """One unit of work of :func:`~astrotinyml.apps.batch.run_batch`: one target.

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

    Examples
    --------
    >>> from astrotinyml.apps.sources import BatchTask
    >>> BatchTask(task_id="star", kind="file", source="star.fits", paths=("star.fits",)).paths
    ('star.fits',)
    """

    task_id: str
    kind: str
    source: str
    paths: tuple = ()
    name: str | None = None
    fetch: tuple = ()


@dataclass(frozen=True)
class _Item:
    """One target as a source names it, before ids: its files, or a name and fetch options."""

    paths: tuple = ()
    name: str | None = None
    fetch: tuple = ()  # sorted (key, value) pairs of a table row's fetch options


def expand_sources(sources, *, target_column: str | None = None, recursive: bool = False,
                   fetch_options: dict | None = None) -> list[BatchTask]:
    """Turn the ``sources`` of :func:`~astrotinyml.apps.batch.run_batch` into one :class:`BatchTask` per target.

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
    if sources is None:
        raise InvalidParameterError("run_batch: sources is None; pass files, directories, names or a table.")
    try:
        from astropy.table import Table  # lazy: astropy.table is not imported by ``import astrotinyml``
    except ImportError:  # pragma: no cover - astropy is a hard dependency
        Table = ()
    if isinstance(sources, (str, os.PathLike)) or (Table and isinstance(sources, Table)):
        sources = [sources]
    base_fetch = dict(fetch_options or {})
    items: list[_Item] = []
    for src in sources:
        if Table and isinstance(src, Table):
            items.extend(_table_items(src, target_column))
        else:
            items.extend(_source_items(src, recursive))
    return _with_ids(_unique_drafts(items, base_fetch))


# --------------------------------------------------------------------------- one source


def _source_items(src, recursive: bool) -> list[_Item]:
    """The targets of one source that is not a table."""
    if isinstance(src, (list, tuple)):
        paths = tuple(os.fspath(p) for p in src)
        if not paths:
            raise InvalidParameterError("run_batch: an inner list of sources (one stitched star) is empty.")
        return [_Item(paths=paths)]
    if not isinstance(src, (str, os.PathLike)):
        raise InvalidParameterError(
            f"run_batch: a source must be a path, a target name, a list of paths (one star) "
            f"or an astropy Table; got {type(src).__name__}.")
    s = os.fspath(src)
    p = Path(s)
    if p.is_dir():
        return [_Item(paths=(str(f),)) for f in _dir_files(p, recursive)]
    if p.exists():
        return [_Item(paths=(s,))]
    if any(ch in s for ch in "*?[") and glob.glob(s, recursive=True):
        return [_Item(paths=(f,)) for f in sorted(glob.glob(s, recursive=True)) if _is_lightcurve_file(Path(f))]
    if looks_like_path(s):
        return [_Item(paths=(s,))]  # missing: fails as such in its task
    if s.strip():
        return [_Item(name=s.strip())]
    raise InvalidParameterError("run_batch: an empty string is not a source.")


def _is_lightcurve_file(path: Path) -> bool:
    name = path.name.lower()
    return (path.is_file() and not name.startswith((".", "manifest", "_done"))
            and any(name.endswith(s) for s in LIGHTCURVE_SUFFIXES))


def _dir_files(path: Path, recursive: bool) -> list[Path]:
    it = path.rglob("*") if recursive else path.iterdir()
    files = sorted(p for p in it if _is_lightcurve_file(p))
    if not files:
        raise InvalidParameterError(
            f"run_batch: directory {path} holds no light-curve files "
            f"({'searched recursively' if recursive else 'pass recursive=True to search sub-directories'}).")
    return files


# --------------------------------------------------------------------------- tables


def _plain_cell(value):
    """A Python scalar from a table cell; None for masked/empty (a blank target name is no target)."""
    value = plain(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _target_column(table, target_column: str | None) -> str:
    """The column of ``table`` naming its targets: the one given, else the first known one."""
    if target_column is not None:
        if target_column not in table.colnames:
            raise InvalidParameterError(
                f"run_batch: target_column={target_column!r} is not a column of the table "
                f"(columns: {', '.join(table.colnames)}).")
        return target_column
    cols = {c.lower(): c for c in table.colnames}
    chosen = next((cols[c] for c in _PATH_COLUMNS if c in cols), None) or \
        next((cols[c] for c in _NAME_COLUMNS if c in cols), None)
    if chosen is None:
        raise InvalidParameterError(
            "run_batch: cannot tell which column of the table names the targets; pass "
            f"target_column= (columns: {', '.join(table.colnames)}).")
    return chosen


def _target_name(value, prefix: str) -> str:
    """A name cell as a target name: a bare number gets its catalogue's prefix (``TIC n``, ``TOI-n``)."""
    name = str(value)
    if isinstance(value, float) and value.is_integer():
        name = str(int(value))
    if prefix and name.replace(".", "").isdigit():
        name = f"{prefix} {name}" if prefix != "TOI" else f"TOI-{name}"
    return name


def _table_items(table, target_column: str | None) -> list[_Item]:
    cols = {c.lower(): c for c in table.colnames}
    chosen = _target_column(table, target_column)
    is_path = chosen.lower() in _PATH_COLUMNS
    prefix = _NAME_COLUMNS.get(chosen.lower(), "")
    items: list[_Item] = []
    skipped = 0
    for row in table:
        value = _plain_cell(row[chosen])
        if value is None:
            skipped += 1
            continue
        if is_path:
            items.append(_Item(paths=(str(value),)))
            continue
        fetch = {}
        for key in _FETCH_COLUMNS:
            if key in cols:
                v = _plain_cell(row[cols[key]])
                if v is not None:
                    fetch[key] = v
        items.append(_Item(name=_target_name(value, prefix), fetch=tuple(fetch.items())))
    if skipped:
        # stacklevel 3: the warning names the caller of expand_sources (run_batch, or the user)
        warnings.warn(f"run_batch: {skipped} row(s) with an empty {chosen!r} were left out", stacklevel=3)
    return items


# --------------------------------------------------------------------------- ids


def _draft(item: _Item, base_fetch: dict) -> tuple[BatchTask, tuple]:
    """The task of one item with its id still the bare stem, and what makes it the same target."""
    if item.name is not None:
        fetch = {**base_fetch, **dict(item.fetch)}
        ident = ("name", item.name, tuple(sorted((k, str(v)) for k, v in fetch.items())))
        extra = "_".join(f"{k}{v}" for k, v in sorted(fetch.items()) if k in _ID_FETCH_KEYS)
        stem = safe_name(item.name + (f"_{extra}" if extra else ""))
        return BatchTask(task_id=stem, kind="name", source=item.name, paths=(), name=item.name,
                         fetch=tuple(sorted(fetch.items()))), ident
    paths = item.paths
    ident = ("files", tuple(os.path.abspath(p) for p in paths))
    first = Path(paths[0]).name.split(".")[0]
    stem = safe_name(first if len(paths) == 1 else f"{first}_stitched{len(paths)}")
    kind = "files" if len(paths) > 1 else "file"
    return BatchTask(task_id=stem, kind=kind, source=";".join(paths), paths=paths), ident


def _unique_drafts(items: list[_Item], base_fetch: dict) -> list[tuple[BatchTask, str]]:
    """One draft per target (the same file or target twice: once is enough), in order."""
    drafts = []
    seen: set = set()
    for item in items:
        task, ident = _draft(item, base_fetch)
        if ident in seen:
            continue
        seen.add(ident)
        drafts.append((task, repr(ident)))
    return drafts


def _with_ids(drafts: list[tuple[BatchTask, str]]) -> list[BatchTask]:
    """Stems shared by different sources all get a hash suffix, so ids do not depend on order."""
    counts: dict[str, int] = {}
    for task, _ in drafts:
        counts[task.task_id.lower()] = counts.get(task.task_id.lower(), 0) + 1
    return [task if counts[task.task_id.lower()] == 1 else
            replace(task, task_id=f"{task.task_id}_{hashlib.sha256(ident.encode()).hexdigest()[:8]}")
            for task, ident in drafts]
