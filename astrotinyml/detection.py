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
search finds h and g as single events and d (59.7 d) and c (8.72 d) at their periods.  It
is skipped when masking the transits changed no detrended flux (the long-dip protection had
kept them out of the trend already): it would search the same numbers.
Candidates come from the last search (their ``pl_*`` columns are the search's); every
diagnostic and view is measured on the flattening with the last candidates masked.

*SNR.*  A candidate's ``snr`` is its correlated-noise SNR (vet's ``mes_red``, see
:func:`correlated_snr`): the depth over the noise of the flux averaged over the transit
duration, not over the per-point scatter; the search's white-noise value is kept as
``snr_white``.  Search candidates need ``snr >= SNR_THRESHOLD`` (7.1, the Kepler pipeline's
MES threshold).  The detrending's long-dip protection (:func:`astrotinyml.detrending.detrend`)
keeps transits longer than a third of the window, so TOI-813 b's 0.4-d single transit in
TESS sector 5 is found with the default window.

Last, :func:`astrotinyml.classification.classify` runs the shipped TinyML model (int8, LiteRT) on
``DetectionResult.views`` and adds the ``label``/``p_*`` columns to ``DetectionResult.candidates``
(probabilities not calibrated yet; see :mod:`astrotinyml.classification`).
"""

from __future__ import annotations

import math
import os
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import datasets
from ._version import __version__
from .calibration.store import apply_calibration
from .candidates import float_array, row_value
from .classification import classify as run_classifier
from .config import single_thread_blas
from .detrending import detrend
from .ephemerides import ephemerides_in_data, ephemeris_table
from .errors import InvalidParameterError, NoTransitInDataError
from .io import read_lightcurve, read_lightcurves
from .io.read import looks_like_path
from .remote.mast import fetch_lightcurve
from .searching import DEFAULT_SNR_THRESHOLD, periodogram, search
from .star import stellar_parameters
from .transitfit import fit_transit
from .vetting import vet
from .views import fold_all

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import QTable

__all__ = ["detect", "DetectionResult", "Periodogram", "search_masked", "SearchPasses", "FIT_CHOICES", "correlated_snr",
           "SNR_THRESHOLD"]

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
        The search's table with the :func:`astrotinyml.vetting.vet` columns appended; zero rows
        when nothing was found.  Every column has one definition, listed in the book's
        *Candidate columns* page (``book/columns.md``; vet's are :data:`astrotinyml.vetting.VET_COLUMNS`).
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

    @property
    def periodogram(self) -> Periodogram:
        """Box-search spectrum of ``flat`` over the period range the search used.

        Computed on first use (about one search pass) and kept: reports and notebooks
        that plot it pay for it, batch runs that do not never compute it.  A
        :class:`Periodogram`: index it like the table (``pg["period"]``), ``pg.plot()``
        draws it; ``result.periodogram()`` (a call, as in earlier versions) returns the same.

        Examples
        --------
        >>> res = detect(datasets.load_sample("wasp-18"))  # doctest: +SKIP
        >>> fig = res.periodogram.plot()  # doctest: +SKIP
        """
        if self._periodogram is None:
            self._periodogram = periodogram(
                self.flat, period_min=self.options.get("period_min"),
                period_max=self.options.get("period_max"),
                min_transits=self.options.get("min_transits", 2))
        pg = self._periodogram
        table = pg.table if isinstance(pg, Periodogram) else pg
        return Periodogram(table, candidates=self.candidates, target=self.target)

    def plot(self, *, periodogram: bool = True, max_folds: int = 6):
        """Overview figure: light curve and trend, detrended light curve with each candidate's
        transits marked, the periodogram, and the fold of each candidate around its transit.

        Parameters
        ----------
        periodogram : bool
            Draw the periodogram panel (computes it on first use, about one search pass).
        max_folds : int
            Most candidates whose fold is drawn (in table order).

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import numpy as np, lightkurve as lk
        >>> rng = np.random.default_rng(3)
        >>> t = 2458000 + np.arange(0, 12, 0.01)
        >>> flux = 1 + 5e-4 * rng.normal(size=t.size)
        >>> flux[np.abs((t - 2458000.7 + 1.25) % 2.5 - 1.25) < 0.05] -= 0.01
        >>> fig = detect(lk.LightCurve(time=t, flux=flux), max_planets=1).plot()
        >>> len(fig.axes)
        4
        """
        import matplotlib.pyplot as plt

        n = min(self.n_candidates, max(int(max_folds), 0))
        rows = 2 + bool(periodogram) + (1 if n else 0)
        fig = plt.figure(figsize=(11, 2.3 * rows + 0.4), layout="constrained")
        grid = fig.add_gridspec(rows, max(n, 1))
        raw_t = np.asarray(self.raw.time.jd, float)
        ref = float(np.floor(np.nanmin(raw_t))) if raw_t.size else 0.0
        ax = fig.add_subplot(grid[0, :])
        ax.plot(raw_t - ref, np.asarray(self.raw.flux.value, float), ".", ms=1, color="0.45", rasterized=True)
        flat_t = np.asarray(self.flat.time.jd, float)
        if "trend" in self.flat.colnames:
            ax.plot(flat_t - ref, np.asarray(self.flat["trend"].value, float), "-", lw=1, color="tab:orange",
                    label="trend")
            ax.legend(loc="lower right", fontsize="small")
        ax.set_ylabel("normalized flux")
        ax.set_title(f"{self.target}: light curve", fontsize=10, loc="left")
        ax = fig.add_subplot(grid[1, :], sharex=ax)
        f = np.asarray(self.flat.flux.value, float)
        ax.plot(flat_t - ref, f, ".", ms=1, color="0.25", rasterized=True)
        top = float(np.nanpercentile(f, 99.9)) if f.size else 1.0
        for i, row in enumerate(self.candidates):
            p, t0 = _num(row["pl_orbper"]), _num(row["pl_tranmid"])
            times = (np.array([t0]) if not np.isfinite(p)
                     else t0 + p * np.arange(np.ceil((flat_t.min() - t0) / p), np.floor((flat_t.max() - t0) / p) + 1))
            ax.plot(times - ref, np.full(times.size, top), "v", ms=5, color=f"C{i}", label=f"#{i + 1}")
        if self.n_candidates:
            ax.legend(loc="lower right", fontsize="small", ncol=min(self.n_candidates, 6))
        ax.set_xlabel(f"BJD_TDB - {ref:.0f} [d]")
        ax.set_ylabel("detrended flux")
        ax.set_title("detrended, transits masked from the trend; markers: each candidate's transits",
                     fontsize=10, loc="left")
        if periodogram:
            self.periodogram.plot(ax=fig.add_subplot(grid[2, :]))
        for i in range(n):
            ax = fig.add_subplot(grid[rows - 1, i])
            row = self.candidates[i]
            p, t0, dur = _num(row["pl_orbper"]), _num(row["pl_tranmid"]), _num(row["pl_trandurh"]) / 24.0
            dt = (flat_t - t0 + 0.5 * p) % p - 0.5 * p if np.isfinite(p) else flat_t - t0
            near = np.abs(dt) < 2.5 * dur
            ax.plot(dt[near] * 24.0, f[near], ".", ms=1.5, color=f"C{i}", rasterized=True)
            ax.set_xlabel("hours from mid-transit")
            label = str(row["label"]) if "label" in self.candidates.colnames else ""
            per = f"P {p:.4f} d" if np.isfinite(p) else "single event"
            ax.set_title(f"#{i + 1}: {per}" + (f", {label}" if label else ""), fontsize=9)
            if i == 0:
                ax.set_ylabel("detrended flux")
        return fig

    def __repr__(self) -> str:
        # A notebook repr must not dump two light curves and a table.
        periods = []
        if self.n_candidates:
            col = self.candidates["pl_orbper"]
            periods = [float(getattr(p, "value", p)) for p in col]
        per = ", ".join("single" if not np.isfinite(p) else f"{p:.5g} d" for p in periods)
        return (f"DetectionResult(target={self.target!r}, n_candidates={self.n_candidates}"
                f"{' [' + per + ']' if per else ''}, total={self.timings.get('total', float('nan')):.2f} s)")


class Periodogram:
    """A box-search spectrum: the table of :func:`astrotinyml.searching.periodogram` with a plot.

    Index it like the table (``pg["period"]``, ``pg["sde"]``, ``len(pg)``, ``pg.colnames``;
    every other table attribute too, e.g. ``pg.write(...)``); ``pg.table`` is the
    :class:`~astropy.table.QTable` itself.  Calling it (``pg()``) returns it, so code written
    for the earlier ``result.periodogram()`` method keeps working.

    Parameters
    ----------
    table : astropy.table.QTable
        Columns ``period`` [d], ``power`` and ``sde``.
    candidates : astropy.table.Table, optional
        Candidates whose periods are marked on the plot.
    target : str
        Name for the title.
    """

    def __init__(self, table, *, candidates=None, target: str = ""):
        self.table, self.candidates, self.target = table, candidates, target

    def __call__(self) -> Periodogram:
        return self

    def __getitem__(self, key):
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self):
        return iter(self.table)

    def __getattr__(self, name):
        if name in ("table", "candidates", "target"):  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.table, name)

    def __repr__(self) -> str:
        return f"Periodogram({self.target!r}, {len(self.table)} periods)"

    def plot(self, ax=None):
        """Plot SDE against period (log scale), candidates' periods marked.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw; a new figure when omitted.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import numpy as np, lightkurve as lk
        >>> from astrotinyml.searching import periodogram
        >>> t = 2458000 + np.arange(0, 12, 0.01)
        >>> lc = lk.LightCurve(time=t, flux=1 + 1e-4 * np.random.default_rng(0).normal(size=t.size))
        >>> Periodogram(periodogram(lc)).plot().axes[0].get_xscale()
        'log'
        """
        import matplotlib.pyplot as plt

        fig = None
        if ax is None:
            fig, ax = plt.subplots(figsize=(11, 3.0), layout="constrained")
        period = np.asarray(getattr(self.table["period"], "value", self.table["period"]), float)
        ax.plot(period, np.asarray(self.table["sde"], float), lw=0.6, color="0.2")
        if self.candidates is not None and len(self.candidates):
            for i, p in enumerate(self.candidates["pl_orbper"]):
                p = _num(p)
                if np.isfinite(p):
                    ax.axvline(p, color=f"C{i}", lw=1.2, alpha=0.6, label=f"#{i + 1}: {p:.4f} d")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", loc="upper right")
        ax.set_xscale("log")
        ax.set_xlabel("period [d]")
        ax.set_ylabel("SDE")
        ax.set_title(f"{self.target + ': ' if self.target else ''}box-search periodogram", fontsize=10, loc="left")
        return fig if fig is not None else ax.figure


def _load(source, *, time_format, flux_column, mission):
    """(raw LightCurve, source description) from a path, a list of paths or a LightCurve."""
    import lightkurve as lk


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
        if Path(s).exists() or looks_like_path(s):
            # read_lightcurve raises LightCurveFileNotFoundError for a missing path.
            return read_lightcurve(s, time_format=time_format, flux_column=flux_column, mission=mission), s
        # The exact name of a bundled sample ("kepler-90", as datasets.list_samples() and the
        # demo spell it) is its bundled files: offline, and what the demo and the tutorials show.

        if s in {str(n) for n in datasets.list_samples()["name"]}:
            paths = [os.fspath(p) for p in datasets.sample_paths(s)]
            lc = (read_lightcurve(paths[0], time_format=time_format, flux_column=flux_column, mission=mission)
                  if len(paths) == 1 else
                  read_lightcurves(paths, time_format=time_format, flux_column=flux_column, mission=mission))
            return lc, paths if len(paths) > 1 else paths[0]
        # Not a file: a target name ("Kepler-90", "TIC 100100827"), fetched from MAST
        # (served from the cache when warm; offline mode raises OfflineError naming it).

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

#: Correlated-noise SNR a search candidate needs to be reported (``snr``, see
#: :func:`correlated_snr`); Kepler's pipeline used MES 7.1 on its correlated-noise scale.
#: Catalogue ephemerides given to detect() are never dropped.
SNR_THRESHOLD = 7.1


def correlated_snr(candidates):
    """Report the correlated-noise SNR as ``snr``; the search's white-noise SNR as ``snr_white``.

    ``snr`` becomes vet's ``mes_red`` (one home for the number:
    :func:`astrotinyml.vetting.vet`): the mean in-transit depth over the noise of the flux
    averaged over the transit duration, ``sqrt(sigma_w**2 / n_in + sigma_r**2 / N_tr)``
    (Pont et al. 2006), with ``sigma_w`` the per-point scatter, ``sigma_r`` the red noise
    at the duration (``noise_red_ppm``), ``n_in`` the in-transit points and ``N_tr`` the
    transits with data.  On white noise it equals the search's box SNR within a few
    per cent; on K2 or spotted-star residuals it is lower, like the Kepler pipeline's MES.
    The search's own ``sqrt(dchi2)`` (white noise assumed) is kept as ``snr_white``
    (NaN for rows that did not come from the search).

    Parameters
    ----------
    candidates : astropy.table.QTable
        Vetted candidates (with ``mes_red``); changed in place and returned.

    Returns
    -------
    astropy.table.QTable
        The same table, ``snr_white`` inserted after ``snr``.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> tab = correlated_snr(QTable({"snr": [12.0], "mes_red": [9.5]}))
    >>> float(tab["snr"][0]), float(tab["snr_white"][0])
    (9.5, 12.0)
    """
    if "snr_white" in candidates.colnames or "mes_red" not in candidates.colnames:
        return candidates  # already done, or not vetted
    n = len(candidates)
    white = (np.asarray(candidates["snr"], dtype=float) if "snr" in candidates.colnames
             else np.full(n, np.nan))
    red = np.asarray(candidates["mes_red"], dtype=float)
    if "snr" in candidates.colnames:
        pos = candidates.colnames.index("snr")
        candidates["snr"] = red
    else:
        pos = len(candidates.colnames) - 1
        candidates["snr"] = red
    candidates.add_column(white, name="snr_white", index=pos + 1)
    candidates["snr"].description = ("correlated-noise SNR: depth over white + red noise at the "
                                     "transit duration (vet's mes_red)")
    candidates["snr_white"].description = "search SNR sqrt(dchi2), white noise assumed"
    return candidates


def _known_signals(raw, flat0, ephemerides, *, detrend_method, window_length, prewhiten=True):
    """(flat, candidates, place_s, redetrend_s) of known ephemerides: placed and refined on the
    unmasked flattening, then again on the flattening with them masked (the first detrending
    eats part of long transits, so their durations come out short), then masked for good."""

    t = _time.perf_counter()
    first = ephemerides_in_data(flat0, ephemerides)
    place_s = _time.perf_counter() - t
    t = _time.perf_counter()
    flat1 = detrend(raw, method=detrend_method, window_length=window_length, mask=first, prewhiten=prewhiten)
    redetrend_s = _time.perf_counter() - t
    t = _time.perf_counter()
    candidates = ephemerides_in_data(flat1, first)
    # The catalogue's propagated epoch and its uncertainty come from the first placement (the
    # second starts from the refined epoch, which has no catalogue error any more).
    if len(first) == len(candidates):  # else one was left out: keep the second placement's
        for col in ("pl_tranmid_pred", "pl_tranmid_prederr", "pl_orbpererr1"):
            candidates[col] = first[col]
    place_s += _time.perf_counter() - t
    t = _time.perf_counter()
    flat = detrend(raw, method=detrend_method, window_length=window_length, mask=candidates,
                   prewhiten=prewhiten)
    redetrend_s += _time.perf_counter() - t
    return flat, candidates, place_s, redetrend_s


def _ephemerides_record(ephemerides) -> list | None:
    """The ephemerides given to detect, as plain rows for ``options`` (reports, provenance)."""
    if ephemerides is None:
        return None

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

    def same(ra, rb):
        pa, pb = row_value(ra, "pl_orbper", "d"), row_value(rb, "pl_orbper", "d")
        if np.isnan(pa) != np.isnan(pb) or (not np.isnan(pa) and abs(pa / pb - 1.0) > 1e-3):
            return False
        dt = abs(row_value(ra, "pl_tranmid", "d") - row_value(rb, "pl_tranmid", "d"))
        if not np.isnan(pa):
            dt = min(dt % pa, pa - dt % pa)
        return dt <= 0.5 * row_value(rb, "pl_trandurh", "h") / 24.0

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
    #: Search passes run (fewer than asked when a pass found the same signals as the last, or
    #: when masking its transits left the detrended fluxes unchanged).
    passes_run: int
    #: Seconds spent searching and detrending again.
    search_s: float
    redetrend_s: float


def search_masked(lc, flat0, *, passes: int = 2, first=None, detrend_method: str = "biweight",
                  window_length: float | None = None, period_min: float | None = None,
                  period_max: float | None = None, max_planets: int = 5, min_transits: int = 2,
                  sde_threshold: float | None = None, prewhiten: bool = True) -> SearchPasses:
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
        ``detrend(lc, method=detrend_method, window_length=window_length, prewhiten=prewhiten)``.
    passes : int
        Most searches to run (>= 1).  1 = one search, then one masked detrending.
    first : astropy.table.QTable, optional
        The first pass's result when it is already known: ``search(flat0, ...)`` with the
        same search options (not checked), which is then not run again.
    detrend_method, window_length, prewhiten
        As in :func:`astrotinyml.detrending.detrend`.
    period_min, period_max, max_planets, min_transits, sde_threshold
        As in :func:`astrotinyml.searching.search`.

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
    >>> from astrotinyml.detrending import detrend
    >>> rng = np.random.default_rng(3)
    >>> t = 2458000 + np.arange(0, 12, 0.01)
    >>> flux = 1 + 5e-4 * rng.normal(size=t.size)
    >>> flux[np.abs((t - 2458000.7 + 1.25) % 2.5 - 1.25) < 0.05] -= 0.01
    >>> lc = lk.LightCurve(time=t, flux=flux)
    >>> res = search_masked(lc, detrend(lc), max_planets=1)
    >>> round(float(res.candidates["pl_orbper"][0].value), 2), res.passes_run
    (2.5, 1)
    """

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
        if candidates is not None and len(candidates):
            found = _keep_lost_signals(flat, found, candidates, max_planets)
        search_s += _time.perf_counter() - t
        run += 1
        # The same periods and epochs as the pass before: a further pass would search
        # (nearly) the same light curve.  This pass's depths and durations are still the
        # ones kept: measured on a flattening that preserves the transits, they differ.
        converged = candidates is not None and same_signals(found, candidates)
        candidates = found
        t = _time.perf_counter()
        searched = flat
        flat = (detrend(lc, method=detrend_method, window_length=window_length, mask=candidates,
                        prewhiten=prewhiten)
                if len(candidates) else flat0)
        redetrend_s += _time.perf_counter() - t
        if converged or not len(candidates):
            break  # converged, or nothing to mask (a further pass would search flat0 again)
        if _same_flux(flat, searched):
            # Masking the transits changed no flux value (the long-dip protection had kept
            # them out of the first trend already: TOI-102, TOI-813 in TESS): a further pass
            # would search the same numbers and return these candidates, so it is not run.
            break
    return SearchPasses(candidates=candidates, flat=flat, passes_run=run, search_s=search_s,
                        redetrend_s=redetrend_s)


def _same_flux(a, b) -> bool:
    """Whether two light curves hold the same times and fluxes (NaN equal to NaN, masked
    values as NaN): what :func:`astrotinyml.searching.search` reads from them."""
    if a is b:
        return True
    ta, tb = float_array(a.time), float_array(b.time)
    return (ta.shape == tb.shape and np.array_equal(ta, tb)
            and np.array_equal(float_array(a.flux), float_array(b.flux), equal_nan=True))


def _keep_lost_signals(flat, found, previous, max_planets):
    """``found`` plus the periodic signals of ``previous`` that it lost but that are still
    significant on ``flat`` (the light curve ``found`` was searched on).

    A later pass searches a flattening with the earlier pass's transits masked; its
    iterations can then take another path (masks of long variability candidates make new
    dips that are found first, and a signal near the thresholds drops below them in the
    changed spectrum), and a real signal of the earlier pass is missing although its transits
    are still there (an injected SNR-12 transit on a spotted K2 star).  Each lost signal is
    placed again on ``flat`` at its period and epoch (:func:`astrotinyml.ephemerides.
    ephemerides_in_data`, refined) and kept, while rows are left under ``max_planets``, when
    it has three transits or more there and its box SNR is at least the search's SNR
    threshold and at least half of what it had before: a dip made by the first flattening
    does not survive that, and two-transit periods (two unrelated dips paired) are not kept.  The correlated-
    noise cut (:data:`SNR_THRESHOLD` on ``mes_red``) applies to kept rows as to all others.
    """
    from astropy.table import vstack


    def num(row, name):
        return float(getattr(row[name], "value", row[name]))

    periods = [num(r, "pl_orbper") for r in found]
    lost = []
    for r in previous:
        p = num(r, "pl_orbper")
        if not np.isfinite(p):
            continue  # single events are searched for again after the periodic ones
        if any(np.isfinite(q) and abs(q / p - 1.0) < _SAME_PERIOD for q in periods):
            continue
        lost.append(r)
    room = max_planets - len(found)
    if not lost or room <= 0:
        return found
    try:
        again = ephemerides_in_data(flat, [{"pl_orbper": num(r, "pl_orbper"), "pl_tranmid": num(r, "pl_tranmid"),
                                            "pl_trandurh": num(r, "pl_trandurh")} for r in lost])
    except (NoTransitInDataError, InvalidParameterError):
        return found
    if len(again) != len(lost):
        return found  # one fell out of the data: keep the pass as it is
    # Three transits at least: a two-transit "period" lost by the later pass is the pairing
    # of two unrelated dips that the docstring of search_masked warns about (the quiet K2
    # star EPIC 248045685 gave two such 26-28-d rows).
    keep = [i for i in range(len(lost))
            if int(again["n_transits"][i]) >= 3
            and float(again["snr"][i]) >= max(DEFAULT_SNR_THRESHOLD, 0.5 * float(lost[i]["snr"]))]
    keep = sorted(keep, key=lambda i: -float(again["snr"][i]))[:room]
    if not keep:
        return found
    add = again[keep][[c for c in found.colnames if c in again.colnames]]
    add["sde"] = [float(lost[i]["sde"]) for i in keep]
    add["harmonic_of"] = 0
    add["planet_index"] = np.arange(len(found) + 1, len(found) + 1 + len(keep))
    out = vstack([found, add], metadata_conflicts="silent")
    out.meta["kept_from_earlier_pass"] = len(keep)
    return out


#: Columns :func:`merge_secondaries` adds (one definition each; see the column table of the book).
MERGED_SECONDARY_COLUMNS = (
    ("merged_secondary_index", "", "planet_index of a search signal at this row's period and another "
                                   "phase, merged into this row as its secondary eclipse (0: none)"),
    ("merged_secondary_phase", "", "phase of that signal after this row's transit (0..1; NaN: none)"),
    ("merged_secondary_depth_ppm", "ppm", "its box depth at this row's duration (the search's depth "
                                          "definition), comparable with pl_trandep"),
    ("merged_secondary_depth_err_ppm", "ppm", "error of that depth"),
    ("merged_secondary_snr", "", "its search SNR"),
    ("eb_secondary", "", "the merged secondary is a stellar eclipse: no planet's occultation can be "
                         "that deep (>= 10 % of pl_trandep, or geometric albedo > 1), and it is not two "
                         "equal dips half an orbit apart (a planet at half the period); flag EB_SECONDARY"),
)

#: Periods closer than this (relative) are the same orbit (the search's own tolerance).
_SAME_PERIOD = 2e-3


def _num(value) -> float:
    value = getattr(value, "value", value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def merge_secondaries(candidates) -> QTable:
    """Merge search signals that are another signal's secondary eclipse into that signal's row.

    A second periodic signal at the period of an earlier (stronger) one and at another phase
    is the same system's secondary eclipse: two planets cannot share an orbit, and the
    search already discards dips right beside an earlier signal's transits.  Its row is
    removed and the primary's row records it in the ``merged_secondary_*`` columns
    (:data:`MERGED_SECONDARY_COLUMNS`), so an eclipsing binary is one candidate, not two.

    Parameters
    ----------
    candidates : astropy.table.QTable
        :func:`astrotinyml.searching.search` output (``pl_orbper``, ``pl_tranmid``,
        ``pl_trandep``, ``snr``, ``planet_index``).

    Returns
    -------
    astropy.table.QTable
        A copy without the merged rows, with the ``merged_secondary_*`` columns on every
        row (0 / NaN where nothing was merged); ``eb_secondary`` is decided by :func:`vet`'s
        numbers in :func:`characterize` (False here).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> import astropy.units as u
    >>> t = QTable(dict(planet_index=[1, 2], pl_orbper=[10.0, 10.0] * u.d,
    ...                 pl_tranmid=[2455000.0, 2455005.2] * u.d, pl_trandurh=[4.0, 4.0] * u.h,
    ...                 pl_trandep=[20000.0, 8000.0], snr=[300.0, 120.0]))
    >>> out = merge_secondaries(t)
    >>> len(out), int(out["merged_secondary_index"][0]), round(float(out["merged_secondary_phase"][0]), 2)
    (1, 2, 0.52)
    """
    from astropy.table import QTable

    table = QTable(candidates, copy=True)
    n = len(table)
    index = np.zeros(n, dtype=int)
    phase, depth, depth_err, snr = (np.full(n, np.nan) for _ in range(4))
    drop: list[int] = []
    if n and {"pl_orbper", "pl_tranmid"} <= set(table.colnames):
        per = np.array([_num(x) for x in table["pl_orbper"]])
        mid = np.array([_num(x) for x in table["pl_tranmid"]])
        pidx = (np.asarray(table["planet_index"], dtype=int) if "planet_index" in table.colnames
                else np.arange(1, n + 1))
        for j in range(n):
            if not np.isfinite(per[j]):
                continue
            for i in range(j):  # earlier rows are the stronger signals
                if i in drop or index[i] or not np.isfinite(per[i]) or abs(per[j] / per[i] - 1.0) > _SAME_PERIOD:
                    continue
                index[i] = pidx[j]
                phase[i] = ((mid[j] - mid[i]) / per[i]) % 1.0
                depth[i] = _num(table["pl_trandep"][j]) if "pl_trandep" in table.colnames else np.nan
                depth_err[i] = _num(table["depth_err_ppm"][j]) if "depth_err_ppm" in table.colnames else np.nan
                snr[i] = _num(table["snr"][j]) if "snr" in table.colnames else np.nan
                drop.append(j)
                break
    table["merged_secondary_index"] = index
    table["merged_secondary_phase"] = phase
    table["merged_secondary_depth_ppm"] = depth
    table["merged_secondary_depth_err_ppm"] = depth_err
    table["merged_secondary_snr"] = snr
    table["eb_secondary"] = np.zeros(n, dtype=bool)
    if drop:
        table.remove_rows(drop)
    return table


def same_duration_secondaries(flat, candidates) -> QTable:
    """Measure each merged secondary eclipse again with its primary's duration.

    The search chose each dip's box duration on its own; for a V-shaped eclipse the best
    box can be 2 h for one eclipse and 7 h for the other, and box depths at different
    durations do not compare (a 7-h box on a 10-h V is ~25 % deep where a 2-h box is
    ~32 %).  Both eclipses of one orbit last about as long (exactly so on a circular
    orbit), so ``merged_secondary_depth_ppm`` and its error are measured here on ``flat``
    with the primary's period and duration at the secondary's phase
    (:func:`astrotinyml.transits.box_depth`, the search's depth definition).

    Parameters
    ----------
    flat : lightkurve.LightCurve
        The flattened light curve the candidates were found in.
    candidates : astropy.table.QTable
        :func:`merge_secondaries` output.

    Returns
    -------
    astropy.table.QTable
        ``candidates`` (the same table, changed in place) with the merged depths measured again.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> t = 2455000 + np.arange(0, 40, 0.02)
    >>> ph = (t - 2455001.0) % 10.0
    >>> f = 1 - 0.2 * (np.abs(ph - 0.0) < 0.15) - 0.1 * (np.abs(ph - 5.0) < 0.15)
    >>> f = np.where(ph > 9.85, 0.8, f)
    >>> c = QTable(dict(planet_index=[1, 2], pl_orbper=[10.0, 10.0] * u.d,
    ...                 pl_tranmid=[2455001.0, 2455006.0] * u.d, pl_trandurh=[7.2, 2.0] * u.h,
    ...                 pl_trandep=[2e5, 1e5], snr=[300.0, 100.0]))
    >>> out = same_duration_secondaries(lk.LightCurve(time=t, flux=f), merge_secondaries(c))
    >>> round(float(out["merged_secondary_depth_ppm"][0]), -3)
    100000.0
    """
    from .candidates import candidate_ephemeris
    from .transits import box_depth, lc_arrays

    if not len(candidates) or "merged_secondary_index" not in candidates.colnames:
        return candidates
    rows = [i for i in range(len(candidates)) if int(candidates["merged_secondary_index"][i])]
    if not rows:
        return candidates
    t, f, _ = lc_arrays(flat)
    for i in rows:
        eph = candidate_ephemeris(candidates[i], time_ref=float(np.median(t)))
        phase = _num(candidates["merged_secondary_phase"][i])
        if eph.single or not np.isfinite(phase):
            continue
        sec = type(eph)(eph.period, eph.t0 + phase * eph.period, eph.duration, math.nan)
        depth, err = box_depth(t, f, sec)
        if np.isfinite(depth):
            candidates["merged_secondary_depth_ppm"][i] = depth
            candidates["merged_secondary_depth_err_ppm"][i] = err
    return candidates


def _eb_secondary(vetted) -> None:
    """Decide ``eb_secondary`` (in place) from the merged secondary and vet's ``ars_implied``."""
    if "merged_secondary_index" not in vetted.colnames:
        return
    flags = [str(f) for f in vetted["vet_flags"]] if "vet_flags" in vetted.colnames else None
    for i in range(len(vetted)):
        if not int(vetted["merged_secondary_index"][i]):
            continue
        ds, dp = _num(vetted["merged_secondary_depth_ppm"][i]), _num(vetted["pl_trandep"][i])
        if not (np.isfinite(ds) and np.isfinite(dp) and dp > 0):
            continue
        ars = _num(vetted["ars_implied"][i]) if "ars_implied" in vetted.colnames else np.nan
        # A planet's occultation is a small fraction of its transit (hot Jupiters: ~3 %) and
        # needs a geometric albedo <= 1 (the same test as vet's SECONDARY / MODSHIFT flags).
        occultation = ds < 0.1 * dp and not (np.isfinite(ars) and ds / dp * ars**2 > 1.0)
        ep = _num(vetted["depth_err_ppm"][i]) if "depth_err_ppm" in vetted.colnames else np.nan
        err = np.hypot(ep, _num(vetted["merged_secondary_depth_err_ppm"][i]))
        # Two equal dips half an orbit apart: a twin binary or a planet at half the period,
        # which vet's odd/even test at P/2 tells apart -- not evidence either way.
        twin = (abs(_num(vetted["merged_secondary_phase"][i]) - 0.5) < 0.02
                and np.isfinite(err) and abs(ds - dp) < 3.0 * err)
        if not occultation and not twin:
            vetted["eb_secondary"][i] = True
            if flags is not None:
                flags[i] = ",".join([f for f in flags[i].split(",") if f] + ["EB_SECONDARY"])
    if flags is not None:
        vetted["vet_flags"] = flags


def _progress_bar(source):
    """(callback, tqdm bar) showing detect's stages and their seconds on stderr."""
    from tqdm import tqdm

    name = source if isinstance(source, str) else Path(os.fspath(source)).name if isinstance(
        source, os.PathLike) else "detect"
    bar = tqdm(total=None, desc=f"{name}: reading", bar_format="{desc}", leave=True)
    done: list[str] = []

    def callback(stage, seconds):
        done.append(f"{stage} {seconds:.1f} s")
        bar.set_description_str(f"{name}: " + ", ".join(done))

    return callback, bar


class Characterized(NamedTuple):
    """Result of :func:`characterize`."""

    #: The candidates with the vet, classifier and calibration columns.
    candidates: Any
    #: :func:`astrotinyml.views.fold_views` of each row, in table order.
    views: list
    #: The host star as used (:class:`~astrotinyml.star.StellarParameters`).
    star: Any
    #: Seconds per stage (``vet``, ``views``, ``classify``, ``calibrate``).
    timings: dict
    #: SHA-256 of the classifier model ("" when not classified).
    model_sha256: str
    #: Calibration applied (None: none).
    calibration_id: Any


def characterize(raw, flat, candidates, *, star: Any = None, stellar_density: Any = None,
                 global_bins: int = 201, local_bins: int = 61, model: Any = None, calibration: Any = None,
                 classify: bool = True, merge: bool = True, progress=None) -> Characterized:
    """Everything :func:`detect` does after the search: merge, vet, fold, classify, calibrate.

    :func:`detect` and the pipeline notebooks call this one function, so a run of the
    notebooks gives the same candidates, labels, probabilities, model SHA-256 and
    calibration id as :func:`detect` on the same light curve.

    Parameters
    ----------
    raw : lightkurve.LightCurve
        The light curve as read (its header gives the star; Lomb-Scargle variability).
    flat : lightkurve.LightCurve
        The light curve detrended with the candidates' transits masked.
    candidates : astropy.table.QTable
        The search's candidates (:func:`search_masked`).
    star, stellar_density, global_bins, local_bins, model, calibration
        As in :func:`detect`.
    classify : bool
        Run the classifier (False: vet and views only).
    merge : bool
        :func:`merge_secondaries` first (detect turns it off for ephemerides the user gave).
    progress : callable, optional
        Called as ``progress(stage, seconds)`` when each stage ends.

    Returns
    -------
    Characterized
        ``candidates``, ``views``, ``star``, ``timings``, ``model_sha256``, ``calibration_id``.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> from astrotinyml.detrending import detrend
    >>> rng = np.random.default_rng(3)
    >>> t = 2458000 + np.arange(0, 12, 0.01)
    >>> flux = 1 + 5e-4 * rng.normal(size=t.size)
    >>> flux[np.abs((t - 2458000.7 + 1.25) % 2.5 - 1.25) < 0.05] -= 0.01
    >>> lc = lk.LightCurve(time=t, flux=flux)
    >>> found = search_masked(lc, detrend(lc), max_planets=1)
    >>> res = characterize(lc, found.flat, found.candidates)
    >>> len(res.views), res.candidates.meta["classifier_calibrated"]
    (1, True)
    """

    timings: dict[str, float] = {}

    def lap(name, t_start):
        timings[name] = _time.perf_counter() - t_start
        if progress is not None:
            progress(name, timings[name])

    t = _time.perf_counter()
    if merge:
        candidates = same_duration_secondaries(flat, merge_secondaries(candidates))
    stellar = stellar_parameters(raw, star=star)
    vetted = vet(flat, candidates, raw_lc=raw, star=stellar, stellar_density=stellar_density)
    _eb_secondary(vetted)
    if merge and len(vetted):
        # The detection threshold on the correlated-noise scale (the search's own thresholds
        # assume white noise, which K2 and spotted-star residuals are not).
        keep = ~(np.asarray(vetted["mes_red"], dtype=float) < SNR_THRESHOLD)
        if not keep.all():  # slicing a ~130-column QTable costs ~0.05 s: only when needed
            vetted = vetted[keep]
    lap("vet", t)

    t = _time.perf_counter()
    views = fold_all(flat, vetted, global_bins=global_bins, local_bins=local_bins)
    lap("views", t)

    calibration_id = None
    if classify:
        t = _time.perf_counter()
        # vetted is this function's own table (vet made it): labelled in place, not copied
        vetted = run_classifier(flat, vetted, views=views, model=model, calibration=False, copy=False)
        lap("classify", t)
        if calibration is not False:
            # The latest calibration run (or the one named, or the default shipped beside the
            # model): calibrated p_* / label, depth and duration corrected for detrending
            # losses -- what classify() does by default, timed apart.

            t = _time.perf_counter()
            vetted = apply_calibration(vetted, calibration)
            calibration_id = vetted.meta.get("calibration_id")
            lap("calibrate", t)
    # After the classifier: its log_snr input stays what it was trained on (vet_snr, else
    # the search's snr).
    vetted = correlated_snr(vetted)
    return Characterized(candidates=vetted, views=views, star=stellar, timings=timings,
                         model_sha256=str(vetted.meta.get("classifier_sha256", "")),
                         calibration_id=calibration_id)


@single_thread_blas()
def detect(
    source: Any,
    *,
    time_format: str | None = None,
    flux_column: str | None = None,
    mission: str | None = None,
    detrend_method: str = "biweight",
    window_length: float | None = None,
    prewhiten: bool = True,
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
    progress: Any = None,
) -> DetectionResult:
    """Find and vet transit candidates in one star's light curve.

    Parameters
    ----------
    source : str, path-like, list of paths, or lightkurve.LightCurve
        A light-curve file, several files of the same star (quarters, sectors: read and
        stitched), or a LightCurve already in memory (normalized to 1 if it is not).
        The exact name of a bundled sample (``"kepler-90"``, ``"wasp-18"``: the names
        :func:`astrotinyml.datasets.list_samples` lists) reads its bundled files.  Any other
        string that is not an existing file and does not look like a path is taken as a
        target name and fetched with :func:`astrotinyml.remote.mast.fetch_lightcurve` (from the
        cache when it is warm; offline mode raises OfflineError naming what is missing).
    time_format, flux_column, mission : str, optional
        Passed to :func:`astrotinyml.io.read.read_lightcurve` (time system of text files, flux
        column, mission when the file does not say it).
    detrend_method : str
        wotan method for :func:`astrotinyml.detrending.detrend` (default ``"biweight"``).
    window_length : float, optional
        Detrending window in days; default :func:`astrotinyml.detrending.default_window_length`.
    prewhiten : bool
        Divide out the coherent variability (pulsation, fast rotation) the window leaves
        (:func:`astrotinyml.detrending.coherent_variability`); default True.  False keeps
        the filter's residual as it is (e.g. to study a star's variability).
    period_min, period_max : float, optional
        Period range of the search in days (defaults of :func:`astrotinyml.searching.search`).
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
        stops early when a pass finds the same signals, or when masking the transits leaves
        every detrended flux as it was (the next pass would search the same numbers).  1 is
        the single search of earlier versions (faster, but long transits come out shallow,
        short or paired falsely).
    star : StellarParameters or dict, optional
        The host star's parameters given by the user (``{"radius": 0.4, "mass": 0.4}``, solar
        units; see :func:`astrotinyml.star.stellar_parameters`); they take precedence over
        the file header and the bundled KOI/TOI/K2 snapshots, which are used otherwise.  The
        star's radius and density enter the vetting (companion radius, density test) and the
        classifier; a companion no planet can be is never labelled ``planet``.
    stellar_density : float or Quantity, optional
        Stellar density in g/cm^3 for the density test of :func:`astrotinyml.vetting.vet`
        (default: from ``star``'s radius and mass or logg when they are known).
    global_bins, local_bins : int
        Bin counts of the views (see :func:`astrotinyml.views.fold_views`); the shipped
        classifier needs the defaults (201, 61).
    model : None, 'int8', 'float32', path or TFLiteModel
        Classifier for :func:`astrotinyml.classification.classify` (None: the shipped int8 model).
    calibration : None, str, Calibration or False
        Calibration applied by :func:`astrotinyml.calibration.store.apply_calibration`: None for the
        latest run in the calibration database (else the default shipped with the model), a
        run id, a :class:`~astrotinyml.calibration.store.Calibration`, or False for none.
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
    progress : callable or True, optional
        Called as ``progress(stage, seconds)`` as each stage ends (``read``, ``detrend``,
        ``search``, ``redetrend``, ``vet``, ``views``, ``classify``, ``calibrate``, ``fit``);
        the command line prints these times to stderr.  True shows them on a tqdm bar
        (stderr; a notebook shows it under the cell).

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

    watch = _Stopwatch(progress, source)
    t = _time.perf_counter()
    raw, described = _load(source, time_format=time_format, flux_column=flux_column, mission=mission)
    watch.lap("read", t)
    target = _target(raw, described)

    if fit not in FIT_CHOICES:
        raise InvalidParameterError(f"fit={fit!r} is not one of {FIT_CHOICES}: 'lsq' for the fast "
                                    "least-squares transit fit, 'mcmc' for posteriors, 'none' for no fit.")
    t = _time.perf_counter()
    flat0 = detrend(raw, method=detrend_method, window_length=window_length, prewhiten=prewhiten)
    watch.lap("detrend", t)

    flat, candidates, passes_run = _find_signals(
        raw, flat0, watch, ephemerides=ephemerides, search_passes=search_passes, detrend_method=detrend_method,
        window_length=window_length, prewhiten=prewhiten, period_min=period_min, period_max=period_max, max_planets=max_planets,
        min_transits=min_transits, sde_threshold=sde_threshold)

    # Merge secondaries, vet, fold, classify, calibrate: one function, which the pipeline
    # notebooks call too (same answer from both).  Known ephemerides are never merged.
    stage = characterize(raw, flat, candidates, star=star, stellar_density=stellar_density,
                         global_bins=global_bins, local_bins=local_bins, model=model,
                         calibration=calibration, merge=ephemerides is None, progress=watch.progress)
    vetted, views, stellar, calibration_id = stage.candidates, stage.views, stage.star, stage.calibration_id
    watch.timings.update(stage.timings)

    if fit != "none" and len(vetted):
        t = _time.perf_counter()
        vetted = fit_transit(flat, vetted, star=stellar, method=fit, progress=fit_progress)
        watch.lap("fit", t)
    timings = watch.stop()

    meta = getattr(flat, "meta", {}) or {}
    options = dict(
        source=described if not isinstance(described, list) else list(described),
        time_format=time_format, flux_column=flux_column, mission=mission or (raw.meta or {}).get("mission"),
        detrend_method=detrend_method,
        window_length=meta.get("DETREND_WINDOW", window_length), prewhiten=prewhiten,
        prewhitened_periods=meta.get("DETREND_PREWHITENED", ""),
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


class _Stopwatch:
    """Per-stage timings of one :func:`detect` call, passed to ``progress`` as they come."""

    def __init__(self, progress, source):
        self.timings: dict[str, float] = {}
        self.start = _time.perf_counter()
        self.bar = None
        if progress is True:
            progress, self.bar = _progress_bar(source)
        self.progress = progress

    def lap(self, name: str, t_start: float) -> None:
        self.timings[name] = _time.perf_counter() - t_start
        if self.progress is not None:
            self.progress(name, self.timings[name])

    def stop(self) -> dict[str, float]:
        self.timings["total"] = _time.perf_counter() - self.start
        if self.bar is not None:
            self.bar.close()
        return self.timings


def _find_signals(raw, flat0, watch: _Stopwatch, *, ephemerides, search_passes, detrend_method, window_length,
                  prewhiten, period_min, period_max, max_planets, min_transits, sde_threshold):
    """(flattened light curve, candidates, search passes run): the known ephemerides placed on
    the data, or the search (with its passes on re-flattened data)."""
    timings = watch.timings
    if ephemerides is not None:
        flat, candidates, timings["search"], timings["redetrend"] = _known_signals(
            raw, flat0, ephemerides, detrend_method=detrend_method, window_length=window_length,
            prewhiten=prewhiten)
        passes_run = 0
    else:
        passes = search_masked(raw, flat0, passes=search_passes, detrend_method=detrend_method,
                               window_length=window_length, prewhiten=prewhiten, period_min=period_min, period_max=period_max,
                               max_planets=max_planets, min_transits=min_transits, sde_threshold=sde_threshold)
        flat, candidates = passes.flat, passes.candidates
        timings["search"], timings["redetrend"] = passes.search_s, passes.redetrend_s
        passes_run = passes.passes_run
    if watch.progress is not None:
        watch.progress("search", timings["search"])
        watch.progress("redetrend", timings["redetrend"])
    return flat, candidates, passes_run
