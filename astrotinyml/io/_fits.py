"""FITS light curves: mission products through lightkurve, K2SC, and any other FITS table.

:func:`read_fits` opens the file once to refuse what is not a light curve (a target pixel
file, a truncated or corrupt file, an image without a table) and to tell the product
(:func:`fits_kind`), then reads it with one of three readers, each returning a
:class:`FitsTable`:

* mission and high-level products lightkurve knows (Kepler ``llc``/``slc``, K2, TESS SPOC and
  TESS-SPOC, QLP, K2SFF, EVEREST, ``to_fits`` files, ...): :func:`lightkurve.read`, with the
  product's own default flux column (``kspsap_flux`` for QLP, ``fcor`` for K2SFF);
* K2SC (Aigrain et al. 2016; ``K2SC`` extension): ``k2sc_flux`` = PDC flux minus the K2SC
  position trend plus its median (systematics removed, stellar variability kept);
* any other binary table with a time and a flux column ("generic"), read by name.

The time system comes from ``BJDREFI``/``BJDREFF``; a ``time_format`` or ``mission`` keyword
contradicting the header is an error.  The mission, target and quarter/campaign/sector come
from the header (``MISSION``, ``TELESCOP``, ``OBJECT``, ``TICID``, ``KEPLERID``, ``QUARTER``
...), else from the file name (:mod:`astrotinyml.io.conventions`).
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidParameterError, LightCurveFormatError, TimeFormatError
from ._columns import choose_flux
from ._normalize import FinishOptions, finish, quality_mask, time_format_list
from .conventions import (
    MISSION_TIME_FORMATS,
    TIME_FORMATS,
    is_full_jd,
    mission_from_filename,
    segments_from_filename,
    target_from_filename,
    target_key,
)

__all__ = ["FitsTable", "fits_kind", "mission_from_meta", "read_fits", "target_from_meta", "tpf_kind"]

_TPF_TYPES = ("KeplerTargetPixelFile", "TessTargetPixelFile")

_TIME_COLUMNS = ("time", "t", "bjd", "tmid", "btjd", "bkjd")


@dataclass(frozen=True)
class FitsTable:
    """What one FITS reader read, before the common finishing step.

    Attributes
    ----------
    table : lightkurve.LightCurve or astropy.table.Table
        ``time``, ``flux`` and ``flux_err`` columns, quality mask already applied.
    time_format : str or None
        The header's time system (a key of :data:`~astrotinyml.io.conventions.TIME_FORMATS`),
        None when the header has no ``BJDREFI``.
    extras : dict
        Other columns to carry along.
    meta : dict
        Header keywords (lightkurve's meta for the products it reads).
    flux_column : str
        The column read as flux.
    flux_unit : str
        Its unit in the file.
    """

    table: Any
    time_format: str | None
    extras: dict
    meta: dict
    flux_column: str
    flux_unit: str


def read_fits(p: Path, display: str, *, time_format, flux_column, quality_bitmask, mission):
    """The finished light curve of a FITS file (see the module documentation)."""
    kind, raw = _read_table(p, display, flux_column, quality_bitmask)
    meta0 = dict(raw.meta)
    fits_mission = _check_keywords_agree(raw, meta0, display, time_format=time_format, mission=mission)
    miss = fits_mission or mission or mission_from_filename(p.name)
    target = target_from_meta(meta0, miss) or target_from_filename(p.name)
    segments = _segments(meta0, p.name)
    time_fmt_in, source = _time_system(raw, display, time_format=time_format, mission=miss)
    from astropy.time import Time

    lc = raw.table
    time = lc["time"] if isinstance(lc["time"], Time) else (
        TIME_FORMATS[time_fmt_in], np.asarray(lc["time"], dtype=float))
    options = FinishOptions(
        display=display,
        mission=miss,
        target=target,
        flux_column=raw.flux_column,
        time_format_in=time_fmt_in,
        time_format_source=source,
        reader=_reader_name(kind),
        quality_bitmask=quality_bitmask,
        flux_unit=raw.flux_unit,
        is_mag=False,
        segments=segments,
        header=meta0,
    )
    # quality=None: lightkurve / our FITS readers already applied the mask
    return finish(time, lc["flux"], lc["flux_err"], options, extras=raw.extras, quality=None)


def _read_table(p: Path, display: str, flux_column, quality_bitmask) -> tuple[str, FitsTable]:
    """(product kind, what its reader read), after refusing damaged files and pixel files."""
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(p, memmap=False, lazy_load_hdus=False)
        except Exception as err:
            raise LightCurveFormatError(
                f"{display}: is not a readable FITS file ({type(err).__name__}: {err}); it is "
                f"corrupt or truncated. Re-download it."
            ) from err
        try:
            damaged = _damage(caught)
            tpf = tpf_kind(hdul)
            if tpf is not None:
                raise LightCurveFormatError(
                    f"{display}: is a target pixel file ({tpf}), not a light curve"
                    + (f"; moreover {damaged}" if damaged else "")
                    + f". Make a light curve from it first, e.g. lightkurve.read('{display}')"
                    f".to_lightcurve(aperture_mask='pipeline'), then pass that LightCurve to the "
                    f"pipeline (or save it with .to_fits() and read the result)."
                )
            if damaged:
                raise LightCurveFormatError(
                    f"{display}: {damaged}. Re-download it; an interrupted download leaves such files."
                )
            kind = fits_kind(hdul, display)
            if kind == "K2SC":
                raw = _read_k2sc(hdul, display, flux_column, quality_bitmask)
            elif kind == "generic":
                raw = _read_generic_fits(hdul, display, flux_column, quality_bitmask)
            elif kind == "TessLightCurve":
                raw = _read_tess_direct(hdul, p, display, flux_column, quality_bitmask)
            else:
                raw = None
        finally:
            hdul.close()
    if raw is None:
        raw = _read_fits_lightkurve(p, display, kind, flux_column, quality_bitmask)
    return kind, raw


def _damage(caught) -> str:
    """What astropy's warnings while opening say is wrong with the file ("" when nothing)."""
    truncated = any("truncated" in str(w.message).lower() for w in caught)
    header_problem = any("header" in str(w.message).lower() and "2880" in str(w.message)
                         for w in caught)
    if not (truncated or header_problem):
        return ""
    return (f"the FITS file is {'truncated' if truncated else 'corrupt (bad header block)'} "
            f"(astropy: {'; '.join(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))})")


def _check_keywords_agree(raw: FitsTable, meta0: dict, display: str, *, time_format, mission) -> str | None:
    """The header's mission; a ``time_format`` or ``mission`` keyword contradicting it is an error."""
    if time_format is not None and raw.time_format is not None and time_format != raw.time_format:
        raise TimeFormatError(
            f"{display}: time_format={time_format!r} contradicts the FITS header, which says the "
            f"TIME column is {raw.time_format!r} (BJDREFI/BJDREFF). Leave time_format out for FITS files."
        )
    fits_mission = mission_from_meta(meta0)
    if mission is not None and fits_mission is not None and mission != fits_mission:
        raise InvalidParameterError(
            f"{display}: mission={mission!r} contradicts the FITS header (MISSION/TELESCOP say "
            f"{fits_mission!r}). Leave mission out for FITS files."
        )
    return fits_mission


def _segments(meta0: dict, name: str) -> dict[str, list[int]]:
    """QUARTER / CAMPAIGN / SECTOR of the header, else what the file name says."""
    seg = {}
    for key in ("QUARTER", "CAMPAIGN", "SECTOR"):
        v = meta0.get(key)
        if v is not None and not isinstance(v, str):
            try:
                seg[key.lower()] = [int(v)]
            except (TypeError, ValueError):
                pass
    return seg or segments_from_filename(name)


def _time_system(raw: FitsTable, display: str, *, time_format, mission) -> tuple[str, str]:
    """(time system, how it was known): the header, else the rules for text files."""
    if raw.time_format is not None:
        return raw.time_format, "FITS header"
    # a FITS table without BJDREFI: same rules as for text files
    vals = np.asarray(raw.table["time"], dtype=float)
    if time_format is not None:
        return time_format, "time_format keyword"
    if is_full_jd(vals):
        return "bjd", "values above 2,400,000 (full JD)"
    if mission is not None:
        return MISSION_TIME_FORMATS[mission], f"mission {mission} (no BJDREFI in the header)"
    raise TimeFormatError(
        f"{display}: the FITS table has no BJDREFI/BJDREFF keywords and no mission, so the "
        f"time system of its TIME column is unknown. Pass time_format= one of "
        f"{time_format_list()}, or mission='Kepler'/'K2'/'TESS'."
    )


def _reader_name(kind: str) -> str:
    return {"K2SC": "k2sc", "generic": "fits-table"}.get(kind, f"lightkurve:{kind}")


# --------------------------------------------------------------------------------------------
# what the file is
# --------------------------------------------------------------------------------------------


def tpf_kind(hdul) -> str | None:
    """'KeplerTargetPixelFile' / 'TessTargetPixelFile' when the file holds pixel data."""
    names = [str(h.name).upper() for h in hdul]
    is_tpf = "PIXELS" in names or "TARGETTABLES" in names
    if not is_tpf:
        for h in hdul:
            if _is_table(h):
                try:
                    flux = [c for c in h.columns if c.name.upper() == "FLUX"]
                    if flux and flux[0].dim:
                        is_tpf = True
                except Exception:  # pragma: no cover - damaged column definitions
                    pass
    if not is_tpf:
        return None
    tel = str(hdul[0].header.get("TELESCOP", "")).strip().upper()
    return "KeplerTargetPixelFile" if tel == "KEPLER" else "TessTargetPixelFile"


def fits_kind(hdul, display: str) -> str:
    """The product: lightkurve's file type ("TESS", "Kepler", "QLP", ...), "K2SC" or "generic"."""
    from lightkurve.io.detect import detect_filetype

    index = _find_lc_table(hdul)
    if index is not None and index != 1:
        # lightkurve's mission readers expect the light-curve table at HDU 1; a file whose
        # table sits elsewhere is not corrupt -- the generic reader takes the table found
        return "generic"
    if index is None:
        tables = [h.name for h in hdul if _is_table(h)]
        what = (f"binary tables {tables} without a TIME column and a flux column" if tables
                else "no binary table at all (an image-only FITS file)")
        raise LightCurveFormatError(
            f"{display}: has no light-curve extension: it contains {what}. Pass a light-curve "
            f"FITS file (a table with TIME and FLUX/PDCSAP_FLUX columns)."
        )
    try:
        kind = detect_filetype(hdul)
    except Exception as err:
        raise LightCurveFormatError(
            f"{display}: the FITS headers cannot be read ({type(err).__name__}: {err}); the file "
            f"is corrupt. Re-download it."
        ) from err
    names = [str(h.name).upper() for h in hdul]
    if "K2SC" in names:
        return "K2SC"
    if kind in _TPF_TYPES:  # pragma: no cover - caught earlier by tpf_kind
        return kind
    if kind in (None, "generic"):
        return "generic"
    return kind


def _is_table(hdu) -> bool:
    from astropy.io import fits

    return isinstance(hdu, (fits.BinTableHDU, fits.TableHDU))


def _find_lc_table(hdul):
    for i, h in enumerate(hdul):
        if _is_table(h):
            cols = [c.lower() for c in h.columns.names]
            if any(c in _TIME_COLUMNS for c in cols) and any(
                "flux" in c or c in ("fcor", "fraw", "mag") for c in cols
            ):
                return i
    return None


def _fits_time_format(header, display: str) -> str | None:
    bjdref = header.get("BJDREFI")
    if bjdref is None:
        return None
    ref = float(bjdref) + float(header.get("BJDREFF", 0.0) or 0.0)
    for name, off in TIME_FORMATS.items():
        if abs(off - ref) < 1e-9:
            return name
    raise LightCurveFormatError(
        f"{display}: unsupported time reference BJDREFI+BJDREFF={ref}; expected one of "
        f"{sorted(set(TIME_FORMATS.values()))}."
    )


def _fits_meta(hdul) -> dict:
    meta: dict[str, Any] = {}
    for h in reversed(list(hdul[:2])):
        for k, v in h.header.items():
            if k and k not in ("COMMENT", "HISTORY", ""):
                meta.setdefault(k, v)
    return meta


def mission_from_meta(meta: dict) -> str | None:
    """The mission the header keywords name (``MISSION``, else ``TELESCOP`` with K2 told apart)."""
    m = str(meta.get("MISSION") or "").strip().upper()
    if m in ("K2",):
        return "K2"
    if m in ("KEPLER",):
        return "Kepler"
    if m in ("TESS",):
        return "TESS"
    tel = str(meta.get("TELESCOP") or "").strip().upper()
    if tel == "TESS":
        return "TESS"
    if tel == "KEPLER":
        camp = meta.get("CAMPAIGN")
        if camp is not None and str(camp).strip() != "":
            return "K2"
        obj = str(meta.get("OBJECT") or "")
        if obj.upper().startswith("EPIC"):
            return "K2"
        return "Kepler"
    return None


def target_from_meta(meta: dict, mission: str | None) -> str | None:
    """The target the header keywords name (``OBJECT``, ``TICID``, ``KEPLERID``, ``TARGETID``)."""
    obj = meta.get("OBJECT")
    prefix = {"TESS": "TIC", "K2": "EPIC", "Kepler": "KIC"}.get(mission or "")
    if isinstance(obj, (int, np.integer)) or (isinstance(obj, str) and obj.strip().isdigit()):
        if prefix:
            return f"{prefix} {int(obj)}"
        obj = None
    if isinstance(obj, str) and obj.strip():
        key = target_key(obj)
        return key if re.match(r"^(KIC|TIC|EPIC) \d+$", key) else obj.strip()
    if meta.get("TICID") not in (None, ""):
        return f"TIC {int(meta['TICID'])}"
    kid = meta.get("KEPLERID")
    if kid not in (None, ""):
        return f"{'EPIC' if mission == 'K2' else 'KIC'} {int(kid)}"
    tid = meta.get("TARGETID")
    if tid not in (None, "") and mission is not None:
        return f"{ {'TESS': 'TIC', 'K2': 'EPIC', 'Kepler': 'KIC'}[mission]} {int(tid)}"
    return None


# --------------------------------------------------------------------------------------------
# the three readers
# --------------------------------------------------------------------------------------------


def _read_fits_lightkurve(p: Path, display: str, kind: str, flux_column, quality_bitmask) -> FitsTable:
    """lightkurve.read for the products it knows."""
    import lightkurve as lk
    from astropy.io import fits

    with fits.open(p, memmap=False) as hdul:
        colnames = [c.lower() for c in hdul[1].columns.names] if len(hdul) > 1 and _is_table(hdul[1]) else []
        header1 = hdul[1].header if len(hdul) > 1 else hdul[0].header
        time_fmt_in = _fits_time_format(header1, display)
    default = {"QLP": "kspsap_flux", "K2SFF": "fcor"}.get(kind)
    col = flux_column.lower() if flux_column else default
    if col is not None and colnames and col not in colnames:
        raise InvalidParameterError(
            f"{display}: has no column {flux_column or col!r}. Available columns: "
            f"{', '.join(colnames)}. Pass one of them as flux_column."
        )
    kwargs: dict[str, Any] = {"quality_bitmask": quality_bitmask}
    if col is not None:
        kwargs["flux_column"] = col
        if kind == "QLP" and (col.startswith("kspsap") or col.startswith("det_")):
            kwargs["flux_err_column"] = "kspsap_flux_err" if col.startswith("kspsap") else "det_flux_err"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if kind == "K2SFF":  # lightkurve's K2SFF reader fixes flux_column='fcor'
                from lightkurve.io.generic import read_generic_lightcurve

                base = read_generic_lightcurve(str(p), flux_column=col, time_format="bkjd", ext="BESTAPER")
                base.meta["AUTHOR"] = "K2SFF"
                base.meta["TARGETID"] = base.meta.get("KEPLERID")
                lc = lk.KeplerLightCurve(data=base)
            else:
                lc = lk.read(str(p), **kwargs)
        except Exception as err:
            raise LightCurveFormatError(
                f"{display}: lightkurve could not read this {kind} file ({type(err).__name__}: "
                f"{str(err).splitlines()[0]}). The file is corrupt or truncated; re-download it."
            ) from err
    if not isinstance(lc, lk.LightCurve):
        raise LightCurveFormatError(
            f"{display}: lightkurve read it as {type(lc).__name__}, not a light curve. Make a "
            f"light curve from it first (e.g. .to_lightcurve())."
        )
    if lc.time.format in TIME_FORMATS:
        time_fmt_in = lc.time.format
    flux_col = col or str(lc.meta.get("FLUX_ORIGIN") or "flux")
    if flux_col.startswith("lightkurve"):
        flux_col = "flux"
    flux_unit = str(getattr(lc.flux, "unit", "") or "")
    extras = {c: lc[c] for c in lc.colnames if c not in ("time", "flux", "flux_err")}
    return FitsTable(lc, time_fmt_in, extras, dict(lc.meta), flux_col, flux_unit)


#: lightkurve's unit fixes for TESS/Kepler column units (lightkurve.io.generic), by unit text.
_LK_UNITS = {"e-/s": "electron/s", "electron / s": "electron/s", "pixels": "pixel", "ADU": "adu"}


@functools.lru_cache(maxsize=256)
def _column_unit(tunit: str):
    """The unit lightkurve reads for a TUNITn text (its fixes of TESS's spellings included).

    Kept per text: SPOC files repeat the same few, and astropy composes a did-you-mean
    message (difflib over every unit name) for each one it does not recognise, ~2 ms a
    column, a quarter of a 2-min sector's read.  Units are immutable, so sharing is safe."""
    import astropy.units as u
    from lightkurve.units import ppm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = u.Unit(tunit, format="fits", parse_strict="silent")
    text = str(unit)
    if text in _LK_UNITS:
        unit = u.Unit(_LK_UNITS[text], parse_strict="silent")
    elif text == "ppm" and repr(unit).startswith("Unrecognized"):
        unit = ppm
    elif text.lower() == "unitless":
        unit = None
    elif text.lower() == "degcelcius":
        unit = u.Unit("deg_C", parse_strict="silent")
    return unit


def _read_tess_direct(hdul, p: Path, display: str, flux_column, quality_bitmask) -> FitsTable | None:
    """What :func:`_read_fits_lightkurve` returns for a SPOC TESS light curve, from the open file.

    lightkurve's ``read_tess_lightcurve`` (through ``read_generic_lightcurve``) builds an astropy
    Table, a TimeSeries and a LightCurve and slices them, and opens the file twice more: ~0.1 s
    of a 2-min sector's ~0.15 s read.  This builds the same columns (names, order, units,
    dtypes, values), header keywords and times from the HDUs directly, following those two
    readers step by step.  None (the caller then uses lightkurve itself) for anything these
    steps do not cover: a missing column, a multi-dimensional or text column, an integer
    quality column with a null value, a unit lightkurve would leave unrecognised.
    """
    import astropy.units as u
    from astropy.io.fits.connect import REMOVE_KEYWORDS, is_column_keyword
    from astropy.time import Time
    from lightkurve.utils import TessQualityFlags

    if len(hdul) < 2 or not _is_table(hdul[1]):
        return None
    hdu = hdul[1]
    header1 = hdu.header
    data = hdu.data
    fcol = (flux_column or "pdcsap_flux").lower()
    lower = [c.name.lower() for c in data.columns]
    # A file with a FLUX column (lightkurve's to_fits) keeps it, whatever flux_column says.
    has_flux = "flux" in lower
    if ((flux_column and fcol not in lower) or not (has_flux or fcol in lower)
            or ("flux_err" in lower and not has_flux) or "time" not in lower or "quality" not in lower
            or len(set(lower)) != len(lower) or any(n in lower for n in ("centroid_col", "centroid_row", "t"))):
        return None
    time_fmt_in = _fits_time_format(header1, display)
    cols: dict[str, tuple[np.ndarray, Any, Any]] = {}
    for c, name in zip(data.columns, lower):
        arr = np.asarray(data[c.name])
        if arr.ndim != 1 or arr.dtype.kind not in "fiub":
            return None
        null = None
        if c.null is not None:  # astropy masks TNULL values; plain_column makes them 0
            if arr.dtype.kind == "f" or name == "quality":
                return None
            null = arr == c.null
        unit = None
        if c.unit is not None:
            unit = _column_unit(c.unit)
            if isinstance(unit, u.UnrecognizedUnit) and name != "time":
                return None
        cols[name] = (arr, unit, null)
    t_arr, t_unit, _ = cols.pop("time")
    if t_unit is not None and t_unit != u.d and not isinstance(t_unit, u.UnrecognizedUnit):
        return None
    # Column order of lightkurve's LightCurve: the file's, with flux, flux_err (copies of the
    # flux column and its error), centroid_col and centroid_row (of mom_centr1/2) put in.
    order = list(cols)
    ecol = fcol + "_err"
    for name, src, index in (("flux", fcol, 0), ("flux_err", ecol, 1),
                             ("centroid_col", "mom_centr1", 4), ("centroid_row", "mom_centr2", 5)):
        if name not in cols and src in cols:
            order.insert(index, name)
            cols[name] = cols[src]
    # Header keywords as astropy's FITS table reader keeps them, then the primary header's.
    meta: dict[str, Any] = {}
    for key, value, _comment in header1.cards:
        if key in ("COMMENT", "HISTORY"):
            key = "comments" if key == "COMMENT" else key
            meta.setdefault(key, []).append(value)
        elif key in meta:
            meta[key] = meta[key] + [value] if isinstance(meta[key], list) else [meta[key], value]
        elif is_column_keyword(key) or key in REMOVE_KEYWORDS:
            pass
        else:
            meta[key] = value
    meta.update(hdul[0].header)
    good = ~np.isnan(t_arr)  # lightkurve drops NaN times (astropy Time refuses them)
    quality = cols["quality"][0][good]
    keep = TessQualityFlags.create_quality_mask(quality_array=quality, bitmask=quality_bitmask)
    rows = np.flatnonzero(good)[keep]
    h0 = hdul[0].header
    filename = str(p)
    meta.update(LABEL=h0.get("OBJECT"), MISSION=h0.get("MISSION", h0.get("TELESCOP")), RA=h0.get("RA_OBJ"),
                DEC=h0.get("DEC_OBJ"), FILENAME=filename,
                FLUX_ORIGIN=("lightkurve.LightCurve.to_fits()"
                             if h0.get("CREATOR", None) == "lightkurve.LightCurve.to_fits()" else fcol))
    meta["AUTHOR"] = "TESS-SPOC" if "tess-spoc" in filename else "SPOC"
    meta["TARGETID"] = meta.get("TICID")
    meta["QUALITY_BITMASK"] = quality_bitmask
    meta["QUALITY_MASK"] = keep
    time = Time(t_arr[rows], scale=header1.get("TIMESYS", "tdb").lower(), format="btjd")

    def column(name):
        arr, unit, null = cols[name]
        arr = np.array(arr[rows])
        if null is not None:
            arr[null[rows]] = 0
        if unit is not None and str(unit) not in ("", "None"):
            return u.Quantity(arr, unit, copy=False)
        return arr

    flux = np.asarray(column("flux"), dtype=float) if "flux" in cols else None
    if flux is None:
        return None
    flux_err = np.asarray(column("flux_err"), dtype=float) if "flux_err" in cols else np.full(len(rows), np.nan)
    table = {"time": time, "flux": flux, "flux_err": flux_err}
    extras = {name: column(name) for name in order if name not in ("flux", "flux_err")}
    funit = cols["flux"][1]
    flux_unit = str(funit) if funit is not None and str(funit) not in ("", "None") else ""
    # lightkurve's reader gives the times in its "btjd" format, which _read_fits_lightkurve prefers
    flux_col = flux_column.lower() if flux_column else str(meta["FLUX_ORIGIN"])
    return FitsTable(table, "btjd" if "btjd" in TIME_FORMATS else time_fmt_in, extras, meta,
                     "flux" if flux_col.startswith("lightkurve") else flux_col, flux_unit)


def _read_k2sc(hdul, display: str, flux_column, quality_bitmask) -> FitsTable:
    """K2SC HLSP (Aigrain et al. 2016): ext K2SC with time, quality, flux, error, trtime, trposi."""
    from astropy.table import Table

    ext = [str(h.name).upper() for h in hdul].index("K2SC")
    data = hdul[ext].data
    names = [c.lower() for c in data.columns.names]
    colmap = {c.lower(): c for c in data.columns.names}

    def col(name):
        return np.asarray(data[colmap[name]], dtype=float)

    for need in ("time", "flux", "trposi"):
        if need not in names:
            raise LightCurveFormatError(
                f"{display}: the K2SC extension lacks the {need!r} column (has {names}); the file "
                f"is not a standard K2SC product."
            )
    time_fmt_in = _fits_time_format(hdul[ext].header, display)
    available = ["k2sc_flux"] + [n for n in names if n not in ("time", "cadence", "quality", "mflags", "x", "y")]
    choice = (flux_column or "k2sc_flux").lower()
    if choice not in available:
        raise InvalidParameterError(
            f"{display}: has no column {flux_column!r}. Available for this K2SC file: "
            f"{', '.join(available)} ('k2sc_flux' = flux - trposi + median(trposi), the K2SC "
            f"systematics-corrected flux that keeps stellar variability)."
        )
    raw_flux = col("flux")
    if choice == "k2sc_flux":
        trposi = col("trposi")
        flux = raw_flux - trposi + np.nanmedian(trposi)
    else:
        flux = col(choice)
    err = col("error") if "error" in names and choice in ("k2sc_flux", "flux") else np.full(len(flux), np.nan)
    t = col("time")
    keep = np.ones(len(t), bool)
    if "quality" in names:
        keep &= quality_mask(np.asarray(data[colmap["quality"]]), quality_bitmask, "K2")
    meta = _fits_meta(hdul)
    tab = Table()
    tab["time"] = t[keep]
    tab["flux"] = flux[keep]
    tab["flux_err"] = err[keep]
    extras = {}
    for n in names:
        if n not in ("time", "flux", "error") and n != choice:
            extras[n if n != "flux" else "pdc_flux"] = np.asarray(data[colmap[n]])[keep]
    if choice != "flux":
        extras["pdc_flux"] = raw_flux[keep]
    meta["QUALITY_BITMASK"] = quality_bitmask
    return FitsTable(tab, time_fmt_in, extras, meta, choice, "electron / s")


def _read_generic_fits(hdul, display: str, flux_column, quality_bitmask) -> FitsTable:
    """Any FITS table with a time and a flux column (read by name, units from TUNIT)."""
    from astropy.table import Table

    idx = _find_lc_table(hdul)
    hdu = hdul[idx]
    colmap = {c.lower(): c for c in hdu.columns.names}
    cols = {c.lower(): np.asarray(hdu.data[c]) for c in hdu.columns.names if np.ndim(hdu.data[c]) == 1}
    names = list(cols)
    time_name = next(c for c in names if c in _TIME_COLUMNS)
    flux_name, err_name, is_mag = choose_flux(names, flux_column, display)
    if is_mag:
        raise LightCurveFormatError(
            f"{display}: magnitude columns in FITS tables are not supported; export time and flux."
        )
    time_fmt_in = _fits_time_format(hdu.header, display)
    t = np.asarray(cols[time_name], dtype=float)
    flux = np.asarray(cols[flux_name], dtype=float)
    err = np.asarray(cols[err_name], dtype=float) if err_name else np.full(len(flux), np.nan)
    keep = np.ones(len(t), bool)
    qname = next((c for c in names if c in ("quality", "sap_quality")), None)
    meta = _fits_meta(hdul)
    miss = mission_from_meta(meta)
    if qname is not None:
        keep &= quality_mask(cols[qname], quality_bitmask, miss)
    tab = Table()
    tab["time"] = t[keep]
    tab["flux"] = flux[keep]
    tab["flux_err"] = err[keep]
    extras = {c: np.asarray(v)[keep] for c, v in cols.items() if c not in (time_name, flux_name, err_name)}
    unit = str(hdu.columns[colmap[flux_name]].unit or "")
    meta["QUALITY_BITMASK"] = quality_bitmask
    return FitsTable(tab, time_fmt_in, extras, meta, flux_name, unit)
