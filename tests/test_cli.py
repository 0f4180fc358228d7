"""The command line, run in-process through ``main()`` as a user would type it."""

from __future__ import annotations

import json

import pytest

from astrotinyml.cli import main


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


def test_missing_file_is_one_line_error(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.fits")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.fits" in err


def test_demo_runs_offline_on_bundled_data(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Bundled real light curves" in out and "kepler-90" in out
    pdfs = sorted(tmp_path.glob("*/*.pdf"))
    jsons = sorted(tmp_path.glob("*/*.json"))
    assert len(pdfs) == len(jsons) >= 5
    wasp = json.loads(next(tmp_path.glob("wasp-18/*.json")).read_text())
    assert wasp["candidates"][0]["pl_orbper"] == pytest.approx(0.941453, rel=1e-3)


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
