"""The ipywidgets explorer, driven headless: set widget values, assert on state and plotted data."""

from __future__ import annotations

import math

import lightkurve as lk
import numpy as np
import pytest
from astropy.table import QTable

from astrotinyml.errors import InvalidParameterError
from astrotinyml.apps.pipeline import classifier_status
from astrotinyml.apps.widgets import Explorer, candidate_row, explore, fold_phase, folded_data

T0 = 2458000.30
PERIOD = 1.5
DUR_H = 2.4


def _lightcurve(odd_depth=0.010, even_depth=0.010, seed=1):
    """Box transits every PERIOD days; odd and even depths may differ (an EB at half its period)."""
    rng = np.random.default_rng(seed)
    t = 2458000 + np.arange(0, 15, 0.01)
    f = 1 + 4e-4 * rng.normal(size=t.size) + 2e-3 * np.sin(2 * np.pi * t / 7.0)  # slow trend to detrend
    n = np.round((t - T0) / PERIOD).astype(int)
    inside = np.abs(t - T0 - n * PERIOD) < DUR_H / 48
    f[inside & (n % 2 == 0)] -= odd_depth
    f[inside & (n % 2 == 1)] -= even_depth
    return lk.LightCurve(time=t, flux=f, flux_err=np.full(t.size, 4e-4), meta={"target": "synthetic"})


def _candidates(*rows):
    rows = rows or ((PERIOD, T0, DUR_H, 10000.0),)
    return QTable(rows=list(rows), names=("pl_orbper", "pl_tranmid", "pl_trandurh", "pl_trandep"))


@pytest.fixture
def ex():
    return explore(_lightcurve(), _candidates((PERIOD, T0, DUR_H, 10000.0), (4.0, T0 + 0.7, 3.0, 500.0)))


def test_pure_functions():
    assert fold_phase([T0, T0 + PERIOD + 0.1], PERIOD, T0).round(3).tolist() == [0.0, 0.1]
    assert np.allclose(fold_phase([5.0], math.nan, 2.0), [3.0])
    lc = _lightcurve()
    d = folded_data(lc.time.jd, lc.flux.value, period=PERIOD, t0=T0, duration_h=DUR_H)
    assert d["bin_x"].min() > -2 * DUR_H and d["bin_x"].max() < 2 * DUR_H
    assert np.nanmin(d["local"]) < 0.995  # the transit is at the centre of the local window
    assert len(d["transit_times"]) == 10
    row = candidate_row(_candidates(), 0, period=3.0)
    assert row["pl_orbper"] == 3.0 and row["pl_tranmid"] == T0


def test_explorer_constructs_and_draws(ex):
    assert isinstance(ex, Explorer)
    assert ex.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert ex.period == pytest.approx(PERIOD) and ex.t0 == pytest.approx(T0)
    assert ex.candidate_picker.options[1][0].startswith("#2: P=4.00000 d")
    for s in (ex.period_slider, ex.epoch_slider, ex.duration_slider, ex.window_slider):
        assert s.continuous_update is False
    assert "period" in ex.info.value and "odd / even" in ex.info.value
    # the plotted global fold is the data of the current ephemeris
    np.testing.assert_allclose(ex.lines["global_points"].get_xdata(), ex.data["phase"])
    assert ex.stats["depth_ppm"] == pytest.approx(10000, rel=0.15)
    assert ex.stats["oddeven_sigma"] < 3


def test_period_slider_refolds(ex):
    before = ex.lines["global_points"].get_xdata().copy()
    png = ex.image.value
    ex.period_slider.value = PERIOD * 1.005
    assert ex.period == pytest.approx(PERIOD * 1.005)
    after = ex.lines["global_points"].get_xdata()
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, fold_phase(ex.data["time"], ex.period, ex.t0) / ex.period)
    assert ex.image.value != png
    assert ex.stats["depth_ppm"] < 9000  # smeared by the wrong period


def test_epoch_and_duration_sliders(ex):
    ex.epoch_slider.value = 1.0
    assert ex.t0 == pytest.approx(T0 + 1.0 / 24)
    ex.duration_slider.value = 2 * DUR_H
    assert ex.duration_h == pytest.approx(2 * DUR_H, rel=0.02)
    assert ex.data["bin_x"].max() == pytest.approx(2 * ex.duration_h, rel=0.05)


def test_set_ephemeris_refolds_once(ex, monkeypatch):
    calls = []
    original = ex.refold
    monkeypatch.setattr(ex, "refold", lambda: (calls.append(1), original()))
    ex.set_ephemeris(period=PERIOD * 1.002, epoch_shift_h=0.5, duration_h=DUR_H * 1.1)
    assert len(calls) == 1
    assert ex.period == pytest.approx(PERIOD * 1.002) and ex.t0 == pytest.approx(T0 + 0.5 / 24)


def test_candidate_picker_and_reset(ex):
    ex.period_slider.value = PERIOD * 0.995
    ex.candidate_picker.value = 1
    assert ex.index == 1 and ex.period == pytest.approx(4.0) and ex.duration_h == pytest.approx(3.0)
    assert ex.epoch_slider.value == 0
    ex.candidate_picker.value = 0
    ex.period_slider.value = PERIOD * 1.004
    ex.reset_button.click()
    assert ex.period == pytest.approx(PERIOD)


def test_double_and_halve_buttons(ex):
    ex.double_button.click()
    assert ex.period == pytest.approx(2 * PERIOD) and ex.period_factor == 2
    assert ex.period_slider.min < ex.period < ex.period_slider.max
    # at twice the period, the other transits sit in the secondary window at full depth
    assert ex.stats["secondary_phase"] == pytest.approx(0.5, abs=0.02)
    assert ex.stats["secondary_depth_ppm"] == pytest.approx(ex.stats["depth_ppm"], rel=0.2)
    ex.halve_button.click()
    assert ex.period == pytest.approx(PERIOD)


def test_set_ephemeris_never_clamps_silently(ex):
    # The docstring's own example: twice the period lies outside the slider's +-1 % range;
    # the explorer must fold on 2P, not on the slider maximum.
    ex.set_ephemeris(period=2 * PERIOD)
    assert ex.period == pytest.approx(2 * PERIOD)
    assert ex.period_slider.min < ex.period < ex.period_slider.max
    np.testing.assert_allclose(ex.data["phase"], fold_phase(ex.data["time"], 2 * PERIOD, ex.t0) / (2 * PERIOD))
    ex.set_ephemeris(epoch_shift_h=50.0, duration_h=20 * DUR_H)
    assert ex.t0 == pytest.approx(T0 + 50.0 / 24) and ex.duration_h == pytest.approx(20 * DUR_H)
    with pytest.raises(InvalidParameterError, match="positive"):
        ex.set_ephemeris(period=-1.0)


@pytest.fixture(scope="module")
def wasp18():
    from astrotinyml import datasets, detect

    return detect(datasets.sample_path("wasp-18"), max_planets=1)


def test_explorer_statistics_are_the_reports(wasp18):
    # One definition: the explorer's depth, odd/even and secondary numbers on the candidate's
    # own ephemeris are vet's, i.e. the report's columns (they disagreed: 403 ppm at 18.9 sigma
    # in the explorer vs 437 ppm at 10.3 sigma in the report for WASP-18 b's occultation).
    ex = explore(wasp18)
    row = wasp18.candidates[0]
    for stat, col in (("depth_ppm", "vet_depth_ppm"), ("oddeven_sigma", "oddeven_sigma"),
                      ("secondary_phase", "secondary_phase"), ("secondary_depth_ppm", "secondary_depth_ppm"),
                      ("secondary_sigma", "secondary_sigma")):
        assert ex.stats[stat] == pytest.approx(float(row[col]), rel=1e-9), stat
    # WASP-18 b's occultation (~340 ppm, Shporer et al. 2019) at phase ~0.5
    assert 200 < ex.stats["secondary_depth_ppm"] < 600 and abs(ex.stats["secondary_phase"] - 0.5) < 0.03
    # At twice the period (set programmatically), the other transits fill the secondary window.
    ex.set_ephemeris(period=2 * ex.period)
    assert ex.period == pytest.approx(2 * float(row["pl_orbper"].value))
    assert ex.stats["secondary_depth_ppm"] == pytest.approx(ex.stats["depth_ppm"], rel=0.1)
    assert ex.stats["oddeven_sigma"] < 3  # no spurious odd/even at a period that was never clamped


def test_odd_even_difference_is_visible():
    eb = explore(_lightcurve(odd_depth=0.012, even_depth=0.006), _candidates())
    assert eb.stats["oddeven_sigma"] > 10
    assert np.nanmin(eb.lines["odd"].get_ydata()) < np.nanmin(eb.lines["even"].get_ydata())


def test_detrend_window_control(ex):
    ex.window_slider.value = 1.2
    assert ex.flat.meta["DETREND_WINDOW"] == pytest.approx(1.2)
    np.testing.assert_allclose(ex.lines["lc"].get_ydata(), ex.data["flux"])


def test_classify_button_is_honest(ex):
    ex.classify_button.click()
    ok, why = classifier_status()
    if ok:
        assert ex.classification_result is not None and "label" in ex.classification.value
        # int8 output: each probability is a multiple of 1/256, so the sum is 1 to a few steps
        assert abs(sum(v for k, v in ex.classification_result.items() if k.startswith("p_")) - 1) < 0.02
    else:
        assert ex.classification_result is None
        assert "not available yet" in ex.classification.value and why in ex.classification.value


def test_single_event_disables_period_controls():
    lc = _lightcurve(odd_depth=0.0, even_depth=0.0)
    flux = lc.flux.value.copy()
    flux[np.abs(lc.time.jd - (T0 + 6)) < 0.05] -= 0.01
    lc.flux = flux
    ex = explore(lc, _candidates((math.nan, T0 + 6, DUR_H, 10000.0)))
    assert ex.period_slider.disabled and ex.double_button.disabled
    assert math.isnan(ex.period) and "single event" in ex.info.value
    ex.epoch_slider.value = 0.5
    assert ex.t0 == pytest.approx(T0 + 6 + 0.5 / 24)


def test_explore_accepts_a_detection_result():
    from astrotinyml import detect

    res = detect(_lightcurve(), max_planets=1)
    ex = explore(res)
    assert ex.target == res.target and ex.period == pytest.approx(PERIOD, rel=1e-3)


def test_errors():
    with pytest.raises(InvalidParameterError, match="no candidates"):
        explore(_lightcurve(), _candidates()[:0])
    with pytest.raises(InvalidParameterError, match="lacks column"):
        explore(_lightcurve(), QTable({"pl_orbper": [1.0]}))
    with pytest.raises(InvalidParameterError, match="expected a DetectionResult"):
        explore(42)
