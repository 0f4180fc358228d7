"""Physical consistency and reproducibility of the simulated training set (astrotinyml.training:
backgrounds, signals, simulate, dataset)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from astrotinyml.training import backgrounds as B
from astrotinyml.training import dataset as D
from astrotinyml.training import signals as G
from astrotinyml.training import simulate as S

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quiet_bg():
    """A noiseless TESS-like background: the injected model alone."""
    bg = B.synthetic_background(np.random.default_rng(0), mission="TESS")
    return B.Background(name="flat", time=bg.time, flux=np.ones(bg.time.size), mission="TESS",
                        cadence_min=bg.cadence_min, kind="synthetic", sigma=2e-4)


def test_planet_depth_is_radius_ratio_squared_within_limb_darkening(quiet_bg):
    for seed in range(12):
        inj = G.planet_signal(np.random.default_rng(seed), quiet_bg)
        k, b = inj.params["k"], inj.params["b"]
        u1, u2 = inj.params["u1"], inj.params["u2"]
        depth = inj.depth_ppm / 1e6
        # quadratic limb darkening: central depth = k^2 I(mu)/<I>, mu = sqrt(1 - b^2)
        mu = math.sqrt(1 - min(b, 0.999) ** 2)
        ld = (1 - u1 * (1 - mu) - u2 * (1 - mu) ** 2) / (1 - u1 / 3 - u2 / 6)
        assert 0.4 * k * k < depth < 1.5 * k * k
        if b < 0.8 and inj.duration_h > 4 * quiet_bg.cadence_min / 60:  # resolved, not grazing
            assert depth == pytest.approx(k * k * ld, rel=0.25)
        # a/R* from the period and stellar density (Kepler's third law)
        assert inj.params["a_r"] == pytest.approx(max(G._a_over_r(inj.period, inj.params["rho_cgs"]), 1.5))
        # the model dips at the injected epoch
        t = quiet_bg.time
        ph = np.abs((t - inj.t0 + 0.5 * inj.period) % inj.period - 0.5 * inj.period)
        if (ph < 0.2 * inj.duration_h / 24).any():
            assert inj.model[ph < 0.2 * inj.duration_h / 24].mean() < 1 - 0.3 * depth


def test_eb_secondary_at_the_injected_phase(quiet_bg):
    found = 0
    for seed in range(60):
        inj = G.eb_signal(np.random.default_rng(seed), quiet_bg)
        if inj.params["secondary_depth_ppm"] < 200 or "blend" in inj.subtype or "a_ell" in inj.params:
            continue
        t = quiet_bg.time
        phase = ((t - inj.t0) / inj.period) % 1.0
        away = np.abs(((phase + 0.5) % 1.0) - 0.5) > 0.1  # away from the primary
        if not away.any():
            continue
        deep = away & (inj.model < 1 - 0.5 * inj.params["secondary_depth_ppm"] / 1e6)
        if deep.sum() < 3:
            continue  # the secondary fell into a data gap
        # centre of the eclipse (a total occultation is flat-bottomed: no single minimum)
        centre = 0.5 * (phase[deep].min() + phase[deep].max())
        assert abs(centre - inj.secondary_phase) < 0.01
        # different depths: the secondary is never deeper than the primary here (s <= 1)
        assert inj.params["secondary_depth_ppm"] <= inj.depth_ppm * 1.05
        found += 1
    assert found >= 3


def test_classes_and_injections_are_labelled(quiet_bg):
    rng = np.random.default_rng(1)
    assert G.variability_signal(rng, quiet_bg).label == "variability"
    assert G.instrumental_signal(rng, quiet_bg).label == "instrumental"
    assert G.CLASSES == ("planet", "eb", "variability", "instrumental", "noise")


def test_example_goes_through_the_pipeline():
    bg = B.synthetic_background(np.random.default_rng(5), mission="Kepler")
    ex = S.simulate_example(np.random.default_rng(6), bg, "planet", mode="true")
    assert ex is not None and ex["label"] == "planet"
    assert ex["views"].global_view.shape == (201,)
    assert ex["meta"]["mode"] == "true"


def test_dataset_is_seeded_and_reproducible(tmp_path):
    kw = dict(counts=dict(planet=2, eb=1, noise=2), n_real_natural=0, backgrounds=[], seed=11)
    a = D.build_dataset(cache=False, **kw)
    b = D.build_dataset(cache=False, **kw)
    assert len(a) == len(b) > 0
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    np.testing.assert_array_equal(a.labels, b.labels)
    # written once to the cache, then read back
    c = D.build_dataset(cache=True, cache_dir=tmp_path, **kw)
    assert c.path is not None and c.path.exists()
    d = D.build_dataset(cache=True, cache_dir=tmp_path, **kw)
    np.testing.assert_array_equal(c.arrays["local_view"], d.arrays["local_view"])
    assert d.info["config"]["seed"] == 11


def test_real_background_has_known_transits_cut():
    entry = [e for e in B.REAL_BACKGROUNDS if "WASP-111" in e[0]]
    bgs = B.load_backgrounds(entry, root=REPO)
    assert len(bgs) == 1
    bg = bgs[0]
    assert bg.n_cut > 0 and len(bg.sha256) == 64
    p, epoch = entry[0][2][0]
    ph = np.abs((bg.time - epoch + 0.5 * p) % p - 0.5 * p)
    assert ph.min() > 0.5 * G.sun_like_duration(p)


def test_hot_jupiter_shows_occultation_small_planet_does_not(quiet_bg):
    """The planet's own light: an occultation at phase 0.5 for close-in giants only."""
    t = quiet_bg.time
    seen_big = seen_small = 0
    for seed in range(200):
        inj = G.planet_signal(np.random.default_rng(seed), quiet_bg)
        occ = inj.params["occultation_ppm"]
        assert 0.0 <= occ < 0.35 * inj.depth_ppm  # at most ~1/3 (a/R* <= 2, 7000 K star), not EB-like
        phase = ((t - inj.t0) / inj.period) % 1.0
        dur_ph = inj.duration_h / 24.0 / inj.period
        in_occ = np.abs(phase - 0.5) < 0.25 * dur_ph
        beside = (np.abs(phase - 0.5) > 0.75 * dur_ph) & (np.abs(phase - 0.5) < 1.5 * dur_ph)
        if in_occ.sum() < 3 or beside.sum() < 3:
            continue
        dip = (inj.model[beside].mean() - inj.model[in_occ].mean()) * 1e6
        p = inj.params
        if occ > 100 and p["a_r"] > 3 and p["b"] < 0.7 and p["ellipsoidal_ppm"] < 0.1 * occ:
            # a hot Jupiter: the occultation at its computed depth (a total one, b < 0.7, where
            # the ellipsoidal variation, also in the model, hardly changes the flux beside it)
            assert dip == pytest.approx(occ, rel=0.3)
            seen_big += 1
        elif inj.params["k"] < 0.03 and inj.params["a_r"] > 10:
            # a super-Earth away from its star: a few ppm of reflected light at most
            assert occ < 5.0 and abs(dip) < 5.0
            seen_small += 1
    assert seen_big >= 1 and seen_small >= 1


def test_contact_binary_varies_all_orbit_with_two_minima(quiet_bg):
    t = quiet_bg.time
    n = 0
    for seed in range(200):
        inj = G.eb_signal(np.random.default_rng(seed), quiet_bg)
        if inj.subtype != "contact":
            continue
        assert 0.22 <= inj.period <= 1.0 and inj.secondary_phase == 0.5
        phase = ((t - inj.t0) / inj.period) % 1.0
        near = lambda c: np.abs(((phase - c + 0.5) % 1.0) - 0.5) < 0.02  # noqa: E731
        prim, sec, quad = inj.model[near(0.0)].mean(), inj.model[near(0.5)].mean(), inj.model[near(0.25)].mean()
        assert prim <= sec + 1e-9 < quad  # two minima, the primary the deeper, maxima between
        assert quad - prim > 0.01  # light varies through the whole orbit (2-40 %)
        n += 1
    assert n >= 5


def test_some_planets_have_transit_timing_variations(quiet_bg, monkeypatch):
    monkeypatch.setattr(G, "TTV_FRACTION", 0.15)  # off in the shipped build
    t = quiet_bg.time
    with_ttv = moved = 0
    for seed in range(60):
        inj = G.planet_signal(np.random.default_rng(seed), quiet_bg)
        ttv_d = inj.params["ttv_h"] / 24.0
        deficit = 1.0 - inj.model
        epochs = np.round((t - inj.t0) / inj.period)
        near = np.abs(t - inj.t0 - epochs * inj.period) < inj.duration_h / 24.0
        offsets = []
        for e in np.unique(epochs[near]):
            sel = near & (epochs == e) & (deficit > 0.2 * inj.depth_ppm / 1e6)
            if sel.sum() >= 3:  # mid-time of this transit (deficit-weighted) minus the linear ephemeris
                offsets.append(np.average(t[sel], weights=deficit[sel]) - (inj.t0 + e * inj.period))
        if len(offsets) < 3 or inj.duration_h < 1.0:
            continue
        spread = np.ptp(offsets)
        if ttv_d > 0:
            # bounded by the amplitude (+ 30-min sampling and partial transits at gaps)
            assert spread < 2.0 * ttv_d + 0.05
            moved += spread > 0.05  # beyond what sampling alone does (below)
            with_ttv += 1
        else:
            assert spread < 0.05  # strictly periodic: sampling and partial transits only
    assert with_ttv >= 2 and moved >= 1


def test_two_search_passes_build_another_dataset(tmp_path, monkeypatch):
    """SEARCH_PASSES (2 by default, as detect()) is part of the cache key, so a one-pass cached
    dataset is never reused for two passes."""
    kw = dict(counts=dict(planet=2, noise=2), n_real_natural=0, backgrounds=[], seed=11)
    assert S.SEARCH_PASSES == 2
    two = D.build_dataset(cache=True, cache_dir=tmp_path, **kw)
    monkeypatch.setattr(S, "SEARCH_PASSES", 1)
    one = D.build_dataset(cache=True, cache_dir=tmp_path, **kw)
    assert one.info["config"]["search_passes"] == 1
    assert two.path != one.path and two.info["config"]["search_passes"] == 2 and len(two) > 0
