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
    from astrotinyml.detrending import detrend

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
    from astrotinyml.vetting import vet

    raw, flat = wasp18
    return vet(flat, [WASP18], raw_lc=raw, stellar_density=WASP18_DENSITY)[0]


@pytest.fixture(scope="module")
def eb_table(eb):
    from astrotinyml.vetting import vet

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

    from astrotinyml.vetting import VET_COLUMNS, vet

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
        if name in ("vet_flags", "st_rad_source"):
            assert a[0] == b[0]
        else:
            np.testing.assert_allclose(np.asarray(getattr(a, "value", a), float),
                                       np.asarray(getattr(b, "value", b), float), rtol=1e-9, equal_nan=True)
    # Re-vetting refreshes the columns instead of duplicating them.
    assert vet(flat, out_q).colnames == out_q.colnames


def test_mono_transit_and_missing_data_rows_do_not_crash(wasp18):
    from astrotinyml.vetting import vet

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

    from astrotinyml.vetting import VET_COLUMNS, vet

    _, flat = wasp18
    empty = vet(flat, QTable(names=["pl_orbper", "pl_tranmid", "pl_trandurh"]))
    assert len(empty) == 0 and all(n in empty.colnames for n, _, _ in VET_COLUMNS)
    a, b = vet(flat, [WASP18]), vet(flat, [WASP18])
    for name, _, _ in VET_COLUMNS:
        assert str(a[name][0]) == str(b[name][0])


def test_transit_depths_per_event(wasp18):
    from astrotinyml.vetting import transit_depths

    _, flat = wasp18
    tab = transit_depths(flat, WASP18)
    assert len(tab) >= 25
    assert np.all(np.abs(tab["depth_ppm"] / np.median(tab["depth_ppm"]) - 1) < 0.2)
    assert np.all(np.diff(tab["epoch"]) > 0)


def test_variability_period_matched():
    from astrotinyml.datasets import load_sample
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import vet

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
    from astrotinyml.vetting import vet

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


def _flat_dip(depth, ingress_frac, *, period=7.4, dur_h=4.0, seed=3):
    """A trapezoid dip of ``depth`` with ingress+egress ``ingress_frac`` of T14, white noise."""
    import lightkurve as lk

    rng = np.random.default_rng(seed)
    t = 2458000 + np.arange(0, 60, 2 / 1440)
    T = dur_h / 24
    tau = 0.5 * ingress_frac * T
    ph = np.abs((t - 2458003.0 + 0.5 * period) % period - 0.5 * period)
    x = np.clip((0.5 * T - ph) / max(tau, 1e-6), 0, 1)
    flux = 1 - depth * x + 3e-4 * rng.normal(size=t.size)
    return lk.LightCurve(time=t, flux=flux), dict(pl_orbper=period, pl_tranmid=2458003.0, pl_trandurh=dur_h,
                                                  pl_trandep=depth * 1e6)


def test_flat_deep_eclipse_with_sharp_edges_is_not_a_planet():
    """A flat-bottomed 25 % dip needs k = 0.5, whose ingress lasts >= 2/3 of T14: sharp edges
    mean a diluted stellar eclipse, whatever the star."""
    from astrotinyml.vetting import vet

    lc, cand = _flat_dip(0.25, 0.05)
    out = vet(lc, cand)
    assert out["st_rad_source"][0] == "prior"
    assert out["shape_v"][0] < 0.2 and out["shape_v_min"][0] == pytest.approx(2 * 0.5 / 1.5, rel=0.1)
    assert "INGRESS_TOO_SHORT" in out["vet_flags"][0] and out["not_planet_physics"][0]


def test_hot_jupiter_transit_passes_the_physics_tests(wasp18):
    from astrotinyml.star import stellar_parameters
    from astrotinyml.vetting import vet

    raw, flat = wasp18
    out = vet(flat, dict(WASP18), star=stellar_parameters(raw))
    # WASP-18 b: Rp ~ 1.2 R_J (~13 R_earth) around a 1.35 R_sun star (TOI snapshot)
    assert out["st_rad_source"][0] == "toi"
    assert 9 < out["companion_rade"][0] < 16
    assert not out["not_planet_physics"][0] and out["ingress_ratio"][0] > 1


def test_stellar_companion_is_too_large_for_a_planet():
    """KIC 2306740 (KOI-6265, a stellar-eclipse false positive): the 10.3-d eclipse is ~30 %
    deep around a 1.2 R_sun star: a companion of ~6 R_J."""
    from astrotinyml import datasets
    from astrotinyml.detrending import detrend
    from astrotinyml.star import stellar_parameters
    from astrotinyml.vetting import vet

    raw = datasets.load_sample("kic-2306740")
    cand = dict(pl_orbper=10.306987, pl_tranmid=2454833.0 + 174.6519, pl_trandurh=6.0)  # KEBC period, own BLS epoch
    from astropy.table import QTable

    flat = detrend(raw, mask=QTable(rows=[cand]))
    out = vet(flat, cand, star=stellar_parameters(raw))
    assert out["st_rad_source"][0] == "header"
    assert out["companion_rade"][0] > 2 * 11.2
    assert "COMPANION_TOO_LARGE" in out["vet_flags"][0] and out["not_planet_physics"][0]


def test_physics_veto_overrules_a_planet_label():
    from astrotinyml.classification import classify

    lc, cand = _flat_dip(0.25, 0.05)
    out = classify(lc, [cand])
    assert out["label"][0] != "planet"
    if out["p_planet"][0] == max(out[c][0] for c in ("p_planet", "p_eb", "p_variability", "p_instrumental",
                                                       "p_noise")):
        assert out["label"][0] == "eb" and "INGRESS_TOO_SHORT" in out["label_note"][0]


# --- Robovetter / LEO diagnostics (ModShift, SWEET, MES, chases, segments, asymmetry) ---------


def test_modshift_finds_the_planets_real_occultation_and_lets_it_pass(wasp18_row):
    """WASP-18 b's TESS occultation (~340 ppm at phase 0.5, Shporer et al. 2019) is a
    significant ModShift secondary, but a planet's: shallow and albedo < 1, so no flag."""
    r = wasp18_row
    assert r["modshift_pri"] / r["modshift_fred"] > 10 * r["modshift_fa1"]  # unique primary (MS1)
    assert abs(r["modshift_sec_phase"] - 0.5) < 0.01
    assert 200 < r["modshift_sec_depth_ppm"] < 500
    assert r["modshift_sec"] / r["modshift_fred"] > r["modshift_fa1"]
    assert 1.5 < r["modshift_fa2"] < r["modshift_fa1"] < 6
    assert "MODSHIFT_SECONDARY" not in r["vet_flags"] and r["vet_flags"] == ""


def test_eclipsing_binary_has_a_significant_modshift_secondary(eb_table):
    r = eb_table[0]
    assert r["modshift_sec"] / r["modshift_fred"] > 10 * r["modshift_fa1"]
    assert r["modshift_sec"] - max(r["modshift_ter"], r["modshift_pos"]) - r["modshift_fa2"] > 100
    assert r["modshift_sec_depth_ppm"] > 0.1 * r["vet_depth_ppm"]  # no planet's occultation
    assert abs(r["modshift_sec_phase"] - r["secondary_phase"]) < 0.02
    assert "MODSHIFT_SECONDARY" in r["vet_flags"]


def test_modshift_and_mes_are_calibrated_on_white_noise():
    """White noise: ModShift's primary and the correlated-noise MES equal the injected transit's
    significance and Fred ~ 1 (exovetter's own ModShift numbers are not significances)."""
    import lightkurve as lk

    from astrotinyml.vetting import vet

    rng = np.random.default_rng(5)
    t = 2458000 + np.arange(0, 27, 2 / 1440)
    P, t0, T = 3.3, 2458001.0, 3 / 24
    flux = 1 + 1e-3 * rng.normal(size=t.size)
    in_tr = np.abs((t - t0 + 0.5 * P) % P - 0.5 * P) < 0.5 * T
    flux[in_tr] -= 1e-3
    expected = 1e-3 / 1e-3 * math.sqrt(np.count_nonzero(in_tr))  # ~27
    r = vet(lk.LightCurve(time=t, flux=flux), dict(pl_orbper=P, pl_tranmid=t0, pl_trandurh=T * 24))[0]
    assert r["modshift_pri"] == pytest.approx(expected, rel=0.1)
    assert r["mes_red"] == pytest.approx(expected, rel=0.1)
    assert 0.8 < r["modshift_fred"] < 1.2 and r["noise_red_ppm"] < 50
    assert r["modshift_sec"] < r["modshift_fa1"]  # nothing else is there
    # The 3 T14 of baseline in the window measure the depth too: delta chi^2 = (3/4) SNR^2.
    assert r["aic_transit_line"] == pytest.approx(2 - 0.75 * expected**2, rel=0.25)
    assert abs(r["asymmetry_sigma"]) < 3
    assert r["vet_flags"] == ""


def test_red_noise_lowers_the_mes():
    """Correlated noise on the transit's timescale makes the same transit less significant."""
    import lightkurve as lk

    from astrotinyml.vetting import vet

    rng = np.random.default_rng(7)
    t = 2458000 + np.arange(0, 27, 2 / 1440)
    cand = dict(pl_orbper=3.3, pl_tranmid=2458001.0, pl_trandurh=3.0)
    dip = np.where(np.abs((t - 2458001.0 + 1.65) % 3.3 - 1.65) < 1.5 / 24, 1e-3, 0.0)
    white = 1e-3 * rng.normal(size=t.size)
    red = np.convolve(rng.normal(size=t.size), np.ones(90) / 90, mode="same") * 5e-3  # ~3-h wiggles
    w = vet(lk.LightCurve(time=t, flux=1 + white - dip), cand)[0]
    r = vet(lk.LightCurve(time=t, flux=1 + white + red - dip), cand)[0]
    assert r["noise_red_ppm"] > 200 > w["noise_red_ppm"]
    assert r["mes_red"] < 0.5 * w["mes_red"]
    assert r["modshift_fred"] > 1.5 * w["modshift_fred"]


def test_a_flare_point_in_a_transit_does_not_move_the_mes(wasp18):
    """One upward outlier (a flare, a cosmic ray) in a transit window is left out of the MES."""
    from astrotinyml.vetting import vet

    raw, flat = wasp18
    clean = vet(flat, [WASP18], raw_lc=raw)[0]
    t = flat.time.jd
    mid = WASP18["pl_tranmid"] + WASP18["pl_orbper"] * np.round((t - WASP18["pl_tranmid"]) / WASP18["pl_orbper"])
    i = int(np.flatnonzero(np.abs(t - mid) < 0.01)[0])
    flared = flat.copy()
    flux = flared.flux.value.copy()
    flux[i] = 2.5  # a 150 % brightening: one point moves the mean of ~3000 in-transit points by ~500 ppm
    flared.flux = flux
    hit = vet(flared, [WASP18], raw_lc=raw)[0]
    assert hit["mes_red"] == pytest.approx(clean["mes_red"], rel=1e-3)
    assert hit["ses_max"] == pytest.approx(clean["ses_max"], rel=1e-3)


def test_single_event_statistics_and_chases(wasp18_row):
    r = wasp18_row
    n = r["n_transits_data"]
    # N equal transits: max SES ~ MES / sqrt(N); each transit unique in its neighbourhood.
    assert 0.8 / math.sqrt(n) < r["ses_max_mes_ratio"] < 1.5 / math.sqrt(n)
    assert r["chases_mean"] == 1.0
    assert 200 < r["mes_red"] < 1.1 * r["vet_snr"]
    assert r["aic_transit_line"] < -1e4


def test_noise_candidates_are_not_unique():
    """Made-up ephemerides on a quiet star: no transit, dips like it everywhere."""
    from astrotinyml.datasets import load_sample
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import vet

    raw = load_sample("epic-248045685")
    t0 = float(raw.time.jd[100])
    out = vet(detrend(raw), [dict(pl_orbper=p, pl_tranmid=t0, pl_trandurh=3.0) for p in (5.3, 7.7)], raw_lc=raw)
    for r in out:
        assert r["mes_red"] < 3 and r["aic_transit_line"] > -10
        assert r["chases_mean"] < 0.78
        assert r["modshift_pri"] / r["modshift_fred"] - r["modshift_fa1"] < 1  # fails LEO's MS1
        assert r["sweet_snr_half"] < 5 and r["sweet_snr"] < 5 and r["sweet_snr_double"] < 5
        assert "SWEET" not in r["vet_flags"]


def test_sweet_flags_a_spotted_star_but_not_a_hot_jupiters_phase_curve(wasp18_row):
    from astrotinyml.datasets import load_sample
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import vet

    raw = load_sample("epic-210651981")  # spotted star, P_rot ~ 2.45 d
    # the filter's residual, modulation left in (detrend's pre-whitening would remove it, and
    # no candidate would then be found at 2.45 d): SWEET must flag it wherever it is left
    flat = detrend(raw, prewhiten=False)
    r = vet(flat, dict(pl_orbper=2.45, pl_tranmid=float(raw.time.jd[100]), pl_trandurh=3.0), raw_lc=raw)[0]
    assert r["sweet_snr"] > 15 and r["sweet_amp_ppm"] > 0.5 * r["vet_depth_ppm"]
    assert "SWEET" in r["vet_flags"]
    # WASP-18 b: its ellipsoidal variation (~200 ppm at P/2) is significant but tiny next to
    # the 1% transit: no SWEET flag.
    w = wasp18_row
    assert w["sweet_snr_half"] > 15 and 100 < w["sweet_amp_half_ppm"] < 400
    assert w["sweet_snr_half"] > max(w["sweet_snr"], w["sweet_snr_double"])
    assert "SWEET" not in w["vet_flags"]


def test_depth_per_kepler_season():
    """Kepler-90 Q3-Q5: three quarters are three seasons (quarter mod 4 = 3, 0, 1)."""
    from astropy.table import QTable

    from astrotinyml.transits import lc_arrays
    from astrotinyml.datasets import load_sample
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import _segment_ids, vet

    raw = load_sample("kepler-90")
    t, _, _ = lc_arrays(raw)
    seg = _segment_ids(raw, t)
    assert seg[0] == 3 and seg[-1] == 1 and set(np.unique(seg)) == {0, 1, 3}
    assert np.count_nonzero(np.diff(seg)) == 2  # boundaries at the two quarter gaps
    d = dict(pl_orbper=59.737144, pl_tranmid=2454833 + 158.95974, pl_trandurh=8.0006)  # Kepler-90 d (DR25)
    r = vet(detrend(raw, mask=QTable(rows=[d])), d)[0]
    assert r["n_depth_segments"] >= 2 and np.isfinite(r["segment_depth_chi2_dof"])


def test_one_sector_has_no_segment_depth_test(wasp18_row):
    assert wasp18_row["n_depth_segments"] == 1 and math.isnan(wasp18_row["segment_depth_chi2_dof"])


def test_asymmetric_dip_is_measured_and_timing_offsets_are_not():
    import lightkurve as lk

    from astrotinyml.vetting import vet

    rng = np.random.default_rng(11)
    t = 2458000 + np.arange(0, 27, 2 / 1440)
    P, t0, T = 3.3, 2458001.0, 4 / 24
    x = (t - t0 + 0.5 * P) % P - 0.5 * P
    flux = 1 + 3e-4 * rng.normal(size=t.size)
    inside = np.abs(x) < 0.5 * T
    # A sudden drop and an exponential recovery (like a sudden pixel sensitivity dropout):
    # the deficit sits in the first half; a slow linear ingress and a sharp egress: the second.
    drop = np.where(inside, 5e-3 * np.exp(-(x + 0.5 * T) / (0.25 * T)), 0.0)
    ramp = np.where(inside, 5e-3 * (x + 0.5 * T) / T, 0.0)
    box = np.where(inside, 3e-3, 0.0)
    cand = dict(pl_orbper=P, pl_tranmid=t0, pl_trandurh=T * 24)
    early = vet(lk.LightCurve(time=t, flux=flux - drop), cand)[0]
    late = vet(lk.LightCurve(time=t, flux=flux - ramp), cand)[0]
    shifted = vet(lk.LightCurve(time=t, flux=flux - box), dict(cand, pl_tranmid=t0 + 10 / 1440))[0]
    assert early["asymmetry_sigma"] < -10 and early["asymmetry_ppm"] < 0
    assert late["asymmetry_sigma"] > 10 and late["asymmetry_ppm"] > 0
    assert abs(shifted["asymmetry_sigma"]) < 3  # a 10-min ephemeris error is no asymmetry


def test_new_diagnostics_need_a_period_for_single_events(wasp18):
    from astrotinyml.vetting import _DIAG_NAMES, vet

    _, flat = wasp18
    mono = vet(flat, dict(pl_orbper=math.nan, pl_tranmid=WASP18["pl_tranmid"], pl_trandurh=2.2))[0]
    periodic = [n for n in _DIAG_NAMES if n.startswith(("modshift_", "sweet_")) or n == "chases_mean"]
    assert all(math.isnan(mono[n]) for n in periodic + ["segment_depth_chi2_dof"])
    # What one transit can say is still there: its significance in red noise, its shape.
    assert mono["mes_red"] > 20 and mono["ses_max"] == pytest.approx(mono["mes_red"])
    assert mono["ses_max_mes_ratio"] == pytest.approx(1.0) and mono["aic_transit_line"] < -100
    assert np.isfinite(mono["asymmetry_sigma"]) and mono["n_depth_segments"] == 1


def test_modshift_can_be_skipped_and_exovetter_stays_quiet(wasp18, capsys):
    import warnings

    from astrotinyml.vetting import VET_COLUMNS, vet

    _, flat = wasp18
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = vet(flat, [WASP18])
        fast = vet(flat, [WASP18], modshift=False)
    assert capsys.readouterr().out == ""
    for name, _, _ in VET_COLUMNS:
        a, b = full[name][0], fast[name][0]
        if name.startswith("modshift_"):
            assert math.isnan(b) and (np.isfinite(a) or name == "modshift_pos")  # P < 6 T14: no room
        elif name not in ("vet_flags", "st_rad_source"):
            np.testing.assert_equal(np.asarray(getattr(a, "value", a)), np.asarray(getattr(b, "value", b)))


def test_sweet_numbers_are_exovetters(wasp18):
    from exovetter import sweet

    from astrotinyml.transits import lc_arrays
    from astrotinyml.vetting import vet

    _, flat = wasp18
    t, f, _ = lc_arrays(flat)
    ref = sweet.sweet(t.copy(), f.copy(), WASP18["pl_orbper"], WASP18["pl_tranmid"], WASP18["pl_trandurh"] / 24)
    r = vet(flat, [WASP18])[0]
    ours = [(r["sweet_amp_half_ppm"], r["sweet_snr_half"]), (r["sweet_amp_ppm"], r["sweet_snr"]),
            (r["sweet_amp_double_ppm"], r["sweet_snr_double"])]
    np.testing.assert_allclose(np.array(ours), np.column_stack([ref[:, 0] * 1e6, ref[:, 2]]), rtol=1e-9)


def test_correlated_snr_equals_the_white_snr_on_white_noise():
    """detect's snr (vet's mes_red) is the search's white-noise SNR when the noise is white."""
    import lightkurve as lk

    from astrotinyml.detection import detect

    rng = np.random.default_rng(1)
    t = 2458000 + np.arange(0, 27, 2 / 1440)
    flux = 1 + 1e-3 * rng.normal(size=t.size)
    flux[np.abs((t - 2458000.7 + 1.6) % 3.2 - 1.6) < 0.06] -= 1.2e-3
    c = detect(lk.LightCurve(time=t, flux=flux), calibration=False).candidates
    assert len(c) == 1 and abs(float(c["pl_orbper"][0].value) - 3.2) < 0.01
    assert c.colnames.index("snr_white") == c.colnames.index("snr") + 1
    assert float(c["snr"][0]) == float(c["mes_red"][0])
    assert float(c["noise_red_ppm"][0]) < 30.0
    assert float(c["snr"][0]) == pytest.approx(float(c["snr_white"][0]), rel=0.06)
    # ~ depth / sigma * sqrt(n_in): 1200 ppm / 1000 ppm * sqrt(8 transits x 86 cadences)
    assert 27 < float(c["snr"][0]) < 37


def test_correlated_snr_is_below_the_white_snr_on_a_spotted_star():
    """On a real K2 variable star the residuals are red: at the same transit, the
    correlated-noise SNR (mes_red, detect's snr) is well below the white-noise one."""
    from astropy.table import QTable

    from astrotinyml.datasets import load_sample
    from astrotinyml.detection import correlated_snr
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import vet

    lc = load_sample("epic-210651981")
    t = lc.time.jd
    period, t0, dur = 4.3, float(t[0]) + 1.1, 0.12
    dt = (t - t0 + 0.5 * period) % period - 0.5 * period
    flux = lc.flux.value.copy()
    flux[np.abs(dt) < 0.5 * dur] *= 1 - 2.5e-3
    lc.flux = flux
    cand = dict(pl_orbper=period, pl_tranmid=t0, pl_trandurh=dur * 24, pl_trandep=2500.0,
                snr=np.nan)
    flat = detrend(lc, mask=QTable(rows=[cand]))
    row = correlated_snr(vet(flat, [cand], raw_lc=lc, modshift=False))[0]
    # the white-noise SNR of the same in-transit points: depth / (sigma_w / sqrt(n_in))
    f = flat.flux.value
    ok = np.isfinite(f)
    inn, oot = ok & (np.abs(dt) < 0.5 * dur), ok & (np.abs(dt) > dur)
    sigma_w = 1.4826 * np.median(np.abs(f[oot] - np.median(f[oot])))
    white = (np.median(f[oot]) - f[inn].mean()) / (sigma_w / np.sqrt(inn.sum()))
    assert white > 15
    assert float(row["noise_red_ppm"]) > 100.0
    assert float(row["snr"]) == float(row["mes_red"])
    assert 3.0 < float(row["snr"]) < 0.8 * white


def test_classifier_snr_input_is_still_vet_snr():
    """The shipped model's log_snr reads vet_snr (trained so), not the new snr."""
    from astrotinyml.views import SCALAR_SPEC

    spec = dict((n, d) for n, d, _ in SCALAR_SPEC)
    assert spec["log_snr"].startswith("slog(vet_snr)")
