"""One call from a light curve to vetted candidates and classifier views.

:func:`detect` chains the stages of the pipeline for one star::

    read_lightcurve(s) -> detrend -> search -> detrend again with the transits masked
                       -> search again -> detrend with those transits masked
                       -> vet -> fold_views

The second detrending matters: a biweight window of ~0.5-1 d partly fits a transit lasting a
few hours and makes it shallower and V-shaped.  Refitting the trend with the found transits
masked keeps their depth and shape for vetting and for the views.  The second search
(``search_passes=2``, the default) matters for long transits: the first detrending leaves
~10 % of Kepler-90 h's 14-h, 0.8 % transit, so the first search pairs the remains with an
unrelated dip into a false 134-d period and misses h; on the masked detrending the second
search finds h and g as single events and d (59.7 d) and c (8.72 d) at their periods.
Candidates come from the last search (their ``pl_*`` columns are the search's); every
diagnostic and view is measured on the flattening with the last candidates masked.

Last, :func:`astrotinyml.classify.classify` runs the shipped TinyML model (int8, LiteRT) on
``DetectionResult.views`` and adds the ``label``/``p_*`` columns to ``DetectionResult.candidates``
(probabilities not calibrated yet; see :mod:`astrotinyml.classify`).
"""

from __future__ import annotations

import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .errors import InvalidParameterError
from .star import stellar_parameters

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import QTable

    from .views import Views

__all__ = ["detect", "DetectionResult", "search_masked", "SearchPasses", "FIT_CHOICES"]

# Suffixes of light-curve files: a string ending in one of them is a (missing) path, not a name.
_FILE_SUFFIXES = {".fits", ".fit", ".fts", ".fz", ".gz", ".csv", ".tsv", ".txt", ".dat", ".tbl",
                  ".ecsv", ".npy", ".npz", ".tran", ".h5", ".hdf5", ".json", ".lc"}


@dataclass(eq=False)
class DetectionResult:
    """What :func:`detect` found for one star.

    Attributes
    ----------
    target : str
        Target name (from the file's metadata, else the file name).
    raw : lightkurve.LightCurve
        The light curve as read (normalized to 1, BJD_TDB), before detrending.
    flat : lightkurve.LightCurve
        The light curve detrended with the candidates' transits masked (the one vetted and
        folded); ``flat["trend"]`` is the trend divided out.
    candidates : astropy.table.QTable
        The search's table with the :func:`astrotinyml.vet.vet` columns appended; zero rows
        when nothing was found.
    views : list of Views
        :func:`astrotinyml.views.fold_views` of each candidate, in table order.
    options : dict
        Every option used, resolved defaults included (e.g. the detrending window in days).
    timings : dict
        Wall-clock seconds per stage (``read``, ``detrend``, ``search``, ``redetrend``,
        ``vet``, ``views``, ``classify``) and ``total``.
    model_sha256 : str
        SHA-256 of the classifier model file that labelled the candidates.
    calibration_id : str or None
        Id of the calibration applied (None with ``calibration=False``).
    """

    target: str
    raw: Any
    flat: Any
    candidates: Any
    views: list = field(default_factory=list)
    options: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    model_sha256: str = ""
    calibration_id: str | None = None

    _periodogram: Any = field(default=None, repr=False, compare=False)

    @property
    def n_candidates(self) -> int:
        """Number of candidates found."""
        return len(self.candidates)

    def periodogram(self):
        """Box-search spectrum of ``flat`` over the period range the search used.

        Computed on the first call (about one search pass) and kept: reports and notebooks
        that plot it pay for it, batch runs that do not never compute it.

        Returns
        -------
        astropy.table.QTable
            Columns ``period`` (d), ``power`` and ``sde``; see
            :func:`astrotinyml.search.periodogram`.
        """
        if self._periodogram is None:
            from .search import periodogram

            self._periodogram = periodogram(
                self.flat, period_min=self.options.get("period_min"),
                period_max=self.options.get("period_max"),
                min_transits=self.options.get("min_transits", 2))
        return self._periodogram

    def __repr__(self) -> str:
        # A notebook repr must not dump two light curves and a table.
        periods = []
        if self.n_candidates:
            col = self.candidates["pl_orbper"]
            periods = [float(getattr(p, "value", p)) for p in col]
        per = ", ".join("single" if not np.isfinite(p) else f"{p:.5g} d" for p in periods)
        return (f"DetectionResult(target={self.target!r}, n_candidates={self.n_candidates}"
                f"{' [' + per + ']' if per else ''}, total={self.timings.get('total', float('nan')):.2f} s)")


def _looks_like_path(s: str) -> bool:
    return (os.sep in s or "/" in s or Path(s).suffix.lower() in _FILE_SUFFIXES)


def _load(source, *, time_format, flux_column, mission):
    """(raw LightCurve, source description) from a path, a list of paths or a LightCurve."""
    import lightkurve as lk

    from .io import read_lightcurve, read_lightcurves

    if isinstance(source, lk.LightCurve):
        lc = source.remove_nans()
        med = float(np.nanmedian(np.asarray(lc.flux.value, dtype=float)))
        if not 0.5 < med < 1.5:  # not normalized yet (e.g. SAP e-/s): detrend expects ~1
            lc = lc.normalize()
        return lc, "LightCurve"
    if isinstance(source, lk.LightCurveCollection):
        source = list(source)
    if isinstance(source, (list, tuple)):
        if not source:
            raise InvalidParameterError("detect: the list of sources is empty; pass at least one file or LightCurve.")
        if all(isinstance(s, lk.LightCurve) for s in source):
            lcs = [s.remove_nans().normalize() for s in source]
            return lk.LightCurveCollection(lcs).stitch(corrector_func=lambda x: x), "LightCurveCollection"
        for s in source:
            if not isinstance(s, (str, os.PathLike)):
                raise InvalidParameterError(
                    f"detect: a list source must hold file paths (or LightCurves), got {type(s).__name__}"
                )
        lc = read_lightcurves([os.fspath(s) for s in source], time_format=time_format,
                              flux_column=flux_column, mission=mission)
        return lc, [os.fspath(s) for s in source]
    if isinstance(source, (str, os.PathLike)):
        s = os.fspath(source)
        if Path(s).exists() or _looks_like_path(s):
            # read_lightcurve raises LightCurveFileNotFoundError for a missing path.
            return read_lightcurve(s, time_format=time_format, flux_column=flux_column, mission=mission), s
        # Not a file: a target name ("Kepler-90", "TIC 100100827"), fetched from MAST
        # (served from the cache when warm; offline mode raises OfflineError naming it).
        from .fetch import fetch_lightcurve

        return fetch_lightcurve(s, mission=mission, flux_column=flux_column), s
    raise InvalidParameterError(
        f"detect: source must be a file path, a list of paths or a lightkurve.LightCurve; got {type(source).__name__}"
    )


def _target(lc, source) -> str:
    meta = getattr(lc, "meta", {}) or {}
    for key in ("target", "OBJECT", "LABEL", "TARGETID"):
        val = meta.get(key)
        if val not in (None, ""):
            return str(val)
    if isinstance(source, str) and source not in ("LightCurve", "LightCurveCollection"):
        return Path(source).stem
    if isinstance(source, list) and source:
        return Path(source[0]).stem
    return "<unnamed>"


#: Values of ``detect(fit=...)``.
FIT_CHOICES = ("none", "lsq", "mcmc")


def _known_signals(raw, flat0, ephemerides, *, detrend_method, window_length):
    """(flat, candidates, place_s, redetrend_s) of known ephemerides: placed and refined on the
    unmasked flattening, then again on the flattening with them masked (the first detrending
    eats part of long transits, so their durations come out short), then masked for good."""
    from .detrend import detrend
    from .ephemerides import ephemerides_in_data

    t = _time.perf_counter()
    first = ephemerides_in_data(flat0, ephemerides)
    place_s = _time.perf_counter() - t
    t = _time.perf_counter()
    flat1 = detrend(raw, method=detrend_method, window_length=window_length, mask=first)
    redetrend_s = _time.perf_counter() - t
    t = _time.perf_counter()
    candidates = ephemerides_in_data(flat1, first)
    place_s += _time.perf_counter() - t
    t = _time.perf_counter()
    flat = detrend(raw, method=detrend_method, window_length=window_length, mask=candidates)
    redetrend_s += _time.perf_counter() - t
    return flat, candidates, place_s, redetrend_s


def _ephemerides_record(ephemerides) -> list | None:
    """The ephemerides given to detect, as plain rows for ``options`` (reports, provenance)."""
    if ephemerides is None:
        return None
    from .ephemerides import ephemeris_table

    tab = ephemeris_table(ephemerides)
    rows = []
    for r in tab:
        row = {}
        for c in tab.colnames:
            v = getattr(r[c], "value", r[c])
            v = str(v) if c == "name" else float(v)
            row[c] = None if isinstance(v, float) and not np.isfinite(v) else v
        rows.append(row)
    return rows


def same_signals(a, b) -> bool:
    """Two search results with the same signals, in any order: periods within 0.1 % (NaN
    for single events on both sides) and mid-transit times within half a duration."""
    if len(a) != len(b):
        return False

    def num(row, name):  # QTable quantities or plain Table numbers (d, d, h)
        return float(getattr(row[name], "value", row[name]))

    def same(ra, rb):
        pa, pb = num(ra, "pl_orbper"), num(rb, "pl_orbper")
        if np.isnan(pa) != np.isnan(pb) or (not np.isnan(pa) and abs(pa / pb - 1.0) > 1e-3):
            return False
        dt = abs(num(ra, "pl_tranmid") - num(rb, "pl_tranmid"))
        if not np.isnan(pa):
            dt = min(dt % pa, pa - dt % pa)
        return dt <= 0.5 * num(rb, "pl_trandurh") / 24.0

    unused = list(range(len(b)))
    for ra in a:
        j = next((j for j in unused if same(ra, b[j])), None)
        if j is None:
            return False
        unused.remove(j)
    return True


class SearchPasses(NamedTuple):
    """Result of :func:`search_masked`."""

    #: Candidates of the last search pass (``search``'s table).
    candidates: Any
    #: The light curve detrended with those candidates' transits masked (``flat0`` if none).
    flat: Any
    #: Search passes run (fewer than asked when a pass found the same signals as the last).
    passes_run: int
    #: Seconds spent searching and detrending again.
    search_s: float
    redetrend_s: float


def search_masked(lc, flat0, *, passes: int = 2, first=None, detrend_method: str = "biweight",
                  window_length: float | None = None, period_min: float | None = None,
                  period_max: float | None = None, max_planets: int = 5, min_transits: int = 2,
                  sde_threshold: float | None = None) -> SearchPasses:
    """Search, detrend again with the found transits masked, and search that again.

    The first pass searches ``flat0`` (``lc`` detrended without a mask); each further pass
    searches ``lc`` detrended with the previous pass's transits masked, and its candidates
    (periods, epochs, depths, durations) replace that pass's, then ``lc`` is detrended again
    with them masked.  It stops after ``passes`` searches, or earlier when a pass finds the
    same signals as the pass before (periods within 0.1 %, mid-times within half a duration)
    or none.  A pass that finds none, or fewer signals, is kept as it is: signals of the
    earlier pass that do not come back on a flattening that preserves transits were made by
    the filter or by pairing parts of other transits.
    The first detrending fits long transits partly away (Kepler-90 h: 14 h, 0.8 % deep,
    ~10 % left), so one search finds them shallow, short, or paired with unrelated dips.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        The light curve as read (normalized to 1).
    flat0 : lightkurve.LightCurve
        ``detrend(lc, method=detrend_method, window_length=window_length)``.
    passes : int
        Most searches to run (>= 1).  1 = one search, then one masked detrending.
    first : astropy.table.QTable, optional
        The first pass's result when it is already known: ``search(flat0, ...)`` with the
        same search options (not checked), which is then not run again.
    detrend_method, window_length
        As in :func:`astrotinyml.detrend.detrend`.
    period_min, period_max, max_planets, min_transits, sde_threshold
        As in :func:`astrotinyml.search.search`.

    Returns
    -------
    SearchPasses
        ``candidates`` (last pass), ``flat`` (detrended with them masked), ``passes_run``,
        ``search_s``, ``redetrend_s``.

    Raises
    ------
    InvalidParameterError
        ``passes`` not an integer >= 1, or an invalid search option.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> from astrotinyml.detrend import detrend
    >>> rng = np.random.default_rng(3)
    >>> t = 2458000 + np.arange(0, 12, 0.01)
    >>> flux = 1 + 5e-4 * rng.normal(size=t.size)
    >>> flux[np.abs((t - 2458000.7 + 1.25) % 2.5 - 1.25) < 0.05] -= 0.01
    >>> lc = lk.LightCurve(time=t, flux=flux)
    >>> res = search_masked(lc, detrend(lc), max_planets=1)
    >>> round(float(res.candidates["pl_orbper"][0].value), 2), res.passes_run
    (2.5, 2)
    """
    from .detrend import detrend
    from .search import search

    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 1:
        raise InvalidParameterError(f"search_passes must be an integer >= 1, got {passes!r}")
    search_s = redetrend_s = 0.0
    flat, candidates, run = flat0, None, 0
    while run < passes:
        t = _time.perf_counter()
        if run == 0 and first is not None:
            found = first
        else:
            found = search(flat, period_min=period_min, period_max=period_max, max_planets=max_planets,
                           min_transits=min_transits, sde_threshold=sde_threshold)
        search_s += _time.perf_counter() - t
        run += 1
        # The same periods and epochs as the pass before: a further pass would search
        # (nearly) the same light curve.  This pass's depths and durations are still the
        # ones kept: measured on a flattening that preserves the transits, they differ.
        converged = candidates is not None and same_signals(found, candidates)
        candidates = found
        t = _time.perf_counter()
        flat = (detrend(lc, method=detrend_method, window_length=window_length, mask=candidates)
                if len(candidates) else flat0)
        redetrend_s += _time.perf_counter() - t
        if converged or not len(candidates):
            break  # converged, or nothing to mask (a further pass would search flat0 again)
    return SearchPasses(candidates=candidates, flat=flat, passes_run=run, search_s=search_s,
                        redetrend_s=redetrend_s)


def detect(
    source: Any,
    *,
    time_format: str | None = None,
    flux_column: str | None = None,
    mission: str | None = None,
    detrend_method: str = "biweight",
    window_length: float | None = None,
    period_min: float | None = None,
    period_max: float | None = None,
    max_planets: int = 5,
    min_transits: int = 2,
    sde_threshold: float | None = None,
    search_passes: int = 2,
    star: Any = None,
    stellar_density: Any = None,
    global_bins: int = 201,
    local_bins: int = 61,
    model: Any = None,
    calibration: Any = None,
    ephemerides: Any = None,
    fit: str = "none",
    fit_progress: bool = False,
) -> DetectionResult:
    """Find and vet transit candidates in one star's light curve.

    Parameters
    ----------
    source : str, path-like, list of paths, or lightkurve.LightCurve
        A light-curve file, several files of the same star (quarters, sectors: read and
        stitched), or a LightCurve already in memory (normalized to 1 if it is not).
        A string that is not an existing file and does not look like a path is taken as a
        target name and fetched with :func:`astrotinyml.fetch.fetch_lightcurve` (from the
        cache when it is warm; offline mode raises OfflineError naming what is missing).
    time_format, flux_column, mission : str, optional
        Passed to :func:`astrotinyml.io.read_lightcurve` (time system of text files, flux
        column, mission when the file does not say it).
    detrend_method : str
        wotan method for :func:`astrotinyml.detrend.detrend` (default ``"biweight"``).
    window_length : float, optional
        Detrending window in days; default :func:`astrotinyml.detrend.default_window_length`.
    period_min, period_max : float, optional
        Period range of the search in days (defaults of :func:`astrotinyml.search.search`).
    max_planets : int
        Most signals to report, single events included: the candidates table never has
        more rows (fewer when a secondary eclipse is merged into its primary).
    min_transits : int
        Transits with data a periodic signal needs.
    sde_threshold : float, optional
        Minimum SDE of a signal (search default when omitted).
    search_passes : int
        Searches to run: each pass after the first searches the light curve detrended with
        the previous pass's transits masked, and its candidates replace that pass's; it
        stops early when a pass finds the same signals.  1 is the single search of earlier
        versions (faster, but long transits come out shallow, short or paired falsely).
    star : StellarParameters or dict, optional
        The host star's parameters given by the user (``{"radius": 0.4, "mass": 0.4}``, solar
        units; see :func:`astrotinyml.star.stellar_parameters`); they take precedence over
        the file header and the bundled KOI/TOI/K2 snapshots, which are used otherwise.  The
        star's radius and density enter the vetting (companion radius, density test) and the
        classifier; a companion no planet can be is never labelled ``planet``.
    stellar_density : float or Quantity, optional
        Stellar density in g/cm^3 for the density test of :func:`astrotinyml.vet.vet`
        (default: from ``star``'s radius and mass or logg when they are known).
    global_bins, local_bins : int
        Bin counts of the views (see :func:`astrotinyml.views.fold_views`); the shipped
        classifier needs the defaults (201, 61).
    model : None, 'int8', 'float32', path or TFLiteModel
        Classifier for :func:`astrotinyml.classify.classify` (None: the shipped int8 model).
    calibration : None, str, Calibration or False
        Calibration applied by :func:`astrotinyml.calibrate.apply_calibration`: None for the
        latest run in the calibration database (else the default shipped with the model), a
        run id, a :class:`~astrotinyml.calibrate.Calibration`, or False for none.
    ephemerides : Table, dict or list of dict, optional
        Known signals to vet instead of searching (a TOI, a KOI, your own ephemeris): rows
        with ``pl_orbper`` [d], ``pl_tranmid`` [full BJD_TDB] and optionally ``pl_trandurh``
        [h] and their errors, as :func:`astrotinyml.ephemerides.catalog_ephemerides` or
        :func:`~astrotinyml.ephemerides.ephemeris_table` return them.  Each is propagated
        into the data and refined there (:func:`~astrotinyml.ephemerides.ephemerides_in_data`),
        the light curve is detrended with those transits masked, then vetted, classified,
        calibrated and (``fit``) fitted as search candidates are.  The search options are
        then unused.
    fit : {"none", "lsq", "mcmc"}
        Fit a limb-darkened transit to every candidate (:func:`astrotinyml.transitfit.fit_transit`,
        with the star's parameters) after classification: ``"lsq"`` (least squares, ~1 s a
        candidate), ``"mcmc"`` (posteriors, ~20-60 s a candidate) or ``"none"`` (default).
        A fit replaces ``pl_orbper``, ``pl_tranmid``, ``pl_trandurh`` (then first-to-fourth
        contact) and ``pl_trandep`` by the fitted values and adds their ``err1``/``err2``
        columns, ``pl_ratror``, ``pl_ratdor``, ``pl_imppar``, ``pl_rade`` [R_earth] and the
        ``fit_*`` diagnostics; without a fit those columns are absent and ``pl_trandurh`` is
        the search's box width.  Classification always uses the search's (box) values.
    fit_progress : bool
        Show the MCMC's progress bar (stderr).

    Returns
    -------
    DetectionResult
        ``raw``/``flat`` light curves, vetted and classified ``candidates`` (``label``,
        ``p_*`` columns), one ``Views`` per candidate, the ``options`` used, per-stage
        ``timings`` and the classifier's ``model_sha256``.

    Raises
    ------
    LightCurveFileNotFoundError
        A path that does not exist.
    OfflineError, DataUnavailableError, ArchiveConnectionError
        A target name that cannot be fetched (offline and not cached, no data at MAST,
        MAST unreachable).
    AstroTinyMLError
        Any error of the stages (unreadable file, too short a light curve for the search,
        invalid option).

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> rng = np.random.default_rng(3)
    >>> t = 2458000 + np.arange(0, 12, 0.01)
    >>> flux = 1 + 5e-4 * rng.normal(size=t.size)
    >>> flux[np.abs((t - 2458000.7 + 1.25) % 2.5 - 1.25) < 0.05] -= 0.01
    >>> res = detect(lk.LightCurve(time=t, flux=flux), max_planets=1)
    >>> round(float(res.candidates["pl_orbper"][0].value), 2), len(res.views)
    (2.5, 1)
    """
    from .classify import classify
    from .detrend import detrend
    from .vet import vet
    from .views import fold_all

    timings: dict[str, float] = {}
    t_all = _time.perf_counter()

    def lap(name, t_start):
        timings[name] = _time.perf_counter() - t_start

    t = _time.perf_counter()
    raw, described = _load(source, time_format=time_format, flux_column=flux_column, mission=mission)
    lap("read", t)
    target = _target(raw, described)

    if fit not in FIT_CHOICES:
        raise InvalidParameterError(f"fit={fit!r} is not one of {FIT_CHOICES}: 'lsq' for the fast "
                                    "least-squares transit fit, 'mcmc' for posteriors, 'none' for no fit.")
    t = _time.perf_counter()
    flat0 = detrend(raw, method=detrend_method, window_length=window_length)
    lap("detrend", t)

    if ephemerides is not None:
        flat, candidates, timings["search"], timings["redetrend"] = _known_signals(
            raw, flat0, ephemerides, detrend_method=detrend_method, window_length=window_length)
        passes_run = 0
    else:
        passes = search_masked(raw, flat0, passes=search_passes, detrend_method=detrend_method,
                               window_length=window_length, period_min=period_min, period_max=period_max,
                               max_planets=max_planets, min_transits=min_transits, sde_threshold=sde_threshold)
        flat, candidates = passes.flat, passes.candidates
        timings["search"], timings["redetrend"] = passes.search_s, passes.redetrend_s
        passes_run = passes.passes_run

    t = _time.perf_counter()
    stellar = stellar_parameters(raw, star=star)
    vetted = vet(flat, candidates, raw_lc=raw, star=stellar, stellar_density=stellar_density)
    lap("vet", t)

    t = _time.perf_counter()
    views = fold_all(flat, vetted, global_bins=global_bins, local_bins=local_bins)
    lap("views", t)

    t = _time.perf_counter()
    vetted = classify(flat, vetted, views=views, model=model)
    lap("classify", t)

    calibration_id = None
    if calibration is not False:
        # The latest calibration run (or the one named, or the default shipped beside the
        # model): calibrated p_* / label, depth and duration corrected for detrending losses.
        from .calibrate import apply_calibration

        t = _time.perf_counter()
        vetted = apply_calibration(vetted, calibration)
        calibration_id = vetted.meta.get("calibration_id")
        lap("calibrate", t)

    if fit != "none" and len(vetted):
        from .transitfit import fit_transit

        t = _time.perf_counter()
        vetted = fit_transit(flat, vetted, star=stellar, method=fit, progress=fit_progress)
        lap("fit", t)

    timings["total"] = _time.perf_counter() - t_all
    from ._version import __version__

    meta = getattr(flat, "meta", {}) or {}
    options = dict(
        source=described if not isinstance(described, list) else list(described),
        time_format=time_format, flux_column=flux_column, mission=mission or (raw.meta or {}).get("mission"),
        detrend_method=detrend_method,
        window_length=meta.get("DETREND_WINDOW", window_length),
        period_min=period_min, period_max=period_max, max_planets=max_planets, min_transits=min_transits,
        sde_threshold=sde_threshold, search_passes=search_passes, stellar_density=stellar_density,
        star={k: (None if isinstance(v, float) and not np.isfinite(v) else v)
              for k, v in stellar.as_row().items()},
        global_bins=global_bins, local_bins=local_bins,
        search_passes_run=passes_run, ephemerides=_ephemerides_record(ephemerides), fit=fit,
        redetrended_with_mask=bool(len(candidates)),
        model_sha256=vetted.meta.get("classifier_sha256", ""),
        calibration_id=calibration_id,
        astrotinyml_version=__version__,
    )
    return DetectionResult(target=target, raw=raw, flat=flat, candidates=vetted, views=views,
                           options=options, timings=timings,
                           model_sha256=vetted.meta.get("classifier_sha256", ""),
                           calibration_id=calibration_id)
