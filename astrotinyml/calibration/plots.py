"""Figures of a calibration run: reliability diagram, recovery curve, confusion matrix.

Each function takes a :class:`~astrotinyml.calibration.store.Calibration` (a fresh run or one
loaded from the database or the shipped default: the figures read only its ``tables`` and
``parameters``) and returns an object-oriented matplotlib Figure (no pyplot state), so that
they work in notebooks, scripts and the report alike.

>>> from astrotinyml.calibration import default_calibration
>>> plot_recovery(default_calibration()).axes[0].get_xlabel()
'SNR of the known signal in the data'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .probability import sigmoid

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .store import Calibration

__all__ = ["plot_reliability", "plot_recovery", "plot_confusion"]


def _figure(figsize):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_reliability(calibration: Calibration, *, bins: int = 10) -> Figure:
    """Reliability diagram of ``p_planet`` on held-out folds, before and after calibration.

    Parameters
    ----------
    calibration : Calibration
    bins : int
        Probability bins.

    Returns
    -------
    matplotlib.figure.Figure
        With a note in the axes when the classifier was not calibrated.

    Examples
    --------
    >>> from astrotinyml.calibration import default_calibration
    >>> fig = plot_reliability(default_calibration())
    >>> len(fig.axes)
    1
    """
    fig, ax = _figure((4.5, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
    dets = calibration.tables.get("detections", [])
    y = np.array([d.get("truth") == "planet" for d in dets], float)
    edges = np.linspace(0, 1, bins + 1)
    for key, name, color in (("p_planet", "raw", "C1"), ("p_planet_cal", "calibrated (held-out)", "C0")):
        p = np.array([np.nan if d.get(key) is None else d.get(key) for d in dets], float)
        m = np.isfinite(p)
        if not m.any():
            continue
        xs, ys, ns = [], [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            k = m & (p >= lo) & ((p < hi) | (hi == 1))
            if k.any():
                xs.append(p[k].mean())
                ys.append(y[k].mean())
                ns.append(k.sum())
        ax.plot(xs, ys, "o-", color=color, label=f"{name} (n={int(m.sum())})")
    if not calibration.probability_fitted:
        ax.text(0.5, 0.08, calibration.parameters.get("probability", {}).get("reason", "not fitted"),
                ha="center", fontsize=8, transform=ax.transAxes, wrap=True)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted p_planet", ylabel="fraction true planets",
           title="Reliability")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    return fig


def plot_recovery(calibration: Calibration) -> Figure:
    """Recovery of known planets vs the SNR they have in the data, with the fitted curve.

    Parameters
    ----------
    calibration : Calibration

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from astrotinyml.calibration import default_calibration
    >>> plot_recovery(default_calibration()).axes[0].get_xscale()
    'log'
    """
    fig, ax = _figure((5.5, 3.8))
    sig = [s for s in calibration.tables.get("signals", []) if s.get("kind") == "planet" and s.get("detectable")]
    snr = np.array([np.nan if s.get("snr_expected") is None else s["snr_expected"] for s in sig], float)
    rec = np.array([bool(s.get("recovered")) for s in sig], float)
    ok = np.isfinite(snr) & (snr > 0)
    rng = np.random.default_rng(0)
    ax.scatter(snr[ok], rec[ok] + rng.uniform(-0.03, 0.03, ok.sum()), s=14, color="k", alpha=0.7,
               label="known planets")
    lg = calibration.parameters.get("recovery_logistic", {})
    lo, hi = (max(np.nanmin(snr[ok]) / 2, 0.5), np.nanmax(snr[ok]) * 2) if ok.any() else (1, 1000)
    if lg.get("a") is not None and np.isfinite(lg.get("a", np.nan)):
        xs = np.logspace(np.log10(lo), np.log10(hi), 200)
        ax.plot(xs, sigmoid(lg["a"] + lg["b"] * np.log10(xs)), color="C0", label="logistic fit")
    for b in calibration.parameters.get("recovery_by_snr", []):
        if b["n"]:
            ax.plot([max(b["lo"], lo), min(b["hi"], hi)], [b["rate"]] * 2, color="C1", lw=2)
    ax.set_xscale("log")
    ax.set(ylim=(-0.1, 1.1), xlabel="SNR of the known signal in the data", ylabel="recovered",
           title=f"Recovery ({int(ok.sum())} known planets)")
    ax.legend(fontsize=8, loc="center right")
    return fig


def plot_confusion(calibration: Calibration, *, calibrated: bool = True) -> Figure:
    """Confusion matrix of truth (from the references) vs classifier label.

    Parameters
    ----------
    calibration : Calibration
    calibrated : bool
        Held-out calibrated labels (``label_cal``) when the probabilities were calibrated,
        else the raw classifier labels.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from astrotinyml.calibration import default_calibration
    >>> len(plot_confusion(default_calibration()).axes) >= 1
    True
    """
    fig, ax = _figure((5.5, 4.2))
    dets = calibration.tables.get("detections", [])
    key = "label_cal" if calibrated and calibration.probability_fitted else "label"
    pairs = [(d.get("truth", ""), d.get(key) or "") for d in dets if d.get(key)]
    if not pairs:
        ax.text(0.5, 0.5, "no classifier labels in this calibration", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    order = ["planet", "eb", "false_positive", "variability", "instrumental", "noise", "other", "unknown"]
    rows = [c for c in order if any(t == c for t, _ in pairs)]
    cols = [c for c in order if any(p == c for _, p in pairs)]
    M = np.zeros((len(rows), len(cols)), int)
    for t, p in pairs:
        M[rows.index(t), cols.index(p)] += 1
    ax.imshow(M, cmap="Blues", aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, str(M[i, j]), ha="center", va="center",
                    color="white" if M[i, j] > M.max() / 2 else "black", fontsize=9)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="classifier label" + (" (calibrated, held-out)" if key == "label_cal" else " (raw)"),
           ylabel="truth", title="Confusion matrix")
    return fig
