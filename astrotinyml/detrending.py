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

import collections
import hashlib
import math
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from .candidates import Ephemeris, column_values
from .errors import InvalidParameterError, LightCurveDataError
from .io.conventions import target_name as _target_name
from .transits import in_transit, robust_std

__all__ = ["detrend", "default_window_length", "transit_mask", "masked_runs", "long_dip_mask",
           "coherent_variability", "CoherentVariability", "DETREND_METHODS"]

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

# Long-dip protection (see detrend's Notes).  A biweight window keeps >~ 95 % of the depth of
# transits up to a third of its length (Hippke et al. 2019); longer dips are looked for on a
# flattening with a window 3x the longest of them, and kept out of the short window's fit.
_PROTECT_MAX_DURATION = 1.0   # d: longest dip protected (subgiant hosts, P ~ 100-300 d)
_PROTECT_STEP = 1.4           # ratio of successive trial durations of the dip scan
_PROTECT_SNR = 5.0  # box-mean dip significance (noise measured at that duration)
_PROTECT_MARGIN = 1.5         # masked width around a flagged box, in box durations
_PROTECT_MAX_FRACTION = 0.4   # more flagged than this: no clean baseline, protect nothing
_BRIDGE_MIN_FRACTION = 0.5    # masked stretches at least this long (in windows) are bridged

# Pre-whitening of coherent variability left by the filter (see coherent_variability).
_PW_MIN_POWER = 0.05     # a sinusoid must explain >= 5 % of the residual variance
_PW_MAX_POWER = 0.8      # ... but not nearly all of it: a near-pure periodic light curve is
                         # a contact/ellipsoidal binary (or a star the user must see), left
                         # for the search and the vetting to flag
_PW_MAX_DIP_RATIO = 4.0  # folded profile this much deeper below its median than it rises
                         # above it: transits and eclipses (37-190 for WASP-18 b and KIC 2306740),
                         # never removed; spotted stars' modulation reaches ~2.3 (K2-25)
_PW_TERMS = 4            # periodicities removed at most
_PW_HARMONICS = 3        # harmonics fitted per periodicity
_PW_PERIOD_MIN = 0.05    # d: shorter variability averages out over any transit searched
_PW_WINDOWS = 10.0       # longest period fitted, in filter windows (the filter follows longer)
_PW_CLIP = 3.0           # points this many sigma below the residual stay out of the fit




def _time_days(lc) -> np.ndarray:
    time = lc.time
    value = getattr(time, "value", time)
    return np.asarray(value, dtype=float)


def default_window_length(lc) -> float:
    """Default biweight window (days) for a light curve: 3x the longest transit searched.

    The longest transit the default :func:`astrotinyml.searching.search` looks for at full
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
    if width_factor <= 0:
        raise InvalidParameterError(f"width_factor must be > 0, got {width_factor!r}.")
    for name in ("pl_orbper", "pl_tranmid", "pl_trandurh"):
        if name not in candidates.colnames:
            raise InvalidParameterError(
                f"The candidates table has no column {name!r} (columns: {candidates.colnames}); "
                "pass the table returned by astrotinyml.search or a boolean mask."
            )
    period = column_values(candidates, "pl_orbper", "d")
    t0 = column_values(candidates, "pl_tranmid", "d")
    dur = column_values(candidates, "pl_trandurh", "h") / 24.0
    ephs = [Ephemeris(period=float(p) if np.isfinite(p) and p > 0 else math.nan, t0=float(tc), duration=float(d),
                      depth=math.nan)
            for p, tc, d in zip(period, t0, dur) if np.isfinite(tc) and np.isfinite(d) and d > 0]
    return in_transit(t, ephs, factor=width_factor)


# detect() flattens one light curve three times (first pass, then twice with the found
# transits masked); the protected dips depend only on time, flux and the window, and their
# scan is ~70 % of a TESS sector's detrending (6 biweights), so the last few are kept.
_DIP_CACHE: collections.OrderedDict = collections.OrderedDict()
_DIP_CACHE_SIZE = 4
_DIP_CACHE_LOCK = threading.Lock()


def _dip_key(t, f, *params) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    for a in (t, f):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(params).encode())
    return h.digest()


def long_dip_mask(time, flux, *, window_length, break_tolerance=None,
                  snr_threshold=_PROTECT_SNR) -> np.ndarray:
    """Points of significant dips too long for a biweight window (True = protect them).

    A window of length ``w`` keeps >~ 95 % of the depth of a transit up to ``w / 3`` long
    (Hippke et al. 2019) and eats longer ones: with the default ~0.7 d window a 14-h
    transit (Kepler-90 h) keeps 3 % of its depth.  This scan chooses the window per trial
    duration: for durations ``D`` from ``w / 3`` to 1 d (steps of 40 %), the light curve is
    flattened with a biweight window of ``3 D``, averaged over ``D`` around every cadence,
    and a box is flagged when its mean lies ``snr_threshold`` times below the robust
    scatter of all such means, i.e. against the noise measured at the duration ``D`` (red
    noise and left-over variability included, not only the white per-point noise).  Each
    dip's most significant box, widened by 50 %, is returned; boxes within one duration
    of a segment end (gaps longer than ``break_tolerance``) are not judged.

    Parameters
    ----------
    time : array-like or astropy.time.Time
        Times in days (a ``Time`` is read as its ``value``).
    flux : array-like
        Normalized flux (median ~1).
    window_length : float
        The (short) detrending window in days the dips are to be protected from.
    break_tolerance : float, optional
        Gaps (days) splitting the light curve for the long flattening; default half of
        ``window_length``, as :func:`detrend`.
    snr_threshold : float
        Significance of a flagged box mean (5: a false flag only makes the short window
        interpolate its trend across that stretch).

    Returns
    -------
    numpy.ndarray of bool
        True at the cadences of protected dips; all False when ``window_length / 3`` is
        already >= 1 d, with fewer than 50 finite points, or when more than 40 % of the
        points would be flagged (no clean baseline to judge dips against).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 27, 2 / 1440)
    >>> flux = 1 + 5e-4 * rng.normal(size=t.size) + 2e-3 * np.sin(2 * np.pi * t / 5)
    >>> flux[np.abs(t - 13.3) < 0.25] -= 2e-3        # a 12-h transit, 2000 ppm
    >>> m = long_dip_mask(t, flux, window_length=0.54)
    >>> bool(m[np.abs(t - 13.3) < 0.15].all()), bool(m[np.abs(t - 13.3) > 1.5].any())
    (True, False)
    """
    t = np.asarray(getattr(time, "value", time), dtype=float)
    f = np.asarray(getattr(flux, "value", flux), dtype=float)
    key = _dip_key(t, f, float(window_length), break_tolerance, float(snr_threshold))
    with _DIP_CACHE_LOCK:
        hit = _DIP_CACHE.get(key)
        if hit is not None:
            _DIP_CACHE.move_to_end(key)
            return hit.copy()
    mask = _long_dip_scan(t, f, window_length, break_tolerance, snr_threshold)
    with _DIP_CACHE_LOCK:
        _DIP_CACHE[key] = mask.copy()
        while len(_DIP_CACHE) > _DIP_CACHE_SIZE:
            _DIP_CACHE.popitem(last=False)
    return mask


def _long_dip_scan(t, f, window_length, break_tolerance, snr_threshold) -> np.ndarray:
    """:func:`long_dip_mask` without the cache (float arrays in)."""
    import wotan

    mask = np.zeros(t.shape, dtype=bool)
    d_min = float(window_length) / 3.0
    if not d_min < _PROTECT_MAX_DURATION:
        return mask
    good = np.flatnonzero(np.isfinite(t) & np.isfinite(f))
    if good.size < 50:
        return mask
    good = good[np.argsort(t[good], kind="stable")]
    ts, fs = t[good], f[good]
    cadence = float(np.median(np.diff(ts))) if ts.size > 1 else 0.0
    if not cadence > 0:
        return mask
    bt = 0.5 * float(window_length) if break_tolerance is None else float(break_tolerance)
    # Segment ends (gaps > bt): no box is judged within one duration of them, where the
    # trends are least robust (ramps after TESS orbit starts and Kepler safe modes).
    cuts = np.flatnonzero(np.diff(ts) > bt)
    seg_lo = np.concatenate([[ts[0]], ts[cuts + 1]])
    seg_hi = np.concatenate([ts[cuts], [ts[-1]]])
    seg = np.searchsorted(ts[cuts + 1], ts, side="right") if cuts.size else np.zeros(ts.size, int)
    to_lo, to_hi = ts - seg_lo[seg], seg_hi[seg] - ts

    # The long trends on data binned to a quarter of the shortest duration (cheap on 2-min
    # and 20-s data: biweights of up to 3 d over every cadence would cost more than the search).
    bw = max(cadence, 0.25 * d_min)
    ib = np.floor((ts - ts[0]) / bw).astype(np.int64)
    counts = np.bincount(ib)
    full = counts > 0
    tb = (np.bincount(ib, weights=ts)[full] / counts[full])
    fb = (np.bincount(ib, weights=fs)[full] / counts[full])
    best_z = np.full(ts.size, -np.inf)
    best_d = np.zeros(ts.size)
    n_dur = int(np.floor(np.log(_PROTECT_MAX_DURATION / d_min) / np.log(_PROTECT_STEP))) + 1
    for k in range(n_dur):
        dur = d_min * _PROTECT_STEP ** k
        # The window for this duration: 3x it, so that the dip keeps its depth while
        # variability slower than that is removed.
        _, trend_b = wotan.flatten(tb, fb, method="biweight", window_length=3.0 * dur,
                                   break_tolerance=max(bt, 2.0 * bw), edge_cutoff=0.0,
                                   return_trend=True)
        trend_b = np.asarray(trend_b, dtype=float)
        okb = np.isfinite(trend_b) & (trend_b > 0)
        if okb.sum() < 10:
            continue
        cs = np.concatenate([[0.0], np.cumsum(fs / np.interp(ts, tb[okb], trend_b[okb]) - 1.0)])
        lo = np.searchsorted(ts, ts - 0.5 * dur, side="left")
        hi = np.searchsorted(ts, ts + 0.5 * dur, side="right")
        n = hi - lo
        # Boxes at least half filled (no verdicts on the edges of gaps from a few points).
        ok = (n >= max(3.0, 0.5 * dur / cadence)) & (to_lo >= dur) & (to_hi >= dur)
        if ok.sum() < 20:
            continue
        means = (cs[hi] - cs[lo]) / np.maximum(n, 1)
        centre = float(np.median(means[ok]))
        # The scatter of the box means is the noise at this duration, correlated part included.
        sigma = robust_std(means[ok])
        if not (np.isfinite(sigma) and sigma > 0):
            continue
        z = np.where(ok, (centre - means) / sigma, -np.inf)
        better = z > best_z
        best_z[better] = z[better]
        best_d[better] = dur
    # One box per dip: every group of flagged centres (the boxes overlapping one dip, at all
    # durations) masks only its most significant box, widened by 50 %.  Masking the union
    # of all flagged boxes would hide ~2 d around a deep transit, too long a stretch for
    # the short window to bridge.
    hit = np.flatnonzero(best_z >= snr_threshold)
    flagged = np.zeros(ts.size, dtype=bool)
    if hit.size:
        # Flagged centres less than half the longest duration apart belong to one dip (the
        # significance of the long boxes flickers about the threshold at a dip's edges).
        runs = np.split(hit, np.flatnonzero(np.diff(ts[hit]) > 0.5 * _PROTECT_MAX_DURATION) + 1)
        for run in runs:
            j = run[np.argmax(best_z[run])]
            flagged |= np.abs(ts - ts[j]) <= 0.5 * _PROTECT_MARGIN * best_d[j]
    if flagged.mean() > _PROTECT_MAX_FRACTION:
        return mask
    mask[good] = flagged
    return mask


@dataclass(frozen=True)
class CoherentVariability:
    """Coherent periodic variability fitted to a flattened light curve (:func:`coherent_variability`).

    Attributes
    ----------
    model : numpy.ndarray
        Relative flux variation at every cadence (0 = none; NaN where time is not finite):
        the flattened flux divided by ``1 + model`` is free of it.
    periods : tuple of float
        Periods removed (d), in the order found.
    powers : tuple of float
        Fraction of the residual variance each removed (when it was found).
    stop : str
        Why no further periodicity was removed.
    """

    model: np.ndarray
    periods: tuple
    powers: tuple
    stop: str


def _bin_means(t, y, width):
    """(times, means) of ``y`` in bins of ``width`` days (unchanged when already coarser).

    Variability of periods >= 8 bins loses < 3 % of its power to the binning, and the
    Lomb-Scargle periodogram of a 2-min TESS sector costs ~5x less on 10-min means.
    """
    if t.size < 2 or float(np.median(np.diff(t))) >= 0.5 * width:
        return t, y
    idx = np.floor((t - t[0]) / width).astype(np.int64)
    n = np.bincount(idx)
    keep = n > 0
    return (np.bincount(idx, weights=t)[keep] / n[keep], np.bincount(idx, weights=y)[keep] / n[keep])


def _strongest_frequency(t, y, f_min, f_max, n_peaks=3):
    """(frequency, Lomb-Scargle power) of the strongest periodicity of ``y(t)`` in [f_min, f_max].

    The peaks are located on the FFT of the series placed on a regular grid of its median
    spacing (gaps zero, 4x oversampled in frequency), and the ``n_peaks`` highest are refined
    with the exact Lomb-Scargle power (astropy, direct sums) on 31 frequencies across each.
    Written here because astropy's ``method="fast"`` over the whole grid took 0.07 s on a
    binned TESS sector (~4000 points, 1600 frequencies) and is called up to 4 times per
    detrending, 3 detrendings per ``detect``; this takes ~5 ms.  On the 72 corpus light
    curves it removed the same periodicities (periods within 0.15 %, the grids' resolution)
    but one at the 5 % limit (KIC 2306740 Q2, 0.733 d), which it left in.
    """
    from astropy.timeseries import LombScargle

    step = float(np.median(np.diff(t)))
    pos = np.rint((t - t[0]) / step).astype(np.int64)
    nfft = 1 << int(math.ceil(math.log2(4 * (int(pos[-1]) + 1))))
    grid = np.zeros(nfft)
    np.add.at(grid, pos, y - y.mean())
    spec = np.abs(np.fft.rfft(grid)) ** 2
    freq = np.fft.rfftfreq(nfft, step)
    band = np.flatnonzero((freq >= f_min) & (freq <= f_max))
    if band.size < 3:
        return math.nan, 0.0
    sb = spec[band]
    local = np.flatnonzero((sb[1:-1] >= sb[:-2]) & (sb[1:-1] >= sb[2:])) + 1
    if not local.size:
        local = np.array([int(np.argmax(sb))])
    top = band[local[np.argsort(sb[local])[::-1][:n_peaks]]]
    df = float(freq[1] - freq[0])
    trial = np.concatenate([np.linspace(freq[k] - df, freq[k] + df, 31) for k in top])
    trial = trial[trial > 0]
    power = LombScargle(t, y).power(trial, method="cython")
    k = int(np.argmax(power))
    return float(trial[k]), float(power[k])


def _dip_ratio(t, r, period):
    """How far the binned folded profile dips below its median over how far it rises above."""
    nb = int(np.clip(t.size // 20, 20, 200))
    phase = np.floor(((t / period) % 1.0) * nb).astype(np.int64)
    # bin medians in one sort (by bin, then value) instead of one np.median per bin
    order = np.lexsort((r, phase))
    n = np.bincount(phase, minlength=nb)
    start = np.concatenate([[0], np.cumsum(n)[:-1]])
    full = n > 0
    rs = r[order]
    lo = rs[start[full] + (n[full] - 1) // 2]
    hi = rs[start[full] + n[full] // 2]
    prof = 0.5 * (lo + hi)
    if prof.size < 3:
        return math.inf
    mid = float(np.median(prof))
    rise = float(prof.max()) - mid
    return (mid - float(prof.min())) / rise if rise > 0 else math.inf


def coherent_variability(time, residual, *, mask=None, window_length=1.0) -> CoherentVariability:
    """Fit the coherent periodic variability (pulsation, rotation) a running filter leaves.

    A running filter cannot follow variability whose period is not long against its window
    (a 0.7-d biweight leaves ~7 % of a 2.4-d, 5 % rotational modulation, and nearly all of a
    4-h pulsation); the leftover dominates the box-search spectrum and hides transits.  The
    strongest Lomb-Scargle periodicity of the residual (periods ``0.05 d`` to ``10 x
    window_length``, found on 9-min means) is fitted with 3 harmonics by least squares and
    removed, and the next one is looked for, up to 4, while each:

    * explains at least 5 % of the residual variance (weaker ones do not matter to the
      search) and at most 80 % (a near-pure periodic light curve is a contact or
      ellipsoidal binary, or a star the user must see: left for the search and vetting);
    * is not dip-like: the residual folded on the period and binned dips no more than 4x
      as far below its median as it rises above it.  Transits and eclipses dip far more
      (37 for WASP-18 b, 45-190 for KIC 2306740); rotation and pulsation are nearly
      symmetric, spotted stars up to ~2.3 (K2-25).  A transit's power lies at harmonics of
      its period, so the profile is folded on 1-5x the period, masked and clipped points
      included.  The first dip-like periodicity stops the fitting.

    Points ``3 sigma`` below the residual (transits, eclipses) and ``mask`` stay out of the
    fit, so a transit at or near a variability period keeps its depth.

    Parameters
    ----------
    time : array of float
        Times (d).
    residual : array of float
        Flattened relative flux minus 1 (NaN allowed).
    mask : array of bool, optional
        True = keep out of the fit (known transits).
    window_length : float
        The filter's window (d); sets the longest period fitted.

    Returns
    -------
    CoherentVariability

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> t = np.arange(0, 27, 2 / 1440)
    >>> r = 1.5e-3 * np.sin(2 * np.pi * t / 0.165) + 1e-3 * rng.normal(size=t.size)
    >>> v = coherent_variability(t, r, window_length=0.5)
    >>> round(v.periods[0], 3), bool(np.std(r - v.model) < 1.1e-3)
    (0.165, True)
    """

    t = np.asarray(time, dtype=float)
    r = np.asarray(residual, dtype=float)
    good_t = np.isfinite(t)
    ok = good_t & np.isfinite(r)
    if mask is not None:
        ok &= ~np.asarray(mask, dtype=bool)
    model = np.where(good_t, 0.0, np.nan)
    periods, powers = [], []
    if ok.sum() < 100:
        return CoherentVariability(model, (), (), "fewer than 100 usable points")
    span = float(t[ok].max() - t[ok].min())
    p_max = min(_PW_WINDOWS * float(window_length), span / 3.0)
    if p_max <= 2.0 * _PW_PERIOD_MIN:
        return CoherentVariability(model, (), (), "light curve too short")
    t_ok = t[ok]
    fin = good_t & np.isfinite(r)
    t_all, r_all = t[fin], r[fin]
    stop = f"{_PW_TERMS} periodicities removed"
    for _ in range(_PW_TERMS):
        res = r[ok] - model[ok]
        mid = float(np.median(res))
        use = res > mid - _PW_CLIP * robust_std(res)
        tb, rb = _bin_means(t_ok[use], res[use], _PW_PERIOD_MIN / 8.0)
        f0, power = _strongest_frequency(tb, rb, 1.0 / p_max, 1.0 / _PW_PERIOD_MIN)
        # Binning lowers the noise, not the signal: the binned power is never below the share
        # of the unbinned variance, so a weak peak ends the search here (quiet stars: one
        # periodogram, nothing else).
        if power < _PW_MIN_POWER:
            stop = f"no periodicity explains {_PW_MIN_POWER:.0%} of the residual variance"
            break

        def design(tt):
            cols = [np.ones_like(tt)]
            for h in range(1, _PW_HARMONICS + 1):
                cols += [np.sin(2 * np.pi * h * f0 * tt), np.cos(2 * np.pi * h * f0 * tt)]
            return np.column_stack(cols)

        a_use = design(t_ok[use])
        coef, *_ = np.linalg.lstsq(a_use, res[use], rcond=None)
        # the share of the (unbinned) residual variance the harmonic series explains
        explained = 1.0 - float(np.var(res[use] - a_use @ coef)) / float(np.var(res[use]))
        if explained < _PW_MIN_POWER:
            stop = f"no periodicity explains {_PW_MIN_POWER:.0%} of the residual variance"
            break
        if explained > _PW_MAX_POWER:
            stop = f"P = {1 / f0:.4g} d explains {explained:.0%} (> {_PW_MAX_POWER:.0%}): left in"
            break
        # A transit's power spreads over harmonics of its period: fold on 1-5x the period.
        # Every finite point counts here, masked and clipped ones too (they are the dips).
        ratio = max(_dip_ratio(t_all, r_all - model[fin], k / f0) for k in range(1, 6))
        if ratio > _PW_MAX_DIP_RATIO:
            stop = f"P = {1 / f0:.4g} d is dip-like (dip/rise {ratio:.1f}): left in"
            break
        model[good_t] += design(t[good_t])[:, 1:] @ coef[1:]
        powers.append(explained)
        periods.append(1.0 / f0)
    return CoherentVariability(model, tuple(periods), tuple(powers), stop)


def detrend(lc, *, method="biweight", window_length=None, mask=None, break_tolerance=None,
            edge_cutoff=0.0, protect_long_dips=True, prewhiten=True):
    """Flatten a light curve with a robust wotan filter.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Normalized light curve (median ~1), e.g. from :func:`astrotinyml.io.read.read_lightcurve`.
    method : str
        A wotan method name (see :data:`DETREND_METHODS`); ``"biweight"`` (default) is the
        robust time-windowed slider recommended by Hippke et al. (2019).  ``"savgol"`` and
        ``"medfilt"`` take ``window_length`` in cadences and ignore ``mask``.
    window_length : float, optional
        Filter window in days.  Default: :func:`default_window_length` (3x the longest
        transit searched by default, 0.5-1.0 d).
    mask : array of bool or astropy.table.Table, optional
        Points to keep out of the trend fit (True = in transit), or a candidates table from
        :func:`astrotinyml.searching.search` whose transits are masked (1.5x their duration).
        The trend is still evaluated under masked points, so transits keep their depth.
        Before the filter runs, masked cadences are filled in with a quadratic fitted to the
        flux within half a window on both sides, so that the windows of their neighbours
        stay two-sided (dropping them biases a location estimate on a sloping light curve);
        masked stretches longer than half the window then take their trend from a quadratic
        fitted to the flux on both sides (a location estimate from the stretch's edges would
        be biased by the curvature of a variable star's light curve), shorter ones the
        filter's value.
    break_tolerance : float, optional
        Gaps longer than this (days) split the light curve into segments detrended
        separately, so the filter never reaches across a gap or a segment edge.
        Default: half the window (wotan's default).
    edge_cutoff : float
        Days removed (set to NaN) at each segment edge, where the trend is least robust.
    protect_long_dips : bool
        Keep significant dips longer than a third of the window out of the trend fit
        (:func:`long_dip_mask`), so that the window does not eat long transits; default
        True.  Ignored by the cadence-based methods, which take no mask.
    prewhiten : bool
        Also divide out the coherent periodic variability (pulsation, fast rotation) that
        the filter leaves (:func:`coherent_variability`); default True.  Quiet stars,
        transits and eclipses are left as the filter gives them.

    Returns
    -------
    lightkurve.LightCurve
        A copy with ``flux`` and ``flux_err`` divided by the trend and a column ``"trend"``
        holding the trend (in the input's flux units), so ``flat.flux * flat["trend"]``
        gives the input flux back.  Points with NaN flux stay NaN; no value is invented.
        ``meta`` is copied and records ``DETREND_METHOD``, ``DETREND_WINDOW`` (d),
        ``DETREND_BREAK_TOLERANCE`` (d), ``DETREND_N_MASKED`` (points kept out of the
        fit, protected ones included), ``DETREND_N_PROTECTED`` (points of protected
        long dips) and ``DETREND_PREWHITENED`` (the periods removed, d, comma-separated;
        empty when none).

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

    One window cannot suit every transit duration: short enough to remove rotational
    modulation of active stars, it fits long transits away (the default ~0.54 d window
    leaves 3 % of Kepler-90 h's 14-h, 8200-ppm transit, and TOI-813 b's single transit in
    TESS sector 5 falls below the search's threshold).  The window is therefore chosen per
    trial duration in two steps: durations up to a third of ``window_length`` are served by
    the window itself; dips from there to 1 d long are searched for on flattenings with
    windows of 3x each trial duration (:func:`long_dip_mask`), and those that stand out
    against the noise at their own duration are masked from the short window's fit, which
    then bridges them.  Kepler-90 h keeps its depth (8200 ppm) and TOI-813 b its
    single transit.

    A window short enough for transits cannot follow variability whose period is not long
    against it: a 0.7-d window leaves ~7 % of a 2.4-d rotational modulation and nearly all
    of a 4-h pulsation, and the leftover outranks transits in the search.  With
    ``prewhiten=True`` the coherent part of it is fitted (Lomb-Scargle periods + 3
    harmonics, dips kept out of the fit) and divided out with the trend
    (:func:`coherent_variability`).  On K2-25 (an M dwarf rotating in 1.88 d) the search
    then returns K2-25 b at SDE 30 instead of the rotation first and the planet at SDE 17.

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
    if break_tolerance is None:
        break_tolerance = 0.5 * window_length if method not in _CADENCE_METHODS else 0.5
    n_protected = 0
    given = mask_arr  # the caller's mask, before the protected dips join it
    if protect_long_dips and method not in _CADENCE_METHODS:
        protected = long_dip_mask(time, flux, window_length=window_length,
                                  break_tolerance=break_tolerance)
        n_protected = int(protected.sum())
        if n_protected:
            mask_arr = protected if mask_arr is None else (mask_arr | protected)
    if mask_arr is not None and not mask_arr.any():
        mask_arr = None
    kwargs = dict(method=method, window_length=window_length, edge_cutoff=edge_cutoff,
                  break_tolerance=break_tolerance, return_trend=True)
    fit_flux = flux
    if mask_arr is not None and method not in _CADENCE_METHODS:
        # The caller's masked cadences are filled in with a quadratic fitted to the flux within half a
        # window on both sides, and the filter runs on the filled light curve, instead of
        # being dropped from it (wotan's mask).  Dropping them leaves the windows of their
        # neighbours one-sided, and a one-sided location estimate on a rotating star's
        # slope is off by slope x shift: a 4-h mask on a spotted K2 star (EPIC 246808055,
        # ~7000 ppm/d) put -500/+600 ppm wings either side of a 300-ppm transit, and the
        # next search found the transit 2.5x too long and off-centre.  A stretch that
        # cannot be filled (a side with < 10 free points, or across a gap) stays masked, and
        # so do the protected dips (red-noise dips of quiet stars among them, whose filled-in
        # neighbourhoods paired into a 28-d signal on EPIC 248045685: see test_search).
        # A masked cadence inside a protected dip is handled as the dip is (so a mask that
        # repeats the protection changes nothing: KIC 1026032's eclipses, test_detect).
        filled = np.zeros(flux.shape, dtype=bool)
        to_fill = given if given is None or not n_protected else given & ~protected
        if to_fill is not None and to_fill.any():
            fill = _bridge(time, flux, np.full(flux.shape, np.nan), to_fill, mask_arr,
                           window_length, break_tolerance, reach=0.5 * window_length)
            filled = to_fill & np.isfinite(fill)
        if filled.any():
            fit_flux = np.where(filled, fill, flux)
        if (mask_arr & ~filled).any():
            kwargs["mask"] = mask_arr & ~filled
    # wotan returns (flat, trend) here because return_trend=True is fixed.
    with warnings.catch_warnings():
        # A fully masked window (a protected dip, a long masked transit) gets no trend from
        # wotan, which warns; _fill_trend_gaps and _bridge below give it one.
        warnings.filterwarnings("ignore", message=".*received a NaN trend.*")
        _, trend = wotan.flatten(time, fit_flux, **kwargs)
    trend = np.asarray(trend, dtype=float)
    trend = _fill_trend_gaps(time, flux, trend, break_tolerance)
    # The biweight is a location estimate: under a masked stretch it averages the flux at
    # the stretch's edges, which on a rotating star's curved light curve lies off the flux in
    # the middle.  For a stretch covering a fraction f of the window the bias at its centre
    # grows by (f + f^2) times the filter's own curvature bias: a 9-h-wide alias mask in a
    # 17-h window put +1200 ppm bumps on a 300-ppm transit under it (EPIC 246808055).
    # Masked stretches longer than half the window (a transit longer than a third of it,
    # masked 1.5x wide: the durations the window itself does not serve, see Notes) get the
    # quadratic bridge of the protected dips.
    bridged = protected if n_protected else None
    if mask_arr is not None and method not in _CADENCE_METHODS:
        long_runs = masked_runs(time, mask_arr, min_length=_BRIDGE_MIN_FRACTION * window_length)
        bridged = long_runs if bridged is None else (bridged | long_runs)
    if bridged is not None and bridged.any():
        trend = _bridge(time, flux, trend, bridged, mask_arr, window_length, break_tolerance)

    removed = ()
    if prewhiten:
        with np.errstate(invalid="ignore", divide="ignore"):
            residual = flux / trend - 1.0
        window_days = (float(window_length) if method not in _CADENCE_METHODS
                       else float(window_length) * float(np.nanmedian(np.diff(time))))
        var = coherent_variability(time, residual, mask=mask_arr, window_length=window_days)
        if var.periods:
            removed = var.periods
            trend = trend * (1.0 + np.nan_to_num(var.model))

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
        "DETREND_N_PROTECTED": n_protected,
        "DETREND_PREWHITENED": ",".join(f"{p:.6g}" for p in removed),
    })
    return flat


def masked_runs(time, mask, *, min_length=0.0) -> np.ndarray:
    """The masked stretches of ``mask`` that last at least ``min_length`` days.

    A stretch is a run of consecutive masked cadences in time order (NaN fluxes do not
    interrupt it: only the times count); its length is the time from its first to its last
    cadence.

    Parameters
    ----------
    time : array of float
        Cadence times in days (any order).
    mask : array of bool
        True = masked, as :func:`transit_mask` returns.
    min_length : float
        Shortest stretch kept, in days.

    Returns
    -------
    numpy.ndarray of bool
        True on the cadences of the stretches kept.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 5.0, 0.1)
    >>> m = (np.abs(t - 1.0) < 0.15) | (np.abs(t - 3.0) < 0.45)
    >>> int(masked_runs(t, m, min_length=0.5).sum()), int(m.sum())
    (9, 12)
    """
    time = np.asarray(time, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=bool)
    order = np.argsort(time, kind="stable")
    idx = np.flatnonzero(mask[order])
    if not idx.size:
        return out
    ts = time[order]
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        if ts[run[-1]] - ts[run[0]] >= min_length:
            out[order[run]] = True
    return out


def _bridge(time, flux, trend, protected, masked, window_length, break_tolerance, *, reach=None):
    """Trend under each bridged stretch (a protected dip, a long masked stretch) from a
    quadratic fitted to the flux on both sides.

    The short window cannot see through a masked stretch longer than itself: wotan leaves
    it without a trend and :func:`_fill_trend_gaps` draws a straight line, which misses
    the curvature of a rotating star's light curve over a day.  Here a quadratic in time
    is fitted to the unmasked flux within ``max(reach, stretch)`` on each side (``reach``
    defaults to the window; both sides needed, 10 points each, same segment), and replaces
    the trend inside the stretch.  Stretches that cannot be bridged keep ``trend``.
    """
    trend = trend.copy()
    order = np.flatnonzero(np.isfinite(time) & np.isfinite(flux))
    order = order[np.argsort(time[order], kind="stable")]
    ts = time[order]
    prot = protected[order]
    free = ~masked[order]
    idx = np.flatnonzero(prot)
    if not idx.size:
        return trend
    # Index arithmetic instead of whole-array masks per stretch: a short-period candidate
    # masks thousands of stretches of a full-mission Kepler light curve.
    free_cs = np.concatenate([[0], np.cumsum(free)])
    gap_cs = np.concatenate([[0], np.cumsum(np.diff(ts) > break_tolerance)])
    for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        t_lo, t_hi = ts[run[0]], ts[run[-1]]
        span = max(float(window_length) if reach is None else float(reach), t_hi - t_lo)
        l0, l1 = np.searchsorted(ts, [t_lo - span, t_lo], side="left")
        r0, r1 = np.searchsorted(ts, [t_hi, t_hi + span], side="right")
        if free_cs[l1] - free_cs[l0] < 10 or free_cs[r1] - free_cs[r0] < 10:
            continue
        lw = np.flatnonzero(free[l0:l1]) + l0
        rw = np.flatnonzero(free[r0:r1]) + r0
        # Both sides must be in the dip's segment (no bridging across a data gap).
        if (t_lo - ts[lw[-1]] > break_tolerance + (t_hi - t_lo)
                or gap_cs[run[-1]] - gap_cs[lw[0]] > 0
                or gap_cs[rw[-1]] - gap_cs[run[0]] > 0):
            continue
        side = np.concatenate([lw, rw])
        tc = 0.5 * (t_lo + t_hi)
        coef = np.polyfit(ts[side] - tc, flux[order[side]], 2)
        trend[order[run]] = np.polyval(coef, ts[run] - tc)
    return trend


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
