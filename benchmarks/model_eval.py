"""Evaluate the classifier: simulated test split, real stars out of fold, host throughput.

    .venv/bin/python benchmarks/model_eval.py [--model-dir DIR] [--skip-sim]

1. Held-out simulated test split (the registry's dataset and split seed): confusion
   matrix, per-class recall, planet-vs-rest AUC, float32 and int8.
2. Real stars, **out of fold**: the predictions ``astrotinyml train`` made in its
   star-grouped cross-validation (``real_out_of_fold.npz`` beside the model: for every real
   example, the int8 model trained without that star).  Labels and ephemerides come from the
   corpus manifests (../shared/data/lightcurves and ../shared/data/more) and the Exoplanet
   Archive; see :mod:`astrotinyml.training.real`.  Per subset: planet recall, share of
   eclipsing-binary / false-positive signals not called planet, AUC, the nested out-of-fold
   calibration (ECE, ``unknown`` threshold), and every real example the model gets wrong.
3. Throughput of the int8 model with LiteRT on one thread (views per second).

Output: printed tables, also written to benchmarks/results/model_eval.txt (+ .json).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"


def _fmt_cm(cm, classes):
    w = max(len(c) for c in classes) + 2
    lines = [" " * w + "".join(f"{c[:6]:>8}" for c in classes) + "   <- predicted"]
    for c, row in zip(classes, cm):
        lines.append(f"{c:<{w}}" + "".join(f"{x:>8d}" for x in row))
    return "\n".join(lines)


def simulated_split(model_f, model_i, entry):
    from astrotinyml.training.metrics import summarize
    from astrotinyml.modelspec import preprocess
    from astrotinyml.training.train import split_indices
    from astrotinyml.training.dataset import build_dataset, concat_datasets, load_dataset

    td = entry["training_data"]
    from astrotinyml.config import cache_dir

    # Names in the cache's datasets/ directory (absolute paths in registries before 0.1.x).
    files = [f if Path(f).is_absolute() else str(cache_dir(create=False) / "datasets" / f)
             for f in td.get("dataset_files") or []]
    if files and all(Path(f).exists() for f in files):
        ds = concat_datasets([load_dataset(f) for f in files])
    else:
        parts = []
        for info in td.get("parts", [td]):
            cfg = info["config"]
            print(f"(dataset part not in the cache: rebuilding with seed {cfg['seed']} - slow)")
            parts.append(build_dataset(
                counts=cfg["counts"], n_real_natural=cfg["n_real_natural"], long_counts=cfg.get("long_counts"),
                seed=cfg["seed"], real_fraction=cfg["real_fraction"],
                backgrounds=[(b[0], b[1], tuple(tuple(x) for x in b[2])) for b in cfg["backgrounds"]],
                background_root=REPO))
        ds = concat_datasets(parts)
    split = split_indices(ds.labels, entry["seed"])
    te = split["test"]
    x = {k: v[te] for k, v in preprocess(ds.arrays, entry["input_spec"]).items()}
    y = ds.labels[te]
    classes = entry["classes"]
    out = {}
    for name, m in (("float32", model_f), ("int8", model_i)):
        out[name] = summarize(y, m.predict_inputs(x), classes)
    # recall by subtype / mode for the int8 model (where it fails)
    p = model_i.predict_inputs(x).argmax(axis=1)
    by = {}
    for key in ("subtype", "mode", "background_kind"):
        groups = {}
        for j, i in enumerate(te):
            meta = ds.meta[i]
            g = f"{classes[y[j]]}:{meta.get(key)}"
            groups.setdefault(g, []).append(p[j] == y[j])
        by[key] = {g: (len(v), round(float(np.mean(v)), 3)) for g, v in sorted(groups.items())}
    out["by"] = by
    # An operating point chosen out of sample, on the *validation* split's simulated EBs: the
    # lowest p_planet threshold that keeps <= 10 % of them, to be applied to the real corpus.
    va = split["val"]
    xv = {k: v[va] for k, v in preprocess(ds.arrays, entry["input_spec"]).items()}
    ieb, ipl = classes.index("eb"), classes.index("planet")
    pe = np.sort(model_i.predict_inputs(xv)[ds.labels[va] == ieb, ipl])[::-1]
    k = int(np.floor(0.1 * len(pe)))
    # Rounded up, so that rounding cannot let more than 10 % of them through.
    out["sim_val_eb90_threshold"] = math.ceil(float(np.nextafter(pe[k], 1.0)) * 1e4) / 1e4 if len(pe) else None
    out["sim_val_n_eb"] = int(len(pe))
    return out


def real_out_of_fold(model_dir: Path, classes):
    """The cross-validation predictions saved by training, with their summary."""
    from astrotinyml.training.metrics import real_summary

    path = model_dir / "real_out_of_fold.npz"
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        fold, P, y = z["fold"], z["int8"], z["labels"]
        meta = json.loads(str(z["meta"]))
    summ = real_summary(meta, y, P, fold)
    wrong = []
    for i, m in enumerate(meta):
        pred = int(np.argmax(P[i]))
        if pred == 0 and m.get("not_planet_physics"):
            pred = 1
        if (pred == 0) != (y[i] == 0):
            wrong.append(dict(target=m.get("target"), file=(m.get("files") or [""])[0], truth=classes[int(y[i])],
                              predicted=classes[pred], p_planet=round(float(P[i, 0]), 3), mode=m.get("mode"),
                              period=m.get("period"), depth_ppm=m.get("depth_ppm"), vet_snr=m.get("vet_snr"),
                              flags=m.get("vet_flags"), fold=int(fold[i])))
    return dict(summary=summ, wrong=wrong, n=int(len(y)), n_stars=len({m["group"] for m in meta}))


def throughput(model_i, n=2000):
    rng = np.random.default_rng(0)
    spec = model_i.spec["inputs"]
    x = {k: rng.normal(size=(n, *v["shape"])).astype(np.float32) for k, v in spec.items()}
    model_i.predict_inputs({k: v[:10] for k, v in x.items()})
    out = {}
    for bs in (1, 256):
        t = time.perf_counter()
        model_i.predict_inputs(x, batch_size=bs)
        out[f"batch{bs}"] = round(n / (time.perf_counter() - t), 1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--model-dir", default=None, help="evaluate this model directory instead of the shipped one "
                                                      "(results then go to --results)")
    ap.add_argument("--results", default=None, help="directory for model_eval.txt/.json (default benchmarks/results)")
    args = ap.parse_args(argv)
    global RESULTS
    if args.results:
        RESULTS = Path(args.results)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from astrotinyml.classification import MODELS_DIR, load_model

    mf = load_model(variant="float32", path=args.model_dir)
    mi = load_model(variant="int8", path=args.model_dir)
    entry = mi.registry
    classes = list(mi.classes)
    buf = io.StringIO()
    report: dict = {"model": entry["name"], "sha256_int8": mi.sha256}
    with redirect_stdout(buf):
        print(f"# model_eval: {entry['name']}  int8 sha256 {mi.sha256[:16]}...  "
              f"({time.strftime('%Y-%m-%d %H:%M')})\n")
        print(f"params {entry['params']}, MACs {entry['macs']}, int8 {entry['files']['int8']['bytes']} B, "
              f"float {entry['files']['float32']['bytes']} B, arena ~{entry['arena']['arena_bytes']} B\n")
        if not args.skip_sim:
            sim = simulated_split(mf, mi, entry)
            report["simulated_test"] = sim
            print("## Simulated held-out test split\n")
            for name in ("float32", "int8"):
                s = sim[name]
                print(f"### {name}: n={s['n']}, accuracy {s['accuracy']:.3f}, planet-vs-rest AUC {s['planet_auc']:.4f}")
                print(_fmt_cm(np.array(s["confusion"]), classes))
                print("recall: " + ", ".join(f"{k} {v}" for k, v in s["recall"].items()) + "\n")
            print(f"int8 AUC loss: {sim['float32']['planet_auc'] - sim['int8']['planet_auc']:+.4f}\n")
            print(f"p_planet threshold rejecting 90 % of the validation split's simulated EBs (n={sim['sim_val_n_eb']}, "
                  f"int8): {sim['sim_val_eb90_threshold']}\n")
            print("int8 recall by subtype (n, recall):")
            for g, (n, rr) in sim["by"]["subtype"].items():
                print(f"  {g:<34} {n:>4} {rr:.3f}")
            print("int8 recall by ephemeris mode:")
            for g, (n, rr) in sim["by"]["mode"].items():
                print(f"  {g:<34} {n:>4} {rr:.3f}")
            print()
    sys.stdout.write(buf.getvalue())
    buf2 = io.StringIO()
    model_dir = Path(args.model_dir) if args.model_dir else MODELS_DIR
    oof = real_out_of_fold(model_dir, classes)
    with redirect_stdout(buf2):
        if oof is None:
            print(f"(no real_out_of_fold.npz in {model_dir}: the model was trained without real examples)\n")
        else:
            report["real_out_of_fold"] = oof
            summ = oof["summary"]
            print(f"## Real stars, out of fold ({oof['n']} signals of {oof['n_stars']} stars; "
                  f"{entry.get('metrics', {}).get('real_out_of_fold', {}).get('folds', '?')} folds grouped by star)\n")
            cols = ("n_planets", "n_non_planets", "planet_recall", "non_planets_not_planet", "eb_not_planet", "auc",
                    "auc_with_veto", "calibrated_planet_recall", "calibrated_non_planets_not_planet",
                    "calibrated_planet_precision", "calibrated_unknown")
            print(f"{'subset':<30}" + "".join(f"{c[:14]:>15}" for c in cols))
            for name, d in summ["subsets"].items():
                print(f"{name:<30}" + "".join(f"{str(d.get(c)):>15}" for c in cols))
            c = summ["calibration"]
            print(f"\ncalibration (nested out of fold): temperature {c['temperature']}, unknown threshold "
                  f"{c['threshold']} (target precision {c['target_precision']}, reached {c['reached']}), "
                  f"ECE {c['ece_out_of_fold_before']} -> {c['ece_out_of_fold_after']}; thresholds by fold "
                  f"{c['threshold_by_fold']}")
            print(f"physics veto: {summ['n_vetoed']} signals (of them true planets: {summ['n_vetoed_planets']})\n")
            print("### planet / not-planet mistakes (int8 argmax, physics veto applied)")
            print(f"{'target':<28} {'truth':<13} {'pred':<13} {'p_pl':>5} {'mode':<10} {'P[d]':>9} "
                  f"{'depth':>8} {'snr':>6} flags")
            for w in oof["wrong"]:
                print(f"{str(w['target'])[:28]:<28} {w['truth']:<13} {w['predicted']:<13} {w['p_planet']:>5.2f} "
                      f"{str(w['mode']):<10} {w['period'] or float('nan'):>9.4f} {w['depth_ppm'] or float('nan'):>8.0f} "
                      f"{w['vet_snr'] or float('nan'):>6.1f} {w['flags']}")
            print()
    tp = throughput(mi)
    report["throughput_views_per_s_one_thread"] = tp
    with redirect_stdout(buf2):
        print(f"## Host throughput (int8, LiteRT, 1 thread): batch 1: {tp['batch1']} views/s, "
              f"batch 256: {tp['batch256']} views/s\n")
    sys.stdout.write(buf2.getvalue())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "model_eval.txt").write_text(buf.getvalue() + buf2.getvalue())
    (RESULTS / "model_eval.json").write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
