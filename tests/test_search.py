"""Tests of astrotinyml.search on bundled real light curves and seeded synthetic ones.

Physical checks: WASP-18 b (TESS S2) period and depth, Kepler-90 b and c in Kepler Q3-Q5,
the eclipsing binary KIC 2306740 at P or P/2, nothing periodic on a quiet K2 star; plus
seeded injections into white noise (box and batman), aliases, single events and input
validation.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest

lk = pytest.importorskip("lightkurve")

from astrotinyml import datasets  # noqa: E402
from astrotinyml.detrending import detrend  # noqa: E402
from astrotinyml.errors import InvalidParameterError, SearchError  # noqa: E402
from astrotinyml.searching import ROCHE_PERIOD_MIN, period_grid, periodogram, search  # noqa: E402

CONTRACT = {"pl_orbper": u.day, "pl_tranmid": u.day, "pl_trandurh": u.hour,
            "pl_trandep": None, "snr": None, "sde": None, "n_transits": None}


def _box_lc(*, period=3.1234, t0=0.77, dur=0.12, depth=2e-3, noise=5e-4, span=27.0,
            cadence=2.0 / 1440, seed=0, jd0=2459000.0):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, span, cadence)
    flux = 1.0 + rng.normal(0.0, noise, t.size)
    phase = (t - t0 + 0.5 * period) % period - 0.5 * period
    flux[np.abs(phase) < 0.5 * dur] -= depth
    from astropy.time import Time

    lc = lk.LightCurve(time=Time(t + jd0, format="jd", scale="tdb"), flux=flux,
                       flux_err=np.full(t.size, noise))
    lc.meta["target"] = "synthetic"
    return lc


def _row_near(res, period, tol=1e-3):
    p = res["pl_orbper"].to_value(u.day)
    hit = np.flatnonzero(np.abs(p / period - 1) < tol)
    return res[hit[0]] if hit.size else None


# --- real light curves ---------------------------------------------------------------

def test_wasp18_period_depth_epoch():
    lc = datasets.load_sample("wasp-18")
    res = search(detrend(lc))
    assert len(res) >= 1
    first = res[0]
    # WASP-18 b: P = 0.941453 d (TOI-185.01); (Rp/R*)^2 = 0.09716^2 = 9440 ppm in TESS
    # (Shporer et al. 2019, AJ 157, 178).  The box depth (mean in-transit deficit of a
    # limb-darkened transit) sits close to (Rp/R*)^2.
    assert first["pl_orbper"].to_value(u.day) == pytest.approx(0.941453, rel=1e-3)
    assert first["pl_trandep"] == pytest.approx(9440, rel=0.10)
    assert 1.5 < first["pl_trandurh"].to_value(u.hour) < 2.6   # T14 = 2.19 h
    assert first["n_transits"] >= 25
    assert first["sde"] >= 9 and first["snr"] > 100
    # the first transit in the data, as a full BJD_TDB
    t = lc.time.tdb.jd
    tm = first["pl_tranmid"].to_value(u.day)
    assert t.min() <= tm < t.min() + 0.941453 + 0.1
    # TOI-185.01 epoch 2458205.35332 BJD_TDB (BTJD 3205.35332) propagated into sector 2
    epoch = 2457000.0 + 3205.35332
    n = np.round((tm - epoch) / 0.9414525)
    assert abs(tm - (epoch + n * 0.9414525)) < 0.01
    for name, unit in CONTRACT.items():
        assert name in res.colnames
        assert res[name].unit == unit if unit is not None else getattr(res[name], "unit", None) in (None, u.dimensionless_unscaled)
    assert not first["single_event"] and first["planet_index"] == 1


@pytest.mark.xfail(strict=True, reason=(
    "#19 regression: with this session's detrending (long-dip protection) the two passes find "
    "Kepler-90 b (7.008 d) but not c (8.720 d): on the second pass c peaks at SDE 7.6 with box SNR 7.0 "
    "(beta ~ 1 on Kepler, so the red-noise ranking does not change it), below the SDE threshold of 9; "
    "TLS's 7 would pass it but added false alarms on K2 variable stars in the injection benchmark"))
def test_kepler90_inner_planets_found():
    # Kepler-90 Q3-Q5 (stitched): b (7.008 d, ~100 ppm) and c (8.720 d, ~130 ppm) beside
    # the deep single transits of g and h.  Two passes, as a pipeline does: the second
    # detrending masks the first pass's candidates so the long transits are not eaten.
    lc = datasets.load_sample("kepler-90")
    # max_planets counts single events too: room for b, c, the singles and a few leftovers.
    first = search(detrend(lc), max_planets=8, period_max=30.0)
    res = search(detrend(lc, mask=first), max_planets=8, period_max=30.0)
    b = _row_near(res, 7.008218)
    c = _row_near(res, 8.719801)
    assert b is not None and c is not None, res
    assert 60 < b["pl_trandep"] < 160 and 80 < c["pl_trandep"] < 200
    # g (P = 210.6 d) and h (331.6 d) transit once each in these quarters
    mono = res[res["single_event"]]
    assert len(mono) >= 1
    assert np.all(np.isnan(mono["pl_orbper"].value)) and np.all(mono["n_transits"] == 1)
    assert np.nanmax(mono["pl_trandep"]) > 3000


@pytest.fixture(scope="module")
def kepler90_flat():
    return detrend(datasets.load_sample("kepler-90"))


@pytest.mark.parametrize("cap", [1, 3])
def test_max_planets_caps_rows_single_events_included(kepler90_flat, cap):
    # The README example: search(flat, max_planets=3) gave 4 rows (3 periodic signals and a
    # single event on top).  Kepler-90 Q3-Q5 has more signals than either cap.
    res = search(kepler90_flat, max_planets=cap)
    assert len(res) == cap, res
    assert list(res["planet_index"]) == list(range(1, cap + 1))
    assert len(search(kepler90_flat, max_planets=0)) == 0


@pytest.fixture(scope="module")
def quiet_search():
    return search(detrend(datasets.load_sample("epic-248045685")))


def test_quiet_star_strongest_signal_is_its_known_dip(quiet_search):
    # The strongest thing reported is a real 6-cadence, ~700 ppm dip (BJD 2457828.38, seen in
    # both the K2SC and K2SFF reductions), as a single event.
    res = quiet_search
    top = res[int(np.argmax(res["snr"]))]
    assert bool(top["single_event"]) and abs(top["pl_tranmid"].to_value(u.day) - 2457828.38) < 0.05


def test_quiet_star_gives_no_periodic_signal(quiet_search):
    # The long-dip protection of detrend keeps red-noise dips of this quiet K2 star out of
    # the trend fit; ranked by white noise they paired into a 24.2-d signal (SNR ~13,
    # SDE 9.4).  The search's spectrum is normalised by the red noise at each duration.
    assert not np.any(~quiet_search["single_event"]), quiet_search


def test_eclipsing_binary_found_at_p_or_half_p():
    lc = datasets.load_sample("kic-2306740")
    res = search(detrend(lc), max_planets=2)
    p = res["pl_orbper"][0].to_value(u.day)
    ok = [abs(p / (10.306987 * f) - 1) < 5e-3 for f in (1.0, 0.5)]
    assert any(ok), p
    assert res["pl_trandep"][0] > 1e5          # 23 % deep eclipses


# --- synthetic ------------------------------------------------------------------------

def test_box_injection_recovered():
    lc = _box_lc()
    res = search(lc, max_planets=2)
    first = res[0]
    assert first["pl_orbper"].to_value(u.day) == pytest.approx(3.1234, rel=1e-3)
    assert first["pl_trandep"] == pytest.approx(2000, rel=0.10)
    assert first["pl_trandurh"].to_value(u.hour) == pytest.approx(0.12 * 24, rel=0.25)
    assert first["pl_tranmid"].to_value(u.day) == pytest.approx(2459000.77, abs=0.01)
    assert first["n_transits"] == 9
    expected_snr = 2e-3 / 5e-4 * np.sqrt(9 * 0.12 / (2.0 / 1440))
    assert first["snr"] == pytest.approx(expected_snr, rel=0.15)
    assert first["depth_err_ppm"] == pytest.approx(first["pl_trandep"] / first["snr"], rel=1e-6)
    # nothing else in white noise
    assert len(res) == 1


def test_batman_injection_recovered():
    batman = pytest.importorskip("batman")
    rng = np.random.default_rng(7)
    t = np.arange(0.0, 27.0, 2.0 / 1440)
    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a, params.inc = 1.3, 4.567, 0.05, 12.0, 89.0
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "quadratic", [0.4, 0.25]
    model = batman.TransitModel(params, t).light_curve(params)
    flux = model * (1 + rng.normal(0, 1e-3, t.size))
    res = search(lk.LightCurve(time=t, flux=flux), max_planets=1)
    first = res[0]
    assert first["pl_orbper"].to_value(u.day) == pytest.approx(4.567, rel=1e-3)
    assert first["pl_trandep"] == pytest.approx(2500, rel=0.15)     # (Rp/R*)^2
    t14 = 4.567 / np.pi * np.arcsin(np.sqrt(1.05 ** 2 - (12 * np.cos(np.radians(89))) ** 2) / 12)
    assert 0.6 * t14 * 24 < first["pl_trandurh"].to_value(u.hour) < 1.1 * t14 * 24


def test_planet_not_reported_at_twice_its_period():
    # Every other transit falls in a gap for 2P only partially: the search must keep P.
    lc = _box_lc(period=2.2, t0=0.5, depth=1.5e-3, seed=3)
    res = search(lc, max_planets=1)
    assert res["pl_orbper"][0].to_value(u.day) == pytest.approx(2.2, rel=1e-3)


def test_planet_on_a_noisy_k2_star_not_doubled_by_its_scattered_transit_depths():
    # EPIC 247013709 (K2 C13 K2SC field star of benchmarks/injection_recovery.py --big) with a
    # 5300-ppm, 4-h planet injected every 9.339 d.  On this star single transits measure
    # 2800-8800 ppm against a white-noise error of +-500, so odd and even means differed by
    # "7 sigma" and the alias choice reported the planet at 2P.  The odd/even error now
    # comes from the transits' own scatter: the planet stays at P.
    from _inject import inject_planet

    from astrotinyml.io.read import read_lightcurve

    path = __import__("pathlib").Path(__file__).parent / "data" / "k2_EPIC247013709_C13_k2sc.fits"
    period, t0 = 9.338996473000309, 2992.858430990088
    lc, _ = inject_planet(read_lightcurve(path).remove_nans(), period=period, t0=t0, rp=0.07295, b=0.18345)
    res = search(detrend(lc), max_planets=2)
    assert res["pl_orbper"][0].to_value(u.day) == pytest.approx(period, rel=1e-3)
    assert res["n_transits"][0] >= 8


def test_eb_with_unequal_eclipses_reported_at_true_period():
    rng = np.random.default_rng(5)
    t = np.arange(0.0, 27.0, 10.0 / 1440)
    p = 3.0
    phase = ((t - 0.4) / p) % 1.0
    flux = 1 + rng.normal(0, 5e-4, t.size)
    flux[np.abs(phase) < 0.02] -= 0.02                   # primary 2 %
    flux[np.abs(phase - 0.5) < 0.02] -= 0.012            # secondary 1.2 %
    res = search(lk.LightCurve(time=t, flux=flux), max_planets=3)
    periods = res["pl_orbper"].to_value(u.day)
    # first signal at P (not P/2 where both eclipses fold together)
    assert periods[0] == pytest.approx(p, rel=1e-3)
    # the secondary eclipse comes out at the same period, flagged as a harmonic of #1
    sec = _row_near(res[1:], p)
    assert sec is not None and sec["harmonic_of"] == 1


def test_single_event_reported_as_mono_transit():
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 27.0, 2.0 / 1440)
    flux = 1 + rng.normal(0, 5e-4, t.size)
    flux[np.abs(t - 13.3) < 0.1] -= 3e-3
    res = search(lk.LightCurve(time=t, flux=flux))
    assert len(res) == 1
    row = res[0]
    assert row["single_event"] and np.isnan(row["pl_orbper"].value) and np.isnan(row["sde"])
    assert row["pl_tranmid"].to_value(u.day) == pytest.approx(13.3, abs=0.02)
    assert row["pl_trandep"] == pytest.approx(3000, rel=0.15)
    assert row["n_transits"] == 1
    assert len(search(lk.LightCurve(time=t, flux=flux), single_events=False)) == 0


def test_white_noise_gives_nothing():
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 27.0, 2.0 / 1440)
    res = search(lk.LightCurve(time=t, flux=1 + rng.normal(0, 1e-3, t.size)))
    assert len(res) == 0
    assert set(CONTRACT) <= set(res.colnames)


def test_period_grid_and_periodogram():
    p = period_grid(baseline=27.0, period_min=0.5, period_max=13.5)
    assert np.all(np.diff(p) > 0) and p[0] >= 0.5 and p[-1] <= 13.5
    # uniform in frequency**(1/3)
    x = (1 / p) ** (1 / 3)
    assert np.allclose(np.diff(x), np.diff(x)[0], rtol=1e-6)
    pg = periodogram(_box_lc(noise=1e-3))
    best = pg["period"][np.argmax(pg["sde"])].to_value(u.day)
    assert best == pytest.approx(3.1234, rel=2e-3)
    assert pg["period"].unit == u.day


# --- input validation ------------------------------------------------------------------

def test_too_few_points():
    lc = lk.LightCurve(time=np.arange(20.0), flux=np.ones(20))
    lc.meta["target"] = "TIC 1234"
    with pytest.raises(SearchError, match="TIC 1234"):
        search(lc)


def test_all_nan():
    lc = lk.LightCurve(time=np.arange(500.0), flux=np.full(500, np.nan))
    with pytest.raises(SearchError, match="finite points"):
        search(lc)


def test_nans_are_ignored():
    lc = _box_lc(noise=3e-4)
    flux = lc.flux.value.copy()
    flux[::7] = np.nan
    lc.flux = flux
    res = search(lc, max_planets=1)
    assert res["pl_orbper"][0].to_value(u.day) == pytest.approx(3.1234, rel=1e-3)


def test_period_range_errors():
    lc = _box_lc()
    with pytest.raises(InvalidParameterError, match="period_min"):
        search(lc, period_min=5.0, period_max=2.0)
    with pytest.raises(ValueError):
        search(lc, period_min=-1.0)
    short = lk.LightCurve(time=np.linspace(0, 0.8, 600), flux=np.ones(600))
    with pytest.raises(SearchError, match="too short"):
        search(short)
    with pytest.raises(InvalidParameterError):
        search(lc, max_planets=-1)


# --- fast kernels against the brute-force reference ------------------------------------

def _kernel_case(seed=3, n=400):
    from astrotinyml.searching import _Grid

    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 30.0, n))
    y = rng.normal(0.0, 1e-3, n)
    ph = (t - 0.3 + 1.3) % 2.6 - 1.3
    y[np.abs(ph) < 0.06] += 3e-3
    y = np.ascontiguousarray(y - y.mean())
    periods = period_grid(baseline=30.0, period_min=2.5, period_max=2.7)
    return t, y, _Grid(periods, 0.05, 3.0)


@pytest.mark.parametrize("variant", ["bls_power", "blocks_serial", "blocks_parallel", "binned"])
def test_direct_kernels_match_reference(variant):
    from astrotinyml import _bls
    from astrotinyml.searching import box_search_reference

    t, y, g = _kernel_case()
    w = np.ones(t.size)
    if variant == "binned":
        t, y, w = _bls.time_bin(t, y, 0.04)
    ref = box_search_reference(t, y, g.periods, g.binw, g.durations, g.dmin, g.dmax, weights=w)
    args = (t, y, w, g.periods, g.binw, g.durations, g.dmin, g.dmax, 3.0)
    if variant in ("bls_power", "binned"):
        fast = _bls.bls_power(*args)
    else:
        i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
        # two direct blocks, run in reverse order
        half = g.periods.size // 2
        plan = (i64(0, half), i64(half, g.periods.size), i64(0, 0), i64(0, 0), i64(0, 0),
                i64(1, 0))
        kern = _bls.bls_power_blocks if variant == "blocks_parallel" else _bls.bls_power_blocks_serial
        fast = kern(*args, *plan)
    assert ref.max() > 0
    np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12 * ref.max())


@pytest.mark.parametrize("parallel", [False, True])
def test_folded_sum_reuse_close_to_reference(parallel):
    # The reuse kernel moves points by at most the planned phase error: its spectrum
    # follows the exact one, with the same peak (period and power within a few %).
    from astrotinyml import _bls
    from astrotinyml.searching import _plan_blocks, box_search_reference

    t, y, g = _kernel_case(n=1000)
    w = np.ones(t.size)
    plan = _plan_blocks(g.periods, g.binw, float(t[-1] - t[0]), 20 * t.size)
    assert np.any(plan[4] > 0)          # some blocks reuse folds
    kern = _bls.bls_power_blocks if parallel else _bls.bls_power_blocks_serial
    fast = kern(t, y, w, g.periods, g.binw, g.durations, g.dmin, g.dmax, 3.0, *plan)
    ref = box_search_reference(t, y, g.periods, g.binw, g.durations, g.dmin, g.dmax)
    i_ref, i_fast = int(np.argmax(ref)), int(np.argmax(fast))
    assert abs(g.periods[i_fast] / 2.6 - 1) < 2e-3 and abs(i_fast - i_ref) <= 1
    assert fast.max() == pytest.approx(ref.max(), rel=0.05)
    assert np.corrcoef(fast, ref)[0, 1] > 0.95


def test_search_same_with_one_or_all_threads():
    lc = _box_lc(period=1.7, dur=0.08, seed=4)
    a = search(lc, max_planets=1, n_threads=1)
    b = search(lc, max_planets=1)
    assert a["pl_orbper"][0] == b["pl_orbper"][0] and a["snr"][0] == b["snr"][0]
    with pytest.raises(InvalidParameterError):
        search(lc, n_threads=0)


def test_ultra_short_period_found_at_its_period():
    # A K2-141 b-like planet (P = 0.2803 d, T14 = 0.94 h, ~2 long cadences; Malavolta et
    # al. 2018) injected with batman into the real K2 light curve of a quiet star: the
    # search down to the Roche limit (0.2 d) reports it at P, not at 2P, with its short
    # duration (box widths are no longer capped at 12 % of the period below 0.5 d).
    batman = pytest.importorskip("batman")
    lc = datasets.load_sample("epic-248045685")
    t = lc.time.value
    params = batman.TransitParams()
    params.t0, params.per, params.rp, params.a, params.inc = t[0] + 0.11, 0.2803, 0.02, 2.3, 86.3
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "quadratic", [0.5, 0.2]
    model = batman.TransitModel(params, t, supersample_factor=7, exp_time=0.0204).light_curve(params)
    inj = lc.copy()
    inj.flux = inj.flux * model
    res = search(detrend(inj), max_planets=2, period_min=ROCHE_PERIOD_MIN)
    periodic = res[~res["single_event"]]
    assert len(periodic) >= 1, res
    first = periodic[0]
    assert first["pl_orbper"].to_value(u.day) == pytest.approx(0.2803, rel=1e-3)
    assert first["pl_trandurh"].to_value(u.hour) < 1.6
    assert res.meta["period_min"] == pytest.approx(0.2)


def _plan_reference(periods, binw, span, npts, direct=False):
    """The block plan of ``search._plan_blocks`` as the plain-Python loop it was before the
    loop was compiled (``_bls.plan_blocks_loop``): the reference the compiled plan must equal."""
    import math

    from astrotinyml.searching import _COST_ADD, _COST_POINT, _DIRECT_BLOCK, _MAX_BLOCK

    n = periods.size
    f = 1.0 / periods
    nb = np.ceil(periods / binw).astype(np.int64)
    drift = span * np.abs(np.gradient(f)) * nb if n > 1 else np.full(n, np.inf)
    budget = np.maximum(0.25, drift / 6.0)
    sub = np.where(budget < 0.5, 4, np.where(budget < 1.0, 2, 1)).astype(np.int64)
    bdrift = budget - 0.5 / sub
    blocks = []
    i, direct_from = 0, None
    while i < n:
        chosen = None
        if not direct and np.isfinite(drift[i]) and drift[i] > 0:
            m_opt = math.sqrt(_COST_POINT * npts * 4.0 * bdrift[i]
                              / (_COST_ADD * drift[i] * 2.0 * nb[i] * sub[i]))
            j = min(i + int(min(max(m_opt, 2), _MAX_BLOCK)), n)
            j = min(max(i + 2, min(j, int(np.searchsorted(nb, 1.1 * nb[i], side="right")))), n)
            if j - i >= 2:
                nb_b, r_b = int(nb[i:j].max()), int(sub[i:j].max())
                k = max(1, int(math.ceil(span * abs(f[i] - f[j - 1]) * nb_b
                                         / (4.0 * float(bdrift[i:j].min())))))
                cost_reuse = _COST_POINT * npts + (j - i) * _COST_ADD * k * 2 * nb_b * r_b
                if cost_reuse < 0.7 * (j - i) * _COST_POINT * npts:
                    chosen = (j, nb_b, r_b, k)
        if chosen is None:
            direct_from = i if direct_from is None else direct_from
            i += 1
            continue
        if direct_from is not None:
            blocks += [(a, min(a + _DIRECT_BLOCK, i), 0, 0, 0)
                       for a in range(direct_from, i, _DIRECT_BLOCK)]
            direct_from = None
        blocks.append((i,) + chosen)
        i = chosen[0]
    if direct_from is not None:
        blocks += [(a, min(a + _DIRECT_BLOCK, n), 0, 0, 0)
                   for a in range(direct_from, n, _DIRECT_BLOCK)]
    return np.array(blocks, dtype=np.int64).reshape(-1, 5).T


@pytest.mark.parametrize("baseline,pmax,npts,step", [(300.0, 150.0, 13000, 3), (27.0, 13.5, 18000, 1),
                                                     (300.0, 150.0, 500, 1), (1470.0, 735.0, 65000, 3)])
def test_compiled_block_plan_equals_python_loop(baseline, pmax, npts, step):
    # The compiled planner gives exactly the blocks of the plain-Python loop (it replaced
    # ~0.35 s of Python per full-mission spectrum), reuse and direct blocks alike, and the
    # blocks tile the grid in order.
    from astrotinyml.searching import _Grid, _plan_blocks

    periods = period_grid(baseline=baseline, period_min=0.5, period_max=pmax)
    g = _Grid(periods, 0.0204, 3.0).subset(np.arange(0, periods.size, step))
    for direct in (False, True):
        start, end, nb, r, k, order = _plan_blocks(g.periods, g.binw, baseline, npts, direct)
        ref = _plan_reference(g.periods, g.binw, baseline, npts, direct)
        for got, want in zip((start, end, nb, r, k), ref):
            np.testing.assert_array_equal(got, want)
        assert start[0] == 0 and end[-1] == g.periods.size and np.all(start[1:] == end[:-1])
        assert np.array_equal(np.sort(order), np.arange(start.size))
        if direct:
            assert np.all(k == 0)
        elif npts >= 13000:
            assert np.any(k > 0)   # long grids of many points reuse folds


def test_red_noise_factor_is_one_on_white_noise_and_grows_on_a_spotted_star():
    # beta(T)**2, by which the spectrum divides each duration's dchi2: 1 on white noise, and
    # on a spotted K2 star (EPIC 210651981, P_rot ~ 2.45 d) rising with the duration, so that
    # left-over variability at long durations no longer outranks a transit of a few hours.
    from astrotinyml.searching import _prepare, _red_beta2, _robust_sigma

    durs = np.array([0.05, 0.1, 0.2, 0.4])
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 80.0, 0.0204)
    y = rng.normal(0.0, 1e-3, t.size)
    np.testing.assert_allclose(_red_beta2(t, y, durs, _robust_sigma(y)), 1.0, atol=0.1)
    # the filter's residual as such: detrend's pre-whitening removes much of this star's
    # coherent modulation (tests/test_detrend.py), and the estimator is what is tested here
    t, y = _prepare(detrend(datasets.load_sample("epic-210651981"), prewhiten=False), "spotted")
    b2 = _red_beta2(t, y - np.median(y), durs, _robust_sigma(y))
    assert np.all(np.diff(b2) > 0) and b2[0] > 1.5 and b2[-1] > 3 * b2[0], b2


def test_half_period_of_a_found_signal_is_reported_at_its_period(shared_data):
    # EPIC 210491860 (K2 C13 field star, no known planet) has a real 1.007-d signal.  After it
    # is masked its other-phase dips came back at 0.5035 d (P/2) and detect labelled that row
    # planet: a signal at P/2 of a found one is that period at another phase, so it is
    # reported at 1.007 d (detect merges such a row as the secondary eclipse).
    from astrotinyml.io import read_lightcurve

    path = shared_data / "more" / "k2_c13_k2sc_stephtdouglas" / "k2_EPIC210491860_C13_k2sc.fits"
    res = search(detrend(read_lightcurve(path).remove_nans()))
    per = res["pl_orbper"].to_value(u.day)
    main = [i for i, p in enumerate(per) if abs(p / 1.0069 - 1) < 2e-3]
    assert main, res
    assert not np.any(np.abs(per / (1.0069 / 2) - 1) < 5e-3), res
    for i in main[1:]:  # the other-phase rows point at the first one
        assert res["harmonic_of"][i] == res["planet_index"][main[0]]


def test_eb_leftovers_masked_without_spectra_and_planet_still_found(shared_data, monkeypatch):
    # A full-mission Kepler EB (52k points, 1470 d, 0.9 % eclipses at 0.9745 d) with a
    # 2500-ppm planet injected at 11.4 d.  After
    # the eclipses, the binary's phase-curve leftovers at its period used one ~1-s spectrum
    # each; the ones that outrank every other peak are now found and masked without one.
    # The planet must still be found, as with spectra only, and with fewer spectra.
    import sys
    from pathlib import Path

    import astrotinyml.searching as searching
    from astrotinyml.io import read_lightcurve

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _inject import inject_planet

    path = (shared_data / "more" / "kepler_EB_fullmission_conor-or"
            / "kepler_EB-anon28_Q0-Q17_conor-or.npy")
    lc = read_lightcurve(path, time_format="bkjd").remove_nans()
    t0 = float(lc.time.value[0]) + 3.7
    lc, _ = inject_planet(lc, period=11.398, t0=t0, rp=0.05, b=0.3)
    flat = detrend(lc)
    runs = {}
    for peel in (True, False):
        monkeypatch.setattr(searching, "_PEEL", peel)
        runs[peel] = search(flat)
    for res in runs.values():
        assert _row_near(res, 0.974478, 2e-4) is not None, res     # the binary
        planet = _row_near(res, 11.398)
        assert planet is not None, res
        assert planet["pl_trandep"] == pytest.approx(0.05 ** 2 * 1e6, rel=0.25)  # limb-darkened box
    assert runs[True].meta["n_spectra"] < runs[False].meta["n_spectra"], \
        (runs[True].meta["n_spectra"], runs[False].meta["n_spectra"])


def test_short_transit_found_on_a_window_matched_to_its_duration(monkeypatch):
    # A 3.2-h, 218-ppm planet (batman, b = 0.31) injected into the spotted K2 star EPIC
    # 246808055 (~7000 ppm/d of rotation; one of benchmarks/injection_recovery.py --big's
    # SNR-10 injections).  The default window (17 h, 3x the longest transit searched)
    # fits ~40 % of so shallow a transit into the trend: the spectrum's peak at 6.094 d
    # has SDE 8.6 < 9 and nothing is found.  The duration bands search 3-h boxes on a
    # 10-h flattening as well, where it stands at SDE ~20.
    import sys
    from pathlib import Path

    import astrotinyml.searching as searching
    from astrotinyml.io import read_lightcurve

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _inject import inject_planet

    path = Path(__file__).resolve().parent / "data" / "k2_EPIC246808055_C13_k2sc_EPIC_246808055_mast.fits"
    lc = read_lightcurve(path).remove_nans()
    lc, model = inject_planet(lc, period=6.0940, t0=2992.1612, rp=0.014764, b=0.31)
    flat = detrend(lc)
    res = search(flat)
    planet = _row_near(res, 6.0940)
    assert planet is not None, res
    assert planet["sde"] >= 15.0, planet
    assert abs(planet["pl_orbper"].to_value(u.day) / 6.0940 - 1) < 1e-3
    # the box's depth against the model's mean deficit over that box (the band's 10-h
    # window still keeps only part of it; detect's masked re-detrending measures it)
    t = lc.time.value
    phase = np.abs((t - 2992.1612 + 3.047) % 6.094 - 3.047)
    inbox = phase < 0.5 * planet["pl_trandurh"].to_value(u.day)
    true_depth = 1e6 * float(np.mean(1.0 - model[inbox]))
    assert 0.55 * true_depth < planet["pl_trandep"] < 1.1 * true_depth, (planet["pl_trandep"], true_depth)
    monkeypatch.setattr(searching, "_BANDS", False)
    assert _row_near(search(flat), 6.0940) is None
