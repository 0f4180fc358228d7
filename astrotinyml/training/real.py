"""Real labelled examples: the catalogue signals of real stars and what the search finds there.

The simulated training set (``astrotinyml.training.dataset``) teaches the classifier
what planets, eclipsing binaries, variability and systematics look like; this module adds
what real stars look like through the same pipeline.  Two steps:

1. **Who is what** (:class:`LabelledStar`): confirmed planets and false positives from the
   NASA Exoplanet Archive (:func:`labelled_stars_from_archives`: the KOI cumulative table,
   the TOI table and the K2 planetary systems, through :mod:`astrotinyml.remote.archives`, so the
   bundled snapshots offline), and stars labelled by a corpus manifest
   (:func:`labelled_stars_from_manifest`: eclipsing binaries, variable and quiet stars that
   no planet table lists).
2. **Examples** (:func:`real_examples`): each star's light curve comes from
   :func:`astrotinyml.remote.mast.fetch_lightcurves` (MAST through the cache; offline, what
   ``astrotinyml cache import`` filed there) or from the manifest's file.  Then

   - *catalogue views*: every known signal with data is refitted in the light curve
     (:func:`fit_known_ephemerides`: epoch and duration, as a catalogue ephemeris drifts),
     detrended with the transits masked, vetted with the star's parameters and folded;
   - *search views*: :func:`astrotinyml.detection.search_masked` with detect()'s defaults; a
     signal matching a known one (period ratio 1, or 1/2 and 2 for an eclipsing binary,
     epoch within half a duration) takes its label; on quiet and variable stars every
     search signal is ``noise`` / ``variability``; unmatched signals of planet hosts and
     binaries are left out (their truth is unknown).

Light curves longer than :data:`MAX_SPAN_DAYS` are cut to their first segment of that
length (the multi-year Kepler binaries: speed; they still hold hundreds of eclipses).

Every example's ``meta`` records its star (``group``), file, how the ephemeris was found
(``mode``: ``catalogue`` or ``search``) and its label's source, so that evaluations can
fold by star (no star in both a training and a test fold).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .. import searching
from ..candidates import row_value
from ..config import cache_dir as _cache_dir
from ..config import is_offline
from ..detection import search_masked
from ..detrending import detrend
from ..errors import AstroTinyMLError, InvalidParameterError
from ..io import read_lightcurves
from ..io.conventions import BKJD_OFFSET, BTJD_OFFSET
from ..remote import archives
from ..remote.mast import cached_products, fetch_lightcurves
from ..star import stellar_parameters
from ..vetting import vet
from ..views import SCALAR_NAMES, fold_views, stack_views
from .backgrounds import box_epoch
from .dataset import SimulatedDataset, load_dataset, save_dataset
from .signals import CLASSES, sun_like_duration

__all__ = ["KnownSignal", "LabelledStar", "labelled_stars_from_archives", "labelled_stars_from_manifest",
           "fit_known_ephemerides", "catalogue_epochs", "real_examples", "star_examples", "star_group",
           "backgrounds_from_manifest", "load_star", "real_training_set", "MAX_SPAN_DAYS", "MANIFEST_CLASSES"]

#: Version of the real examples' content (part of the cache key).
REAL_DATASET_VERSION = 1

#: Light curves are cut to this span [d] (first segment) before the search and the folds.
MAX_SPAN_DAYS = 400.0

#: Corpus-manifest labels and the class of the star's own signals.  ``unclassified`` and
#: ``other`` stars have no class: never a clean negative.
MANIFEST_CLASSES = {"planet_host": "planet", "eclipsing_binary": "eb", "false_positive": "eb",
                    "variable_star": "variability", "quiet_star": "noise"}

_OFFSETS = {"BKJD": BKJD_OFFSET, "BTJD": BTJD_OFFSET}


@dataclass(frozen=True)
class KnownSignal:
    """A catalogued signal of a star.

    Attributes
    ----------
    period : float
        Period [d].
    epoch : float or None
        A mid-transit time [full BJD_TDB], or None when the catalogue gives none.
    label : str
        Class of ``astrotinyml.training.signals.CLASSES`` (``planet``, ``eb``, ...).
    name : str
        Catalogue name (``K00351.01``, ``TOI-185.01``, ``Kepler-90 b``) or a description.
    duration_h : float
        Catalogue duration [h] (NaN when not given).
    """

    period: float
    epoch: float | None
    label: str
    name: str = ""
    duration_h: float = math.nan


@dataclass(frozen=True)
class LabelledStar:
    """A star with a label and its known signals.

    Attributes
    ----------
    target : str
        Catalogue id to fetch (``KIC 11442793``) or a name.
    star_class : str
        The class of the star's own signals (``planet``, ``eb``, ``variability``, ``noise``).
    signals : tuple of KnownSignal
        Catalogued signals (empty for variable and quiet stars).
    group : str
        Star id for grouped folds (:func:`star_group`).
    files : tuple of str
        Local files of the star (from a manifest); empty: fetched through the cache.
    time_format : str or None
        ``time_format`` for :func:`astrotinyml.io.read.read_lightcurve` of text files.
    source : str
        Where the label comes from (``koi``, ``toi``, ``k2``, ``manifest:<file>``).
    dubious : bool
        The source marks the label as uncertain.
    """

    target: str
    star_class: str
    signals: tuple[KnownSignal, ...] = ()
    group: str = ""
    files: tuple[str, ...] = ()
    time_format: str | None = None
    source: str = ""
    dubious: bool = False
    extra: dict = field(default_factory=dict, compare=False)


def star_group(name: str) -> str:
    """A star id for grouping: the catalogue id in ``name`` (``KIC 11442793``) when there is
    one, else the name itself, lower-cased.

    Examples
    --------
    >>> star_group("Kepler-90 (KIC 11442793)"), star_group("kplr011442793")
    ('kic 11442793', 'kic 11442793')
    >>> star_group("TIC 100100827"), star_group("k2_EPIC210651981_C13_k2sc.fits")
    ('tic 100100827', 'epic 210651981')
    """
    s = str(name).lower()
    # Not \b: file names glue ids to underscores (k2_EPIC210491860_C13_k2sc.fits).
    for pat, prefix in ((r"(?<![a-z])(?:kic|kplr)[ _-]?0*(\d+)", "kic"), (r"(?<![a-z])tic[ _-]?0*(\d+)", "tic"),
                        (r"(?<![a-z])(?:epic|ktwo)[ _-]?0*(\d+)", "epic")):
        m = re.search(pat, s)
        if m:
            return f"{prefix} {int(m.group(1))}"
    return " ".join(s.split())


def catalogue_epochs(text: str, n: int, time_system: str = "") -> list[float | None]:
    """Epochs [full BJD] of a manifest cell like ``'137.6;139.5 (BKJD=BJD-2454833)'``.

    Examples
    --------
    >>> catalogue_epochs("121.0 (BKJD)", 2)
    [2454954.0, None]
    """
    if not text or not str(text).strip():
        return [None] * n
    head, _, tail = str(text).partition("(")
    src = tail if any(k in tail for k in _OFFSETS) else (time_system or "")
    off = next((val for key, val in _OFFSETS.items() if key in src.upper()), 0.0)
    vals: list[float | None] = []
    for tok in head.split(";"):
        tok = tok.strip()
        if re.match(r"^-?[0-9.]+$", tok):
            v = float(tok)
            vals.append(v + (off if v < 1e6 else 0.0))
        else:
            vals.append(None)
    vals += [None] * (n - len(vals))
    return vals[:n]


def _floats(text: str) -> list[float]:
    out = []
    for tok in str(text or "").split(";"):
        tok = tok.strip()
        try:
            out.append(float(tok))
        except ValueError:
            continue
    return out


def _time_format(row: dict) -> str | None:
    """read_lightcurve time_format of a manifest row's text/NumPy file (None for FITS)."""
    if str(row.get("file", "")).lower().endswith((".fits", ".fits.gz", ".fit")):
        return None
    ts = str(row.get("time_system") or "").upper()
    for key, fmt in (("BKJD", "bkjd"), ("BTJD", "btjd"), ("BJD", "bjd")):
        if ts.startswith(key):
            return fmt
    return None


def labelled_stars_from_manifest(path: str | Path, *, include_dubious: bool = True) -> list[LabelledStar]:
    """Stars of a corpus ``MANIFEST.csv`` (``../shared/data`` layout) with their known signals.

    Rows of one star (several quarters or sectors) become one :class:`LabelledStar` with all
    its files.  Labels without a class (``other``, ``unclassified``) are left out.

    Parameters
    ----------
    path : path-like
        The manifest; files are looked up beside it.
    include_dubious : bool
        Keep rows whose label source says ``DUBIOUS``.

    Returns
    -------
    list of LabelledStar

    Raises
    ------
    InvalidParameterError
        The manifest is missing or has no ``file``/``label`` columns.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "MANIFEST.csv").write_text("file,target,label,known_period_days\\nx.fits,KIC 1,eclipsing_binary,2.5\\n")
    >>> [(s.group, s.star_class, s.signals[0].period) for s in labelled_stars_from_manifest(d / "MANIFEST.csv")]
    [('kic 1', 'eb', 2.5)]
    """
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InvalidParameterError(f"cannot read the manifest {path}: {exc}") from None
    if rows and not {"file", "label"} <= set(rows[0]):
        raise InvalidParameterError(f"{path} has no 'file' and 'label' columns: not a corpus manifest")
    stars: dict[str, dict] = {}
    for r in rows:
        cls = MANIFEST_CLASSES.get(r["label"].strip())
        if cls is None:
            continue
        dubious = "DUBIOUS" in (r.get("label_source") or "")
        if dubious and not include_dubious:
            continue
        name = (r.get("target") or r.get("target_id") or Path(r["file"]).stem).strip()
        group = star_group(name) if re.search(r"(kic|kplr|tic|epic|ktwo)", name.lower()) else star_group(
            Path(r["file"]).stem)
        periods = _floats(r.get("known_period_days", ""))
        if cls == "eb" and not periods:
            periods = _floats(r.get("own_period_d", ""))[:1]
        if cls == "eb" and "CBP" in r["file"]:
            periods = periods[:1]  # TOI-1338: the circumbinary planet is not periodic
        cat = catalogue_epochs(r.get("known_epoch", ""), len(periods), r.get("time_system", ""))
        own = catalogue_epochs((r.get("epoch_in_data_bls") or r.get("own_epoch_min_flux") or "").split(" (")[0],
                               len(periods), r.get("time_system", ""))
        signals = tuple(KnownSignal(period=p, epoch=c if c is not None else o, label=cls,
                                    name=f"{name} {p:.5g} d") for p, c, o in zip(periods, cat, own))
        entry = stars.setdefault(group, dict(target=name, cls=cls, signals={}, files=[], tf=_time_format(r),
                                             dubious=dubious))
        entry["files"].append(str(path.parent / r["file"]))
        for s in signals:
            entry["signals"].setdefault(round(s.period, 4), s)
        entry["dubious"] = entry["dubious"] or dubious
    return [LabelledStar(target=e["target"], star_class=e["cls"], signals=tuple(e["signals"].values()),
                         group=g, files=tuple(e["files"]), time_format=e["tf"], source=f"manifest:{path.name}",
                         dubious=e["dubious"])
            for g, e in stars.items()]


def labelled_stars_from_archives(
    planets: int,
    non_planets: int,
    *,
    offline: bool | None = None,
    cache_dir: str | None = None,
    available: Any = None,
) -> list[LabelledStar]:
    """Planet hosts and false-positive stars from the NASA Exoplanet Archive.

    Planets: KOIs dispositioned ``CONFIRMED`` and TOIs with TFOPWG ``CP``/``KP`` (every
    planet of the host becomes a signal).  Non-planets: KOI ``FALSE POSITIVE`` with the
    stellar-eclipse or centroid-offset flag (``eb``: an eclipsing binary, on target or
    behind it) or only the not-transit-like flag (``instrumental``), and TOIs with ``FP``
    or ``EB`` (``eb``).  Stars are taken in catalogue order until ``planets`` planet hosts
    and ``non_planets`` false-positive stars with a light curve are found.

    Parameters
    ----------
    planets, non_planets : int
        How many stars of each kind to return.
    offline : bool, optional
        Offline mode (see :mod:`astrotinyml.config`): the bundled snapshots.
    cache_dir : str, optional
        Cache of :mod:`astrotinyml.remote.archives`.
    available : callable, optional
        ``available(star) -> bool`` for a :class:`LabelledStar`: whether it has a light curve
        (:func:`real_training_set` fetches it there); default: every star.

    Returns
    -------
    list of LabelledStar

    Examples
    --------
    >>> stars = labelled_stars_from_archives(1, 1, offline=True)
    >>> len(stars), sum(s.star_class == "planet" for s in stars)
    (2, 1)
    """

    if planets < 0 or non_planets < 0:
        raise InvalidParameterError("planets and non_planets must be >= 0")
    ok = available or (lambda star: True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        koi = archives.query_koi(offline=offline, cache_dir=cache_dir)
        toi = archives.query_toi(offline=offline, cache_dir=cache_dir)
    hosts: dict[str, dict] = {}

    def add(group, target, cls, signal, source):
        e = hosts.setdefault(group, dict(target=target, cls=cls, signals=[], source=source))
        if cls == "planet" and e["cls"] != "planet":
            e.update(cls="planet", signals=[])  # a planet host: its false positives are not its class
        if e["cls"] == cls:
            e["signals"].append(signal)

    for r in koi:
        disp = str(r["koi_disposition"]).strip().upper()
        kepid = row_value(r, "kepid")
        p = row_value(r, "koi_period")
        if not (math.isfinite(kepid) and math.isfinite(p) and p > 0):
            continue
        t0 = row_value(r, "koi_time0bk")
        epoch = t0 + BKJD_OFFSET if math.isfinite(t0) else (row_value(r, "koi_time0") if "koi_time0" in koi.colnames else None)
        dur = row_value(r, "koi_duration")
        name = str(r["kepoi_name"])
        target = f"KIC {int(kepid)}"
        if disp == "CONFIRMED":
            add(star_group(target), target, "planet", KnownSignal(p, epoch, "planet", name, dur), "koi")
        elif disp == "FALSE POSITIVE":
            ss, co, nt = (row_value(r, f"koi_fpflag_{k}") for k in ("ss", "co", "nt"))
            cls = "eb" if (ss == 1 or co == 1) else "instrumental" if nt == 1 else None
            if cls:
                add(star_group(target), target, cls, KnownSignal(p, epoch, cls, name, dur), "koi")
    for r in toi:
        disp = str(r["tfopwg_disp"]).strip().upper()
        tid = row_value(r, "tid")
        p = row_value(r, "pl_orbper")
        if not (math.isfinite(tid) and math.isfinite(p) and p > 0):
            continue
        cls = "planet" if disp in ("CP", "KP") else "eb" if disp in ("FP", "EB") else None
        if cls is None:
            continue
        target = f"TIC {int(tid)}"
        add(star_group(target), target, cls,
            KnownSignal(p, row_value(r, "pl_tranmid"), cls, f"TOI-{row_value(r, 'toi'):.2f}", row_value(r, "pl_trandurh")),
            "toi")
    out: list[LabelledStar] = []
    want = {"planet": planets, "non": non_planets}
    for g, e in hosts.items():
        kind = "planet" if e["cls"] == "planet" else "non"
        if want[kind] <= 0:
            continue
        star = LabelledStar(target=e["target"], star_class=e["cls"], signals=tuple(e["signals"]),
                            group=g, source=e["source"])
        if not ok(star):
            continue
        want[kind] -= 1
        out.append(star)
        if want["planet"] <= 0 and want["non"] <= 0:
            break
    return out


def _fit_at(t, f, p, ep0, halfwidth):
    """Best box (epoch, duration, snr) at period p with the epoch within +-halfwidth of ep0."""
    ok = np.isfinite(f)
    t, f = t[ok], f[ok]
    sig = 1.4826 * np.median(np.abs(f - np.median(f))) or 1e-4
    g = sun_like_duration(p)
    best = (-np.inf, ep0, g)
    for dur in g * np.geomspace(0.3, 2.5, 10):
        for dt in np.linspace(-halfwidth, halfwidth, 41):
            ph = (t - ep0 - dt + 0.5 * p) % p - 0.5 * p
            inn = np.abs(ph) < 0.5 * dur
            if inn.sum() < 3:
                continue
            snr = (np.median(f) - f[inn].mean()) / sig * np.sqrt(inn.sum())
            if snr > best[0]:
                best = (snr, ep0 + dt, dur)
    return best[1], best[2], best[0]


def fit_known_ephemerides(flat, signals: Sequence[KnownSignal]) -> list[tuple[float, float, float, str]]:
    """``(period, epoch, duration [d], how)`` of each known signal in these data.

    Two ephemerides per signal, the one with the higher box SNR kept: the catalogue epoch
    propagated into the data and refined within +-0.75 Sun-like durations (``catalogue``;
    ``box-fit`` when no epoch is known: the deepest box at that period), and the search
    restricted to +-0.5 % of the catalogue period (``narrow-search``: a period a few 1e-4
    off drifts by more than a duration over hundreds of orbits).  Each signal is fitted with
    the transits of the others cut out (two passes), so near-resonant planets do not lock
    on each other.

    Parameters
    ----------
    flat : lightkurve.LightCurve
        Flattened light curve.
    signals : sequence of KnownSignal

    Returns
    -------
    list of tuple

    Examples
    --------
    >>> from astrotinyml import datasets, detrend
    >>> flat = detrend(datasets.load_sample("wasp-18"))
    >>> p, ep, dur, how = fit_known_ephemerides(flat, [KnownSignal(0.941452, None, "planet")])[0]
    >>> round(p, 3), bool(1.5 < dur * 24 < 3.0)
    (0.941, True)
    """

    t = np.asarray(flat.time.jd, float)
    ff = np.asarray(flat.flux.value, float)
    periods = [s.period for s in signals]
    fits: list[Any] = [None] * len(periods)
    for _pass in range(2):
        for j, p in enumerate(periods):
            keep = np.isfinite(ff)
            for k, fk in enumerate(fits):
                if k != j and fk is not None:
                    pk, ek, dk = fk[:3]
                    keep &= np.abs((t - ek + 0.5 * pk) % pk - 0.5 * pk) > 0.75 * dk
            fm = np.where(keep, ff, np.nan)
            trials = []
            ep0 = signals[j].epoch
            if ep0 is not None and math.isfinite(ep0):
                ep0 = ep0 + round((np.median(t) - ep0) / p) * p
                ep, dur, snr = _fit_at(t, fm, p, ep0, 0.75 * sun_like_duration(p))
                trials.append((snr, p, ep, dur, "catalogue"))
            else:
                ep, dur, _ = box_epoch(t[keep], ff[keep], p, factors=tuple(np.geomspace(0.3, 2.5, 10)))
                ep, dur, snr = _fit_at(t, fm, p, ep, 0.1 * dur)
                trials.append((snr, p, ep, dur, "box-fit"))
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = searching.search(flat[keep], period_min=0.995 * p, period_max=1.005 * p, max_planets=1,
                                 single_events=False, sde_threshold=0.0, snr_threshold=0.0)
            except AstroTinyMLError:  # too few transits in the data: catalogue only
                res = []
            if len(res) and abs(float(res["pl_orbper"][0].value) / p - 1.0) < 0.006:
                ps, es = float(res["pl_orbper"][0].value), float(res["pl_tranmid"][0].value)
                es = es + round((np.median(t) - es) / ps) * ps
                ep, dur, snr = _fit_at(t, fm, ps, es, 0.25 * sun_like_duration(ps))
                trials.append((snr, ps, ep, dur, "narrow-search"))
            fits[j] = max(trials, key=lambda x: x[0])[1:]
    return [tuple(f) for f in fits]


def _crop(lc, max_span: float):
    t = np.asarray(lc.time.jd, float)
    if t.size == 0 or t[-1] - t[0] <= max_span:
        return lc
    return lc[t < t[0] + max_span]


def _matches(period: float, epoch: float, dur_d: float, sig_p: float, sig_ep: float, ratios) -> float | None:
    """The ratio found/known period (among ``ratios``) when the found signal is the known one."""
    if not (math.isfinite(period) and math.isfinite(sig_p)):
        return None
    for r in ratios:
        if abs(period / (sig_p * r) - 1.0) < 2e-3:
            if not math.isfinite(sig_ep):
                return r
            pk = min(period, sig_p)
            dt = abs(epoch - sig_ep) % pk
            if min(dt, pk - dt) <= max(0.5 * dur_d, 0.02):
                return r
    return None


def star_examples(raw, star: LabelledStar, *, search: bool = True, max_span: float = MAX_SPAN_DAYS,
                  stellar: Any = None) -> list[dict[str, Any]]:
    """Labelled examples of one star: catalogue views and matched search views.

    Parameters
    ----------
    raw : lightkurve.LightCurve
        The star's light curve (normalized, as read).
    star : LabelledStar
    search : bool
        Also run the search (:func:`astrotinyml.detection.search_masked`) and keep its signals.
    max_span : float
        Cut to this span [d] first.
    stellar : StellarParameters, optional
        The star's parameters; default :func:`astrotinyml.star.stellar_parameters` of ``raw``.

    Returns
    -------
    list of dict
        ``views``, ``label`` and ``meta`` per example (as
        :func:`astrotinyml.training.simulate.simulate_example`).

    Examples
    --------
    >>> from astrotinyml import datasets
    >>> lc = datasets.load_sample("wasp-18")
    >>> s = LabelledStar("TIC 100100827", "planet", (KnownSignal(0.941452, None, "planet", "WASP-18 b"),))
    >>> ex = star_examples(lc, s, search=False)
    >>> [(e["label"], e["meta"]["mode"]) for e in ex]
    [('planet', 'catalogue')]
    """
    import astropy.units as u
    from astropy.table import QTable

    raw = _crop(raw, max_span)
    if stellar is None:
        stellar = stellar_parameters(raw, target=star.target)
    out: list[dict[str, Any]] = []
    base = dict(group=star.group or star_group(star.target), target=star.target, star_class=star.star_class,
                source=star.source, dubious=star.dubious,
                files=[Path(f).name for f in (raw.meta.get("source_files") or [raw.meta.get("source_file")]) if f],
                mission=raw.meta.get("mission"), cadence_min=raw.meta.get("cadence_min"),
                star_radius_source=stellar.source("radius"))

    def emit(row_table, label, mode, how, name):
        flat = detrend(raw, mask=row_table)
        vetted = vet(flat, row_table, raw_lc=raw, star=stellar)
        views = fold_views(flat, vetted[0])
        r = vetted[0]
        meta = dict(base, label=label, mode=mode, epoch_from=how, name=name,
                    period=float(getattr(r["pl_orbper"], "value", r["pl_orbper"])),
                    epoch=float(getattr(r["pl_tranmid"], "value", r["pl_tranmid"])),
                    duration_h=float(getattr(r["pl_trandurh"], "value", r["pl_trandurh"])),
                    vet_snr=float(r["vet_snr"]) if np.isfinite(float(r["vet_snr"])) else None,
                    depth_ppm=float(r["vet_depth_ppm"]) if np.isfinite(float(r["vet_depth_ppm"])) else None,
                    not_planet_physics=bool(r["not_planet_physics"]), vet_flags=str(r["vet_flags"]))
        out.append(dict(views=views, label=label, meta=meta))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat0 = detrend(raw)
        fitted: list[tuple] = []
        if star.signals:
            first = fit_known_ephemerides(flat0, star.signals)
            # The first detrending (no mask) eats part of long transits, so their durations come
            # out short: detrend again with them masked (at least a Sun-like central duration).
            pre = QTable({"pl_orbper": [f[0] for f in first] * u.day, "pl_tranmid": [f[1] for f in first] * u.day,
                          "pl_trandurh": [max(f[2], sun_like_duration(f[0])) * 24.0 for f in first] * u.hour})
            flat1 = detrend(raw, mask=pre)
            fitted = fit_known_ephemerides(flat1, star.signals)
            t = np.asarray(flat1.time.jd, float)
            ok = np.isfinite(np.asarray(flat1.flux.value, float))
            for sig, (p, ep, dur, how) in zip(star.signals, fitted):
                ph = (t - ep + 0.5 * p) % p - 0.5 * p
                if int(np.sum(np.abs(ph[ok]) < 0.5 * dur)) < 3:
                    continue  # no transit of this signal in the data
                ep = ep + math.ceil((t[0] - ep) / p) * p
                row = QTable({"pl_orbper": [p] * u.day, "pl_tranmid": [ep] * u.day,
                              "pl_trandurh": [dur * 24.0] * u.hour})
                try:
                    emit(row, sig.label, "catalogue", how, sig.name)
                except AstroTinyMLError:
                    continue
        if not search:
            return out
        try:
            passes = search_masked(raw, flat0)
        except AstroTinyMLError:
            return out
        found = passes.candidates
        ratios_for = {"eb": (1.0, 0.5, 2.0)}
        for i in range(len(found)):
            r = found[i : i + 1]
            p = float(r["pl_orbper"][0].value)
            ep = float(r["pl_tranmid"][0].value)
            dur_d = float(r["pl_trandurh"][0].value) / 24.0
            label = None
            name = ""
            if star.star_class in ("noise", "variability"):
                label, name = star.star_class, "search signal"
            else:
                for sig, fit in zip(star.signals, fitted or [(s.period, s.epoch, math.nan, "") for s in star.signals]):
                    m = _matches(p, ep, dur_d, fit[0], fit[1] if fit[1] is not None else math.nan,
                                 ratios_for.get(sig.label, (1.0,)))
                    if m is not None:
                        label, name = sig.label, f"{sig.name} (search, P x {m:g})"
                        break
            if label is None:
                continue  # a signal of a host or binary that matches nothing known: truth unknown
            try:
                emit(r, label, "search", "search", name)
            except AstroTinyMLError:
                continue
    return out


def load_star(star: LabelledStar, *, cache_dir: str | None = None, offline: bool | None = None):
    """The light curve of ``star``: its files, else :func:`astrotinyml.remote.mast.fetch_lightcurves`
    of its target (MAST through the cache; offline, the cache only).

    Raises
    ------
    AstroTinyMLError
        Unreadable files; offline with the star not in the cache (``OfflineError``).

    Examples
    --------
    >>> from astrotinyml import datasets
    >>> s = LabelledStar("TIC 100100827", "planet", files=(str(datasets.sample_path("wasp-18")),))
    >>> load_star(s).meta["mission"]
    'TESS'
    """

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if star.files:
            return read_lightcurves(list(star.files), time_format=star.time_format, target=star.target)
        return fetch_lightcurves(star.target, cache_dir=cache_dir, offline=offline)


_JOB: dict = {}


def _worker_init(job: dict) -> None:
    global _JOB
    _JOB = job


def _one_star(i: int):
    star = _JOB["stars"][i]
    try:
        raw = _JOB["preloaded"].get(star.group)
        if raw is None:
            raw = load_star(star, cache_dir=_JOB["cache_dir"], offline=_JOB["offline"])
        return star_examples(raw, star, search=_JOB["search"], max_span=_JOB["max_span"]), None
    except AstroTinyMLError as exc:
        return [], dict(target=star.target, error=str(exc)[:300])


def _progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc="real stars", unit="star")


def real_examples(
    stars: Iterable[LabelledStar],
    *,
    search: bool = True,
    cache_dir: str | None = None,
    offline: bool | None = None,
    max_span: float = MAX_SPAN_DAYS,
    preloaded: dict | None = None,
    processes: int = 1,
    progress: bool = False,
) -> SimulatedDataset:
    """Build the real labelled dataset of ``stars`` (see the module docstring).

    Parameters
    ----------
    stars : iterable of LabelledStar
    search : bool
        Add the matched search signals (slower: one detect-like search per star).
    cache_dir, offline
        For :func:`astrotinyml.remote.mast.fetch_lightcurves` of stars without local files.
    max_span : float
        Light curves are cut to this span [d].
    preloaded : dict, optional
        Light curves already loaded, by star group.
    processes : int
        Worker processes (one star each at a time; the result does not depend on it).
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    SimulatedDataset
        Same arrays as a simulated build (``info['kind'] == 'real'``); ``meta`` per example
        has ``group`` (star), ``mode``, ``files`` ...; ``info['errors']`` lists the stars that
        could not be read or fetched, with the reason.

    Examples
    --------
    >>> from astrotinyml import datasets
    >>> path = datasets.sample_path("wasp-18")
    >>> s = LabelledStar("TIC 100100827", "planet", (KnownSignal(0.941452, None, "planet"),), files=(str(path),))
    >>> ds = real_examples([s], search=False)
    >>> len(ds), ds.meta[0]["group"]
    (1, 'tic 100100827')
    """

    t_start = _time.perf_counter()
    examples: list[dict] = []
    errors: list[dict] = []
    stars = list(stars)
    n_stars = len(stars)
    job = dict(stars=stars, preloaded=preloaded or {}, search=search, max_span=max_span, cache_dir=cache_dir,
               offline=offline)
    if processes > 1 and n_stars > 1:
        import multiprocessing as mp

        # fork: the workers inherit the star list and the light curves already loaded.
        ctx = mp.get_context("fork")
        with ctx.Pool(min(int(processes), n_stars), initializer=_worker_init, initargs=(job,)) as pool:
            results = list(_progress(pool.imap(_one_star, range(n_stars)), n_stars, progress))
    else:
        _worker_init(job)
        results = list(_progress(map(_one_star, range(n_stars)), n_stars, progress))
    for exs, err in results:
        examples.extend(exs)
        if err:
            errors.append(err)
    if examples:
        arrays = stack_views([e["views"] for e in examples])
    else:

        arrays = {k: np.zeros((0, 201 if k == "global_view" else 61), np.float32)
                  for k in ("global_view", "local_view", "secondary_view", "odd_view", "even_view")}
        arrays["scalars"] = np.zeros((0, len(SCALAR_NAMES)), np.float32)
    labels = np.array([CLASSES.index(e["label"]) for e in examples], dtype=np.int64)
    info = dict(kind="real", n_stars=n_stars, n_examples=len(examples), search=bool(search),
                max_span_days=float(max_span), errors=errors,
                counts={c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
                seconds=round(_time.perf_counter() - t_start, 1))
    return SimulatedDataset(arrays=arrays, labels=labels, meta=[e["meta"] for e in examples], info=info)


def backgrounds_from_manifest(path: str | Path) -> list[tuple[str, str, tuple]]:
    """Injection backgrounds (``astrotinyml.training.backgrounds.load_backgrounds`` entries)
    from the quiet and variable stars of a corpus manifest (absolute paths).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "MANIFEST.csv").write_text("file,label\\na.fits,quiet_star\\nb.fits,unclassified\\n")
    >>> [(pathlib.Path(p).name, k) for p, k, _ in backgrounds_from_manifest(d / "MANIFEST.csv")]
    [('a.fits', 'quiet')]
    """
    path = Path(path)
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds = {"quiet_star": "quiet", "variable_star": "variable"}
    return [(str((path.parent / r["file"]).resolve()), kinds[r["label"].strip()], ())
            for r in rows if r.get("label", "").strip() in kinds]


def _sha256s(lc) -> list:
    if lc is None:
        return []
    meta = getattr(lc, "meta", {}) or {}
    return list(meta.get("sha256s") or [meta.get("sha256")])


def real_training_set(
    planets: int = 0,
    non_planets: int = 0,
    *,
    manifests: Sequence[str | Path] = (),
    search: bool = True,
    cache_dir: str | None = None,
    offline: bool | None = None,
    max_span: float = MAX_SPAN_DAYS,
    cache: bool = True,
    processes: int = 1,
    progress: bool = False,
) -> SimulatedDataset:
    """The real labelled examples ``astrotinyml train`` uses.

    ``planets`` planet hosts and ``non_planets`` false-positive stars from the Exoplanet Archive
    (:func:`labelled_stars_from_archives`) whose light curves
    :func:`astrotinyml.remote.mast.fetch_lightcurves` can get (online: downloaded into the cache;
    offline: those in the cache, e.g. filed by ``astrotinyml cache import``), plus every star
    of the corpus ``manifests`` (:func:`labelled_stars_from_manifest`).  A star listed in
    both is used once (the archive's label).

    Parameters
    ----------
    planets, non_planets : int
        Stars wanted from the archive (fewer when fewer have light curves: ``info`` says).
    manifests : sequence of path-like
        Corpus manifests with local files.
    search, cache_dir, offline, max_span, processes, progress
        See :func:`real_examples`.
    cache : bool
        Keep the result in ``<cache>/datasets/real-<key>.npz`` (key: the stars, their signals,
        files and these options) and reuse it.

    Returns
    -------
    SimulatedDataset
        ``info['archive']`` records how many archive stars were asked for, tried and found.

    Examples
    --------
    >>> ds = real_training_set(0, 0, cache=False)
    >>> len(ds), ds.info["archive"]["found"]
    (0, {'planet': 0, 'non_planet': 0})
    """
    loaded: dict[str, Any] = {}
    tried = {"n": 0}

    # Offline, only stars with files in the cache can be served: checking that first avoids one
    # fetch attempt per archive host (about 17,000 KOI and TOI hosts).
    in_cache = ({star_group(t) for t in cached_products(cache_dir=cache_dir)["target"]}
                if is_offline(offline) else None)

    def available(star: LabelledStar) -> bool:
        if in_cache is not None and star.group not in in_cache:
            return False
        tried["n"] += 1
        try:
            loaded[star.group] = load_star(star, cache_dir=cache_dir, offline=offline)
            return True
        except AstroTinyMLError:
            return False

    stars = labelled_stars_from_archives(planets, non_planets, offline=offline, cache_dir=cache_dir,
                                         available=available) if (planets or non_planets) else []
    found = {"planet": sum(s.star_class == "planet" for s in stars),
             "non_planet": sum(s.star_class != "planet" for s in stars)}
    seen = {s.group for s in stars}
    for m in manifests:
        for s in labelled_stars_from_manifest(m):
            if s.group not in seen:
                seen.add(s.group)
                stars.append(s)

    key_src = json.dumps(dict(
        version=REAL_DATASET_VERSION, search=bool(search), max_span=float(max_span),
        stars=[dict(target=s.target, cls=s.star_class, group=s.group,
                    signals=[(round(x.period, 7), x.epoch, x.label) for x in s.signals],
                    files=[(Path(f).name, Path(f).stat().st_size) for f in s.files if Path(f).exists()],
                    fetched=_sha256s(loaded.get(s.group)))
               for s in stars]), sort_keys=True, default=str)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    path = None
    if cache:

        path = _cache_dir(cache_dir) / "datasets" / f"real-{key}.npz"
        if path.exists():
            return load_dataset(path)
    ds = real_examples(stars, search=search, cache_dir=cache_dir, offline=offline, max_span=max_span,
                       preloaded=loaded, processes=processes, progress=progress)
    ds.info["archive"] = dict(asked={"planet": int(planets), "non_planet": int(non_planets)}, tried=tried["n"],
                              found=found)
    ds.info["manifests"] = [Path(m).name for m in manifests]
    ds.info["key"] = key
    if path is not None and len(ds):
        save_dataset(ds, path)
    return ds
