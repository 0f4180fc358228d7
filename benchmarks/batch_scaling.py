"""Throughput of run_batch with 1 and 2 Dask worker processes on the real corpus.

Usage::

    python benchmarks/batch_scaling.py [--workers 1 2] [--repeats 2] [--max-cadences 50000]

What it does
------------
* Light curves: ``../shared/data/lightcurves`` (real corpus, MANIFEST.csv) when present, else
  the bundled ones (``tests/data`` + ``astrotinyml/data``).  Files with more than
  ``--max-cadences`` cadences (the three full-mission Kepler arrays, ~65k cadences and 60-85 s
  each, and the six-sector pi Men file) are left out by default: with ~70 targets, three
  80-second ones decide the makespan and the measurement would be of load balance, not of
  throughput.  The full corpus run is a separate measurement (see the closing note).
* For each worker count, repeated ``--repeats`` times in alternation (1, 2, 1, 2, ...) so a
  change of machine load hits both: start a LocalCluster of N single-threaded worker
  processes, warm every worker up (imports, numba caches: one small detect()), then time
  ``run_batch(files, client=..., resume=False)`` into a fresh directory (reports: JSON + CSV).
  targets/s = targets / wall-clock of run_batch (cluster start and warm-up excluded; they are
  reported separately).
* The load average (``os.getloadavg``) before and after each run is printed: on a shared
  machine other processes take cores and the ratio drops below what the code allows.
* Extrapolation to a full TESS sector (~20,000 2-min targets): the per-target time of the
  single-sector 2-min TESS light curves (median task time: read + detect + reports) from the
  1-worker runs, divided by N cores x the parallel efficiency measured here (speed-up / 2).

* The benchmark of record (issue #19) is the line ``BENCHMARK OF RECORD``, measured first, in
  this process (warm): the median process CPU seconds (all threads, numba's parallel kernels
  included) per 2-min single-sector TESS target for what a batch task does (read + detect +
  JSON/CSV reports + saved result), against the 0.4 s target.  ``--record-only`` runs just it.
  (``run_batch``'s own ``cpu_s`` is the task thread's CPU and leaves numba's threads out.)

Writes the table to stdout and to ``benchmarks/results/batch_scaling.txt``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CORPUS = Path(os.environ.get("ASTROTINYML_SHARED_DATA", REPO.parent / "shared" / "data")) / "lightcurves"
RESULT = REPO / "benchmarks" / "results" / "batch_scaling.txt"
SECTOR_TARGETS = 20_000
CORES = (2, 16, 64, 256)


def corpus(max_cadences: int) -> tuple[list[Path], list[Path], str, list[str]]:
    """(files, 2-min single-sector TESS files, description, left-out names)."""
    manifest = CORPUS / "MANIFEST.csv"
    if manifest.exists():
        rows = list(csv.DictReader(open(manifest, newline="")))
        files, tess2, left = [], [], []
        for r in rows:
            path = CORPUS / r["file"]
            if not path.exists():
                continue
            if int(r["n_cadences"] or 0) > max_cadences:
                left.append(f"{r['file']} ({r['n_cadences']} cadences)")
                continue
            files.append(path)
            if (r["mission"] == "TESS" and r["cadence"].startswith("2 min")
                    and ";" not in r["quarter_or_sector"] and "year" not in r["file"]):
                tess2.append(path)
        return files, tess2, f"real corpus {CORPUS} ({len(rows)} files)", left
    from astrotinyml.io.read import LIGHTCURVE_SUFFIXES

    files = sorted(p for d in (REPO / "tests" / "data", REPO / "astrotinyml" / "data") for p in d.iterdir()
                   if p.is_file() and p.suffix.lower() in LIGHTCURVE_SUFFIXES
                   and not p.name.lower().startswith("manifest"))
    tess2 = [p for p in files if p.name.startswith("tess_") and "2min" in p.name]
    return files, tess2, "bundled light curves (tests/data + astrotinyml/data)", []


def _warm() -> float:
    """Import everything and compile/load numba code once in this worker."""
    import warnings

    t = time.perf_counter()
    from astrotinyml import datasets, detect
    from astrotinyml.report import write_report  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detect(datasets.sample_path("wasp-18"), max_planets=1)
    return time.perf_counter() - t


def _cpu() -> float:
    return time.process_time()


def measure(files, n_workers: int) -> dict:
    from dask.distributed import Client, LocalCluster

    from astrotinyml.apps.batch import run_batch

    t = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    start_s = time.perf_counter() - t
    t = time.perf_counter()
    warm = client.run(_warm)
    warm_s = time.perf_counter() - t
    try:
        with tempfile.TemporaryDirectory(prefix="atml-batch-bench-") as tmp:
            load0 = os.getloadavg()[0]
            cpu0 = client.run(_cpu)
            res = run_batch([str(f) for f in files], out_dir=Path(tmp) / "out", client=client,
                            resume=False, progress=False, formats=("json", "csv"))
            cpu1 = client.run(_cpu)
            load1 = os.getloadavg()[0]
    finally:
        client.close()
        cluster.close()
    wall = res.elapsed - res.startup
    status = res.status
    cpu = sum(cpu1[w] - cpu0[w] for w in cpu1 if w in cpu0)
    share = cpu / (wall * n_workers)  # fraction of its cores the batch got (rest: other load, waits)
    return dict(workers=n_workers, wall=wall, rate=res.n_targets / wall, n=res.n_targets,
                ok=res.n_ok, failed=res.n_failed, start_s=start_s, warm_s=warm_s,
                warm_per_worker=sorted(warm.values()), load0=load0, load1=load1,
                task_s={Path(s).name: float(t) for s, t in zip(status["source"], status["task_s"])},
                cpu_s={Path(s).name: float(t) for s, t in zip(status["source"], status["cpu_s"])},
                busy=float(sum(status["task_s"])) / (wall * n_workers), cpu_share=share,
                cpu_rate=res.n_targets / cpu)


def record(tess2, repeats: int) -> list[float]:
    """Process CPU seconds (every thread: numba's parallel kernels included) of each 2-min TESS
    target, read + detect + JSON/CSV reports + saved result (what one batch task does), in this
    warm process; ``repeats`` passes over the files."""
    import warnings

    from astrotinyml import detect
    from astrotinyml.report import write_report

    _warm()
    out = []
    with tempfile.TemporaryDirectory(prefix="atml-record-") as tmp:
        for _ in range(repeats):
            for p in tess2:
                c0 = time.process_time()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = detect(str(p))
                    write_report(res, Path(tmp) / p.stem, formats=("json", "csv"), overwrite=True,
                                 save_result=True)
                out.append(time.process_time() - c0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-cadences", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=RESULT)
    ap.add_argument("--record-only", action="store_true",
                    help="only the benchmark of record (TESS 2-min CPU per target), no Dask runs")
    args = ap.parse_args(argv)

    files, tess2, described, left = corpus(args.max_cadences)
    lines: list[str] = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    import platform

    import dask

    from astrotinyml import __version__

    say(f"astrotinyml {__version__} run_batch scaling  ({time.strftime('%Y-%m-%d %H:%M %Z')})")
    say(f"machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, dask {dask.__version__}")
    say(f"data: {described}; {len(files)} targets used (<= {args.max_cadences} cadences)")
    if left:
        say(f"left out ({len(left)}): " + "; ".join(left))
    say(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say()
    rec = record(tess2, args.repeats) if tess2 else []
    if rec:
        per = statistics.median(rec)
        # The benchmark of record (issue #19: a TESS 2-min sector, read -> reports, median
        # <= 0.4 s CPU), stated against its target.
        say(f"BENCHMARK OF RECORD: TESS 2-min single-sector light curve, read + detect + JSON/CSV reports "
            f"(+ saved result, as a batch task), median process CPU per target {per:.2f} s "
            f"(range {min(rec):.2f}-{max(rec):.2f} s; {len(tess2)} files x {args.repeats} pass(es), warm "
            f"process, all threads); target <= 0.40 s: {'met' if per <= 0.4 else 'MISSED'}")
        say(f"  (load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
        say()
    if args.record_only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        print(f"\nwritten to {args.out}")
        return 0
    say("run  workers  targets  ok  failed  wall[s]  targets/s  busy  cpu share  targets/cpu-s  "
        "load(before->after)  cluster start[s]  worker warm-up[s]")
    runs = []
    for rep in range(args.repeats):
        for n in args.workers:
            r = measure(files, n)
            runs.append(r)
            say(f"{len(runs):>3}  {n:>7}  {r['n']:>7}  {r['ok']:>2}  {r['failed']:>6}  {r['wall']:>7.1f}  "
                f"{r['rate']:>9.3f}  {r['busy']:.2f}  {r['cpu_share']:>9.2f}  {r['cpu_rate']:>13.3f}  "
                f"{r['load0']:>5.2f} -> {r['load1']:<5.2f}      "
                f"{r['start_s']:>6.1f}          {' '.join(f'{w:.1f}' for w in r['warm_per_worker'])}")
    say()
    say("busy      = sum of task wall times / (wall x workers): below 1 means workers sat idle")
    say("            (load balance at the end, scheduling).")
    say("cpu share = CPU seconds of the worker processes / (wall x workers): below 1 means the")
    say("            workers were runnable but the cores were busy with other processes (or I/O).")
    say("targets/cpu-s: throughput per CPU second actually received; equal for 1 and 2 workers")
    say("            when the code itself scales (no contention between workers inside the batch).")
    best = {n: max(r["rate"] for r in runs if r["workers"] == n) for n in args.workers}
    med = {n: statistics.median(r["rate"] for r in runs if r["workers"] == n) for n in args.workers}
    say()
    for n in args.workers:
        say(f"{n} worker(s): best {best[n]:.3f} targets/s, median {med[n]:.3f} targets/s")
    eff = idle_eff = None
    if 1 in best and 2 in best:
        ratio_best = best[2] / best[1]
        ratio_med = med[2] / med[1]
        pairs = [b["rate"] / a["rate"] for a, b in zip([r for r in runs if r["workers"] == 1],
                                                      [r for r in runs if r["workers"] == 2])]
        say(f"speed-up 2 vs 1 workers: best/best {ratio_best:.2f}x, median/median {ratio_med:.2f}x, "
            f"per repeat {', '.join(f'{p:.2f}x' for p in pairs)}  (goal >= 1.8x)")
        cpu1 = statistics.median(r["cpu_rate"] for r in runs if r["workers"] == 1)
        cpu2 = statistics.median(r["cpu_rate"] for r in runs if r["workers"] == 2)
        share = {n: statistics.median(r["cpu_share"] for r in runs if r["workers"] == n) for n in (1, 2)}
        say(f"per CPU-second received: {cpu1:.3f} (1 worker) vs {cpu2:.3f} (2 workers) targets/cpu-s; "
            f"cpu share {share[1]:.2f} vs {share[2]:.2f}")
        busy = {n: statistics.median(r["busy"] for r in runs if r["workers"] == n) for n in (1, 2)}
        idle_eff = min(1.0, (cpu2 / cpu1) * (busy[2] / busy[1]))
        say(f"speed-up expected on an otherwise idle machine (2 x cpu-rate ratio x busy ratio): "
            f"{2 * idle_eff:.2f}x")
        eff = min(1.0, ratio_med / 2)

    one = [r for r in runs if r["workers"] == min(args.workers)]
    t2 = [r["task_s"][p.name] for r in one for p in tess2 if p.name in r["task_s"]]
    c2 = [r["cpu_s"][p.name] for r in one for p in tess2 if p.name in r["cpu_s"]]
    say()
    if t2:
        per = statistics.median(c2)
        say(f"2-min TESS single-sector light curves ({len(tess2)} files), per run_batch task (read + detect + "
            f"JSON/CSV reports): median CPU of the task's thread {per:.2f} s (range {min(c2):.2f}-{max(c2):.2f} s;")
        say("numba's parallel kernel threads are not counted there: the benchmark of record above counts them);")
        say(f"median wall time on this loaded machine {statistics.median(t2):.2f} s.  The task-thread CPU")
        say("time is used below.")
        say()
    if t2 and eff:
        say(f"Extrapolation to a full TESS sector ({SECTOR_TARGETS:,} 2-min targets), one worker per core:")
        say(f"  @measured: parallel efficiency {eff:.2f} = median 2-worker speed-up / 2 measured here (loaded machine);")
        if idle_eff:
            say(f"  @idle:     efficiency {idle_eff:.2f} = per-CPU-second throughput of 2 workers vs 1 (what the")
            say("             code loses to running two workers side by side; the idle-machine estimate);")
        say("  @ideal:    efficiency 1.")
        say()
        say("  cores   hours @measured   hours @idle   hours @ideal")
        for n in CORES:
            h = SECTOR_TARGETS * per / n / 3600
            say(f"  {n:>5}   {h / eff:>15.2f}   {h / (idle_eff or 1):>11.2f}   {h:>12.2f}")
        say()
        say("Assumes cores as fast as these, data already on a file system every worker reads")
        say("(~2 MB per 2-min light curve: 40 GB per sector; at 256 cores that is ~1 GB/min of reads),")
        say("and no PDF reports (about +1 s per target).  Efficiency at 16-256 cores is not measured")
        say("here (2 cores only); Dask's per-task overhead (~1 ms on the scheduler) is negligible next")
        say("to ~1 s tasks up to a few thousand workers.  Each worker also pays a one-off warm-up")
        say("(imports, numba caches; shown above).")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
