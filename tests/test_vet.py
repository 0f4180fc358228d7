"""Vetting diagnostics on real light curves (bundled samples in astrotinyml/data).

Physics checked: the hot Jupiter WASP-18 b passes odd/even and shows only its real,
planet-sized occultation (TESS: ~340 ppm, Shporer et al. 2019); the eccentric eclipsing
binary KIC 2306740 shows a deep secondary away from phase 0.5, and alternating depths when
folded at half its period (what a box search reports for an EB with similar eclipses).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

WASP18 = dict(pl_orbper=0.941453, pl_tranmid=2458354.4565, pl_trandurh=2.2, pl_trandep=10000.0)
# Epoch: own BLS in the bundled Q2 file (BKJD 174.6519); KEBC period.
KIC2306740 = dict(pl_orbper=10.306987, pl_tranmid=2454833.0 + 174.6519, pl_trandurh=10.0, pl_trandep=3.0e5)
WASP18_DENSITY = 0.92  # g/cm^3: M = 1.22 Msun, R = 1.23 Rsun


def _flat(sample, cand):
    from astropy.table import QTable

    from astrotinyml.datasets import load_sample
    from astrotinyml.detrend import detrend

    raw = load_sample(sample)
    return raw, detrend(raw, mask=QTable(rows=[cand]))


@pytest.fixture(scope="module")
def wasp18():
    return _flat("wasp-18", WASP18)


@pytest.fixture(scope="module")
def eb():
    return _flat("kic-2306740", KIC2306740)


@pytest.fixture(scope="module")
def wasp18_row(wasp18):
    from astrotinyml.vet import vet

    raw, flat = wasp18
    return vet(flat, [WASP18], raw_lc=raw, stellar_density=WASP18_DENSITY)[0]


@pytest.fixture(scope="module")
def eb_table(eb):
    from astrotinyml.vet import vet

    raw, flat = eb
    half = dict(KIC2306740, pl_orbper=KIC2306740["pl_orbper"] / 2)
    return vet(flat, [KIC2306740, half], raw_lc=raw)


def test_planet_passes_odd_even_and_depth_tests(wasp18_row):
    r = wasp18_row
    assert 9000 < r["vet_depth_ppm"] < 12500
    assert r["oddeven_sigma"] < 3
    assert abs(r["depth_odd_ppm"] - r["depth_even_ppm"]) < 0.03 * r["vet_depth_ppm"]
    assert r["shape_v"] < 0.5  # U-shaped
    assert r["n_transits_data"] >= 25 and r["coverage"] > 0.9
    assert r["depth_chi2_dof"] < 3
    assert r["max_single_event_fraction"] < 0.1
    assert r["vet_flags"] == ""


def test_planet_occultation_is_found_and_planetary(wasp18_row):
    r = wasp18_row
    # WASP-18 b's real secondary eclipse: at phase 0.5, a few hundred ppm, albedo-compatible.
    assert abs(r["secondary_phase"] - 0.5) < 0.03
    assert 150 < r["secondary_depth_ppm"] < 700
    assert r["secondary_depth_ppm"] < 0.1 * r["vet_depth_ppm"]
    assert r["secondary_albedo"] < 1
    assert "SECONDARY" not in r["vet_flags"]


def test_planet_density_consistent(wasp18_row):
    r = wasp18_row
    assert r["stellar_density"].value == pytest.approx(WASP18_DENSITY)
    assert 0.5 < r["density_ratio"] < 2.0
    assert not r["density_flag"]
    assert 0.08 < r["rp_rs"] < 0.12


def test_eccentric_eb_secondary_off_half_phase(eb_table):
    r = eb_table[0]
    assert r["secondary_detected"]
    assert abs(r["secondary_phase"] - 0.5) > 0.01  # eccentric orbit
    assert r["secondary_depth_ppm"] > 0.3 * r["vet_depth_ppm"]
    assert r["secondary_depth_ppm"] > 5 * r["sec05_depth_ppm"]
    assert r["secondary_albedo"] > 1
    assert "SECONDARY" in r["vet_flags"]
    assert r["oddeven_sigma"] < 3  # at the true period both eclipse series are primaries
    assert "ODD_EVEN" not in r["vet_flags"]


def test_eb_at_half_period_fails_odd_even(eb_table, wasp18_row):
    r = eb_table[1]
    assert r["oddeven_sigma"] > 50
    assert r["depth_odd_ppm"] > 10 * r["depth_even_ppm"]
    assert "ODD_EVEN" in r["vet_flags"]
    assert wasp18_row["oddeven_sigma"] < 3


def test_columns_added_and_input_kept(wasp18):
    import astropy.units as u
    from astropy.table import QTable

    from astrotinyml.vet import VET_COLUMNS, vet

    _, flat = wasp18
    q = QTable({"name": ["b"], "pl_orbper": [WASP18["pl_orbper"]] * u.d,
                "pl_tranmid": [WASP18["pl_tranmid"]] * u.d, "pl_trandurh": [132.0] * u.min,
                "pl_trandep": [WASP18["pl_trandep"]]})
    plain = QTable(rows=[dict(name="b", **WASP18)])
    out_q, out_p = vet(flat, q), vet(flat, plain)
    assert q.colnames == ["name", "pl_orbper", "pl_tranmid", "pl_trandurh", "pl_trandep"]
    assert out_q.colnames == q.colnames + [name for name, _, _ in VET_COLUMNS]
    assert out_q["name"][0] == "b" and out_q["pl_trandurh"][0] == 132.0 * u.min
    for name, unit, _ in VET_COLUMNS:
        a, b = out_q[name], out_p[name]
        if name == "vet_flags":
            assert a[0] == b[0]
        else:
            np.testing.assert_allclose(np.asarray(getattr(a, "value", a), float),
                                       np.asarray(getattr(b, "value", b), float), rtol=1e-9, equal_nan=True)
    # Re-vetting refreshes the columns instead of duplicating them.
    assert vet(flat, out_q).colnames == out_q.colnames


def test_mono_transit_and_missing_data_rows_do_not_crash(wasp18):
    from astrotinyml.vet import vet

    _, flat = wasp18
    t = flat.time.jd[np.isfinite(flat.flux.value)]
    gap = int(np.argmax(np.diff(t)))
    in_gap = 0.5 * (t[gap] + t[gap + 1])
    rows = [
        dict(pl_orbper=math.nan, pl_tranmid=WASP18["pl_tranmid"], pl_trandurh=2.2, pl_trandep=1e4),
        dict(pl_orbper=200.0, pl_tranmid=WASP18["pl_tranmid"], pl_trandurh=2.2, pl_trandep=1e4),
        dict(pl_orbper=200.0, pl_tranmid=in_gap, pl_trandurh=2.2, pl_trandep=1e4),
    ]
    out = vet(flat, rows)
    mono, one, none = out
    assert math.isnan(mono["oddeven_sigma"]) and math.isnan(mono["secondary_sigma"])
    assert mono["n_transits_data"] == 1 and mono["max_single_event_fraction"] == 1.0
    assert 9000 < mono["vet_depth_ppm"] < 12500
    assert one["n_transits_data"] == 1 and math.isnan(one["depth_chi2_dof"])
    assert none["n_transits_expected"] == 1 and none["n_transits_data"] == 0
    assert none["coverage"] == 0 and math.isnan(none["vet_depth_ppm"])
    assert "LOW_COVERAGE" in none["vet_flags"]


def test_empty_table_and_determinism(wasp18):
    from astropy.table import QTable

    from astrotinyml.vet import VET_COLUMNS, vet

    _, flat = wasp18
    empty = vet(flat, QTable(names=["pl_orbper", "pl_tranmid", "pl_trandurh"]))
    assert len(empty) == 0 and all(n in empty.colnames for n, _, _ in VET_COLUMNS)
    a, b = vet(flat, [WASP18]), vet(flat, [WASP18])
    for name, _, _ in VET_COLUMNS:
        assert str(a[name][0]) == str(b[name][0])


def test_transit_depths_per_event(wasp18):
    from astrotinyml.vet import transit_depths

    _, flat = wasp18
    tab = transit_depths(flat, WASP18)
    assert len(tab) >= 25
    assert np.all(np.abs(tab["depth_ppm"] / np.median(tab["depth_ppm"]) - 1) < 0.2)
    assert np.all(np.diff(tab["epoch"]) > 0)


def test_variability_period_matched():
    from astrotinyml.datasets import load_sample
    from astrotinyml.detrend import detrend
    from astrotinyml.vet import vet

    raw = load_sample("epic-210651981")  # spotted star, P_rot ~ 2.45 d
    flat = detrend(raw)
    t0 = float(raw.time.jd[100])
    out = vet(flat, [dict(pl_orbper=2.45, pl_tranmid=t0, pl_trandurh=3.0),
                     dict(pl_orbper=1.0, pl_tranmid=t0, pl_trandurh=3.0)], raw_lc=raw)
    assert out["var_period"][0].value == pytest.approx(2.45, rel=0.05)
    assert out["var_power"][0] > 0.5
    assert out["near_var_period"][0] and "NEAR_VARIABILITY" in out["vet_flags"][0]
    assert not out["near_var_period"][1]


def test_invalid_inputs_raise(wasp18):
    from astrotinyml.errors import InvalidParameterError
    from astrotinyml.vet import vet

    _, flat = wasp18
    btjd = dict(WASP18, pl_tranmid=WASP18["pl_tranmid"] - 2457000.0)
    with pytest.raises(InvalidParameterError, match="full BJD"):
        vet(flat, [btjd])
    with pytest.raises(InvalidParameterError, match="pl_trandurh"):
        vet(flat, [dict(pl_orbper=1.0, pl_tranmid=WASP18["pl_tranmid"])])
    with pytest.raises(InvalidParameterError, match="stellar_density"):
        vet(flat, [WASP18, WASP18], stellar_density=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        vet(flat, "not a table")
