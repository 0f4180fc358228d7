"""Physical models of the training signals, one per class of the classifier.

Every model is a multiplicative flux model on a background's times (:class:`Injection`, with
its truth and every drawn parameter):

* :func:`planet_signal` - a batman limb-darkened transit with a/R* from the stellar density
  (Kepler's third law), the impact parameter, and the depth set by a transit SNR drawn from
  :data:`SNR_RANGES` on the background's noise;
* :func:`eb_signal` - detached eclipsing binaries (primary and secondary eclipses, grazing and
  twin systems, blends diluted to planet-like depths) and contact binaries;
* :func:`variability_signal` - rotation, pulsation and other stellar variability;
* :func:`instrumental_signal` - momentum dumps, ramps, jumps and other systematics;
* ``noise`` - nothing injected.

>>> CLASSES
('planet', 'eb', 'variability', 'instrumental', 'noise')
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .backgrounds import Background

__all__ = ["CLASSES", "Injection", "SNR_RANGES", "SNR_HIGH_FRACTION", "TTV_FRACTION", "sun_like_duration",
           "planet_signal", "eb_signal", "variability_signal", "instrumental_signal"]

#: Class names, in the order of the model's outputs.
CLASSES = ("planet", "eb", "variability", "instrumental", "noise")

_G = 6.674e-8  # cgs
_DAY = 86400.0

#: Share of simulated planets with transit-timing variations (0 in the shipped build: TTVs did
#: not help on the real corpus and calibrated worse; the runs are in the model card's
#: "Experiment notes").  Part of the dataset cache key when not 0.
TTV_FRACTION = 0.0


@dataclass
class Injection:
    """A signal model and its truth.

    Attributes
    ----------
    model : numpy.ndarray
        Multiplicative flux model (1 = unchanged) on the background's times.
    label : str
        One of :data:`CLASSES`.
    subtype : str
        Finer kind (``grazing``, ``blend``, ``twin``, ``rotation``, ``momentum_dump`` ...).
    period, t0, duration_h, depth_ppm : float
        Injected ephemeris of transit-like signals (NaN otherwise).
    secondary_phase : float
        Phase of an EB's secondary eclipse (NaN otherwise).
    params : dict
        Every drawn parameter (for the record).
    """

    model: np.ndarray
    label: str
    subtype: str
    period: float = float("nan")
    t0: float = float("nan")
    duration_h: float = float("nan")
    depth_ppm: float = float("nan")
    secondary_phase: float = float("nan")
    params: dict = field(default_factory=dict)


def sun_like_duration(period: float) -> float:
    """Central-transit duration [d] around a Sun-like star (13 h at 1 yr)."""
    return 13.0 / 24.0 * (period / 365.25) ** (1.0 / 3.0)


def _a_over_r(period_d: float, rho_cgs: float) -> float:
    """a/R* from Kepler's third law: (G rho P^2 / 3 pi)^(1/3) (companion mass neglected)."""
    return (_G * rho_cgs * (period_d * _DAY) ** 2 / (3.0 * math.pi)) ** (1.0 / 3.0)


def _t14(period: float, a_r: float, k: float, b: float) -> float:
    """Total duration [d] of a circular-orbit transit (Seager & Mallen-Ornelas 2003)."""
    arg = math.sqrt(max((1 + k) ** 2 - b ** 2, 0.0)) / (a_r * math.sin(math.acos(min(b / a_r, 1.0))))
    return period / math.pi * math.asin(min(arg, 1.0))


def _batman(t: np.ndarray, *, period, t0, k, a_r, b, u, cadence_d) -> np.ndarray:
    """Relative flux of the star occulted by a dark disk of radius ratio ``k`` (batman)."""
    import batman

    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a = t0, period, k, a_r
    p.inc = math.degrees(math.acos(min(b / a_r, 1.0)))
    p.ecc, p.w = 0.0, 90.0
    p.u, p.limb_dark = list(u), "quadratic"
    # Long cadences smear the ingress: integrate over the exposure like the detector does.
    ss = 5 if cadence_d > 6.0 / 1440.0 else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = batman.TransitModel(p, t, supersample_factor=ss, exp_time=cadence_d if ss > 1 else 0.0)
        return np.asarray(m.light_curve(p), dtype=float)


#: Transit SNR of injected planets and blended EBs: log-uniform in the first range, and in
#: the second (bright hot Jupiters: HAT-P-7 b, WASP-18 b, K2-140 b have SNR 200-1000 in one
#: quarter / sector) for ``SNR_HIGH_FRACTION`` of them.  Without the second, every
#: signal above SNR ~150 in training was an EB, and real hot Jupiters were called EBs.
SNR_RANGES = ((6.0, 150.0), (150.0, 3000.0))
SNR_HIGH_FRACTION = 0.3


def _target_depth(rng, bg: Background, period: float, dur: float, snr_low: float = 6.0) -> float:
    """Depth giving a transit SNR drawn from :data:`SNR_RANGES` on this background."""
    span = bg.time[-1] - bg.time[0]
    n_tr = max(span / period, 1.0)
    n_in = max(n_tr * dur / (bg.cadence_min / 1440.0), 1.0)
    lo, hi = SNR_RANGES[1] if rng.random() < SNR_HIGH_FRACTION else (snr_low, SNR_RANGES[0][1])
    snr = 10 ** rng.uniform(math.log10(lo), math.log10(hi))
    return snr * bg.sigma / math.sqrt(n_in)


def _draw_period(rng, bg: Background, pmin=0.5, long_period=False) -> float:
    span = bg.time[-1] - bg.time[0]
    if long_period:  # one or two transits in the data (catalogue planets of long period)
        return float(10 ** rng.uniform(math.log10(span / 2.0), math.log10(3.0 * span)))
    pmax = max(min(span / 2.2, 40.0), pmin * 1.5)
    return float(10 ** rng.uniform(math.log10(pmin), math.log10(pmax)))


def _t0_in_data(rng, bg: Background, period: float) -> float:
    """A mid-transit time with at least one transit on a cadence (long periods)."""
    if period < 0.5 * (bg.time[-1] - bg.time[0]):
        return float(bg.time[0] + rng.uniform(0.0, period))
    return float(bg.time[int(rng.integers(bg.time.size))])


def planet_signal(rng: np.random.Generator, bg: Background, *, long_period: bool = False) -> Injection:
    """A batman limb-darkened planetary transit with physically consistent parameters.

    Stellar density log-uniform 0.2 - 8 g/cm^3 sets a/R* from the period (Kepler's third
    law); impact parameter uniform in 0 - 0.95 (grazing planets are rare and V-shaped
    like EBs); quadratic limb darkening u1 0.2-0.6, u2 0.05-0.35; radius ratio from a
    transit SNR drawn from :data:`SNR_RANGES` on the background's noise, capped at 0.25 (a ~2.5 R_J planet
    around a Sun) and floored at 0.004.

    The planet's own light is included, so close-in giants show what real hot Jupiters show
    (WASP-18 b, HAT-P-7 b): an **occultation** at phase 0.5 (uniform planet disk hidden by
    the star), a **phase curve** peaking there, and **ellipsoidal** variation of the star.
    Dayside brightness = geometric albedo 0-0.4 (reflected light, ``Ag k^2 / (a/R*)^2``) plus
    thermal emission: dayside temperature ``T* sqrt(R*/a) (f (1 - A_B))^(1/4)`` (``f``
    1/4-2/3, Bond albedo 0-0.3, ``T*`` 4500-7000 K), blackbody ratio at the mission's
    effective wavelength (Kepler/K2 0.64 um, TESS 0.80 um).  Ellipsoidal semi-amplitude
    ``q (R*/a)^3`` with mass ratio ``q`` log-uniform 3e-5 - 1e-2 for ``k > 0.05`` (~10 Earth
    to ~10 Jupiter masses around a Sun), 1e-6 - 3e-5 below.  For small or distant planets all
    three are far below the noise, as they should be.  A share :data:`TTV_FRACTION` of the
    planets (none in the shipped build) has sinusoidal transit-timing variations of 5-50 % of
    the duration (``params['ttv_h']``).

    Parameters
    ----------
    rng : numpy.random.Generator
    bg : Background
        Times, cadence and noise level of the light curve it goes into.
    long_period : bool
        Period between half and three times the data span (one or two transits in the
        data, as for long-period catalogue planets); a transit always falls on a cadence.

    Returns
    -------
    Injection
        ``depth_ppm`` is the transit depth in the star's light (1 - min of the batman
        flux), before the planet's own light and the ellipsoidal variation are added; the
        depth of ``model`` differs from it by those (usually < 1 %).

    Examples
    --------
    >>> from astrotinyml.training.backgrounds import synthetic_background
    >>> bg = synthetic_background(np.random.default_rng(1), mission="TESS")
    >>> inj = planet_signal(np.random.default_rng(2), bg)
    >>> inj.label, bool(abs(1 - inj.model.min() - inj.depth_ppm / 1e6) < 0.1 * inj.depth_ppm / 1e6)
    ('planet', True)
    """
    period = _draw_period(rng, bg, long_period=long_period)
    rho = 10 ** rng.uniform(math.log10(0.2), math.log10(8.0))
    a_r = max(_a_over_r(period, rho), 1.5)
    b = rng.uniform(0.0, 0.95)
    u = (rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.35))
    dur_guess = _t14(period, a_r, 0.05, b)
    depth = _target_depth(rng, bg, period, max(dur_guess, 0.02))
    # depth ~ k^2 times a limb-darkening factor (>1 at the centre, <1 near the limb)
    mu = math.sqrt(max(1.0 - b * b, 0.0))
    ld = (1 - u[0] * (1 - mu) - u[1] * (1 - mu) ** 2) / (1 - u[0] / 3 - u[1] / 6)
    k = float(np.clip(math.sqrt(depth / max(ld, 0.3)), 0.004, 0.25))
    t0 = _t0_in_data(rng, bg, period)
    dur = _t14(period, a_r, k, b)
    # Transit-timing variations (planets in or near resonance, e.g. TOI-1130 b/c): sinusoidal,
    # 5-50 % of T14, super-period 0.5-3 data spans.  The model is evaluated at the shifted
    # time, so every transit (and occultation) moves together.
    tt, ttv = bg.time, 0.0
    if TTV_FRACTION > 0 and rng.random() < TTV_FRACTION:
        ttv = rng.uniform(0.05, 0.5) * dur
        p_ttv = rng.uniform(0.5, 3.0) * max(bg.time[-1] - bg.time[0], period)
        tt = bg.time - ttv * np.sin(2.0 * np.pi * (bg.time - t0) / p_ttv + rng.uniform(0.0, 2.0 * np.pi))
    star = _batman(tt, period=period, t0=t0, k=k, a_r=a_r, b=b, u=u,
                   cadence_d=bg.cadence_min / 1440.0)
    depth_model = 1.0 - float(star.min()) if star.min() < 1 else k * k
    # The planet's light: occultation, phase curve, ellipsoidal (see the docstring).
    t_star = rng.uniform(4500.0, 7000.0)
    t_day = t_star * a_r ** -0.5 * (rng.uniform(0.25, 2.0 / 3.0) * (1.0 - rng.uniform(0.0, 0.3))) ** 0.25
    lam_um = 0.80 if bg.mission == "TESS" else 0.64
    x_star, x_day = 14387.8 / (lam_um * t_star), 14387.8 / (lam_um * t_day)
    thermal = math.expm1(x_star) / math.expm1(min(x_day, 700.0))
    occ = k * k * (rng.uniform(0.0, 0.4) / a_r ** 2 + thermal)
    q = 10 ** (rng.uniform(math.log10(3e-5), -2.0) if k > 0.05 else rng.uniform(-6.0, math.log10(3e-5)))
    a_ell = q * a_r ** -3
    phase = 2.0 * np.pi * (tt - t0) / period
    inc = math.acos(min(b / a_r, 1.0))
    z = a_r * np.sqrt(np.sin(phase) ** 2 + (math.cos(inc) * np.cos(phase)) ** 2)
    behind = np.cos(phase) < 0  # planet beyond the star: it can be occulted
    visible = 1.0 - np.where(behind, _disk_overlap(z, 1.0, k) / (math.pi * k * k), 0.0)
    planet = occ * 0.5 * (1.0 - np.cos(phase)) * visible
    model = star * (1.0 - a_ell * np.cos(2.0 * phase)) + planet
    model = model / float(np.median(model))
    return Injection(model=model, label="planet", subtype="transit", period=period, t0=t0,
                     duration_h=dur * 24.0, depth_ppm=depth_model * 1e6,
                     params=dict(rho_cgs=rho, a_r=a_r, b=b, k=k, u1=u[0], u2=u[1],
                                 occultation_ppm=occ * 1e6, ellipsoidal_ppm=a_ell * 1e6, ttv_h=ttv * 24.0,
                                 t_day=t_day, mass_ratio=q))


def _disk_overlap(z: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Area of overlap of two uniform disks of radii r1, r2 at centre separation z."""
    z = np.asarray(z, dtype=float)
    out = np.zeros_like(z)
    full = z <= abs(r1 - r2)
    out[full] = math.pi * min(r1, r2) ** 2
    part = (~full) & (z < r1 + r2)
    zp = z[part]
    a1 = np.arccos(np.clip((zp ** 2 + r1 ** 2 - r2 ** 2) / (2 * zp * r1), -1, 1))
    a2 = np.arccos(np.clip((zp ** 2 + r2 ** 2 - r1 ** 2) / (2 * zp * r2), -1, 1))
    tri = 0.5 * np.sqrt(np.clip((-zp + r1 + r2) * (zp + r1 - r2) * (zp - r1 + r2) * (zp + r1 + r2), 0, None))
    out[part] = r1 ** 2 * a1 + r2 ** 2 * a2 - tri
    return out


def _contact_binary(rng: np.random.Generator, bg: Background) -> Injection:
    """A W UMa contact binary (see :func:`eb_signal`), diluted by a third star in 40 %."""
    period = float(10 ** rng.uniform(math.log10(0.22), 0.0))
    t0 = _t0_in_data(rng, bg, period)
    amp = float(10 ** rng.uniform(math.log10(0.02), math.log10(0.4)))
    g, d = float(rng.uniform(0.7, 2.5)), float(rng.uniform(0.0, 0.3))
    c = np.cos(2.0 * np.pi * (bg.time - t0) / period)
    flux = 1.0 - amp * np.abs(c) ** g * (1.0 + d * c)
    params = dict(kind="contact", amplitude=amp, shape=g, unequal=d)
    kind_out = "contact"
    dur = 0.2 * period  # the minima are broad: about a fifth of the orbit each
    if rng.random() < 0.4:
        want = _target_depth(rng, bg, period, dur, snr_low=8.0)
        depth = amp * (1.0 + d)
        if depth > want > 0:
            dil = depth / want - 1.0
            flux = (flux + dil) / (1.0 + dil)
            params["dilution"] = dil
            kind_out = "blend-contact"
    base = float(np.max(flux))
    params["secondary_depth_ppm"] = (base - float(np.min(flux[c < -0.99], initial=base))) * 1e6
    return Injection(model=flux / float(np.median(flux)), label="eb", subtype=kind_out, period=period, t0=t0,
                     duration_h=dur * 24.0, depth_ppm=(base - float(np.min(flux))) * 1e6,
                     secondary_phase=0.5, params=params)


def eb_signal(rng: np.random.Generator, bg: Background, *, long_period: bool = False) -> Injection:
    """An eclipsing binary: primary + secondary eclipse, optional ellipsoidal/reflection.

    Star 1 (radius 1, quadratic limb darkening) is eclipsed by star 2 (radius ratio ``k``,
    surface-brightness ratio ``s``; light ratio ``L = k^2 s``) with batman; the secondary
    eclipse is the uniform-disk overlap of star 2 behind star 1.  Subtypes:

    - ``detached``: k 0.2-1, s 0.02-1, b 0-(1-k)
    - ``grazing``: b between 1-k and 0.95(1+k): V-shaped, shallow
    - ``twin``: k 0.85-1, s 0.7-1: nearly equal eclipses, found at P/2 (odd/even differ)
    - ``blend``: any of the above diluted by a brighter star so the primary is
      planet-like (SNR from :data:`SNR_RANGES`, 8 at least)
    - ``eccentric``: secondary away from phase 0.5 (0.3-0.7) and of different width
    - ``contact``: a W UMa contact binary (period 0.22-1 d), light varying all the time,
      ``1 - A |cos 2 pi phase|^g (1 + d cos 2 pi phase)`` with amplitude ``A`` 2-40 %,
      shape ``g`` 0.7-2.5 and unequal minima ``d`` 0-0.3 (not for long periods)

    Ellipsoidal (``cos 4 pi phase``) and reflection (``cos 2 pi phase``) variations are added
    to 35 % of them, scaled by ``(R1/a)^3`` and ``L (R1/a)^2``.

    Parameters
    ----------
    rng : numpy.random.Generator
    bg : Background
    long_period : bool
        Period between half and three times the data span (see :func:`planet_signal`).

    Returns
    -------
    Injection
        ``depth_ppm`` is the primary depth, ``secondary_phase`` the secondary's phase and
        ``params['secondary_depth_ppm']`` its depth.

    Examples
    --------
    >>> from astrotinyml.training.backgrounds import synthetic_background
    >>> bg = synthetic_background(np.random.default_rng(1), mission="Kepler")
    >>> inj = eb_signal(np.random.default_rng(5), bg)
    >>> inj.label, 0.0 < inj.secondary_phase < 1.0
    ('eb', True)
    """
    period = _draw_period(rng, bg, long_period=long_period)
    if not long_period and rng.random() < 0.12:
        return _contact_binary(rng, bg)
    rho = 10 ** rng.uniform(math.log10(0.1), math.log10(3.0))
    a_r = max(_a_over_r(period, rho) * (1.0 + rng.uniform(0.0, 1.0)) ** (1 / 3), 2.2)
    kind = str(rng.choice(["detached", "grazing", "twin", "eccentric"], p=[0.35, 0.3, 0.2, 0.15]))
    if kind == "twin":
        k, s = rng.uniform(0.85, 1.0), rng.uniform(0.7, 1.0)
    else:
        k, s = rng.uniform(0.2, 1.0), 10 ** rng.uniform(math.log10(0.02), 0.0)
    if kind == "grazing":
        b = rng.uniform(max(1.0 - k, 0.0), 0.95 * (1.0 + k))
    else:
        b = rng.uniform(0.0, max(1.0 - k, 0.05) * 0.9)
    b = min(b, 0.95 * a_r)
    u = (rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.35))
    sec_phase = 0.5 if kind != "eccentric" else float(rng.uniform(0.3, 0.7))
    sec_width = 1.0 if kind != "eccentric" else float(rng.uniform(0.6, 1.6))
    t0 = _t0_in_data(rng, bg, period)
    cad = bg.cadence_min / 1440.0
    f1 = _batman(bg.time, period=period, t0=t0, k=k, a_r=a_r, b=b, u=u, cadence_d=cad)
    light = k * k * s
    # secondary: star 2 (radius k) behind star 1 (radius 1); projected separation in R1
    ph = ((bg.time - t0) / period - sec_phase + 0.5) % 1.0 - 0.5
    ph = ph / sec_width
    inc = math.acos(min(b / a_r, 1.0))
    z = a_r * np.sqrt(np.sin(2 * np.pi * ph) ** 2 + (math.cos(inc) * np.cos(2 * np.pi * ph)) ** 2)
    z = np.where(np.abs(ph) < 0.25, z, 1e9)
    hidden2 = _disk_overlap(z, 1.0, k) / (math.pi * k * k)
    flux = (f1 + light * (1.0 - hidden2)) / (1.0 + light)
    params = dict(kind=kind, rho_cgs=rho, a_r=a_r, b=b, k=k, s=s, u1=u[0], u2=u[1],
                  sec_width=sec_width)
    if rng.random() < 0.35:
        phase = 2 * np.pi * (bg.time - t0) / period
        a_ell = rng.uniform(0.3, 1.5) * k ** 2 / (1 + light) * a_r ** -3 * 3
        a_ref = rng.uniform(0.0, 1.0) * light / (1 + light) * a_r ** -2
        flux = flux * (1.0 - a_ell * np.cos(2 * phase) - a_ref * np.cos(phase))
        params.update(a_ell=a_ell, a_ref=a_ref)
    depth1 = 1.0 - float(flux[np.abs(((bg.time - t0) / period + 0.5) % 1.0 - 0.5) < 0.02].min(initial=1.0))
    blend = rng.random() < 0.4
    if blend or depth1 <= 0:
        dur = max(_t14(period, a_r, k, b), 0.02)
        want = _target_depth(rng, bg, period, dur, snr_low=8.0)
        if depth1 > want > 0:
            c = depth1 / want - 1.0  # contaminating flux in units of the binary's
            flux = (flux + c) / (1.0 + c)
            params["dilution"] = c
            kind_out = f"blend-{kind}"
        else:
            kind_out = kind
    else:
        kind_out = kind
    in1 = np.abs(((bg.time - t0) / period + 0.5) % 1.0 - 0.5) < 0.02
    in2 = np.abs(((bg.time - t0) / period - sec_phase + 0.5) % 1.0 - 0.5) < 0.02
    base = float(np.median(flux))
    depth1 = base - float(flux[in1].min(initial=base))
    depth2 = base - float(flux[in2].min(initial=base))
    params["secondary_depth_ppm"] = depth2 * 1e6
    return Injection(model=flux, label="eb", subtype=kind_out, period=period, t0=t0,
                     duration_h=_t14(period, a_r, k, b) * 24.0, depth_ppm=depth1 * 1e6,
                     secondary_phase=sec_phase, params=params)


def variability_signal(rng: np.random.Generator, bg: Background) -> Injection:
    """Stellar variability: rotation, pulsation, flares or heartbeat-like signals.

    - ``rotation``: two spot harmonics, P_rot 0.2-15 d, amplitude 0.5-30 ppt, evolving
      over 1-5 rotations;
    - ``delta_scuti``: 3-8 modes, periods 0.02-0.25 d, 0.1-5 ppt each;
    - ``rr_lyrae``: skewed sawtooth, P 0.3-0.9 d, 50-400 ppt;
    - ``gamma_dor``: 2-4 modes, 0.3-3 d, 0.5-10 ppt;
    - ``flares``: 0.1-2 per day, fast rise and exponential decay, 1-300 ppt;
    - ``heartbeat``: periodic (3-30 d) tidal brightening/dimming pulse of 0.5-20 ppt.

    Parameters
    ----------
    rng : numpy.random.Generator
    bg : Background

    Returns
    -------
    Injection
        ``period`` is the signal's period where it has one (NaN for flares).

    Examples
    --------
    >>> from astrotinyml.training.backgrounds import synthetic_background
    >>> bg = synthetic_background(np.random.default_rng(1), mission="K2")
    >>> variability_signal(np.random.default_rng(3), bg).label
    'variability'
    """
    t = bg.time
    kind = str(rng.choice(["rotation", "delta_scuti", "rr_lyrae", "gamma_dor", "flares", "heartbeat"],
                          p=[0.3, 0.15, 0.1, 0.1, 0.2, 0.15]))
    period = float("nan")
    params: dict[str, Any] = dict(kind=kind)
    if kind == "rotation":
        period = 10 ** rng.uniform(math.log10(0.2), math.log10(15.0))
        amp = 10 ** rng.uniform(math.log10(5e-4), math.log10(3e-2))
        tau = period * rng.uniform(1.0, 5.0)
        env1 = 1.0 + 0.5 * np.sin(2 * np.pi * (t - t[0]) / (tau * 2 * np.pi) + rng.uniform(0, 6.3))
        env2 = 1.0 + 0.5 * np.sin(2 * np.pi * (t - t[0]) / (tau * 2 * np.pi) + rng.uniform(0, 6.3))
        ph = 2 * np.pi * (t - t[0]) / period
        model = 1.0 + amp * (env1 * np.sin(ph + rng.uniform(0, 6.3))
                             + rng.uniform(0.1, 0.6) * env2 * np.sin(2 * ph + rng.uniform(0, 6.3)))
        params.update(amp=amp, tau=tau)
    elif kind == "delta_scuti":
        model = np.ones(t.size)
        periods = 10 ** rng.uniform(math.log10(0.02), math.log10(0.25), int(rng.integers(3, 9)))
        for p in periods:
            model += 10 ** rng.uniform(-4, math.log10(5e-3)) * np.sin(2 * np.pi * t / p + rng.uniform(0, 6.3))
        period = float(periods[0])
        params.update(periods=periods.tolist())
    elif kind == "rr_lyrae":
        period = rng.uniform(0.3, 0.9)
        amp = rng.uniform(0.05, 0.4)
        x = ((t - t[0]) / period + rng.uniform(0, 1)) % 1.0
        rise = rng.uniform(0.1, 0.2)
        shape = np.where(x < rise, x / rise, 1.0 - (x - rise) / (1.0 - rise))
        model = 1.0 + amp * (shape ** 1.5 - 0.4)
        params.update(amp=amp)
    elif kind == "gamma_dor":
        model = np.ones(t.size)
        periods = rng.uniform(0.3, 3.0, int(rng.integers(2, 5)))
        for p in periods:
            model += 10 ** rng.uniform(math.log10(5e-4), -2) * np.sin(2 * np.pi * t / p + rng.uniform(0, 6.3))
        period = float(periods[0])
        params.update(periods=periods.tolist())
    elif kind == "flares":
        span = t[-1] - t[0]
        n = max(int(rng.poisson(span * 10 ** rng.uniform(-1, math.log10(2)))), 1)
        model = np.ones(t.size)
        for tf in rng.uniform(t[0], t[-1], n):
            amp = 10 ** rng.uniform(-3, math.log10(0.3))
            t_half = rng.uniform(2.0, 30.0) / 1440.0
            dt = t - tf
            rise = (dt < 0) & (dt > -t_half)
            model[rise] += amp * (1 + dt[rise] / t_half) ** 2
            dec = dt >= 0
            model[dec] += amp * (0.7 * np.exp(-dt[dec] / (1.5 * t_half)) + 0.3 * np.exp(-dt[dec] / (8 * t_half)))
        params.update(n_flares=n)
    else:  # heartbeat
        period = rng.uniform(3.0, min(30.0, max((t[-1] - t[0]) / 2.2, 3.5)))
        amp = 10 ** rng.uniform(math.log10(5e-4), math.log10(2e-2))
        width = rng.uniform(0.1, 0.5)
        x = ((t - t[0]) / period + rng.uniform(0, 1)) % 1.0 - 0.5
        xx = x * period / width
        asym = rng.uniform(-1.0, 1.0)
        model = 1.0 + amp * (np.exp(-xx ** 2) * (1.0 - 2.0 * xx ** 2) + asym * xx * np.exp(-xx ** 2))
        params.update(amp=amp, width=width)
    return Injection(model=model, label="variability", subtype=kind, period=period, params=params)


def instrumental_signal(rng: np.random.Generator, bg: Background) -> Injection:
    """Instrumental systematics of the background's mission.

    - ``momentum_dump`` (TESS): every 2.5-6 d a dip (60 %) or spike of 1-15 ppt lasting one
      cadence (1-5 at 2 min), and a flux offset of 0.3-1 times that after it;
    - ``scattered_light`` (TESS): exponential ramps (1-30 ppt, tau 0.1-1 d) at the start
      and end of each orbit, next to the data gaps;
    - ``sawtooth`` (K2): 6-h roll (period 0.2452 d) sawtooth of 0.3-5 ppt with thruster
      firing outliers;
    - ``jumps``: 1-4 flux discontinuities of 1-15 ppt, some sudden pixel-sensitivity dropouts
      (drop and exponential recovery).

    There is no "periodic box dip" systematic on purpose: a strictly periodic dip one to a
    few hours long with nothing else is exactly what a transit looks like at 30-min
    cadence, and teaching the model to call it instrumental made it call real small planets
    (TOI-421 b, pi Men c) instrumental.

    Parameters
    ----------
    rng : numpy.random.Generator
    bg : Background

    Returns
    -------
    Injection

    Examples
    --------
    >>> from astrotinyml.training.backgrounds import synthetic_background
    >>> bg = synthetic_background(np.random.default_rng(1), mission="TESS")
    >>> instrumental_signal(np.random.default_rng(4), bg).label
    'instrumental'
    """
    t = bg.time
    cad = bg.cadence_min / 1440.0
    if bg.mission == "TESS":
        kinds, p = ["momentum_dump", "scattered_light", "jumps"], [0.4, 0.35, 0.25]
    elif bg.mission == "K2":
        kinds, p = ["sawtooth", "jumps"], [0.7, 0.3]
    else:
        kinds, p = ["jumps", "sawtooth"], [0.8, 0.2]
    kind = str(rng.choice(kinds, p=p))
    model = np.ones(t.size)
    period = float("nan")
    params: dict[str, Any] = dict(kind=kind)
    if kind == "momentum_dump":
        period = rng.uniform(2.5, 6.0)
        amp = 10 ** rng.uniform(-3, math.log10(1.5e-2))
        width = (int(rng.integers(1, 6)) if cad < 5 / 1440 else 1) * cad * 0.5  # half-width: whole cadences
        offset = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.0) * amp
        tt = t[0] + rng.uniform(0.2, period)
        sign = -1.0 if rng.random() < 0.6 else 1.0
        while tt < t[-1]:
            hit = np.abs(t - tt) < width
            model[hit] += sign * amp
            model[t > tt] += offset
            tt += period * rng.uniform(0.97, 1.03)
        params.update(amp=amp, offset=offset)
    elif kind == "scattered_light":
        gaps = np.flatnonzero(np.diff(t) > 0.5)
        starts = np.concatenate([[0], gaps + 1])
        ends = np.concatenate([gaps, [t.size - 1]])
        amp = 10 ** rng.uniform(-3, math.log10(3e-2))
        tau = rng.uniform(0.1, 1.0)
        for a, b in zip(starts, ends):
            s = rng.choice([-1.0, 1.0])
            model += s * amp * rng.uniform(0.3, 1.0) * np.exp(-(t - t[a]) / tau) * (t >= t[a]) * (t <= t[b])
            model += s * amp * rng.uniform(0.3, 1.0) * np.exp(-(t[b] - t) / tau) * (t >= t[a]) * (t <= t[b])
        params.update(amp=amp, tau=tau)
    elif kind == "sawtooth":
        period = 0.2452 * rng.uniform(0.95, 1.05)
        amp = 10 ** rng.uniform(math.log10(3e-4), math.log10(5e-3))
        x = ((t - t[0]) / period + rng.uniform(0, 1)) % 1.0
        envelope = 1.0 + 0.5 * np.sin(2 * np.pi * (t - t[0]) / rng.uniform(5, 30))
        model += amp * envelope * (x - 0.5)
        firing = x < 1.5 * cad / period
        model[firing] -= amp * rng.uniform(0.5, 2.0)
        params.update(amp=amp)
    elif kind == "jumps":
        for _ in range(int(rng.integers(1, 5))):
            tj = rng.uniform(t[0], t[-1])
            amp = rng.choice([-1, 1]) * 10 ** rng.uniform(-3, math.log10(1.5e-2))
            if rng.random() < 0.5:
                model[t > tj] += amp
            else:  # sudden pixel sensitivity dropout: drop then recover
                dt = t - tj
                model[dt > 0] -= abs(amp) * np.exp(-dt[dt > 0] / rng.uniform(0.2, 2.0))
        params.update()
    return Injection(model=model, label="instrumental", subtype=kind, period=period, params=params)
