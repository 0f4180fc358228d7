"""astrotinyml.transitfit: limb-darkened transit fits on real light curves.

Physical checks: WASP-18 b from its bundled TESS sector against published values; seeded
transits injected into a real quiet K2 star recovered within their intervals; the
intervals of a few injections not absurdly narrow; clear errors for malformed inputs.
The MCMC runs are shortened (``nsteps``) where the test is about the fit, not convergence.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable

from astrotinyml import datasets
from astrotinyml.detrending import detrend
from astrotinyml.errors import InvalidParameterError
from astrotinyml.transitfit import FIT_COLUMNS, fit_transit, limb_darkening

# WASP-18 b, circular-orbit fit of TESS + CHEOPS + Spitzer photometry: A&A 699, A150 (2025),
# "Dark skies of the slightly eccentric WASP-18 b from its optical-to-infrared dayside
# emission", Table 3: P = 0.941452379(16) d, Rp/R* = 0.09757 (+0.00012/-0.00013),
# a/R* = 3.493 +- 0.011, i = 84.08 +- 0.17 deg, hence b = a/R* cos i = 0.360 +- 0.010.
# (Shporer et al. 2019, AJ 157, 178, from this same TESS sector alone, found Rp/R* = 0.09716.)
WASP18_P = 0.941452379
WASP18 = {"pl_ratror": (0.09757, 0.000125), "pl_ratdor": (3.493, 0.011), "pl_imppar": (0.360, 0.010)}


def _value(x) -> float:
    return float(getattr(x, "value", x))


def _sigma(row, name, truth):
    """The half-interval on the side of ``truth``."""
    med = _value(row[name])
    return _value(row[name + "err1"]) if truth > med else -_value(row[name + "err2"])


def _inject(lc, *, period, t0, k, ars, b, u1, u2, exp_time):
    """The light curve times a batman transit, exposure-integrated over 31 midpoint
    sub-exposures (independent of the fit's own integration)."""
    import batman

    t = np.asarray(lc.time.jd, dtype=float)
    p = batman.TransitParams()
    p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = t0, period, k, ars, math.degrees(math.acos(b / ars)), 0.0, 90.0
    p.limb_dark, p.u = "quadratic", [u1, u2]
    off = ((np.arange(31) + 0.5) / 31 - 0.5) * exp_time
    model = batman.TransitModel(p, (t[:, None] + off).ravel()).light_curve(p).reshape(-1, 31).mean(axis=1)
    out = lc.copy()
    out.flux = out.flux * model
    return out


def _t14(period, k, ars, b):
    sin_i = math.sqrt(1 - (b / ars) ** 2)
    return period / math.pi * math.asin(math.sqrt((1 + k) ** 2 - b ** 2) / (ars * sin_i))


def _candidate(period, t0, dur_d, depth):
    return QTable({"pl_orbper": [period] * u.day, "pl_tranmid": [t0] * u.day,
                   "pl_trandurh": [dur_d * 24.0] * u.hour, "pl_trandep": [depth * 1e6]})


@pytest.fixture(scope="module")
def quiet_k2():
    return datasets.load_sample("epic-248045685")


@pytest.fixture(scope="module")
def wasp18_fit():
    lc = datasets.load_sample("wasp-18")
    cand = _candidate(0.94145, 2458375.1698, 2.2 / 24.0, 0.0100)
    flat = detrend(lc, mask=cand)
    return fit_transit(flat, cand, seed=1), cand


def test_wasp18_b_matches_published_values(wasp18_fit):
    out, cand = wasp18_fit
    row = out[0]
    assert row["fit_method"] == "mcmc" and bool(row["fit_converged"])
    assert 0.15 < row["fit_acceptance"] < 0.6
    assert abs(_value(row["pl_orbper"]) / WASP18_P - 1) < 1e-3
    for name, (ref, ref_err) in WASP18.items():
        sigma = math.hypot(_sigma(row, name, ref), ref_err)
        assert abs(_value(row[name]) - ref) < 3 * sigma, (name, _value(row[name]), ref, sigma)
    # A hot-Jupiter transit of ~1.1 % lasting ~2.2 h; 27 transits in the sector.
    assert 10400 < row["pl_trandep"] < 11200
    assert abs(_value(row["pl_trandurh"]) - 2.18) < 0.05
    # The TOI catalogue gives R* = 1.35 +- 0.07 R_sun: the planet radius carries that 5 %
    # uncertainty (k R* sigma_R* = 0.098 * 0.07 * 109.1 = 0.75 R_earth), far above k's.
    assert 13.5 < _value(row["pl_rade"]) < 15.5
    assert 0.6 < _value(row["pl_radeerr1"]) < 0.9 and -0.9 < _value(row["pl_radeerr2"]) < -0.6
    # The implied density agrees with the catalogue star's (logg 4.37, R 1.35: 0.89 g/cm^3).
    assert abs(_value(row["st_dens_implied"]) - 0.885) < 0.15 * 0.885
    # Limb darkening: the TESS table for Teff 6400 K, logg 4.37 from the TOI snapshot.
    assert row["fit_ld_source"].startswith("Claret 2017 (TESS); teff toi, logg toi")
    assert not row["fit_ld_clamped"]


def test_output_columns_follow_the_archive_convention(wasp18_fit):
    out, cand = wasp18_fit
    assert len(out) == len(cand)
    for name, unit, _ in FIT_COLUMNS:
        assert name in out.colnames
    for name in ("pl_orbper", "pl_tranmid", "pl_ratror", "pl_ratdor", "pl_imppar", "pl_trandep",
                 "pl_trandurh", "pl_rade", "st_dens_implied"):
        i = out.colnames.index(name)
        assert out.colnames[i + 1: i + 3] == [name + "err1", name + "err2"]
        assert _value(out[name + "err1"][0]) > 0 > _value(out[name + "err2"][0])
    assert out["pl_orbper"].unit == u.day and out["pl_trandurh"].unit == u.hour
    assert out["pl_rade"].unit == u.earthRad and out["st_dens_implied"].unit == u.g / u.cm ** 3
    # pl_tranmid is a full BJD_TDB inside the sector, at a transit of the input ephemeris.
    t0 = _value(out["pl_tranmid"][0])
    assert 2458354.1 < t0 < 2458381.6
    n = (t0 - 2458375.1698) / 0.94145
    assert abs(n - round(n)) * 0.94145 * 24 < 0.1
    assert out.meta["fit_transit"]["method"] == "mcmc"
    # The input table is not modified.
    assert "pl_ratror" not in cand.colnames and _value(cand["pl_orbper"][0]) == 0.94145


def test_injected_transit_in_quiet_k2_star_is_recovered(quiet_k2):
    # Sun-like star of unknown parameters: the fit uses the solar prior for limb darkening,
    # so the injection uses the Kepler-band table value for the Sun.
    ld = limb_darkening(5772.0, 4.438, 0.0, mission="K2")
    t = quiet_k2.time.jd
    truth = dict(period=4.13, t0=float(t[0]) + 1.7, k=0.075, ars=13.0, b=0.35)
    lc = _inject(quiet_k2, **truth, u1=ld.u1, u2=ld.u2, exp_time=29.4 / 1440)
    t14 = _t14(truth["period"], truth["k"], truth["ars"], truth["b"])
    # The box values a search would give: a slightly short duration, a shallow depth.
    cand = _candidate(truth["period"] * 1.0002, truth["t0"] + 0.003, 0.85 * t14, 0.8 * truth["k"] ** 2)
    flat = detrend(lc, mask=cand)
    out = fit_transit(flat, cand, nsteps=2000, seed=3)
    row = out[0]
    assert row["fit_supersample"] == 10  # 29.4-min cadence in 3-min sub-exposures
    assert row["fit_ld_source"].startswith("solar prior")
    assert np.isnan(_value(row["pl_rade"]))  # no stellar radius for this star
    n = round((_value(row["pl_tranmid"]) - truth["t0"]) / truth["period"])
    ref = {"pl_orbper": truth["period"], "pl_tranmid": truth["t0"] + n * truth["period"],
           "pl_ratror": truth["k"], "pl_ratdor": truth["ars"], "pl_imppar": truth["b"],
           "pl_trandurh": t14 * 24}
    for name, value in ref.items():
        z = abs(_value(row[name]) - value) / _sigma(row, name, value)
        assert z < 3, (name, _value(row[name]), value, z)
    assert 0.5 < row["fit_chi2_red"] < 1.5


def test_intervals_of_a_few_injections_are_not_absurdly_narrow(quiet_k2):
    # Six seeded injections, least-squares intervals (the MCMC's starting point; the MCMC
    # coverage over 50+ injections is in benchmarks/transit_fit.py).
    rng = np.random.default_rng(7)
    ld = limb_darkening(5772.0, 4.438, 0.0, mission="K2")
    t = quiet_k2.time.jd
    z = {name: [] for name in ("pl_orbper", "pl_tranmid", "pl_ratror", "pl_ratdor", "pl_imppar")}
    for _ in range(6):
        period = rng.uniform(2.0, 8.0)
        truth = dict(period=period, t0=float(t[0]) + rng.uniform(0.5, period), k=rng.uniform(0.04, 0.1),
                     ars=215.0 * (period / 365.25) ** (2 / 3), b=rng.uniform(0.0, 0.7))
        lc = _inject(quiet_k2, **truth, u1=ld.u1, u2=ld.u2, exp_time=29.4 / 1440)
        t14 = _t14(truth["period"], truth["k"], truth["ars"], truth["b"])
        cand = _candidate(truth["period"], truth["t0"], t14, truth["k"] ** 2)
        row = fit_transit(detrend(lc, mask=cand), cand, method="lsq")[0]
        assert row["fit_method"] == "lsq"
        n = round((_value(row["pl_tranmid"]) - truth["t0"]) / truth["period"])
        ref = {"pl_orbper": truth["period"], "pl_tranmid": truth["t0"] + n * truth["period"],
               "pl_ratror": truth["k"], "pl_ratdor": truth["ars"], "pl_imppar": truth["b"]}
        for name, value in ref.items():
            z[name].append(abs(_value(row[name]) - value) / _sigma(row, name, value))
    for name, values in z.items():
        assert np.median(values) < 3, (name, values)


def test_single_event_is_fitted_with_a_fixed_long_period(quiet_k2):
    ld = limb_darkening(5772.0, 4.438, 0.0, mission="K2")
    t0 = float(quiet_k2.time.jd[0]) + 40.3
    truth = dict(period=60.0, t0=t0, k=0.1, ars=215.0 * (60 / 365.25) ** (2 / 3), b=0.2)
    lc = _inject(quiet_k2, **truth, u1=ld.u1, u2=ld.u2, exp_time=29.4 / 1440)
    t14 = _t14(truth["period"], truth["k"], truth["ars"], truth["b"])
    cand = QTable({"pl_orbper": [np.nan] * u.day, "pl_tranmid": [t0] * u.day,
                   "pl_trandurh": [t14 * 24] * u.hour, "pl_trandep": [1e4], "single_event": [True]})
    row = fit_transit(detrend(lc, mask=cand), cand, method="lsq")[0]
    # The period used: a central transit of the (solar prior) star lasting T14, ~57 d.
    assert row["fit_method"].startswith("lsq (single event: period fixed at 5")
    assert np.isnan(_value(row["pl_orbper"])) and np.isnan(_value(row["pl_ratdor"]))
    assert np.isnan(_value(row["st_dens_implied"]))
    assert abs(_value(row["pl_ratror"]) - 0.1) < 3 * _sigma(row, "pl_ratror", 0.1)
    # One transit in K2 red noise: the mid-time to a few minutes (its white-noise interval
    # is too narrow there, see the benchmark), the duration to 2 %.
    assert abs(_value(row["pl_tranmid"]) - t0) * 1440 < 5.0
    assert abs(_value(row["pl_trandurh"]) - t14 * 24) < 0.02 * t14 * 24


def test_mcmc_is_reproducible_and_prints_nothing(capsys):
    # A small synthetic curve keeps this fast; progress goes to stderr, never stdout.
    import lightkurve as lk

    t = 2459000.0 + np.arange(0.0, 6.0, 10.0 / 1440.0)
    rng = np.random.default_rng(2)
    flux = np.ones(t.size) + rng.normal(0.0, 1e-3, t.size)
    flux[np.abs((t - 2459001.0 + 1.0) % 2.0 - 1.0) < 0.05] -= 0.004
    lc = lk.LightCurve(time=t, flux=flux, flux_err=np.full(t.size, 1e-3))
    lc.meta["mission"] = "TESS"
    cand = _candidate(2.0, 2459001.0, 0.1, 0.004)
    a = fit_transit(lc, cand, nsteps=200, seed=5, progress=True)
    b = fit_transit(lc, cand, nsteps=200, seed=5)
    assert capsys.readouterr().out == ""
    for name in ("pl_orbper", "pl_tranmid", "pl_ratror", "pl_imppar", "fit_tau_max"):
        assert _value(a[name][0]) == _value(b[name][0])
    assert a["fit_nsteps"][0] == 200
    assert not a["fit_converged"][0]  # 150 kept steps cannot be 30 autocorrelation times


def test_limb_darkening_table_values_and_clamping():
    # Grid points of the bundled tables (Claret & Bloemen 2011 Kepler; Claret 2017 TESS).
    assert limb_darkening(5750, 4.5, 0.0, mission="Kepler")[:2] == (0.4035, 0.2622)
    assert limb_darkening(5750, 4.5, 0.0, mission="K2")[:2] == (0.4035, 0.2622)
    assert limb_darkening(5750, 4.5, 0.0, mission="tess")[:2] == (0.3075, 0.2743)
    # Halfway between two Teff grid points is the mean of both.
    mid = limb_darkening(5875, 4.5, 0.0, mission="TESS")
    lo, hi = limb_darkening(5750, 4.5, 0.0, mission="TESS"), limb_darkening(6000, 4.5, 0.0, mission="TESS")
    assert mid.u1 == pytest.approx(0.5 * (lo.u1 + hi.u1)) and not mid.clamped
    # Cooler stars darken more to the limb in the Kepler band than hotter ones.
    assert limb_darkening(4500, 4.6, mission="Kepler").u1 > limb_darkening(6500, 4.3, mission="Kepler").u1
    edge = limb_darkening(3000, 4.5, 0.0, mission="TESS")
    assert edge.clamped and edge[:2] == limb_darkening(3500, 4.5, 0.0, mission="TESS")[:2]
    assert limb_darkening(5750, 4.5, float("nan"), mission="TESS")[:2] == (0.3075, 0.2743)
    with pytest.raises(InvalidParameterError, match="mission='CoRoT'.*Kepler"):
        limb_darkening(5750, 4.5, mission="CoRoT")
    with pytest.raises(InvalidParameterError, match="finite teff"):
        limb_darkening(float("nan"), 4.5, mission="TESS")


def test_empty_table_is_refused(quiet_k2):
    empty = _candidate(1.0, 2457830.0, 0.1, 0.01)[:0]
    with pytest.raises(InvalidParameterError, match="empty"):
        fit_transit(quiet_k2, empty)


def test_missing_column_is_named(quiet_k2):
    cand = _candidate(3.0, 2457830.0, 0.1, 0.01)
    del cand["pl_trandurh"]
    with pytest.raises(InvalidParameterError, match="'pl_trandurh'.*astrotinyml.search"):
        fit_transit(quiet_k2, cand)


def test_candidate_without_data_in_its_window_is_refused(quiet_k2):
    # A single event 5 days after the end of the campaign.
    t_end = float(quiet_k2.time.jd[-1])
    cand = QTable({"pl_orbper": [np.nan] * u.day, "pl_tranmid": [t_end + 5.0] * u.day,
                   "pl_trandurh": [3.0] * u.hour, "pl_trandep": [1000.0]})
    with pytest.raises(InvalidParameterError, match="no cadence within .*full BJD_TDB"):
        fit_transit(quiet_k2, cand, method="lsq")


def test_bad_options_are_refused(quiet_k2):
    cand = _candidate(3.0, float(quiet_k2.time.jd[0]) + 1.0, 0.1, 0.01)
    for kwargs, match in ((dict(method="nested"), "method='nested'"), (dict(baseline="cubic"), "baseline"),
                          (dict(window=0.5), "window"), (dict(nsteps=5), "nsteps"),
                          (dict(mission="Gaia"), "mission='Gaia'")):
        with pytest.raises(InvalidParameterError, match=match):
            fit_transit(quiet_k2, cand, **kwargs)
