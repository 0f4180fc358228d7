"""Remove stellar and instrumental trends from a light curve (a thin layer over wotan).

:func:`detrend` divides the flux by a robust running trend fitted with
`wotan <https://github.com/hippke/wotan>`_ (Hippke et al. 2019), so that transits stand
out against a flat baseline of 1.  The trend can be refitted with the in-transit points
of known candidates masked, so that a first detection is not partly eaten by the filter.

Why one return type
-------------------
wotan's ``flatten(..., return_trend=True)`` and lightkurve's ``flatten(return_trend=True)``
return an array *or* a tuple depending on a flag, which breaks type checking and makes
notebook code fragile.  Here :func:`detrend` always returns one ``LightCurve``; the trend
it divided by is always kept beside the flux as the column ``"trend"``, so
``flat["trend"]`` gives it without a flag.  There is therefore no ``return_trend``
keyword.
"""

from __future__ import annotations

import numpy as np

from ._util import target_name as _target_name
from .errors import InvalidParameterError, LightCurveDataError

__all__ = ["detrend", "default_window_length", "transit_mask", "DETREND_METHODS"]

#: wotan methods accepted by :func:`detrend` (wotan's own list; ``"biweight"`` is the default).
DETREND_METHODS = (
    "biweight", "lowess", "andrewsinewave", "welsch", "hodges", "median", "mean",
    "trim_mean", "hspline", "pspline", "cofiam", "supersmoother", "savgol", "medfilt",
    "gp", "rspline", "huber", "winsorize", "hampelfilt", "huber_psi", "hampel", "tau",
    "ramsay", "cosine", "ridge", "lasso", "elasticnet",
)

# wotan's cadence-based filters take the window in cadences, not days, and ignore masks.
_CADENCE_METHODS = ("savgol", "medfilt")

# Central-transit duration of a planet around a Sun-density star at P = 1 yr: 13.0 h.
_T14_SUN_YEAR_DAYS = 13.0 / 24.0




def _time_days(lc) -> np.ndarray:
    time = lc.time
    value = getattr(time, "value", time)
    return np.asarray(value, dtype=float)


def default_window_length(lc) -> float:
    """Default biweight window (days) for a light curve: 3x the longest transit searched.

    The longest transit the default :func:`astrotinyml.search.search` looks for at full
    sensitivity is a central transit of a Sun-density star at the longest default period,
    ``P_max = min(span / 2, 30 d)``: ``T14 = 13 h (P_max / 1 yr)^(1/3)``.  Hippke et al.
    (2019) show a biweight window of about 3x T14 keeps >~ 95 % of the transit depth while
    removing most stellar variability.  The result is clipped to 0.5-1.0 d: a TESS sector
    gives ~0.55 d, a K2 campaign or several Kepler quarters ~0.7 d; shorter windows eat
    transits of hot Jupiters around evolved stars, longer ones leave rotational modulation
    of active stars (P_rot of a few days) in the residuals.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Light curve whose time span sets the longest period searched.

    Returns
    -------
    float
        Window length in days.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> lc = lk.LightCurve(time=np.linspace(0, 27, 2000), flux=np.ones(2000))
    >>> round(default_window_length(lc), 3)
    0.541
    """
    t = _time_days(lc)
    t = t[np.isfinite(t)]
    span = float(t.max() - t.min()) if t.size > 1 else 1.0
    p_max = min(max(span / 2.0, 1.0), 30.0)
    t14 = _T14_SUN_YEAR_DAYS * (p_max / 365.25) ** (1.0 / 3.0)
    return float(np.clip(3.0 * t14, 0.5, 1.0))


def transit_mask(time, candidates, *, width_factor=1.5) -> np.ndarray:
    """Boolean in-transit mask (True = in transit) from a candidates table.

    Parameters
    ----------
    time : array-like or astropy.time.Time
        Times.  A ``Time`` is compared as full Julian dates (``jd``); plain numbers are
        taken to be in the same system as the table's ``pl_tranmid``.
    candidates : astropy.table.Table, QTable or Row
        Needs ``pl_orbper`` (d), ``pl_tranmid`` (d, full BJD_TDB) and ``pl_trandurh`` (h);
        plain numbers are read in those units.  A row with a NaN period (single event)
        masks only the event at ``pl_tranmid``.
    width_factor : float
        Masked width in units of the transit duration (1.5 leaves margin for an imprecise
        duration and ephemeris).

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> import astropy.units as u
    >>> tab = QTable({"pl_orbper": [2.0] * u.day, "pl_tranmid": [2460000.5] * u.day,
    ...               "pl_trandurh": [2.4] * u.hour})
    >>> t = 2460000.0 + np.arange(0, 4, 0.05)
    >>> int(transit_mask(t, tab).sum())
    6
    """
    from astropy.time import Time

    if isinstance(time, Time):
        t = np.asarray(time.tdb.jd, dtype=float)
    else:
        t = np.asarray(getattr(time, "value", time), dtype=float)
    mask = np.zeros(t.shape, dtype=bool)
    if width_factor <= 0:
        raise InvalidParameterError(f"width_factor must be > 0, got {width_factor!r}.")
    for name in ("pl_orbper", "pl_tranmid", "pl_trandurh"):
        if name not in candidates.colnames:
            raise InvalidParameterError(
                f"The candidates table has no column {name!r} (columns: {candidates.colnames}); "
                "pass the table returned by astrotinyml.search or a boolean mask."
            )
    period = _as_float(candidates["pl_orbper"], "day")
    t0 = _as_float(candidates["pl_tranmid"], "day")
    dur = _as_float(candidates["pl_trandurh"], "hour") / 24.0
    for p, tc, d in zip(period, t0, dur):
        if not (np.isfinite(tc) and np.isfinite(d) and d > 0):
            continue
        half = 0.5 * width_factor * d
        if np.isfinite(p) and p > 0:
            phase = np.abs((t - tc + 0.5 * p) % p - 0.5 * p)
            mask |= phase < half
        else:
            mask |= np.abs(t - tc) < half
    return mask


def _as_float(column, unit: str) -> np.ndarray:
    import astropy.units as u

    # np.atleast_1d: a table Row (one candidate) gives scalars
    if hasattr(column, "unit") and column.unit is not None and hasattr(column, "to_value"):
        return np.atleast_1d(np.asarray(column.to_value(u.Unit(unit)), dtype=float))
    return np.atleast_1d(np.asarray(column, dtype=float))


def detrend(lc, *, method="biweight", window_length=None, mask=None, break_tolerance=None,
            edge_cutoff=0.0):
    """Flatten a light curve with a robust wotan filter.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Normalized light curve (median ~1), e.g. from :func:`astrotinyml.io.read_lightcurve`.
    method : str
        A wotan method name (see :data:`DETREND_METHODS`); ``"biweight"`` (default) is the
        robust time-windowed slider recommended by Hippke et al. (2019).  ``"savgol"`` and
        ``"medfilt"`` take ``window_length`` in cadences and ignore ``mask``.
    window_length : float, optional
        Filter window in days.  Default: :func:`default_window_length` (3x the longest
        transit searched by default, 0.5-1.0 d).
    mask : array of bool or astropy.table.Table, optional
        Points to keep out of the trend fit (True = in transit), or a candidates table from
        :func:`astrotinyml.search.search` whose transits are masked (1.5x their duration).
        The trend is still evaluated under masked points (interpolated where a whole
        window is masked), so transits keep their depth.
    break_tolerance : float, optional
        Gaps longer than this (days) split the light curve into segments detrended
        separately, so the filter never reaches across a gap or a segment edge.
        Default: half the window (wotan's default).
    edge_cutoff : float
        Days removed (set to NaN) at each segment edge, where the trend is least robust.

    Returns
    -------
    lightkurve.LightCurve
        A copy with ``flux`` and ``flux_err`` divided by the trend and a column ``"trend"``
        holding the trend (in the input's flux units), so ``flat.flux * flat["trend"]``
        gives the input flux back.  Points with NaN flux stay NaN; no value is invented.
        ``meta`` is copied and records ``DETREND_METHOD``, ``DETREND_WINDOW`` (d),
        ``DETREND_BREAK_TOLERANCE`` (d) and ``DETREND_N_MASKED``.

    Raises
    ------
    InvalidParameterError
        Unknown method, non-positive window, mask of the wrong length.
    LightCurveDataError
        No finite flux.

    Notes
    -----
    There is deliberately no ``return_trend`` flag (wotan and lightkurve have one that
    changes the return type): the trend is always in ``flat["trend"]``.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> t = np.arange(0, 10, 0.02)
    >>> lc = lk.LightCurve(time=t, flux=1 + 0.01 * np.sin(t), flux_err=np.full(t.size, 1e-4))
    >>> flat = detrend(lc, window_length=0.5)
    >>> bool(np.nanstd(flat.flux.value) < np.std(lc.flux.value) / 10)
    True
    >>> bool(np.allclose(flat.flux.value * flat["trend"].value, lc.flux.value))
    True
    """
    import wotan

    if method not in DETREND_METHODS:
        raise InvalidParameterError(
            f"Unknown detrending method {method!r}; choose one of wotan's methods: "
            f"{', '.join(DETREND_METHODS)}."
        )
    name = _target_name(lc)
    if window_length is None:
        window_length = default_window_length(lc)
    try:
        window_length = float(window_length)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"window_length must be a number of days, got {window_length!r}."
        ) from None
    if not (np.isfinite(window_length) and window_length > 0):
        raise InvalidParameterError(
            f"window_length must be a positive number of days, got {window_length!r}."
        )
    if method in _CADENCE_METHODS:
        window_length = int(round(window_length))
        if window_length < 3:
            raise InvalidParameterError(
                f"method {method!r} takes window_length in cadences (an odd number >= 3), "
                f"got {window_length!r}."
            )

    time = _time_days(lc)
    flux_q = lc.flux
    flux = np.asarray(getattr(flux_q, "value", flux_q), dtype=float)
    if flux.size == 0 or not np.isfinite(flux).any():
        raise LightCurveDataError(
            f"{name}: the light curve has no finite flux values to detrend."
        )

    if mask is None:
        mask_arr = None
    elif hasattr(mask, "colnames"):
        mask_arr = transit_mask(lc.time, mask)
    else:
        mask_arr = np.asarray(mask)
        if mask_arr.dtype != bool:
            raise InvalidParameterError(
                f"{name}: mask must be a boolean array (True = in transit) or a candidates "
                f"table, got an array of {mask_arr.dtype}."
            )
        if mask_arr.shape != time.shape:
            raise InvalidParameterError(
                f"{name}: mask has {mask_arr.size} elements but the light curve has "
                f"{time.size} points."
            )
    if mask_arr is not None and not mask_arr.any():
        mask_arr = None

    if break_tolerance is None:
        break_tolerance = 0.5 * window_length if method not in _CADENCE_METHODS else 0.5
    kwargs = dict(method=method, window_length=window_length, edge_cutoff=edge_cutoff,
                  break_tolerance=break_tolerance, return_trend=True)
    if mask_arr is not None and method not in _CADENCE_METHODS:
        kwargs["mask"] = mask_arr
    # wotan returns (flat, trend) here because return_trend=True is fixed.
    _, trend = wotan.flatten(time, flux, **kwargs)
    trend = np.asarray(trend, dtype=float)
    trend = _fill_trend_gaps(time, flux, trend, break_tolerance)

    flat = lc.copy()
    ok = np.isfinite(trend) & (trend > 0)
    ratio = np.full(flux.shape, np.nan)
    ratio[ok] = 1.0 / trend[ok]
    unit = getattr(flux_q, "unit", None)
    new_flux = flux * ratio
    flat.flux = new_flux * unit if unit is not None else new_flux
    if "flux_err" in flat.colnames:
        err_q = flat.flux_err
        err = np.asarray(getattr(err_q, "value", err_q), dtype=float)
        eunit = getattr(err_q, "unit", None)
        new_err = err * ratio
        flat.flux_err = new_err * eunit if eunit is not None else new_err
    flat["trend"] = trend * unit if unit is not None else trend
    flat.meta = dict(lc.meta)
    flat.meta.update({
        "DETREND_METHOD": method,
        "DETREND_WINDOW": float(window_length),
        "DETREND_BREAK_TOLERANCE": float(break_tolerance),
        "DETREND_N_MASKED": int(mask_arr.sum()) if mask_arr is not None else 0,
    })
    return flat


def _fill_trend_gaps(time, flux, trend, break_tolerance):
    """Interpolate the trend where the flux is finite but the filter gave no value.

    That happens under a mask covering a whole window (wotan leaves NaN).  Interpolation
    stays inside a segment (no reaching across gaps longer than ``break_tolerance``).
    """
    need = np.isfinite(flux) & np.isfinite(time) & ~np.isfinite(trend)
    if not need.any():
        return trend
    trend = trend.copy()
    good = np.isfinite(flux) & np.isfinite(time)
    idx = np.flatnonzero(good)
    order = idx[np.argsort(time[idx], kind="stable")]
    ts = time[order]
    breaks = np.flatnonzero(np.diff(ts) > break_tolerance) + 1
    for seg in np.split(order, breaks):
        seg_need = need[seg]
        if not seg_need.any():
            continue
        seg_ok = np.isfinite(trend[seg])
        if seg_ok.sum() == 0:
            continue  # nothing to interpolate from in this segment: leave NaN
        trend[seg[seg_need]] = np.interp(time[seg[seg_need]], time[seg[seg_ok]],
                                         trend[seg[seg_ok]])
    return trend
