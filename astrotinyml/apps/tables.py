"""The combined tables of a batch: one row per candidate, one row per target.

A batch task returns its candidates as plain values (:func:`candidate_rows`: JSON-able rows
plus the unit and the kind of each column), so that a summary is small, pickles cheaply
across Dask and fits in the task's resume marker.  The driver gathers the summaries of all
targets into two tables:

* :func:`candidates_table`: ``task``, ``target``, ``source``, ``candidate`` (1-based within the
  target), then every candidate column any target reported, in the order first seen, with
  its unit; a value a target lacks is NaN (float columns) or masked;
* :func:`status_table`: one row per target with its status in this run, its standing
  outcome, the error and the timings.

:func:`write_table` writes either in one of :data:`TABLE_FORMATS`, atomically.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..atomic import atomic_path
from ..candidates import plain
from .markers import umask_mode

__all__ = ["TABLE_FORMATS", "candidate_rows", "candidates_table", "status_table", "write_table"]

#: Formats the combined tables can be written in: name -> (astropy format, file suffix).
TABLE_FORMATS = {"ecsv": ("ascii.ecsv", ".ecsv"), "parquet": ("parquet", ".parquet"),
                 "csv": ("ascii.csv", ".csv"), "fits": ("fits", ".fits")}


def _cell(value):
    """A JSON-able plain value of one candidate cell (NaN and masked become None)."""
    value = plain(value)
    return None if isinstance(value, (list, dict)) else value  # vector cells are not part of the combined table


def candidate_rows(table) -> tuple[list[dict], dict, dict]:
    """A candidates table as plain rows, the unit of each column and its kind (f, i, u, b, U).

    Vector columns are left out (they are not part of the combined table).

    Parameters
    ----------
    table : astropy.table.Table or QTable

    Returns
    -------
    (list of dict, dict, dict)
        Rows ``{column: value}`` (NaN and masked as None), ``{column: unit string}`` for
        columns with a unit, ``{column: kind}``.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from astrotinyml.apps.tables import candidate_rows
    >>> candidate_rows(QTable({"pl_orbper": [0.94] * u.day, "label": ["planet"]}))
    ([{'pl_orbper': 0.94, 'label': 'planet'}], {'pl_orbper': 'd'}, {'pl_orbper': 'f', 'label': 'U'})
    """
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


def candidates_table(summaries: list[dict]):
    """One row per candidate of the given task summaries (those with outcome ok).

    Parameters
    ----------
    summaries : list of dict
        Task summaries with ``task``, ``target``, ``source``, ``candidates`` (rows of
        :func:`candidate_rows`), ``units`` and ``kinds``.

    Returns
    -------
    astropy.table.QTable

    Examples
    --------
    >>> from astrotinyml.apps.tables import candidates_table
    >>> s = dict(task="b", target="B", source="b.fits", units={"pl_orbper": "d"}, kinds={"pl_orbper": "f"},
    ...          candidates=[{"pl_orbper": 0.94}])
    >>> candidates_table([s]).colnames
    ['task', 'target', 'source', 'candidate', 'pl_orbper']
    """
    import numpy as np
    from astropy.table import Column, MaskedColumn, QTable

    order, units, kinds = _column_order(summaries)
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


def _column_order(summaries: list[dict]) -> tuple[list[str], dict, dict]:
    """Candidate columns in the order first seen, with their units and kinds.

    The order comes from the rows themselves; a target with no candidate still reports its
    column kinds, which must not hide those columns from the targets that have rows.
    """
    order: list[str] = []
    units: dict[str, str] = {}
    kinds: dict[str, str] = {}
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
    return [n for n in order if n not in fixed], units, kinds


def _unit(text: str):
    import astropy.units as u

    try:
        return u.Unit(text)
    except ValueError:  # pragma: no cover - units come from astropy
        return u.dimensionless_unscaled


def status_table(summaries: list[dict]):
    """One row per target: status in this run, standing outcome, error, timings, worker.

    Parameters
    ----------
    summaries : list of dict
        Task summaries (see :class:`~astrotinyml.apps.batch.BatchResult` for the columns).

    Returns
    -------
    astropy.table.Table

    Examples
    --------
    >>> from astrotinyml.apps.tables import status_table
    >>> s = dict(task="a", source="a.fits", target="", status="failed", outcome="failed",
    ...          error_type="LightCurveFileNotFoundError", message="a.fits: not found", n_candidates=0,
    ...          detect_s=None, task_s=0.1, cpu_s=0.1, worker="host:1")
    >>> str(status_table([s])["report_dir"][0])
    'a'
    """
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


def write_table(table, path: Path, fmt: str) -> None:
    """Write ``table`` atomically in astropy format ``fmt``, with the umask's permissions.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.table import Table
    >>> from astrotinyml.apps.tables import write_table
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.ecsv"
    >>> write_table(Table({"a": [1]}), p, "ascii.ecsv")
    >>> p.is_file()
    True
    """
    with atomic_path(path, overwrite=True) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. parquet's note on serialized units
            table.write(tmp, format=fmt, overwrite=True)
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600; shared batch outputs follow the umask
