"""Reports of a real detection: every format opens, validates and round-trips."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import numpy as np
import pytest

from astrotinyml.report import OutputExistsError, safe_name, write_report
from astrotinyml.report.formats import load_schema


@pytest.fixture(scope="module")
def hot_jupiter_result():
    from astrotinyml import datasets
    from astrotinyml.detection import detect

    return detect(datasets.load_sample("wasp-18"), max_planets=2)


@pytest.fixture(scope="module")
def written(hot_jupiter_result, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return write_report(hot_jupiter_result, out, submit_ready=True), hot_jupiter_result


def test_all_formats_written(written):
    paths, _ = written
    # WASP-18 b is labelled planet: the bundle comes with an ExoFOP upload file.
    assert set(paths) == {"pdf", "json", "fits", "csv", "bundle", "ctoi"}
    assert paths["ctoi"].name.startswith("params_planet_") and paths["ctoi"].name.endswith("_001.txt")
    for path in paths.values():
        assert path.stat().st_size > 0
    # No temporary files left beside the reports.
    assert not [p for p in paths["pdf"].parent.iterdir() if p.name.endswith(".part")]


def test_json_validates_against_shipped_schema(written):
    import jsonschema

    paths, result = written
    report = json.loads(paths["json"].read_text())
    jsonschema.validate(report, load_schema())
    assert report["target"] == result.target
    assert report["n_candidates"] == len(result.candidates) >= 1
    best = report["candidates"][0]
    assert best["pl_orbper"] == pytest.approx(0.941453, rel=1e-3)  # WASP-18 b
    assert report["units"]["pl_trandep"] == "ppm"
    assert len(report["inputs"][0]["sha256"]) == 64


def test_schema_rejects_a_report_missing_contract_columns(written):
    import jsonschema

    paths, _ = written
    report = json.loads(paths["json"].read_text())
    del report["candidates"][0]["pl_orbper"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, load_schema())


def test_fits_round_trip(written):
    from astropy.io import fits
    from astropy.table import Table

    paths, result = written
    with fits.open(paths["fits"]) as hdul:
        assert hdul[0].header["ORIGIN"] == "astrotinyml"
        assert hdul[0].header["NCAND"] == len(result.candidates)
        assert len(hdul[0].header["INSHA1"]) == 64
        tce = hdul["TCE_1"]
        assert tce.header["TPERIOD"] == pytest.approx(0.941453, rel=1e-3)
        epoch = tce.header["TEPOCH"] + tce.header["BJDREFI"] + tce.header["BJDREFF"]
        assert epoch == pytest.approx(float(result.candidates["pl_tranmid"][0].value), abs=1e-6)
        for key in ("TDUR", "TDEPTH", "TSNR"):
            assert np.isfinite(tce.header[key])
        phase = tce.data["PHASE"]
        assert np.all(np.abs(phase) <= 0.5 * tce.header["TPERIOD"] + 1e-9)
        # The folded light curve is deepest at mid-transit.
        inside = np.abs(phase) < 0.25 * tce.header["TDUR"] / 24
        assert np.nanmedian(tce.data["LC_DETREND"][inside]) < 1 - 0.5e-6 * tce.header["TDEPTH"]
    cands = Table.read(paths["fits"], hdu="CANDIDATES")
    assert str(cands["pl_orbper"].unit) == "d"
    assert str(cands["pl_trandurh"].unit) == "h"
    assert cands["pl_orbper"][0] == pytest.approx(result.candidates["pl_orbper"][0].value)


def test_csv_has_archive_columns_and_units_header(written):
    from astropy.table import Table

    paths, result = written
    text = paths["csv"].read_text()
    assert text.startswith("# astrotinyml candidates")
    assert "# " + "  pl_orbper [d]" in text and "pl_trandep [ppm]" in text
    table = Table.read(paths["csv"], format="ascii.csv", comment="#")
    for name in ("hostname", "pl_orbper", "pl_tranmid", "pl_trandurh", "pl_trandep", "snr", "sde",
                 "n_transits"):
        assert name in table.colnames
    assert len(table) == len(result.candidates)


def test_pdf_pages_and_text(written):
    from pypdf import PdfReader

    paths, result = written
    reader = PdfReader(str(paths["pdf"]))
    assert len(reader.pages) == 1 + len(result.candidates)
    first = reader.pages[0].extract_text()
    assert "vetting report" in first
    assert "candidate 1" in reader.pages[1].extract_text()


def test_bundle_manifest_checksums(written):
    import hashlib

    paths, _ = written
    with zipfile.ZipFile(paths["bundle"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        for name, digest in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        assert "pl_trandep [ppm]" in zf.read("README.txt").decode()
        assert manifest["inputs"]


def test_no_overwrite_without_flag_and_nothing_half_written(written, tmp_path):
    paths, result = written
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_report(result, paths["json"].parent, formats=["json"])
    again = write_report(result, tmp_path, formats=["json", "csv"])
    assert set(again) == {"json", "csv"}
    write_report(result, tmp_path, formats=["json"], overwrite=True)


def test_unknown_format_is_a_clear_error(written, tmp_path):
    from astrotinyml.errors import InvalidParameterError

    _, result = written
    with pytest.raises(InvalidParameterError, match="choose from"):
        write_report(result, tmp_path, formats=["docx"])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "..", "a/b\\c", "x\x00y\n", "", "  ",
                                     "TIC 1' OR 1=1 --", "/abs/path", "ÅÉ 𝒳 name"])
def test_hostile_target_names_stay_inside_the_output_directory(hostile, tmp_path):
    name = safe_name(hostile)
    assert name and "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".")
    assert all(32 < ord(c) < 127 for c in name)
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_non_ascii_target_and_file_names_give_valid_fits(hot_jupiter_result, tmp_path):
    from astropy.io import fits

    result = dataclasses.replace(hot_jupiter_result, target="WASP-18 étoile ☉")
    paths = write_report(result, tmp_path, formats=["fits", "json"])
    with fits.open(paths["fits"]) as hdul:
        assert hdul[0].header["OBJECT"].startswith("WASP-18 etoile")
    assert json.loads(paths["json"].read_text())["target"] == "WASP-18 étoile ☉"


def test_failed_overwrite_keeps_the_previous_reports(hot_jupiter_result, tmp_path, monkeypatch):
    from astrotinyml.report import formats

    first = write_report(hot_jupiter_result, tmp_path, formats=["json", "csv"])
    before = {k: p.read_bytes() for k, p in first.items()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(formats, "write_csv", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(hot_jupiter_result, tmp_path, formats=["json", "csv"], overwrite=True)
    assert {k: p.read_bytes() for k, p in first.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in first.values())


def test_result_file_is_byte_for_byte_what_astropy_writes(written, tmp_path):
    # save_result writes the FITS bytes itself (astropy's card machinery was most of its
    # time); the file must be astropy's own, periodogram table included, and load back.
    import io

    from astrotinyml import results

    result = written[1]  # the PDF computed its periodogram
    assert result._periodogram is not None
    fast = results._result_bytes(result)
    assert fast is not None
    ref = io.BytesIO()
    results._result_hdulist(result).writeto(ref)
    assert fast == ref.getvalue()
    path = results.save_result(result, tmp_path / "w18.result.fits")
    assert path.read_bytes() == fast
    again = results.load_result(path)
    assert list(again.candidates.colnames) == list(result.candidates.colnames)
    assert np.allclose(again.candidates["pl_orbper"].value, result.candidates["pl_orbper"].value, rtol=0, atol=0)
    assert np.array_equal(again.flat.flux.value, result.flat.flux.value)


def test_result_file_with_a_masked_column_goes_through_astropy(hot_jupiter_result, tmp_path):
    from astropy.table import MaskedColumn

    from astrotinyml import results

    cands = hot_jupiter_result.candidates.copy()
    cands["note_mag"] = MaskedColumn(np.arange(len(cands), dtype=float), mask=[True] * len(cands))
    result = dataclasses.replace(hot_jupiter_result, candidates=cands)
    assert results._result_bytes(result) is None  # TNULL and masks: astropy's business
    again = results.load_result(results.save_result(result, tmp_path / "m.result.fits"))
    assert np.ma.is_masked(again.candidates["note_mag"][0])
