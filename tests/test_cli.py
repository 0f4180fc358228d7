"""The command line, run in-process through ``main()`` as a user would type it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrotinyml.apps.cli import main


def test_detect_writes_reports_and_reports_a_bad_file(tests_data, tmp_path, capsys):
    good = tests_data / "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits"
    bad = tests_data / "malformed" / "test-lc-tess-pimen-corrupted.fits"
    status = main(["detect", str(good), str(bad), "--output", str(tmp_path), "--formats", "json", "csv"])
    out, err = capsys.readouterr()
    assert status == 1  # one input failed
    assert "TIC 100100827: " in out and "pl_orbper" in out
    # One line per failure, naming the file, no traceback.
    assert "test-lc-tess-pimen-corrupted.fits" in err and "Traceback" not in err
    report = json.loads((tmp_path / "TIC_100100827" / "TIC_100100827.json").read_text())
    assert report["candidates"][0]["pl_orbper"] == pytest.approx(0.941453, rel=1e-3)
    # A second run refuses to overwrite, then succeeds with --overwrite.
    assert main(["detect", str(good), "--output", str(tmp_path), "--formats", "json"]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert main(["detect", str(good), "--output", str(tmp_path), "--formats", "json", "--overwrite"]) == 0


def test_info_prints_summary(tests_data, capsys):
    assert main(["info", str(tests_data / "k2_WASP-47_EPIC206103150_C3_ktwo_llc.fits")]) == 0
    out = capsys.readouterr().out
    assert "K2" in out and "noise_ppm" in out


def test_info_reports_each_file_then_the_failures(tests_data, capsys):
    # `info good.fits corrupt.fits MANIFEST.csv` (what `info lightcurves/*` passes): the good
    # file is summarized, the manifest skipped, the corrupt file named after the table.
    good = tests_data / "k2_WASP-47_EPIC206103150_C3_ktwo_llc.fits"
    bad = tests_data / "malformed" / "test-lc-tess-pimen-corrupted.fits"
    assert main(["info", str(good), str(bad), str(tests_data / "MANIFEST.csv")]) == 1
    out, err = capsys.readouterr()
    assert "EPIC 206103150" in out and good.name in out and "skipped" in out and "MANIFEST.csv" in out
    assert "test-lc-tess-pimen-corrupted.fits" in err and "truncated" in err and "Traceback" not in err
    assert "1 of 2 file(s)" in err
    assert main(["info", str(good), str(tests_data / "MANIFEST.csv")]) == 0


def test_periodogram_and_result_plot(tests_data):
    import matplotlib

    matplotlib.use("Agg")
    import astrotinyml as atml
    from astrotinyml.apps.widgets import explore

    res = atml.detect(tests_data / "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits", max_planets=1)
    pg = res.periodogram
    assert pg() is pg or pg() == pg  # the earlier method call still works
    p = np.asarray(pg["period"].value)
    assert abs(p[np.argmax(np.asarray(pg["sde"]))] / 0.941453 - 1) < 2e-3  # WASP-18 b's peak
    assert pg.plot().axes[0].get_xscale() == "log"
    fig = res.plot()
    assert len(fig.axes) == 4  # light curve, detrended, periodogram, one fold
    assert atml.explore is explore


def test_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.fits")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.fits" in err


def test_demo_runs_offline_on_bundled_data(tmp_path):
    # In a fresh interpreter, so that what the demo imports is visible: the runtime only
    # (`make demo` installs no TensorFlow, no Jupyter Book, no TLS).
    import subprocess
    import sys

    code = ("import sys; from astrotinyml.apps.cli import main; rc = main(['demo', '--output', sys.argv[1]]); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'transitleastsquares', "
            "'jupyter_book', 'sphinx', 'papermill', 'pytest_notebook'}); "
            "print('HEAVY=' + ','.join(heavy)); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "HEAVY=\n" in out, out[-300:]
    assert "XNNPACK" not in proc.stderr and "Traceback" not in proc.stderr
    assert "Bundled real light curves" in out and "kepler-90" in out
    pdfs = sorted(tmp_path.glob("*/*.pdf"))
    jsons = sorted(tmp_path.glob("*/*.json"))
    assert len(pdfs) == len(jsons) >= 5
    wasp = json.loads(next(tmp_path.glob("wasp-18/*.json")).read_text())
    assert wasp["candidates"][0]["pl_orbper"] == pytest.approx(0.941453, rel=1e-3)


def test_detect_a_bundled_sample_by_name_with_stage_times(tmp_path, capsys):
    # `astrotinyml detect wasp-18`: the bundled file (offline), not a MAST query; each stage's
    # seconds on stderr while it runs, and no LiteRT INFO line.
    assert main(["detect", "wasp-18", "--output", str(tmp_path), "--formats", "json"]) == 0
    out, err = capsys.readouterr()
    assert "wasp-18: the bundled sample" in err
    assert "search " in err and "classify " in err and " s" in err and "XNNPACK" not in err
    report = json.loads(next(tmp_path.glob("*/*.json")).read_text())
    assert report["candidates"][0]["pl_orbper"] == pytest.approx(0.941453, rel=1e-3)


def test_demo_rerun_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "kepler-90").mkdir()
    (tmp_path / "kepler-90" / "KIC_11442793.pdf").write_bytes(b"%PDF earlier run")
    assert main(["demo", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--overwrite" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kepler-90"]  # nothing computed or written


def test_two_files_of_one_star_get_separate_report_directories(tests_data, tmp_path, capsys):
    import shutil

    src = tests_data / "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits"
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(src, data / "sector3.fits")
    shutil.copy(src, data / "sector3_copy.fits")
    (data / "README.txt").write_text("notes, not a light curve")
    out = tmp_path / "out"
    assert main(["detect", str(data), "--output", str(out), "--formats", "json"]) == 0
    dirs = sorted(p.name for p in out.iterdir())
    assert dirs == ["TIC_100100827", "TIC_100100827__sector3_copy"]


def test_output_that_is_a_file_is_a_one_line_error(tests_data, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    good = tests_data / "tess_WASP-18_TIC100100827_S3_tess-spoc_ffi30min_lc.fits"
    assert main(["detect", str(good), "--output", str(afile)]) == 1
    err = capsys.readouterr().err
    assert "afile" in err and "Traceback" not in err
