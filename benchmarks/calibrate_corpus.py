"""Calibration on the real corpus: fit the shipped default and measure the full corpus.

    python benchmarks/calibrate_corpus.py --write-default   # refit astrotinyml/models/calibration.json
    python benchmarks/calibrate_corpus.py --corpus ../shared/data/lightcurves

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
    ap.add_argument("--skip", nargs="*", default=["conor-or.npy"],
                    help="skip files whose name contains one of these (default: the three 1470-d Kepler EB arrays, "
                         "minutes of search each)")
    args = ap.parse_args(argv)
    import os

    os.environ.setdefault("ASTROTINYML_OFFLINE", "1")
    warnings.simplefilter("ignore")
    from astrotinyml.calibrate import DEFAULT_CALIBRATION_PATH, calibrate, reference_set

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
