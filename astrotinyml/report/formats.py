"""JSON, FITS and CSV writers of a detection result.

Each ``write_*`` function writes one file at ``path`` (the caller makes it atomic) and
returns nothing; :func:`astrotinyml.report.write_report` is the public entry point.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..config import PACKAGE_DIR
from ..io.conventions import MISSION_BJD_OFFSETS
from ..transitfit import model_flux
from ..transits import fold_phase
from ._common import (
    CONTRACT_DESCRIPTIONS,
    CONTRACT_UNITS,
    candidate_rows,
    column_unit,
    inputs_of,
    mission_of,
    plain,
    provenance,
)

SCHEMA_VERSION = "1.0"
SCHEMA_FILE = "report-1.0.schema.json"

#: BJD reference of each mission's time system, as in the mission FITS files.


def load_schema() -> dict[str, Any]:
    """The JSON Schema of the JSON report shipped with the package.

    Examples
    --------
    >>> from astrotinyml.report.formats import load_schema
    >>> load_schema()["properties"]["schema_version"]["const"]
    '1.0'
    """
    # Beside this module in the installed package (importlib.resources would cost ~20 ms of import).
    text = (PACKAGE_DIR / "report" / SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def report_dict(result, *, extra_provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON report of a detection result as a plain dict (what ``write_json`` writes)."""
    table = result.candidates
    prov = provenance(result)
    if extra_provenance:
        prov.update(extra_provenance)
    return {
        "schema_version": SCHEMA_VERSION,
        "target": str(result.target),
        "mission": mission_of(result),
        "inputs": inputs_of(result),
        "provenance": prov,
        "options": plain(dict(result.options)),
        # The posterior draws are in the FITS file (POSTERIOR_n), not in the JSON.
        "search": plain({k: v for k, v in table.meta.items() if k != "fit_posteriors"}),
        "units": {name: column_unit(table, name) for name in table.colnames
                  if column_unit(table, name)},
        "n_candidates": len(table),
        "candidates": candidate_rows(table),
    }


def write_json(result, path, *, report: dict[str, Any] | None = None) -> None:
    report = report if report is not None else report_dict(result)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2, allow_nan=False)
        fh.write("\n")


def _csv_table(result):
    from astropy.table import QTable

    table = QTable(result.candidates, copy=True)
    # Object columns (lists of flags, ...) have no CSV form: join them.
    for name in table.colnames:
        if table[name].dtype.kind == "O":
            table[name] = [";".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
                           for v in table[name]]
    table.add_column([str(result.target)] * len(table), name="hostname", index=0)
    return table


def write_csv(result, path) -> None:
    table = _csv_table(result)
    prov = provenance(result)
    comments = [f"astrotinyml candidates for {result.target}; NASA Exoplanet Archive column names",
                "software: " + ", ".join(f"{k} {v}" for k, v in prov["software"].items()),
                f"model_sha256: {prov['model_sha256'] or 'none'}",
                f"calibration_id: {prov['calibration_id'] or 'none'}",
                f"generated_utc: {prov['generated_utc']}"]
    comments += [f"input: {i['name']} sha256 {i['sha256'] or 'unknown'}" for i in inputs_of(result)]
    comments.append("columns and units:")
    for name in table.colnames:
        unit = column_unit(table, name)
        desc = (CONTRACT_DESCRIPTIONS.get(name) or getattr(result.candidates[name].info, "description", None)
                if name in result.candidates.colnames else CONTRACT_DESCRIPTIONS.get(name)) or "diagnostic"
        comments.append(f"  {name}" + (f" [{unit}]" if unit else "") + f": {desc}")
    table.meta["comments"] = comments
    table.write(path, format="ascii.csv", overwrite=True, comment="# ")


def _ascii(text) -> str:
    """FITS header strings must be printable ASCII: transliterate, replace the rest with '?'."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(text))
    return "".join(c if 32 <= ord(c) < 127 else ("" if unicodedata.combining(c) else "?") for c in text)


def _header_value(value):
    value = plain(value)
    if value is None:
        return None
    if isinstance(value, (list, dict)):
        return _ascii(json.dumps(value))[:68]
    if isinstance(value, str):
        return _ascii(value)[:68]
    return value


def write_fits(result, path) -> None:
    """FITS: provenance primary HDU, a CANDIDATES table, one folded light curve per candidate.

    The per-candidate extensions follow the TESS DV time-series files: header keywords
    TPERIOD [d], TEPOCH [BJD - BJDREFI - BJDREFF], TDUR [h], TDEPTH [ppm], TSNR, and
    columns TIME, PHASE (days from mid-transit), LC_INIT, LC_DETREND(_ERR), MODEL_INIT (the
    fitted limb-darkened model of :func:`astrotinyml.transitfit.fit_transit` when the candidate
    was fitted, else the box).  Fitted candidates add a POSTERIOR_n table of posterior draws.
    """
    from astropy.io import fits

    report = report_dict(result)
    mission = report["mission"].get("mission") or ""
    bjdref = MISSION_BJD_OFFSETS.get(mission, 0.0)
    hdulist = [_primary_hdu(result, report, bjdref), _candidates_hdu(result)]
    flat, raw = result.flat, result.raw
    t = np.asarray(flat.time.jd, dtype=float)
    f = np.asarray(flat.flux.value, dtype=float)
    fe = np.asarray(flat.flux_err.value, dtype=float)
    f_init = np.asarray(raw.flux.value, dtype=float) if len(raw) == len(flat) else np.full_like(f, np.nan)
    for i, row in enumerate(report["candidates"], start=1):
        hdulist.append(_tce_hdu(result, i, row, t, f, fe, f_init, bjdref))
    hdulist += _posterior_hdus(result)
    fits.HDUList(hdulist).writeto(path, overwrite=True, output_verify="exception")


def _bjdref_cards(bjdref: float) -> tuple[float, float]:
    """(BJDREFI, BJDREFF): the integer and fractional parts of the BJD reference."""
    return float(np.floor(bjdref)), float(bjdref - np.floor(bjdref))


def _primary_hdu(result, report: dict, bjdref: float):
    """Primary HDU: target, mission, software, model, calibration and input provenance."""
    from astropy.io import fits

    bjdrefi, bjdreff = _bjdref_cards(bjdref)
    primary = fits.PrimaryHDU()
    hdr = primary.header
    hdr["ORIGIN"] = ("astrotinyml", "institution / software responsible for the file")
    hdr["CREATOR"] = (f"astrotinyml {report['provenance']['software']['astrotinyml']}", "software")
    hdr["DATE"] = (report["provenance"]["generated_utc"], "file creation date (UTC)")
    hdr["SCHEMAV"] = (SCHEMA_VERSION, "report schema version")
    hdr["OBJECT"] = (_ascii(result.target)[:68], "target name")
    for key, card in (("mission", "MISSION"), ("sector", "SECTOR"), ("quarter", "QUARTER"),
                      ("campaign", "CAMPAIGN"), ("flux_column", "FLUXCOL"), ("cadence_min", "CADENCE")):
        value = _header_value(report["mission"].get(key))
        if value is not None:
            hdr[card] = value
    hdr["MODELSHA"] = report["provenance"]["model_sha256"] or "none"  # 64 hex digits: no room for a comment
    hdr["CALIBID"] = (_ascii(report["provenance"]["calibration_id"] or "none"), "calibration run id")
    for name, version in report["provenance"]["software"].items():
        hdr[f"V_{name[:6].upper()}"] = (str(version), f"{name} version")
    for i, item in enumerate(report["inputs"], start=1):
        hdr[f"INFILE{i}"] = _ascii(item["name"])
        hdr[f"INSHA{i}"] = item["sha256"] or "unknown"  # 64 hex digits leave no room for a comment
    hdr["NCAND"] = (len(result.candidates), "number of candidates")
    hdr["BJDREFI"] = (bjdrefi, "BJD reference of TIME, TEPOCH (integer)")
    hdr["BJDREFF"] = (bjdreff, "fractional part of BJD reference")
    return primary


def _candidates_hdu(result):
    """The CANDIDATES table: the CSV report's columns, FITS units or the unit in the comment."""
    from astropy.io import fits
    from astropy.table import Table

    table = Table(_csv_table(result))
    # The search settings in table.meta would become HIERARCH cards with warnings; the JSON
    # report carries them, the FITS file keeps standard 8-character keywords only.
    table.meta.clear()
    plain_units = {}
    for name in table.colnames:
        unit = getattr(table[name], "unit", None)
        if unit is None:
            continue
        try:
            unit.to_string(format="fits")
        except ValueError:  # earthRad and other non-FITS units: plain values, unit in a comment
            plain_units[name] = str(unit)
            table[name] = np.asarray(getattr(table[name], "value", table[name]), dtype=float)
            table[name].unit = None
    for name in table.colnames:  # FITS string columns are ASCII too
        if table[name].dtype.kind in "US":
            table[name] = [_ascii(v) for v in table[name]]
    cand_hdu = fits.table_to_hdu(table)
    cand_hdu.name = "CANDIDATES"
    for i, name in enumerate(table.colnames, start=1):
        unit = column_unit(result.candidates, name) if name in result.candidates.colnames else None
        if unit in ("ppm", "R_earth", "R_sun") or name in plain_units:
            # No FITS units (readers would warn): say it in the column's comment instead.
            cand_hdu.header.comments[f"TTYPE{i}"] = f"[{unit}]"
        elif unit and not cand_hdu.header.get(f"TUNIT{i}"):
            cand_hdu.header[f"TUNIT{i}"] = unit
    return cand_hdu


def _tce_hdu(result, i: int, row: dict, t, f, fe, f_init, bjdref: float):
    """TCE_i: the light curve folded on candidate ``i`` with its model (TESS DV time series)."""
    from astropy.io import fits

    bjdrefi, bjdreff = _bjdref_cards(bjdref)
    period = row.get("pl_orbper") or np.nan
    t0 = row.get("pl_tranmid") or np.nan
    dur_d = (row.get("pl_trandurh") or np.nan) / 24.0
    depth = (row.get("pl_trandep") or np.nan) * 1e-6
    phase = fold_phase(t, period, t0)
    best = (result.candidates.meta.get("fit_best") or {}).get(i - 1)
    if best is not None:  # the fitted limb-darkened model, else the box
        model = model_flux(t, best, exp_time=best.get("exp_time_d", 0.0),
                           supersample=int(best.get("supersample", 1)))
    else:
        model = np.where(np.abs(phase) < 0.5 * dur_d, 1.0 - depth, 1.0)
    order = np.argsort(phase)
    cols = [
        fits.Column("TIME", "D", unit="d", array=(t - bjdref)[order]),
        fits.Column("PHASE", "D", unit="d", array=phase[order]),
        fits.Column("LC_INIT", "E", array=f_init[order]),
        fits.Column("LC_DETREND", "E", array=f[order]),
        fits.Column("LC_DETREND_ERR", "E", array=fe[order]),
        fits.Column("MODEL_INIT", "E", array=model[order]),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name=f"TCE_{i}")
    h = hdu.header
    h["TPERIOD"] = (plain(period), "[d] orbital period")
    h["TEPOCH"] = (plain(t0 - bjdref if np.isfinite(t0) else None), "[BJD - BJDREFI - BJDREFF] epoch")
    h["TDUR"] = (row.get("pl_trandurh"), "[h] transit duration")
    h["TDEPTH"] = (row.get("pl_trandep"), "[ppm] transit depth")
    h["TSNR"] = (row.get("snr"), "transit SNR, correlated noise at T14")
    h["TSNRW"] = (row.get("snr_white"), "transit SNR, white noise assumed")
    h["TSDE"] = (row.get("sde"), "signal detection efficiency")
    h["NTRANS"] = (row.get("n_transits"), "transits with data")
    h["BJDREFI"], h["BJDREFF"] = bjdrefi, bjdreff
    h["TIMESYS"], h["TIMEREF"], h["TIMEUNIT"] = "TDB", "SOLARSYSTEM", "d"
    if row.get("label") is not None:
        h["TLABEL"] = (str(row["label"]), "classifier label")
    return hdu


def _posterior_hdus(result) -> list:
    """The transit fit's posterior draws, one POSTERIOR_n table per fitted candidate (corner plots, reuse)."""
    from astropy.io import fits

    hdus = []
    for i, draws in sorted((result.candidates.meta.get("fit_posteriors") or {}).items()):
        cols = [fits.Column(name.upper()[:68], "D", array=np.asarray(v, dtype=float),
                            unit=_POSTERIOR_UNITS.get(name))
                for name, v in draws.items()]
        hdu = fits.BinTableHDU.from_columns(cols, name=f"POSTERIOR_{int(i) + 1}")
        hdu.header["FITMETH"] = (_ascii(result.candidates["fit_method"][int(i)])[:68], "transit fit method")
        hdu.header["CANDIDAT"] = (int(i) + 1, "row of the CANDIDATES table (1-based)")
        hdus.append(hdu)
    return hdus


#: FITS units of the posterior columns (the rest are dimensionless).
_POSTERIOR_UNITS = {"pl_orbper": "d", "pl_tranmid": "d", "pl_trandurh": "h"}


__all__ = ["SCHEMA_VERSION", "load_schema", "report_dict", "write_json", "write_csv", "write_fits",
           "CONTRACT_UNITS"]
