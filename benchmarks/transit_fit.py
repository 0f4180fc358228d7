"""Coverage and speed of astrotinyml.transitfit.fit_transit on real light curves.

(1) Coverage.  Seeded limb-darkened transits are multiplied into the normalised flux of the
real quiet K2 stars (K2SC, campaign 13): the files of
``../shared/data/more/k2_c13_k2sc_stephtdouglas/`` whose MANIFEST label is ``quiet_star``
(read with :func:`astrotinyml.io.read.read_lightcurve`) and the bundled sample
``epic-248045685``.  Each injection draws

* P log-uniform in 1.5-12 d, the first mid-transit uniform in the first period;
* a/R* from a stellar density log-uniform in 0.5-2 solar, b uniform in 0-0.8;
* Rp/R* for a white-noise SNR uniform in 15-80 (``SNR = depth / sigma * sqrt(n_in)``,
  sigma = robust scatter of the detrended, un-injected curve), redrawn when above 0.25;
* quadratic limb darkening: the Kepler-band table value of the solar prior (which the fit
  uses for these stars of unknown Teff/logg) with q1, q2 moved by N(0, 0.1) each, the
  width of the fit's prior: truths drawn from the prior, as a coverage test needs (a
  narrower spread makes the intervals look conservative: 0.75-0.78 for Rp/R*, a/R*, b with
  0.05).

The model is integrated over the 29.4-min exposure with 31 midpoint sub-exposures (the
fit uses 10), the curve is detrended with the transit masked
(``astrotinyml.detrending.detrend(lc, mask=candidate)``) and fitted with the default MCMC from
box-like start values (P off by ~1e-4, mid-time by ~3 min, duration x 0.8-1.1, depth x
0.7-1.0).  Reported: for P, T0, Rp/R*, a/R*, b, T14 the fraction of injections whose
16-84 % interval holds the truth (68 % expected; 60-76 % is the target band for ~50
cases), the median |truth - median| / sigma, and how many chains converged.

(2) Speed, one core (BLAS/OpenMP threads set to 1, run before the injections so nothing
else of this script competes): least squares and the default MCMC on WASP-18 b in its
bundled TESS 2-min sector, and the MCMC time per K2 injection.

Usage::

    python benchmarks/transit_fit.py [--n 55] [--processes 2] [--seed 1] [--quick]

Writes ``benchmarks/results/transit_fit.txt``.
"""

from __future__ import annotations

import os

# One core per process: BLAS threads on a shared 2-core machine only add contention.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import math  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MORE = Path(os.environ.get("ASTROTINYML_SHARED_DATA", REPO.parent / "shared" / "data")) / "more" / \
    "k2_c13_k2sc_stephtdouglas"
EXP_TIME = 29.4 / 1440.0
PARAMS = ("pl_orbper", "pl_tranmid", "pl_ratror", "pl_ratdor", "pl_imppar", "pl_trandurh")
LABELS = {"pl_orbper": "P", "pl_tranmid": "T0", "pl_ratror": "Rp/R*", "pl_ratdor": "a/R*",
          "pl_imppar": "b", "pl_trandurh": "T14"}


def hosts():
    """(name, path or sample) of the quiet K2 stars."""
    out = []
    manifest = MORE / "MANIFEST.csv"
    if manifest.exists():
        with open(manifest, newline="") as fh:
            for row in csv.DictReader(fh):
                if row["label"] == "quiet_star":
                    out.append((row["target_id"], str(MORE / row["file"])))
    out.append(("EPIC 248045685 (bundled)", "sample:epic-248045685"))
    return out


@lru_cache(maxsize=None)
def load(source):
    from astrotinyml import datasets
    from astrotinyml.io import read_lightcurve

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if source.startswith("sample:"):
            return datasets.load_sample(source.split(":", 1)[1])
        return read_lightcurve(source)


@lru_cache(maxsize=None)
def white_noise(source):
    """Robust per-point scatter of the detrended, un-injected light curve."""
    from astrotinyml.detrending import detrend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = detrend(load(source))
    f = np.asarray(flat.flux.value, dtype=float)
    f = f[np.isfinite(f)]
    return float(1.4826 * np.median(np.abs(f - np.median(f))))


def t14_of(period, k, ars, b):
    sin_i = math.sqrt(1.0 - (b / ars) ** 2)
    return period / math.pi * math.asin(math.sqrt((1 + k) ** 2 - b ** 2) / (ars * sin_i))


def inject(lc, *, period, t0, k, ars, b, u1, u2):
    """``lc`` times a batman transit integrated over 31 midpoint sub-exposures."""
    import batman

    t = np.asarray(lc.time.jd, dtype=float)
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t0, period, k, ars, math.degrees(math.acos(b / ars)), 0.0, 90.0
    p.limb_dark, p.u = "quadratic", [u1, u2]
    off = ((np.arange(31) + 0.5) / 31 - 0.5) * EXP_TIME
    model = batman.TransitModel(p, (t[:, None] + off).ravel()).light_curve(p).reshape(-1, 31).mean(axis=1)
    out = lc.copy()
    out.flux = out.flux * model
    return out


def draw(i, seed, host_list):
    """Injection ``i``: host and parameters (seeded by ``seed`` and ``i`` alone)."""
    from astrotinyml.transitfit import limb_darkening

    rng = np.random.default_rng([seed, i])
    name, source = host_list[i % len(host_list)]
    lc = load(source)
    t = np.asarray(lc.time.jd, dtype=float)
    t = t[np.isfinite(t)]
    sigma = white_noise(source)
    ld = limb_darkening(5772.0, 4.438, 0.0, mission="K2")  # the solar prior's table value
    s = ld.u1 + ld.u2
    q1 = float(np.clip(s * s + rng.normal(0, 0.1), 0.01, 0.99))
    q2 = float(np.clip(ld.u1 / (2 * s) + rng.normal(0, 0.1), 0.01, 0.99))
    u1, u2 = 2 * math.sqrt(q1) * q2, math.sqrt(q1) * (1 - 2 * q2)
    for _ in range(100):
        period = float(math.exp(rng.uniform(math.log(1.5), math.log(12.0))))
        rho = float(math.exp(rng.uniform(math.log(0.5), math.log(2.0))))
        ars = 215.03 * rho ** (1 / 3) * (period / 365.25) ** (2 / 3)
        b = float(rng.uniform(0.0, 0.8))
        t0 = float(t[0] + rng.uniform(0.0, period))
        snr = float(rng.uniform(15.0, 80.0))
        t14 = t14_of(period, 0.05, ars, b)
        n_transits = np.count_nonzero(np.abs((t - t0 + 0.5 * period) % period - 0.5 * period) < 0.5 * t14)
        if n_transits < 3:
            continue
        depth = snr * sigma / math.sqrt(n_transits)
        k = math.sqrt(depth)
        if k < 0.25:
            break
    else:
        raise RuntimeError(f"{name}: no injection with Rp/R* < 0.25 reaches the SNR range")
    t14 = t14_of(period, k, ars, b)
    start = dict(period=period * (1 + 1e-4 * rng.normal()), t0=t0 + 0.002 * rng.normal(),
                 dur=t14 * rng.uniform(0.8, 1.1), depth=k * k * rng.uniform(0.7, 1.0))
    return dict(i=i, host=name, source=source, period=period, t0=t0, k=k, ars=ars, b=b, t14=t14,
                u1=u1, u2=u2, snr=snr, sigma=sigma, start=start)


def run_one(case, nsteps=None):
    """Inject, detrend with the transit masked, fit with the default MCMC."""
    from astropy import units as u
    from astropy.table import QTable

    from astrotinyml.detrending import detrend
    from astrotinyml.transitfit import fit_transit

    lc = inject(load(case["source"]), period=case["period"], t0=case["t0"], k=case["k"], ars=case["ars"],
                b=case["b"], u1=case["u1"], u2=case["u2"])
    s = case["start"]
    cand = QTable({"pl_orbper": [s["period"]] * u.day, "pl_tranmid": [s["t0"]] * u.day,
                   "pl_trandurh": [s["dur"] * 24] * u.hour, "pl_trandep": [s["depth"] * 1e6]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = detrend(lc, mask=cand)
        t1 = time.process_time()
        kwargs = {} if nsteps is None else {"nsteps": nsteps}
        try:
            row = fit_transit(flat, cand, seed=case["i"], **kwargs)[0]
        except Exception as exc:  # noqa: BLE001 - a failed fit is a result, reported below
            return dict(i=case["i"], host=case["host"], snr=case["snr"], error=f"{type(exc).__name__}: {exc}")
        cpu = time.process_time() - t1
    n = round((float(row["pl_tranmid"].value) - case["t0"]) / case["period"])
    truth = {"pl_orbper": case["period"], "pl_tranmid": case["t0"] + n * case["period"],
             "pl_ratror": case["k"], "pl_ratdor": case["ars"], "pl_imppar": case["b"],
             "pl_trandurh": case["t14"] * 24}
    res = dict(i=case["i"], host=case["host"], snr=case["snr"], cpu_s=cpu, error="",
               converged=bool(row["fit_converged"]), tau=float(row["fit_tau_max"]),
               nsteps=int(row["fit_nsteps"]), acceptance=float(row["fit_acceptance"]))
    for name in PARAMS:
        med = float(getattr(row[name], "value", row[name]))
        e1 = float(getattr(row[name + "err1"], "value", row[name + "err1"]))
        e2 = float(getattr(row[name + "err2"], "value", row[name + "err2"]))
        x = truth[name]
        res[name] = dict(truth=x, med=med, e1=e1, e2=e2, inside=bool(med + e2 <= x <= med + e1),
                         z=abs(x - med) / (e1 if x > med else -e2))
    return res


def timings():
    """(label, seconds) of lsq and MCMC fits of WASP-18 b on its TESS 2-min sector, one core."""
    from astropy import units as u
    from astropy.table import QTable

    from astrotinyml import datasets
    from astrotinyml.detrending import detrend
    from astrotinyml.transitfit import fit_transit

    lc = datasets.load_sample("wasp-18")
    cand = QTable({"pl_orbper": [0.94145] * u.day, "pl_tranmid": [2458375.1698] * u.day,
                   "pl_trandurh": [2.2] * u.hour, "pl_trandep": [10000.0]})
    flat = detrend(lc, mask=cand)
    out = []
    for label, kwargs in (("lsq, first call (catalogue + table reads)", dict(method="lsq")),
                          ("lsq", dict(method="lsq")), ("lsq", dict(method="lsq")),
                          ("MCMC (default)", {})):
        t1 = time.perf_counter()
        c1 = time.process_time()
        row = fit_transit(flat, cand, **kwargs)[0]
        out.append((label, time.perf_counter() - t1, time.process_time() - c1, row))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=55, help="number of injections (default 55)")
    ap.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nsteps", type=int, default=None, help="MCMC nsteps (default: fit_transit's)")
    ap.add_argument("--quick", action="store_true", help="8 injections, for a smoke run")
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args(argv)
    n = 8 if args.quick else args.n
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    say("astrotinyml.transitfit.fit_transit: coverage on injected transits and speed")
    say(f"python {sys.version.split()[0]}, numpy {np.__version__}; BLAS/OpenMP threads = 1 per process")
    if not args.no_timing:
        say("")
        say("(2) Timing on WASP-18 b, bundled TESS sector 2 (2-min cadence), one core, "
            "machine shared with other jobs:")
        for label, wall, cpu, row in timings():
            extra = (f"  ({row['fit_nsteps']} steps x 20 walkers, tau_max {row['fit_tau_max']:.0f}, "
                     f"converged {bool(row['fit_converged'])}, {row['fit_n_points']} cadences)"
                     if label.startswith("MCMC") else f"  ({row['fit_n_points']} cadences)")
            say(f"  {label:44s} wall {wall:6.1f} s   cpu {cpu:6.1f} s{extra}")
            if label.startswith("MCMC"):
                r = row
                say("  WASP-18 b MCMC: " + ", ".join(
                    f"{LABELS.get(c, c)} {float(getattr(r[c], 'value', r[c])):.{nd}f} "
                    f"+{float(getattr(r[c + 'err1'], 'value', r[c + 'err1'])):.{nd}f}"
                    f"/{float(getattr(r[c + 'err2'], 'value', r[c + 'err2'])):.{nd}f}"
                    for c, nd in (("pl_orbper", 7), ("pl_ratror", 5), ("pl_ratdor", 3), ("pl_imppar", 3),
                                  ("pl_trandurh", 3))))

    host_list = hosts()
    cases = [draw(i, args.seed, host_list) for i in range(n)]
    say("")
    say(f"(1) Coverage: {n} injections into {len(host_list)} quiet K2SC light curves "
        f"(seed {args.seed}), default MCMC, {args.processes} processes")
    t1 = time.perf_counter()
    if args.processes > 1:
        # spawn: the parent has numba's OpenMP runtime loaded (detrending), unsafe to fork.
        with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_one, cases, [args.nsteps] * n))
    else:
        results = [run_one(c, args.nsteps) for c in cases]
    wall = time.perf_counter() - t1
    failed = [r for r in results if r.get("error")]
    results = [r for r in results if not r.get("error")]
    for r in failed:
        say(f"    FAILED injection {r['i']} ({r['host']}): {r['error']}")
    cpu = [r["cpu_s"] for r in results]
    say(f"    wall {wall / 60:.1f} min; MCMC CPU per injection median {np.median(cpu):.1f} s, "
        f"max {max(cpu):.1f} s")
    conv = [r for r in results if r["converged"]]
    say(f"    fits: {len(results)}/{n} (failed {len(failed)}); converged chains: {len(conv)}/{len(results)}; tau_max median {np.nanmedian([r['tau'] for r in results]):.0f} "
        f"steps; steps run median {np.median([r['nsteps'] for r in results]):.0f}; acceptance median "
        f"{np.median([r['acceptance'] for r in results]):.2f}")
    say("")
    say(f"    {'param':6s} {'in 68% interval':>16s} {'(converged only)':>17s} {'median |z|':>11s} {'|z|>3':>6s}")
    for name in PARAMS:
        inside = np.mean([r[name]["inside"] for r in results])
        inside_c = np.mean([r[name]["inside"] for r in conv]) if conv else float("nan")
        z = np.array([r[name]["z"] for r in results])
        say(f"    {LABELS[name]:6s} {inside:16.2f} {inside_c:17.2f} {np.median(z):11.2f} {int(np.sum(z > 3)):6d}")
    say("    (68 % interval = 16th-84th percentile; binomial 1-sigma spread of a fraction of "
        f"{n} at 0.68: +-{math.sqrt(0.68 * 0.32 / n):.2f})")
    say("")
    say("    per injection: i host SNR converged tau  z(P) z(T0) z(k) z(a/R*) z(b) z(T14)")
    for r in results:
        say(f"    {r['i']:3d} {r['host']:26s} {r['snr']:5.1f} {str(r['converged']):5s} {r['tau']:6.0f} "
            + " ".join(f"{r[name]['z']:5.2f}" for name in PARAMS))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transit_fit.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
