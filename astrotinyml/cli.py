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
from .errors import AstroTinyMLError, InvalidParameterError

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
              "n_transits", "oddeven_sigma", "secondary_sigma", "vet_flags", "label", "p_planet"]
    return [c for c in wanted if c in table.colnames]


def _print_candidates(result, elapsed, *, out=None) -> None:
    out = out or sys.stdout
    cands = result.candidates
    print(f"{result.target}: {len(cands)} candidate(s) in {elapsed:.1f} s", file=out)
    if len(cands):
        shown = cands[_candidate_columns(cands)]
        for name in shown.colnames:
            if shown[name].dtype.kind == "f":
                shown[name].info.format = ".6f" if name in ("pl_orbper", "pl_tranmid") else ".2f"
        _print_table(shown, out=out)


def _detect_options(args) -> dict:
    return dict(time_format=args.time_format, flux_column=args.flux_column,
                max_planets=args.max_planets, period_min=args.period_min,
                period_max=args.period_max, sde_threshold=args.sde_threshold)


def _expand_inputs(inputs) -> list[Path]:
    """Files as given; a directory stands for the light-curve files directly inside it."""
    from .detect import _FILE_SUFFIXES

    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file()
                            and any(p.name.lower().endswith(s) for s in _FILE_SUFFIXES)
                            and not p.name.lower().startswith("manifest"))
            if not inside:
                raise InvalidParameterError(f"directory {path} holds no light-curve files")
            files.extend(inside)
        else:
            files.append(path)
    return files


def _cmd_detect(args) -> int:
    from .detect import detect
    from .report import safe_name, write_report

    out_dir = Path(args.output)
    files = _expand_inputs(args.inputs)
    groups = [files] if args.stitch else [[f] for f in files]
    failures = 0
    for group in groups:
        label = ", ".join(str(p) for p in group)
        t0 = time.perf_counter()
        try:
            source = group if len(group) > 1 else group[0]
            result = detect(source, **_detect_options(args))
            _print_candidates(result, time.perf_counter() - t0)
            paths = write_report(result, out_dir / safe_name(result.target), formats=args.formats,
                                 overwrite=args.overwrite, submit_ready=args.submit_ready)
            print("  wrote " + ", ".join(str(p) for p in paths.values()))
        except AstroTinyMLError as err:
            # One bad input does not stop the others; it is reported and counted.
            failures += 1
            print(f"astrotinyml: error: {label}: {err}", file=sys.stderr)
    if failures:
        print(f"astrotinyml: {failures} of {len(groups)} input(s) failed", file=sys.stderr)
    return 1 if failures else 0


def _cmd_demo(args) -> int:
    from . import datasets
    from .detect import detect
    from .report import write_report
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
        _print_candidates(result, time.perf_counter() - t0)
        paths = write_report(result, out_dir / name, overwrite=args.overwrite)
        print("  wrote " + ", ".join(p.name for p in paths.values()) + f" to {out_dir / name}")
        print()
    print(f"Reports written to {out_dir.resolve()}")
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
    demo.add_argument("--output", default="demo_output", help="directory for the reports (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace reports of an earlier demo run")
    demo.set_defaults(func=_cmd_demo)

    det = sub.add_parser(
        "detect", help="detect, vet and report transit candidates in light-curve files",
        description="Each input file is one target (use --stitch for several files of one star); "
                    "a directory stands for the light-curve files inside it. Reports go to "
                    "OUTPUT/<target>/.")
    det.add_argument("inputs", nargs="+", metavar="INPUT", help="light-curve files or directories")
    det.add_argument("--output", "-o", required=True, help="output directory")
    det.add_argument("--formats", nargs="+", default=["pdf", "json", "fits", "csv"],
                     choices=["pdf", "json", "fits", "csv"], help="report formats (default: all)")
    det.add_argument("--submit-ready", action="store_true",
                     help="also write a zip bundle with all formats, a manifest with checksums and a README")
    det.add_argument("--overwrite", action="store_true", help="replace existing reports")
    det.add_argument("--stitch", action="store_true", help="treat all inputs as quarters/sectors of one star")
    det.add_argument("--max-planets", type=int, default=5, help="most periodic signals (default: %(default)s)")
    det.add_argument("--period-min", type=float, default=None, help="shortest period searched [d]")
    det.add_argument("--period-max", type=float, default=None, help="longest period searched [d]")
    det.add_argument("--sde-threshold", type=float, default=None, help="detection threshold on SDE")
    det.add_argument("--time-format", default=None,
                     help="time system of text files whose header does not say it (bkjd, btjd, bjd, ...)")
    det.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    det.set_defaults(func=_cmd_detect)

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
