"""Calibration: matching, a run on real bundled light curves, the database, drift."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import warnings

import numpy as np
import pytest

from astrotinyml.calibration import _db as _caldb
from astrotinyml.calibration import (
    Calibration,
    apply_calibration,
    calibration_history,
    current_calibration_id,
    default_calibration,
    load_calibration,
    match_signal,
    plot_confusion,
    plot_recovery,
    plot_reliability,
    reference_set,
    save_calibration,
)
from astrotinyml.calibration.fit import calibrate
from astrotinyml.errors import CalibrationDatabaseError, CalibrationNotFoundError, InvalidParameterError

# --------------------------------------------------------------------------- matching

WASP18_P, WASP18_T0 = 0.941453, 2457000 + 3205.35332  # TOI-185.01 (BTJD epoch years after sector 2)


def test_match_true_period_with_propagated_epoch():
    # sector-2 detection vs the TOI epoch ~1960 cycles later
    m = match_signal(0.94155, 2458354.4565, 2.1, known_period=WASP18_P, known_epoch=WASP18_T0)
    assert m["matched"] and m["harmonic"] == 1.0 and m["epoch_checked"]
    assert abs(m["epoch_offset_h"]) < 1.0


@pytest.mark.parametrize("h", [0.5, 2.0, 1 / 3, 3.0])
def test_match_harmonics(h):
    m = match_signal(WASP18_P * h * (1 + 3e-4), 2458354.4565, 2.1, known_period=WASP18_P, known_epoch=WASP18_T0)
    assert m["matched"] and m["harmonic"] == pytest.approx(h)


def test_match_rejects_wrong_epoch_and_period():
    # right period, transit half an orbit off (e.g. an EB secondary): no planet match
    m = match_signal(WASP18_P, 2458354.4565 + WASP18_P / 2, 2.1, known_period=WASP18_P, known_epoch=WASP18_T0)
    assert not m["matched"] and m["harmonic"] == 1.0
    # ... but period-only matching (EB references) accepts it
    assert match_signal(WASP18_P, 2458354.4565 + WASP18_P / 2, 2.1, known_period=WASP18_P,
                        known_epoch=WASP18_T0, check_epoch=False)["matched"]
    assert not match_signal(1.21, 2458354.4565, 2.1, known_period=WASP18_P, known_epoch=WASP18_T0)["matched"]
    # Kepler-90 g (210.6 d) vs an unrelated 45.2 d detection
    assert not match_signal(45.2, 2455040.0, 8.0, known_period=210.601384, known_epoch=2454980.05)["matched"]


def test_match_single_event_on_known_transit():
    # Kepler-90 h: K00351.01, P=331.597 d, epoch 140.49893 BKJD; one transit in Q5
    t0 = 2454833 + 140.49893
    m = match_signal(float("nan"), t0 + 331.597273 + 0.05, 14.4, known_period=331.597273, known_epoch=t0)
    assert m["matched"] and m["single_event"]


def test_reference_set_converts_time_systems(tests_data):
    refs = reference_set([tests_data], enrich=False)
    sig = {r["reference"]: json.loads(r["signals"]) for r in refs}
    hatp7 = sig["kepler_HAT-P-7_KIC10666592_Q0_slc.fits"][0]  # 121.35854 BKJD
    assert hatp7["epoch"] == pytest.approx(2454833 + 121.35854)
    wasp6 = sig["tess_WASP-6_TIC204376737_S2_exostriker.tran"][0]  # 1357.39474 BTJD
    assert wasp6["epoch"] == pytest.approx(2457000 + 1357.39474)
    assert sig["tess_TIC363326796_S9_EB_tessspoc_bin30min.txt"][0]["kind"] == "eb"
    assert set(refs["label"]) >= {"planet_host", "eclipsing_binary", "variable_star"}


def test_reference_set_combines_without_duplicates(tests_data):
    a = reference_set("bundled", enrich=False)
    b = reference_set(["bundled", tests_data], enrich=False)
    assert len(set(b["sha256"])) == len(b) and len(b) > len(a)


def test_reference_set_catalogue_offline_without_cache_raises():
    from astrotinyml.errors import OfflineError

    with pytest.raises(OfflineError, match="no cached light curve"):
        reference_set("toi", targets=["TIC 100100827"])


def test_reference_set_bad_source():
    with pytest.raises(InvalidParameterError):
        reference_set("nonsense")


# --------------------------------------------------------------------------- a real run

_PICK = ("tess_WASP-18", "k2_EPIC248045685", "kepler_KIC2306740")


@pytest.fixture(scope="module")
def small_run():
    from astrotinyml.detection import detect

    refs = reference_set("bundled")
    refs = refs[[r.startswith(_PICK) for r in refs["reference"]]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = [detect(p, calibration=False) for p in refs["path"]]
    return refs, results


def test_calibration_run_on_real_light_curves(small_run, tmp_path):
    refs, results = small_run
    cal = calibrate(refs, results=results, db=tmp_path / "c.sqlite", progress=False, folds=0)
    m = cal.metrics
    # WASP-18 b recovered at its period and epoch
    assert m["n_planet_signals"] == 1 and m["recovery_rate"] == 1.0
    sig = cal.table("signals")
    w = sig[[r.startswith("tess_WASP-18") for r in sig["reference"]]]
    assert bool(w["recovered"][0]) and w["snr_expected"][0] > 100
    det = cal.table("detections")
    # the EB is detected and is not counted as a planet
    eb = det[[r.startswith("kepler_KIC2306740") for r in det["reference"]]]
    assert "eb" in set(eb["truth"]) and "planet" not in set(eb["truth"])
    assert m["eb_detected_rate"] == 1.0
    # quiet star: its detections are false alarms, never planets.  #19 regression: the long-dip
    # protection lets the search pair two red-noise dips into a 24.2-d periodic false alarm, so
    # the rate is one per star here (0 before this session); it must not be labelled planet.
    q = det[[r.startswith("k2_EPIC248045685") for r in det["reference"]]]
    assert set(q["truth"]) <= {"noise"}
    assert m["periodic_false_alarms_per_star"] <= 1.0
    quiet = [res for res, name in zip(results, refs["reference"]) if name.startswith("k2_EPIC248045685")][0]
    assert len(quiet.candidates) and "planet" not in {str(x) for x in quiet.candidates["label"]}
    # bias: measured WASP-18 depth vs TOI catalogue depth, a sane ratio
    assert 0.5 < m["depth_ratio_median"] < 1.5
    # stored and retrievable
    assert current_calibration_id(db=tmp_path / "c.sqlite") == cal.id
    back = load_calibration(db=tmp_path / "c.sqlite")
    assert back.id == cal.id and back.metrics["recovery_rate"] == 1.0
    assert len(back.table("detections")) == len(det)
    # probability calibration is reported honestly either way
    prob = cal.parameters["probability"]
    if "p_planet" in results[0].candidates.colnames:
        assert prob["fitted"] or prob["reason"].startswith("not fitted")
    else:
        assert prob == dict(fitted=False, method="none", reason="not fitted: no classifier output")
    for fig in (plot_reliability(cal), plot_recovery(cal), plot_confusion(cal)):
        assert fig.axes


def test_calibrate_without_classifier_output(small_run):
    refs, results = small_run
    stripped = []
    for r in results:
        import copy

        r2 = copy.copy(r)
        cols = [c for c in r.candidates.colnames if c.startswith("p_") or c == "label"]
        r2.candidates = r.candidates.copy()
        r2.candidates.remove_columns(cols)
        stripped.append(r2)
    cal = calibrate(refs, results=stripped, store=False, progress=False, folds=0)
    assert cal.parameters["probability"] == dict(fitted=False, method="none", reason="not fitted: no classifier output")
    assert np.isnan(cal.metrics["prob_ece_after"])
    out = apply_calibration(results[0].candidates, cal)
    assert out.meta["calibration_id"] == cal.id and out.meta["classifier_calibrated"] is False
    assert "no classifier output" in out.meta["calibration_note"]
    assert "pl_trandep_cal" in out.colnames


def test_calibrate_rejects_mismatched_results(small_run):
    refs, results = small_run
    with pytest.raises(InvalidParameterError):
        calibrate(refs, results=results[:1], store=False, progress=False)


# --------------------------------------------------------------------------- database

def _fake(**metrics) -> Calibration:
    base = dict(recovery_rate=0.8, false_alarms_per_star=0.5, depth_ratio_median=0.95)
    base.update(metrics)
    c = Calibration(id="x", created="", software_version="test", model_sha256="ab" * 32,
                    reference_summary={"n_references": 3}, parameters={"depth_correction": 1.05},
                    metrics=base, tables={"references": [{"reference": f"r{i}", "status": "ok"} for i in range(3)]})
    return c.copy_as_new()


def test_schema_version_and_tables(tmp_path):
    db = tmp_path / "c.sqlite"
    save_calibration(_fake(), db=db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(_caldb.SCHEMA_VERSION,)]
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "reference_results", "parameters", "metrics", "schema_version"} <= names
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_from_version_1(tmp_path):
    db = tmp_path / "old.sqlite"
    _caldb.create_v1(db)
    con = sqlite3.connect(db)
    con.execute("INSERT INTO runs VALUES ('cal-old', '2025-01-01T00:00:00Z', '0.0.1', '{}', '{}')")
    con.execute("""INSERT INTO results VALUES ('cal-old', '{"reference": "wasp18.fits", "status": "ok"}')""")
    con.execute("INSERT INTO metrics VALUES ('cal-old', 'recovery_rate', 0.9)")
    con.commit()
    con.close()
    new = save_calibration(_fake(recovery_rate=0.85), db=db)
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM schema_version").fetchone()[0] == 2
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    old = load_calibration(db=db, run_id="cal-old")
    assert old.tables["reference"][0]["reference"] == "wasp18.fits" and old.metrics["recovery_rate"] == 0.9
    assert new.drift["previous_id"] == "cal-old" and not new.drift["flagged"]


def _writer(db, n):
    for k in range(n):
        save_calibration(_fake(recovery_rate=0.8), db=db)


def test_concurrent_writers(tmp_path):
    db = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(db, 5)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 20
    assert con.execute("SELECT COUNT(*) FROM reference_results").fetchone()[0] == 60
    assert len(calibration_history(db)) == 20


def test_failure_mid_run_leaves_nothing(tmp_path):
    db = tmp_path / "c.sqlite"
    first = save_calibration(_fake(), db=db)
    with pytest.raises(RuntimeError, match="simulated"):
        save_calibration(_fake(), db=db, _fail_after_rows=2)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM reference_results").fetchone()[0] == 3
    assert con.execute("SELECT COUNT(*) FROM metrics WHERE run_id != ?", (first.id,)).fetchone()[0] == 0
    assert current_calibration_id(db=db) == first.id


def test_corrupted_database_clear_error_nothing_overwritten(tmp_path):
    db = tmp_path / "c.sqlite"
    junk = b"this is not a database" * 100
    db.write_bytes(junk)
    with pytest.raises(CalibrationDatabaseError, match="Move the file aside"):
        save_calibration(_fake(), db=db)
    with pytest.raises(CalibrationDatabaseError):
        load_calibration(db=db)
    assert db.read_bytes() == junk


def test_drift_flagged_on_shifted_run(tmp_path):
    db = tmp_path / "c.sqlite"
    a = save_calibration(_fake(), db=db)
    b = save_calibration(_fake(recovery_rate=0.82), db=db)  # within tolerance
    c = save_calibration(_fake(recovery_rate=0.55, depth_ratio_median=0.7), db=db)  # shifted
    assert not a.drift["flagged"] and not b.drift["flagged"]
    assert c.drift["flagged"] and set(c.drift["metrics"]) == {"recovery_rate", "depth_ratio_median"}
    assert c.drift["previous_id"] == b.id and "DRIFT" in c.summary()
    h = calibration_history(db)
    assert list(h["id"]) == [a.id, b.id, c.id]
    assert list(h["drift"]) == [False, False, True]
    assert h["drift_metrics"][2] == "depth_ratio_median,recovery_rate"
    assert load_calibration(db=db).drift["flagged"]


def test_load_named_and_unknown_run(tmp_path):
    db = tmp_path / "c.sqlite"
    a = save_calibration(_fake(), db=db)
    save_calibration(_fake(), db=db)
    assert load_calibration(db=db, run_id=a.id).id == a.id
    with pytest.raises(CalibrationNotFoundError):
        load_calibration(db=db, run_id="cal-nope")


def test_default_calibration_and_fallback(tmp_path):
    d = default_calibration()
    db = tmp_path / "none.sqlite"
    if d is None:
        assert current_calibration_id(db=db) is None
        return
    assert d.id.startswith("cal-") and not db.exists()
    assert current_calibration_id(db=db) == d.id and load_calibration(db=db).id == d.id
    assert not db.exists()  # reading never creates the file
    files = d.reference_summary["files"]
    assert files and all(len(f["sha256"]) == 64 for f in files)
    # a user's run overrides it
    mine = save_calibration(_fake(), db=db)
    assert current_calibration_id(db=db) == mine.id


def test_batch_model_identity_uses_current_calibration():
    from astrotinyml.apps.batch import model_identity

    assert model_identity()["calibration_id"] == current_calibration_id()


def test_apply_calibration_probabilities():
    from astropy.table import QTable

    P = np.array([[0.6, 0.3, 0.05, 0.03, 0.02], [0.2, 0.7, 0.05, 0.03, 0.02]])
    t = QTable(dict(pl_orbper=[3.0, 5.0], pl_tranmid=[2458000.0, 2458001.0], pl_trandurh=[2.0, 3.0],
                    pl_trandep=[1000.0, 5000.0], label=["planet", "eb"],
                    **{c: P[:, j] for j, c in enumerate(["p_planet", "p_eb", "p_variability", "p_instrumental",
                                                          "p_noise"])}))
    t.meta["classifier_sha256"] = "ab" * 32
    cal = _fake()
    cal.parameters = {"probability": {"fitted": True, "method": "temperature", "temperature": 0.5},
                      "threshold": {"value": 0.9, "fitted": True}, "depth_correction": 1.1}
    out = apply_calibration(t, cal)
    q = np.array([out[c] for c in ["p_planet", "p_eb", "p_variability", "p_instrumental", "p_noise"]]).T
    assert np.allclose(q.sum(axis=1), 1) and q[0, 0] > 0.6 and out.meta["classifier_calibrated"]
    assert list(out["label"]) == ["unknown", "eb"]  # T=0.5 squares: planet 0.79 < 0.9, eb 0.92
    assert out["pl_trandep_cal"][0] == pytest.approx(1100.0)
    # a calibration fitted for another model leaves the probabilities alone, and says so
    t.meta["classifier_sha256"] = "cd" * 32
    out = apply_calibration(t, cal)
    assert not out.meta["classifier_calibrated"] and "fitted for model" in out.meta["calibration_note"]
    assert np.allclose(out["p_planet"], P[:, 0])
