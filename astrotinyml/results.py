"""Saved detections: one versioned FITS file per target, from which reports are rebuilt.

:func:`save_result` writes what :func:`astrotinyml.detection.detect` returned (the light curve as
read, the flattened one with its trend, the vetted, classified and fitted candidates with
their units and metadata, the transit-fit posteriors, the periodogram when it was computed,
the options, timings and provenance) to ``<target>.result.fits``; :func:`load_result` reads it
back as a :class:`~astrotinyml.detection.DetectionResult`, so that ``astrotinyml report RUN_DIR``
writes the PDF, JSON, FITS, CSV and ExoFOP files again without detecting anything again.
Views are not stored (the reports do not use them); ``load_result`` leaves them empty.

The file: a primary HDU with ``RESVER`` (:data:`RESULT_VERSION`), ``OBJECT`` and ``CREATOR``;
``RAW`` and ``FLAT`` tables (``TIME`` [BJD_TDB], ``FLUX``, ``FLUX_ERR``, and ``TREND`` in
``FLAT``); ``CANDIDATES`` (astropy's FITS table with units); ``PERIODOGRAM`` when known; one
``POSTERIOR_n`` table per fitted candidate; ``META``, the rest as JSON (bytes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .atomic import atomic_path
from .candidates import plain
from .detection import DetectionResult
from .errors import InvalidParameterError, LightCurveFormatError

__all__ = ["save_result", "load_result", "RESULT_VERSION", "RESULT_SUFFIX", "find_results"]

#: Version of the result file layout; :func:`load_result` refuses other major versions.
RESULT_VERSION = "1.0"
#: File-name suffix of saved results.
RESULT_SUFFIX = ".result.fits"


def _jsonable(value: Any) -> Any:
    return plain(value)


def _lc_hdu(lc, name: str, *, trend: bool):
    from astropy.io import fits

    t = np.asarray(lc.time.jd, dtype=float)
    cols = [fits.Column("TIME", "D", unit="d", array=t),
            fits.Column("FLUX", "D", array=np.asarray(getattr(lc.flux, "value", lc.flux), float)),
            fits.Column("FLUX_ERR", "D", array=np.asarray(getattr(lc.flux_err, "value", lc.flux_err), float))]
    if trend and "trend" in lc.colnames:
        cols.append(fits.Column("TREND", "D", array=np.asarray(getattr(lc["trend"], "value", lc["trend"]), float)))
    return fits.BinTableHDU.from_columns(cols, name=name)


def save_result(result, path: str | Path) -> Path:
    """Write a detection to one FITS file (atomically), for :func:`load_result`.

    Parameters
    ----------
    result : astrotinyml.detection.DetectionResult
    path : str or path-like
        Usually ``<dir>/<target>.result.fits``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml import datasets, detect
    >>> res = detect(datasets.load_sample("wasp-18"))
    >>> p = save_result(res, pathlib.Path(tempfile.mkdtemp()) / "w18.result.fits")
    >>> again = load_result(p)
    >>> again.target == res.target, len(again.candidates) == len(res.candidates)
    (True, True)
    """
    from astropy.io import fits
    from astropy.table import QTable

    path = Path(path)
    cands = QTable(result.candidates, copy=True)
    meta = dict(cands.meta)
    posteriors = meta.pop("fit_posteriors", None) or {}
    cands.meta.clear()
    for name in cands.colnames:  # FITS strings are ASCII; object columns become text
        if cands[name].dtype.kind == "O":
            cands[name] = [str(v) for v in cands[name]]
    primary = fits.PrimaryHDU()
    primary.header["RESVER"] = (RESULT_VERSION, "astrotinyml result file version")
    primary.header["OBJECT"] = str(result.target).encode("ascii", "replace").decode()[:68]
    primary.header["CREATOR"] = f"astrotinyml {__version__}"
    hdus = [primary, _lc_hdu(result.raw, "RAW", trend=False), _lc_hdu(result.flat, "FLAT", trend=True)]
    units = {}
    for name in cands.colnames:
        unit = getattr(cands[name], "unit", None)
        if unit is not None:
            units[name] = unit.to_string()
            cands[name] = np.asarray(cands[name].value)
    hdu = fits.table_to_hdu(cands)
    hdu.name = "CANDIDATES"
    hdus.append(hdu)
    pg = result._periodogram
    if pg is not None and len(pg):
        hdus.append(fits.BinTableHDU.from_columns(
            [fits.Column(c.upper(), "D", array=np.asarray(getattr(pg[c], "value", pg[c]), float))
             for c in pg.colnames], name="PERIODOGRAM"))
    for i, draws in sorted(posteriors.items()):
        hdus.append(fits.BinTableHDU.from_columns(
            [fits.Column(k, "D", array=np.asarray(v, float)) for k, v in draws.items()],
            name=f"POSTERIOR_{int(i) + 1}"))
    raw_meta = {k: v for k, v in (getattr(result.raw, "meta", {}) or {}).items()
                if isinstance(v, (str, int, float, bool, list, type(None)))}
    flat_meta = {k: v for k, v in (getattr(result.flat, "meta", {}) or {}).items()
                 if isinstance(v, (str, int, float, bool, list, type(None)))}
    record = {"version": RESULT_VERSION, "target": str(result.target), "options": _jsonable(result.options),
              "timings": _jsonable(result.timings), "model_sha256": result.model_sha256,
              "calibration_id": result.calibration_id, "candidates_meta": _jsonable(meta),
              "candidate_units": units, "raw_meta": _jsonable(raw_meta), "flat_meta": _jsonable(flat_meta)}
    blob = np.frombuffer(json.dumps(record, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    hdus.append(fits.ImageHDU(blob, name="META"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path


def _lc_from(hdu, meta):
    import lightkurve as lk
    from astropy.time import Time

    d = hdu.data
    lc = lk.LightCurve(time=Time(np.asarray(d["TIME"], float), format="jd", scale="tdb"),
                       flux=np.asarray(d["FLUX"], float), flux_err=np.asarray(d["FLUX_ERR"], float))
    if "TREND" in d.names:
        lc["trend"] = np.asarray(d["TREND"], float)
    lc.meta.update(meta)
    return lc


def load_result(path: str | Path):
    """Read a file of :func:`save_result` back as a DetectionResult (views empty).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    astrotinyml.detection.DetectionResult

    Raises
    ------
    LightCurveFormatError
        Not a result file, a damaged one, or one of another major version (the message says
        which and how to recreate it).

    Examples
    --------
    See :func:`save_result`.
    """
    import astropy.units as u
    from astropy.io import fits
    from astropy.table import QTable

    path = Path(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            version = str(hdul[0].header.get("RESVER", ""))
            if version.split(".")[0] != RESULT_VERSION.split(".")[0]:
                raise LightCurveFormatError(
                    f"{path}: not an astrotinyml result file of version {RESULT_VERSION} (RESVER "
                    f"{version or 'missing'}); run detect again to recreate it.")
            record = json.loads(bytes(np.asarray(hdul["META"].data, dtype=np.uint8)).decode("utf-8"))
            raw = _lc_from(hdul["RAW"], record.get("raw_meta") or {})
            flat = _lc_from(hdul["FLAT"], record.get("flat_meta") or {})
            cands = QTable.read(hdul["CANDIDATES"])
            pg = None
            if "PERIODOGRAM" in hdul:
                d = hdul["PERIODOGRAM"].data
                pg = QTable({n.lower(): np.asarray(d[n], float) for n in d.names})
                if "period" in pg.colnames:
                    pg["period"] = pg["period"] * u.day
            posteriors = {}
            for h in hdul:
                if h.name.startswith("POSTERIOR_"):
                    i = int(h.name.split("_")[1]) - 1
                    posteriors[i] = {n: np.asarray(h.data[n], float) for n in h.data.names}
    except (OSError, KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, LightCurveFormatError):
            raise
        raise LightCurveFormatError(
            f"{path}: cannot read this astrotinyml result file ({type(exc).__name__}: {exc}); "
            "run detect again to recreate it.") from exc
    for name, unit in (record.get("candidate_units") or {}).items():
        if name in cands.colnames:
            cands[name] = np.asarray(cands[name], float) * u.Unit(unit)
    for name in cands.colnames:
        col = cands[name]
        if getattr(col, "dtype", None) is not None and col.dtype.kind == "S":
            cands[name] = np.char.decode(np.asarray(col), "utf-8")
    meta = dict(record.get("candidates_meta") or {})
    # JSON turned the integer keys of fit_best into strings.
    if isinstance(meta.get("fit_best"), dict):
        meta["fit_best"] = {int(k): {kk: (math.nan if vv is None else vv) for kk, vv in v.items()}
                            for k, v in meta["fit_best"].items()}
    cands.meta.clear()
    cands.meta.update(meta)
    if posteriors:
        cands.meta["fit_posteriors"] = posteriors
    result = DetectionResult(target=record.get("target", path.stem), raw=raw, flat=flat, candidates=cands,
                             views=[], options=dict(record.get("options") or {}),
                             timings=dict(record.get("timings") or {}),
                             model_sha256=record.get("model_sha256") or "",
                             calibration_id=record.get("calibration_id"))
    result._periodogram = pg
    return result


def find_results(run_dir: str | Path) -> list[Path]:
    """Result files (``*.result.fits``) under a detect/batch/vet output directory, sorted.

    Raises
    ------
    InvalidParameterError
        ``run_dir`` is not a directory or holds no result file.

    Examples
    --------
    >>> import tempfile
    >>> find_results(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    astrotinyml.errors.InvalidParameterError: ...holds no astrotinyml result file (*.result.fits)...
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InvalidParameterError(f"{run_dir} is not a directory; give the output directory of "
                                    "astrotinyml detect, vet or batch.")
    found = sorted(p for p in run_dir.rglob(f"*{RESULT_SUFFIX}") if p.is_file())
    if not found:
        raise InvalidParameterError(
            f"{run_dir} holds no astrotinyml result file (*{RESULT_SUFFIX}); results are saved by "
            "`astrotinyml detect/vet/batch` (this version and later): run one of them first.")
    return found
