"""Time ``read_lightcurve`` on every file of the real corpus (``../shared/data/lightcurves``).

Prints one row per file (points, seconds) and the total. Run:
``.venv/bin/python benchmarks/read_corpus.py [CORPUS_DIR]``
"""

import sys
import time
import warnings
from pathlib import Path

from astrotinyml import read_lightcurve

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "lightcurves"


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    files = sorted(p for p in corpus.glob("*") if p.name != "MANIFEST.csv")
    if not files:
        print(f"no corpus at {corpus}; nothing to time")
        return
    read_lightcurve(files[0])  # first call pays lightkurve's import
    total = 0.0
    print(f"{'file':<62} {'points':>7} {'time [s]':>9}")
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            lc = read_lightcurve(path)
            dt = time.perf_counter() - t0
        total += dt
        print(f"{path.name[:62]:<62} {len(lc):>7} {dt:>9.3f}")
    print(f"total: {len(files)} files in {total:.1f} s")


if __name__ == "__main__":
    main()
