"""Pieces shared by the report writers: provenance, units, safe names, JSON-able values."""

from __future__ import annotations

import math
import platform
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._util import sha256_file  # noqa: F401  (re-exported for the report writers)
from .._version import __version__

#: Units of the DESIGN.md column contract (ppm is not an astropy unit: depth stays a float).
CONTRACT_UNITS = {
    "pl_orbper": "d",
    "pl_tranmid": "d",
    "pl_trandurh": "h",
    "pl_trandep": "ppm",
    # Not contract columns, but depths in ppm too (plain floats: astropy has no ppm unit).
    "pl_trandep_cal": "ppm",
    # Radii in Earth and solar radii: no FITS units, plain floats like the depths.
    "companion_rade": "R_earth",
    "st_rad": "R_sun",
}

#: What every contract column means; written into the CSV header, the README of the bundle.
CONTRACT_DESCRIPTIONS = {
    "hostname": "target name",
    "pl_orbper": "orbital period [d]",
    "pl_tranmid": "mid-transit time of the first transit in the data [BJD_TDB, d]",
    "pl_trandurh": "transit duration [h]: first-to-fourth contact T14 of the transit fit when fitted (fit_method), else the search's box width",
    "pl_trandep": "transit depth [ppm]",
    "snr": "correlated-noise signal-to-noise ratio: depth over the white + red noise of the flux "
           "averaged over the transit duration (Pont et al. 2006; vet's mes_red)",
    "snr_white": "the search's signal-to-noise ratio, white noise assumed (>= snr on red noise)",
    "sde": "signal detection efficiency of the periodogram peak",
    "n_transits": "number of transits with data",
    "label": "classifier label (planet, eb, variability, instrumental, noise, unknown)",
    "p_planet": "calibrated probability of a planetary transit",
    "p_eb": "calibrated probability of an eclipsing binary",
    "p_variability": "calibrated probability of stellar variability",
    "p_instrumental": "calibrated probability of an instrumental systematic",
    "p_noise": "calibrated probability of a false alarm",
    "label_note": "why the label differs from the classifier's choice (the star's physics), if it does",
    "companion_rade": "radius of a dark companion making the depth, sqrt(depth) * st_rad [R_earth]",
    "st_rad": "stellar radius used [R_sun] (st_rad_source: where from; 'prior' = the Sun assumed)",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
# Device names Windows reserves whatever the extension ("con.json" is the console there).
_WINDOWS_RESERVED = re.compile(r"^(?:CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[0-9]|LPT[0-9])(?:\..*)?$",
                               re.IGNORECASE)


def safe_name(name: Any, *, max_length: int = 80) -> str:
    """A file-name stem from a target name that cannot escape a directory.

    Separators, ``..``, control characters and anything outside ``[A-Za-z0-9._+-]``
    become ``_``; leading dots are dropped (no hidden files, no ``..``); the result is
    never empty.

    Examples
    --------
    >>> from astrotinyml.report import safe_name
    >>> safe_name("TIC 100100827")
    'TIC_100100827'
    >>> safe_name("../../etc/passwd")
    'etc_passwd'
    >>> safe_name("CON"), safe_name("com1.x")
    ('_CON', '_com1.x')
    """
    text = unicodedata.normalize("NFKC", str(name))
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", "_", text)
    text = re.sub(r"_+", "_", text).strip("._-")
    text = text[:max_length].rstrip("._-") or "target"
    if _WINDOWS_RESERVED.match(text):
        # CON, NUL, COM1, LPT9 ... (with any extension) name devices on Windows, never files
        text = "_" + text
    return text




def plain(value: Any) -> Any:
    """A JSON-able Python value: quantities lose their unit, NaN and masked become None."""
    if hasattr(value, "unit") and hasattr(value, "value"):
        value = value.value
    if isinstance(value, np.ma.core.MaskedConstant):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


def column_unit(table, name: str) -> str | None:
    """Unit of a candidates column as a string (contract units first)."""
    unit = getattr(table[name], "unit", None)
    if unit is not None and str(unit):
        return str(unit)
    return CONTRACT_UNITS.get(name)


def candidate_rows(table) -> list[dict[str, Any]]:
    """Candidates as a list of plain dicts, values in the units of :func:`column_unit`."""
    rows = []
    for row in table:
        rows.append({name: plain(row[name]) for name in table.colnames})
    return rows


def inputs_of(result) -> list[dict[str, Any]]:
    """Input files of a detection with their sha256 (from the light curve's meta)."""
    meta = result.raw.meta
    files = meta.get("source_files") or [meta.get("source_file")]
    hashes = meta.get("sha256s") or [meta.get("sha256")]
    out = []
    for i, path in enumerate(files):
        if not path:
            continue
        sha = hashes[i] if i < len(hashes) and hashes[i] else None
        if sha is None and Path(path).is_file():
            sha = sha256_file(path)
        # The file's name and checksum, not the machine's absolute path (reports travel).
        out.append({"name": Path(str(path)).name, "sha256": sha})
    return out


def mission_of(result) -> dict[str, Any]:
    meta = result.raw.meta
    keys = ("target", "mission", "sector", "quarter", "campaign", "cadence_min", "flux_column")
    return {k: plain(meta.get(k)) for k in keys}


def provenance(result) -> dict[str, Any]:
    """Software, model and calibration provenance of a detection result."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"astrotinyml": __version__, "python": platform.python_version()}
    # Package metadata, not module attributes: wotan has no __version__, and nothing is imported.
    for dist in ("numpy", "astropy", "lightkurve", "wotan", "numba", "ai-edge-litert"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return {
        "software": versions,
        "model_sha256": result.model_sha256 or None,
        "calibration_id": result.calibration_id,
        "generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
