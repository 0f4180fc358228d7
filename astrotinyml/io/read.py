"""Read Kepler, K2 and TESS light curves from files into :class:`lightkurve.LightCurve` objects.

One entry point, :func:`read_lightcurve`, reads every light-curve file format found in practice:

* mission FITS products through :func:`lightkurve.read` (Kepler ``llc``/``slc``, K2 ``ktwo``,
  TESS SPOC 2-min and 20-s, TESS-SPOC FFI, TESS data-alert files, QLP, K2SFF, EVEREST,
  files written by :meth:`lightkurve.LightCurve.to_fits`, ...);
* K2SC high-level products (``K2SC`` extension), read here;
* other FITS binary tables with a ``TIME`` column and a flux column ("generic");
* text exports (CSV, TSV, whitespace ``.txt``/``.dat``/``.tran``, with or without a header),
  NumPy ``.npy`` arrays (``N x 2`` or ``N x 3``: time, flux[, flux_err]) and ``.npz`` archives
  with named arrays.

What every returned light curve looks like
------------------------------------------
* **Time** is an :class:`astropy.time.Time` in the TDB scale holding the barycentric Julian
  date, so ``lc.time.jd`` is always the *full* BJD_TDB.  Its ``format`` is the mission's own
  one: ``'bkjd'`` (BJD - 2454833) for Kepler and K2, ``'btjd'`` (BJD - 2457000) for TESS and
  ``'jd'`` when the mission is not known; ``lc.time.value`` is therefore in the mission's
  usual units and ``lc.time.jd`` is the absolute time to use in catalogues.
* **Flux** is dimensionless and divided by its median (``nanmedian``), so the median is 1.
  Magnitude columns are converted to relative flux first (``10 ** (-0.4 * (m - median(m)))``).
  A flux column whose median is zero or negative, or with more than 25 % of its values at or
  below zero, cannot be normalised and is an error.
* **flux_err** is divided by the same median.  It is NaN where the file has no error column,
  where an error is non-positive or not finite, and everywhere when the column is a
  placeholder (every value exactly 0 or exactly 1.0).
* **Cadences** with a non-finite time or a non-finite flux are dropped, and so are cadences
  flagged by ``quality_bitmask`` (mission quality flags, see below).  Rows are sorted by time
  and exact duplicates in time (within 1e-6 d) are dropped, keeping the first.  Unsorted or
  duplicated input is therefore read without error.  Fewer than :data:`MIN_POINTS` cadences
  left is an error.
* **meta** holds, besides whatever lightkurve put there (FITS header keywords in upper case):
  ``target`` (``"KIC 11442793"``, ``"TIC 100100827"``, ``"EPIC 247589423"``, or the file
  name's stem when no identifier is known), ``mission`` (``"Kepler"``, ``"K2"``, ``"TESS"``
  or None), ``quarter`` / ``campaign`` / ``sector`` (int or None; multi-sector files list
  them under ``sectors``), ``cadence_min`` (median time step in minutes), ``flux_column``
  (the column actually used), ``source_file`` (absolute path), ``sha256`` (of the file
  bytes), ``time_format_in`` (the time system of the file's time column, one of
  :data:`TIME_FORMATS`), ``time_format_source`` (how it was known), ``reader``,
  ``normalization`` (the median the flux was divided by, in the file's units),
  ``flux_unit_in`` and ``quality_bitmask``.

How the time system of a text or NumPy file is known
----------------------------------------------------
FITS files carry it (``BJDREFI``/``BJDREFF``, ``TIMESYS``).  For text and NumPy files the
reader never guesses; it uses the first rule that applies:

1. the ``time_format`` keyword;
2. the name of the time column (``BJD_TDB`` or ``BJD`` with values above 2,400,000,
   ``btjd``, ``time_bkjd``, ``BJD-2457000``, ``MJD``, ...);
3. comment lines of the file naming exactly one time system (``# time_bkjd,sap_flux``);
4. values above 2,400,000 are a full Julian date, read as BJD_TDB;
5. the mission, when the file name states it (it starts with ``kepler``, ``k2``, ``tess``,
   ``kplr`` or ``ktwo`` followed by ``_``, ``-`` or ``.``) or the ``mission`` keyword is
   given: the mission's standard offset (BKJD for Kepler and K2, BTJD for TESS), accepted
   only if the times then fall inside the mission's lifetime.

Otherwise :class:`~astrotinyml.errors.TimeFormatError` asks for ``time_format``: a file
``mystar.txt`` with times near 1500 could be BTJD or BKJD, two dates eleven years apart.
Whatever the source, the resulting dates are checked against the mission's lifetime when
the mission is known (and against 1968-2050 otherwise); a wrong ``time_format`` therefore
fails loudly instead of shifting every transit by years.

Quality flags
-------------
For mission FITS files ``quality_bitmask`` is handed to lightkurve (``"default"``, ``"hard"``,
``"hardest"``, ``"none"`` or an int).  K2SC files and text files with a ``quality`` column use
the mission's flag definitions (:class:`lightkurve.utils.KeplerQualityFlags` or
``TessQualityFlags``) when the mission is known; when it is not, any non-zero flag is bad
unless ``quality_bitmask="none"``.

Errors
------
Every problem with an input raises one :class:`~astrotinyml.errors.AstroTinyMLError`
subclass whose message names the file: a missing path or a directory
(:class:`~astrotinyml.errors.LightCurveFileNotFoundError`); an empty, corrupt, truncated or
unparsable file, a FITS file without a light-curve table, a target pixel file
(:class:`~astrotinyml.errors.LightCurveFormatError`); no usable cadences, too few, all-NaN
or non-positive flux (:class:`~astrotinyml.errors.LightCurveDataError`); an unknown time
system (:class:`~astrotinyml.errors.TimeFormatError`); a ``flux_column`` the file lacks or
another bad keyword (:class:`~astrotinyml.errors.InvalidParameterError`).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..provenance import sha256_file as _sha256
from ..errors import (
    AstroTinyMLError,
    InvalidParameterError,
    LightCurveDataError,
    LightCurveFileNotFoundError,
    LightCurveFormatError,
    TimeFormatError,
    error_boundary,
    printable,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Sequence

    import lightkurve

__all__ = [
    "LIGHTCURVE_SUFFIXES",
    "MIN_POINTS",
    "MISSION_BJD_RANGES",
    "TIME_FORMATS",
    "looks_like_path",
    "read_lightcurve",
    "read_lightcurves",
    "stitch",
    "time_format_from_label",
]

#: Accepted ``time_format`` values and the offset (days) added to the file's times to get BJD_TDB.
TIME_FORMATS: dict[str, float] = {
    "bjd": 0.0,  # full barycentric Julian date (TDB)
    "bkjd": 2454833.0,  # Kepler / K2: BJD - 2454833
    "btjd": 2457000.0,  # TESS: BJD - 2457000
    "bjd-2450000": 2450000.0,
    "bjd-2400000": 2400000.0,
    "mjd": 2400000.5,  # barycentric modified Julian date (BJD - 2400000.5)
}

_TIME_FORMAT_ALIASES = {
    "bjd_tdb": "bjd",
    "bjdtdb": "bjd",
    "jd": "bjd",
    "full": "bjd",
    "bjd-2454833": "bkjd",
    "bjd-2457000": "btjd",
    "bmjd": "mjd",
    "rjd": "bjd-2400000",
}

#: Plausible full BJD_TDB ranges of the missions' data (checked on every light curve read).
MISSION_BJD_RANGES: dict[str, tuple[float, float]] = {
    "Kepler": (2454900.0, 2456450.0),
    "K2": (2456650.0, 2458450.0),
    "TESS": (2458300.0, 2470000.0),
}
_ANY_BJD_RANGE = (2440000.0, 2470000.0)  # 1968 .. 2050

#: The mission's own time format, used as ``lc.time.format``.
_MISSION_TIME_FORMAT = {"Kepler": "bkjd", "K2": "bkjd", "TESS": "btjd"}

#: Fewest cadences (finite time and flux, after quality masking) a light curve may have.
MIN_POINTS = 10

_DUPLICATE_TOL_DAYS = 1e-6

#: A flux column with more than this fraction of values <= 0 cannot be normalised meaningfully.
_MAX_NONPOSITIVE_FRACTION = 0.25

_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")

_TPF_TYPES = ("KeplerTargetPixelFile", "TessTargetPixelFile")

#: Suffixes of light-curve files (lower case): a directory's files ending in one of them are
#: light curves, and a string ending in one is a (possibly missing) path, not a target name.
LIGHTCURVE_SUFFIXES = frozenset({".fits", ".fit", ".fts", ".fz", ".gz", ".csv", ".tsv", ".txt", ".dat",
                                 ".tbl", ".ecsv", ".npy", ".npz", ".tran", ".h5", ".hdf5", ".json", ".lc"})


def looks_like_path(s: str) -> bool:
    """Whether a string names a file rather than a target: it has a path separator or ends in
    one of :data:`LIGHTCURVE_SUFFIXES`.  Nothing is looked up on disk.

    Parameters
    ----------
    s : str

    Returns
    -------
    bool

    Examples
    --------
    >>> from astrotinyml.io.read import looks_like_path
    >>> looks_like_path("sector_05/star.fits"), looks_like_path("star.csv"), looks_like_path("TIC 100100827")
    (True, True, False)
    """
    return os.sep in s or "/" in s or Path(s).suffix.lower() in LIGHTCURVE_SUFFIXES


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def read_lightcurve(
    path: str | os.PathLike,
    *,
    time_format: str | None = None,
    flux_column: str | None = None,
    quality_bitmask: str | int = "default",
    mission: str | None = None,
    target: str | None = None,
) -> lightkurve.LightCurve:
    """Read one light-curve file into a normalised, time-sorted :class:`lightkurve.LightCurve`.

    See the module documentation (:mod:`astrotinyml.io`) for the full contract: time is
    BJD_TDB (``lc.time.jd`` is the full Julian date), flux is divided by its median, cadences
    with non-finite time or flux and flagged cadences are dropped, rows are sorted and
    de-duplicated, and ``meta`` says where everything came from.

    Parameters
    ----------
    path : str or path-like
        A FITS light curve (Kepler, K2, TESS, K2SC, K2SFF, QLP, lightkurve ``to_fits``, ...),
        a text export (CSV/TSV/whitespace, optional header), a ``.npy`` array or a ``.npz``.
    time_format : str, optional
        Time system of a text or NumPy file's time column, one of :data:`TIME_FORMATS`:
        ``'bkjd'`` (BJD-2454833), ``'btjd'`` (BJD-2457000), ``'bjd'`` (full BJD_TDB),
        ``'bjd-2450000'``, ``'bjd-2400000'``, ``'mjd'`` (BJD-2400000.5).  Needed when the
        file does not say it (see the module documentation for what counts as saying it).
        For FITS files the header wins; a value contradicting it is an error.
    flux_column : str, optional
        Column to read as flux (case-insensitive).  Defaults: ``pdcsap_flux`` for Kepler,
        K2 and TESS SPOC files, ``fcor`` for K2SFF, ``kspsap_flux`` for QLP, ``k2sc_flux``
        (PDC flux minus the K2SC position trend: systematics removed, stellar variability
        kept) for K2SC, and for text files the first of ``Corrflux``, ``kspflux``,
        ``kspsap_flux``, ``fcor``, ``det_flux``, ``flux``, ``pdcsap_flux``, ``sap_flux``,
        ``rawflux``, ... then a magnitude column.  Header-less files are read as
        ``time, flux[, flux_err]`` (seven numeric columns: the QLP-tutorial layout
        ``time, raw, flux, flux1, flux2, flux3, quality``; extra columns are ``col3``, ...).
    quality_bitmask : str or int
        ``"default"``, ``"hard"``, ``"hardest"``, ``"none"`` or an integer bitmask of the
        mission's quality flags; cadences it flags are dropped.
    mission : {"Kepler", "K2", "TESS"}, optional
        Mission of a text or NumPy file whose name does not state it.  Knowing the mission
        fixes the time offset (BKJD or BTJD) when the file does not name its time system.
    target : str, optional
        Target name to store in ``meta['target']`` instead of the one found in the file.

    Returns
    -------
    lightkurve.LightCurve
        A :class:`lightkurve.KeplerLightCurve` (Kepler, K2), :class:`lightkurve.TessLightCurve`
        (TESS) or :class:`lightkurve.LightCurve` (mission unknown).

    Raises
    ------
    LightCurveFileNotFoundError
        The path does not exist or is a directory.
    LightCurveFormatError
        The file is empty, corrupt, truncated, not a light curve (image, target pixel file)
        or has unparsable values.
    LightCurveDataError
        Fewer than :data:`MIN_POINTS` usable cadences, all-NaN or non-positive flux.
    TimeFormatError
        The time system is not known from the file and ``time_format`` is missing, unknown,
        or gives dates outside the mission's lifetime.
    InvalidParameterError
        ``flux_column`` names a column the file lacks, or another keyword is invalid.

    Examples
    --------
    >>> from astrotinyml.datasets import sample_path
    >>> from astrotinyml.io.read import read_lightcurve
    >>> lc = read_lightcurve(sample_path("wasp-18"))
    >>> lc.meta["target"], lc.meta["mission"], lc.meta["sector"]
    ('TIC 100100827', 'TESS', 2)
    >>> round(float(lc.time.jd[0]), 2), lc.time.format
    (2458354.11, 'btjd')
    >>> round(lc.meta["cadence_min"], 1)
    2.0
    """
    p = _check_path(path)
    display = printable(p.name)
    tf = _normalize_time_format(time_format, display) if time_format is not None else None
    ms = _normalize_mission(mission, display) if mission is not None else None
    _check_bitmask(quality_bitmask, display)
    if flux_column is not None and (not isinstance(flux_column, str) or not flux_column.strip()):
        raise InvalidParameterError(
            f"{display}: flux_column must be a non-empty column name, got {flux_column!r}."
        )
    kind = _sniff_kind(p, display)
    # anything unexpected from astropy / numpy / lightkurve becomes one error naming the file
    # (without the dependency's message, which may quote the file's content)
    with error_boundary(display, LightCurveFormatError,
                        fix="Check that it is a complete Kepler/K2/TESS light-curve file or a "
                            "text/NumPy export with time and flux columns.", detail=False):
        if kind == "fits":
            lc = _read_fits(p, display, time_format=tf, flux_column=flux_column,
                            quality_bitmask=quality_bitmask, mission=ms)
        else:
            if kind == "npy":
                table = _load_npy(p, display)
            elif kind == "npz":
                table = _load_npz(p, display)
            else:
                table = _load_text(p, display)
            lc = _table_to_lightcurve(table, p, display, time_format=tf, flux_column=flux_column,
                                      quality_bitmask=quality_bitmask, mission=ms)
    lc.meta["source_file"] = str(p)
    lc.meta["sha256"] = _sha256(p)
    if target is not None:
        lc.meta["target"] = str(target)
    return lc


def time_format_from_label(label: str | None, *, path: str | os.PathLike | None = None) -> str | None:
    """The :func:`read_lightcurve` ``time_format`` that a free-text time-system label names.

    Data sets describe the time column in words: a manifest's ``time_system`` cell says
    ``"BKJD"``, ``"BTJD"``, ``"BJD_TDB (full)"``, ``"BKJD (inferred: 120.5-1591)"``,
    ``"BJD-2457000"``.  This maps such a label to one of :data:`TIME_FORMATS`, reading its
    first word (the accepted ``time_format`` spellings and aliases), then its prefix (``BKJD``,
    ``BTJD``, ``BJD``).  FITS files carry their time system in the header, where a different
    ``time_format`` is an error, so for a FITS ``path`` the answer is None.

    Parameters
    ----------
    label : str or None
        The label; empty or unrecognised gives None (let the reader decide from the file).
    path : str or path-like, optional
        The file the label describes; a FITS name (``.fits``, ``.fits.gz``, ...) gives None.

    Returns
    -------
    str or None

    Examples
    --------
    >>> from astrotinyml.io.read import time_format_from_label
    >>> time_format_from_label("BKJD (inferred: 120.5-1591)"), time_format_from_label("BJD_TDB (full)")
    ('bkjd', 'bjd')
    >>> time_format_from_label("BJD-2457000"), time_format_from_label("")
    ('btjd', None)
    >>> print(time_format_from_label("BTJD", path="tess_x_lc.fits"))
    None
    """
    if path is not None and str(path).lower().endswith(_FITS_SUFFIXES):
        return None
    if label is None:
        return None
    text = str(label).strip()
    if not text:
        return None
    head = re.split(r"[\s(,;:]", text, maxsplit=1)[0].lower()
    key = _TIME_FORMAT_ALIASES.get(head, head)
    if key in TIME_FORMATS:
        return key
    # "BKJD=BJD-2454833" and the like: the prefix rule the benchmarks always used
    up = text.upper()
    for prefix, fmt in (("BKJD", "bkjd"), ("BTJD", "btjd"), ("BJD", "bjd")):
        if up.startswith(prefix):
            return fmt
    return None


def read_lightcurves(
    paths: Iterable[str | os.PathLike],
    *,
    time_format: str | None = None,
    flux_column: str | None = None,
    quality_bitmask: str | int = "default",
    mission: str | None = None,
    target: str | None = None,
) -> lightkurve.LightCurve:
    """Read several files of ONE star (quarters, sectors, campaigns) and stitch them.

    Each file is read with :func:`read_lightcurve` (so each segment is normalised by its own
    median) and the segments are joined by :func:`stitch`: sorted by time, duplicated
    cadences dropped, only the columns every segment has kept.

    Parameters
    ----------
    paths : iterable of str or path-like
        The files; order does not matter.
    time_format, flux_column, quality_bitmask, mission
        As in :func:`read_lightcurve`, applied to every file.
    target : str, optional
        Name of the star.  Without it, all files must name the same target (an error is raised
        otherwise); with it, the files are taken to be of that star and ``meta['target']``
        is set to it.

    Returns
    -------
    lightkurve.LightCurve
        ``meta`` has the keys of :func:`read_lightcurve`; ``quarter``/``sector``/``campaign``
        are None when more than one is present and the lists ``quarters``/``sectors``/
        ``campaigns``, ``source_files`` and ``sha256s`` give all of them.

    Raises
    ------
    InvalidParameterError
        No paths were given, or the files are of different targets.
    AstroTinyMLError
        Any error of :func:`read_lightcurve` for one of the files.

    Examples
    --------
    >>> from astrotinyml.datasets import sample_paths
    >>> from astrotinyml.io.read import read_lightcurves
    >>> lc = read_lightcurves(sample_paths("kepler-90"))
    >>> lc.meta["target"], lc.meta["quarters"]
    ('KIC 11442793', [3, 4, 5])
    >>> bool((lc.time.value[1:] > lc.time.value[:-1]).all())
    True
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise InvalidParameterError("read_lightcurves: no paths given; pass a list of light-curve files.")
    lcs = [
        read_lightcurve(p, time_format=time_format, flux_column=flux_column,
                        quality_bitmask=quality_bitmask, mission=mission, target=target)
        for p in paths
    ]
    return stitch(lcs, target=target)


def stitch(lcs: Sequence[lightkurve.LightCurve], *, target: str | None = None) -> lightkurve.LightCurve:
    """Join light curves of one star already in memory into one light curve.

    Each light curve is divided by its own flux median (so already-normalised inputs are left
    as they are), then they are stacked with
    :meth:`lightkurve.LightCurveCollection.stitch`, sorted by time, and duplicated cadences
    (same time within 1e-6 d) are dropped, keeping the first.  Only the columns present in
    every input are kept.

    Parameters
    ----------
    lcs : sequence of lightkurve.LightCurve
        At least one light curve.
    target : str, optional
        Name of the star; without it every input's ``meta['target']`` (when set) must agree.

    Returns
    -------
    lightkurve.LightCurve

    Raises
    ------
    InvalidParameterError
        Empty input, something that is not a LightCurve, or different targets.
    LightCurveDataError
        A light curve whose flux median is not positive.

    Examples
    --------
    >>> from astrotinyml.datasets import sample_paths
    >>> from astrotinyml.io.read import read_lightcurve, stitch
    >>> parts = [read_lightcurve(p) for p in sample_paths("kepler-90")]
    >>> lc = stitch(parts)
    >>> len(lc) == sum(len(p) for p in parts)
    True
    """
    import astropy.units as u
    import lightkurve as lk

    lcs = list(lcs)
    if not lcs:
        raise InvalidParameterError("stitch: no light curves given.")
    for i, lc in enumerate(lcs):
        if not isinstance(lc, lk.LightCurve):
            raise InvalidParameterError(
                f"stitch: item {i} is a {type(lc).__name__}, not a lightkurve.LightCurve; "
                f"read files with astrotinyml.io.read.read_lightcurve first."
            )
    names = [_describe(lc, i) for i, lc in enumerate(lcs)]
    if target is None:
        keys = {}
        for lc, name in zip(lcs, names):
            t = lc.meta.get("target")
            if t:
                keys.setdefault(_target_key(str(t)), []).append(f"{name} ({t})")
        if len(keys) > 1:
            listing = "; ".join(", ".join(v) for v in keys.values())
            raise InvalidParameterError(
                f"stitch: the light curves are of different targets: {listing}. Stitch only "
                f"quarters/sectors of one star, or pass target='...' if they are the same star "
                f"under different names."
            )

    common = None
    for lc in lcs:
        cols = [c for c in lc.colnames if c not in ("time", "flux", "flux_err")]
        common = cols if common is None else [c for c in common if c in cols]
    segments = []
    for lc, name in zip(lcs, names):
        flux = _plain_float(lc.flux)
        med = np.nanmedian(flux) if np.isfinite(flux).any() else np.nan
        if not np.isfinite(med) or med <= 0:
            raise LightCurveDataError(
                f"stitch: {name} has a flux median of {med}; it cannot be normalised. Remove it "
                f"or fix its flux."
            )
        seg = lc.copy()
        for c in list(seg.colnames):
            if c not in ("time", "flux", "flux_err") and c not in common:
                seg.remove_column(c)
        seg.flux = u.Quantity(flux / med, u.dimensionless_unscaled)
        seg.flux_err = u.Quantity(_plain_float(lc.flux_err) / med, u.dimensionless_unscaled)
        if seg.time.format != lcs[0].time.format:
            seg.time.format = lcs[0].time.format
        segments.append(seg)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lk.LightCurveCollection(segments).stitch(corrector_func=lambda x: x)
    # fill masks the stacking may have introduced
    for c in list(out.colnames):
        col = out[c]
        if c != "time" and hasattr(col, "mask") and np.ndim(col) == 1:
            out[c] = _plain_column(col)
    t = np.asarray(out.time.jd1 - TIME_FORMATS["bjd"], dtype=float) + np.asarray(out.time.jd2, dtype=float)
    order = np.argsort(t, kind="stable")
    keep = _unique_sorted_mask(t[order])
    out = out[order[keep]]

    meta = dict(lcs[0].meta)
    meta["target"] = str(target) if target is not None else lcs[0].meta.get("target")
    for key, plural in (("quarter", "quarters"), ("campaign", "campaigns"), ("sector", "sectors")):
        vals = []
        for lc in lcs:
            v = lc.meta.get(plural) or ([lc.meta.get(key)] if lc.meta.get(key) is not None else [])
            vals.extend(int(x) for x in v)
        vals = sorted(set(vals))
        meta[plural] = vals
        meta[key] = vals[0] if len(vals) == 1 else None
    missions = sorted({str(lc.meta.get("mission")) for lc in lcs if lc.meta.get("mission")})
    meta["mission"] = missions[0] if len(missions) == 1 else (None if not missions else "/".join(missions))
    meta["source_files"] = [lc.meta.get("source_file") for lc in lcs]
    meta["sha256s"] = [lc.meta.get("sha256") for lc in lcs]
    flux_cols = sorted({str(lc.meta.get("flux_column")) for lc in lcs})
    meta["flux_column"] = flux_cols[0] if len(flux_cols) == 1 else ",".join(flux_cols)
    meta["n_segments"] = len(lcs)
    meta["cadence_min"] = _cadence_minutes(out.time.jd)
    meta["normalization"] = [lc.meta.get("normalization") for lc in lcs]
    meta.pop("QUALITY_MASK", None)
    out.meta = meta
    return out


# --------------------------------------------------------------------------------------------
# path, kind, parameters
# --------------------------------------------------------------------------------------------


#: Largest light-curve file :func:`read_lightcurve` reads, in bytes (2 GiB; the largest
#: Kepler/TESS products are a few hundred MB).  ``ASTROTINYML_MAX_FILE_BYTES`` overrides it.
MAX_FILE_BYTES = 2 << 30

_SPECIAL_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _max_file_bytes() -> int:
    text = os.environ.get("ASTROTINYML_MAX_FILE_BYTES", "").strip()
    try:
        return int(text) if text else MAX_FILE_BYTES
    except ValueError:
        raise InvalidParameterError(
            f"ASTROTINYML_MAX_FILE_BYTES={printable(text)!r} is not a whole number of bytes.") from None


def _check_path(path) -> Path:
    """The path to open, after the regular-file gate (exists, regular, not too large).

    The last component is kept as given (not resolved): the file type comes from the name the
    user passed, never from a symbolic link's target (``z.csv -> /dev/zero`` is a "CSV" that
    the gate refuses as a device, not a file named ``zero``).  Nothing is opened here, so a
    named pipe or a device cannot block or flood the reader.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidParameterError(
            f"read_lightcurve: path must be a str or path-like, got {type(path).__name__}."
        )
    p = Path(path).expanduser()
    shown = printable(p)
    try:
        p = p.parent.resolve() / p.name
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.islink(p):
            raise LightCurveFileNotFoundError(
                f"{shown}: a symbolic link whose target does not exist. Fix or remove the link."
            ) from None
        raise LightCurveFileNotFoundError(
            f"{shown}: no such file. Check the path (the current directory is {printable(Path.cwd())})."
        ) from None
    except (RuntimeError, OSError) as err:  # RuntimeError: pathlib's "Symlink loop"
        if isinstance(err, RuntimeError) or getattr(err, "errno", None) == errno.ELOOP:
            raise LightCurveFileNotFoundError(
                f"{shown}: a loop of symbolic links (a link that points back to itself). Fix the link."
            ) from None
        raise LightCurveFileNotFoundError(
            f"{shown}: cannot be opened ({type(err).__name__}: {printable(err.strerror or err)}). "
            f"Check its permissions."
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise LightCurveFileNotFoundError(
            f"{shown}: is a directory, not a light-curve file. Pass a file inside it, or use "
            f"read_lightcurves(sorted(Path('{printable(p.name)}').glob('*.fits'))) for several files."
        )
    if not stat.S_ISREG(st.st_mode):
        what = next((w for test, w in _SPECIAL_KINDS if test(st.st_mode)), "not a regular file")
        raise LightCurveFormatError(
            f"{shown}: is {what}, not a regular file; only files are read (a pipe or device "
            f"could block or never end). Save the data to a file and pass that."
        )
    limit = _max_file_bytes()
    if st.st_size > limit:
        raise LightCurveFormatError(
            f"{shown}: is {st.st_size / 2**20:,.0f} MiB, more than the {limit / 2**20:,.0f} MiB "
            f"a light-curve file can be (ASTROTINYML_MAX_FILE_BYTES sets the limit). Check that "
            f"it is the file you meant."
        )
    return p


def _normalize_time_format(value, display: str) -> str:
    if not isinstance(value, str):
        raise TimeFormatError(
            f"{display}: time_format must be a string, one of {_time_format_list()}; got {value!r}."
        )
    key = re.sub(r"\s+", "", value.strip().lower())
    key = _TIME_FORMAT_ALIASES.get(key, key)
    if key not in TIME_FORMATS:
        raise TimeFormatError(
            f"{display}: unknown time_format {value!r}; use one of {_time_format_list()}."
        )
    return key


def _time_format_list() -> str:
    return ", ".join(repr(k) for k in TIME_FORMATS)


def _normalize_mission(value, display: str) -> str:
    table = {"kepler": "Kepler", "k2": "K2", "tess": "TESS"}
    key = str(value).strip().lower()
    if key not in table:
        raise InvalidParameterError(
            f"{display}: unknown mission {value!r}; use 'Kepler', 'K2' or 'TESS'."
        )
    return table[key]


def _check_bitmask(bitmask, display: str) -> None:
    if isinstance(bitmask, (bool, np.bool_)):
        raise InvalidParameterError(f"{display}: quality_bitmask must be a string or int, got {bitmask!r}.")
    if isinstance(bitmask, (int, np.integer)):
        if bitmask < 0:
            raise InvalidParameterError(f"{display}: quality_bitmask must be >= 0, got {bitmask}.")
        return
    if isinstance(bitmask, str) and bitmask in ("default", "hard", "hardest", "none"):
        return
    raise InvalidParameterError(
        f"{display}: quality_bitmask must be 'default', 'hard', 'hardest', 'none' or an int; "
        f"got {bitmask!r}."
    )


def _sniff_kind(p: Path, display: str) -> str:
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as err:
        raise LightCurveFileNotFoundError(f"{display}: cannot be opened ({err}). Check its permissions.") from err
    name = p.name.lower()
    if len(head) == 0:
        raise LightCurveFormatError(f"{display}: the file is empty (0 bytes). Re-download or re-export it.")
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        if name.endswith(".npz") or not name.endswith((".zip",)):
            return "npz"
    if head.startswith(b"\x1f\x8b") and name.endswith(_FITS_SUFFIXES):
        return "fits"
    if name.endswith(_FITS_SUFFIXES):
        raise LightCurveFormatError(
            f"{display}: has a FITS name but does not start like a FITS file (no 'SIMPLE  =' "
            f"card); it is corrupt or truncated at the header. Re-download it."
        )
    if name.endswith(".npy") or name.endswith(".npz"):
        raise LightCurveFormatError(
            f"{display}: has a NumPy name but is not a NumPy {'array' if name.endswith('.npy') else 'archive'} "
            f"(bad magic bytes); it is corrupt or truncated. Re-create it with numpy.save/savez."
        )
    return "text"




# --------------------------------------------------------------------------------------------
# file-name conventions
# --------------------------------------------------------------------------------------------

_NAME_MISSION = re.compile(r"^(kepler|k2|tess|kplr|ktwo)(?=[_\-.\d])", re.IGNORECASE)
_ID_PATTERNS = (
    (re.compile(r"(?<![A-Za-z])TIC[\s_\-]*0*(\d+)", re.IGNORECASE), "TIC"),
    (re.compile(r"(?<![A-Za-z])EPIC[\s_\-]*0*(\d+)", re.IGNORECASE), "EPIC"),
    (re.compile(r"(?<![A-Za-z])KIC[\s_\-]*0*(\d+)", re.IGNORECASE), "KIC"),
    (re.compile(r"(?<![A-Za-z])kplr0*(\d+)", re.IGNORECASE), "KIC"),
    (re.compile(r"(?<![A-Za-z])ktwo0*(\d+)", re.IGNORECASE), "EPIC"),
)


def _mission_from_name(name: str) -> str | None:
    m = _NAME_MISSION.match(name)
    if not m:
        return None
    return {"kepler": "Kepler", "kplr": "Kepler", "k2": "K2", "ktwo": "K2", "tess": "TESS"}[m.group(1).lower()]


def _target_from_name(name: str) -> str:
    for rx, prefix in _ID_PATTERNS:
        m = rx.search(name)
        if m:
            return f"{prefix} {int(m.group(1))}"
    stem = name
    for suffix in (".gz", ".fits", ".fit", ".csv", ".txt", ".dat", ".tsv", ".npy", ".npz"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return Path(stem).stem if "." in stem else stem


def _segments_from_name(name: str) -> dict[str, list[int]]:
    """Quarter/campaign/sector numbers stated in a file name (``_Q17_``, ``_C13_``, ``_S36-S38_``)."""
    out: dict[str, list[int]] = {}
    for letter, key in (("Q", "quarter"), ("C", "campaign"), ("S", "sector")):
        rng = re.search(rf"(?:^|[_\-.]){letter}(\d{{1,3}})-{letter}(\d{{1,3}})(?=$|[_\-.])", name)
        if rng:
            a, b = int(rng.group(1)), int(rng.group(2))
            if a <= b and b - a < 100:
                out[key] = list(range(a, b + 1))
                continue
        hits = re.findall(rf"(?:^|[_\-.;]){letter}(\d{{1,3}})(?=$|[_\-.;])", name)
        if hits:
            out[key] = sorted({int(h) for h in hits})
    return out


def _target_key(target: str) -> str:
    m = re.match(r"^\s*(KIC|TIC|EPIC|KOI|TOI)[\s_\-]*0*(\d+)", target, re.IGNORECASE)
    if m:
        return f"{m.group(1).upper()} {int(m.group(2))}"
    return re.sub(r"\s+", " ", target.strip().lower())


# --------------------------------------------------------------------------------------------
# FITS
# --------------------------------------------------------------------------------------------


def _read_fits(p: Path, display: str, *, time_format, flux_column, quality_bitmask, mission):
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
            truncated = any("truncated" in str(w.message).lower() for w in caught)
            header_problem = any("header" in str(w.message).lower() and "2880" in str(w.message)
                                 for w in caught)
            damaged = ""
            if truncated or header_problem:
                damaged = (f"the FITS file is {'truncated' if truncated else 'corrupt (bad header block)'} "
                           f"(astropy: {'; '.join(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))})")
            tpf = _tpf_kind(hdul)
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
            kind = _fits_kind(hdul, display)
            if kind == "K2SC":
                raw = _read_k2sc(hdul, display, flux_column, quality_bitmask)
            elif kind == "generic":
                raw = _read_generic_fits(hdul, display, flux_column, quality_bitmask)
            else:
                raw = None
        finally:
            hdul.close()
    if raw is None:
        raw = _read_fits_lightkurve(p, display, kind, flux_column, quality_bitmask)

    lc, time_fmt_in, extras, meta0, flux_col, flux_unit = raw
    if time_format is not None and time_fmt_in is not None and time_format != time_fmt_in:
        raise TimeFormatError(
            f"{display}: time_format={time_format!r} contradicts the FITS header, which says the "
            f"TIME column is {time_fmt_in!r} (BJDREFI/BJDREFF). Leave time_format out for FITS files."
        )
    meta0 = dict(meta0)
    fits_mission = _mission_from_meta(meta0)
    if mission is not None and fits_mission is not None and mission != fits_mission:
        raise InvalidParameterError(
            f"{display}: mission={mission!r} contradicts the FITS header (MISSION/TELESCOP say "
            f"{fits_mission!r}). Leave mission out for FITS files."
        )
    miss = fits_mission or mission or _mission_from_name(p.name)
    target = _target_from_meta(meta0, miss) or _target_from_name(p.name)
    seg = {}
    for key in ("QUARTER", "CAMPAIGN", "SECTOR"):
        v = meta0.get(key)
        if v is not None and not isinstance(v, str):
            try:
                seg[key.lower()] = [int(v)]
            except (TypeError, ValueError):
                pass
    if not seg:
        seg = _segments_from_name(p.name)
    from astropy.time import Time

    source = "FITS header"
    if time_fmt_in is None:  # a FITS table without BJDREFI: same rules as for text files
        vals = np.asarray(lc["time"], dtype=float)
        if time_format is not None:
            time_fmt_in, source = time_format, "time_format keyword"
        elif _full_jd(vals):
            time_fmt_in, source = "bjd", "values above 2,400,000 (full JD)"
        elif miss is not None:
            time_fmt_in, source = _MISSION_TIME_FORMAT[miss], f"mission {miss} (no BJDREFI in the header)"
        else:
            raise TimeFormatError(
                f"{display}: the FITS table has no BJDREFI/BJDREFF keywords and no mission, so the "
                f"time system of its TIME column is unknown. Pass time_format= one of "
                f"{_time_format_list()}, or mission='Kepler'/'K2'/'TESS'."
            )
    time = lc["time"] if isinstance(lc["time"], Time) else (
        TIME_FORMATS[time_fmt_in], np.asarray(lc["time"], dtype=float))
    return _finish(
        display=display,
        time=time,
        flux=lc["flux"],
        flux_err=lc["flux_err"],
        extras=extras,
        quality=None,  # lightkurve / our FITS readers already applied the mask
        quality_bitmask=quality_bitmask,
        mission=miss,
        meta0=meta0,
        target=target,
        segments=seg,
        flux_column=flux_col,
        flux_unit=flux_unit,
        time_format_in=time_fmt_in,
        time_format_source=source,
        reader=_reader_name(kind),
        is_mag=False,
    )


def _reader_name(kind: str) -> str:
    return {"K2SC": "k2sc", "generic": "fits-table"}.get(kind, f"lightkurve:{kind}")


def _tpf_kind(hdul) -> str | None:
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


def _fits_kind(hdul, display: str) -> str:
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
    if kind in _TPF_TYPES:  # pragma: no cover - caught earlier by _tpf_kind
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
            if any(c in ("time", "t", "bjd", "tmid", "btjd", "bkjd") for c in cols) and any(
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


def _read_fits_lightkurve(p: Path, display: str, kind: str, flux_column, quality_bitmask):
    """lightkurve.read for the products it knows; returns the pieces ``_finish`` needs."""
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
    return lc, time_fmt_in, extras, dict(lc.meta), flux_col, flux_unit


def _fits_meta(hdul) -> dict:
    meta: dict[str, Any] = {}
    for h in reversed(list(hdul[:2])):
        for k, v in h.header.items():
            if k and k not in ("COMMENT", "HISTORY", ""):
                meta.setdefault(k, v)
    return meta


def _read_k2sc(hdul, display: str, flux_column, quality_bitmask):
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
        keep &= _quality_mask(np.asarray(data[colmap["quality"]]), quality_bitmask, "K2")
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
    return tab, time_fmt_in, extras, meta, choice, "electron / s"


def _read_generic_fits(hdul, display: str, flux_column, quality_bitmask):
    """Any FITS table with a time and a flux column (read by name, units from TUNIT)."""
    from astropy.table import Table

    idx = _find_lc_table(hdul)
    hdu = hdul[idx]
    colmap = {c.lower(): c for c in hdu.columns.names}
    cols = {c.lower(): np.asarray(hdu.data[c]) for c in hdu.columns.names if np.ndim(hdu.data[c]) == 1}
    names = list(cols)
    time_name = next(c for c in names if c in ("time", "t", "bjd", "tmid", "btjd", "bkjd"))
    flux_name, err_name, is_mag = _choose_flux(names, flux_column, display)
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
    miss = _mission_from_meta(meta)
    if qname is not None:
        keep &= _quality_mask(cols[qname], quality_bitmask, miss)
    tab = Table()
    tab["time"] = t[keep]
    tab["flux"] = flux[keep]
    tab["flux_err"] = err[keep]
    extras = {c: np.asarray(v)[keep] for c, v in cols.items() if c not in (time_name, flux_name, err_name)}
    unit = str(hdu.columns[colmap[flux_name]].unit or "")
    meta["QUALITY_BITMASK"] = quality_bitmask
    return tab, time_fmt_in, extras, meta, flux_name, unit


def _mission_from_meta(meta: dict) -> str | None:
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


def _target_from_meta(meta: dict, mission: str | None) -> str | None:
    obj = meta.get("OBJECT")
    prefix = {"TESS": "TIC", "K2": "EPIC", "Kepler": "KIC"}.get(mission or "")
    if isinstance(obj, (int, np.integer)) or (isinstance(obj, str) and obj.strip().isdigit()):
        if prefix:
            return f"{prefix} {int(obj)}"
        obj = None
    if isinstance(obj, str) and obj.strip():
        key = _target_key(obj)
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


def _quality_mask(quality, bitmask, mission: str | None) -> np.ndarray:
    """True for cadences to keep."""
    q = np.asarray(quality)
    if q.dtype.kind == "f":  # a missing flag counts as "no flag"
        q = np.where(np.isfinite(q), q, 0).astype(np.int64)
    else:
        q = q.astype(np.int64)
    if bitmask == "none" or (isinstance(bitmask, (int, np.integer)) and int(bitmask) == 0):
        return np.ones(q.shape, bool)
    if mission is None:
        if isinstance(bitmask, (int, np.integer)):
            return (q & int(bitmask)) == 0
        return q == 0
    from lightkurve.utils import KeplerQualityFlags, TessQualityFlags

    flags = TessQualityFlags if mission == "TESS" else KeplerQualityFlags
    if isinstance(bitmask, str):
        bitmask = {"default": flags.DEFAULT_BITMASK, "hard": flags.HARD_BITMASK,
                   "hardest": flags.HARDEST_BITMASK}[bitmask]
    return (q & int(bitmask)) == 0


# --------------------------------------------------------------------------------------------
# text / NumPy tables
# --------------------------------------------------------------------------------------------

_NA_TOKENS = {"", "na", "nan", "-nan", "+nan", "null", "none", "--", "n/a", "inf", "-inf", "+inf", "infinity"}


def _looks_numeric(token: str) -> bool:
    t = token.strip().strip('"').strip("'")
    if t.lower() in _NA_TOKENS:
        return True
    try:
        float(t)
    except ValueError:
        return False
    return True


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    if '"' in line:
        # standard CSV quoting: a quoted field may hold the delimiter ("ok, fine")
        import csv

        return [x.strip() for x in next(csv.reader([line], delimiter=delim, skipinitialspace=True))]
    return [x.strip() for x in line.split(delim)]


def _clean_name(s: str) -> str:
    return s.strip().strip('"').strip("'").strip()


def _load_text(p: Path, display: str) -> dict:
    raw = p.read_bytes()
    if not raw.strip():
        raise LightCurveFormatError(
            f"{display}: the file is empty (no text). Re-export the light curve."
        )
    if b"\x00" in raw[:65536]:
        raise LightCurveFormatError(
            f"{display}: is a binary file, not text, FITS or NumPy; cannot read it as a light curve."
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError as err:  # pragma: no cover - latin-1 decodes everything
            raise LightCurveFormatError(f"{display}: is not a text file ({err}).") from err

    lines = text.splitlines()
    comments: list[str] = []
    header: tuple[int, str] | None = None
    data_start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s[0] in "#%!;" or s.startswith("//"):
            comments.append(s)
            continue
        first = re.split(r"[,\t ;]+", s)[0]
        if _looks_numeric(first):
            data_start = i
            break
        if header is None:
            header = (i, s)
            continue
        raise LightCurveFormatError(
            f"{display}: line {i + 1} is neither a header nor numeric data (a header was already "
            f"found on line {header[0] + 1}); is it a light-curve export at all? Remove the extra "
            f"text lines."
        )
    if data_start is None:
        what = "only a header line" if header is not None else "only comment lines"
        raise LightCurveDataError(
            f"{display}: has {what} and no data rows. A light curve needs at least {MIN_POINTS} "
            f"rows of time and flux."
        )
    first_line = lines[data_start].strip()
    if "," in first_line:
        delim: str | None = ","
    elif "\t" in first_line:
        delim = "\t"
    elif ";" in first_line:
        delim = ";"
    else:
        delim = None
    ncols = len(_split(first_line, delim))

    # parse the data rows (keeping their line numbers for messages)
    body = [(i + 1, ln.strip()) for i, ln in enumerate(lines[data_start:], start=data_start)
            if ln.strip() and not ln.lstrip().startswith(("#", "%", "!", "//"))]
    rows = [_split(s, delim) for _, s in body]
    bad = next((k for k, r in enumerate(rows) if len(r) != ncols), None)
    if bad is not None:
        raise LightCurveFormatError(
            f"{display}: line {body[bad][0]} has {len(rows[bad])} fields where the first data line "
            f"has {ncols}. The file is ragged or truncated; fix or "
            f"re-export it."
        )
    cols_tokens = list(zip(*rows))

    # column names
    names: list[str] | None = None
    if header is not None:
        hdr = header[1]
        for cand in (_split(hdr, delim), hdr.replace(",", " ").split()):
            cand = [_clean_name(c) for c in cand]
            if len(cand) == ncols and all(cand):
                names = cand
                break
        if names is None:
            raise LightCurveFormatError(
                f"{display}: the header line {header[0] + 1} does not have the "
                f"{ncols} column names the data rows need. Fix the header."
            )
    elif comments:
        last = re.sub(r"^[#%!/;\s]+", "", comments[-1])
        for cand in (_split(last, delim), last.replace(",", " ").split()):
            cand = [_clean_name(c) for c in cand]
            if len(cand) == ncols and all(
                c and not _looks_numeric(c) and re.match(r"^[A-Za-z_][\w\-+() .\[\]/]*$", c) for c in cand
            ):
                names = cand
                break
    if names is not None:
        names = _unique_names(names)
    keys = names if names is not None else [f"__{j}" for j in range(ncols)]
    columns: dict[str, np.ndarray] = {}
    text_keys: set[str] = set()
    bad_tokens: dict[str, tuple[int, str]] = {}
    for key, toks in zip(keys, cols_tokens):
        toks = [t.strip('"').strip("'") for t in toks]
        vals, n_bad = _to_float(toks)
        columns[key] = vals
        if n_bad:
            if n_bad == len(toks):
                text_keys.add(key)
            else:
                k = next(k for k, t in enumerate(toks) if not _looks_numeric(t))
                bad_tokens[key] = (body[k][0], toks[k])
    return {
        "names": names,
        "columns": columns,
        "text_keys": text_keys,
        "bad_tokens": bad_tokens,
        "comments": "\n".join(comments + ([header[1]] if header else [])),
        "has_header": names is not None,
        "format": "text",
    }


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = _norm(n)
        if k in seen:
            seen[k] += 1
            out.append(f"{n}_{seen[k]}")
        else:
            seen[k] = 0
            out.append(n)
    return out


def _to_float(tokens: list[str]) -> tuple[np.ndarray, int]:
    """Floats (NaN for NA tokens and junk) and the number of non-numeric, non-NA tokens."""
    try:
        arr = np.array(tokens, dtype=float)
        return arr, 0
    except ValueError:
        pass
    out = np.empty(len(tokens), float)
    n_bad = 0
    for k, t in enumerate(tokens):
        try:
            out[k] = float(t)
        except ValueError:
            out[k] = np.nan
            if t.lower() not in _NA_TOKENS:
                n_bad += 1
    return out, (n_bad if n_bad else None)


def _load_npy(p: Path, display: str) -> dict:
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as err:
        raise LightCurveFormatError(
            f"{display}: holds Python objects (pickled) or is corrupt ({err}); only numeric arrays "
            f"are read. Save time, flux[, flux_err] as a float array with numpy.save."
        ) from err
    except Exception as err:
        raise LightCurveFormatError(
            f"{display}: is not a readable NumPy array ({type(err).__name__}: {err}); it is "
            f"corrupt or truncated."
        ) from err
    if arr.dtype.names:
        cols = {n: np.asarray(arr[n], dtype=float) for n in arr.dtype.names if np.ndim(arr[n]) == 1}
        return {"names": list(cols), "columns": cols,
                "comments": "", "has_header": True, "format": "npy"}
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise LightCurveFormatError(
            f"{display}: the array has shape {arr.shape}; expected (N, 2) or (N, 3) columns "
            f"time, flux[, flux_err] (or the transpose)."
        )
    if arr.shape[1] > arr.shape[0]:
        arr = arr.T
    if arr.dtype.kind not in "fiu":
        raise LightCurveFormatError(f"{display}: the array is of type {arr.dtype}, not numeric.")
    cols = {f"__{j}": np.asarray(arr[:, j], dtype=float) for j in range(arr.shape[1])}
    return {"names": None, "columns": cols,
            "comments": "", "has_header": False, "format": "npy"}


def _load_npz(p: Path, display: str) -> dict:
    try:
        with np.load(p, allow_pickle=False) as z:
            items = {k: z[k] for k in z.files}
    except Exception as err:
        raise LightCurveFormatError(
            f"{display}: is not a readable NumPy .npz archive ({type(err).__name__}: {err}); it "
            f"is corrupt, truncated or holds pickled objects."
        ) from err
    if not items:
        raise LightCurveFormatError(f"{display}: the .npz archive holds no arrays.")
    lengths = {k: v.shape[0] for k, v in items.items() if v.ndim == 1}
    if not lengths:
        raise LightCurveFormatError(
            f"{display}: the .npz archive holds no 1-D arrays; save time, flux, flux_err as "
            f"separate named arrays (numpy.savez(path, time=..., flux=..., flux_err=...))."
        )
    n = max(set(lengths.values()), key=list(lengths.values()).count)
    cols = {}
    for k, v in items.items():
        if v.ndim == 1 and v.shape[0] == n and v.dtype.kind in "fiub":
            cols[k] = np.asarray(v, dtype=float)
    return {"names": list(cols), "columns": cols,
            "comments": "", "has_header": True, "format": "npz"}


def _headerless_names(ncols: int, text_cols: set[int]) -> list[str]:
    if ncols == 7 and not text_cols:
        return ["time", "raw", "flux", "flux1", "flux2", "flux3", "quality"]
    base = ["time", "flux", "flux_err"]
    names = []
    for j in range(ncols):
        if j in text_cols:
            names.append("instrument" if j == ncols - 1 and "instrument" not in names else f"col{j}")
        elif j < 3:
            names.append(base[j])
        else:
            names.append(f"col{j}")
    return names


_TIME_NAMES = (
    "time", "t", "times", "dates", "date", "bjd", "bjd_tdb", "bjdtdb", "btjd", "bkjd", "tbjd",
    "time_bjd", "time_btjd", "time_bkjd", "jd", "mjd", "bmjd", "hjd", "bjd-2450000", "bjd-2457000",
    "bjd-2454833", "bjd-2400000", "rjd",
)
_FLUX_PRIORITY = (
    "corrflux", "kspflux", "kspsap_flux", "fcor", "det_flux", "flux", "pdcsap_flux", "pdcflux",
    "pdc_flux", "norm_flux", "flux_norm", "normalized_flux", "rel_flux", "relflux", "detrended_flux",
    "flux_detrended", "f", "sap_flux", "sapflux", "rawflux", "raw_flux", "flux_raw", "fraw", "raw",
)
_ERR_GENERIC = ("flux_err", "flux_unc", "flux_error", "fluxerr", "e_flux", "err", "error", "sigma",
                "uncertainty", "unc", "dflux", "eflux")
_QUALITY_NAMES = ("quality", "sap_quality", "qual", "quality_flag", "flags", "flag")


def _norm(name: str) -> str:
    return re.sub(r"\s+", "", name.strip().lower())


def _is_mag_name(n: str) -> bool:
    n = _norm(n)
    if any(x in n for x in ("err", "unc", "sig")) or n.startswith("e_"):
        return False
    return bool(re.match(r"^(mag|mags|magnitude|[a-z]{0,3}mag|mag_[a-z0-9]+|[a-z0-9]+_mag)$", n))


def _choose_flux(names: list[str], flux_column, display: str):
    """Return (flux_name, err_name or None, is_magnitude)."""
    low = {_norm(n): n for n in reversed(names)}
    if flux_column is not None:
        key = _norm(flux_column)
        if key not in low:
            raise InvalidParameterError(
                f"{display}: has no column {flux_column!r}. Available columns: "
                f"{', '.join(names)}. Pass one of them as flux_column."
            )
        flux = low[key]
    else:
        flux = next((low[k] for k in _FLUX_PRIORITY if k in low), None)
        if flux is None:
            cands = [n for n in names if "flux" in _norm(n) and not any(
                x in _norm(n) for x in ("err", "unc", "bkg", "background", "sig"))]
            flux = cands[0] if cands else None
        if flux is None:
            mags = [n for n in names if _is_mag_name(n)]
            flux = mags[0] if mags else None
        if flux is None:
            raise LightCurveFormatError(
                f"{display}: cannot tell which column is the flux; columns are "
                f"{', '.join(names)}. Pass flux_column='...'."
            )
    is_mag = _is_mag_name(flux)
    fk = _norm(flux)
    # an error column named after the flux column wins (kspflux -> kspflux_unc, mag -> mag_err)
    specific = [f"{fk}_err", f"{fk}_unc", f"{fk}_error", f"{fk}err", f"e_{fk}", f"{fk}_sigma", f"sigma_{fk}"]
    err = next((low[k] for k in specific if k in low), None)
    generic = ("mag_err", "magerr", "e_mag", "err", "error", "sigma") if is_mag else _ERR_GENERIC
    if err is None:
        # generic names (flux_err, err, ...) only when they cannot belong to another flux column
        others = [n for n in names if _norm(n) not in generic and _norm(n) not in _QUALITY_NAMES]
        if fk in ("flux", "f", "mag", "magnitude") or len(others) == 1:
            err = next((low[k] for k in generic if k in low), None)
    return flux, err, is_mag


def _time_format_from_name(name: str, values: np.ndarray) -> str | None:
    n = _norm(name).replace("_", "").replace("(", "").replace(")", "")
    if "btjd" in n or "bjd-2457000" in n or "tbjd" in n:
        return "btjd"
    if "bkjd" in n or "bjd-2454833" in n:
        return "bkjd"
    if "bjd-2450000" in n:
        return "bjd-2450000"
    if "bjd-2400000" in n or n == "rjd":
        return "bjd-2400000"
    if n in ("mjd", "bmjd", "timemjd"):
        return "mjd"
    if n in ("bjd", "bjdtdb", "timebjd", "jd", "bjdtdbjd") and _full_jd(values):
        return "bjd"
    return None


def _time_format_from_comments(text: str) -> str | None:
    if not text:
        return None
    t = text.lower().replace(" ", "")
    found = set()
    if re.search(r"(?<![a-z])btjd(?![a-z])", t) or "bjd-2457000" in t:
        found.add("btjd")
    if re.search(r"(?<![a-z])bkjd(?![a-z])", t) or "bjd-2454833" in t:
        found.add("bkjd")
    if "bjd-2450000" in t:
        found.add("bjd-2450000")
    if "bjd-2400000" in t:
        found.add("bjd-2400000")
    return found.pop() if len(found) == 1 else None


def _full_jd(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return v.size > 0 and bool(np.all(v > 2.4e6))


def _table_to_lightcurve(table: dict, p: Path, display: str, *, time_format, flux_column,
                         quality_bitmask, mission):
    columns: dict[str, np.ndarray] = dict(table["columns"])
    text_keys: set[str] = set(table.get("text_keys", ()))
    bad_tokens: dict[str, tuple[int, str]] = dict(table.get("bad_tokens", {}))
    if table["names"] is None:
        keys = list(columns)
        names = _headerless_names(len(keys), {j for j, k in enumerate(keys) if k in text_keys})
        rename = dict(zip(keys, names))
        columns = {rename[k]: v for k, v in columns.items()}
        text_keys = {rename[k] for k in text_keys}
        bad_tokens = {rename[k]: v for k, v in bad_tokens.items()}
    names = list(columns)
    numeric = [n for n in names if n not in text_keys]

    low = {_norm(n): n for n in reversed(numeric)}
    time_name = next((low[k] for k in _TIME_NAMES if k in low), None)
    if time_name is None:
        time_name = next((n for n in numeric if _norm(n).startswith(("time", "bjd", "btjd", "bkjd"))), None)
    if time_name is None:
        if table["has_header"]:
            raise LightCurveFormatError(
                f"{display}: no time column found among {', '.join(names)}. Name it 'time' (or "
                f"BJD_TDB, btjd, bkjd, ...)."
            )
        time_name = numeric[0] if numeric else None
    if time_name is None:
        raise LightCurveFormatError(f"{display}: has no numeric columns; it is not a light curve.")
    flux_candidates = [n for n in numeric if n != time_name]
    if not flux_candidates:
        if flux_column is not None:
            _choose_flux(flux_candidates, flux_column, display)
        raise LightCurveFormatError(
            f"{display}: has only a time column ({time_name!r}) and no numeric flux column "
            f"(columns: {', '.join(names)})."
        )
    if flux_column is not None and _norm(flux_column) in {_norm(n) for n in text_keys}:
        raise InvalidParameterError(
            f"{display}: column {flux_column!r} is not numeric; numeric columns are "
            f"{', '.join(flux_candidates)}."
        )
    flux_name, err_name, is_mag = _choose_flux(flux_candidates, flux_column, display)
    for used in (time_name, flux_name):
        if used in bad_tokens:
            line_no, tok = bad_tokens[used]
            raise LightCurveFormatError(
                f"{display}: a non-numeric value in column {printable(used)!r} (line {line_no}). Remove "
                f"or fix the junk rows (missing values may be left empty or written NaN/NA)."
            )

    t = np.asarray(columns[time_name], dtype=float)
    if not np.isfinite(t).any():
        raise LightCurveDataError(f"{display}: the time column {time_name!r} has no finite values.")
    flux = np.asarray(columns[flux_name], dtype=float)
    if not np.isfinite(flux).any():
        raise LightCurveDataError(
            f"{display}: the flux column {flux_name!r} has no finite values (all NaN or empty). "
            f"Choose another column with flux_column=... or check the file."
        )
    n_ok = int(np.sum(np.isfinite(t) & np.isfinite(flux)))
    if n_ok < MIN_POINTS:
        raise LightCurveDataError(
            f"{display}: only {n_ok} row(s) with finite time and flux; at least {MIN_POINTS} are "
            f"needed for a light curve."
        )

    # time system
    source = None
    tf = time_format
    if tf is not None:
        source = "time_format keyword"
    if tf is None and table["has_header"]:
        tf = _time_format_from_name(time_name, t)
        if tf is not None:
            source = f"column name {time_name!r}"
    if tf is None:
        tf = _time_format_from_comments(table["comments"])
        if tf is not None:
            source = "comment/header text"
    if tf is None and _full_jd(t):
        tf, source = "bjd", "values above 2,400,000 (full JD)"
    name_mission = _mission_from_name(p.name)
    miss = mission or name_mission
    if tf is None and miss is not None:
        tf = _MISSION_TIME_FORMAT[miss]
        source = (f"mission {miss} from the file name prefix" if mission is None
                  else f"mission={miss!r} keyword")
        lo, hi = MISSION_BJD_RANGES[miss]
        bjd = t[np.isfinite(t)] + TIME_FORMATS[tf]
        if bjd.min() < lo or bjd.max() > hi:
            raise TimeFormatError(
                f"{display}: times {np.nanmin(t):.5g}..{np.nanmax(t):.5g} are not {tf.upper()} "
                f"dates of {miss} (would give BJD {bjd.min():.1f}..{bjd.max():.1f}, outside "
                f"{lo:.0f}..{hi:.0f}). Pass time_format= one of {_time_format_list()}."
            )
    if tf is None:
        raise TimeFormatError(
            f"{display}: cannot tell the time system of column {time_name!r} (values "
            f"{np.nanmin(t):.6g}..{np.nanmax(t):.6g}): it could be BTJD (TESS, BJD-2457000), "
            f"BKJD (Kepler/K2, BJD-2454833) or another offset. Pass time_format= one of "
            f"{_time_format_list()}, or mission='Kepler'/'K2'/'TESS'."
        )

    err = np.asarray(columns[err_name], dtype=float) if err_name else np.full(len(flux), np.nan)
    extras = {n: columns[n] for n in numeric if n not in (time_name, flux_name, err_name)}
    qname = next((n for n in numeric if _norm(n) in _QUALITY_NAMES and n != flux_name), None)
    quality = columns[qname] if qname else None
    segments = _segments_from_name(p.name)
    return _finish(
        display=display,
        time=(TIME_FORMATS[tf], t),
        flux=flux,
        flux_err=err,
        extras=extras,
        quality=quality,
        quality_bitmask=quality_bitmask,
        mission=miss,
        meta0={},
        target=_target_from_name(p.name),
        segments=segments,
        flux_column=flux_name,
        flux_unit="",
        time_format_in=tf,
        time_format_source=source,
        reader=table["format"],
        is_mag=is_mag,
    )


# --------------------------------------------------------------------------------------------
# common finishing: masks, sort, normalise, build
# --------------------------------------------------------------------------------------------


def _plain_float(col) -> np.ndarray:
    """A float ndarray from a Column / Quantity / MaskedQuantity (masked -> NaN)."""
    val = col
    if hasattr(val, "mask") and np.any(getattr(val, "mask", False)):
        mask = np.asarray(val.mask, bool)
        base = getattr(val, "unmasked", None)
        if base is None:
            base = np.ma.getdata(val)
        arr = np.array(getattr(base, "value", base), dtype=float)
        arr[mask] = np.nan
        return arr
    base = getattr(val, "unmasked", val)
    return np.array(getattr(base, "value", base), dtype=float)


def _plain_column(col):
    """Remove masks from a column, keeping units: floats masked -> NaN, ints masked -> 0."""
    import astropy.units as u

    unit = getattr(col, "unit", None)
    base = getattr(col, "unmasked", None)
    if base is None:
        base = np.ma.getdata(col)
    arr = np.array(getattr(base, "value", base))
    mask = np.asarray(getattr(col, "mask", np.zeros(len(arr), bool)))
    if mask.shape == arr.shape and mask.any():
        if arr.dtype.kind == "f":
            arr = arr.copy()
            arr[mask] = np.nan
        elif arr.dtype.kind in "iub":
            arr = arr.copy()
            arr[mask] = 0
    if unit is not None and str(unit) not in ("", "None") and isinstance(unit, u.UnitBase):
        return u.Quantity(arr, unit)
    return arr


def _unique_sorted_mask(t_sorted: np.ndarray) -> np.ndarray:
    keep = np.ones(len(t_sorted), bool)
    if len(t_sorted) > 1:
        keep[1:] = np.diff(t_sorted) > _DUPLICATE_TOL_DAYS
    return keep


def _cadence_minutes(jd: np.ndarray) -> float:
    d = np.diff(np.asarray(jd, dtype=float))
    d = d[d > 0]
    return float(np.median(d) * 1440.0) if d.size else float("nan")


def _finish(*, display, time, flux, flux_err, extras, quality, quality_bitmask, mission, meta0,
            target, segments, flux_column, flux_unit, time_format_in, time_format_source, reader,
            is_mag):
    import astropy.units as u
    import lightkurve as lk
    from astropy.time import Time

    # time as (offset, values) or an astropy Time
    if isinstance(time, Time):
        tt = time.tdb
        jd1 = np.asarray(tt.jd1, dtype=float)
        jd2 = np.asarray(tt.jd2, dtype=float)
        tmask = getattr(time, "mask", None)
        finite_t = np.isfinite(jd1) & np.isfinite(jd2)
        if tmask is not None and np.ndim(tmask):
            finite_t &= ~np.asarray(tmask, bool)
        offset = None
    else:
        offset, vals = time
        vals = np.asarray(vals, dtype=float)
        finite_t = np.isfinite(vals)
    flux = _plain_float(flux)
    ferr = _plain_float(flux_err) if flux_err is not None else np.full(len(flux), np.nan)
    n_in = len(flux)
    keep = finite_t & np.isfinite(flux)
    if quality is not None:
        keep &= _quality_mask(quality, quality_bitmask, mission)
    if not np.isfinite(flux).any():
        raise LightCurveDataError(
            f"{display}: the flux column {flux_column!r} has no finite values (all NaN or empty). "
            f"Choose another column with flux_column=... or check the file."
        )
    if keep.sum() < MIN_POINTS:
        raise LightCurveDataError(
            f"{display}: only {int(keep.sum())} usable cadence(s) (finite time and flux, not "
            f"flagged) out of {n_in}; at least {MIN_POINTS} are needed. "
            + ("Try quality_bitmask='none'. " if quality is not None or n_in > keep.sum() else "")
        )

    idx = np.flatnonzero(keep)
    if offset is None:
        sort_key = (jd1[idx] - 2450000.0) + jd2[idx]
    else:
        sort_key = vals[idx]
    order = np.argsort(sort_key, kind="stable")
    idx = idx[order]
    uniq = _unique_sorted_mask(sort_key[order])
    idx = idx[uniq]

    # magnitudes -> relative flux; then normalise
    f = flux[idx]
    e = ferr[idx]
    if is_mag:
        m0 = np.nanmedian(f)
        rel = 10.0 ** (-0.4 * (f - m0))
        e = rel * 0.4 * np.log(10.0) * e
        f = rel
        normalization = float(m0)
    med = float(np.nanmedian(f))
    frac_nonpos = float(np.mean(f <= 0))
    if not np.isfinite(med) or med <= 0 or frac_nonpos > _MAX_NONPOSITIVE_FRACTION:
        raise LightCurveDataError(
            f"{display}: flux column {flux_column!r} has median {med:g} and "
            f"{100 * frac_nonpos:.0f}% of its values <= 0; flux must be positive to be normalised "
            f"(the median is divided out). If the column is a residual around 0 or a difference "
            f"flux, export relative flux instead, or pick another column with flux_column=."
        )
    if not is_mag:
        normalization = med
    f = f / med
    # flux_err: placeholders and non-positive values -> NaN
    e = np.asarray(e, dtype=float)
    finite_e = e[np.isfinite(e)]
    if finite_e.size and (np.all(finite_e == 0.0) or np.all(finite_e == 1.0)):
        e = np.full(len(e), np.nan)
    else:
        e = np.where(np.isfinite(e) & (e > 0), e, np.nan)
        e = e / med if not is_mag else e

    # time object
    if offset is None:
        t_out = Time(jd1[idx], jd2[idx], format="jd", scale="tdb")
    else:
        t_out = Time(np.full(len(idx), offset), vals[idx], format="jd", scale="tdb")
    bjd = t_out.jd
    lo, hi = MISSION_BJD_RANGES.get(mission, _ANY_BJD_RANGE) if mission else _ANY_BJD_RANGE
    if bjd.min() < lo or bjd.max() > hi:
        where = f"the {mission} mission ({lo:.0f}..{hi:.0f})" if mission else f"1968-2050 ({lo:.0f}..{hi:.0f})"
        raise TimeFormatError(
            f"{display}: reading the times as {time_format_in!r} ({time_format_source}) gives BJD "
            f"{bjd.min():.2f}..{bjd.max():.2f}, outside {where}. Pass the right time_format= "
            f"(one of {_time_format_list()})."
        )
    t_out.format = _MISSION_TIME_FORMAT.get(mission, "jd")

    cls = {"Kepler": lk.KeplerLightCurve, "K2": lk.KeplerLightCurve, "TESS": lk.TessLightCurve}.get(
        mission, lk.LightCurve)
    lc = cls(time=t_out, flux=u.Quantity(f, u.dimensionless_unscaled),
             flux_err=u.Quantity(e, u.dimensionless_unscaled))
    for name, col in extras.items():
        if name in ("time", "flux", "flux_err") or np.ndim(col) != 1 or len(col) != n_in:
            continue
        try:
            c = _plain_column(col)
            lc[name] = c[idx]
        except Exception:  # an odd column must not stop the read
            continue

    meta = dict(meta0)
    meta.pop("QUALITY_MASK", None)
    seg = {k: list(v) for k, v in (segments or {}).items()}
    meta.update(
        target=target,
        mission=mission,
        quarter=None,
        campaign=None,
        sector=None,
        cadence_min=_cadence_minutes(bjd),
        flux_column=flux_column,
        time_format_in=time_format_in,
        time_format_source=time_format_source,
        reader=reader,
        normalization=normalization,
        flux_unit_in=("mag" if is_mag else flux_unit),
        flux_from_magnitude=bool(is_mag),
        quality_bitmask=quality_bitmask,
        n_cadences_in=int(n_in),
    )
    for key, plural in (("quarter", "quarters"), ("campaign", "campaigns"), ("sector", "sectors")):
        vals_k = seg.get(key, [])
        meta[plural] = vals_k
        meta[key] = vals_k[0] if len(vals_k) == 1 else None
    lc.meta = meta
    return lc


def _describe(lc, i: int) -> str:
    src = lc.meta.get("source_file")
    return Path(src).name if src else f"light curve #{i}"
