"""The host star: radius, mass, Teff, logg and metallicity from one place.

Every stage that needs the star's physics (the vetting's companion-radius and density
checks, the classifier's scalars, the transit fit's limb darkening and planet radius) asks
:func:`stellar_parameters`.  Values come, field by field, from the first of these that has
them:

1. ``star=`` given by the user (a :class:`StellarParameters`, or a dict with any of
   ``radius`` [R_sun], ``radius_err``, ``mass`` [M_sun], ``teff`` [K], ``logg`` [cgs dex],
   ``feh`` [dex], or the Exoplanet Archive names ``st_rad``, ``st_mass``, ``st_teff``,
   ``st_logg``, ``st_met``);
2. the light curve's FITS header (Kepler and TESS SPOC files carry the input catalogue's
   ``RADIUS``, ``TEFF``, ``LOGG``, ``FEH``/``MH``);
3. the bundled NASA Exoplanet Archive snapshots (KOI cumulative table by KIC id, TOI table
   by TIC id, K2 planetary systems by host name), read offline.

A field none of them has stays NaN and its source is ``"missing"``: nothing is invented.
Code that needs a number anyway (the vetting) uses :data:`PRIOR` explicitly and records
that it did (:meth:`StellarParameters.with_prior`), so a report can say "solar prior".
For example:

>>> from astrotinyml import datasets
>>> star = stellar_parameters(datasets.load_sample("kepler-90"))
>>> star.radius, star.source("radius")
(1.2, 'header')
>>> round(star.density, 2)
0.89
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import InvalidParameterError
from .remote import archives

__all__ = ["StellarParameters", "stellar_parameters", "PRIOR", "R_SUN_REARTH", "R_JUP_REARTH", "RHO_SUN_CGS",
           "MAX_PLANET_RADIUS_RJUP", "MAX_PLANET_RATIO_UNKNOWN_STAR", "companion_radius",
           "min_shape_v"]

#: Solar radius in Earth radii (IAU 2015 nominal values: 695,700 km / 6,378.1 km).
R_SUN_REARTH = 109.076
#: Jupiter's equatorial radius in Earth radii (71,492 km / 6,378.1 km).
R_JUP_REARTH = 11.209
#: Solar density in g/cm^3 (IAU nominal solar mass and radius).
RHO_SUN_CGS = 1.4097
#: Gravitational constant (cgs) and solar radius (cm), for densities from logg.
_G_CGS = 6.674e-8
_R_SUN_CM = 6.957e10

#: No planet is larger than this (the largest known transiting planets, inflated hot
#: Jupiters around F stars, reach ~2 R_J); a larger companion is a star or brown dwarf.
MAX_PLANET_RADIUS_RJUP = 2.0
#: With the star's radius unknown, the largest radius ratio accepted for a planet:
#: giant planets of small M dwarfs reach k ~ 0.3 (TOI-3235 b, TOI-5205 b), so a deeper
#: eclipse (k > 0.4, depth > 16 %) cannot be a planet around any main-sequence star.
MAX_PLANET_RATIO_UNKNOWN_STAR = 0.4

_FIELDS = ("radius", "radius_err", "mass", "teff", "logg", "feh")
_ALIASES = {"st_rad": "radius", "st_raderr": "radius_err", "st_raderr1": "radius_err",
            "st_mass": "mass", "st_teff": "teff", "st_logg": "logg", "st_met": "feh",
            "r_star": "radius", "m_star": "mass"}


def _num(x: Any) -> float:
    """A finite float from a header card / table cell / Quantity, or NaN."""
    try:
        import numpy as np

        if np.ma.is_masked(x):
            return math.nan
    except ImportError:  # pragma: no cover
        pass
    x = getattr(x, "value", x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) else math.nan


@dataclass(frozen=True)
class StellarParameters:
    """Stellar parameters with the source of each value.

    Attributes
    ----------
    radius, radius_err : float
        Radius and its 1-sigma uncertainty [R_sun]; NaN when unknown.
    mass : float
        Mass [M_sun].
    teff : float
        Effective temperature [K].
    logg : float
        Surface gravity, log10 of g in cm/s^2.
    feh : float
        Metallicity [Fe/H] or [M/H] [dex].
    sources : tuple of (str, str)
        ``(field, source)`` for every field: ``user``, ``header``, ``koi``, ``toi``, ``k2``,
        ``prior`` or ``missing``.
    target : str or None
        The star these values are for, when known.

    Examples
    --------
    >>> s = StellarParameters(radius=0.5, mass=0.5)
    >>> round(s.density, 2), s.source("teff")
    (5.64, 'missing')
    """

    radius: float = math.nan
    radius_err: float = math.nan
    mass: float = math.nan
    teff: float = math.nan
    logg: float = math.nan
    feh: float = math.nan
    sources: tuple[tuple[str, str], ...] = field(default=())
    target: str | None = None

    def __post_init__(self):
        for name in _FIELDS:
            object.__setattr__(self, name, _num(getattr(self, name)))
        given = dict(self.sources)
        srcs = tuple((n, given.get(n, "user" if math.isfinite(getattr(self, n)) else "missing"))
                     for n in _FIELDS)
        object.__setattr__(self, "sources", srcs)
        for name, lo, hi in (("radius", 0.01, 3000.0), ("mass", 0.01, 300.0), ("teff", 1000.0, 60000.0),
                             ("logg", -1.0, 9.0)):
            v = getattr(self, name)
            if math.isfinite(v) and not lo <= v <= hi:
                raise InvalidParameterError(
                    f"stellar {name}={v} is outside {lo}-{hi} ({'R_sun' if name == 'radius' else 'M_sun' if name == 'mass' else 'K' if name == 'teff' else 'dex'}): "
                    "give radius in solar radii, mass in solar masses, teff in K, logg in cgs dex.")

    def source(self, name: str) -> str:
        """Where ``name`` came from (``missing`` when unknown)."""
        return dict(self.sources)[name]

    def known(self, name: str) -> bool:
        """Whether ``name`` has a value that is not the prior."""
        return self.source(name) not in ("missing", "prior")

    @property
    def density(self) -> float:
        """Mean density [g/cm^3]: from mass and radius, else from logg and radius; NaN."""
        r, m = self.radius, self.mass
        if math.isfinite(r) and r > 0 and math.isfinite(m) and m > 0:
            return RHO_SUN_CGS * m / r ** 3
        if math.isfinite(r) and r > 0 and math.isfinite(self.logg):
            return 3.0 * 10.0 ** self.logg / (4.0 * math.pi * _G_CGS * r * _R_SUN_CM)
        return math.nan

    def with_prior(self) -> "StellarParameters":
        """A copy with every missing field taken from :data:`PRIOR` (source ``prior``)."""
        vals, srcs = {}, []
        for name in _FIELDS:
            v = getattr(self, name)
            if math.isfinite(v) or name == "radius_err":
                vals[name], src = v, self.source(name)
            else:
                vals[name], src = getattr(PRIOR, name), "prior"
            srcs.append((name, src))
        return dataclasses.replace(self, **vals, sources=tuple(srcs))

    def as_row(self) -> dict[str, Any]:
        """Exoplanet Archive columns: ``st_rad``, ``st_raderr``, ``st_mass``, ``st_teff``,
        ``st_logg``, ``st_met``, ``st_dens`` and ``st_rad_source`` ... (plain floats/str)."""
        row = {"st_rad": self.radius, "st_raderr": self.radius_err, "st_mass": self.mass,
               "st_teff": self.teff, "st_logg": self.logg, "st_met": self.feh, "st_dens": self.density}
        for name, col in (("radius", "st_rad"), ("mass", "st_mass"), ("teff", "st_teff"), ("logg", "st_logg")):
            row[f"{col}_source"] = self.source(name)
        return row


#: The stated prior for a star of unknown parameters: the Sun.  Used only where a number
#: is unavoidable, and recorded as ``prior`` wherever it is.
PRIOR = StellarParameters(radius=1.0, mass=1.0, teff=5772.0, logg=4.438, feh=0.0,
                          sources=tuple((n, "prior") for n in _FIELDS))


def _from_mapping(d: Mapping[str, Any], source: str) -> dict[str, tuple[float, str]]:
    out = {}
    for k, v in d.items():
        name = _ALIASES.get(str(k).lower(), str(k).lower())
        if name not in _FIELDS:
            raise InvalidParameterError(
                f"star= has an unknown key {k!r}; use radius, radius_err, mass, teff, logg, feh "
                "(or st_rad, st_mass, st_teff, st_logg, st_met).")
        x = _num(v)
        if math.isfinite(x):
            out[name] = (x, source)
    return out


def _from_header(meta: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    out = {}
    for name, keys in (("radius", ("RADIUS",)), ("teff", ("TEFF",)), ("logg", ("LOGG",)),
                       ("feh", ("FEH", "MH"))):
        for k in keys:
            x = _num(meta.get(k))
            # 0 is a placeholder in some K2 headers, never a real radius/Teff.
            if math.isfinite(x) and not (name != "feh" and x <= 0):
                out[name] = (x, "header")
                break
    return out


def _from_catalogs(target: str) -> dict[str, tuple[float, str]]:
    """First catalogue row of this star in the bundled snapshots (offline, no network)."""

    queries = (("koi", archives.query_koi, {"radius": "koi_srad", "teff": "koi_steff", "logg": "koi_slogg",
                                            "radius_err": "koi_srad_err1"}),
               ("toi", archives.query_toi, {"radius": "st_rad", "teff": "st_teff", "logg": "st_logg",
                                            "radius_err": "st_raderr1"}),
               # (query_planets has no st_raderr1 column, so K2 hosts have no radius error here)
               ("k2", archives.query_planets, {"radius": "st_rad", "teff": "st_teff", "logg": "st_logg",
                                               "mass": "st_mass", "feh": "st_met"}))
    t = target.strip().lower()
    for source, fn, cols in queries:
        if source == "koi" and not t.startswith(("kic", "kepler", "koi", "kplr", "k0")):
            continue
        if source == "toi" and not t.startswith(("tic", "toi", "tess")):
            continue
        if source == "k2" and not t.startswith(("k2", "epic")):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # Only the columns read below: the snapshot query and its unit conversion
                # cost ~1 ms per column, and the full row has ~60 (0.05 -> 0.01 s a star).
                tab = fn(target, offline=True, columns=list(cols.values()))
        except Exception:  # noqa: BLE001 - not in a snapshot (or not a catalogue id): no values
            continue
        if len(tab) == 0:
            continue
        out = {}
        for name, col in cols.items():
            if col in tab.colnames:
                for cell in tab[col]:
                    x = _num(cell)
                    if math.isfinite(x) and x > 0:
                        out[name] = (x, source)
                        break
        if out:
            return out
    return {}


def stellar_parameters(
    lc: Any = None,
    *,
    target: str | None = None,
    star: StellarParameters | Mapping[str, Any] | None = None,
    catalogs: bool = True,
) -> StellarParameters:
    """Stellar parameters of the star of ``lc`` (or ``target``), each with its source.

    Parameters
    ----------
    lc : lightkurve.LightCurve, optional
        Its ``meta`` gives header values and the target name.
    target : str, optional
        Star name or catalogue id (``KIC 11442793``, ``TIC 100100827``, ``K2-32``) for the
        catalogue look-up; default ``lc.meta['target']``.
    star : StellarParameters or dict, optional
        Values given by the user; they take precedence field by field.
    catalogs : bool
        Look the star up in the bundled Exoplanet Archive snapshots (offline).

    Returns
    -------
    StellarParameters
        Missing values are NaN with source ``missing`` (see :meth:`StellarParameters.with_prior`).

    Raises
    ------
    InvalidParameterError
        ``star`` has an unknown key or a value in the wrong unit.

    Examples
    --------
    >>> s = stellar_parameters(target="TIC 100100827")   # WASP-18, from the TOI snapshot
    >>> s.source("radius"), round(s.radius, 2)
    ('toi', 1.35)
    >>> stellar_parameters(star={"radius": 0.3}).radius
    0.3
    >>> stellar_parameters(target="nobody").source("radius")
    'missing'
    """
    vals: dict[str, tuple[float, str]] = {}
    meta = getattr(lc, "meta", None) or {}
    if target is None:
        target = meta.get("target") or meta.get("OBJECT")
        target = str(target) if target not in (None, "") else None
    layers: list[dict[str, tuple[float, str]]] = []
    if star is not None:
        if isinstance(star, StellarParameters):
            layers.append({n: (getattr(star, n), star.source(n)) for n in _FIELDS
                           if math.isfinite(getattr(star, n)) and star.source(n) != "prior"})
        elif isinstance(star, Mapping):
            layers.append(_from_mapping(star, "user"))
        else:
            raise InvalidParameterError(
                f"star= must be a StellarParameters or a dict, got {type(star).__name__}.")
    layers.append(_from_header(meta))
    if catalogs and target:
        layers.append(_from_catalogs(target))
    for layer in layers:
        for k, v in layer.items():
            vals.setdefault(k, v)
    # A radius error from another source than the radius itself would be wrong.
    if "radius_err" in vals and "radius" in vals and vals["radius_err"][1] != vals["radius"][1]:
        vals.pop("radius_err")
    return StellarParameters(**{k: v for k, (v, _) in vals.items()},
                             sources=tuple((k, s) for k, (_, s) in vals.items()), target=target)


def companion_radius(depth_ppm: float, star: StellarParameters) -> float:
    """Companion radius [R_earth] of a dark body blocking ``depth_ppm`` of the star's light.

    ``k = sqrt(depth)`` (no limb-darkening correction, so a slight under-estimate for a central
    transit); NaN when the depth or the radius is unknown.

    Examples
    --------
    >>> round(companion_radius(10000.0, StellarParameters(radius=1.0)), 1)   # 1 % of the Sun
    10.9
    """
    d = _num(depth_ppm)
    if not (math.isfinite(d) and d > 0 and math.isfinite(star.radius)):
        return math.nan
    return math.sqrt(d * 1e-6) * star.radius * R_SUN_REARTH


def min_shape_v(k: float) -> float:
    """Smallest ingress+egress fraction ``2 tau / T14`` a dark body of radius ratio ``k`` can
    make: ``2k / (1 + k)`` for a central transit (a grazing one is longer).

    A flat-bottomed eclipse far below this (a 25 % dip, k = 0.5, needs >= 0.67) is not a dark
    body in front of this star alone: a diluted eclipsing binary.

    Examples
    --------
    >>> round(min_shape_v(0.1), 3), round(min_shape_v(0.5), 3)
    (0.182, 0.667)
    """
    k = _num(k)
    return 2.0 * k / (1.0 + k) if math.isfinite(k) and k > 0 else math.nan
