"""The calibration record, its database, and applying it to candidates.

A :class:`Calibration` is one run of :func:`astrotinyml.calibration.fit.calibrate`: the fitted
parameters (probability calibration and decision threshold, depth and duration corrections,
recovery curve), the held-out metrics, and the per-reference, per-detection and per-signal
tables.  Runs go to an SQLite database (default ``<cache_dir>/calibration.sqlite``; see
``astrotinyml.calibration._db``): schema-versioned, one transaction per run, WAL, safe for several
writing processes.  A run whose metrics move beyond :data:`DRIFT_TOLERANCES` from the previous
run is flagged as drift.  :func:`load_calibration` returns the latest run (or a named one),
falling back to the default shipped in ``astrotinyml/models/calibration.json``
(:func:`default_calibration`); :func:`apply_calibration` applies one to a candidates table:
corrected depth and duration columns and, for the classifier it was fitted on, recalibrated
probabilities with labels re-decided at the calibrated threshold (``unknown`` below it).

>>> from astrotinyml.calibration.store import current_calibration_id, default_calibration
>>> current_calibration_id() == default_calibration().id   # fresh install: the shipped default
True
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..candidates import PROBABILITY_COLUMNS, cell_value
from ..config import MODELS_DIR
from ..errors import (
    CalibrationDatabaseError,
    CalibrationNotFoundError,
    InvalidParameterError,
    error_boundary,
)
from ..vetting import physics_veto
from . import _db
from ._db import check_writable
from .probability import apply_probability_calibration, decide_labels

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import QTable, Table

__all__ = [
    "Calibration", "load_calibration", "save_calibration", "calibration_history", "current_calibration_id",
    "apply_calibration", "default_calibration", "with_probability_calibration", "check_writable",
    "new_run_id", "utc_timestamp", "DEFAULT_CALIBRATION_PATH", "DRIFT_TOLERANCES",
]

#: The calibration shipped with the package (fitted on the real corpus; see its ``reference_summary``).
DEFAULT_CALIBRATION_PATH = MODELS_DIR / "calibration.json"

#: Absolute change ``abs(new - previous)`` beyond which a metric is flagged as drift.
DRIFT_TOLERANCES = {
    "recovery_rate": 0.10,
    "false_alarms_per_star": 0.50,
    "nonplanet_star_fa_fraction": 0.15,
    "depth_ratio_median": 0.10,
    "duration_ratio_median": 0.15,
    "prob_ece_after": 0.05,
    "prob_threshold": 0.10,
}


# ----------------------------------------------------------------------------------------
# the Calibration object
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Calibration:
    """One calibration run: fitted parameters, held-out metrics, per-reference results.

    Attributes
    ----------
    id : str
        ``cal-YYYYmmddTHHMMSSZ-<8 hex>`` (the hex is a hash of the content).
    created : str
        UTC time, ISO 8601.
    software_version : str
        astrotinyml version that ran it.
    model_sha256 : str
        SHA-256 of the classifier model whose outputs were calibrated ('' when none).
    reference_summary : dict
        Sources, counts by label, and the files (name, sha256) used.
    parameters : dict
        ``probability`` (method, temperature or isotonic knots; ``fitted`` False with a
        reason when there was no classifier output), ``threshold``, ``depth_correction``,
        ``duration_correction`` (multiply measured values), ``recovery_logistic``,
        ``recovery_by_snr``, ``recovery_by_period``, ratio summaries, ``period_precision``.
    metrics : dict
        Held-out numbers: ``recovery_rate``, ``false_alarms_per_star``, ``eb_detected_rate``,
        ``depth_ratio_median``, ``prob_ece_before``/``prob_ece_after``, ``prob_threshold``, ...
    tables : dict
        ``references``, ``detections``, ``signals``: lists of row dicts (see
        :meth:`table`).
    drift : dict
        ``flagged`` and, per metric that moved beyond tolerance, the previous and new value;
        ``previous_id``.
    options : dict
        Options of the run (tolerances, folds, target precision, detect options).
    """

    id: str
    created: str
    software_version: str
    model_sha256: str
    reference_summary: dict
    parameters: dict
    metrics: dict
    tables: dict = dataclasses.field(default_factory=dict)
    drift: dict = dataclasses.field(default_factory=lambda: {"flagged": False})
    options: dict = dataclasses.field(default_factory=dict)
    source: str = ""

    def __repr__(self) -> str:
        m = self.metrics
        prob = self.parameters.get("probability", {})
        p = prob.get("method") if prob.get("fitted") else "none"
        return (f"Calibration(id={self.id!r}, references={self.reference_summary.get('n_references', '?')}, "
                f"recovery={m.get('recovery_rate', float('nan')):.2f}, "
                f"false_alarms/star={m.get('false_alarms_per_star', float('nan')):.2f}, probability={p}, "
                f"drift={bool(self.drift.get('flagged'))})")

    @property
    def probability_fitted(self) -> bool:
        """Whether the classifier probabilities were calibrated by this run."""
        return bool(self.parameters.get("probability", {}).get("fitted"))

    def table(self, kind: str = "references") -> Table:
        """One of the result tables as an astropy Table.

        Parameters
        ----------
        kind : {'references', 'detections', 'signals'}
            Per reference light curve, per detection (with its match and truth), or per known
            signal (with ``snr_expected`` and ``recovered``).

        Returns
        -------
        astropy.table.Table

        Examples
        --------
        >>> cal = default_calibration()
        >>> "recovered" in cal.table("signals").colnames
        True
        """
        from astropy.table import Table

        if kind not in ("references", "detections", "signals"):
            raise InvalidParameterError(f"kind must be 'references', 'detections' or 'signals', got {kind!r}")
        rows = self.tables.get(kind, [])
        if not rows:
            return Table()
        names = list(rows[0])
        cols = {n: [np.nan if r.get(n) is None else r.get(n) for r in rows] for n in names}
        return Table(cols, names=names)

    def summary(self) -> str:
        """A few lines for a notebook or the CLI.

        Returns
        -------
        str

        Examples
        --------
        >>> "recovery" in default_calibration().summary()
        True
        """
        m, p = self.metrics, self.parameters

        def f(k, fmt=".3f"):
            v = m.get(k, float("nan"))
            return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)

        prob = p.get("probability", {})
        lines = [
            f"calibration {self.id} ({self.created}, astrotinyml {self.software_version})",
            f"references: {self.reference_summary.get('n_references', 0)} light curves "
            f"{self.reference_summary.get('by_label', {})}",
            f"recovery (held-out truth, period match): {f('recovery_rate')} of {f('n_planet_signals', 'g')} "
            f"detectable planets ({f('recovery_rate_with_aliases')} with aliases); "
            f"SNR50 {p.get('recovery_logistic', {}).get('snr50', float('nan')):.3g}",
            f"false alarms: {f('false_alarms_per_star')} per non-planet star "
            f"({f('nonplanet_star_fa_fraction')} of them with any); EB signals detected: {f('eb_detected_rate')}",
            f"depth measured/catalogue {f('depth_ratio_median')} (n={f('n_depth_pairs', 'g')}), "
            f"duration {f('duration_ratio_median')}; period rel. error {f('period_rel_error_median', '.2e')}",
        ]
        if prob.get("fitted"):
            lines.append(f"probabilities: {prob['method']} (held-out ECE {f('prob_ece_before')} -> "
                         f"{f('prob_ece_after')}), threshold {f('prob_threshold')} for precision "
                         f"{p.get('threshold', {}).get('target_precision')} (held-out precision "
                         f"{f('prob_precision_at_threshold')}, recall {f('prob_recall_at_threshold')})")
        else:
            lines.append(f"probabilities: {prob.get('reason', 'not fitted')}")
        if self.drift.get("flagged"):
            lines.append("DRIFT vs " + str(self.drift.get("previous_id")) + ": " +
                         ", ".join(f"{k} {v['previous']:.3g} -> {v['current']:.3g}"
                                   for k, v in self.drift.get("metrics", {}).items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (NaN as None)."""
        return _db.clean(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, doc: dict, *, source: str = "") -> "Calibration":
        """Inverse of :meth:`to_dict` (also reads database rows)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in doc.items() if k in fields}
        kw.setdefault("tables", {})
        kw["metrics"] = {k: (float("nan") if v is None else v) for k, v in kw.get("metrics", {}).items()}
        kw["source"] = source or doc.get("source", "")
        for k in ("id", "created", "software_version", "model_sha256", "reference_summary", "parameters"):
            kw.setdefault(k, {} if k in ("reference_summary", "parameters") else "")
        return cls(**kw)

    def to_json(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the calibration as JSON atomically (the format of the shipped default).

        Parameters
        ----------
        path : path-like
        overwrite : bool
            Replace an existing file.

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        return path


def utc_timestamp() -> str:
    """Now, UTC, ISO 8601 with microseconds (the ``created`` of a run).

    Examples
    --------
    >>> utc_timestamp().endswith("Z")
    True
    """
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(created: str, content: dict) -> str:
    """A run id ``cal-YYYYmmddTHHMMSSZ-<8 hex>`` for a run created at ``created``.

    Examples
    --------
    >>> new_run_id("2026-01-02T03:04:05.000001Z", {"a": 1})[:21]
    'cal-20260102T030405Z-'
    """
    import uuid

    # content hash + a random nonce: two runs in the same second (batch workers) never collide
    h = hashlib.sha256((json.dumps(content, sort_keys=True, default=str) + uuid.uuid4().hex).encode()).hexdigest()[:8]
    stamp = created.replace("-", "").replace(":", "").split(".")[0].rstrip("Z") + "Z"
    return f"cal-{stamp}-{h}"


def _drift(prev_id, prev_metrics, metrics, tolerances=None) -> dict:
    tol = dict(DRIFT_TOLERANCES, **(tolerances or {}))
    out = {"flagged": False, "previous_id": prev_id, "metrics": {}, "tolerances": tol}
    if not prev_metrics:
        return out
    for k, t in tol.items():
        a, b = prev_metrics.get(k), metrics.get(k)
        if a is None or b is None:
            continue
        a, b = float(a), float(b)
        if math.isfinite(a) and math.isfinite(b) and abs(b - a) > t:
            out["metrics"][k] = {"previous": a, "current": b, "tolerance": t}
    out["flagged"] = bool(out["metrics"])
    return out


# ----------------------------------------------------------------------------------------
# database access
# ----------------------------------------------------------------------------------------

def save_calibration(calibration: Calibration, *, db: str | os.PathLike | None = None,
                     drift_tolerances: dict | None = None, _fail_after_rows: int | None = None) -> Calibration:
    """Store a run in the database (one transaction), filling in its drift flags.

    Parameters
    ----------
    calibration : Calibration
    db : path-like, optional
        Default ``<cache_dir>/calibration.sqlite``.
    drift_tolerances : dict, optional
        Overrides of :data:`DRIFT_TOLERANCES`.

    Returns
    -------
    Calibration
        The same object, ``drift`` updated and ``source`` set to the database path.

    Raises
    ------
    CalibrationDatabaseError
        The file is not a usable calibration database (left untouched).

    Examples
    --------
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "cal.sqlite")
    >>> cal = save_calibration(default_calibration().copy_as_new(), db=db)
    >>> current_calibration_id(db=db) == cal.id
    True
    """
    con = _db.connect(db)
    try:
        doc = calibration.to_dict()
        drift = _db.write_run(con, doc, drift_fn=lambda pid, pm, m: _drift(pid, pm, m, drift_tolerances),
                                 fail_after_rows=_fail_after_rows)
    finally:
        con.close()
    calibration.drift = drift
    calibration.source = str(_db.resolve(db))
    return calibration


def _copy_as_new(self: Calibration, **metric_overrides) -> Calibration:
    created = utc_timestamp()
    metrics = dict(self.metrics, **metric_overrides)
    doc = self.to_dict()
    doc.update(created=created, metrics=metrics, drift={"flagged": False})
    doc["id"] = new_run_id(created, dict(m=metrics, pid=os.getpid(), prev=self.id))
    return Calibration.from_dict(doc)


Calibration.copy_as_new = _copy_as_new  # type: ignore[attr-defined]
Calibration.copy_as_new.__doc__ = """A copy with a new id and time (metrics optionally overridden): for tests and
re-storing a calibration in another database.

Examples
--------
>>> c = default_calibration().copy_as_new(recovery_rate=0.5)
>>> c.metrics["recovery_rate"], c.id != default_calibration().id
(0.5, True)
"""


def with_probability_calibration(base: Calibration, *, temperature: float, threshold: float,
                                 model_sha256: str, metrics: dict | None = None, note: str = "") -> Calibration:
    """A new calibration: ``base``'s detection parameters (depth/duration corrections,
    recovery) with a probability calibration fitted elsewhere, e.g. on the out-of-fold
    predictions of the real stars made during training (:func:`astrotinyml.training.metrics.real_summary`).

    Parameters
    ----------
    base : Calibration
        Detection-level calibration kept as it is.
    temperature, threshold : float
        Temperature scaling of the probabilities and the ``unknown`` threshold.
    model_sha256 : str
        The classifier the probability calibration belongs to (applied only to its outputs).
    metrics : dict, optional
        Metrics to record (``prob_ece_before``/``prob_ece_after`` ...), merged into base's.
    note : str
        Where the probability calibration comes from (kept in ``parameters['probability']``).

    Returns
    -------
    Calibration
        New id and time.

    Examples
    --------
    >>> c = with_probability_calibration(default_calibration(), temperature=1.5, threshold=0.6, model_sha256="ab")
    >>> c.parameters["probability"]["temperature"], c.parameters["threshold"]["value"], c.model_sha256
    (1.5, 0.6, 'ab')
    """
    created = utc_timestamp()
    doc = base.to_dict()
    params = dict(doc["parameters"])
    params["probability"] = dict(method="temperature", temperature=float(temperature), fitted=True,
                                 classes=[c[2:] for c in PROBABILITY_COLUMNS], chosen_by=note or "given")
    params["threshold"] = dict(dict(params.get("threshold") or {}), value=float(threshold), fitted=True,
                               note=note or "given")
    doc.update(created=created, parameters=params, model_sha256=str(model_sha256),
               metrics=dict(doc.get("metrics") or {}, **(metrics or {})), drift={"flagged": False})
    doc["id"] = new_run_id(created, dict(p=params, m=doc["metrics"], prev=base.id))
    return Calibration.from_dict(doc)


def _db_boundary(path):
    """A damaged row (bad JSON, a malformed page) becomes a CalibrationDatabaseError naming the file."""
    return error_boundary(str(path), CalibrationDatabaseError,
                          fix="The calibration database is damaged; move it aside (or pass db=/--db "
                              "another path) and rerun calibrate.")


def default_calibration() -> Calibration | None:
    """The calibration shipped with the package (``astrotinyml/models/calibration.json``).

    Returns
    -------
    Calibration or None
        None when the package ships none.

    Examples
    --------
    >>> default_calibration().id.startswith("cal-")
    True
    """
    if not DEFAULT_CALIBRATION_PATH.is_file():
        return None
    with error_boundary(str(DEFAULT_CALIBRATION_PATH), CalibrationDatabaseError,
                        fix="The shipped calibration file is damaged; reinstall astrotinyml."):
        doc = json.loads(DEFAULT_CALIBRATION_PATH.read_text())
        return Calibration.from_dict(doc, source=str(DEFAULT_CALIBRATION_PATH))


def load_calibration(db: str | os.PathLike | None = None, run_id: str | None = None, *,
                     fallback_default: bool = True) -> Calibration | None:
    """The calibration the pipeline applies: the latest run in the database, a named run, or
    the shipped default.

    Parameters
    ----------
    db : path-like, optional
        Database (default ``<cache_dir>/calibration.sqlite``; a missing file is not created).
    run_id : str, optional
        A run id (the shipped default's id also works); default: the latest run.
    fallback_default : bool
        Without runs in the database, return the shipped default (else None).

    Returns
    -------
    Calibration or None

    Raises
    ------
    CalibrationNotFoundError
        ``run_id`` is neither in the database nor the shipped default.
    CalibrationDatabaseError
        The database file is unusable.

    Examples
    --------
    >>> cal = load_calibration()   # fresh install: the shipped default
    >>> cal.id == default_calibration().id
    True
    """
    path = _db.resolve(db)
    doc = None
    # read-only: detection needs no write access to the database (nor changes its journal mode)
    con = _db.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                ids = _db.run_ids(con)
                if run_id is None and ids:
                    doc = _db.read_run(con, ids[-1])
                elif run_id is not None and run_id in ids:
                    doc = _db.read_run(con, run_id)
        finally:
            con.close()
    if doc is not None:
        with _db_boundary(path):
            return Calibration.from_dict(doc, source=str(path))
    default = default_calibration()
    if run_id is not None:
        if default is not None and default.id == run_id:
            return default
        raise CalibrationNotFoundError(
            f"calibration run {run_id!r} is not in {path} (see calibration_history() or "
            f"'astrotinyml calibrate --history') and is not the shipped default.")
    return default if fallback_default else None


def current_calibration_id(db: str | os.PathLike | None = None) -> str | None:
    """Id of the calibration the pipeline applies now (latest run, else shipped default).

    Parameters
    ----------
    db : path-like, optional

    Returns
    -------
    str or None
        None when neither a run nor a shipped default exists.

    Examples
    --------
    >>> current_calibration_id() == default_calibration().id
    True
    """
    path = _db.resolve(db)
    con = _db.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                ids = _db.run_ids(con)
        finally:
            con.close()
        if ids:
            return ids[-1]
    d = default_calibration()
    return d.id if d is not None else None


def calibration_history(db: str | os.PathLike | None = None, *, include_default: bool = False) -> Table:
    """All runs in the database, oldest first, with their key metrics and drift flags.

    Parameters
    ----------
    db : path-like, optional
    include_default : bool
        Add the shipped default as the first row.

    Returns
    -------
    astropy.table.Table
        ``id``, ``created``, ``software_version``, ``model_sha256``, ``n_references``, the
        :data:`DRIFT_TOLERANCES` metrics, ``drift`` (bool) and ``drift_metrics`` (names of the
        metrics that moved).

    Examples
    --------
    >>> import tempfile, os
    >>> len(calibration_history(os.path.join(tempfile.mkdtemp(), "none.sqlite")))
    0
    """
    from astropy.table import Table

    path = _db.resolve(db)
    rows = []
    if include_default and default_calibration() is not None:
        d = default_calibration()
        rows.append(dict(id=d.id, created=d.created, software_version=d.software_version,
                         model_sha256=d.model_sha256, reference_set=d.reference_summary, drift=False,
                         drift_detail={}, metrics=d.metrics))
    con = _db.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                rows += _db.history_rows(con)
        finally:
            con.close()
    keys = list(DRIFT_TOLERANCES)
    names = ["id", "created", "software_version", "model_sha256", "n_references", *keys, "drift", "drift_metrics"]
    if not rows:
        return Table(names=names, dtype=[str, str, str, str, int, *[float] * len(keys), bool, str])
    cols: dict[str, list] = {n: [] for n in names}
    for r in rows:
        cols["id"].append(r["id"])
        cols["created"].append(r["created"])
        cols["software_version"].append(r["software_version"] or "")
        cols["model_sha256"].append(r["model_sha256"] or "")
        cols["n_references"].append(int((r["reference_set"] or {}).get("n_references", 0)))
        for k in keys:
            v = r["metrics"].get(k)
            cols[k].append(float("nan") if v is None else float(v))
        cols["drift"].append(bool(r["drift"]))
        cols["drift_metrics"].append(",".join(sorted((r["drift_detail"] or {}).get("metrics", {}))))
    return Table(cols, names=names)


# ----------------------------------------------------------------------------------------
# applying a calibration
# ----------------------------------------------------------------------------------------

def apply_calibration(candidates: Any, calibration: Calibration | str | None = None, *,
                      db: str | os.PathLike | None = None) -> QTable:
    """Apply a calibration to a candidates table (a copy is returned).

    Adds ``pl_trandep_cal`` [ppm] and ``pl_trandurh_cal`` [h] (measured values times the
    depth/duration corrections for detrending losses) and, when the table has classifier
    output, the calibration fitted for the same model (``model_sha256`` equal to
    ``meta['classifier_sha256']``) and probability calibration fitted: recalibrated ``p_*``
    columns and ``label`` re-decided with the calibrated threshold (``unknown`` below it).
    ``meta`` gains ``calibration_id``, ``classifier_calibrated`` (bool) and
    ``calibration_note`` (why probabilities were left as they were, if they were).

    Parameters
    ----------
    candidates : astropy.table.Table or QTable
        :func:`astrotinyml.detection.detect` candidates (``DetectionResult.candidates``).
    calibration : Calibration, str or None
        A Calibration, a run id, or None for :func:`load_calibration` (latest run, else the
        shipped default).
    db : path-like, optional
        Database to load from.

    Returns
    -------
    astropy.table.QTable

    Examples
    --------
    >>> from astropy.table import QTable
    >>> t = QTable(dict(pl_orbper=[3.0], pl_tranmid=[2458000.0], pl_trandurh=[2.0], pl_trandep=[1000.0]))
    >>> out = apply_calibration(t)
    >>> out.meta["calibration_id"] == current_calibration_id(), "pl_trandep_cal" in out.colnames
    (True, True)
    """
    import astropy.units as u
    from astropy.table import QTable

    if calibration is None or isinstance(calibration, str):
        cal = load_calibration(db=db, run_id=calibration)
    else:
        cal = calibration
    table = QTable(candidates, copy=True)
    if cal is None:
        table.meta["calibration_id"] = None
        table.meta["calibration_note"] = "no calibration available"
        return table
    p = cal.parameters
    n = len(table)
    if "pl_trandep" in table.colnames:
        dep = np.array([cell_value(x) for x in table["pl_trandep"]], float) if n else np.array([], float)
        table["pl_trandep_cal"] = dep * float(p.get("depth_correction", 1.0) or 1.0)
    if "pl_trandurh" in table.colnames:
        col = table["pl_trandurh"]
        # A Quantity column in days or minutes is converted; plain numbers are hours (the column contract, astrotinyml.candidates).
        dur = (np.asarray(u.Quantity(col).to_value(u.h), float) if getattr(col, "unit", None) is not None
               else np.array([cell_value(x) for x in col], float) if n else np.array([], float))
        table["pl_trandurh_cal"] = dur * float(p.get("duration_correction", 1.0) or 1.0) * u.h
    table.meta["calibration_id"] = cal.id
    note = ""
    calibrated = False
    prob = p.get("probability", {})
    has_p = all(c in table.colnames for c in PROBABILITY_COLUMNS)
    model = str(table.meta.get("classifier_sha256", ""))
    if not has_p:
        note = "no classifier output in the table"
    elif not prob.get("fitted"):
        note = f"probabilities left uncalibrated: {prob.get('reason', 'not fitted')}"
    elif cal.model_sha256 and model and cal.model_sha256 != model:
        note = (f"probabilities left uncalibrated: calibration {cal.id} was fitted for model "
                f"{cal.model_sha256[:12]}, the table comes from {model[:12]}; rerun calibrate")
    else:
        if n:
            P = np.array([[cell_value(table[c][i]) for c in PROBABILITY_COLUMNS] for i in range(n)], float)
            Q = apply_probability_calibration(P, prob)
            thr = float(p.get("threshold", {}).get("value", 0.5))
            for j, c in enumerate(PROBABILITY_COLUMNS):
                table[c] = Q[:, j]
            table["label"] = np.array(decide_labels(Q, [c[2:] for c in PROBABILITY_COLUMNS], thr), dtype="U12")
        table.meta["classifier_threshold"] = float(p.get("threshold", {}).get("value", float("nan")))
        calibrated = True
    table.meta["classifier_calibrated"] = calibrated
    table.meta["calibration_note"] = note
    # Re-deciding the label must not undo vet's physics veto (a companion no planet can be).
    return physics_veto(table, copy=False)  # table is this function's own copy
