"""Tests of astrotinyml.remote.mast against recorded MAST responses and real light-curve files.

What stands in for MAST:

* the *search* goes through the real ``lightkurve.search_lightcurve`` code; only its two MAST
  requests, ``astroquery.mast.Observations.query_criteria`` and ``get_product_list``, are
  replaced by tables recorded from the real products' metadata (file names, data URIs,
  descriptions, obs ids, sequence numbers and exposure times as MAST lists them; taken from the
  FITS headers of the bundled files);
* the *download* is real HTTP: a server on 127.0.0.1 answers MAST's ``Download/file?uri=``
  requests with the bytes of the bundled real FITS files, and can fail on purpose (HTTP 503,
  cut-short bodies).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from astrotinyml.remote import _net
from astrotinyml.remote import mast as fetch
from astrotinyml.datasets import sample_paths
from astrotinyml.errors import (
    ArchiveConnectionError,
    DataUnavailableError,
    InvalidParameterError,
    OfflineError,
)
from astrotinyml.io import read_lightcurve, read_lightcurves

REPO = Path(__file__).resolve().parent.parent
PKG_DATA = REPO / "astrotinyml" / "data"
TESTS_DATA = REPO / "tests" / "data"

# ------------------------------------------------------------------------------------------
# recorded MAST metadata of the real products (one row per product file)
# ------------------------------------------------------------------------------------------

_KEPLER_OBS = "kplr011442793_lc_Q111111111111111111"
PRODUCTS = [
    # Kepler-90 = KIC 11442793, long cadence, quarters 3-5 (official Kepler pipeline files)
    dict(obs_id=_KEPLER_OBS, target_name="kplr011442793", project="Kepler", obs_collection="Kepler",
         provenance_name="Kepler", sequence_number=None, t_exptime=1800.0, t_min=55182.5,
         productFilename="kplr011442793-2009350155506_llc.fits",
         dataURI="mast:KEPLER/url/missions/kepler/lightcurves/0114/011442793/kplr011442793-2009350155506_llc.fits",
         description="Lightcurve Long Cadence (CLC) - Q3", size=466560,
         local=PKG_DATA / "kepler_Kepler-90_KIC11442793_Q3_kplr011442793-2009350155506_llc.fits"),
    dict(obs_id=_KEPLER_OBS, target_name="kplr011442793", project="Kepler", obs_collection="Kepler",
         provenance_name="Kepler", sequence_number=None, t_exptime=1800.0, t_min=55182.5,
         productFilename="kplr011442793-2010009091648_llc.fits",
         dataURI="mast:KEPLER/url/missions/kepler/lightcurves/0114/011442793/kplr011442793-2010009091648_llc.fits",
         description="Lightcurve Long Cadence (CLC) - Q4", size=132480,
         local=PKG_DATA / "kepler_Kepler-90_KIC11442793_Q4_kplr011442793-2010009091648_llc.fits"),
    dict(obs_id=_KEPLER_OBS, target_name="kplr011442793", project="Kepler", obs_collection="Kepler",
         provenance_name="Kepler", sequence_number=None, t_exptime=1800.0, t_min=55182.5,
         productFilename="kplr011442793-2010174085026_llc.fits",
         dataURI="mast:KEPLER/url/missions/kepler/lightcurves/0114/011442793/kplr011442793-2010174085026_llc.fits",
         description="Lightcurve Long Cadence (CLC) - Q5", size=492480,
         local=PKG_DATA / "kepler_Kepler-90_KIC11442793_Q5_kplr011442793-2010174085026_llc.fits"),
    # WASP-18 = TIC 100100827: SPOC 2-min sector 2, TESS-SPOC 30-min FFI sector 3
    dict(obs_id="tess2018234235059-s0002-0000000100100827-0121-s", target_name="100100827",
         project="TESS", obs_collection="TESS", provenance_name="SPOC", sequence_number=2,
         t_exptime=120.0, t_min=58354.1,
         productFilename="tess2018234235059-s0002-0000000100100827-0121-s_lc.fits",
         dataURI="mast:TESS/product/tess2018234235059-s0002-0000000100100827-0121-s_lc.fits",
         description="Light curves", size=740160,
         local=PKG_DATA / "tess_WASP-18_TIC100100827_S2_lightkurve_2min.fits"),
    dict(obs_id="hlsp_tess-spoc_tess_phot_0000000100100827-s0003_tess_v1_tp-lc",
         target_name="100100827", project="TESS", obs_collection="HLSP", provenance_name="TESS-SPOC",
         sequence_number=3, t_exptime=1800.0, t_min=58381.0,
         productFilename="hlsp_tess-spoc_tess_phot_0000000100100827-s0003_tess_v1_lc.fits",
         dataURI="mast:HLSP/tess-spoc/s0003/target/0000/0001/0010/0827/hlsp_tess-spoc_tess_phot_0000000100100827-s0003_tess_v1_lc.fits",
         description="FITS", size=161280,
         local=TESTS_DATA / "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits"),
]
# what MAST's name resolver answers, as exact target names
RESOLVER = {"kepler-90": "kplr011442793", "kic 11442793": "kplr011442793",
            "wasp-18": "100100827", "tic 100100827": "100100827"}
_OBS_COLS = ("obs_id", "target_name", "project", "obs_collection", "provenance_name",
             "sequence_number", "t_exptime", "t_min")
_PROD_COLS = ("obs_id", "productFilename", "dataURI", "description", "size")


class FakeMast:
    """Stands in for astroquery.mast.Observations' two search requests; counts them."""

    def __init__(self):
        self.calls = 0
        self.fail_next = []  # exceptions to raise on the next calls

    def _table(self, rows, cols):
        from astropy.table import MaskedColumn, Table

        t = Table()
        for c in cols:
            vals = [r[c] for r in rows]
            if c == "sequence_number":
                t[c] = MaskedColumn([v if v is not None else 0 for v in vals],
                                    mask=[v is None for v in vals], dtype=int)
            elif c in ("t_exptime", "t_min"):
                t[c] = np.array(vals, dtype=float)
            elif c == "size":
                t[c] = np.array(vals, dtype=int)
            else:
                t[c] = np.array(vals, dtype=str) if vals else np.array([], dtype=str)
        return t

    def query_criteria(self, **criteria):
        self.calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        if "target_name" in criteria:
            name = criteria["target_name"]
            distance = None
        else:
            from astroquery.exceptions import ResolverError

            key = " ".join(str(criteria["objectname"]).lower().split())
            if key not in RESOLVER:
                raise ResolverError(f"Could not resolve {criteria['objectname']} to a sky position.")
            name = RESOLVER[key]
            distance = 0.0
        projects = [p.lower() for p in np.atleast_1d(criteria.get("project", ["Kepler", "K2", "TESS"]))]
        seq = criteria.get("sequence_number")
        prov = criteria.get("provenance_name")
        rows, seen = [], set()
        for r in PRODUCTS:
            if r["target_name"] != name or r["project"].lower() not in projects:
                continue
            if seq is not None and r["sequence_number"] not in np.atleast_1d(seq):
                continue
            if prov is not None and r["provenance_name"].lower() not in [p.lower() for p in np.atleast_1d(prov)]:
                continue
            if r["obs_id"] not in seen:
                seen.add(r["obs_id"])
                rows.append(r)
        t = self._table(rows, _OBS_COLS)
        if distance is not None:
            t["distance"] = np.zeros(len(t))
        return t

    def get_product_list(self, observations):
        self.calls += 1
        if self.fail_next:
            raise self.fail_next.pop(0)
        ids = set(np.asarray(observations["obs_id"]).astype(str))
        return self._table([r for r in PRODUCTS if r["obs_id"] in ids], _PROD_COLS)


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    plan: dict = {}  # file name -> list of actions for the next requests: "503", "cut"
    log: list = []

    def do_GET(self):  # noqa: N802 - http.server API
        uri = parse_qs(urlparse(self.path).query).get("uri", [""])[0]
        name = uri.rsplit("/", 1)[-1]
        self.log.append(name)
        if name not in self.files:
            self.send_response(404)
            self.end_headers()
            return
        actions = self.plan.get(name) or []
        action = actions.pop(0) if actions else "ok"
        if action == "503":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.files[name].read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if action == "cut" else body)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def mast_http():
    """A stand-in for MAST's download service on 127.0.0.1 serving the real FITS files."""
    _Handler.files = {r["productFilename"]: r["local"] for r in PRODUCTS}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v0.1/Download/file"
    server.shutdown()
    server.server_close()


@pytest.fixture
def mast(monkeypatch, mast_http):
    """Online mode against the recorded search tables and the local download server."""
    import lightkurve
    from astroquery.mast import Observations

    fake = FakeMast()
    monkeypatch.setattr(Observations, "query_criteria", fake.query_criteria)
    monkeypatch.setattr(Observations, "get_product_list", fake.get_product_list)
    monkeypatch.setattr(fetch, "MAST_DOWNLOAD_URL", mast_http)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "0")
    lightkurve.search.search_lightcurve.cache_clear()  # lightkurve memoizes searches in memory
    _Handler.plan = {}
    _Handler.log = []
    fake.downloads = _Handler.log
    delays = []
    monkeypatch.setattr(_net, "_sleep", delays.append)
    fake.delays = delays
    yield fake
    lightkurve.search.search_lightcurve.cache_clear()


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or DNS look-up fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _forbid_search(monkeypatch):
    import lightkurve

    def boom(*a, **k):
        raise AssertionError("search_lightcurve called on a warm cache")
    monkeypatch.setattr(lightkurve, "search_lightcurve", boom)


# ------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------


def test_cold_then_warm_cache_makes_no_network_call(mast, monkeypatch, tmp_path):
    cache = tmp_path / "c"
    lc = fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=cache)
    assert mast.calls == 2  # query_criteria + get_product_list
    assert mast.downloads == ["kplr011442793-2009350155506_llc.fits"]
    # same form as read_lightcurve of the real file
    ref = read_lightcurve(PRODUCTS[0]["local"])
    assert lc.meta["target"] == "KIC 11442793" and lc.meta["quarter"] == 3
    assert lc.meta["mission"] == "Kepler" and lc.time.format == "bkjd"
    assert lc.meta["sha256"] == ref.meta["sha256"]
    assert np.allclose(lc.flux.value, ref.flux.value, equal_nan=True)
    assert np.allclose(lc.time.jd, ref.time.jd)
    assert abs(np.nanmedian(lc.flux.value) - 1) < 1e-12
    assert lc.meta["mast_uri"] == PRODUCTS[0]["dataURI"] and lc.meta["from_cache"] is False
    assert Path(lc.meta["source_file"]).is_relative_to(cache)
    assert not list(cache.rglob("*.part"))

    # warm: no socket, no search, even though online mode is on
    calls = mast.calls
    with monkeypatch.context() as m:
        _forbid_search(m)
        m.setattr(socket.socket, "connect", lambda *a: (_ for _ in ()).throw(AssertionError("socket")))
        m.setattr(socket, "getaddrinfo", lambda *a, **k: (_ for _ in ()).throw(AssertionError("dns")))
        lc2 = fetch.fetch_lightcurve("kepler-90", quarter=3, cache_dir=cache)  # name spelt differently
        lc3 = fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=cache, offline=True)
    assert mast.calls == calls and len(mast.downloads) == 1
    assert lc2.meta["from_cache"] and lc3.meta["from_cache"]
    assert np.array_equal(lc2.flux.value, lc.flux.value, equal_nan=True)

    table = fetch.cached_products(cache_dir=cache)
    assert list(table["filename"]) == ["kplr011442793-2009350155506_llc.fits"]
    assert table["size"][0] == 466560


def test_fetch_lightcurves_stitches_quarters_and_serves_narrower_queries_offline(mast, no_network_later, tmp_path):
    cache = tmp_path / "c"
    lc = fetch.fetch_lightcurves("KIC 11442793", cache_dir=cache)
    ref = read_lightcurves(sample_paths("kepler-90"))
    assert lc.meta["quarters"] == [3, 4, 5]
    assert len(lc) == len(ref)
    assert np.allclose(lc.flux.value, ref.flux.value, equal_nan=True)
    assert len(lc.meta["mast_uris"]) == 3
    assert sorted(mast.downloads) == sorted(r["productFilename"] for r in PRODUCTS[:3])
    no_network_later()
    # a narrower query (one quarter) is answered from the cached all-quarters search, offline
    q4 = fetch.fetch_lightcurve("KIC 11442793", quarter=4, cache_dir=cache, offline=True)
    assert q4.meta["quarter"] == 4 and q4.meta["from_cache"]
    # and a quarter the complete cached search does not list is "no data", not "offline"
    with pytest.raises(DataUnavailableError, match="cached search"):
        fetch.fetch_lightcurve("KIC 11442793", quarter=9, cache_dir=cache, offline=True)


@pytest.fixture
def no_network_later(monkeypatch):
    """Call the returned function to forbid all network access from then on."""
    def arm():
        def refuse(*args, **kwargs):
            raise AssertionError(f"network access attempted: {args[1:]!r}")
        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        _forbid_search(monkeypatch)
    return arm


def test_tess_sectors_from_two_pipelines(mast, tmp_path):
    lc = fetch.fetch_lightcurves("WASP-18", mission="TESS", cache_dir=tmp_path, progress=True)
    assert lc.meta["sectors"] == [2, 3]
    assert lc.meta["target"] == "TIC 100100827"
    s3 = fetch.fetch_lightcurve("WASP-18", sector=3, cache_dir=tmp_path)
    assert s3.meta["author"] == "TESS-SPOC" and s3.meta["exptime_s"] == 1800.0
    assert abs(s3.meta["cadence_min"] - 30) < 0.1
    # default choice among several products: the official SPOC one
    first = fetch.fetch_lightcurve("WASP-18", cache_dir=tmp_path)
    assert first.meta["author"] == "SPOC" and first.meta["sector"] == 2


def test_offline_without_cache_raises_fast_naming_the_query(no_network, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(OfflineError) as info:
        fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)  # env: offline
    assert time.perf_counter() - t0 < 1.0
    msg = str(info.value)
    assert "'Kepler-90'" in msg and "quarter=3" in msg and "offline" in msg
    with pytest.raises(ConnectionError):  # OfflineError is a ConnectionError too
        fetch.fetch_lightcurves("TIC 100100827", cache_dir=tmp_path, offline=True)


def test_offline_with_cached_search_but_missing_file_names_the_file(mast, monkeypatch, tmp_path):
    fetch.fetch_lightcurves("Kepler-90", cache_dir=tmp_path)
    (tmp_path / "mast" / "kepler" / "kplr011442793-2010009091648_llc.fits").unlink()
    monkeypatch.setattr(socket.socket, "connect", lambda *a: (_ for _ in ()).throw(AssertionError))
    t0 = time.perf_counter()
    with pytest.raises(OfflineError, match="kplr011442793-2010009091648_llc.fits"):
        fetch.fetch_lightcurves("Kepler-90", cache_dir=tmp_path, offline=True)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cached_file_is_downloaded_again_or_reported_offline(mast, tmp_path, damage):
    path = tmp_path / "mast" / "kepler" / "kplr011442793-2009350155506_llc.fits"
    fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)
    good = path.read_bytes()

    def spoil():
        if damage == "truncate":  # an interrupted copy
            path.write_bytes(good[:20000])
        else:  # same size, one data byte changed: caught by the recorded sha256
            b = bytearray(good)
            b[-5000] ^= 0xFF
            path.write_bytes(bytes(b))

    spoil()
    with pytest.raises(OfflineError, match="corrupt"):
        fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path, offline=True)
    assert path.exists()  # offline never deletes
    lc = fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)
    assert len(mast.downloads) == 2 and lc.meta["from_cache"] is False
    assert path.read_bytes() == good


def test_transient_http_errors_are_retried_with_backoff(mast, tmp_path):
    _Handler.plan = {"kplr011442793-2009350155506_llc.fits": ["503", "cut"]}
    lc = fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)
    assert mast.downloads == ["kplr011442793-2009350155506_llc.fits"] * 3
    assert mast.delays == [2.0, 4.0]  # exponential backoff
    assert lc.meta["quarter"] == 3


def test_persistent_failure_raises_archive_connection_error_and_leaves_no_file(mast, tmp_path):
    _Handler.plan = {"kplr011442793-2009350155506_llc.fits": ["cut", "503", "cut", "503"]}
    with pytest.raises(ArchiveConnectionError, match="MAST could not be reached .* 3 attempt") as info:
        fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path, retries=2)
    assert "kplr011442793-2009350155506_llc.fits" in str(info.value)
    assert isinstance(info.value, ConnectionError)
    assert mast.delays == [2.0, 4.0]
    folder = tmp_path / "mast" / "kepler"
    assert not folder.exists() or not any(folder.iterdir())  # no partial file, no .part


def test_search_connection_errors_are_retried(mast, tmp_path):
    import requests

    mast.fail_next = [requests.exceptions.ConnectionError("Connection reset by peer")]
    lc = fetch.fetch_lightcurve("WASP-18", sector=2, cache_dir=tmp_path)
    assert lc.meta["sector"] == 2 and mast.delays == [2.0]
    mast.fail_next = [requests.exceptions.ReadTimeout("read timed out")] * 4
    with pytest.raises(ArchiveConnectionError, match="light-curve search"):
        fetch.fetch_lightcurve("WASP-18", sector=3, cache_dir=tmp_path, refresh=True)


def test_permanent_errors_are_not_retried(mast, tmp_path):
    mast.fail_next = [ValueError("Invalid column name")]
    with pytest.raises(ValueError, match="Invalid column"):
        fetch.fetch_lightcurve("WASP-18", sector=2, cache_dir=tmp_path)
    assert mast.delays == []


def test_no_data_for_request(mast, tmp_path):
    with pytest.raises(DataUnavailableError, match="no Kepler/K2/TESS light curve of 'Kepler-90' .*sector=5"):
        fetch.fetch_lightcurve("Kepler-90", sector=5, cache_dir=tmp_path)
    with pytest.raises(DataUnavailableError, match="Not-A-Star-123"):  # MAST cannot resolve it
        fetch.fetch_lightcurve("Not-A-Star-123", cache_dir=tmp_path)
    with pytest.raises(LookupError):
        fetch.fetch_lightcurves("WASP-18", author="QLP", cache_dir=tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    (dict(sector=2, mission="Kepler"), "applies to TESS"),
    (dict(sector=2, quarter=3), "at most one"),
    (dict(mission="Hubble"), "not one of"),
    (dict(exptime="medium"), "exptime"),
    (dict(quarter=-1), "non-negative"),
    (dict(author="SPOC' OR 1=1"), "author"),
])
def test_invalid_parameters(kwargs, match, tmp_path):
    with pytest.raises(InvalidParameterError, match=match):
        fetch.fetch_lightcurve("Kepler-90", cache_dir=tmp_path, **kwargs)


def test_corrupt_index_is_rebuilt(mast, tmp_path):
    (tmp_path / "mast").mkdir(parents=True)
    (tmp_path / "mast" / "index.json").write_text("{not json")
    lc = fetch.fetch_lightcurve("Kepler-90", quarter=5, cache_dir=tmp_path)
    assert lc.meta["quarter"] == 5


@pytest.mark.remote_data
def test_live_fetch_matches_the_official_file(tmp_path):
    lc = fetch.fetch_lightcurve("KIC 11442793", quarter=3, cache_dir=tmp_path, offline=False)
    ref = read_lightcurve(PRODUCTS[0]["local"])
    assert lc.meta["sha256"] == ref.meta["sha256"]
    again = fetch.fetch_lightcurve("KIC 11442793", quarter=3, cache_dir=tmp_path, offline=True)
    assert again.meta["from_cache"]


@pytest.mark.remote_data
def test_live_fetch_lightcurves_tess(tmp_path):
    lc = fetch.fetch_lightcurves("WASP-18", sector=[2, 3], author="SPOC", cache_dir=tmp_path,
                                 offline=False)
    assert lc.meta["sectors"] == [2, 3]
    with pytest.raises(DataUnavailableError):
        fetch.fetch_lightcurve("WASP-18", sector=1, author="SPOC", cache_dir=tmp_path, offline=False)


def test_fetch_products_lists_files(mast, tmp_path):
    t = fetch.fetch_products("WASP-18", cache_dir=tmp_path)
    assert list(t["segment"]) == [2, 3] and list(t["author"]) == ["SPOC", "TESS-SPOC"]
    assert not any(t["from_cache"]) and t["n_cadences"][0] > 1000
    again = fetch.fetch_products("WASP-18", cache_dir=tmp_path, offline=True)
    assert all(again["from_cache"])


def test_refresh_keeps_imported_files_and_downloads_only_the_rest(mast, no_network_later, tmp_path):
    # Q3 filed by hand (astrotinyml cache import); MAST lists Q3-Q5: the imported Q3 is used,
    # MAST's Q3 is not downloaded, and the new search keeps the imported product.
    q3 = PRODUCTS[0]["local"]
    fetch.import_to_cache(q3, cache_dir=tmp_path)
    only = fetch.fetch_lightcurves("KIC 11442793", cache_dir=tmp_path)  # the import's entry answers
    assert only.meta["quarter"] == 3 and mast.calls == 0
    lc = fetch.fetch_lightcurves("KIC 11442793", cache_dir=tmp_path, refresh=True)
    assert mast.calls == 2
    assert sorted(mast.downloads) == sorted(r["productFilename"] for r in PRODUCTS[1:3])
    ref = read_lightcurves(sample_paths("kepler-90"))
    assert lc.meta["quarters"] == [3, 4, 5] and len(lc) == len(ref)
    assert np.array_equal(lc.time.jd, ref.time.jd)
    assert lc.meta["mast_uris"][0] == q3.resolve().as_uri()
    no_network_later()
    again = fetch.fetch_lightcurves("kplr011442793", cache_dir=tmp_path, offline=True)
    assert again.meta["quarters"] == [3, 4, 5]
