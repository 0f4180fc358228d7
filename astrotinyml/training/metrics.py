"""Classification metrics without scikit-learn: confusion matrix, recall, ROC AUC."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_matrix", "per_class_recall", "roc_auc", "summarize"]


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of true class ``i`` predicted as ``j``.

    Examples
    --------
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2).tolist()
    [[1, 0], [1, 1]]
    """
    c = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(c, (np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)), 1)
    return c


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each class (NaN for a class without examples).

    Examples
    --------
    >>> per_class_recall(np.array([[1, 0], [1, 1]])).tolist()
    [1.0, 0.5]
    """
    n = cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.diag(cm) / n, np.nan)


def roc_auc(positive, score) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count 1/2); NaN without both classes.

    Examples
    --------
    >>> roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4])
    0.875
    """
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=bool)
    s = np.asarray(score, dtype=float)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def summarize(y_true, probs, classes) -> dict:
    """Confusion matrix, per-class recall, accuracy and planet-vs-rest AUC.

    Examples
    --------
    >>> s = summarize([0, 1], np.array([[0.8, 0.2], [0.3, 0.7]]), ["planet", "eb"])
    >>> s["accuracy"], s["planet_auc"]
    (1.0, 1.0)
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(probs, dtype=float)
    pred = p.argmax(axis=1)
    cm = confusion_matrix(y, pred, len(classes))
    rec = per_class_recall(cm)
    return dict(
        n=int(y.size),
        accuracy=float((pred == y).mean()) if y.size else float("nan"),
        confusion=cm.tolist(),
        recall={c: (None if np.isnan(r) else round(float(r), 4)) for c, r in zip(classes, rec)},
        planet_auc=round(roc_auc(y == 0, p[:, 0]), 5),
    )
