"""Limb-darkened transit fit with posteriors: from a box candidate to planet parameters.

:func:`fit_transit` takes the flattened light curve and the candidate table of
:func:`astrotinyml.searching.search` (or any table in the DESIGN columns and units) and fits
each candidate with a physical transit model, returning posterior medians and 1-sigma
intervals in the NASA Exoplanet Archive's column names.  :func:`limb_darkening` gives the
tabulated quadratic limb-darkening coefficients it centres its priors on.

Model
-----
A circular-orbit transit with quadratic limb darkening (``batman``; Kreidberg 2015),
integrated over the exposure time (the cadence): long cadences (Kepler/K2 29.4 min, TESS
10/30-min FFIs) are averaged over sub-exposures of at most 3 minutes placed at the
midpoints of equal slices of the exposure, because ingress and egress last ~15-30 min
and a point model would be too sharp (Kipping 2010).  The model multiplies a baseline
``c0 + c1 x + c2 x^2`` in ``x`` = time from mid-transit (``baseline="quadratic"``, default;
``"linear"`` or ``"constant"``): the curvature a phase curve or ellipsoidal variation
(WASP-18: ~190 ppm at P/2) leaves around the transit after detrending would otherwise
deepen the transit (WASP-18 b: Rp/R* 0.0984 with a constant baseline, 0.0978 with the
quadratic one, 0.0976 published).  The noise is Gaussian with variance
``flux_err**2 + jitter**2``: the jitter absorbs what the pipeline errors miss (K2SC errors
are ~5x too small), so the posteriors widen instead of being over-confident.

Parameters and priors (MCMC):

- ``t0``, the mid-transit time at the reference epoch (the transit with data nearest the
  middle of the fitted data, where ``t0`` and ``P`` are least correlated), and ``P``:
  uniform within ``+-1`` duration and ``+-2 %`` of the candidate's values;
- ``k = Rp/R*``: uniform in (0, 1);
- ``a/R*``: uniform in ln(a/R*) over (1.2, 2000) (scale-free);
- ``b``: uniform in [0, 1 + k) (grazing transits allowed; jointly uniform with ``k`` over
  that region);
- ``q1, q2``: the Kipping (2013) parametrisation of ``u1, u2``, uniform in (0, 1) (which
  keeps the intensity positive and decreasing to the limb) times Gaussians of width
  ``ld_sigma`` (0.1) centred on the table values for the star's Teff, logg and [Fe/H]
  (:func:`limb_darkening`).  Fitted with this prior rather than fixed, so that the data
  can correct the theoretical coefficients (often off by ~0.1) while the prior keeps the
  limb-darkening - impact-parameter degeneracy of low-SNR transits in check;
  ``fit_ld=False`` fixes them;
- ``ln(jitter)``: uniform over (1e-6, 0.1);
- ``c0, c1, c2``: flat, marginalised analytically (they enter linearly).

The walkers move in ``t0, P, ln(depth), ln(T14), b, q1, q2, ln(jitter)`` (depth = the
limb-darkened ``k^2 I(mu_b)/<I>``), in which the posterior is close to Gaussian: the data
measure depth and duration almost independently of ``b``, while ``k`` and ``a/R*`` move
with ``b`` along a curved ridge.  The priors above are kept exactly through the Jacobians
of the change of variables.

Procedure: data within ``window`` (1.5) durations of each mid-transit are kept (speed);
transits of the other candidates of the table are removed (as :mod:`astrotinyml.vetting` does,
except candidates at a commensurate period); a least-squares fit
(``scipy.optimize.least_squares``, two starting impact parameters) starts from the box
values; 5-sigma outliers of its residuals are removed and it is refitted; then ``emcee``'s
ensemble sampler (differential-evolution moves, which need about half the
autocorrelation time of the default stretch move here) runs from a ball drawn from the
least-squares covariance, for at most ``nsteps`` steps.  Every 500 steps the largest
integrated autocorrelation time ``tau_max`` (``get_autocorr_time(tol=0)``) of the chain
after its first quarter (burn-in, discarded) is estimated, and the run stops early once
that chain is 30 ``tau_max`` long and ``tau_max`` changed by less than 10 %.  Convergence is
reported, never hidden: ``fit_converged`` is True only when the kept chain is at least 30
``tau_max`` long; otherwise the intervals are given anyway, with ``fit_converged`` False.

Correlated noise shifts whole transits, which the white-noise likelihood (errors + jitter)
does not see: after the fit each transit is timed against the best model (``fit_n_timed``
transits) and the P and T0 intervals are widened by ``fit_timing_scale`` = sqrt(chi^2/dof)
of those times about the fitted ephemeris (at least 1; K2: 1.1-2).

Calibration (``benchmarks/transit_fit.py``, 55 transits injected into real quiet K2 stars,
default MCMC): the 68 % intervals hold the truth for 56 % (P), 78 % (T0), 78 % (Rp/R*), 73 %
(a/R*), 78 % (b) and 75 % (T14) of the cases (binomial spread +-6 %).  Without the timing
scale P was 51 % and T0 65 %: the period interval is still ~1.3x too narrow on such data.

The light curve is the pipeline's :func:`astrotinyml.detrending.detrend` output, **detrended
with the transits masked, not fitted jointly**: the trend under each transit is
interpolated from the out-of-transit data, and its uncertainty is not part of the
posteriors (the quadratic baseline absorbs only its mean curvature).  A transit much longer
than the detrending window (0.5-1 d) is distorted.

Single events (``single_event`` True or no finite ``pl_orbper``) are fitted, with the
period fixed to a long value, ``P = pi^2 G rho* (T14 / (1 + k))^3 / 3`` (the period at which
a central transit of a star of density ``rho*`` lasts ``T14``; the star's density when known,
the solar prior's otherwise; at least 20 fit windows, so no second transit falls in the
data): for one transit the shape constrains only the ratio of ``a/R*`` to ``P``, so
``pl_orbper``, ``pl_ratdor`` and ``st_dens_implied`` are NaN while ``t0``, ``k``, ``b``, the
depth, duration and radius are fitted.  ``fit_method`` says so and gives the period used.

For example:

>>> from astrotinyml.transitfit import limb_darkening
>>> ld = limb_darkening(5772.0, 4.44, 0.0, mission="TESS")
>>> round(ld.u1, 2), round(ld.u2, 2), ld.clamped
(0.3, 0.28, False)
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .candidates import Ephemeris, as_qtable, candidate_ephemeris
from .config import DATA_DIR
from .errors import InvalidParameterError
from .star import PRIOR, R_SUN_REARTH, stellar_parameters
from .transits import MIN_POINTS, epoch_and_offset, independent_mask, lc_arrays, robust_std

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import QTable

    from .star import StellarParameters

__all__ = ["fit_transit", "model_flux", "limb_darkening", "LimbDarkening", "FIT_COLUMNS", "FIT_METHODS",
           "BASELINES", "LD_TABLES"]

#: Fitting methods of :func:`fit_transit`.
FIT_METHODS = ("mcmc", "lsq")
#: Baselines of :func:`fit_transit` and their number of polynomial coefficients.
BASELINES = {"constant": 1, "linear": 2, "quadratic": 3}

_LD_DIR = DATA_DIR / "limb_darkening"
#: Bundled limb-darkening tables by band: (file, reference).  K2 observed in Kepler's band.
LD_TABLES = {
    "kepler": ("kepler.csv", "Claret & Bloemen 2011 (Kepler)"),
    "tess": ("tess.csv", "Claret 2017 (TESS)"),
}
_MISSION_BAND = {"kepler": "kepler", "k2": "kepler", "tess": "tess"}

#: Gravitational constant (cgs), for densities in g/cm^3.
_G_CGS = 6.674e-8
_DAY_S = 86400.0
#: Longest sub-exposure when supersampling long cadences [min]: with the midpoint rule
#: the model error stays below ~15 ppm (a hot Jupiter, or a 1000-ppm transit with a short
#: ingress, in 29.4-min data: 10 sub-exposures).
_SUBEXPOSURE_MIN = 3.0
#: Residuals beyond this many robust sigmas of the least-squares fit are outliers.
_CLIP_SIGMA = 5.0
#: Bounds of the sampled parameters that are not set by the candidate.
_ARS_MIN, _ARS_MAX = 1.2, 2000.0
_JITTER_MIN, _JITTER_MAX = 1e-6, 0.1
#: Samples used for the model depth (one batman call each); medians of the rest use all.
_DEPTH_SAMPLES = 2000
#: Draws from the least-squares covariance that give method="lsq" its derived intervals.
_LSQ_DRAWS = 4000
#: Kept chain length in autocorrelation times needed to call the chain converged.
_CONVERGED_TAUS = 30.0
#: Steps between convergence checks of the MCMC.
_CHECK_EVERY = 500
#: Posterior draws kept per candidate in ``meta["fit_posteriors"]`` (corner plots, reports).
_POSTERIOR_KEEP = 2000

# Fitted quantities: (name, unit, description); each comes with ``err1``/``err2`` columns.
_FITTED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("pl_orbper", "d", "orbital period (posterior median); NaN for a single event"),
    ("pl_tranmid", "d", "mid-transit time [full BJD_TDB] at the transit nearest the middle of the fitted data"),
    ("pl_ratror", "", "planet-to-star radius ratio Rp/R*"),
    ("pl_ratdor", "", "a/R*, semi-major axis over stellar radius; NaN for a single event"),
    ("pl_imppar", "", "impact parameter b"),
    ("pl_trandep", "ppm", "depth of the (limb-darkened, not exposure-smeared) model at mid-transit"),
    ("pl_trandurh", "h", "first-to-fourth contact duration T14 of the fitted model"),
    ("pl_rade", "earthRad", "planet radius k * R*; NaN when the star's radius is unknown"),
    ("st_dens_implied", "g / cm3", "stellar density 3 pi (a/R*)^3 / (G P^2) implied by the transit "
                                   "(circular orbit, planet mass neglected); NaN for a single event"),
)
_FITTED = tuple(n for n, _, _ in _FITTED_COLUMNS)
_DIAGNOSTICS: tuple[tuple[str, str, str], ...] = (
    ("fit_method", "", "'mcmc' or 'lsq', with the fixed period of a single event"),
    ("fit_converged", "", "MCMC: kept chain >= 30 tau_max; lsq: the least-squares solver converged"),
    ("fit_acceptance", "", "mean acceptance fraction of the walkers (NaN for lsq)"),
    ("fit_tau_max", "", "largest integrated autocorrelation time [steps] (NaN for lsq)"),
    ("fit_nsteps", "", "MCMC steps run per walker (the first quarter discarded); 0 for lsq"),
    ("fit_chi2_red", "", "chi^2 / dof at the best fit, with the noise model (errors + jitter)"),
    ("fit_jitter_ppm", "ppm", "fitted white-noise jitter added to flux_err in quadrature"),
    ("fit_n_points", "", "cadences used (in the transit windows, after outlier removal)"),
    ("fit_timing_scale", "", "factor (>= 1) by which the P and T0 intervals were widened: sqrt(chi^2/dof) "
                             "of the individual transit times about the fitted ephemeris (correlated noise)"),
    ("fit_n_timed", "", "transits whose individual times entered fit_timing_scale (< 3: scale 1)"),
    ("fit_supersample", "", "sub-exposures per cadence in the model"),
    ("fit_ld_u1", "", "quadratic limb-darkening u1 (posterior median)"),
    ("fit_ld_u2", "", "quadratic limb-darkening u2 (posterior median)"),
    ("fit_ld_table_u1", "", "u1 of the bundled table for the star (prior centre)"),
    ("fit_ld_table_u2", "", "u2 of the bundled table for the star (prior centre)"),
    ("fit_ld_source", "", "table used and where Teff, logg, [Fe/H] came from ('prior' = solar)"),
    ("fit_ld_clamped", "", "the star is outside the table's grid: coefficients of its nearest edge"),
)
#: Columns written by :func:`fit_transit`: (name, unit, description).  ``unit`` is an astropy
#: unit string, ``"ppm"`` for plain floats in ppm, ``""`` for numbers, booleans and strings.
#: Every fitted quantity ``x`` (the first nine) also gets ``xerr1`` (+1 sigma, >= 0) and
#: ``xerr2`` (-1 sigma, <= 0), as in the NASA Exoplanet Archive.
FIT_COLUMNS: tuple[tuple[str, str, str], ...] = _FITTED_COLUMNS + _DIAGNOSTICS


class LimbDarkening(NamedTuple):
    """Quadratic limb-darkening coefficients from a bundled table.

    ``clamped`` is True when (Teff, logg, [Fe/H]) lay outside the table and the nearest
    edge of the grid was used; ``table`` names the source.
    """

    u1: float
    u2: float
    clamped: bool
    table: str


@lru_cache(maxsize=4)
def _ld_grid(band: str):
    """(feh axis, logg axis, teff axis, u1 grid, u2 grid) of one bundled table."""
    fname, _ = LD_TABLES[band]
    import csv

    with open(_LD_DIR / fname, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    data = {c: np.array([float(r[c]) for r in rows]) for c in ("feh", "logg", "teff", "u1", "u2")}
    axes = [np.unique(data[c]) for c in ("feh", "logg", "teff")]
    shape = tuple(a.size for a in axes)
    if data["u1"].size != math.prod(shape):  # a regular grid is what the interpolation assumes
        raise InvalidParameterError(f"{fname}: the limb-darkening table is not a full grid")
    order = np.lexsort((data["teff"], data["logg"], data["feh"]))
    u1 = data["u1"][order].reshape(shape)
    u2 = data["u2"][order].reshape(shape)
    return axes[0], axes[1], axes[2], u1, u2


def _band(mission: str) -> str:
    key = str(mission).strip().lower()
    if key not in _MISSION_BAND:
        raise InvalidParameterError(
            f"mission={mission!r} has no limb-darkening table; use 'Kepler', 'K2' or 'TESS' "
            "(K2 uses Kepler's band).")
    return _MISSION_BAND[key]


def limb_darkening(teff: float, logg: float, feh: float = 0.0, *, mission: str) -> LimbDarkening:
    """Quadratic limb-darkening coefficients of a star in a mission's band.

    Interpolated linearly in Teff, logg and [Fe/H] (bilinear in Teff-logg at the two
    bracketing metallicities, then linear between them) in the bundled tables of
    ``astrotinyml/data/limb_darkening/``: Claret & Bloemen (2011) for Kepler and K2,
    Claret (2017) for TESS (ATLAS models, least-squares coefficients, xi = 2 km/s; the
    grid is Teff 3500-10000 K, logg 3.5-5.0, [Fe/H] -1.0 to +0.5).  Outside the grid the
    nearest edge is used and ``clamped`` is True.  Nothing is downloaded.

    Parameters
    ----------
    teff : float
        Effective temperature [K].
    logg : float
        Surface gravity [log10 cm/s^2].
    feh : float
        Metallicity [Fe/H] [dex]; NaN is taken as solar (0).
    mission : str
        ``"Kepler"``, ``"K2"`` or ``"TESS"`` (case-insensitive).

    Returns
    -------
    LimbDarkening
        ``(u1, u2, clamped, table)``.

    Raises
    ------
    InvalidParameterError
        Unknown mission, or a non-finite Teff or logg.

    Examples
    --------
    >>> ld = limb_darkening(5750.0, 4.5, 0.0, mission="Kepler")   # a grid point
    >>> ld.u1, ld.u2, ld.table
    (0.4035, 0.2622, 'Claret & Bloemen 2011 (Kepler)')
    >>> limb_darkening(3000.0, 4.9, mission="K2").clamped           # cooler than the grid
    True
    """
    band = _band(mission)
    vals = []
    for name, v in (("teff", teff), ("logg", logg)):
        try:
            v = float(getattr(v, "value", v))
        except (TypeError, ValueError):
            v = math.nan
        if not math.isfinite(v):
            raise InvalidParameterError(
                f"limb_darkening needs a finite {name}, got {v!r}; use astrotinyml.star.PRIOR "
                "(the Sun) for an unknown star.")
        vals.append(v)
    try:
        z = float(getattr(feh, "value", feh))
    except (TypeError, ValueError):
        z = math.nan
    if not math.isfinite(z):
        z = 0.0
    zax, gax, tax, u1g, u2g = _ld_grid(band)
    point = (z, vals[1], vals[0])
    clamped = False
    idx, wts = [], []
    for x, ax in zip(point, (zax, gax, tax)):
        xc = min(max(x, ax[0]), ax[-1])
        clamped |= xc != x
        j = int(np.clip(np.searchsorted(ax, xc, side="right") - 1, 0, ax.size - 2))
        w = (xc - ax[j]) / (ax[j + 1] - ax[j])
        idx.append(j)
        wts.append(w)
    out = []
    for grid in (u1g, u2g):
        acc = 0.0
        for dz in (0, 1):
            for dg in (0, 1):
                for dt in (0, 1):
                    w = ((wts[0] if dz else 1 - wts[0]) * (wts[1] if dg else 1 - wts[1])
                         * (wts[2] if dt else 1 - wts[2]))
                    if w:
                        acc += w * grid[idx[0] + dz, idx[1] + dg, idx[2] + dt]
        out.append(round(float(acc), 6))
    return LimbDarkening(out[0], out[1], bool(clamped), LD_TABLES[band][1])


def _u_to_q(u1: float, u2: float) -> tuple[float, float]:
    """Kipping (2013) q1, q2 of quadratic u1, u2 (clipped to the physical square)."""
    s = u1 + u2
    q1 = float(np.clip(s * s, 1e-6, 1 - 1e-6))
    q2 = float(np.clip(u1 / (2.0 * s), 1e-6, 1 - 1e-6)) if s > 0 else 0.5
    return q1, q2


def _q_to_u(q1, q2):
    sq = np.sqrt(q1)
    return 2.0 * sq * q2, sq * (1.0 - 2.0 * q2)


def _ars_from_t14(per, k, b, t14):
    """a/R* of a circular orbit with period ``per``, duration ``t14``, ``k`` and ``b`` (Winn 2010
    eq. 14 solved for a/R*, using ``a^2 sin^2 i = a^2 - b^2``)."""
    s = np.sin(np.pi * t14 / per)
    return np.sqrt(b ** 2 + ((1.0 + k) ** 2 - b ** 2) / (s * s))


def _log_jacobian_t14(per, k, b, t14, ars):
    """ln |d ln(a/R*) / d ln T14| at fixed P, k, b: turns a prior uniform in ln(a/R*) into the
    density of the sampled ln T14."""
    x = np.pi * t14 / per
    s = np.sin(x)
    chord2 = (1.0 + k) ** 2 - b ** 2
    return np.log(np.pi * t14 * chord2 * np.cos(x) / (per * s ** 3 * ars ** 2))


def _ld_depth_factor(b, u1, u2):
    """``I(mu_b) / <I>``: the depth of a small planet at impact parameter ``b`` over ``k^2``
    (quadratic law; ``mu`` = 0 for ``b >= 1``), floored so that it stays invertible."""
    mu = np.sqrt(np.clip(1.0 - np.asarray(b, dtype=float) ** 2, 0.0, 1.0))
    inten = 1.0 - u1 * (1.0 - mu) - u2 * (1.0 - mu) ** 2
    return np.maximum(inten / (1.0 - u1 / 3.0 - u2 / 6.0), 1e-3)


def _cholesky_solve(a, g):
    """Solve the small symmetric positive system ``a c = g``: ``(c, ln det a, ok)``.

    Plain-float Cholesky: the 1x1 to 3x3 normal matrices of the baseline are solved once
    per likelihood call, where numpy's per-call overhead would exceed the arithmetic.
    """
    n = len(g)
    low = [[0.0] * n for _ in range(n)]
    logdet = 0.0
    for i in range(n):
        for j in range(i + 1):
            v = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if not v > 0.0:
                    return [math.nan] * n, math.nan, False
                low[i][i] = math.sqrt(v)
                logdet += 2.0 * math.log(low[i][i])
            else:
                low[i][j] = v / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (g[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    c = [0.0] * n
    for i in reversed(range(n)):
        c[i] = (y[i] - sum(low[k][i] * c[k] for k in range(i + 1, n))) / low[i][i]
    return c, logdet, True


def _density(per, ars):
    """Stellar density [g/cm^3] from P [d] and a/R* (planet mass neglected)."""
    return 3.0 * np.pi * ars ** 3 / (_G_CGS * (per * _DAY_S) ** 2)


def _single_event_period(duration: float, k: float, rho: float) -> float:
    """Period [d] at which a central transit of a star of density ``rho`` lasts ``duration``."""
    t14_s = duration * _DAY_S
    return math.pi ** 2 * _G_CGS * rho / 3.0 * (t14_s / (1.0 + k)) ** 3 / _DAY_S


class _Problem:
    """One candidate's data, model and posterior.

    Sampled vector (``names``): ``t0`` (offset from ``tref`` [d]), ``per`` (omitted for a
    single event), ``log_depth``, ``log_t14``, ``b``, ``q1``, ``q2`` (omitted when fixed),
    ``log_jitter`` (omitted without jitter).  The coordinates are chosen for the walkers,
    the priors stay those of the module notes (uniform in k and ln(a/R*)) through the
    Jacobians in :meth:`log_prior`:

    - ``log_t14`` replaces ln(a/R*) and ``log_depth`` (the limb-darkened depth
      ``k^2 I(mu_b)/<I>``) replaces ``k``: the data measure depth and duration almost
      independently of ``b``, while ``k`` and ``a/R*`` move with ``b`` along a curved
      ridge that the walkers cross slowly (tau ~ 170 steps on a K2 sub-Neptune in
      ``k``-``a/R*`` coordinates);
    - the baseline ``c0 + c1 x + c2 x^2`` (``x`` = time from mid-transit in durations; flat
      priors) multiplies the model linearly and is marginalised analytically, so it costs
      the walkers no dimension.

    The least-squares vector (``lsq_*``) is ``t0``, ``per``, ``k``, ``log_t14``,
    ``b / (1 + k)`` (a box bound for ``b < 1 + k``), ``q1``, ``q2``, ``c0``, ``c1``, ``c2``.
    """

    def __init__(self, t, f, e, *, tref, per0, dur0, per_fixed, q0, ld_sigma, fit_ld, jitter,
                 supersample, exp_time, nbase):
        import batman

        self.t, self.f, self.e = t, f, e
        self.e2 = np.where(np.isfinite(e) & (e > 0), e, 0.0) ** 2
        self.tref, self.per0, self.dur0 = tref, per0, dur0
        self.per_fixed = per_fixed
        self.q0, self.ld_sigma, self.fit_ld, self.jitter = q0, ld_sigma, fit_ld, jitter
        names = ["t0"] + ([] if per_fixed else ["per"]) + ["log_depth", "log_t14", "b"]
        names += (["q1", "q2"] if fit_ld else []) + (["log_jitter"] if jitter else [])
        self.names = names
        self.ix = {n: i for i, n in enumerate(names)}
        self.params = batman.TransitParams()
        p = self.params
        p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = 0.0, per0, 0.1, 10.0, 90.0, 0.0, 90.0
        p.limb_dark, p.u = "quadratic", list(_q_to_u(*q0))
        self.exp_time = float(exp_time)
        self.nsub = int(supersample)
        # Sub-exposures at the midpoints of nsub equal slices of the exposure (the midpoint
        # rule).  batman's own supersampling spreads them from edge to edge with equal
        # weights, a first-order rule: 160 ppm error on a hot Jupiter in 29.4-min data at 15
        # sub-exposures, against 5 ppm here.
        self.offsets = ((np.arange(self.nsub) + 0.5) / self.nsub - 0.5) * self.exp_time
        self.model_obj = batman.TransitModel(p, self._super(t - tref))
        self.core = None  # see set_core
        # Baseline polynomial in the time from mid-transit (candidate ephemeris), in
        # durations; its powers up to 2 (nbase - 1) give the normal equations.
        self.nbase = int(nbase)
        tt = t - tref
        x = (tt - np.round(tt / per0) * per0 if not per_fixed else tt) / dur0
        self.xpow = [x ** i for i in range(2 * self.nbase - 1)]
        self.per_lo, self.per_hi = (per0 * 0.98, per0 * 1.02) if not per_fixed else (per0, per0)
        self.sigma_fixed = None  # noise used by the least-squares fit

    def _super(self, t):
        return (t[:, None] + self.offsets[None, :]).ravel() if self.nsub > 1 else t

    def _integrate(self, flux):
        return flux.reshape(-1, self.nsub).mean(axis=1) if self.nsub > 1 else flux

    # -- coordinates ----------------------------------------------------------------------
    def physical(self, th):
        """Physical parameters of sampled vector(s) ``th`` (shape (ndim,) or (n, ndim)):
        dict of ``t0, per, k, t14, b, ars, q1, q2, u1, u2, jitter`` (the baseline is
        marginalised, :meth:`best_base` gives its best value); ``ars`` is NaN where undefined."""
        th = np.asarray(th, dtype=float)
        g = self.ix
        col = lambda n: th[..., g[n]]  # noqa: E731
        d = {"t0": col("t0"), "per": self.per0 if self.per_fixed else col("per"),
             "t14": np.exp(col("log_t14")), "b": col("b")}
        d["q1"], d["q2"] = (col("q1"), col("q2")) if self.fit_ld else self.q0
        d["u1"], d["u2"] = _q_to_u(d["q1"], d["q2"])
        d["k"] = np.sqrt(np.exp(col("log_depth")) / _ld_depth_factor(d["b"], d["u1"], d["u2"]))
        d["jitter"] = np.exp(col("log_jitter")) if self.jitter else 0.0
        ok = (d["t14"] < 0.5 * d["per"]) & (d["b"] >= 0.0) & (d["b"] < 1.0 + d["k"])
        with np.errstate(invalid="ignore", divide="ignore"):
            d["ars"] = np.where(ok, _ars_from_t14(d["per"], d["k"], d["b"], d["t14"]), np.nan)
        return d

    def theta(self, d):
        """Sampled vector of physical parameters ``d`` (scalars)."""
        depth = d["k"] ** 2 * _ld_depth_factor(d["b"], *_q_to_u(d["q1"], d["q2"]))
        v = [d["t0"]] + ([] if self.per_fixed else [d["per"]])
        v += [math.log(depth), math.log(d["t14"]), d["b"]]
        v += ([d["q1"], d["q2"]] if self.fit_ld else [])
        v += [math.log(min(max(d["jitter"], 1.1 * _JITTER_MIN), 0.9 * _JITTER_MAX))] if self.jitter else []
        return np.array(v, dtype=float)

    def lsq_vector(self, d):
        v = [d["t0"]] + ([] if self.per_fixed else [d["per"]])
        v += [d["k"], math.log(d["t14"]), d["b"] / (1.0 + d["k"])]
        v += ([d["q1"], d["q2"]] if self.fit_ld else []) + list(d["base"])
        return np.array(v, dtype=float)

    def lsq_dict(self, x, jitter):
        """Physical parameters (floats) of least-squares vector ``x`` with noise ``jitter``."""
        i = iter(x)
        d = {"t0": next(i), "per": self.per0 if self.per_fixed else next(i), "k": next(i),
             "t14": math.exp(next(i))}
        d["b"] = next(i) * (1.0 + d["k"])
        d["q1"], d["q2"] = (next(i), next(i)) if self.fit_ld else self.q0
        base = tuple(float(next(i)) for _ in range(self.nbase))
        d["u1"], d["u2"] = (float(u) for u in _q_to_u(d["q1"], d["q2"]))
        d["jitter"] = float(jitter)
        d["ars"] = float(_ars_from_t14(d["per"], d["k"], d["b"], d["t14"]))
        d = {k: float(v) for k, v in d.items()}
        d["base"] = base
        return d

    def lsq_bounds(self):
        lo = [-self.dur0] + ([] if self.per_fixed else [self.per_lo])
        hi = [self.dur0] + ([] if self.per_fixed else [self.per_hi])
        lo += [1e-4, math.log(0.2 * self.dur0), 0.0]
        hi += [0.99, math.log(min(5.0 * self.dur0, 0.3 * self.per_lo)), 0.999]
        if self.fit_ld:
            lo += [1e-4, 1e-4]
            hi += [1 - 1e-4, 1 - 1e-4]
        lo += [0.5] + [-0.5] * (self.nbase - 1)
        hi += [1.5] + [0.5] * (self.nbase - 1)
        return np.array(lo), np.array(hi)

    # -- model ----------------------------------------------------------------------------
    def set_core(self, d):
        """Evaluate batman only on the cadences near the transits of the fit ``d``.

        Outside ``0.75 T14`` (plus an exposure) of the mid-transits of ``d`` the transit
        model is exactly 1 for every parameter vector whose transit stays inside that zone,
        so the sampler skips half of the cadences; a vector whose transit reaches beyond it
        (longer, or shifted in time) uses the full model, so the posterior is exact.
        """
        import batman

        t = self.t - self.tref
        per = d["per"]
        epoch = np.round((t - d["t0"]) / per)
        dt = t - d["t0"] - epoch * per
        half = 0.75 * d["t14"] + self.exp_time
        core = np.abs(dt) < half
        if core.sum() >= 0.8 * t.size or not core.any():
            return
        self.core = core
        self.core_half = half
        self.core_ref = (d["t0"], per)
        self.max_epoch = float(np.max(np.abs(epoch))) if not self.per_fixed else 0.0
        self.model_core = batman.TransitModel(self.params, self._super(t[core]))

    def model(self, d):
        """Model flux: ``transit(d)`` times the baseline ``d["base"]``."""
        return self.transit(d) * sum(c * self.xpow[i] for i, c in enumerate(d["base"]))

    def transit(self, d):
        """Exposure-integrated transit light curve (1 out of transit) of parameters ``d``."""
        p = self.params
        p.t0, p.per, p.rp, p.a = float(d["t0"]), float(d["per"]), float(d["k"]), float(d["ars"])
        p.inc = math.degrees(math.acos(min(float(d["b"]) / p.a, 1.0)))
        p.u = [float(d["u1"]), float(d["u2"])]
        if self.core is not None:
            t0r, perr = self.core_ref
            shift = abs(p.t0 - t0r) + abs(p.per - perr) * self.max_epoch
            if 0.5 * float(d["t14"]) + 0.5 * self.exp_time + shift < self.core_half:
                out = np.ones(self.t.size)
                out[self.core] = self._integrate(self.model_core.light_curve(p))
                return out
        return self._integrate(self.model_obj.light_curve(p))

    # -- posterior ------------------------------------------------------------------------
    def in_support(self, d):
        """Boolean (array) of the prior's support for physical parameters ``d``."""
        k, b, ars = d["k"], d["b"], d["ars"]
        ok = (k > 0.0) & (k < 1.0) & (b >= 0.0) & (b < 1.0 + k) & (ars > _ARS_MIN) & (ars < _ARS_MAX)
        ok &= (b < ars) & (np.abs(d["t0"]) < self.dur0)
        if not self.per_fixed:
            ok &= (d["per"] > self.per_lo) & (d["per"] < self.per_hi)
        if self.fit_ld:
            ok &= (d["q1"] > 0.0) & (d["q1"] < 1.0) & (d["q2"] > 0.0) & (d["q2"] < 1.0)
        if self.jitter:
            ok &= (d["jitter"] > _JITTER_MIN) & (d["jitter"] < _JITTER_MAX)
        return ok

    def log_prior(self, d):
        """Log prior density in the sampled coordinates (up to a constant), inside the support."""
        # Uniform in k and ln(a/R*): Jacobians of ln depth -> k (|dk/dln depth| = k/2) and
        # of ln T14 -> ln(a/R*).
        lp = np.log(0.5 * d["k"]) + _log_jacobian_t14(d["per"], d["k"], d["b"], d["t14"], d["ars"])
        if self.fit_ld:
            lp = lp - 0.5 * ((d["q1"] - self.q0[0]) ** 2 + (d["q2"] - self.q0[1]) ** 2) / self.ld_sigma ** 2
        return lp

    def _normal(self, m, w):
        """Normal equations of the baseline coefficients for transit model ``m``, weights ``w``."""
        wm = w * m
        mm = wm * m
        sums = [float(np.dot(mm, xp)) for xp in self.xpow]
        nb = self.nbase
        a = [[sums[i + j] for j in range(nb)] for i in range(nb)]
        g = [float(np.dot(wm * self.xpow[i], self.f)) for i in range(nb)]
        return a, g

    def best_base(self, d):
        """Baseline coefficients maximising the likelihood of ``d`` (weighted least squares)."""
        w = 1.0 / (self.e2 + d["jitter"] ** 2)
        a, g = self._normal(self.transit(d), w)
        c, _, _ = _cholesky_solve(a, g)
        return tuple(c)

    def log_prob(self, th):
        """Log posterior of one sampled vector."""
        return float(self.log_prob_many(np.atleast_2d(th))[0])

    def log_prob_many(self, ths):
        """Log posterior of sampled vectors ``ths`` (n, ndim): the walkers of an emcee step at
        once, so the coordinate transforms are vectorised and only batman runs per walker."""
        with np.errstate(invalid="ignore", divide="ignore"):
            d = self.physical(ths)
            ok = self.in_support(d)
            lp = np.where(ok, self.log_prior(d), -np.inf)
        out = np.full(len(ths), -np.inf)
        names = ("t0", "per", "k", "t14", "b", "ars", "u1", "u2", "jitter")
        cols = {n: np.broadcast_to(d[n], (len(ths),)) for n in names}
        for i in np.flatnonzero(ok & np.isfinite(lp)):
            di = {n: float(cols[n][i]) for n in names}
            m = self.transit(di)
            w = 1.0 / (self.e2 + di["jitter"] ** 2)
            # Gaussian likelihood integrated over the baseline coefficients (flat priors):
            # chi^2 at their best values plus -0.5 ln det of the normal matrix.
            a, g = self._normal(m, w)
            c, logdet, ok_i = _cholesky_solve(a, g)
            if not ok_i:
                continue
            chi2 = float(np.dot(w * self.f, self.f)) - sum(ci * gi for ci, gi in zip(c, g))
            out[i] = -0.5 * (chi2 - float(np.sum(np.log(w))) + logdet) + lp[i]
        return out

    def residuals(self, x):
        d = self.lsq_dict(x, 0.0)
        r = (self.f - self.model(d)) / self.sigma_fixed
        if self.fit_ld:
            r = np.concatenate([r, [(d["q1"] - self.q0[0]) / self.ld_sigma,
                                    (d["q2"] - self.q0[1]) / self.ld_sigma]])
        return r


def _cadence_days(lc, t: np.ndarray) -> float:
    cad = (getattr(lc, "meta", None) or {}).get("cadence_min")
    try:
        cad = float(cad)
    except (TypeError, ValueError):
        cad = math.nan
    if math.isfinite(cad) and cad > 0:
        return cad / 1440.0
    return float(np.median(np.diff(t))) if t.size > 1 else math.nan


def _percentiles(x) -> tuple[float, float, float]:
    """(median, +1 sigma, -1 sigma) from the 16th/50th/84th percentiles; NaN when empty."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    lo, med, hi = np.percentile(x, [15.865525, 50.0, 84.134475])
    return float(med), float(hi - med), float(lo - med)


def _select(t, f, e, eph: Ephemeris, others, half_width):
    """Cadences within ``half_width`` [d] of the candidate's transits, other candidates removed."""
    keep = independent_mask(t, eph, others, protect_own=True)
    _, dt = epoch_and_offset(t, eph)
    sel = keep & (np.abs(dt) < half_width)
    return t[sel], f[sel], e[sel]


def _reference_epoch(t, eph: Ephemeris) -> float:
    """Mid-transit time of the transit with data nearest the middle of the fitted data."""
    if eph.single:
        return eph.t0
    epoch, _ = epoch_and_offset(t, eph)
    mid = int(round(float(np.median(epoch))))
    # The nearest epoch that has data, so t0 is measured, not extrapolated.
    present = np.unique(epoch)
    mid = int(present[np.argmin(np.abs(present - mid))])
    return eph.t0 + mid * eph.period


@dataclass(frozen=True)
class _FitSetup:
    """What every stage of one candidate's fit shares: its ephemeris, the reference epoch
    and period, and the model options; :meth:`problem` builds the posterior on a data window."""

    name: str
    eph: Ephemeris
    tref: float
    per0: float
    single: bool
    q0: tuple[float, float]
    ld_sigma: float
    fit_ld: bool
    jitter: bool
    supersample: int
    cadence: float
    nbase: int

    def problem(self, t, f, e) -> _Problem:
        if t.size < MIN_POINTS + 10:
            raise InvalidParameterError(
                f"{self.name}: the candidate at pl_tranmid={self.eph.t0:.5f} has only {t.size} cadences in "
                f"its transit windows; at least {MIN_POINTS + 10} are needed to fit a transit model.")
        return _Problem(t, f, e, tref=self.tref, per0=self.per0, dur0=self.eph.duration, per_fixed=self.single,
                        q0=self.q0, ld_sigma=self.ld_sigma, fit_ld=self.fit_ld, jitter=self.jitter,
                        supersample=self.supersample, exp_time=self.cadence, nbase=self.nbase)

    def noise(self, prob: _Problem, resid: np.ndarray) -> float:
        """White noise the pipeline errors miss: the excess of the residuals' robust scatter
        over the typical error (all of it when there are no errors); 0 without jitter."""
        if not self.jitter:
            return 0.0
        s = robust_std(resid)
        s = s if math.isfinite(s) else 1e-3
        jit = math.sqrt(max(s * s - float(np.median(prob.e2)), 0.0))
        return min(max(jit, 1.1 * _JITTER_MIN), 0.9 * _JITTER_MAX)


def _fit_one(t_all, f_all, e_all, eph, others, *, single, q0, ld_sigma, fit_ld, jitter,
             supersample, cadence, window, method, nwalkers, nsteps, seed, progress, rho_for_single,
             radius, radius_err, name, nbase):
    """Fit one candidate; returns the row of fitted values and diagnostics.

    The steps: the data window and start values; least squares (twice, the second time on
    the window of the fitted duration with outliers clipped); the posterior (Jacobian
    draws for ``"lsq"``, emcee for ``"mcmc"``); the catalogue columns with their intervals.
    """
    half = window * eph.duration + 0.5 * cadence
    t, f, e = _select(t_all, f_all, e_all, eph, others, half)
    if t.size == 0:
        span = f"{t_all[0]:.3f}-{t_all[-1]:.3f}"
        raise InvalidParameterError(
            f"{name}: the candidate at pl_tranmid={eph.t0:.5f} (pl_orbper={eph.period}) has no "
            f"cadence within {window} durations of any of its transits (light curve spans BJD "
            f"{span}); check that pl_tranmid is a full BJD_TDB and that the candidate belongs to "
            "this light curve.")
    k0 = _start_ratio(t, f, eph)
    if single:
        # No second transit may fall in the fitted window.
        tref, per0 = eph.t0, max(_single_event_period(eph.duration, k0, rho_for_single), 20.0 * half, 10.0)
    else:
        tref, per0 = _reference_epoch(t, eph), eph.period
    setup = _FitSetup(name=name, eph=eph, tref=tref, per0=per0, single=single, q0=q0, ld_sigma=ld_sigma,
                      fit_ld=fit_ld, jitter=jitter, supersample=supersample, cadence=cadence, nbase=nbase)
    prob, res, dfit = _least_squares_fit(setup, t_all, f_all, e_all, others, (t, f, e), k0=k0, window=window)
    rng = np.random.default_rng(seed)
    if method == "lsq":
        samples, best, diag = _lsq_posterior(prob, res, dfit, rng)
    else:
        samples, best, diag = _mcmc_posterior(prob, res, dfit, rng, eph=eph, per0=per0, nwalkers=nwalkers,
                                              nsteps=nsteps, seed=seed, progress=progress)
    row: dict[str, Any] = dict(diag)
    row.update(_posterior_columns(prob, samples, best, single=single, tref=tref, radius=radius,
                                  radius_err=radius_err, seed=seed, cadence=cadence, supersample=supersample))
    row.update(_fit_quality(prob, best, jitter=jitter, supersample=supersample))
    if single:
        row["fit_method"] += f" (single event: period fixed at {per0:.1f} d)"
    return row


def _start_ratio(t, f, eph: Ephemeris) -> float:
    """Start value of Rp/R*: sqrt of the box depth, else of the central cadences' deficit."""
    depth0 = eph.depth if math.isfinite(eph.depth) and eph.depth > 0 else math.nan
    if np.isnan(depth0):
        # No box depth given: the deficit of the central cadences below the window's median.
        _, dt = epoch_and_offset(t, eph)
        inner = np.abs(dt) < 0.25 * eph.duration
        depth0 = float(np.median(f) - np.median(f[inner])) if inner.any() else 1e-3
        depth0 = min(max(depth0, 1e-5), 0.5)
    return min(max(math.sqrt(depth0), 1e-3), 0.9)


def _least_squares(prob: _Problem, x_starts, jit: float):
    """The best of trust-region least-squares fits from ``x_starts`` (None if all fail)."""
    from scipy.optimize import least_squares

    prob.sigma_fixed = np.sqrt(prob.e2 + jit ** 2)
    lo, hi = prob.lsq_bounds()
    best = None
    for x0 in x_starts:
        x0 = np.clip(x0, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
        try:
            r = least_squares(prob.residuals, x0, bounds=(lo, hi), method="trf",
                              x_scale="jac", max_nfev=600, tr_solver="lsmr")
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best is None or r.cost < best.cost:
            best = r
    return best


def _lsq_starts(prob: _Problem, d: dict[str, Any]) -> list[np.ndarray]:
    """Start vectors at a low and a high impact parameter (the b - a/R* degeneracy)."""
    return [prob.lsq_vector(dict(d, b=b0 * (1.0 + d["k"]))) for b0 in (0.2, 0.7)]


def _least_squares_fit(setup: _FitSetup, t_all, f_all, e_all, others, data, *, k0: float, window: float):
    """(problem, least-squares result, fitted parameters) of one candidate.

    A first fit on the box's window; then the window of the fitted duration if the box was
    short, outliers beyond ``_CLIP_SIGMA`` clipped, and a second fit; the jitter is
    re-estimated from the final residuals.
    """
    eph, cadence = setup.eph, setup.cadence
    t, f, e = data
    prob = setup.problem(t, f, e)
    d0 = {"t0": 0.0, "per": setup.per0, "k": k0, "t14": eph.duration, "b": 0.3, "q1": setup.q0[0],
          "q2": setup.q0[1], "base": (1.0, 0.0, 0.0)[:setup.nbase]}
    jit = setup.noise(prob, f - np.median(f))
    res = _least_squares(prob, _lsq_starts(prob, d0), jit)
    if res is None:
        raise InvalidParameterError(f"{setup.name}: the least-squares transit fit failed at the start values "
                                    f"(pl_tranmid={eph.t0:.5f}); check the candidate's ephemeris.")
    dfit = prob.lsq_dict(res.x, jit)
    # Window from the fitted duration if the box duration was short; drop outliers; refit.
    t14_fit = dfit["t14"]
    if math.isfinite(t14_fit) and t14_fit > 1.1 * eph.duration:
        eph_w = Ephemeris(period=eph.period, t0=eph.t0, duration=t14_fit, depth=eph.depth)
        t, f, e = _select(t_all, f_all, e_all, eph_w, others, window * t14_fit + 0.5 * cadence)
        prob = setup.problem(t, f, e)
    resid = f - prob.model(dfit)
    s = robust_std(resid)
    if math.isfinite(s) and s > 0:
        good = np.abs(resid - np.median(resid)) < _CLIP_SIGMA * s
        if not good.all():
            t, f, e = t[good], f[good], e[good]
            prob = setup.problem(t, f, e)
    jit = setup.noise(prob, f - prob.model(dfit))
    res = _least_squares(prob, [prob.lsq_vector(dfit)] + _lsq_starts(prob, dfit), jit) or res
    dfit = prob.lsq_dict(res.x, jit)
    dfit["jitter"] = setup.noise(prob, f - prob.model(dfit))
    prob.set_core(dfit)
    return prob, res, dfit


def _lsq_draws(prob: _Problem, res, rng, n: int, scale: float) -> np.ndarray:
    """``n`` least-squares vectors drawn from the (scaled) Jacobian covariance, within the bounds."""
    J = res.jac
    try:
        cov = np.linalg.pinv(J.T @ J)
    except np.linalg.LinAlgError:
        cov = np.full((J.shape[1], J.shape[1]), np.nan)
    if not np.all(np.isfinite(cov)):
        return np.tile(res.x, (n, 1))
    lo, hi = prob.lsq_bounds()
    return np.clip(rng.multivariate_normal(res.x, scale ** 2 * cov, size=n, method="eigh"), lo, hi)


def _lsq_posterior(prob: _Problem, res, dfit, rng):
    """(samples, best, diagnostics) for ``method="lsq"``: intervals of the derived quantities
    from draws of the Jacobian covariance."""
    jit = dfit["jitter"]
    samples = np.array([prob.theta(prob.lsq_dict(x, jit)) for x in _lsq_draws(prob, res, rng, _LSQ_DRAWS, 1.0)])
    diag = dict(fit_method="lsq", fit_converged=bool(res.success), fit_acceptance=math.nan,
                fit_tau_max=math.nan, fit_nsteps=0)
    return samples, prob.theta(dfit), diag


def _mcmc_posterior(prob: _Problem, res, dfit, rng, *, eph, per0, nwalkers, nsteps, seed, progress):
    """(samples, maximum-posterior sample, diagnostics) of an emcee run started at the least squares."""
    import emcee

    ndim = len(prob.names)
    jit = dfit["jitter"]
    nw = max(int(nwalkers), 2 * ndim + 2)
    # Walkers in a ball drawn from half the least-squares covariance (the ball need not
    # cover the posterior: the sampler expands it), each with a finite posterior.  The
    # covariance can be singular (b = 0, where the model is flat in b; bounds clip the
    # draws), so each coordinate also gets a small spread of its own: walkers that
    # coincide in one coordinate would never leave that plane.
    floor = {"t0": 1e-3 * eph.duration, "per": 1e-6 * per0, "log_depth": 0.01, "log_t14": 0.003,
             "b": 0.02, "q1": 0.01, "q2": 0.01, "log_jitter": 0.05}
    spread = np.array([floor[n] for n in prob.names])
    start = prob.theta(dfit)
    p0 = np.empty((nw, ndim))
    for i in range(nw):
        for x in _lsq_draws(prob, res, rng, 200, 0.5):
            cand = prob.theta(prob.lsq_dict(x, jit)) + spread * rng.normal(size=ndim)
            cand[prob.ix["b"]] = abs(cand[prob.ix["b"]])
            if np.isfinite(prob.log_prob(cand)):
                break
        else:
            cand = start
        p0[i] = cand
    moves = [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    sampler = emcee.EnsembleSampler(nw, ndim, prob.log_prob_many, moves=moves, vectorize=True)
    sampler.random_state = np.random.RandomState(seed).get_state()
    # nsteps is the most steps run: every _CHECK_EVERY steps the autocorrelation time of
    # the kept chain is estimated, and the run stops once it is 30 tau long and tau moved
    # by less than 10 % since the previous check (emcee's documented recipe).
    tau_max, tau_prev, n = math.nan, math.nan, 0
    for n, _ in enumerate(sampler.sample(p0, iterations=int(nsteps), progress=bool(progress)), 1):
        if n % _CHECK_EVERY and n != int(nsteps):
            continue
        burn = n // 4
        try:
            tau_max = float(np.nanmax(sampler.get_autocorr_time(discard=burn, tol=0)))
        except (emcee.autocorr.AutocorrError, ValueError):
            tau_max = math.nan
        if (math.isfinite(tau_max) and n - burn >= _CONVERGED_TAUS * tau_max
                and abs(tau_max - tau_prev) < 0.1 * tau_max):
            break
        tau_prev = tau_max
    burn = n // 4
    samples = sampler.get_chain(discard=burn, flat=True)
    lp = sampler.get_log_prob(discard=burn, flat=True)
    diag = dict(fit_method="mcmc",
                fit_converged=bool(math.isfinite(tau_max) and n - burn >= _CONVERGED_TAUS * tau_max),
                fit_acceptance=float(np.mean(sampler.acceptance_fraction)), fit_tau_max=tau_max, fit_nsteps=n)
    return samples, samples[int(np.argmax(lp))], diag


def _model_depths(k, ars, b, u1, u2, per) -> np.ndarray:
    """Model depth at mid-transit of each (thinned) sample: a one-point, un-smeared batman model."""
    import batman

    size = len(k)
    sub = slice(None, None, max(1, size // _DEPTH_SAMPLES))
    pd_ = batman.TransitParams()
    pd_.t0, pd_.per, pd_.rp, pd_.a, pd_.inc, pd_.ecc, pd_.w = 0.0, 10.0, 0.1, 10.0, 90.0, 0.0, 90.0
    pd_.limb_dark, pd_.u = "quadratic", [0.3, 0.2]
    mdepth = batman.TransitModel(pd_, np.zeros(1))
    depths = []
    for kk, aa, bb, uu1, uu2, pp in zip(k[sub], ars[sub], b[sub], u1[sub], u2[sub], per[sub]):
        pd_.rp, pd_.a, pd_.per = float(kk), float(aa), float(pp)
        pd_.inc = math.degrees(math.acos(min(bb / aa, 1.0)))
        pd_.u = [float(uu1), float(uu2)]
        depths.append(1.0 - float(mdepth.light_curve(pd_)[0]))
    return np.array(depths)


def _posterior_columns(prob: _Problem, samples, best, *, single, tref, radius, radius_err, seed,
                       cadence, supersample) -> dict[str, Any]:
    """The catalogue columns (median, +err1, -err2) of the posterior, the timing scale, and the
    thinned posterior and best fit kept for the reports (``_posterior``, ``_best``)."""
    row: dict[str, Any] = {}
    ph = prob.physical(samples)
    size = len(samples)
    # Correlated noise shifts whole transits, which a white-noise likelihood does not see:
    # the P and T0 intervals are widened by the scatter of the individual transit times
    # about the fitted ephemeris (see _timing_scale).
    dbest0 = {key: float(v) for key, v in prob.physical(best).items()}
    scale, n_timed = _timing_scale(prob, dbest0, cadence=cadence, supersample=supersample)
    if scale > 1.0:
        ph = dict(ph)
        for key in ("t0", "per"):
            if np.ndim(ph[key]) and np.size(ph[key]) == size:
                med = float(np.median(ph[key]))
                ph[key] = med + (np.asarray(ph[key]) - med) * scale
    row.update(fit_timing_scale=float(scale), fit_n_timed=int(n_timed))
    per = np.broadcast_to(ph["per"], (size,))
    k, t14, b, ars = ph["k"], ph["t14"], ph["b"], ph["ars"]
    u1, u2 = np.broadcast_to(ph["u1"], (size,)), np.broadcast_to(ph["u2"], (size,))

    def put(name, x):
        m, p, n_ = _percentiles(x)
        row[name], row[name + "err1"], row[name + "err2"] = m, p, n_

    nan = np.full(size, np.nan)
    put("pl_orbper", nan if single else per)
    put("pl_tranmid", ph["t0"])  # offset from tref: percentiles of full BJDs would lose digits
    row["pl_tranmid"] += tref
    put("pl_ratror", k)
    put("pl_ratdor", nan if single else ars)
    put("pl_imppar", b)
    put("pl_trandep", _model_depths(k, ars, b, u1, u2, per) * 1e6)
    put("pl_trandurh", t14 * 24.0)
    if math.isfinite(radius):
        rs = np.full(size, radius)
        if math.isfinite(radius_err) and radius_err > 0:
            rs = np.abs(radius + radius_err * np.random.default_rng(seed + 1).normal(size=size))
        put("pl_rade", k * rs * R_SUN_REARTH)
    else:
        put("pl_rade", nan)
    put("st_dens_implied", nan if single else _density(per, ars))
    row["fit_ld_u1"], row["fit_ld_u2"] = float(np.median(u1)), float(np.median(u2))

    dbest = {key: float(v) for key, v in prob.physical(best).items()}
    # A thinned posterior (at most _POSTERIOR_KEEP draws) for corner plots and the report's
    # model curve; for "lsq" these are the Jacobian-covariance draws.
    keep = slice(None, None, max(1, size // _POSTERIOR_KEEP))
    post = {"pl_orbper": per[keep], "pl_tranmid": ph["t0"][keep] + tref, "pl_ratror": k[keep],
            "pl_ratdor": ars[keep], "pl_imppar": b[keep], "pl_trandurh": t14[keep] * 24.0,
            "fit_ld_u1": u1[keep], "fit_ld_u2": u2[keep]}
    row["_posterior"] = {key: np.array(v, dtype=float) for key, v in post.items()}
    row["_best"] = {"pl_orbper": float(dbest["per"]), "pl_tranmid": float(dbest["t0"] + tref),
                    "pl_ratror": float(dbest["k"]), "pl_ratdor": float(dbest["ars"]),
                    "pl_imppar": float(dbest["b"]), "fit_ld_u1": float(dbest["u1"]),
                    "fit_ld_u2": float(dbest["u2"]), "exp_time_d": float(cadence),
                    "supersample": int(supersample)}
    return row


def _fit_quality(prob: _Problem, best, *, jitter: bool, supersample: int) -> dict[str, Any]:
    """Reduced chi^2 of the best fit, the fitted jitter and the size of the fit."""
    dbest = {key: float(v) for key, v in prob.physical(best).items()}
    dbest["base"] = prob.best_base(dbest)
    r = prob.f - prob.model(dbest)
    var = prob.e2 + dbest["jitter"] ** 2
    ndim = len(prob.names)
    dof = max(prob.t.size - ndim - prob.nbase, 1)
    return dict(fit_chi2_red=float(np.sum(r * r / var) / dof),
                fit_jitter_ppm=float(dbest["jitter"] * 1e6) if jitter else 0.0,
                fit_n_points=int(prob.t.size), fit_supersample=int(supersample))


def _timing_scale(prob: _Problem, d: dict[str, float], *, cadence: float, supersample: int) -> tuple[float, int]:
    """(scale, n): sqrt(chi^2/dof) (at least 1) of the individual transit times about the
    fitted linear ephemeris, and the number of transits timed.

    Each transit with >= 3 cadences inside T14 is shifted in time against the best model
    (the model's shape fixed, a linear baseline per transit refitted) on a grid of +-0.25
    T14; the minimum of chi^2 and its curvature give the transit's time and 1-sigma error
    (delta chi^2 = 1) with the fit's own noise model (errors + jitter).  With white noise
    the times scatter by their errors (scale ~1); correlated noise moves them more (K2:
    1.1-2x), and the P and T0 intervals are widened by that factor.  Fewer than 3 timed
    transits (or a single event): 1.
    """
    if prob.per_fixed:
        return 1.0, 0
    per, t0, t14 = d["per"], d["t0"], d["t14"]
    if not (np.isfinite(per) and np.isfinite(t14) and t14 > 0 and np.isfinite(d["ars"])):
        return 1.0, 0
    t = prob.t - prob.tref
    sig2 = prob.e2 + d["jitter"] ** 2
    # The model once on a fine grid of time from mid-transit, interpolated for every shift.
    grid = np.linspace(-2.0 * t14, 2.0 * t14, 2001)
    params = {"pl_orbper": per, "pl_tranmid": 0.0, "pl_ratror": d["k"], "pl_ratdor": d["ars"],
              "pl_imppar": d["b"], "fit_ld_u1": d["u1"], "fit_ld_u2": d["u2"]}
    shape = model_flux(grid, params, exp_time=cadence, supersample=supersample)
    epoch = np.round((t - t0) / per)
    shifts = np.linspace(-0.25, 0.25, 41) * t14
    times, errs, ns = [], [], []
    for n in np.unique(epoch):
        sel = epoch == n
        x = t[sel] - t0 - n * per
        if np.sum(np.abs(x) < 0.5 * t14) < 3 or sel.sum() < 10:
            continue
        ff, w = prob.f[sel], 1.0 / sig2[sel]
        chi = np.empty(shifts.size)
        for j, sh in enumerate(shifts):
            m = np.interp(x - sh, grid, shape, left=1.0, right=1.0)
            a = np.vstack([m, m * x])
            coef, *_ = np.linalg.lstsq((a * np.sqrt(w)).T, ff * np.sqrt(w), rcond=None)
            chi[j] = float(np.sum(w * (ff - coef @ a) ** 2))
        j = int(np.argmin(chi))
        if j in (0, shifts.size - 1):
            continue  # the minimum is at the edge: this transit's time is not measured
        c2, c1, _ = np.polyfit(shifts[j - 1:j + 2], chi[j - 1:j + 2], 2)
        if not c2 > 0:
            continue
        times.append(-c1 / (2.0 * c2) + n * per)
        errs.append(1.0 / math.sqrt(c2))
        ns.append(n)
    if len(times) < 3:
        return 1.0, len(times)
    ns, times, errs = np.asarray(ns), np.asarray(times), np.asarray(errs)
    w = 1.0 / errs ** 2
    a = np.vstack([np.ones_like(ns), ns]).T
    coef, *_ = np.linalg.lstsq(a * np.sqrt(w)[:, None], times * np.sqrt(w), rcond=None)
    chi2 = float(np.sum(w * (times - a @ coef) ** 2))
    return float(max(1.0, math.sqrt(chi2 / (len(times) - 2)))), len(times)


def _unfitted_row(reason: str) -> dict[str, Any]:
    """The row of a candidate that could not be fitted: NaN values, the reason in fit_method."""
    row: dict[str, Any] = {}
    for cname, _, _ in _FITTED_COLUMNS:
        row[cname] = row[cname + "err1"] = row[cname + "err2"] = math.nan
    row.update(fit_method=f"not fitted: {reason}", fit_converged=False, fit_acceptance=math.nan,
               fit_tau_max=math.nan, fit_nsteps=0, fit_chi2_red=math.nan, fit_jitter_ppm=math.nan,
               fit_n_points=0, fit_supersample=0, fit_ld_u1=math.nan, fit_ld_u2=math.nan,
               fit_timing_scale=math.nan, fit_n_timed=0)
    return row


def model_flux(time: np.ndarray, params: dict[str, float], *, exp_time: float = 0.0,
               supersample: int = 1) -> np.ndarray:
    """Transit model (batman, quadratic limb darkening, circular orbit) at ``time``.

    The model of :func:`fit_transit` without its baseline, for plotting a fit over the data.

    Parameters
    ----------
    time : ndarray
        Times [d] (the same system as ``params["pl_tranmid"]``).
    params : dict
        ``pl_orbper`` [d], ``pl_tranmid`` [d], ``pl_ratror``, ``pl_ratdor``, ``pl_imppar``,
        ``fit_ld_u1``, ``fit_ld_u2``: e.g. a row of the table :func:`fit_transit` returns, or
        its ``meta["fit_best"][index]`` (which also holds the fixed period of a single event).
    exp_time : float
        Exposure time [d] the model is averaged over (0: an instantaneous model).
    supersample : int
        Sub-exposures per exposure.

    Returns
    -------
    ndarray
        Relative flux (1 out of transit).

    Examples
    --------
    >>> import numpy as np
    >>> p = dict(pl_orbper=3.0, pl_tranmid=0.0, pl_ratror=0.1, pl_ratdor=10.0, pl_imppar=0.0,
    ...          fit_ld_u1=0.4, fit_ld_u2=0.2)
    >>> f = model_flux(np.array([0.0, 1.0]), p)
    >>> bool(0.985 < f[0] < 0.99), float(f[1])
    (True, 1.0)
    """
    import batman

    def num(name):
        v = params[name]
        return float(getattr(v, "value", v))

    bp = batman.TransitParams()
    bp.t0, bp.per, bp.rp, bp.a = num("pl_tranmid"), num("pl_orbper"), num("pl_ratror"), num("pl_ratdor")
    bp.inc = math.degrees(math.acos(min(num("pl_imppar") / bp.a, 1.0)))
    bp.ecc, bp.w, bp.limb_dark, bp.u = 0.0, 90.0, "quadratic", [num("fit_ld_u1"), num("fit_ld_u2")]
    t = np.asarray(time, dtype=float)
    if exp_time > 0 and supersample > 1:
        m = batman.TransitModel(bp, t, supersample_factor=int(supersample), exp_time=float(exp_time))
    else:
        m = batman.TransitModel(bp, t)
    return m.light_curve(bp)


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidParameterError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def fit_transit(
    lc: lightkurve.LightCurve,
    candidates: Any,
    *,
    star: StellarParameters | dict | None = None,
    mission: str | None = None,
    method: str = "mcmc",
    nwalkers: int = 20,
    nsteps: int = 6000,
    seed: int = 0,
    progress: bool = False,
    fit_ld: bool = True,
    ld_sigma: float = 0.1,
    jitter: bool = True,
    window: float = 1.5,
    baseline: str = "quadratic",
    supersample_factor: int | None = None,
) -> QTable:
    """Fit a limb-darkened transit model to every candidate and return its posteriors.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        The flattened light curve: :func:`astrotinyml.detrending.detrend` output detrended
        with the candidates' transits masked (``detrend(raw, mask=candidates)``); time in
        BJD_TDB, flux normalised to 1.  The fit does not detrend (see the module notes).
    candidates : astropy.table.Table or QTable
        One row per signal with ``pl_orbper`` [d] (NaN for a single event), ``pl_tranmid``
        [full BJD_TDB, d], ``pl_trandurh`` [h] and optionally ``pl_trandep`` [ppm] and
        ``single_event``; Quantities are converted.  A dict or list of dicts is accepted.
    star : StellarParameters or dict, optional
        The host star, passed to :func:`astrotinyml.star.stellar_parameters` with ``lc``
        (header and bundled catalogues fill what it lacks).  Teff, logg and [Fe/H] set the
        limb-darkening priors (solar prior when unknown, recorded in ``fit_ld_source``);
        the radius and its error give ``pl_rade``.
    mission : str, optional
        ``"Kepler"``, ``"K2"`` or ``"TESS"`` (the limb-darkening band); default
        ``lc.meta["mission"]``.
    method : {"mcmc", "lsq"}
        ``"mcmc"``: emcee posterior (default).  ``"lsq"``: the least-squares fit alone, with
        intervals from its Jacobian covariance (fast; Gaussian errors, clipped at bounds).
    nwalkers : int
        emcee walkers (at least ``2 * ndim + 2`` are used: 18 with the default options).
    nsteps : int
        The most steps per walker.  The run stops earlier once converged (checked every 500
        steps: the chain after its first quarter, the discarded burn-in, is 30
        autocorrelation times long and the time changed by < 10 % since the last check).
    seed : int
        Seed of every random draw (walker start, sampler, radius draws); candidate ``i``
        uses ``seed + i``.  The same inputs and seed give the same table.
    progress : bool
        Show emcee's tqdm progress bar (on stderr); nothing is printed to stdout.
    fit_ld : bool
        Fit the Kipping (2013) ``q1, q2`` with Gaussian priors of width ``ld_sigma`` on the
        table values (default); ``False`` fixes them at the table values.
    ld_sigma : float
        Width of the ``q1, q2`` priors.
    jitter : bool
        Fit a white-noise jitter added in quadrature to ``flux_err`` (default; needed when
        the errors are missing or too small, as for K2SC).
    window : float
        Data within ``window`` transit durations of each mid-transit are used (the larger of
        the candidate's and the least-squares duration).
    baseline : {"quadratic", "linear", "constant"}
        Polynomial in the time from mid-transit multiplying the transit model, its
        coefficients marginalised analytically (see the module notes).
    supersample_factor : int, optional
        Sub-exposures per cadence; default ``ceil(cadence / 3 min)`` (1 for 2-min data,
        10 for 29.4-min data), the cadence from ``lc.meta["cadence_min"]`` or the median
        time step; the exposure time is the cadence.

    Returns
    -------
    astropy.table.QTable
        A copy of ``candidates`` whose ``pl_orbper``, ``pl_tranmid``, ``pl_trandurh`` and
        ``pl_trandep`` hold the fitted values, with the columns of :data:`FIT_COLUMNS`: each
        fitted quantity ``x`` as posterior median with ``xerr1`` (+1 sigma, >= 0) and
        ``xerr2`` (-1 sigma, <= 0) from the 16th/84th percentiles, as the NASA Exoplanet
        Archive does; ``pl_rade`` [R_earth] includes the stellar-radius uncertainty when it
        is known; then the diagnostics ``fit_method``, ``fit_converged``,
        ``fit_acceptance``, ``fit_tau_max``, ``fit_nsteps``, ``fit_chi2_red``, ``fit_jitter_ppm``,
        ``fit_n_points``, ``fit_supersample``, ``fit_ld_u1``/``fit_ld_u2`` (posterior),
        ``fit_ld_table_u1``/``fit_ld_table_u2`` (prior centre), ``fit_ld_source`` and
        ``fit_ld_clamped``.  ``meta["fit_transit"]`` records the options,
        ``meta["fit_posteriors"]`` maps each fitted row's index to a dict of at most 2000
        posterior draws (``pl_orbper``, ``pl_tranmid``, ``pl_ratror``, ``pl_ratdor``,
        ``pl_imppar``, ``pl_trandurh``, ``fit_ld_u1``, ``fit_ld_u2``; for a single event the
        period is the fixed one) and ``meta["fit_best"]`` to the maximum-posterior
        parameters, both for :func:`model_flux` and corner plots.  A candidate of a table of
        several that cannot be fitted (no cadences in its windows) gets NaN values and the
        reason in ``fit_method`` (``"not fitted: ..."``), so the others keep their fit.

    Raises
    ------
    InvalidParameterError
        Empty table, missing column, the only candidate with no (or too few) cadences in its
        transit windows, a bad option value or an unknown mission.

    Notes
    -----
    Single events are fitted with the period fixed to a long value derived from the
    duration and the stellar density (see the module notes); their ``pl_orbper``,
    ``pl_ratdor`` and ``st_dens_implied`` are NaN.  ``pl_tranmid`` is the mid-transit time
    of the transit with data nearest the middle of the fitted data (its uncertainty is the
    smallest there), not necessarily the candidate's epoch.

    Run time on one (shared) core, per candidate: ``lsq`` ~1 s; the default MCMC 20-40 s
    (WASP-18 b in a TESS 2-min sector: ~22 s; a K2 sub-Neptune: ~35 s); see
    ``benchmarks/transit_fit.py``.

    Examples
    --------
    A synthetic 1 % transit in 2-min data, fitted by least squares:

    >>> import numpy as np, batman, lightkurve as lk
    >>> t = 2459000.0 + np.arange(0.0, 10.0, 2.0 / 1440.0)
    >>> p = batman.TransitParams()
    >>> p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = 2459001.0, 2.5, 0.1, 8.0, 88.0, 0.0, 90.0
    >>> p.limb_dark, p.u = "quadratic", [0.31, 0.27]
    >>> flux = batman.TransitModel(p, t).light_curve(p)
    >>> flux = flux + np.random.default_rng(0).normal(0.0, 5e-4, t.size)
    >>> lc = lk.LightCurve(time=t, flux=flux, flux_err=np.full(t.size, 5e-4))
    >>> cand = dict(pl_orbper=2.5, pl_tranmid=2459001.0, pl_trandurh=3.7, pl_trandep=10000.0)
    >>> out = fit_transit(lc, cand, mission="TESS", method="lsq")
    >>> round(float(out["pl_ratror"][0]), 2), round(float(out["pl_orbper"][0].value), 3)
    (0.1, 2.5)
    >>> bool(out["pl_ratrorerr1"][0] > 0 > out["pl_ratrorerr2"][0])
    True
    """
    nwalkers, nsteps = _check_fit_options(method=method, nwalkers=nwalkers, nsteps=nsteps, seed=seed,
                                          ld_sigma=ld_sigma, window=window, baseline=baseline)
    table = _fit_candidates_table(candidates)
    name = (getattr(lc, "meta", None) or {}).get("target") or "light curve"
    t, f, e = lc_arrays(lc, name=str(name))
    if not jitter:
        # Without a jitter term the noise must come from the errors: missing ones are
        # replaced by the robust scatter of the flux.
        bad = ~(np.isfinite(e) & (e > 0))
        if bad.any():
            e = np.where(bad, robust_std(f), e)
    cadence = _cadence_days(lc, t)
    if supersample_factor is None:
        supersample = max(1, math.ceil(cadence * 1440.0 / _SUBEXPOSURE_MIN - 1e-3))
    else:
        supersample = _positive_int("supersample_factor", supersample_factor, 1)
    if mission is None:
        mission = (getattr(lc, "meta", None) or {}).get("mission")
        if not mission:
            raise InvalidParameterError(
                f"{name}: the light curve's meta has no 'mission'; pass mission='Kepler', 'K2' or 'TESS'.")
    band = _band(mission)

    st = stellar_parameters(lc, star=star)
    stp = st.with_prior()
    ld = limb_darkening(stp.teff, stp.logg, stp.feh, mission=mission)
    q0 = _u_to_q(ld.u1, ld.u2)
    ld_source = (f"{ld.table}; teff {stp.source('teff')}, logg {stp.source('logg')}, "
                 f"feh {stp.source('feh')}")
    if not (st.known("teff") and st.known("logg")):
        ld_source = "solar prior: " + ld_source
    rho_single = st.density if math.isfinite(st.density) else PRIOR.density
    radius = st.radius if st.known("radius") else math.nan
    radius_err = st.radius_err if math.isfinite(st.radius_err) else math.nan

    t_ref = float(np.median(t))
    ephs = [candidate_ephemeris(table[i], time_ref=t_ref) for i in range(len(table))]
    singles = []
    for i, eph in enumerate(ephs):
        flag = False
        if "single_event" in table.colnames:
            v = table["single_event"][i]
            flag = bool(v) if not np.ma.is_masked(v) else False
        singles.append(flag or eph.single)

    rows = []
    t_start = _time.perf_counter()
    for i, eph in enumerate(ephs):
        others = [o for j, o in enumerate(ephs) if j != i]
        if singles[i] and not eph.single:
            eph = Ephemeris(period=math.nan, t0=eph.t0, duration=eph.duration, depth=eph.depth)
        try:
            rows.append(_fit_one(
                t, f, e, eph, others, single=singles[i], q0=q0, ld_sigma=float(ld_sigma),
                fit_ld=bool(fit_ld), jitter=bool(jitter), supersample=supersample, cadence=cadence,
                window=float(window), method=method, nwalkers=nwalkers, nsteps=nsteps,
                seed=int(seed) + i, progress=progress, rho_for_single=rho_single, radius=radius,
                radius_err=radius_err, name=str(name), nbase=BASELINES[baseline]))
        except InvalidParameterError as exc:
            if len(ephs) == 1:
                raise
            # One candidate that cannot be fitted (no data in its windows) must not cost the
            # others their fit: its row says why.
            rows.append(_unfitted_row(str(exc)))
    posteriors = {i: r.pop("_posterior") for i, r in enumerate(rows) if "_posterior" in r}
    best = {i: r.pop("_best") for i, r in enumerate(rows) if "_best" in r}
    for row in rows:
        row.update(fit_ld_table_u1=ld.u1, fit_ld_table_u2=ld.u2, fit_ld_source=ld_source,
                   fit_ld_clamped=ld.clamped)

    table = _write_fit_columns(table, rows)
    table.meta["fit_transit"] = {
        "method": method, "nwalkers": nwalkers, "nsteps": nsteps, "burn": nsteps // 4,
        "seed": int(seed), "fit_ld": bool(fit_ld), "ld_sigma": float(ld_sigma),
        "jitter": bool(jitter), "window": float(window), "baseline": baseline,
        "supersample_factor": supersample,
        "exp_time_min": cadence * 1440.0, "band": band, "run_time_s": _time.perf_counter() - t_start,
    }
    table.meta["fit_posteriors"] = posteriors
    table.meta["fit_best"] = best
    return table


def _check_fit_options(*, method, nwalkers, nsteps, seed, ld_sigma, window, baseline) -> tuple[int, int]:
    """Refuse bad options of :func:`fit_transit` with one clear error; (nwalkers, nsteps) as ints."""
    if method not in FIT_METHODS:
        raise InvalidParameterError(f"method={method!r} is not one of {FIT_METHODS}: 'mcmc' for "
                                    "posteriors, 'lsq' for the fast least-squares fit.")
    nwalkers = _positive_int("nwalkers", nwalkers, 2)
    nsteps = _positive_int("nsteps", nsteps, 100)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidParameterError(f"seed must be an integer, got {seed!r}.")
    for name, v in (("ld_sigma", ld_sigma), ("window", window)):
        if not (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v > 0):
            raise InvalidParameterError(f"{name} must be a positive number, got {v!r}.")
    if window < 0.75:
        raise InvalidParameterError(
            f"window={window} durations leaves no out-of-transit baseline; use >= 0.75 (default 1.5).")

    if baseline not in BASELINES:
        raise InvalidParameterError(f"baseline={baseline!r} is not one of {tuple(BASELINES)}.")
    return nwalkers, nsteps


def _fit_candidates_table(candidates):
    """The candidates as a new QTable, refusing an empty one or one without an ephemeris."""
    table = as_qtable(candidates)
    if len(table) == 0:
        raise InvalidParameterError(
            "the candidates table is empty: nothing to fit. Pass the table returned by "
            "astrotinyml.search (it has one row per detected signal) or a row per known planet.")
    missing = [c for c in ("pl_orbper", "pl_tranmid", "pl_trandurh") if c not in table.colnames]
    if missing:
        raise InvalidParameterError(
            f"the candidates table has no column {', '.join(map(repr, missing))} (columns: "
            f"{table.colnames}); give pl_orbper [d] (NaN for a single event), pl_tranmid "
            "[full BJD_TDB] and pl_trandurh [h], as astrotinyml.search returns them.")
    return table


def _write_fit_columns(table, rows: list[dict[str, Any]]):
    """The :data:`FIT_COLUMNS` of ``rows`` into ``table``, each error column right after its value."""
    from astropy import units as u

    for cname, unit, desc in FIT_COLUMNS:
        names = [cname] if cname not in _FITTED else [cname, cname + "err1", cname + "err2"]
        for nm in names:
            values = [r[nm] for r in rows]
            if cname in ("fit_converged", "fit_ld_clamped"):
                col = np.array(values, dtype=bool)
            elif cname in ("fit_n_points", "fit_supersample", "fit_nsteps", "fit_n_timed"):
                col = np.array(values, dtype=np.int64)
            elif cname in ("fit_method", "fit_ld_source"):
                col = np.array(values, dtype=str)
            else:
                col = np.array(values, dtype=float)
            if unit not in ("", "ppm"):
                col = col * u.Unit(unit)
            # Replacing in place keeps the table's column order for the contract columns.
            table[nm] = col
            table[nm].description = desc if nm == cname else (
                f"+1 sigma of {cname}" if nm.endswith("err1") else f"-1 sigma of {cname} (negative)")
    # Each error column right after its value, the diagnostics at the end.
    order = []
    for c in table.colnames:
        if c.endswith(("err1", "err2")) and c[:-4] in _FITTED:
            continue
        order.append(c)
        if c in _FITTED:
            order += [c + "err1", c + "err2"]
    return table[order]
