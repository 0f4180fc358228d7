"""Transits on light-curve arrays: folding, masks, binning and robust noise statistics.

The one home of these array helpers, shared by vetting, the views, the transit fit, the
reports and the explorer.  Candidate rows are turned into :class:`~astrotinyml.candidates.Ephemeris`
objects by :mod:`astrotinyml.candidates`; everything here works on plain float arrays in days.

>>> import numpy as np
>>> from astrotinyml.transits import fold_phase
>>> fold_phase(np.array([10.0, 10.9, 11.6]), 1.0, 0.0).round(2).tolist()
[0.0, -0.1, -0.4]

Nothing here imports lightkurve or astropy at module level (``import astrotinyml`` stays
light); astropy units are imported lazily only when a value carries a unit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .candidates import Ephemeris, float_array
from .errors import InvalidParameterError, LightCurveDataError

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve

__all__ = [
    "MIN_POINTS",
    "lc_arrays",
    "fold_phase",
    "epoch_and_offset",
    "robust_std",
    "upper_outliers",
    "UPPER_OUTLIER_SIGMA",
    "red_noise_beta",
    "binned_median",
    "bin_centres",
    "fill_empty",
    "in_transit",
    "box_depth",
    "commensurate",
    "independent_mask",
]

#: Fewer valid cadences than this and nothing can be measured.
MIN_POINTS = 10


def lc_arrays(lc: lightkurve.LightCurve, *, name: str = "light curve", normalize: bool = True):
    """Finite, time-sorted ``(time [full BJD], flux, flux_err)`` float64 arrays of a LightCurve.

    ``flux`` is divided by its median when ``normalize`` (a flattened curve is already ~1;
    a raw SAP curve in e-/s becomes relative).  Missing errors come back as NaN.
    """
    time = getattr(lc, "time", None)
    if time is None or not hasattr(lc, "flux"):
        raise InvalidParameterError(f"{name} must be a lightkurve.LightCurve (got {type(lc).__name__})")
    t = float_array(time.jd if hasattr(time, "jd") else time)
    f = float_array(lc.flux)
    err = getattr(lc, "flux_err", None)
    e = np.full_like(f, np.nan) if err is None else float_array(err)
    good = np.isfinite(t) & np.isfinite(f)
    t, f, e = t[good], f[good], e[good]
    if t.size < MIN_POINTS:
        raise LightCurveDataError(f"{name} has {t.size} finite cadences; at least {MIN_POINTS} are needed")
    order = np.argsort(t, kind="stable")
    t, f, e = t[order], f[order], e[order]
    if normalize:
        med = np.median(f)
        if not (np.isfinite(med) and med > 0):
            raise LightCurveDataError(f"{name} has a non-positive median flux ({med}); it cannot be normalized")
        f = f / med
        e = e / med
    return t, f, e


def fold_phase(time, period: float, t0: float) -> np.ndarray:
    """Time from the nearest mid-transit [d], in ``[-period/2, period/2)``.

    Parameters
    ----------
    time : array-like
        Times [d] (same system as ``t0``).
    period : float
        Period [d]; NaN or non-positive (a single event) gives ``time - t0``.
    t0 : float
        A mid-transit time [d].

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> fold_phase([10.0, 10.9, 11.6], 1.0, 0.0).round(2).tolist()
    [0.0, -0.1, -0.4]
    """
    t = np.asarray(time, dtype=float)
    if not (math.isfinite(period) and period > 0):
        return t - t0
    return (t - t0 + 0.5 * period) % period - 0.5 * period


def epoch_and_offset(t: np.ndarray, eph: Ephemeris) -> tuple[np.ndarray, np.ndarray]:
    """Epoch number (int, 0 at ``t0``) and time from the nearest mid-transit [d] of each cadence.

    For a single event every cadence has epoch 0 and the offset is ``t - t0``.
    """
    if eph.single:
        return np.zeros(t.shape, dtype=np.int64), t - eph.t0
    x = (t - eph.t0) / eph.period
    epoch = np.floor(x + 0.5)
    return epoch.astype(np.int64), (x - epoch) * eph.period


def robust_std(x: np.ndarray) -> float:
    """1.4826 x median absolute deviation (a Gaussian sigma robust to transits and flares)."""
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return math.nan
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


#: Cadences this many robust sigmas above the median flux are flares or cosmic rays.
UPPER_OUTLIER_SIGMA = 5.0


def upper_outliers(flux, *, nsigma: float = UPPER_OUTLIER_SIGMA) -> np.ndarray:
    """Cadences more than ``nsigma`` robust sigmas above the median flux.

    Flares and cosmic rays only ever brighten a star; a transit or an eclipse never does.
    The search leaves these cadences out, and so do the multiple- and single-event
    statistics of :func:`astrotinyml.vetting.vet` (``mes_red``, ``ses_max``, ``chases_mean``): one
    2.5x flare point among the 170 in-transit cadences of a 1-d candidate moves its mean
    in-transit flux by +0.9 % and its correlated-noise SNR from +10 to -89 (EPIC 246863569).

    Parameters
    ----------
    flux : array of float
        Flattened (or any) flux; NaNs are never flagged.
    nsigma : float
        Threshold in robust sigmas (:func:`robust_std`; the plain standard deviation when
        the MAD is 0).

    Returns
    -------
    numpy.ndarray of bool
        True on the upward outliers.

    Examples
    --------
    >>> import numpy as np
    >>> f = 1 + np.random.default_rng(0).normal(0, 1e-3, 1000)
    >>> f[10], f[20] = 1.5, 0.9          # a flare point and a deep dip
    >>> np.flatnonzero(upper_outliers(f)).tolist()
    [10]
    """
    f = np.asarray(flux, dtype=float)
    ok = np.isfinite(f)
    out = np.zeros(f.shape, dtype=bool)
    if ok.sum() < 3:
        return out
    med = float(np.median(f[ok]))
    s = robust_std(f[ok])
    if not s > 0:
        s = float(np.std(f[ok]))
    if not s > 0:
        return out
    out[ok] = f[ok] - med > nsigma * s
    return out


def red_noise_beta(t: np.ndarray, f: np.ndarray, width: float, sigma_white: float) -> float:
    """Time-averaging factor beta >= 1 (Winn et al. 2008) at the timescale ``width`` [d].

    Out-of-transit flux is averaged in consecutive bins of ``width``; beta is the robust scatter
    of those means over the white-noise expectation ``sigma_white / sqrt(n)``.  Multiplying
    white-noise errors by beta makes depth significances honest on red (correlated) noise.
    """
    if not (np.isfinite(sigma_white) and sigma_white > 0 and width > 0) or t.size < 20:
        return 1.0
    idx = np.floor((t - t[0]) / width).astype(np.int64)
    counts = np.bincount(idx)
    sums = np.bincount(idx, weights=f)
    typical = np.median(counts[counts > 0])
    full = counts >= max(2.0, 0.5 * typical)
    if full.sum() < 8:
        return 1.0
    means = sums[full] / counts[full]
    observed = robust_std(means)
    expected = sigma_white / math.sqrt(float(np.median(counts[full])))
    if not (np.isfinite(observed) and expected > 0):
        return 1.0
    return float(max(1.0, observed / expected))


def binned_median(x: np.ndarray, y: np.ndarray, lo: float, hi: float, nbins: int) -> np.ndarray:
    """Median of ``y`` in ``nbins`` equal bins of ``x`` over ``[lo, hi)``; NaN in empty bins.

    Sorting once by (bin, y) and picking the middle element(s) keeps it vectorized.
    """
    out = np.full(nbins, np.nan)
    sel = (x >= lo) & (x < hi) & np.isfinite(y)
    if not sel.any():
        return out
    b = np.floor((x[sel] - lo) / (hi - lo) * nbins).astype(np.int64)
    b = np.clip(b, 0, nbins - 1)
    yy = y[sel]
    order = np.lexsort((yy, b))
    b, yy = b[order], yy[order]
    counts = np.bincount(b, minlength=nbins)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    has = counts > 0
    lo_i = starts[has] + (counts[has] - 1) // 2
    hi_i = starts[has] + counts[has] // 2
    out[has] = 0.5 * (yy[lo_i] + yy[hi_i])
    return out


def bin_centres(lo: float, hi: float, nbins: int) -> np.ndarray:
    """Centres of the ``nbins`` equal bins of :func:`binned_median` over ``[lo, hi)``.

    >>> bin_centres(0.0, 1.0, 4).tolist()
    [0.125, 0.375, 0.625, 0.875]
    """
    return lo + (np.arange(nbins) + 0.5) * (hi - lo) / nbins


def fill_empty(v: np.ndarray, fill: float) -> np.ndarray:
    """Fill NaN bins by linear interpolation between the nearest filled bins (edges: nearest
    value); an all-empty view becomes ``fill``.  Deterministic, no random draws."""
    v = np.asarray(v, dtype=float).copy()
    good = np.isfinite(v)
    if not good.any():
        v[:] = fill
        return v
    if good.all():
        return v
    i = np.arange(v.size)
    v[~good] = np.interp(i[~good], i[good], v[good])
    return v


def in_transit(t: np.ndarray, ephemerides: list[Ephemeris], *, factor: float = 1.0) -> np.ndarray:
    """Boolean mask, True within ``factor`` x half a duration of any ephemeris' mid-transit.

    The array kernel of :func:`astrotinyml.detrending.transit_mask` (which takes a candidates
    table); a single event (NaN period) masks its one transit.

    >>> import numpy as np
    >>> from astrotinyml.candidates import Ephemeris
    >>> int(in_transit(np.arange(0, 4, 0.05), [Ephemeris(2.0, 0.5, 0.1, 0.01)]).sum())
    4
    """
    mask = np.zeros(t.shape, dtype=bool)
    for eph in ephemerides:
        _, dt = epoch_and_offset(t, eph)
        mask |= np.abs(dt) < 0.5 * factor * eph.duration
    return mask


def box_depth(t: np.ndarray, f: np.ndarray, eph: Ephemeris) -> tuple[float, float]:
    """(depth, error) in ppm of a box search's kind: the mean flux inside the ephemeris' boxes
    (full ``duration``) below the median outside them (``duration`` on each side excluded).

    The search's ``pl_trandep`` is this quantity at the duration it chose, so two dips measured
    here with one duration compare directly (an eclipsing binary's two eclipses).

    >>> import numpy as np
    >>> from astrotinyml.candidates import Ephemeris
    >>> t = np.arange(0, 20, 0.01)
    >>> f = 1 - 0.002 * (np.abs((t - 1.0 + 2.5) % 5 - 2.5) < 0.1)
    >>> d, e = box_depth(t, f, Ephemeris(5.0, 1.0, 0.16, np.nan))
    >>> round(d), bool(e < 1)
    (2000, True)
    """
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    _, dt = epoch_and_offset(t, eph)
    inside = np.abs(dt) < 0.5 * eph.duration
    outside = np.abs(dt) > eph.duration
    if inside.sum() < 3 or outside.sum() < MIN_POINTS:
        return math.nan, math.nan
    base = float(np.median(f[outside]))
    sigma = robust_std(f[outside])
    return (base - float(np.mean(f[inside]))) * 1e6, sigma / math.sqrt(inside.sum()) * 1e6


def commensurate(p1: float, p2: float, tol: float = 0.01) -> bool:
    """Periods in a ratio 1, 2, 3, 4, 1/2, 1/3, 1/4, 3/2 or 2/3 (within ``tol``): one system."""
    if not (math.isfinite(p1) and math.isfinite(p2)):
        return False
    r = p1 / p2
    return any(abs(r - q) <= tol * q for q in (1.0, 2.0, 3.0, 4.0, 0.5, 1.0 / 3.0, 0.25, 1.5, 2.0 / 3.0))


def independent_mask(t: np.ndarray, eph: Ephemeris, others: list[Ephemeris], *,
                     protect_own: bool = True) -> np.ndarray:
    """Cadences to keep for ``eph``: those in the transits of the *other* candidates are
    dropped, so a second planet's transits are not taken for this one's secondary or
    odd/even difference.  Candidates with a commensurate period are kept (an EB's secondary
    found as a separate signal, or an alias, is exactly what the tests must see).

    ``protect_own`` keeps everything within one duration of this candidate's own transits,
    so that a spurious other candidate cannot eat them.  Without it, the transits of *rare*
    other candidates (single events, or at most 3 transits in the data: a long-period planet
    like Kepler-90 g, whose 0.45 % transit on one of c's would dominate c's depth, shape and
    views) are left out even where they land on this candidate's own transits - unless that
    leaves none of them; frequent other candidates still cannot eat them (a spurious 0.7 d
    candidate would otherwise remove half of a planet's transits)."""
    keep = np.ones(t.shape, dtype=bool)
    indep = [o for o in others if not commensurate(eph.period, o.period)]
    if not indep:
        return keep
    _, dt = epoch_and_offset(t, eph)
    away = np.abs(dt) >= eph.duration
    span = float(t[-1] - t[0]) if t.size else 0.0
    rare = [] if protect_own else [o for o in indep if o.single or span / o.period <= 3.0]
    frequent = [o for o in indep if not any(o is r for r in rare)]
    drop = in_transit(t, frequent, factor=1.5) & away
    if rare:
        drop_rare = in_transit(t, rare, factor=1.5)
        own = np.abs(dt) < 0.5 * eph.duration
        if not np.any(own & ~(drop | drop_rare)):
            drop_rare &= away  # that would leave none of this candidate's transits
        drop |= drop_rare
    if np.count_nonzero(~drop) < MIN_POINTS:
        return keep
    return ~drop
