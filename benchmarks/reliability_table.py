"""Print the "tried / handled cleanly" table of the reliability cases of issue 14.

Runs ``tests/test_reliability.py`` (each test reproduces one adversarial case: a killed
writer, a server that never answers, a FIFO, a corrupted cache, a hostile name, ...) and
counts, per point of the issue, the cases tried and those handled cleanly (the test passed:
the project's one-line error, a repaired cache, an intact report set).  A case skipped (e.g.
file modes, which root ignores) is shown as skipped, not as handled.

Usage::

    python benchmarks/reliability_table.py            # the table
    python benchmarks/reliability_table.py --cases    # and one line per case

Exit status 1 when any case was not handled cleanly.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

POINTS = {
    "01": "calibration DB: unwritable / malformed",
    "02": "corrupted cached MAST file",
    "03": "truncated archive cache entry",
    "04": "report set killed mid-write",
    "05": "two batches into one directory",
    "06": "resume after a model repair",
    "07": "read-only commands on a foreign DB",
    "08": "FIFO input; hung target in a batch",
    "09": "/dev/zero behind z.csv; size limit",
    "10": "archive server that never answers",
    "11": "dependency exceptions (symlink loop, TAP, model)",
    "12": "specific messages (HDU, CSV, JSON, --order-by, list)",
    "13": "terminal escapes, file content in messages",
    "13_9": "no network (issue 13, point 9)",
    "14": "Windows-reserved output names",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", action="store_true", help="also list every case")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
             str(REPO / "tests" / "test_reliability.py")],
            cwd=REPO, capture_output=True, text=True)
        if not junit.exists():
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            return 2
        root = ET.parse(junit).getroot()
    rows: dict[str, dict[str, int]] = defaultdict(lambda: {"tried": 0, "handled": 0, "skipped": 0})
    cases = []
    total_time = 0.0
    for case in root.iter("testcase"):
        name = case.get("name", "")
        m = re.match(r"test_p(\d\d(?:_\d+)?)_", name)
        point = m.group(1) if m else "?"
        total_time += float(case.get("time", 0) or 0)
        if case.find("skipped") is not None:
            outcome = "skipped"
            rows[point]["skipped"] += 1
        else:
            rows[point]["tried"] += 1
            ok = case.find("failure") is None and case.find("error") is None
            rows[point]["handled"] += ok
            outcome = "handled cleanly" if ok else "NOT HANDLED"
        cases.append((point, name, outcome))
    print(f"{'point':<6} {'case':<52} {'tried':>5} {'handled cleanly':>15} {'skipped':>7}")
    print("-" * 89)
    order = sorted(rows, key=lambda p: [int(x) for x in p.split("_")] if p != "?" else [99])
    for point in order:
        r = rows[point]
        print(f"{point:<6} {POINTS.get(point, '?'):<52} {r['tried']:>5} {r['handled']:>15} {r['skipped']:>7}")
    tried = sum(r["tried"] for r in rows.values())
    handled = sum(r["handled"] for r in rows.values())
    skipped = sum(r["skipped"] for r in rows.values())
    print("-" * 89)
    print(f"{'all':<6} {'':<52} {tried:>5} {handled:>15} {skipped:>7}   ({total_time:.1f} s of tests)")
    if args.cases:
        print()
        for point, name, outcome in cases:
            print(f"{point:<6} {outcome:<16} {name}")
    return 0 if handled == tried else 1


if __name__ == "__main__":
    sys.exit(main())
