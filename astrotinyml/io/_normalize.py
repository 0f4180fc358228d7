"""The finishing step every reader ends with: masks, sort, normalise, build the light curve.

Each reader (:mod:`._fits`, :mod:`._text`) finds the time, flux, flux-error and quality columns
of its format and what the file says about itself; :func:`finish` turns them into the light
curve that :func:`astrotinyml.io.read.read_lightcurve` promises, the same way for every format:

1. cadences with a non-finite time or flux, or flagged by the quality bitmask, are dropped;
   fewer than :data:`MIN_POINTS` left is an error;
2. rows are sorted by time (stable) and exact duplicates (within 1e-6 d) dropped, keeping the
   first;
3. magnitudes become relative flux (``10 ** (-0.4 * (m - median(m)))``), then the flux is
   divided by its median; a median that is not positive, or more than 25 % of the values at or
   below zero, is an error; flux errors that are placeholders (all 0 or all 1.0), non-finite
   or non-positive become NaN;
4. the time becomes an :class:`astropy.time.Time` in TDB whose ``jd`` is the full BJD, checked
   against the mission's lifetime (:data:`~astrotinyml.io.conventions.MISSION_BJD_RANGES`)
   and shown in the mission's own format (BKJD, BTJD);
5. ``meta`` records where everything came from (:class:`FinishOptions`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import LightCurveDataError, TimeFormatError
from .conventions import (
    ANY_BJD_RANGE,
    MISSION_BJD_RANGES,
    MISSION_TIME_FORMATS,
    TIME_FORMATS,
)

__all__ = [
    "MIN_POINTS",
    "FinishOptions",
    "cadence_minutes",
    "finish",
    "plain_column",
    "plain_float",
    "quality_mask",
    "time_format_list",
    "unique_sorted_mask",
]

#: Fewest cadences (finite time and flux, after quality masking) a light curve may have.
MIN_POINTS = 10

_DUPLICATE_TOL_DAYS = 1e-6

#: A flux column with more than this fraction of values <= 0 cannot be normalised meaningfully.
_MAX_NONPOSITIVE_FRACTION = 0.25

_SEGMENT_KEYS = (("quarter", "quarters"), ("campaign", "campaigns"), ("sector", "sectors"))


@dataclass(frozen=True)
class FinishOptions:
    """What a reader knows about one file, for :func:`finish` to apply and record in ``meta``.

    Attributes
    ----------
    display : str
        The file name as shown in error messages.
    mission : str or None
        ``"Kepler"``, ``"K2"``, ``"TESS"`` or None; sets the quality flags, the BJD range
        checked and the light-curve class.
    target : str
        ``meta['target']``.
    flux_column : str
        The column read as flux (``meta['flux_column']``, and named in errors).
    time_format_in : str
        The time system of the file's time column (a key of
        :data:`~astrotinyml.io.conventions.TIME_FORMATS`).
    time_format_source : str
        How it was known ("FITS header", "column name 'btjd'", ...).
    reader : str
        Which reader read the file ("text", "npy", "k2sc", "lightkurve:TESS", ...).
    quality_bitmask : str or int
        Applied to ``quality`` when given; recorded in any case.
    flux_unit : str
        Unit of the flux column in the file ("" when unknown).
    is_mag : bool
        The flux column holds magnitudes.
    segments : mapping
        ``{"quarter": [...], "campaign": [...], "sector": [...]}`` as known.
    header : mapping
        Keywords to start ``meta`` from (the FITS headers, lightkurve's meta).
    """

    display: str
    mission: str | None
    target: str
    flux_column: str
    time_format_in: str
    time_format_source: str
    reader: str
    quality_bitmask: str | int = "default"
    flux_unit: str = ""
    is_mag: bool = False
    segments: Mapping[str, Sequence[int]] = field(default_factory=dict)
    header: Mapping[str, Any] = field(default_factory=dict)


def time_format_list() -> str:
    """The accepted ``time_format`` values, quoted, for error messages."""
    return ", ".join(repr(k) for k in TIME_FORMATS)


def plain_float(col) -> np.ndarray:
    """A float ndarray from a Column / Quantity / MaskedQuantity (masked -> NaN)."""
    val = col
    if hasattr(val, "mask") and np.any(getattr(val, "mask", False)):
        mask = np.asarray(val.mask, bool)
        base = getattr(val, "unmasked", None)
        if base is None:
            base = np.ma.getdata(val)
        arr = np.array(getattr(base, "value", base), dtype=float)
        arr[mask] = np.nan
        return arr
    base = getattr(val, "unmasked", val)
    return np.array(getattr(base, "value", base), dtype=float)


def plain_column(col):
    """Remove masks from a column, keeping units: floats masked -> NaN, ints masked -> 0."""
    import astropy.units as u

    unit = getattr(col, "unit", None)
    base = getattr(col, "unmasked", None)
    if base is None:
        base = np.ma.getdata(col)
    arr = np.array(getattr(base, "value", base))
    mask = np.asarray(getattr(col, "mask", np.zeros(len(arr), bool)))
    if mask.shape == arr.shape and mask.any():
        if arr.dtype.kind == "f":
            arr = arr.copy()
            arr[mask] = np.nan
        elif arr.dtype.kind in "iub":
            arr = arr.copy()
            arr[mask] = 0
    if unit is not None and str(unit) not in ("", "None") and isinstance(unit, u.UnitBase):
        return u.Quantity(arr, unit)
    return arr


def unique_sorted_mask(t_sorted: np.ndarray) -> np.ndarray:
    """True for the first of each run of sorted times closer than 1e-6 d."""
    keep = np.ones(len(t_sorted), bool)
    if len(t_sorted) > 1:
        keep[1:] = np.diff(t_sorted) > _DUPLICATE_TOL_DAYS
    return keep


def cadence_minutes(jd: np.ndarray) -> float:
    """Median positive time step, in minutes (NaN when there is none)."""
    d = np.diff(np.asarray(jd, dtype=float))
    d = d[d > 0]
    return float(np.median(d) * 1440.0) if d.size else float("nan")


def quality_mask(quality, bitmask, mission: str | None) -> np.ndarray:
    """True for cadences to keep (the mission's flag definitions; any flag when it is unknown)."""
    q = np.asarray(quality)
    if q.dtype.kind == "f":  # a missing flag counts as "no flag"
        q = np.where(np.isfinite(q), q, 0).astype(np.int64)
    else:
        q = q.astype(np.int64)
    if bitmask == "none" or (isinstance(bitmask, (int, np.integer)) and int(bitmask) == 0):
        return np.ones(q.shape, bool)
    if mission is None:
        if isinstance(bitmask, (int, np.integer)):
            return (q & int(bitmask)) == 0
        return q == 0
    from lightkurve.utils import KeplerQualityFlags, TessQualityFlags

    flags = TessQualityFlags if mission == "TESS" else KeplerQualityFlags
    if isinstance(bitmask, str):
        bitmask = {"default": flags.DEFAULT_BITMASK, "hard": flags.HARD_BITMASK,
                   "hardest": flags.HARDEST_BITMASK}[bitmask]
    return (q & int(bitmask)) == 0


def finish(time, flux, flux_err, options: FinishOptions, *, extras: Mapping[str, Any] | None = None,
           quality=None):
    """The normalised, sorted, de-duplicated light curve of one reader's columns.

    Parameters
    ----------
    time : astropy.time.Time or (float, array)
        The times, as a Time (any scale; TDB is used) or as ``(offset, values)`` with
        ``values + offset`` the full BJD_TDB.
    flux, flux_err : array-like, Column or Quantity
        Masked entries become NaN; ``flux_err`` may be None.
    options : FinishOptions
        What the reader knows about the file.
    extras : mapping, optional
        Other columns to carry along (1-D, one value per input cadence).
    quality : array-like, optional
        Quality flags, masked with ``options.quality_bitmask``; None when the reader has
        already applied them.

    Returns
    -------
    lightkurve.LightCurve
    """
    import astropy.units as u
    import lightkurve as lk

    o = options
    offset, tvals, finite_t = _time_values(time)
    flux = plain_float(flux)
    ferr = plain_float(flux_err) if flux_err is not None else np.full(len(flux), np.nan)
    n_in = len(flux)
    keep = _usable_cadences(finite_t, flux, quality, o)
    idx = _sorted_unique_index(np.flatnonzero(keep), offset, tvals)
    f, e, normalization = _normalized_flux(flux[idx], ferr[idx], o)
    t_out = _checked_time(offset, tvals, idx, o)
    cls = {"Kepler": lk.KeplerLightCurve, "K2": lk.KeplerLightCurve, "TESS": lk.TessLightCurve}.get(
        o.mission, lk.LightCurve)
    lc = cls(time=t_out, flux=u.Quantity(f, u.dimensionless_unscaled),
             flux_err=u.Quantity(e, u.dimensionless_unscaled))
    _add_extra_columns(lc, extras or {}, idx, n_in)
    lc.meta = _meta(o, t_out.jd, normalization, n_in)
    return lc


# --------------------------------------------------------------------------------------------
# the steps of finish
# --------------------------------------------------------------------------------------------


def _time_values(time):
    """(offset, values, finite): offset None and values (jd1, jd2) for an astropy Time."""
    from astropy.time import Time

    if isinstance(time, Time):
        tt = time.tdb
        jd1 = np.asarray(tt.jd1, dtype=float)
        jd2 = np.asarray(tt.jd2, dtype=float)
        tmask = getattr(time, "mask", None)
        finite_t = np.isfinite(jd1) & np.isfinite(jd2)
        if tmask is not None and np.ndim(tmask):
            finite_t &= ~np.asarray(tmask, bool)
        return None, (jd1, jd2), finite_t
    offset, vals = time
    vals = np.asarray(vals, dtype=float)
    return offset, vals, np.isfinite(vals)


def _usable_cadences(finite_t, flux, quality, o: FinishOptions) -> np.ndarray:
    """Finite time and flux, not flagged; at least MIN_POINTS of them."""
    n_in = len(flux)
    keep = finite_t & np.isfinite(flux)
    if quality is not None:
        keep &= quality_mask(quality, o.quality_bitmask, o.mission)
    if not np.isfinite(flux).any():
        raise LightCurveDataError(
            f"{o.display}: the flux column {o.flux_column!r} has no finite values (all NaN or empty). "
            f"Choose another column with flux_column=... or check the file."
        )
    if keep.sum() < MIN_POINTS:
        raise LightCurveDataError(
            f"{o.display}: only {int(keep.sum())} usable cadence(s) (finite time and flux, not "
            f"flagged) out of {n_in}; at least {MIN_POINTS} are needed. "
            + ("Try quality_bitmask='none'. " if quality is not None or n_in > keep.sum() else "")
        )
    return keep


def _sorted_unique_index(idx: np.ndarray, offset, tvals) -> np.ndarray:
    """The kept cadences in time order, duplicates in time dropped (the first kept)."""
    if offset is None:
        jd1, jd2 = tvals
        sort_key = (jd1[idx] - 2450000.0) + jd2[idx]
    else:
        sort_key = tvals[idx]
    order = np.argsort(sort_key, kind="stable")
    idx = idx[order]
    return idx[unique_sorted_mask(sort_key[order])]


def _normalized_flux(f: np.ndarray, e: np.ndarray, o: FinishOptions):
    """(flux / median, flux_err / median, the median divided out), magnitudes converted first."""
    if o.is_mag:
        m0 = np.nanmedian(f)
        rel = 10.0 ** (-0.4 * (f - m0))
        e = rel * 0.4 * np.log(10.0) * e
        f = rel
        normalization = float(m0)
    med = float(np.nanmedian(f))
    frac_nonpos = float(np.mean(f <= 0))
    if not np.isfinite(med) or med <= 0 or frac_nonpos > _MAX_NONPOSITIVE_FRACTION:
        raise LightCurveDataError(
            f"{o.display}: flux column {o.flux_column!r} has median {med:g} and "
            f"{100 * frac_nonpos:.0f}% of its values <= 0; flux must be positive to be normalised "
            f"(the median is divided out). If the column is a residual around 0 or a difference "
            f"flux, export relative flux instead, or pick another column with flux_column=."
        )
    if not o.is_mag:
        normalization = med
    f = f / med
    # flux_err: placeholders and non-positive values -> NaN
    e = np.asarray(e, dtype=float)
    finite_e = e[np.isfinite(e)]
    if finite_e.size and (np.all(finite_e == 0.0) or np.all(finite_e == 1.0)):
        e = np.full(len(e), np.nan)
    else:
        e = np.where(np.isfinite(e) & (e > 0), e, np.nan)
        e = e / med if not o.is_mag else e
    return f, e, normalization


def _checked_time(offset, tvals, idx: np.ndarray, o: FinishOptions):
    """The kept times as a TDB Time, inside the mission's dates, in the mission's format."""
    from astropy.time import Time

    if offset is None:
        jd1, jd2 = tvals
        t_out = Time(jd1[idx], jd2[idx], format="jd", scale="tdb")
    else:
        t_out = Time(np.full(len(idx), offset), tvals[idx], format="jd", scale="tdb")
    bjd = t_out.jd
    mission = o.mission
    lo, hi = MISSION_BJD_RANGES.get(mission, ANY_BJD_RANGE) if mission else ANY_BJD_RANGE
    if bjd.min() < lo or bjd.max() > hi:
        where = f"the {mission} mission ({lo:.0f}..{hi:.0f})" if mission else f"1968-2050 ({lo:.0f}..{hi:.0f})"
        raise TimeFormatError(
            f"{o.display}: reading the times as {o.time_format_in!r} ({o.time_format_source}) gives BJD "
            f"{bjd.min():.2f}..{bjd.max():.2f}, outside {where}. Pass the right time_format= "
            f"(one of {time_format_list()})."
        )
    t_out.format = MISSION_TIME_FORMATS.get(mission, "jd")
    return t_out


def _add_extra_columns(lc, extras: Mapping[str, Any], idx: np.ndarray, n_in: int) -> None:
    """Carry the reader's other 1-D columns along (masks removed); an odd column is skipped."""
    for name, col in extras.items():
        if name in ("time", "flux", "flux_err") or np.ndim(col) != 1 or len(col) != n_in:
            continue
        try:
            c = plain_column(col)
            lc[name] = c[idx]
        except Exception:  # an odd column must not stop the read
            continue


def _meta(o: FinishOptions, bjd: np.ndarray, normalization: float, n_in: int) -> dict:
    meta = dict(o.header)
    meta.pop("QUALITY_MASK", None)
    seg = {k: list(v) for k, v in (o.segments or {}).items()}
    meta.update(
        target=o.target,
        mission=o.mission,
        quarter=None,
        campaign=None,
        sector=None,
        cadence_min=cadence_minutes(bjd),
        flux_column=o.flux_column,
        time_format_in=o.time_format_in,
        time_format_source=o.time_format_source,
        reader=o.reader,
        normalization=normalization,
        flux_unit_in=("mag" if o.is_mag else o.flux_unit),
        flux_from_magnitude=bool(o.is_mag),
        quality_bitmask=o.quality_bitmask,
        n_cadences_in=int(n_in),
    )
    for key, plural in _SEGMENT_KEYS:
        vals_k = seg.get(key, [])
        meta[plural] = vals_k
        meta[key] = vals_k[0] if len(vals_k) == 1 else None
    return meta
