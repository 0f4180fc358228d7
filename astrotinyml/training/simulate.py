"""Labelled training signals for the classifier: physical models injected into real noise.

Every training example is made the way the pipeline meets a real signal:

1. a **background** light curve: a *real* one (stars without known transits, or planet hosts
   with their known transits cut out) or *synthetic* red + white noise at a Kepler / K2 /
   TESS cadence with that mission's gaps;
2. an injected **signal** of one class (:data:`CLASSES`): a batman limb-darkened planetary
   transit, an eclipsing binary, stellar variability, an instrumental systematic, or nothing
   (``noise``);
3. the **same** code the pipeline runs: :func:`astrotinyml.detrending.detrend` →
   :func:`astrotinyml.searching.search` → detrend again with the transits masked →
   :func:`astrotinyml.vetting.vet` → :func:`astrotinyml.views.fold_views`.

Ephemeris modes (how the candidate handed to vet/fold is obtained), recorded per example:

``search``  full-range search (the default :func:`~astrotinyml.searching.search` period range),
            thresholds lowered to SDE 6 / SNR 6 so that marginal signals and false alarms are
            represented; the strongest row is used.
``narrow``  search restricted to ``0.45 P .. 2.2 P`` around the injected period (half and
            double aliases stay reachable): what a user following up a known period gets.
``true``    injected ephemeris with realistic errors (period 2e-4 relative, epoch 0.1 T14,
            duration 15 %, depth 20 %); ``snr``/``sde`` are left out in half of them, as in a
            catalogue table handed to :func:`astrotinyml.classification.classify`.
``random``  random ephemeris (noise class only; and a fallback when the search returns
            nothing for a class with no ephemeris of its own).

Planets and EBs found by ``search``/``narrow`` keep their label only when the found
ephemeris matches the injected one (period ratio 1, 2 - or 1/2 for EBs - within 1 %, and
mid-time within one duration of an injected eclipse); otherwise the example is relabelled
``noise`` on a synthetic background (the search locked on noise) and dropped on a real one
(the found signal's nature is unknown).

Everything is seeded: example ``i`` of a build with seed ``s`` uses
``numpy.random.default_rng([s, i])``, so a dataset does not depend on the number of worker
processes.  :func:`build_dataset` writes the result once to the cache (``.npz``) and reuses
it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..provenance import sha256_file as _sha256
from ..errors import InvalidParameterError

__all__ = [
    "CLASSES",
    "save_dataset",
    "simulated_star",
    "sun_like_duration",
    "box_epoch",
    "REAL_BACKGROUNDS",
    "Background",
    "Injection",
    "load_backgrounds",
    "synthetic_background",
    "planet_signal",
    "eb_signal",
    "variability_signal",
    "instrumental_signal",
    "simulate_example",
    "build_dataset",
    "load_dataset",
    "concat_datasets",
    "SimulatedDataset",
]

#: Class names, in the order of the model's outputs.
CLASSES = ("planet", "eb", "variability", "instrumental", "noise")

_G = 6.674e-8  # cgs
_DAY = 86400.0
_PKG = Path(__file__).resolve().parent.parent
_REPO = _PKG.parent

#: Real backgrounds a fresh clone has (package data + tests/data), relative to the repository
#: root, with the known periodic signals to cut out: (period [d], epoch [full BJD] or None).
#: An epoch of None is found with a search restricted to +-0.1 % of the period.  Left out on
#: purpose: the test targets WASP-18 and KIC 2306740 (tests/test_classify.py must classify
#: stars the model never saw) and the other EBs (cannot be made signal-free).
REAL_BACKGROUNDS: tuple[tuple[str, str, tuple[tuple[float, float | None], ...]], ...] = (
    ("astrotinyml/data/k2_EPIC248045685_C13_k2sc_EPIC_248045685_mast.fits", "quiet", ()),
    ("astrotinyml/data/k2_EPIC210651981_C13_k2sc_EPIC_210651981_mast.fits", "variable", ()),
    ("astrotinyml/data/kepler_Kepler-90_KIC11442793_Q3_kplr011442793-2009350155506_llc.fits", "host", (
        (7.008218, 2454833 + 137.67164), (8.719801, 2454833 + 139.52134), (59.737144, 2454833 + 158.95974),
        (91.940125, 2454833 + 134.30000), (124.922516, 2454833 + 129.72950),
        (210.601384, 2454833 + 147.05687), (331.597273, 2454833 + 140.49893))),
    ("astrotinyml/data/kepler_Kepler-90_KIC11442793_Q5_kplr011442793-2010174085026_llc.fits", "host", (
        (7.008218, 2454833 + 137.67164), (8.719801, 2454833 + 139.52134), (59.737144, 2454833 + 158.95974),
        (91.940125, 2454833 + 134.30000), (124.922516, 2454833 + 129.72950),
        (210.601384, 2454833 + 147.05687), (331.597273, 2454833 + 140.49893))),
    # K2-25: a young M dwarf with 1.88 d rotation; its own residual signal is variability.
    ("tests/data/k2_EPIC210490365_C4_dave_detrended.dat", "variable", ((3.484564, None),)),
    ("tests/data/k2_EPIC247589423_C13_k2sc_EPIC_247589423_mast.fits", "host",
     ((7.97520, None), (17.30713, None), (25.57500, None))),
    ("tests/data/k2_K2-32_EPIC205071984_C2_juliet.dat", "host",
     ((4.34934, None), (8.99200, None), (20.66093, None), (31.71701, None))),
    ("tests/data/k2_WASP-47_EPIC206103150_C3_ktwo_llc.fits", "host",
     ((0.789610, None), (4.159151, None), (9.030501, None))),
    ("tests/data/kepler_HAT-P-7_KIC10666592_Q0_slc.fits", "host", ((2.204735, 2454833 + 121.35854),)),
    ("tests/data/tess_TIC311381302_S5_flarestar_pdcsap.csv", "variable", ()),
    ("tests/data/tess_TOI-1130_TIC254113311_S13_qlp_hlsp_llc.fits", "host",
     ((4.068640, 2457000 + 3126.92426), (8.349980, 2457000 + 3144.13712))),
    ("tests/data/tess_TOI-2000_TIC371188886_S9-S11_qlp30min.csv", "host",
     ((3.098367, 2457000 + 3038.81988), (9.127052, 2457000 + 3086.66078))),
    ("tests/data/tess_WASP-111_TOI-143_TIC25375553_S1_qlp30min.txt", "host", ((2.310969, 2457000 + 3155.87081),)),
    ("tests/data/tess_WASP-6_TIC204376737_S2_exostriker.tran", "host", ((3.361001, 2457000 + 1357.39474),)),
)

#: Share of simulated planets with transit-timing variations.  0 in the shipped build: a build
#: with 0.15 (and planets no closer than a/R* = 2) scored the same on the real corpus
#: (benchmarks/model_eval.py) but its probabilities calibrated worse on the bundled references
#: (threshold 0.97 for 90 % precision, recall 0.20, against 0.72 / 0.65).  Part of the dataset
#: cache key when not 0.
TTV_FRACTION = 0.0

#: Search passes of the ``search``/``narrow`` modes, as ``detect(search_passes=...)``: the
#: second searches the light curve detrended with the first candidate's transits masked and
#: its candidate replaces the first (see :func:`astrotinyml.detection.search_masked`).  2, as
#: detect() does, so that the model learns from what detect() hands it (one pipeline).
SEARCH_PASSES = 2

#: Share of examples whose star is "unknown" to the vetting (no header or catalogue radius:
#: K2 EPIC stars, plain text files), so the model learns the prior case too.
UNKNOWN_STAR_FRACTION = 0.35

#: Dataset format version (bump when the content of an example changes).
DATASET_VERSION = 5


@dataclass
class Background:
    """A noise light curve to inject signals into.

    Attributes
    ----------
    name : str
        File name (real) or ``synthetic-<mission>-<cadence>``.
    time, flux : numpy.ndarray
        Full BJD_TDB and flux normalized to 1 (known transits already cut out).
    mission : str
        ``Kepler``, ``K2`` or ``TESS``.
    cadence_min : float
        Median cadence in minutes.
    kind : str
        ``quiet``, ``variable``, ``host`` (real) or ``synthetic``.
    sigma : float
        Robust point-to-point scatter of the detrended flux (relative).
    sha256 : str
        SHA-256 of the source file ('' for synthetic).
    """

    name: str
    time: np.ndarray
    flux: np.ndarray
    mission: str
    cadence_min: float
    kind: str
    sigma: float = float("nan")
    sha256: str = ""
    n_cut: int = 0

    @property
    def real(self) -> bool:
        return self.kind != "synthetic"


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


# --------------------------------------------------------------------------------------------
# Backgrounds
# --------------------------------------------------------------------------------------------



def _lc(time: np.ndarray, flux: np.ndarray, sigma: float | None = None):
    import lightkurve as lk

    err = np.full(time.size, sigma if sigma and np.isfinite(sigma) else 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lk.LightCurve(time=time, flux=flux, flux_err=err)


def sun_like_duration(period: float) -> float:
    """Central-transit duration [d] around a Sun-like star (13 h at 1 yr)."""
    return 13.0 / 24.0 * (period / 365.25) ** (1.0 / 3.0)


def box_epoch(t: np.ndarray, f: np.ndarray, period: float,
               factors=(0.5, 1.0, 1.6)) -> tuple[float, float, float]:
    """Epoch [d] and duration [d] of the deepest box dip in ``f`` folded at ``period``.

    The pipeline's search is not used here: its alias checks may move a +-0.1 % period
    range to 2P or 3P/2, while here the period is known and only the phase is wanted.
    """
    ok = np.isfinite(f)
    t, f = t[ok], f[ok]
    guess = sun_like_duration(period)
    nb = int(np.clip(period / (guess / 6.0), 24, 4000))
    ph = ((t - t[0]) / period) % 1.0
    idx = np.minimum((ph * nb).astype(int), nb - 1)
    s = np.bincount(idx, weights=f - np.median(f), minlength=nb)
    n = np.bincount(idx, minlength=nb).astype(float)
    best = (np.inf, 0.0, guess)
    for fac in factors:
        w = max(int(round(fac * guess / period * nb)), 1)
        ker = np.ones(w)
        ss = np.convolve(np.concatenate([s, s[:w]]), ker, "valid")[:nb]
        nn = np.convolve(np.concatenate([n, n[:w]]), ker, "valid")[:nb]
        score = np.where(nn > 0, ss / np.sqrt(np.maximum(nn, 1)), np.inf)
        j = int(np.argmin(score))
        if score[j] < best[0]:
            best = (score[j], t[0] + (j + 0.5 * w) / nb * period, fac * guess)
    return float(best[1]), float(best[2]), float(best[0])


def load_backgrounds(files: Any = None, *, root: str | os.PathLike | None = None) -> list[Background]:
    """Read real background light curves and cut out their known transits.

    Parameters
    ----------
    files : sequence, optional
        Entries like :data:`REAL_BACKGROUNDS`: ``(path, kind, ((period, epoch|None), ...))``;
        a plain path is read as a ``quiet`` star.  Default :data:`REAL_BACKGROUNDS`.
    root : path-like, optional
        Directory relative paths are resolved against (default: the repository root).

    Returns
    -------
    list of Background
        Files that do not exist are skipped (a pip install has no ``tests/data``).

    Examples
    --------
    >>> bgs = load_backgrounds([REAL_BACKGROUNDS[0]])
    >>> bgs[0].kind, bgs[0].mission, bool(bgs[0].sigma < 1e-3)
    ('quiet', 'K2', True)
    """
    from ..detrending import detrend
    from ..io import read_lightcurve
    entries = REAL_BACKGROUNDS if files is None else files
    root = Path(root) if root is not None else _REPO
    out = []
    for entry in entries:
        if isinstance(entry, (str, os.PathLike)):
            entry = (os.fspath(entry), "quiet", ())
        rel, kind, known = entry
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        if not path.exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lc = read_lightcurve(path)
        t = np.asarray(lc.time.jd, dtype=float)
        f = np.asarray(getattr(lc.flux, "value", lc.flux), dtype=float)
        ok = np.isfinite(t) & np.isfinite(f)
        t, f = t[ok], f[ok]
        f = f / np.median(f)
        flat = detrend(_lc(t, f))
        ff = np.asarray(flat.flux.value, dtype=float)
        keep = np.ones(t.size, dtype=bool)
        cad = float(np.median(np.diff(t)))
        todo = list(known)
        while todo:
            # Cut the most significant remaining planet first: a deeper planet of another
            # period would otherwise win the fold of a shallow one.
            trials = []
            for period, epoch in todo:
                if epoch is None:
                    ep, dur, score = box_epoch(t[keep], ff[keep], period)
                else:
                    ep, dur, score = epoch, sun_like_duration(period), -np.inf
                trials.append((score, period, epoch, ep, dur))
            trials.sort(key=lambda x: x[0])
            _, period, epoch, ep, dur = trials[0]
            todo.remove((period, epoch))
            # Generous cut (2.5 durations + 2 cadences): the goal is a transit-free star.
            half = 1.25 * dur + 2 * cad
            ph = (t - ep + 0.5 * period) % period - 0.5 * period
            keep &= np.abs(ph) > half
        cad_min = float(np.median(np.diff(t))) * 1440.0
        mission = str((lc.meta or {}).get("mission") or "unknown")
        fk = ff[keep]
        fk = fk[np.isfinite(fk)]
        sigma = 1.4826 * float(np.median(np.abs(fk - np.median(fk))))
        out.append(Background(name=path.name, time=t[keep], flux=f[keep], mission=mission,
                              cadence_min=cad_min, kind=kind, sigma=sigma, sha256=_sha256(path),
                              n_cut=int((~keep).sum())))
    return out


def _red_noise(rng: np.random.Generator, t: np.ndarray, tau: float, amp: float) -> np.ndarray:
    """AR(1) (damped random walk) noise with timescale ``tau`` [d] and rms ``amp``."""
    dt = np.diff(t, prepend=t[0])
    phi = np.exp(-dt / tau)
    out = np.empty(t.size)
    x = rng.normal()
    eps = rng.normal(size=t.size)
    for i in range(t.size):
        x = phi[i] * x + math.sqrt(max(1.0 - phi[i] ** 2, 0.0)) * eps[i]
        out[i] = x
    return amp * out


def synthetic_background(rng: np.random.Generator, *, mission: str | None = None) -> Background:
    """Red + white noise at a Kepler / K2 / TESS cadence, with that mission's gaps.

    Parameters
    ----------
    rng : numpy.random.Generator
    mission : {'Kepler', 'K2', 'TESS'}, optional
        Drawn at random when omitted.

    Returns
    -------
    Background
        ``kind='synthetic'``.  White noise 30 ppm - 3 ppt per 30 min (scaled to the
        cadence), red noise (AR(1), 0.05 - 2 d) up to the white level per 30 min, a slow
        trend (removed by the detrending like a real one).

    Examples
    --------
    >>> bg = synthetic_background(np.random.default_rng(0), mission="TESS")
    >>> bg.mission, bool(bg.time.size > 500)
    ('TESS', True)
    """
    if mission is None:
        mission = str(rng.choice(["Kepler", "K2", "TESS"], p=[0.3, 0.3, 0.4]))
    if mission == "Kepler":
        cad = 29.4 / 1440.0
        span = rng.uniform(30.0, 90.0)
        t0 = 2454833.0 + rng.uniform(130.0, 1500.0)
        t = t0 + np.arange(0.0, span, cad)
        # monthly downlinks: ~1 d gaps every ~30 d
        for g in np.arange(rng.uniform(10, 30), span, 30.0):
            t = t[(t - t0 < g) | (t - t0 > g + rng.uniform(0.5, 1.2))]
    elif mission == "K2":
        cad = 29.4 / 1440.0
        span = rng.uniform(50.0, 80.0)
        t0 = 2454833.0 + rng.uniform(1950.0, 3300.0)
        t = t0 + np.arange(0.0, span, cad)
    else:
        mission = "TESS"
        cad = float(rng.choice([2.0, 10.0, 30.0], p=[0.2, 0.3, 0.5])) / 1440.0
        n_orbits = int(rng.choice([2, 4], p=[0.8, 0.2]))
        t0 = 2457000.0 + rng.uniform(1325.0, 3300.0)
        segs = []
        start = 0.0
        for _ in range(n_orbits):
            length = rng.uniform(11.5, 13.5)
            segs.append(np.arange(start, start + length, cad))
            start += length + rng.uniform(0.8, 1.5)
        t = t0 + np.concatenate(segs)
    # random short gaps (safe modes, flagged cadences)
    for _ in range(int(rng.integers(0, 3))):
        g = rng.uniform(t[0], t[-1])
        t = t[(t < g) | (t > g + rng.uniform(0.1, 1.0))]
    white30 = 10 ** rng.uniform(math.log10(3e-5), math.log10(3e-3))
    white = white30 * math.sqrt(30.0 / (cad * 1440.0))
    red = white30 * rng.uniform(0.0, 1.0) * (rng.random() < 0.7)
    flux = 1.0 + rng.normal(0.0, white, t.size)
    if red > 0:
        flux += _red_noise(rng, t, 10 ** rng.uniform(math.log10(0.05), math.log10(2.0)), red)
    # slow trend (the detrending removes it, as it removes a real one)
    span = t[-1] - t[0]
    flux *= 1.0 + rng.uniform(-3e-3, 3e-3) * np.sin(2 * np.pi * (t - t[0]) / rng.uniform(span, 4 * span)
                                                    + rng.uniform(0, 2 * np.pi))
    return Background(name=f"synthetic-{mission}-{cad * 1440:.0f}min", time=t, flux=flux,
                      mission=mission, cadence_min=cad * 1440.0, kind="synthetic",
                      sigma=math.sqrt(white ** 2 + (red ** 2) * 0.5))


# --------------------------------------------------------------------------------------------
# Signal models
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# One example through the pipeline
# --------------------------------------------------------------------------------------------

def _candidate_row(period, t0, dur_h, depth_ppm, snr=None, sde=None):
    import astropy.units as u
    from astropy.table import QTable

    cols = {"pl_orbper": [period] * u.day, "pl_tranmid": [t0] * u.day, "pl_trandurh": [dur_h] * u.hour,
            "pl_trandep": np.array([depth_ppm], dtype=float)}
    if snr is not None:
        cols["snr"] = np.array([snr], dtype=float)
        cols["sde"] = np.array([sde], dtype=float)
        cols["n_transits"] = np.array([0], dtype=int)
    return QTable(cols)


def _matches(found_p, found_t0, inj: Injection, cadence_d: float) -> bool:
    """Found ephemeris = injected one (period ratio 1 or 2, 1/2 for EBs; time on an eclipse)."""
    if not math.isfinite(inj.period):
        return False
    if math.isfinite(found_p):
        ratios = (1.0, 2.0) if inj.label == "planet" else (1.0, 2.0, 0.5)
        if not any(abs(found_p / (inj.period * r) - 1.0) < 0.01 for r in ratios):
            return False
    tol = max(inj.duration_h / 24.0, 3 * cadence_d)
    centres = [0.0] + ([inj.secondary_phase] if inj.label == "eb" and math.isfinite(inj.secondary_phase) else [])
    for c in centres:
        x = (found_t0 - inj.t0) / inj.period - c
        if abs((x - round(x)) * inj.period) < tol:
            return True
    return False


def simulated_star(rng: np.random.Generator, inj: Injection):
    """The host star the vetting is told about for one example, or None (unknown star).

    The radius follows the injection's stellar density through a main-sequence relation
    (M ~ R^1.25, so rho ~ R^-1.75), with a 10 % catalogue error; the mass keeps the density.
    A planet's star is never so large that its companion would exceed 2 R_J (the planet
    would not be one).  A share :data:`UNKNOWN_STAR_FRACTION` of stars are unknown.

    Examples
    --------
    >>> inj = Injection(model=np.ones(3), label="planet", subtype="", params=dict(rho_cgs=1.41, k=0.1))
    >>> s = simulated_star(np.random.default_rng(3), inj)
    >>> s is None or 0.7 < s.radius < 1.4
    True
    """
    from ..star import MAX_PLANET_RADIUS_RJUP, R_JUP_REARTH, R_SUN_REARTH, RHO_SUN_CGS, StellarParameters

    if rng.random() < UNKNOWN_STAR_FRACTION:
        return None
    rho = inj.params.get("rho_cgs")
    if not (isinstance(rho, (int, float)) and rho > 0):
        rho = 10 ** rng.uniform(math.log10(0.2), math.log10(8.0))
    r = (rho / RHO_SUN_CGS) ** (-1.0 / 1.75) * math.exp(rng.normal(0.0, 0.1))
    k = inj.params.get("k")
    if inj.label == "planet" and isinstance(k, (int, float)) and k > 0:
        r = min(r, 0.95 * MAX_PLANET_RADIUS_RJUP * R_JUP_REARTH / R_SUN_REARTH / k)
    r = float(np.clip(r, 0.1, 20.0))
    return StellarParameters(radius=r, mass=float(np.clip(rho / RHO_SUN_CGS * r ** 3, 0.02, 200.0)),
                             sources=(("radius", "header"), ("mass", "header")))


def _search_first(flat, **kw):
    from ..searching import search

    res = search(flat, max_planets=1, max_single_events=1, **kw)
    return res if len(res) else None


def simulate_example(
    rng: np.random.Generator,
    background: Background,
    label: str,
    *,
    mode: str = "search",
    inject: bool = True,
    long_period: bool = False,
) -> dict[str, Any] | None:
    """Make one labelled example: inject, then detrend → search → redetrend → vet → fold.

    Parameters
    ----------
    rng : numpy.random.Generator
    background : Background
    label : str
        One of :data:`CLASSES`: the signal injected (``noise``: none).
    mode : {'search', 'narrow', 'true', 'random'}
        How the candidate ephemeris is obtained (module docstring).
    inject : bool
        False: nothing injected whatever ``label`` says (a real star's own signals, the
        label given by the caller).
    long_period : bool
        Planets and EBs of long period (one or two transits in the data; use with
        ``mode='true'``); noise with a ``random`` ephemeris of such a period.

    Returns
    -------
    dict or None
        ``views`` (:class:`astrotinyml.views.Views`), ``label`` (final, after matching),
        ``meta`` (JSON-friendly record), or None when the example is dropped.

    Examples
    --------
    >>> bg = synthetic_background(np.random.default_rng(0), mission="TESS")
    >>> ex = simulate_example(np.random.default_rng(1), bg, "planet", mode="true")
    >>> ex["label"], ex["views"].local_view.shape
    ('planet', (61,))
    """
    from ..detection import same_signals
    from ..detrending import detrend
    from ..vetting import vet
    from ..views import fold_views

    if label not in CLASSES:
        raise InvalidParameterError(f"label must be one of {CLASSES}, got {label!r}")
    if mode not in ("search", "narrow", "true", "random"):
        raise InvalidParameterError(f"mode must be search, narrow, true or random; got {mode!r}")
    t = background.time
    if inject and label == "planet":
        inj = planet_signal(rng, background, long_period=long_period)
    elif inject and label == "eb":
        inj = eb_signal(rng, background, long_period=long_period)
    elif inject and label == "variability":
        inj = variability_signal(rng, background)
    elif inject and label == "instrumental":
        inj = instrumental_signal(rng, background)
    else:
        inj = Injection(model=np.ones(t.size), label=label, subtype="none" if inject else "real")
    if mode in ("narrow", "true") and not math.isfinite(inj.duration_h):
        mode = "search"  # only transit-like injections have an ephemeris of their own
    flux = background.flux * inj.model
    raw = _lc(t, flux, background.sigma)
    cad = background.cadence_min / 1440.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat0 = detrend(raw)
        cand = None
        used_mode = mode
        if mode == "true":
            p = inj.period * (1.0 + rng.normal(0.0, 2e-4))
            t0 = inj.t0 + rng.normal(0.0, 0.1) * inj.duration_h / 24.0
            # first transit in the data, as the search reports it
            t0 = t0 + math.ceil((t[0] - t0) / p) * p
            if t0 > t[-1]:
                t0 -= p
            dur = inj.duration_h * math.exp(rng.normal(0.0, 0.15))
            depth = inj.depth_ppm * math.exp(rng.normal(0.0, 0.2))
            if rng.random() < 0.5:
                cand = _candidate_row(p, t0, dur, depth)
            else:
                sn = depth * 1e-6 / max(background.sigma, 1e-6) * math.sqrt(
                    max((t[-1] - t[0]) / p * dur / 24.0 / cad, 1.0))
                cand = _candidate_row(p, t0, dur, depth, snr=sn, sde=max(sn * 0.8, 5.0))
        elif mode in ("search", "narrow"):
            kw: dict[str, Any] = dict(sde_threshold=6.0, snr_threshold=6.0)
            if mode == "narrow":
                span = t[-1] - t[0]
                kw.update(period_min=max(0.45 * inj.period, 0.3), period_max=min(2.2 * inj.period, span / 2.0))
                if kw["period_max"] <= kw["period_min"] * 1.05:
                    kw.pop("period_min"), kw.pop("period_max")
            try:
                cand = _search_first(flat0, **kw)
                if cand is None and label not in ("planet", "eb"):
                    kw = dict(sde_threshold=0.0, snr_threshold=0.0)
                    cand = _search_first(flat0, **kw)
                # Further passes on the flattening with the last candidate's transits masked,
                # as detect() does; the last pass's candidate (or none) is kept.
                for _ in range(SEARCH_PASSES - 1):
                    if cand is None:
                        break
                    again = _search_first(detrend(raw, mask=cand[:1]), **kw)
                    converged = again is not None and same_signals(again[:1], cand[:1])
                    cand = again
                    if converged:
                        break
            except Exception:  # noqa: BLE001 - a search that cannot run is a dropped example
                cand = None
            if cand is None:
                if label in ("planet", "eb"):
                    return None  # an undetected injection: nothing the pipeline would hand over
                used_mode = "random"
        if used_mode == "random":
            span = t[-1] - t[0]
            if long_period:
                p = float(10 ** rng.uniform(math.log10(span / 2.0), math.log10(3.0 * span)))
                t0r = float(t[int(rng.integers(t.size))])
            else:
                p = float(10 ** rng.uniform(math.log10(0.5), math.log10(max(span / 2.0, 0.6))))
                t0r = float(t[0] + rng.uniform(0, p))
            dur_h = 24.0 * sun_like_duration(p) * rng.uniform(0.4, 1.2)
            cand = _candidate_row(p, t0r, dur_h, float("nan"))
        row = cand[:1]
        fp = float(row["pl_orbper"][0].value)
        ft0 = float(row["pl_tranmid"][0].value)
        final = label
        matched = None
        if label in ("planet", "eb") and inject:
            matched = used_mode == "true" or _matches(fp, ft0, inj, cad)
            if not matched:
                if background.real:
                    return None
                final = "noise"
        try:
            flat = detrend(raw, mask=row)
            vetted = vet(flat, row, raw_lc=raw, star=simulated_star(rng, inj))
            views = fold_views(flat, vetted[0])
        except Exception:  # noqa: BLE001 - a degenerate candidate the pipeline cannot fold
            return None

    def num(x):
        x = float(x)
        return x if math.isfinite(x) else None

    meta = dict(label=final, injected=inj.label if inject else "none", subtype=inj.subtype,
                mode=used_mode + ("-long" if long_period else ""),
                matched=matched, background=background.name, background_kind=background.kind,
                mission=background.mission, cadence_min=round(background.cadence_min, 3),
                sigma_ppm=num(background.sigma * 1e6), period=num(inj.period), t0=num(inj.t0),
                duration_h=num(inj.duration_h), depth_ppm=num(inj.depth_ppm),
                secondary_phase=num(inj.secondary_phase), found_period=num(fp), found_t0=num(ft0),
                found_duration_h=num(row["pl_trandurh"][0].value),
                found_snr=num(row["snr"][0]) if "snr" in row.colnames else None,
                params={k: (num(v) if isinstance(v, (int, float, np.floating)) else v)
                        for k, v in inj.params.items() if not isinstance(v, np.ndarray)})
    return dict(views=views, label=final, meta=meta)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

#: Default composition of a build: injections per class.
DEFAULT_COUNTS = {"planet": 1600, "eb": 1333, "variability": 889, "instrumental": 889, "noise": 889}
#: Ephemeris modes of the transit-like classes: (mode, probability).
TRANSIT_MODES = (("search", 0.5), ("narrow", 0.25), ("true", 0.25))
#: Long-period supplement of the shipped model's training set (see ``long_counts``).
LONG_COUNTS = {"planet": 436, "eb": 296, "noise": 222}
#: Share of examples on a real background (the rest on synthetic noise).
REAL_FRACTION = 0.5


@dataclass
class SimulatedDataset:
    """Arrays and records of a simulated dataset.

    Attributes
    ----------
    arrays : dict of str to numpy.ndarray
        ``global_view`` (N, G), ``local_view``, ``secondary_view``, ``odd_view``,
        ``even_view`` (N, L), ``scalars`` (N, S), all float32.
    labels : numpy.ndarray
        Class index (into :data:`CLASSES`) of each example, int64.
    meta : list of dict
        One record per example (injected truth, mode, background, found ephemeris).
    info : dict
        Build configuration, seed, backgrounds used (with sha256), counts, build time,
        versions.
    path : pathlib.Path or None
        The cached ``.npz``.
    """

    arrays: dict
    labels: np.ndarray
    meta: list
    info: dict
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.labels.size)

    def counts(self) -> dict[str, int]:
        """Examples per class."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(CLASSES)}

    def subset(self, index: np.ndarray) -> SimulatedDataset:
        """A new dataset with the examples at ``index``."""
        index = np.asarray(index)
        return SimulatedDataset(arrays={k: v[index] for k, v in self.arrays.items()},
                                labels=self.labels[index], meta=[self.meta[i] for i in index],
                                info=dict(self.info), path=None)


def _plan(counts: dict[str, int], n_real_natural: int, seed: int, real_fraction: float,
          long_counts: dict[str, int] | None = None) -> list[tuple]:
    """(index, label, mode, background choice) of every example, reproducibly."""
    rng = np.random.default_rng([seed, 999_999])
    plan = []
    i = 0
    for label in CLASSES:
        for _ in range(int(counts.get(label, 0))):
            if label in ("planet", "eb"):
                modes, probs = zip(*TRANSIT_MODES)
                mode = str(rng.choice(modes, p=probs))
            elif label == "noise":
                mode = "random" if rng.random() < 0.2 else "search"
            else:
                mode = "search"
            plan.append((i, label, mode, "real" if rng.random() < real_fraction else "synthetic"))
            i += 1
    for _ in range(n_real_natural):
        plan.append((i, "natural", "search", "real"))
        i += 1
    for label, n in (long_counts or {}).items():
        for _ in range(int(n)):
            mode = "random" if label == "noise" else "true"
            plan.append((i, label, mode + "-long", "real" if rng.random() < real_fraction else "synthetic"))
            i += 1
    return plan


_WORKER_BGS: list = []


def _worker_init(bg_entries):
    global _WORKER_BGS
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER_BGS = load_backgrounds(bg_entries) if bg_entries else []


def _run_one(args):
    index, label, mode, where, seed = args
    rng = np.random.default_rng([seed, index])
    bgs = _WORKER_BGS
    try:
        if label == "natural":
            # A real star's own strongest signal, no injection: variable stars -> variability,
            # quiet stars and hosts with transits cut out -> noise.
            pool = [b for b in bgs if b.kind in ("variable", "quiet", "host")]
            bg = pool[int(rng.integers(len(pool)))]
            lab = "variability" if bg.kind == "variable" else "noise"
            bg = _crop(rng, bg)
            ex = simulate_example(rng, bg, lab, mode="search", inject=False)
        else:
            if where == "real" and bgs:
                bg = _crop(rng, bgs[int(rng.integers(len(bgs)))])
            else:
                bg = synthetic_background(rng)
            long_period = mode.endswith("-long")
            ex = simulate_example(rng, bg, label, mode=mode.replace("-long", ""), long_period=long_period)
    except Exception as exc:  # noqa: BLE001 - record, do not kill a long build
        return index, None, repr(exc)
    if ex is None:
        return index, None, None
    return index, (ex["views"].to_arrays(), ex["label"], ex["meta"]), None


def _crop(rng, bg: Background) -> Background:
    """A random window (>= 60 % or 20 d) of a real background: more variety, less time."""
    t = bg.time
    span = t[-1] - t[0]
    length = max(span * rng.uniform(0.6, 1.0), min(20.0, span))
    start = t[0] + rng.uniform(0.0, max(span - length, 0.0))
    keep = (t >= start) & (t <= start + length)
    if keep.sum() < 200:
        return bg
    return Background(name=bg.name, time=t[keep], flux=bg.flux[keep], mission=bg.mission,
                      cadence_min=bg.cadence_min, kind=bg.kind, sigma=bg.sigma, sha256=bg.sha256,
                      n_cut=bg.n_cut)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("numpy", "astropy", "lightkurve", "wotan", "batman-package", "numba", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    from .._version import __version__

    out["astrotinyml"] = __version__
    return out


def build_dataset(
    *,
    counts: dict[str, int] | None = None,
    n_real_natural: int = 150,
    long_counts: dict[str, int] | None = None,
    seed: int = 20240,
    backgrounds: Any = None,
    real_fraction: float = REAL_FRACTION,
    processes: int = 1,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> SimulatedDataset:
    """Build (or load from the cache) a labelled dataset of classifier views.

    Parameters
    ----------
    counts : dict, optional
        Injections per class (default :data:`DEFAULT_COUNTS`, 3800 injections).  Planet and EB
        injections the pipeline does not recover are dropped (real background) or become
        ``noise`` (synthetic background), so the final counts differ.
    n_real_natural : int
        Extra examples of real stars' own strongest signal with nothing injected (variable
        stars: ``variability``; quiet stars and hosts with their transits cut: ``noise``).
    long_counts : dict, optional
        Extra long-period examples per class (``planet``/``eb``: one or two transits in the
        data, ``true`` ephemeris; ``noise``: random long-period ephemeris), e.g.
        :data:`LONG_COUNTS`.
    seed : int
        Seed of the whole build.
    backgrounds : sequence, optional
        Real background entries (see :func:`load_backgrounds`); default
        :data:`REAL_BACKGROUNDS` (files a fresh clone has).  Pass ``[]`` for synthetic noise
        only.
    real_fraction : float
        Share of injections on a real background.
    processes : int
        Worker processes (the result does not depend on it).
    cache : bool
        Read/write ``<cache_dir>/datasets/sim-<hash>.npz`` (the hash covers every option and
        the dataset version).
    cache_dir : path-like, optional
        Default :func:`astrotinyml.config.cache_dir`.
    progress : bool
        Print progress every 200 examples.

    Returns
    -------
    SimulatedDataset

    Examples
    --------
    >>> ds = build_dataset(counts=dict(planet=2, noise=2), n_real_natural=0, backgrounds=[], cache=False)
    >>> sorted(set(ds.meta[i]["label"] for i in range(len(ds)))) <= ["noise", "planet"]
    True
    """
    from ..config import cache_dir as _cache_dir

    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for k in counts:
        if k not in CLASSES:
            raise InvalidParameterError(f"counts has an unknown class {k!r}; classes are {CLASSES}")
    entries = list(REAL_BACKGROUNDS if backgrounds is None else backgrounds)
    entries = [(e, "quiet", ()) if isinstance(e, (str, os.PathLike)) else e for e in entries]
    present = [e for e in entries if (Path(e[0]) if Path(e[0]).is_absolute() else _REPO / e[0]).exists()]
    config = dict(version=DATASET_VERSION, counts=counts, n_real_natural=int(n_real_natural), seed=int(seed),
                  backgrounds=[[str(e[0]), e[1], [list(x) for x in e[2]]] for e in present],
                  real_fraction=float(real_fraction), transit_modes=[list(m) for m in TRANSIT_MODES])
    if long_counts:  # only present when used: keeps the cache key of earlier builds
        config["long_counts"] = {k: int(v) for k, v in long_counts.items()}
    if TTV_FRACTION:  # likewise
        config["ttv_fraction"] = float(TTV_FRACTION)
    config["search_passes"] = int(SEARCH_PASSES)
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_dir(cache_dir) / "datasets" / f"sim-{key}.npz"
    if cache and path.exists():
        return load_dataset(path)

    if not present:
        n_real_natural = 0
    plan = _plan(counts, int(n_real_natural), int(seed), real_fraction if present else 0.0, long_counts)
    t_start = _time.perf_counter()
    jobs = [(i, lab, mode, where, int(seed)) for i, lab, mode, where in plan]
    results: dict[int, tuple] = {}
    errors: list[str] = []
    if processes > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(processes, initializer=_worker_init, initargs=(present,)) as pool:
            for n, (i, res, err) in enumerate(pool.imap_unordered(_run_one, jobs, chunksize=8)):
                if res is not None:
                    results[i] = res
                if err:
                    errors.append(err)
                if progress and n % 200 == 0:
                    print(f"  {n}/{len(jobs)} examples, {_time.perf_counter() - t_start:.0f} s", flush=True)
    else:
        _worker_init(present)
        for n, job in enumerate(jobs):
            i, res, err = _run_one(job)
            if res is not None:
                results[i] = res
            if err:
                errors.append(err)
            if progress and n % 200 == 0:
                print(f"  {n}/{len(jobs)} examples, {_time.perf_counter() - t_start:.0f} s", flush=True)
    order = sorted(results)
    if not order:
        raise InvalidParameterError("build_dataset made no example (every injection was dropped)")
    names = list(results[order[0]][0].keys())
    arrays = {k: np.stack([results[i][0][k] for i in order]).astype(np.float32) for k in names}
    labels = np.array([CLASSES.index(results[i][1]) for i in order], dtype=np.int64)
    meta = [dict(results[i][2], index=int(i)) for i in order]
    bgs_info = []
    for e in present:
        p = Path(e[0]) if Path(e[0]).is_absolute() else _REPO / e[0]
        bgs_info.append(dict(file=str(e[0]), kind=e[1], sha256=_sha256(p),
                             known_periods_cut=[x[0] for x in e[2]]))
    info = dict(config=config, key=key, build_seconds=round(_time.perf_counter() - t_start, 1),
                n_planned=len(jobs), n_examples=len(order), n_errors=len(errors), errors=errors[:20],
                counts={c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
                modes={m: sum(1 for r in meta if r["mode"] == m)
                       for m in ("search", "narrow", "true", "random", "true-long", "random-long")},
                real_background_examples=sum(1 for r in meta if r["background_kind"] != "synthetic"),
                backgrounds=bgs_info, versions=_versions(), processes=int(processes))
    ds = SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=None)
    if cache:
        save_dataset(ds, path)
    return ds


def save_dataset(ds: SimulatedDataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (``.npz``, atomically: a temporary file renamed into place);
    sets ``ds.path``.  :func:`load_dataset` reads it.

    Examples
    --------
    >>> import tempfile, os
    >>> ds = build_dataset(counts=dict(noise=1), n_real_natural=0, backgrounds=[], cache=False)
    >>> p = save_dataset(ds, os.path.join(tempfile.mkdtemp(), "d.npz"))
    >>> len(load_dataset(p)) == len(ds)
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, labels=ds.labels, meta=np.array(json.dumps(ds.meta, default=str)),
                        info=np.array(json.dumps(ds.info, default=str)), **ds.arrays)
    os.replace(tmp, path)
    ds.path = path
    return path


def concat_datasets(parts: list[SimulatedDataset]) -> SimulatedDataset:
    """Concatenate datasets (e.g. the main build and the long-period supplement).

    Examples
    --------
    >>> a = build_dataset(counts=dict(noise=1), n_real_natural=0, backgrounds=[], cache=False)
    >>> len(concat_datasets([a, a])) == 2 * len(a)
    True
    """
    if len(parts) == 1:
        return parts[0]
    arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].arrays}
    labels = np.concatenate([p.labels for p in parts])
    meta = [dict(m, part=j) for j, p in enumerate(parts) for m in p.meta]
    info = dict(parts=[p.info for p in parts], n_examples=int(labels.size),
                counts={c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
                dataset_files=[str(p.path) if p.path else None for p in parts])
    return SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=None)


def load_dataset(path: str | os.PathLike) -> SimulatedDataset:
    """Read a dataset written by :func:`build_dataset`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.

    Returns
    -------
    SimulatedDataset

    Examples
    --------
    >>> import tempfile, os
    >>> ds = build_dataset(counts=dict(noise=2), n_real_natural=0, backgrounds=[], cache=True,
    ...                    cache_dir=tempfile.mkdtemp())
    >>> len(load_dataset(ds.path)) == len(ds)
    True
    """
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in ("labels", "meta", "info")}
        labels = z["labels"]
        meta = json.loads(str(z["meta"]))
        info = json.loads(str(z["info"]))
    return SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=Path(path))
