"""Fetch Kepler, K2 and TESS light curves from MAST, through a local cache that works offline.

:func:`fetch_lightcurve` (one product) and :func:`fetch_lightcurves` (every quarter / campaign /
sector, stitched) return light curves in exactly the form of :func:`astrotinyml.io.read_lightcurve`
(they *are* read by it, from the cached file): time in BJD_TDB, flux divided by its median, ``meta``
filled (plus ``mast_uri``, ``author``, ``exptime_s``, ``query_target``).

How it works
------------
1. **Search** with :func:`lightkurve.search_lightcurve` (MAST).  The list of products found is
   stored in a small JSON index, ``<cache>/mast/index.json``, keyed by the normalised query
   (target name, mission, sectors/quarters/campaigns, author, exposure time).  A repeated query
   is answered from the index without any request; a narrower query (``sector=2``) is also
   answered from a cached broader one (all sectors).  ``refresh=True`` searches again (new TESS
   sectors appear over time; the index never expires on its own).  Searches that find nothing
   are not cached.
2. **Download** each product missing from the cache from MAST's download service
   (:data:`MAST_DOWNLOAD_URL`, the one :mod:`astroquery.mast` and lightkurve use) into
   ``<cache>/mast/<mission>/<product file name>``.  The bytes go to a temporary file beside it;
   a download shorter than its ``Content-Length`` or not readable as FITS is discarded, and only a
   complete file is renamed into place (atomic).  Its size and sha256 go into the index.
3. **Read** the cached file with :func:`astrotinyml.io.read_lightcurve`.  A cached file that no
   longer matches its recorded size / sha256 or cannot be read is *corrupt*: online it is deleted
   and downloaded again; offline it is an :class:`~astrotinyml.errors.OfflineError`.

Network behaviour: every request has a timeout (``timeout``, default 60 s); transient failures
(connection errors, timeouts, HTTP 429/5xx) are retried ``retries`` times with exponential backoff
(2, 4, 8 s), then :class:`~astrotinyml.errors.ArchiveConnectionError` is raised.  A target with no
matching product raises :class:`~astrotinyml.errors.DataUnavailableError`.  In offline mode
(``offline=True`` or ``ASTROTINYML_OFFLINE=1``) nothing is requested: the call is answered from the
cache or raises :class:`~astrotinyml.errors.OfflineError` naming what is missing, at once.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import _net
from ._atomic import atomic_path
from .config import cache_dir as _cache_dir
from .config import is_offline
from .errors import (
    DataUnavailableError,
    InvalidParameterError,
    LightCurveFormatError,
    OfflineError,
)

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve

__all__ = ["MAST_DOWNLOAD_URL", "fetch_lightcurve", "fetch_lightcurves", "fetch_products",
           "cached_products"]

log = logging.getLogger("astrotinyml.fetch")

#: MAST file download service (``?uri=mast:...``); the one astroquery.mast uses.
MAST_DOWNLOAD_URL = "https://mast.stsci.edu/api/v0.1/Download/file"

_INDEX_VERSION = 1
_MISSIONS = {"kepler": "Kepler", "k2": "K2", "tess": "TESS"}
_SEGMENT_MISSION = {"quarter": "Kepler", "campaign": "K2", "sector": "TESS"}
_MISSION_SEGMENT = {v: k for k, v in _SEGMENT_MISSION.items()}
_EXPTIME_WORDS = ("long", "short", "fast")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._+-]")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def fetch_lightcurve(
    target: str | int,
    *,
    mission: str | None = None,
    sector: int | None = None,
    quarter: int | None = None,
    campaign: int | None = None,
    author: str | None = None,
    exptime: str | float | None = None,
    quality_bitmask: str | int = "default",
    flux_column: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    refresh: bool = False,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> lightkurve.LightCurve:
    """Fetch one light curve of ``target`` from MAST (or from the cache).

    When several products match, the first in lightkurve's order is used: official pipeline
    products first (Kepler, K2, SPOC; then TESS-SPOC, QLP, ...), then the earliest, then the
    shortest exposure.  Pass ``sector``/``quarter``/``campaign``, ``author`` or ``exptime`` to
    choose, or use :func:`fetch_lightcurves` to get all segments stitched.

    Parameters
    ----------
    target : str or int
        A name MAST resolves (``"Kepler-90"``, ``"WASP-18"``, ``"TOI-1130"``) or a catalogue
        id (``"KIC 11442793"``, ``"EPIC 210651981"``, ``"TIC 100100827"``).  Prefer the prefixed
        ids: a bare integer is ambiguous between catalogues.
    mission : {"Kepler", "K2", "TESS"}, optional
        Restrict to one mission.  Implied by ``quarter`` (Kepler), ``campaign`` (K2) and
        ``sector`` (TESS).
    sector, quarter, campaign : int, optional
        TESS sector, Kepler quarter or K2 campaign; at most one of them.
    author : str, optional
        Pipeline (MAST ``provenance_name``): ``"SPOC"``, ``"Kepler"``, ``"K2"``, ``"TESS-SPOC"``,
        ``"QLP"``, ``"K2SFF"``, ``"EVEREST"``, ...
    exptime : {"long", "short", "fast"} or float, optional
        Cadence: ``"long"`` (10 and 30 min, and 200 s FFI), ``"short"`` (1-2 min), ``"fast"``
        (20 s), or an exact exposure time in seconds.
    quality_bitmask, flux_column
        As in :func:`astrotinyml.io.read_lightcurve`.
    cache_dir : str or path-like, optional
        Cache directory (default: ``ASTROTINYML_CACHE_DIR``, then ``~/.astrotinyml``); files go
        to ``<cache_dir>/mast``.
    offline : bool, optional
        Forbid network access (default: ``ASTROTINYML_OFFLINE``).
    refresh : bool
        Search MAST again even when the query is in the cache index (files already downloaded
        are not downloaded again).
    timeout : float
        Seconds allowed for each request.
    retries : int
        Retries of a request after a transient failure (exponential backoff from 2 s).

    Returns
    -------
    lightkurve.LightCurve
        As returned by :func:`astrotinyml.io.read_lightcurve`, with ``meta`` also holding
        ``mast_uri``, ``author``, ``exptime_s``, ``query_target`` and ``from_cache``.

    Raises
    ------
    OfflineError
        Offline mode, and the search or the file is not cached (or the cached file is corrupt).
    DataUnavailableError
        MAST has no light curve of ``target`` matching the request (or the name is unknown).
    ArchiveConnectionError
        MAST could not be reached after the retries.
    InvalidParameterError
        Contradictory or invalid keywords (``sector`` with ``mission="Kepler"``, ...).

    Examples
    --------
    >>> from astrotinyml.fetch import fetch_lightcurve
    >>> lc = fetch_lightcurve("Kepler-90", quarter=3)  # doctest: +SKIP
    >>> lc.meta["target"], lc.meta["quarter"], lc.meta["flux_column"]  # doctest: +SKIP
    ('KIC 11442793', 3, 'pdcsap_flux')
    """
    q = _Query.make(target, mission=mission, sector=sector, quarter=quarter, campaign=campaign,
                    author=author, exptime=exptime)
    store = _Store(_cache_dir(cache_dir))
    off = is_offline(offline)
    products = _find_products(q, store, offline=off, refresh=refresh, timeout=timeout,
                              retries=retries)
    return _load_product(products[0], q, store, offline=off, timeout=timeout, retries=retries,
                         quality_bitmask=quality_bitmask, flux_column=flux_column)


def fetch_lightcurves(
    target: str | int,
    *,
    mission: str | None = None,
    sector: int | list[int] | None = None,
    quarter: int | list[int] | None = None,
    campaign: int | list[int] | None = None,
    author: str | None = None,
    exptime: str | float | None = None,
    quality_bitmask: str | int = "default",
    flux_column: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    refresh: bool = False,
    progress: bool = False,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
) -> lightkurve.LightCurve:
    """Fetch every matching quarter / campaign / sector of ``target`` and stitch them.

    One product is taken per segment: the first in lightkurve's order (official pipelines
    first); when that product comes in several files per segment (Kepler short-cadence months)
    all of them are taken.  Only products of the first target found are used.  The segments are
    read with :func:`astrotinyml.io.read_lightcurve` and joined by :func:`astrotinyml.io.stitch`
    (each normalised by its own median).

    Parameters
    ----------
    target, mission, author, exptime, quality_bitmask, flux_column, cache_dir, offline, refresh, timeout, retries
        As in :func:`fetch_lightcurve`.
    sector, quarter, campaign : int or list of int, optional
        Segments to fetch (default: all).
    progress : bool
        Show a progress bar (tqdm, on stderr) while several files are read or downloaded.

    Returns
    -------
    lightkurve.LightCurve
        Stitched; ``meta`` as in :func:`astrotinyml.io.read_lightcurves` (``quarters`` /
        ``sectors`` / ``campaigns``, ``source_files``) plus ``mast_uris``.

    Raises
    ------
    OfflineError, DataUnavailableError, ArchiveConnectionError, InvalidParameterError
        As in :func:`fetch_lightcurve`.

    Examples
    --------
    >>> from astrotinyml.fetch import fetch_lightcurves
    >>> lc = fetch_lightcurves("KIC 11442793", quarter=[3, 4, 5])  # doctest: +SKIP
    >>> lc.meta["quarters"]  # doctest: +SKIP
    [3, 4, 5]
    """
    from .io import stitch

    q = _Query.make(target, mission=mission, sector=sector, quarter=quarter, campaign=campaign,
                    author=author, exptime=exptime)
    store = _Store(_cache_dir(cache_dir))
    off = is_offline(offline)
    products = _choose_per_segment(
        _find_products(q, store, offline=off, refresh=refresh, timeout=timeout, retries=retries))
    if off:  # name every missing file at once, before reading anything
        missing = [p["filename"] for p in products if not store.path(p).exists()]
        if missing:
            raise OfflineError(
                f"offline mode: {len(missing)} of {len(products)} light-curve file(s) of "
                f"{q.describe()} are not in the cache {store.root / 'mast'}: "
                f"{', '.join(missing)}. Run once online (offline=False, ASTROTINYML_OFFLINE=0) "
                f"to download them."
            )
    items = products
    if progress and len(products) > 1:
        try:
            from tqdm.auto import tqdm

            items = tqdm(products, desc=f"light curves of {q.target}", unit="file")
        except ImportError:  # pragma: no cover - tqdm comes with lightkurve
            pass
    lcs = [
        _load_product(p, q, store, offline=off, timeout=timeout, retries=retries,
                      quality_bitmask=quality_bitmask, flux_column=flux_column)
        for p in items
    ]
    if len(lcs) == 1:
        lc = lcs[0]
        lc.meta["mast_uris"] = [lc.meta["mast_uri"]]
        return lc
    lc = stitch(lcs)
    for key in ("query_target", "author"):
        lc.meta[key] = lcs[0].meta.get(key)
    lc.meta["mast_uris"] = [x.meta["mast_uri"] for x in lcs]
    lc.meta["source_files"] = [x.meta["source_file"] for x in lcs]
    return lc


def fetch_products(
    target: str | int,
    *,
    mission: str | None = None,
    sector: int | list[int] | None = None,
    quarter: int | list[int] | None = None,
    campaign: int | list[int] | None = None,
    author: str | None = None,
    exptime: str | float | None = None,
    all_products: bool = False,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    refresh: bool = False,
    progress: bool = False,
    timeout: float = _net.DEFAULT_TIMEOUT_S,
    retries: int = _net.DEFAULT_RETRIES,
):
    """Download (or find in the cache) the light-curve files of ``target``; list them.

    The files are those :func:`fetch_lightcurves` would use (one product per segment), or every
    matching product with ``all_products=True``.  Each is checked by reading it with
    :func:`astrotinyml.io.read_lightcurve`.  This is what ``astrotinyml fetch`` prints.

    Parameters
    ----------
    target, mission, sector, quarter, campaign, author, exptime, cache_dir, offline, refresh, progress, timeout, retries
        As in :func:`fetch_lightcurves`.
    all_products : bool
        Every product the search lists (all pipelines and cadences), not one per segment.

    Returns
    -------
    astropy.table.Table
        One row per file: ``mission``, ``segment`` (quarter / campaign / sector; -1 unknown),
        ``author``, ``exptime_s``, ``n_cadences``, ``filename``, ``path``, ``from_cache``,
        ``mast_uri``.

    Raises
    ------
    OfflineError, DataUnavailableError, ArchiveConnectionError, InvalidParameterError
        As in :func:`fetch_lightcurve`.

    Examples
    --------
    >>> from astrotinyml.fetch import fetch_products
    >>> fetch_products("Kepler-90", quarter=[3, 4])["segment", "filename"]  # doctest: +SKIP
    """
    from astropy.table import Table

    q = _Query.make(target, mission=mission, sector=sector, quarter=quarter, campaign=campaign,
                    author=author, exptime=exptime)
    store = _Store(_cache_dir(cache_dir))
    off = is_offline(offline)
    products = _find_products(q, store, offline=off, refresh=refresh, timeout=timeout,
                              retries=retries)
    if not all_products:
        products = _choose_per_segment(products)
    items = products
    if progress and len(products) > 1:
        from tqdm.auto import tqdm

        items = tqdm(products, desc=f"light curves of {q.target}", unit="file")
    rows = []
    for p in items:
        lc = _load_product(p, q, store, offline=off, timeout=timeout, retries=retries,
                           quality_bitmask="default", flux_column=None)
        seg = p.get("segment")
        rows.append((p.get("mission") or "", -1 if seg is None else int(seg), p.get("author") or "",
                     float(p.get("exptime") or float("nan")), len(lc), p["filename"],
                     lc.meta["source_file"], bool(lc.meta["from_cache"]), p["uri"]))
    return Table(rows=rows, names=("mission", "segment", "author", "exptime_s", "n_cadences",
                                   "filename", "path", "from_cache", "mast_uri"))


def cached_products(*, cache_dir: str | os.PathLike | None = None):
    """List the MAST light-curve files in the cache.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Cache directory (default: ``ASTROTINYML_CACHE_DIR``, then ``~/.astrotinyml``).

    Returns
    -------
    astropy.table.Table
        One row per cached file: ``mission``, ``filename``, ``size`` (bytes), ``sha256``,
        ``mast_uri``, ``downloaded_at`` (UTC, ISO 8601), ``path``.

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.fetch import cached_products
    >>> len(cached_products(cache_dir=tempfile.mkdtemp()))
    0
    """
    from astropy.table import Table

    store = _Store(_cache_dir(cache_dir))
    files = store.read_index()["files"]
    rows = []
    for rel, info in sorted(files.items()):
        path = store.root / rel
        if path.exists():
            rows.append((Path(rel).parent.name, Path(rel).name, int(info.get("size") or 0),
                         info.get("sha256") or "", info.get("uri") or "",
                         info.get("downloaded_at") or "", str(path)))
    names = ("mission", "filename", "size", "sha256", "mast_uri", "downloaded_at", "path")
    if not rows:
        return Table(names=names, dtype=(str, str, int, str, str, str, str))
    return Table(rows=rows, names=names)


# --------------------------------------------------------------------------------------------
# the query
# --------------------------------------------------------------------------------------------


def _norm_target(target: str) -> str:
    """Normalise a target name for the index: case, spaces, and catalogue-id spelling."""
    t = " ".join(str(target).strip().split()).lower()
    m = re.fullmatch(r"(kic|kplr|epic|ktwo|tic|tess|koi|toi|k2|kepler|wasp|hat-p|hd|gj)[ _-]?0*(\d+(?:\.\d+)?)(.*)", t)
    if m:
        prefix = {"kplr": "kic", "ktwo": "epic", "tess": "tic"}.get(m.group(1), m.group(1))
        t = f"{prefix} {m.group(2)}{m.group(3)}"
    return t


def _int_list(value, name: str) -> list[int] | None:
    if value is None:
        return None
    vals = [value] if isinstance(value, (int, str)) or not hasattr(value, "__iter__") else list(value)
    out = []
    for v in vals:
        if isinstance(v, bool):
            raise InvalidParameterError(f"{name} must be an integer or a list of integers, got {v!r}.")
        try:
            iv = int(v)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"{name} must be an integer or a list of integers, got {value!r}.") from None
        if iv != v and str(iv) != str(v).strip() or iv < 0:
            raise InvalidParameterError(f"{name} must be a non-negative integer, got {v!r}.")
        out.append(iv)
    if not out:
        raise InvalidParameterError(f"{name} is an empty list; pass None for all.")
    return sorted(set(out))


class _Query:
    """A validated, normalised light-curve query."""

    def __init__(self, target, mission, seg_kind, segments, author, exptime):
        self.target = target
        self.mission = mission
        self.seg_kind = seg_kind
        self.segments = segments
        self.author = author
        self.exptime = exptime

    @classmethod
    def make(cls, target, *, mission, sector, quarter, campaign, author, exptime):
        if isinstance(target, bool) or not isinstance(target, (str, int)):
            raise InvalidParameterError(
                f"target must be a name or catalogue id (str) or an int, got {type(target).__name__}.")
        if isinstance(target, int):
            target = str(target)
        target = " ".join(target.split())
        if not target or any(ord(c) < 32 for c in target) or len(target) > 200:
            raise InvalidParameterError(f"target {target!r} is empty, too long or has control characters.")
        ms = None
        if mission is not None:
            if isinstance(mission, (list, tuple)) and len(mission) == 1:
                mission = mission[0]
            ms = _MISSIONS.get(str(mission).strip().lower())
            if ms is None:
                raise InvalidParameterError(
                    f"mission={mission!r} is not one of 'Kepler', 'K2', 'TESS'.")
        given = [(k, v) for k, v in (("sector", sector), ("quarter", quarter), ("campaign", campaign))
                 if v is not None]
        if len(given) > 1:
            raise InvalidParameterError(
                f"give at most one of sector/quarter/campaign, got {', '.join(k for k, _ in given)}.")
        seg_kind, segments = None, None
        if given:
            seg_kind, raw = given[0]
            segments = _int_list(raw, seg_kind)
            implied = _SEGMENT_MISSION[seg_kind]
            if ms is not None and ms != implied:
                raise InvalidParameterError(
                    f"{seg_kind}= applies to {implied}, but mission={ms!r} was given.")
            ms = implied
        au = None
        if author is not None:
            au = str(author).strip()
            if not au or not re.fullmatch(r"[A-Za-z0-9 ._+-]{1,40}", au):
                raise InvalidParameterError(f"author={author!r} is not a pipeline name like 'SPOC'.")
        ex = None
        if exptime is not None:
            if isinstance(exptime, str):
                ex = exptime.strip().lower()
                if ex not in _EXPTIME_WORDS:
                    try:
                        ex = float(ex)
                    except ValueError:
                        raise InvalidParameterError(
                            f"exptime={exptime!r} is not 'long', 'short', 'fast' or seconds.") from None
            elif isinstance(exptime, (int, float)) and not isinstance(exptime, bool):
                ex = float(exptime)
            else:
                raise InvalidParameterError(f"exptime={exptime!r} is not 'long', 'short', 'fast' or seconds.")
            if isinstance(ex, float) and not (ex > 0 and ex < 1e5):
                raise InvalidParameterError(f"exptime={exptime!r} must be a positive number of seconds.")
        return cls(target, ms, seg_kind, segments, au, ex)

    def key(self) -> str:
        return json.dumps({
            "target": _norm_target(self.target), "mission": self.mission, "seg_kind": self.seg_kind,
            "segments": self.segments, "author": self.author.lower() if self.author else None,
            "exptime": self.exptime,
        }, sort_keys=True)

    def describe(self) -> str:
        parts = []
        if self.mission:
            parts.append(f"mission={self.mission}")
        if self.segments:
            vals = self.segments[0] if len(self.segments) == 1 else self.segments
            parts.append(f"{self.seg_kind}={vals}")
        if self.author:
            parts.append(f"author={self.author}")
        if self.exptime is not None:
            parts.append(f"exptime={self.exptime}")
        return f"{self.target!r}" + (f" ({', '.join(parts)})" if parts else "")

    def search_kwargs(self) -> dict:
        kw: dict[str, Any] = {"mission": self.mission or ("Kepler", "K2", "TESS")}
        if self.author:
            kw["author"] = self.author
        if self.exptime is not None:
            kw["exptime"] = self.exptime
        if self.seg_kind:
            kw[self.seg_kind] = self.segments
        return kw

    def admits(self, product: dict) -> bool:
        """Whether a product listed by a broader cached search matches this query."""
        if self.mission and product.get("mission") != self.mission:
            return False
        if self.segments is not None and product.get("segment") not in self.segments:
            return False
        return True


# --------------------------------------------------------------------------------------------
# the cache: files and the JSON index
# --------------------------------------------------------------------------------------------


class _Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / "mast"
        self.index_path = self.dir / "index.json"

    def path(self, product: dict) -> Path:
        return self.root / self.rel(product)

    @staticmethod
    def rel(product: dict) -> str:
        mission = (product.get("mission") or "other").lower()
        name = _SAFE_NAME.sub("_", os.path.basename(product["filename"])) or "product.fits"
        return f"mast/{mission}/{name}"

    def read_index(self) -> dict:
        try:
            data = json.loads(self.index_path.read_text())
            if data.get("version") == _INDEX_VERSION:
                data.setdefault("searches", {})
                data.setdefault("files", {})
                return data
            log.warning("%s has an unknown version; starting a new index", self.index_path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as err:
            log.warning("cache index %s is unreadable (%s); starting a new one", self.index_path, err)
        return {"version": _INDEX_VERSION, "searches": {}, "files": {}}

    @contextlib.contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = self.dir / ".index.lock"
        with open(lock, "a+") as fh:
            try:
                import fcntl

                fcntl.flock(fh, fcntl.LOCK_EX)
            except (ImportError, OSError):  # pragma: no cover - Windows / odd filesystems
                pass
            yield

    def update_index(self, fn) -> None:
        """Read-modify-write the index under a lock; written atomically."""
        with self._locked():
            data = self.read_index()
            fn(data)
            with atomic_path(self.index_path, overwrite=True) as tmp:
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _lookup(q: _Query, index: dict) -> list[dict] | None:
    searches = index["searches"]
    hit = searches.get(q.key())
    if hit is not None:
        return list(hit["products"])
    # a broader cached search (same target, author and exptime; no segment filter; same or no
    # mission) lists everything this narrower query can match
    want = json.loads(q.key())
    for key, entry in searches.items():
        k = json.loads(key)
        if (k["target"] == want["target"] and k["author"] == want["author"]
                and k["exptime"] == want["exptime"] and k["segments"] is None
                and k["mission"] in (None, want["mission"])):
            return [p for p in entry["products"] if q.admits(p)]
    return None


# --------------------------------------------------------------------------------------------
# search
# --------------------------------------------------------------------------------------------


def _find_products(q: _Query, store: _Store, *, offline, refresh, timeout, retries) -> list[dict]:
    products = None if refresh else _lookup(q, store.read_index())
    from_index = products is not None
    if products is None:
        if offline:
            raise OfflineError(
                f"offline mode: no cached MAST search for {q.describe()} in "
                f"{store.index_path}. Run this call once online (offline=False, "
                f"ASTROTINYML_OFFLINE=0) to cache it, or read a local file with "
                f"astrotinyml.read_lightcurve()."
            )
        products = _search_mast(q, timeout=timeout, retries=retries)
        if products:
            key = q.key()

            def add(data):
                data["searches"][key] = {"target": q.target, "searched_at": _now(),
                                         "products": products}
            store.update_index(add)
    if not products:
        raise DataUnavailableError(
            f"MAST has no Kepler/K2/TESS light curve of {q.describe()}"
            + (" (per the cached search of all its products; pass refresh=True to search again)"
               if from_index else "")
            + ". Check the name (MAST must resolve it; catalogue ids like 'KIC 11442793' or "
              "'TIC 100100827' are safest) and the requested mission/sector/quarter/campaign; "
              "lightkurve.search_lightcurve(target) lists what exists."
        )
    return products


def _segment_from(row) -> int | None:
    label = str(row.get("mission_label") or "")
    m = re.search(r"(?:Quarter|Campaign|Sector)\s*(\d+)", label)
    if m:
        return int(m.group(1))
    seq = row.get("sequence_number")
    try:
        return int(seq)
    except (TypeError, ValueError):
        return None


def _rows_of(search_result) -> list[dict]:
    """Plain-dict products from a lightkurve SearchResult, in its order."""
    import numpy as np

    table = search_result.table
    cols = set(table.colnames)

    def get(row, name):
        if name not in cols:
            return None
        val = row[name]
        if np.ma.is_masked(val):
            return None
        return val.item() if hasattr(val, "item") else val

    out = []
    for row in table:
        uri = get(row, "dataURI")
        fname = get(row, "productFilename") or (os.path.basename(uri) if uri else None)
        if not uri or not fname:
            continue
        project = str(get(row, "project") or get(row, "obs_collection") or "")
        mission = _MISSIONS.get(project.lower(), project or None)
        prod = {
            "uri": str(uri),
            "filename": os.path.basename(str(fname)),
            "mission": mission,
            "mission_label": str(get(row, "mission") or ""),
            "sequence_number": get(row, "sequence_number"),
            "author": str(get(row, "author") or get(row, "provenance_name") or ""),
            "exptime": float(get(row, "exptime") or get(row, "t_exptime") or float("nan")),
            "target_name": str(get(row, "target_name") or ""),
            "obs_id": str(get(row, "obs_id") or ""),
            "description": str(get(row, "description") or ""),
            "distance": float(get(row, "distance") or 0.0),
            "size": int(get(row, "size")) if get(row, "size") is not None else None,
        }
        prod["segment"] = _segment_from(prod)
        prod.pop("sequence_number")
        out.append(prod)
    return out


@contextlib.contextmanager
def _mast_timeout(timeout: float):
    """Bound astroquery.mast's own request timeout (a class attribute, default 600 s)."""
    try:
        from astroquery.mast import Observations

        conn = getattr(Observations, "_portal_api_connection", None)
    except Exception:  # pragma: no cover
        conn = None
    old = getattr(conn, "TIMEOUT", None) if conn is not None else None
    if conn is not None and old is not None:
        conn.TIMEOUT = timeout
    try:
        yield
    finally:
        if conn is not None and old is not None:
            conn.TIMEOUT = old


def _search_mast(q: _Query, *, timeout, retries) -> list[dict]:
    import lightkurve as lk

    kwargs = q.search_kwargs()

    def run():
        with _mast_timeout(timeout):
            return lk.search_lightcurve(q.target, **kwargs)

    result = _net.call_with_retries(run, service="MAST", what=f"the light-curve search for {q.describe()}",
                                    retries=retries)
    rows = _rows_of(result) if result is not None and len(result) else []
    log.info("MAST search for %s: %d product(s)", q.describe(), len(rows))
    return rows


def _choose_per_segment(products: list[dict]) -> list[dict]:
    """One product (possibly several files, e.g. Kepler SC months) per segment of one target."""
    if not products:
        return products
    first_target = products[0]["target_name"]
    chosen: dict[tuple, tuple] = {}
    out = []
    for p in products:
        if p["target_name"] != first_target:
            continue
        seg = (p["mission"], p["segment"] if p["segment"] is not None else p["filename"])
        flavour = (p["author"], p["exptime"])
        if seg not in chosen:
            chosen[seg] = flavour
        if chosen[seg] == flavour and p not in out:
            out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# download and read
# --------------------------------------------------------------------------------------------


def _check_fits(path: Path) -> None:
    """Raise LightCurveFormatError unless ``path`` is a complete FITS file with a table."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            if len(hdul) < 2:
                raise LightCurveFormatError(f"{path.name}: FITS file has no table extension.")
            for hdu in hdul[1:]:
                _ = hdu.data  # reading the data detects truncation
    except LightCurveFormatError:
        raise
    except Exception as err:
        raise LightCurveFormatError(f"{path.name}: not a complete FITS file ({type(err).__name__}: {err}).") from err


def _download(product: dict, dest: Path, *, timeout: float) -> tuple[int, str]:
    """Stream one MAST product to ``dest`` atomically; return (size, sha256)."""
    import hashlib

    import requests

    url = MAST_DOWNLOAD_URL + "?uri=" + quote(product["uri"], safe=":/")
    sha = hashlib.sha256()
    size = 0
    with atomic_path(dest, overwrite=True) as tmp:
        with requests.get(url, stream=True, timeout=(min(timeout, 30.0), timeout)) as resp:
            if resp.status_code in _net._TRANSIENT_STATUS:
                raise _net.TransientError(f"HTTP {resp.status_code} from {url}")
            if resp.status_code == 404:
                raise DataUnavailableError(
                    f"MAST listed {product['filename']} ({product['uri']}) but its download service "
                    f"answers 404 Not Found; search again with refresh=True.")
            resp.raise_for_status()
            expected = resp.headers.get("Content-Length")
            with open(tmp, "wb") as fh:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    if chunk:
                        fh.write(chunk)
                        sha.update(chunk)
                        size += len(chunk)
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise _net.TransientError(
                f"download of {product['filename']} was cut short: {size} of {expected} bytes")
        try:
            _check_fits(tmp)
        except LightCurveFormatError as err:
            raise _net.TransientError(f"downloaded {product['filename']} is not valid FITS: {err}") from err
    return size, sha.hexdigest()


def _load_product(product: dict, q: _Query, store: _Store, *, offline, timeout, retries,
                  quality_bitmask, flux_column) -> lightkurve.LightCurve:
    from .io import read_lightcurve

    path = store.path(product)
    rel = store.rel(product)
    info = store.read_index()["files"].get(rel, {})
    from_cache = True
    lc = None
    if path.exists():
        problem = None
        size = path.stat().st_size
        if info.get("size") and size != info["size"]:
            problem = f"size {size} bytes, expected {info['size']}"
        else:
            try:
                lc = read_lightcurve(path, quality_bitmask=quality_bitmask, flux_column=flux_column)
            except LightCurveFormatError as err:
                problem = str(err)
            else:
                if info.get("sha256") and lc.meta.get("sha256") != info["sha256"]:
                    problem = "sha256 differs from the one recorded at download"
                    lc = None
        if problem is not None:
            if offline:
                raise OfflineError(
                    f"offline mode: the cached file {path} ({product['uri']}) is corrupt "
                    f"({problem}) and cannot be downloaded again offline. Go online "
                    f"(offline=False) to replace it, or delete it."
                )
            log.warning("cached %s is corrupt (%s); downloading it again", path, problem)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if lc is None:
        if offline:
            raise OfflineError(
                f"offline mode: {product['filename']} ({product['uri']}) for {q.describe()} is not "
                f"in the cache {store.dir}. Run once online (offline=False, "
                f"ASTROTINYML_OFFLINE=0) to download it."
            )
        from_cache = False
        size, sha = _net.call_with_retries(
            lambda: _download(product, path, timeout=timeout), service="MAST",
            what=f"the download of {product['filename']}", retries=retries)
        lc = read_lightcurve(path, quality_bitmask=quality_bitmask, flux_column=flux_column)

        def record(data):
            data["files"][rel] = {"uri": product["uri"], "size": size, "sha256": sha,
                                  "downloaded_at": _now()}
        store.update_index(record)
    elif not info:  # a file put there by hand or by an interrupted run: adopt it
        def adopt(data):
            data["files"][rel] = {"uri": product["uri"], "size": path.stat().st_size,
                                  "sha256": lc.meta.get("sha256"), "downloaded_at": None}
        store.update_index(adopt)
    lc.meta.update(
        mast_uri=product["uri"],
        author=product.get("author"),
        exptime_s=product.get("exptime"),
        query_target=q.target,
        from_cache=from_cache,
    )
    return lc
