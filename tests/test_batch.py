"""Batch detection on Dask (astrotinyml.apps.batch): real local clusters over bundled light curves.

One batch of ten short real light curves plus one truncated FITS file runs once per module on
a two-process local cluster (``first_run``); the resume tests copy its output directory and
rerun on an in-process (threaded) cluster, where a counting wrapper of ``detect`` shows
exactly which targets were redone.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from astropy.table import QTable, Table  # noqa: E402

import astrotinyml  # noqa: E402,F401
from astrotinyml.apps.batch import MARKER_NAME, expand_sources, model_identity, run_batch  # noqa: E402
from astrotinyml.errors import InvalidParameterError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BAD = REPO / "tests" / "data" / "malformed" / "test-lc-tess-pimen-corrupted.fits"
# Short real light curves (each well under a second of detect() once a worker is warm).
GOOD = [REPO / "tests" / "data" / n for n in (
    "kepler_KIC1026032_Q17_enosair_sapflux.csv",
    "tess_TIC300293197_S1_EB_tessspoc_bin30min.txt",
    "tess_TIC363326796_S9_EB_tessspoc_bin30min.txt",
    "tess_TOI-1338_TIC260128333_S6_EB+CBP_tessspoc_bin30min.npz",
    "tess_WASP-111_TOI-143_TIC25375553_S1_qlp30min.txt",
    "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits",
    "tess_TOI-1130_TIC254113311_S13_qlp_hlsp_llc.fits",
    "k2_EPIC210490365_C4_dave_detrended.dat",
)] + [REPO / "astrotinyml" / "data" / n for n in (
    "kepler_Kepler-90_KIC11442793_Q4_kplr011442793-2010009091648_llc.fits",
    "tess_WASP-18_TIC100100827_S2_lightkurve_2min.fits",
)]
SOURCES = [str(p) for p in GOOD] + [str(BAD)]
FAST = dict(formats=("json", "csv"), progress=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """The real thing: run_batch's own LocalCluster of two worker processes."""
    out = tmp_path_factory.mktemp("batch") / "run"
    with pytest.MonkeyPatch.context() as mp:  # module scope: set what the autouse fixture sets
        mp.setenv("ASTROTINYML_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("ASTROTINYML_OFFLINE", "1")
        result = run_batch(SOURCES, out_dir=out, workers=2, **FAST)
    return result, out


@pytest.fixture(scope="module")
def thread_client():
    """An in-process cluster (threads) for the resume tests: cheap, and shares monkeypatches."""
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"})  # no clash on port 8787
    client = Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def counted(monkeypatch):
    """Replace detect() by a wrapper (same qualified name, so the same resume key) counting calls."""
    detect_module = sys.modules["astrotinyml.detection"]  # astrotinyml.detect is the function
    calls: list[str] = []
    real = detect_module.detect

    @functools.wraps(real)
    def detect(source, **kw):
        calls.append(Path(str(source)).name)
        return real(source, **kw)

    monkeypatch.setattr(detect_module, "detect", detect)
    return calls


def _copy(out: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(out, dest, copy_function=shutil.copy2)
    return dest


def _mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.parent != out}


def test_batch_reports_every_good_target_and_isolates_the_bad_file(first_run):
    result, out = first_run
    status = result.status
    assert result.n_targets == 11 and result.workers == 2
    assert (result.n_ok, result.n_failed, result.n_skipped) == (10, 1, 0)
    bad = status[status["status"] == "failed"][0]
    assert bad["error_type"] == "LightCurveFormatError"
    assert BAD.name in bad["message"] and "truncated" in bad["message"]
    assert "\n" not in bad["message"]
    # Two worker processes did the work; each task's wall and CPU time are recorded.
    assert len(set(status["worker"][status["status"] == "ok"])) == 2
    assert (status["cpu_s"] > 0).all() and (status["task_s"] >= status["cpu_s"] * 0.9).all()
    # Per-target reports, each directory closed by its marker; no temporary files anywhere.
    for row in status[status["status"] == "ok"]:
        files = {p.name for p in (out / row["report_dir"]).iterdir()}
        assert MARKER_NAME in files and any(f.endswith(".json") for f in files) and any(f.endswith(".csv") for f in files)
    assert not list(out.rglob("*.part"))
    # One row per candidate, tagged with its target and source, in ECSV and Parquet.
    cands = result.candidates
    assert len(cands) == int(status["n_candidates"].sum()) > 10
    assert {"task", "target", "source", "candidate", "pl_orbper", "pl_trandep", "snr"} <= set(cands.colnames)
    assert str(cands["pl_orbper"].unit) == "d"
    wasp18 = cands[cands["task"] == "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc"]
    assert wasp18["target"][0] == "TIC 100100827"
    assert wasp18["pl_orbper"][0].value == pytest.approx(0.9414, rel=1e-3)
    for name in ("candidates.ecsv", "candidates.parquet"):
        back = QTable.read(out / name)
        assert len(back) == len(cands) and list(back["task"]) == list(cands["task"])
    back = Table.read(out / "status.parquet")
    assert list(back["status"]) == list(status["status"])
    assert json.loads((out / "batch.json").read_text())["n_ok"] == 10


def test_rerun_with_nothing_changed_does_no_work(first_run, thread_client, counted, tmp_path):
    result, out = first_run
    out = _copy(out, tmp_path)
    before = _mtimes(out)
    again = run_batch(SOURCES, out_dir=out, client=thread_client, **FAST)
    # Only a success counts as done (issue 14, point 6): the failed target is redone, alone.
    assert counted == [BAD.name]
    assert again.n_skipped == 10 and again.n_failed == 1 and again.n_ok == 0
    bad_task = str(result.status["task"][list(result.status["outcome"]).index("failed")])
    after = _mtimes(out)
    assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} <= {
        f"{bad_task}/_done.json"}
    # The standing outcomes and the candidates are rebuilt from the markers, unchanged.
    assert list(again.status["outcome"]) == list(result.status["outcome"])
    assert list(again.candidates["task"]) == list(result.candidates["task"])
    np.testing.assert_array_equal(again.candidates["pl_orbper"].value, result.candidates["pl_orbper"].value)
    assert again.candidates.colnames == result.candidates.colnames


def test_resume_after_a_crash_redoes_exactly_the_unfinished_targets(first_run, thread_client, counted, tmp_path):
    result, out = first_run
    out = _copy(out, tmp_path)
    # Target A was in flight when the run was killed: no marker, a stale temporary file.
    a = out / GOOD[0].stem
    (a / MARKER_NAME).unlink()
    (a / ".KIC_1026032.json.x1y2.part").write_text("half a file")
    (out / ".candidates.ecsv.abc.part").write_text("half a table")
    # Target B lost a report file after its marker was written.
    b = out / GOOD[5].stem
    next(b.glob("*.csv")).unlink()
    again = run_batch(SOURCES, out_dir=out, client=thread_client, **FAST)
    # (and the failed target: only a success counts as done)
    assert sorted(counted) == sorted([GOOD[0].name, GOOD[5].name, BAD.name])
    redone = again.status[again.status["status"] == "ok"]
    # (the whole status table in the message: a target failing here says why)
    assert sorted(redone["task"]) == sorted([GOOD[0].stem, GOOD[5].stem]), \
        "\n".join(str(dict(zip(again.status.colnames, row))) for row in again.status)
    assert again.n_skipped == 8 and not list(out.rglob("*.part"))
    assert (a / MARKER_NAME).exists() and list(b.glob("*.csv"))
    assert list(again.candidates["task"]) == list(result.candidates["task"])
    np.testing.assert_allclose(again.candidates["pl_orbper"].value, result.candidates["pl_orbper"].value, rtol=1e-9)


def test_changing_an_option_invalidates_but_spelling_a_default_does_not(first_run, thread_client, counted, tmp_path):
    _, out = first_run
    out = _copy(out, tmp_path)
    subset = SOURCES[:3]
    same = run_batch(subset, out_dir=out, client=thread_client, detect_options={"max_planets": 5}, **FAST)
    assert counted == [] and same.n_skipped == 3
    changed = run_batch(subset, out_dir=out, client=thread_client, detect_options={"max_planets": 1}, **FAST)
    assert sorted(counted) == sorted(Path(s).name for s in subset) and changed.n_ok == 3
    report = json.loads(next((out / GOOD[0].stem).glob("*.json")).read_text())
    assert report["options"]["max_planets"] == 1
    marker = json.loads((out / GOOD[0].stem / MARKER_NAME).read_text())
    assert marker["key_doc"]["detect_options"]["max_planets"] == 1
    # Reports of the outdated run were replaced, not left beside the new ones.
    files = sorted(p.name for p in (out / GOOD[0].stem).iterdir())
    assert files == sorted([MARKER_NAME, *marker["files"]])


def test_an_input_changed_in_place_is_redone(thread_client, counted, tmp_path):
    lc = tmp_path / "star.csv"
    shutil.copy(GOOD[0], lc)
    run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
    run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
    assert counted == ["star.csv"]  # the rerun trusted size + mtime and did nothing
    lc.write_text(GOOD[0].read_text().replace("\n", "\n\n", 1))  # same data, other bytes
    again = run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
    assert counted == ["star.csv", "star.csv"] and again.n_ok == 1


def test_a_result_lost_with_a_dead_worker_counts_as_run_not_skipped(thread_client, counted, tmp_path):
    """Dask reruns a finished task whose result died with its worker; that rerun finds the
    marker this same run wrote and must report the target as run (ok), not as skipped."""
    import types
    import uuid

    batch_module = sys.modules["astrotinyml.apps.batch"]
    lc = tmp_path / "star.csv"
    shutil.copy(GOOD[0], lc)
    fixed = uuid.uuid4()
    with pytest.MonkeyPatch.context() as mp:  # both calls below are then "one run" (dask keeps its own ids)
        mp.setattr(batch_module, "uuid", types.SimpleNamespace(uuid4=lambda: fixed))
        first = run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
        again = run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
    assert counted == ["star.csv"]  # not processed twice
    assert (first.n_ok, again.n_ok, again.n_skipped) == (1, 1, 0)
    # Reported as the run that did the work: its worker and times, not the near-zero rerun's.
    assert again.status["worker"][0] == first.status["worker"][0]
    assert again.status["cpu_s"][0] == pytest.approx(first.status["cpu_s"][0])
    # A new run id: a genuine rerun skips the finished target.
    later = run_batch([str(lc)], out_dir=tmp_path / "out", client=thread_client, **FAST)
    assert counted == ["star.csv"] and (later.n_ok, later.n_skipped) == (0, 1)


def _crash_or_detect(source, **kw):
    if "crash_me" in str(source):
        os._exit(13)  # the worker process dies as on a segfault
    from astrotinyml.detection import detect

    return detect(source, **kw)


def test_a_worker_that_dies_is_recorded_and_the_batch_goes_on(tmp_path, monkeypatch):
    import cloudpickle

    # Ship this test module's function by value: workers need not import the test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        crash = tmp_path / "crash_me.csv"
        shutil.copy(GOOD[0], crash)
        res = run_batch([str(GOOD[3]), str(crash)], out_dir=tmp_path / "out", workers=2,
                        detect_func=_crash_or_detect, **FAST)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    row = res.status[res.status["task"] == "crash_me"][0]
    assert row["status"] == "failed" and row["error_type"] == "KilledWorker"
    assert "crash_me.csv" in row["message"] and "worker" in row["message"]
    # The good target is ok even when its worker later died running crash_me and dask reran it.
    assert res.n_ok == 1 and res.n_skipped == 0 and (tmp_path / "out" / "status.ecsv").exists()
    assert not (tmp_path / "out" / "crash_me" / MARKER_NAME).exists()  # redone on the next run


def test_a_killed_driver_leaves_consistent_outputs(tmp_path, thread_client):
    """SIGKILL the whole run mid-way; the rerun finishes it and redoes only what was missing."""
    out = tmp_path / "out"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from dask.distributed import Client, LocalCluster
        from astrotinyml.apps.batch import run_batch
        if __name__ == "__main__":
            with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None,
                              scheduler_kwargs={{"dashboard_address": ":0"}}) as cl, Client(cl) as client:
                run_batch({SOURCES[:6]!r}, out_dir={str(out)!r}, client=client, progress=False,
                          formats=("json", "csv"))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import time

    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and len(list(out.glob(f"*/{MARKER_NAME}"))) < 2:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    done_before = {p.parent.name for p in out.glob(f"*/{MARKER_NAME}")}
    assert 2 <= len(done_before) < 6, "the run must be killed mid-way for this test to mean something"
    # Every directory with a marker is complete; nothing half-written is in place.
    for name in done_before:
        marker = json.loads((out / name / MARKER_NAME).read_text())
        for f, size in marker["files"].items():
            assert (out / name / f).stat().st_size == size
    res = run_batch(SOURCES[:6], out_dir=out, client=thread_client, **FAST)
    assert res.n_skipped == len(done_before) and res.n_ok == 6 - len(done_before)
    assert not list(out.rglob("*.part"))


def test_expand_sources_directories_names_tables_and_duplicates(tests_data, tmp_path):
    files = expand_sources([tests_data])
    assert len(files) == 17 and all(t.kind == "file" for t in files)  # MANIFEST.csv is not a light curve
    table = Table({"tid": [100100827, 100100827, 25375553], "sector": [2, 2, 1], "toi": [185.01, 185.02, 143.01]})
    named = expand_sources(table)
    assert [t.name for t in named] == ["TIC 100100827", "TIC 25375553"]  # two planets, one target
    assert dict(named[0].fetch) == {"sector": 2} and named[0].task_id == "TIC_100100827_sector2"
    # Same stem in two directories: both get a hash suffix, whatever the order.
    other = tmp_path / GOOD[5].name
    shutil.copy(GOOD[5], other)
    ids = [t.task_id for t in expand_sources([GOOD[5], other])]
    assert ids == [t.task_id for t in reversed(expand_sources([other, GOOD[5]]))]
    assert len(set(ids)) == 2 and all(i.startswith(GOOD[5].stem + "_") for i in ids)
    stitched = expand_sources([[GOOD[8], GOOD[8].with_name(GOOD[8].name.replace("Q4", "Q3"))]])
    assert stitched[0].kind == "files" and len(stitched[0].paths) == 2
    assert expand_sources(["no/such/file.fits"])[0].kind == "file"
    assert [t.kind for t in expand_sources([str(tests_data / "tess_WASP-*")])] == ["file"] * 3


def test_target_names_without_network_fail_cleanly(tmp_path, thread_client):
    res = run_batch(["TIC 100100827"], out_dir=tmp_path / "out", client=thread_client, **FAST)
    row = res.status[0]
    assert row["status"] == "failed" and row["target"] == "TIC 100100827"
    assert row["error_type"] in ("OfflineError", "ImportError", "DataUnavailableError")
    assert "TIC 100100827" in row["message"]


def test_bad_arguments_fail_before_any_work(tmp_path):
    with pytest.raises(InvalidParameterError, match="max_planet"):
        run_batch(SOURCES[:1], out_dir=tmp_path / "a", detect_options={"max_planet": 1})
    with pytest.raises(InvalidParameterError, match="format"):
        run_batch(SOURCES[:1], out_dir=tmp_path / "a", formats=("docx",))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    from astrotinyml.errors import AstroTinyMLError

    with pytest.raises(AstroTinyMLError, match="not a batch directory"):
        run_batch(SOURCES[:1], out_dir=busy, workers=1, progress=False)
    assert sorted(model_identity()) == ["calibration_id", "model_files", "model_sha256"]


def test_importing_batch_does_not_import_dask():
    code = "import sys, astrotinyml, astrotinyml.apps.batch; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_combined_table_keeps_columns_when_the_first_target_has_no_candidate():
    """Regression: a first target with zero rows hid every candidate column of the others."""
    from astrotinyml.apps.tables import candidates_table as _candidates_table

    kinds = {"pl_orbper": "f", "label": "U"}
    empty = dict(task="a", target="A", source="a.fits", candidates=[], units={"pl_orbper": "d"}, kinds=kinds)
    full = dict(task="b", target="B", source="b.fits", units={"pl_orbper": "d"}, kinds=kinds,
                candidates=[{"pl_orbper": 0.94, "label": "planet"}])
    table = _candidates_table([empty, full])
    assert table.colnames == ["task", "target", "source", "candidate", "pl_orbper", "label"]
    assert table["pl_orbper"][0].to_value("d") == 0.94 and table["label"][0] == "planet"


def test_worker_environment_shares_the_cores_among_the_workers(monkeypatch):
    """Each worker's numba kernels get cores // workers threads, not one per core each."""
    import os

    from astrotinyml.apps.batch import worker_environment

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert worker_environment(1) == {"NUMBA_NUM_THREADS": str(cores)}
    assert worker_environment(cores) == {"NUMBA_NUM_THREADS": "1"}
    assert worker_environment(4 * cores) == {"NUMBA_NUM_THREADS": "1"}
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")  # the user's choice is kept
    assert worker_environment(2) == {"NUMBA_NUM_THREADS": "3"}
