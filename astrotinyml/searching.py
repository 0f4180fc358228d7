"""Iterative box-least-squares transit search.

:func:`search` finds periodic transit-like dips in a detrended light curve, one signal at a
time: the strongest signal is found, refined, checked against its period aliases, its
transits are masked, and the search runs again until nothing passes the thresholds.
Strong single dips that repeat nowhere in the data (mono-transits) are reported too.

Method
------
*Period grid.*  Frequencies uniform in ``f**(1/3)`` (Ofir 2014, eqs. 5-7), the optimal
sampling when the transit duration scales as ``P**(1/3)``: adjacent trial periods move a
transit of a Sun-density star by ``1/oversampling`` of its duration over the full baseline
(first to last point; gaps do not reduce the phase drift, so the full baseline is the
right one).  This is the grid TLS uses, never astropy's ``autoperiod`` (uniform in
frequency and far too dense at long periods on long baselines).

*Durations.*  A global log grid (steps of 25 %); at each period only durations between
``0.4 T14(P, rho=20 rho_sun)`` (grazing transits of late M dwarfs) and
``T14(P, rho=0.1 rho_sun)`` (subgiants), capped at 12 % of the period, are tried.  The
shortest box is two cadences (at most 1 h) and at least 10 min: one-cadence boxes on
long-cadence data mostly pick single outliers.

*Statistic.*  Data are folded and binned in phase (bins of half the shortest duration
tried at that period; short cadences are first summed into time bins no wider than 3/4
of a phase bin), and every box (start bin x duration) is scanned with cumulative sums.
The best peaks are then refined without binning (finer periods, durations and phases).  With ``y = 1 - flux``, a box holding ``n_in`` of ``N`` points has the depth
``d = mean_in - mean_out`` and improves chi-square by
``dchi2 = d**2 n_in (N - n_in) / (N sigma**2)``, where ``sigma`` is the robust
(1.4826 MAD) per-point scatter.  Uniform weights: many light curves carry placeholder or
missing errors.

*Speed.*  On long grids (>= 20,000 trial periods, e.g. multi-year Kepler) the spectrum is
computed at every third trial period (``round(oversampling)``; a grid oversampled ~1x),
with the SDE normalisation of that coarse spectrum, and the 200 strongest coarse peaks (plus the 20 strongest
distinct ones) are evaluated at the full grid around them; peaks are refined at the full
grid's step.  Nearby trial periods share work: the light curve is cut into time chunks,
each chunk is folded once per block of periods and the fold at each period of the block
is the sum of the chunk folds rolled by their phase at that period (a point moves by at
most ``max(0.25 bin, 1/6 of the grid's phase step)``); blocks run on ``n_threads``
threads.  ``box_search_reference`` is the brute-force NumPy statistic the kernels are
tested against.  See ``benchmarks/search_scaling.py``.

*Correlated noise.*  Before each spectrum the red-noise factor ``beta(T)**2`` is measured
once per trial duration: the flux averaged over ``T`` scatters (robustly) by
``sqrt(sigma**2 / n_T + sigma_r(T)**2)`` instead of ``sigma / sqrt(n_T)``, and
``beta**2 = 1 + sigma_r**2 n_T / sigma**2`` (Pont et al. 2006; the estimator of vet's
``noise_red_ppm``).  Every box's ``dchi2`` is divided by ``beta(T)**2`` of its duration, so
the spectrum holds ``SNR_red**2``, the square of a correlated-noise SNR like detect's
``snr`` (vet's ``mes_red``); peaks, durations, aliases and single events are chosen on
it and the thresholds apply to it (the ephemeris and duration reported for an accepted
periodic signal are then refitted on the white statistic, which does not bias them
short): on
spotted or K2 stars left-over variability at long durations (``beta**2`` ~ 5-15 there
against ~1.5-3 at transit durations of a few hours) no longer outranks a transit.  On
white noise ``beta = 1`` and nothing changes.

*SNR.*  ``snr = d / depth_err = sqrt(dchi2)``, with
``depth_err = sigma sqrt(1/n_in + 1/n_out)`` (about ``d / sigma * sqrt(n_in)``), evaluated
without binning at the refined ephemeris; it assumes white noise and is what the table
reports.  The thresholds apply to ``snr / beta(T)`` at the signal's duration.

*SDE.*  As TLS (Hippke & Heller 2019): the spectrum of the best ``dchi2`` per period
is normalised, a running median (``30 x oversampling`` periods) is subtracted and
``sde = (peak - mean) / std``, on the red-noise-normalised spectrum.  A signal is reported
when ``sde >= sde_threshold`` (default 9, calibrated on the corpus: the highest periodic
SDE on its quiet K2 stars was 8.9 on the white spectrum; on the normalised one the quiet
hosts of ``benchmarks/injection_recovery.py`` peak at 5.2-6.7, and TLS's 7 added false
alarms on its variable stars without recovering more injections) and its correlated-noise
SNR ``snr / beta(T) >= snr_threshold`` (default 7); above SNR 50 half the SDE threshold is
enough, because one very strong signal on a short baseline fills its own spectrum with
aliases and caps its SDE.

*Masking.*  Before the next iteration, ``mask_width`` (1.5) box durations around each
transit are removed, widened up to 1.6x for SNR > 30 (limb-darkened wings outside the
box).  A new signal at the period of an earlier one and within 1.5 durations of its
transits, or a third signal at one period, is a leftover: masked, not reported.
Before each spectrum, the strongest leftover at the periods already found (an eclipsing
binary's phase curve, eclipse wings) is looked for with a local fit (~10 ms); if its SDE,
estimated in the last spectrum's normalisation, beats 1.2x that spectrum's best peak away
from the found periods and their aliases, the next spectrum would pick it, so it is
masked without that spectrum (full-mission Kepler EBs: median 8.7 to 5.8 s).  This runs
only on coarse-to-fine grids (long baselines), where a spectrum is costly.

*Aliases.*  The peak is re-evaluated at ``P/2, 2P, P/3, 3P, 2P/3, 3P/2`` with a local
refinement, and the period with the largest ``dchi2`` wins; a winner whose odd and even
transits differ by more than 3 sigma in depth is replaced by twice its period (an
eclipsing binary with unequal eclipses).  Hence planets are not reported at 2P and EBs
come out at their period or at half of it.

*Validity.*  A periodic signal needs ``min_transits`` transits with data and must stay
significant (``snr >= max(3, 0.4 snr)``) without its strongest transit, so that one deep
event plus noise is not reported as periodic.

*Single events.*  When no periodic signal passes, the strongest single box dip in the
unfolded light curve (ranked by ``snr / beta(T)``) is reported if that correlated-noise
SNR passes ``single_event_snr``, with
``single_event=True`` and a NaN period; it is masked and the search continues.
"""

from __future__ import annotations

import math
import threading
import time as _time

import numpy as np

from .errors import InvalidParameterError, SearchError
from .io.conventions import target_name as _target_name
from .transits import robust_std, upper_outliers

__all__ = ["search", "periodogram", "period_grid", "box_search_reference",
           "DEFAULT_PERIOD_MIN", "ROCHE_PERIOD_MIN", "DEFAULT_SDE_THRESHOLD",
           "DEFAULT_SNR_THRESHOLD", "DEFAULT_SINGLE_EVENT_SNR"]

#: Default SDE threshold (calibrated on the real corpus, see benchmarks/).
DEFAULT_SDE_THRESHOLD = 9.0
#: Default SNR threshold of periodic signals.
DEFAULT_SNR_THRESHOLD = 7.0
#: Default SNR threshold of single events (mono-transits).
DEFAULT_SINGLE_EVENT_SNR = 12.0
#: Shortest physically sensible trial period (days): the Roche limit of a rocky planet,
#: ``P_min ~ 12.6 h (rho_p / 1 g cm^-3)^-1/2`` (Rappaport et al. 2013, ApJ 773, L15), is
#: 0.2 d (4.8 h) for rho_p ~ 7 g cm^-3 (the densest known ultra-short-period planets;
#: KOI-1843.03 at 4.2 h needs rho_p >~ 7-8).  The stellar-density prior gives a lower
#: floor (a planet grazing the surface of a rho = 20 rho_sun M dwarf orbits in ~0.03 d),
#: so the planet's Roche limit is the binding one.  Pass ``period_min=ROCHE_PERIOD_MIN``
#: to search ultra-short periods.
ROCHE_PERIOD_MIN = 0.2
#: Default shortest trial period (days).  Not the Roche limit: on the corpus's 14 quiet
#: and variable stars a search from 0.2 d reported 18 periodic signals against 7 from
#: 0.5 d (flare stars at 0.21 and 0.33 d, and more long-period noise peaks passing the
#: SDE threshold, which was calibrated on spectra starting at 0.5 d), see
#: ``benchmarks/search_vs_peers.py``.
DEFAULT_PERIOD_MIN = 0.5

_G = 6.674e-11
_R_SUN = 6.957e8
_M_SUN = 1.989e30
_DAY = 86400.0
_RHO_MIN = 0.1    # solar densities: subgiants
_RHO_MAX = 20.0   # late M dwarfs
_B_FACTOR = 0.4   # shortest (grazing, b ~ 0.9) transit in units of the central one
_QMAX = 0.12      # longest transit as a fraction of the period (TLS's limit)
_DUR_STEP = 1.25
_MIN_POINTS = 50
# Above this SNR a periodic signal needs only half the SDE threshold: one very strong
# signal on a short baseline fills its own spectrum with aliases and side lobes, which
# caps its SDE (e.g. HAT-P-7 b in 10 d of Kepler data: SNR ~1000, SDE ~7.7).
_STRONG_SNR = 50.0
#: Leftovers of found signals masked without a spectrum (``_leftover_at_found``) per search.
_MAX_PEELS = 10
#: Leftovers at found periods checked before each spectrum (False: only spectra; for comparisons).
_PEEL = True
#: A leftover is masked without a spectrum when its SDE (estimated) is this many times
#: the last spectrum's highest SDE elsewhere.
_PEEL_MARGIN = 1.2
_ALIAS_FACTORS = (1.0, 0.5, 2.0, 1.0 / 3.0, 3.0, 2.0 / 3.0, 1.5)
#: Search short trial durations on flattenings with windows matched to them
#: (``_duration_bands``; False: every duration on the input flattening, for comparisons).
_BANDS = True
#: Window of a duration band in trial durations (Hippke et al. 2019: ~3 T14).
_BAND_RATIO = 3.0
#: Each further band's window is this fraction of the one before.
_BAND_STEP = 0.6
#: Shortest band window in cadences (a biweight over fewer points follows the noise).
_BAND_MIN_CADENCES = 16
#: Most bands besides the input flattening (each costs one spectrum per iteration).
_BAND_MAX = 1
# Two sets of dips have unequal depths when they differ by more than 3 sigma and 10 %
# (the odd/even test of the alias choice; the P/2 signals of _subharmonic_parent).
_ODD_EVEN_SIGMA = 3.0
_ODD_EVEN_REL = 0.1


def _t14_days(period, rho):
    """Central-transit duration (days) of a small planet, stellar density rho (solar)."""
    # T14 = R* (4 P / (pi G M*))^(1/3) with R* = 1 R_sun, M* = rho M_sun.
    p = np.asarray(period, dtype=float) * _DAY
    return _R_SUN * (4.0 * p / (math.pi * _G * _M_SUN * rho)) ** (1.0 / 3.0) / _DAY


def period_grid(*, baseline, period_min, period_max, oversampling=3.0):
    """Trial periods uniform in frequency**(1/3) (Ofir 2014), for a Sun-density star.

    Parameters
    ----------
    baseline : float
        Time from the first to the last point (days).
    period_min, period_max : float
        Period range (days).
    oversampling : float
        Trial periods per transit duration of phase drift over the baseline (TLS: 3).

    Returns
    -------
    numpy.ndarray
        Periods in days, ascending.

    Examples
    --------
    >>> p = period_grid(baseline=27.0, period_min=0.5, period_max=13.5)
    >>> bool(p[0] >= 0.5 and p[-1] <= 13.5), len(p) > 1000
    (True, True)
    """
    if not (baseline > 0 and 0 < period_min < period_max and oversampling > 0):
        raise InvalidParameterError(
            f"period_grid needs baseline > 0 and 0 < period_min < period_max, got "
            f"baseline={baseline}, period_min={period_min}, period_max={period_max}."
        )
    span = baseline * _DAY
    a = ((2 * math.pi) ** (2.0 / 3.0) / math.pi * _R_SUN / (_G * _M_SUN) ** (1.0 / 3.0)
         / (span * oversampling))
    f_lo = (1.0 / (period_max * _DAY)) ** (1.0 / 3.0)
    f_hi = (1.0 / (period_min * _DAY)) ** (1.0 / 3.0)
    n = int(math.ceil((f_hi - f_lo) / (a / 3.0))) + 1
    x = np.linspace(f_lo, f_hi, max(n, 2))
    periods = np.clip(1.0 / x ** 3 / _DAY, period_min, period_max)
    return np.ascontiguousarray(periods[::-1])




def box_search_reference(t, y, periods, binw, durations, dmin, dmax, *, weights=None,
                         nmin=3.0):
    """Brute-force box search in pure NumPy: the statistic the fast kernels compute.

    Slow (every box is evaluated by testing every point), kept as the reference the
    numba kernels are tested against, as astropy keeps ``bls_slow``.  At each period
    the phase ``t / P mod 1`` is cut into ``nb = ceil(P / binw)`` bins; a box is a run of
    ``k`` whole bins (wrapping around), for the widths ``k = round(d / (P / nb))`` of
    the ``durations`` within ``[dmin, dmax]`` of that period; its power is
    ``d**2 n_in n_out / N`` with ``d = mean_in - mean_out`` of ``y = 1 - flux``, for dips
    (``d > 0``) holding at least ``nmin`` cadences (``weights``: cadences per point).

    Parameters
    ----------
    t, y : array-like
        Times (days, >= 0) and ``1 - flux``, mean-subtracted or not.
    periods, binw, dmin, dmax : array-like
        Trial periods and, per period, the phase-bin width and the duration range (days).
    durations : array-like
        Trial durations (days), ascending.
    weights : array-like, optional
        Cadences summed into each point (default 1); ``y`` is then the sum over them.
    nmin : float
        Fewest cadences in a box.

    Returns
    -------
    numpy.ndarray
        Best box power per period (divide by the per-point variance for SNR**2).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(0.0, 10.0, 0.02)
    >>> y = np.where(np.abs((t + 0.1) % 2.0 - 0.1) < 0.05, 1e-3, 0.0)
    >>> p = np.array([1.7, 2.0])
    >>> pw = box_search_reference(t, y, p, np.full(2, 0.025), np.array([0.1]),
    ...                           np.full(2, 0.05), np.full(2, 0.2))
    >>> int(np.argmax(pw))
    1
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=float)
    durations = np.sort(np.asarray(durations, dtype=float))
    ntot, stot = w.sum(), y.sum()
    out = np.zeros(len(periods))
    for i, p in enumerate(np.asarray(periods, dtype=float)):
        nb = int(np.ceil(p / binw[i]))
        bw = p / nb
        ph = t / p
        bins = np.minimum(((ph - np.trunc(ph)) * nb).astype(int), nb - 1)
        widths = []
        for d in durations:
            if dmin[i] <= d <= dmax[i]:
                k = int(min(max(int(d / bw + 0.5), 1), nb - 1))
                if k not in widths:
                    widths.append(k)
        best = 0.0
        for k in widths:
            for st in range(nb):
                inn = (bins - st) % nb < k
                n_in = w[inn].sum()
                if n_in < nmin or n_in >= ntot:
                    continue
                s_in = y[inn].sum()
                depth = s_in / n_in - (stot - s_in) / (ntot - n_in)
                if depth > 0:
                    best = max(best, depth ** 2 * n_in * (ntot - n_in) / ntot)
        out[i] = best
    return out


def _prepare(lc, name):
    """Finite, sorted times (full BJD_TDB) and y = 1 - flux/median."""
    from astropy.time import Time

    if not hasattr(lc, "time") or not hasattr(lc, "flux"):
        raise SearchError(f"{name}: search() needs a lightkurve.LightCurve, got {type(lc)!r}.")
    if isinstance(lc.time, Time):
        t = np.asarray(lc.time.tdb.jd, dtype=float)
    else:
        t = np.asarray(getattr(lc.time, "value", lc.time), dtype=float)
    fq = lc.flux
    bad = np.asarray(getattr(fq, "mask", False), dtype=bool)
    fq = getattr(fq, "unmasked", fq)  # astropy Masked quantities
    f = np.array(getattr(fq, "value", fq), dtype=float)
    if bad.any():
        f[np.broadcast_to(bad, f.shape)] = np.nan
    ok = np.isfinite(t) & np.isfinite(f)
    if ok.sum() < _MIN_POINTS:
        raise SearchError(
            f"{name}: only {int(ok.sum())} finite points (need >= {_MIN_POINTS}); "
            "check the quality mask and the flux column."
        )
    t, f = t[ok], f[ok]
    order = np.argsort(t, kind="stable")
    t, f = t[order], f[order]
    med = np.median(f)
    if not (np.isfinite(med) and med > 0):
        raise SearchError(f"{name}: the median flux is {med}; search() needs a normalized, "
                          "positive flux (run astrotinyml.detrend first).")
    return t, 1.0 - f / med


def _robust_sigma(y):
    med = np.median(y)
    s = 1.4826 * np.median(np.abs(y - med))
    if not (s > 0):
        s = np.std(y)
    return float(s) if s > 0 else 1e-12


#: Rank the spectrum by a correlated-noise statistic (False: the white-noise dchi2, for
#: comparisons).
_RED = True
#: Apply the SNR thresholds to the correlated-noise SNR of a peak (False: the white one).
_RED_THRESHOLDS = True


def _red_beta2(t, y, durations, sigma):
    """Red-noise factor ``beta(T)**2`` at each trial duration ``T``.

    The flux is averaged over ``|t - t_i| < T/2`` around every cadence (the estimator of
    vet's ``noise_red_ppm``: Pont et al. 2006, Hartman & Bakos 2016); ``sigma_r(T)`` is what
    the robust scatter of those means has beyond the white noise expected for their number
    of points, and ``beta**2 = 1 + sigma_r**2 n_T / sigma**2`` with ``n_T`` the median
    number of points in a window.  A box of ``n_T`` points per transit then has
    ``SNR_red**2 = dchi2 / beta**2`` (depth over ``sqrt(sigma**2/n_in + sigma_r**2/N_tr)``),
    the statistic ``detect`` thresholds (``mes_red``).  Computed once per spectrum: one
    number per duration.
    """
    out = np.ones(durations.size)
    if t.size < 20 or not sigma > 0:
        return out
    from . import _bls

    t = np.ascontiguousarray(t, dtype=float)
    cs = np.concatenate([[0.0], np.cumsum(y - np.median(y))])
    for q, T in enumerate(durations):
        # searchsorted(t, t -+ T/2) by one two-pointer sweep (t is sorted): same indices.
        lo, hi = _bls.window_bounds(t, 0.5 * T)
        n = hi - lo
        ok = n > 0
        if ok.sum() < 20:
            continue
        if not ok.all():  # (a window holds its own cadence, so all are kept in practice)
            lo, hi, n = lo[ok], hi[ok], n[ok]
        means = (cs[hi] - cs[lo]) / n
        excess = robust_std(means) ** 2 - sigma ** 2 * float(np.mean(1.0 / n))
        if excess > 0:
            out[q] = 1.0 + excess * float(np.median(n)) / sigma ** 2
    return out


def _sde(power, oversampling, return_std=False):
    """TLS-style SDE spectrum (peak normalised) from a raw power spectrum (and the
    scatter it was divided by, with ``return_std``)."""
    from scipy.ndimage import median_filter

    p = np.asarray(power, dtype=float)
    if p.size < 3 or not np.any(p > 0):
        return (np.zeros_like(p), 0.0) if return_std else np.zeros_like(p)
    raw = p - p.mean()
    kernel = int(oversampling * 30)
    kernel += 1 - kernel % 2
    if raw.size > 2 * kernel:
        raw = raw - median_filter(raw, size=kernel, mode="nearest")
    raw = raw - raw.mean()
    std = float(raw.std())
    sde = raw / std if std > 0 else np.zeros_like(raw)
    return (sde, std) if return_std else sde


class _Grid:
    def __init__(self, periods, cadence, oversampling, durations=None):
        self.periods = periods
        self.oversampling = oversampling
        # Boxes of one long cadence are mostly single outliers: two cadences (at most
        # 1 h) is the shortest duration tried; 10 min for short-cadence data.
        floor = max(min(2.0 * cadence, 1.0 / 24.0), 10.0 / 1440.0)
        self.dmin = np.maximum(_B_FACTOR * _t14_days(periods, _RHO_MAX), floor)
        # At most 12 % of the period (TLS) -- except where a central transit of a
        # Sun-density star is longer: below P ~ 0.5 d (ultra-short periods; K2-141 b,
        # 0.28 d: T14 ~ 0.9 h = 14 % of P) the cap would cut the true duration.
        self.dmax = np.minimum(_t14_days(periods, _RHO_MIN),
                               np.maximum(_QMAX * periods, _t14_days(periods, 1.0)))
        self.dmax = np.maximum(self.dmax, self.dmin)
        if durations is None:
            lo, hi = self.dmin.min(), self.dmax.max()
            n = int(math.ceil(math.log(hi / lo) / math.log(_DUR_STEP))) + 1
            durations = lo * _DUR_STEP ** np.arange(n)
        else:
            durations = np.sort(np.asarray(durations, dtype=float))
            # user durations are tried at every period they fit in
            self.dmin = np.full(periods.size, durations.min())
            self.dmax = np.maximum(np.minimum(durations.max(), 0.5 * periods), self.dmin)
        self.durations = np.ascontiguousarray(durations, dtype=float)
        self.binw = np.maximum(self.dmin / 2.0, cadence / 4.0)

    def subset(self, idx):
        """The grid at the periods ``idx`` (same global duration grid)."""
        g = object.__new__(_Grid)
        g.oversampling = self.oversampling
        g.durations = self.durations
        for key in ("periods", "dmin", "dmax", "binw"):
            setattr(g, key, np.ascontiguousarray(getattr(self, key)[idx]))
        return g


def _fold_eval(t, y, period, t0, dur, sigma):
    """Unbinned box statistics at one ephemeris."""
    phase = (t - t0 + 0.5 * period) % period - 0.5 * period
    inn = np.abs(phase) < 0.5 * dur
    n_in = int(inn.sum())
    n = y.size
    if n_in < 1 or n_in >= n:
        return None
    mean_in = y[inn].mean()
    mean_out = y[~inn].mean()
    depth = mean_in - mean_out
    dchi2 = depth ** 2 * n_in * (n - n_in) / n / sigma ** 2
    epoch = np.round((t - t0) / period).astype(np.int64)
    ep_in = epoch[inn]
    epochs, idx, counts = np.unique(ep_in, return_inverse=True, return_counts=True)
    sums = np.bincount(idx, weights=y[inn])
    dep_k = sums / counts - mean_out
    # per-transit chi-square improvement at the common depth
    contrib = (2 * depth * dep_k - depth ** 2) * counts / sigma ** 2
    snr = math.copysign(math.sqrt(abs(dchi2)), depth)
    if epochs.size > 1:
        k = int(np.argmax(contrib))
        rest = dchi2 - contrib[k]
        snr_wo = math.copysign(math.sqrt(abs(rest)), rest)
    else:
        snr_wo = 0.0
    odd = (epochs % 2) == 1
    if odd.any() and (~odd).any():
        n_odd, n_even = counts[odd].sum(), counts[~odd].sum()
        d_odd = sums[odd].sum() / n_odd - mean_out
        d_even = sums[~odd].sum() / n_even - mean_out
        # The error of the difference from the scatter of the transits' own depths about
        # their group's mean where there are enough of them (2+ degrees of freedom), never
        # below the white-noise one: on K2 and spotted-star residuals single transits
        # scatter several times more than white noise says (a 5300-ppm injection into
        # EPIC 247013709 gave 2800-8800 ppm against +-500), and planets were doubled to 2P.
        # An eclipsing binary's unequal eclipses are each as deep as the others of their kind.
        var_pt = sigma ** 2
        if epochs.size >= 4:
            resid = dep_k - np.where(odd, d_odd, d_even)
            var_pt = max(var_pt, float(np.sum(counts * resid ** 2)) / (epochs.size - 2))
        oe = abs(d_odd - d_even) / math.sqrt(var_pt * (1.0 / n_odd + 1.0 / n_even))
        oe_rel = abs(d_odd - d_even) / max(abs(depth), 1e-12)
    else:
        oe = float("nan")
        oe_rel = 0.0
    return dict(period=period, t0=t0, dur=dur, depth=depth, n_in=n_in, dchi2=dchi2, snr=snr,
                depth_err=sigma * math.sqrt(1.0 / n_in + 1.0 / (n - n_in)),
                n_transits=int(epochs.size), epochs=epochs, snr_wo=snr_wo, odd_even=oe,
                odd_even_diff=oe if np.isfinite(oe) else 0.0, odd_even_rel=oe_rel,
                mask=inn)


def _refine(t, y, p0, dp, dur0, cadence, sigma, bls, nmin, red=None, durs=None):
    """Local fine search around p0 (+-2 dp) and dur0 (x0.5-2; or the trial durations
    ``durs``) with fine phase bins; ``red`` (durations, beta**2) weights the durations by
    ``1 / beta**2``."""
    periods = np.linspace(max(p0 - 2 * dp, 1e-3), p0 + 2 * dp, 21)
    if durs is None:
        durs = dur0 * 1.1 ** np.arange(-7, 8)
    durs = durs[(durs >= 0.8 * cadence) & (durs < 0.3 * p0)]
    if durs.size == 0:
        return None
    binw = np.full(periods.size, max(durs[0] / 10.0, cadence / 5.0, p0 / 200000.0))
    pw, start, dur = bls.bls_best(t, y, periods, binw, np.ascontiguousarray(durs),
                                  float(nmin), _dur_weights(red, durs))
    i = int(np.argmax(pw))
    if pw[i] <= 0:
        return None
    return _fold_eval(t, y, periods[i], start[i] + 0.5 * dur[i], dur[i], sigma)


def _beta2_at(red, dur):
    """``beta**2`` at duration(s) ``dur`` (log interpolation; 1 without ``red``)."""
    if red is None:
        return np.ones_like(np.asarray(dur, dtype=float))
    d, b2 = red
    return np.interp(np.log(dur), np.log(d), b2)


def _dur_weights(red, durs):
    return None if red is None else np.ascontiguousarray(1.0 / _beta2_at(red, durs))


def _input_window(lc, cadence):
    """The filter window (days) the light curve was flattened with: ``DETREND_WINDOW``
    of :func:`astrotinyml.detrending.detrend`'s meta (in cadences for its savgol and
    medfilt methods), else the default window for it."""
    meta = getattr(lc, "meta", None) or {}
    try:
        w = float(meta.get("DETREND_WINDOW"))
    except (TypeError, ValueError):
        w = float("nan")
    if str(meta.get("DETREND_METHOD", "")).lower() in ("savgol", "medfilt"):
        w *= cadence
    if not (np.isfinite(w) and w > 0):
        from .detrending import default_window_length

        w = default_window_length(lc)
    return w


def _duration_bands(t, y, durations, window, cadence):
    """Flattenings of ``y`` for the short trial durations, and the durations each serves.

    A filter of window ``W`` fits part of every shallow dip into its trend: where a dip
    is within the noise of single points the biweight is a running mean, and a box of
    duration ``T`` keeps only ~``1 - T/W`` of its depth.  The default window is 3x the
    *longest* transit searched (~17 h for a K2 campaign), so a 3-h transit loses ~25 %
    (median over injections into real K2 light curves; up to ~45 % on spotted stars).
    Measured on 136 batman injections (1.3-5 h) into 34 real K2, TESS and Kepler light
    curves, as the SNR of the injected model on the noise of each flattening (a
    session-15 script in ``/tmp``, not kept): a window of 3 T14 gives a median 1.28x the
    SNR of the default window (4 T14 1.18x, 6 T14 1.0x), while windows longer than the
    default or with a notch at the transit lose (0.67-0.9x: they leave more noise than
    they keep depth).

    So the durations with ``3 T <= window * 0.6`` are searched a second time, on ``y``
    flattened again with that shorter window (at least ``_BAND_MIN_CADENCES`` cadences;
    ``_BAND_MAX`` such bands, each ``0.6`` of the one before).  The input flattening
    keeps every duration: a shorter window is a second chance for a short box, never the
    only one (a 5-h transit that the input window cut to a 3-h box is cut further by a
    shorter one).  A K2 campaign (17-h window) gets one band, 10.2 h, for boxes of
    1-3.4 h; a 30-min TESS FFI light curve (13-h window, 8-h floor) none.

    Returns a list of ``(y_band, served, window)`` with ``served`` a boolean mask over
    ``durations``; the first entry is ``y`` itself (all durations).  Empty when no band
    applies.
    """
    import wotan

    durations = np.asarray(durations, dtype=float)
    floor = _BAND_MIN_CADENCES * cadence
    windows = []
    w = float(window) * _BAND_STEP
    while len(windows) < _BAND_MAX and w >= floor and _BAND_RATIO * durations.min() <= w:
        windows.append(w)
        w *= _BAND_STEP
    band_of = np.zeros(durations.size, dtype=int)
    for j, w in enumerate(windows):
        band_of[_BAND_RATIO * durations <= w] = j + 1
    out = [(y, np.ones(durations.size, dtype=bool), float(window))]
    flux = 1.0 - y
    for j, w in enumerate(windows):
        served = band_of == j + 1
        if not served.any():
            continue
        _, trend = wotan.flatten(t, flux, method="biweight", window_length=w,
                                 break_tolerance=0.5 * w, edge_cutoff=0.0, return_trend=True)
        trend = np.asarray(trend, dtype=float)
        ok = np.isfinite(trend) & (trend > 0)
        yb = np.where(ok, 1.0 - flux / np.where(ok, trend, 1.0), y)
        out.append((np.ascontiguousarray(yb), served, w))
    if len(out) == 1:
        return []
    return out


def _is_valid(ev, min_transits):
    return (ev is not None and ev["depth"] > 0 and ev["n_transits"] >= min_transits
            and ev["snr_wo"] >= max(3.0, 0.4 * ev["snr"]))


def _mask_signal(t, sig, width, active):
    """Switch off (in place) the points of ``active`` inside ``sig``'s transits."""
    if sig["single"]:
        hit = np.abs(t - sig["t0"]) < 0.5 * width * sig["dur"]
    else:
        p = sig["period"]
        ph = (t - sig["t0"] + 0.5 * p) % p - 0.5 * p
        hit = np.abs(ph) < 0.5 * width * sig["dur"]
    active &= ~hit


def _mask_scale(snr):
    """Widen the mask of strong signals: their limb-darkened wings outside the box
    (depth ~ a few % of the box depth) still stand out at high SNR."""
    return float(np.interp(math.log10(max(snr, 1.0)), [1.5, 2.5], [1.0, 1.6]))


def _is_residual(sig, found):
    """Same period as an earlier signal and centred within 1.5 of its durations of it,
    or a third signal at one period (primary + secondary eclipse make two; more are
    leftovers of stellar variability at that period)."""
    same = [row for row in found if not row["single"]
            and abs(sig["period"] / row["period"] - 1.0) < 2e-3]
    if len(same) >= 2:
        return True
    for row in found:
        if row["single"]:
            continue
        p = row["period"]
        if abs(sig["period"] / p - 1.0) > 2e-3:
            continue
        dphase = (sig["t0"] - row["t0"] + 0.5 * p) % p - 0.5 * p
        if abs(dphase) < 1.5 * row["dur"]:
            return True
    return False


def _strongest_elsewhere(sde, periods, near):
    """Highest SDE of a spectrum at trial periods not within 0.2 % of a period in ``near``
    or of its 1/3, 1/2, 2/3, 3/2, 2 or 3 times (the aliases of a signal are that signal)."""
    keep = np.ones(periods.size, dtype=bool)
    for p in near:
        for fac in _ALIAS_FACTORS:
            keep &= np.abs(periods / (p * fac) - 1.0) >= 2e-3
    return float(sde[keep].max()) if keep.any() else 0.0


def _sde_in_last(last, period, snr, sigma):
    """SDE a signal of correlated-noise SNR ``snr`` at ``period`` would have in the spectrum
    ``last`` (power, sde, periods, std): that spectrum's SDE at the nearest trial period,
    moved by the change of power (power is ``(snr * sigma)**2``)."""
    j = int(np.argmin(np.abs(last["periods"] - period)))
    return float(last["sde"][j] + ((snr * sigma) ** 2 - last["power"][j]) / last["std"])


def _leftover_at_found(t, y, found, grid, cadence, sigma, bls, nmin, min_transits,
                       snr_threshold, red):
    """The strongest box at the period of an earlier periodic signal in ``found`` (free
    phase and duration, local period refinement) that passes ``snr_threshold`` and is a
    leftover of it (:func:`_is_residual`), or None."""
    best = None
    for row in found:
        if row["single"] or not np.isfinite(row["period"]):
            continue
        p = row["period"]
        pc = float(np.clip(p, grid.periods[0], grid.periods[-1]))
        # the durations the spectrum searches at that period: a leftover it cannot see
        # (a contact binary's 0.3-period-long dips) is not its next pick
        k = int(np.argmin(np.abs(grid.periods - pc)))
        durs = grid.durations[(grid.durations >= grid.dmin[k]) & (grid.durations <= grid.dmax[k])]
        ev = _refine(t, y, p, _dp_at(grid.periods, pc), row["dur"], cadence, sigma, bls, nmin,
                     red=red, durs=np.ascontiguousarray(durs))
        if not _is_valid(ev, min_transits):
            continue
        ev["snr_red"] = ev["snr"] / math.sqrt(float(_beta2_at(red, ev["dur"])))
        if (ev["snr_red"] if _RED_THRESHOLDS else ev["snr"]) < snr_threshold:
            continue
        if not _is_residual(ev, found):
            continue
        if best is None or ev["snr_red"] > best["snr_red"]:
            best = ev
    return best


def _subharmonic_parent(sig, found, t, y, sigma):
    """The earlier periodic signal whose period is 2 or 3 times ``sig``'s (within 0.2 %), on
    whose transits every 2nd (3rd) transit of ``sig`` falls, and whose depth (measured on all
    points ``t, y`` with ``sig``'s box) differs from ``sig``'s, or None.

    Such a signal's transits at phase 0 of the earlier one are masked, so ``sig`` is made of
    dips at other phases of the earlier period.  With another depth they are a secondary
    eclipse or the other half of a quasi-sinusoidal variation: the same periodicity, not a
    new body at exactly P/2.  With the same depth (as the odd/even test of ``_alias_choice``
    judges it) the earlier signal was the 2P alias of a planet at ``sig``'s period, whose
    other transits these are (WASP-47, the EB KIC 2306740 found at 2P first): ``sig`` stays."""
    for row in found:
        if row["single"] or not np.isfinite(row["period"]):
            continue
        r = row["period"] / sig["period"]
        if not any(abs(r / k - 1.0) < 2e-3 for k in (2.0, 3.0)):
            continue
        # Every 2nd (3rd) transit of sig on a masked transit of the earlier signal; otherwise
        # sig is a periodicity of its own (the secondary eclipses of an EB found at 2P first).
        p = sig["period"]
        if abs((row["t0"] - sig["t0"] + 0.5 * p) % p - 0.5 * p) > 0.5 * max(sig["dur"], row["dur"]):
            continue
        # the earlier signal's depth in a box of sig's duration (box depths of different
        # durations differ on V-shaped eclipses)
        ev = _fold_eval(t, y, row["period"], row["t0"], sig["dur"], sigma)
        if ev is None:
            continue
        diff = abs(sig["depth"] - ev["depth"])
        err = math.hypot(sig["depth_err"], ev["depth_err"])
        if diff > _ODD_EVEN_SIGMA * err and diff > _ODD_EVEN_REL * max(abs(ev["depth"]), 1e-12):
            return row
    return None


def _at_parent_period(t, y, sig, parent, sigma, min_transits, red):
    """``sig`` (at P/2 or P/3 of ``parent``) folded at the parent's period at its own phase,
    or None when that is not a valid signal (then it is a residual of the parent)."""
    ev = _fold_eval(t, y, parent["period"], sig["t0"], sig["dur"], sigma)
    if not _is_valid(ev, min_transits):
        return None
    ev.update(sde=sig["sde"], first_epoch=int(ev["epochs"].min()),
              snr_red=ev["snr"] / math.sqrt(float(_beta2_at(red, ev["dur"]))))
    return ev


def _harmonic_of(period, found):
    for row in found:
        if row["single"] or not np.isfinite(row["period"]):
            continue
        r = period / row["period"]
        for m in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0, 1.5, 2.0 / 3.0, 4.0, 0.25, 5.0, 0.2):
            if abs(r / m - 1.0) < 2e-3:
                return row["index"]
    return 0


def search(lc, *, period_min=None, period_max=None, max_planets=5, min_transits=2,
           sde_threshold=None, snr_threshold=None, oversampling=3.0, durations=None,
           single_events=True, single_event_snr=None, max_single_events=3,
           mask_width=1.5, n_threads=None):
    """Find periodic transit signals (and strong single events) in a detrended light curve.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Detrended light curve (from :func:`astrotinyml.detrending.detrend`), flux ~1.
    period_min : float, optional
        Shortest trial period (days).  Default :data:`DEFAULT_PERIOD_MIN` (0.5 d).
        :data:`ROCHE_PERIOD_MIN` (0.2 d, the Roche limit of a dense rocky planet) finds
        ultra-short-period planets at their period instead of 2P or 4P, at the price of
        more false alarms at the default SDE threshold.
    period_max : float, optional
        Longest trial period (days).  Default: baseline / ``min_transits``, so that
        ``min_transits`` transits can occur.
    max_planets : int
        Most signals to report, periodic signals and single events together (the table
        never has more rows than this).
    min_transits : int
        Transits with data a periodic signal needs.
    sde_threshold : float, optional
        Minimum SDE; default :data:`DEFAULT_SDE_THRESHOLD`.
    snr_threshold : float, optional
        Minimum correlated-noise SNR (box SNR over the red-noise factor ``beta`` at the
        signal's duration) of periodic signals; default :data:`DEFAULT_SNR_THRESHOLD`.
    oversampling : float
        Period-grid oversampling (TLS's default 3).
    durations : array-like, optional
        Trial durations (days) instead of the physical per-period duration range.
    single_events : bool
        Report single deep events (mono-transits).
    single_event_snr : float, optional
        Correlated-noise SNR a single event needs; default :data:`DEFAULT_SINGLE_EVENT_SNR`.
    max_single_events : int
        Most single events to report (within ``max_planets``).
    mask_width : float
        Width masked around each found transit before the next iteration, in durations.
    n_threads : int, optional
        Threads of the box search (over blocks of trial periods).  Default: numba's
        setting, i.e. all cores unless ``NUMBA_NUM_THREADS`` or
        ``numba.set_num_threads`` says otherwise; pass 1 when running several searches
        side by side (one per process).  The result does not depend on it.

    Returns
    -------
    astropy.table.QTable
        One row per signal, in the order found (the strongest periodic signal first):
        ``pl_orbper`` (d; NaN for single events), ``pl_tranmid`` (d, full BJD_TDB of the
        first transit with data), ``pl_trandurh`` (h; box duration), ``pl_trandep``
        (ppm, plain float: astropy has no ppm unit; mean in-box depth), ``snr``, ``sde``
        (NaN for single events), ``n_transits`` (transits with data), and the extra
        columns ``planet_index`` (1..n in detection order), ``single_event`` (bool),
        ``harmonic_of`` (``planet_index`` of an earlier signal whose period is a
        1, 2, 3, 1/2, 1/3, 3/2, 2/3, 4, 1/4, 5 or 1/5 multiple of this one (within
        0.2 %), else 0; 1 with the same period means e.g. a secondary eclipse),
        ``depth_err_ppm`` (the odd/even test is :func:`astrotinyml.vetting.vet`'s ``oddeven_sigma``),
        ``n_in_transit`` (points in the box).  ``meta`` holds the target name, the grid
        size, the thresholds, the run time and ``band_windows_d``: the windows (d) of the
        extra flattenings the short durations were also searched on (see Notes).  An
        empty table (same columns) means nothing passed.

    Notes
    -----
    One filter window cannot suit every trial duration: the default (3x the longest
    transit searched, ~17 h for a K2 campaign) fits ~25 % of a shallow 3-h transit into
    the trend.  On periodic searches of ordinary grids (not the coarse-to-fine grids of
    long baselines, where a spectrum is the expensive part) the durations up to a fifth
    of the input's window (``DETREND_WINDOW`` of its meta) are also searched on the
    input flattened again with a window 0.6 times as long (at least 16 cadences), and
    the stronger of the two wins at each period.  On 45 real K2, TESS and Kepler light
    curves (450 injections, ``benchmarks/injection_recovery.py --big --host-stride 3``)
    this raised recovery at correlated-noise SNR 10 from 0.64 to 0.71, at the cost of
    one more spectrum per iteration.

    Raises
    ------
    SearchError
        Fewer than 50 finite points, a baseline too short for ``min_transits`` transits
        of ``period_min``, or a non-positive median flux.
    InvalidParameterError
        Inconsistent options (e.g. ``period_min >= period_max``).

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> rng = np.random.default_rng(1)
    >>> t = np.arange(0, 20, 0.01)
    >>> flux = 1 + rng.normal(0, 1e-3, t.size)
    >>> flux[np.abs((t - 0.7 + 1.5) % 3.0 - 1.5) < 0.06] -= 3e-3
    >>> res = search(lk.LightCurve(time=t, flux=flux), max_planets=1)
    >>> round(float(res["pl_orbper"][0].value), 2)
    3.0
    """
    from . import _bls as bls

    t_start = _time.perf_counter()
    name = _target_name(lc)
    sde_threshold, snr_threshold, single_event_snr = _check_search_options(
        max_planets=max_planets, min_transits=min_transits, max_single_events=max_single_events,
        oversampling=oversampling, mask_width=mask_width, n_threads=n_threads, sde_threshold=sde_threshold,
        snr_threshold=snr_threshold, single_event_snr=single_event_snr, period_min=period_min,
        period_max=period_max)
    t_abs, y = _prepare(lc, name)
    t_ref = float(np.floor(t_abs[0]))
    t = t_abs - t_ref
    baseline = float(t[-1] - t[0])
    dt = np.diff(t)
    cadence = float(np.median(dt[dt > 0])) if np.any(dt > 0) else 0.0
    if not cadence > 0:
        raise SearchError(f"{name}: all time stamps are equal; cannot search.")
    pmin = DEFAULT_PERIOD_MIN if period_min is None else float(period_min)
    pmax = baseline / min_transits if period_max is None else float(period_max)
    if period_max is None and pmax <= pmin:
        raise SearchError(
            f"{name}: the baseline of {baseline:.2f} d is too short for {min_transits} "
            f"transits of periods >= {pmin} d; pass a smaller period_min or min_transits=1."
        )
    if pmax <= pmin:
        raise InvalidParameterError(
            f"{name}: period_min ({pmin}) must be smaller than period_max ({pmax})."
        )

    # Upward outliers (flares, cosmic rays) only add noise to a dip search.
    keep = ~upper_outliers(-y)
    t, y, t_abs = t[keep], y[keep], t_abs[keep]

    periods = period_grid(baseline=baseline, period_min=pmin, period_max=pmax,
                          oversampling=oversampling)
    grid = _Grid(periods, cadence, oversampling, durations)
    # Coarse-to-fine: the spectrum is computed at every ``step``-th trial period (a grid
    # oversampled ~1x) and the strongest peaks are then evaluated at the full grid
    # around them (``_coarse_fine_spectrum``).
    step = (max(1, int(round(oversampling)))
            if _COARSE and periods.size >= _COARSE_MIN_PERIODS else 1)
    nmin = 3.0
    # Short trial durations on flattenings with windows matched to them (see
    # ``_duration_bands``).  Not on coarse-to-fine grids (long baselines): each band
    # costs a spectrum, and there a spectrum is the expensive part.
    bands, band_windows = [], []
    if _BANDS and step == 1:
        bands = _duration_bands(t, y, grid.durations, _input_window(lc, cadence), cadence)
        band_windows = [w for _, _, w in bands[1:]]

    active = np.ones(t.size, dtype=bool)
    found = []
    n_periodic = 0
    n_single = 0
    n_spectra = 0
    n_residual = 0
    n_peeled = 0
    last = None   # the last spectrum, and its strongest SDE away from the found periods
    # max_planets caps the rows reported, single events included (a user asking for 3 gets
    # at most 3); periodic signals are searched first, so they keep their places.
    while len(found) < max_planets and (n_periodic < max_planets
                                         or (single_events and n_single < max_single_events)):
        tt = np.ascontiguousarray(t[active])
        yy = y[active]
        if tt.size < _MIN_POINTS:
            break
        yy = np.ascontiguousarray(yy - np.median(yy))
        sigma = _robust_sigma(yy)
        # Correlated noise: each trial duration's dchi2 is divided by its red-noise
        # factor beta(T)**2, so that the spectrum (and its SDE) ranks by an SNR like
        # detect's mes_red; left-over variability at long durations then no longer
        # outranks a transit.
        red = (grid.durations, _red_beta2(tt, yy, grid.durations, sigma)) if _RED else None
        if (_PEEL and step > 1 and n_peeled < _MAX_PEELS and last is not None
                and last["std"] > 0):
            left = _leftover_at_found(tt, yy, found, grid, cadence, sigma, bls, nmin,
                                      min_transits, snr_threshold, red)
            if left is not None and (_sde_in_last(last, left["period"], left["snr_red"], sigma)
                                     >= max(sde_threshold, _PEEL_MARGIN * last["other"])):
                # A leftover of an earlier signal at its period (an eclipsing binary's
                # phase curve, eclipse wings) that outranks every other peak of the last
                # spectrum would be the next spectrum's pick, and be masked: it is found
                # and masked here without that spectrum (~1 s on full-mission Kepler data;
                # this check ~10 ms).  One that does not waits for the spectrum, so that
                # a planet in an EB's light curve is found before more of it is masked,
                # as with spectra only.  Only on long grids (coarse-to-fine, ``step > 1``):
                # where a spectrum costs little (TESS sectors, K2 campaigns) the spectrum
                # decides, since the estimate can rank a leftover first that the spectrum
                # would not (a K2 field star's later rows changed).
                n_peeled += 1
                left["single"] = False
                _mask_signal(t, left, 2.0 * mask_width, active)
                continue
        dwt = _dur_weights(red, grid.durations)
        accepted = None
        if n_periodic < max_planets:
            band_data = band_of = None
            if bands:
                band_data = [(yy, sigma, red, bands[0][1])]
                for yb, served, _ in bands[1:]:
                    yyb = yb[active]
                    yyb = np.ascontiguousarray(yyb - np.median(yyb))
                    sb = _robust_sigma(yyb)
                    rb = (grid.durations, _red_beta2(tt, yyb, grid.durations, sb)) if _RED else None
                    band_data.append((yyb, sb, rb, served))
                power, sde_spec, sde_std, band_of = _banded_spectrum(
                    tt, band_data, grid, cadence, nmin, bls, n_threads)
                p_eff, cgrid = grid.periods, grid
            else:
                power, sde_spec, p_eff, cgrid, sde_std = _coarse_fine_spectrum(
                    tt, yy, grid, step, cadence, nmin, bls, n_threads, dwt=dwt)
            n_spectra += 1
            accepted = _best_periodic(tt, yy, p_eff, power, sde_spec, cgrid,
                                      cadence, sigma, bls, nmin, min_transits, pmin,
                                      baseline, sde_threshold, snr_threshold, periods,
                                      red=red, bands=band_data, band_of=band_of)
            if _PEEL and step > 1:
                near = [row["period"] for row in found if not row["single"]]
                last = dict(power=power, sde=sde_spec, periods=p_eff, std=sde_std,
                            other=_strongest_elsewhere(
                                sde_spec, p_eff,
                                near + ([] if accepted is None else [accepted["period"]])))
        parent = None if accepted is None else _subharmonic_parent(accepted, found, t, y, sigma)
        if parent is not None:
            # A signal at P/2 or P/3 of an earlier one is the earlier period at another phase
            # (EPIC 210491860: a real 1.007-d signal came back at 0.5035 d and was labelled
            # planet): it is reported at the parent's period (detect then merges it as the
            # secondary eclipse), or masked as a leftover when it is not a signal there.
            at_parent = _at_parent_period(tt, yy, accepted, parent, sigma, min_transits, red)
            # A leftover of the parent is masked at its own period, i.e. at every P/2 (P/3)
            # phase: at the parent's period its t0 (folded at P/2) may be the parent's
            # already-masked phase, and then nothing new would be masked and the same
            # leftover could come back at every iteration until the residual cap.
            accepted = at_parent if at_parent is not None else dict(accepted, residual=True)
        if accepted is not None and (accepted.pop("residual", False) or _is_residual(accepted, found)):
            # Leftover of an earlier signal at the same period right beside its masked
            # transits (limb-darkened wings, phase-curve shoulders): mask it, don't report.
            n_residual += 1
            accepted["single"] = False
            _mask_signal(t, accepted, 2.0 * mask_width, active)
            if n_residual > 2 * max_planets:
                break
            continue
        if accepted is not None:
            n_periodic += 1
            accepted["single"] = False
        elif single_events and n_single < max_single_events:
            ev = _best_single(tt, yy, grid, cadence, sigma, bls, red=red)
            if ev is None or (ev["snr_red"] if _RED_THRESHOLDS else ev["snr"]) < single_event_snr:
                break
            n_single += 1
            accepted = ev
        else:
            break
        accepted["index"] = len(found) + 1
        accepted["harmonic_of"] = (0 if accepted["single"]
                                   else _harmonic_of(accepted["period"], found))
        found.append(accepted)
        _mask_signal(t, accepted, _mask_scale(accepted["snr"]) * mask_width, active)

    table = _signals_table(found, t_ref)
    table.meta.update({
        "target": name,
        "search_method": "astrotinyml BLS (Ofir grid, binned cumulative-sum box scan)",
        "period_min": pmin, "period_max": pmax, "n_periods": int(periods.size),
        "n_durations": int(grid.durations.size), "oversampling": float(oversampling),
        "sde_threshold": sde_threshold, "snr_threshold": snr_threshold,
        "single_event_snr": single_event_snr, "min_transits": int(min_transits),
        "baseline_days": baseline, "n_points": int(t.size), "n_spectra": n_spectra,
        "band_windows_d": [float(w) for w in band_windows],
        "run_time_s": _time.perf_counter() - t_start,
    })
    return table


def _check_search_options(*, max_planets, min_transits, max_single_events, oversampling, mask_width, n_threads,
                          sde_threshold, snr_threshold, single_event_snr, period_min, period_max):
    """Refuse bad options of :func:`search` with one clear error; the three thresholds with their defaults."""
    for key, val in (("max_planets", max_planets), ("min_transits", min_transits),
                     ("max_single_events", max_single_events)):
        if not (isinstance(val, (int, np.integer)) and val >= (1 if key == "min_transits" else 0)):
            raise InvalidParameterError(f"{key} must be a non-negative integer "
                                        f"(min_transits >= 1), got {val!r}.")
    if not (oversampling > 0):
        raise InvalidParameterError(f"oversampling must be > 0, got {oversampling!r}.")
    if not (mask_width > 0):
        raise InvalidParameterError(f"mask_width must be > 0, got {mask_width!r}.")
    if n_threads is not None and not (isinstance(n_threads, (int, np.integer)) and n_threads >= 1):
        raise InvalidParameterError(f"n_threads must be a positive integer or None, "
                                    f"got {n_threads!r}.")
    sde_threshold = DEFAULT_SDE_THRESHOLD if sde_threshold is None else float(sde_threshold)
    snr_threshold = DEFAULT_SNR_THRESHOLD if snr_threshold is None else float(snr_threshold)
    single_event_snr = (DEFAULT_SINGLE_EVENT_SNR if single_event_snr is None
                        else float(single_event_snr))
    if period_min is not None and period_max is not None and period_min >= period_max:
        raise InvalidParameterError(
            f"period_min ({period_min}) must be smaller than period_max ({period_max})."
        )
    if period_min is not None and not period_min > 0:
        raise InvalidParameterError(f"period_min must be > 0 days, got {period_min!r}.")
    return sde_threshold, snr_threshold, single_event_snr


def _signals_table(found: list[dict], t_ref: float):
    """The candidates table of the accepted signals (mid-times of their first transit with data)."""
    import astropy.units as u
    from astropy.table import QTable

    rows = []
    for sig in found:
        t0 = sig["t0"]
        if not sig["single"]:
            # first transit with data
            t0 = t0 + sig["first_epoch"] * sig["period"]
        rows.append(sig | {"tranmid": t0 + t_ref})
    table = QTable()
    nan = float("nan")
    table["planet_index"] = np.array([r["index"] for r in rows], dtype=int)
    table["pl_orbper"] = np.array([nan if r["single"] else r["period"] for r in rows],
                                  dtype=float) * u.day
    table["pl_tranmid"] = np.array([r["tranmid"] for r in rows], dtype=float) * u.day
    table["pl_trandurh"] = np.array([r["dur"] * 24.0 for r in rows], dtype=float) * u.hour
    table["pl_trandep"] = np.array([r["depth"] * 1e6 for r in rows], dtype=float)
    table["snr"] = np.array([r["snr"] for r in rows], dtype=float)
    table["sde"] = np.array([nan if r["single"] else r["sde"] for r in rows], dtype=float)
    table["n_transits"] = np.array([r["n_transits"] for r in rows], dtype=int)
    table["single_event"] = np.array([r["single"] for r in rows], dtype=bool)
    table["harmonic_of"] = np.array([r["harmonic_of"] for r in rows], dtype=int)
    table["depth_err_ppm"] = np.array([r["depth_err"] * 1e6 for r in rows], dtype=float)
    table["n_in_transit"] = np.array([r["n_in"] for r in rows], dtype=int)
    table["pl_trandep"].description = "transit depth (ppm; mean in-box depth)"
    table["pl_tranmid"].description = "mid-transit time of the first transit in the data (BJD_TDB)"
    return table


def _spectrum(t, y, grid, cadence, nmin, bls, n_threads=None, direct=False, dwt=None):
    """Coarse power spectrum, period band by period band.

    Where the phase bins are several cadences wide (long periods, short cadences) the
    light curve is first summed into time bins of ``cadence * 2**k`` no wider than 3/4 of
    a phase bin: the fold then costs less and the box statistic barely changes (peaks are
    refined on the unbinned data anyway).  TLS pre-bins in the same spirit.  Within a band
    the periods are cut into blocks (:func:`_plan_blocks`) that fold either every period
    directly or reuse per-chunk folds, and the blocks run on ``n_threads`` threads.
    ``dwt`` weights each trial duration's power (``1 / beta(T)**2``, see ``_red_beta2``).
    """
    periods = grid.periods
    power = np.zeros(periods.size)
    level = np.floor(np.log2(np.maximum(0.75 * grid.binw / cadence, 1.0))).astype(int)
    ones = None
    for k in np.unique(level):
        sel = np.flatnonzero(level == k)
        if k <= 0:
            if ones is None:
                ones = np.ones(t.size)
            tb, yb, wb = t, y, ones
        else:
            tb, yb, wb = bls.time_bin(t, y, cadence * 2.0 ** k * 0.999)
        p_sel = np.ascontiguousarray(periods[sel])
        b_sel = np.ascontiguousarray(grid.binw[sel])
        plan = _plan_blocks(p_sel, b_sel, float(tb[-1] - tb[0]), tb.size, direct)
        extra = () if dwt is None else (dwt,)
        power[sel] = _run_blocks(bls, n_threads, tb, yb, wb, p_sel, b_sel, grid.durations,
                                 np.ascontiguousarray(grid.dmin[sel]),
                                 np.ascontiguousarray(grid.dmax[sel]), float(nmin), *plan,
                                 *extra)
    return power


# Relative costs (measured, see benchmarks/search_scaling.py): folding one point into a
# phase bin (a scattered read-modify-write) against adding one float of a chunk fold
# (a contiguous, vectorised add).
_COST_POINT = 1.0
_COST_ADD = 0.08
_MAX_BLOCK = 512
_DIRECT_BLOCK = 32


#: Coarse-to-fine spectrum on (False: every trial period at full cost; for comparisons).
_COARSE = True
#: Fewest trial periods for the coarse-to-fine spectrum: below (a TESS sector has ~2,700,
#: K2 campaigns ~9,000) the full grid costs little and is kept as it is.
_COARSE_MIN_PERIODS = 20000
#: Coarse-spectrum peaks re-evaluated at the full grid (by SDE, plus distinct peaks).
_N_REFINE = 200


def _coarse_fine_spectrum(t, y, grid, step, cadence, nmin, bls, n_threads=None, dwt=None):
    """Spectrum at every ``step``-th period, with its strongest peaks re-evaluated at the
    full grid.

    The coarse grid (``oversampling / step`` ~ 1 trial period per transit duration of
    phase drift) costs ``step`` times less.  A true signal between two coarse periods
    loses part of its power there (at worst its transits at the ends of the baseline are
    half a duration off), but it stays among the strongest coarse peaks: the
    ``_N_REFINE`` highest coarse SDE values and the 20 strongest distinct peaks are
    evaluated at the fine periods within half a coarse step (the full grid), and each
    keeps its best fine value and period.  The SDE normalisation (mean, scatter, running
    median over the same period span) comes from the coarse spectrum, whose values have
    the same distribution as those of the full grid.

    Returns the coarse power (refined where evaluated), its SDE, the coarse periods
    (replaced by the best fine period where refined), the coarse grid and the scatter
    the SDE was divided by.
    """
    n = grid.periods.size
    cidx = np.arange(0, n, step)
    cgrid = grid.subset(cidx)
    over = grid.oversampling / step
    power = _spectrum(t, y, cgrid, cadence, nmin, bls, n_threads, dwt=dwt)
    p_eff = cgrid.periods.copy()
    sde, std = _sde(power, over, return_std=True)
    if step > 1 and cidx.size > 3 and std > 0:
        sde0 = sde
        top = np.argsort(sde0)[::-1][:_N_REFINE]
        top = np.unique(np.concatenate([top, np.asarray(_peaks(sde0, p_eff, 20), dtype=int)]))
        half = step // 2
        offs = np.array([o for o in range(-half, step - half) if o != 0])
        fine = (cidx[top][:, None] + offs[None, :]).ravel()
        ok = (fine >= 0) & (fine < n)
        fine_ok = fine[ok]
        pw = np.full(fine.size, -np.inf)
        pw[ok] = _spectrum(t, y, grid.subset(fine_ok), cadence, nmin, bls, n_threads,
                           direct=True, dwt=dwt)
        pw = pw.reshape(top.size, offs.size)
        best = np.argmax(pw, axis=1)
        better = pw[np.arange(top.size), best] > power[top]
        sel = top[better]
        new = pw[better, best[better]]
        # The normalisation (mean, running median, scatter) stays that of the plain
        # coarse spectrum: raising only its top values would inflate the scatter and
        # lower every SDE (on short grids the refined peaks are a good part of it).
        sde = sde0.copy()
        sde[sel] += (new - power[sel]) / std
        power[sel] = new
        p_eff[sel] = grid.periods[cidx[sel] + offs[best[better]]]
    cgrid.periods = p_eff
    return power, sde, p_eff, cgrid, std


def _banded_spectrum(t, bands, grid, cadence, nmin, bls, n_threads=None):
    """Spectrum over duration bands (``_duration_bands``): each band's power at the
    durations it serves, on its own flattening and scaled to the input flattening's
    noise level; the strongest band at each period wins.

    ``bands`` holds ``(y, sigma, red, served)`` per band, the first the input
    flattening (all durations).  Returns the power (in the units of :func:`_spectrum`
    on the input flattening, each band scaled to its median), its SDE, the scatter the
    SDE was divided by, and the winning band at each period.
    """
    powers, used = [], []
    for j, (yb, sb, rb, served) in enumerate(bands):
        w = _dur_weights(rb, grid.durations)
        w = np.where(served, 1.0 if w is None else w, 0.0)
        pw = _spectrum(t, yb, grid, cadence, nmin, bls, n_threads, dwt=np.ascontiguousarray(w))
        # Each band is scaled to the input flattening's noise level by the median of its
        # spectrum (the typical best box of noise), not by its robust sigma: a short
        # window leaves K2's 6-h roll systematics as sparse tails that the robust sigma
        # ignores, and its powers would then outrank the input's everywhere (EPIC
        # 211436265 with a 6-h band: median power 1.6x the input's, a 31.6-d junk peak
        # first, and the injected planet lost).
        med = float(np.median(pw))
        if powers and not med > 0:
            continue
        powers.append(pw if not powers else pw * (np.median(powers[0]) / med))
        used.append(j)
    stack = np.vstack(powers)
    band_of = np.asarray(used)[np.argmax(stack, axis=0)]
    power = stack.max(axis=0)
    sde, std = _sde(power, grid.oversampling, return_std=True)
    return power, sde, std, band_of


def _plan_blocks(periods, binw, span, npts, direct=False):
    """Cut an ascending period grid into blocks for ``_bls.bls_power_blocks``.

    For each block either direct folds (``k = 0``) or folded-sum reuse with ``k`` time
    chunks and ``r`` sub-bins per phase bin, whichever costs less.  The reuse moves a
    point's phase by at most ``0.5 / r`` bin (rounded roll) plus the drift of its chunk,
    ``(span / k) * W * nb / 4`` bins for a block ``W`` wide in frequency; both together
    are kept within ``max(0.25, D / 6)`` bins, where ``D`` is the phase drift (in bins,
    over the data span) between neighbouring trial periods: at most a sixth of the grid's
    own spacing and never over a quarter bin, so the reuse costs less sensitivity than the
    period grid already does.
    """
    n = periods.size
    f = 1.0 / periods
    nb = np.ceil(periods / binw).astype(np.int64)
    if n > 1:
        drift = span * np.abs(np.gradient(f)) * nb
    else:
        drift = np.full(n, np.inf)
    budget = np.maximum(0.25, drift / 6.0)
    sub = np.where(budget < 0.5, 4, np.where(budget < 1.0, 2, 1)).astype(np.int64)
    bdrift = budget - 0.5 / sub
    from . import _bls

    starts, ends, nbs, rs, ks = _bls.plan_blocks_loop(
        nb, f, drift, sub, bdrift, float(span), float(npts), bool(direct), _COST_POINT,
        _COST_ADD, _MAX_BLOCK, _DIRECT_BLOCK)
    order = np.random.default_rng(0).permutation(len(starts)).astype(np.int64)
    return starts, ends, nbs, rs, ks, order


_PARALLEL_LOCK = threading.Lock()


def _run_blocks(bls, n_threads, *args):
    """The block kernel on ``n_threads`` threads (None: numba's setting, by default all
    cores or ``NUMBA_NUM_THREADS``).  One parallel launch at a time per process: a
    second thread searching meanwhile (e.g. a batch target past its time limit) runs the
    serial compilation instead of sharing numba's thread pool."""
    if n_threads == 1 or not _PARALLEL_LOCK.acquire(blocking=False):
        return bls.bls_power_blocks_serial(*args)
    try:
        import numba

        prev = numba.get_num_threads()
        want = prev if n_threads is None else int(n_threads)
        numba.set_num_threads(max(1, min(want, numba.config.NUMBA_NUM_THREADS)))
        try:
            return bls.bls_power_blocks(*args)
        finally:
            numba.set_num_threads(prev)
    finally:
        _PARALLEL_LOCK.release()


def _peaks(sde_spec, periods, max_peaks=5):
    """Indices of the strongest distinct peaks (periods > 1 % apart)."""
    order = np.argsort(sde_spec)[::-1]
    chosen = []
    for i in order[: max(2000, 50 * max_peaks)]:
        p = periods[i]
        if all(abs(p / periods[j] - 1.0) > 0.01 for j in chosen):
            chosen.append(int(i))
            if len(chosen) >= max_peaks:
                break
    return chosen


def _best_periodic(t, y, periods, power, sde_spec, grid, cadence, sigma, bls,
                   nmin, min_transits, pmin, baseline, sde_threshold, snr_threshold,
                   fine_periods=None, red=None, bands=None, band_of=None):
    """Strongest peak that is a valid periodic signal passing the thresholds, or None.

    With ``bands`` (``(y, sigma, red, served)`` per duration band, see
    ``_banded_spectrum``) each peak is evaluated on the flattening whose band won its
    period (``band_of``), at the durations that band serves.
    """
    y0, sigma0, red0 = y, sigma, red
    for i in _peaks(sde_spec, periods, max_peaks=8):
        if power[i] <= 0 or sde_spec[i] < 0.5 * sde_threshold:
            break
        # Refining costs as much as a spectrum over all peaks: only peaks that can pass
        # (a strong one may pass at half the SDE threshold) are refined.
        if sde_spec[i] < 0.8 * sde_threshold and power[i] < (0.8 * _STRONG_SNR * sigma0) ** 2:
            continue
        served = np.ones(grid.durations.size, dtype=bool)
        y, sigma, red = y0, sigma0, red0
        if bands is not None:
            y, sigma, red, served = bands[int(band_of[i])]
        durs = grid.durations[(grid.durations >= grid.dmin[i])
                              & (grid.durations <= grid.dmax[i]) & served]
        if durs.size == 0:
            continue
        _, _, dur0 = bls.bls_best(t, y, periods[i:i + 1], grid.binw[i:i + 1],
                                  np.ascontiguousarray(durs), float(nmin),
                                  _dur_weights(red, durs))
        ev = _alias_choice(t, y, i, periods, float(dur0[0]), cadence, sigma, bls, nmin,
                           min_transits, pmin, baseline, fine_periods, red=red)
        if ev is None:
            continue
        # SDE of the spectrum near the chosen period (it may be an alias of the peak)
        j = int(np.clip(np.searchsorted(periods, ev["period"]), 0, periods.size - 1))
        lo, hi = max(j - 3, 0), min(j + 4, periods.size)
        ev["sde"] = float(max(sde_spec[lo:hi].max(), sde_spec[i] if
                              abs(ev["period"] / periods[i] - 1) < 1e-2 else -np.inf))
        ev["first_epoch"] = int(ev["epochs"].min())
        ev["snr_red"] = ev["snr"] / math.sqrt(float(_beta2_at(red, ev["dur"])))
        # Thresholds on the correlated-noise SNR (the white one on white noise)
        snr = ev["snr_red"] if _RED_THRESHOLDS else ev["snr"]
        if snr >= snr_threshold and (
                ev["sde"] >= sde_threshold
                or (snr >= _STRONG_SNR and ev["sde"] >= 0.5 * sde_threshold)):
            if red is not None:
                # Detected on the correlated-noise statistic; the reported ephemeris and
                # duration are fitted on the white one: the 1/beta(T)**2 weights favour
                # short boxes (beta grows with T), which biases the measured duration and
                # period (WASP-18 b: 1.61 h against 1.81 h, period off by 2.5e-4).
                fine = periods if fine_periods is None else fine_periods
                pc = float(np.clip(ev["period"], fine[0], fine[-1]))
                evw = _refine(t, y, ev["period"], _dp_at(fine, pc), ev["dur"], cadence, sigma,
                              bls, nmin)
                if _is_valid(evw, min_transits):
                    evw.update(sde=ev["sde"], snr_red=ev["snr_red"],
                               first_epoch=int(evw["epochs"].min()))
                    ev = evw
            return ev
    return None


def _dp_at(periods, p):
    j = int(np.clip(np.searchsorted(periods, p), 1, periods.size - 1))
    return float(periods[j] - periods[j - 1])


def _alias_choice(t, y, i, periods, dur0, cadence, sigma, bls, nmin, min_transits, pmin,
                  baseline, fine_periods=None, red=None):
    p0 = periods[i]
    # local refinement at the step of the full grid (``periods`` may be the coarse one)
    fine = periods if fine_periods is None else fine_periods
    results = []
    for fac in _ALIAS_FACTORS:
        p = p0 * fac
        if p < 0.5 * pmin or p > baseline:
            continue
        pc = float(np.clip(p, fine[0], fine[-1]))
        # grid step at p (the Ofir step scales as P**(4/3) beyond the grid)
        dp = _dp_at(fine, pc) * (p / pc) ** (4.0 / 3.0)
        ev = _refine(t, y, p, dp, dur0, cadence, sigma, bls, nmin, red=red)
        if _is_valid(ev, min_transits):
            results.append(ev)
    if not results:
        return None
    # ranked as the spectrum is (dchi2 / beta(T)**2 with the red-noise factor)
    best = max(results, key=lambda e: e["dchi2"] / float(_beta2_at(red, e["dur"])))
    if best["odd_even_diff"] > _ODD_EVEN_SIGMA and best["odd_even_rel"] > _ODD_EVEN_REL:
        double = [e for e in results if abs(e["period"] / (2 * best["period"]) - 1) < 2e-3]
        if double:
            best = double[0]
        elif best["n_transits"] <= 3:
            # Two or three unequal dips with no valid twice-period: unrelated single
            # events (e.g. two long-period planets) lined up by chance, not a period.
            return None
    return best


def _best_single(t, y, grid, cadence, sigma, bls, red=None):
    durs = grid.durations[(grid.durations >= max(2 * cadence, 1.0 / 24.0))
                          & (grid.durations <= 1.5)]
    if durs.size == 0:
        return None
    power, ts, te = bls.single_event_scan(t, y, np.ascontiguousarray(durs), cadence, 0.6)
    # ranked by the correlated-noise SNR, as the periodic spectrum is (a single event's
    # noise is sqrt(sigma**2 / n + sigma_r**2), i.e. beta(T) times the white one)
    b2 = _beta2_at(red, durs)
    q = int(np.argmax(power / b2))
    if power[q] <= 0:
        return None
    t0 = 0.5 * (ts[q] + te[q])
    d = durs[q]
    inn = np.abs(t - t0) < 0.5 * d
    n_in = int(inn.sum())
    n = t.size
    depth = y[inn].mean() - y[~inn].mean()
    dchi2 = depth ** 2 * n_in * (n - n_in) / n / sigma ** 2
    return dict(period=float("nan"), t0=t0, dur=d, depth=depth, n_in=n_in, dchi2=dchi2,
                snr=math.sqrt(dchi2), depth_err=sigma * math.sqrt(1.0 / n_in + 1.0 / (n - n_in)),
                n_transits=1, odd_even=float("nan"), single=True, sde=float("nan"),
                snr_red=math.sqrt(dchi2 / float(b2[q])))


def periodogram(lc, *, period_min=None, period_max=None, min_transits=2, oversampling=3.0):
    """Box-search spectrum of a detrended light curve (for plots and reports).

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Detrended light curve.
    period_min, period_max, min_transits, oversampling
        As in :func:`search`.

    Returns
    -------
    astropy.table.QTable
        Columns ``period`` (d), ``power`` (chi-square improvement of the best box,
        i.e. SNR**2) and ``sde`` (TLS-style normalised, detrended power).

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> rng = np.random.default_rng(2)
    >>> t = np.arange(0, 10, 0.01)
    >>> f = 1 + rng.normal(0, 1e-3, t.size)
    >>> f[np.abs((t + 1.0) % 2.0 - 1.0) < 0.05] -= 4e-3
    >>> pg = periodogram(lk.LightCurve(time=t, flux=f))
    >>> round(float(pg["period"][np.argmax(pg["sde"])].value), 1)
    2.0
    """
    import astropy.units as u
    from astropy.table import QTable

    from . import _bls as bls

    name = _target_name(lc)
    t_abs, y = _prepare(lc, name)
    t = t_abs - np.floor(t_abs[0])
    baseline = float(t[-1] - t[0])
    dt = np.diff(t)
    cadence = float(np.median(dt[dt > 0]))
    pmin = DEFAULT_PERIOD_MIN if period_min is None else float(period_min)
    pmax = baseline / min_transits if period_max is None else float(period_max)
    if pmax <= pmin:
        raise SearchError(f"{name}: period range {pmin}-{pmax} d is empty for a baseline "
                          f"of {baseline:.2f} d.")
    periods = period_grid(baseline=baseline, period_min=pmin, period_max=pmax,
                          oversampling=oversampling)
    grid = _Grid(periods, cadence, oversampling)
    y = np.ascontiguousarray(y - np.median(y))
    sigma = _robust_sigma(y)
    power = _spectrum(np.ascontiguousarray(t), y, grid, cadence, 3.0, bls)
    return QTable({"period": periods * u.day, "power": power / sigma ** 2,
                   "sde": _sde(power, oversampling)})
