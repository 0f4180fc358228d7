"""How the cost of the transit search grows with the number of points and the time span.

Ours (``astrotinyml.search``), TLS 2.0.4 and astropy ``BoxLeastSquares`` on the same real
Kepler long-cadence light curve, detrended once with ``astrotinyml.detrend``, in one run:

* span sweep: the first S days of a full-mission file (S = 10 ... 1,470 d; N grows with S);
* N sweep: the full span (~1,470 d) with N points drawn at random (1k ... 65k), so
  the period grid stays the same and only N changes.

For each method the time of ONE spectrum + best peak is measured: ours
``search(max_planets=1, single_events=False)`` (default grid and options otherwise;
``n_threads`` as given), TLS ``power(use_threads=...)`` with its default grids, astropy
``BoxLeastSquares.power`` on our full period grid with 7 durations (0.04-0.33 d).  The
exponents are least-squares fits of ``log t = a + b log x`` over the points each method
ran on.  TLS and astropy are skipped above ``--max-cost`` point-days (N x span); their
cost there is what the fit extrapolates.

``--full`` adds the full-mission table: default ``search()`` (all iterations, single
events) against TLS (one run) and astropy BLS on 2-3 whole files; TLS takes minutes per
file.

Times are CPU seconds (user + system, this process and its finished children: TLS
computes in a worker pool), i.e. the work done, because the machine this was written on
is shared by several jobs and wall-clock times there mostly measure the load (printed).
With ``--threads 1`` (default) everyone runs on one core; the wall time on ``k`` idle
cores is about CPU / k for ours (blocks of trial periods are independent).

Usage::

    nice python benchmarks/search_scaling.py [--threads 2] [--max-cost 3e6] [--full]
    nice python benchmarks/search_scaling.py --sweeps none --full --full-skip-astropy \
        --full-names kepler_EB-anon12_Q0-Q17_conor-or.npy    # ours vs TLS on one file
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FULL_FILES = ("kepler_EB-anon12_Q0-Q17_conor-or.npy", "kepler_EB-anon29_Q0-Q17_conor-or.npy",
              "kepler_EB-anon49_Q0-Q17_conor-or.npy")


def load_flat(name, directory=None):
    from astrotinyml.detrending import detrend

    rows = {r["file"]: r for r in _corpus.manifest()}
    path = (directory or _corpus.CORPUS) / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lc = _corpus.load(path, rows.get(name, {}))
        flat = detrend(lc)
    t = np.asarray(flat.time.value, dtype=float)
    y = np.asarray(flat.flux.value, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    return t[ok], y[ok]


def cpu_now():
    """CPU seconds of this process and its finished children (TLS's worker pool)."""
    import resource

    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def to_lc(t, y):
    import lightkurve as lk

    return lk.LightCurve(time=t, flux=y)


def time_ours(t, y, threads, meta=None, **kw):
    import time

    from astrotinyml.searching import search

    lc = to_lc(t, y)
    t0, w0 = cpu_now(), time.perf_counter()
    res = search(lc, n_threads=threads, **kw)
    dt = cpu_now() - t0
    if meta is not None:
        meta.update(res.meta, wall_s=time.perf_counter() - w0)
    periodic = res[~res["single_event"]]
    return dt, [float(p) for p in periodic["pl_orbper"].value], res.meta["n_periods"]


def time_tls(t, y, threads):
    from transitleastsquares import transitleastsquares

    t0 = cpu_now()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = transitleastsquares(t, y).power(use_threads=threads, show_progress_bar=False,
                                            verbose=False)
    return cpu_now() - t0, float(r.period), float(r.SDE)


def time_astropy(t, y):
    from astropy.timeseries import BoxLeastSquares

    from astrotinyml.searching import DEFAULT_PERIOD_MIN, period_grid

    span = float(t.max() - t.min())
    periods = period_grid(baseline=span, period_min=DEFAULT_PERIOD_MIN, period_max=span / 2)
    durs = np.array([0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.33])
    durs = durs[durs < 0.9 * periods.min()]
    t0 = cpu_now()
    res = BoxLeastSquares(t, y).power(periods, durs, objective="likelihood")
    dt = cpu_now() - t0
    return dt, float(periods[int(np.argmax(res.power))])


def fit_exponent(x, tt):
    x, tt = np.asarray(x, float), np.asarray(tt, float)
    ok = np.isfinite(tt) & (tt > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(tt[ok]), 1)[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default=FULL_FILES[0], help="full-mission file of the sweeps")
    ap.add_argument("--threads", type=int, default=1, help="threads for ours and TLS")
    ap.add_argument("--max-cost", type=float, default=3e6,
                    help="skip TLS/astropy above this many point-days in the sweeps")
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--sweeps", default="span,npts", help="which sweeps (comma list)")
    ap.add_argument("--full", action="store_true", help="add the full-mission table")
    ap.add_argument("--full-files", type=int, default=2, help="files in the full table")
    ap.add_argument("--full-skip-astropy", action="store_true",
                    help="no astropy BLS in the full-mission table (~10 min a file)")
    ap.add_argument("--full-names", default=None,
                    help="comma list of full-mission files (default: the first --full-files); "
                         "'all': every .npy file of --full-dir")
    ap.add_argument("--full-dir", default=None,
                    help="folder of the full-mission files (default: the corpus; e.g. "
                         "../shared/data/more/kepler_EB_fullmission_conor-or for its 36 EBs)")
    ap.add_argument("--full-skip-tls", action="store_true",
                    help="full table without TLS (minutes per file)")
    ap.add_argument("--out", default=str(RESULTS / "search_scaling.txt"))
    args = ap.parse_args(argv)
    if not (_corpus.CORPUS / args.file).exists():
        print(f"{args.file} not found under {_corpus.CORPUS}; nothing to do")
        return 0
    lines = []

    def emit(s=""):
        print(s, flush=True)
        lines.append(s)

    emit(f"# search_scaling: {args.file}; threads={args.threads}; load average "
         f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; times in CPU s")
    t_all, y_all = load_flat(args.file)
    t_all = t_all - t_all.min()
    # warm the numba caches (compilation is not part of the cost curve)
    time_ours(t_all[:2000], y_all[:2000], args.threads, max_planets=1, single_events=False)

    sweeps = {"span": [], "npts": []}
    for span in (10, 30, 100, 300, 1000, float(t_all.max())):
        sel = t_all <= span
        sweeps["span"].append((float(span), t_all[sel], y_all[sel]))
    rng = np.random.default_rng(0)
    for n in (1000, 2000, 4000, 16000, t_all.size):
        idx = np.sort(rng.choice(t_all.size, size=min(n, t_all.size), replace=False))
        sweeps["npts"].append((float(idx.size), t_all[idx], y_all[idx]))

    for kind, cases in sweeps.items():
        if kind not in args.sweeps.split(","):
            continue
        emit()
        emit(f"## {kind} sweep")
        emit(f"{'N':>7s} {'span_d':>8s} {'n_per':>7s} {'ours':>8s} {'TLS':>8s} {'astropy':>8s} "
             f"{'ours/TLS':>8s} {'ours/apy':>8s}")
        xs, to, tt, ta = [], [], [], []
        for x, t, y in cases:
            span = float(t.max() - t.min())
            d_o, _, nper = time_ours(t, y, args.threads, max_planets=1, single_events=False)
            cheap = t.size * span <= args.max_cost
            d_t = float("nan")
            if cheap and not args.no_tls:
                try:
                    d_t = time_tls(t, y, args.threads)[0]
                except Exception as exc:  # TLS 2.0.4 fails on some sparse subsets
                    emit(f"  TLS failed on N={t.size}: {type(exc).__name__}: {exc}")
            d_a = time_astropy(t, y)[0] if cheap else float("nan")
            xs.append(x)
            to.append(d_o)
            tt.append(d_t)
            ta.append(d_a)
            emit(f"{t.size:7d} {span:8.1f} {nper:7d} {d_o:8.3f} {d_t:8.2f} {d_a:8.2f} "
                 f"{d_o / d_t:8.3f} {d_o / d_a:8.3f}")
        var = "span" if kind == "span" else "N"
        emit(f"exponent of t vs {var} (all points run): ours {fit_exponent(xs, to):.2f}, TLS "
             f"{fit_exponent(xs, tt):.2f}, astropy {fit_exponent(xs, ta):.2f}"
             f"{'  (TLS/astropy only where run)' if np.isnan(tt).any() else ''}")
        # the smallest cases are dominated by fixed costs: fit the three largest run too
        last3 = lambda v: [a for a, b in zip(xs, v) if np.isfinite(b)][-3:]  # noqa: E731
        vals3 = lambda v: [b for b in v if np.isfinite(b)][-3:]  # noqa: E731
        emit(f"exponent over the three largest cases each ran: ours "
             f"{fit_exponent(last3(to), vals3(to)):.2f}, TLS {fit_exponent(last3(tt), vals3(tt)):.2f}, "
             f"astropy {fit_exponent(last3(ta), vals3(ta)):.2f}")

    if args.full:
        emit()
        emit("## full-mission files: default search() (all iterations) vs TLS (one run) "
             "vs astropy BLS (our grid)")
        emit("# ours: CPU s of search() on --threads threads, its wall s and spectra computed "
             "(load printed per row); TLS: CPU s of power(use_threads=--threads)")
        emit(f"{'file':40s} {'N':>6s} {'span':>7s} {'ours':>7s} {'wall':>6s} {'spec':>4s} "
             f"{'TLS':>7s} {'astropy':>7s} {'ours/TLS':>8s} {'load':>5s}  periods ours ; TLS")
        full_dir = Path(args.full_dir) if args.full_dir else _corpus.CORPUS
        if args.full_names == "all":
            names = sorted(p.name for p in full_dir.glob("*.npy"))
        else:
            names = (args.full_names.split(",") if args.full_names
                     else FULL_FILES[: args.full_files])
        walls = []
        for name in names:
            t, y = load_flat(name, full_dir)
            meta = {}
            load = os.getloadavg()[0]
            d_o, per, _ = time_ours(t, y, args.threads, meta=meta)
            d_t, p_t, sde_t = (time_tls(t, y, args.threads)
                               if not (args.no_tls or args.full_skip_tls)
                               else (float("nan"),) * 3)
            d_a = time_astropy(t, y)[0] if not args.full_skip_astropy else float("nan")
            emit(f"{name[:40]:40s} {t.size:6d} {t.max() - t.min():7.1f} {d_o:7.2f} "
                 f"{meta['wall_s']:6.1f} {meta['n_spectra']:4d} {d_t:7.1f} "
                 f"{d_a:7.1f} {d_o / d_t:8.3f} {load:5.1f}  {','.join(f'{p:.4f}' for p in per)} ; "
                 f"{p_t:.4f} (SDE {sde_t:.1f})")
            walls.append(meta["wall_s"])
        if walls:
            w = np.asarray(walls)
            emit(f"# {w.size} files: wall median {np.median(w):.1f} s, max {w.max():.1f} s, "
                 f"{int((w > 10).sum())} over 10 s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
