"""End-to-end detect() on bundled real light curves (read -> detrend -> search -> re-detrend
-> vet -> views)."""

from __future__ import annotations

import re

import numpy as np
import pytest

WASP18_P = 0.941453


@pytest.fixture(scope="module")
def wasp18_result():
    from astrotinyml.datasets import sample_path
    from astrotinyml.detection import detect

    return detect(sample_path("wasp-18"), max_planets=2)


def test_hot_jupiter_recovered_and_vetted(wasp18_result):
    from astrotinyml.vetting import VET_COLUMNS

    res = wasp18_result
    c = res.candidates
    assert res.n_candidates >= 1
    best = c[0]
    assert best["pl_orbper"].to_value("d") == pytest.approx(WASP18_P, rel=1e-3)
    # Epoch: a transit of the catalogued ephemeris (BLS epoch in the data 2458354.4565).
    n = round((best["pl_tranmid"].to_value("d") - 2458354.4565) / WASP18_P)
    assert abs(best["pl_tranmid"].to_value("d") - 2458354.4565 - n * WASP18_P) < 0.01
    assert all(name in c.colnames for name, _, _ in VET_COLUMNS)
    assert best["oddeven_sigma"] < 3 and "ODD_EVEN" not in best["vet_flags"]
    assert "SECONDARY" not in best["vet_flags"]
    assert 8000 < best["vet_depth_ppm"] < 13000


def test_result_structure(wasp18_result):
    res = wasp18_result
    assert "100100827" in res.target
    assert len(res.views) == res.n_candidates
    v = res.views[0]
    assert v.local_view.min() == pytest.approx(-1.0) and np.all(np.isfinite(v.global_view))
    assert "trend" in res.flat.colnames and len(res.flat) == len(res.raw)
    assert set(res.timings) == {"read", "detrend", "search", "redetrend", "vet", "views", "classify", "calibrate", "total"}
    assert res.calibration_id and res.options["calibration_id"] == res.calibration_id
    assert "label" in res.candidates.colnames and "p_planet" in res.candidates.colnames
    assert len(res.model_sha256) == 64
    assert res.options["redetrended_with_mask"] is True
    assert res.options["window_length"] > 0 and res.options["max_planets"] == 2
    assert "DetectionResult(target=" in repr(res)


def test_lightcurve_source(wasp18_result):
    from astrotinyml.detection import detect

    res = detect(wasp18_result.raw, max_planets=1)
    assert res.candidates["pl_orbper"][0].to_value("d") == pytest.approx(WASP18_P, rel=1e-3)
    assert res.options["source"] == "LightCurve"


def test_eclipsing_binary_list_source_flags_secondary():
    from astrotinyml.datasets import sample_paths
    from astrotinyml.detection import detect

    res = detect(sample_paths("kic-2306740"), max_planets=1)  # a list of (one) path
    best = res.candidates[0]
    assert best["pl_orbper"].to_value("d") == pytest.approx(10.306987, rel=2e-3)
    assert "SECONDARY" in best["vet_flags"]
    assert abs(best["secondary_phase"] - 0.5) > 0.01


@pytest.mark.parametrize("source, period, phase", [
    # KIC 2306740 (bundled Q2; KEBC P = 10.307 d): the secondary eclipse at phase 0.515 came
    # back as candidate #2 at the same period; KIC 1026032 (Q17 SAP, P = 8.457 d) likewise at 0.526.
    ("kic-2306740", 10.306987, 0.515),
    ("tests/data/kepler_KIC1026032_Q17_enosair_sapflux.csv", 8.4574, 0.526),
])
def test_eb_secondary_is_merged_into_its_primary(source, period, phase):
    from pathlib import Path

    from astrotinyml.datasets import sample_path
    from astrotinyml.detection import detect

    path = sample_path(source) if not source.endswith(".csv") else Path(__file__).parent.parent / source
    res = detect(path, max_planets=2)
    c = res.candidates
    same = [i for i in range(len(c)) if abs(c["pl_orbper"][i].to_value("d") / period - 1) < 2e-3]
    assert len(same) == 1, c["pl_orbper", "pl_tranmid", "pl_trandep"]  # one system, one candidate
    row = c[same[0]]
    assert row["merged_secondary_index"] > 0
    assert row["merged_secondary_phase"] == pytest.approx(phase, abs=0.01)
    # The secondary (10-94 % of the primary's depth) is no planet's occultation: strong EB evidence.
    assert 0.1 * row["pl_trandep"] < row["merged_secondary_depth_ppm"] < row["pl_trandep"]
    assert row["eb_secondary"] and "EB_SECONDARY" in row["vet_flags"]
    assert row["label"] != "planet"
    assert len(res.views) == len(c)


def test_hot_jupiter_occultation_is_not_eb_evidence(wasp18_result):
    row = wasp18_result.candidates[0]
    assert not row["eb_secondary"] and "EB_SECONDARY" not in row["vet_flags"]


def test_merge_secondaries_keeps_other_periods_and_single_events():
    import astropy.units as u
    from astropy.table import QTable

    from astrotinyml.detection import merge_secondaries

    t = QTable(dict(planet_index=[1, 2, 3, 4], pl_orbper=[5.0, 7.0, np.nan, 5.004] * u.d,
                    pl_tranmid=[2455000.0, 2455001.0, 2455003.0, 2455002.5] * u.d,
                    pl_trandurh=[3.0, 3.0, 5.0, 3.0] * u.h, pl_trandep=[900.0, 300.0, 2000.0, 400.0],
                    snr=[40.0, 12.0, 15.0, 11.0], depth_err_ppm=[20.0, 25.0, 100.0, 30.0]))
    out = merge_secondaries(t)
    assert list(out["planet_index"]) == [1, 2, 3]
    assert list(out["merged_secondary_index"]) == [4, 0, 0]
    assert out["merged_secondary_phase"][0] == pytest.approx(0.5)
    assert np.isnan(out["merged_secondary_phase"][1]) and not out["eb_secondary"].any()


def test_every_candidate_column_has_one_documented_definition(wasp18_result):
    # book/columns.md is the one table of definitions; the vet part is VET_COLUMNS' own text.
    from pathlib import Path

    from astrotinyml.vetting import VET_COLUMNS

    page = (Path(__file__).resolve().parent.parent / "book" / "columns.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9]+)`", page))
    assert set(wasp18_result.candidates.colnames) <= documented, \
        set(wasp18_result.candidates.colnames) - documented
    for name, _, text in VET_COLUMNS:
        assert text.replace("|", "\\|") in page, name
    assert "odd_even_sigma" not in wasp18_result.candidates.colnames  # one odd/even test: vet's oddeven_sigma


def test_progress_callback_sees_every_stage(wasp18_result):
    from astrotinyml.detection import detect

    seen = []
    res = detect(wasp18_result.raw, max_planets=1, progress=lambda stage, s: seen.append((stage, s)))
    assert [s for s, _ in seen] == ["read", "detrend", "search", "redetrend", "vet", "views", "classify",
                                    "calibrate"]
    assert all(s >= 0 for _, s in seen) and sum(s for _, s in seen) <= res.timings["total"]


@pytest.mark.parametrize("source, error, match", [
    ("Kepler-90", "OfflineError", "Kepler-90"),  # the tests run offline with an empty cache
    ("no_such_file.fits", "LightCurveFileNotFoundError", "no_such_file"),
    ([], "InvalidParameterError", "empty"),
    (42, "InvalidParameterError", "source"),
])
def test_bad_sources_raise(source, error, match):
    from astrotinyml import errors
    from astrotinyml.detection import detect

    with pytest.raises(getattr(errors, error), match=match):
        detect(source)


def test_target_name_is_fetched_offline_error_names_it():
    from astrotinyml.detection import detect

    # A name goes to fetch_lightcurve; offline with a cold cache that is a ConnectionError
    # naming the target, raised at once rather than a hang.
    with pytest.raises(ConnectionError, match="WASP-18"):
        detect("WASP-18")


def test_second_search_pass_finds_kepler90_long_transits():
    """Kepler-90 Q3-Q5: the plain detrending leaves ~10 % of h's 14-h transit and a quarter
    of g's, so one search pairs their remains with unrelated dips (false 134-d and 44.9-d
    periods).  The second pass, on the light curve detrended with those transits masked,
    finds h and g as single events and d at its period, at the catalogue depths (KOI DR25
    K00351.01/.02/.03: 8322, 4159, 566 ppm)."""
    from astrotinyml.datasets import sample_paths
    from astrotinyml.detection import detect

    res = detect(sample_paths("kepler-90"))
    c = res.candidates
    assert res.options["search_passes"] == 2 and res.options["search_passes_run"] == 2
    bkjd = c["pl_tranmid"].to_value("d") - 2454833.0
    single = np.asarray(c["single_event"], bool)
    for t_mid, depth in ((472.13, 8322.0), (357.56, 4159.0)):  # h, g
        hit = single & (np.abs(bkjd - t_mid) < 0.1)
        assert hit.sum() == 1, f"no single event at BKJD {t_mid}"
        assert c["vet_depth_ppm"][hit][0] == pytest.approx(depth, rel=0.1)
    d = np.abs(c["pl_orbper"].to_value("d") - 59.7371) < 0.06
    assert d.sum() == 1 and c["pl_orbper"][d][0].to_value("d") == pytest.approx(59.7371, rel=1e-3)
    assert c["vet_depth_ppm"][d][0] == pytest.approx(566.0, rel=0.1)
    assert not np.any(np.abs(c["pl_orbper"].to_value("d") - 133.96) < 1.0)  # the false pairing is gone


def test_search_passes_must_be_a_positive_integer(wasp18_result):
    from astrotinyml.detection import detect
    from astrotinyml.errors import InvalidParameterError

    for bad in (0, 1.5, True):
        with pytest.raises(InvalidParameterError, match="search_passes"):
            detect(wasp18_result.raw, search_passes=bad)


def test_search_masked_skips_a_pass_that_would_search_the_same_fluxes(tests_data):
    """KIC 1026032 Q17 (an EB, 8.46 d): the long-dip protection keeps the eclipses out of
    the first trend, so detrending again with them masked changes no flux.  A second pass
    would search the same numbers; it is not run, and what it would return is the first
    pass's result (checked here by running it)."""
    from astrotinyml.detection import same_signals, search_masked
    from astrotinyml.detrending import detrend
    from astrotinyml.io import read_lightcurve
    from astrotinyml.searching import search

    lc = read_lightcurve(tests_data / "kepler_KIC1026032_Q17_enosair_sapflux.csv")
    flat0 = detrend(lc)
    res = search_masked(lc, flat0, passes=2)
    assert res.passes_run == 1 and len(res.candidates) >= 1
    assert res.candidates["pl_orbper"][0].to_value("d") == pytest.approx(8.4574, rel=1e-3)
    assert np.array_equal(res.flat.flux.value, flat0.flux.value, equal_nan=True)
    second = search(res.flat)
    assert same_signals(second, res.candidates)
    for name in ("pl_orbper", "pl_tranmid", "pl_trandep", "pl_trandurh", "snr"):
        assert np.array_equal(np.asarray(second[name]), np.asarray(res.candidates[name]), equal_nan=True)


def test_search_masked_keeps_the_last_pass_values_when_the_signals_agree():
    """Seeded synthetic 10-h, 3000 ppm transits beside 2 mmag variability: the first
    detrending eats most of each transit; later passes find the same signal deeper and
    longer, and those values are the ones returned even when the passes agree."""
    import lightkurve as lk

    from astrotinyml.detection import search_masked
    from astrotinyml.detrending import detrend
    from astrotinyml.searching import search

    rng = np.random.default_rng(7)
    t = 2458000 + np.arange(0, 60, 0.0208)
    flux = 1 + 3e-4 * rng.normal(size=t.size) + 2e-3 * np.sin(2 * np.pi * t / 7.3)
    flux[np.abs((t - 2458003.1 + 6.85) % 13.7 - 6.85) < 5 / 24] -= 3e-3
    lc = lk.LightCurve(time=t, flux=flux)
    # Without the long-dip protection (detrend's default keeps these transits at ~2870 ppm
    # from the start), so that the passes have something to recover.
    flat0 = detrend(lc, protect_long_dips=False)
    first = search(flat0, max_planets=1)
    res = search_masked(lc, flat0, passes=4, first=first, max_planets=1)
    assert first["pl_trandep"][0] < 0.3 * 3000.0  # what one search on the plain detrending sees
    assert res.passes_run == 3  # pass 3 agrees with pass 2 (period, epoch), not with pass 1
    # Pass 3's values, measured on the flattening with pass 2's (full-length) transits masked:
    # the injected depth and duration (pass 2 alone gives ~2140 ppm).
    assert res.candidates["pl_trandep"][0] == pytest.approx(3000.0, rel=0.1)
    assert res.candidates["pl_trandurh"][0].to_value("h") == pytest.approx(10.0, rel=0.1)
    assert res.flat is not flat0


def test_search_masked_keeps_a_lost_signal_only_where_it_still_stands():
    # A later pass can take another path and lose a real signal of the earlier pass (#19:
    # an injected SNR-10 transit on a spotted K2 star).  A lost signal is placed again on the
    # later pass's flattening and kept only when it is still significant there; a row at a
    # period where the data hold no dip is not.  Real quiet K2 star + a 200-ppm box transit.
    from astrotinyml import datasets
    from astrotinyml.detection import _keep_lost_signals
    from astrotinyml.detrending import detrend
    from astrotinyml.searching import search

    lc = datasets.load_sample("epic-248045685").remove_nans()
    t = lc.time.value
    ph = (t - t.min() - 1.1 + 2.15) % 4.3 - 2.15
    lc.flux = lc.flux * np.where(np.abs(ph) < 0.05, 1 - 2e-4, 1.0)
    flat = detrend(lc)
    earlier = search(flat)
    periodic = earlier[~earlier["single_event"]]
    assert len(periodic) >= 1 and abs(periodic["pl_orbper"][0].value / 4.3 - 1) < 2e-3, earlier
    kept = _keep_lost_signals(flat, earlier[:0], periodic, 5)
    assert len(kept) == 1 and abs(kept["pl_orbper"][0].value / 4.3 - 1) < 2e-3
    assert kept["snr"][0] > 10 and kept["planet_index"][0] == 1
    made_up = periodic[:1].copy()
    made_up["pl_orbper"][0] = 5.4321 * made_up["pl_orbper"].unit
    assert len(_keep_lost_signals(flat, earlier[:0], made_up, 5)) == 0
    # no room under max_planets: the later pass stays as it is
    assert len(_keep_lost_signals(flat, earlier[:0], periodic, 0)) == 0


def test_prewhitening_is_an_option_of_detect_and_recorded():
    # K2-25 (M dwarf, P_rot 1.88 d; K2-25 b at 3.48456 d): by default the rotation is divided
    # out and only the planet comes back; prewhiten=False keeps the filter's residual, and
    # the rotation is then found too.  Both runs record what they did.
    from pathlib import Path

    from astrotinyml.detection import detect

    path = Path(__file__).parent / "data" / "k2_EPIC210490365_C4_dave_detrended.dat"
    on, off = detect(path), detect(path, prewhiten=False)
    assert on.options["prewhiten"] is True and off.options["prewhiten"] is False
    assert any(abs(float(p) / 1.88 - 1) < 0.02 for p in on.options["prewhitened_periods"].split(","))
    assert off.options["prewhitened_periods"] == ""
    p_on = on.candidates["pl_orbper"].to_value("d")
    p_off = off.candidates["pl_orbper"].to_value("d")
    assert p_on[0] == pytest.approx(3.484552, rel=1e-3)
    assert not np.any(np.abs(p_on / 1.88 - 1) < 0.02)
    assert np.any(np.abs(p_off / 3.484552 - 1) < 1e-3)
