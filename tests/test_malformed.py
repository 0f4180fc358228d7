"""Malformed inputs: each raises one specific AstroTinyMLError subclass naming the file.

Real broken files from ``tests/data/malformed`` plus generated cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from astrotinyml.errors import (
    AstroTinyMLError,
    InvalidParameterError,
    LightCurveDataError,
    LightCurveFileNotFoundError,
    LightCurveFormatError,
    TimeFormatError,
)
from astrotinyml.io import MIN_POINTS, read_lightcurve, read_lightcurves

REAL_BROKEN = {
    "test-lc-tess-pimen-corrupted.fits": (LightCurveFormatError, "truncated"),
    "test-lc-tess-pimen-corrupted-at-header.fits": (LightCurveFormatError, "corrupt"),
    "test-lc-tess-pimen-corrupted-at-header2.fits": (LightCurveFormatError, "corrupt"),
    "test-tpf-tess-pimen-corrupted.fits": (LightCurveFormatError, "target pixel file"),
}


@pytest.mark.parametrize("name", sorted(REAL_BROKEN))
def test_real_broken_files(tests_data, name):
    exc, phrase = REAL_BROKEN[name]
    with pytest.raises(exc) as info:
        read_lightcurve(tests_data / "malformed" / name)
    assert name in str(info.value)
    assert phrase in str(info.value).lower()
    assert type(info.value) is exc  # exactly this subclass, not a bare library error


def test_every_file_in_malformed_dir_is_covered(tests_data):
    names = {p.name for p in (tests_data / "malformed").iterdir()}
    assert names == set(REAL_BROKEN) | {"test-lc-tess-pimen-100-cadences.fits"}


def test_valid_100_cadence_file_reads(tests_data):
    lc = read_lightcurve(tests_data / "malformed" / "test-lc-tess-pimen-100-cadences.fits")
    assert 90 <= len(lc) <= 100
    assert lc.meta["mission"] == "TESS" and lc.meta["target"] == "TIC 261136679"
    assert 2458300 < lc.time.jd[0] < 2458400
    assert np.median(lc.flux.value) == pytest.approx(1.0)


def test_target_pixel_file_message_says_how_to_fix(tmp_path):
    from astropy.io import fits

    # a small but complete TESS target pixel file layout: primary + PIXELS table
    n = 20
    cols = [
        fits.Column(name="TIME", format="D", array=np.linspace(1325.0, 1326.0, n)),
        fits.Column(name="FLUX", format="9E", dim="(3,3)", array=np.ones((n, 3, 3), "f4")),
        fits.Column(name="QUALITY", format="J", array=np.zeros(n, "i4")),
    ]
    primary = fits.PrimaryHDU()
    primary.header["TELESCOP"] = "TESS"
    primary.header["CREATOR"] = "TargetPixelExporterPipelineModule"
    primary.header["TICID"] = 261136679
    pixels = fits.BinTableHDU.from_columns(cols, name="PIXELS")
    aperture = fits.ImageHDU(np.ones((3, 3), "i4"), name="APERTURE")
    path = tmp_path / "tess-s0001-tp.fits"
    fits.HDUList([primary, pixels, aperture]).writeto(path)
    with pytest.raises(LightCurveFormatError) as info:
        read_lightcurve(path)
    msg = str(info.value)
    assert path.name in msg and "target pixel file" in msg and "to_lightcurve" in msg


def test_missing_path(tmp_path):
    path = tmp_path / "nope_lc.fits"
    with pytest.raises(LightCurveFileNotFoundError) as info:
        read_lightcurve(path)
    assert "nope_lc.fits" in str(info.value)
    assert isinstance(info.value, FileNotFoundError)


def test_directory(tmp_path):
    d = tmp_path / "a_directory"
    d.mkdir()
    with pytest.raises(LightCurveFileNotFoundError, match="a_directory.*is a directory"):
        read_lightcurve(d)


@pytest.mark.parametrize("name", ["empty.csv", "empty.fits", "empty.npy", "empty.txt"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(LightCurveFormatError, match=name.replace(".", r"\.") + ".*empty"):
        read_lightcurve(path)


def test_whitespace_only_file(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text("\n   \n\t\n")
    with pytest.raises(LightCurveFormatError, match="blank.txt.*empty"):
        read_lightcurve(path)


def test_header_only(tmp_path):
    path = tmp_path / "tess_header_only.csv"
    path.write_text("time,flux,flux_err\n")
    with pytest.raises(LightCurveDataError, match="tess_header_only.csv.*no data rows"):
        read_lightcurve(path)


def test_comments_only(tmp_path):
    path = tmp_path / "comments.txt"
    path.write_text("# TIME FLUX\n# nothing here\n")
    with pytest.raises(LightCurveDataError, match="comments.txt"):
        read_lightcurve(path)


@pytest.mark.parametrize("n", [1, 2, MIN_POINTS - 1])
def test_too_few_rows(tmp_path, n):
    path = tmp_path / f"star_{n}rows.csv"  # no mission prefix: too few rows wins over time system
    path.write_text("time,flux\n" + "".join(f"{1500 + 0.01 * i},{1.0 + i * 1e-3}\n" for i in range(n)))
    with pytest.raises(LightCurveDataError) as info:
        read_lightcurve(path)
    assert path.name in str(info.value) and f"at least {MIN_POINTS}" in str(info.value)


def test_exactly_min_points_reads(tmp_path):
    path = tmp_path / "tess_minrows.csv"
    path.write_text("time,flux\n" + "".join(f"{1500 + 0.01 * i},1.0\n" for i in range(MIN_POINTS)))
    assert len(read_lightcurve(path)) == MIN_POINTS


def test_all_nan_flux(tmp_path):
    path = tmp_path / "tess_allnan.csv"
    path.write_text("time,flux\n" + "".join(f"{1500 + 0.01 * i},NaN\n" for i in range(50)))
    with pytest.raises(LightCurveDataError, match="tess_allnan.csv.*no finite values"):
        read_lightcurve(path)


def test_all_nan_flux_fits(tmp_path):
    from astropy.io import fits

    n = 50
    cols = [
        fits.Column(name="TIME", format="D", array=np.linspace(1325.0, 1326.0, n)),
        fits.Column(name="FLUX", format="E", array=np.full(n, np.nan, "f4")),
    ]
    hdu = fits.BinTableHDU.from_columns(cols, name="LIGHTCURVE")
    hdu.header["BJDREFI"] = 2457000
    hdu.header["BJDREFF"] = 0.0
    path = tmp_path / "nanflux.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    with pytest.raises(LightCurveDataError, match="nanflux.fits"):
        read_lightcurve(path)


@pytest.mark.parametrize("junk", [
    "hello world\nthis is not\na light curve\n",
    "time,flux\n1500.0,1.0\n1500.1,abc\n1500.2,1.0\n" + "".join(f"{1500.3 + i},1.0\n" for i in range(20)),
    "time,flux\n" + "".join(f"{1500 + i},1.0\n" for i in range(20)) + "1520,1.0,7\n",
])
def test_non_numeric_junk(tmp_path, junk):
    path = tmp_path / "tess_junk.csv"
    path.write_text(junk)
    with pytest.raises(LightCurveFormatError) as info:
        read_lightcurve(path)
    assert "tess_junk.csv" in str(info.value)


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.dat"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(LightCurveFormatError, match="garbage.dat"):
        read_lightcurve(path)


@pytest.mark.parametrize("values, phrase", [(0.0, "median"), (-5.0, "median")])
def test_zero_or_negative_flux(tmp_path, values, phrase):
    path = tmp_path / "tess_negflux.csv"
    rng = np.random.default_rng(0)
    rows = "".join(f"{1500 + 0.01 * i},{values + rng.normal(0, 1e-3)}\n" for i in range(50))
    path.write_text("time,flux\n" + rows)
    with pytest.raises(LightCurveDataError) as info:
        read_lightcurve(path)
    assert "tess_negflux.csv" in str(info.value) and phrase in str(info.value)


def test_image_only_fits(tmp_path):
    from astropy.io import fits

    path = tmp_path / "image_only.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((10, 10), "f4")), fits.ImageHDU(np.ones((5, 5)))]).writeto(path)
    with pytest.raises(LightCurveFormatError) as info:
        read_lightcurve(path)
    msg = str(info.value)
    assert "image_only.fits" in msg and "no light-curve extension" in msg


def test_fits_table_without_flux(tmp_path):
    from astropy.io import fits

    cols = [fits.Column(name="RA", format="D", array=np.arange(5.0))]
    path = tmp_path / "catalog.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    with pytest.raises(LightCurveFormatError, match="catalog.fits.*no light-curve extension"):
        read_lightcurve(path)


def test_truncated_copy_of_real_fits(tmp_path, tests_data):
    data = (tests_data / "malformed" / "test-lc-tess-pimen-100-cadences.fits").read_bytes()
    for cut in (100, 2880 + 500, len(data) - 3000):
        path = tmp_path / f"cut{cut}.fits"
        path.write_bytes(data[:cut])
        with pytest.raises(LightCurveFormatError) as info:
            read_lightcurve(path)
        assert path.name in str(info.value)


def test_corrupt_numpy_files(tmp_path):
    npy = tmp_path / "broken.npy"
    npy.write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(LightCurveFormatError, match="broken.npy"):
        read_lightcurve(npy)
    obj = tmp_path / "objects.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(LightCurveFormatError, match="objects.npy"):
        read_lightcurve(obj)
    one_d = tmp_path / "kepler_1d.npy"
    np.save(one_d, np.arange(100.0))
    with pytest.raises(LightCurveFormatError, match="kepler_1d.npy.*shape"):
        read_lightcurve(one_d)
    npz = tmp_path / "broken.npz"
    npz.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(LightCurveFormatError, match="broken.npz"):
        read_lightcurve(npz)


def test_wrong_flux_column_text(tmp_path):
    path = tmp_path / "tess_cols.csv"
    path.write_text("time,sap_flux,pdcsap_flux\n" + "".join(f"{1500 + 0.01 * i},1.0,1.0\n" for i in range(20)))
    with pytest.raises(InvalidParameterError) as info:
        read_lightcurve(path, flux_column="kspsap_flux")
    msg = str(info.value)
    assert "tess_cols.csv" in msg and "kspsap_flux" in msg and "sap_flux, pdcsap_flux" in msg


def test_missing_time_format_for_bare_file(tmp_path):
    path = tmp_path / "lc.dat"
    path.write_text("".join(f"{1500 + 0.02 * i} {1.0 + 1e-4 * (i % 3)} 0.001\n" for i in range(100)))
    with pytest.raises(TimeFormatError) as info:
        read_lightcurve(path)
    assert "lc.dat" in str(info.value) and "time_format" in str(info.value)


def test_bad_keywords(tests_data):
    path = tests_data / "tess_TIC363326796_S9_EB_tessspoc_bin30min.txt"
    with pytest.raises(InvalidParameterError, match="quality_bitmask"):
        read_lightcurve(path, quality_bitmask="strict")
    with pytest.raises(InvalidParameterError, match="mission"):
        read_lightcurve(path, mission="Hubble")
    with pytest.raises(TimeFormatError, match="contradicts the FITS header"):
        read_lightcurve(tests_data / "tess_TOI-1130_TIC254113311_S13_qlp_hlsp_llc.fits", time_format="bkjd")
    with pytest.raises(InvalidParameterError, match="no paths"):
        read_lightcurves([])


def test_errors_never_leak_library_exceptions(tmp_path, tests_data):
    """A sweep of odd inputs: whatever happens, it is an AstroTinyMLError."""
    cases = {
        "a.csv": "time,flux\n,\n,\n",
        "b.csv": '"time","flux"\n' + "NA,NA\n" * 30,
        "c.txt": "1 2 3\n4 5\n",
        "tess_d.csv": "time;flux\n" + "".join(f"{1500 + i};1\n" for i in range(20)),
        "e.fits": "SIMPLE  =                    T" + " " * 50,
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        try:
            read_lightcurve(path)
        except AstroTinyMLError as err:
            assert name in str(err)
