"""Labels and ephemerides from the NASA Exoplanet Archive, and what other archives hold.

* :func:`query_planets` (confirmed planets, table ``pscomppars``), :func:`query_koi` (Kepler
  Objects of Interest, ``cumulative``) and :func:`query_toi` (TESS Objects of Interest, ``toi``)
  return :class:`astropy.table.QTable` objects with units (periods in d, durations in h, depths
  in ppm as :data:`astropy.units.cds.ppm` or % as the archive gives them, radii in Earth radii...).
* :func:`reference_ephemerides` turns any of those tables into the project's column contract
  (``pl_orbper`` d, ``pl_tranmid`` full BJD_TDB, ``pl_trandurh`` h, ``pl_trandep`` ppm,
  ``disposition``), e.g. for calibration.
* :func:`archive_summary` lists what MAST, IRSA and HEASARC hold around a target.

Queries are safe by construction
--------------------------------
Filters are keyword arguments, never ADQL text.  String values become single-quoted ADQL
literals with embedded quotes doubled (control characters are refused), numbers must be finite
floats, column names (``columns=``, ``order_by=``) must be in the table's allow-list, so a name
like ``"x' OR 1=1 --"`` can only ever be compared as a string.  :func:`build_query` returns the
ADQL text that is sent, for inspection.  The ADQL is sent verbatim to the archive's TAP service
(the URL configured in :mod:`astroquery.ipac.nexsci.nasa_exoplanet_archive`) with pyvo, the
library astroquery's ``NasaExoplanetArchive`` itself uses: its ``query_criteria`` would first
list all TAP tables (one more request) and rewrites any ``where`` text containing
``pl_hostname``, which would let a value change the query.

Caching, expiry and offline use
-------------------------------
Each answer is cached in ``<cache>/archive/`` (one ECSV file per distinct query) and reused for
:data:`CACHE_MAX_AGE` (7 days; ``max_age=`` changes it).  An expired entry is refreshed online;
if the archive cannot be reached it is still used, with an
:class:`~astrotinyml.errors.ArchiveSnapshotWarning` saying how old it is.  Offline
(``offline=True`` or ``ASTROTINYML_OFFLINE=1``) the cache is used whatever its age, and without a
cached answer the query runs on the catalogue snapshots bundled in
``astrotinyml/data/catalogs`` (Exoplanet Archive exports of 2025-10-04: the KOI cumulative table,
the TOI table, and the Planetary Systems rows of K2 planets) with the same filters, again with an
:class:`~astrotinyml.errors.ArchiveSnapshotWarning` giving the snapshot date and its age.  No
``pscomppars`` export is bundled: offline, :func:`query_planets` answers from a table built from
the three snapshots -- the K2 planets (Planetary Systems default sets), Kepler's confirmed KOIs
(the KOI fit's values) and TESS's CP/KP TOIs (named ``TOI-n.nn``, host ``TIC n``).  That is the
transiting planets of the three missions, not every confirmed planet, and the warning says so.
A machine without network (a host name that does not resolve) falls back the same way.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import gzip
import hashlib
import io
import logging
import math
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path
from ..candidates import float_array
from ..config import DATA_DIR, is_offline
from ..config import cache_dir as _cache_dir
from ..errors import (
    ArchiveQueryError,
    ArchiveSnapshotWarning,
    DataUnavailableError,
    InvalidParameterError,
    OfflineError,
    error_boundary,
    printable,
)
from ..io.conventions import BKJD_OFFSET
from . import _net

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import QTable, Table

__all__ = [
    "CACHE_MAX_AGE",
    "SNAPSHOT_DIR",
    "archive_summary",
    "build_query",
    "query_koi",
    "query_catalog",
    "query_planets",
    "query_toi",
    "reference_ephemerides",
    "snapshot_info",
]

log = logging.getLogger("astrotinyml.remote.archives")

#: How long a cached archive answer is used before it is asked for again.
CACHE_MAX_AGE = _dt.timedelta(days=7)

#: Bundled catalogue snapshots (gzip-compressed Exoplanet Archive CSV exports).
SNAPSHOT_DIR = DATA_DIR / "catalogs"


# Columns of pscomppars returned by default by query_planets (all exist in the live table).
_PLANET_COLUMNS = (
    "pl_name", "hostname", "tic_id", "sy_snum", "sy_pnum", "discoverymethod", "disc_year",
    "disc_facility", "pl_controv_flag", "tran_flag", "pl_orbper", "pl_orbpererr1",
    "pl_orbpererr2", "pl_tranmid", "pl_tranmiderr1", "pl_tranmiderr2", "pl_trandur",
    "pl_trandurerr1", "pl_trandurerr2", "pl_trandep", "pl_trandeperr1", "pl_trandeperr2",
    "pl_ratror", "pl_imppar", "pl_rade", "pl_radeerr1", "pl_radeerr2", "pl_radj", "pl_bmasse",
    "pl_bmassj", "pl_orbsmax", "pl_orbeccen", "pl_insol", "pl_eqt", "st_teff", "st_rad",
    "st_mass", "st_met", "st_logg", "ra", "dec", "sy_dist", "sy_vmag", "sy_kmag", "sy_gaiamag",
)
_PLANET_EXTRA_ALLOWED = (
    "pl_letter", "hd_name", "hip_name", "gaia_id", "cb_flag", "pl_orbincl", "pl_dens",
    "st_spectype", "st_age", "st_lum", "st_vsin", "st_rotp", "sy_jmag", "sy_hmag", "sy_tmag",
    "rastr", "decstr", "pl_orbperlim", "pl_radelim", "ttv_flag", "rowupdate", "pl_pubdate",
    "releasedate", "disc_refname", "pl_refname", "pl_ratdor", "pl_ratdorerr1", "pl_ratdorerr2",
)
_KOI_EXTRA_ALLOWED = ("koi_time0", "koi_time0_err1", "koi_time0_err2", "koi_comment",
                      "koi_ror", "koi_sma", "koi_incl", "koi_dor", "koi_fittype")

# Units of columns the snapshots' comment headers do not describe (pscomppars).
_STATIC_UNITS = {
    "pl_orbper": "d", "pl_tranmid": "d", "pl_trandur": "h", "pl_trandep": "%",
    "pl_rade": "earthRad", "pl_radj": "jupiterRad", "pl_bmasse": "earthMass",
    "pl_bmassj": "jupiterMass", "pl_orbsmax": "AU", "pl_eqt": "K", "pl_orbincl": "deg",
    "st_teff": "K", "st_rad": "solRad", "st_mass": "solMass", "ra": "deg", "dec": "deg",
    "sy_dist": "pc", "sy_vmag": "mag", "sy_kmag": "mag", "sy_gaiamag": "mag", "sy_jmag": "mag",
    "sy_hmag": "mag", "sy_tmag": "mag", "koi_time0": "d", "koi_sma": "AU", "koi_incl": "deg",
    "st_vsin": "km/s", "st_rotp": "d", "st_age": "Gyr",
}

# unit words used in the snapshots' "# COLUMN name: description [unit]" lines
_UNIT_WORDS = {
    "days": "d", "day": "d", "bkjd": "d", "bjd": "d", "hrs": "h", "hours": "h", "ppm": "ppm",
    "%": "%", "earth radii": "earthRad", "r_earth": "earthRad", "earth radius": "earthRad",
    "jupiter radius": "jupiterRad", "earth mass": "earthMass", "jupiter mass": "jupiterMass",
    "k": "K", "solar radii": "solRad", "r_sun": "solRad", "solar radius": "solRad",
    "solar mass": "solMass", "decimal degrees": "deg", "deg": "deg", "mag": "mag", "pc": "pc",
    "au": "AU", "mas/yr": "mas/yr",
}

# table kind -> (TAP table, snapshot file, default order, what it is)
_TABLES = {
    "planets": ("pscomppars", "planetary_systems_k2.csv.gz", "pl_name", "confirmed planets"),
    "koi": ("cumulative", "koi_cumulative.csv.gz", "kepoi_name", "Kepler Objects of Interest"),
    "toi": ("toi", "toi.csv.gz", "toi", "TESS Objects of Interest"),
}

_KOI_DISPOSITIONS = ("CONFIRMED", "CANDIDATE", "FALSE POSITIVE", "NOT DISPOSITIONED")
_TOI_DISPOSITIONS = ("CP", "KP", "PC", "APC", "FP", "FA")
_TOI_ALIASES = {"CONFIRMED": ("CP", "KP"), "CANDIDATE": ("PC", "APC"),
                "FALSE POSITIVE": ("FP", "FA"), "FALSE_POSITIVE": ("FP", "FA")}
_FACILITIES = {"kepler": "Kepler", "k2": "K2", "tess": "Transiting Exoplanet Survey Satellite (TESS)"}

_TEXT_COLUMNS = {"tic_id", "hd_name", "hip_name", "gaia_id", "st_spectype", "rastr", "decstr",
                 "disc_refname", "pl_refname", "pl_letter", "rowupdate", "pl_pubdate", "releasedate"}

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_LIMIT = 1_000_000


# --------------------------------------------------------------------------------------------
# safe query building
# --------------------------------------------------------------------------------------------


class _Cond:
    """One WHERE condition: ``column op value``; ``op`` in =, >=, <=, <, in, prefix, or."""

    def __init__(self, column: str, op: str, value: Any):
        self.column, self.op, self.value = column, op, value

    def sql(self) -> str:
        if self.op == "or":
            return "(" + " OR ".join(c.sql() for c in self.value) + ")"
        col = _check_ident(self.column)
        if self.op == "in":
            return f"{col} IN ({', '.join(_literal(v) for v in self.value)})"
        if self.op == "prefix":
            return f"{col} LIKE {_literal(_like_prefix(self.value))}"
        if self.op not in ("=", ">=", "<=", "<"):
            raise InvalidParameterError(f"unknown operator {self.op!r}")  # pragma: no cover
        return f"{col} {self.op} {_literal(self.value)}"

    def mask(self, table) -> np.ndarray:
        n = len(table)
        if self.op == "or":
            m = np.zeros(n, bool)
            for c in self.value:
                m |= c.mask(table)
            return m
        if self.column not in table.colnames:
            return np.zeros(n, bool)
        col = table[self.column]
        if self.op in ("=", "in"):
            values = list(self.value) if self.op == "in" else [self.value]
            if isinstance(values[0], str):
                data = _str_values(col)
                return np.isin(data, [str(v) for v in values])
            data = float_array(col)
            return np.isin(data, np.asarray(values, dtype=float))
        if self.op == "prefix":
            data = _str_values(col)
            return np.char.startswith(data.astype(str), str(self.value))
        data = float_array(col)
        with np.errstate(invalid="ignore"):
            if self.op == ">=":
                return data >= self.value
            if self.op == "<=":
                return data <= self.value
            return data < self.value


def _str_values(col) -> np.ndarray:
    data = np.ma.getdata(col).astype(str)
    mask = np.ma.getmaskarray(col)
    return np.where(mask, "", data)


def _check_ident(name: str, allowed=None, what: str = "column") -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise InvalidParameterError(
            f"{what} {name!r} is not a valid column name (lower-case letters, digits, '_').")
    if allowed is not None and name not in allowed:
        raise InvalidParameterError(
            f"{what} {name!r} is not a known column of this table; known columns: "
            f"{', '.join(sorted(allowed))}.")
    return name


def _target_text(target, name: str = "target") -> str:
    """A target given as a name (or a catalogue number): never the text of a list or dict."""
    if isinstance(target, (int, np.integer)) and not isinstance(target, (bool, np.bool_)):
        return str(int(target))
    if not isinstance(target, str):
        raise InvalidParameterError(
            f"{name} must be one name (a string such as 'Kepler-90'), got a {type(target).__name__}"
            + (" -- query each target in a loop" if isinstance(target, (list, tuple, set)) else "") + ".")
    return _check_string(target, name)


def _check_string(value, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(f"{name} must be a string, got {type(value).__name__}.")
    value = value.strip()
    if not value:
        raise InvalidParameterError(f"{name} is empty.")
    if len(value) > 200:
        raise InvalidParameterError(f"{name} is longer than 200 characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidParameterError(f"{name} {printable(value)!r} contains control characters.")
    return value


def _literal(value) -> str:
    """An ADQL literal: a single-quoted string with quotes doubled, or a finite number."""
    if isinstance(value, str):
        value = _check_string(value, "value")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"booleans are not query values: {value!r}")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
        return repr(float(value))
    raise InvalidParameterError(f"{value!r} is not a string or a finite number.")


def _like_prefix(value: str) -> str:
    _check_string(value, "name")  # validates; the prefix keeps its trailing space
    if "%" in value or "_" in value:
        raise InvalidParameterError(f"name {value!r} may not contain '%' or '_'.")
    return value + "%"


def _finite(value, name: str, unit: str | None = None) -> float:
    if value is None:
        return None
    if hasattr(value, "unit") and unit is not None:
        import astropy.units as u

        try:
            value = value.to_value(u.Unit(unit))
        except Exception as err:
            raise InvalidParameterError(f"{name}={value!r} cannot be converted to {unit}.") from err
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}.")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(f):
        raise InvalidParameterError(f"{name} must be finite, got {value!r}.")
    return f


def _period_conds(column: str, period_min, period_max) -> list[_Cond]:
    lo = _finite(period_min, "period_min", "d")
    hi = _finite(period_max, "period_max", "d")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidParameterError(f"period_min={lo} is larger than period_max={hi}.")
    out = []
    if lo is not None:
        out.append(_Cond(column, ">=", lo))
    if hi is not None:
        out.append(_Cond(column, "<=", hi))
    return out


def _limit(limit) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 0 < limit <= _MAX_LIMIT:
        raise InvalidParameterError(f"limit must be an integer from 1 to {_MAX_LIMIT}, got {limit!r}.")
    return int(limit)


def _order(order_by, allowed, default) -> tuple[str, bool]:
    if order_by is None:
        return default, False
    if not isinstance(order_by, str):
        raise InvalidParameterError(f"order_by must be a column name, got {order_by!r}.")
    text = order_by.strip().lower()
    desc = False
    if text.startswith("-"):
        desc, text = True, text[1:].strip()
    else:
        m = re.fullmatch(r"([a-z0-9_]+)\s+(asc|desc)", text)
        if m:
            text, desc = m.group(1), m.group(2) == "desc"
    return _check_ident(text, allowed, "order_by column"), desc


def build_query(table: str, *, columns, conditions, order_by, descending=False, limit=None) -> str:
    """Assemble the ADQL text of a query (used by the ``query_*`` functions; exposed to inspect it).

    Parameters
    ----------
    table : str
        TAP table name (``"pscomppars"``, ``"cumulative"``, ``"toi"``).
    columns : sequence of str
        Column names, already checked against the allow-list.
    conditions : sequence
        Internal condition objects (built by the ``query_*`` functions from their keywords).
    order_by : str
        Column to sort by.
    descending : bool
        Sort order.
    limit : int, optional
        ``TOP`` row count.

    Returns
    -------
    str

    Examples
    --------
    >>> from astrotinyml.remote.archives import build_query, _Cond
    >>> build_query("pscomppars", columns=["pl_name"], conditions=[_Cond("hostname", "=", "x' OR 1=1 --")],
    ...             order_by="pl_name")
    "SELECT pl_name FROM pscomppars WHERE hostname = 'x'' OR 1=1 --' ORDER BY pl_name ASC"
    """
    table = _check_ident(table, None, "table")
    cols = ", ".join(_check_ident(c) for c in columns)
    top = f"TOP {_limit(limit)} " if limit is not None else ""
    where = " AND ".join(c.sql() for c in conditions)
    text = f"SELECT {top}{cols} FROM {table}"
    if where:
        text += f" WHERE {where}"
    text += f" ORDER BY {_check_ident(order_by)} {'DESC' if descending else 'ASC'}"
    return text


# --------------------------------------------------------------------------------------------
# snapshots
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _snapshot(kind: str):
    """(Table, {column: description}, {column: unit string}, datetime of the export)."""
    from astropy.io import ascii

    path = SNAPSHOT_DIR / _TABLES[kind][1]
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    comments = [ln for ln in lines if ln.startswith("#")]
    data = [ln for ln in lines if ln and not ln.startswith("#")]
    desc, units = {}, {}
    date = None
    for ln in comments:
        m = re.match(r"#\s*COLUMN\s+(\w+):\s*(.*)$", ln)
        if m:
            name, text = m.group(1), m.group(2).strip()
            desc[name] = text
            b = re.search(r"\[([^\]]+)\]", text)
            if b and b.group(1).strip().lower() in _UNIT_WORDS:
                units[name] = _UNIT_WORDS[b.group(1).strip().lower()]
            continue
        body = " ".join(ln[1:].split())
        try:
            date = _dt.datetime.strptime(body, "%a %b %d %H:%M:%S %Y").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            pass
    table = ascii.read(data, format="csv", fast_reader=True)
    if date is None:  # pragma: no cover - the bundled files all carry it
        date = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc)
    return table, desc, units, date


def snapshot_info():
    """Describe the bundled catalogue snapshots.

    Returns
    -------
    astropy.table.Table
        One row per snapshot: ``kind`` (``planets``, ``koi``, ``toi``), ``archive_table``,
        ``file``, ``rows``, ``exported`` (UTC date) and ``age_days``.

    Examples
    --------
    >>> from astrotinyml.remote.archives import snapshot_info
    >>> info = snapshot_info()
    >>> info["kind"].tolist(), str(info["exported"][0])
    (['planets', 'koi', 'toi'], '2025-10-04')
    """
    from astropy.table import Table

    rows = []
    now = _dt.datetime.now(_dt.timezone.utc)
    for kind, (tap, fname, _, _) in _TABLES.items():
        table, _, _, date = _snapshot(kind)
        rows.append((kind, tap, fname, len(table), date.date().isoformat(), (now - date).days))
    return Table(rows=rows, names=("kind", "archive_table", "file", "rows", "exported", "age_days"))


def _unit_map(kind: str) -> dict[str, str]:
    units = dict(_snapshot(kind)[2])
    if kind == "planets":  # pscomppars' own units win over those of the PS snapshot
        units.update(_STATIC_UNITS)
    elif kind == "koi":
        units.update({k: v for k, v in _STATIC_UNITS.items() if k.startswith("koi_")})
    return units


def _allowed(kind: str) -> set[str]:
    cols = set(_snapshot(kind)[0].colnames)
    if kind == "planets":
        return set(_PLANET_COLUMNS) | set(_PLANET_EXTRA_ALLOWED)
    if kind == "koi":
        return cols | set(_KOI_EXTRA_ALLOWED)
    return cols


def _default_columns(kind: str) -> list[str]:
    if kind == "planets":
        return list(_PLANET_COLUMNS)
    return list(_snapshot(kind)[0].colnames)


# --------------------------------------------------------------------------------------------
# units and final tables
# --------------------------------------------------------------------------------------------


def _to_unit(text: str):
    import astropy.units as u
    from astropy.units import cds

    return cds.ppm if text == "ppm" else u.Unit(text)


def _finalize(table, kind: str, meta: dict) -> QTable:
    """Plain table -> QTable with units (floats: NaN for missing; strings: '' for missing)."""
    import astropy.units as u
    from astropy.table import MaskedColumn, QTable

    units = _unit_map(kind)
    desc = _snapshot(kind)[1]
    out = QTable()
    for name in table.colnames:
        col = table[name]
        base = re.sub(r"(err[12]|lim)$", "", name)
        unit = units.get(name) or (units.get(base) if not name.endswith("lim") else None)
        kindc = np.asarray(col).dtype.kind
        if kindc in "fiu" and unit is not None:
            out[name] = u.Quantity(float_array(col), _to_unit(unit))
        elif kindc == "f":
            out[name] = float_array(col)
        elif kindc in "US" or kindc == "O":
            out[name] = _str_values(col)
        else:
            out[name] = MaskedColumn(col) if np.ma.is_masked(col) or hasattr(col, "mask") else col
        if name in desc:
            out[name].info.description = desc[name]
    out.meta.update(meta)
    return out


def _empty_like(kind: str, columns: list[str]):
    """A zero-row plain table with the requested columns (for missing snapshot columns)."""
    from astropy.table import Table

    snap = _snapshot(kind)[0]
    cols = []
    for c in columns:
        if c in snap.colnames:
            cols.append(snap[c][:0])
        else:
            cols.append(np.zeros(0, float))
    return Table(cols, names=columns)


# --------------------------------------------------------------------------------------------
# running a query: cache -> archive -> snapshot
# --------------------------------------------------------------------------------------------


class _TimeoutSession:
    """A requests session whose requests all carry a timeout."""

    def __new__(cls, timeout: float):
        import requests

        class _S(requests.Session):
            def request(self, *args, **kwargs):
                # each request waits at most what is left of the query's deadline
                kwargs.setdefault("timeout", _net.attempt_timeout(timeout))
                return super().request(*args, **kwargs)

        return _S()


def _tap_url() -> str:
    try:
        from astroquery.ipac.nexsci.nasa_exoplanet_archive import conf

        return conf.url_tap
    except Exception:  # pragma: no cover
        return "https://exoplanetarchive.ipac.caltech.edu/TAP"


def _tap_query(adql: str, *, timeout: float):
    """Send ADQL to the Exoplanet Archive TAP service; return a plain astropy Table."""
    from urllib.parse import urlsplit

    host = urlsplit(_tap_url()).hostname
    if host:
        _net.check_network(host, service="NASA Exoplanet Archive", what="a TAP query")
    import pyvo

    service = pyvo.dal.TAPService(_tap_url(), session=_TimeoutSession(timeout))
    result = service.search(adql, language="ADQL")
    return result.to_table()


def _cache_path(root: Path, kind: str, adql: str) -> Path:
    digest = hashlib.sha256(adql.encode()).hexdigest()[:20]
    return root / "archive" / f"{kind}-{digest}.ecsv"


# the two meta items as ECSV's YAML header writes them: "# - {data_sha256: 3f...}"
_CACHE_SHA = re.compile(r"^# - \{data_sha256: '?([0-9a-f]{64})'?\}\s*$", re.MULTILINE)
_CACHE_ROWS = re.compile(r"^# - \{n_rows: (\d+)\}\s*$", re.MULTILINE)


def _split_ecsv(text: str) -> tuple[str, str]:
    """(header comment lines, data section: the column-name line and the rows) of an ECSV text."""
    lines = text.splitlines(keepends=True)
    n = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), len(lines))
    return "".join(lines[:n]), "".join(lines[n:])


def _read_cache(path: Path, adql: str):
    """(table, retrieved_at) of a verified cache entry, else None (a bad entry is removed).

    The checksum and row count recorded in the entry's header are checked on the bytes
    before the table is parsed: an entry cut at a line boundary parses cleanly but fails them.
    """
    from astropy.table import Table

    if not path.exists():
        return None
    problem = None
    try:
        text = path.read_text(encoding="utf-8")
        header, data = _split_ecsv(text)
        sha, rows = _CACHE_SHA.search(header), _CACHE_ROWS.search(header)
        if sha is None or rows is None:
            problem = "no checksum and row count recorded (written by an older version)"
        elif hashlib.sha256(data.encode("utf-8")).hexdigest() != sha.group(1):
            problem = "its rows do not match the checksum recorded with them (truncated or edited)"
        else:
            table = Table.read(text, format="ascii.ecsv")
            if len(table) != int(rows.group(1)):
                problem = f"{len(table)} rows where {rows.group(1)} were recorded"
            elif table.meta.get("adql") != adql:
                return None
            else:
                return table, _dt.datetime.fromisoformat(table.meta["retrieved_at"])
    except Exception as err:  # noqa: BLE001 - any unreadable entry is dropped and asked for again
        problem = f"unreadable ({type(err).__name__}: {printable(err)})"
    log.warning("archive cache %s is not used: %s; it is removed and the query asked again",
                printable(path), problem)
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def _write_cache(path: Path, table, adql: str, when: _dt.datetime) -> None:
    from astropy.table import Table

    plain = Table()
    for name in table.colnames:
        col = table[name]
        plain[name] = np.ma.getdata(getattr(col, "value", col)) if not hasattr(col, "mask") else col
        if hasattr(plain[name], "unit"):
            plain[name].unit = None
    plain.meta = {"adql": adql, "retrieved_at": when.isoformat()}
    buf = io.StringIO()
    plain.write(buf, format="ascii.ecsv")
    _, data = _split_ecsv(buf.getvalue())
    # the meta lines come before the data, so adding them leaves the checksummed rows unchanged
    plain.meta.update(n_rows=len(plain), data_sha256=hashlib.sha256(data.encode("utf-8")).hexdigest())
    buf = io.StringIO()
    plain.write(buf, format="ascii.ecsv")
    try:
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_text(buf.getvalue(), encoding="utf-8")
    except OSError as err:  # a read-only cache must not break the query
        log.warning("could not write archive cache %s (%s)", path, err)


def _age_text(when: _dt.datetime) -> str:
    days = (_dt.datetime.now(_dt.timezone.utc) - when).total_seconds() / 86400.0
    return f"{when.date().isoformat()}, {days:.0f} days old" if days >= 1.5 else (
        f"{when.date().isoformat()}, {days * 24:.0f} hours old")


def _col(table, name, scale=1.0, offset=0.0) -> np.ndarray:
    return float_array(table[name]) * scale + offset if name in table.colnames else np.full(len(table), np.nan)


@functools.lru_cache(maxsize=None)
def _offline_planets():
    """The offline stand-in of ``pscomppars``, from the three bundled snapshots, and its counts.

    * K2 planets: the Planetary Systems snapshot's default parameter sets, as exported;
    * Kepler: the KOI table's CONFIRMED rows with a Kepler name (the KOI fit's values:
      period, epoch as BJD, duration, depth in %, radius, the KOI star);
    * TESS: TOIs dispositioned CP (confirmed; discovery facility TESS) or KP (known planet,
      discovered elsewhere), named ``TOI-n.nn`` with host ``TIC n``; KP rows of a planet already
      listed from K2 or Kepler (same position within 10", period within 1 %) are left out.

    Transiting planets of the three missions, not every confirmed planet (no radial-velocity
    or imaging planets, and other surveys' planets only as TESS known planets).
    """
    from astropy.table import Table

    k2 = _snapshot("planets")[0]
    if "default_flag" in k2.colnames:
        k2 = k2[np.asarray(float_array(k2["default_flag"]) == 1)]
    koi = _snapshot("koi")[0]
    koi = koi[(_str_values(koi["koi_disposition"]) == "CONFIRMED") & (_str_values(koi["kepler_name"]) != "")]
    toi = _snapshot("toi")[0]
    toi = toi[np.isin(_str_values(toi["tfopwg_disp"]), ["CP", "KP"])]
    names = _str_values(koi["kepler_name"])
    kepler = {
        "pl_name": names, "hostname": np.array([n.rsplit(" ", 1)[0] for n in names]),
        "default_flag": np.ones(len(koi)), "discoverymethod": np.full(len(koi), "Transit"),
        "disc_facility": np.full(len(koi), "Kepler"), "tran_flag": np.ones(len(koi)),
        "pl_orbper": _col(koi, "koi_period"), "pl_orbpererr1": _col(koi, "koi_period_err1"),
        "pl_orbpererr2": _col(koi, "koi_period_err2"),
        "pl_tranmid": _col(koi, "koi_time0bk", offset=BKJD_OFFSET),
        "pl_tranmiderr1": _col(koi, "koi_time0bk_err1"), "pl_tranmiderr2": _col(koi, "koi_time0bk_err2"),
        "pl_trandur": _col(koi, "koi_duration"), "pl_trandurerr1": _col(koi, "koi_duration_err1"),
        "pl_trandurerr2": _col(koi, "koi_duration_err2"),
        "pl_trandep": _col(koi, "koi_depth", 1e-4), "pl_trandeperr1": _col(koi, "koi_depth_err1", 1e-4),
        "pl_trandeperr2": _col(koi, "koi_depth_err2", 1e-4), "pl_imppar": _col(koi, "koi_impact"),
        "pl_rade": _col(koi, "koi_prad"), "pl_radeerr1": _col(koi, "koi_prad_err1"),
        "pl_radeerr2": _col(koi, "koi_prad_err2"), "pl_eqt": _col(koi, "koi_teq"),
        "pl_insol": _col(koi, "koi_insol"), "st_teff": _col(koi, "koi_steff"),
        "st_logg": _col(koi, "koi_slogg"), "st_rad": _col(koi, "koi_srad"),
        "st_raderr1": _col(koi, "koi_srad_err1"), "st_raderr2": _col(koi, "koi_srad_err2"),
        "ra": _col(koi, "ra"), "dec": _col(koi, "dec"),
    }
    known_ra = np.concatenate([_col(k2, "ra"), kepler["ra"]])
    known_dec = np.concatenate([_col(k2, "dec"), kepler["dec"]])
    known_p = np.concatenate([_col(k2, "pl_orbper"), kepler["pl_orbper"]])
    ra, dec, per = _col(toi, "ra"), _col(toi, "dec"), _col(toi, "pl_orbper")
    disp = _str_values(toi["tfopwg_disp"])
    keep = np.ones(len(toi), bool)
    for i in np.flatnonzero(disp == "KP"):
        near = (np.abs((known_ra - ra[i]) * np.cos(np.radians(dec[i]))) < 10 / 3600) & \
               (np.abs(known_dec - dec[i]) < 10 / 3600)
        with np.errstate(invalid="ignore"):
            same = near & (np.abs(known_p - per[i]) < 0.01 * per[i])
        keep[i] = not same.any()
    toi, ra, dec, per, disp = toi[keep], ra[keep], dec[keep], per[keep], disp[keep]
    tid = [str(int(v)) for v in float_array(toi["tid"])]
    tess = {
        "pl_name": np.array([f"TOI-{v:.2f}" for v in float_array(toi["toi"])]),
        "hostname": np.array([f"TIC {t}" for t in tid]), "tic_id": np.array([f"TIC {t}" for t in tid]),
        "default_flag": np.ones(len(toi)),
        "discoverymethod": np.where(disp == "CP", "Transit", ""),
        "disc_facility": np.where(disp == "CP", _FACILITIES["tess"], ""), "tran_flag": np.ones(len(toi)),
        "pl_orbper": per, "pl_orbpererr1": _col(toi, "pl_orbpererr1"), "pl_orbpererr2": _col(toi, "pl_orbpererr2"),
        "pl_tranmid": _col(toi, "pl_tranmid"), "pl_tranmiderr1": _col(toi, "pl_tranmiderr1"),
        "pl_tranmiderr2": _col(toi, "pl_tranmiderr2"),
        "pl_trandur": _col(toi, "pl_trandurh"), "pl_trandurerr1": _col(toi, "pl_trandurherr1"),
        "pl_trandurerr2": _col(toi, "pl_trandurherr2"),
        "pl_trandep": _col(toi, "pl_trandep", 1e-4), "pl_trandeperr1": _col(toi, "pl_trandeperr1", 1e-4),
        "pl_trandeperr2": _col(toi, "pl_trandeperr2", 1e-4),
        "pl_rade": _col(toi, "pl_rade"), "pl_radeerr1": _col(toi, "pl_radeerr1"),
        "pl_radeerr2": _col(toi, "pl_radeerr2"), "pl_eqt": _col(toi, "pl_eqt"),
        "pl_insol": _col(toi, "pl_insol"), "st_teff": _col(toi, "st_teff"), "st_logg": _col(toi, "st_logg"),
        "st_rad": _col(toi, "st_rad"), "st_raderr1": _col(toi, "st_raderr1"),
        "st_raderr2": _col(toi, "st_raderr2"), "ra": ra, "dec": dec, "sy_dist": _col(toi, "st_dist"),
        "sy_tmag": _col(toi, "st_tmag"),
    }
    names_all = list(k2.colnames) + [c for part in (kepler, tess) for c in part if c not in k2.colnames]
    names_all = list(dict.fromkeys(names_all))
    cols = {}
    for name in names_all:
        text = (name in k2.colnames and np.asarray(k2[name]).dtype.kind in "USO") or name in _TEXT_COLUMNS \
            or name in ("pl_name", "hostname", "discoverymethod", "disc_facility")
        parts = []
        for part, n in ((k2, len(k2)), (kepler, len(koi)), (tess, len(toi))):
            have = name in (part.colnames if part is k2 else part)
            if text:
                parts.append(_str_values(part[name]) if have else np.full(n, ""))
            else:
                parts.append(float_array(part[name]) if have else np.full(n, np.nan))
        cols[name] = np.concatenate(parts).astype(str if text else float)
    counts = {"K2": len(k2), "Kepler": len(koi), "TESS": len(toi)}
    return Table(cols), counts


def _snapshot_query(kind: str, columns, conds, order, desc, limit):
    snap, _, _, date = _snapshot(kind)
    table = snap
    if kind == "planets":
        table = _offline_planets()[0]
    mask = np.ones(len(table), bool)
    for c in conds:
        mask &= c.mask(table)
    # Row numbers, not a sliced copy of the whole snapshot: only the requested columns are
    # then taken (the same rows, order and values; a tenth of the cost for one star).
    rows = np.flatnonzero(mask)
    if order in table.colnames and rows.size:
        key = table[order][rows]
        vals = float_array(key) if np.asarray(key).dtype.kind in "fiu" else _str_values(key)
        idx = np.argsort(vals, kind="stable")
        if desc:
            idx = idx[::-1]
        rows = rows[idx]
    if limit is not None:
        rows = rows[:limit]
    from astropy.table import Table

    out = Table()
    for c in columns:
        if c in table.colnames:
            out[c] = table[c][rows]
        else:  # a column the snapshot lacks: empty text or NaN, so the columns match online
            out[c] = np.full(rows.size, "" if c in _TEXT_COLUMNS else np.nan)
    return out, date


def _snapshot_hosts_note() -> str:
    """What the offline planet table holds, counted from it (for the fallback warning)."""
    n = _offline_planets()[1]
    return (f"only transiting planets of the three missions, not every confirmed planet: {n['K2']} "
            f"K2 planets (Planetary Systems default sets), {n['Kepler']} Kepler planets (confirmed "
            f"KOIs, the KOI fit's values) and {n['TESS']} TESS planets (TOIs CP/KP, named 'TOI-n.nn', "
            f"host 'TIC n'); no radial-velocity or imaging planets")


def _run(kind: str, *, columns, conds, order_by, limit, cache_dir, offline, max_age, timeout,
         retries) -> QTable:
    tap_table, _, default_order, label = _TABLES[kind]
    allowed = _allowed(kind)
    if columns is None:
        cols = _default_columns(kind)
    else:
        if isinstance(columns, str):
            columns = [c.strip() for c in columns.split(",")]
        cols = [_check_ident(str(c).strip().lower(), allowed) for c in columns]
        if not cols:
            raise InvalidParameterError("columns is empty; pass None for the default columns.")
    order, desc = _order(order_by, allowed, default_order)
    lim = _limit(limit)
    adql = build_query(tap_table, columns=cols, conditions=conds, order_by=order, descending=desc,
                       limit=lim)
    if max_age is None:
        max_age = CACHE_MAX_AGE
    elif not isinstance(max_age, _dt.timedelta):
        max_age = _dt.timedelta(days=_finite(max_age, "max_age (days)"))
    root = _cache_dir(cache_dir)
    path = _cache_path(root, kind, adql)
    cached = _read_cache(path, adql)
    now = _dt.datetime.now(_dt.timezone.utc)
    base_meta = {"archive_table": tap_table, "adql": adql}
    if cached is not None and now - cached[1] <= max_age:
        return _finalize(cached[0], kind, {**base_meta, "source": "cache",
                                           "retrieved_at": cached[1].isoformat()})

    def from_snapshot(why: str) -> QTable:
        table, date = _snapshot_query(kind, cols, conds, order, desc, lim)
        note = (f" Offline, the confirmed-planet table is built from the KOI, TOI and K2 snapshots: "
                f"{_snapshot_hosts_note()}." if kind == "planets" else "")
        warnings.warn(
            f"{why}: {label} from the bundled NASA Exoplanet Archive snapshot "
            f"{_TABLES[kind][1]} exported {_age_text(date)}; newer dispositions and objects are "
            f"missing.{note}", ArchiveSnapshotWarning, stacklevel=4)
        return _finalize(table, kind, {**base_meta, "source": "snapshot",
                                       "retrieved_at": date.isoformat()})

    if is_offline(offline):
        if cached is not None:
            warnings.warn(
                f"offline: {label} from the cache of {_age_text(cached[1])} (older than the "
                f"{max_age.days}-day expiry).", ArchiveSnapshotWarning, stacklevel=3)
            return _finalize(cached[0], kind, {**base_meta, "source": "cache (expired)",
                                               "retrieved_at": cached[1].isoformat()})
        return from_snapshot("offline")
    try:
        # A permanent answer that is not a table (HTTP 400, an HTML page with status 200, a
        # broken VOTable) becomes one ArchiveQueryError naming the query, not pyvo's traceback.
        with error_boundary(f"the NASA Exoplanet Archive {tap_table} query", ArchiveQueryError,
                            fix="The archive answered with an error or not with a table; retry "
                                "later, or use the cache and bundled snapshots (--offline)."):
            table = _net.call_with_retries(lambda: _tap_query(adql, timeout=timeout),
                                           service="NASA Exoplanet Archive",
                                           what=f"the {tap_table} query", retries=retries,
                                           deadline=timeout)
    except ConnectionError as err:
        if cached is None:
            if isinstance(err, _net.NoNetworkError):
                return from_snapshot("no network")
            raise
        warnings.warn(
            f"the NASA Exoplanet Archive could not be reached; {label} from the cache of "
            f"{_age_text(cached[1])}.", ArchiveSnapshotWarning, stacklevel=3)
        return _finalize(cached[0], kind, {**base_meta, "source": "cache (expired)",
                                           "retrieved_at": cached[1].isoformat()})
    _write_cache(path, table, adql, now)
    return _finalize(table, kind, {**base_meta, "source": "NASA Exoplanet Archive TAP",
                                   "retrieved_at": now.isoformat()})


# --------------------------------------------------------------------------------------------
# public queries
# --------------------------------------------------------------------------------------------


def _disposition_values(disposition, allowed, aliases) -> list[str]:
    vals = [disposition] if isinstance(disposition, str) else list(disposition)
    out: list[str] = []
    for v in vals:
        key = _check_string(v, "disposition").upper().replace("_", " ")
        if key in allowed:
            out.append(key)
        elif key in aliases or key.replace(" ", "_") in aliases:
            out.extend(aliases.get(key) or aliases[key.replace(" ", "_")])
        else:
            raise InvalidParameterError(
                f"disposition {v!r} is not one of {', '.join(allowed)}"
                + (f" (or {', '.join(k.lower() for k in aliases if '_' not in k)})" if aliases else "")
                + ".")
    return list(dict.fromkeys(out))


def query_planets(
    target: str | None = None,
    *,
    facility: str | None = None,
    method: str | None = None,
    period_min: float | None = None,
    period_max: float | None = None,
    columns: list[str] | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    max_age: _dt.timedelta | float | None = None,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> QTable:
    """Confirmed planets from the NASA Exoplanet Archive (``pscomppars``: one row per planet).

    Parameters
    ----------
    target : str, optional
        Host or planet name as the archive spells it (``"Kepler-90"``, ``"K2-18 b"``), or a TIC
        id (``"TIC 100100827"``).  Matches ``hostname`` or ``pl_name`` exactly.
    facility : str, optional
        Discovery facility: ``"Kepler"``, ``"K2"``, ``"TESS"`` or the archive's exact text.
    method : str, optional
        Discovery method, e.g. ``"Transit"``.
    period_min, period_max : float or Quantity, optional
        Orbital period range in days (inclusive).
    columns : list of str, optional
        Columns to return (default: a set of ~45 ephemeris, planet, star and system columns);
        each must be a known ``pscomppars`` column.
    order_by : str, optional
        Column to sort by (default ``pl_name``); prefix ``-`` or add ``" desc"`` for descending.
    limit : int, optional
        At most this many rows.
    cache_dir, offline
        Cache directory and offline mode (see :mod:`astrotinyml.config`).
    max_age : datetime.timedelta or float (days), optional
        Reuse a cached answer younger than this (default :data:`CACHE_MAX_AGE`, 7 days).
    timeout, retries
        Seconds the query may take in all, retries included (the deadline); retries after a
        transient failure.

    Returns
    -------
    astropy.table.QTable
        Units attached (``pl_orbper`` d, ``pl_tranmid`` d (BJD), ``pl_trandur`` h,
        ``pl_trandep`` %, ``pl_rade`` Earth radii, ...); missing values are NaN (numbers) or
        ``''`` (text).  ``meta``: ``source`` (archive / cache / snapshot), ``adql``,
        ``retrieved_at``, ``archive_table``.

    Raises
    ------
    InvalidParameterError
        Bad filter values or unknown column names.
    ArchiveConnectionError
        The archive cannot be reached and nothing is cached.

    Warns
    -----
    ArchiveSnapshotWarning
        The answer comes from an expired cache or from the bundled snapshots (offline: the
        transiting planets of K2, Kepler and TESS, not every confirmed planet).

    Examples
    --------
    >>> import warnings
    >>> from astrotinyml.remote.archives import query_planets
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     t = query_planets("K2-32", offline=True, columns=["pl_name", "pl_orbper"])
    >>> t["pl_name"].tolist(), t["pl_orbper"].unit
    (['K2-32 b', 'K2-32 c', 'K2-32 d', 'K2-32 e'], Unit("d"))
    """
    conds: list[_Cond] = []
    if target is not None:
        name = _target_text(target)
        m = re.fullmatch(r"(?i)tic[ _-]?0*(\d+)", name)
        if m:
            conds.append(_Cond("tic_id", "=", f"TIC {m.group(1)}"))
        else:
            conds.append(_Cond("", "or", [_Cond("hostname", "=", name), _Cond("pl_name", "=", name)]))
    if facility is not None:
        fac = _check_string(facility, "facility")
        conds.append(_Cond("disc_facility", "=", _FACILITIES.get(fac.lower(), fac)))
    if method is not None:
        conds.append(_Cond("discoverymethod", "=", _check_string(method, "method")))
    conds += _period_conds("pl_orbper", period_min, period_max)
    return _run("planets", columns=columns, conds=conds, order_by=order_by, limit=limit,
                cache_dir=cache_dir, offline=offline, max_age=max_age, timeout=timeout,
                retries=retries)


def _koi_target_conds(target) -> list[_Cond]:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return [_Cond("kepid", "=", int(target))]
    name = _target_text(target)
    m = re.fullmatch(r"(?i)(?:kic|kplr)[ _-]?0*(\d+)", name)
    if m:
        return [_Cond("kepid", "=", int(m.group(1)))]
    m = re.fullmatch(r"(?i)(?:koi[ _-]?|k)0*(\d+)(?:\.(\d{1,2}))?", name)
    if m:
        base = f"K{int(m.group(1)):05d}"
        if m.group(2):
            return [_Cond("kepoi_name", "=", f"{base}.{int(m.group(2)):02d}")]
        return [_Cond("kepoi_name", "prefix", base + ".")]
    if re.search(r"\s[a-z]$", name):  # a planet: "Kepler-90 b"
        return [_Cond("kepler_name", "=", name)]
    return [_Cond("kepler_name", "prefix", name + " ")]


def query_koi(
    target: str | int | None = None,
    *,
    disposition: str | list[str] | None = None,
    period_min: float | None = None,
    period_max: float | None = None,
    columns: list[str] | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    max_age: _dt.timedelta | float | None = None,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> QTable:
    """Kepler Objects of Interest (the archive's KOI ``cumulative`` table).

    Parameters
    ----------
    target : str or int, optional
        ``"KIC 11442793"`` (or the int), ``"KOI-351"`` (all its KOIs), ``"K00351.01"``, a
        Kepler host name ``"Kepler-90"`` (all KOIs named ``Kepler-90 ...``) or a planet name
        ``"Kepler-90 h"``.
    disposition : str or list of str, optional
        ``koi_disposition``: ``"CONFIRMED"``, ``"CANDIDATE"``, ``"FALSE POSITIVE"``,
        ``"NOT DISPOSITIONED"`` (case-insensitive).
    period_min, period_max : float or Quantity, optional
        ``koi_period`` range in days.
    columns, order_by, limit, cache_dir, offline, max_age, timeout, retries
        As in :func:`query_planets` (default columns: those of the bundled snapshot; default
        order ``kepoi_name``).

    Returns
    -------
    astropy.table.QTable
        ``koi_period`` d, ``koi_time0bk`` d (BKJD = BJD - 2454833), ``koi_duration`` h,
        ``koi_depth`` ppm (:data:`astropy.units.cds.ppm`), ``koi_prad`` Earth radii, ...

    Examples
    --------
    >>> import warnings
    >>> from astrotinyml.remote.archives import query_koi
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     t = query_koi("Kepler-90", offline=True, order_by="koi_period")
    >>> [round(float(p), 2) for p in t["koi_period"].value]
    [7.01, 8.72, 59.74, 91.94, 124.92, 210.6, 331.6]
    """
    conds = _koi_target_conds(target) if target is not None else []
    if disposition is not None:
        conds.append(_Cond("koi_disposition", "in",
                           _disposition_values(disposition, _KOI_DISPOSITIONS, {})))
    conds += _period_conds("koi_period", period_min, period_max)
    return _run("koi", columns=columns, conds=conds, order_by=order_by, limit=limit,
                cache_dir=cache_dir, offline=offline, max_age=max_age, timeout=timeout,
                retries=retries)


def _toi_target_conds(target) -> list[_Cond]:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return [_Cond("tid", "=", int(target))]
    name = _target_text(target)
    m = re.fullmatch(r"(?i)(?:tic|tess)[ _-]?0*(\d+)", name)
    if m:
        return [_Cond("tid", "=", int(m.group(1)))]
    m = re.fullmatch(r"(?i)toi[ _-]?(\d+)(?:\.(\d{1,2}))?", name)
    if m:
        n = int(m.group(1))
        if m.group(2):
            return [_Cond("toi", "=", float(f"{n}.{int(m.group(2)):02d}"))]
        return [_Cond("toi", ">=", float(n)), _Cond("toi", "<", float(n + 1))]
    raise InvalidParameterError(
        f"query_toi: target {name!r} is not a TIC id ('TIC 100100827') or a TOI ('TOI-185', "
        f"'TOI-185.01'); for a host name use query_planets(target) and its tic_id.")


def query_toi(
    target: str | int | None = None,
    *,
    disposition: str | list[str] | None = None,
    period_min: float | None = None,
    period_max: float | None = None,
    columns: list[str] | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    max_age: _dt.timedelta | float | None = None,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> QTable:
    """TESS Objects of Interest (the archive's ``toi`` table).

    Parameters
    ----------
    target : str or int, optional
        ``"TIC 100100827"`` (or the int), ``"TOI-185"`` (all its planets) or ``"TOI-185.01"``.
    disposition : str or list of str, optional
        ``tfopwg_disp``: ``"CP"``, ``"KP"``, ``"PC"``, ``"APC"``, ``"FP"``, ``"FA"``, or
        ``"confirmed"`` (CP, KP), ``"candidate"`` (PC, APC), ``"false positive"`` (FP, FA).
    period_min, period_max : float or Quantity, optional
        ``pl_orbper`` range in days.
    columns, order_by, limit, cache_dir, offline, max_age, timeout, retries
        As in :func:`query_planets` (default columns: those of the bundled snapshot; default
        order ``toi``).

    Returns
    -------
    astropy.table.QTable
        ``pl_orbper`` d, ``pl_tranmid`` d (full BJD), ``pl_trandurh`` h, ``pl_trandep`` ppm, ...

    Examples
    --------
    >>> import warnings
    >>> from astrotinyml.remote.archives import query_toi
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     t = query_toi("TIC 100100827", offline=True)
    >>> float(t["toi"][0]), round(float(t["pl_orbper"][0].value), 4)
    (185.01, 0.9415)
    """
    conds = _toi_target_conds(target) if target is not None else []
    if disposition is not None:
        conds.append(_Cond("tfopwg_disp", "in",
                           _disposition_values(disposition, _TOI_DISPOSITIONS, _TOI_ALIASES)))
    conds += _period_conds("pl_orbper", period_min, period_max)
    return _run("toi", columns=columns, conds=conds, order_by=order_by, limit=limit,
                cache_dir=cache_dir, offline=offline, max_age=max_age, timeout=timeout,
                retries=retries)


def query_catalog(catalog: str, target: str | int | None = None, **filters) -> QTable:
    """Query one of the catalogues by name: ``"planets"``, ``"koi"`` or ``"toi"``.

    A dispatcher for command lines and loops; see :func:`query_planets`, :func:`query_koi`
    and :func:`query_toi` for the keywords each accepts.

    Parameters
    ----------
    catalog : {"planets", "koi", "toi"}
        Which catalogue.
    target : str or int, optional
        As in the function called.
    **filters
        Keyword arguments of the function called.

    Returns
    -------
    astropy.table.QTable

    Examples
    --------
    >>> import warnings
    >>> from astrotinyml.remote.archives import query_catalog
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     len(query_catalog("koi", "Kepler-90", offline=True))
    7
    """
    funcs = {"planets": query_planets, "koi": query_koi, "toi": query_toi}
    key = str(catalog).strip().lower()
    if key not in funcs:
        raise InvalidParameterError(f"catalog {catalog!r} is not one of {', '.join(funcs)}.")
    return funcs[key](target, **filters)


# --------------------------------------------------------------------------------------------
# the column contract
# --------------------------------------------------------------------------------------------


def _values(table, name, unit=None) -> np.ndarray:
    col = table[name]
    if unit is not None and hasattr(col, "unit") and col.unit is not None:
        import astropy.units as u

        try:
            return np.asarray(float_array(col.to(u.Unit(unit)) if unit != "ppm" else col), float)
        except Exception:
            pass
    return float_array(col)


def _disp(value: str) -> str:
    v = str(value).strip().upper()
    return {"CONFIRMED": "confirmed", "CP": "confirmed", "KP": "confirmed",
            "CANDIDATE": "candidate", "PC": "candidate", "APC": "candidate",
            "FALSE POSITIVE": "false_positive", "FP": "false_positive", "FA": "false_positive",
            "NOT DISPOSITIONED": "not_dispositioned"}.get(v, v.lower() or "unknown")


def reference_ephemerides(table) -> QTable:
    """Map a KOI, TOI or confirmed-planet table to the project's candidate-column contract.

    Parameters
    ----------
    table : astropy.table.Table or QTable
        A result of :func:`query_koi`, :func:`query_toi` or :func:`query_planets` (or a table
        with the same column names, with or without units).

    Returns
    -------
    astropy.table.QTable
        Columns ``name``, ``host``, ``pl_orbper`` (d), ``pl_tranmid`` (d, full BJD_TDB),
        ``pl_trandurh`` (h), ``pl_orbpererr1`` and ``pl_tranmiderr1`` (1-sigma, d; the larger
        side; NaN when not given), ``pl_trandep`` (ppm, plain float), ``disposition``
        (``confirmed``, ``candidate``, ``false_positive``, ``not_dispositioned``) and
        ``catalog`` (``koi``, ``toi``, ``pscomppars``).  KOI epochs (BKJD) get 2454833 added;
        confirmed-planet depths (%) are multiplied by 1e4.

    Raises
    ------
    InvalidParameterError
        The table is not a KOI, TOI or planet table.

    Examples
    --------
    >>> import warnings
    >>> from astrotinyml.remote.archives import query_koi, reference_ephemerides
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     ref = reference_ephemerides(query_koi("K00351.01", offline=True))
    >>> str(ref["name"][0]), round(float(ref["pl_tranmid"][0].value), 3), str(ref["disposition"][0])
    ('K00351.01', 2454973.499, 'confirmed')
    """
    import astropy.units as u
    from astropy.table import QTable

    names = set(getattr(table, "colnames", ()))
    n = len(table)
    if {"kepoi_name", "koi_period"} <= names:
        cat = "koi"
        name = _str_values(table["kepoi_name"])
        host = np.array([f"KIC {int(k)}" if np.isfinite(k) else "" for k in float_array(table["kepid"])]
                        ) if "kepid" in names else np.full(n, "")
        per = _values(table, "koi_period", "d")
        if "koi_time0" in names:
            t0 = _values(table, "koi_time0", "d")
        else:
            t0 = _values(table, "koi_time0bk", "d") + BKJD_OFFSET
        dur = _values(table, "koi_duration", "h") if "koi_duration" in names else np.full(n, np.nan)
        dep = float_array(table["koi_depth"]) if "koi_depth" in names else np.full(n, np.nan)
        disp = [_disp(d) for d in _str_values(table["koi_disposition"])] if "koi_disposition" in names \
            else ["unknown"] * n
    elif {"toi", "pl_orbper"} <= names:
        cat = "toi"
        name = np.array([f"TOI-{float(t):.2f}" for t in float_array(table["toi"])])
        host = np.array([f"TIC {int(t)}" for t in float_array(table["tid"])]) if "tid" in names \
            else np.full(n, "")
        per = _values(table, "pl_orbper", "d")
        t0 = _values(table, "pl_tranmid", "d")
        dur = _values(table, "pl_trandurh", "h")
        dep = float_array(table["pl_trandep"])
        disp = [_disp(d) for d in _str_values(table["tfopwg_disp"])] if "tfopwg_disp" in names \
            else ["unknown"] * n
    elif {"pl_name", "pl_orbper"} <= names:
        cat = "pscomppars"
        name = _str_values(table["pl_name"])
        host = _str_values(table["hostname"]) if "hostname" in names else np.full(n, "")
        per = _values(table, "pl_orbper", "d")
        t0 = _values(table, "pl_tranmid", "d") if "pl_tranmid" in names else np.full(n, np.nan)
        durcol = "pl_trandur" if "pl_trandur" in names else "pl_trandurh" if "pl_trandurh" in names else None
        dur = _values(table, durcol, "h") if durcol else np.full(n, np.nan)
        if "pl_trandep" in names:
            col = table["pl_trandep"]
            unit = getattr(col, "unit", None)
            dep = float_array(col)
            if unit is None or unit == u.percent:
                dep = dep * 1e4  # pscomppars gives % (plain tables are read as %)
        else:
            dep = np.full(n, np.nan)
        disp = ["confirmed"] * n
    else:
        raise InvalidParameterError(
            "reference_ephemerides: the table has neither KOI (kepoi_name, koi_period), TOI (toi, "
            "pl_orbper) nor planet (pl_name, pl_orbper) columns.")
    out = QTable()
    out["name"] = np.asarray(name, dtype=str)
    out["host"] = np.asarray(host, dtype=str)
    out["pl_orbper"] = u.Quantity(per, u.d)
    out["pl_tranmid"] = u.Quantity(t0, u.d)
    out["pl_trandurh"] = u.Quantity(dur, u.h)
    # 1-sigma errors of period and epoch (the larger of the two sides): the epoch's
    # uncertainty after n orbits is sqrt(err_T0^2 + n^2 err_P^2) (astrotinyml.ephemerides).
    per_col, t0_col = {"koi": ("koi_period", "koi_time0bk" if "koi_time0" not in names else "koi_time0"),
                       "toi": ("pl_orbper", "pl_tranmid"),
                       "pscomppars": ("pl_orbper", "pl_tranmid")}[cat]

    def sigma(col):
        sides = [np.abs(float_array(table[col + s])) for s in ("err1", "err2", "_err1", "_err2")
                 if col + s in names]
        return np.nanmax(np.vstack(sides), axis=0) if sides else np.full(n, np.nan)

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no error given
        out["pl_orbpererr1"] = u.Quantity(sigma(per_col), u.d)
        out["pl_tranmiderr1"] = u.Quantity(sigma(t0_col), u.d)
    out["pl_trandep"] = np.asarray(dep, float)
    out["pl_trandep"].info.description = "transit depth (ppm)"
    out["pl_tranmid"].info.description = "mid-transit time (full BJD_TDB)"
    out["disposition"] = np.asarray(disp, dtype=str)
    out["catalog"] = np.full(n, cat)
    out.meta.update({k: v for k, v in getattr(table, "meta", {}).items()
                     if k in ("source", "retrieved_at", "archive_table")})
    return out


# --------------------------------------------------------------------------------------------
# cross-archive summary
# --------------------------------------------------------------------------------------------


def _resolve(target: str, *, timeout, retries, cache_dir):
    """Coordinates of ``target``: decimal 'ra dec', the Exoplanet Archive, then MAST's resolver."""
    from astropy.coordinates import SkyCoord

    m = re.fullmatch(r"\s*([0-9.]+)[ ,]+([+-]?[0-9.]+)\s*", target)
    if m:
        return SkyCoord(float(m.group(1)), float(m.group(2)), unit="deg"), "coordinates"
    try:
        t = query_planets(target, columns=["hostname", "ra", "dec"], limit=1, cache_dir=cache_dir,
                          offline=False, timeout=timeout, retries=retries)
        if len(t) and np.isfinite(t["ra"][0].value):
            return SkyCoord(t["ra"][0], t["dec"][0]), "NASA Exoplanet Archive"
    except InvalidParameterError:
        pass

    def mast():
        from astroquery.mast import Mast

        return Mast.resolve_object(target)

    coord = _net.call_with_retries(mast, service="MAST name resolver", what=f"resolving {target!r}",
                                   retries=retries, deadline=timeout)
    if coord is None:  # pragma: no cover
        raise DataUnavailableError(f"MAST could not resolve {target!r}.")
    return coord, "MAST name resolver"


def archive_summary(
    target: str,
    *,
    radius: float = 5.0,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> Table:
    """What MAST, IRSA and HEASARC hold within ``radius`` arcsec of a target.

    The name is resolved by the NASA Exoplanet Archive (planet hosts), then by MAST's name
    resolver; ``"ra dec"`` in decimal degrees is used as is.  Then: MAST Kepler, K2 and TESS
    light curves and HST spectra (observation counts), IRSA AllWISE and NEOWISE-R single-exposure
    photometry (source / detection counts), and HEASARC XMM-Newton, Chandra and Swift
    observations.  A service that fails gives its row ``n_products = -1`` and an ``error``; the
    others are still reported.

    Parameters
    ----------
    target : str
        Star or planet name, or ``"ra dec"`` in degrees.
    radius : float
        Search radius in arcsec.
    cache_dir : str or path-like, optional
        Cache directory (for the name look-up).
    offline : bool, optional
        Offline mode: raises :class:`~astrotinyml.errors.OfflineError` at once.
    timeout, retries
        Seconds the query may take in all, retries included (the deadline); retries after a
        transient failure.

    Returns
    -------
    astropy.table.Table
        Columns ``archive``, ``collection``, ``product_type``, ``n_products``, ``fetch`` (a code
        snippet that gets the data) and ``error``; ``meta`` has ``target``, ``ra``, ``dec``
        (deg), ``radius_arcsec`` and ``resolved_by``.

    Raises
    ------
    OfflineError
        Offline mode.
    ArchiveConnectionError
        The name cannot be resolved because the resolvers cannot be reached.

    Examples
    --------
    >>> from astrotinyml.remote.archives import archive_summary
    >>> t = archive_summary("Kepler-90")  # doctest: +SKIP
    >>> t["archive", "collection", "n_products"]  # doctest: +SKIP
    """
    name = _target_text(target)
    r = _finite(radius, "radius", "arcsec")
    if not r or r <= 0 or r > 3600:
        raise InvalidParameterError(f"radius must be in (0, 3600] arcsec, got {radius!r}.")
    if is_offline(offline):
        raise OfflineError(
            f"offline mode: archive_summary({name!r}) needs MAST, IRSA and HEASARC; nothing of it "
            f"is cached. Go online (offline=False, ASTROTINYML_OFFLINE=0).")
    import astropy.units as u
    from astropy.table import Table

    coord, how = _resolve(name, timeout=timeout, retries=retries, cache_dir=cache_dir)
    ra, dec = float(coord.ra.deg), float(coord.dec.deg)
    rad = r * u.arcsec
    pos = f"SkyCoord({ra:.6f}, {dec:.6f}, unit='deg')"
    rows = []

    def count(archive, collection, ptype, fn, snippet):
        try:
            n = int(_net.call_with_retries(fn, service=archive, what=f"{collection} near {name!r}",
                                           retries=retries, deadline=timeout))
            err = ""
        except Exception as exc:  # one failing service must not hide the others
            n, err = -1, f"{type(exc).__name__}: {exc}"
        rows.append((archive, collection, ptype, n, snippet, err))

    def mast_count(collection, ptypes):
        def fn():
            from astroquery.mast import Observations

            return Observations.query_criteria_count(
                coordinates=coord, radius=rad.to(u.deg), obs_collection=collection,
                dataproduct_type=ptypes)
        return fn

    for mission in ("Kepler", "K2", "TESS"):
        count("MAST", mission, "light curve", mast_count(mission, ["timeseries", "cube"]),
              f"astrotinyml.fetch_lightcurves({name!r}, mission={mission!r})")
    count("MAST", "HST", "spectrum", mast_count("HST", ["spectrum"]),
          "from astroquery.mast import Observations; from astropy.coordinates import SkyCoord; "
          f"obs = Observations.query_criteria(coordinates={pos}, radius='{r / 3600:.6f} deg', "
          "obs_collection='HST', dataproduct_type='spectrum'); "
          "Observations.download_products(Observations.get_product_list(obs))")

    def irsa(catalog):
        def fn():
            from astroquery.ipac.irsa import Irsa

            return len(Irsa.query_region(coord, catalog=catalog, spatial="Cone", radius=rad))
        return fn

    for catalog, label, ptype in (("allwise_p3as_psd", "AllWISE", "source photometry"),
                                  ("neowiser_p1bs_psd", "NEOWISE-R", "single-exposure photometry")):
        count("IRSA", label, ptype, irsa(catalog),
              "from astroquery.ipac.irsa import Irsa; from astropy.coordinates import SkyCoord; "
              f"import astropy.units as u; Irsa.query_region({pos}, catalog={catalog!r}, "
              f"spatial='Cone', radius={r:g} * u.arcsec)")

    def heasarc(catalog):
        def fn():
            from astroquery.heasarc import Heasarc

            return len(Heasarc.query_region(coord, catalog=catalog, radius=rad))
        return fn

    for catalog, label in (("xmmmaster", "XMM-Newton"), ("chanmaster", "Chandra"),
                           ("swiftmastr", "Swift")):
        count("HEASARC", label, "observation", heasarc(catalog),
              "from astroquery.heasarc import Heasarc; from astropy.coordinates import SkyCoord; "
              f"import astropy.units as u; tab = Heasarc.query_region({pos}, catalog={catalog!r}, "
              f"radius={r:g} * u.arcsec); Heasarc.download_data(Heasarc.locate_data(tab))")

    out = Table(rows=rows, names=("archive", "collection", "product_type", "n_products", "fetch",
                                  "error"), dtype=(str, str, str, int, str, str))
    out.meta.update(target=name, ra=ra, dec=dec, radius_arcsec=r, resolved_by=how)
    return out
