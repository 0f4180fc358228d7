"""How long ``import astrotinyml`` takes in a fresh interpreter (goal: < 0.5 s).

Prints a table: median of N cold imports of astrotinyml, and of its heavy peers for scale.
Run: ``.venv/bin/python benchmarks/import_time.py``
"""

import statistics
import subprocess
import sys
import time


def cold_import(module: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    base = cold_import("sys")  # interpreter start-up, subtracted below
    print(f"{'module':<14} {'import time [s]':>16}")
    for module in ("astrotinyml", "numpy", "astropy.table", "lightkurve"):
        print(f"{module:<14} {cold_import(module) - base:>16.3f}")
    print(f"(interpreter start-up {base:.3f} s subtracted)")


if __name__ == "__main__":
    main()
