"""Vetting diagnostics for transit candidates: is the signal a planet, an eclipsing binary,
stellar variability or a systematic?

:func:`vet` takes the flattened light curve and the candidate table of
:func:`astrotinyml.searching.search` (or any table of known ephemerides in the DESIGN columns and
units) and returns a new :class:`~astropy.table.QTable` with the diagnostic columns of
:data:`VET_COLUMNS` appended.  :func:`transit_depths` gives the per-transit depths behind the
consistency diagnostics.

Conventions used by every diagnostic:

- Depths are in ppm and **positive for a flux deficit** (a dimming); a negative depth is a
  brightening.  Significances ("sigma") are depth / uncertainty and keep that sign.
- A depth is the mean flux deficit of the cadences in the **central half** of the transit
  window (``|t - t_mid| < T14/4``) relative to the out-of-transit median
  (``|t - t_mid| > T14``).  Using the central half makes the number close to the true depth
  of a U-shaped transit and keeps odd/even/secondary depths directly comparable.
- Uncertainties use the robust (MAD) scatter of the out-of-transit flux times the red-noise
  factor beta >= 1 (Winn et al. 2008) measured at the timescale ``T14/2``, divided by the
  square root of the number of cadences averaged.
- Transits are counted from ``pl_tranmid`` (epoch 0): "odd" transits are the 1st, 3rd, 5th ...
  (epochs 0, 2, 4 ...), "even" ones the 2nd, 4th ... (epochs 1, 3 ...), also for epochs
  before ``pl_tranmid``.
- Each candidate is measured with the transits of the other candidates of the table removed
  (1.5 durations wide), except candidates whose period is commensurate (ratio 1, 2, 3, 4, 1/2,
  1/3, 1/4, 3/2, 2/3 within 1%): those may be the same system's secondary or an alias, which the
  secondary and odd/even tests must see.  A transit of a rare other candidate (single event or
  at most 3 transits in the data) that lands on one of this candidate's own transits goes too
  (unless that would leave none of them); a frequent one cannot remove this one's transits.
- A diagnostic that cannot be computed (no period for a single event, no data at phase 0.5,
  too few cadences, unknown stellar density ...) is NaN; a flag that cannot be evaluated is
  False.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from .candidates import Ephemeris, as_qtable, candidate_ephemeris
from .errors import AstroTinyMLError, InvalidParameterError
from .star import (
    MAX_PLANET_RADIUS_RJUP,
    MAX_PLANET_RATIO_UNKNOWN_STAR,
    PRIOR,
    R_JUP_REARTH,
    R_SUN_REARTH,
    StellarParameters,
    min_shape_v,
    stellar_parameters,
)
from .transits import (
    MIN_POINTS,
    epoch_and_offset,
    in_transit,
    independent_mask,
    lc_arrays,
    red_noise_beta,
    robust_std,
    upper_outliers,
)

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import QTable

__all__ = ["vet", "transit_depths", "physics_veto", "VET_COLUMNS", "PLAIN_UNITS"]

#: Gravitational constant in cgs, for stellar densities in g/cm^3.
_G_CGS = 6.674e-8

#: Systematic floor of the odd/even depth difference, as a fraction of the mean depth.
_ODDEVEN_FLOOR = 0.01

#: The trapezoid (shape) fit and the albedo need the transit detected at this vet_snr.
_MIN_SHAPE_SNR = 3.0

#: Units kept as plain floats (named in the column description and the reports' comments).
PLAIN_UNITS = ("", "ppm", "R_earth", "R_sun")

#: Diagnostic columns added by :func:`vet`: (name, unit, description).  ``unit`` is an
#: astropy unit string, one of :data:`PLAIN_UNITS` for plain floats in that unit (ppm is no
#: astropy unit; R_earth and R_sun are not FITS units), or
#: ``""`` for dimensionless numbers, booleans and strings.
VET_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("vet_depth_ppm", "ppm", "mean depth of all transits (central half, > 0 = dimming)"),
    ("vet_depth_err_ppm", "ppm", "1-sigma uncertainty of vet_depth_ppm (red noise included)"),
    ("vet_snr", "", "vet_depth_ppm / vet_depth_err_ppm"),
    ("depth_odd_ppm", "ppm", "mean depth of the odd transits (1st, 3rd, ... from pl_tranmid)"),
    ("depth_odd_err_ppm", "ppm", "uncertainty of depth_odd_ppm"),
    ("depth_even_ppm", "ppm", "mean depth of the even transits (2nd, 4th, ...)"),
    ("depth_even_err_ppm", "ppm", "uncertainty of depth_even_ppm"),
    ("oddeven_diff_ppm", "ppm", "depth_odd_ppm - depth_even_ppm (signed)"),
    ("oddeven_sigma", "", "|odd - even| / combined uncertainty incl. a 1% depth floor (>= 0)"),
    ("sec05_depth_ppm", "ppm", "depth at phase 0.5 (circular-orbit secondary), > 0 = dimming"),
    ("sec05_sigma", "", "sec05_depth_ppm / its uncertainty (signed)"),
    ("secondary_phase", "", "phase (0..1, primary at 0) of the most significant dip away from the primary"),
    ("secondary_depth_ppm", "ppm", "depth of that dip (searched secondary, eccentric orbits included)"),
    ("secondary_depth_err_ppm", "ppm", "uncertainty of secondary_depth_ppm"),
    ("secondary_sigma", "", "secondary_depth_ppm / its uncertainty (signed)"),
    ("secondary_fa_sigma", "", "significance pure noise reaches with 1% probability over the searched phases"),
    ("secondary_n_events", "", "orbits with data in the secondary box"),
    ("secondary_max_event_fraction", "", "largest share of the secondary's flux deficit from one orbit"),
    ("secondary_detected", "", "secondary_sigma > max(secondary_fa_sigma, sigma_threshold), "
                               "and not from one orbit alone"),
    ("secondary_albedo", "", "geometric albedo implied by the secondary for a planet: "
                             "(secondary/primary depth) * (a/R*)^2; > 1 is not planetary"),
    ("shape_v", "", "trapezoid ingress+egress fraction 2*tau/T14: 0 = box/U, 1 = V (triangle)"),
    ("trapezoid_depth_ppm", "ppm", "depth of the trapezoid fit"),
    ("trapezoid_dur_h", "h", "total duration T14 of the trapezoid fit"),
    ("n_transits_expected", "", "transits whose mid-time falls inside the data span"),
    ("n_transits_data", "", "transits with at least one cadence inside the transit window"),
    ("coverage", "", "fraction of the expected transits that have data (0..1)"),
    ("depth_chi2_dof", "", "chi^2 / dof of the per-transit depths about their weighted mean"),
    ("max_single_event_fraction", "", "largest share of the total flux deficit from a single transit (1/N for N equal transits)"),
    ("var_period", "d", "period of the highest Lomb-Scargle peak of the undetrended light curve (transits masked)"),
    ("var_power", "", "Lomb-Scargle power of that peak (standard normalization, 0..1)"),
    ("var_harmonic", "", "pl_orbper / var_period when near a ratio k or 1/k (k = 1..3); NaN otherwise"),
    ("near_var_period", "", "candidate period within var_tolerance of the variability period or a harmonic"),
    ("rp_rs", "", "radius ratio sqrt(depth) (trapezoid depth, else vet depth)"),
    ("ars_implied", "", "a/R* implied by P, T14 and rp_rs for a central (b = 0) circular transit"),
    ("stellar_density", "g / cm3", "stellar density used (NaN when unknown)"),
    ("density_implied", "g / cm3", "stellar density implied by the transit (b = 0, circular orbit)"),
    ("density_ratio", "", "density_implied / stellar_density (< 1: transit too long for this star)"),
    ("density_flag", "", "density_ratio outside [1/density_tolerance, density_tolerance]"),
    ("st_rad", "R_sun", "stellar radius [R_sun] used for the companion radius (the solar prior when unknown)"),
    ("st_rad_source", "", "where st_rad came from: user, header, koi, toi, k2 or prior"),
    ("companion_rade", "R_earth", "radius [R_earth] of a dark companion blocking the depth: sqrt(depth) * st_rad"),
    ("shape_v_min", "", "smallest shape_v a dark body of radius ratio rp_rs can make: 2k/(1+k)"),
    ("ingress_ratio", "", "shape_v / shape_v_min (< 1: ingress too short for the depth)"),
    ("not_planet_physics", "", "the star's physics excludes a planet: COMPANION_TOO_LARGE or INGRESS_TOO_SHORT"),
    ("vet_flags", "", "comma-separated names of the failed tests (empty string when none)"),
    # Robovetter / LEO diagnostics (appended: the columns above are the classifier's inputs).
    ("mes_red", "", "multiple-event statistic: in-transit depth over white + red noise at T14 (Pont et al. 2006); "
                    "detect() reports it as snr"),
    ("noise_red_ppm", "ppm", "red (correlated) noise of the flux averaged over T14, white part removed"),
    ("ses_max", "", "largest single-event statistic (one transit's depth over its white + red noise)"),
    ("ses_max_mes_ratio", "", "ses_max / mes_red (1/sqrt(N) for N equal transits, ~1 when one event dominates)"),
    ("chases_mean", "", "mean over transits of chases: distance to the nearest event with |SES| > 0.7 SES "
                        "within 1.5 T14 .. 0.1 P, over 0.1 P (1 = unique)"),
    ("modshift_pri", "", "ModShift significance of the primary (strongest dip of the box-convolved phase curve)"),
    ("modshift_sec", "", "ModShift significance of the strongest dip at least 2 T14 from the primary"),
    ("modshift_ter", "", "ModShift significance of the third dip (2 T14 from primary and secondary)"),
    ("modshift_pos", "", "ModShift significance of the strongest brightening (3 T14 from both)"),
    ("modshift_fred", "", "ModShift red-noise factor: scatter of the significance series over white noise (1 = white)"),
    ("modshift_fa1", "", "ModShift false-alarm threshold for 20000 candidates: sqrt(2) erfcinv(T14/P/20000)"),
    ("modshift_fa2", "", "ModShift false-alarm threshold for one candidate: sqrt(2) erfcinv(T14/P)"),
    ("modshift_sec_phase", "", "phase (0..1, primary at 0) of the ModShift secondary"),
    ("modshift_sec_depth_ppm", "ppm", "box depth of the ModShift secondary (> 0 = dimming)"),
    ("sweet_amp_half_ppm", "ppm", "SWEET: semi-amplitude of a sine at P/2 fitted out of transit"),
    ("sweet_snr_half", "", "SWEET: sweet_amp_half_ppm / its uncertainty"),
    ("sweet_amp_ppm", "ppm", "SWEET: semi-amplitude of a sine at P fitted out of transit"),
    ("sweet_snr", "", "SWEET: sweet_amp_ppm / its uncertainty"),
    ("sweet_amp_double_ppm", "ppm", "SWEET: semi-amplitude of a sine at 2P fitted out of transit"),
    ("sweet_snr_double", "", "SWEET: sweet_amp_double_ppm / its uncertainty"),
    ("aic_transit_line", "", "AIC(box transit) - AIC(flat line) within 2 T14 of the transits (< 0: transit preferred)"),
    ("n_depth_segments", "", "mission segments with in-transit data: Kepler seasons (quarter mod 4), K2 "
                             "campaigns, TESS sectors (else data > 5 d apart)"),
    ("segment_depth_chi2_dof", "", "chi^2 / dof of the per-segment depths about their weighted mean (NaN for one)"),
    ("asymmetry_ppm", "ppm", "depth of the second half of the transit window minus the first (> 0: deeper late)"),
    ("asymmetry_sigma", "", "asymmetry_ppm / its uncertainty (signed)"),
)

_FLOAT_NAMES = tuple(n for n, _, _ in VET_COLUMNS
                     if n not in {"secondary_detected", "near_var_period", "density_flag", "vet_flags",
                                  "n_transits_expected", "n_transits_data", "st_rad_source",
                                  "not_planet_physics"})


def _nan_row() -> dict[str, Any]:
    row: dict[str, Any] = {n: math.nan for n in _FLOAT_NAMES}
    row.update(secondary_detected=False, near_var_period=False, density_flag=False, vet_flags="",
               st_rad_source="", not_planet_physics=False,
               n_transits_expected=0, n_transits_data=0, secondary_n_events=0, n_depth_segments=0)
    return row


def _depth(base: float, flux: np.ndarray, sigma_pt: float) -> tuple[float, float, int]:
    """(depth ppm, error ppm, n) of the mean of ``flux`` below ``base``."""
    n = int(flux.size)
    if n == 0 or not np.isfinite(sigma_pt):
        return math.nan, math.nan, n
    return (base - float(np.mean(flux))) * 1e6, sigma_pt / math.sqrt(n) * 1e6, n


def _trapezoid(dt: np.ndarray, f: np.ndarray, duration: float, base: float, depth: float,
               cadence: float) -> tuple[float, float, float, float]:
    """Least-squares trapezoid fit to the folded transit: (shape_v, depth ppm, T14 h, mid-time offset d).

    The model is integrated over the exposure (5 sub-samples) when the cadence is longer than
    1/15 of the transit, because long-cadence smearing alone would make a box look V-shaped.
    """
    from scipy.optimize import least_squares

    sel = np.abs(dt) < 1.5 * duration
    x, y = dt[sel], f[sel]
    if np.count_nonzero(np.abs(x) < 0.5 * duration) < 5 or x.size < 10:
        return math.nan, math.nan, math.nan, math.nan
    w = np.ones_like(y)
    if x.size > 600:  # bin (mean) to keep the fit fast; weights = counts
        nb = 150
        edges = np.linspace(-1.5 * duration, 1.5 * duration, nb + 1)
        idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, nb - 1)
        cnt = np.bincount(idx, minlength=nb)
        s = np.bincount(idx, weights=y, minlength=nb)
        sx = np.bincount(idx, weights=x, minlength=nb)
        ok = cnt > 0
        x, y, w = sx[ok] / cnt[ok], s[ok] / cnt[ok], cnt[ok].astype(float)
    sw = np.sqrt(w)
    if cadence > duration / 15.0:
        sub = (np.arange(5) - 2) / 5.0 * cadence
    else:
        sub = np.zeros(1)
    xs = x[:, None] + sub[None, :]

    def model(p):
        d, T, fr, tc, b0 = p
        ramp = (0.5 * T - np.abs(xs - tc)) / max(0.5 * fr * T, 1e-6 * duration)
        return (b0 - d * np.clip(ramp, 0.0, 1.0)).mean(axis=1)

    def resid(p):
        return (model(p) - y) * sw

    d0 = depth if np.isfinite(depth) and depth > 0 else max(base - float(np.min(y)), 1e-6)
    lower = [0.0, 0.25 * duration, 0.0, -0.25 * duration, -np.inf]
    upper = [np.inf, 2.9 * duration, 1.0, 0.25 * duration, np.inf]
    best = None
    for fr0 in (0.1, 0.5, 0.9):  # several starts: the ingress fraction has local minima
        p0 = [d0, duration, fr0, 0.0, base]
        try:
            r = least_squares(resid, p0, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=400)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best is None or r.cost < best.cost:
            best = r
    if best is None or not np.all(np.isfinite(best.x)):
        return math.nan, math.nan, math.nan, math.nan
    d, T, fr, tc, _ = best.x
    return float(fr), float(d * 1e6), float(T * 24.0), float(tc)


def _secondary(t, f, eph: Ephemeris, dt, base, sigma_pt):
    """Box search of the phase curve away from the primary; also the fixed phase 0.5."""
    P, T = eph.period, eph.duration
    out = dict(sec05_depth_ppm=math.nan, sec05_sigma=math.nan, secondary_phase=math.nan,
               secondary_depth_ppm=math.nan, secondary_depth_err_ppm=math.nan,
               secondary_sigma=math.nan, secondary_fa_sigma=math.nan,
               secondary_n_events=0, secondary_max_event_fraction=math.nan)
    if eph.single or P < 2.5 * T or not np.isfinite(sigma_pt):
        return out
    keep = np.abs(dt) >= 0.75 * T  # the primary (with a margin for ephemeris errors) is excluded
    cycles = (t[keep] - eph.t0) / P
    ph = np.mod(cycles, 1.0)
    order = np.argsort(ph, kind="stable")
    ph, ff, cyc = ph[order], f[keep][order], np.floor(cycles[order]).astype(np.int64)
    h = 0.25 * T / P  # half-width of the box: the central half of a transit-long eclipse
    step = max(0.25 * T / P, 1.0 / 20000)
    lo_c, hi_c = T / P, 1.0 - T / P  # box centres at least one T14 from the primary
    centres = np.unique(np.concatenate([np.arange(lo_c, hi_c + 0.5 * step, step), [0.5]]))
    centres = centres[(centres >= lo_c) & (centres <= hi_c)]
    cs = np.concatenate([[0.0], np.cumsum(ff)])
    lo = np.searchsorted(ph, centres - h, side="left")
    hi = np.searchsorted(ph, centres + h, side="left")
    n = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (cs[hi] - cs[lo]) / n
        depth = (base - mean) * 1e6
        err = sigma_pt / np.sqrt(n) * 1e6
        sig = depth / err
    typical = np.median(n[n > 0]) if np.any(n > 0) else 0
    valid = (n >= max(3, 0.25 * typical)) & np.isfinite(sig)
    i05 = int(np.argmin(np.abs(centres - 0.5)))
    if valid[i05]:
        out.update(sec05_depth_ppm=float(depth[i05]), sec05_sigma=float(sig[i05]))
    if not valid.any():
        return out
    best = int(np.argmax(np.where(valid, sig, -np.inf)))
    n_indep = max(1.0, (P - 2.0 * T) / (0.5 * T))
    fa = NormalDist().inv_cdf(1.0 - 0.01 / n_indep)
    out.update(secondary_phase=float(centres[best]), secondary_depth_ppm=float(depth[best]),
               secondary_depth_err_ppm=float(err[best]), secondary_sigma=float(sig[best]),
               secondary_fa_sigma=float(fa))
    # Is the dip there in every orbit, or one stray event (another planet's transit, a flare
    # gap edge)?  Share of the dip's total flux deficit from the strongest single orbit.
    sl = slice(lo[best], hi[best])
    ev, inv = np.unique(cyc[sl], return_inverse=True)
    cnt = np.bincount(inv)
    deficit = np.clip(base * cnt - np.bincount(inv, weights=ff[sl]), 0.0, None)
    out["secondary_n_events"] = int(ev.size)
    if deficit.sum() > 0:
        out["secondary_max_event_fraction"] = float(deficit.max() / deficit.sum())
    return out


def _per_transit(t, f, eph: Ephemeris, epoch, dt, base, sigma_pt):
    """Per-transit depths (central half) -> arrays (epochs, tmid, depth ppm, err ppm, n)."""
    core = np.abs(dt) < 0.25 * eph.duration
    if not core.any():
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty, empty, empty.astype(np.int64)
    ep, inv = np.unique(epoch[core], return_inverse=True)
    n = np.bincount(inv)
    mean = np.bincount(inv, weights=f[core]) / n
    depth = (base - mean) * 1e6
    err = sigma_pt / np.sqrt(n) * 1e6
    tmid = eph.t0 + (ep * eph.period if not eph.single else 0.0)
    return ep, np.asarray(tmid, dtype=float) * np.ones(ep.size), depth, err, n


def _baseline(f, dt, duration):
    oot = np.abs(dt) > duration
    if np.count_nonzero(oot) < MIN_POINTS:
        oot = np.abs(dt) > 0.5 * duration
    if np.count_nonzero(oot) < 3:
        return math.nan, math.nan, oot
    return float(np.median(f[oot])), robust_std(f[oot]), oot


def _vet_one(t, f, eph: Ephemeris, cadence: float, seg: np.ndarray | None = None,
             modshift: bool = True) -> dict[str, Any]:
    row = _nan_row()
    epoch, dt = epoch_and_offset(t, eph)
    T = eph.duration
    base, sw, oot = _baseline(f, dt, T)
    if not np.isfinite(base):
        return row
    beta = red_noise_beta(t[oot], f[oot], 0.5 * T, sw)
    sigma_pt = beta * sw
    core = np.abs(dt) < 0.25 * T
    in_tr = np.abs(dt) < 0.5 * T

    d, e, n = _depth(base, f[core], sigma_pt)
    row.update(vet_depth_ppm=d, vet_depth_err_ppm=e, vet_snr=d / e if n and e > 0 else math.nan)

    # Coverage: mid-times inside the data span vs. those with in-transit cadences.
    t_lo, t_hi = t[0], t[-1]
    with_data = np.unique(epoch[in_tr])
    if eph.single:
        n_exp = int(t_lo <= eph.t0 <= t_hi)
        n_cov = int(n_exp and with_data.size > 0)
    else:
        e_lo = math.ceil((t_lo - eph.t0) / eph.period)
        e_hi = math.floor((t_hi - eph.t0) / eph.period)
        n_exp = max(0, e_hi - e_lo + 1)
        n_cov = int(np.count_nonzero((with_data >= e_lo) & (with_data <= e_hi)))
    row.update(n_transits_expected=n_exp, n_transits_data=int(with_data.size),
               coverage=(n_cov / n_exp) if n_exp else math.nan)

    # Per-transit depth consistency.
    _, _, dep, err, npts = _per_transit(t, f, eph, epoch, dt, base, sigma_pt)
    if dep.size >= 1:
        deficit = np.clip(dep, 0.0, None) * npts
        total = deficit.sum()
        row["max_single_event_fraction"] = float(deficit.max() / total) if total > 0 else math.nan
    if dep.size >= 2:
        wts = 1.0 / err**2
        mean_w = np.sum(wts * dep) / np.sum(wts)
        row["depth_chi2_dof"] = float(np.sum(wts * (dep - mean_w) ** 2) / (dep.size - 1))

    if not eph.single:
        parity = np.mod(epoch, 2)
        do, eo, no = _depth(base, f[core & (parity == 0)], sigma_pt)
        de, ee, ne = _depth(base, f[core & (parity == 1)], sigma_pt)
        row.update(depth_odd_ppm=do, depth_odd_err_ppm=eo, depth_even_ppm=de, depth_even_err_ppm=ee)
        if no and ne:
            row["oddeven_diff_ppm"] = do - de
            # A 1% systematic floor: on a 30% deep eclipse, 0.3% ephemeris/detrending
            # differences are "significant" against photon noise alone but mean nothing.
            floor = _ODDEVEN_FLOOR * abs(0.5 * (do + de))
            row["oddeven_sigma"] = abs(do - de) / math.sqrt(eo**2 + ee**2 + floor**2)
        row.update(_secondary(t, f, eph, dt, base, sigma_pt))

    # A shape fitted to noise means nothing (and a zero-depth trapezoid has any ingress).
    tc = 0.0
    if np.isfinite(row["vet_snr"]) and row["vet_snr"] >= _MIN_SHAPE_SNR:
        shape, tdep, tdur, tc = _trapezoid(dt, f, T, base, d * 1e-6, cadence)
        row.update(shape_v=shape, trapezoid_depth_ppm=tdep, trapezoid_dur_h=tdur)
    row.update(_diagnostics(t, f, eph, epoch, dt, base, sw, sigma_pt, seg, modshift,
                            tc if np.isfinite(tc) else 0.0))
    return row


def _lomb_scargle(lc, ephemerides: list[Ephemeris]) -> tuple[float, float]:
    """(period d, power) of the highest Lomb-Scargle peak with all candidate transits masked."""
    from astropy.timeseries import LombScargle

    t, f, _ = lc_arrays(lc, name="raw_lc")
    m = ~in_transit(t, ephemerides, factor=2.0)
    t, f = t[m], f[m]
    if t.size < 50:
        return math.nan, math.nan
    span = t[-1] - t[0]
    cadence = float(np.median(np.diff(t)))
    fmin = 2.0 / span  # periods up to half the span: at least two cycles
    fmax = 1.0 / max(0.1, 2.5 * cadence)
    if not fmax > fmin:
        return math.nan, math.nan
    ls = LombScargle(t - t[0], f - np.median(f))
    freq = ls.autofrequency(minimum_frequency=fmin, maximum_frequency=fmax, samples_per_peak=10)
    peak = _ls_peak(ls, freq)
    if peak is None:
        return math.nan, math.nan
    i, power = peak
    return float(1.0 / freq[i]), power


#: The highest Lomb-Scargle peak is found on a Press & Rybicki (fasper) periodogram with finer
#: extirpolation than astropy's default (oversampling 10, 8 points): measured on the corpus and
#: the bundled light curves, its power is within 1.5e-7 of the exact one (astropy 8's default
#: low-rank NUFFT, eps 5e-13), and it costs ~0.04 s instead of ~0.25 s on a TESS 2-min sector.
_LS_FASPER = {"algorithm": "fasper", "trig_sum_kwds": {"oversampling": 10, "Mfft": 8}}
#: Every grid frequency whose approximate power is within this margin of the approximate
#: maximum (hundreds of times the largest error measured) is then evaluated exactly; the exact
#: maximum over a full grid is among them whenever the approximation errs by less than half
#: the margin.
_LS_MARGIN_ABS, _LS_MARGIN_REL = 2e-5, 5e-3
#: More candidates than this: the full exact periodogram instead (no peak stands out).
_LS_MAX_EXACT = 64


def _ls_peak(ls, freq) -> tuple[int, float] | None:
    """(grid index, exact power) of the highest peak of ``ls`` on the regular grid ``freq``.

    The same peak and power (to float rounding) as the exact periodogram of the whole grid
    (what ``autopower`` computes), at a sixth of the cost: a cheap approximation locates the
    candidates, and only those are computed exactly (astropy's direct sums).  None when no
    power is finite.
    """
    if freq.size <= 200:  # astropy's own choice is exact (direct sums) on so few frequencies
        power = ls.power(freq)
        return (int(np.nanargmax(power)), float(np.nanmax(power))) if np.any(np.isfinite(power)) else None
    approx = ls.power(freq, method="fast", assume_regular_frequency=True, method_kwds=_LS_FASPER)
    if np.any(np.isfinite(approx)):
        top = float(np.nanmax(approx))
        near = np.flatnonzero(approx >= top - max(_LS_MARGIN_ABS, _LS_MARGIN_REL * abs(top)))
        if 0 < near.size <= _LS_MAX_EXACT:
            exact = ls.power(freq[near], method="cython")
            if np.any(np.isfinite(exact)):
                j = int(np.nanargmax(exact))
                return int(near[j]), float(exact[j])
    power = ls.power(freq, method="fast", assume_regular_frequency=True)
    return (int(np.nanargmax(power)), float(np.nanmax(power))) if np.any(np.isfinite(power)) else None


# --------------------------------------------------------------------------------------------
# Diagnostics of the Kepler Robovetter (Thompson et al. 2018) and LEO (Kunimoto et al. 2025):
# correlated-noise MES, single-event statistics and chases, ModShift and SWEET (exovetter),
# transit-vs-line AIC, per-segment depths, ingress/egress asymmetry.
# --------------------------------------------------------------------------------------------

#: chases: an event near a transit counts when its |SES| exceeds this fraction of the transit's SES,
_CHASES_FRAC = 0.7
#: ... searched from 1.5 T14 out to this fraction of the period (LEO's defaults).
_CHASES_RANGE = 0.1
#: ``CHASES`` flag: mean chases below this for candidates with at most _CHASES_MAX_TRANSITS transits.
_CHASES_MIN = 0.78
_CHASES_MAX_TRANSITS = 5
#: ModShift: phase bins per transit duration (exovetter, Robovetter) and the number of candidates
#: the multi-candidate false-alarm threshold FA1 is made for (LEO; the Kepler DR25 had ~20,000).
_MODSHIFT_OVERRES = 10
_MODSHIFT_NTCE = 20000
#: ``SWEET`` flag: sine amplitude significance above this (LEO) for periods below _SWEET_MAX_PERIOD d.
_SWEET_SNR = 15.0
_SWEET_MAX_PERIOD = 10.0
#: ... and a sine semi-amplitude of at least this fraction of the transit depth (ours).
_SWEET_DEPTH_FRACTION = 0.5
#: Without segment information in ``lc.meta``, data more than this many days apart are segments.
_SEGMENT_GAP_D = 5.0

#: The columns of the diagnostics below: the end of VET_COLUMNS, from mes_red on.
_DIAG_NAMES = tuple(n for n, _, _ in VET_COLUMNS)[[n for n, _, _ in VET_COLUMNS].index("mes_red"):]


def _quiet():
    """Silence exovetter: the library must neither print nor warn.

    Importing exovetter warns (it pulls in ``lightkurve.prf``) and its package could print, so
    stdout goes to a buffer while it is first imported; the functions used here print nothing,
    and swapping ``sys.stdout`` on every call would not be thread-safe.  Warnings and numpy
    floating-point messages are silenced around every call.
    """
    import contextlib
    import io
    import sys
    import warnings

    stack = contextlib.ExitStack()
    if "exovetter" not in sys.modules:
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(np.errstate(all="ignore"))
    return stack


def _segment_ids(lc, t: np.ndarray) -> np.ndarray:
    """Mission segment of every cadence of ``t`` (sorted full BJD of ``lc``'s finite cadences).

    Kepler quarters are grouped into seasons (quarter mod 4: the star falls on the same CCD
    every fourth quarter), K2 campaigns and TESS sectors are their own segments.  The segments
    come from the lists ``quarters``/``campaigns``/``sectors`` of ``lc.meta`` (as
    :func:`astrotinyml.io.read.read_lightcurves` records them): the N listed segments are the
    stretches between the N - 1 longest data gaps.  Without such a list, data more than
    5 days apart are different segments.
    """
    meta = getattr(lc, "meta", None) or {}
    labels, kind = None, None
    for key in ("quarters", "campaigns", "sectors"):
        vals = meta.get(key)
        if isinstance(vals, (list, tuple, np.ndarray)) and len(vals):
            try:
                labels, kind = sorted({int(v) for v in vals}), key
            except (TypeError, ValueError):
                continue
            break
    gaps = np.diff(t)
    if labels is None:
        cuts = np.flatnonzero(gaps > _SEGMENT_GAP_D)
        return np.searchsorted(t[cuts + 1], t, side="right").astype(np.int64)
    if len(labels) < 2 or gaps.size < len(labels) - 1:
        return np.zeros(t.size, dtype=np.int64)
    cuts = np.sort(np.argsort(gaps, kind="stable")[gaps.size - (len(labels) - 1):])
    seg = np.asarray(labels)[np.searchsorted(t[cuts + 1], t, side="right")]
    return (seg % 4 if kind == "quarters" else seg).astype(np.int64)


def _red_noise(t, f, dt, T, sw) -> float:
    """Red noise at the transit duration (Hartman & Bakos 2016, as exovetter's LEO port).

    The out-of-transit flux is averaged over ``|t - t_i| < T/2`` around every out-of-transit
    cadence; the red noise is what the (robust) scatter of those means has beyond the white
    noise expected for their number of points (0 when nothing is left).
    """
    oot = np.abs(dt) > T
    to, fo = t[oot], f[oot]
    if to.size < 20 or not (np.isfinite(sw) and sw > 0):
        return math.nan
    cs = np.concatenate([[0.0], np.cumsum(fo - np.median(fo))])
    lo = np.searchsorted(to, to - 0.5 * T, side="right")
    hi = np.searchsorted(to, to + 0.5 * T, side="left")
    n = hi - lo
    means = (cs[hi] - cs[lo]) / n
    excess = robust_std(means) ** 2 - sw**2 * float(np.mean(1.0 / n))
    return math.sqrt(excess) if excess > 0 else 0.0


def _events(t, f, eph: Ephemeris, epoch, dt, base, sw, red) -> dict[str, float]:
    """Correlated-noise MES, single-event statistics and chases (LEO / Robovetter definitions)."""
    out = dict(mes_red=math.nan, noise_red_ppm=math.nan, ses_max=math.nan, ses_max_mes_ratio=math.nan,
               chases_mean=math.nan)
    T = eph.duration
    # Flares and cosmic rays are left out, as the search leaves them out: one 2.5x flare
    # point among a 1-d candidate's 170 in-transit cadences turned its MES from +10 to -89.
    dim = ~upper_outliers(f)
    if not dim.all():
        t, f, epoch, dt = t[dim], f[dim], epoch[dim], dt[dim]
    in_tr = np.abs(dt) < 0.5 * T
    n_in = int(np.count_nonzero(in_tr))
    if not (np.isfinite(red) and np.isfinite(sw) and sw > 0) or n_in == 0:
        return out
    out["noise_red_ppm"] = red * 1e6
    ep, inv = np.unique(epoch[in_tr], return_inverse=True)
    n_i = np.bincount(inv)
    dep_i = base - np.bincount(inv, weights=f[in_tr]) / n_i
    ses = dep_i / np.sqrt(sw**2 / n_i + red**2)
    mes = (base - float(np.mean(f[in_tr]))) / math.sqrt(sw**2 / n_in + red**2 / ep.size)
    out.update(mes_red=float(mes), ses_max=float(np.max(ses)))
    if mes > 0:
        out["ses_max_mes_ratio"] = float(np.max(ses) / mes)
    if eph.single:
        return out
    # Chases: how close to each transit (1.5 T14 .. 0.1 P) is the nearest event of the
    # single-event-statistic series with |SES| > 0.7 x the transit's SES; 1 when none.
    P = eph.period
    win = (np.abs(dt) > 1.5 * T) & (np.abs(dt) < _CHASES_RANGE * P)
    nearest = np.full(ep.size, np.inf)
    if win.any():
        cs = np.concatenate([[0.0], np.cumsum(f - base)])
        tw = t[win]
        lo = np.searchsorted(t, tw - 0.5 * T, side="right")
        hi = np.searchsorted(t, tw + 0.5 * T, side="left")
        n = hi - lo
        ses_series = -(cs[hi] - cs[lo]) / n / np.sqrt(sw**2 / n + red**2)
        k = np.clip(np.searchsorted(ep, epoch[win]), 0, ep.size - 1)
        hit = (ep[k] == epoch[win]) & (np.abs(ses_series) > _CHASES_FRAC * ses[k])
        np.minimum.at(nearest, k[hit], np.abs(dt[win][hit]))
    chases = np.where(np.isfinite(nearest), nearest / (_CHASES_RANGE * P), 1.0)
    out["chases_mean"] = float(np.mean(chases))
    return out


def _modshift(t, f, eph: Ephemeris, dt, base) -> dict[str, float]:
    """Model-shift uniqueness test (Coughlin et al. 2016) with exovetter's ModShift pieces.

    From ``exovetter.modshift``: the folding and binning (10 bins per T14) of the flux and of
    the box model, the phase-range masks and the per-candidate false-alarm threshold.  The
    events are searched as exovetter's ``find_indices_of_key_locations`` does (primary;
    secondary and tertiary 2 T14 apart; brightening 3 T14 from both), but with the excluded
    phases left out rather than set to zero (exovetter then picks a zeroed bin when nothing
    else is a dip, e.g. the tertiary of WASP-18 b).  The significances are normalised here:
    exovetter 0.0.16 convolves the *summed* flux of each bin and divides by the scatter of one
    cadence, so its ``sigma_*`` grow as sqrt(N in transit) / T14[d] (~220x the true
    significance for a 3-h transit in a TESS sector), its ``Fred`` is ~30-60 for white noise,
    and its scatter leaves in the half of the primary before phase 0.  Here each phase shift's
    box mean is divided by its white-noise error (robust scatter of the cadences 2 T14 away from
    primary and secondary), and Fred is the scatter of that significance series there.
    """
    names = ("modshift_pri", "modshift_sec", "modshift_ter", "modshift_pos", "modshift_fred",
             "modshift_fa1", "modshift_fa2", "modshift_sec_phase", "modshift_sec_depth_ppm", "_ms_pri_depth")
    out = {k: math.nan for k in names}
    if eph.single or not np.isfinite(base):
        return out
    P, T = eph.period, eph.duration
    nbins = int(_MODSHIFT_OVERRES * P / T)
    if nbins < 5 * _MODSHIFT_OVERRES or t.size < MIN_POINTS or not np.any(np.abs(dt) <= 0.5 * T):
        return out
    from scipy.signal import convolve
    from scipy.special import erfcinv

    with _quiet():
        from exovetter.modshift import modshift as ems

        try:
            x = f - base
            data = ems.fold_and_bin_data(t, x, P, eph.t0, nbins)
            box = ems.fold_and_bin_data(t, (np.abs(dt) <= 0.5 * T).astype(float), P, eph.t0, nbins)
            phase, sums, counts = data[:, 0], data[:, 1], data[:, 2]
            kern = box[:, 1] / box[:, 2]
            if phase.size < 5 * _MODSHIFT_OVERRES or not kern.any():
                return out

            def circular(a, w):  # exovetter's compute_convolution_for_binned_data, any kernel
                return convolve(np.concatenate([a, a]), w, mode="valid", method="auto")[:-1]

            s_k = circular(sums, kern)
            n_k = circular(counts, kern)
            n2_k = circular(counts, kern * kern)
            ok = n2_k > 0
            q = np.where(ok, -s_k / np.sqrt(np.where(ok, n2_k, 1.0)), np.nan)  # significance x sigma

            def strongest(values, excluded):
                v = np.where(excluded | ~ok, np.nan, values)
                return int(np.nanargmax(v)) if np.isfinite(v).any() else None

            # exovetter's find_indices_of_key_locations zeroes the excluded phases and then takes
            # the extreme of the rest, so an excluded (zeroed) bin wins when nothing outside is
            # a dip; the same search with the excluded phases left out:
            none = np.zeros(phase.size, dtype=bool)
            pri = strongest(q, none)
            near_pri = ems.mark_phase_range(phase, pri, 2.0 * T)
            sec = strongest(q, near_pri)
            if sec is None:
                return out
            near_both = near_pri | ems.mark_phase_range(phase, sec, 2.0 * T)
            ter = strongest(q, near_both)
            pos = strongest(-q, ems.mark_phase_range(phase, pri, 3.0 * T) | ems.mark_phase_range(phase, sec, 3.0 * T))
            # White noise of a point: robust scatter away from the primary and the secondary.
            ph = np.mod(t - eph.t0, P)
            away = np.ones(t.size, dtype=bool)
            for centre in (phase[pri], phase[sec]):
                away &= np.abs(np.mod(ph - centre + 0.5 * P, P) - 0.5 * P) >= 2.0 * T
            sigma = robust_std(x[away]) if np.count_nonzero(away) >= MIN_POINTS else math.nan
            if not (np.isfinite(sigma) and sigma > 0):
                return out
            sig = q / sigma
            rest = ~near_both & ok
            fred = float(np.std(sig[rest])) if np.count_nonzero(rest) >= 2 * _MODSHIFT_OVERRES else math.nan
            out.update(
                modshift_pri=float(sig[pri]), modshift_sec=float(sig[sec]),
                modshift_ter=float(sig[ter]) if ter is not None else math.nan,
                modshift_pos=float(-sig[pos]) if pos is not None else math.nan,
                modshift_fred=fred,
                modshift_fa1=float(math.sqrt(2.0) * erfcinv(T / P / _MODSHIFT_NTCE)),
                modshift_fa2=float(ems.compute_false_alarm_threshold(P, T * 24.0)),
                modshift_sec_phase=float(np.mod(phase[sec] / P, 1.0)),
                modshift_sec_depth_ppm=float(-s_k[sec] / n_k[sec] * 1e6),
                _ms_pri_depth=float(-s_k[pri] / n_k[pri] * 1e6),
            )
        except (ValueError, IndexError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError):
            return {k: math.nan for k in names}
    return out


def _sweet(t, f, eph: Ephemeris, dt) -> dict[str, float]:
    """exovetter's SWEET: sine fits (out of transit) at P/2, P and 2P: semi-amplitude, significance.

    ``exovetter.sweet.sweet`` step by step with exovetter's scatter estimate and least-squares
    sine fitter; only its transit mask (a loop over every transit, slow for short periods in
    long light curves) is replaced by ``|dt| < T14/2``, the same cadences.
    """
    names = ("sweet_amp_half_ppm", "sweet_snr_half", "sweet_amp_ppm", "sweet_snr", "sweet_amp_double_ppm",
             "sweet_snr_double")
    out = {k: math.nan for k in names}
    if eph.single or t.size < MIN_POINTS:
        return out
    P, t0 = eph.period, eph.t0
    keep = ~(np.abs(dt) < 0.5 * eph.duration)
    if np.count_nonzero(keep) < MIN_POINTS:
        return out
    with _quiet():
        from exovetter import utils as eutils

        try:
            flux = f - np.mean(f)
            flux = flux[keep]
            flux = flux - np.mean(flux)
            scatter = eutils.estimate_scatter(flux)
            for (amp_name, snr_name), per in zip(zip(names[::2], names[1::2]), (0.5 * P, P, 2.0 * P)):
                phase = np.fmod(t - t0 + per, per)[keep]
                fit = eutils.WqedLSF(phase, flux, scatter, period=np.max(phase))
                amp, unc = fit.compute_amplitude()
                if np.isfinite(amp) and np.isfinite(unc) and unc > 0:
                    out[amp_name], out[snr_name] = float(amp * 1e6), float(amp / unc)
        except (ValueError, IndexError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError):
            return {k: math.nan for k in names}
    return out


def _aic_transit_line(f, dt, T, sw) -> float:
    """AIC(box) - AIC(flat line) of the flux within 2 T14 of the transits (white noise sw).

    The box (baseline and depth >= 0, two parameters) is least-squares; the line is the mean
    (one parameter).  Negative values favour the transit; +2 when the box finds no dimming.
    """
    win = np.abs(dt) < 2.0 * T
    inb = np.abs(dt) < 0.5 * T
    f_in, f_out = f[win & inb], f[win & ~inb]
    if f_in.size < 3 or f_out.size < 3 or not (np.isfinite(sw) and sw > 0):
        return math.nan
    d = float(np.mean(f_out) - np.mean(f_in))
    dchi2 = f_in.size * f_out.size / (f_in.size + f_out.size) * d**2 / sw**2 if d > 0 else 0.0
    return 2.0 - dchi2


def _diagnostics(t, f, eph: Ephemeris, epoch, dt, base, sw, sigma_pt, seg, modshift: bool,
                 tc: float = 0.0) -> dict[str, Any]:
    """The columns of _DIAG_NAMES for one candidate (see vet's Returns); ``tc`` [d]: the
    trapezoid's mid-time offset from the ephemeris (0 when not fitted)."""
    T = eph.duration
    row: dict[str, Any] = {"_period": math.nan if eph.single else eph.period}
    row.update(_events(t, f, eph, epoch, dt, base, sw, _red_noise(t, f, dt, T, sw)))
    if modshift:
        row.update(_modshift(t, f, eph, dt, base))
    row.update(_sweet(t, f, eph, dt))
    row["aic_transit_line"] = _aic_transit_line(f, dt, T, sw)

    # Depth per mission segment (Kepler season, K2 campaign, TESS sector).
    core = np.abs(dt) < 0.25 * T
    if seg is not None and core.any():
        groups = np.unique(seg[core])
        row["n_depth_segments"] = int(groups.size)
        if groups.size >= 2:
            dep, err = np.array([_depth(base, f[core & (seg == g)], sigma_pt)[:2] for g in groups]).T
            wts = 1.0 / err**2
            mean_w = np.sum(wts * dep) / np.sum(wts)
            row["segment_depth_chi2_dof"] = float(np.sum(wts * (dep - mean_w) ** 2) / (groups.size - 1))

    # Ingress/egress asymmetry: the two halves of the transit window about the fitted
    # mid-time (so that an ephemeris a little early or late does not read as asymmetry).
    x = dt - tc
    d1, e1, n1 = _depth(base, f[(x > -0.5 * T) & (x < 0.0)], sigma_pt)
    d2, e2, n2 = _depth(base, f[(x >= 0.0) & (x < 0.5 * T)], sigma_pt)
    if n1 >= 3 and n2 >= 3 and np.isfinite(e1) and np.isfinite(e2) and e1 > 0 and e2 > 0:
        row["asymmetry_ppm"] = d2 - d1
        row["asymmetry_sigma"] = (d2 - d1) / math.sqrt(e1**2 + e2**2)
    return row


def _stellar_density(stellar_density, table, n: int) -> np.ndarray:
    """Per-row stellar density in g/cm^3 (NaN when unknown)."""
    if stellar_density is None:
        if "st_dens" in table.colnames:  # Exoplanet Archive column, g/cm^3
            stellar_density = table["st_dens"]
        else:
            return np.full(n, np.nan)
    if hasattr(stellar_density, "unit") and getattr(stellar_density, "unit", None) is not None:
        from astropy import units as u

        stellar_density = stellar_density.to_value(u.g / u.cm**3)
    arr = np.ma.filled(np.ma.asarray(stellar_density, dtype=float), np.nan)
    arr = np.broadcast_to(np.atleast_1d(arr), (n,)) if arr.size in (1, n) else None
    if arr is None:
        raise InvalidParameterError(
            f"stellar_density must be one value or one per candidate ({n}); got {np.size(stellar_density)} values"
        )
    arr = np.array(arr, dtype=float)
    arr[~(arr > 0)] = np.nan
    return arr


def transit_depths(lc: lightkurve.LightCurve, candidate: Any) -> QTable:
    """Depth of every individual transit of one candidate.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Flattened light curve (time in BJD_TDB, flux normalized to 1).
    candidate : astropy.table.Row or dict
        One candidate with ``pl_orbper`` [d], ``pl_tranmid`` [full BJD_TDB], ``pl_trandurh``
        [h] (``pl_orbper`` may be NaN for a single event).

    Returns
    -------
    astropy.table.QTable
        One row per transit with data in the central half of its window: ``epoch`` (0 at
        ``pl_tranmid``), ``tmid`` [d, full BJD_TDB], ``depth_ppm`` (> 0 = dimming),
        ``depth_err_ppm`` and ``n_points``.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> t = 2458000 + np.arange(0, 10, 0.01)
    >>> flux = np.ones_like(t); flux[np.abs((t - 2458000.5 + 1) % 2 - 1) < 0.05] = 0.99
    >>> lc = lk.LightCurve(time=t, flux=flux + 1e-4 * np.random.default_rng(0).normal(size=t.size))
    >>> cand = dict(pl_orbper=2.0, pl_tranmid=2458000.5, pl_trandurh=2.4)
    >>> tab = transit_depths(lc, cand)
    >>> len(tab), bool(abs(tab["depth_ppm"][0] - 1e4) < 200)
    (5, True)
    """
    from astropy import units as u
    from astropy.table import QTable

    t, f, _ = lc_arrays(lc)
    eph = candidate_ephemeris(candidate, time_ref=float(np.median(t)))
    epoch, dt = epoch_and_offset(t, eph)
    base, sw, oot = _baseline(f, dt, eph.duration)
    sigma_pt = red_noise_beta(t[oot], f[oot], 0.5 * eph.duration, sw) * sw if np.isfinite(base) else math.nan
    ep, tmid, dep, err, n = _per_transit(t, f, eph, epoch, dt, base, sigma_pt)
    return QTable([ep, tmid * u.d, dep, err, n], names=["epoch", "tmid", "depth_ppm", "depth_err_ppm", "n_points"])


def vet(
    lc: lightkurve.LightCurve,
    candidates: Any,
    *,
    raw_lc: lightkurve.LightCurve | None = None,
    star: Any = None,
    stellar_density: Any = None,
    sigma_threshold: float = 3.0,
    var_tolerance: float = 0.03,
    var_power_min: float = 0.05,
    density_tolerance: float = 5.0,
    modshift: bool = True,
) -> QTable:
    """Add vetting diagnostics to a table of transit candidates.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        The detrended (flattened) light curve the candidates were found in; time in
        BJD_TDB, flux normalized to 1.
    candidates : astropy.table.Table or QTable
        One row per signal with at least ``pl_tranmid`` [d, full BJD_TDB], ``pl_trandurh`` [h]
        and ``pl_orbper`` [d] (NaN for a single event); ``pl_trandep`` [ppm] is optional.
        Columns may be Quantities or plain numbers in those units.  A dict (one candidate) or
        a list of dicts is accepted too.
    raw_lc : lightkurve.LightCurve, optional
        The undetrended light curve, for the Lomb-Scargle variability check.  Without it the
        periodogram is taken of ``lc`` (only variability that survived detrending is seen).
    star : StellarParameters or dict, optional
        The host star (:func:`astrotinyml.star.stellar_parameters`; a dict is passed to it
        as ``star=``).  Its radius gives ``companion_rade``; its density (when radius and
        mass or logg are known) is used when ``stellar_density`` is not given.  When omitted
        or without a radius, the solar prior is used for ``st_rad`` (``st_rad_source`` =
        ``prior``) and the companion-size test uses the radius ratio alone.
    stellar_density : float, array-like or Quantity, optional
        Stellar density in **g/cm^3** (the Sun: 1.41 g/cm^3), one value for all rows or one
        per row; a Quantity is converted.  When omitted, an ``st_dens`` column of the table
        (Exoplanet Archive name, g/cm^3) is used if present; otherwise the density
        diagnostics are NaN.
    sigma_threshold : float
        Significance above which odd/even differences and secondaries raise a flag.
    var_tolerance : float
        Relative tolerance for ``near_var_period``.
    var_power_min : float
        Lomb-Scargle power below which the star counts as not variable (no period match).
    density_tolerance : float
        ``density_flag`` is raised when the implied/known density ratio is outside
        ``[1/density_tolerance, density_tolerance]``.
    modshift : bool
        Run the model-shift test (the ``modshift_*`` columns; NaN without it).  On by default:
        it costs milliseconds per candidate (about 5 ms on a TESS 2-min sector or on three
        Kepler long-cadence quarters, under 40 ms on four years of long cadence), so it does not
        slow :func:`astrotinyml.detect` down; turn it off only where the columns are not wanted.

    Returns
    -------
    astropy.table.QTable
        A new table: the input rows and columns unchanged, followed by the columns of
        :data:`VET_COLUMNS` in that order:

        - ``vet_depth_ppm``, ``vet_depth_err_ppm``, ``vet_snr``: mean depth of all transits
          (central half of the window, > 0 = dimming), its 1-sigma error, their ratio.
        - ``depth_odd_ppm``/``depth_odd_err_ppm``, ``depth_even_ppm``/``depth_even_err_ppm``:
          the same for odd (1st, 3rd, ...) and even transits; ``oddeven_diff_ppm`` = odd - even;
          ``oddeven_sigma`` = ``|odd - even|`` / combined error (>= 0; the error includes a
          systematic floor of 1% of the mean depth).  A large value means
          alternating depths: an eclipsing binary found at half its period.
        - ``sec05_depth_ppm``, ``sec05_sigma``: depth and signed significance at phase 0.5.
        - ``secondary_phase`` (0..1, primary at 0), ``secondary_depth_ppm``,
          ``secondary_depth_err_ppm``, ``secondary_sigma``: the most significant dip of a box
          search (box = central half of a transit, step T14/4) over all phases whose box lies
          at least one T14 from the primary; finds eccentric secondaries.
          ``secondary_fa_sigma`` is the significance pure white noise exceeds with 1%
          probability over that many independent phases; ``secondary_n_events`` counts the
          orbits with data in that box and ``secondary_max_event_fraction`` is the share of
          its flux deficit from the strongest single orbit; ``secondary_detected`` is
          ``secondary_sigma > max(secondary_fa_sigma, sigma_threshold)`` unless one orbit of
          two or more gives over 80% of the deficit (a stray event such as another planet's
          transit, not a secondary eclipse).
          ``secondary_albedo`` = (secondary/primary depth) * ``ars_implied``^2 is the
          geometric albedo a planet would need (> 1: not a planet's occultation; NaN when
          ``vet_snr < 3`` or no dimming).
        - ``shape_v``: ingress+egress fraction ``2*tau/T14`` of a least-squares trapezoid
          (exposure-integrated) fit, 0 = box (U), 1 = triangle (V); ``trapezoid_depth_ppm``,
          ``trapezoid_dur_h`` [h] from the same fit.  NaN when ``vet_snr < 3`` (no shape
          can be told from noise).
        - ``n_transits_expected`` (mid-times inside the data span), ``n_transits_data``
          (transits with in-window cadences), ``coverage`` = expected-with-data / expected.
        - ``depth_chi2_dof``: chi^2/dof of the per-transit depths (see
          :func:`transit_depths`) about their weighted mean (~1 for a constant depth);
          ``max_single_event_fraction``: largest share of the total flux deficit
          (sum of depth x cadences) from one transit (1/N for N equal transits, 1 for one).
        - ``var_period`` [d], ``var_power``: highest Lomb-Scargle peak (0.1 d to half the
          span) of ``raw_lc`` with all candidate transits masked; ``var_harmonic`` =
          ``pl_orbper/var_period`` when within ``var_tolerance`` of k or 1/k (k = 1, 2, 3) and
          ``var_power >= var_power_min``; ``near_var_period`` is then True.
        - ``rp_rs`` = sqrt(depth); ``ars_implied`` = (1 + rp_rs) / sin(pi T14 / P), the a/R*
          of a central transit on a circular orbit; ``stellar_density`` [g/cm^3] used;
          ``density_implied`` = 3 pi ars^3 / (G P^2) [g/cm^3]; ``density_ratio`` =
          implied / known (< 1: transit too long for the star, e.g. a blend or a giant host;
          > 1 happens for grazing or eccentric orbits); ``density_flag``.
        - ``st_rad`` [R_sun], ``st_rad_source``: the star's radius used and its source;
          ``companion_rade`` [R_earth] = ``rp_rs * st_rad``; ``shape_v_min`` = 2k/(1+k), the
          shortest ingress a dark body of ratio k = ``rp_rs`` can make (central transit);
          ``ingress_ratio`` = ``shape_v / shape_v_min``; ``not_planet_physics`` when
          ``COMPANION_TOO_LARGE`` or ``INGRESS_TOO_SHORT`` (below).  :func:`physics_veto`
          turns such a row's ``planet`` label into ``eb``.
        - ``vet_flags``: comma-separated failed tests among ``ODD_EVEN``, ``SECONDARY``
          (detected and not explainable by a planet: albedo > 1), ``V_SHAPE``
          (``shape_v > 0.8``), ``DEPTH_VARIES`` (``depth_chi2_dof > 5``),
          ``SINGLE_EVENT_DOMINATED`` (fraction > 0.8 with >= 3 transits), ``LOW_COVERAGE``
          (< 0.5), ``NEAR_VARIABILITY``, ``DENSITY``, ``LARGE_RADIUS`` (``rp_rs > 0.3``),
          ``COMPANION_TOO_LARGE`` (``companion_rade`` above
          :data:`astrotinyml.star.MAX_PLANET_RADIUS_RJUP` for a star of known radius, or
          ``rp_rs`` above :data:`astrotinyml.star.MAX_PLANET_RATIO_UNKNOWN_STAR` for an
          unknown one), ``INGRESS_TOO_SHORT`` (``rp_rs >= 0.2``, ``vet_snr >= 10`` and
          ``ingress_ratio < 0.5``: a deep flat-bottomed eclipse with sharp edges is a
          diluted stellar eclipse, not a dark body of that size).

        Then the diagnostics of the Kepler Robovetter (Coughlin et al. 2016, Thompson et al. 2018)
        and of LEO (Kunimoto et al. 2025), appended after ``vet_flags`` (the model-shift and
        SWEET tests with exovetter).  They use the full transit window ``|t - t_mid| < T14/2``,
        the white noise ``sigma_w`` (robust scatter out of transit) and the red noise
        ``sigma_r`` at the transit duration; those that need a period are NaN for single events:

        - ``noise_red_ppm``: ``sigma_r``, the scatter of the out-of-transit flux averaged over
          T14 beyond what white noise gives (Hartman & Bakos 2016; 0 for white noise).
          ``mes_red``: the multiple-event statistic, mean in-transit depth over
          ``sqrt(sigma_w^2/n_in + sigma_r^2/N)`` for ``n_in`` cadences in ``N`` transits (Pont
          et al. 2006), the transit's significance in correlated noise.  Cadences more than
          5 robust sigmas above the median (flares, cosmic rays:
          :func:`astrotinyml.transits.upper_outliers`) are left out of it, of the SES and of
          chases, as the search leaves them out.
          :func:`astrotinyml.detection.detect` reports it as the candidate's ``snr`` (the
          search's white-noise SNR kept as ``snr_white``) and requires
          ``mes_red >= 7.1`` (:data:`astrotinyml.detection.SNR_THRESHOLD`) of search candidates.
          ``vet_snr`` (central half of the transit, errors scaled by the time-averaging
          factor beta) stays what the classifier reads.
        - ``ses_max``: the largest single-event statistic (one transit's depth over
          ``sqrt(sigma_w^2/n + sigma_r^2)``); ``ses_max_mes_ratio`` = ``ses_max / mes_red``
          (NaN when ``mes_red <= 0``): about ``1/sqrt(N)`` for N equal transits, near 1 (or
          above) when one event makes the signal.
        - ``chases_mean``: per-transit uniqueness ("chases" of the Robovetter, as in LEO): for
          each transit, the distance to the nearest time between 1.5 T14 and 0.1 P from it
          where a T14-long box has ``|SES| > 0.7 x`` the transit's SES, over 0.1 P (1 when
          there is none); the mean over the transits.  Near 1: each transit stands out of its
          neighbourhood; small: noise makes such dips everywhere.
        - ``modshift_pri``, ``modshift_sec``, ``modshift_ter``, ``modshift_pos``: ModShift
          significances (dimming > 0; ``modshift_pos`` > 0 for a brightening) of the strongest
          dip of the phase curve convolved with the transit's box (the primary), the strongest
          dip at least 2 T14 from it (secondary), the next one 2 T14 from both (tertiary) and
          the strongest brightening 3 T14 from both, each in units of its white-noise error;
          ``modshift_fred``: red-noise factor, the scatter of that significance curve away from
          primary and secondary (1 for white noise); ``modshift_fa1`` =
          ``sqrt(2) erfcinv(T14 / P / 20000)`` and ``modshift_fa2`` = ``sqrt(2) erfcinv(T14 / P)``
          (exovetter's false-alarm threshold): the significances noise reaches by chance over
          20000 candidates and over one; ``modshift_sec_phase`` (0..1) and
          ``modshift_sec_depth_ppm``: where the secondary is and its box depth.  exovetter's
          folding, binning and box model are used; its significances are not (exovetter 0.0.16
          divides sums over the cadences of a phase bin by the scatter of one cadence, so its
          significances grow with the number of points).
        - ``sweet_amp_half_ppm``/``sweet_snr_half``, ``sweet_amp_ppm``/``sweet_snr``,
          ``sweet_amp_double_ppm``/``sweet_snr_double``: exovetter's SWEET test, the
          semi-amplitude and its significance of a sine fitted to the out-of-transit flux of
          ``lc`` at P/2, P and 2P (stellar variability, ellipsoidal variation); the numbers of
          ``exovetter.sweet.sweet``, computed without its per-transit loop.
        - ``aic_transit_line``: AIC of a box transit (baseline, depth >= 0) minus AIC of a flat
          line, least squares on the flux within 2 T14 of the transits with the white noise:
          negative favours the transit (about ``2 - 0.75 mes_red^2`` on white noise: the window's
          baseline is measured too); +2 when there is no dimming.
        - ``n_depth_segments``: mission segments with data in the central half of a transit,
          and ``segment_depth_chi2_dof``: chi^2/dof of their depths (measured as
          ``vet_depth_ppm``) about the weighted mean (~1 for a constant depth; NaN with one
          segment).  Segments are Kepler seasons (quarter mod 4: a contaminating star in
          another pixel changes the depth from season to season), K2 campaigns and TESS
          sectors, from ``lc.meta['quarters'/'campaigns'/'sectors']`` and the longest data
          gaps; without those lists, stretches of data more than 5 days apart.
        - ``asymmetry_ppm``: depth of the second half of the transit window minus that of the
          first, the halves taken about the trapezoid's fitted mid-time (the ephemeris when
          ``vet_snr < 3``) so that a slightly early or late ephemeris is no asymmetry;
          ``asymmetry_sigma`` = ``asymmetry_ppm`` over its error (signed; > 0: the flux
          deficit lasts longer after mid-transit, as behind a dust tail or a sudden pixel
          sensitivity drop).

        Their flags, at LEO's thresholds, are appended to ``vet_flags``:
        ``MODSHIFT_SECONDARY`` (``modshift_sec / modshift_fred > modshift_fa1`` and
        ``modshift_sec - modshift_ter - modshift_fa2 > -1`` or ``modshift_sec - modshift_pos -
        modshift_fa2 > -1``, unless a planet's occultation explains it: secondary shallower than
        a tenth of the primary and a geometric albedo ``(sec/pri depth) * ars_implied^2 <= 1``),
        ``SWEET`` (``P < 10`` d and a sine with significance > 15 and a semi-amplitude of at
        least half ``vet_depth_ppm``: the dip is a trough of the variability; the depth
        condition is ours, so that a hot Jupiter's phase curve does not fail it) and
        ``CHASES`` (``chases_mean < 0.78`` with at most 5 transits with data).

    Raises
    ------
    InvalidParameterError
        When a candidate lacks ``pl_tranmid``/``pl_trandurh``, when ``pl_tranmid`` is not a
        full BJD, or when ``stellar_density`` has the wrong length.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> rng = np.random.default_rng(1)
    >>> t = 2458000 + np.arange(0, 20, 0.01)
    >>> flux = 1 + 2e-4 * rng.normal(size=t.size)
    >>> flux[np.abs((t - 2458000.5 + 1.5) % 3 - 1.5) < 0.05] -= 0.005
    >>> lc = lk.LightCurve(time=t, flux=flux)
    >>> out = vet(lc, dict(pl_orbper=3.0, pl_tranmid=2458000.5, pl_trandurh=2.4, pl_trandep=5000.0))
    >>> bool(abs(out["vet_depth_ppm"][0] - 5000) < 100), bool(out["oddeven_sigma"][0] < 3)
    (True, True)
    """
    table = as_qtable(candidates)
    n = len(table)
    t, f, _ = lc_arrays(lc)
    cadence = float(np.median(np.diff(t))) if t.size > 1 else math.nan
    t_ref = float(np.median(t))
    ephs = [candidate_ephemeris(table[i], time_ref=t_ref) for i in range(n)]
    seg = _segment_ids(lc, t)

    rows = []
    for i, eph in enumerate(ephs):
        # A transit of a rare other candidate (<= 3 in the data) landing on one of this one's
        # goes too (it would count as this planet's depth, odd/even and shape).
        keep = independent_mask(t, eph, [e for j, e in enumerate(ephs) if j != i], protect_own=False)
        rows.append(_vet_one(t[keep], f[keep], eph, cadence, seg[keep], modshift))

    # Variability: one periodogram for the whole star.
    var_p, var_pow = (math.nan, math.nan)
    if n:
        try:
            var_p, var_pow = _lomb_scargle(raw_lc if raw_lc is not None else lc, ephs)
        except AstroTinyMLError:  # an unusable raw_lc costs this diagnostic only
            var_p, var_pow = (math.nan, math.nan)

    rho_star, st_rad, st_rad_source, radius_known = _host_star(star, stellar_density, table, n)
    for row, eph, rho in zip(rows, ephs, rho_star):
        row.update(var_period=var_p, var_power=var_pow)
        _variability_link(row, eph, var_p, var_pow, var_power_min=var_power_min, var_tolerance=var_tolerance)
        _orbit_physics(row, eph, rho, density_tolerance=density_tolerance)
        _secondary_verdict(row, sigma_threshold)
        _physics(row, st_rad, st_rad_source, radius_known)
        row["vet_flags"] = ",".join(_flags(row, sigma_threshold))
    _write_columns(table, rows)
    return table


def _host_star(star, stellar_density, table, n: int) -> tuple[np.ndarray, float, str, bool]:
    """(stellar density per candidate [g/cm^3], radius [R_sun], its source, radius known?).

    The density comes from ``stellar_density``, else the table's ``st_dens``, else the star's
    radius with its mass or log g; the radius from the star, else the Sun (``"prior"``).
    """
    if star is not None and not isinstance(star, StellarParameters):
        star = stellar_parameters(star=star, catalogs=False)
    if stellar_density is None and "st_dens" not in table.colnames and star is not None:
        rho_known = star.density if star.known("radius") and (star.known("mass") or star.known("logg")) else math.nan
        if math.isfinite(rho_known):
            stellar_density = rho_known
    rho_star = _stellar_density(stellar_density, table, n)
    radius_known = star is not None and star.known("radius")
    st_rad = star.radius if radius_known else PRIOR.radius
    st_rad_source = star.source("radius") if radius_known else "prior"
    return rho_star, st_rad, st_rad_source, radius_known


def _variability_link(row: dict[str, Any], eph: Ephemeris, var_p: float, var_pow: float, *,
                      var_power_min: float, var_tolerance: float) -> None:
    """``near_var_period``/``var_harmonic``: the period is 1, 2, 3, 1/2 or 1/3 of the star's rotation."""
    if eph.single or not (np.isfinite(var_p) and np.isfinite(var_pow) and var_pow >= var_power_min):
        return
    for k in (1, 2, 3):
        for ratio in ((k,) if k == 1 else (k, 1.0 / k)):
            if abs(eph.period / var_p - ratio) <= var_tolerance * ratio:
                row.update(near_var_period=True, var_harmonic=eph.period / var_p)
                return


def _orbit_physics(row: dict[str, Any], eph: Ephemeris, rho: float, *, density_tolerance: float) -> None:
    """``rp_rs``, the implied a/R* and stellar density against the star's, and the secondary's albedo."""
    depth = row["trapezoid_depth_ppm"]
    if not (np.isfinite(depth) and depth > 0):
        depth = row["vet_depth_ppm"]
    if np.isfinite(depth) and depth > 0:
        row["rp_rs"] = math.sqrt(depth * 1e-6)
    row["stellar_density"] = float(rho)
    if not eph.single and np.isfinite(row["rp_rs"]):
        x = math.pi * eph.duration / eph.period
        if x < 0.5 * math.pi:
            ars = (1.0 + row["rp_rs"]) / math.sin(x)
            row["ars_implied"] = ars
            row["density_implied"] = 3.0 * math.pi * ars**3 / (_G_CGS * (eph.period * 86400.0) ** 2)
            if np.isfinite(rho):
                row["density_ratio"] = row["density_implied"] / rho
                row["density_flag"] = not (1.0 / density_tolerance <= row["density_ratio"] <= density_tolerance)
    sec, pri = row["secondary_depth_ppm"], row["vet_depth_ppm"]
    if (np.isfinite(sec) and sec > 0 and np.isfinite(pri) and pri > 0 and np.isfinite(row["ars_implied"])
            and row["vet_snr"] >= _MIN_SHAPE_SNR):
        row["secondary_albedo"] = sec / pri * row["ars_implied"] ** 2


def _secondary_verdict(row: dict[str, Any], sigma_threshold: float) -> None:
    """``secondary_detected``: above both thresholds, and not made by a single orbit."""
    if np.isfinite(row["secondary_sigma"]):
        one_orbit = row["secondary_n_events"] >= 2 and not (row["secondary_max_event_fraction"] <= 0.8)
        row["secondary_detected"] = bool(
            row["secondary_sigma"] > max(row["secondary_fa_sigma"], sigma_threshold) and not one_orbit
        )


def _write_columns(table, rows: list[dict[str, Any]]) -> None:
    """The :data:`VET_COLUMNS` of ``rows`` into ``table`` (replacing those of an earlier vet)."""
    from astropy import units as u

    n = len(rows)
    names, cols = [], []
    for name, unit, _ in VET_COLUMNS:
        values = [r[name] for r in rows]
        if name in ("secondary_detected", "near_var_period", "density_flag", "not_planet_physics"):
            col = np.array(values, dtype=bool)
        elif name in ("n_transits_expected", "n_transits_data", "secondary_n_events", "n_depth_segments"):
            col = np.array(values, dtype=np.int64)
        elif name in ("vet_flags", "st_rad_source"):
            col = np.array(values, dtype=str) if n else np.array([], dtype="<U1")
        else:
            col = np.array(values, dtype=float)
        if unit not in PLAIN_UNITS:
            col = col * u.Unit(unit)
        names.append(name)
        cols.append(col)
    stale = [name for name in names if name in table.colnames]
    if stale:  # re-vetting a vetted table: refresh, do not duplicate
        table.remove_columns(stale)
    # In one call and without copies (the arrays are new): adding ~70 columns one by one
    # cost ~10 ms a vet.
    table.add_columns(cols, names=names, copy=False)


def _physics(row: dict[str, Any], st_rad: float, st_rad_source: str, radius_known: bool) -> None:
    """Companion size and ingress length against what a planet of this star can do."""

    k = row["rp_rs"]
    row["st_rad"] = float(st_rad)
    row["st_rad_source"] = st_rad_source
    row["companion_rade"] = k * st_rad * R_SUN_REARTH if np.isfinite(k) else math.nan
    row["shape_v_min"] = min_shape_v(k)
    if np.isfinite(row["shape_v"]) and np.isfinite(row["shape_v_min"]):
        row["ingress_ratio"] = row["shape_v"] / row["shape_v_min"]
    # A star of unknown radius could be a small M dwarf, so only the radius ratio can exclude
    # a planet there (module constants in astrotinyml.star say why those limits).
    too_large = (row["companion_rade"] > MAX_PLANET_RADIUS_RJUP * R_JUP_REARTH if radius_known
                 else np.isfinite(k) and k > MAX_PLANET_RATIO_UNKNOWN_STAR)
    # The trapezoid's ingress is only trusted for well-measured, deep eclipses; limb darkening
    # and long cadences make a planet's ingress look longer, never shorter, so a planet does
    # not fall below half its geometric minimum.
    too_sharp = (np.isfinite(k) and k >= 0.2 and row["vet_snr"] >= 10.0
                 and np.isfinite(row["ingress_ratio"]) and row["ingress_ratio"] < 0.5)
    row["_too_large"], row["_too_sharp"] = bool(too_large), bool(too_sharp)
    row["not_planet_physics"] = bool(too_large or too_sharp)


def physics_veto(candidates: Any, *, copy: bool = True) -> QTable:
    """Never call ``planet`` what the star's physics excludes; a copy is returned.

    Rows with ``not_planet_physics`` (from :func:`vet`) whose ``label`` is ``planet`` get
    ``label = 'eb'`` (a stellar companion or a diluted stellar eclipse); the probabilities
    are left as the classifier gave them.  A ``label_note`` column says why for those rows
    (empty elsewhere).  Tables without these columns are returned unchanged (a copy).
    ``copy=False`` changes a ``QTable`` in place and returns it (for callers passing a table
    of their own: copying a vetted table of ~130 columns costs ~0.05 s).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> t = QTable(dict(label=["planet", "planet"], not_planet_physics=[True, False]))
    >>> [str(x) for x in physics_veto(t)["label"]]
    ['eb', 'planet']
    """
    from astropy.table import QTable

    table = candidates if not copy and isinstance(candidates, QTable) else QTable(candidates, copy=True)
    if "label" not in table.colnames or "not_planet_physics" not in table.colnames:
        return table
    labels = np.array(table["label"], dtype="U12")
    notes = (np.array(table["label_note"], dtype="U80") if "label_note" in table.colnames
             else np.full(len(table), "", dtype="U80"))
    veto = np.asarray(table["not_planet_physics"], dtype=bool) & (labels == "planet")
    labels[veto] = "eb"
    flags = table["vet_flags"] if "vet_flags" in table.colnames else [""] * len(table)
    for i in np.flatnonzero(veto):
        why = [f for f in str(flags[i]).split(",") if f in ("COMPANION_TOO_LARGE", "INGRESS_TOO_SHORT")]
        notes[i] = "planet excluded by the star's physics: " + (",".join(why) or "not_planet_physics")
    table["label"] = labels
    table["label_note"] = notes
    return table


def _flags(row: dict[str, Any], sigma_threshold: float) -> list[str]:
    flags = []
    if np.isfinite(row["oddeven_sigma"]) and row["oddeven_sigma"] > sigma_threshold:
        flags.append("ODD_EVEN")
    if row["secondary_detected"] and not (np.isfinite(row["secondary_albedo"]) and row["secondary_albedo"] <= 1.0):
        flags.append("SECONDARY")
    if np.isfinite(row["shape_v"]) and row["shape_v"] > 0.8:
        flags.append("V_SHAPE")
    if np.isfinite(row["depth_chi2_dof"]) and row["depth_chi2_dof"] > 5.0:
        flags.append("DEPTH_VARIES")
    if (row["n_transits_data"] >= 3 and np.isfinite(row["max_single_event_fraction"])
            and row["max_single_event_fraction"] > 0.8):
        flags.append("SINGLE_EVENT_DOMINATED")
    if np.isfinite(row["coverage"]) and row["coverage"] < 0.5:
        flags.append("LOW_COVERAGE")
    if row["near_var_period"]:
        flags.append("NEAR_VARIABILITY")
    if row["density_flag"]:
        flags.append("DENSITY")
    if np.isfinite(row["rp_rs"]) and row["rp_rs"] > 0.3:
        flags.append("LARGE_RADIUS")
    if row.get("_too_large"):
        flags.append("COMPANION_TOO_LARGE")
    if row.get("_too_sharp"):
        flags.append("INGRESS_TOO_SHORT")
    flags.extend(_diagnostic_flags(row))
    return flags


def _diagnostic_flags(row: dict[str, Any]) -> list[str]:
    """Flags of the Robovetter/LEO diagnostics, at LEO's (Kunimoto et al. 2025) thresholds."""
    flags = []
    # A significant ModShift secondary (LEO's MS4 and (MS5 or MS6)) that a planet's occultation
    # cannot explain (geometric albedo <= 1 and less than a tenth of the primary's depth).
    sec, ter, pos = row["modshift_sec"], row["modshift_ter"], row["modshift_pos"]
    fred, fa1, fa2 = row["modshift_fred"], row["modshift_fa1"], row["modshift_fa2"]
    if np.isfinite(sec) and np.isfinite(fred) and fred > 0 and np.isfinite(fa1):
        ms4 = sec / fred - fa1 > 0.0
        ms5 = not np.isfinite(ter) or sec - ter - fa2 > -1.0
        ms6 = not np.isfinite(pos) or sec - pos - fa2 > -1.0
        d_sec, d_pri, ars = row["modshift_sec_depth_ppm"], row.get("_ms_pri_depth", math.nan), row["ars_implied"]
        occultation = (np.isfinite(d_sec) and np.isfinite(d_pri) and d_pri > 0 and np.isfinite(ars)
                       and d_sec < 0.1 * d_pri and d_sec / d_pri * ars**2 <= 1.0)
        if ms4 and (ms5 or ms6) and not occultation:
            flags.append("MODSHIFT_SECONDARY")
    # A sine out of transit, significant (LEO: SNR > 15, P < 10 d) and with a semi-amplitude of
    # at least half the transit depth: the "transit" is then a trough of the variability.  (A hot
    # Jupiter's ellipsoidal or phase-curve variation is significant too, but tiny next to its
    # transit: WASP-18 b's ~230 ppm at P/2 against a 1% transit.)
    depth = row["vet_depth_ppm"]
    if np.isfinite(depth) and row["n_transits_data"] >= 1:
        for amp, snr in (("sweet_amp_half_ppm", "sweet_snr_half"), ("sweet_amp_ppm", "sweet_snr"),
                         ("sweet_amp_double_ppm", "sweet_snr_double")):
            if (np.isfinite(row[snr]) and row[snr] > _SWEET_SNR and row[amp] >= _SWEET_DEPTH_FRACTION * depth
                    and row.get("_period", math.nan) < _SWEET_MAX_PERIOD):
                flags.append("SWEET")
                break
    # Transits not unique in their neighbourhood (LEO: at most 5 transits, mean chases < 0.78).
    if (np.isfinite(row["chases_mean"]) and 1 <= row["n_transits_data"] <= _CHASES_MAX_TRANSITS
            and row["chases_mean"] < _CHASES_MIN):
        flags.append("CHASES")
    return flags
