"""Known-ephemeris vetting (TOI / KOI / own ephemeris), the ExoFOP file and `astrotinyml report`.

Real data: WASP-18 b (TOI-185.01) in its bundled TESS sector 2; the TOI snapshot's epoch is
~2000 orbits later (sector 29+), so it must be propagated back into sector 2.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from astrotinyml import datasets, detect
from astrotinyml.apps.cli import main
from astrotinyml.ephemerides import (NoTransitInDataError, catalog_ephemerides, ephemerides_in_data,
                                     ephemeris_table, propagated_epoch)
from astrotinyml.errors import DataUnavailableError, InvalidParameterError
from astrotinyml.report.exofop import CTOI_COLUMNS, CTOI_UNITS, ctoi_lines
from astrotinyml.results import load_result, save_result

P_WASP18 = 0.94145223  # d (Shporer et al. 2019)


@pytest.fixture(scope="module")
def wasp18():
    return datasets.load_sample("wasp-18")


@pytest.fixture(scope="module")
def toi185():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return catalog_ephemerides("TOI-185.01", offline=True)


@pytest.fixture(scope="module")
def vetted(wasp18, toi185):
    return detect(wasp18, ephemerides=toi185, fit="lsq")


def test_catalog_ephemerides_toi_and_koi_offline(toi185):
    assert str(toi185["name"][0]) == "TOI-185.01" and str(toi185["host"][0]) == "TIC 100100827"
    assert abs(float(toi185["pl_orbper"][0].value) / P_WASP18 - 1) < 1e-5
    assert float(toi185["pl_tranmiderr1"][0].value) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        koi = catalog_ephemerides("KOI-752.01", offline=True)
    assert str(koi["name"][0]) == "K00752.01"
    # KOI epochs are BKJD in the archive: full BJD here, with the catalogue's errors.
    assert float(koi["pl_tranmid"][0].value) > 2454833.0
    assert float(koi["pl_orbpererr1"][0].value) == pytest.approx(2.775e-05)
    with pytest.raises(InvalidParameterError, match="not a TOI"):
        catalog_ephemerides("WASP-18 b", offline=True)
    with warnings.catch_warnings(), pytest.raises(DataUnavailableError, match="TOI-99999.01"):
        warnings.simplefilter("ignore")
        catalog_ephemerides("TOI-99999.01", offline=True)


def test_propagated_epoch_uncertainty_grows_with_orbits():
    t, s = propagated_epoch(2459000.0, 2.0, 0.001, 1e-4, 1000)
    assert t == 2461000.0 and s == pytest.approx(math.hypot(0.001, 0.1))


def test_ephemeris_table_rejects_bad_input():
    with pytest.raises(InvalidParameterError, match="full BJD"):
        ephemeris_table(period=2.0, epoch=1500.3)  # a BTJD
    with pytest.raises(InvalidParameterError, match="positive"):
        ephemeris_table(period=-1.0, epoch=2459000.0)
    with pytest.raises(InvalidParameterError, match="no ephemeris"):
        ephemeris_table()


def test_known_ephemeris_is_propagated_into_the_data_and_refined(wasp18, toi185):
    from astrotinyml import detrend

    flat = detrend(wasp18)
    # A 20-minute offset in the given epoch is found again by the refinement.
    off = ephemeris_table(period=float(toi185["pl_orbper"][0].value),
                          epoch=float(toi185["pl_tranmid"][0].value) + 20 / 1440, duration=2.2)
    c = ephemerides_in_data(flat, off)
    truth = ephemerides_in_data(flat, toi185)
    assert abs(float(c["pl_tranmid"][0].value) - float(truth["pl_tranmid"][0].value)) < 5 / 1440
    assert int(c["n_transits"][0]) >= 25  # 27 d of data, P = 0.94 d
    assert 9000 < float(c["pl_trandep"][0]) < 11500  # ~1 % deep
    # ~2000 orbits from the TOI epoch: the propagated uncertainty is stated.
    assert float(truth["pl_tranmid_prederr"][0].value) > float(toi185["pl_tranmiderr1"][0].value)


def test_no_transit_in_data_is_one_clear_error(wasp18):
    with pytest.raises(NoTransitInDataError, match="no predicted transit falls on data"):
        detect(wasp18, ephemerides=ephemeris_table(period=300.0, epoch=2458200.0, duration=5.0))


def test_detect_with_ephemerides_vets_fits_and_labels(vetted):
    c = vetted.candidates
    assert len(c) == 1 and str(c["name"][0]) == "TOI-185.01"
    assert vetted.options["search_passes_run"] == 0 and vetted.options["fit"] == "lsq"
    assert abs(float(c["pl_orbper"][0].value) / P_WASP18 - 1) < 1e-3
    # Shporer et al. 2019: Rp/R* 0.09716 +- 0.00014, b 0.358 +- 0.015 (least squares here).
    k, ek = float(c["pl_ratror"][0]), float(c["pl_ratrorerr1"][0])
    assert abs(k - 0.09716) < 3 * math.hypot(ek, 0.00014) + 0.001
    assert 0.3 < float(c["pl_imppar"][0]) < 0.45
    # The star's radius (1.35 R_sun in the TOI snapshot) gives the planet's: ~14 R_earth.
    assert 12.0 < float(c["pl_rade"][0].value) < 16.5 and float(c["pl_radeerr1"][0].value) > 0
    assert str(c["label"][0]) == "planet"
    assert c.meta["fit_posteriors"][0]["pl_ratror"].size > 100


def test_exofop_lines_have_every_field_in_exofop_units(vetted):
    lines = ctoi_lines(vetted, tag="20261201_test")
    assert len(lines) == 1
    fields = lines[0].split("|")
    assert len(fields) == len(CTOI_COLUMNS) == 43
    rec = dict(zip(CTOI_COLUMNS, fields))
    # A known TOI: new parameters for it, not a new CTOI.
    assert rec["target"] == "185.01" and rec["flag"] == "newparams" and rec["disp"] == "PC"
    assert abs(float(rec["period"]) / P_WASP18 - 1) < 1e-3          # days
    assert float(rec["epoch"]) > 2.4e6                              # full BJD_TDB
    assert 9000 < float(rec["depth"]) < 12000                       # ppm
    assert 1.9 < float(rec["duration"]) < 2.5                       # hours
    assert 0.08 < float(rec["r_planet"]) < 0.11                     # Rp/R*
    assert 3.0 < float(rec["ar_star"]) < 4.0                        # a/R*
    assert 80.0 < float(rec["inc"]) < 90.0                          # degrees
    assert 12 < float(rec["radius"]) < 17                           # R_earth
    for name in ("period", "epoch", "depth", "duration", "r_planet", "ar_star", "radius"):
        unc = "a_rstar_unc" if name == "ar_star" else f"{name}_unc"
        assert float(rec[unc]) > 0, unc
    assert rec["mass"] == "" and rec["tag"] == "20261201_test" and rec["prop_period"] == "0"
    assert set(CTOI_UNITS) <= set(CTOI_COLUMNS)


def test_saved_result_round_trips(vetted, tmp_path):
    path = save_result(vetted, tmp_path / "w.result.fits")
    again = load_result(path)
    a, b = vetted.candidates, again.candidates
    assert again.target == vetted.target and a.colnames == b.colnames
    for name in ("pl_orbper", "pl_rade", "p_planet"):
        assert np.allclose(np.asarray(getattr(a[name], "value", a[name]), float),
                           np.asarray(getattr(b[name], "value", b[name]), float), equal_nan=True)
    assert getattr(b["pl_rade"], "unit", None) is not None
    assert np.allclose(again.flat.flux.value, vetted.flat.flux.value, equal_nan=True)
    assert b.meta["fit_best"][0]["pl_ratror"] == pytest.approx(a.meta["fit_best"][0]["pl_ratror"])
    with pytest.raises(Exception, match="result file"):
        (tmp_path / "bad.result.fits").write_bytes(b"not fits")
        load_result(tmp_path / "bad.result.fits")


def test_cli_vet_then_report_rebuilds_without_detecting(tmp_path, capsys):
    lc_file = datasets.sample_path("wasp-18")
    out = tmp_path / "run"
    assert main(["vet", str(lc_file), "--toi", "185.01", "--fit", "lsq", "-o", str(out),
                 "--formats", "json"]) == 0
    target_dir = out / "TIC_100100827"
    assert (target_dir / "TIC_100100827.result.fits").is_file()
    assert main(["report", str(out), "--submit-ready", "--overwrite"]) == 0
    names = sorted(p.name for p in target_dir.iterdir())
    assert {"TIC_100100827.pdf", "TIC_100100827.fits", "TIC_100100827.csv",
            "TIC_100100827_submission.zip"} <= set(names)
    assert any(n.startswith("params_planet_") for n in names)
    summary = (out / "summary_candidates.csv").read_text().splitlines()
    assert summary[0].startswith("hostname,candidate,pl_orbper") and "planet" in summary[1]
    ctoi = [p for p in out.iterdir() if p.name.startswith("params_planet_")]
    assert len(ctoi) == 1 and ctoi[0].read_text().startswith("185.01|newparams|PC|")
    # Exactly one way to give the ephemeris.
    assert main(["vet", str(lc_file), "--toi", "185.01", "--epoch", "2458354.5", "-o", str(out)]) == 1
    assert "exactly one of" in capsys.readouterr().err


def test_cli_vet_toi_offline_from_the_cache_without_a_file(tmp_path, monkeypatch):
    # A TOI of the bundled snapshot whose light curve is in the cache: no file, no network.
    import socket

    from astrotinyml.remote import mast as fetch

    cache = tmp_path / "cache"
    fetch.import_to_cache([datasets.sample_path("wasp-18")], cache_dir=cache)

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    out = tmp_path / "out"
    assert main(["vet", "--toi", "185.01", "--fit", "lsq", "--offline", "--cache-dir", str(cache),
                 "-o", str(out), "--formats", "csv"]) == 0
    rows = (out / "TIC_100100827" / "TIC_100100827.csv").read_text()
    assert "TOI-185.01" in rows and "planet" in rows


def test_kepler90_d_from_its_koi_matches_the_dr25_fit():
    # KOI cumulative table (DR25): K00351.03 = Kepler-90 d, depth 566 +- 13 ppm, T14 8.0006 +-
    # 0.0951 h, Rp 2.84 +0.46/-0.38 R_earth (R* 1.20).  Three bundled quarters hold 4 transits.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eph = catalog_ephemerides("K00351.03", offline=True)
        res = detect(datasets.load_sample("kepler-90"), ephemerides=eph, fit="lsq")
    c = res.candidates
    assert int(c["n_transits"][0]) == 4 and str(c["label"][0]) == "planet"
    assert abs(float(c["pl_orbper"][0].value) / 59.7371443 - 1) < 1e-3
    for col, ref, ref_err in (("pl_trandep", 566.0, 13.0), ("pl_trandurh", 8.0006, 0.0951),
                              ("pl_rade", 2.84, 0.46)):
        v = float(getattr(c[col][0], "value", c[col][0]))
        e = float(getattr(c[col + "err1"][0], "value", c[col + "err1"][0]))
        assert abs(v - ref) < 3 * math.hypot(e, ref_err), (col, v, e)
