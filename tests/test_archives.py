"""Tests of astrotinyml.remote.archives: ADQL safety, cache, offline snapshots, units, ephemerides.

The NASA Exoplanet Archive is replaced at its request boundary, ``pyvo.dal.TAPService.search``,
by VOTable answers made from rows of the real archive exports bundled with the package (the
2025-10-04 snapshots); the ADQL text that would have been sent is recorded and checked.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import socket
import time
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.units import cds

from astrotinyml.remote import _net
from astrotinyml.remote import archives
from astrotinyml.errors import (
    ArchiveConnectionError,
    ArchiveSnapshotWarning,
    InvalidParameterError,
    OfflineError,
)

KEPLER90_PERIODS = [7.008218, 8.719801, 59.737144, 91.940125, 124.922516, 210.601384, 331.597273]
KEPLER90_EPOCHS_BKJD = [137.67164, 139.52134, 158.95974, 134.30000, 129.72950, 147.05687, 140.49893]
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _raw_rows(kind):
    path = archives.SNAPSHOT_DIR / archives._TABLES[kind][1]
    with gzip.open(path, "rt") as fh:
        return list(csv.DictReader(ln for ln in fh if not ln.startswith("#")))


def _votable_answer(rows, columns):
    """A TAP answer as the archive sends it: a VOTable, serialised and parsed back."""
    import pyvo
    from astropy.io.votable import from_table, parse
    from astropy.table import Table

    if not rows:
        table = Table([np.zeros(0, float) for _ in columns], names=columns)
    else:
        table = Table(rows=[[r[c] for c in columns] for r in rows], names=columns)
    for c in columns:  # numbers as numbers, as in the archive's VOTable
        if table[c].dtype.kind in "US":
            try:
                table[c] = np.array([float(v) if v != "" else np.nan for v in table[c]])
            except ValueError:
                pass
    buf = io.BytesIO()
    from_table(table).to_xml(buf)
    buf.seek(0)
    return pyvo.dal.TAPResults(parse(buf))


def _empty_answer(adql):
    cols = re.match(r"SELECT (?:TOP \d+ )?(.*?) FROM", adql).group(1).split(", ")
    return [], cols


class FakeTAP:
    def __init__(self, answer=None):
        self.queries = []
        self.fail_next = []
        self.answer = answer or _empty_answer

    def search(self, service, query, language="ADQL", **kw):
        self.queries.append(query)
        if self.fail_next:
            raise self.fail_next.pop(0)
        rows, columns = self.answer(query)
        return _votable_answer(rows, columns)


@pytest.fixture
def tap(monkeypatch):
    import pyvo

    fake = FakeTAP()
    monkeypatch.setattr(pyvo.dal.TAPService, "search", lambda self, q, **kw: fake.search(self, q, **kw))
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "0")
    delays = []
    monkeypatch.setattr(_net, "_sleep", delays.append)
    fake.delays = delays
    return fake


def _koi_answer(host):
    def answer(adql):
        cols = archives._default_columns("koi")
        rows = [r for r in _raw_rows("koi") if r["kepler_name"].startswith(host + " ")]
        if "ORDER BY koi_period" in adql:  # what the archive does with the ORDER BY
            rows.sort(key=lambda r: float(r["koi_period"]))
        else:
            rows.sort(key=lambda r: r["kepoi_name"])
        return rows, cols
    return answer


def _forbid_network(monkeypatch):
    import pyvo

    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(pyvo.dal.TAPService, "search", refuse)


# ------------------------------------------------------------------------------------------
# injection safety
# ------------------------------------------------------------------------------------------

INJECTION = "x' OR 1=1 --"


def _outside_literals(adql):
    return _QUOTED.sub("<lit>", adql)


def test_injection_in_host_name_stays_one_literal(tap):
    t = archives.query_planets(INJECTION, columns=["pl_name", "hostname"])
    assert len(t) == 0
    (adql,) = tap.queries
    assert adql == ("SELECT pl_name, hostname FROM pscomppars WHERE "
                    "(hostname = 'x'' OR 1=1 --' OR pl_name = 'x'' OR 1=1 --') ORDER BY pl_name ASC")
    literals = _QUOTED.findall(adql)
    assert literals == ["'x'' OR 1=1 --'"] * 2
    assert literals[0][1:-1].replace("''", "'") == INJECTION  # the value, intact
    assert "1=1" not in _outside_literals(adql) and "--" not in _outside_literals(adql)


@pytest.mark.parametrize("call", [
    lambda: archives.query_koi(INJECTION, columns=["kepoi_name"]),
    lambda: archives.query_koi("Kepler-90 b' OR 'a'='a", columns=["kepoi_name"]),
    lambda: archives.query_planets(facility=INJECTION, method="Transit'; DROP TABLE ps; --",
                                   columns=["pl_name"]),
    lambda: archives.query_toi(disposition="PC", period_min=1, columns=["toi"]),
])
def test_generated_adql_has_only_quoted_user_values(tap, call):
    call()
    adql = tap.queries[-1]
    outside = _outside_literals(adql)
    assert not re.search(r"1=1|--|;|DROP|'a'", outside), adql
    assert outside.count("<lit>") == len(_QUOTED.findall(adql))


def test_koi_names_become_prefix_literals(tap):
    archives.query_koi("Kepler-90", columns=["kepoi_name"])
    archives.query_koi("KOI-351", columns=["kepoi_name"])
    archives.query_koi("KIC 11442793", columns=["kepoi_name"])
    archives.query_toi("TOI-1130", columns=["toi"])
    assert [q.split(" WHERE ")[1] for q in tap.queries] == [
        "kepler_name LIKE 'Kepler-90 %' ORDER BY kepoi_name ASC",
        "kepoi_name LIKE 'K00351.%' ORDER BY kepoi_name ASC",
        "kepid = 11442793 ORDER BY kepoi_name ASC",
        "toi >= 1130.0 AND toi < 1131.0 ORDER BY toi ASC",
    ]


@pytest.mark.parametrize("kwargs, match", [
    (dict(columns=["pl_name; DROP TABLE ps"]), "not a valid column"),
    (dict(columns=["pl_name", "password"]), "not a known column"),
    (dict(order_by="pl_name desc; --"), "order_by"),
    (dict(order_by="(select 1)"), "order_by"),
    (dict(period_min="1 OR 1=1"), "number"),
    (dict(period_min=float("nan")), "finite"),
    (dict(period_max=np.inf), "finite"),
    (dict(period_min=5, period_max=1), "larger"),
    (dict(limit=True), "limit"),
    (dict(limit="10; --"), "limit"),
    (dict(limit=0), "limit"),
    (dict(target="Kepler-90\n OR 1=1"), "control characters"),
    (dict(target="x" * 300), "longer"),
    (dict(method="Transit\x00"), "control characters"),
])
def test_bad_values_and_identifiers_are_refused(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        archives.query_planets(offline=True, **kwargs)


def test_like_wildcards_and_bad_dispositions_are_refused():
    with pytest.raises(InvalidParameterError, match="'%'"):
        archives.query_koi("Kepler-%", offline=True)
    with pytest.raises(InvalidParameterError, match="disposition"):
        archives.query_koi(disposition="CONFIRMED' OR '1'='1", offline=True)
    with pytest.raises(InvalidParameterError, match="TIC id"):
        archives.query_toi("WASP-18", offline=True)


def test_injection_offline_matches_nothing():
    with pytest.warns(ArchiveSnapshotWarning):
        assert len(archives.query_koi(INJECTION, offline=True)) == 0
    with pytest.warns(ArchiveSnapshotWarning):
        assert len(archives.query_planets(INJECTION, offline=True)) == 0


# ------------------------------------------------------------------------------------------
# online answers, cache and expiry
# ------------------------------------------------------------------------------------------


def test_online_answer_is_cached_and_reused_without_network(tap, monkeypatch, tmp_path):
    tap.answer = _koi_answer("Kepler-90")
    t = archives.query_koi("Kepler-90", cache_dir=tmp_path, order_by="koi_period")
    assert len(tap.queries) == 1
    assert t.meta["source"] == "NASA Exoplanet Archive TAP"
    assert np.allclose(t["koi_period"].value, KEPLER90_PERIODS, atol=1e-5)
    assert t["koi_period"].unit == u.d and t["koi_depth"].unit == cds.ppm
    assert t["koi_duration"].unit == u.h and t["koi_prad"].unit == u.earthRad
    assert list(t["kepler_name"]) == [f"Kepler-90 {c}" for c in "bcdefgh"]
    assert list((tmp_path / "archive").glob("koi-*.ecsv"))

    with monkeypatch.context() as m:
        _forbid_network(m)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a fresh cache hit warns about nothing
            again = archives.query_koi("Kepler-90", cache_dir=tmp_path, order_by="koi_period")
            off = archives.query_koi("Kepler-90", cache_dir=tmp_path, order_by="koi_period",
                                     offline=True)
    assert again.meta["source"] == "cache" and off.meta["source"] == "cache"
    assert np.array_equal(again["koi_period"], t["koi_period"])
    assert again["koi_depth"].unit == cds.ppm

    # expired: asked again online
    archives.query_koi("Kepler-90", cache_dir=tmp_path, order_by="koi_period", max_age=0)
    assert len(tap.queries) == 2
    # expired and offline: served with a warning saying how old it is
    with pytest.warns(ArchiveSnapshotWarning, match=r"cache of \d{4}-\d\d-\d\d"):
        archives.query_koi("Kepler-90", cache_dir=tmp_path, order_by="koi_period", max_age=0,
                           offline=True)


def test_transient_tap_errors_are_retried(tap, tmp_path):
    from pyvo.dal import DALServiceError

    tap.answer = _koi_answer("Kepler-90")
    tap.fail_next = [DALServiceError("503 Service Unavailable"), ConnectionResetError("reset")]
    t = archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert len(t) == 7 and tap.delays == [2.0, 4.0]


def test_unreachable_archive_raises_or_falls_back_to_stale_cache(tap, tmp_path):
    import requests

    tap.answer = _koi_answer("Kepler-90")
    tap.fail_next = [requests.exceptions.ConnectTimeout("timed out")] * 4
    with pytest.raises(ArchiveConnectionError, match="NASA Exoplanet Archive could not be reached"):
        archives.query_koi("Kepler-90", cache_dir=tmp_path)
    archives.query_koi("Kepler-90", cache_dir=tmp_path)  # fills the cache
    tap.fail_next = [requests.exceptions.ConnectTimeout("timed out")] * 4
    with pytest.warns(ArchiveSnapshotWarning, match="could not be reached"):
        t = archives.query_koi("Kepler-90", cache_dir=tmp_path, max_age=0)
    assert len(t) == 7 and t.meta["source"] == "cache (expired)"


def test_permanent_tap_error_is_not_retried(tap, tmp_path):
    from pyvo.dal import DALQueryError

    tap.fail_next = [DALQueryError("ORA-00904: invalid identifier")]
    # one project error naming the query (issue 14, point 11), raised from pyvo's
    with pytest.raises(archives.ArchiveQueryError, match="cumulative query: DALQueryError") as info:
        archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert isinstance(info.value.__cause__, DALQueryError)
    assert tap.delays == []


def test_corrupt_cache_entry_is_ignored(tap, tmp_path):
    tap.answer = _koi_answer("Kepler-90")
    archives.query_koi("Kepler-90", cache_dir=tmp_path)
    (path,) = (tmp_path / "archive").glob("koi-*.ecsv")
    path.write_text("# %ECSV 1.0\n garbage")
    t = archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert len(t) == 7 and len(tap.queries) == 2


# ------------------------------------------------------------------------------------------
# offline snapshots
# ------------------------------------------------------------------------------------------


def test_snapshot_fallback_kepler90(no_socket):
    t0 = time.perf_counter()
    with pytest.warns(ArchiveSnapshotWarning) as rec:
        t = archives.query_koi("Kepler-90", order_by="koi_period")
    assert time.perf_counter() - t0 < 5
    msg = str(rec[0].message)
    assert "2025-10-04" in msg and re.search(r"\d+ days old", msg) and "koi_cumulative" in msg
    assert t.meta["source"] == "snapshot"
    assert np.allclose(t["koi_period"].value, KEPLER90_PERIODS, atol=1e-5)
    assert np.allclose(t["koi_time0bk"].value, KEPLER90_EPOCHS_BKJD, atol=1e-4)
    assert set(t["koi_disposition"]) == {"CONFIRMED"}
    assert t["koi_period"].unit == u.d and t["koi_time0bk"].unit == u.d
    assert t["koi_depth"].unit == cds.ppm and t["koi_duration"].unit == u.h
    assert t["koi_period_err1"].unit == u.d
    assert t["ra"].unit == u.deg and t["koi_steff"].unit == u.K
    assert "Orbital Period" in t["koi_period"].info.description
    # the same rows through other spellings of the target
    with pytest.warns(ArchiveSnapshotWarning):
        assert len(archives.query_koi("KOI-351")) == 7
    with pytest.warns(ArchiveSnapshotWarning):
        assert len(archives.query_koi(11442793)) == 7
    with pytest.warns(ArchiveSnapshotWarning):
        one = archives.query_koi("Kepler-90 h")
    assert list(one["kepoi_name"]) == ["K00351.01"]
    with pytest.warns(ArchiveSnapshotWarning):  # "Kepler-9" must not match Kepler-90
        assert all(n.startswith("Kepler-9 ") for n in archives.query_koi("Kepler-9")["kepler_name"])


@pytest.fixture
def no_socket(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_snapshot_filters_match_an_independent_count(no_socket):
    rows = _raw_rows("koi")
    expect = [r for r in rows if r["koi_disposition"] in ("CONFIRMED", "CANDIDATE")
              and r["koi_period"] and 10 <= float(r["koi_period"]) <= 20]
    with pytest.warns(ArchiveSnapshotWarning):
        t = archives.query_koi(disposition=["confirmed", "candidate"], period_min=10,
                               period_max=20 * u.d, order_by="-koi_period")
    assert len(t) == len(expect) > 100
    assert np.all(np.diff(t["koi_period"].value) <= 0)
    with pytest.warns(ArchiveSnapshotWarning):
        top = archives.query_koi(disposition="false positive", limit=5, columns=["kepoi_name", "koi_period"])
    assert top.colnames == ["kepoi_name", "koi_period"] and len(top) == 5

    trows = _raw_rows("toi")
    expect_toi = [r for r in trows if r["tfopwg_disp"] in ("CP", "KP")]
    with pytest.warns(ArchiveSnapshotWarning):
        toi = archives.query_toi(disposition="confirmed")
    assert len(toi) == len(expect_toi)


def test_toi_snapshot(no_socket):
    with pytest.warns(ArchiveSnapshotWarning, match="toi.csv.gz exported 2025-10-04"):
        t = archives.query_toi("TOI-1130")
    assert list(t["toi"]) == sorted(t["toi"]) and len(t) >= 2
    assert all(1130 <= x < 1131 for x in t["toi"])
    assert set(int(x) for x in t["tid"]) == {254113311}
    assert t["pl_tranmid"].unit == u.d and t["pl_trandep"].unit == cds.ppm
    assert t["pl_trandurh"].unit == u.h
    assert np.all(t["pl_tranmid"].value > 2_400_000)  # full BJD
    with pytest.warns(ArchiveSnapshotWarning):
        w18 = archives.query_toi("TIC 100100827")
    assert np.isclose(w18["pl_orbper"][0].value, 0.941453, atol=1e-5)


def test_planets_snapshot_is_k2_only_and_says_so(no_socket):
    with pytest.warns(ArchiveSnapshotWarning, match="only transiting planets of the three missions"):
        t = archives.query_planets("K2-32")
    assert sorted(t["pl_name"]) == ["K2-32 b", "K2-32 c", "K2-32 d", "K2-32 e"]  # one row each
    assert t["pl_orbper"].unit == u.d and t["pl_trandur"].unit == u.h
    assert t["pl_trandep"].unit == u.percent
    assert np.all(np.isnan(t["pl_tranmid"].value))  # not in the snapshot: NaN, same columns
    assert t.colnames == list(archives._PLANET_COLUMNS)
    with pytest.warns(ArchiveSnapshotWarning):
        fac = archives.query_planets(facility="K2", period_min=1, period_max=2)
    assert len(fac) > 10 and np.all((fac["pl_orbper"].value >= 1) & (fac["pl_orbper"].value <= 2))


def test_offline_snapshot_is_fast_after_first_load(no_socket):
    with pytest.warns(ArchiveSnapshotWarning):
        archives.query_toi("TOI-1130")
    t0 = time.perf_counter()
    with pytest.warns(ArchiveSnapshotWarning):
        archives.query_toi("TOI-1130")
    assert time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------------------------------
# reference ephemerides
# ------------------------------------------------------------------------------------------


def test_reference_ephemerides_koi_epochs_are_full_bjd():
    with pytest.warns(ArchiveSnapshotWarning):
        ref = archives.reference_ephemerides(archives.query_koi("Kepler-90", order_by="koi_period"))
    assert ref.colnames == ["name", "host", "pl_orbper", "pl_tranmid", "pl_trandurh", "pl_orbpererr1",
                            "pl_tranmiderr1", "pl_trandep", "disposition", "catalog"]
    # The KOI table's 1-sigma errors of period and epoch (Kepler-90 h: 2.459e-4 d, 5.86e-4 d).
    h = int(np.argmax(ref["pl_orbper"].value))
    assert ref["pl_orbpererr1"][h].value == pytest.approx(2.459e-4)
    assert ref["pl_tranmiderr1"][h].value == pytest.approx(5.86e-4)
    assert np.allclose(ref["pl_tranmid"].value, np.array(KEPLER90_EPOCHS_BKJD) + 2454833.0, atol=1e-4)
    assert np.allclose(ref["pl_orbper"].value, KEPLER90_PERIODS, atol=1e-5)
    assert ref["pl_trandurh"].unit == u.h and ref["pl_trandep"].dtype.kind == "f"
    assert np.isclose(ref["pl_trandep"][-1], 8322.1)  # ppm, plain float
    assert set(ref["disposition"]) == {"confirmed"} and set(ref["host"]) == {"KIC 11442793"}


def test_reference_ephemerides_toi_and_planets():
    with pytest.warns(ArchiveSnapshotWarning):
        ref = archives.reference_ephemerides(archives.query_toi("TIC 100100827"))
    assert ref["name"][0] == "TOI-185.01" and ref["host"][0] == "TIC 100100827"
    assert ref["pl_tranmid"][0].value > 2_450_000 and ref["disposition"][0] == "confirmed"
    from astropy.table import QTable, Table

    # a pscomppars-like table: depth in % becomes ppm; a plain table is read in archive units
    q = QTable({"pl_name": ["WASP-18 b"], "hostname": ["WASP-18"], "pl_orbper": [0.94145] * u.d,
                "pl_tranmid": [2458375.169883] * u.d, "pl_trandur": [2.19] * u.h,
                "pl_trandep": [1.0] * u.percent})
    r = archives.reference_ephemerides(q)
    assert np.isclose(r["pl_trandep"][0], 10000.0) and r["catalog"][0] == "pscomppars"
    plain = Table({"kepoi_name": ["K00001.01"], "kepid": [11446443], "koi_period": [2.47],
                   "koi_time0bk": [122.76], "koi_duration": [1.74], "koi_depth": [14230.0],
                   "koi_disposition": ["FALSE POSITIVE"]})
    r = archives.reference_ephemerides(plain)
    assert np.isclose(r["pl_tranmid"][0].value, 2454955.76) and r["disposition"][0] == "false_positive"
    with pytest.raises(InvalidParameterError):
        archives.reference_ephemerides(Table({"a": [1]}))


# ------------------------------------------------------------------------------------------
# archive_summary
# ------------------------------------------------------------------------------------------


def test_archive_summary_offline_raises_at_once(no_socket):
    t0 = time.perf_counter()
    with pytest.raises(OfflineError, match="archive_summary"):
        archives.archive_summary("Kepler-90")
    assert time.perf_counter() - t0 < 1.0


def test_archive_summary_with_stand_in_services(tap, monkeypatch, tmp_path):
    """Stand-ins (not recordings) for MAST, IRSA and HEASARC; checks the assembly of the table."""
    from astropy.table import Table
    from astroquery.heasarc import Heasarc
    from astroquery.ipac.irsa import Irsa
    from astroquery.mast import Mast, Observations

    kepler90 = next(r for r in _raw_rows("koi") if r["kepoi_name"] == "K00351.01")
    tap.answer = _empty_answer  # not a pscomppars host in this stand-in
    seen = {}

    def resolve(name, **kw):
        from astropy.coordinates import SkyCoord
        seen["resolved"] = name
        return SkyCoord(float(kepler90["ra"]), float(kepler90["dec"]), unit="deg")

    def count(**criteria):
        seen.setdefault("mast", []).append(criteria["obs_collection"])
        return {"Kepler": 1, "K2": 0, "TESS": 6, "HST": 0}[criteria["obs_collection"]]

    def heasarc(position, catalog=None, radius=None, **kw):
        if catalog == "chanmaster":
            raise ValueError("catalog chanmaster is not available")
        return Table({"obsid": ["1"] if catalog == "xmmmaster" else []})

    monkeypatch.setattr(Mast, "resolve_object", resolve)
    monkeypatch.setattr(Observations, "query_criteria_count", count)
    monkeypatch.setattr(Irsa, "query_region", lambda c, **kw: Table({"ra": np.zeros(3)}))
    monkeypatch.setattr(Heasarc, "query_region", heasarc)
    t = archives.archive_summary("Kepler-90", cache_dir=tmp_path)
    assert seen["resolved"] == "Kepler-90" and t.meta["resolved_by"] == "MAST name resolver"
    assert np.isclose(t.meta["ra"], float(kepler90["ra"]))
    assert list(t["archive"]) == ["MAST"] * 4 + ["IRSA"] * 2 + ["HEASARC"] * 3
    assert list(t["n_products"]) == [1, 0, 6, 0, 3, 3, 1, -1, 0]
    assert "chanmaster" in t["error"][7] and t["error"][0] == ""
    assert t["fetch"][0] == "astrotinyml.fetch_lightcurves('Kepler-90', mission='Kepler')"
    compile(t["fetch"][3], "<snippet>", "exec")  # the snippets are valid Python
    compile(t["fetch"][4], "<snippet>", "exec")


# ------------------------------------------------------------------------------------------
# live (needs internet: pytest --remote-data)
# ------------------------------------------------------------------------------------------


@pytest.mark.remote_data
def test_live_koi_kepler90(tmp_path):
    t = archives.query_koi("Kepler-90", cache_dir=tmp_path, offline=False, order_by="koi_period")
    assert t.meta["source"] == "NASA Exoplanet Archive TAP"
    assert np.allclose(t["koi_period"].value[:7], KEPLER90_PERIODS, rtol=1e-4)


@pytest.mark.remote_data
def test_live_planets_and_toi(tmp_path):
    p = archives.query_planets("Kepler-90", cache_dir=tmp_path, offline=False)
    assert len(p) == 8 and p["pl_trandep"].unit == u.percent
    ref = archives.reference_ephemerides(p)
    assert np.all(ref["pl_tranmid"].value > 2_450_000)
    t = archives.query_toi("TOI-1130", cache_dir=tmp_path, offline=False)
    assert len(t) >= 2


@pytest.mark.remote_data
def test_live_archive_summary(tmp_path):
    t = archives.archive_summary("Kepler-90", cache_dir=tmp_path, offline=False)
    row = t[(t["archive"] == "MAST") & (t["collection"] == "Kepler")][0]
    assert row["n_products"] > 0, t


def test_query_catalog_dispatches():
    with pytest.warns(ArchiveSnapshotWarning):
        assert len(archives.query_catalog("KOI", "Kepler-90", offline=True)) == 7
    with pytest.raises(InvalidParameterError, match="catalog"):
        archives.query_catalog("exoplanets; --")
