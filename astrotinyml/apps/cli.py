"""The ``astrotinyml`` command line.

Every sub-command exits 0 on success; on a known error it prints one line,
``astrotinyml: error: <message>``, to standard error and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .. import datasets
from .._version import __version__
from ..atomic import atomic_path, recover_sets
from ..calibration import calibration_history, reference_set
from ..calibration.fit import calibrate
from ..calibration.store import check_writable, save_calibration
from ..detection import detect
from ..ephemerides import catalog_ephemerides, ephemeris_table
from ..errors import AstroTinyMLError, InvalidParameterError, printable
from ..io import read_lightcurve
from ..io.read import LIGHTCURVE_SUFFIXES
from ..remote.archives import archive_summary, query_catalog, reference_ephemerides
from ..remote.mast import cached_products, fetch_lightcurves, fetch_products, import_to_cache
from ..report import safe_name, write_report
from ..report.exofop import ctoi_file_name, ctoi_lines, write_ctoi
from ..results import find_results, load_result
from ..summary import summarize
from .batch import run_batch
from .pipeline import add_cli_arguments, cli_main

# Lazy on purpose: astropy.table (imported where a table is read or built) and the training
# package (the optional "train" extra, whose absence `astrotinyml train` reports) are not
# loaded by `astrotinyml --help` or the other commands.

__all__ = ["main"]


def _print_table(table, *, out=None) -> None:
    out = out or sys.stdout
    for line in table.pformat(max_lines=-1, max_width=-1):
        print(line, file=out)


def _write_table(table, path: Path, *, fmt: str, overwrite: bool) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        table.write(tmp, format=fmt, overwrite=True)


def _not_a_lightcurve(path: Path) -> bool:
    """Files that sit beside light curves (MANIFEST.csv, README, JSON sidecars), not data."""
    name = path.name.lower()
    return name.startswith(_NOT_DATA_PREFIXES) or path.suffix.lower() in (".json", ".md", ".yml", ".yaml")


def _cmd_info(args) -> int:
    # Each file on its own: a corrupt one is reported and the others are still summarized;
    # a manifest or README picked up by a shell glob (lightcurves/*) is skipped, not an error.
    files: list[Path] = []
    for item in args.inputs:
        path = Path(item)
        files.extend(_expand_inputs([path]) if path.is_dir() else [path])
    lcs, failures, skipped = [], [], []
    for path in files:
        if path.is_file() and _not_a_lightcurve(path):
            skipped.append(path)
            continue
        try:
            lcs.append(read_lightcurve(path, time_format=args.time_format, flux_column=args.flux_column))
        except (AstroTinyMLError, OSError, ValueError) as err:
            kind = "" if isinstance(err, AstroTinyMLError) else f"{type(err).__name__}: "
            failures.append((path, f"{kind}{err}"))
    if lcs:
        table = summarize(lcs)
        table.add_column([Path(str(f)).name for f in table["source_file"]], name="file", index=0)
        table.remove_column("source_file")
        _print_table(table)
    for path in skipped:
        print(f"  skipped {path} (not a light-curve file)")
    # One line per failure, after the table, and the exit status says some failed.
    for path, message in failures:
        text = message if path.name in message else f"{path}: {message}"
        print(f"astrotinyml: error: {text}", file=sys.stderr)
    if failures and (lcs or len(failures) > 1):
        print(f"astrotinyml: {len(failures)} of {len(files) - len(skipped)} file(s) could not be read",
              file=sys.stderr)
    return 1 if failures else 0


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


def _add_detect_options(parser) -> None:
    """The detect() options shared by `detect` and `batch` (read back by :func:`_detect_options`)."""
    parser.add_argument("--max-planets", type=int, default=5, help="most signals reported, single events included (default: %(default)s)")
    parser.add_argument("--period-min", type=float, default=None, help="shortest period searched [d]")
    parser.add_argument("--period-max", type=float, default=None, help="longest period searched [d]")
    parser.add_argument("--sde-threshold", type=float, default=None, help="detection threshold on SDE")
    parser.add_argument("--window-length", type=float, default=None, metavar="DAYS",
                        help="detrending (biweight) window [d]; default 3x the longest transit of a "
                             "Sun-like star searched, 0.5-1 d (longer dips are protected from it)")
    parser.add_argument("--no-prewhiten", action="store_true",
                        help="keep the coherent variability (pulsation, fast rotation) that the window leaves; "
                             "by default it is fitted and divided out")
    parser.add_argument("--search-passes", type=int, default=2,
                        help="searches, each on the light curve detrended with the previous one's transits "
                             "masked (default: %(default)s; 1 is faster but loses long transits)")
    parser.add_argument("--time-format", default=None,
                        help="time system of text files whose header does not say it (bkjd, btjd, bjd, ...)")
    parser.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    parser.add_argument("--fit", choices=["none", "lsq", "mcmc"], default="none",
                        help="fit a limb-darkened transit to each candidate: least squares (~1 s each), MCMC "
                             "posteriors (~20-60 s each) or none (default); reports then give Rp/R*, a/R*, b, "
                             "the planet radius and uncertainties")


def _detect_options(args) -> dict:
    return dict(time_format=args.time_format, flux_column=args.flux_column, fit=args.fit,
                window_length=args.window_length, prewhiten=not args.no_prewhiten,
                max_planets=args.max_planets, period_min=args.period_min,
                period_max=args.period_max, sde_threshold=args.sde_threshold,
                search_passes=args.search_passes)


# Files that sit beside light curves in data directories but are not light curves.
_NOT_DATA_PREFIXES = ("manifest", "readme", "license", "changelog", ".")


def _expand_inputs(inputs) -> list[Path]:
    """Files as given; a directory stands for the light-curve files directly inside it."""
    files = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file()
                            and any(p.name.lower().endswith(s) for s in LIGHTCURVE_SUFFIXES)
                            and not p.name.lower().startswith(_NOT_DATA_PREFIXES)
                            and p.suffix.lower() not in (".json", ".md"))
            if not inside:
                raise InvalidParameterError(f"directory {path} holds no light-curve files")
            files.extend(inside)
        else:
            files.append(path)
    return files


class _StageLine:
    """``detect(progress=)`` callback: one stderr line per target, each stage's seconds as it ends
    (the long steps -- reading many quarters, the search -- show up while they happen)."""

    def __init__(self, label: str):
        self.label, self.started = label, False

    def __call__(self, stage: str, seconds: float) -> None:
        prefix = ", " if self.started else f"  {self.label}: "
        self.started = True
        print(f"{prefix}{stage} {seconds:.1f} s", end="", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.started:
            print(file=sys.stderr, flush=True)
            self.started = False


def _cmd_detect(args) -> int:
    out_dir = Path(args.output)
    files = _expand_inputs(args.inputs)
    groups = [files] if args.stitch else [[f] for f in files]
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidParameterError(f"--output {out_dir} is a file, not a directory; choose a directory")
    failures = 0
    used: set[str] = set()
    for group in groups:
        label = ", ".join(str(p) for p in group)
        t0 = time.perf_counter()
        try:
            source = group if len(group) > 1 else group[0]
            if len(group) == 1 and not Path(group[0]).exists():
                if str(group[0]) in {str(n) for n in datasets.list_samples()["name"]}:
                    print(f"  {group[0]}: the bundled sample ({len(datasets.sample_paths(str(group[0])))} "
                          "file(s), offline)", file=sys.stderr)
            line = _StageLine(label)
            try:
                result = detect(source, progress=line, **_detect_options(args))
            finally:
                line.end()
            _print_candidates(result, time.perf_counter() - t0)
            name = safe_name(result.target)
            if name in used:
                # Another file of the same star in this run (a second sector, say): its own
                # directory, so it neither collides with nor silently replaces the first.
                name = f"{name}__{safe_name(Path(group[0]).stem)}"
            used.add(name)
            paths = write_report(result, out_dir / name, formats=args.formats,
                                 overwrite=args.overwrite, submit_ready=args.submit_ready, save_result=True)
            print("  wrote " + ", ".join(str(p) for p in paths.values()))
        except (AstroTinyMLError, OSError, ValueError) as err:
            # One bad input does not stop the others; it is reported on one line and counted.
            failures += 1
            kind = "" if isinstance(err, AstroTinyMLError) else f"{type(err).__name__}: "
            print(f"astrotinyml: error: {label}: {kind}{err}", file=sys.stderr)
    if failures:
        print(f"astrotinyml: {failures} of {len(groups)} input(s) failed", file=sys.stderr)
    return 1 if failures else 0


def _ephemerides_from_args(args):
    """The ephemerides of `astrotinyml vet`: --toi/--koi from the archive (or its snapshot), or
    --period/--epoch given by the user."""
    chosen = [n for n, v in (("--toi", args.toi), ("--koi", args.koi), ("--epoch", args.epoch)) if v]
    if len(chosen) != 1:
        raise InvalidParameterError(
            "astrotinyml vet needs exactly one of --toi NAME, --koi NAME or --epoch T0 [--period P] "
            f"(got {', '.join(chosen) or 'none'}); e.g. --toi 185.01, --koi K00752.01, "
            "--period 3.5 --epoch 2459000.123 --duration 2.5")
    if args.toi or args.koi:
        name = args.toi or args.koi
        prefix = "TOI-" if args.toi else "K"
        if args.toi and not name.upper().startswith(("TOI", "TIC")):
            name = prefix + name
        if args.koi and name[:1].isdigit():
            name = prefix + name
        eph = catalog_ephemerides(name, cache_dir=args.cache_dir, offline=args.offline or None,
                                  timeout=args.timeout)
        if args.duration is not None:
            eph["pl_trandurh"] = [args.duration] * len(eph) * eph["pl_trandurh"].unit
        return eph
    return ephemeris_table(period=args.period, epoch=args.epoch, duration=args.duration,
                           period_err=args.period_err, epoch_err=args.epoch_err, name=args.name or "")


def _cmd_vet(args) -> int:
    eph = _ephemerides_from_args(args)
    out_dir = Path(args.output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidParameterError(f"--output {out_dir} is a file, not a directory; choose a directory")
    if args.inputs:
        files = _expand_inputs(args.inputs)
        source = files if len(files) > 1 else files[0]
        label = ", ".join(str(p) for p in files)
    else:
        host = str(eph["host"][0]) if "host" in eph.colnames and len(eph) else ""
        if not host:
            raise InvalidParameterError(
                "astrotinyml vet: no light-curve file given and no host star known for the ephemeris; "
                "pass the light-curve file(s) of the star.")
        print(f"{host}: fetching its light curves (cache first) ...", file=sys.stderr)
        source = fetch_lightcurves(host, cache_dir=args.cache_dir, offline=args.offline or None,
                                   timeout=args.timeout)
        label = host
    t0 = time.perf_counter()
    result = detect(source, ephemerides=eph, fit=args.fit, fit_progress=args.progress,
                    time_format=args.time_format, flux_column=args.flux_column)
    _print_candidates(result, time.perf_counter() - t0)
    if not len(result.candidates):
        print(f"astrotinyml: error: {label}: nothing to vet", file=sys.stderr)
        return 1
    name = safe_name(result.target)
    paths = write_report(result, out_dir / name, formats=args.formats, overwrite=args.overwrite,
                         submit_ready=args.submit_ready, save_result=True)
    print("  wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _cmd_report(args) -> int:
    run_dir = Path(args.run_dir)
    out_dir = Path(args.output) if args.output else run_dir
    files = find_results(run_dir)
    for folder in sorted({p.parent for p in files}):
        recover_sets(folder)  # a set an interrupted run left half-written: finish or undo it first
    rows, ctoi, failures = [], [], 0
    for path in files:
        try:
            result = load_result(path)
        except AstroTinyMLError as err:
            failures += 1
            print(f"astrotinyml: error: {err}", file=sys.stderr)
            continue
        # In place: the target's own directory; elsewhere: OUTPUT/<target>/.
        dest = path.parent if out_dir == run_dir else out_dir / safe_name(result.target)
        paths = write_report(result, dest, formats=args.formats, overwrite=args.overwrite,
                             submit_ready=args.submit_ready)
        print(f"{result.target}: {len(result.candidates)} candidate(s); wrote "
              + ", ".join(p.name for p in paths.values()))
        for i, row in enumerate(result.candidates):
            rows.append((result, i, row))
        if args.submit_ready:
            ctoi += ctoi_lines(result)
    if rows:
        _write_run_summary(out_dir, rows, overwrite=args.overwrite)
    if ctoi:
        name = ctoi_file_name()
        target = out_dir / name
        if target.exists() and not args.overwrite:
            raise InvalidParameterError(f"{target} exists; pass --overwrite to replace it")
        with atomic_path(target, overwrite=True) as tmp:
            write_ctoi(ctoi, tmp)
        print(f"ExoFOP upload file ({len(ctoi)} planet candidate(s)): {target}")
    if failures:
        print(f"astrotinyml: {failures} of {len(files)} result file(s) could not be read", file=sys.stderr)
    return 1 if failures else 0


def _write_run_summary(out_dir: Path, rows, *, overwrite: bool) -> None:
    """summary_candidates.csv: every candidate of the run, by calibrated p_planet (highest first)."""
    from astropy.table import Table

    cols = ("pl_orbper", "pl_orbpererr1", "pl_tranmid", "pl_trandurh", "pl_trandep", "pl_ratror",
            "pl_rade", "pl_radeerr1", "snr", "label", "p_planet", "vet_flags", "fit_method")
    records = []
    for result, i, row in rows:
        rec = {"hostname": str(result.target), "candidate": i + 1}
        for c in cols:
            v = row[c] if c in row.colnames else None
            v = getattr(v, "value", v)
            rec[c] = v if not (isinstance(v, float) and not np.isfinite(v)) else None
        records.append(rec)
    records.sort(key=lambda r: -(r["p_planet"] if isinstance(r.get("p_planet"), float) else -1.0))
    table = Table(rows=[[r.get(c) for c in ("hostname", "candidate") + cols] for r in records],
                  names=("hostname", "candidate") + cols, dtype=[object] * (len(cols) + 2))
    for c in table.colnames:
        table[c] = ["" if v is None else str(v) for v in table[c]]
    target = out_dir / "summary_candidates.csv"
    if target.exists() and not overwrite:
        raise InvalidParameterError(f"{target} exists; pass --overwrite to replace it")
    with atomic_path(target, overwrite=True) as tmp:
        table.write(tmp, format="ascii.csv", overwrite=True)
    print(f"summary of {len(records)} candidate(s), by p_planet: {target}")


def _add_report_options(parser, *, submit_help: str, overwrite_help: str = "replace existing reports") -> None:
    """--formats, --submit-ready and --overwrite of the commands that write reports."""
    parser.add_argument("--formats", "--format", nargs="+", default=["pdf", "json", "fits", "csv"],
                        choices=["pdf", "json", "fits", "csv"], help="report formats (default: all)")
    parser.add_argument("--submit-ready", action="store_true", help=submit_help)
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _add_report_parser(sub) -> None:
    rep = sub.add_parser(
        "report", help="rebuild reports from saved detections (a detect, vet or batch output directory)",
        description="Reads every <target>.result.fits under RUN_DIR (saved by detect, vet and batch) and writes "
                    "the reports again without detecting anything again, plus summary_candidates.csv (all "
                    "candidates, by calibrated p_planet) and, with --submit-ready, one ExoFOP upload file of "
                    "the candidates labelled planet.")
    rep.add_argument("run_dir", metavar="RUN_DIR", help="output directory of detect, vet or batch")
    rep.add_argument("--output", "-o", default=None, help="write here instead of in place (OUTPUT/<target>/)")
    _add_report_options(rep, submit_help="also the submission bundles and an ExoFOP CTOI upload file for the run",
                        overwrite_help="replace existing reports (needed in place)")
    rep.set_defaults(func=_cmd_report)


def _add_vet_parser(sub) -> None:
    vet = sub.add_parser(
        "vet", help="vet and fit a known signal: a TOI, a KOI or your own ephemeris",
        description="Skips the search: the ephemeris (--toi/--koi from the NASA Exoplanet Archive, or its "
                    "bundled snapshot offline; or --period/--epoch) is propagated into the light curve, "
                    "refined, vetted, classified, calibrated and fitted with a limb-darkened transit model "
                    "(MCMC by default), and the same reports as `detect` are written to OUTPUT/<target>/. "
                    "Without an input file the host star's light curves are fetched (from the cache offline).",
        epilog="examples:\n  astrotinyml vet tess_WASP-18.fits --toi 185.01 -o out\n"
               "  astrotinyml vet kplr.fits --koi K00752.01 --fit lsq -o out\n"
               "  astrotinyml vet lc.fits --period 3.2 --epoch 2459001.53 --duration 2.4 -o out",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    vet.add_argument("inputs", nargs="*", metavar="INPUT",
                     help="light-curve file(s) of the star (several: stitched); optional with --toi/--koi")
    vet.add_argument("--toi", default=None, help="TOI designation, e.g. 185.01, TOI-185.01 (TOI-185: all its planets)")
    vet.add_argument("--koi", default=None, help="KOI designation, e.g. K00752.01 or KOI-752.01")
    vet.add_argument("--period", type=float, default=None, help="orbital period [d] (omit for a single transit)")
    vet.add_argument("--epoch", type=float, default=None, help="mid-transit time [full BJD_TDB]")
    vet.add_argument("--duration", type=float, default=None,
                     help="transit duration [h] (default: the catalogue's, else fitted from the data)")
    vet.add_argument("--period-err", type=float, default=None, help="1-sigma error of --period [d]")
    vet.add_argument("--epoch-err", type=float, default=None, help="1-sigma error of --epoch [d]")
    vet.add_argument("--name", default=None, help="name of your signal in the reports")
    vet.add_argument("--fit", choices=["mcmc", "lsq", "none"], default="mcmc",
                     help="transit fit: MCMC posteriors (default), least squares (fast) or none")
    vet.add_argument("--progress", action="store_true", help="show the MCMC progress bar")
    vet.add_argument("--output", "-o", required=True, help="output directory")
    _add_report_options(vet, submit_help="also write the submission bundle and an ExoFOP CTOI upload file")
    vet.add_argument("--time-format", default=None, help="time system of text files (bkjd, btjd, bjd, ...)")
    vet.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    _add_network_options(vet)
    vet.set_defaults(func=_cmd_vet)


def _cmd_demo(args) -> int:
    out_dir = Path(args.output)
    names = [row["name"] for row in datasets.list_samples()]
    if not args.overwrite:
        # Checked before the work (a minute of it), not after: a rerun says how to overwrite.
        earlier = [str(out_dir / n) for n in names if (out_dir / n).is_dir() and any((out_dir / n).iterdir())]
        if earlier:
            raise InvalidParameterError(
                f"{out_dir} already holds the reports of an earlier demo ({', '.join(earlier[:2])}"
                f"{', ...' if len(earlier) > 2 else ''}); pass --overwrite to replace them, or --output "
                "another directory.")
    lcs = {name: datasets.load_sample(name) for name in names}
    print("Bundled real light curves (offline):")
    summary = summarize(lcs.values())
    summary.remove_column("source_file")
    summary.add_column(names, name="sample", index=0)
    _print_table(summary)
    print()
    for name, lc in lcs.items():
        t0 = time.perf_counter()
        line = _StageLine(name)
        try:
            result = detect(lc, progress=line)
        finally:
            line.end()
        _print_candidates(result, time.perf_counter() - t0)
        paths = write_report(result, out_dir / name, overwrite=args.overwrite)
        print("  wrote " + ", ".join(p.name for p in paths.values()) + f" to {out_dir / name}")
        print()
    print(f"Reports written to {out_dir.resolve()}")
    return 0


def _cmd_fetch(args) -> int:
    table = fetch_products(
        args.target, mission=args.mission, sector=args.sector, quarter=args.quarter,
        campaign=args.campaign, author=args.author, exptime=args.exptime,
        all_products=args.all_products, refresh=args.refresh,
        offline=True if args.offline else None, cache_dir=args.cache_dir, progress=True,
        timeout=args.timeout)
    _print_table(table)
    return 0


def _cmd_cache_import(args) -> int:
    table = import_to_cache(args.paths, manifest=args.manifest, target=args.target,
                            time_format=args.time_format, mission=args.mission,
                            flux_column=args.flux_column, cache_dir=args.cache_dir,
                            copy=not args.link, replace=args.replace)
    if len(table):
        shown = table["status", "target", "mission", "segment", "author", "path"]
        shown["path"] = [Path(p).name for p in table["path"]]
        shown.rename_column("path", "file")
        _print_table(shown)
    for row in table:
        if row["note"]:
            print(f"  note: {Path(row['path']).name}: {row['note']}")
    counts = {s: int((table["status"] == s).sum()) for s in ("imported", "replaced", "unchanged", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to do"
    print(f"{len(table)} file(s): {summary}; cache {table.meta['cache_dir']}")
    # Failed files do not stop the others; each is one line on stderr and the exit status is 1.
    for row in table[table["status"] == "failed"]:
        print(f"astrotinyml: error: {row['path']}: {row['error']}", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _cmd_cache_list(args) -> int:
    table = cached_products(cache_dir=args.cache_dir)
    if len(table):
        _print_table(table["target", "mission", "filename", "origin", "size", "downloaded_at"])
    total = int(table["size"].sum()) if len(table) else 0
    print(f"{len(table)} light-curve file(s), {total / 1e6:.1f} MB")
    return 0


def _add_cache_parser(sub) -> None:
    cache = sub.add_parser(
        "cache", help="file local light-curve files into the MAST cache; list the cache",
        description="'cache import' reads each file (which validates it), copies it into the cache "
                    "under its target id (from the file, a manifest CSV or --target) so that "
                    "fetch / fetch_lightcurves() serve it offline; 'cache list' lists the cached files.")
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    actions.required = True
    imp = actions.add_parser(
        "import", help="copy light-curve files into the cache under their target ids",
        description="Each PATH is a light-curve file (an unreadable one stops the import) or a directory "
                    "(its files; a MANIFEST.csv inside gives targets and time systems; unreadable files are "
                    "reported and skipped). Importing the same file again changes nothing.")
    imp.add_argument("paths", nargs="*", metavar="PATH",
                     help="files or directories (none: the files --manifest lists)")
    imp.add_argument("--manifest", default=None, metavar="CSV",
                     help="CSV with 'file' and 'target' (or 'target_id') columns, optional 'time_system', 'mission'")
    imp.add_argument("--target", default=None, metavar="ID", help='target of all files, e.g. "KIC 11442793"')
    imp.add_argument("--time-format", default=None,
                     help="time system of text/NumPy files whose header does not say it (bkjd, btjd, bjd, ...)")
    imp.add_argument("--mission", choices=["Kepler", "K2", "TESS"], default=None,
                     help="mission of text/NumPy files whose name and manifest do not say it")
    imp.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    imp.add_argument("--link", action="store_true", help="hard-link instead of copying (same file system)")
    imp.add_argument("--replace", action="store_true",
                     help="replace a different file of the same name imported earlier for the same target")
    cache_help = "cache directory (default: $ASTROTINYML_CACHE_DIR or ~/.astrotinyml)"
    imp.add_argument("--cache-dir", default=None, help=cache_help)
    imp.set_defaults(func=_cmd_cache_import)
    lst = actions.add_parser("list", help="list the light-curve files in the cache (downloaded and imported)")
    lst.add_argument("--cache-dir", default=None, help=cache_help)
    lst.set_defaults(func=_cmd_cache_list)


def _cmd_planets(args) -> int:
    filters = dict(period_min=args.period_min, period_max=args.period_max, limit=args.limit,
                   order_by=args.order_by, offline=True if args.offline else None,
                   cache_dir=args.cache_dir, timeout=args.timeout)
    if args.columns:
        filters["columns"] = [c.strip() for c in args.columns.split(",") if c.strip()]
    if args.max_age is not None:
        filters["max_age"] = args.max_age
    if args.catalog == "planets":
        filters.update(facility=args.facility, method=args.method)
    elif args.facility or args.method:
        raise InvalidParameterError("--facility and --method apply to --catalog planets only")
    if args.catalog in ("koi", "toi"):
        filters["disposition"] = args.disposition
    elif args.disposition:
        raise InvalidParameterError("--disposition applies to --catalog koi or toi only")
    table = query_catalog(args.catalog, args.target, **filters)
    if args.ephemerides:
        table = reference_ephemerides(table)
    if args.output:
        fmt = {"fixed_width": "ascii.fixed_width", "csv": "ascii.csv", "ecsv": "ascii.ecsv"}[args.format]
        _write_table(table, Path(args.output), fmt=fmt, overwrite=args.overwrite)
        print(f"{len(table)} row(s) written to {args.output}")
    else:
        _print_table(table)
    return 0


def _cmd_archives(args) -> int:
    _print_table(archive_summary(args.target, radius=args.radius, timeout=args.timeout,
                                 offline=True if args.offline else None, cache_dir=args.cache_dir))
    return 0


def _cmd_batch(args) -> int:
    sources = list(args.sources)
    if args.table:
        from astropy.table import Table

        try:
            sources.append(Table.read(args.table))
        except (OSError, ValueError) as err:
            raise InvalidParameterError(f"--table {args.table}: cannot read it as a table ({err})") from err
    if not sources:
        raise InvalidParameterError("batch: give at least one SOURCE or --table FILE")
    fetch = {k: v for k, v in (("mission", args.mission), ("sector", args.sector),
                               ("author", args.author)) if v is not None}
    res = run_batch(
        sources, out_dir=args.out, client=args.scheduler, workers=args.workers,
        memory_limit=args.memory_limit, resume=not args.no_resume, retry_failed=args.retry_failed,
        formats=args.formats, submit_ready=args.submit_ready, detect_options=_detect_options(args),
        fetch_options=fetch or None, target_column=args.target_column, recursive=args.recursive,
        progress=not args.no_progress, dashboard=args.dashboard, overwrite=args.overwrite,
        target_timeout=args.target_timeout or None)
    print(f"{res.n_targets} target(s): {res.n_ok} ok, {res.n_failed} failed, {res.n_skipped} skipped "
          f"(already done); {len(res.candidates)} candidate(s) in {res.elapsed:.1f} s")
    for key, path in res.paths.items():
        print(f"  {key}: {path}")
    failed = res.failures
    for row in failed:
        print(f"astrotinyml: error: {row['source']}: {row['error_type']}: {row['message']}", file=sys.stderr)
    if len(failed):
        print(f"astrotinyml: {len(failed)} of {res.n_targets} target(s) failed "
              f"(see {res.paths.get('status_ecsv', args.out)})", file=sys.stderr)
    return 1 if len(failed) else 0


def _add_batch_parser(sub) -> None:
    bat = sub.add_parser(
        "batch", help="detect over many targets in parallel on Dask (resumable; failures isolated)",
        description="Each SOURCE is a light-curve file, a directory (its light-curve files), a glob "
                    "pattern or a target name (fetched). One Dask task per target writes "
                    "OUT/<target>/ reports; OUT/candidates.{ecsv,parquet} and OUT/status.{ecsv,parquet} "
                    "gather them. Rerunning skips targets already done with the same inputs and options.")
    bat.add_argument("sources", nargs="*", metavar="SOURCE", help="files, directories, glob patterns or target names")
    bat.add_argument("--out", "-o", required=True, metavar="DIR", help="batch output directory")
    bat.add_argument("--workers", type=int, default=None, metavar="N",
                     help="local worker processes (default: one per core); not with --scheduler")
    bat.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="address of a running Dask scheduler (tcp://host:8786) instead of a local cluster")
    bat.add_argument("--memory-limit", default="auto", metavar="SIZE",
                     help="memory limit per local worker, e.g. 4GiB (default: machine memory / workers)")
    bat.add_argument("--table", default=None, metavar="FILE",
                     help="a table of targets (ECSV, CSV, FITS, VOTable) with a target/tic_id/path column")
    bat.add_argument("--target-column", default=None, metavar="COL", help="column of --table naming the targets")
    bat.add_argument("--recursive", action="store_true", help="search directories recursively")
    bat.add_argument("--formats", nargs="+", default=["json", "csv"], choices=["pdf", "json", "fits", "csv"],
                     help="report formats per target (default: json csv)")
    bat.add_argument("--submit-ready", action="store_true", help="also write each target's submission bundle")
    bat.add_argument("--no-resume", action="store_true", help="redo every target, even those already done")
    bat.add_argument("--retry-failed", action="store_true",
                     help="kept for compatibility: failed targets are always redone on a rerun")
    bat.add_argument("--target-timeout", type=float, default=3600.0, metavar="SECONDS",
                     help="most seconds one target may take; past it the target is recorded as failed "
                          "and the batch goes on (default: %(default)s; 0 = no limit)")
    bat.add_argument("--overwrite", action="store_true",
                     help="allow a non-empty output directory that is not a batch directory")
    bat.add_argument("--no-progress", action="store_true", help="no progress bar")
    bat.add_argument("--dashboard", action="store_true", help="serve the Dask dashboard of the local cluster")
    _add_detect_options(bat)
    bat.add_argument("--mission", default=None, help="mission of target names to fetch (Kepler, K2, TESS)")
    bat.add_argument("--sector", type=int, default=None, help="TESS sector of target names to fetch")
    bat.add_argument("--author", default=None, help="pipeline of target names to fetch (SPOC, QLP, ...)")
    bat.set_defaults(func=_cmd_batch)


def _cmd_train(args) -> int:
    try:
        from ..training.train import train_model
    except ImportError as err:  # TensorFlow is an optional extra
        print(f"astrotinyml: error: training needs TensorFlow ({err}); pip install 'astrotinyml[train]'",
              file=sys.stderr)
        return 2
    from ..training.real import backgrounds_from_manifest, real_training_set
    from ..training.backgrounds import REAL_BACKGROUNDS

    offline = True if args.offline else None
    real = None
    if args.planets or args.non_planets or args.labels:
        real = real_training_set(args.planets, args.non_planets, manifests=args.labels or (),
                                 search=not args.no_search_views, cache_dir=args.cache_dir, offline=offline,
                                 processes=args.processes, progress=True)
        a = real.info.get("archive", {})
        print(f"real examples: {len(real)} from {real.info.get('n_stars')} stars {real.counts()}; archive stars "
              f"asked {a.get('asked')}, found with light curves {a.get('found')} (of {a.get('tried')} tried); "
              f"{len(real.info.get('errors', []))} stars failed")
        for e in real.info.get("errors", [])[:10]:
            print(f"  skipped {e['target']}: {e['error'][:160]}")
    backgrounds = None
    if args.backgrounds:
        backgrounds = list(REAL_BACKGROUNDS)
        for m in args.backgrounds:
            backgrounds += backgrounds_from_manifest(m)
    res = train_model(planets=args.sim_planets, non_planets=args.sim_non_planets, epochs=args.epochs,
                      out_dir=args.out, seed=args.seed, processes=args.processes, real=real,
                      real_weight=args.real_weight, folds=args.folds, backgrounds=backgrounds,
                      n_real_natural=args.sim_natural, cache_dir=args.cache_dir)
    print(res)
    oof = res.metrics.get("real_out_of_fold", {}).get("int8")
    if oof:
        d = oof["subsets"]["planets_snr_ge_7"]
        c = oof["calibration"]
        print(f"real stars, out of fold ({args.folds} folds by star): planet recall {d['planet_recall']} "
              f"(vet SNR >= 7), non-planets not planet {d['non_planets_not_planet']}, AUC {d['auc']}; "
              f"ECE {c['ece_out_of_fold_before']} -> {c['ece_out_of_fold_after']}")
    print(f"model written to {res.out_dir}")
    return 0


def _cmd_calibrate(args) -> int:
    if args.history:
        _print_table(calibration_history(args.db, include_default=True))
        return 0
    if args.json and Path(args.json).exists() and not args.overwrite:
        # Checked before the (long) run, which would otherwise be stored and then refused.
        raise InvalidParameterError(f"--json {args.json} already exists; pass --overwrite or choose another path")
    refs = args.references or ["bundled"]
    references = reference_set(refs[0] if len(refs) == 1 else refs)
    if not args.no_store:
        check_writable(args.db)  # before the run: a read-only database fails now, not after it
    cal = calibrate(references, db=args.db, folds=args.folds, target_precision=args.target_precision,
                    store=False, progress=True)
    if not args.no_store:
        try:
            save_calibration(cal, db=args.db)
        except Exception:
            # the run is not lost with the database: --json still gets it, then the error
            if args.json:
                print(f"written {cal.to_json(args.json, overwrite=args.overwrite)} (not stored in the database)")
            raise
    print(cal.summary())
    if args.json:
        print(f"written {cal.to_json(args.json, overwrite=args.overwrite)}")
    # Drift is not an error, but scripts can tell it from a clean run.
    return 3 if cal.drift.get("flagged") else 0


def _cmd_pipeline(args) -> int:
    return cli_main(args)


def _add_network_options(parser) -> None:
    parser.add_argument("--offline", action="store_true",
                        help="serve only from the cache (and bundled snapshots); never touch the network")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="most seconds one archive query may take, retries included (default: %(default)s)")
    parser.add_argument("--cache-dir", default=None, help="cache directory (default: $ASTROTINYML_CACHE_DIR or ~/.astrotinyml)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``astrotinyml`` command (exposed for documentation).

    Examples
    --------
    >>> from astrotinyml.apps.cli import build_parser
    >>> args = build_parser().parse_args(["detect", "star.fits", "-o", "out"])
    >>> args.command, args.inputs, args.max_planets
    ('detect', ['star.fits'], 5)
    """
    parser = argparse.ArgumentParser(
        prog="astrotinyml",
        description="Find and vet transiting exoplanets in Kepler, K2 and TESS light curves.",
    )
    parser.add_argument("--version", action="version", version=f"astrotinyml {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add_demo_parser(sub)
    _add_detect_parser(sub)
    _add_vet_parser(sub)
    _add_report_parser(sub)
    _add_batch_parser(sub)
    _add_calibrate_parser(sub)
    _add_train_parser(sub)
    _add_fetch_parser(sub)
    _add_cache_parser(sub)
    _add_planets_parser(sub)
    _add_archives_parser(sub)
    _add_pipeline_parser(sub)
    _add_info_parser(sub)
    return parser


def _add_demo_parser(sub) -> None:
    """The ``demo`` command: the pipeline offline on the bundled light curves."""
    demo = sub.add_parser("demo", help="run the pipeline offline on the bundled real light curves")
    demo.add_argument("--output", default="demo_output", help="directory for the reports (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace reports of an earlier demo run")
    demo.set_defaults(func=_cmd_demo)


def _add_detect_parser(sub) -> None:
    """The ``detect`` command: detect, vet and report candidates in files."""
    det = sub.add_parser(
        "detect", help="detect, vet and report transit candidates in light-curve files",
        description="Each input file is one target (use --stitch for several files of one star); "
                    "a directory stands for the light-curve files inside it. Reports go to "
                    "OUTPUT/<target>/.")
    det.add_argument("inputs", nargs="+", metavar="INPUT", help="light-curve files or directories")
    det.add_argument("--output", "-o", required=True, help="output directory")
    _add_report_options(det, submit_help="also write a zip bundle with all formats, a manifest with checksums, a README "
                                         "and, for candidates labelled planet, an ExoFOP CTOI upload file")
    det.add_argument("--stitch", action="store_true", help="treat all inputs as quarters/sectors of one star")
    _add_detect_options(det)
    det.set_defaults(func=_cmd_detect)


def _add_calibrate_parser(sub) -> None:
    """The ``calibrate`` command: calibrate against reference targets; the history."""
    cal = sub.add_parser(
        "calibrate", help="calibrate against reference targets with known answers; show the history",
        description="Runs detect() on reference light curves (confirmed planets, EBs, false positives, "
                    "quiet/variable stars), matches detections to the known ephemerides and fits recovery, "
                    "probability calibration, the decision threshold and depth/duration corrections. Runs "
                    "are stored in an SQLite database; exit status 3 flags drift from the previous run.")
    cal.add_argument("--references", nargs="+", default=None, metavar="SET",
                     help="bundled (default), koi, toi, planets, or directories with a MANIFEST.csv")
    cal.add_argument("--db", default=None, help="calibration database (default: <cache>/calibration.sqlite)")
    cal.add_argument("--history", action="store_true", help="print the runs in the database and stop")
    cal.add_argument("--folds", type=int, default=5, help="cross-validation folds grouped by star; 0 = leave-one-target-out")
    cal.add_argument("--target-precision", type=float, default=0.9, help="precision that sets the threshold")
    cal.add_argument("--no-store", action="store_true", help="do not write the run to the database")
    cal.add_argument("--json", default=None, metavar="PATH", help="also write the calibration as JSON")
    cal.add_argument("--overwrite", action="store_true", help="replace --json if it exists")
    cal.set_defaults(func=_cmd_calibrate)


def _add_train_parser(sub) -> None:
    """The ``train`` command: train the classifier on real labelled stars and simulations."""
    train = sub.add_parser(
        "train", help="train the TinyML classifier on real labelled stars and simulations",
        description="Collects real labelled examples (Exoplanet Archive planets and false positives whose light "
                    "curves are fetched through the cache, plus corpus manifests), builds the simulated "
                    "training set (injections into real and synthetic noise), all passed through detrend -> "
                    "search -> vet -> fold as detect() does; evaluates on the real stars out of fold (folds "
                    "grouped by star), trains the CNN and exports float/int8 TFLite, a C array and a model card. "
                    "Needs the 'train' extra.")
    train.add_argument("--planets", type=int, default=0,
                       help="real planet hosts from the Exoplanet Archive (confirmed KOIs, TOI CP/KP) whose light "
                            "curves fetch can get: online from MAST, offline from the cache (default: %(default)s)")
    train.add_argument("--non-planets", type=int, default=0,
                       help="real false-positive stars (KOI stellar-eclipse/centroid/not-transit-like flags, TOI "
                            "FP/EB) likewise (default: %(default)s)")
    train.add_argument("--labels", nargs="+", metavar="MANIFEST", default=None,
                       help="corpus MANIFEST.csv files whose stars (EBs, variable and quiet stars, hosts) add real "
                            "examples from their local files")
    train.add_argument("--no-search-views", action="store_true",
                       help="real examples at the catalogue ephemerides only (no search on the real stars)")
    train.add_argument("--real-weight", type=float, default=6.0,
                       help="loss weight of a real example against a simulated one (default: %(default)s)")
    train.add_argument("--folds", type=int, default=5,
                       help="star-grouped folds of the out-of-fold evaluation on the real examples (default: %(default)s)")
    train.add_argument("--sim-planets", type=int, default=None, help="simulated planet injections (default 1600)")
    train.add_argument("--sim-non-planets", type=int, default=None,
                       help="simulated non-planet injections over eb/variability/instrumental/noise (default 4000)")
    train.add_argument("--sim-natural", type=int, default=150,
                       help="simulated-set examples of the backgrounds' own strongest signal, nothing injected "
                            "(default: %(default)s)")
    train.add_argument("--backgrounds", nargs="+", metavar="MANIFEST", default=None,
                       help="corpus MANIFEST.csv files whose quiet and variable stars are added to the injection "
                            "backgrounds")
    train.add_argument("--epochs", type=int, default=80, help="most epochs; early stopping (default: %(default)s)")
    train.add_argument("--out", default=None, help="output directory (default: <cache>/models/astrotinyml-cnn-v1-<seed>)")
    train.add_argument("--seed", type=int, default=20240, help="random seed (default: %(default)s)")
    train.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                       help="processes building the dataset (default: one per core; the dataset does not depend on it)")
    _add_network_options(train)
    train.set_defaults(func=_cmd_train)


def _add_fetch_parser(sub) -> None:
    """The ``fetch`` command: download light curves of a target into the cache."""
    fetch = sub.add_parser("fetch", help="download light curves of a target from MAST into the cache",
                           description="Search MAST with lightkurve and download the matching light "
                                       "curves into the cache; a warm cache makes no network request.")
    fetch.add_argument("target", help='target name or id, e.g. "Kepler-90", "TIC 100100827"')
    fetch.add_argument("--mission", choices=["Kepler", "K2", "TESS"], default=None)
    fetch.add_argument("--sector", type=int, nargs="+", default=None, help="TESS sector(s)")
    fetch.add_argument("--quarter", type=int, nargs="+", default=None, help="Kepler quarter(s)")
    fetch.add_argument("--campaign", type=int, nargs="+", default=None, help="K2 campaign(s)")
    fetch.add_argument("--author", default=None, help="pipeline, e.g. SPOC, Kepler, K2, QLP, TESS-SPOC")
    fetch.add_argument("--exptime", default=None, help="long, short, fast, or seconds")
    fetch.add_argument("--all-products", action="store_true", help="every product, not one per segment")
    fetch.add_argument("--refresh", action="store_true", help="search MAST again even when cached")
    _add_network_options(fetch)
    fetch.set_defaults(func=_cmd_fetch)


def _add_planets_parser(sub) -> None:
    """The ``planets`` command: query the NASA Exoplanet Archive."""
    planets = sub.add_parser("planets", help="query the NASA Exoplanet Archive (planets, KOI, TOI)",
                             description="Offline, answers come from the cache, then from the bundled "
                                         "catalogue snapshots (with a warning giving their age).")
    planets.add_argument("target", nargs="?", default=None, help="host / KOI / TOI / TIC name (optional)")
    planets.add_argument("--catalog", choices=["planets", "koi", "toi"], default="planets")
    planets.add_argument("--disposition", nargs="+", default=None, help="koi/toi dispositions, e.g. CONFIRMED, FP, PC")
    planets.add_argument("--facility", default=None, help="discovery facility (planets)")
    planets.add_argument("--method", default=None, help="discovery method (planets)")
    planets.add_argument("--period-min", type=float, default=None, help="[d]")
    planets.add_argument("--period-max", type=float, default=None, help="[d]")
    planets.add_argument("--columns", default=None, help="comma-separated archive column names")
    planets.add_argument("--order-by", default=None, help="column to sort by (prefix - for descending)")
    planets.add_argument("--limit", type=int, default=None, help="most rows")
    planets.add_argument("--ephemerides", action="store_true",
                         help="print the contract columns (pl_orbper, pl_tranmid, ...) instead")
    planets.add_argument("--max-age", type=float, default=None, help="cache expiry in days (default 7)")
    planets.add_argument("--output", default=None, help="write the table to this file instead of printing")
    planets.add_argument("--format", choices=["fixed_width", "csv", "ecsv"], default="ecsv",
                         help="format of --output (default: %(default)s)")
    planets.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    _add_network_options(planets)
    planets.set_defaults(func=_cmd_planets)


def _add_archives_parser(sub) -> None:
    """The ``archives`` command: what MAST, IRSA and HEASARC hold for a target."""
    arch = sub.add_parser("archives", help="what MAST, IRSA and HEASARC hold for a target")
    arch.add_argument("target", help='target name or "ra dec" in degrees')
    arch.add_argument("--radius", type=float, default=5.0, help="search radius [arcsec] (default: %(default)s)")
    _add_network_options(arch)
    arch.set_defaults(func=_cmd_archives)


def _add_pipeline_parser(sub) -> None:
    """The ``pipeline`` command: the papermill notebook pipeline."""
    pipe = sub.add_parser(
        "pipeline", help="run the pipeline notebooks (01-04) in order with papermill",
        description="Executes notebooks/01_fetch_and_inspect ... 04_report with papermill, passing each "
                    "notebook only the parameters it declares. Data files and the executed notebooks go "
                    "to --out; a failing cell stops the run and names the notebook and the cell.")
    add_cli_arguments(pipe)
    pipe.set_defaults(func=_cmd_pipeline)


def _add_info_parser(sub) -> None:
    """The ``info`` command: summaries of light-curve files."""
    info = sub.add_parser("info", help="read light-curve files and print a summary table")
    info.add_argument("inputs", nargs="+",
                      help="light-curve files (FITS, CSV, TXT, DAT, NPY, NPZ) or directories; each is summarized, "
                           "unreadable ones are listed after the table, manifests and READMEs skipped")
    info.add_argument("--time-format", default=None,
                      help="time system of text files whose header does not say it (e.g. btjd, bkjd, bjd)")
    info.add_argument("--flux-column", default=None, help="flux column to use instead of the default")
    info.set_defaults(func=_cmd_info)


def main(argv=None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> from astrotinyml.apps.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    astrotinyml 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(_dash_values(sys.argv[1:] if argv is None else list(argv)))

    def _one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"astrotinyml: warning: {message}", file=sys.stderr)

    showwarning = warnings.showwarning
    warnings.showwarning = _one_line_warning
    # Names from files and arguments reach the terminal escaped (a file named with ESC [2J
    # must not clear the screen): every byte this command prints goes through printable().
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _EscapingStream(stdout), _EscapingStream(stderr)
    try:
        return int(args.func(args) or 0)
    except AstroTinyMLError as err:
        print(f"astrotinyml: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # e.g. an output path that is not writable
        print(f"astrotinyml: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("astrotinyml: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last boundary: one line, not a traceback
        if os.environ.get("ASTROTINYML_DEBUG", "") not in ("", "0"):
            raise
        line = " ".join(str(err).split())[:300]
        print(f"astrotinyml: error: {type(err).__name__}: {line} (unexpected: please report it; "
              f"ASTROTINYML_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = showwarning
        sys.stdout, sys.stderr = stdout, stderr


class _EscapingStream:
    """A text stream that escapes control characters (newline, tab and CR pass) on write."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(printable(text, keep="\n\r\t"))

    def __getattr__(self, name):
        return getattr(self._stream, name)


# Options whose value may start with "-" ("--order-by -pl_orbper" = descending, as the help says).
_DASH_VALUE_OPTIONS = ("--order-by",)


def _dash_values(argv: list) -> list:
    """``--order-by -x`` -> ``--order-by=-x``: argparse would take ``-x`` for an option."""
    out: list = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _DASH_VALUE_OPTIONS and i + 1 < len(argv) and str(argv[i + 1]).startswith("-") \
                and not str(argv[i + 1]).startswith("--"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out
