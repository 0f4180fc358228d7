"""Fixed-size folded views of a transit candidate: the classifier's input.

:func:`fold_views` folds a flattened light curve on one candidate's ephemeris and bins it into
arrays of fixed length (a :class:`Views`); :func:`fold_all` does every row of a candidates
table and :func:`stack_views` batches a list of Views for the model.

Layout (``G = global_bins``, ``L = local_bins``; all ``float32``, NaN-free):

==================  =====  ======================================================================
array               shape  content
==================  =====  ======================================================================
``global_view``     (G,)   whole orbit, phase -0.5 .. 0.5, transit at the centre bin
``local_view``      (L,)   ``t - t_mid`` from ``-local_width/2`` to ``+local_width/2`` transit
                           durations (default ``local_width=4``: +-2 T14), all transits
``secondary_view``  (L,)   same window centred at ``secondary_phase`` (the vet column when
                           present, else phase 0.5), primary transit (+-0.75 T14) left out
``odd_view``        (L,)   local window, odd transits only (1st, 3rd, ... from ``pl_tranmid``)
``even_view``       (L,)   local window, even transits only (2nd, 4th, ...)
``scalars``         (S,)   :data:`SCALAR_NAMES`, in that order
==================  =====  ======================================================================

Binning and normalization: the median flux of the cadences falling in each bin; bins without
cadences are filled by linear interpolation between the nearest filled bins (nearest value at
the edges; an all-empty view is flat at 0).  Then every view is shifted and scaled with the
**same** two numbers: the out-of-transit median (``|t - t_mid| > T14``) becomes 0 and the
lowest bin of the local view becomes -1 (``Views.scale_ppm`` is that depth in ppm).  Because
odd, even and secondary views share the scale, an eclipsing binary's secondary keeps its
depth relative to the primary, and unequal odd/even depths stay visible.

For a single event (``pl_orbper`` NaN) the global view spans ``t - t_mid`` over
``+-max(|t_first - t_mid|, |t_last - t_mid|)`` instead of phase, the even view is empty (flat
0), the odd view equals the local view, and the secondary view is flat 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .candidates import Ephemeris, candidate_ephemeris, row_value
from .errors import InvalidParameterError
from .transits import binned_median, epoch_and_offset, fill_empty, independent_mask, lc_arrays, robust_std

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    import matplotlib.figure

__all__ = [
    "Views",
    "fold_views",
    "fold_all",
    "stack_views",
    "VIEW_NAMES",
    "SCALAR_NAMES",
    "GLOBAL_BINS_RANGE",
    "LOCAL_BINS_RANGE",
]

#: Allowed ``global_bins`` (inclusive): the seed model's input spec.
GLOBAL_BINS_RANGE = (128, 2048)
#: Allowed ``local_bins`` (inclusive).
LOCAL_BINS_RANGE = (16, 512)
#: Allowed ``local_width`` in transit durations (inclusive): wider than the transit itself.
LOCAL_WIDTH_RANGE = (1.5, 20.0)

#: Names of the binned views, in the order of :meth:`Views.to_arrays`.
VIEW_NAMES = ("global_view", "local_view", "secondary_view", "odd_view", "even_view")

#: Scalar features, in the order of ``Views.scalars``: (name, meaning, value when unknown).
#: ``slog(x)`` is ``sign(x) * log10(1 + |x|)`` (keeps huge EB significances in range).
SCALAR_SPEC: tuple[tuple[str, str, float], ...] = (
    ("log_period", "log10(pl_orbper / d); single event: log10(data span / d), a lower limit", 0.0),
    ("log_duration", "log10(pl_trandurh / h)", 0.0),
    ("log_depth", "log10(depth / ppm), depth = pl_trandep, else vet_depth_ppm, else scale_ppm; >= 0", 0.0),
    ("log_snr", "slog(vet_snr) (vet: measured the same way for search and catalogue rows), else slog(snr)", 0.0),
    ("log_oddeven_sigma", "slog(oddeven_sigma) (vet)", 0.0),
    ("log_secondary_sigma", "slog(secondary_sigma) (vet, searched phase)", 0.0),
    ("log_sec05_sigma", "slog(sec05_sigma) (vet, phase 0.5)", 0.0),
    ("log_secondary_albedo", "slog(secondary_albedo) (vet)", 0.0),
    ("shape_v", "shape_v (vet; 0 = U/box, 1 = V)", 0.5),
    ("log_n_transits", "log10(max(n_transits, 1)) (search, else vet n_transits_data)", 0.0),
    ("coverage", "coverage (vet)", 1.0),
    ("max_single_event_fraction", "max_single_event_fraction (vet)", 1.0),
    ("log_depth_chi2_dof", "slog(depth_chi2_dof) (vet)", 0.0),
    ("near_var_period", "1.0 when near_var_period (vet), else 0.0", 0.0),
    ("log_density_ratio", "log10(density_ratio) (vet); 0 when the stellar density is unknown", 0.0),
    ("single_event", "1.0 for a single event (no period), else 0.0", 0.0),
    ("log_companion_radius", "log10(companion_rade / R_earth) (vet; the solar prior radius when unknown)", 1.0),
    ("log_ingress_ratio", "log10(ingress_ratio) (vet: shape_v over the least a dark body of that depth makes)", 0.0),
    ("star_radius_known", "1.0 when the star's radius is known (vet st_rad_source is not 'prior'), else 0.0", 0.0),
)
#: Names of ``Views.scalars``, in order.
SCALAR_NAMES: tuple[str, ...] = tuple(name for name, _, _ in SCALAR_SPEC)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float32)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Views:
    """Folded, binned and normalized views of one candidate (see the module docstring).

    Attributes
    ----------
    global_view, local_view, secondary_view, odd_view, even_view : numpy.ndarray
        Read-only ``float32`` arrays; 0 = out-of-transit level, -1 = bottom of the local view.
    scalars : numpy.ndarray
        Read-only ``float32`` array of :data:`SCALAR_NAMES` values, in that order.
    scalar_names : tuple of str
        :data:`SCALAR_NAMES`.
    missing_scalars : tuple of str
        Scalars whose input column was absent or NaN and that hold their fill value (run
        :func:`astrotinyml.vetting.vet` first to have them all).
    period : float
        Period [d] (NaN for a single event).
    t0 : float
        Mid-transit time [d, full BJD_TDB].
    duration_h : float
        Transit duration T14 [h].
    depth_ppm : float
        Candidate depth [ppm] (``pl_trandep``; NaN when not given).
    scale_ppm : float
        Depth used for the normalization [ppm]: flux 1 - scale_ppm/1e6 maps to -1.
    secondary_phase : float
        Phase the secondary view is centred on (NaN for a single event).
    local_width : float
        Width of the local windows in transit durations.
    """

    global_view: np.ndarray
    local_view: np.ndarray
    secondary_view: np.ndarray
    odd_view: np.ndarray
    even_view: np.ndarray
    scalars: np.ndarray
    scalar_names: tuple[str, ...] = SCALAR_NAMES
    missing_scalars: tuple[str, ...] = ()
    period: float = math.nan
    t0: float = math.nan
    duration_h: float = math.nan
    depth_ppm: float = math.nan
    scale_ppm: float = math.nan
    secondary_phase: float = math.nan
    local_width: float = 4.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in VIEW_NAMES + ("scalars",):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def scalar_dict(self) -> dict[str, float]:
        """Scalars by name (plain floats)."""
        return {n: float(v) for n, v in zip(self.scalar_names, self.scalars)}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The classifier inputs as ``float32`` arrays.

        Returns
        -------
        dict of str to numpy.ndarray
            Keys :data:`VIEW_NAMES` then ``"scalars"``, in that order (writable copies).

        Examples
        --------
        >>> import numpy as np, lightkurve as lk
        >>> t = 2458000 + np.arange(0, 10, 0.005)
        >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
        >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
        >>> {k: a.shape for k, a in v.to_arrays().items()}["local_view"]
        (61,)
        """
        out = {name: np.array(getattr(self, name), dtype=np.float32) for name in VIEW_NAMES}
        out["scalars"] = np.array(self.scalars, dtype=np.float32)
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly dictionary: views and scalars as lists, scalars also by name, metadata.

        Returns
        -------
        dict

        Examples
        --------
        >>> import json, numpy as np, lightkurve as lk
        >>> t = 2458000 + np.arange(0, 10, 0.005)
        >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
        >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
        >>> d = json.loads(json.dumps(v.as_dict()))
        >>> len(d["global_view"]), d["scalar_names"][0]
        (201, 'log_period')
        """
        def num(x):
            return None if not math.isfinite(x) else float(x)

        out: dict[str, Any] = {name: getattr(self, name).astype(float).tolist() for name in VIEW_NAMES}
        out["scalars"] = self.scalars.astype(float).tolist()
        out["scalar_names"] = list(self.scalar_names)
        out["scalar_values"] = self.scalar_dict
        out["missing_scalars"] = list(self.missing_scalars)
        for key in ("period", "t0", "duration_h", "depth_ppm", "scale_ppm", "secondary_phase", "local_width"):
            out[key] = num(getattr(self, key))
        out["meta"] = dict(self.meta)
        return out

    def plot(self, ax=None) -> matplotlib.figure.Figure:
        """Plot the views: global; local with odd and even; secondary against the local view.

        Parameters
        ----------
        ax : sequence of 3 matplotlib Axes, optional
            Where to draw; a new 1 x 3 figure when omitted.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import numpy as np, lightkurve as lk
        >>> t = 2458000 + np.arange(0, 10, 0.005)
        >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
        >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
        >>> len(v.plot().axes)
        3
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
        else:
            axes = list(ax)
            if len(axes) != 3:
                raise InvalidParameterError(f"Views.plot needs 3 axes, got {len(axes)}")
            fig = axes[0].figure
        g = self.global_view.size
        axes[0].plot((np.arange(g) + 0.5) / g - 0.5, self.global_view, ".", ms=2, color="k")
        axes[0].set_xlabel("phase" if math.isfinite(self.period) else "time from mid-transit (scaled)")
        axes[0].set_title("global")
        n = self.local_view.size
        x = ((np.arange(n) + 0.5) / n - 0.5) * self.local_width
        axes[1].plot(x, self.local_view, "-", color="k", label="all")
        axes[1].plot(x, self.odd_view, "-", color="C0", alpha=0.7, label="odd")
        axes[1].plot(x, self.even_view, "-", color="C3", alpha=0.7, label="even")
        axes[1].set_xlabel("time from mid-transit [T14]")
        axes[1].set_title("local, odd / even")
        axes[1].legend(fontsize="small")
        axes[2].plot(x, self.local_view, "-", color="0.7", label="primary")
        axes[2].plot(x, self.secondary_view, "-", color="C1", label="secondary")
        axes[2].set_xlabel(f"time from phase {self.secondary_phase:.3f} [T14]")
        axes[2].set_title("secondary")
        axes[2].legend(fontsize="small")
        for a in axes:
            a.set_ylabel("normalized flux")
        fig.tight_layout()
        return fig


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name} must be an integer between {lo} and {hi}; got {value!r}")
    if not lo <= int(value) <= hi:
        raise InvalidParameterError(f"{name}={value} is outside the allowed range {lo}..{hi}")
    return int(value)


def _star_known(candidate: Any) -> float:
    try:
        src = str(candidate["st_rad_source"])
    except (KeyError, IndexError, ValueError, TypeError):
        return math.nan
    return 0.0 if src in ("", "prior", "missing") else 1.0


def _slog(x: float) -> float:
    return math.copysign(math.log10(1.0 + abs(x)), x)


def _scalars(candidate: Any, eph, span: float, scale_ppm: float) -> tuple[np.ndarray, tuple[str, ...]]:
    get = {n: row_value(candidate, n) for n in (
        "pl_trandep", "snr", "vet_snr", "oddeven_sigma", "secondary_sigma", "sec05_sigma",
        "secondary_albedo", "shape_v", "n_transits", "n_transits_data", "coverage",
        "max_single_event_fraction", "depth_chi2_dof", "near_var_period", "density_ratio",
        "vet_depth_ppm", "companion_rade", "ingress_ratio")}
    depth = get["pl_trandep"]
    if not (math.isfinite(depth) and depth > 0):
        depth = get["vet_depth_ppm"]
    if not (math.isfinite(depth) and depth > 0):
        depth = scale_ppm
    n_tr = get["n_transits"] if math.isfinite(get["n_transits"]) else get["n_transits_data"]
    period = eph.period if not eph.single else span
    values = {
        "log_period": math.log10(period) if period > 0 else math.nan,
        "log_duration": math.log10(eph.duration * 24.0),
        "log_depth": math.log10(max(depth, 1.0)) if math.isfinite(depth) else math.nan,
        # vet_snr, not the search's snr: a catalogue table has no search columns, and the
        # model must see the same number whatever handed it the candidate.
        "log_snr": _slog(get["vet_snr"] if math.isfinite(get["vet_snr"]) else get["snr"]),
        "log_oddeven_sigma": _slog(get["oddeven_sigma"]),
        "log_secondary_sigma": _slog(get["secondary_sigma"]),
        "log_sec05_sigma": _slog(get["sec05_sigma"]),
        "log_secondary_albedo": _slog(get["secondary_albedo"]),
        "shape_v": get["shape_v"],
        "log_n_transits": math.log10(max(n_tr, 1.0)) if math.isfinite(n_tr) else math.nan,
        "coverage": get["coverage"],
        "max_single_event_fraction": get["max_single_event_fraction"],
        "log_depth_chi2_dof": _slog(get["depth_chi2_dof"]),
        "near_var_period": get["near_var_period"],
        "log_density_ratio": math.log10(get["density_ratio"]) if get["density_ratio"] > 0 else math.nan,
        "single_event": 1.0 if eph.single else 0.0,
        "log_companion_radius": math.log10(get["companion_rade"]) if get["companion_rade"] > 0 else math.nan,
        "log_ingress_ratio": math.log10(get["ingress_ratio"]) if get["ingress_ratio"] > 0 else math.nan,
        "star_radius_known": _star_known(candidate),
    }
    if eph.single:  # no period: these are undefined, not missing
        for n in ("log_oddeven_sigma", "log_secondary_sigma", "log_sec05_sigma", "log_secondary_albedo"):
            if not math.isfinite(values[n]):
                values[n] = 0.0
    out = np.empty(len(SCALAR_SPEC), dtype=np.float64)
    missing = []
    for i, (name, _, fill) in enumerate(SCALAR_SPEC):
        v = values[name]
        if not math.isfinite(v):
            missing.append(name)
            v = fill
        out[i] = v
    return out, tuple(missing)


def _local(x: np.ndarray, y: np.ndarray, half: float, nbins: int, period: float) -> np.ndarray:
    """Median-binned ``y`` over ``x`` in [-half, half); wraps around when the window exceeds
    half a period so that a long window still sees the neighbouring orbit's data."""
    if math.isfinite(period) and half > 0.5 * period:
        x = np.concatenate([x, x - period, x + period])
        y = np.concatenate([y, y, y])
    return binned_median(x, y, -half, half, nbins)


def fold_views(
    lc: lightkurve.LightCurve,
    candidate: Any,
    *,
    global_bins: int = 201,
    local_bins: int = 61,
    local_width: float = 4.0,
    secondary_phase: float | None = None,
    others: Any = None,
) -> Views:
    """Fold a flattened light curve on one candidate and bin it into fixed-size views.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Flattened light curve (time in BJD_TDB, flux normalized to 1).
    candidate : astropy.table.Row or dict
        One candidate in the DESIGN columns: ``pl_orbper`` [d] (NaN for a single event),
        ``pl_tranmid`` [d, full BJD_TDB], ``pl_trandurh`` [h], optionally ``pl_trandep``
        [ppm], the search's ``snr``/``n_transits`` and the columns added by
        :func:`astrotinyml.vetting.vet` (used for the scalars and the secondary phase).
    global_bins : int
        Bins of the global view, 128 to 2048 (the seed model's input spec).
    local_bins : int
        Bins of the local, secondary, odd and even views, 16 to 512.
    local_width : float
        Total width of the local windows in transit durations (1.5 to 20); the default 4
        shows the transit (central quarter) with one duration of baseline on each side.
    secondary_phase : float, optional
        Phase (0..1) for the secondary view; default: the candidate's ``secondary_phase``
        (from vet) when finite, else 0.5.
    others : astropy.table.Table or list of dict, optional
        Other candidates of the same star: their transits (1.5 durations wide) are left out of
        every view, so that a second planet's transit is not folded into this one's views.
        Candidates with a commensurate period (ratio 1, 2, 3, 4, 1/2, 1/3, 1/4, 3/2, 2/3) are
        kept, as they may be this system's own secondary or an alias.  :func:`fold_all` passes
        the rest of the table.

    Returns
    -------
    Views
        See the module docstring for the layout and the normalization.

    Raises
    ------
    InvalidParameterError
        Bin counts or ``local_width`` out of range, or a candidate without a usable
        ephemeris.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> t = 2458000 + np.arange(0, 10, 0.005)
    >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
    >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
    >>> v.global_view.shape, float(v.local_view.min()), float(v.local_view[0])
    ((201,), -1.0, 0.0)
    """
    global_bins, local_bins, local_width = _check_view_options(global_bins, local_bins, local_width, secondary_phase)
    t, f, _ = lc_arrays(lc)
    eph = candidate_ephemeris(candidate, time_ref=float(np.median(t)))
    if isinstance(others, dict):  # one row given as a dict, not a table
        others = [others]
    others = [] if others is None else list(others)
    if others:
        keep = independent_mask(t, eph, [candidate_ephemeris(o, time_ref=float(np.median(t))) for o in others],
                                protect_own=False)
        t, f = t[keep], f[keep]
    T = eph.duration
    epoch, dt = epoch_and_offset(t, eph)
    oot = np.abs(dt) > T
    base = float(np.median(f[oot])) if np.count_nonzero(oot) >= 3 else float(np.median(f))
    half = 0.5 * local_width * T

    glob, local, odd, even, sec, sec_phase = _fold_on(t, f, eph, dt, epoch, half, global_bins, local_bins,
                                                      candidate=candidate, secondary_phase=secondary_phase)
    scale = _view_scale(base, local, eph, f[oot] if oot.any() else f)

    def norm(v):
        out = (fill_empty(v, base) - base) / scale
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)

    span = float(t[-1] - t[0])
    scalars, missing = _scalars(candidate, eph, span, scale * 1e6)
    meta = {}
    for key in ("target", "label"):
        try:
            val = candidate[key]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        meta[key] = str(val)
    return Views(
        global_view=norm(glob), local_view=norm(local), secondary_view=norm(sec),
        odd_view=norm(odd), even_view=norm(even), scalars=scalars, missing_scalars=missing,
        period=eph.period, t0=eph.t0, duration_h=T * 24.0, depth_ppm=eph.depth * 1e6,
        scale_ppm=scale * 1e6, secondary_phase=sec_phase, local_width=local_width, meta=meta,
    )


def _check_view_options(global_bins, local_bins, local_width, secondary_phase) -> tuple[int, int, float]:
    """Refuse out-of-range view options; (global_bins, local_bins, local_width) as numbers."""
    global_bins = _check_int("global_bins", global_bins, *GLOBAL_BINS_RANGE)
    local_bins = _check_int("local_bins", local_bins, *LOCAL_BINS_RANGE)
    try:
        local_width = float(local_width)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"local_width must be a number of transit durations; got {local_width!r}") from None
    if not LOCAL_WIDTH_RANGE[0] <= local_width <= LOCAL_WIDTH_RANGE[1]:
        raise InvalidParameterError(
            f"local_width={local_width} transit durations is outside {LOCAL_WIDTH_RANGE[0]}..{LOCAL_WIDTH_RANGE[1]}"
        )
    if secondary_phase is not None and not (0.0 <= float(secondary_phase) < 1.0):
        raise InvalidParameterError(f"secondary_phase={secondary_phase} must be in [0, 1)")
    return global_bins, local_bins, local_width


def _fold_on(t, f, eph: Ephemeris, dt, epoch, half: float, global_bins: int, local_bins: int, *,
             candidate, secondary_phase):
    """(global, local, odd, even, secondary views before normalisation, secondary phase)."""
    T = eph.duration
    local = _local(dt, f, half, local_bins, eph.period)
    if eph.single:
        reach = max(abs(t[0] - eph.t0), abs(t[-1] - eph.t0), half)
        glob = binned_median(dt, f, -reach, reach, global_bins)
        odd = local.copy()
        even = np.full(local_bins, np.nan)
        sec = np.full(local_bins, np.nan)
        sec_phase = math.nan
    else:
        glob = binned_median(dt / eph.period, f, -0.5, 0.5, global_bins)
        parity = np.mod(epoch, 2)
        odd = _local(dt[parity == 0], f[parity == 0], half, local_bins, eph.period)
        even = _local(dt[parity == 1], f[parity == 1], half, local_bins, eph.period)
        if secondary_phase is not None:
            sec_phase = float(secondary_phase)
        else:
            sec_phase = row_value(candidate, "secondary_phase")
            if not (math.isfinite(sec_phase) and 0.0 <= sec_phase < 1.0):
                sec_phase = 0.5
        x = (t - eph.t0) / eph.period - sec_phase
        dts = (x - np.floor(x + 0.5)) * eph.period
        # The primary transit is left out: a secondary window close to the primary (an
        # eccentric orbit, or a short period) must not show the primary as a "secondary".
        away = np.abs(dt) >= 0.75 * T
        sec = _local(dts[away], f[away], half, local_bins, eph.period)
    return glob, local, odd, even, sec, sec_phase


def _view_scale(base: float, local: np.ndarray, eph: Ephemeris, f_out: np.ndarray) -> float:
    """The depth the views are divided by: the lowest local bin, else the catalogued depth,
    else the out-of-transit noise (1e-3 as the last resort)."""
    # Scale: depth of the lowest local bin; fall back on the catalogued depth, then the noise.
    scale = base - np.nanmin(local) if np.any(np.isfinite(local)) else math.nan
    if not (math.isfinite(scale) and scale > 0):
        scale = eph.depth if math.isfinite(eph.depth) and eph.depth > 0 else robust_std(f_out)
    if not (math.isfinite(scale) and scale > 0):
        scale = 1e-3
    return scale


def fold_all(
    lc: lightkurve.LightCurve,
    candidates: Any,
    *,
    global_bins: int = 201,
    local_bins: int = 61,
    local_width: float = 4.0,
) -> list[Views]:
    """:func:`fold_views` for every row of a candidates table, each without the others' transits.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        Flattened light curve.
    candidates : astropy.table.Table or list of dict
        Candidate rows (see :func:`fold_views`).
    global_bins, local_bins, local_width
        As in :func:`fold_views`.  Each row is folded with ``others`` = the rest of the
        table and its own ``secondary_phase`` column.

    Returns
    -------
    list of Views
        One per row, in table order (empty for an empty table).

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> t = 2458000 + np.arange(0, 10, 0.005)
    >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
    >>> rows = [dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92)] * 2
    >>> len(fold_all(lk.LightCurve(time=t, flux=f), rows, global_bins=256))
    2
    """
    rows = list(candidates)
    return [fold_views(lc, row, global_bins=global_bins, local_bins=local_bins, local_width=local_width,
                       others=rows[:i] + rows[i + 1:]) for i, row in enumerate(rows)]


def stack_views(views: list[Views]) -> dict[str, np.ndarray]:
    """Stack Views into a batch for the classifier.

    Parameters
    ----------
    views : list of Views
        Views with the same bin counts.

    Returns
    -------
    dict of str to numpy.ndarray
        Keys :data:`VIEW_NAMES` and ``"scalars"``; arrays of shape ``(len(views), n)``,
        ``float32``.

    Raises
    ------
    InvalidParameterError
        Empty list or mixed bin counts.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> t = 2458000 + np.arange(0, 10, 0.005)
    >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
    >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
    >>> stack_views([v, v])["global_view"].shape
    (2, 201)
    """
    if not views:
        raise InvalidParameterError("stack_views needs at least one Views")
    out = {}
    for name in VIEW_NAMES + ("scalars",):
        shapes = {getattr(v, name).shape for v in views}
        if len(shapes) != 1:
            raise InvalidParameterError(f"{name} has different shapes in the Views given: {sorted(shapes)}")
        out[name] = np.stack([getattr(v, name) for v in views]).astype(np.float32)
    return out
