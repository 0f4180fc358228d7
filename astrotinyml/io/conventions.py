"""Time systems, mission names and target names of Kepler, K2 and TESS data: one home.

Every mission counts time in days of barycentric Julian date in the TDB scale (BJD_TDB), but
each writes it with its own offset so the numbers stay short:

* **BKJD** (Kepler and K2): ``BJD - 2454833`` (:data:`BKJD_OFFSET`, the ``BJDREFI`` of their
  FITS headers; 2454833 is 2009-01-01 12:00 TDB);
* **BTJD** (TESS): ``BJD - 2457000`` (:data:`BTJD_OFFSET`; 2457000 is 2014-12-08 12:00 TDB).

A date written in the wrong system is off by 2167 days: a transit epoch then predicts transits
at a random phase.  :data:`TIME_FORMATS` lists every time system the readers accept with the
offset that gives the full BJD_TDB; :data:`MISSION_TIME_FORMATS` gives each mission's own one
(the ``format`` of ``lc.time``); :data:`MISSION_BJD_RANGES` the dates each mission's data can
have, against which every light curve read is checked; :func:`time_format_from_label` reads
the time system that a free-text label ("BKJD (inferred)", "BJD-2457000") names.

Targets are named ``"KIC 11442793"``, ``"EPIC 247589423"`` or ``"TIC 100100827"`` (Kepler, K2
and TESS input catalogues); :func:`target_key` gives that canonical form of a name written
with zero padding, underscores or lower case, :func:`target_name` the name a light curve's
``meta`` carries, and :func:`target_from_filename`, :func:`mission_from_filename` and
:func:`segments_from_filename` what the archives' file names say (``kplr011442793-...``,
``ktwo...``, ``tess...-s0002-...``, ``_Q17_``, ``_C13_``, ``_S36-S38_``).

>>> from astrotinyml.io.conventions import BTJD_OFFSET, MISSION_TIME_FORMATS
>>> 1354.5 + BTJD_OFFSET, MISSION_TIME_FORMATS["K2"]
(2458354.5, 'bkjd')
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ANY_BJD_RANGE",
    "BKJD_OFFSET",
    "BTJD_OFFSET",
    "FITS_SUFFIXES",
    "MISSIONS",
    "MISSION_BJD_OFFSETS",
    "MISSION_BJD_RANGES",
    "MISSION_TIME_FORMATS",
    "TIME_FORMATS",
    "TIME_FORMAT_ALIASES",
    "is_full_jd",
    "mission_from_filename",
    "segments_from_filename",
    "target_from_filename",
    "target_key",
    "target_name",
    "time_format_from_label",
]

#: Kepler / K2 time (BKJD) = BJD_TDB - BKJD_OFFSET.
BKJD_OFFSET = 2454833.0

#: TESS time (BTJD) = BJD_TDB - BTJD_OFFSET.
BTJD_OFFSET = 2457000.0

#: Accepted ``time_format`` values and the offset (days) added to the file's times to get BJD_TDB.
TIME_FORMATS: dict[str, float] = {
    "bjd": 0.0,  # full barycentric Julian date (TDB)
    "bkjd": BKJD_OFFSET,  # Kepler / K2: BJD - 2454833
    "btjd": BTJD_OFFSET,  # TESS: BJD - 2457000
    "bjd-2450000": 2450000.0,
    "bjd-2400000": 2400000.0,
    "mjd": 2400000.5,  # barycentric modified Julian date (BJD - 2400000.5)
}

#: Other spellings of the :data:`TIME_FORMATS` keys (lower case, without spaces).
TIME_FORMAT_ALIASES: dict[str, str] = {
    "bjd_tdb": "bjd",
    "bjdtdb": "bjd",
    "jd": "bjd",
    "full": "bjd",
    "bjd-2454833": "bkjd",
    "bjd-2457000": "btjd",
    "bmjd": "mjd",
    "rjd": "bjd-2400000",
}

#: The missions, as spelled in ``meta['mission']``.
MISSIONS = ("Kepler", "K2", "TESS")

#: The mission's own time format, used as ``lc.time.format``.
MISSION_TIME_FORMATS: dict[str, str] = {"Kepler": "bkjd", "K2": "bkjd", "TESS": "btjd"}

#: The offset of each mission's own time system to full BJD_TDB.
MISSION_BJD_OFFSETS: dict[str, float] = {m: TIME_FORMATS[f] for m, f in MISSION_TIME_FORMATS.items()}

#: Plausible full BJD_TDB ranges of the missions' data (checked on every light curve read).
MISSION_BJD_RANGES: dict[str, tuple[float, float]] = {
    "Kepler": (2454900.0, 2456450.0),
    "K2": (2456650.0, 2458450.0),
    "TESS": (2458300.0, 2470000.0),
}

#: Dates any light curve can have when the mission is not known: 1968 .. 2050.
ANY_BJD_RANGE = (2440000.0, 2470000.0)

#: File-name endings of FITS files (plain or gzipped).
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")

_NAME_MISSION = re.compile(r"^(kepler|k2|tess|kplr|ktwo)(?=[_\-.\d])", re.IGNORECASE)
_ID_PATTERNS = (
    (re.compile(r"(?<![A-Za-z])TIC[\s_\-]*0*(\d+)", re.IGNORECASE), "TIC"),
    (re.compile(r"(?<![A-Za-z])EPIC[\s_\-]*0*(\d+)", re.IGNORECASE), "EPIC"),
    (re.compile(r"(?<![A-Za-z])KIC[\s_\-]*0*(\d+)", re.IGNORECASE), "KIC"),
    (re.compile(r"(?<![A-Za-z])kplr0*(\d+)", re.IGNORECASE), "KIC"),
    (re.compile(r"(?<![A-Za-z])ktwo0*(\d+)", re.IGNORECASE), "EPIC"),
)


def time_format_from_label(label: str | None, *, path: str | os.PathLike | None = None) -> str | None:
    """The :func:`~astrotinyml.io.read.read_lightcurve` ``time_format`` that a free-text label names.

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
    >>> from astrotinyml.io.conventions import time_format_from_label
    >>> time_format_from_label("BKJD (inferred: 120.5-1591)"), time_format_from_label("BJD_TDB (full)")
    ('bkjd', 'bjd')
    >>> time_format_from_label("BJD-2457000"), time_format_from_label("")
    ('btjd', None)
    >>> print(time_format_from_label("BTJD", path="tess_x_lc.fits"))
    None
    """
    if path is not None and str(path).lower().endswith(FITS_SUFFIXES):
        return None
    if label is None:
        return None
    text = str(label).strip()
    if not text:
        return None
    head = re.split(r"[\s(,;:]", text, maxsplit=1)[0].lower()
    key = TIME_FORMAT_ALIASES.get(head, head)
    if key in TIME_FORMATS:
        return key
    # "BKJD=BJD-2454833" and the like: the prefix rule the benchmarks always used
    up = text.upper()
    for prefix, fmt in (("BKJD", "bkjd"), ("BTJD", "btjd"), ("BJD", "bjd")):
        if up.startswith(prefix):
            return fmt
    return None


def is_full_jd(values: Any) -> bool:
    """Whether every finite value is above 2,400,000, i.e. a full Julian date, not an offset one.

    Parameters
    ----------
    values : array-like of float

    Returns
    -------
    bool
        False when no value is finite.

    Examples
    --------
    >>> from astrotinyml.io.conventions import is_full_jd
    >>> is_full_jd([2458354.1, float("nan")]), is_full_jd([1354.1]), is_full_jd([])
    (True, False, False)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 0 and bool(np.all(v > 2.4e6))


def target_key(target: str) -> str:
    """The canonical form of a target name: ``"KIC 11442793"`` for ``"kic_011442793"``.

    Catalogue names (KIC, TIC, EPIC, KOI, TOI followed by a number) become the upper-case
    prefix, one space and the number without zero padding; any other name is stripped, lower
    cased and its runs of white space made one space.  Two names are of the same target when
    their keys are equal.

    Parameters
    ----------
    target : str

    Returns
    -------
    str

    Examples
    --------
    >>> from astrotinyml.io.conventions import target_key
    >>> target_key("kic_011442793"), target_key("TIC-100100827"), target_key("  WASP 18 ")
    ('KIC 11442793', 'TIC 100100827', 'wasp 18')
    """
    m = re.match(r"^\s*(KIC|TIC|EPIC|KOI|TOI)[\s_\-]*0*(\d+)", target, re.IGNORECASE)
    if m:
        return f"{m.group(1).upper()} {int(m.group(2))}"
    return re.sub(r"\s+", " ", target.strip().lower())


def target_name(lc: Any, default: str = "<unnamed light curve>") -> str:
    """The target name a light curve's ``meta`` gives (our readers' key first, then FITS keys).

    Parameters
    ----------
    lc : lightkurve.LightCurve or any object with a ``meta`` mapping
    default : str
        The name when ``meta`` has none of ``target``, ``OBJECT``, ``object``,
        ``target_name``, ``LABEL``, ``TARGETID``.

    Returns
    -------
    str

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from astrotinyml.io.conventions import target_name
    >>> target_name(SimpleNamespace(meta={"OBJECT": "TIC 100100827"}))
    'TIC 100100827'
    >>> target_name(SimpleNamespace(meta={}))
    '<unnamed light curve>'
    """
    meta = getattr(lc, "meta", {}) or {}
    for key in ("target", "OBJECT", "object", "target_name", "LABEL", "TARGETID"):
        value = meta.get(key)
        if value not in (None, ""):
            return str(value)
    return default


def mission_from_filename(name: str) -> str | None:
    """The mission a file name starts with (``kepler``, ``k2``, ``tess``, ``kplr``, ``ktwo``).

    The prefix must be followed by ``_``, ``-``, ``.`` or a digit, so ``kepler_x.txt`` and
    ``kplr011442793-2009350155506_llc.fits`` are Kepler files while ``keplerian.txt`` is not.

    Parameters
    ----------
    name : str
        The file name (not a path).

    Returns
    -------
    str or None
        ``"Kepler"``, ``"K2"``, ``"TESS"`` or None.

    Examples
    --------
    >>> from astrotinyml.io.conventions import mission_from_filename
    >>> mission_from_filename("ktwo247589423-c14_llc.fits"), mission_from_filename("mystar.txt")
    ('K2', None)
    """
    m = _NAME_MISSION.match(name)
    if not m:
        return None
    return {"kepler": "Kepler", "kplr": "Kepler", "k2": "K2", "ktwo": "K2", "tess": "TESS"}[m.group(1).lower()]


def target_from_filename(name: str) -> str:
    """The target a file name states (``TIC 123``, ``kplr0011442793`` ...), else its stem.

    Parameters
    ----------
    name : str
        The file name (not a path).

    Returns
    -------
    str
        ``"TIC <n>"``, ``"EPIC <n>"`` or ``"KIC <n>"``, or the name without its extensions.

    Examples
    --------
    >>> from astrotinyml.io.conventions import target_from_filename
    >>> target_from_filename("kplr011442793-2009350155506_llc.fits")
    'KIC 11442793'
    >>> target_from_filename("my_star.csv")
    'my_star'
    """
    for rx, prefix in _ID_PATTERNS:
        m = rx.search(name)
        if m:
            return f"{prefix} {int(m.group(1))}"
    stem = name
    for suffix in (".gz", ".fits", ".fit", ".csv", ".txt", ".dat", ".tsv", ".npy", ".npz"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return Path(stem).stem if "." in stem else stem


def segments_from_filename(name: str) -> dict[str, list[int]]:
    """Quarter/campaign/sector numbers stated in a file name (``_Q17_``, ``_C13_``, ``_S36-S38_``).

    Parameters
    ----------
    name : str
        The file name (not a path).

    Returns
    -------
    dict
        ``{"quarter": [...]}``, ``{"campaign": [...]}`` and/or ``{"sector": [...]}``, sorted;
        empty when the name states none.

    Examples
    --------
    >>> from astrotinyml.io.conventions import segments_from_filename
    >>> segments_from_filename("tess_TIC1_S36-S38_lc.txt"), segments_from_filename("kepler_Q3_Q4.csv")
    ({'sector': [36, 37, 38]}, {'quarter': [3, 4]})
    """
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
