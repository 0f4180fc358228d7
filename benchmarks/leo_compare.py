"""Our classifier's out-of-fold verdicts beside LEO-Vetter's, on the same real signals.

For every real example that ``astrotinyml train`` evaluated out of fold (the predictions it
saved in ``<model_dir>/real_out_of_fold.npz``: each by the model trained without that star),
this runs LEO-Vetter's flux-level vetting (Kunimoto et al. 2025, AJ 170, 280; PyPI
``leo-vetter``) on the same light curve, flattened the same way, at the same ephemeris, and
prints the two verdicts side by side.  Run it from the repository root::

    .venv/bin/pip install -e ".[bench]"     # leo-vetter (GPLv3) and TLS: benchmark peers only
    nice -n 15 .venv/bin/python benchmarks/leo_compare.py [--model-dir astrotinyml/models]
        [--probs int8|float32] [--cache-dir DIR] [--mask-siblings] [--limit N] [--out PATH]

LEO-Vetter is GPLv3 and a peer for this benchmark only: the ``astrotinyml`` package never
imports it (it is in the optional extra ``bench``, not in the runtime or ``dev``
dependencies).

Output: a table per signal (target, truth, mode, P, depth, vet SNR, our label, p_planet,
LEO's disposition, the LEO tests that failed, LEO's time) and the summary of the peer
comparison: planets passed (ours vs LEO), eclipsing binaries and all false positives
rejected (ours vs LEO), on all signals and on those with ``vet_snr >= 7``, counted on the
signals LEO-Vetter ran on (a signal it fails on is recorded with its error and the run goes
on); printed and written to ``benchmarks/results/leo_compare.txt`` (+ ``.json``).

Notes
-----
**Our verdict**: the argmax class of the saved out-of-fold probabilities (``int8`` by
default, the shipped on-device model), with ``planet`` turned into ``eb`` where the
example's star physics vetoes a planet (``not_planet_physics``), as
:func:`astrotinyml.classification.classify` does.  ``planet`` is PC-like, every other class is
"not planet".

**The light curve**: the example's files (``meta['files']``, names only) are looked up in
``../shared/data/lightcurves`` and ``../shared/data/more/*`` (their ``MANIFEST.csv`` gives
the text files' time system), the bundled ``astrotinyml/data`` and the MAST cache
(``--cache-dir``, default the configured one; its ``index.json`` gives imported text files'
read options).  They are read with :func:`astrotinyml.io.read.read_lightcurves` (target = the
example's ``target``), cut to their first
:data:`astrotinyml.training.real.MAX_SPAN_DAYS` days as training does, and flattened with
:func:`astrotinyml.detrending.detrend` with the signal's transits masked (the example's
``period``, ``epoch`` and ``duration_h``): the flux our views are folded from.

**LEO-Vetter**: ``leo_vetter.main.TCELightCurve(id, time, raw, flux, flux_err, P, epoch,
duration)`` with that flattened flux and its uncertainties (non-finite or non-positive ones
replaced by the flux's robust scatter), the raw (normalised, cropped) flux, and times as
BJD_TDB - 2454833 (Kepler/K2) or - 2457000 (TESS), so that its least-squares fits step
sensibly in epoch; then ``compute_flux_metrics(star)`` and
``leo_vetter.thresholds.check_thresholds`` with its default thresholds, ``"FA"`` and
``"FP"``.  Disposition: ``FA`` if any false-alarm test fails, else ``FP`` if any
astrophysical false-positive test fails, else ``PC``; both lists of failed tests are
reported.  Pixel-level vetting (TESS difference images, the ``off-target`` test) is not run:
our classifier sees fluxes only, too.  With ``--mask-siblings`` the cadences in transit of
the star's other signals (1.5 durations wide, outside this signal's transits) are dropped
first, as a multi-planet search masks earlier TCEs; the default is exactly our flux.

**The star**: :func:`astrotinyml.star.stellar_parameters` of the light curve (header and the
bundled KOI/TOI/K2 snapshots), as in training.  LEO-Vetter needs ``rad``, ``mass``, ``rho``
(solar units), ``Teff``, their errors, and quadratic limb darkening ``u1``/``u2`` (its
``stellar.quadratic_ldc``: Claret 2017 TESS-band tables at Teff, logg, [Fe/H]).  LEO-Vetter
has no default star of its own (its tutorials query the TIC); where a value is unknown this
uses a solar star in LEO-Vetter's terms: R = 1 R_sun, M = 1 M_sun, Teff =
``leo_vetter.constants.Tsun`` (5780 K), logg 4.438, [Fe/H] 0, rho = M / R^3 (1 rho_sun);
a mass missing where radius and logg are known is ``10**(logg - 4.438) R^2``; unknown
errors are NaN (they enter only error bars, no test).  Each row says whether its star was
known, partly solar or solar, and the summary counts them.

LEO-Vetter's thresholds were tuned on TESS FGKM dwarfs (its README says so), its limb
darkening is TESS-band, and its SES/MES series is a Python loop over cadences (1-3 s for
10^4 cadences, ~10 s for a 2-min TESS sector here), so the Kepler and K2 signals are vetted
a little outside its home ground; the verdicts are LEO-Vetter's as shipped, not retuned.

See Also
--------
benchmarks/model_eval.py : the same out-of-fold predictions, scored alone.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"
SHARED = Path(os.environ.get("ASTROTINYML_SHARED_DATA", REPO.parent / "shared" / "data"))
BUNDLED = REPO / "astrotinyml" / "data"

CLASSES = ("planet", "eb", "variability", "instrumental", "noise")
SNR_CUT = 7.0

#: LEO-Vetter's test lists, in the order of ``leo_vetter.thresholds.check_thresholds``
#: (the pixel-level ``offset`` test is not run: no difference images).
FA_TESTS = ("weak", "invalid_transits", "bad_shape", "non_unique", "chases", "dmm", "single_event",
            "bad_fit", "sinusoidal", "unphysical_duration", "asymmetric", "chi", "data_gapped")
FP_TESTS = ("odd_even", "vshaped", "large", "secondary")


# --- inputs -------------------------------------------------------------------------------

def load_out_of_fold(model_dir: Path, probs: str = "int8"):
    """``fold``, probabilities, labels and meta of ``<model_dir>/real_out_of_fold.npz``."""
    path = model_dir / "real_out_of_fold.npz"
    if not path.exists():
        raise SystemExit(f"{path} not found: train a model with real stars first (astrotinyml train ...), "
                         "or give --model-dir")
    with np.load(path, allow_pickle=False) as z:
        fold, P, y = z["fold"].astype(int), z[probs].astype(float), z["labels"].astype(int)
        meta = json.loads(str(z["meta"]))
    if not (len(meta) == len(y) == len(P) == len(fold)):
        raise SystemExit(f"{path}: arrays of different lengths")
    return fold, P, y, meta


def our_verdict(p: np.ndarray, not_planet_physics: bool) -> int:
    """Argmax class, planet -> eb under the physics veto (as classify() does)."""
    k = int(np.argmax(p)) if np.isfinite(p).all() else -1
    if k == 0 and not_planet_physics:
        k = 1
    return k


def file_index(cache_dir: Path | None) -> dict[str, tuple[Path, str | None]]:
    """File name -> (path, read_lightcurve time_format) over the corpus, bundle and cache."""
    from astrotinyml.io import time_format_from_label

    idx: dict[str, tuple[Path, str | None]] = {}
    manifests = [SHARED / "lightcurves" / "MANIFEST.csv", *sorted((SHARED / "more").glob("*/MANIFEST.csv")),
                 BUNDLED / "manifest.csv"]
    for mf in manifests:
        if not mf.exists():
            continue
        with open(mf, newline="") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("file") or "").strip()
                p = mf.parent / name
                if name and p.exists() and name not in idx:
                    idx[name] = (p, time_format_from_label(row.get("time_system"), path=p))
    for p in sorted(BUNDLED.glob("*")):
        if p.is_file() and p.name not in idx and p.name != "manifest.csv":
            idx[p.name] = (p, None)
    if cache_dir is not None and (cache_dir / "mast").is_dir():
        try:
            entries = json.loads((cache_dir / "mast" / "index.json").read_text()).get("files", {})
        except (OSError, ValueError):
            entries = {}
        for rel, e in entries.items():
            p = cache_dir / rel
            if p.name not in idx and p.exists():
                idx[p.name] = (p, ((e or {}).get("read_options") or {}).get("time_format"))
        for p in (cache_dir / "mast").rglob("*"):
            if p.is_file() and p.name not in idx and not p.name.startswith(".") and p.name != "index.json":
                idx[p.name] = (p, None)
    return idx


def crop(lc, max_span: float):
    """The first ``max_span`` days (as astrotinyml.training.real does before the search)."""
    t = np.asarray(lc.time.jd, float)
    if t.size == 0 or t[-1] - t[0] <= max_span:
        return lc
    return lc[t < t[0] + max_span]


# --- LEO-Vetter ---------------------------------------------------------------------------

def leo_star(sp) -> tuple[dict, str, list[str]]:
    """LEO-Vetter's ``star`` dict from our StellarParameters; solar (LEO's terms) where unknown.

    A mass missing with radius and logg known is ``10**(logg - 4.438) R^2`` (``derived``).
    Returns the dict, ``known`` / ``partial`` / ``solar``, the fields that took the solar value
    and those derived.
    """
    from leo_vetter.constants import Tsun
    from leo_vetter.stellar import quadratic_ldc

    from astrotinyml.star import RHO_SUN_CGS

    def fin(x):
        return x is not None and math.isfinite(float(x))

    solar, derived = [], []
    rad = sp.radius if fin(sp.radius) else (solar.append("radius") or 1.0)
    if fin(sp.mass):
        mass = sp.mass
    elif fin(sp.radius) and fin(sp.logg):
        mass = 10.0 ** (sp.logg - 4.438) * sp.radius ** 2  # g R^2 / G, in solar units
        derived.append("mass")
    else:
        solar.append("mass")
        mass = 1.0
    teff = sp.teff if fin(sp.teff) else (solar.append("teff") or float(Tsun))
    if fin(sp.logg):
        logg = sp.logg
    else:
        solar.append("logg")
        logg = 4.438 + math.log10(mass / rad ** 2)
    feh = sp.feh if fin(sp.feh) else 0.0
    rho = sp.density / RHO_SUN_CGS if fin(sp.density) else mass / rad ** 3
    u1, u2 = quadratic_ldc(float(teff), float(logg), float(feh))
    star = dict(rad=float(rad), mass=float(mass), Teff=float(teff), logg=float(logg), rho=float(rho),
                e_rad=float(sp.radius_err) if fin(sp.radius_err) else math.nan, e_mass=math.nan,
                e_Teff=math.nan, u1=float(np.asarray(u1)), u2=float(np.asarray(u2)))
    kind = "known" if not solar else "solar" if {"radius", "mass", "teff"} <= set(solar) else "partial"
    return star, kind, solar, derived


def leo_vet(tic: int, time_rel, raw, flux, flux_err, per, epo, dur, star) -> dict:
    """Run LEO-Vetter's flux-level metrics and tests on one signal."""
    from leo_vetter import thresholds as th
    from leo_vetter.main import TCELightCurve

    printed = io.StringIO()
    with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        tlc = TCELightCurve(tic, time_rel, raw, flux, flux_err, per, epo, dur, planetno=1)
        tlc.compute_flux_metrics(star, verbose=False)
        m = tlc.metrics
        fa_any = bool(th.check_thresholds(m, "FA"))
        fp_any = bool(th.check_thresholds(m, "FP"))
        failed = {}
        for case, names in (("FA", FA_TESTS), ("FP", FP_TESTS)):
            out = []
            for name in names:
                flag, message = getattr(th, name)(m, th._default_thresholds)
                if bool(flag):
                    out.append(message.split(": ", 1)[-1])
            failed[case] = out
    # check_thresholds is the authority; the per-test loop only names the failures.
    if fa_any != bool(failed["FA"]) or fp_any != bool(failed["FP"]):
        raise RuntimeError("LEO-Vetter's test list differs from this script's (check_thresholds disagrees)")
    disp = "FA" if fa_any else "FP" if fp_any else "PC"
    keep = ("MES", "SHP", "N_transit", "new_MES", "new_N_transit", "dep", "transit_RpRs", "transit_b", "Rp",
            "sig_pri", "sig_sec", "Fred", "sine_sig", "mean_chases", "DMM", "CHI")
    metrics = {k: (float(m[k]) if np.isfinite(float(m[k])) else None) for k in keep if k in m}
    notes = sorted({ln.split(": ", 1)[-1].strip() for ln in printed.getvalue().splitlines() if ln.strip()})
    return dict(disposition=disp, failed_fa=failed["FA"], failed_fp=failed["FP"], metrics=metrics, notes=notes)


def tic_of(group: str, i: int) -> int:
    d = re.sub(r"\D", "", str(group or ""))
    return int(d) if d and len(d) < 18 else i


# --- one signal ---------------------------------------------------------------------------

class LightCurves:
    """Reads each star's files once (several signals share them)."""

    def __init__(self, index, max_span):
        self.index, self.max_span, self._cache = index, max_span, {}

    def get(self, m: dict):
        from astrotinyml.io import read_lightcurves

        names = tuple(m.get("files") or ())
        key = (m.get("target"), names)
        if key in self._cache:
            return self._cache[key]
        if not names:
            raise FileNotFoundError("the example lists no files")
        missing = [n for n in names if n not in self.index]
        if missing:
            raise FileNotFoundError(f"not found in the corpus, the bundle or the cache: {', '.join(missing)}")
        paths = [self.index[n][0] for n in names]
        tfs = {self.index[n][1] for n in names}
        if len(tfs) > 1:
            raise ValueError(f"files of different time systems {sorted(map(str, tfs))}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = crop(read_lightcurves([str(p) for p in paths], time_format=tfs.pop(), target=m.get("target")),
                       self.max_span)
        if len(self._cache) > 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = raw
        return raw


def same_signal(p1: float, p2: float) -> bool:
    """Periods of one signal (ratio 1, 1/2 or 2 within 0.2 %, as training's matching)."""
    return any(abs(p1 / (p2 * r) - 1.0) < 2e-3 for r in (1.0, 0.5, 2.0))


def siblings_of(i: int, meta: list[dict]) -> list[tuple[float, float, float]]:
    """(P, epoch, duration [d]) of the other signals of example ``i``'s star."""
    m, out = meta[i], []
    for j, o in enumerate(meta):
        if j == i or o.get("group") != m.get("group") or same_signal(float(o["period"]), float(m["period"])):
            continue
        if not any(same_signal(float(o["period"]), q[0]) for q in out):
            out.append((float(o["period"]), float(o["epoch"]), float(o["duration_h"]) / 24.0))
    return out


def in_transit(t, per: float, epoch: float, dur_d: float, width: float = 1.5):
    """Cadences within ``width`` durations (centred) of a transit."""
    ph = (t - epoch + 0.5 * per) % per - 0.5 * per
    return np.abs(ph) < 0.5 * width * dur_d


def run_signal(i: int, m: dict, lcs: LightCurves, siblings=()) -> dict:
    import astropy.units as u
    from astropy.table import QTable

    from astrotinyml.detrending import detrend
    from astrotinyml.star import stellar_parameters

    raw = lcs.get(m)
    per, epoch, dur_h = float(m["period"]), float(m["epoch"]), float(m["duration_h"])
    row = QTable({"pl_orbper": [per] * u.day, "pl_tranmid": [epoch] * u.day, "pl_trandurh": [dur_h] * u.hour})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = detrend(raw, mask=row)
        sp = stellar_parameters(raw, target=m.get("target"))
    star, star_kind, solar, derived = leo_star(sp)
    t = np.asarray(flat.time.jd, float)
    f = np.asarray(flat.flux.value, float)
    e = np.asarray(getattr(flat.flux_err, "value", flat.flux_err), float) if "flux_err" in flat.colnames \
        else np.full(t.size, np.nan)
    r = np.asarray(raw.flux.value, float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f, e, r = t[ok], f[ok], e[ok], r[ok]
    order = np.argsort(t, kind="stable")
    t, f, e, r = t[order], f[order], e[order], r[order]
    n_sib = 0
    if siblings:  # --mask-siblings: drop the star's other signals' transits (not this one's)
        own = in_transit(t, per, epoch, dur_h / 24.0)
        drop = np.zeros(t.size, bool)
        for p2, e2, d2 in siblings:
            drop |= in_transit(t, p2, e2, d2)
        drop &= ~own
        n_sib = int(drop.sum())
        t, f, e, r = t[~drop], f[~drop], e[~drop], r[~drop]
    bad_err = ~(np.isfinite(e) & (e > 0))
    if bad_err.any():
        scatter = 1.4826 * np.median(np.abs(f - np.median(f)))
        e = np.where(bad_err, scatter if scatter > 0 else np.std(f), e)
    t_ref = 2457000.0 if np.median(t) > 2457000.0 else 2454833.0
    t0 = time.perf_counter()
    res = leo_vet(tic_of(m.get("group"), i), t - t_ref, r, f, e, per, epoch - t_ref, dur_h / 24.0, star)
    res["leo_s"] = round(time.perf_counter() - t0, 2)
    res.update(n_cadences=int(t.size), n_sibling_cadences_dropped=n_sib, n_err_replaced=int(bad_err.sum()), star=star_kind, star_solar_fields=solar,
               star_derived_fields=derived,
               star_params={k: round(v, 4) if math.isfinite(v) else None for k, v in star.items()},
               star_sources={n: sp.source(n) for n in ("radius", "mass", "teff", "logg")})
    return res


# --- summary ------------------------------------------------------------------------------

def _rate(x):
    x = np.asarray(x, bool)
    return (round(float(x.mean()), 3), int(x.sum()), int(x.size)) if x.size else (None, 0, 0)


def summarize(rows: list[dict]) -> dict:
    """Planets passed / EBs and false positives rejected, ours vs LEO, all and vet_snr >= 7."""
    out = {}
    ran = [r for r in rows if r["leo"] is not None]
    snr = lambda r: r["vet_snr"] is not None and r["vet_snr"] >= SNR_CUT  # noqa: E731
    for name, sel in (("all", ran), (f"vet_snr >= {SNR_CUT:g}", [r for r in ran if snr(r)])):
        pl = [r for r in sel if r["truth"] == "planet"]
        eb = [r for r in sel if r["truth"] == "eb"]
        non = [r for r in sel if r["truth"] != "planet"]
        s = dict(n=len(sel), n_planets=len(pl), n_eb=len(eb), n_non_planets=len(non))
        for what, group, want_pc in (("planets_passed", pl, True), ("eb_rejected", eb, False),
                                     ("false_positives_rejected", non, False)):
            s[what] = dict(ours=_rate([(r["ours"] == "planet") == want_pc for r in group]),
                           leo=_rate([(r["leo"]["disposition"] == "PC") == want_pc for r in group]))
        by_class = {}
        for c in CLASSES[1:]:
            g = [r for r in sel if r["truth"] == c]
            if g:
                by_class[c] = dict(ours=_rate([r["ours"] != "planet" for r in g]),
                                   leo=_rate([r["leo"]["disposition"] != "PC" for r in g]))
        s["rejected_by_class"] = by_class
        # agreement on "planet or not"
        both = sum((r["ours"] == "planet") and r["leo"]["disposition"] == "PC" for r in sel)
        ours_only = sum((r["ours"] == "planet") and r["leo"]["disposition"] != "PC" for r in sel)
        leo_only = sum((r["ours"] != "planet") and r["leo"]["disposition"] == "PC" for r in sel)
        s["agreement"] = dict(both_pc=both, ours_only=ours_only, leo_only=leo_only,
                              neither=len(sel) - both - ours_only - leo_only,
                              agree=round((len(sel) - ours_only - leo_only) / len(sel), 3) if sel else None)
        s["leo_dispositions"] = {d: sum(r["leo"]["disposition"] == d for r in sel) for d in ("PC", "FP", "FA")}
        fails = {}
        for r in sel:
            for msg in r["leo"]["failed_fa"] + r["leo"]["failed_fp"]:
                fails[msg] = fails.get(msg, 0) + 1
        s["leo_failed_tests"] = dict(sorted(fails.items(), key=lambda kv: -kv[1]))
        out[name] = s
    # ours on every signal (also those LEO could not run on)
    pl_all = [r for r in rows if r["truth"] == "planet"]
    non_all = [r for r in rows if r["truth"] != "planet"]
    out["ours_all_signals"] = dict(n=len(rows), planets_passed=_rate([r["ours"] == "planet" for r in pl_all]),
                                   false_positives_rejected=_rate([r["ours"] != "planet" for r in non_all]))
    times = [r["leo"]["leo_s"] for r in ran]
    out["leo_time_s"] = dict(n=len(times), total=round(float(np.sum(times)), 1) if times else 0.0,
                             median=round(float(np.median(times)), 2) if times else None,
                             max=round(float(np.max(times)), 2) if times else None)
    out["leo_errors"] = len(rows) - len(ran)
    out["stars"] = {k: sum(r["leo"]["star"] == k for r in ran) for k in ("known", "partial", "solar")}
    return out


def _fmt_rate(x):
    v, k, n = x
    return "  n/a      " if v is None else f"{100 * v:5.1f}% ({k}/{n})"


def render(rows: list[dict], summ: dict, info: dict) -> str:
    lines = [f"Our classifier ({info['probs']}, out of fold) vs LEO-Vetter {info['leo_version']} (flux-level, "
             f"default thresholds), same signals",
             f"model dir: {info['model_dir']}   signals: {len(rows)}   stars: {info['n_stars']}   "
             f"folds: {info['n_folds']}",
             f"light curves: first {info['max_span']:g} d, astrotinyml.detrending.detrend with the signal masked "
             "(the flux our views fold)",
             "stellar parameters: astrotinyml.star.stellar_parameters; unknown values -> a solar star in LEO's terms "
             "(R=1, M=1, Teff=leo_vetter.constants.Tsun=5780 K, logg 4.438, [Fe/H] 0, rho=M/R^3);",
             f"  LEO stars: {summ['stars']['known']} known, {summ['stars']['partial']} partly solar, "
             f"{summ['stars']['solar']} fully solar (column 'star': k / p / s)",
             "  (a mass missing where radius and logg are known: 10**(logg - 4.438) R^2)",
             "LEO disposition: FA if any false-alarm test fails, else FP if any false-positive test fails, "
             "else PC; no pixel-level tests",
             ("LEO input: the star's other signals' transits dropped (--mask-siblings)" if info["mask_siblings"]
              else "LEO input: exactly the flattened flux our views fold (other signals of the star left in; "
                   "--mask-siblings drops them)"),
             ""]
    hdr = (f"{'target':<28} {'truth':<12} {'mode':<9} {'P [d]':>10} {'depth':>8} {'snr':>7} {'ours':<12} "
           f"{'p_pl':>5} {'LEO':<4} {'star':<4} {'LEO s':>6}  LEO failed tests")
    lines += [hdr, "-" * len(hdr)]
    for r in rows:
        leo = r["leo"]
        depth = f"{r['depth_ppm']:8.0f}" if r["depth_ppm"] is not None else f"{'-':>8}"
        snr = f"{r['vet_snr']:7.1f}" if r["vet_snr"] is not None else f"{'-':>7}"
        ours = r["ours"] + ("*" if r["veto"] else "")
        if leo is None:
            tail = f"{'ERR':<4} {'':<4} {'':>6}  {r['leo_error']}"
        else:
            tests = "; ".join([f"FA: {x}" for x in leo["failed_fa"]] + [f"FP: {x}" for x in leo["failed_fp"]])
            tail = f"{leo['disposition']:<4} {leo['star'][0]:<4} {leo['leo_s']:6.1f}  {tests or '-'}"
        lines.append(f"{str(r['target'])[:28]:<28} {r['truth']:<12} {r['mode']:<9} {r['period']:10.5f} {depth} "
                     f"{snr} {ours:<12} {r['p_planet'] if r['p_planet'] is not None else math.nan:5.2f} {tail}")
    lines.append("(* = planet vetoed to eb by the star's physics, as classify() does)")
    lines.append("")
    for name in ("all", f"vet_snr >= {SNR_CUT:g}"):
        s = summ[name]
        lines.append(f"Summary, {name}: {s['n']} signals LEO ran on ({s['n_planets']} planets, {s['n_eb']} EBs, "
                     f"{s['n_non_planets']} non-planets)")
        lines.append(f"  {'':<34} {'ours':>18} {'LEO-Vetter':>18}")
        for what, label in (("planets_passed", "planets passed (PC)"), ("eb_rejected", "EBs rejected"),
                            ("false_positives_rejected", "false positives rejected (all)")):
            lines.append(f"  {label:<34} {_fmt_rate(s[what]['ours']):>18} {_fmt_rate(s[what]['leo']):>18}")
        for c, v in s["rejected_by_class"].items():
            if c != "eb":
                lines.append(f"  {c + ' rejected':<34} {_fmt_rate(v['ours']):>18} {_fmt_rate(v['leo']):>18}")
        a = s["agreement"]
        lines.append(f"  agreement (planet / not): {a['agree']}  both PC {a['both_pc']}, ours only {a['ours_only']}, "
                     f"LEO only {a['leo_only']}, neither {a['neither']}")
        lines.append(f"  LEO dispositions: {s['leo_dispositions']}")
        if s["leo_failed_tests"]:
            lines.append("  LEO tests failed: " + ", ".join(f"{k} {v}" for k, v in s["leo_failed_tests"].items()))
        lines.append("")
    o = summ["ours_all_signals"]
    lines.append(f"Ours on all {o['n']} signals (also those LEO failed on): planets passed "
                 f"{_fmt_rate(o['planets_passed'])}, false positives rejected {_fmt_rate(o['false_positives_rejected'])}")
    tt = summ["leo_time_s"]
    lines.append(f"LEO-Vetter time per signal: median {tt['median']} s, max {tt['max']} s, total {tt['total']} s "
                 f"({tt['n']} signals); LEO errors: {summ['leo_errors']}")
    return "\n".join(lines) + "\n"


def _plain(o):
    """JSON-able copy: NumPy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if hasattr(o, "item") and np.ndim(o) == 0:
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    return str(o)


# --- main ---------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=str(REPO / "astrotinyml" / "models"),
                    help="directory with real_out_of_fold.npz (default: the shipped model)")
    ap.add_argument("--probs", choices=("int8", "float32"), default="int8",
                    help="which model's out-of-fold probabilities (default int8, the shipped one)")
    ap.add_argument("--cache-dir", default=None,
                    help="astrotinyml cache whose MAST files to look in too (default: the configured cache)")
    ap.add_argument("--mask-siblings", action="store_true",
                    help="drop the cadences in transit of the star's other signals before LEO (as a multi-"
                         "planet search masks earlier TCEs); default: exactly the flux our views fold")
    ap.add_argument("--limit", type=int, default=None, help="only the first N signals (development)")
    ap.add_argument("--out", default=None,
                    help="output path without extension, .txt and .json written (default "
                         "benchmarks/results/leo_compare, or leo_compare_masked with --mask-siblings)")
    args = ap.parse_args(argv)

    import leo_vetter

    from astrotinyml.config import cache_dir as default_cache
    from astrotinyml.training.real import MAX_SPAN_DAYS

    model_dir = Path(args.model_dir)
    fold, P, y, meta = load_out_of_fold(model_dir, args.probs)
    cdir = Path(args.cache_dir) if args.cache_dir else default_cache(create=False)
    lcs = LightCurves(file_index(cdir), MAX_SPAN_DAYS)
    n = len(meta) if args.limit is None else min(args.limit, len(meta))
    rows = []
    t_start = time.perf_counter()
    for i in range(n):
        m = meta[i]
        k = our_verdict(P[i], bool(m.get("not_planet_physics")))
        r = dict(i=i, target=m.get("target"), group=m.get("group"), truth=CLASSES[int(y[i])], mode=m.get("mode"),
                 mission=m.get("mission"), period=float(m.get("period")), epoch=float(m.get("epoch")),
                 duration_h=float(m.get("duration_h")), depth_ppm=m.get("depth_ppm"), vet_snr=m.get("vet_snr"),
                 ours=CLASSES[k] if k >= 0 else "none",
                 p_planet=round(float(P[i, 0]), 4) if np.isfinite(P[i, 0]) else None,
                 veto=bool(m.get("not_planet_physics")) and int(np.argmax(P[i])) == 0,
                 vet_flags=m.get("vet_flags"), fold=int(fold[i]), files=m.get("files"), leo=None, leo_error=None)
        try:
            r["leo"] = run_signal(i, m, lcs, siblings_of(i, meta) if args.mask_siblings else ())
        except Exception as exc:  # one signal's failure is recorded; the run goes on
            r["leo_error"] = f"{type(exc).__name__}: {exc}"[:200]
            r["leo_traceback"] = traceback.format_exc(limit=4)[-1500:]
        rows.append(r)
        leo = r["leo"]
        print(f"[{i + 1}/{n}] {r['target']} {r['mode']} P={r['period']:.4f} truth={r['truth']} ours={r['ours']} "
              f"LEO={leo['disposition'] if leo else 'ERR'} ({leo['leo_s'] if leo else r['leo_error']})",
              file=sys.stderr, flush=True)
    summ = summarize(rows)
    info = dict(model_dir=str(model_dir), probs=args.probs, mask_siblings=bool(args.mask_siblings), leo_version=getattr(leo_vetter, "__version__", "?"),
                n_stars=len({r["group"] for r in rows}), n_folds=len(set(fold.tolist())), max_span=MAX_SPAN_DAYS,
                wall_s=round(time.perf_counter() - t_start, 1),
                solar_star=dict(rad=1.0, mass=1.0, Teff=5780.0, logg=4.438, feh=0.0, rho="mass/rad^3",
                                note="LEO-Vetter has no default star; missing fields take these (its constants.Tsun)"))
    text = render(rows, summ, info)
    sys.stdout.write(text)
    out = Path(args.out) if args.out else RESULTS / ("leo_compare_masked" if args.mask_siblings else "leo_compare")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(_plain(dict(info=info, summary=summ, signals=rows)), indent=1,
                                                   allow_nan=False))
    print(f"wrote {out.with_suffix('.txt')} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
