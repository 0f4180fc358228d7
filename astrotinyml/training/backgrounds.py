"""Noise light curves to inject training signals into: real stars and synthetic noise.

A **real** background is a light curve of a star without known transits (quiet or variable),
or of a planet host with its known transits cut out: each known period is cut at its epoch
(given, or found with a box search restricted to the period, :func:`box_epoch`), the most
significant first, 2.5 durations + 2 cadences wide, so that the star is transit-free.  The
real backgrounds of the shipped build are listed in the package data file
``astrotinyml/training/backgrounds.json`` (:data:`REAL_BACKGROUNDS`): files shipped in the
package are read from it, the others (the repository's test corpus) are looked up under the
``root`` the caller passes, and one that is not there is reported (``logging.warning``), not
skipped silently.

A **synthetic** background (:func:`synthetic_background`) is white + red (AR(1)) noise at a
Kepler / K2 / TESS cadence with that mission's gaps and a slow trend.

>>> bg = synthetic_background(np.random.default_rng(0), mission="K2")
>>> bg.kind, bg.real
('synthetic', False)
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DATA_DIR
from ..detrending import detrend
from ..io import read_lightcurve
from ..io.conventions import BKJD_OFFSET, BTJD_OFFSET
from ..provenance import sha256_file
from ..transits import robust_std
from .signals import sun_like_duration

__all__ = ["Background", "BACKGROUNDS_FILE", "REAL_BACKGROUNDS", "background_path", "load_backgrounds",
           "synthetic_background", "box_epoch", "as_lightcurve"]

logger = logging.getLogger(__name__)

#: The package data file listing the real backgrounds (see the module docstring).
BACKGROUNDS_FILE = Path(__file__).resolve().parent / "backgrounds.json"
_EPOCH_OFFSETS = {"BKJD": BKJD_OFFSET, "BTJD": BTJD_OFFSET, "BJD": 0.0}


def _read_backgrounds_file(path: Path) -> tuple[tuple, frozenset]:
    """(entries, paths shipped in the package) of a backgrounds file."""
    doc = json.loads(path.read_text())
    entries, packaged = [], set()
    for b in doc["backgrounds"]:
        known = tuple((k["period"], None if k["epoch"] is None else _EPOCH_OFFSETS[k["time_system"]] + k["epoch"])
                      for k in b["known"])
        entries.append((b["path"], b["kind"], known))
        if b.get("in_package"):
            packaged.add(b["path"])
    return tuple(entries), frozenset(packaged)


#: Real backgrounds of the shipped build, from :data:`BACKGROUNDS_FILE`: ``(path, kind,
#: ((period [d], epoch [full BJD] or None), ...))``; ``path`` is relative to the repository
#: root (as recorded in the dataset configuration), ``kind`` ``quiet``, ``variable`` or ``host``.
REAL_BACKGROUNDS: tuple[tuple[str, str, tuple[tuple[float, float | None], ...]], ...]
REAL_BACKGROUNDS, _PACKAGED = _read_backgrounds_file(BACKGROUNDS_FILE)


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


def as_lightcurve(time: np.ndarray, flux: np.ndarray, sigma: float | None = None):
    """A lightkurve LightCurve of ``time``, ``flux`` with a constant error ``sigma`` (1e-3 if unknown)."""
    import lightkurve as lk

    err = np.full(time.size, sigma if sigma and np.isfinite(sigma) else 1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lk.LightCurve(time=time, flux=flux, flux_err=err)


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


def background_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """Where a background file is read from.

    A path of a file shipped in the package (``in_package`` in :data:`BACKGROUNDS_FILE`) is
    read from the installed package's data directory; another relative path is resolved
    against ``root`` (default: the current directory); an absolute path is kept.

    Examples
    --------
    >>> background_path(REAL_BACKGROUNDS[0][0]).is_file()
    True
    >>> background_path("corpus/star.fits", root="/data").as_posix()
    '/data/corpus/star.fits'
    """
    p = Path(path)
    if p.is_absolute():
        return p
    if os.fspath(path) in _PACKAGED:
        return DATA_DIR / p.name
    return Path(root) / p if root is not None else p


def _cut_known(t: np.ndarray, ff: np.ndarray, known, cad: float) -> np.ndarray:
    """Mask keeping the cadences outside the known transits (the most significant cut first)."""
    keep = np.ones(t.size, dtype=bool)
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
    return keep


def _background_from_file(path: Path, kind: str, known) -> Background:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = read_lightcurve(path)
    t = np.asarray(lc.time.jd, dtype=float)
    f = np.asarray(getattr(lc.flux, "value", lc.flux), dtype=float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    f = f / np.median(f)
    flat = detrend(as_lightcurve(t, f))
    ff = np.asarray(flat.flux.value, dtype=float)
    keep = _cut_known(t, ff, known, float(np.median(np.diff(t))))
    cad_min = float(np.median(np.diff(t))) * 1440.0
    mission = str((lc.meta or {}).get("mission") or "unknown")
    fk = ff[keep]
    fk = fk[np.isfinite(fk)]
    sigma = robust_std(fk)
    return Background(name=path.name, time=t[keep], flux=f[keep], mission=mission,
                      cadence_min=cad_min, kind=kind, sigma=sigma, sha256=sha256_file(path),
                      n_cut=int((~keep).sum()))


def load_backgrounds(files: Any = None, *, root: str | os.PathLike | None = None) -> list[Background]:
    """Read real background light curves and cut out their known transits.

    Parameters
    ----------
    files : sequence, optional
        Entries like :data:`REAL_BACKGROUNDS`: ``(path, kind, ((period, epoch|None), ...))``;
        a plain path is read as a ``quiet`` star.  Default :data:`REAL_BACKGROUNDS`.
    root : path-like, optional
        Directory relative paths are resolved against (default: the current directory;
        files shipped in the package are read from it wherever ``root`` points, see
        :func:`background_path`).

    Returns
    -------
    list of Background
        A file that is not there is left out with a ``logging`` warning that names it.

    Examples
    --------
    >>> bgs = load_backgrounds([REAL_BACKGROUNDS[0]])
    >>> bgs[0].kind, bgs[0].mission, bool(bgs[0].sigma < 1e-3)
    ('quiet', 'K2', True)
    """
    entries = REAL_BACKGROUNDS if files is None else files
    out = []
    for entry in entries:
        if isinstance(entry, (str, os.PathLike)):
            entry = (os.fspath(entry), "quiet", ())
        rel, kind, known = entry
        path = background_path(rel, root)
        if not path.exists():
            logger.warning("background %s: no file %s (pass root= the directory its path is relative to); "
                           "left out", rel, path)
            continue
        out.append(_background_from_file(path, kind, known))
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
        t0 = BKJD_OFFSET + rng.uniform(130.0, 1500.0)
        t = t0 + np.arange(0.0, span, cad)
        # monthly downlinks: ~1 d gaps every ~30 d
        for g in np.arange(rng.uniform(10, 30), span, 30.0):
            t = t[(t - t0 < g) | (t - t0 > g + rng.uniform(0.5, 1.2))]
    elif mission == "K2":
        cad = 29.4 / 1440.0
        span = rng.uniform(50.0, 80.0)
        t0 = BKJD_OFFSET + rng.uniform(1950.0, 3300.0)
        t = t0 + np.arange(0.0, span, cad)
    else:
        mission = "TESS"
        cad = float(rng.choice([2.0, 10.0, 30.0], p=[0.2, 0.3, 0.5])) / 1440.0
        n_orbits = int(rng.choice([2, 4], p=[0.8, 0.2]))
        t0 = BTJD_OFFSET + rng.uniform(1325.0, 3300.0)
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
