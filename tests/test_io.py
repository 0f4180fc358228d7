"""Reading real light curves: every file of the shared corpus, and targeted cases on bundled data.

The corpus test checks what can be checked against the corpus MANIFEST (written independently of
this reader): mission, time system and span, cadence, number of points, normalisation, errors,
and, for signals the MANIFEST saw with its own BLS, that the eclipses/transits are found in *our*
light curve exactly where the MANIFEST's epochs (converted with the MANIFEST's time systems) and
the catalogue ephemerides put them.  A time offset wrong by 2167 d (BKJD vs BTJD) moves the
predicted transits to a random phase and fails that test for all but two of 38 signals.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from conftest import SHARED_DATA

from astrotinyml import datasets
from astrotinyml.errors import InvalidParameterError, TimeFormatError
from astrotinyml.io import read_lightcurve, read_lightcurves, stitch

OFFSETS = {"BKJD": 2454833.0, "BTJD": 2457000.0, "BJD": 0.0}
MISSION_RANGES = {"Kepler": (2454900.0, 2456450.0), "K2": (2456700.0, 2458500.0),
                  "TESS": (2458300.0, 2461000.0)}


def _manifest_rows():
    path = SHARED_DATA / "lightcurves" / "MANIFEST.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = _manifest_rows()
PARAMS = [pytest.param(r, id=r["file"][:60]) for r in ROWS] or [
    pytest.param(None, id="corpus-absent", marks=pytest.mark.skip(reason=f"no corpus at {SHARED_DATA}"))
]


def file_offset(row) -> float:
    """Offset that turns the MANIFEST's file times into BJD_TDB."""
    ts = row["time_system"].strip().upper()
    for key in ("BKJD", "BTJD", "BJD"):
        if ts.startswith(key):
            return OFFSETS[key]
    # Kepler-90 rows leave it empty: official Kepler llc.fits are BKJD
    return OFFSETS["BKJD"] if row["mission"] in ("Kepler", "K2") else OFFSETS["BTJD"]


def cadence_days(row) -> float:
    c = row["cadence"]
    m = re.search(r"binned to (\d+(?:\.\d+)?) min", c) or re.search(r"(\d+(?:\.\d+)?)\s*min", c)
    if m:
        return float(m.group(1)) / 1440.0
    m = re.search(r"(\d+(?:\.\d+)?)\s*s\b", c)
    return float(m.group(1)) / 86400.0


def _split(field: str) -> list[str]:
    return [x.strip() for x in field.split("(")[0].split(";")] if field.strip() else []


def dip_z(jd, flux, epoch, period, half_width):
    """Robust significance of a dip at ``epoch`` (mod ``period``) against the flux just around it."""
    dt = (jd - epoch + 0.5 * period) % period - 0.5 * period
    a = np.abs(dt)
    inside = a < half_width
    near = (a > 2 * half_width) & (a < 6 * half_width)
    if inside.sum() < 3 or near.sum() < 10:
        return np.nan
    base = flux[near]
    mad = 1.4826 * np.median(np.abs(base - np.median(base)))
    return (np.median(base) - np.median(flux[inside])) / (1.2533 * mad / np.sqrt(inside.sum()))


def locate_dip(jd, flux, epoch, period, cadence, search):
    """(shift, z) of the most significant dip within ``search`` days of the predicted epoch."""
    w = float(np.clip(0.01 * period, 1.5 * cadence, 0.1))
    shifts = np.arange(-search, search + 1e-9, 0.005)
    z = np.array([dip_z(jd, flux, epoch + s, period, w) for s in shifts])
    if np.all(np.isnan(z)):
        return np.nan, np.nan
    k = int(np.nanargmax(z))
    return float(shifts[k]), float(z[k])


@pytest.mark.parametrize("row", PARAMS)
def test_corpus_file_reads_correctly(row, shared_data):
    path = shared_data / "lightcurves" / row["file"]
    lc = read_lightcurve(path)
    jd = np.asarray(lc.time.jd)
    flux = np.asarray(lc.flux.value, dtype=float)
    err = np.asarray(lc.flux_err.value, dtype=float)
    meta = lc.meta

    # meta
    assert meta["mission"] == row["mission"]
    assert meta["source_file"] == str(path.resolve())
    assert meta["sha256"] == row["sha256"]
    assert isinstance(meta["target"], str) and meta["target"]
    if re.search(r"(KIC|TIC|EPIC)\d+", row["file"]):
        ident = re.search(r"(KIC|TIC|EPIC)(\d+)", row["file"])
        assert meta["target"] == f"{ident.group(1)} {int(ident.group(2))}"
    assert meta["flux_column"]
    assert meta["time_format_in"] in ("bkjd", "btjd", "bjd")
    assert abs(file_offset(row) - {"bkjd": 2454833.0, "btjd": 2457000.0, "bjd": 0.0}[meta["time_format_in"]]) < 1e-9
    cad = cadence_days(row)
    assert meta["cadence_min"] == pytest.approx(cad * 1440.0, rel=0.05)
    seg = row["quarter_or_sector"]
    if re.fullmatch(r"[QCS]\d+", seg):
        key = {"Q": "quarter", "C": "campaign", "S": "sector"}[seg[0]]
        assert meta[key] == int(seg[1:])

    # time: BJD_TDB, sorted, unique, within the mission and the MANIFEST span
    assert lc.time.scale == "tdb"
    assert lc.time.format == {"Kepler": "bkjd", "K2": "bkjd", "TESS": "btjd"}[row["mission"]]
    lo, hi = MISSION_RANGES[row["mission"]]
    assert lo < jd.min() and jd.max() < hi
    assert np.all(np.diff(jd) > 0)
    start = float(row["time_start"]) + file_offset(row)
    end = float(row["time_end"]) + file_offset(row)
    tol = 1.5 * cad
    assert start - tol <= jd.min() and jd.max() <= end + tol
    assert jd.max() - jd.min() >= 0.6 * (end - start)

    # points, flux, errors
    assert len(lc) <= int(row["n_cadences"])
    assert len(lc) >= 0.5 * int(row["n_valid_flux"])
    assert np.all(np.isfinite(flux))
    assert np.median(flux) == pytest.approx(1.0, abs=1e-9)
    assert np.all(np.isnan(err) | (err > 0))
    if "placeholder" in row["notes"] or "flux_err(=0)" in row["notes"] or "no errors" in row["notes"]:
        assert np.all(np.isnan(err))

    # known periods fit the data's time span only as far as the MANIFEST says they are seen:
    # for every signal the MANIFEST's own BLS found (epoch_in_data_bls), the dip is in OUR light
    # curve at that epoch (converted with the MANIFEST's time system) ...
    periods = [float(p) for p in _split(row["known_period_days"])]
    bls = _split(row["epoch_in_data_bls"])
    m = re.match(r"^([\d.;\s]+)\((BKJD|BTJD)", row["known_epoch"])
    catalog = [x.strip() for x in m.group(1).strip().split(";")] if m else []
    for i, period in enumerate(periods):
        if i >= len(bls) or not bls[i]:
            continue
        epoch = float(bls[i]) + file_offset(row)
        assert jd.min() - cad <= epoch <= jd.max() + cad
        shift, z = locate_dip(jd, flux, epoch, period, cad, search=0.1)
        assert z > 3 and abs(shift) <= 0.075, (period, shift, z)
        # ... and the catalogue ephemeris (its own time system), propagated over up to
        # thousands of cycles, lands on the same dip
        if i < len(catalog) and catalog[i]:
            cat_epoch = float(catalog[i]) + OFFSETS[m.group(2)]
            shift, z = locate_dip(jd, flux, cat_epoch, period, cad, search=0.3)
            assert z > 3 and abs(shift) <= 0.3, (period, shift, z)


# --------------------------------------------------------------------------------------------
# bundled data (always run)
# --------------------------------------------------------------------------------------------


def test_kepler90_stitch_q3_q5():
    paths = datasets.sample_paths("kepler-90")
    parts = [read_lightcurve(p) for p in paths]
    lc = read_lightcurves(list(reversed(paths)))  # order of the paths must not matter
    jd = lc.time.jd
    assert lc.meta["target"] == "KIC 11442793"
    assert lc.meta["quarters"] == [3, 4, 5] and lc.meta["quarter"] is None
    assert lc.meta["mission"] == "Kepler"
    assert len(lc.meta["source_files"]) == 3
    assert np.all(np.diff(jd) > 0)
    assert len(lc) == sum(len(p) for p in parts)
    # Q3 start (BKJD 260.2) to Q5 end (538.2): 278 d, of which ~205 d have data (Q4 file is partial)
    assert 275 < jd.max() - jd.min() < 280
    assert 200 < sum(p.time.jd[-1] - p.time.jd[0] for p in parts) < 210
    assert lc.time.format == "bkjd"
    assert 260 < lc.time.value[0] < 261  # BKJD of the start of Q3
    for part in parts:  # each quarter normalised by its own median
        sel = (jd >= part.time.jd[0]) & (jd <= part.time.jd[-1])
        assert np.median(lc.flux.value[sel]) == pytest.approx(1.0, abs=1e-9)
    assert lc.meta["cadence_min"] == pytest.approx(29.4, rel=0.01)


def test_kepler90_giant_planet_transits_at_catalogue_times():
    # Kepler-90 g (P=210.60 d) and h (P=331.60 d), KOI-351 epochs in BKJD: single transits in Q4/Q5
    lc = datasets.load_sample("kepler-90")
    jd = lc.time.jd
    flux = lc.flux.value
    for period, epoch_bkjd in ((210.601384, 147.05687), (331.597273, 140.49893)):
        n = np.round((np.median(jd) - 2454833.0 - epoch_bkjd) / period)
        t = epoch_bkjd + n * period + 2454833.0
        assert jd.min() < t < jd.max()
        inside = np.abs(jd - t) < 0.1
        around = (np.abs(jd - t) > 0.6) & (np.abs(jd - t) < 2.0)
        assert inside.sum() >= 5
        depth = np.median(flux[around]) - np.median(flux[inside])
        assert depth > 0.003  # 0.4-0.8 % deep transits of the two giant planets


def test_wasp18_sample_time_and_meta():
    lc = datasets.load_sample("wasp-18")
    assert lc.meta["target"] == "TIC 100100827"
    assert lc.meta["sector"] == 2 and lc.meta["mission"] == "TESS"
    assert lc.time.format == "btjd"
    assert lc.time.jd[0] == pytest.approx(2458354.11, abs=0.01)
    assert lc.meta["cadence_min"] == pytest.approx(2.0, rel=0.01)
    # TOI-185.01 ephemeris (BTJD 3205.35332, P=0.941453 d) propagated ~1950 cycles back
    shift, z = locate_dip(lc.time.jd, lc.flux.value, 3205.35332 + 2457000.0, 0.941453, 2 / 1440, 0.1)
    assert z > 10 and abs(shift) < 0.04  # the 2.2-h transit has a flat bottom


def test_k2sc_default_flux_removes_pointing_systematics():
    path = datasets.sample_path("epic-248045685")
    corrected = read_lightcurve(path)
    raw = read_lightcurve(path, flux_column="flux")
    assert corrected.meta["flux_column"] == "k2sc_flux"
    assert raw.meta["flux_column"] == "flux"
    assert corrected.meta["campaign"] == 13 and corrected.meta["mission"] == "K2"
    # the K2 6-h roll sawtooth: point-to-point scatter drops once trposi is removed
    p2p = lambda f: np.median(np.abs(np.diff(f)))  # noqa: E731
    assert p2p(corrected.flux.value) < 0.8 * p2p(raw.flux.value)


def test_flux_column_override_and_error():
    path = datasets.sample_path("kic-2306740")
    pdc = read_lightcurve(path)
    sap = read_lightcurve(path, flux_column="SAP_FLUX")
    assert pdc.meta["flux_column"] == "pdcsap_flux"
    assert sap.meta["flux_column"] == "sap_flux"
    assert not np.allclose(pdc.flux.value[:100], sap.flux.value[:100])
    with pytest.raises(InvalidParameterError) as info:
        read_lightcurve(path, flux_column="no_such_flux")
    msg = str(info.value)
    assert path.name in msg and "no_such_flux" in msg and "pdcsap_flux" in msg


def test_text_flux_column_override(tests_data):
    path = tests_data / "tess_TOI-2000_TIC371188886_S9-S11_qlp30min.csv"
    ksp = read_lightcurve(path)
    raw = read_lightcurve(path, flux_column="rawflux")
    assert ksp.meta["flux_column"] == "kspflux" and raw.meta["flux_column"] == "rawflux"
    assert ksp.meta["sectors"] == [9, 10, 11] and ksp.meta["sector"] is None
    with pytest.raises(InvalidParameterError, match="rawflux, kspflux"):
        read_lightcurve(path, flux_column="pdcsap_flux")


def _write_two_column(path, t, f):
    path.write_text("time,flux\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(t, f)))


def test_ambiguous_text_time_requires_time_format(tmp_path):
    t = np.linspace(1500.0, 1510.0, 200)
    f = 1000.0 + np.sin(t)
    path = tmp_path / "mystar.txt"
    _write_two_column(path, t, f)
    with pytest.raises(TimeFormatError) as info:
        read_lightcurve(path)
    msg = str(info.value)
    assert "mystar.txt" in msg
    for name in ("'bkjd'", "'btjd'", "'bjd'", "'bjd-2450000'", "'bjd-2400000'"):
        assert name in msg
    tess = read_lightcurve(path, time_format="btjd")
    kep = read_lightcurve(path, time_format="BKJD")
    assert tess.time.jd[0] == pytest.approx(2458500.0)
    assert kep.time.jd[0] == pytest.approx(2456333.0)
    assert tess.meta["mission"] is None and tess.time.format == "jd"
    assert tess.meta["target"] == "mystar"
    assert tess.meta["time_format_source"] == "time_format keyword"
    # the mission (keyword or file-name prefix) fixes the standard offset
    assert read_lightcurve(path, mission="TESS").time.jd[0] == pytest.approx(2458500.0)
    named = tmp_path / "tess_mystar.txt"
    _write_two_column(named, t, f)
    lc = read_lightcurve(named)
    assert lc.meta["mission"] == "TESS" and lc.time.format == "btjd"
    assert lc.time.jd[0] == pytest.approx(2458500.0)
    with pytest.raises(TimeFormatError, match="'btjd'"):
        read_lightcurve(path, time_format="tjd")


def test_time_format_that_puts_data_outside_the_mission_is_refused(tmp_path):
    path = tmp_path / "kepler_star.txt"
    _write_two_column(path, np.linspace(1500.0, 1510.0, 50), np.ones(50))
    assert read_lightcurve(path).time.jd[0] == pytest.approx(2456333.0)  # Kepler Q16, BKJD
    with pytest.raises(TimeFormatError, match="kepler_star.txt"):
        read_lightcurve(path, time_format="btjd")  # would be 2018: not Kepler


def test_time_systems_from_column_names_and_full_jd(tmp_path):
    t = np.linspace(2458400.0, 2458410.0, 100)
    for header, values, expected in (
        ("BJD_TDB,flux", t, 2458400.0),
        ("btjd,flux", t - 2457000.0, 2458400.0),
        ("BJD-2450000,flux", t - 2450000.0, 2458400.0),
        ("time,flux", t, 2458400.0),  # values > 2.4e6: full JD
        ("mjd,flux", t - 2400000.5, 2458400.0),
    ):
        path = tmp_path / "anon.csv"
        path.write_text(header + "\n" + "".join(f"{a:.6f},1.0\n" for a in values))
        lc = read_lightcurve(path)
        assert lc.time.jd[0] == pytest.approx(expected, abs=1e-6), header


def test_magnitudes_are_converted_to_flux(tmp_path):
    t = np.linspace(2458400.0, 2458410.0, 300)
    mag = np.full_like(t, 10.0)
    in_transit = (t > 2458405.0) & (t < 2458405.2)
    mag[in_transit] += 0.01  # 1 % fainter ~ 0.9 % flux drop
    path = tmp_path / "star_phot.csv"
    path.write_text("bjd,mag,mag_err\n" + "".join(f"{a:.6f},{m:.5f},0.002\n" for a, m in zip(t, mag)))
    lc = read_lightcurve(path)
    assert lc.meta["flux_column"] == "mag" and lc.meta["flux_from_magnitude"]
    assert np.median(lc.flux.value) == pytest.approx(1.0)
    assert lc.flux.value[in_transit][0] == pytest.approx(10 ** (-0.4 * 0.01), rel=1e-6)
    assert lc.flux_err.value[0] == pytest.approx(0.4 * np.log(10) * 0.002, rel=1e-3)


def test_unsorted_and_duplicated_times_are_sorted_and_deduplicated(tmp_path):
    rng = np.random.default_rng(1)
    t = np.arange(50) * 0.02 + 2458400.0
    f = 100.0 + rng.normal(0, 0.1, t.size)
    order = rng.permutation(t.size)
    tt = np.concatenate([t[order], t[:5]])
    ff = np.concatenate([f[order], f[:5]])
    path = tmp_path / "shuffled.csv"
    path.write_text("BJD_TDB,flux,flux_err\n" + "".join(f"{a:.6f},{b:.6f},0.1\n" for a, b in zip(tt, ff)))
    lc = read_lightcurve(path)
    assert len(lc) == 50
    assert np.all(np.diff(lc.time.jd) > 0)
    np.testing.assert_allclose(lc.flux.value * lc.meta["normalization"], f, rtol=1e-6)
    np.testing.assert_allclose(lc.flux_err.value, 0.1 / lc.meta["normalization"], rtol=1e-6)


def test_placeholder_errors_become_nan(tests_data):
    lc = read_lightcurve(tests_data / "k2_K2-32_EPIC205071984_C2_juliet.dat")  # flux_err column = 0
    assert np.all(np.isnan(lc.flux_err.value))
    assert lc.meta["target"] == "EPIC 205071984" and lc.meta["time_format_in"] == "bjd"


def test_text_layouts_bundled_for_tests(tests_data):
    dave = read_lightcurve(tests_data / "k2_EPIC210490365_C4_dave_detrended.dat")
    assert dave.meta["flux_column"] == "Corrflux" and dave.meta["campaign"] == 4
    qlp7 = read_lightcurve(tests_data / "tess_WASP-111_TOI-143_TIC25375553_S1_qlp30min.txt")
    assert qlp7.meta["flux_column"] == "flux"  # 3rd of 7 header-less columns (detrended)
    assert len(qlp7) < 1282  # quality-flagged cadences dropped
    assert len(read_lightcurve(tests_data / "tess_WASP-111_TOI-143_TIC25375553_S1_qlp30min.txt",
                               quality_bitmask="none")) == 1282
    enosair = read_lightcurve(tests_data / "kepler_KIC1026032_Q17_enosair_sapflux.csv")
    assert enosair.meta["time_format_in"] == "bkjd"
    assert "comment" in enosair.meta["time_format_source"]
    npz = read_lightcurve(tests_data / "tess_TOI-1338_TIC260128333_S6_EB+CBP_tessspoc_bin30min.npz")
    assert npz.meta["reader"] == "npz" and npz.meta["target"] == "TIC 260128333"
    qlp = read_lightcurve(tests_data / "tess_TOI-1130_TIC254113311_S13_qlp_hlsp_llc.fits")
    assert qlp.meta["flux_column"] == "kspsap_flux"
    assert np.all(np.isfinite(qlp.flux_err.value))


def test_stitch_refuses_different_targets():
    a = datasets.load_sample("wasp-18")
    b = read_lightcurve(datasets.sample_path("kic-2306740"))
    with pytest.raises(InvalidParameterError, match="different targets"):
        stitch([a, b])
    joined = stitch([a, b], target="whatever")
    assert joined.meta["target"] == "whatever"
    assert np.all(np.diff(joined.time.jd) > 0)
    with pytest.raises(InvalidParameterError):
        stitch([])


def test_generic_fits_table_time_system(tmp_path):
    from astropy.io import fits

    n = 200
    t = np.linspace(1500.0, 1510.0, n)
    cols = [fits.Column(name="TIME", format="D", array=t),
            fits.Column(name="FLUX", format="E", array=np.full(n, 500.0, "f4")),
            fits.Column(name="FLUX_ERR", format="E", array=np.full(n, 5.0, "f4"))]
    bare = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    path = tmp_path / "custom.fits"
    fits.HDUList([fits.PrimaryHDU(), bare]).writeto(path)
    with pytest.raises(TimeFormatError, match="custom.fits.*BJDREFI"):
        read_lightcurve(path)
    lc = read_lightcurve(path, time_format="btjd")
    assert lc.time.jd[0] == pytest.approx(2458500.0)
    assert lc.flux_err.value[0] == pytest.approx(0.01)
    with_ref = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    with_ref.header["BJDREFI"] = 2454833
    with_ref.header["BJDREFF"] = 0.0
    path2 = tmp_path / "custom_ref.fits"
    fits.HDUList([fits.PrimaryHDU(), with_ref]).writeto(path2)
    lc2 = read_lightcurve(path2)
    assert lc2.time.jd[0] == pytest.approx(2456333.0)
    assert lc2.meta["reader"] == "fits-table" and lc2.meta["time_format_source"] == "FITS header"
