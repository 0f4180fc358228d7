"""Calibration on the real corpus: fit the shipped default and measure the full corpus.

    python benchmarks/calibrate_corpus.py --write-default   # refit astrotinyml/models/calibration.json
    python benchmarks/calibrate_corpus.py --corpus ../shared/data/lightcurves
    python benchmarks/calibrate_corpus.py --probabilities-from astrotinyml/models --write-default

The last form keeps the shipped detection-level calibration (depth/duration corrections,
recovery fits: they do not depend on the classifier) and replaces the probability calibration
by the one ``astrotinyml train`` fitted on its out-of-fold predictions of the real stars (the
stars of the bundled references were trained on, so a probability calibration fitted on them
would be in sample).

The shipped default is fitted on what a fresh clone holds: the bundled light curves
(astrotinyml/data) and tests/data, each with its MANIFEST (labels, known periods/epochs, sha256).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-default", action="store_true", help="write astrotinyml/models/calibration.json")
    ap.add_argument("--corpus", nargs="*", default=None, help="MANIFEST directories (default: bundled + tests/data)")
    ap.add_argument("--json", help="also write the full calibration JSON here")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--probabilities-from", default=None, metavar="MODEL_DIR",
                    help="take the probability calibration from this model directory's out-of-fold fit")
    ap.add_argument("--skip", nargs="*", default=["conor-or.npy"],
                    help="skip files whose name contains one of these (default: the three 1470-d Kepler EB arrays, "
                         "minutes of search each)")
    args = ap.parse_args(argv)
    import os

    os.environ.setdefault("ASTROTINYML_OFFLINE", "1")
    warnings.simplefilter("ignore")
    from astrotinyml.calibration import DEFAULT_CALIBRATION_PATH, reference_set
    from astrotinyml.calibration.fit import calibrate

    if args.probabilities_from:
        from astrotinyml.calibration import default_calibration, with_probability_calibration

        reg = json.loads((Path(args.probabilities_from) / "registry.json").read_text())
        entry = reg["models"][reg["default"]]
        oof = entry["metrics"]["real_out_of_fold"]["int8"]["calibration"]
        cal = with_probability_calibration(
            default_calibration(), temperature=oof["temperature"], threshold=oof["threshold"],
            model_sha256=entry["files"]["int8"]["sha256"],
            metrics=dict(prob_ece_before=oof["ece_out_of_fold_before"], prob_ece_after=oof["ece_out_of_fold_after"],
                         prob_threshold=oof["threshold"],
                         prob_precision_at_threshold=entry["metrics"]["real_out_of_fold"]["int8"]["subsets"]["all"][
                             "calibrated_planet_precision"],
                         prob_recall_at_threshold=entry["metrics"]["real_out_of_fold"]["int8"]["subsets"]["all"][
                             "calibrated_planet_recall"]),
            note=(f"astrotinyml train: temperature and threshold (planet precision {oof['target_precision']}) fitted "
                  f"on the out-of-fold int8 predictions of the real stars ({reg['default']}, star-grouped folds); "
                  "ECE measured with nested folds"))
        print(cal.summary())
        if args.write_default:
            cal.to_json(DEFAULT_CALIBRATION_PATH, overwrite=True)
            print("wrote", DEFAULT_CALIBRATION_PATH)
        return

    sources = args.corpus or ["bundled", str(REPO / "tests" / "data")]
    refs = reference_set(sources, offline=True)
    refs = refs[[not any(k in r for k in args.skip) for r in refs["reference"]]]
    cal = calibrate(refs, store=False, progress=True, folds=args.folds)
    # Paths relative to the repository: the shipped file must not name this machine's directories.
    for row in cal.tables["references"]:
        try:
            row["path"] = str(Path(row["path"]).resolve().relative_to(REPO))
        except ValueError:
            row["path"] = Path(row["path"]).name
    cal.reference_summary["sources"] = [s if s == "bundled" else os.path.relpath(s, REPO)
                                        for s in cal.reference_summary.get("sources", [])]
    print(cal.summary())
    print(json.dumps({k: v for k, v in cal.metrics.items()}, indent=1, default=str))
    if args.write_default:
        cal.to_json(DEFAULT_CALIBRATION_PATH, overwrite=True)
        print("wrote", DEFAULT_CALIBRATION_PATH)
    if args.json:
        cal.to_json(args.json, overwrite=True)


if __name__ == "__main__":
    main()
