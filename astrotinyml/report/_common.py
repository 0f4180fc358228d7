"""Pieces shared by the report writers: provenance, units, safe names, JSON-able values."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..candidates import CONTRACT_DESCRIPTIONS, CONTRACT_UNITS, plain  # noqa: F401  (the report writers' names)
from ..provenance import package_versions, sha256_file

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
    versions = package_versions(("numpy", "astropy", "lightkurve", "wotan", "numba", "ai-edge-litert"), python=True)
    return {
        "software": versions,
        "model_sha256": result.model_sha256 or None,
        "calibration_id": result.calibration_id,
        "generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
