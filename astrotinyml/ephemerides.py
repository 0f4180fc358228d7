"""Known ephemerides: a TOI, a KOI or your own period and epoch, carried into the data.

An astronomer's usual question is "is TOI-1234.01 a planet, and how big is it?", not
"what does a blind search find?".  :func:`catalog_ephemerides` looks a TOI, KOI or star up
in the NASA Exoplanet Archive (or its bundled snapshot offline), :func:`ephemeris_table`
turns a period and epoch of your own (or any table with the archive's columns) into the
same form, and :func:`ephemerides_in_data` places each ephemeris in a light curve: the
catalogue epoch is propagated to the transits with data, with its uncertainty
``sigma_T(n) = sqrt(sigma_T0^2 + n^2 sigma_P^2)`` after ``n`` orbits, and refined there by
a box fit at the fixed period (epoch within +-max(3 sigma_T(n), 0.25 duration), duration
within 0.5-2x the catalogue's).  The result is a table in the columns
:func:`astrotinyml.searching.search` returns, so that :func:`astrotinyml.detection.detect`
(``ephemerides=``) vets, classifies, calibrates and fits it exactly as a search signal.

>>> from astrotinyml.ephemerides import ephemeris_table
>>> eph = ephemeris_table(period=0.941452, epoch=2458375.169883, duration=2.19, name="WASP-18 b")
>>> str(eph["name"][0]), round(float(eph["pl_orbper"][0].value), 6)
('WASP-18 b', 0.941452)
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .candidates import as_qtable
from .errors import AstroTinyMLWarning, DataUnavailableError, InvalidParameterError, NoTransitInDataError
from .remote import archives
from .transits import lc_arrays, robust_std

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import QTable

__all__ = ["ephemeris_table", "catalog_ephemerides", "ephemerides_in_data", "propagated_epoch"]

#: Fewest cadences within the transit a predicted transit needs to count as observed.
MIN_IN_TRANSIT = 3
#: A propagated epoch more uncertain than this fraction of the period is lost: the phase is
#: searched over the whole orbit at the catalogue period instead.
_LOST_PHASE = 0.25


def _num(x: Any, unit: str | None = None) -> float:
    if x is None or np.ma.is_masked(x):
        return math.nan
    if hasattr(x, "to_value") and getattr(x, "unit", None) is not None and unit:
        import astropy.units as u

        return float(x.to_value(u.Unit(unit)))
    try:
        return float(getattr(x, "value", x))
    except (TypeError, ValueError):
        return math.nan


def _sun_like_duration(period: float) -> float:
    """Central transit duration [d] across a Sun-like star (13 h at 1 yr)."""
    return 13.0 / 24.0 * (period / 365.25) ** (1.0 / 3.0)


def ephemeris_table(ephemerides: Any = None, *, period: float | None = None, epoch: float | None = None,
                    duration: float | None = None, period_err: float | None = None,
                    epoch_err: float | None = None, depth: float | None = None,
                    name: str = "") -> QTable:
    """Known ephemerides in the project's columns, from a table, dicts or keywords.

    Parameters
    ----------
    ephemerides : Table, QTable, dict or list of dict, optional
        Rows with ``pl_orbper`` [d] (NaN or absent for a single transit), ``pl_tranmid``
        [full BJD_TDB, d] and optionally ``pl_trandurh`` [h], ``pl_trandep`` [ppm],
        ``pl_orbpererr1``/``pl_tranmiderr1`` (1-sigma, d) and ``name`` (e.g. the output of
        :func:`catalog_ephemerides` or :func:`astrotinyml.remote.archives.reference_ephemerides`).
    period, epoch, duration, period_err, epoch_err, depth, name
        One ephemeris given by keywords instead: period [d], epoch [full BJD_TDB],
        duration [h], their 1-sigma errors [d], depth [ppm] and a name.

    Returns
    -------
    astropy.table.QTable
        ``name``, ``pl_orbper`` (d), ``pl_orbpererr1`` (d), ``pl_tranmid`` (d),
        ``pl_tranmiderr1`` (d), ``pl_trandurh`` (h; NaN = unknown), ``pl_trandep`` (ppm).

    Raises
    ------
    InvalidParameterError
        No ephemeris, both a table and keywords, a missing or non-finite epoch, a
        non-positive period or duration, an epoch that is not a full BJD.

    Examples
    --------
    >>> t = ephemeris_table([{"pl_orbper": 2.5, "pl_tranmid": 2459001.0, "pl_trandurh": 3.0}])
    >>> len(t), float(t["pl_trandurh"][0].value)
    (1, 3.0)
    """
    import astropy.units as u
    from astropy.table import QTable

    keywords = {"period": period, "epoch": epoch, "duration": duration, "period_err": period_err,
                "epoch_err": epoch_err, "depth": depth}
    given = {k: v for k, v in keywords.items() if v is not None}
    if ephemerides is not None and given:
        raise InvalidParameterError(
            "ephemeris_table: give either a table of ephemerides or period=/epoch=/duration=, not both.")
    if ephemerides is None:
        if epoch is None:
            raise InvalidParameterError(
                "ephemeris_table: no ephemeris given; pass epoch= (mid-transit time, full BJD_TDB) "
                "and period= [d] (omit it for a single transit), or a table with pl_tranmid/pl_orbper.")
        rows = [{"name": name, "pl_orbper": period, "pl_tranmid": epoch, "pl_trandurh": duration,
                 "pl_orbpererr1": period_err, "pl_tranmiderr1": epoch_err, "pl_trandep": depth}]
    else:
        table = as_qtable(ephemerides)
        if "pl_tranmid" not in table.colnames:
            raise InvalidParameterError(
                f"ephemeris_table: the ephemerides have no pl_tranmid column (columns: {table.colnames}); "
                "give pl_tranmid [full BJD_TDB] and pl_orbper [d] per row.")
        rows = []
        for i in range(len(table)):
            r = table[i]
            get = (lambda c, unit=None: _num(r[c], unit) if c in table.colnames else math.nan)
            rows.append({"name": str(r["name"]) if "name" in table.colnames else "",
                         "pl_orbper": get("pl_orbper", "d"), "pl_tranmid": get("pl_tranmid", "d"),
                         "pl_trandurh": get("pl_trandurh", "h"), "pl_trandep": get("pl_trandep"),
                         "pl_orbpererr1": get("pl_orbpererr1", "d"),
                         "pl_tranmiderr1": get("pl_tranmiderr1", "d")})
    if not rows:
        raise InvalidParameterError("ephemeris_table: the table of ephemerides is empty.")
    out: dict[str, list] = {k: [] for k in ("name", "pl_orbper", "pl_orbpererr1", "pl_tranmid",
                                            "pl_tranmiderr1", "pl_trandurh", "pl_trandep")}
    for j, r in enumerate(rows):
        label = r["name"] or f"ephemeris {j + 1}"
        vals = {k: (math.nan if r.get(k) is None else _num(r.get(k))) for k in out if k != "name"}
        t0, per, dur = vals["pl_tranmid"], vals["pl_orbper"], vals["pl_trandurh"]
        if not math.isfinite(t0):
            raise InvalidParameterError(f"{label}: no finite epoch (pl_tranmid, full BJD_TDB).")
        if t0 < 2.0e6:
            raise InvalidParameterError(
                f"{label}: epoch {t0} is not a full BJD; add 2457000 to a TESS BTJD or 2454833 to "
                "a Kepler/K2 BKJD.")
        if math.isfinite(per) and per <= 0:
            raise InvalidParameterError(f"{label}: period {per} d must be positive (NaN for a single transit).")
        if math.isfinite(dur) and dur <= 0:
            raise InvalidParameterError(f"{label}: duration {dur} h must be positive.")
        out["name"].append(str(r["name"]))
        for k, v in vals.items():
            out[k].append(abs(v) if k.endswith("err1") else v)
    t = QTable()
    t["name"] = np.asarray(out["name"], dtype=str)
    t["pl_orbper"] = np.asarray(out["pl_orbper"], float) * u.day
    t["pl_orbpererr1"] = np.asarray(out["pl_orbpererr1"], float) * u.day
    t["pl_tranmid"] = np.asarray(out["pl_tranmid"], float) * u.day
    t["pl_tranmiderr1"] = np.asarray(out["pl_tranmiderr1"], float) * u.day
    t["pl_trandurh"] = np.asarray(out["pl_trandurh"], float) * u.hour
    t["pl_trandep"] = np.asarray(out["pl_trandep"], float)
    t["pl_trandep"].description = "transit depth (ppm)"
    return t


_TOI = re.compile(r"(?i)^\s*toi[ _-]?(\d+)(\.\d{1,2})?\s*$")
_KOI = re.compile(r"(?i)^\s*(?:koi[ _-]?|k)0*(\d+)(\.\d{1,2})?\s*$")


def catalog_ephemerides(name: str, *, cache_dir: str | None = None, offline: bool | None = None,
                        timeout: float | None = None) -> QTable:
    """Ephemerides of a TOI, a KOI, or every TOI/KOI of a TIC/KIC star, from the Exoplanet Archive.

    Parameters
    ----------
    name : str
        ``"TOI-185.01"`` (one planet), ``"TOI-185"`` (all of the star's), ``"TIC 100100827"``,
        ``"K00752.01"``, ``"KOI-752.01"``, ``"KOI-752"`` or ``"KIC 10797460"``.
    cache_dir, offline, timeout
        As in :func:`astrotinyml.remote.archives.query_toi`: offline (``ASTROTINYML_OFFLINE=1`` or
        ``offline=True``) answers from the cache, else from the snapshot bundled with the package;
        ``timeout`` is the deadline of the query in seconds (default: the archive module's).

    Returns
    -------
    astropy.table.QTable
        :func:`ephemeris_table` columns plus ``host``, ``disposition`` and ``catalog``.

    Raises
    ------
    InvalidParameterError
        A name that is not a TOI, KOI, TIC or KIC designation.
    DataUnavailableError
        The archive (or snapshot) has no such object.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     eph = catalog_ephemerides("TOI-185.01", offline=True)
    >>> str(eph["name"][0]), str(eph["host"][0]), round(float(eph["pl_orbper"][0].value), 4)
    ('TOI-185.01', 'TIC 100100827', 0.9415)
    """

    text = str(name).strip()
    kw = {"cache_dir": cache_dir, "offline": offline}
    if timeout is not None:
        kw["timeout"] = float(timeout)
    if _TOI.match(text) or re.match(r"(?i)^\s*(tic|tess)[ _-]?\d+\s*$", text):
        table = archives.query_toi(text, **kw)
    elif _KOI.match(text) or re.match(r"(?i)^\s*kic[ _-]?\d+\s*$", text):
        m = _KOI.match(text)
        target = f"K{int(m.group(1)):05d}{m.group(2) or ''}" if m else text
        table = archives.query_koi(target, **kw)
    else:
        raise InvalidParameterError(
            f"{text!r} is not a TOI ('TOI-185.01'), KOI ('K00752.01', 'KOI-752.01'), TIC or KIC "
            "designation; for your own ephemeris give --period/--epoch (ephemeris_table).")
    if len(table) == 0:
        raise DataUnavailableError(
            f"{text}: not in the Exoplanet Archive's {'TOI' if 'toi' in table.colnames else 'KOI'} table "
            f"({table.meta.get('source', 'archive')}); check the designation, or give the ephemeris "
            "yourself with --period/--epoch.")
    ref = archives.reference_ephemerides(table)
    out = ephemeris_table(ref)
    for col in ("host", "disposition", "catalog"):
        out[col] = ref[col]
    out.meta.update(ref.meta)
    return out


def propagated_epoch(t0: float, period: float, t0_err: float, period_err: float,
                     n: int) -> tuple[float, float]:
    """Mid-transit time ``n`` orbits after ``t0`` and its 1-sigma uncertainty [d].

    ``sigma = sqrt(t0_err^2 + n^2 period_err^2)``; unknown errors count as 0.

    Examples
    --------
    >>> propagated_epoch(100.0, 2.0, 0.001, 0.0001, 100)
    (300.0, 0.01004987562112089)
    """
    e0 = t0_err if math.isfinite(t0_err) else 0.0
    ep = period_err if math.isfinite(period_err) else 0.0
    return t0 + n * period, math.sqrt(e0 * e0 + (n * ep) ** 2)


def _box(t, f, centers, dur):
    """Mean depth below 1 and cadence count of the boxes of width ``dur`` at ``centers``."""
    if centers.size == 0:
        return math.nan, 0
    idx = np.searchsorted(centers, t)
    near = np.minimum(np.abs(t - centers[np.clip(idx - 1, 0, centers.size - 1)]),
                      np.abs(t - centers[np.clip(idx, 0, centers.size - 1)]))
    inside = near < 0.5 * dur
    n = int(inside.sum())
    return (float(1.0 - np.mean(f[inside])) if n else math.nan), n


def _refine(t, f, sigma, period, t_first, n_tr, halfwidth, durations):
    """Box fit at a fixed period: the (epoch shift, duration, depth, n_in) of highest SNR."""
    best = (-math.inf, 0.0, durations[0], math.nan, 0)
    for dur in durations:
        for dt in np.linspace(-halfwidth, halfwidth, 61):
            centers = t_first + dt + period * np.arange(n_tr) if math.isfinite(period) else \
                np.array([t_first + dt])
            depth, n_in = _box(t, f, centers, dur)
            if n_in < MIN_IN_TRANSIT:
                continue
            snr = depth / sigma * math.sqrt(n_in)
            if snr > best[0]:
                best = (snr, dt, dur, depth, n_in)
    return best


def ephemerides_in_data(lc: lightkurve.LightCurve, ephemerides: Any, *, refine: bool = True) -> QTable:
    """Place known ephemerides in a (flattened) light curve: a search-like candidate table.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        The detrended light curve (time BJD_TDB, flux ~1).
    ephemerides : Table, QTable, dict or list of dict
        As :func:`ephemeris_table` takes them.
    refine : bool
        Refine each epoch (within +-max(3 sigma of the propagated epoch, 0.25 duration)) and
        duration (0.5-2x the given one; 0.3-2.5x a Sun-like central duration when none is
        given) by a box fit at the fixed period (default).  ``False`` keeps them as given
        (a duration is then required).

    Returns
    -------
    astropy.table.QTable
        The columns of :func:`astrotinyml.searching.search` (``planet_index``, ``pl_orbper``,
        ``pl_tranmid`` at the first transit with data, ``pl_trandurh``, ``pl_trandep`` = box
        depth [ppm], ``snr`` = box SNR on the white noise, ``sde`` NaN, ``n_transits`` with data,
        ``single_event``, ``harmonic_of`` 0, ``depth_err_ppm``,
        ``n_in_transit``) plus ``name``, ``pl_orbpererr1`` (catalogue, d),
        ``pl_tranmid_pred`` (the propagated epoch before refinement, d) and
        ``pl_tranmid_prederr`` (its 1-sigma uncertainty, d).  ``meta["search_method"]`` is
        ``"known ephemerides"``.

    Raises
    ------
    astrotinyml.errors.NoTransitInDataError
        No predicted transit of any ephemeris falls on data (the message gives the data span
        and the predicted times).  Ephemerides of a table of several that have no transit
        in the data are left out with an :class:`~astrotinyml.errors.AstroTinyMLWarning`.
    InvalidParameterError
        Invalid ephemerides (see :func:`ephemeris_table`), or ``refine=False`` without a duration.

    Examples
    --------
    >>> from astrotinyml import datasets, detrend
    >>> flat = detrend(datasets.load_sample("wasp-18"))
    >>> c = ephemerides_in_data(flat, ephemeris_table(period=0.941452, epoch=2458375.169883, duration=2.19))
    >>> int(c["n_transits"][0]) > 20, bool(8000 < c["pl_trandep"][0] < 11000)
    (True, True)
    """
    eph = ephemeris_table(ephemerides)
    name = str((getattr(lc, "meta", None) or {}).get("target") or "light curve")
    t, f, _ = lc_arrays(lc, name=name)
    sigma = robust_std(f)
    if not (math.isfinite(sigma) and sigma > 0):
        sigma = 1e-4
    rows, missing = [], []
    for i in range(len(eph)):
        placed = _place(t, f, sigma, eph[i], label=str(eph["name"][i]) or f"ephemeris {i + 1}", refine=refine,
                        name=name)
        (rows if isinstance(placed, _Placed) else missing).append(placed)
    span = f"BJD {t[0]:.3f}-{t[-1]:.3f}"
    if missing and not rows:
        raise NoTransitInDataError(
            f"{name}: no predicted transit falls on data ({span}, {t.size} cadences): "
            + "; ".join(missing) + ". Check the ephemeris, or use a light curve (sector, quarter) "
            "that covers a transit.")
    for m in missing:
        warnings.warn(f"{name}: left out {m}: no transit on data ({span}).", AstroTinyMLWarning,
                      stacklevel=2)
    table = _placed_table(rows, sigma)
    table.meta.update({"target": name, "search_method": "known ephemerides",
                       "refined": bool(refine), "n_points": int(t.size),
                       "left_out": list(missing)})
    return table


@dataclass(frozen=True)
class _Placed:
    """One ephemeris placed on the data: refined epoch, duration and depth, and its prediction."""

    name: str
    per: float
    per_err: float
    tranmid: float
    dur: float
    depth: float
    snr: float
    n_transits: int
    single: bool
    n_in: int
    pred: float
    pred_err: float


def _place(t, f, sigma: float, row, *, label: str, refine: bool, name: str) -> _Placed | str:
    """One ephemeris carried into the data (and refined): a :class:`_Placed`, or the text of why
    no predicted transit falls on data."""
    per = float(row["pl_orbper"].value)
    t0 = float(row["pl_tranmid"].value)
    dur_h = float(row["pl_trandurh"].value)
    single = not math.isfinite(per)
    if not math.isfinite(dur_h):
        if not refine:
            raise InvalidParameterError(f"{label}: no duration (pl_trandurh) and refine=False.")
        if single:
            raise InvalidParameterError(
                f"{label}: a single transit (no period) needs its duration (pl_trandurh, hours).")
    guess = dur_h / 24.0 if math.isfinite(dur_h) else _sun_like_duration(per)
    if single:
        n_first, n_tr = 0, 1
        t_first, t_err = t0, (float(row["pl_tranmiderr1"].value)
                              if math.isfinite(float(row["pl_tranmiderr1"].value)) else 0.0)
    else:
        n_first = math.ceil((t[0] - t0) / per - 0.5 * guess / per)
        n_last = math.floor((t[-1] - t0) / per + 0.5 * guess / per)
        n_tr = max(n_last - n_first + 1, 0)
        # The uncertainty of the middle transit with data stands for all of them.
        t_first, _ = propagated_epoch(t0, per, 0.0, 0.0, n_first)
        _, t_err = propagated_epoch(t0, per, float(row["pl_tranmiderr1"].value),
                                    float(row["pl_orbpererr1"].value), (n_first + n_last) // 2)
    lost = (not single) and t_err > _LOST_PHASE * per
    if refine:
        if lost:
            halfwidth = 0.5 * per
            warnings.warn(f"{name}: {label}'s propagated epoch is uncertain by {t_err * 24:.1f} h "
                          f"(> {_LOST_PHASE:g} of the period); the transit phase is searched over the "
                          "whole orbit.", AstroTinyMLWarning, stacklevel=3)
        else:
            halfwidth = max(3.0 * t_err, 0.25 * guess)
        factors = np.geomspace(0.5, 2.0, 9) if math.isfinite(dur_h) else np.geomspace(0.3, 2.5, 12)
        snr, dt, dur, depth, n_in = _refine(t, f, sigma, per, t_first, max(n_tr, 1), halfwidth,
                                            guess * factors)
    else:
        dt, dur = 0.0, guess
        centers = t_first + per * np.arange(max(n_tr, 1)) if not single else np.array([t0])
        depth, n_in = _box(t, f, centers, dur)
        snr = depth / sigma * math.sqrt(n_in) if n_in else math.nan
    # Transits that have data: at least MIN_IN_TRANSIT cadences inside.
    epoch = t_first + dt
    centers = epoch + per * np.arange(max(n_tr, 1)) if not single else np.array([epoch])
    counts = [int(np.sum(np.abs(t - c) < 0.5 * dur)) for c in centers]
    with_data = [c for c, k in zip(centers, counts) if k >= MIN_IN_TRANSIT]
    if not with_data or n_in < MIN_IN_TRANSIT:
        pred = ", ".join(f"{c:.3f}" for c in centers[:5]) if n_tr else "none"
        return (f"{label} (P={per:.6g} d, T0={t0:.5f}; predicted transits in the span: "
                f"{pred}{' ...' if len(centers) > 5 else ''})")
    return _Placed(name=str(row["name"]), per=per, per_err=float(row["pl_orbpererr1"].value),
                   tranmid=float(with_data[0]), dur=dur, depth=depth, snr=snr,
                   n_transits=len(with_data), single=single, n_in=n_in,
                   pred=t_first, pred_err=t_err)


def _placed_table(rows: list[_Placed], sigma: float):
    """The candidates table (search columns plus the prediction) of the placed ephemerides."""
    import astropy.units as u
    from astropy.table import QTable

    nan = math.nan
    table = QTable()
    table["planet_index"] = np.arange(1, len(rows) + 1, dtype=int)
    table["name"] = np.asarray([r.name for r in rows], dtype=str)
    table["pl_orbper"] = np.array([r.per for r in rows], float) * u.day
    table["pl_tranmid"] = np.array([r.tranmid for r in rows], float) * u.day
    table["pl_trandurh"] = np.array([r.dur * 24.0 for r in rows], float) * u.hour
    table["pl_trandep"] = np.array([r.depth * 1e6 for r in rows], float)
    table["snr"] = np.array([r.snr for r in rows], float)
    table["sde"] = np.full(len(rows), nan)
    table["n_transits"] = np.array([r.n_transits for r in rows], dtype=int)
    table["single_event"] = np.array([r.single for r in rows], dtype=bool)
    table["harmonic_of"] = np.zeros(len(rows), dtype=int)
    table["depth_err_ppm"] = np.array([sigma / math.sqrt(r.n_in) * 1e6 for r in rows], float)
    table["n_in_transit"] = np.array([r.n_in for r in rows], dtype=int)
    table["pl_orbpererr1"] = np.array([r.per_err for r in rows], float) * u.day
    table["pl_tranmid_pred"] = np.array([r.pred for r in rows], float) * u.day
    table["pl_tranmid_prederr"] = np.array([r.pred_err for r in rows], float) * u.day
    table["pl_trandep"].description = "transit depth (ppm; mean in-box depth)"
    table["pl_tranmid"].description = "mid-transit time of the first transit in the data (BJD_TDB)"
    table["pl_tranmid_pred"].description = "catalogue epoch propagated into the data, before refinement"
    table["pl_tranmid_prederr"].description = "1-sigma uncertainty of the propagated epoch"
    return table
