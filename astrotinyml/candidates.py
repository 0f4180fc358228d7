"""The candidate-column contract: what every candidates table holds, in which unit.

Every stage that returns candidates (:func:`~astrotinyml.search`, :func:`~astrotinyml.vet`,
:func:`~astrotinyml.classify`, :func:`~astrotinyml.detect`) returns an astropy ``QTable`` whose
core columns carry the NASA Exoplanet Archive names and units:

==================  ======  ==============================================================
column              unit    meaning
==================  ======  ==============================================================
``hostname``                target name
``pl_orbper``       d       orbital period (NaN for a single event)
``pl_tranmid``      d       mid-transit time of the first transit in the data, full BJD_TDB
``pl_trandurh``     h       transit duration (the fitted T14 when fitted, else the box width)
``pl_trandep``      ppm     transit depth (plain float: astropy has no ppm unit)
``snr``                     correlated-noise signal-to-noise ratio
``sde``                     signal detection efficiency of the periodogram peak
``n_transits``              transits with data
``label``                   planet, eb, variability, instrumental, noise, unknown
``p_planet`` ...            calibrated class probabilities (:data:`PROBABILITY_COLUMNS`)
==================  ======  ==============================================================

:data:`CONTRACT_UNITS` and :data:`CONTRACT_DESCRIPTIONS` are the machine-readable form (the
report writers put them in every CSV header and bundle README); the book's *Candidate columns*
page lists every other column.  Reading a value back goes through one place:
:func:`cell_value`, :func:`row_value` and :func:`column_values` convert Quantities and Times to
the unit asked for and turn masked cells into NaN; :func:`candidate_ephemeris` gives the
:class:`Ephemeris` of a row in the units used internally (days, fractions).

>>> from astrotinyml.candidates import CONTRACT_UNITS, column_values
>>> CONTRACT_UNITS["pl_trandurh"]
'h'
>>> column_values(as_qtable([dict(pl_trandurh=3.0), dict(pl_trandurh=6.0)]), "pl_trandurh").tolist()
[3.0, 6.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidParameterError
from .io.conventions import BKJD_OFFSET, BTJD_OFFSET

__all__ = [
    "CONTRACT_UNITS",
    "CONTRACT_DESCRIPTIONS",
    "CORE_COLUMNS",
    "PROBABILITY_COLUMNS",
    "TIME_OFFSETS",
    "Ephemeris",
    "as_qtable",
    "candidate_ephemeris",
    "cell_value",
    "column_values",
    "float_array",
    "plain",
    "row_value",
]

#: Units of the contract columns (ppm is not an astropy unit: depth stays a float).
CONTRACT_UNITS = {
    "pl_orbper": "d",
    "pl_tranmid": "d",
    "pl_trandurh": "h",
    "pl_trandep": "ppm",
    # Not contract columns, but depths in ppm too (plain floats: astropy has no ppm unit).
    "pl_trandep_cal": "ppm",
    # Radii in Earth and solar radii: no FITS units, plain floats like the depths.
    "companion_rade": "R_earth",
    "st_rad": "R_sun",
}

#: What every contract column means; written into the CSV header, the README of the bundle.
CONTRACT_DESCRIPTIONS = {
    "hostname": "target name",
    "pl_orbper": "orbital period [d]",
    "pl_tranmid": "mid-transit time of the first transit in the data [BJD_TDB, d]",
    "pl_trandurh": "transit duration [h]: first-to-fourth contact T14 of the transit fit when fitted (fit_method), else the search's box width",
    "pl_trandep": "transit depth [ppm]",
    "snr": "correlated-noise signal-to-noise ratio: depth over the white + red noise of the flux "
           "averaged over the transit duration (Pont et al. 2006; vet's mes_red)",
    "snr_white": "the search's signal-to-noise ratio, white noise assumed (>= snr on red noise)",
    "sde": "signal detection efficiency of the periodogram peak",
    "n_transits": "number of transits with data",
    "label": "classifier label (planet, eb, variability, instrumental, noise, unknown)",
    "p_planet": "calibrated probability of a planetary transit",
    "p_eb": "calibrated probability of an eclipsing binary",
    "p_variability": "calibrated probability of stellar variability",
    "p_instrumental": "calibrated probability of an instrumental systematic",
    "p_noise": "calibrated probability of a false alarm",
    "label_note": "why the label differs from the classifier's choice (the star's physics), if it does",
    "companion_rade": "radius of a dark companion making the depth, sqrt(depth) * st_rad [R_earth]",
    "st_rad": "stellar radius used [R_sun] (st_rad_source: where from; 'prior' = the Sun assumed)",
}

#: The core columns every candidates table has, in order.
CORE_COLUMNS = ("pl_orbper", "pl_tranmid", "pl_trandurh", "pl_trandep", "snr", "sde", "n_transits")

#: Calibrated class probabilities written by :func:`~astrotinyml.classify`, in the model's class order.
PROBABILITY_COLUMNS = ("p_planet", "p_eb", "p_variability", "p_instrumental", "p_noise")

#: Offsets of the mission time systems to full BJD_TDB (BTJD = BJD - 2457000, BKJD = BJD - 2454833);
#: a ``pl_tranmid`` given in one of them is refused with this hint.
TIME_OFFSETS = {"BTJD (TESS)": BTJD_OFFSET, "BKJD (Kepler/K2)": BKJD_OFFSET}


@dataclass(frozen=True)
class Ephemeris:
    """Transit ephemeris of one candidate in the units used internally (days, fractions).

    ``period`` is NaN for a single event (mono-transit); ``depth`` is a fraction (not ppm)
    and may be NaN when the candidate does not give it.
    """

    period: float
    t0: float
    duration: float
    depth: float

    @property
    def single(self) -> bool:
        """True for a single event (period unknown)."""
        return not (math.isfinite(self.period) and self.period > 0)


def cell_value(x: Any, unit: str | None = None) -> float:
    """A table cell as a plain float in ``unit``: Quantity converted, Time as full JD (TDB), masked -> NaN.

    Parameters
    ----------
    x : object
        A cell: float, numpy scalar, Quantity, astropy Time, masked value or None.
    unit : str or None
        Unit to convert a Quantity to (``"ppm"`` for a dimensionless depth); None keeps its value.

    Returns
    -------
    float
        NaN for None, masked or non-numeric cells.

    Raises
    ------
    InvalidParameterError
        A depth (``unit="ppm"``) that carries a non-dimensionless unit.

    Examples
    --------
    >>> import astropy.units as u
    >>> cell_value(3 * u.h, "d")
    0.125
    >>> cell_value(0.001 * u.dimensionless_unscaled, "ppm")
    1000.0
    """
    if x is None:
        return math.nan
    if np.ma.is_masked(x):
        return math.nan
    # astropy Time (a search may store pl_tranmid as a Time): full JD in TDB.
    if hasattr(x, "jd") and hasattr(x, "scale"):
        try:
            return float(x.tdb.jd)
        except Exception:  # a Time without a TDB conversion (e.g. no location) -> as is
            return float(x.jd)
    if hasattr(x, "unit") and getattr(x, "unit", None) is not None and hasattr(x, "to_value"):
        from astropy import units as u

        if unit == "ppm":
            if x.unit.physical_type == "dimensionless":
                return float(x.to_value(u.dimensionless_unscaled)) * 1e6
            raise InvalidParameterError(f"depth has unit {x.unit}; give it in ppm (plain float) or dimensionless")
        if unit is not None:
            return float(x.to_value(u.Unit(unit)))
        return float(x.value)
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def row_value(row: Any, name: str, unit: str | None = None, default: float = math.nan) -> float:
    """``row[name]`` as a float in ``unit`` (see :func:`cell_value`); ``default`` when absent.

    Works on an astropy Row, a dict or a pandas Series.

    >>> row_value({"pl_orbper": 2.5}, "pl_orbper", "d"), row_value({}, "pl_orbper")
    (2.5, nan)
    """
    try:
        x = row[name]
    except (KeyError, IndexError, ValueError, TypeError):
        return default
    return cell_value(x, unit)


def float_array(x: Any) -> np.ndarray:
    """float64 array of a Quantity / astropy Masked / numpy masked column; masked -> NaN.

    >>> import numpy as np
    >>> float_array(np.ma.masked_array([1.0, 2.0], mask=[False, True])).tolist()
    [1.0, nan]
    """
    x = getattr(x, "value", x)
    if hasattr(x, "unmasked") and hasattr(x, "mask"):  # astropy Masked (MaskedQuantity.value)
        return np.where(np.asarray(x.mask), np.nan, np.asarray(x.unmasked, dtype=float))
    if np.ma.isMaskedArray(x):
        return np.ma.filled(x.astype(float), np.nan)
    return np.asarray(x, dtype=float)


def column_values(table: Any, name: str, unit: str | None = None, *, default: float = math.nan) -> np.ndarray:
    """Column ``name`` of a table as a float64 array in ``unit``; masked -> NaN.

    Parameters
    ----------
    table : astropy Table / QTable or dict of arrays
        The candidates (or any table).
    name : str
        Column name.
    unit : str or None
        Unit to convert a Quantity column to (``"ppm"`` for a dimensionless depth); plain
        columns are taken to be in the contract's unit already.
    default : float
        Value of every row when the column is absent.

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> t = QTable({"pl_trandurh": [60.0, 90.0] * u.min})
    >>> column_values(t, "pl_trandurh", "h").tolist()
    [1.0, 1.5]
    >>> column_values(t, "pl_orbper").tolist()
    [nan, nan]
    """
    try:
        col = table[name]
    except (KeyError, IndexError, ValueError, TypeError):
        return np.full(len(table), default, dtype=float)
    unit_of = getattr(col, "unit", None)
    if unit is not None and unit_of is not None and hasattr(col, "to_value"):
        from astropy import units as u

        if unit == "ppm":
            if u.Unit(unit_of).physical_type != "dimensionless":
                raise InvalidParameterError(f"column {name} has unit {unit_of}; give depths in ppm or dimensionless")
            return float_array(col.to_value(u.dimensionless_unscaled)) * 1e6
        col = col.to(u.Unit(unit))
    return np.atleast_1d(float_array(col))


def plain(value: Any) -> Any:
    """A cell (or a list / dict of them) as a JSON-able Python value: Quantities lose their unit,
    NaN and masked become None, bytes are decoded, paths and other objects become strings.

    >>> import numpy as np, astropy.units as u
    >>> plain([1.5 * u.d, np.float32(2.0), float("nan"), b"KIC 1"])
    [1.5, 2.0, None, 'KIC 1']
    """
    if hasattr(value, "unit") and hasattr(value, "value"):
        value = value.value
    if isinstance(value, np.ma.core.MaskedConstant):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):  # FITS string columns read as bytes
        value = value.decode(errors="replace")
    if isinstance(value, np.ndarray):
        return plain(value.item()) if value.ndim == 0 else [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return str(value)  # a Path, a Time, ...: its text


def candidate_ephemeris(row: Any, *, time_ref: float | None = None) -> Ephemeris:
    """Ephemeris of one candidate row (astropy Row, dict, pandas Series, ...).

    Columns are read in the contract's units (:data:`CONTRACT_UNITS`): ``pl_orbper`` [d],
    ``pl_tranmid`` [full BJD_TDB], ``pl_trandurh`` [h], ``pl_trandep`` [ppm]; Quantities are
    converted.  ``time_ref`` (a time inside the light curve, full BJD) lets us catch an epoch
    given in BTJD/BKJD.

    >>> candidate_ephemeris(dict(pl_orbper=2.0, pl_tranmid=2458000.5, pl_trandurh=3.0, pl_trandep=500.0))
    Ephemeris(period=2.0, t0=2458000.5, duration=0.125, depth=0.0005)
    """
    period = row_value(row, "pl_orbper", "d")
    t0 = row_value(row, "pl_tranmid", "d")
    dur_h = row_value(row, "pl_trandurh", "h")
    depth_ppm = row_value(row, "pl_trandep", "ppm")
    if not math.isfinite(t0):
        raise InvalidParameterError("candidate has no finite pl_tranmid (mid-transit time, full BJD_TDB)")
    if not (math.isfinite(dur_h) and dur_h > 0):
        raise InvalidParameterError(
            f"candidate at pl_tranmid={t0} has no positive pl_trandurh (transit duration in hours)"
        )
    if time_ref is not None and abs(t0 - time_ref) > 1.0e5:
        hints = ", ".join(f"{k}: add {v:.0f}" for k, v in TIME_OFFSETS.items())
        raise InvalidParameterError(
            f"pl_tranmid={t0} is {abs(t0 - time_ref):.0f} d away from the light curve "
            f"(data near BJD {time_ref:.1f}); pl_tranmid must be a full BJD_TDB ({hints})."
        )
    if not (math.isfinite(period) and period > 0):
        period = math.nan
    return Ephemeris(period=period, t0=t0, duration=dur_h / 24.0, depth=depth_ppm * 1e-6)


def as_qtable(candidates: Any):
    """Candidates as a new QTable: a Table/QTable (copied), a Row, a dict (one candidate, or
    columns) or a list of dicts.

    Raises
    ------
    InvalidParameterError
        Anything else.

    Examples
    --------
    >>> len(as_qtable([dict(pl_orbper=3.0), dict(pl_orbper=4.0)]))
    2
    """
    from astropy.table import QTable, Row, Table

    if isinstance(candidates, Table):
        return QTable(candidates, copy=True)
    if isinstance(candidates, Row):
        return QTable(candidates.table[candidates.index : candidates.index + 1], copy=True)
    if isinstance(candidates, dict):
        if all(np.ndim(v) == 0 for v in candidates.values()):
            return QTable(rows=[candidates])
        return QTable(candidates)
    if isinstance(candidates, (list, tuple)) and all(isinstance(c, dict) for c in candidates):
        return QTable(rows=list(candidates)) if candidates else QTable()
    raise InvalidParameterError(
        f"candidates must be an astropy Table (or a dict / list of dicts), got {type(candidates).__name__}; "
        "pass the table returned by astrotinyml.searching.")
