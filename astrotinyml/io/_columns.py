"""Which column is which: the names of time, flux, flux-error and quality columns in practice.

Used by the text reader and by the generic FITS-table reader.  Names are compared
case-insensitively and without white space (:func:`norm`).  Without ``flux_column`` the flux
is the first of :data:`FLUX_PRIORITY` present, then any column with "flux" in its name (not an
error or background), then a magnitude column; its error column is the one named after it
(``kspflux_unc``, ``mag_err``), else a generic one (``flux_err``, ``err``, ...) when that cannot
belong to another flux column.
"""

from __future__ import annotations

import re

from ..errors import InvalidParameterError, LightCurveFormatError

__all__ = ["ERR_GENERIC", "FLUX_PRIORITY", "QUALITY_NAMES", "TIME_NAMES", "choose_flux", "is_mag_name",
           "norm"]

TIME_NAMES = (
    "time", "t", "times", "dates", "date", "bjd", "bjd_tdb", "bjdtdb", "btjd", "bkjd", "tbjd",
    "time_bjd", "time_btjd", "time_bkjd", "jd", "mjd", "bmjd", "hjd", "bjd-2450000", "bjd-2457000",
    "bjd-2454833", "bjd-2400000", "rjd",
)
FLUX_PRIORITY = (
    "corrflux", "kspflux", "kspsap_flux", "fcor", "det_flux", "flux", "pdcsap_flux", "pdcflux",
    "pdc_flux", "norm_flux", "flux_norm", "normalized_flux", "rel_flux", "relflux", "detrended_flux",
    "flux_detrended", "f", "sap_flux", "sapflux", "rawflux", "raw_flux", "flux_raw", "fraw", "raw",
)
ERR_GENERIC = ("flux_err", "flux_unc", "flux_error", "fluxerr", "e_flux", "err", "error", "sigma",
               "uncertainty", "unc", "dflux", "eflux")
QUALITY_NAMES = ("quality", "sap_quality", "qual", "quality_flag", "flags", "flag")


def norm(name: str) -> str:
    """A column name lower-cased, without white space."""
    return re.sub(r"\s+", "", name.strip().lower())


def is_mag_name(n: str) -> bool:
    """Whether a column name is a magnitude (``mag``, ``Tmag``, ``mag_r``, ``kep_mag``; not errors)."""
    n = norm(n)
    if any(x in n for x in ("err", "unc", "sig")) or n.startswith("e_"):
        return False
    return bool(re.match(r"^(mag|mags|magnitude|[a-z]{0,3}mag|mag_[a-z0-9]+|[a-z0-9]+_mag)$", n))


def choose_flux(names: list[str], flux_column, display: str):
    """Return (flux_name, err_name or None, is_magnitude)."""
    low = {norm(n): n for n in reversed(names)}
    if flux_column is not None:
        key = norm(flux_column)
        if key not in low:
            raise InvalidParameterError(
                f"{display}: has no column {flux_column!r}. Available columns: "
                f"{', '.join(names)}. Pass one of them as flux_column."
            )
        flux = low[key]
    else:
        flux = next((low[k] for k in FLUX_PRIORITY if k in low), None)
        if flux is None:
            cands = [n for n in names if "flux" in norm(n) and not any(
                x in norm(n) for x in ("err", "unc", "bkg", "background", "sig"))]
            flux = cands[0] if cands else None
        if flux is None:
            mags = [n for n in names if is_mag_name(n)]
            flux = mags[0] if mags else None
        if flux is None:
            raise LightCurveFormatError(
                f"{display}: cannot tell which column is the flux; columns are "
                f"{', '.join(names)}. Pass flux_column='...'."
            )
    is_mag = is_mag_name(flux)
    fk = norm(flux)
    # an error column named after the flux column wins (kspflux -> kspflux_unc, mag -> mag_err)
    specific = [f"{fk}_err", f"{fk}_unc", f"{fk}_error", f"{fk}err", f"e_{fk}", f"{fk}_sigma", f"sigma_{fk}"]
    err = next((low[k] for k in specific if k in low), None)
    generic = ("mag_err", "magerr", "e_mag", "err", "error", "sigma") if is_mag else ERR_GENERIC
    if err is None:
        # generic names (flux_err, err, ...) only when they cannot belong to another flux column
        others = [n for n in names if norm(n) not in generic and norm(n) not in QUALITY_NAMES]
        if fk in ("flux", "f", "mag", "magnitude") or len(others) == 1:
            err = next((low[k] for k in generic if k in low), None)
    return flux, err, is_mag
