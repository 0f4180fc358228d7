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
from typing import TYPE_CHECKING

import numpy as np

from ..errors import (
    InvalidParameterError,
    LightCurveDataError,
    LightCurveFileNotFoundError,
    LightCurveFormatError,
    TimeFormatError,
    error_boundary,
    printable,
)
from ..provenance import sha256_file as _sha256
from . import _normalize
from ._fits import read_fits
from ._normalize import (
    cadence_minutes,
    plain_column,
    plain_float,
    time_format_list,
    unique_sorted_mask,
)
from ._text import load_npy, load_npz, load_text, table_to_lightcurve

# MISSION_BJD_RANGES, TIME_FORMATS and time_format_from_label stay importable from here as
# before; they are documented in their home, astrotinyml.io.conventions.
from .conventions import (  # noqa: F401
    FITS_SUFFIXES,
    MISSION_BJD_RANGES,
    TIME_FORMAT_ALIASES,
    TIME_FORMATS,
    target_key,
    time_format_from_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Sequence

    import lightkurve

__all__ = [
    "LIGHTCURVE_SUFFIXES",
    "MIN_POINTS",
    "looks_like_path",
    "read_lightcurve",
    "read_lightcurves",
    "stitch",
]

#: Fewest cadences (finite time and flux, after quality masking) a light curve may have.
MIN_POINTS = _normalize.MIN_POINTS

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

    See the module documentation (:mod:`astrotinyml.io.read`) for the full contract: time is
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
    tf, ms = _checked_keywords(display, time_format=time_format, flux_column=flux_column,
                               quality_bitmask=quality_bitmask, mission=mission)
    kind = _sniff_kind(p, display)
    # anything unexpected from astropy / numpy / lightkurve becomes one error naming the file
    # (without the dependency's message, which may quote the file's content)
    with error_boundary(display, LightCurveFormatError,
                        fix="Check that it is a complete Kepler/K2/TESS light-curve file or a "
                            "text/NumPy export with time and flux columns.", detail=False):
        lc = _read_kind(kind, p, display, time_format=tf, flux_column=flux_column,
                        quality_bitmask=quality_bitmask, mission=ms)
    lc.meta["source_file"] = str(p)
    lc.meta["sha256"] = _sha256(p)
    if target is not None:
        lc.meta["target"] = str(target)
    return lc


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
        _check_one_target(lcs, names)
    out = _stacked(_normalized_segments(lcs, names))
    out.meta = _stitched_meta(lcs, out, target)
    return out


def _check_one_target(lcs, names: list[str]) -> None:
    """Every light curve that names its target names the same one (:func:`target_key`)."""
    keys = {}
    for lc, name in zip(lcs, names):
        t = lc.meta.get("target")
        if t:
            keys.setdefault(target_key(str(t)), []).append(f"{name} ({t})")
    if len(keys) > 1:
        listing = "; ".join(", ".join(v) for v in keys.values())
        raise InvalidParameterError(
            f"stitch: the light curves are of different targets: {listing}. Stitch only "
            f"quarters/sectors of one star, or pass target='...' if they are the same star "
            f"under different names."
        )


def _normalized_segments(lcs, names: list[str]) -> list:
    """Copies divided by their own flux median, with only the columns all of them have."""
    import astropy.units as u

    common = None
    for lc in lcs:
        cols = [c for c in lc.colnames if c not in ("time", "flux", "flux_err")]
        common = cols if common is None else [c for c in common if c in cols]
    segments = []
    for lc, name in zip(lcs, names):
        flux = plain_float(lc.flux)
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
        seg.flux_err = u.Quantity(plain_float(lc.flux_err) / med, u.dimensionless_unscaled)
        if seg.time.format != lcs[0].time.format:
            seg.time.format = lcs[0].time.format
        segments.append(seg)
    return segments


def _stacked(segments: list):
    """One light curve of the segments, masks filled, sorted by time, duplicate times dropped."""
    import lightkurve as lk

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = lk.LightCurveCollection(segments).stitch(corrector_func=lambda x: x)
    # fill masks the stacking may have introduced
    for c in list(out.colnames):
        col = out[c]
        if c != "time" and hasattr(col, "mask") and np.ndim(col) == 1:
            out[c] = plain_column(col)
    t = np.asarray(out.time.jd1 - TIME_FORMATS["bjd"], dtype=float) + np.asarray(out.time.jd2, dtype=float)
    order = np.argsort(t, kind="stable")
    keep = unique_sorted_mask(t[order])
    return out[order[keep]]


def _stitched_meta(lcs, out, target) -> dict:
    """The first segment's meta, with the segments, files and checksums of all of them."""
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
    meta["cadence_min"] = cadence_minutes(out.time.jd)
    meta["normalization"] = [lc.meta.get("normalization") for lc in lcs]
    meta.pop("QUALITY_MASK", None)
    return meta


def _describe(lc, i: int) -> str:
    src = lc.meta.get("source_file")
    return Path(src).name if src else f"light curve #{i}"


# --------------------------------------------------------------------------------------------
# path, kind, parameters; the sniffer and the dispatch to one reader per kind
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
            f"{display}: time_format must be a string, one of {time_format_list()}; got {value!r}."
        )
    key = re.sub(r"\s+", "", value.strip().lower())
    key = TIME_FORMAT_ALIASES.get(key, key)
    if key not in TIME_FORMATS:
        raise TimeFormatError(
            f"{display}: unknown time_format {value!r}; use one of {time_format_list()}."
        )
    return key


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
    if head.startswith(b"\x1f\x8b") and name.endswith(FITS_SUFFIXES):
        return "fits"
    if name.endswith(FITS_SUFFIXES):
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


def _checked_keywords(display: str, *, time_format, flux_column, quality_bitmask, mission):
    """(time_format, mission) in their canonical spelling; a bad keyword is an error."""
    tf = _normalize_time_format(time_format, display) if time_format is not None else None
    ms = _normalize_mission(mission, display) if mission is not None else None
    _check_bitmask(quality_bitmask, display)
    if flux_column is not None and (not isinstance(flux_column, str) or not flux_column.strip()):
        raise InvalidParameterError(
            f"{display}: flux_column must be a non-empty column name, got {flux_column!r}."
        )
    return tf, ms


#: The loaders of the table kinds the sniffer tells apart (FITS has its own reader).
_TABLE_LOADERS = {"npy": load_npy, "npz": load_npz, "text": load_text}


def _read_kind(kind: str, p: Path, display: str, **keywords):
    """The reader of the kind :func:`_sniff_kind` found."""
    if kind == "fits":
        return read_fits(p, display, **keywords)
    table = _TABLE_LOADERS[kind](p, display)
    return table_to_lightcurve(table, p, display, **keywords)
