"""Filing local light-curve files into the MAST cache (``import_to_cache``, ``astrotinyml cache``).

Everything here is offline and uses the real files bundled with the package and the tests:
an imported file must then be served by ``fetch_lightcurves`` exactly like a download.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from astrotinyml.remote import mast as fetch
from astrotinyml.apps.cli import main
from astrotinyml.errors import (
    DataUnavailableError,
    InvalidParameterError,
    LightCurveFormatError,
    OfflineError,
    TimeFormatError,
)
from astrotinyml.io import read_lightcurve, read_lightcurves, time_format_from_label

REPO = Path(__file__).resolve().parent.parent
PKG_DATA = REPO / "astrotinyml" / "data"
TESTS_DATA = REPO / "tests" / "data"
MALFORMED = TESTS_DATA / "malformed" / "test-lc-tess-pimen-corrupted.fits"
KEPLER90 = sorted(PKG_DATA.glob("kepler_Kepler-90_*.fits"))
EB_TXT = TESTS_DATA / "tess_TIC300293197_S1_EB_tessspoc_bin30min.txt"


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or DNS look-up fails the test: imports are served from disk."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _index(cache: Path) -> dict:
    return json.loads((cache / "mast" / "index.json").read_text())


def test_bundled_files_are_served_offline_like_downloads(tmp_path, no_network):
    cache = tmp_path / "cache"
    # the package's data directory: its manifest.csv names the targets ("Kepler-90 (KIC ...)")
    rows = fetch.import_to_cache(PKG_DATA, cache_dir=cache)
    assert set(rows["status"]) == {"imported"} and len(rows) == len(list(PKG_DATA.glob("*.fits")))
    k90 = rows[rows["target"] == "KIC 11442793"]
    assert list(k90["segment"]) == ["Q3", "Q4", "Q5"] and set(k90["mission"]) == {"Kepler"}
    assert set(k90["author"]) == {"Kepler"}
    assert "Kepler-90" in k90["names"][0] and "KOI-351" in k90["names"][0]

    lc = fetch.fetch_lightcurves("KIC 11442793", cache_dir=cache, offline=True)
    ref = read_lightcurves(KEPLER90)
    assert lc.meta["quarters"] == [3, 4, 5] and lc.meta["target"] == "KIC 11442793"
    assert lc.meta["from_cache"] is True and lc.meta["author"] == "Kepler"
    assert len(lc) == len(ref)
    assert np.array_equal(lc.time.jd, ref.time.jd)
    assert np.allclose(lc.flux.value, ref.flux.value, equal_nan=True)
    assert lc.meta["mast_uris"] == [p.resolve().as_uri() for p in KEPLER90]
    assert all(Path(p).is_relative_to(cache / "mast" / "kepler") for p in lc.meta["source_files"])

    # every spelling of every name of the star, and narrower queries, from the same entries
    for name in ("kplr011442793", "KIC11442793", "Kepler-90", "koi-351"):
        again = fetch.fetch_lightcurves(name, cache_dir=cache, offline=True)
        assert again.meta["quarters"] == [3, 4, 5] and again.meta["query_target"] == name
    q4 = fetch.fetch_lightcurve("KIC 11442793", quarter=4, cache_dir=cache, offline=True)
    direct = read_lightcurve(KEPLER90[1])
    assert q4.meta["quarter"] == 4 and np.array_equal(q4.time.jd, direct.time.jd)
    assert q4.meta["sha256"] == direct.meta["sha256"]
    with pytest.raises(DataUnavailableError):  # a quarter nobody imported is "no data"
        fetch.fetch_lightcurve("KIC 11442793", quarter=9, cache_dir=cache, offline=True)

    table = fetch.fetch_products("Kepler-90", cache_dir=cache, offline=True)
    assert list(table["segment"]) == [3, 4, 5] and all(table["from_cache"])
    listed = fetch.cached_products(cache_dir=cache)
    assert set(listed["origin"]) == {"import"} and "KIC 11442793" in set(listed["target"])
    assert not list(cache.rglob("*.part"))


def test_a_spoilt_imported_copy_is_reported_not_downloaded(tmp_path, no_network):
    cache = tmp_path / "cache"
    fetch.import_to_cache(KEPLER90[0], cache_dir=cache)
    cached = cache / "mast" / "kepler" / KEPLER90[0].name
    good = cached.read_bytes()
    spoilt = bytearray(good)
    spoilt[-5000] ^= 0xFF  # same size: only the recorded sha256 catches it
    cached.write_bytes(bytes(spoilt))
    with pytest.raises(OfflineError, match="corrupt.*cache import"):
        fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=True)
    with pytest.raises(DataUnavailableError, match="Import it again"):  # online: no MAST copy to get
        fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=False)
    assert cached.read_bytes() == bytes(spoilt)  # the evidence is kept
    rows = fetch.import_to_cache(KEPLER90[0], cache_dir=cache)  # importing again repairs it
    assert rows["status"][0] == "imported" and "damaged" in rows["note"][0]
    assert cached.read_bytes() == good
    assert fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=True).meta["quarter"] == 3


def test_manifest_gives_target_and_time_system_of_a_text_file(tmp_path, no_network):
    # A TESS text export renamed so that nothing in it or its name says its time system:
    # only the manifest's time_system column does, and the cached read must use it too.
    src = tmp_path / "src"
    src.mkdir()
    star = src / "star01.txt"
    shutil.copy(EB_TXT, star)
    with pytest.raises(TimeFormatError):
        read_lightcurve(star)
    manifest = src / "stars.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "target", "time_system"])
        w.writerow(["star01.txt", "TIC 300293197 (TOI-211)", "BTJD"])
    cache = tmp_path / "cache"
    rows = fetch.import_to_cache([], manifest=manifest, cache_dir=cache)  # every file it lists
    assert list(rows["status"]) == ["imported"] and rows["target"][0] == "TIC 300293197"
    assert rows["author"][0] == "local"

    ref = read_lightcurve(star, time_format="btjd")
    for name in ("TIC 300293197", "TOI-211"):
        lc = fetch.fetch_lightcurves(name, cache_dir=cache, offline=True)
        assert lc.meta["target"] == "TIC 300293197" and lc.meta["from_cache"] is True
        assert np.array_equal(lc.time.jd, ref.time.jd)
        assert np.allclose(lc.flux.value, ref.flux.value, equal_nan=True)
    entry = next(iter(_index(cache)["searches"].values()))
    assert entry["products"][0]["read_options"]["time_format"] == "btjd"


def test_directory_import_reports_a_malformed_file_and_imports_the_others(tmp_path, no_network):
    data = tmp_path / "data"
    data.mkdir()
    good = [TESTS_DATA / "k2_WASP-47_EPIC206103150_C3_ktwo_llc.fits",
            TESTS_DATA / "kepler_KIC1026032_Q17_enosair_sapflux.csv"]
    for f in good + [MALFORMED]:
        shutil.copy(f, data / f.name)
    (data / "README.txt").write_text("notes, not a light curve")
    cache = tmp_path / "cache"
    rows = fetch.import_to_cache(data, cache_dir=cache)
    assert len(rows) == 3  # the README is not a light curve
    status = {Path(r["path"]).name: r["status"] for r in rows}
    assert status == {good[0].name: "imported", good[1].name: "imported", MALFORMED.name: "failed"}
    bad = rows[rows["status"] == "failed"][0]
    assert MALFORMED.name in bad["error"] and "truncated" in bad["error"] and not bad["cached"]
    assert fetch.fetch_lightcurves("EPIC 206103150", cache_dir=cache, offline=True).meta["campaign"] == 3
    assert fetch.fetch_lightcurves("KIC 1026032", cache_dir=cache, offline=True).meta["quarter"] == 17
    assert len(fetch.cached_products(cache_dir=cache)) == 2

    # named directly, an unreadable file is the reader's error, and nothing is imported
    other = tmp_path / "other"
    with pytest.raises(LightCurveFormatError, match=MALFORMED.name):
        fetch.import_to_cache([good[0], MALFORMED], cache_dir=other)
    assert not (other / "mast" / "index.json").exists()


def test_reimport_is_idempotent(tmp_path):
    cache = tmp_path / "cache"
    fetch.import_to_cache(KEPLER90, cache_dir=cache)
    index = cache / "mast" / "index.json"
    before, mtime = index.read_bytes(), index.stat().st_mtime_ns
    rows = fetch.import_to_cache(KEPLER90, cache_dir=cache)
    assert set(rows["status"]) == {"unchanged"}
    assert index.read_bytes() == before and index.stat().st_mtime_ns == mtime
    products = next(iter(_index(cache)["searches"].values()))["products"]
    assert [p["segment"] for p in products] == [3, 4, 5]  # listed once each
    assert len(fetch.cached_products(cache_dir=cache)) == 3


def test_same_name_is_never_clobbered(tmp_path):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(KEPLER90[0], a / "lc.fits")  # KIC 11442793
    shutil.copy(PKG_DATA / "kepler_KIC2306740_EB_Q2_kplr002306740-2009259160929_llc.fits", b / "lc.fits")
    fetch.import_to_cache(a / "lc.fits", cache_dir=cache)
    rows = fetch.import_to_cache(b / "lc.fits", cache_dir=cache)  # another star, same name
    assert rows["status"][0] == "imported" and rows["cached"][0] == "mast/kepler/lc+kic_2306740.fits"
    assert "lc+kic_2306740.fits" in rows["note"][0]
    k90 = fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=True)
    eb = fetch.fetch_lightcurve("KIC 2306740", cache_dir=cache, offline=True)
    assert k90.meta["sha256"] == read_lightcurve(a / "lc.fits").meta["sha256"]
    assert eb.meta["sha256"] == read_lightcurve(b / "lc.fits").meta["sha256"]
    assert fetch.import_to_cache(b / "lc.fits", cache_dir=cache)["status"][0] == "unchanged"

    # other bytes under the same name for the same star: refused unless replace=True
    shutil.copy(KEPLER90[1], a / "lc.fits")
    with pytest.raises(InvalidParameterError, match="replace"):
        fetch.import_to_cache(a / "lc.fits", cache_dir=cache)
    assert fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=True).meta["quarter"] == 3
    rows = fetch.import_to_cache(a / "lc.fits", cache_dir=cache, replace=True)
    assert rows["status"][0] == "replaced"
    assert fetch.fetch_lightcurve("KIC 11442793", cache_dir=cache, offline=True).meta["quarter"] == 4


def test_a_target_contradicting_the_file_fails(tmp_path):
    with pytest.raises(InvalidParameterError, match="KIC 11442793 but target= says KIC 1"):
        fetch.import_to_cache(KEPLER90[0], target="KIC 1", cache_dir=tmp_path)
    # another catalogue's name is an alias, not a contradiction
    rows = fetch.import_to_cache(KEPLER90[0], target="Kepler-90", cache_dir=tmp_path)
    assert rows["target"][0] == "KIC 11442793" and rows["names"][0] == "KIC 11442793; Kepler-90"


def test_hard_link_instead_of_copy(tmp_path):
    src = tmp_path / "src.fits"
    shutil.copy(KEPLER90[0], src)
    rows = fetch.import_to_cache(src, cache_dir=tmp_path / "cache", copy=False)
    cached = tmp_path / "cache" / rows["cached"][0]
    assert cached.read_bytes() == src.read_bytes()
    assert cached.stat().st_ino == src.stat().st_ino  # same file system here: no second copy


@pytest.mark.parametrize("own, text, primary, names, note", [
    ("KIC 11442793", "Kepler-90 (KIC 11442793; KOI-351)", "KIC 11442793",
     ["KIC 11442793", "Kepler-90", "KOI-351"], None),
    ("TIC 25375553", "WASP-111 (TIC 25375553; TOI-143)", "TIC 25375553",
     ["TIC 25375553", "WASP-111", "TOI-143"], None),
    ("EPIC 210490365", "K2-25 (EPIC 210490365)", "EPIC 210490365", ["EPIC 210490365", "K2-25"], None),
    ("kepler_EB-anon12_Q0-Q17_conor-or", "anonymous Kepler short-period EB #12 (KIC id not given in repo)",
     "kepler_EB-anon12_Q0-Q17_conor-or", ["kepler_EB-anon12_Q0-Q17_conor-or"], "no catalogue id"),
    ("kepler_EB-anon02_Q0-Q17_conor-or",
     "conor-or EB #02; probable KIC 8554005 (period match 3.1e-07 rel. to KEBC P=0.6083407 d)",
     "kepler_EB-anon02_Q0-Q17_conor-or", ["kepler_EB-anon02_Q0-Q17_conor-or"], "tentatively"),
    ("kepler_EB-anon49_Q0-Q17_conor-or",
     "anonymous Kepler EB #49 = probably KIC 7501230 (unique period match 0.8927503 d in KEBC)",
     "kepler_EB-anon49_Q0-Q17_conor-or", ["kepler_EB-anon49_Q0-Q17_conor-or"], "tentatively"),
    ("TIC 311381302", "TIC 311381302 (flaring M dwarf; TIC id ambiguous, see notes)", "TIC 311381302",
     ["TIC 311381302"], "tentatively"),
    ("mystar", "Kepler-90 (KIC 11442793)", "KIC 11442793", ["KIC 11442793", "Kepler-90"], None),
])
def test_target_names_from_real_manifest_texts(own, text, primary, names, note):
    # the target strings of ../shared/data/**/MANIFEST.csv, as the reader's own target sees them
    got_primary, got_names, notes = fetch._names_for(own, text, explicit=False, display="f")
    assert (got_primary, got_names) == (primary, names)
    assert (note is None and not notes) or (note is not None and any(note in n for n in notes))


def test_time_format_from_label_matches_the_manifests():
    labels = {"BKJD": "bkjd", "BTJD": "btjd", "BJD_TDB (full)": "bjd", "BJD (full)": "bjd",
              "BKJD (inferred: 120.5-1591)": "bkjd", "BKJD (inferred, 120.5-1591)": "bkjd",
              "BJD-2457000": "btjd", "MJD": "mjd", "": None, "unknown": None}
    for label, want in labels.items():
        assert time_format_from_label(label, path="x.txt") == want, label
    assert time_format_from_label("BKJD", path="kplr_llc.fits") is None  # FITS headers say it


def test_invalid_arguments(tmp_path):
    with pytest.raises(InvalidParameterError, match="no paths"):
        fetch.import_to_cache([], cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="time_format"):
        fetch.import_to_cache(KEPLER90[0], time_format="stardate", cache_dir=tmp_path)
    bad = tmp_path / "m.csv"
    bad.write_text("name,period\nx.fits,1.0\n")
    with pytest.raises(InvalidParameterError, match="'file' column"):
        fetch.import_to_cache([], manifest=bad, cache_dir=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidParameterError, match="no light-curve files"):
        fetch.import_to_cache(empty, cache_dir=tmp_path)


def test_cli_cache_import_list_and_fetch(tmp_path, capsys, no_network):
    cache = tmp_path / "cache"
    data = tmp_path / "data"
    data.mkdir()
    for f in KEPLER90:
        shutil.copy(f, data / f.name)
    shutil.copy(MALFORMED, data / MALFORMED.name)
    assert main(["cache", "import", str(data), "--cache-dir", str(cache)]) == 1  # one file failed
    out, err = capsys.readouterr()
    assert out.count("imported") >= 3 and "KIC 11442793" in out and "Q4" in out
    assert "4 file(s): 3 imported, 1 failed" in out
    assert err.count("\n") == 1 and MALFORMED.name in err and "Traceback" not in err

    star = tmp_path / "star01.txt"
    shutil.copy(EB_TXT, star)
    assert main(["cache", "import", str(star), "--target", "TIC 300293197", "--time-format", "btjd",
                 "--cache-dir", str(cache)]) == 0
    assert "1 file(s): 1 imported" in capsys.readouterr().out
    assert main(["cache", "import", str(star), "--target", "TIC 300293197", "--time-format", "btjd",
                 "--cache-dir", str(cache)]) == 0
    assert "1 unchanged" in capsys.readouterr().out

    assert main(["cache", "list", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "star01.txt" in out and "import" in out and "4 light-curve file(s)" in out
    assert main(["fetch", "KIC 11442793", "--offline", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert out.count("True") == 3  # three quarters, all from the cache

    # an unreadable file named directly: one line, no traceback, exit 1
    assert main(["cache", "import", str(MALFORMED), "--cache-dir", str(cache)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and MALFORMED.name in err and err.startswith("astrotinyml: error:")
