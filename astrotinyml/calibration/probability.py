"""Calibration of the classifier's probabilities: fitting, applying, scoring.

The classifier's softmax is over-confident on real stars.  Two maps are fitted on held-out
folds and the one with the lower held-out negative log-likelihood of *planet vs not planet*
is kept (:mod:`astrotinyml.calibration.fit`):

* **temperature scaling** of all ``p_*`` columns, ``softmax(log P / T)``
  (:func:`fit_temperature`, :func:`apply_temperature`): one parameter, keeps the ranking;
* **isotonic regression** of ``p_planet`` (:func:`fit_isotonic`, :func:`apply_isotonic`): the
  other classes share the rest in their old proportions.

The decision threshold is the lowest calibrated ``p_planet`` whose planet-label precision
reaches a target (:func:`precision_threshold`); below it a signal is ``unknown``
(:func:`decide_labels`).  :func:`expected_calibration_error` and :func:`nll` score a map.

>>> import numpy as np
>>> apply_temperature(np.array([[0.9, 0.1]]), 2.0).round(3).tolist()
[[0.75, 0.25]]
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "expected_calibration_error", "fit_temperature", "apply_temperature", "precision_threshold",
    "fit_isotonic", "apply_isotonic", "apply_probability_calibration", "decide_labels", "nll",
    "sigmoid", "fit_logistic",
]

#: Probabilities are clipped to [EPS, 1 - EPS] before logarithms.
EPS = 1e-6


def nll(p, y) -> float:
    """Mean negative log-likelihood of outcomes ``y`` (0/1) under probabilities ``p``.

    Examples
    --------
    >>> round(nll([0.5, 0.5], [1, 0]), 4)
    0.6931
    """
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    y = np.asarray(y, float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if y.size else float("nan")


def expected_calibration_error(p, y, bins: int = 10) -> float:
    """Expected calibration error of probabilities ``p`` for outcomes ``y`` (0/1), ``bins``
    equal-width bins.

    Examples
    --------
    >>> round(expected_calibration_error([0.9, 0.1], [1, 0]), 3)
    0.1
    """
    p, y = np.asarray(p, float), np.asarray(y, float)
    if p.size == 0:
        return float("nan")
    idx = np.minimum((p * bins).astype(int), bins - 1)
    e = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            e += m.sum() / p.size * abs(p[m].mean() - y[m].mean())
    return float(e)


def fit_logistic(x, y, ridge: float = 1e-2) -> tuple[float, float]:
    """Ridge-regularised logistic fit ``P(y=1) = sigmoid(a + b x)``; returns ``(a, b)``.

    Examples
    --------
    >>> a, b = fit_logistic([0, 1, 2, 3], [0, 0, 1, 1])
    >>> b > 0
    True
    """
    from scipy.optimize import minimize

    x, y = np.asarray(x, float), np.asarray(y, float)
    if y.size == 0:
        return float("nan"), float("nan")

    def f(w):
        z = w[0] + w[1] * x
        return np.sum(np.logaddexp(0, z) - y * z) + ridge * (w[0] ** 2 + w[1] ** 2)

    r = minimize(f, np.array([0.0, 1.0]), method="BFGS")
    return float(r.x[0]), float(r.x[1])


def sigmoid(z):
    """The logistic function ``1 / (1 + exp(-z))``.

    Examples
    --------
    >>> float(sigmoid(0.0))
    0.5
    """
    return 1.0 / (1.0 + np.exp(-np.asarray(z, float)))


def apply_temperature(P: np.ndarray, T: float) -> np.ndarray:
    """Temperature scaling of class probabilities ``P`` (rows sum to 1): softmax(log P / T).

    Examples
    --------
    >>> apply_temperature(np.array([[0.9, 0.1]]), 1.0).round(3).tolist()
    [[0.9, 0.1]]
    """
    z = np.log(np.clip(P, EPS, 1.0)) / T
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(P: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimizing the planet-vs-rest log loss of ``P[:, 0]`` for outcomes ``y``.

    Examples
    --------
    >>> P = np.array([[0.99, 0.01], [0.99, 0.01], [0.01, 0.99], [0.99, 0.01]])
    >>> fit_temperature(P, np.array([1, 0, 0, 1])) > 1   # over-confident: softened
    True
    """
    from scipy.optimize import minimize_scalar

    r = minimize_scalar(lambda lt: nll(apply_temperature(P, math.exp(lt))[:, 0], y), bounds=(-3, 3), method="bounded")
    return float(math.exp(r.x))


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> dict:
    """Isotonic regression of outcomes ``y`` on ``p``: knots ``{"x": [...], "y": [...]}``.

    Examples
    --------
    >>> fit_isotonic(np.array([0.2, 0.4, 0.9]), np.array([0, 1, 1]))["y"]
    [0.0, 1.0, 1.0]
    """
    from scipy.optimize import isotonic_regression

    o = np.argsort(p, kind="stable")
    xs, ys = p[o], y[o].astype(float)
    fit = isotonic_regression(ys, increasing=True).x
    # Knots: one per distinct x (mean of the fitted values there).
    ux, inv = np.unique(xs, return_inverse=True)
    uy = np.bincount(inv, weights=fit) / np.bincount(inv)
    return {"x": ux.tolist(), "y": uy.tolist()}


def apply_isotonic(P: np.ndarray, knots: dict) -> np.ndarray:
    """Isotonic map of p_planet; the other classes share the rest in their old proportions.

    Examples
    --------
    >>> apply_isotonic(np.array([[0.8, 0.1, 0.1]]), {"x": [0.0, 1.0], "y": [0.0, 0.5]}).round(2).tolist()
    [[0.4, 0.3, 0.3]]
    """
    P = np.asarray(P, float).copy()
    x, y = np.asarray(knots["x"]), np.asarray(knots["y"])
    new = np.clip(np.interp(P[:, 0], x, y), EPS, 1 - EPS)
    rest = P[:, 1:].sum(axis=1)
    scale = np.where(rest > 0, (1 - new) / np.where(rest > 0, rest, 1), 0.0)
    P[:, 1:] *= scale[:, None]
    P[:, 0] = new
    return P


def apply_probability_calibration(P: np.ndarray, prob: dict) -> np.ndarray:
    """Apply a fitted probability calibration (``Calibration.parameters['probability']``).

    ``method`` ``"temperature"`` or ``"isotonic"``; anything else leaves ``P`` as it is.

    Examples
    --------
    >>> apply_probability_calibration(np.array([[0.9, 0.1]]), {"method": "none"}).tolist()
    [[0.9, 0.1]]
    """
    if prob.get("method") == "temperature":
        return apply_temperature(P, prob["temperature"])
    if prob.get("method") == "isotonic":
        return apply_isotonic(P, prob["isotonic"])
    return P


def precision_threshold(p: np.ndarray, y: np.ndarray, pred_planet: np.ndarray, target: float) -> dict:
    """Lowest p_planet threshold whose planet-label precision reaches ``target``.

    ``p``: p_planet; ``y``: 1 for true planets; ``pred_planet``: rows labelled planet.

    Examples
    --------
    >>> r = precision_threshold(np.array([0.9, 0.8, 0.6]), np.array([1, 1, 0]), np.array([True] * 3), 0.9)
    >>> r["threshold"], r["recall"]
    (0.8, 1.0)
    """
    cand = np.unique(np.concatenate([p[pred_planet], [1.0]]))
    best = None
    for t in cand:
        sel = pred_planet & (p >= t)
        if sel.sum() == 0:
            continue
        prec = y[sel].mean()
        if prec >= target:
            best = (float(t), float(prec), float(y[sel].sum() / max(y.sum(), 1)), int(sel.sum()))
            break
    if best is None:
        return dict(threshold=1.0, precision=float("nan"), recall=0.0, n_selected=0, reached=False)
    return dict(threshold=best[0], precision=best[1], recall=best[2], n_selected=best[3], reached=True)


def decide_labels(P: np.ndarray, classes: Sequence[str], threshold: float) -> list[str]:
    """The most probable class per row, ``unknown`` where its probability is below ``threshold``.

    Examples
    --------
    >>> decide_labels(np.array([[0.7, 0.3], [0.4, 0.6]]), ["planet", "eb"], 0.65)
    ['planet', 'unknown']
    """
    if P.size == 0:
        return []
    b = P.argmax(axis=1)
    return [classes[k] if P[i, k] >= threshold else "unknown" for i, k in enumerate(b)]
