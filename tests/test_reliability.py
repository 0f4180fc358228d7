"""Reliability: nothing lost, nothing hangs, one clear error for every bad input (issue 14).

One or more tests per point of the issue, named ``test_pNN_...`` (``benchmarks/reliability_table.py``
counts them into the "tried / handled cleanly" table).  Each reproduces the failure as it was
seen -- killed processes (a subprocess and SIGKILL at a chosen moment), servers on 127.0.0.1
that never answer or answer HTML / HTTP 400, a FIFO, /dev/zero behind a symlink, hostile file
names -- on real files (the bundled light curves, the shipped model and calibration), and
asserts the clean outcome.  Every test fails on the code before the fix.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from astrotinyml.remote import _net
from astrotinyml.remote import archives
from astrotinyml.remote import mast as fetch
from astrotinyml.errors import (
    ArchiveConnectionError,
    ArchiveQueryError,
    ArchiveSnapshotWarning,
    AstroTinyMLError,
    CalibrationDatabaseError,
    InvalidParameterError,
    LightCurveFileNotFoundError,
    LightCurveFormatError,
    ModelIntegrityError,
    OfflineError,
)
from astrotinyml.io import read_lightcurve

# the recorded MAST stand-ins of the fetch tests: real search code, real HTTP downloads from 127.0.0.1
from test_fetch import mast, mast_http  # noqa: F401  (fixtures)
from test_archives import tap  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
PKG_DATA = REPO / "astrotinyml" / "data"
KEPLER_Q3 = PKG_DATA / "kepler_Kepler-90_KIC11442793_Q3_kplr011442793-2009350155506_llc.fits"
WASP18 = PKG_DATA / "tess_WASP-18_TIC100100827_S2_lightkurve_2min.fits"
CORRUPT = DATA / "malformed" / "test-lc-tess-pimen-corrupted.fits"
PY = sys.executable


def _child(code: str, *, timeout: float = 30, env: dict | None = None, check: bool = False):
    """Run Python code in a fresh interpreter (its own limits, killable); return CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([PY, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env, check=check, cwd=str(REPO))


# ---------------------------------------------------------------------------------------------
# 1, 7: the calibration database
# ---------------------------------------------------------------------------------------------

def _stored_db(path: Path) -> Path:
    from astrotinyml.calibration.store import default_calibration, save_calibration

    save_calibration(default_calibration().copy_as_new(), db=path)
    return path


def test_p01_unwritable_database_fails_before_the_run(monkeypatch, tmp_path):
    """Writability is checked before minutes of detection, not after (no run is lost)."""
    from astrotinyml.calibration import reference_set
    from astrotinyml.calibration.fit import calibrate

    detect_module = sys.modules["astrotinyml.detection"]
    calls = []
    real = detect_module.detect

    @functools.wraps(real)
    def counting(source, **kw):
        calls.append(source)
        return real(source, **kw)

    monkeypatch.setattr(detect_module, "detect", counting)
    refs = reference_set("bundled", enrich=False)[:1]
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the database directory should be")  # unwritable even for root
    with pytest.raises(CalibrationDatabaseError, match="not_a_dir"):
        calibrate(refs, db=blocker / "cal.sqlite", progress=False)
    assert calls == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file modes")
def test_p01_read_only_database_file_is_refused_before_the_run(tmp_path):
    from astrotinyml.calibration._db import check_writable

    db = _stored_db(tmp_path / "ro.sqlite")
    db.chmod(0o444)
    with pytest.raises(CalibrationDatabaseError, match="cannot be written"):
        check_writable(db)


def test_p01_malformed_database_is_one_clear_error(tmp_path):
    from astrotinyml.calibration import _db as _caldb
    from astrotinyml.calibration.store import calibration_history, load_calibration

    db = _stored_db(tmp_path / "bad.sqlite")
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA journal_mode = DELETE")  # everything in the main file
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    con.close()
    raw = bytearray(db.read_bytes())
    page = int.from_bytes(raw[16:18], "big") or 65536
    start = (root - 1) * page
    raw[start:start + page] = b"\xa5" * page  # the schema survives; the runs table is garbage
    db.write_bytes(bytes(raw))
    for call in (lambda: calibration_history(db), lambda: load_calibration(db)):
        with pytest.raises(CalibrationDatabaseError, match="bad.sqlite"):
            call()
    # what the boundary stands in front of: SQLite's own exception
    with pytest.raises(sqlite3.DatabaseError):
        con = sqlite3.connect(str(db))
        con.execute("SELECT * FROM runs").fetchall()


def test_p07_read_only_commands_leave_a_foreign_file_alone(tmp_path):
    from astrotinyml.calibration.store import calibration_history, load_calibration

    foreign = tmp_path / "other.sqlite"
    con = sqlite3.connect(str(foreign))
    con.execute("CREATE TABLE notes (a TEXT)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    with pytest.raises(CalibrationDatabaseError, match="nothing was read or written"):
        calibration_history(foreign)
    assert foreign.read_bytes() == before
    assert sqlite3.connect(str(foreign)).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # our own database in rollback-journal mode: reading it does not switch it to WAL either
    db = _stored_db(tmp_path / "ours.sqlite")
    con = sqlite3.connect(str(db))
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()
    assert load_calibration(db).id
    assert sqlite3.connect(str(db)).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not Path(str(db) + "-wal").exists()


def test_p12_bad_json_in_a_database_row_names_the_file(tmp_path):
    from astrotinyml.calibration.store import load_calibration

    db = _stored_db(tmp_path / "rows.sqlite")
    con = sqlite3.connect(str(db))
    con.execute("UPDATE runs SET summary_json = '{\"truncated'")
    con.commit()
    con.close()
    with pytest.raises(CalibrationDatabaseError, match=r"rows\.sqlite: JSONDecodeError"):
        load_calibration(db)


def test_p12_truncated_shipped_calibration_json_names_the_file(monkeypatch, tmp_path):
    from astrotinyml.calibration import store as cal_module

    cut = tmp_path / "calibration.json"
    cut.write_text(cal_module.DEFAULT_CALIBRATION_PATH.read_text()[:5000])
    monkeypatch.setattr(cal_module, "DEFAULT_CALIBRATION_PATH", cut)
    with pytest.raises(CalibrationDatabaseError, match=r"calibration\.json: JSONDecodeError.*reinstall"):
        cal_module.default_calibration()


# ---------------------------------------------------------------------------------------------
# 2, 3: verified caches
# ---------------------------------------------------------------------------------------------

def test_p02_flipped_time_byte_in_a_cached_file_is_corruption_not_a_time_error(mast, tmp_path):
    from astropy.io import fits

    path = tmp_path / "mast" / "kepler" / "kplr011442793-2009350155506_llc.fits"
    fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)
    good = path.read_bytes()
    with fits.open(path) as hdul:
        offset, row = hdul[1]._data_offset, hdul[1].columns.dtype.itemsize
    spoilt = bytearray(good)
    spoilt[offset + row] ^= 0xFF  # the high byte of the second TIME value
    path.write_bytes(bytes(spoilt))
    with pytest.raises(OfflineError, match="corrupt.*sha256"):
        fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path, offline=True)
    lc = fetch.fetch_lightcurve("Kepler-90", quarter=3, cache_dir=tmp_path)  # online: repaired
    assert lc.meta["from_cache"] is False and path.read_bytes() == good
    assert mast.downloads.count(path.name) == 2


def test_p03_truncated_archive_cache_entry_is_not_served(tap, tmp_path, caplog, monkeypatch):
    from test_archives import _koi_answer

    tap.answer = _koi_answer("Kepler-90")
    first = archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert len(first) == 7 and first.meta["source"] != "cache"
    (entry,) = (tmp_path / "archive").glob("koi-*.ecsv")
    lines = entry.read_text().splitlines(keepends=True)
    entry.write_text("".join(lines[:-3]))  # cut at a line boundary: still parses
    again = archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert again.meta["source"] != "cache" and len(again) == 7 and len(tap.queries) == 2
    assert "do not match the checksum" in caplog.text
    entry.write_text("".join(entry.read_text().splitlines(keepends=True)[:-2]))
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "1")
    with pytest.warns(ArchiveSnapshotWarning, match="snapshot"):
        offline = archives.query_koi("Kepler-90", cache_dir=tmp_path)
    assert offline.meta["source"] == "snapshot" and len(offline) == 7


# ---------------------------------------------------------------------------------------------
# 4: the report set, killed at chosen moments
# ---------------------------------------------------------------------------------------------

_KILL_WRITER = """
import os, signal, sys
from pathlib import Path
from astrotinyml import atomic as _atomic

out = Path(sys.argv[1]); moment = sys.argv[2]
names = ["T.json", "T.pdf", "T.fits", "T.csv", "T_submission.zip"]
real_replace = os.replace
count = {"n": 0}

def replace(src, dst):
    real_replace(src, dst)
    if Path(dst).name in names:
        count["n"] += 1
        if moment == "between_renames" and count["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
with _atomic.atomic_paths({n: out / n for n in names}, overwrite=True) as tmp:
    for i, n in enumerate(names):
        tmp[n].write_text("new " + n)
        if moment == "while_writing" and i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("moment", ["while_writing", "between_renames"])
def test_p04_report_set_killed_is_old_or_new_never_a_mix(tmp_path, moment):
    from astrotinyml.atomic import atomic_paths

    out = tmp_path / "report"
    out.mkdir()
    names = ["T.json", "T.pdf", "T.fits", "T.csv", "T_submission.zip"]
    for n in names:
        (out / n).write_text("old " + n)
    (out / ".T.json.x1y2.part").write_text("left by an earlier kill")
    proc = subprocess.run([PY, "-c", _KILL_WRITER, str(out), moment], capture_output=True, text=True,
                          timeout=60, cwd=str(REPO))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the next write of the set (what write_report does) first completes or discards the killed one
    with atomic_paths({"extra": out / "T.txt"}, overwrite=True) as tmp:
        tmp["extra"].write_text("unrelated")
    with atomic_paths({n: out / n for n in names[:1]}, overwrite=True) as tmp:
        tmp[names[0]].write_text((out / names[0]).read_text())  # rewrite as it is
    contents = {(out / n).read_text().split()[0] for n in names}
    assert contents == ({"old"} if moment == "while_writing" else {"new"})
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["T.txt"])  # no temporaries left


def test_p04_write_report_leaves_no_staging_behind(tmp_path):
    from astrotinyml import detect
    from astrotinyml.report import write_report

    result = detect(read_lightcurve(WASP18), max_planets=1, search_passes=1)
    out = tmp_path / "r"
    write_report(result, out, formats=["json", "csv"])
    (out / ".set-killed").mkdir()
    (out / ".set-killed" / "TIC_100100827.json").write_text("half")  # uncommitted: discarded
    paths = write_report(result, out, formats=["json", "csv"], overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())
    assert json.loads(paths["json"].read_text())["target"] == "TIC 100100827"


# ---------------------------------------------------------------------------------------------
# 5, 6, 8: batches
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def thread_client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"})
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def test_p05_second_batch_into_the_same_directory_is_refused(tmp_path):
    from astrotinyml.apps.batch import LOCK_NAME, run_batch
    from astrotinyml.errors import BatchLockedError

    out = tmp_path / "batch"
    out.mkdir()
    holder = subprocess.Popen(
        [PY, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
                   "f.write('pid holder'); f.flush(); print('locked', flush=True); time.sleep(60)",
         str(out / LOCK_NAME)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        with pytest.raises(BatchLockedError, match="in use by another batch run"):
            run_batch([str(WASP18)], out_dir=out, workers=1, progress=False)
        assert time.perf_counter() - t0 < 5  # refused before any cluster starts
        assert not (out / "status.ecsv").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_p06_failed_targets_are_redone_and_the_key_has_the_model_bytes(thread_client, tmp_path):
    from astrotinyml.provenance import sha256_file
    from astrotinyml.apps.batch import model_identity, run_batch

    out = tmp_path / "batch"
    first = run_batch([str(CORRUPT)], out_dir=out, client=thread_client, progress=False)
    again = run_batch([str(CORRUPT)], out_dir=out, client=thread_client, progress=False)
    assert (first.n_failed, again.n_failed, again.n_skipped) == (1, 1, 0)
    files = model_identity()["model_files"]
    models = REPO / "astrotinyml" / "models"
    assert files and all(files[name] == sha256_file(models / name) for name in files)


def _detect_via_raw_read(source, **kwargs):
    """A detect_func that reads its input with a plain open() first (no regular-file gate)."""
    from astrotinyml import detect

    if str(source).endswith(".hang"):
        with open(source, "rb") as fh:  # a FIFO: blocks until a writer comes
            fh.read()
    return detect(source, **kwargs)


def test_p08_fifo_is_refused_and_a_hung_target_times_out(thread_client, tmp_path):
    from astrotinyml.apps.batch import run_batch

    fifo = tmp_path / "f.fits"
    os.mkfifo(fifo)
    result = _child(f"""
        from astrotinyml.io import read_lightcurve
        try:
            read_lightcurve({str(fifo)!r})
        except Exception as err:
            print(type(err).__name__, err)
    """, timeout=30)
    assert "LightCurveFormatError" in result.stdout and "named pipe" in result.stdout
    hang = tmp_path / "g.hang"
    os.mkfifo(hang)
    try:
        t0 = time.perf_counter()
        res = run_batch([str(fifo), str(hang)], out_dir=tmp_path / "b", client=thread_client,
                        detect_func=_detect_via_raw_read, target_timeout=3, progress=False)
        assert time.perf_counter() - t0 < 30
    finally:  # let the abandoned reader thread finish
        os.close(os.open(hang, os.O_WRONLY | os.O_NONBLOCK))
    types = dict(zip([Path(s).name for s in res.status["source"]], res.status["error_type"]))
    assert types == {"f.fits": "LightCurveFormatError", "g.hang": "TargetTimeoutError"}
    assert (tmp_path / "b" / "status.ecsv").exists() and res.n_failed == 2


# ---------------------------------------------------------------------------------------------
# 9: size and type before reading
# ---------------------------------------------------------------------------------------------

def test_p09_dev_zero_behind_a_csv_name_is_refused_without_reading(tmp_path):
    link = tmp_path / "z.csv"
    link.symlink_to("/dev/zero")
    result = _child(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a runaway read dies, not the machine
        from astrotinyml.io import read_lightcurve
        try:
            read_lightcurve({str(link)!r})
        except Exception as err:
            print(type(err).__name__, err)
    """, timeout=30)
    assert result.stdout.startswith("LightCurveFormatError ") and "z.csv: is a character device" in result.stdout


def test_p09_size_limit_and_the_given_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROTINYML_MAX_FILE_BYTES", str(100_000))
    with pytest.raises(LightCurveFormatError, match="ASTROTINYML_MAX_FILE_BYTES"):
        read_lightcurve(KEPLER_Q3)  # 466 kB
    monkeypatch.delenv("ASTROTINYML_MAX_FILE_BYTES")
    target = tmp_path / "blob"
    target.write_text("no light curve here\n")
    link = tmp_path / "given_name.csv"
    link.symlink_to(target)
    with pytest.raises(AstroTinyMLError, match="^given_name.csv:"):  # the link's name, not "blob"
        read_lightcurve(link)


# ---------------------------------------------------------------------------------------------
# 10, 13.9: deadlines and no network
# ---------------------------------------------------------------------------------------------

class _Silent:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def loopback(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "0")


def test_p10_a_server_that_never_answers_costs_the_deadline(loopback, monkeypatch, tmp_path):
    server = _Silent()
    monkeypatch.setattr(archives, "_tap_url", lambda: f"http://127.0.0.1:{server.port}/TAP")
    try:
        t0 = time.perf_counter()
        with pytest.raises(ArchiveConnectionError, match="within the 3 s deadline"):
            archives.query_koi("Kepler-90", cache_dir=tmp_path, timeout=3)
        took = time.perf_counter() - t0
    finally:
        server.close()
    assert took < 8, took  # one deadline, not 4 attempts x timeout + 14 s of backoff


def test_p13_9_no_network_fails_fast_once_and_falls_back_to_snapshots(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "0")
    monkeypatch.setenv("ASTROTINYML_NET_PROBE", "1")
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    lookups = []

    def offline_resolver(host, *args, **kwargs):  # what the OS resolver answers without network
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline_resolver)
    t0 = time.perf_counter()
    with pytest.raises(_net.NoNetworkError, match="^no network: MAST") as info:
        fetch.fetch_lightcurve("Kepler-90", cache_dir=tmp_path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    with pytest.warns(ArchiveSnapshotWarning, match="no network.*only transiting planets of the three missions"):
        planets = archives.query_planets("K2-32", cache_dir=tmp_path, columns=["pl_name"])
    assert planets.meta["source"] == "snapshot" and len(planets) == 4
    assert time.perf_counter() - t0 < 10 and len(lookups) == 1  # detected once, then remembered


def test_p13_9_offline_planets_hold_kepler_and_tess_planets_and_say_what_they_are(capsys):
    from astrotinyml.apps.cli import main

    with pytest.warns(ArchiveSnapshotWarning, match="not every confirmed planet"):
        k90 = archives.query_planets("Kepler-90", offline=True)
    assert sorted(k90["pl_name"]) == [f"Kepler-90 {c}" for c in "bcdefgh"]
    h = k90[k90["pl_name"] == "Kepler-90 h"][0]
    assert h["pl_orbper"].value == pytest.approx(331.6, abs=0.1) and h["pl_tranmid"].value > 2454900
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wasp18 = archives.query_planets("TIC 100100827", offline=True, columns=["pl_name", "pl_orbper"])
        assert main(["planets", "Kepler-90", "--offline", "--columns", "pl_name,pl_orbper"]) == 0
    assert wasp18["pl_orbper"][0].value == pytest.approx(0.94145, abs=1e-4)
    assert capsys.readouterr().out.count("Kepler-90 ") == 7


# ---------------------------------------------------------------------------------------------
# 11: tracebacks become the project's errors
# ---------------------------------------------------------------------------------------------

def test_p11_symlink_loop(tmp_path):
    (tmp_path / "a.fits").symlink_to(tmp_path / "b.fits")
    (tmp_path / "b.fits").symlink_to(tmp_path / "a.fits")
    with pytest.raises(LightCurveFileNotFoundError, match="loop of symbolic links"):
        read_lightcurve(tmp_path / "a.fits")


class _TapStandIn(http.server.BaseHTTPRequestHandler):
    answer = (400, "text/plain", b"bad query")

    def _reply(self):
        status, ctype, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("answer", [
    (400, "text/plain", b"ERROR: column pl_nosuch does not exist"),
    (200, "text/html", b"<html><body><h1>Scheduled maintenance</h1></body></html>"),
], ids=["http_400", "html_200"])
def test_p11_tap_answers_that_are_not_tables(loopback, monkeypatch, tmp_path, answer):
    _TapStandIn.answer = answer
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TapStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(archives, "_tap_url", lambda: f"http://127.0.0.1:{server.server_address[1]}/TAP")
    monkeypatch.setattr(_net, "_sleep", lambda s: None)
    try:
        with pytest.raises((ArchiveQueryError, ArchiveConnectionError), match="cumulative"):
            archives.query_koi("Kepler-90", cache_dir=tmp_path, timeout=10)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def model_copy(tmp_path):
    dest = tmp_path / "models"
    shutil.copytree(REPO / "astrotinyml" / "models", dest)
    registry = json.loads((dest / "registry.json").read_text())
    return dest, registry, registry["default"]


def test_p11_registry_without_input_spec(model_copy):
    from astrotinyml.classification import load_model

    dest, registry, name = model_copy
    del registry["models"][name]["input_spec"]
    (dest / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelIntegrityError, match="KeyError: 'input_spec'"):
        load_model(path=dest)


def test_p11_model_altered_together_with_its_registry_hash(model_copy):
    from astrotinyml.classification import load_model

    dest, registry, name = model_copy
    spec = registry["models"][name]["files"]["int8"]
    blob = bytearray((dest / spec["file"]).read_bytes())
    blob[500:800] = bytes(b ^ 0xFF for b in blob[500:800])
    (dest / spec["file"]).write_bytes(bytes(blob))
    spec["sha256"] = hashlib.sha256(blob).hexdigest()
    (dest / "registry.json").write_text(json.dumps(registry))
    with pytest.raises(ModelIntegrityError, match=spec["file"]):
        load_model(path=dest)


# ---------------------------------------------------------------------------------------------
# 12: the right message for what is really wrong
# ---------------------------------------------------------------------------------------------

def test_p12_light_curve_table_not_at_hdu_1_is_read(tmp_path):
    from astropy.io import fits

    moved = tmp_path / "moved.fits"
    with fits.open(WASP18) as hdul:
        fits.HDUList([hdul[0].copy(), fits.ImageHDU(name="EXTRA"), hdul[1].copy()]).writeto(moved)
    lc, ref = read_lightcurve(moved), read_lightcurve(WASP18)
    assert len(lc) == len(ref) and lc.meta["target"] == "TIC 100100827"
    np.testing.assert_allclose(lc.time.value, ref.time.value)


def test_p12_standard_csv_quoting(tmp_path):
    rows = [f"{1354.0 + i * 0.02:.4f},{1.0 + 0.001 * np.sin(i):.6f},\"ok, fine\"" for i in range(40)]
    path = tmp_path / "quoted.csv"
    path.write_text("time,flux,note\n" + "\n".join(rows) + "\n")
    lc = read_lightcurve(path, time_format="btjd")
    assert len(lc) == 40


def test_p12_order_by_minus_means_descending(capsys):
    from astrotinyml.apps.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["planets", "--offline", "--facility", "K2", "--columns", "pl_name,pl_orbper",
                     "--order-by", "-pl_orbper", "--limit", "3"])
    assert code == 0
    periods = [float(line.split()[-1]) for line in capsys.readouterr().out.splitlines()[3:]]
    assert len(periods) == 3 and periods == sorted(periods, reverse=True)


def test_p12_a_list_is_not_a_target_name():
    with pytest.raises(InvalidParameterError, match="one name"):
        archives.query_planets(["a"], offline=True)


# ---------------------------------------------------------------------------------------------
# 13, 14: what reaches the terminal and the file system
# ---------------------------------------------------------------------------------------------

def test_p13_terminal_escapes_in_names_are_printed_escaped(tmp_path, capsys):
    from astrotinyml.apps.cli import main

    hostile = tmp_path / "tess_\x1b[2J\x1b]0;HACKED\x07.csv"
    hostile.write_text("time,flux\n")
    assert main(["info", str(hostile)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2J\\x1b]0;HACKED\\x07" in err


def test_p13_file_content_is_never_echoed(tmp_path, capsys):
    from astrotinyml.apps.cli import main

    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:TOPSECRET:/root:/bin/bash\ndaemon:x:1:1:HIDDEN2:/usr/sbin\n")
    assert main(["info", str(secret)]) == 1
    err = capsys.readouterr().err
    assert "passwd" in err and "TOPSECRET" not in err and "HIDDEN2" not in err


@pytest.mark.parametrize("name", ["CON", "nul", "COM1", "lpt9.json", "Aux"])
def test_p14_windows_reserved_names(name):
    from astrotinyml.report import safe_name

    safe = safe_name(name)
    assert safe.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert safe.lstrip("_").lower() == name.lower()
