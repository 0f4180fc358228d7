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

This module is the replay (:func:`simulate_example`); the backgrounds are in
:mod:`astrotinyml.training.backgrounds`, the signal models in :mod:`astrotinyml.training.signals`
and the dataset builder in :mod:`astrotinyml.training.dataset`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..detection import same_signals
from ..detrending import detrend
from ..errors import InvalidParameterError
from ..searching import search
from ..star import MAX_PLANET_RADIUS_RJUP, R_JUP_REARTH, R_SUN_REARTH, RHO_SUN_CGS, StellarParameters
from ..vetting import vet
from ..views import fold_views
from .backgrounds import Background, as_lightcurve
from .signals import (
    CLASSES,
    Injection,
    eb_signal,
    instrumental_signal,
    planet_signal,
    sun_like_duration,
    variability_signal,
)

__all__ = ["SEARCH_PASSES", "UNKNOWN_STAR_FRACTION", "simulated_star", "simulate_example"]

#: Search passes of the ``search``/``narrow`` modes, as ``detect(search_passes=...)``: the
#: second searches the light curve detrended with the first candidate's transits masked and
#: its candidate replaces the first (see :func:`astrotinyml.detection.search_masked`).  2, as
#: detect() does, so that the model learns from what detect() hands it (one pipeline).
SEARCH_PASSES = 2

#: Share of examples whose star is "unknown" to the vetting (no header or catalogue radius:
#: K2 EPIC stars, plain text files), so the model learns the prior case too.
UNKNOWN_STAR_FRACTION = 0.35


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
    >>> from astrotinyml.training.backgrounds import synthetic_background
    >>> bg = synthetic_background(np.random.default_rng(0), mission="TESS")
    >>> ex = simulate_example(np.random.default_rng(1), bg, "planet", mode="true")
    >>> ex["label"], ex["views"].local_view.shape
    ('planet', (61,))
    """
    if label not in CLASSES:
        raise InvalidParameterError(f"label must be one of {CLASSES}, got {label!r}")
    if mode not in ("search", "narrow", "true", "random"):
        raise InvalidParameterError(f"mode must be search, narrow, true or random; got {mode!r}")
    t = background.time
    inj = _injection(rng, background, label, inject=inject, long_period=long_period)
    if mode in ("narrow", "true") and not math.isfinite(inj.duration_h):
        mode = "search"  # only transit-like injections have an ephemeris of their own
    raw = as_lightcurve(t, background.flux * inj.model, background.sigma)
    cad = background.cadence_min / 1440.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat0 = detrend(raw)
        cand = None
        used_mode = mode
        if mode == "true":
            cand = _true_candidate(rng, inj, background)
        elif mode in ("search", "narrow"):
            cand = _searched_candidate(raw, flat0, t, inj, label, mode)
            if cand is None:
                if label in ("planet", "eb"):
                    return None  # an undetected injection: nothing the pipeline would hand over
                used_mode = "random"
        if used_mode == "random":
            cand = _random_candidate(rng, t, long_period)
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
    meta = _example_meta(inj, background, row, final=final, inject=inject, mode=used_mode, long_period=long_period,
                         matched=matched)
    return dict(views=views, label=final, meta=meta)


def _injection(rng: np.random.Generator, background: Background, label: str, *, inject: bool,
               long_period: bool) -> Injection:
    """The signal model of ``label`` (nothing for ``noise`` or ``inject=False``)."""
    if inject and label == "planet":
        return planet_signal(rng, background, long_period=long_period)
    if inject and label == "eb":
        return eb_signal(rng, background, long_period=long_period)
    if inject and label == "variability":
        return variability_signal(rng, background)
    if inject and label == "instrumental":
        return instrumental_signal(rng, background)
    return Injection(model=np.ones(background.time.size), label=label, subtype="none" if inject else "real")


def _true_candidate(rng: np.random.Generator, inj: Injection, background: Background):
    """The injected ephemeris with catalogue-like errors; snr/sde in half of them (``true`` mode)."""
    t = background.time
    cad = background.cadence_min / 1440.0
    p = inj.period * (1.0 + rng.normal(0.0, 2e-4))
    t0 = inj.t0 + rng.normal(0.0, 0.1) * inj.duration_h / 24.0
    # first transit in the data, as the search reports it
    t0 = t0 + math.ceil((t[0] - t0) / p) * p
    if t0 > t[-1]:
        t0 -= p
    dur = inj.duration_h * math.exp(rng.normal(0.0, 0.15))
    depth = inj.depth_ppm * math.exp(rng.normal(0.0, 0.2))
    if rng.random() < 0.5:
        return _candidate_row(p, t0, dur, depth)
    sn = depth * 1e-6 / max(background.sigma, 1e-6) * math.sqrt(max((t[-1] - t[0]) / p * dur / 24.0 / cad, 1.0))
    return _candidate_row(p, t0, dur, depth, snr=sn, sde=max(sn * 0.8, 5.0))


def _searched_candidate(raw, flat0, t: np.ndarray, inj: Injection, label: str, mode: str):
    """The strongest candidate of the pipeline's search passes (``search``/``narrow``), or None."""
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
    return cand


def _random_candidate(rng: np.random.Generator, t: np.ndarray, long_period: bool):
    """A random ephemeris (``random`` mode, and the fallback of a search that found nothing)."""
    span = t[-1] - t[0]
    if long_period:
        p = float(10 ** rng.uniform(math.log10(span / 2.0), math.log10(3.0 * span)))
        t0r = float(t[int(rng.integers(t.size))])
    else:
        p = float(10 ** rng.uniform(math.log10(0.5), math.log10(max(span / 2.0, 0.6))))
        t0r = float(t[0] + rng.uniform(0, p))
    dur_h = 24.0 * sun_like_duration(p) * rng.uniform(0.4, 1.2)
    return _candidate_row(p, t0r, dur_h, float("nan"))


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _example_meta(inj: Injection, background: Background, row, *, final: str, inject: bool, mode: str,
                  long_period: bool, matched) -> dict:
    """The JSON-friendly record of one example: injected truth, background, found ephemeris."""
    fp = float(row["pl_orbper"][0].value)
    ft0 = float(row["pl_tranmid"][0].value)
    return dict(label=final, injected=inj.label if inject else "none", subtype=inj.subtype,
                mode=mode + ("-long" if long_period else ""),
                matched=matched, background=background.name, background_kind=background.kind,
                mission=background.mission, cadence_min=round(background.cadence_min, 3),
                sigma_ppm=_num(background.sigma * 1e6), period=_num(inj.period), t0=_num(inj.t0),
                duration_h=_num(inj.duration_h), depth_ppm=_num(inj.depth_ppm),
                secondary_phase=_num(inj.secondary_phase), found_period=_num(fp), found_t0=_num(ft0),
                found_duration_h=_num(row["pl_trandurh"][0].value),
                found_snr=_num(row["snr"][0]) if "snr" in row.colnames else None,
                params={k: (_num(v) if isinstance(v, (int, float, np.floating)) else v)
                        for k, v in inj.params.items() if not isinstance(v, np.ndarray)})
