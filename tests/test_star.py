"""Stellar parameters: sources in order, nothing invented, units checked."""

from __future__ import annotations

import math

import pytest

from astrotinyml import datasets
from astrotinyml.errors import InvalidParameterError
from astrotinyml.star import PRIOR, StellarParameters, companion_radius, min_shape_v, stellar_parameters


def test_header_values_of_a_kepler_file():
    s = stellar_parameters(datasets.load_sample("kepler-90"))
    # KIC header of Kepler-90 (KIC 11442793): R = 1.2 R_sun, Teff 5970 K, logg 4.317
    assert (s.radius, s.teff, s.logg) == (1.2, 5970.0, 4.317)
    assert s.source("radius") == "header" and s.known("radius")
    # density from logg and radius: 3 g / (4 pi G R)
    assert s.density == pytest.approx(0.889, rel=0.01)


def test_catalogue_snapshot_when_the_header_has_none():
    lc = datasets.load_sample("wasp-18")  # a lightkurve export without TEFF/RADIUS cards
    s = stellar_parameters(lc)
    assert s.source("radius") == "toi" and s.radius == pytest.approx(1.35, abs=0.05)
    assert s.teff == pytest.approx(6400, abs=200)


def test_user_values_win_field_by_field():
    s = stellar_parameters(datasets.load_sample("kepler-90"), star={"st_rad": 1.3, "mass": 1.1})
    assert s.radius == 1.3 and s.source("radius") == "user"
    assert s.mass == 1.1 and s.teff == 5970.0 and s.source("teff") == "header"
    assert s.density == pytest.approx(1.4097 * 1.1 / 1.3 ** 3)


def test_unknown_star_is_missing_not_invented():
    s = stellar_parameters(target="nobody at all")
    assert math.isnan(s.radius) and s.source("radius") == "missing" and math.isnan(s.density)
    p = s.with_prior()
    assert p.radius == PRIOR.radius and p.source("radius") == "prior" and not p.known("radius")


@pytest.mark.parametrize("bad", [{"radius": 700000.0}, {"teff": 5.7}, {"colour": 1}])
def test_wrong_units_or_keys_raise_a_clear_error(bad):
    with pytest.raises(InvalidParameterError, match="radius|teff|unknown key"):
        stellar_parameters(star=bad)


def test_companion_radius_and_ingress_limit():
    # 1 % of a solar star: k = 0.1 -> 10.9 R_earth (about one Jupiter radius)
    assert companion_radius(10_000, StellarParameters(radius=1.0)) == pytest.approx(10.9, abs=0.05)
    assert math.isnan(companion_radius(10_000, StellarParameters()))
    assert min_shape_v(0.5) == pytest.approx(2 / 3)
