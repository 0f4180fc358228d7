"""Interactive candidate explorer for Jupyter (ipywidgets).

:func:`explore` shows one star's transit candidates: pick a candidate, see its light curve,
global fold, local fold with odd and even transits overlaid, and the window at the secondary
phase, then adjust the period, the epoch and the duration with sliders (or double / halve the
period, the classic eclipsing-binary check) and watch the folds and the odd/even and secondary
statistics update.  The detrending window can be changed (the raw light curve is detrended
again with the candidates' transits masked), and a *classify* button shows the classifier's
probabilities once the classifier ships.

Everything the widgets do goes through plain methods (:meth:`Explorer.set_ephemeris`,
:meth:`Explorer.select`, :meth:`Explorer.redetrend`, :meth:`Explorer.classify`) and pure
functions (:func:`candidate_row`, :func:`folded_data`; the fold and the binned medians are
:func:`astrotinyml.transits.fold_phase` and :func:`~astrotinyml.transits.binned_median`, as in
the reports), so the explorer works and is tested without a browser.  The figure is a
matplotlib ``Figure`` (no pyplot state) rendered to PNG into an ``ipywidgets.Image``, so it
needs no ipympl and the notebook keeps a static picture when saved.

This module imports ipywidgets; ``import astrotinyml`` does not import it.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np

from ..classification import classify
from ..detection import DetectionResult, detect
from ..detrending import detrend
from ..errors import AstroTinyMLError, InvalidParameterError
from ..transits import bin_centres, binned_median, fold_phase
from ..vetting import VET_COLUMNS, vet
from .pipeline import classifier_status, load_result

__all__ = ["explore", "Explorer", "fold_phase", "candidate_row", "folded_data", "classifier_available"]

_EPHEMERIS = ("pl_orbper", "pl_tranmid", "pl_trandurh")


# ----------------------------------------------------------------------------------------------
# Pure functions


def _plain(value) -> Any:
    # Not candidates.plain: these rows are rebuilt into a QTable (_edited_table), so NaN must
    # stay a float (None would make an object column) and vector cells stay arrays.
    value = getattr(value, "value", value)
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _ms_mask(value) -> bool:
    return bool(np.ma.is_masked(value))


def candidate_row(candidates, index: int, *, period: float | None = None, t0: float | None = None,
                  duration_h: float | None = None) -> dict[str, Any]:
    """One candidate as a plain dict (values in the contract's units), ephemeris optionally replaced.

    Parameters
    ----------
    candidates : astropy.table.Table or QTable
        Candidates table (``pl_orbper`` [d], ``pl_tranmid`` [BJD_TDB], ``pl_trandurh`` [h], ...).
    index : int
        Row number.
    period, t0, duration_h : float, optional
        Replace ``pl_orbper`` [d], ``pl_tranmid`` [d] and ``pl_trandurh`` [h].

    Returns
    -------
    dict

    Examples
    --------
    >>> from astropy.table import QTable
    >>> t = QTable({"pl_orbper": [2.0], "pl_tranmid": [2458000.5], "pl_trandurh": [3.0]})
    >>> candidate_row(t, 0, period=4.0)["pl_orbper"]
    4.0
    """
    if not 0 <= index < len(candidates):
        raise InvalidParameterError(f"candidate index {index} out of range (table has {len(candidates)} rows)")
    row = {}
    for name in candidates.colnames:
        value = candidates[name][index]
        row[name] = None if _ms_mask(value) else _plain(value)
    for key, value in (("pl_orbper", period), ("pl_tranmid", t0), ("pl_trandurh", duration_h)):
        if value is not None:
            row[key] = float(value)
    return row


def folded_data(time_jd, flux, *, period: float, t0: float, duration_h: float,
                secondary_phase: float = 0.5, nbins: int = 61) -> dict[str, np.ndarray]:
    """Arrays the explorer plots for one ephemeris (pure function, no plotting).

    Parameters
    ----------
    time_jd : array-like
        Times [d, full BJD_TDB].
    flux : array-like
        Flattened, normalized flux.
    period : float
        Period [d] (NaN for a single event).
    t0 : float
        Mid-transit time [d, full BJD_TDB].
    duration_h : float
        Transit duration [h].
    secondary_phase : float
        Phase of the secondary window (0..1).
    nbins : int
        Bins of the local, odd, even and secondary curves.

    Returns
    -------
    dict of str to numpy.ndarray
        ``time`` and ``flux`` (finite points), ``phase`` (global x, in periods), ``local_x`` / ``local_y`` (points within
        +-2 durations, x in hours), ``bin_x`` (hours), ``local``, ``odd``, ``even``,
        ``secondary`` (binned medians, NaN in empty bins), ``transit_times`` (full BJD).

    Examples
    --------
    >>> import numpy as np
    >>> t = 2458000 + np.arange(0, 10, 0.005)
    >>> f = np.where(np.abs(fold_phase(t, 1.0, 2458000.25)) < 0.04, 0.99, 1.0)
    >>> d = folded_data(t, f, period=1.0, t0=2458000.25, duration_h=1.92)
    >>> float(np.nanmin(d["local"])), len(d["transit_times"])
    (0.99, 10)
    """
    t = np.asarray(time_jd, dtype=float)
    f = np.asarray(flux, dtype=float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    dur = float(duration_h) / 24.0
    half = 2.0 * dur
    dt = fold_phase(t, period, t0)
    near = np.abs(dt) < half
    bx = bin_centres(-half, half, nbins)
    local = binned_median(dt, f, -half, half, nbins)
    out = {"time": t, "flux": f, "local_x": dt[near] * 24.0, "local_y": f[near], "bin_x": bx * 24.0, "local": local}
    if math.isfinite(period):
        out["phase"] = dt / period
        epoch = np.round((t - t0) / period).astype(int)
        odd = (epoch % 2) == 0
        out["odd"] = binned_median(dt[odd], f[odd], -half, half, nbins)
        out["even"] = binned_median(dt[~odd], f[~odd], -half, half, nbins)
        ds = fold_phase(t, period, t0 + secondary_phase * period)
        out["secondary"] = binned_median(ds, f, -half, half, nbins)
        first = t0 + np.ceil((t[0] - t0) / period) * period if t.size else t0
        out["transit_times"] = np.arange(first, t[-1] + 1e-9, period) if t.size else np.array([])
    else:
        span = max(abs(t[0] - t0), abs(t[-1] - t0)) if t.size else 1.0
        out["phase"] = dt / span * 0.5
        out["odd"] = local.copy()
        out["even"] = np.full(nbins, np.nan)
        out["secondary"] = np.full(nbins, np.nan)
        out["transit_times"] = np.array([t0])
    return out


def classifier_available() -> bool:
    """Whether this installation can classify (module, shipped model and LiteRT present).

    Examples
    --------
    >>> from astrotinyml.apps.widgets import classifier_available
    >>> isinstance(classifier_available(), bool)
    True
    """
    return classifier_status()[0]


# ----------------------------------------------------------------------------------------------
# The widget


def _as_inputs(source, candidates):
    """(raw, flat, candidates, target) from what explore() was given."""
    import lightkurve as lk  # lightkurve stays out of ``import astrotinyml``

    if isinstance(source, (str,)) or hasattr(source, "__fspath__"):
        p = Path(source)
        if p.is_dir():
            source = load_result(p)
        else:
            source = detect(p)
    if isinstance(source, DetectionResult):
        cands = source.candidates if candidates is None else candidates
        return source.raw, source.flat, cands, source.target
    if isinstance(source, lk.LightCurve):
        if candidates is None:
            res = detect(source)
            return res.raw, res.flat, res.candidates, res.target
        raw = source
        flat = detrend(raw, mask=candidates) if len(candidates) else detrend(raw)
        return raw, flat, candidates, str(raw.meta.get("target") or "light curve")
    raise InvalidParameterError(
        f"explore: expected a DetectionResult, a lightkurve.LightCurve, a light-curve file or a "
        f"pipeline run directory; got {type(source).__name__}")


def _widen(slider, value: float) -> None:
    """Widen ``slider``'s range to include ``value`` (ipywidgets would clamp it silently)."""
    if value > slider.max:
        slider.max = value + 0.25 * (value - slider.min)
    if value < slider.min:
        slider.min = value - 0.25 * (slider.max - value)


class Explorer(w.VBox):
    """The explorer widget returned by :func:`explore` (an ``ipywidgets.VBox``).

    Attributes
    ----------
    raw, flat : lightkurve.LightCurve
        The light curve before and after detrending (``flat`` changes with the window).
    candidates : astropy.table.QTable
        The candidates shown.
    index : int
        Selected candidate.
    period_factor : float
        Product of the *x2* and */2* presses since the candidate was selected.
    period, t0, duration_h : float
        Ephemeris currently folded on ([d], [d, full BJD_TDB], [h]).
    data : dict
        :func:`folded_data` of the current ephemeris (what the figure shows).
    stats : dict
        Vetting numbers of the current ephemeris (depth, odd/even, secondary).
    figure : matplotlib.figure.Figure
        The figure, updated in place; ``lines`` holds its artists by name.
    candidate_picker, period_slider, epoch_slider, duration_slider, window_slider : ipywidgets
        The controls (sliders use ``continuous_update=False``).
    double_button, halve_button, reset_button, classify_button : ipywidgets.Button
    image : ipywidgets.Image
        The figure as PNG.
    info, classification : ipywidgets.HTML
        Statistics of the current fold; classifier output (or why there is none).
    """

    def __init__(self, raw, flat, candidates, *, target="", nbins=61):
        super().__init__()
        if candidates is None or len(candidates) == 0:
            raise InvalidParameterError(
                f"explore: {target or 'this light curve'} has no candidates to explore; pass a candidates "
                "table (pl_orbper, pl_tranmid, pl_trandurh) or a light curve with a detectable signal.")
        missing = [c for c in _EPHEMERIS if c not in candidates.colnames]
        if missing:
            raise InvalidParameterError(f"explore: candidates table lacks column(s) {', '.join(missing)}")
        self.raw, self.flat, self.candidates, self.target = raw, flat, candidates, target
        self.nbins = nbins
        self.index = 0
        self._busy = False
        self.stats: dict[str, float] = {}
        self.data: dict[str, np.ndarray] = {}
        self.classification_result: dict[str, Any] | None = None

        self._make_controls()
        self._make_figure()
        self._connect()
        controls = w.VBox([self.candidate_picker, self.period_slider, self.epoch_slider, self.duration_slider,
                           self.window_slider,
                           w.HBox([self.double_button, self.halve_button, self.reset_button, self.classify_button])])
        self.children = [w.HTML(f"<b>{target}</b>: {len(candidates)} candidate(s)"),
                         w.HBox([controls, w.VBox([self.info, self.classification])]), self.image]
        self.select(0)

    def _candidate_options(self) -> list[tuple[str, int]]:
        """The picker's entries: ``#n: P=... d, ... ppm`` (or ``single event``) per candidate."""
        options = []
        for i in range(len(self.candidates)):
            row = candidate_row(self.candidates, i)
            p = row["pl_orbper"]
            per = f"P={p:.5f} d" if p is not None and math.isfinite(p) else "single event"
            depth = row.get("pl_trandep")
            dep = f", {depth:.0f} ppm" if depth is not None and math.isfinite(depth) else ""
            options.append((f"#{i + 1}: {per}{dep}", i))
        return options

    def _make_controls(self) -> None:
        """The picker, sliders, buttons and output areas (ranges are set by :meth:`select`)."""
        style = {"description_width": "110px"}
        layout = w.Layout(width="480px")
        self.candidate_picker = w.Dropdown(options=self._candidate_options(), value=0, description="candidate",
                                           style=style, layout=layout)
        self.period_slider = w.FloatSlider(description="period [d]", continuous_update=False, readout_format=".5f",
                                           style=style, layout=layout)
        self.epoch_slider = w.FloatSlider(description="epoch shift [h]", continuous_update=False,
                                          readout_format=".2f", style=style, layout=layout)
        self.duration_slider = w.FloatSlider(description="duration [h]", continuous_update=False,
                                             readout_format=".2f", style=style, layout=layout)
        window = (self.flat.meta or {}).get("DETREND_WINDOW")
        self.window_slider = w.FloatSlider(value=float(window) if window else 0.5, min=0.1, max=3.0, step=0.05,
                                           description="detrend window [d]", continuous_update=False,
                                           readout_format=".2f", style=style, layout=layout,
                                           disabled=self.raw is None)
        self.double_button = w.Button(description="period x2", tooltip="eclipsing binary at twice the period?")
        self.halve_button = w.Button(description="period /2", tooltip="found at twice the true period?")
        self.reset_button = w.Button(description="reset", tooltip="back to the candidate's ephemeris")
        self.classify_button = w.Button(description="classify", button_style="info",
                                        tooltip="class probabilities of the current fold")
        self.image = w.Image(format="png", layout=w.Layout(width="100%"))
        self.info = w.HTML()
        self.classification = w.HTML()

    def _connect(self) -> None:
        """Each control calls the method that does its work."""
        self.candidate_picker.observe(lambda ch: self.select(ch["new"]), names="value")
        for s in (self.period_slider, self.epoch_slider, self.duration_slider):
            s.observe(self._on_slider, names="value")
        self.window_slider.observe(lambda ch: self.redetrend(ch["new"]), names="value")
        self.double_button.on_click(lambda _: self.scale_period(2.0))
        self.halve_button.on_click(lambda _: self.scale_period(0.5))
        self.reset_button.on_click(lambda _: self.select(self.index))
        self.classify_button.on_click(lambda _: self.classify())

    # -- state changes ---------------------------------------------------------------------

    def select(self, index: int) -> None:
        """Show candidate ``index`` with its own ephemeris (sliders reset around it)."""
        row = candidate_row(self.candidates, int(index))
        self.index = int(index)
        self.period_factor = 1.0
        period = row["pl_orbper"] if row["pl_orbper"] is not None else math.nan
        dur = float(row["pl_trandurh"])
        self._base = dict(period=float(period), t0=float(row["pl_tranmid"]), duration_h=dur)
        self._busy = True
        try:
            if self.candidate_picker.value != self.index:
                self.candidate_picker.value = self.index
            self._set_period_range(period)
            self.epoch_slider.min, self.epoch_slider.max = -1e9, 1e9
            self.epoch_slider.value = 0.0
            self.epoch_slider.min, self.epoch_slider.max = -2.0 * dur, 2.0 * dur
            self.epoch_slider.step = dur / 100.0
            self.duration_slider.min, self.duration_slider.max = 0.0, 1e9
            self.duration_slider.value = dur
            self.duration_slider.min, self.duration_slider.max = 0.25 * dur, 3.0 * dur
            self.duration_slider.step = dur / 100.0
        finally:
            self._busy = False
        self.classification.value = ""
        self.classification_result = None
        self.refold()

    def _set_period_range(self, period: float) -> None:
        single = not math.isfinite(period)
        for s in (self.period_slider, self.double_button, self.halve_button):
            s.disabled = single
        if single:
            return
        self.period_slider.min, self.period_slider.max = 0.0, 1e9
        self.period_slider.value = period
        self.period_slider.min, self.period_slider.max = 0.99 * period, 1.01 * period
        self.period_slider.step = period * 1e-5

    def scale_period(self, factor: float) -> None:
        """Multiply the current period by ``factor`` (the slider range follows)."""
        if not math.isfinite(self.period):
            return
        self.period_factor *= factor
        self._busy = True
        try:
            self._set_period_range(self.period * factor)
        finally:
            self._busy = False
        self.refold()

    def set_ephemeris(self, *, period: float | None = None, epoch_shift_h: float | None = None,
                      duration_h: float | None = None) -> None:
        """Set the ephemeris programmatically and re-fold once (same as moving the sliders).

        A value outside a slider's range widens the range to include it: the explorer
        folds on exactly the value given, never on a clamped one.

        Parameters
        ----------
        period : float, optional
            Period [d] (> 0; ignored for a single event).
        epoch_shift_h : float, optional
            Shift of the mid-transit time from the candidate's, in hours.
        duration_h : float, optional
            Transit duration [h] (> 0).

        Raises
        ------
        InvalidParameterError
            A period or duration that is not a positive finite number.

        Examples
        --------
        >>> ex.set_ephemeris(period=2 * ex.period)  # doctest: +SKIP
        >>> ex.period_slider.min < ex.period < ex.period_slider.max  # doctest: +SKIP
        True
        """
        if not math.isfinite(self._base["period"]):
            period = None  # a single event has no period to set
        for name, value in (("period", period), ("duration_h", duration_h)):
            if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
                raise InvalidParameterError(f"set_ephemeris: {name} must be a positive number, got {value!r}")
        if epoch_shift_h is not None and not math.isfinite(float(epoch_shift_h)):
            raise InvalidParameterError(f"set_ephemeris: epoch_shift_h must be finite, got {epoch_shift_h!r}")
        self._busy = True
        try:
            if period is not None and math.isfinite(self._base["period"]):
                period = float(period)
                if not self.period_slider.min <= period <= self.period_slider.max:
                    # Re-centred on the new value (a doubled period is a new search window).
                    self.period_factor *= period / self.period
                    self._set_period_range(period)
                self.period_slider.value = period
            if epoch_shift_h is not None:
                _widen(self.epoch_slider, float(epoch_shift_h))
                self.epoch_slider.value = float(epoch_shift_h)
            if duration_h is not None:
                _widen(self.duration_slider, float(duration_h))
                self.duration_slider.value = float(duration_h)
        finally:
            self._busy = False
        self.refold()

    def _on_slider(self, _change) -> None:
        if not self._busy:
            self.refold()

    @property
    def period(self) -> float:
        """Period folded on [d]; NaN for a single event."""
        return float(self.period_slider.value) if math.isfinite(self._base["period"]) else math.nan

    @property
    def t0(self) -> float:
        """Mid-transit time folded on [d, full BJD_TDB]: the candidate's, shifted by the epoch slider."""
        return self._base["t0"] + float(self.epoch_slider.value) / 24.0

    @property
    def duration_h(self) -> float:
        """Transit duration folded on [h]."""
        return float(self.duration_slider.value)

    def redetrend(self, window_length: float) -> None:
        """Detrend the raw light curve again with a window of ``window_length`` days.

        The candidates' transits stay masked from the trend fit, as in the pipeline.
        """
        if self.raw is None:
            return
        method = (self.flat.meta or {}).get("DETREND_METHOD", "biweight")
        self.flat = detrend(self.raw, method=method, window_length=float(window_length), mask=self.candidates)
        self.refold()

    def classify(self) -> dict[str, Any] | None:
        """Class probabilities of the current fold, shown under the statistics.

        Returns
        -------
        dict or None
            ``label`` and ``p_*`` values, or None when the classifier is not installed yet
            (the widget says so; nothing is made up).
        """
        ok, why = classifier_status()
        if not ok:
            self.classification.value = f"<i>Classification is not available yet: {why}.</i>"
            self.classification_result = None
            return None
        try:
            # Calibrated, as detect() gives it (classify's default).
            out = classify(self.flat, self._edited_table(), raw_lc=self.raw)
        except AstroTinyMLError as err:  # shown in the widget: a button callback must not die silently
            self.classification.value = f"<i>classification failed: {err}</i>"
            self.classification_result = None
            return None
        k = self.index
        probs = {c: float(_plain(out[c][k])) for c in out.colnames if c.startswith("p_")}
        label = str(out["label"][k]) if "label" in out.colnames else ""
        self.classification_result = {"label": label, **probs}
        cells = "".join(f"<tr><td>{k[2:]}</td><td>{v:.3f}</td></tr>" for k, v in probs.items())
        self.classification.value = f"<b>label: {label}</b><table>{cells}</table>"
        return self.classification_result

    # -- drawing ---------------------------------------------------------------------------

    def _make_figure(self) -> None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 6.2), dpi=90)
        gs = fig.add_gridspec(2, 3, height_ratios=[1, 1.2])
        ax_lc = fig.add_subplot(gs[0, :])
        ax_g, ax_l, ax_s = (fig.add_subplot(gs[1, i]) for i in range(3))
        self.axes = {"lc": ax_lc, "global": ax_g, "local": ax_l, "secondary": ax_s}
        L = {}
        (L["lc"],) = ax_lc.plot([], [], ".", ms=1, color="0.35", rasterized=True)
        (L["transits"],) = ax_lc.plot([], [], "v", ms=5, color="tab:red")
        (L["global_points"],) = ax_g.plot([], [], ".", ms=1, color="0.6", rasterized=True)
        (L["local_points"],) = ax_l.plot([], [], ".", ms=1.5, color="0.7", rasterized=True)
        (L["local"],) = ax_l.plot([], [], "-", color="k", lw=1.2, label="all")
        (L["odd"],) = ax_l.plot([], [], "-", color="tab:blue", lw=1, alpha=0.8, label="odd")
        (L["even"],) = ax_l.plot([], [], "-", color="tab:red", lw=1, alpha=0.8, label="even")
        (L["primary_ref"],) = ax_s.plot([], [], "-", color="0.75", lw=1, label="primary")
        (L["secondary"],) = ax_s.plot([], [], "o-", ms=2, color="tab:orange", lw=1, label="secondary")
        ax_l.legend(fontsize="small", loc="lower right")
        ax_s.legend(fontsize="small", loc="lower right")
        ax_lc.set_ylabel("flattened flux")
        ax_g.set_xlabel("phase")
        ax_l.set_xlabel("hours from mid-transit")
        ax_s.set_xlabel("hours from secondary phase")
        ax_g.set_ylabel("flattened flux")
        ax_g.set_title("global fold", fontsize=10)
        ax_l.set_title("local: odd / even", fontsize=10)
        self.figure, self.lines = fig, L

    def refold(self) -> None:
        """Recompute the fold and the statistics for the current ephemeris and redraw."""
        t = np.asarray(self.flat.time.jd, dtype=float)
        f = np.asarray(self.flat.flux.value, dtype=float)
        self.stats = self._stats(t, f)
        sec_phase = self.stats.get("secondary_phase", 0.5)
        if not (isinstance(sec_phase, float) and math.isfinite(sec_phase)):
            sec_phase = 0.5
        d = folded_data(t, f, period=self.period, t0=self.t0, duration_h=self.duration_h,
                        secondary_phase=sec_phase, nbins=self.nbins)
        self.data = d
        self.stats["n_transits"] = len(d["transit_times"])
        self._draw(t, d, sec_phase)
        self.info.value = self._info_html()

    def _edited_table(self):
        """The candidates with this row's ephemeris as edited and without the vet/classifier columns."""
        from astropy.table import QTable  # astropy.table stays out of ``import astrotinyml``

        # The whole table: the other candidates' transits are left out of this one's
        # measurement as in detect(); the vet columns are dropped so that vet measures the
        # edited ephemeris instead of reusing the old numbers.
        vet_cols = {name for name, _, _ in VET_COLUMNS}
        names = [c for c in self.candidates.colnames if c not in vet_cols and c != "label"
                 and not c.startswith("p_") and c != "label_note"]
        rows = [candidate_row(self.candidates, i) for i in range(len(self.candidates))]
        rows[self.index] = candidate_row(self.candidates, self.index, period=self.period, t0=self.t0,
                                         duration_h=self.duration_h)
        return QTable(rows=[[r[c] for c in names] for r in rows], names=names)

    def _stats(self, t, f) -> dict[str, float]:
        """vet's numbers for the current ephemeris: the same definitions as the reports'."""
        # One definition of each statistic: astrotinyml.vet's (central-half depths, red-noise
        # errors, the secondary at the phase where it is most significant), so the explorer
        # and the PDF/JSON report agree on the same fold.
        row = vet(self.flat, self._edited_table(), modshift=False)[self.index]
        out = {"depth_ppm": float(row["vet_depth_ppm"]), "depth_err_ppm": float(row["vet_depth_err_ppm"]),
               "vet_snr": float(row["vet_snr"])}
        dt = fold_phase(t, self.period, self.t0)
        out["n_in_transit"] = int(np.count_nonzero(np.abs(dt) < 0.25 * self.duration_h / 24.0))
        if math.isfinite(self.period):
            out.update(depth_odd_ppm=float(row["depth_odd_ppm"]), depth_even_ppm=float(row["depth_even_ppm"]),
                       oddeven_sigma=float(row["oddeven_sigma"]), secondary_phase=float(row["secondary_phase"]),
                       secondary_depth_ppm=float(row["secondary_depth_ppm"]),
                       secondary_sigma=float(row["secondary_sigma"]))
        return out

    def _info_html(self) -> str:
        s = self.stats
        per = f"{self.period:.5f} d" if math.isfinite(self.period) else "single event"
        rows = [("period", per), ("epoch", f"{self.t0:.5f} BJD"), ("duration", f"{self.duration_h:.2f} h"),
                ("depth", f"{s['depth_ppm']:.0f} ± {s['depth_err_ppm']:.0f} ppm")]
        if "oddeven_sigma" in s:
            rows += [("odd / even", f"{s['depth_odd_ppm']:.0f} / {s['depth_even_ppm']:.0f} ppm "
                                    f"({s['oddeven_sigma']:.1f} σ)"),
                     (f"secondary @ {s['secondary_phase']:.3f}",
                      f"{s['secondary_depth_ppm']:.0f} ppm ({s['secondary_sigma']:.1f} σ)")]
        return "<table>" + "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in rows) + "</table>"

    def _draw(self, t, d, sec_phase) -> None:
        L, A = self.lines, self.axes
        jd0 = float(np.floor(t[0])) if t.size else 0.0
        L["lc"].set_data(d["time"] - jd0, d["flux"])
        top = np.nanpercentile(d["flux"], 99.9) if d["flux"].size else 1.0
        L["transits"].set_data(d["transit_times"] - jd0, np.full(len(d["transit_times"]), top))
        A["lc"].set_xlabel(f"time − {jd0:.0f} [BJD_TDB, days]")
        per = f"P = {self.period:.5f} d" if math.isfinite(self.period) else "single event"
        A["lc"].set_title(f"{self.target} · candidate #{self.index + 1} · {per} · "
                          f"T14 = {self.duration_h:.2f} h", fontsize=10)
        L["global_points"].set_data(d["phase"], d["flux"])
        L["local_points"].set_data(d["local_x"], d["local_y"])
        for name in ("local", "odd", "even"):
            L[name].set_data(d["bin_x"], d[name])
        L["primary_ref"].set_data(d["bin_x"], d["local"])
        L["secondary"].set_data(d["bin_x"], d["secondary"])
        A["secondary"].set_title(f"secondary window (phase {sec_phase:.3f})", fontsize=10)
        depth = max(self.stats.get("depth_ppm", 0.0) * 1e-6, 0.0) if math.isfinite(
            self.stats.get("depth_ppm", math.nan)) else 0.0
        noise = float(np.nanstd(d["local_y"])) if d["local_y"].size else 1e-3
        for ax in A.values():
            ax.relim()
            ax.autoscale_view()
        pad = max(depth, 3 * noise) * 0.6
        for name in ("local", "secondary", "global"):
            A[name].set_ylim(1 - depth - pad, 1 + pad)
        self.figure.tight_layout()
        self.image.value = self.png()

    def snapshot(self):
        """The current figure as an ``IPython.display.Image`` (a static copy for saved notebooks)."""
        from IPython.display import Image

        return Image(data=self.png(), format="png")

    def png(self) -> bytes:
        """The current figure as PNG bytes."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        return buf.getvalue()


def explore(source, candidates=None, *, nbins: int = 61) -> Explorer:
    """Interactive explorer of one star's transit candidates.

    Parameters
    ----------
    source : DetectionResult, lightkurve.LightCurve, path
        What :func:`astrotinyml.detect` returned; or a light curve (with ``candidates``:
        the trend is refitted with their transits masked; without: :func:`astrotinyml.detect`
        runs first); or a light-curve file (detected first); or a pipeline run directory
        (read with :func:`astrotinyml.apps.pipeline.load_result`).
    candidates : astropy.table.Table, optional
        Candidates to show instead of the detection's (``pl_orbper`` [d],
        ``pl_tranmid`` [BJD_TDB], ``pl_trandurh`` [h]).
    nbins : int
        Bins of the local, odd/even and secondary curves.

    Returns
    -------
    Explorer
        An ``ipywidgets.VBox``: display it in a notebook.  Its methods and attributes
        (``set_ephemeris``, ``select``, ``data``, ``stats``, ``figure``) work without a
        browser.

    Raises
    ------
    InvalidParameterError
        No candidates, or an unsupported ``source``.

    Examples
    --------
    >>> from astrotinyml import datasets, detect
    >>> from astrotinyml.apps.widgets import explore
    >>> ex = explore(detect(datasets.load_sample("wasp-18")))  # doctest: +SKIP
    >>> ex.set_ephemeris(period=2 * ex.period)  # doctest: +SKIP
    >>> ex  # doctest: +SKIP
    """
    if candidates is not None:
        missing = [c for c in _EPHEMERIS if c not in candidates.colnames]
        if missing:
            raise InvalidParameterError(f"explore: candidates table lacks column(s) {', '.join(missing)}")
    raw, flat, cands, target = _as_inputs(source, candidates)
    return Explorer(raw, flat, cands, target=target, nbins=nbins)
