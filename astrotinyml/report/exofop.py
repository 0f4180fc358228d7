"""ExoFOP bulk upload of planet parameters (a CTOI or new parameters of a TOI).

ExoFOP's "Upload planet parameters" accepts a pipe-delimited text file named
``params_planet_YYYYMMDD_nnn.txt``, one planet per line and no header, with these fields
in this order (:data:`CTOI_COLUMNS`; units as ExoFOP documents them)::

    target|flag|disp|period|period_unc|epoch|epoch_unc|depth|depth_unc|duration|duration_unc|
    inc|inc_unc|imp|imp_unc|r_planet|r_planet_unc|ar_star|a_rstar_unc|radius|radius_unc|
    mass|mass_unc|temp|temp_unc|insol|insol_unc|dens|dens_unc|sma|sma_unc|ecc|ecc_unc|
    arg_peri|arg_peri_unc|time_peri|time_peri_unc|vsa|vsa_unc|tag|group|prop_period|notes

``target`` is the TIC id (digits) for a TESS star, or the TOI (``185.01``) when new
parameters of a known TOI are given (``flag`` ``newparams``; ``newctoi`` for a new
community candidate); ``disp`` is ``PC``.  Period [d], epoch [BJD_TDB], depth [ppm],
duration [h], inclination [deg], impact parameter, Rp/R*, a/R*, planet radius [R_earth],
stellar density [g/cm^3]; fields this pipeline does not measure (mass, temperature,
insolation, semi-major axis, eccentricity, periastron, RV semi-amplitude) are left empty.
Uncertainties are the symmetric 1-sigma (the mean of the two sides of the posterior).
The format was written from ExoFOP's help pages as recorded for this project (no network
here); check the file against https://exofop.ipac.caltech.edu/tess/ before uploading.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ._common import plain

__all__ = ["CTOI_COLUMNS", "CTOI_UNITS", "ctoi_lines", "ctoi_file_name", "write_ctoi"]

#: The fields of an ExoFOP planet-parameter line, in order.
CTOI_COLUMNS = (
    "target", "flag", "disp", "period", "period_unc", "epoch", "epoch_unc", "depth", "depth_unc",
    "duration", "duration_unc", "inc", "inc_unc", "imp", "imp_unc", "r_planet", "r_planet_unc",
    "ar_star", "a_rstar_unc", "radius", "radius_unc", "mass", "mass_unc", "temp", "temp_unc",
    "insol", "insol_unc", "dens", "dens_unc", "sma", "sma_unc", "ecc", "ecc_unc", "arg_peri",
    "arg_peri_unc", "time_peri", "time_peri_unc", "vsa", "vsa_unc", "tag", "group", "prop_period",
    "notes",
)

#: Unit of each numeric field (ExoFOP's), and the candidate column it comes from.
CTOI_UNITS = {
    "period": ("d", "pl_orbper"), "epoch": ("BJD_TDB", "pl_tranmid"), "depth": ("ppm", "pl_trandep"),
    "duration": ("h", "pl_trandurh"), "inc": ("deg", None), "imp": ("", "pl_imppar"),
    "r_planet": ("Rp/R*", "pl_ratror"), "ar_star": ("a/R*", "pl_ratdor"),
    "radius": ("R_earth", "pl_rade"), "dens": ("g/cm^3", "st_dens_implied"),
}


def ctoi_file_name(directory: str | Path | None = None, *, when: datetime | None = None) -> str:
    """``params_planet_YYYYMMDD_nnn.txt`` with the first ``nnn`` free in ``directory``.

    Examples
    --------
    >>> from datetime import datetime
    >>> ctoi_file_name(when=datetime(2026, 12, 1))
    'params_planet_20261201_001.txt'
    """
    day = (when or datetime.now(timezone.utc)).strftime("%Y%m%d")
    n = 1
    while directory is not None and (Path(directory) / f"params_planet_{day}_{n:03d}.txt").exists():
        n += 1
    return f"params_planet_{day}_{n:03d}.txt"


def _number(row, name) -> float:
    if name not in row.colnames:
        return math.nan
    v = plain(row[name])
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _sigma(row, name) -> float:
    e1, e2 = _number(row, name + "err1"), _number(row, name + "err2")
    sides = [abs(e) for e in (e1, e2) if math.isfinite(e)]
    return float(np.mean(sides)) if sides else math.nan


def _text(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:.{digits}g}"


def _clean(text: str) -> str:
    """No pipes or line breaks inside a field."""
    return re.sub(r"[|\r\n]+", " ", str(text)).strip()


def _target_field(target: str, row) -> tuple[str, str]:
    """(target, flag): a TOI's new parameters, else a new CTOI on the TIC id."""
    name = str(plain(row["name"])) if "name" in row.colnames else ""
    m = re.fullmatch(r"(?i)toi[ _-]?(\d+\.\d{1,2})", name.strip())
    if m:
        return m.group(1), "newparams"
    m = re.fullmatch(r"(?i)(?:tic|tess)[ _-]?0*(\d+)", str(target).strip())
    return (m.group(1) if m else _clean(target)), "newctoi"


def ctoi_lines(result, *, tag: str | None = None, group: str = "", prop_period: int = 0,
               only_planets: bool = True) -> list[str]:
    """ExoFOP planet-parameter lines of a detection's candidates.

    Parameters
    ----------
    result : astrotinyml.detection.DetectionResult
        A detection; with ``detect(..., fit="mcmc")`` (or ``"lsq"``) the fitted values and
        errors are used, else the box values (no errors, no Rp/R*).
    tag : str, optional
        ExoFOP tag; default ``YYYYMMDD_astrotinyml``.
    group : str
        ExoFOP group name (empty: none).
    prop_period : int
        Proprietary period [months].
    only_planets : bool
        Only candidates labelled ``planet`` (default).

    Returns
    -------
    list of str
        One line per candidate, fields of :data:`CTOI_COLUMNS` joined by ``|``.

    Examples
    --------
    >>> from astrotinyml import datasets, detect  # doctest: +SKIP
    >>> lines = ctoi_lines(detect(datasets.load_sample("wasp-18"), fit="lsq"))  # doctest: +SKIP
    >>> lines[0].split("|")[:3]  # doctest: +SKIP
    ['100100827', 'newctoi', 'PC']
    """

    cands = result.candidates
    tag = tag or datetime.now(timezone.utc).strftime("%Y%m%d") + "_astrotinyml"
    posteriors = cands.meta.get("fit_posteriors") or {}
    lines = []
    for i, row in enumerate(cands):
        label = str(plain(row["label"])) if "label" in cands.colnames else ""
        if only_planets and label != "planet":
            continue
        target, flag = _target_field(str(result.target), row)
        rec: dict[str, str] = {c: "" for c in CTOI_COLUMNS}
        rec.update(target=target, flag=flag, disp="PC", tag=_clean(tag), group=_clean(group),
                   prop_period=str(int(prop_period)))
        digits = {"period": 9, "epoch": 12, "depth": 5, "duration": 5, "imp": 4, "r_planet": 5,
                  "ar_star": 5, "radius": 4, "dens": 4}
        for field, (_, col) in CTOI_UNITS.items():
            if col is None:
                continue
            unc = "a_rstar_unc" if field == "ar_star" else f"{field}_unc"
            rec[field] = _text(_number(row, col), digits[field])
            rec[unc] = _text(_sigma(row, col), 3)
        draws = posteriors.get(i)
        if draws is not None and "pl_ratdor" in draws and np.isfinite(draws["pl_ratdor"]).all():
            ratio = np.clip(np.asarray(draws["pl_imppar"]) / np.asarray(draws["pl_ratdor"]), 0.0, 1.0)
            inc = np.degrees(np.arccos(ratio))
            rec["inc"] = _text(float(np.median(inc)), 5)
            rec["inc_unc"] = _text(float(np.diff(np.percentile(inc, [16, 84]))[0] / 2.0), 3)
        fit = str(plain(row["fit_method"])) if "fit_method" in cands.colnames else "box (no fit)"
        p = _number(row, "p_planet")
        rec["notes"] = _clean(
            f"astrotinyml {__version__}; transit fit: {fit}; classifier label {label}"
            + (f", calibrated p_planet {p:.2f}" if math.isfinite(p) else "")
            + (f"; vetting flags {plain(row['vet_flags'])}" if "vet_flags" in cands.colnames
               and plain(row["vet_flags"]) else ""))[:250]
        lines.append("|".join(rec[c] for c in CTOI_COLUMNS))
    return lines


def write_ctoi(lines: list[str], path: Any) -> None:
    """Write the lines (no header, as ExoFOP's bulk upload expects) to ``path``.

    Parameters
    ----------
    lines : list of str
        From :func:`ctoi_lines`.
    path : str or path-like

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / ctoi_file_name()
    >>> write_ctoi(["100100827|newctoi|PC" + "|" * 40], p)
    >>> len(p.read_text().strip().split("|")) == len(CTOI_COLUMNS)
    True
    """
    with open(path, "w", encoding="ascii", errors="replace", newline="\n") as fh:
        for line in lines:
            fh.write(line + "\n")
