"""Fetch Kepler, K2 and TESS light curves from MAST, through a local cache that works offline.

:func:`fetch_lightcurve` (one product) and :func:`fetch_lightcurves` (every quarter / campaign /
sector, stitched) return light curves in exactly the form of :func:`astrotinyml.io.read.read_lightcurve`
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
3. **Read** the cached file with :func:`astrotinyml.io.read.read_lightcurve`, after checking its size
   and sha256 against the index *before* parsing.  A cached file that no longer matches them is
   *corrupt*: online it is deleted and downloaded again; offline it is an
   :class:`~astrotinyml.errors.OfflineError`.

Local files
-----------
:func:`import_to_cache` (``astrotinyml cache import``) files light-curve files you already have
(a data set, a colleague's copies, the bundled samples) into the same cache, under the target
ids the files (or a manifest CSV) give.  Each is read with :func:`astrotinyml.io.read.read_lightcurve`
to check it, copied atomically to ``<cache>/mast/<mission>/<file name>`` with its size and sha256
in the index, and listed as a product of a search entry for every name of its target.  From then
on :func:`fetch_lightcurves` and friends serve it exactly like a downloaded product, offline
included (``from_cache`` True, ``mast_uri`` the ``file:`` URI it was imported from).  Imported
products come first in their target's listing, so they are chosen for their segments; an entry
made only by imports answers like a cached search (no MAST request) until ``refresh=True``,
which searches MAST and keeps the imported products.  An imported file cannot be downloaded
again: if its cached copy goes missing or corrupt, the error says to import it again.

Network behaviour: each search or download has a deadline (``timeout``, default 60 s, retries
included); transient failures (connection errors, timeouts, HTTP 429/5xx) are retried up to
``retries`` times with exponential backoff (2, 4, 8 s) while the deadline allows, then
:class:`~astrotinyml.errors.ArchiveConnectionError` is raised.  Without network (a host name
that does not resolve) nothing is retried: one :class:`~astrotinyml.errors.NoNetworkError` line.  A target with no
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
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..atomic import atomic_path
from ..config import cache_dir as _cache_dir
from ..config import is_offline
from ..errors import (
    AstroTinyMLError,
    DataUnavailableError,
    InvalidParameterError,
    LightCurveFileNotFoundError,
    LightCurveFormatError,
    OfflineError,
)
from ..io import TIME_FORMATS, read_lightcurve, stitch, time_format_from_label
from ..provenance import sha256_file
from . import _net

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve

__all__ = ["MAST_DOWNLOAD_URL", "fetch_lightcurve", "fetch_lightcurves", "fetch_products",
           "cached_products", "import_to_cache"]

log = logging.getLogger("astrotinyml.remote.mast")

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
        As in :func:`astrotinyml.io.read.read_lightcurve`.
    cache_dir : str or path-like, optional
        Cache directory (default: ``ASTROTINYML_CACHE_DIR``, then ``~/.astrotinyml``); files go
        to ``<cache_dir>/mast``.
    offline : bool, optional
        Forbid network access (default: ``ASTROTINYML_OFFLINE``).
    refresh : bool
        Search MAST again even when the query is in the cache index (files already downloaded
        are not downloaded again).
    timeout : float
        Deadline in seconds of each search or download, retries included (each request
        waits at most what is left of it; a download that keeps receiving data is not cut).
    retries : int
        Retries of a request after a transient failure (exponential backoff from 2 s).

    Returns
    -------
    lightkurve.LightCurve
        As returned by :func:`astrotinyml.io.read.read_lightcurve`, with ``meta`` also holding
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
    >>> from astrotinyml.remote.mast import fetch_lightcurve
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
    read with :func:`astrotinyml.io.read.read_lightcurve` and joined by :func:`astrotinyml.io.read.stitch`
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
        Stitched; ``meta`` as in :func:`astrotinyml.io.read.read_lightcurves` (``quarters`` /
        ``sectors`` / ``campaigns``, ``source_files``) plus ``mast_uris``.

    Raises
    ------
    OfflineError, DataUnavailableError, ArchiveConnectionError, InvalidParameterError
        As in :func:`fetch_lightcurve`.

    Examples
    --------
    >>> from astrotinyml.remote.mast import fetch_lightcurves
    >>> lc = fetch_lightcurves("KIC 11442793", quarter=[3, 4, 5])  # doctest: +SKIP
    >>> lc.meta["quarters"]  # doctest: +SKIP
    [3, 4, 5]
    """

    q = _Query.make(target, mission=mission, sector=sector, quarter=quarter, campaign=campaign,
                    author=author, exptime=exptime)
    store = _Store(_cache_dir(cache_dir))
    off = is_offline(offline)
    products = _choose_per_segment(
        _find_products(q, store, offline=off, refresh=refresh, timeout=timeout, retries=retries))
    if off:  # name every missing file at once, before reading anything
        gone = [p for p in products if not store.path(p).exists()]
        missing = [p["filename"] for p in gone]
        if missing:
            raise OfflineError(
                f"offline mode: {len(missing)} of {len(products)} light-curve file(s) of "
                f"{q.describe()} are not in the cache {store.root / 'mast'}: "
                f"{', '.join(missing)}. "
                + ("Import them again (astrotinyml cache import FILE...)."
                   if all(p.get("local") for p in gone) else
                   "Run once online (offline=False, ASTROTINYML_OFFLINE=0) to download them"
                   + (" and import the imported ones again (astrotinyml cache import)."
                      if any(p.get("local") for p in gone) else "."))
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
    :func:`astrotinyml.io.read.read_lightcurve`.  This is what ``astrotinyml fetch`` prints.

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
    >>> from astrotinyml.remote.mast import fetch_products
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
        ``mast_uri``, ``downloaded_at`` (UTC, ISO 8601; for an imported file, when it was
        imported), ``path``, ``origin`` (``"mast"`` or ``"import"``) and ``target`` (the
        target it was found or imported for; empty when unknown).

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.remote.mast import cached_products
    >>> len(cached_products(cache_dir=tempfile.mkdtemp()))
    0
    """
    from astropy.table import Table

    store = _Store(_cache_dir(cache_dir))
    index = store.read_index()
    # which target each file was listed for: the first search entry that lists it
    owner: dict[str, str] = {}
    for entry in index["searches"].values():
        for p in entry.get("products", []):
            owner.setdefault(store.rel(p), str(entry.get("target") or ""))
    rows = []
    for rel, info in sorted(index["files"].items()):
        path = store.root / rel
        if path.exists():
            imported = info.get("origin") == "import"
            rows.append((Path(rel).parent.name, Path(rel).name, int(info.get("size") or 0),
                         info.get("sha256") or "", info.get("uri") or "",
                         (info.get("imported_at") if imported else info.get("downloaded_at")) or "",
                         str(path), "import" if imported else "mast",
                         str(info.get("target") or owner.get(rel, ""))))
    names = ("mission", "filename", "size", "sha256", "mast_uri", "downloaded_at", "path",
             "origin", "target")
    if not rows:
        return Table(names=names, dtype=(str, str, int, str, str, str, str, str, str))
    return Table(rows=rows, names=names)


def import_to_cache(
    paths,
    *,
    manifest: str | os.PathLike | None = None,
    target: str | None = None,
    time_format: str | None = None,
    mission: str | None = None,
    flux_column: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    copy: bool = True,
    replace: bool = False,
):
    """File local light-curve files into the MAST cache under their targets' ids.

    Each file is read with :func:`astrotinyml.io.read.read_lightcurve` (which validates it), copied
    atomically to ``<cache>/mast/<mission>/<file name>`` and recorded in the cache index exactly
    like a downloaded product (size, sha256), as a product of every name of its target.  Then
    :func:`fetch_lightcurve`, :func:`fetch_lightcurves` and :func:`fetch_products` serve it,
    offline too, for any spelling of those names (``"KIC 11442793"``, ``"kic11442793"``,
    ``"kplr011442793"``), with ``meta['from_cache']`` True and ``meta['mast_uri']`` the file's
    ``file:`` URI.  Text and NumPy files are read from the cache with the options they were
    imported with (time system, mission, target name), so they read the same as at import.

    Where the target comes from, first match wins: ``target``; the file's row in the manifest
    (a catalogue id found in its ``target`` / ``target_id`` text, e.g. ``'KIC 11442793'`` in
    ``'Kepler-90 (KIC 11442793; KOI-351)'``; ids the text gives only tentatively, such as
    ``'probable KIC 8554005'``, are not used); the file itself (``meta['target']``: its header,
    else its name).  The KIC / EPIC / TIC id is the primary name; every other catalogue name
    found (``Kepler-90``, ``KOI-351``, ``TOI-185``, ``WASP-18``, ...) is filed too.  A file with
    no catalogue id anywhere is filed under its file name's stem, and its row says so.

    Parameters
    ----------
    paths : str, path-like or iterable of them
        Light-curve files, or directories (their files, not recursing; a ``MANIFEST.csv`` inside
        is used as ``manifest`` when none is given; README/LICENSE/manifest files are skipped).
        May be empty when ``manifest`` is given: then every file the manifest lists is imported
        (paths relative to the manifest's directory).
    manifest : str or path-like, optional
        A CSV with a ``file`` column (file names, or paths relative to the CSV) and a ``target``
        or ``target_id`` column; optional ``time_system`` (``BKJD``, ``BTJD``, ``BJD_TDB``, ...;
        see :func:`astrotinyml.io.read.time_format_from_label`) and ``mission`` columns are used for
        text and NumPy files.  Files it does not list take their target from themselves.
    target : str, optional
        Target of every file imported (wins over the manifest).  A file whose own KIC / EPIC /
        TIC id contradicts it fails.
    time_format : str, optional
        Time system of text and NumPy files, as in :func:`astrotinyml.io.read.read_lightcurve`
        (wins over the manifest's ``time_system``; FITS headers carry their own).
    mission : {"Kepler", "K2", "TESS"}, optional
        Mission of text and NumPy files whose name and manifest row do not say it.
    flux_column : str, optional
        Flux column to read (checked at import, used by later fetches unless they pass their own).
    cache_dir : str or path-like, optional
        Cache directory, as in :func:`fetch_lightcurve`.
    copy : bool
        Copy the bytes (default).  With False the cache entry is a hard link to the file (no
        second copy; a copy anyway across file systems); editing the original in place then
        makes the cached entry fail its sha256 check.
    replace : bool
        Replace a cached file of the same name imported earlier for the same target with
        different bytes.  Without it that file fails.  (A same-named file of another target is
        never replaced: the new one is stored as ``<stem>+<target><suffix>`` and the row says so.)

    Returns
    -------
    astropy.table.Table
        One row per file: ``path``, ``target`` (primary name), ``names`` (all names filed,
        ``"; "``-separated), ``mission``, ``segment`` (``"Q3"``, ``"C13"``, ``"S9-S11"``; empty
        when unknown), ``author`` (the file's pipeline, else ``"local"``), ``status``
        (``"imported"``, ``"unchanged"``: the same bytes were already cached, ``"replaced"``, or
        ``"failed"``), ``cached`` (path inside the cache), ``note`` and ``error``.
        ``meta['cache_dir']`` is the cache's ``mast`` directory.

    Raises
    ------
    AstroTinyMLError
        A file named directly in ``paths`` cannot be read (the reader's error, naming the
        file), contradicts ``target`` or the manifest, or clashes with a cached file (see
        ``replace``); nothing is imported then.  Files found in a directory or listed by a
        manifest fail one by one instead (``status`` ``"failed"``, ``error`` says why) and the
        others are imported.
    InvalidParameterError
        No paths and no manifest, an empty directory, a manifest without ``file`` and
        ``target`` columns, or an invalid ``time_format`` / ``mission``.

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.datasets import sample_paths
    >>> from astrotinyml.remote.mast import fetch_lightcurves, import_to_cache
    >>> cache = tempfile.mkdtemp()
    >>> rows = import_to_cache(sample_paths("kepler-90"), cache_dir=cache)
    >>> rows["status"].tolist(), rows["segment"].tolist(), str(rows["target"][0])
    (['imported', 'imported', 'imported'], ['Q3', 'Q4', 'Q5'], 'KIC 11442793')
    >>> lc = fetch_lightcurves("KIC 11442793", cache_dir=cache, offline=True)
    >>> lc.meta["quarters"], lc.meta["from_cache"]
    ([3, 4, 5], True)
    >>> import_to_cache(sample_paths("kepler-90"), cache_dir=cache)["status"].tolist()  # again
    ['unchanged', 'unchanged', 'unchanged']
    """
    from astropy.table import Table


    tf = None
    if time_format is not None:
        tf = time_format_from_label(time_format)
        if tf is None:
            raise InvalidParameterError(
                f"time_format={time_format!r} is not a time system; use one of "
                f"{', '.join(repr(k) for k in TIME_FORMATS)}.")
    ms = None
    if mission is not None:
        ms = _MISSIONS.get(str(mission).strip().lower())
        if ms is None:
            raise InvalidParameterError(f"mission={mission!r} is not one of 'Kepler', 'K2', 'TESS'.")
    if target is not None:
        target = " ".join(str(target).split())
        if not target or len(target) > 200 or any(ord(c) < 32 for c in target):
            raise InvalidParameterError(f"target={target!r} is empty, too long or has control characters.")
    man = _Manifest.read(manifest) if manifest is not None else None
    items = _files_to_import(paths, man)
    store = _Store(_cache_dir(cache_dir))

    # 1. read every file (the validation) before anything is written
    plans: list[dict] = []
    for path, strict, mf in items:
        try:
            plans.append(_plan_import(path, manifest=mf, target=target, time_format=tf, mission=ms,
                                      flux_column=flux_column))
        except AstroTinyMLError as err:
            if strict:
                raise
            plans.append({"path": path, "error": str(err)})

    # 2. place the files and file them in the index, under the index lock
    with store._locked():
        data = store.read_index()
        before = json.dumps(data, sort_keys=True)
        for plan in plans:
            if "error" not in plan:
                _decide_placement(plan, store, data, replace=replace)
        refused = [p for p, (_, strict, _) in zip(plans, items, strict=True) if strict and p.get("refused")]
        if refused:
            raise InvalidParameterError(refused[0]["error"])
        for plan in plans:
            if "error" not in plan:
                _place(plan, store, data, link=not copy)
        if json.dumps(data, sort_keys=True) != before:  # a re-import changes nothing, not even mtime
            store.write_index(data)

    names = ("path", "target", "names", "mission", "segment", "author", "status", "cached", "note",
             "error")
    rows = []
    for plan in plans:
        failed = "error" in plan
        rows.append((str(plan["path"]), plan.get("primary", ""), "; ".join(plan.get("names", [])),
                     plan.get("mission") or "", plan.get("segment_label", ""), plan.get("author", ""),
                     "failed" if failed else plan["status"], plan.get("rel", "") if not failed else "",
                     "; ".join(plan.get("notes", [])), plan.get("error", "")))
    table = Table(rows=rows, names=names) if rows else Table(names=names, dtype=[str] * len(names))
    table.meta["cache_dir"] = str(store.dir)
    return table


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
        if self.segments is not None:
            # an imported file may span several segments (``segments``): any overlap matches
            have = product.get("segments") or [product.get("segment")]
            if not any(seg in self.segments for seg in have):
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
            self.write_index(data)

    def write_index(self, data: dict) -> None:
        """Write the index atomically; the caller holds :meth:`_locked`."""
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
        found = _search_mast(q, timeout=timeout, retries=retries)
        # files the user imported for this target stay listed (first) after a new search
        products = _local_products(q, store.read_index()) + found
        if found:
            key = q.key()

            def add(data):
                data["searches"][key] = {"target": q.target, "searched_at": _now(),
                                         "products": _local_products(q, data) + found}
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
    # offline, say so before seconds of importing lightkurve and astroquery
    _net.check_network("mast.stsci.edu", service="MAST", what=f"the light-curve search for {q.describe()}")
    import lightkurve as lk

    kwargs = q.search_kwargs()

    def run():
        with _mast_timeout(_net.attempt_timeout(timeout)):
            return lk.search_lightcurve(q.target, **kwargs)

    result = _net.call_with_retries(run, service="MAST", what=f"the light-curve search for {q.describe()}",
                                    retries=retries, deadline=timeout)
    rows = _rows_of(result) if result is not None and len(result) else []
    log.info("MAST search for %s: %d product(s)", q.describe(), len(rows))
    return rows


def _choose_per_segment(products: list[dict]) -> list[dict]:
    """One product (possibly several files, e.g. Kepler SC months) per segment of one target.

    Imported products (``local``) were filed under this target by the user, so they pass the
    one-target filter, and they are their own flavour: an imported quarter and MAST's file of
    the same quarter are alternatives, never stitched together.  An imported file spanning
    several segments (``segments``) claims all of them.
    """
    if not products:
        return products
    mast = [p for p in products if not p.get("local")]
    first_target = mast[0]["target_name"] if mast else None
    chosen: dict[tuple, tuple] = {}
    out = []
    for p in products:
        if not p.get("local") and p["target_name"] != first_target:
            continue
        segs = p.get("segments") or [p["segment"] if p["segment"] is not None else p["filename"]]
        keys = [(p["mission"], seg) for seg in segs]
        flavour = (p["author"], p["exptime"], bool(p.get("local")))
        if all(chosen.get(k, flavour) == flavour for k in keys) and p not in out:
            for k in keys:
                chosen[k] = flavour
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
        wait = _net.attempt_timeout(timeout)
        with requests.get(url, stream=True, timeout=(min(wait, 30.0), wait)) as resp:
            if resp.status_code in _net.TRANSIENT_STATUS:
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
    path = store.path(product)
    rel = store.rel(product)
    info = store.read_index()["files"].get(rel, {})
    # what an imported text/NumPy file needs to be read as it was at import (time system, ...);
    # a flux_column given to this call wins over the one chosen at import
    options = dict(product.get("read_options") or {})
    stored_flux = options.pop("flux_column", None)
    flux_column = flux_column if flux_column is not None else stored_flux
    from_cache = True
    lc = None
    problem = None
    if path.exists():
        size = path.stat().st_size
        # The checksum is verified on the bytes before parsing: a flipped byte in a data column
        # may parse (or fail with any error, TimeFormatError included), and either way the file
        # is not what was downloaded.  Only a file that matches its record is parsed.
        if info.get("size") and size != info["size"]:
            problem = f"size {size} bytes, expected {info['size']}"
        elif info.get("sha256") and sha256_file(path) != info["sha256"]:
            problem = ("sha256 differs from the one recorded at "
                       + ("import" if product.get("local") else "download"))
        else:
            try:
                lc = read_lightcurve(path, quality_bitmask=quality_bitmask, flux_column=flux_column,
                                     **options)
            except LightCurveFormatError as err:
                if info.get("sha256"):
                    raise  # the very bytes downloaded: not corruption, and downloading again cannot help
                problem = str(err)
    if product.get("local") and lc is None:
        # an imported file has no archive copy to download again; never delete the evidence
        what = "is missing" if problem is None else f"is corrupt ({problem})"
        msg = (f"the cached copy {path} of the imported file {product['uri']} for {q.describe()} "
               f"{what}. Import it again: astrotinyml cache import {product.get('source') or 'FILE'}.")
        raise OfflineError("offline mode: " + msg) if offline else DataUnavailableError(msg)
    if path.exists():
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
            what=f"the download of {product['filename']}", retries=retries, deadline=timeout)
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


# --------------------------------------------------------------------------------------------
# importing local files
# --------------------------------------------------------------------------------------------

# Files that sit beside light curves in data directories but are not light curves.
_NOT_DATA_PREFIXES = ("manifest", "readme", "license", "changelog", ".")
_NOT_DATA_SUFFIXES = (".md", ".rst", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".py",
                      ".ipynb", ".html", ".pdf", ".png", ".jpg", ".jpeg", ".sh", ".part")
_FITS_NAME = re.compile(r"\.(?:fits|fit|fts)(?:\.gz)?$", re.IGNORECASE)
_STAR_ID = re.compile(r"(KIC|EPIC|TIC) (\d+)")
# Catalogue designations as data sets write them: "KIC 11442793", "TIC100100827", "EPIC-2106",
# "kplr011442793", "KOI-351", "TOI-211.01" (the star: TOI-211), "Kepler-90", "K2-32", "WASP-18",
# "HAT-P-7", "HD 39091", "GJ 1214".  Named systems need the hyphen, so "Kepler 10.3 d" is no id.
_CATALOG_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:(?P<cat>KIC|EPIC|TIC|KOI|TOI|HD|GJ|kplr|ktwo)[ _-]?0*(?P<num>\d+)"
    r"|(?P<name>Kepler|K2|WASP|HAT-P)-0*(?P<nnum>\d+))(?!\d)",
    re.IGNORECASE)
# An id is only a guess when hedged just before it ("probable KIC 8554005", "= probably KIC
# 7501230") or when the text says the id is in doubt ("TIC id ambiguous"): filing a light curve
# under a guessed id would make fetch_lightcurves() answer for the wrong star.
_HEDGE_BEFORE = re.compile(
    r"(?:probabl[ey]|possibl[ey]|perhaps|maybe|likely|presumably|tentative(?:ly)?|putative)"
    r"\W+(?:\w+\W+)?$", re.IGNORECASE)
_HEDGE_ID = re.compile(
    r"\b(?:id|ids|identity|identification|designation)\b[^;)]{0,20}?"
    r"\b(?:ambiguous|uncertain|unverified|not verified|unclear|disputed|tentative)", re.IGNORECASE)
_NAMED = {"kepler": "Kepler", "k2": "K2", "wasp": "WASP", "hat-p": "HAT-P"}


def _catalog_ids(text: str) -> list[tuple[str, bool]]:
    """Catalogue ids in free text, in order, as (display name, tentative)."""
    text = str(text or "")
    doubtful = bool(_HEDGE_ID.search(text))
    out: dict[str, bool] = {}
    for m in _CATALOG_ID.finditer(text):
        if m.group("cat"):
            cat = m.group("cat").upper()
            cat = {"KPLR": "KIC", "KTWO": "EPIC"}.get(cat, cat)
            n = int(m.group("num"))
            name = f"{cat}-{n}" if cat in ("KOI", "TOI") else f"{cat} {n}"
        else:
            name = f"{_NAMED[m.group('name').lower()]}-{int(m.group('nnum'))}"
        tentative = doubtful or bool(_HEDGE_BEFORE.search(text[: m.start()]))
        out[name] = out.get(name, True) and tentative  # sure once stated surely
    return list(out.items())


class _Manifest:
    """A CSV listing light-curve files with their targets (``file``, ``target``/``target_id``)."""

    def __init__(self, path: Path, rows: list[dict]):
        self.path = path
        self.rows = rows
        self._by_path: dict[Path, dict] = {}
        self._by_name: dict[str, dict] = {}
        for row in rows:
            name = row["file"]
            self._by_path.setdefault((path.parent / name).resolve(), row)
            self._by_name.setdefault(Path(name).name, row)

    @classmethod
    def read(cls, path) -> _Manifest:
        import csv

        p = Path(path).expanduser()
        if not p.is_file():
            raise LightCurveFileNotFoundError(f"manifest {p}: no such file.")
        try:
            with open(p, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                cols = [str(c).strip() for c in (reader.fieldnames or [])]
                rows = [{str(k).strip(): (v or "").strip() if isinstance(v, str) else ""
                         for k, v in row.items() if k is not None} for row in reader]
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise InvalidParameterError(f"manifest {p}: cannot be read as CSV ({err}).") from err
        if "file" not in cols or not ({"target", "target_id"} & set(cols)):
            raise InvalidParameterError(
                f"manifest {p}: needs a 'file' column and a 'target' (or 'target_id') column; it has "
                f"{', '.join(cols) or 'none'}.")
        return cls(p.resolve(), [r for r in rows if r.get("file")])

    def row_for(self, path: Path) -> dict | None:
        return self._by_path.get(path.resolve()) or self._by_name.get(path.name)

    @staticmethod
    def target_of(row: dict) -> str:
        return row.get("target") or row.get("target_id") or ""


def _dir_manifest(directory: Path) -> _Manifest | None:
    for name in ("MANIFEST.csv", "manifest.csv"):
        if (directory / name).is_file():
            return _Manifest.read(directory / name)
    return None


def _files_to_import(paths, manifest: _Manifest | None) -> list[tuple[Path, bool, _Manifest | None]]:
    """(file, named directly?, manifest for it) for every file to import, without repeats."""
    if paths is None:
        paths = []
    elif isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    else:
        paths = list(paths)
    items: list[tuple[Path, bool, _Manifest | None]] = []
    if not paths:
        if manifest is None:
            raise InvalidParameterError(
                "import_to_cache: no paths given; pass light-curve files, directories, or a manifest.")
        items = [(manifest.path.parent / row["file"], False, manifest) for row in manifest.rows]
    for item in paths:
        p = Path(item).expanduser()
        if p.is_dir():
            man = manifest or _dir_manifest(p)
            inside = sorted(f for f in p.iterdir() if f.is_file()
                            and not f.name.lower().startswith(_NOT_DATA_PREFIXES)
                            and not f.name.lower().endswith(_NOT_DATA_SUFFIXES))
            if not inside:
                raise InvalidParameterError(f"import_to_cache: directory {p} holds no light-curve files.")
            items.extend((f, False, man) for f in inside)
        else:
            items.append((p, True, manifest))
    seen: set = set()
    out = []
    for path, strict, man in items:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append((path, strict, man))
    return out


def _names_for(own: str, text: str, *, explicit: bool, display: str) -> tuple[str, list[str], list[str]]:
    """(primary name, all names, notes) of a file whose reader target is ``own``."""
    notes: list[str] = []
    own_ids = [name for name, _ in _catalog_ids(own)]
    ids: list[str] = []
    source = "target=" if explicit else "the manifest's target"
    if text:
        found = _catalog_ids(text)
        if explicit:
            # the caller's word: a name that is no catalogue id ("pi Men") is used as given
            ids = [name for name, _ in found] or [text]
        else:
            ids = [name for name, tentative in found if not tentative]
            guessed = [name for name, tentative in found if tentative]
            if guessed:
                notes.append(f"{source} gives {', '.join(guessed)} only tentatively: not used")
    for own_id in own_ids:
        m = _STAR_ID.fullmatch(own_id)
        for name in ids:
            other = _STAR_ID.fullmatch(name)
            if m and other and other.group(1) == m.group(1) and other.group(2) != m.group(2):
                raise InvalidParameterError(
                    f"{display}: the file is of {own_id} but {source} says {name} ({text!r}); fix "
                    f"the {'target' if explicit else 'manifest row'} or leave it out.")
    names = list(dict.fromkeys(ids + own_ids))
    if not names:
        names = [own]
        notes.append(f"no catalogue id in {'the manifest or ' if text else ''}the file: filed under "
                     f"its name {own!r}")
    stars = [n for n in own_ids + ids if _STAR_ID.fullmatch(n)]
    primary = stars[0] if stars else names[0]
    names.remove(primary)
    return primary, [primary] + names, notes


def _segment_label(mission: str | None, segs: list[int]) -> str:
    letter = {"Kepler": "Q", "K2": "C", "TESS": "S"}.get(mission or "", "")
    if not segs or not letter:
        return ""
    if len(segs) > 2 and segs == list(range(segs[0], segs[-1] + 1)):
        return f"{letter}{segs[0]}-{letter}{segs[-1]}"
    return ";".join(f"{letter}{s}" for s in segs)


def _plan_import(path: Path, *, manifest: _Manifest | None, target, time_format, mission,
                 flux_column) -> dict:
    """Read one file (the validation) and work out what to file it as; nothing is written."""

    row = manifest.row_for(path) if manifest is not None else None
    if row is not None and not path.exists():
        raise LightCurveFileNotFoundError(f"{path}: listed in {manifest.path.name} but not found.")
    options: dict[str, Any] = {}
    if not _FITS_NAME.search(path.name):
        # FITS headers state time system and mission; text and NumPy files may need telling
        tf = time_format or (time_format_from_label(row.get("time_system"), path=path) if row else None)
        ms = mission or (_MISSIONS.get(row.get("mission", "").strip().lower()) if row else None)
        if tf:
            options["time_format"] = tf
        if ms:
            options["mission"] = ms
    if flux_column is not None:
        options["flux_column"] = flux_column
    lc = read_lightcurve(path, **options)
    meta = lc.meta
    own = str(meta.get("target") or path.stem)
    text = target if target is not None else (_Manifest.target_of(row) if row else "")
    primary, names, notes = _names_for(own, text, explicit=target is not None, display=path.name)
    for name in names:  # each becomes a query key: it must be a valid target
        _Query.make(name, mission=None, sector=None, quarter=None, campaign=None, author=None,
                    exptime=None)
    if primary != own:  # read back under the name it is filed as, as a download would be
        options["target"] = primary
    ms = meta.get("mission")
    kind = _MISSION_SEGMENT.get(ms or "")
    segs = [int(x) for x in (meta.get(kind + "s") or [])] if kind else []
    author = str(meta.get("AUTHOR") or "").strip() or {"k2sc": "K2SC"}.get(str(meta.get("reader")), "local")
    cadence = meta.get("cadence_min")
    return {
        "path": path, "sha256": meta["sha256"], "size": path.stat().st_size, "primary": primary,
        "names": names, "notes": notes, "mission": ms, "segments": segs,
        "segment_label": _segment_label(ms, segs), "author": author,
        "exptime": round(float(cadence) * 60.0, 1) if cadence else float("nan"),
        "read_options": options, "n_cadences": len(lc),
    }


def _local_product(plan: dict, filename: str) -> dict:
    segs = plan["segments"]
    product = {
        "uri": plan["path"].resolve().as_uri(),
        "filename": filename,
        "mission": plan["mission"],
        "mission_label": "",
        "author": plan["author"],
        "exptime": plan["exptime"],  # the file's cadence [s]
        "target_name": plan["primary"],
        "obs_id": "",
        "description": "imported local file",
        "distance": 0.0,
        "size": plan["size"],
        "segment": segs[0] if len(segs) == 1 else None,
        "local": True,
        "source": str(plan["path"].resolve()),
        "read_options": plan["read_options"],
    }
    if len(segs) > 1:
        product["segments"] = segs
    return product


def _alt_name(filename: str, primary: str) -> str:
    """``<stem>+<target><suffix>``: the name keeps its mission prefix and suffix (the reader's cues)."""
    m = re.search(r"(\.(?:fits|fit|fts)\.gz|\.[A-Za-z0-9]+)$", filename)
    stem, suffix = (filename[: m.start()], m.group(1)) if m else (filename, "")
    return f"{stem}+{_SAFE_NAME.sub('_', primary.lower())}{suffix}"


def _cached_state(store: _Store, data: dict, rel: str, plan: dict) -> str:
    """absent, same, damaged (ours, but the copy is gone or spoilt), changed (our target's
    earlier import, other bytes) or clash (another target's or a download's file)."""
    info = data["files"].get(rel)
    path = store.root / rel
    exists = path.is_file()
    if info is None and not exists:
        return "absent"
    recorded = (info or {}).get("sha256")
    if recorded == plan["sha256"]:
        intact = exists and path.stat().st_size == plan["size"] and sha256_file(path) == plan["sha256"]
        return "same" if intact else "damaged"
    if not recorded and exists and sha256_file(path) == plan["sha256"]:
        return "same"  # put there by hand, or adopted without a checksum
    owner = (info or {}).get("target") if (info or {}).get("origin") == "import" else None
    if owner is not None and _norm_target(owner) == _norm_target(plan["primary"]):
        return "changed"
    return "clash"


def _key_admits(key: dict, product: dict) -> bool:
    """Whether a search entry with this (decoded) key should list this imported product."""
    if key.get("mission") not in (None, product.get("mission")):
        return False
    if key.get("segments") is not None:
        have = product.get("segments") or [product.get("segment")]
        if not any(s in key["segments"] for s in have):
            return False
    if key.get("author") not in (None, str(product.get("author") or "").lower()):
        return False
    # cadence words ("long") follow lightkurve's rules: leave exptime queries to MAST
    return key.get("exptime") is None


def _local_products(q: _Query, index: dict) -> list[dict]:
    """The imported products any search entry of ``q``'s target lists that ``q`` admits."""
    want = json.loads(q.key())
    out: list[dict] = []
    for key, entry in index["searches"].items():
        if json.loads(key)["target"] != want["target"]:
            continue
        for p in entry.get("products", []):
            if p.get("local") and _key_admits(want, p) and p not in out:
                out.append(p)
    return out


def _with_local(products: list[dict], product: dict, store: _Store) -> list[dict]:
    """``products`` with ``product`` in place of any imported one at its cache path; imported first."""
    rel = store.rel(product)
    kept = [p for p in products if not (p.get("local") and store.rel(p) == rel)]
    local = [p for p in kept if p.get("local")] + [product]
    local.sort(key=lambda p: (p.get("mission") or "",
                              (p.get("segments") or [p["segment"] if p.get("segment") is not None else -1])[0],
                              p["filename"]))
    return local + [p for p in kept if not p.get("local")]


def _decide_placement(plan: dict, store: _Store, data: dict, *, replace: bool) -> None:
    """Choose the cache name and status of a planned import and record it in ``data``."""
    name = _SAFE_NAME.sub("_", plan["path"].name) or "lightcurve"
    product = _local_product(plan, name)
    rel = store.rel(product)
    state = _cached_state(store, data, rel, plan)
    if state == "clash":
        # never clobber another target's file (or a download) of the same name
        info = data["files"].get(rel) or {}
        owner = info.get("target") or ("a MAST download" if info.get("uri", "").startswith("mast:") else "another file")
        product["filename"] = _alt_name(name, plan["primary"])
        rel = store.rel(product)
        state = _cached_state(store, data, rel, plan)
        plan["notes"].append(f"{name} is taken in the cache by a different file ({owner}); "
                             f"stored as {product['filename']}")
    if state == "changed" and not replace or state == "clash":
        plan["error"] = (f"{plan['path'].name}: the cache already holds a different {Path(rel).name} "
                         f"imported for {plan['primary']} ({store.root / rel}); pass replace=True "
                         f"(astrotinyml cache import --replace) to replace it.")
        plan["refused"] = True
        return
    plan["rel"] = rel
    plan["copy"] = state != "same"
    plan["status"] = {"same": "unchanged", "changed": "replaced"}.get(state, "imported")
    if state == "damaged":
        plan["notes"].append("the cached copy was missing or damaged; copied again")
    if plan["copy"] or (data["files"].get(rel) or {}).get("sha256") != plan["sha256"]:
        data["files"][rel] = {"uri": product["uri"], "size": plan["size"], "sha256": plan["sha256"],
                              "downloaded_at": None, "imported_at": _now(), "origin": "import",
                              "source": product["source"], "target": plan["primary"]}
    searches = data["searches"]
    for name_ in plan["names"]:
        key = _Query.make(name_, mission=None, sector=None, quarter=None, campaign=None,
                          author=None, exptime=None).key()
        searches.setdefault(key, {"target": name_, "searched_at": None, "products": []})
        want = json.loads(key)["target"]
        for k, entry in searches.items():
            if json.loads(k)["target"] == want and _key_admits(json.loads(k), product):
                entry["products"] = _with_local(entry.get("products", []), product, store)


def _place(plan: dict, store: _Store, data: dict, *, link: bool) -> None:
    """Put a planned import's bytes into the cache (atomically: temp file, then rename)."""
    if not plan.get("copy"):
        return
    src = plan["path"]
    dest = store.root / plan["rel"]
    with atomic_path(dest, overwrite=True) as tmp:
        linked = False
        if link:
            try:
                tmp.unlink()
                os.link(src, tmp)
                linked = True
            except OSError:  # another file system, or no hard links there: copy
                pass
        if not linked:
            shutil.copyfile(src, tmp)
        if sha256_file(tmp) != plan["sha256"]:
            raise LightCurveFormatError(
                f"{src.name}: changed while it was being imported (sha256 differs from the file "
                f"read a moment ago); import it again.")
