"""How pre-whitening moves the shipped classifier's labels on the real labelled corpus.

    .venv/bin/python benchmarks/prewhiten_labels.py [--workers 2] [--out PATH]

``detect(prewhiten=True)`` (the default since session 8) and ``detect(prewhiten=False)`` on
every file of the corpus manifests (``../shared/data/lightcurves`` and ``../shared/data/more``,
read as :func:`astrotinyml.training.real.labelled_stars_from_manifest` reads them, cut to the
training's first ``MAX_SPAN_DAYS`` days).  Each candidate is matched to a catalogued signal
of its star (period within 1 %, or 2x / 0.5x: ``-harm``); on stars without catalogued signals
(variable and quiet stars) every candidate takes the star's class; on other stars an
unmatched candidate is ``unmatched``.  The table counts candidates by (truth, labelled
planet or not) for both settings and lists the files whose planet-labelled signals differ.

The shipped model was trained on these stars, so both columns are in-sample: the table
shows whether pre-whitening shifts the labels, not how well the model generalises (that is
``model_eval.py``'s out-of-fold section, after a retrain).
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

RESULT = Path(__file__).resolve().parent / "results" / "prewhiten_labels.txt"


def _jobs():
    from astrotinyml.training.real import labelled_stars_from_manifest

    root = _corpus.CORPUS.parent
    jobs = []
    for man in sorted(root.rglob("MANIFEST.csv")):
        for star in labelled_stars_from_manifest(man):
            for f in star.files:
                p = Path(f) if Path(f).is_absolute() else man.parent / f
                jobs.append((str(p), star.time_format, star.star_class,
                             [(s.period, s.label) for s in star.signals]))
    return jobs


def _one(job):
    """(file, star class, signals, {prewhiten: [(period, label)] or error text})."""
    import logging

    from astrotinyml import detect
    from astrotinyml.io import read_lightcurve
    from astrotinyml.training.real import MAX_SPAN_DAYS

    logging.disable(logging.WARNING)
    path, time_format, star_class, signals = job
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lc = read_lightcurve(path, time_format=time_format)
            t = np.asarray(lc.time.jd, float)
            if t.size and t[-1] - t[0] > MAX_SPAN_DAYS:
                lc = lc[t < t[0] + MAX_SPAN_DAYS]
            for pw in (False, True):
                c = detect(lc, prewhiten=pw).candidates
                out[pw] = [(float(np.asarray(getattr(p, "value", p))), str(lab))
                           for p, lab in zip(c["pl_orbper"], c["label"])]
        except Exception as exc:  # a bad file is reported, the run goes on
            out = f"{type(exc).__name__}: {exc}"
    return Path(path).name, star_class, signals, out


def truth(star_class, signals, period):
    """The class a candidate at ``period`` stands for (see the module docstring)."""
    if not math.isfinite(period):
        return "single"
    for p, label in signals:
        for f, tag in ((1.0, ""), (2.0, "-harm"), (0.5, "-harm")):
            if abs(period / (p * f) - 1) < 0.01:
                return label + tag
    return star_class if not signals else "unmatched"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULT)
    args = ap.parse_args(argv)
    jobs = _jobs()
    if not jobs:
        print(f"corpus not found at {_corpus.CORPUS}; nothing to do")
        return 0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_one, jobs))
    lines = [f"# prewhiten_labels: {len(jobs)} labelled files of the corpus manifests, detect() with and "
             f"without pre-whitening, shipped model; {time.perf_counter() - t0:.0f} s"]
    counts = {False: collections.Counter(), True: collections.Counter()}
    errors = [f"{name}: {res}" for name, _, _, res in results if isinstance(res, str)]
    changed = []
    for name, cls, sig, res in results:
        if isinstance(res, str):
            continue
        planet = {}
        for pw in (False, True):
            for p, lab in res[pw]:
                counts[pw][(truth(cls, sig, p), lab == "planet")] += 1
            planet[pw] = sorted((round(p, 3) if math.isfinite(p) else "single", truth(cls, sig, p))
                                for p, lab in res[pw] if lab == "planet")
        if planet[False] != planet[True]:
            changed.append(f"  {name[:52]:52s} {cls:12s} labelled planet without: {planet[False]}  with: {planet[True]}")
    lines.append(f"{'truth':16s} {'label':10s} {'no prewhiten':>12s} {'prewhiten':>10s}")
    for key in sorted(set(counts[False]) | set(counts[True])):
        lines.append(f"{key[0]:16s} {'planet' if key[1] else 'other':10s} {counts[False][key]:12d} {counts[True][key]:10d}")
    for pw in (False, True):
        fp = sum(n for (tr, pl), n in counts[pw].items() if pl and not tr.startswith("planet"))
        tp = sum(n for (tr, pl), n in counts[pw].items() if pl and tr == "planet")
        lines.append(f"prewhiten={pw}: catalogued planets labelled planet {tp}; other signals labelled planet {fp}")
    lines.append("files whose planet-labelled signals differ:")
    lines += changed or ["  none"]
    lines.append(f"errors ({len(errors)}):")
    lines += [f"  {e}" for e in errors] or ["  none"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
