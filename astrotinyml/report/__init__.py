"""NASA-style reports of a detection: PDF vetting sheet, JSON, FITS, CSV, submission bundle.

:func:`write_report` is the entry point.  Every file is written atomically (temporary file
in the same directory, then a rename), nothing is overwritten without ``overwrite=True``,
and file names derived from target names are sanitized with :func:`safe_name`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Iterable

from ..atomic import OutputExistsError, atomic_paths
from ..errors import InvalidParameterError
from ..provenance import sha256_file
from ..results import RESULT_SUFFIX
from ..results import save_result as _save
from ._common import CONTRACT_DESCRIPTIONS, CONTRACT_UNITS, plain, safe_name
from .exofop import CTOI_COLUMNS, CTOI_UNITS, ctoi_file_name, ctoi_lines, write_ctoi
from . import formats as _formats_module
from . import pdf as _pdf_module
from .formats import report_dict

__all__ = ["write_report", "check_formats", "plain", "safe_name", "FORMATS", "OutputExistsError"]

#: Formats :func:`write_report` knows, with their file suffixes.
FORMATS = {"pdf": ".pdf", "json": ".json", "fits": ".fits", "csv": ".csv"}


def check_formats(formats: Iterable[str]) -> list[str]:
    """The report formats asked for, lower-cased and without duplicates, checked against :data:`FORMATS`.

    Parameters
    ----------
    formats : str or iterable of str
        Format names (``"pdf"``, ``".json"``, ...), or one name.

    Returns
    -------
    list of str

    Raises
    ------
    InvalidParameterError
        An unknown format, or none.

    Examples
    --------
    >>> check_formats(["PDF", ".json", "pdf"])
    ['pdf', 'json']
    """
    if isinstance(formats, str):
        formats = [formats]
    chosen = []
    for fmt in formats:
        key = str(fmt).lower().lstrip(".")
        if key not in FORMATS:
            raise InvalidParameterError(
                f"unknown report format {fmt!r}; choose from {', '.join(FORMATS)}")
        if key not in chosen:
            chosen.append(key)
    if not chosen:
        raise InvalidParameterError(f"no report format given; choose from {', '.join(FORMATS)}")
    return chosen


def _bundle_readme(target: str, names: list[str]) -> str:
    lines = [
        f"astrotinyml submission bundle for {target}",
        "",
        "Files:",
        *[f"  {n}" for n in names],
        "  manifest.json  sha256 of every file in this bundle and of every input light curve",
        "",
        "Candidate columns (NASA Exoplanet Archive names):",
    ]
    for name, desc in CONTRACT_DESCRIPTIONS.items():
        unit = CONTRACT_UNITS.get(name)
        lines.append(f"  {name}{' [' + unit + ']' if unit else ''}: {desc}")
    lines += ["", "Times are BJD_TDB. Depth is in parts per million. Missing values are empty (CSV)",
              "or null (JSON). The FITS file holds one folded light curve per candidate (TCE_n)",
              "and, for fitted candidates, the transit fit's posterior draws (POSTERIOR_n)."]
    if any(n.startswith("params_planet_") for n in names):
        lines += ["", "params_planet_YYYYMMDD_nnn.txt: ExoFOP bulk upload of planet parameters (candidates",
                  "labelled planet), pipe-delimited, no header, fields in this order:",
                  "  " + "|".join(CTOI_COLUMNS),
                  "Units: " + ", ".join(f"{k} [{u}]" for k, (u, _) in CTOI_UNITS.items() if u) + ".",
                  "Check it against ExoFOP's upload help before submitting."]
    return "\n".join(lines) + "\n"


def write_report(result, out_dir, *, formats=("pdf", "json", "fits", "csv"), overwrite=False,
                 submit_ready=False, save_result=False) -> dict[str, Path]:
    """Write the reports of one detection.

    Parameters
    ----------
    result : astrotinyml.detection.DetectionResult
        What :func:`astrotinyml.detect` returned for one target.
    out_dir : str or path-like
        Directory for the files (created if missing). File names are
        ``<safe target name>.<suffix>``.
    formats : sequence of str
        Any of ``"pdf"``, ``"json"``, ``"fits"``, ``"csv"``.
    overwrite : bool
        Replace existing files. Without it an existing file raises
        :class:`OutputExistsError` before anything is written.
    submit_ready : bool
        Also write ``<name>_submission.zip`` holding every format (all four are written),
        a ``manifest.json`` with the sha256 of each file and of each input, and a README
        describing the columns and units; with a candidate labelled ``planet``, also an
        ExoFOP planet-parameter upload file ``params_planet_YYYYMMDD_001.txt``
        (:mod:`astrotinyml.report.exofop`; key ``"ctoi"``), in the directory and the bundle.
    save_result : bool
        Also save the detection itself as ``<name>.result.fits``
        (:func:`astrotinyml.results.save_result`; key ``"result"``), from which
        ``astrotinyml report`` rebuilds the reports without detecting again.

    Returns
    -------
    dict of str to pathlib.Path
        Path of each file written, keyed by format (and ``"bundle"`` for the zip).

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml import datasets, detect, write_report
    >>> result = detect(datasets.load_sample("wasp-18"))  # doctest: +SKIP
    >>> paths = write_report(result, tempfile.mkdtemp(), formats=["json", "csv"])  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['csv', 'json']
    """

    chosen = check_formats(FORMATS if submit_ready else formats)
    out_dir = Path(out_dir)
    stem = safe_name(result.target)
    targets = {fmt: out_dir / f"{stem}{FORMATS[fmt]}" for fmt in chosen}
    ctoi = []
    if save_result:
        targets["result"] = out_dir / f"{stem}{RESULT_SUFFIX}"
    if submit_ready:
        targets["bundle"] = out_dir / f"{stem}_submission.zip"

        ctoi = ctoi_lines(result)
        if ctoi:  # an ExoFOP upload file only for candidates labelled planet
            targets["ctoi"] = out_dir / ctoi_file_name()
    # Refuse before writing anything, so a refused call leaves no partial set of files.
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"report file(s) already exist: {', '.join(existing)}; pass overwrite=True "
            "(--overwrite) to replace them or choose another output directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = report_dict(result)
    writers = {
        # Looked up on the writer modules at call time, so a writer can be replaced there.
        "json": lambda p: _formats_module.write_json(result, p, report=report),
        "csv": lambda p: _formats_module.write_csv(result, p),
        "fits": lambda p: _formats_module.write_fits(result, p),
        "pdf": lambda p: _pdf_module.write_pdf(result, p, report=report),
    }
    # All or nothing: every format goes to a temporary file first and they are renamed into
    # place together at the end, so a failure (or a failed --overwrite rerun) leaves the
    # earlier reports as they were and no partial set behind.
    with atomic_paths(targets, overwrite=True) as tmp:
        for fmt in chosen:
            writers[fmt](tmp[fmt])
        if save_result:  # after the PDF, which computes the periodogram it then holds

            _save(result, tmp["result"])
        if submit_ready:
            if ctoi:
                write_ctoi(ctoi, tmp["ctoi"])
            names = {fmt: targets[fmt].name for fmt in chosen + (["ctoi"] if ctoi else [])}
            manifest = {
                "target": str(result.target),
                "files": {names[fmt]: sha256_file(tmp[fmt]) for fmt in names},
                "inputs": {i["name"]: i["sha256"] for i in report["inputs"]},
                "provenance": report["provenance"],
            }
            with zipfile.ZipFile(tmp["bundle"], "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for fmt in names:
                    zf.write(tmp[fmt], arcname=names[fmt])
                zf.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
                zf.writestr("README.txt", _bundle_readme(str(result.target), list(names.values())))
    written = dict(targets)
    return written
