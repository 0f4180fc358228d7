"""Tests of astrotinyml.detrend on real bundled light curves and seeded synthetic ones."""

from __future__ import annotations

import numpy as np
import pytest

lk = pytest.importorskip("lightkurve")

from astrotinyml import datasets  # noqa: E402
from astrotinyml.detrending import (  # noqa: E402
    DETREND_METHODS,
    default_window_length,
    detrend,
    transit_mask,
)
from astrotinyml.errors import InvalidParameterError, LightCurveDataError  # noqa: E402


def _mad_std(x):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return 1.4826 * np.median(np.abs(x - np.median(x)))


def _synthetic(seed=0, n=3000, span=30.0, noise=2e-4):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, span, n)
    flux = (1 + 0.01 * np.sin(2 * np.pi * t / 3.0)) * (1 + rng.normal(0, noise, n))
    return lk.LightCurve(time=t, flux=flux, flux_err=np.full(n, noise))


@pytest.fixture(scope="module")
def variable_star():
    return datasets.load_sample("epic-210651981")


def test_variable_star_is_flattened(variable_star):
    lc = variable_star
    flat = detrend(lc)
    raw = _mad_std(lc.flux.value)
    res = _mad_std(flat.flux.value)
    # the 2.45 d spot modulation (~1 %) is removed down to the photometric noise
    assert res < raw / 5
    assert np.nanmedian(flat.flux.value) == pytest.approx(1.0, abs=1e-3)
    # one return type: the trend is a column; flux * trend gives the input back
    assert np.allclose(flat.flux.value * flat["trend"].value, lc.flux.value, equal_nan=True)
    assert np.allclose(flat.flux_err.value * flat["trend"].value, lc.flux_err.value,
                       equal_nan=True)
    assert flat.meta["DETREND_METHOD"] == "biweight"
    assert flat.meta["DETREND_WINDOW"] == pytest.approx(default_window_length(lc))
    assert flat.meta.get("target") == lc.meta.get("target")
    assert len(flat) == len(lc)


def test_default_window_is_three_transit_durations():
    tess = lk.LightCurve(time=np.linspace(0, 27, 100), flux=np.ones(100))
    k2 = lk.LightCurve(time=np.linspace(0, 80, 100), flux=np.ones(100))
    short = lk.LightCurve(time=np.linspace(0, 2, 100), flux=np.ones(100))
    assert 0.5 <= default_window_length(tess) < default_window_length(k2) <= 1.0
    assert default_window_length(short) == 0.5


def test_nans_preserved_never_invented():
    lc = _synthetic()
    flux = lc.flux.value.copy()
    flux[100:120] = np.nan
    lc.flux = flux
    flat = detrend(lc, window_length=0.5)
    assert np.isnan(flat.flux.value[100:120]).all()
    assert np.isfinite(flat.flux.value[:100]).all() and np.isfinite(flat.flux.value[120:]).all()
    assert _mad_std(flat.flux.value) < 4e-4


def test_gap_and_segment_offsets():
    # two segments with different levels separated by a 3 d gap (a TESS orbit gap)
    rng = np.random.default_rng(3)
    t = np.concatenate([np.arange(0, 10, 0.01), np.arange(13, 23, 0.01)])
    flux = np.where(t < 11, 1.0, 1.02) * (1 + rng.normal(0, 1e-4, t.size))
    flat = detrend(lk.LightCurve(time=t, flux=flux), window_length=0.5)
    f = flat.flux.value
    assert len(f) == t.size
    # each side flattened to 1: no trend leaks across the gap
    assert abs(np.median(f[t < 11]) - 1) < 1e-4 and abs(np.median(f[t > 11]) - 1) < 1e-4
    edge = (t > 9.8) & (t < 13.2)
    assert np.abs(f[edge] - 1).max() < 1e-3


def test_mask_keeps_transit_depth():
    lc = _synthetic(seed=1, noise=1e-4)
    t = lc.time.value
    period, t0, dur, depth = 2.5, 1.0, 0.3, 5e-3
    intr = np.abs((t - t0 + 0.5 * period) % period - 0.5 * period) < 0.5 * dur
    lc.flux = lc.flux.value * np.where(intr, 1 - depth, 1.0)
    # a window only 2x the duration eats the transit...
    # (long-dip protection off: on this 1 %, 3-d variability it rescues only some transits)
    eaten = detrend(lc, window_length=0.6, protect_long_dips=False)
    # ...unless the transits are masked, by a boolean array or by a candidates table
    kept = detrend(lc, window_length=0.6, mask=intr, protect_long_dips=False)
    from astropy.table import QTable
    import astropy.units as u

    tab = QTable({"pl_orbper": [period] * u.day,
                  "pl_tranmid": [lc.time.jd[0] + t0 - t[0]] * u.day,
                  "pl_trandurh": [dur * 24] * u.hour})
    kept_tab = detrend(lc, window_length=0.6, mask=tab)

    def measured(flat):
        return 1 - np.median(flat.flux.value[intr])

    assert measured(eaten) < 0.9 * depth
    assert measured(kept) == pytest.approx(depth, rel=0.05)
    assert measured(kept_tab) == pytest.approx(depth, rel=0.05)
    assert kept.meta["DETREND_N_MASKED"] == int(intr.sum())


def test_a_wide_mask_on_a_spotted_star_keeps_the_transits_under_it():
    # EPIC 246808055 (K2 C13 K2SC, a spotted star) with a 3.8-h, ~300-ppm transit injected
    # every 9.363 d (an injection of benchmarks/injection_recovery.py --big that detect lost).
    # The search also returned the 2P alias with an 8.8-h box, and detect masked it: a
    # 13-h-wide stretch in the 17-h window over every second transit.  The biweight's level
    # there came from the stretch's edges on the curved light curve and put +1200 ppm bumps
    # where the transits are (vet then gave the planet snr -13).  Such stretches (longer
    # than half the window) are bridged by a quadratic fitted to both sides.
    from astropy.table import QTable
    import astropy.units as u
    from _inject import inject_planet

    from astrotinyml.io.read import read_lightcurve

    lc = read_lightcurve(TESTS_DATA / "k2_EPIC246808055_C13_k2sc_EPIC_246808055_mast.fits").remove_nans()
    t = lc.time.value
    period, t0 = 9.362739158313081, 2987.759146946358
    lc, model = inject_planet(lc, period=period, t0=t0, rp=0.0173011, b=0.2124562)
    t14 = 3.8085 / 24
    alias = QTable({"pl_orbper": [18.732056573776124] * u.d, "pl_tranmid": [2457829.9807495233] * u.d,
                    "pl_trandurh": [8.828752245624717] * u.h})
    own = QTable({"pl_orbper": [period] * u.d, "pl_tranmid": [t0 + 2454833.0] * u.d,
                  "pl_trandurh": [t14 * 24] * u.h})
    window = default_window_length(lc)
    assert 1.5 * 8.83 / 24 > 0.5 * window  # the alias's stretches are bridged, the transit's own are not
    assert 1.5 * t14 < 0.5 * window

    phase = (t - t0 + 0.5 * period) % period - 0.5 * period
    inside, outside = np.abs(phase) < 0.5 * t14, np.abs(phase) > t14
    epoch = np.round((t - t0) / period)
    injected = 1e6 * float(np.mean(1 - model[inside]))

    def depths(flat):
        f = flat.flux.value
        base = np.nanmedian(f[outside])
        return np.array([1e6 * (base - np.nanmean(f[inside & (epoch == e)])) for e in np.unique(epoch[inside])])

    under_alias, under_own = depths(detrend(lc, mask=alias)), depths(detrend(lc, mask=own))
    # the mean depth of the 9 transits as with the transit's own mask, and near the injected one
    assert under_alias.mean() == pytest.approx(under_own.mean(), rel=0.15)
    assert under_alias.mean() == pytest.approx(injected, rel=0.2)
    # the masked (odd-epoch) transits dip: no bump larger than the transit itself
    masked = np.unique(epoch[inside]) % 2 == 1
    assert np.all(under_alias[masked] > 0), under_alias


def test_a_short_mask_on_a_rotating_star_leaves_no_wings_beside_the_transit():
    # The same star and planet, masked as the search first finds it (3.24-h box, masked
    # 4.3 h wide).  The star's flux changes by ~7000 ppm/d at the transits; when wotan drops
    # the masked cadences, the windows of their neighbours are one-sided and their location
    # estimates follow the slope: -500 ppm before and +600 ppm after each transit, and the
    # next search found the transit 2.5x too long and off-centre (snr 3 instead of 10).
    # The masked cadences are now filled in from both sides before the filter runs.
    from astropy.table import QTable
    import astropy.units as u
    from _inject import inject_planet

    from astrotinyml.io.read import read_lightcurve

    lc = read_lightcurve(TESTS_DATA / "k2_EPIC246808055_C13_k2sc_EPIC_246808055_mast.fits").remove_nans()
    t = lc.time.value
    period, t0 = 9.362739158313081, 2987.759146946358
    lc, model = inject_planet(lc, period=period, t0=t0, rp=0.0173011, b=0.2124562)
    found = QTable({"pl_orbper": [9.363524116745122] * u.d, "pl_tranmid": [2457820.761909794] * u.d,
                    "pl_trandurh": [3.2355633073569527] * u.h})
    flat = detrend(lc, mask=found).flux.value
    phase = (t - t0 + 0.5 * period) % period - 0.5 * period
    base = np.nanmedian(flat[np.abs(phase) > 1.0])
    before = 1e6 * (np.nanmean(flat[(phase > -0.4) & (phase < -0.1)]) - base)
    after = 1e6 * (np.nanmean(flat[(phase > 0.1) & (phase < 0.4)]) - base)
    inside = np.abs(phase) < 0.5 * 3.8085 / 24
    depth = 1e6 * (base - np.nanmean(flat[inside]))
    injected = 1e6 * float(np.mean(1 - model[inside]))
    assert abs(before) < 100 and abs(after) < 100, (before, after)
    # The mask (4.3 h) is hardly wider than the transit (3.8 h): the fill's fit sees some
    # of ingress and egress and the transit keeps ~3/4 of its depth (56 % without a mask).
    assert 0.65 * injected < depth < 1.1 * injected, (depth, injected)


def test_transit_mask_from_table_with_plain_numbers():
    from astropy.table import Table

    tab = Table({"pl_orbper": [np.nan, 3.0], "pl_tranmid": [5.0, 1.0],
                 "pl_trandurh": [4.8, 2.4]})
    t = np.arange(0, 10, 0.01)
    m = transit_mask(t, tab)
    assert m[np.abs(t - 5.0) < 0.14].all()          # single event (NaN period)
    assert m[np.abs(t - 7.0) < 0.07].all()          # third transit of the periodic row
    assert not m[np.abs(t - 2.5) < 0.3].any()


@pytest.mark.parametrize("method", ["median", "welsch", "hspline"])
def test_other_wotan_methods(method):
    flat = detrend(_synthetic(seed=2), method=method, window_length=0.5)
    assert flat.meta["DETREND_METHOD"] == method
    assert _mad_std(flat.flux.value) < 5e-4


def test_invalid_parameters():
    lc = _synthetic()
    with pytest.raises(InvalidParameterError, match="biweight"):
        detrend(lc, method="no-such-method")
    assert "biweight" in DETREND_METHODS
    with pytest.raises(InvalidParameterError, match="window_length"):
        detrend(lc, window_length=-1)
    with pytest.raises(InvalidParameterError, match="window_length"):
        detrend(lc, window_length="wide")
    with pytest.raises(InvalidParameterError, match="points"):
        detrend(lc, mask=np.zeros(10, dtype=bool))
    with pytest.raises(InvalidParameterError, match="boolean"):
        detrend(lc, mask=np.zeros(len(lc)))
    with pytest.raises(ValueError):  # InvalidParameterError is a ValueError
        detrend(lc, method="")


def test_all_nan_flux_is_a_clear_error():
    lc = lk.LightCurve(time=np.arange(100.0), flux=np.full(100, np.nan))
    lc.meta["target"] = "TIC 42"
    with pytest.raises(LightCurveDataError, match="TIC 42"):
        detrend(lc)


def _kepler90_q5():
    from astrotinyml.datasets import sample_paths
    from astrotinyml.io import read_lightcurve

    path = [p for p in sample_paths("kepler-90") if "Q5" in p.name][0]
    return read_lightcurve(path)


def test_default_detrend_keeps_kepler90h_depth():
    """Kepler-90 h (P = 331.6 d, 14-h transit in Q5) keeps its depth with the default window."""
    lc = _kepler90_q5()
    t = lc.time.jd - 2454833.0
    tc = 140.49893 + 331.597273  # BKJD, the archive's epoch + one period
    inn = np.abs(t - tc) < 0.2
    oot = (np.abs(t - tc) > 0.5) & (np.abs(t - tc) < 1.5)

    def depth(f):
        return np.nanmedian(f[oot]) - np.nanmean(f[inn])

    raw = depth(lc.flux.value)
    assert 7500e-6 < raw < 9000e-6  # the real transit, ~8200 ppm
    flat = detrend(lc)
    assert depth(flat.flux.value) == pytest.approx(raw, rel=0.10)
    assert flat.meta["DETREND_N_PROTECTED"] > 0
    # Without the protection the same window eats it (what detrend did before)
    eaten = detrend(lc, protect_long_dips=False)
    assert depth(eaten.flux.value) < 0.2 * raw


def test_long_dip_mask_leaves_white_noise_alone():
    from astrotinyml.detrending import long_dip_mask

    rng = np.random.default_rng(5)
    t = np.arange(0, 27, 2 / 1440)
    flux = 1 + 1e-3 * rng.normal(size=t.size)
    assert not long_dip_mask(t, flux, window_length=0.54).any()
    # A window longer than 3 d protects nothing (it already keeps 1-d dips)
    flux[np.abs(t - 10) < 0.3] -= 3e-3
    assert long_dip_mask(t, flux, window_length=0.54)[np.abs(t - 10) < 0.2].all()
    assert not long_dip_mask(t, flux, window_length=3.5).any()


def test_long_dip_mask_reuses_its_scan_only_for_the_same_light_curve():
    """detect() flattens a light curve three times; the dip scan is kept for the same time,
    flux and window (Kepler-90 Q5: h's 14-h transit is protected each time)."""
    from astrotinyml import detrending

    lc = _kepler90_q5()
    t, f = lc.time.jd - 2454833.0, np.asarray(lc.flux.value, dtype=float)
    tc = 140.49893 + 331.597273
    first = detrending.long_dip_mask(t, f, window_length=0.7)
    assert first[np.abs(t - tc) < 0.2].all()
    first[:] = False  # the caller's copy: the kept scan is not changed by it
    again = detrending.long_dip_mask(t, f, window_length=0.7)
    assert again[np.abs(t - tc) < 0.2].all()
    np.testing.assert_array_equal(again, detrending._long_dip_scan(t, f, 0.7, None, detrending._PROTECT_SNR))
    # another flux (the transit filled in) is scanned afresh
    g = f.copy()
    g[np.abs(t - tc) < 0.4] = np.nanmedian(f)
    assert not detrending.long_dip_mask(t, g, window_length=0.7)[np.abs(t - tc) < 0.2].any()


def test_toi813b_single_transit_found_with_the_default_window(shared_data):
    """TOI-813 b: one ~0.4-d, ~1500-ppm transit in TESS S5 (an evolved host); detect found
    nothing before the long-dip protection (the 0.54-d window ate it)."""
    from astrotinyml.detection import detect

    path = shared_data / "lightcurves" / "tess_TOI-813_TIC55525572_S5_spoc_lc.fits"
    res = detect(path, calibration=False)
    c = res.candidates
    tc = 2458454.72  # BJD_TDB; TOI-813.01 epoch 2125.84691 BTJD - 8 x 83.896 d
    near = [i for i in range(len(c)) if abs(float(c["pl_tranmid"][i].value) - tc) < 0.2]
    assert near, f"no candidate at TOI-813 b's transit: {c['pl_orbper', 'pl_tranmid', 'snr']}"
    row = c[near[0]]
    assert bool(row["single_event"])
    assert float(row["snr"]) > 15.0
    assert 800 < float(row["pl_trandep"]) < 2500


# --- pre-whitening of coherent variability (issue #19: variable stars hide transits) ---

TESTS_DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_prewhitening_removes_k2_25s_rotation_and_keeps_its_planet():
    # K2-25 (EPIC 210490365, K2 C4): an M dwarf rotating in 1.88 d (Mann et al. 2016) with
    # K2-25 b at P = 3.48456 d.  The 0.7-d biweight leaves the rotation, which the search
    # returned as its first signal; pre-whitening removes it and the planet keeps its depth.
    from astrotinyml.io.read import read_lightcurve
    from astrotinyml.searching import search

    lc = read_lightcurve(TESTS_DATA / "k2_EPIC210490365_C4_dave_detrended.dat")
    plain = detrend(lc, prewhiten=False)
    flat = detrend(lc)
    removed = [float(p) for p in flat.meta["DETREND_PREWHITENED"].split(",")]
    assert any(abs(p / 1.88 - 1) < 0.02 for p in removed), removed
    assert plain.meta["DETREND_PREWHITENED"] == ""
    assert _mad_std(flat.flux.value) < 0.9 * _mad_std(plain.flux.value)

    before, after = search(plain), search(flat)
    periods = [float(p) for p in after["pl_orbper"].to_value("d")]
    assert not any(abs(p / 1.88 - 1) < 0.02 for p in periods if np.isfinite(p)), periods
    assert after["pl_orbper"][0].to_value("d") == pytest.approx(3.484552, rel=1e-3)
    i = [k for k in range(len(before)) if abs(before["pl_orbper"][k].to_value("d") / 3.484552 - 1) < 1e-3][0]
    assert after["pl_trandep"][0] == pytest.approx(before["pl_trandep"][i], rel=0.05)
    assert after["sde"][0] > before["sde"][i] and after["snr"][0] > before["snr"][i]


def test_prewhitening_removes_a_pulsation_the_filter_cannot_follow():
    # TIC 311381302 (TESS S5, 2-min): a 0.165-d (4-h) periodicity that a 0.53-d window
    # leaves almost whole.
    from astrotinyml.io.read import read_lightcurve

    lc = read_lightcurve(TESTS_DATA / "tess_TIC311381302_S5_flarestar_pdcsap.csv")
    plain, flat = detrend(lc, prewhiten=False), detrend(lc)
    removed = [float(p) for p in flat.meta["DETREND_PREWHITENED"].split(",")]
    assert abs(removed[0] / 0.1652 - 1) < 0.01, removed
    assert np.nanstd(flat.flux.value) < 0.85 * np.nanstd(plain.flux.value)
    # the trend column still gives the input back
    assert np.allclose((flat.flux * flat["trend"]).value, lc.flux.value, equal_nan=True)


def test_prewhitening_leaves_transits_and_eclipses_alone():
    # A hot Jupiter (WASP-18 b, 1 % deep, its phase curve at P/2) and a detached EB
    # (KIC 2306740, 35 % deep eclipses): the transit and eclipses are dips, never removed.
    from astrotinyml.detrending import coherent_variability

    wasp = datasets.load_sample("wasp-18")
    flat = detrend(wasp)
    assert flat.meta["DETREND_PREWHITENED"] == ""
    np.testing.assert_array_equal(flat.flux.value, detrend(wasp, prewhiten=False).flux.value)

    eb = datasets.load_sample("kic-2306740")
    plain, flat = detrend(eb, prewhiten=False), detrend(eb)
    # only a weak periodicity of the out-of-eclipse light may go (~0.1 %), not the eclipses
    assert np.nanmin(flat.flux.value) == pytest.approx(np.nanmin(plain.flux.value), abs=3e-3)
    t = np.asarray(plain.time.value, float)
    v = coherent_variability(t, plain.flux.value - 1, window_length=default_window_length(eb))
    assert all(abs(p / 10.307 * k - 1) > 0.01 for p in v.periods for k in range(1, 6))
    assert np.nanmax(np.abs(v.model)) < 5e-3


def test_coherent_variability_is_nothing_on_white_noise_and_short_input():
    from astrotinyml.detrending import coherent_variability

    rng = np.random.default_rng(4)
    t = np.arange(0, 27, 2 / 1440)
    v = coherent_variability(t, 1e-3 * rng.normal(size=t.size), window_length=0.5)
    assert v.periods == () and np.all(v.model == 0) and "no periodicity" in v.stop
    v = coherent_variability(t[:50], np.zeros(50), window_length=0.5)
    assert v.periods == () and "fewer than 100" in v.stop
