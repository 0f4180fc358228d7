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
    path = Path(path)
    data = _result_bytes(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        if data is not None:
            tmp.write_bytes(data)
        else:
            _result_hdulist(result).writeto(tmp, overwrite=True)
    return path


def _candidates_for_fits(result):
    """(candidates QTable as FITS stores it: no meta, object columns as text, units stripped;
    the units; the candidates' meta without the posteriors; the posteriors)."""
    from astropy.table import QTable

    cands = QTable(result.candidates, copy=True)
    meta = dict(cands.meta)
    posteriors = meta.pop("fit_posteriors", None) or {}
    cands.meta.clear()
    for name in cands.colnames:  # FITS strings are ASCII; object columns become text
        if cands[name].dtype.kind == "O":
            cands[name] = [str(v) for v in cands[name]]
    units = {}
    for name in cands.colnames:
        unit = getattr(cands[name], "unit", None)
        if unit is not None:
            units[name] = unit.to_string()
            cands[name] = np.asarray(cands[name].value)
    return cands, units, meta, posteriors


def _meta_blob(result, meta, units) -> np.ndarray:
    raw_meta = {k: v for k, v in (getattr(result.raw, "meta", {}) or {}).items()
                if isinstance(v, (str, int, float, bool, list, type(None)))}
    flat_meta = {k: v for k, v in (getattr(result.flat, "meta", {}) or {}).items()
                 if isinstance(v, (str, int, float, bool, list, type(None)))}
    record = {"version": RESULT_VERSION, "target": str(result.target), "options": _jsonable(result.options),
              "timings": _jsonable(result.timings), "model_sha256": result.model_sha256,
              "calibration_id": result.calibration_id, "candidates_meta": _jsonable(meta),
              "candidate_units": units, "raw_meta": _jsonable(raw_meta), "flat_meta": _jsonable(flat_meta)}
    return np.frombuffer(json.dumps(record, allow_nan=False).encode("utf-8"), dtype=np.uint8)


def _primary_cards(result) -> list[tuple[str, str, str | None]]:
    return [("RESVER", RESULT_VERSION, "astrotinyml result file version"),
            ("OBJECT", str(result.target).encode("ascii", "replace").decode()[:68], None),
            ("CREATOR", f"astrotinyml {__version__}", None)]


def _lc_columns(lc, *, trend: bool) -> list[tuple[str, np.ndarray, str | None]]:
    cols = [("TIME", np.asarray(lc.time.jd, dtype=float), "d"),
            ("FLUX", np.asarray(getattr(lc.flux, "value", lc.flux), float), None),
            ("FLUX_ERR", np.asarray(getattr(lc.flux_err, "value", lc.flux_err), float), None)]
    if trend and "trend" in lc.colnames:
        cols.append(("TREND", np.asarray(getattr(lc["trend"], "value", lc["trend"]), float), None))
    return cols


def _other_tables(result, posteriors) -> list[tuple[str, list[tuple[str, np.ndarray, None]]]]:
    """The PERIODOGRAM (when known) and POSTERIOR_n tables, as float columns."""
    out = []
    pg = result._periodogram
    if pg is not None and len(pg):
        out.append(("PERIODOGRAM", [(c.upper(), np.asarray(getattr(pg[c], "value", pg[c]), float), None)
                                    for c in pg.colnames]))
    for i, draws in sorted(posteriors.items()):
        out.append((f"POSTERIOR_{int(i) + 1}", [(k, np.asarray(v, float), None) for k, v in draws.items()]))
    return out


def _result_hdulist(result):
    """The result file as astropy HDUs (the reference the byte writer is tested against, and
    the path for what that writer does not cover)."""
    from astropy.io import fits

    def table(name, cols):
        return fits.BinTableHDU.from_columns([fits.Column(n, "D", unit=u, array=a) for n, a, u in cols], name=name)

    cands, units, meta, posteriors = _candidates_for_fits(result)
    primary = fits.PrimaryHDU()
    for key, value, comment in _primary_cards(result):
        primary.header[key] = (value, comment) if comment else value
    hdus = [primary, table("RAW", _lc_columns(result.raw, trend=False)),
            table("FLAT", _lc_columns(result.flat, trend=True))]
    hdu = fits.table_to_hdu(cands)
    hdu.name = "CANDIDATES"
    hdus.append(hdu)
    hdus += [table(name, cols) for name, cols in _other_tables(result, posteriors)]
    hdus.append(fits.ImageHDU(_meta_blob(result, meta, units), name="META"))
    return fits.HDUList(hdus)


# --------------------------------------------------------------------------------------------
# The same file written as bytes.  astropy builds and verifies ~200 header cards through its
# Card/Column machinery (0.09-0.12 s a TESS result, most of save_result); the layout here is
# simple (numeric, boolean and ASCII columns, no nulls or scaling), so the bytes are written
# directly: ~0.01 s, byte for byte astropy's file (tests/test_report.py compares them).
# Anything else (masked or multi-dimensional columns, other types, non-ASCII text, long
# header strings) returns None and goes through astropy.
# --------------------------------------------------------------------------------------------

_BLOCK = 2880
_TFORMS = {"f8": "D", "f4": "E", "i8": "K", "i4": "J", "i2": "I", "u1": "B"}


class _NotSimple(Exception):
    """The byte writer does not cover this file: astropy writes it."""


def _card(key: str, value, comment: str | None = None) -> str:
    if isinstance(value, bool):  # FITS logical, right-justified like a number
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, int):
        text = f"{value:>20}"
    elif isinstance(value, str):
        if not value or not (value.isascii() and value.isprintable()) or len(value) > 68:
            raise _NotSimple(key)
        quoted = "'" + f"{value.replace(chr(39), chr(39) * 2):8}" + "'"
        text = f"{quoted:20}"
    else:
        raise _NotSimple(key)
    card = f"{key:8}= {text}" + (f" / {comment}" if comment else "")
    if len(card) > 80 or not (card.isascii() and card.isprintable()):  # (bytes 32-126)
        raise _NotSimple(key)
    return f"{card:80}"


def _hdu_bytes(cards: list[str], data: bytes) -> bytes:
    head = ("".join(cards) + f"{'END':80}").encode("ascii")
    head += b" " * (-len(head) % _BLOCK)
    return head + data + b"\0" * (-len(data) % _BLOCK)


def _table_bytes(name: str, cols) -> bytes:
    """A binary table extension of ``(name, 1-d array, unit or None)`` columns."""
    n = len(cols[0][1]) if cols else 0
    forms, fields, arrays = [], [], []
    for k, (cname, arr, unit) in enumerate(cols, start=1):
        a = np.asarray(arr)
        if a.ndim != 1 or len(a) != n or isinstance(arr, np.ma.MaskedArray) or getattr(arr, "mask", None) is not None:
            raise _NotSimple(cname)
        code = f"{a.dtype.kind}{a.dtype.itemsize}"
        if a.dtype.kind == "b":
            form, dt, a = "L", "S1", np.where(a, b"T", b"F")
        elif a.dtype.kind in "US":
            width = a.dtype.itemsize // (4 if a.dtype.kind == "U" else 1)
            if width == 0:
                raise _NotSimple(cname)
            try:
                a = np.char.encode(a, "ascii") if a.dtype.kind == "U" else a
            except UnicodeEncodeError:
                raise _NotSimple(cname) from None
            form, dt = f"{width}A", f"S{width}"
        elif code in _TFORMS:
            form, dt = _TFORMS[code], ">" + code
        else:
            raise _NotSimple(cname)
        forms.append(_card(f"TTYPE{k}", str(cname)) + _card(f"TFORM{k}", form)
                     + (_card(f"TUNIT{k}", unit) if unit else ""))
        fields.append((f"f{k}", dt))
        arrays.append(a)
    rows = np.empty(n, dtype=np.dtype(fields))
    for k, a in enumerate(arrays, start=1):
        rows[f"f{k}"] = a
    cards = [_card("XTENSION", "BINTABLE", "binary table extension"), _card("BITPIX", 8, "array data type"),
             _card("NAXIS", 2, "number of array dimensions"),
             _card("NAXIS1", rows.dtype.itemsize, "length of dimension 1"),
             _card("NAXIS2", n, "length of dimension 2"), _card("PCOUNT", 0, "number of group parameters"),
             _card("GCOUNT", 1, "number of groups"), _card("TFIELDS", len(cols), "number of table fields"),
             *forms, _card("EXTNAME", name, "extension name")]
    return _hdu_bytes(cards, rows.tobytes())


def _candidate_columns(result):
    """What :func:`_candidates_for_fits` gives, from the candidates' own columns without
    copying the table (a ~100-column QTable copy is ~10 ms): (name, array, None) per column,
    the units, the meta without the posteriors, the posteriors."""
    table = result.candidates
    meta = dict(table.meta)
    posteriors = meta.pop("fit_posteriors", None) or {}
    cols, units = [], {}
    for name in table.colnames:
        col = table[name]
        if getattr(col.info, "format", None) is not None or getattr(col, "mask", None) is not None:
            raise _NotSimple(name)  # TDISPn, TNULLn: astropy's business
        if col.dtype.kind == "O":  # as QTable stores a list of str
            arr = np.array([str(v) for v in col])
        else:
            unit = getattr(col, "unit", None)
            if unit is not None:
                units[name] = unit.to_string()
            arr = np.asarray(getattr(col, "value", col))
        cols.append((name, arr, None))
    return cols, units, meta, posteriors


def _result_bytes(result) -> bytes | None:
    """The bytes astropy would write for :func:`_result_hdulist`, or None (not covered)."""
    try:
        cand_cols, units, meta, posteriors = _candidate_columns(result)
        primary = [_card("SIMPLE", True, "conforms to FITS standard"), _card("BITPIX", 8, "array data type"),
                   _card("NAXIS", 0, "number of array dimensions"), _card("EXTEND", True)]
        primary += [_card(k, v, c) for k, v, c in _primary_cards(result)]
        out = [_hdu_bytes(primary, b""),
               _table_bytes("RAW", _lc_columns(result.raw, trend=False)),
               _table_bytes("FLAT", _lc_columns(result.flat, trend=True)),
               _table_bytes("CANDIDATES", cand_cols)]
        out += [_table_bytes(name, cols) for name, cols in _other_tables(result, posteriors)]
        blob = _meta_blob(result, meta, units)
        image = [_card("XTENSION", "IMAGE", "Image extension"), _card("BITPIX", 8, "array data type"),
                 _card("NAXIS", 1, "number of array dimensions"), _card("NAXIS1", int(blob.size)),
                 _card("PCOUNT", 0, "number of parameters"), _card("GCOUNT", 1, "number of groups"),
                 _card("EXTNAME", "META", "extension name")]
        out.append(_hdu_bytes(image, blob.tobytes()))
    except _NotSimple:
        return None
    return b"".join(out)


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
