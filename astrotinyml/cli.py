"""The ``astrotinyml`` command line.

Every sub-command exits 0 on success; on a known error it prints one line,
``astrotinyml: error: <message>``, to standard error and exits 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ._version import __version__
from .errors import AstroTinyMLError

__all__ = ["main"]


def _print_table(table, *, out=None) -> None:
    out = out or sys.stdout
    for line in table.pformat(max_lines=-1, max_width=-1):
        print(line, file=out)


def _write_table(table, path: Path, *, fmt: str, overwrite: bool) -> None:
    from ._atomic import atomic_path

    with atomic_path(path, overwrite=overwrite) as tmp:
        table.write(tmp, format=fmt, overwrite=True)


def _cmd_info(args) -> int:
    from .io import read_lightcurve
    from .summary import summarize

    lcs = [read_lightcurve(p, time_format=args.time_format, flux_column=args.flux_column)
           for p in args.inputs]
    table = summarize(lcs)
    table.remove_column("source_file")
    _print_table(table)
    return 0


def _candidate_columns(table):
    wanted = ["pl_orbper", "pl_tranmid", "pl_trandurh", "pl_trandep", "snr", "sde",
              "n_transits", "oddeven_sigma", "secondary_sigma"]
    return [c for c in wanted if c in table.colnames]


def _cmd_demo(args) -> int:
    from . import datasets
    from .detect import detect
    from .summary import summarize

    out_dir = Path(args.output)
    names = [row["name"] for row in datasets.list_samples()]
    lcs = {name: datasets.load_sample(name) for name in names}
    print("Bundled real light curves (offline):")
    summary = summarize(lcs.values())
    summary.remove_column("source_file")
    summary.add_column(names, name="sample", index=0)
    _print_table(summary)
    print()
    for name, lc in lcs.items():
        t0 = time.perf_counter()
        result = detect(lc)
        elapsed = time.perf_counter() - t0
        cands = result.candidates
        print(f"{name} ({lc.meta.get('target', '?')}): {len(cands)} candidate(s) in {elapsed:.1f} s")
        if len(cands):
            _print_table(cands[_candidate_columns(cands)])
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        _write_table(cands, out_dir / f"{stem}_candidates.ecsv", fmt="ascii.ecsv",
                     overwrite=True)
        print()
    print(f"Candidate tables written to {out_dir.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astrotinyml`` command (exposed for documentation)."""
    parser = argparse.ArgumentParser(
        prog="astrotinyml",
        description="Find and vet transiting exoplanets in Kepler, K2 and TESS light curves.",
    )
    parser.add_argument("--version", action="version", version=f"astrotinyml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="run the pipeline offline on the bundled real light curves")
    demo.add_argument("--output", default="demo_output", help="directory for the outputs (default: %(default)s)")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="read light-curve files and print a summary table")
    info.add_argument("inputs", nargs="+", help="light-curve files (FITS, CSV, TXT, DAT, NPY, NPZ)")
    info.add_argument("--time-format", default=None,
                      help="time system of text files whose header does not say it (e.g. btjd, bkjd, bjd)")
    info.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> from astrotinyml.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    astrotinyml 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AstroTinyMLError as err:
        print(f"astrotinyml: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("astrotinyml: interrupted", file=sys.stderr)
        return 130
