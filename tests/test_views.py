"""Folded views on real light curves (bundled samples): layout, normalization, physics."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from astrotinyml.views import SCALAR_NAMES, VIEW_NAMES

WASP18 = dict(pl_orbper=0.941453, pl_tranmid=2458354.4565, pl_trandurh=2.2, pl_trandep=10000.0)
KIC2306740 = dict(pl_orbper=10.306987, pl_tranmid=2454833.0 + 174.6519, pl_trandurh=10.0, pl_trandep=3.0e5)


def _vetted(sample, cands):
    from astropy.table import QTable

    from astrotinyml.datasets import load_sample
    from astrotinyml.detrending import detrend
    from astrotinyml.vetting import vet

    raw = load_sample(sample)
    flat = detrend(raw, mask=QTable(rows=cands[:1]))
    return flat, vet(flat, cands, raw_lc=raw)


@pytest.fixture(scope="module")
def wasp18():
    return _vetted("wasp-18", [WASP18])


@pytest.fixture(scope="module")
def eb():
    return _vetted("kic-2306740", [KIC2306740, dict(KIC2306740, pl_orbper=KIC2306740["pl_orbper"] / 2)])


@pytest.fixture(scope="module")
def planet_views(wasp18):
    from astrotinyml.views import fold_views

    flat, tab = wasp18
    return fold_views(flat, tab[0])


def _centre(v):
    return float(v[v.size // 2])


def test_layout_dtype_nan_free_read_only(planet_views):
    v = planet_views
    assert v.global_view.shape == (201,)
    for name in VIEW_NAMES[1:]:
        assert getattr(v, name).shape == (61,)
    assert v.scalars.shape == (len(SCALAR_NAMES),) and v.scalar_names == SCALAR_NAMES
    for name in VIEW_NAMES + ("scalars",):
        a = getattr(v, name)
        assert a.dtype == np.float32 and np.all(np.isfinite(a))
        assert not a.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.local_view = np.zeros(61)


def test_planet_normalization(planet_views):
    v = planet_views
    assert v.local_view.min() == pytest.approx(-1.0)
    # Out of transit (outer quarters of the +-2 T14 window) sits at 0.
    assert abs(np.median(v.local_view[:12])) < 0.05 and abs(np.median(v.local_view[-12:])) < 0.05
    assert _centre(v.global_view) < -0.8 and _centre(v.local_view) < -0.9
    assert 9000 < v.scale_ppm < 13000
    # Same scale for odd/even: a planet's odd and even transits overlap.
    assert np.max(np.abs(v.odd_view - v.even_view)) < 0.1
    # The secondary view holds only the ~3% occultation of WASP-18 b.
    assert v.secondary_view.min() > -0.1
    assert abs(v.secondary_phase - 0.5) < 0.03


def test_planet_scalars(planet_views):
    s = planet_views.scalar_dict
    assert s["log_period"] == pytest.approx(math.log10(0.941453), abs=1e-6)
    assert s["log_depth"] == pytest.approx(4.0, abs=1e-6)
    assert s["single_event"] == 0.0 and s["log_oddeven_sigma"] < math.log10(4)
    # No search columns given: the SNR is vet's (a catalogue row gets the same feature as a
    # search row); WASP-18 b's transit is detected at high significance.
    assert "log_snr" not in planet_views.missing_scalars and s["log_snr"] > 2.0
    assert "log_oddeven_sigma" not in planet_views.missing_scalars


def test_eb_secondary_and_odd_even_views(eb):
    from astrotinyml.views import fold_views

    flat, tab = eb
    true_p, half_p = fold_views(flat, tab[0]), fold_views(flat, tab[1])
    # Deep secondary (about 2/3 of the primary) at the vet phase, on the shared scale.
    assert true_p.secondary_view.min() < -0.5
    assert _centre(true_p.secondary_view) < -0.5
    # Centred on phase 0.5 instead, the eccentric secondary is off-centre.
    at_half = fold_views(flat, tab[0], secondary_phase=0.5)
    assert _centre(at_half.secondary_view) > -0.3 and at_half.secondary_view.min() < -0.5
    # At half the period, odd windows hold primaries and even windows phase 0.5: unequal.
    assert _centre(half_p.odd_view) < -0.8
    assert _centre(half_p.even_view) > -0.3


def test_deterministic(wasp18):
    from astrotinyml.views import fold_views

    flat, tab = wasp18
    a, b = fold_views(flat, tab[0]), fold_views(flat, tab[0])
    for name in VIEW_NAMES + ("scalars",):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("kwargs", [
    dict(global_bins=127), dict(global_bins=2049), dict(global_bins=201.0), dict(global_bins=True),
    dict(local_bins=15), dict(local_bins=513), dict(local_width=1.0), dict(local_width=25),
    dict(local_width="wide"), dict(secondary_phase=1.5),
])
def test_invalid_options_raise(wasp18, kwargs):
    from astrotinyml.errors import InvalidParameterError
    from astrotinyml.views import fold_views

    flat, tab = wasp18
    with pytest.raises(InvalidParameterError):
        fold_views(flat, tab[0], **kwargs)


def test_bin_range_limits_accepted(wasp18):
    from astrotinyml.views import fold_views

    flat, tab = wasp18
    for g, n in ((128, 16), (2048, 512)):
        v = fold_views(flat, tab[0], global_bins=g, local_bins=n)
        assert v.global_view.shape == (g,) and v.odd_view.shape == (n,)
        assert np.all(np.isfinite(v.global_view)) and v.local_view.min() == pytest.approx(-1.0)


def test_single_event_candidate(wasp18):
    from astrotinyml.views import fold_views

    flat, _ = wasp18
    v = fold_views(flat, dict(WASP18, pl_orbper=float("nan")))
    for name in VIEW_NAMES + ("scalars",):
        assert np.all(np.isfinite(getattr(v, name)))
    assert v.scalar_dict["single_event"] == 1.0
    assert np.all(v.even_view == 0) and np.all(v.secondary_view == 0)
    assert v.local_view.min() == pytest.approx(-1.0)


def test_helpers_arrays_dict_stack_fold_all(wasp18):
    from astrotinyml.views import fold_all, stack_views

    flat, tab = wasp18
    views = fold_all(flat, tab, global_bins=256, local_bins=32)
    assert len(views) == 1
    arrays = views[0].to_arrays()
    assert list(arrays) == list(VIEW_NAMES) + ["scalars"]
    assert arrays["global_view"].shape == (256,) and arrays["odd_view"].dtype == np.float32
    d = json.loads(json.dumps(views[0].as_dict()))
    assert d["scalar_names"] == list(SCALAR_NAMES) and len(d["local_view"]) == 32
    batch = stack_views(views + views)
    assert batch["local_view"].shape == (2, 32) and batch["scalars"].shape == (2, len(SCALAR_NAMES))


def test_plot_smoke(planet_views):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = planet_views.plot()
    assert len(fig.axes) == 3
    plt.close(fig)


def test_secondary_view_leaves_out_the_primary(wasp18):
    """A secondary window next to the primary (eccentric orbit, short period) shows no primary."""
    from astrotinyml.views import fold_views

    flat, tab = wasp18
    v = fold_views(flat, tab[0], secondary_phase=0.15)  # +-2 T14 window reaches phase 0
    assert v.local_view.min() == pytest.approx(-1.0)
    assert v.secondary_view.min() > -0.2


def test_fold_all_leaves_out_the_other_planets_transits():
    """Kepler-90 Q4: g's 0.45 % transit lands on one of c's (BKJD 357.5): folded alone, c's
    views take g's depth as their scale; fold_all leaves g's transit out."""
    from astropy.table import QTable

    from astrotinyml.datasets import DATA_DIR
    from astrotinyml.detrending import detrend
    from astrotinyml.io import read_lightcurve
    from astrotinyml.views import fold_all, fold_views

    lc = read_lightcurve(DATA_DIR / "kepler_Kepler-90_KIC11442793_Q4_kplr011442793-2010009091648_llc.fits")
    c = dict(pl_orbper=8.719801, pl_tranmid=2454833 + 139.52134, pl_trandurh=4.0)
    g = dict(pl_orbper=210.601384, pl_tranmid=2454833 + 147.05687, pl_trandurh=12.0)
    flat = detrend(lc, mask=QTable(rows=[c, g]))
    alone = fold_views(flat, c)
    both = fold_all(flat, [c, g])
    assert alone.scale_ppm > 3000  # g's transit, folded into c
    assert both[0].scale_ppm < 1000  # c itself (~100 ppm) in Q4's noise
    assert both[1].scale_ppm > 3000  # g keeps its own transit
