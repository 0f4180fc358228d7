"""Classification metrics without scikit-learn: confusion matrix, recall, ROC AUC."""

from __future__ import annotations

import numpy as np

from ..calibration.probability import apply_temperature, expected_calibration_error, fit_temperature, precision_threshold

__all__ = ["confusion_matrix", "per_class_recall", "roc_auc", "summarize", "real_summary"]


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


def real_summary(meta: list[dict], labels, probs, fold, *, target_precision: float = 0.9) -> dict:
    """Out-of-fold metrics of real labelled examples (``astrotinyml.training.train.cross_validate``).

    The physics veto (``meta['not_planet_physics']``, see :func:`astrotinyml.vetting.physics_veto`)
    is applied to the labels as classify() does.  Calibration is nested: for each fold, the
    temperature and the ``unknown`` threshold (lowest calibrated p_planet reaching
    ``target_precision`` for the planet label) are fitted on the other folds only, then applied
    to it.  ``calibration`` holds the values fitted on all folds (what ships) and the
    out-of-fold ECE before/after.

    Parameters
    ----------
    meta : list of dict
        Per example: ``vet_snr``, ``mode``, ``files``, ``not_planet_physics``.
    labels : array of int
        Class indices (0 = planet).
    probs : (N, C) array
        Out-of-fold probabilities.
    fold : array of int
        Fold of each example.
    target_precision : float

    Returns
    -------
    dict

    Examples
    --------
    >>> m = [dict(vet_snr=10.0, mode="catalogue", files=[], not_planet_physics=False)] * 4
    >>> P = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    >>> s = real_summary(m, [0, 0, 1, 1], P, [0, 1, 0, 1])
    >>> s["subsets"]["all"]["planet_recall"], s["subsets"]["all"]["auc"]
    (1.0, 1.0)
    """
    y = np.asarray(labels, dtype=int)
    P = np.asarray(probs, dtype=float)
    fold = np.asarray(fold, dtype=int)
    ok = np.isfinite(P).all(axis=1)
    veto = np.array([bool(m.get("not_planet_physics")) for m in meta])
    snr = np.array([float(m.get("vet_snr") or np.nan) for m in meta])
    is_pl = y == 0
    arg = P.argmax(axis=1)
    arg = np.where((arg == 0) & veto, 1, arg)  # planet -> eb, as physics_veto does

    # nested calibration
    Q = np.full_like(P, np.nan)
    cal_pred = np.full(y.size, -1)
    thr_by_fold = {}
    for k in np.unique(fold[ok]):
        te, tr = ok & (fold == k), ok & (fold != k)
        if not (tr.any() and is_pl[tr].any() and (~is_pl[tr]).any()):
            Q[te] = P[te]
            thr = 0.5
        else:
            T = fit_temperature(P[tr], is_pl[tr])
            Q[te] = apply_temperature(P[te], T)
            Qtr = apply_temperature(P[tr], T)
            pred_tr = (Qtr.argmax(axis=1) == 0) & ~veto[tr]
            th = precision_threshold(Qtr[:, 0], is_pl[tr].astype(float), pred_tr, target_precision)
            thr = th["threshold"] if th["reached"] else 1.0
        thr_by_fold[int(k)] = round(float(thr), 4)
        b = Q[te].argmax(axis=1)
        lab = np.where(Q[te][np.arange(b.size), b] >= thr, b, -1)
        lab = np.where((lab == 0) & veto[te], 1, lab)
        cal_pred[te] = lab

    def subset(mask):
        m = mask & ok
        pl, non = m & is_pl, m & ~is_pl
        eb = m & (y == 1)
        p_veto = np.where(veto, 0.0, P[:, 0])
        return dict(
            n=int(m.sum()), n_planets=int(pl.sum()), n_non_planets=int(non.sum()), n_eb=int(eb.sum()),
            planet_recall=_r(np.mean(arg[pl] == 0)) if pl.any() else None,
            non_planets_not_planet=_r(np.mean(arg[non] != 0)) if non.any() else None,
            eb_not_planet=_r(np.mean(arg[eb] != 0)) if eb.any() else None,
            auc=_r(roc_auc(is_pl[m], P[m, 0])) if pl.any() and non.any() else None,
            auc_with_veto=_r(roc_auc(is_pl[m], p_veto[m])) if pl.any() and non.any() else None,
            calibrated_planet_recall=_r(np.mean(cal_pred[pl] == 0)) if pl.any() else None,
            calibrated_non_planets_not_planet=_r(np.mean(cal_pred[non] != 0)) if non.any() else None,
            calibrated_planet_precision=(_r(np.mean(is_pl[m & (cal_pred == 0)])) if (m & (cal_pred == 0)).any()
                                         else None),
            calibrated_unknown=_r(np.mean(cal_pred[m] == -1)) if m.any() else None,
        )

    detectable = ~is_pl | (snr >= 7.0)
    modes = np.array([str(m.get("mode")) for m in meta])
    conor = np.array([any("conor-or" in f for f in m.get("files", [])) for m in meta])
    subsets = {"all": subset(np.ones(y.size, bool)), "planets_snr_ge_7": subset(detectable),
               "catalogue": subset(modes == "catalogue"), "search": subset(modes == "search"),
               "search_snr_ge_7": subset((modes == "search") & detectable),
               "kepler_eb_fullmission_search": subset(conor & (modes == "search"))}
    T_all = fit_temperature(P[ok], is_pl[ok]) if is_pl[ok].any() and (~is_pl[ok]).any() else 1.0
    Qa = apply_temperature(P[ok], T_all)
    th_all = precision_threshold(Qa[:, 0], is_pl[ok].astype(float), (Qa.argmax(axis=1) == 0) & ~veto[ok],
                                 target_precision)
    calibration = dict(
        method="temperature", temperature=round(float(T_all), 5), threshold=round(float(th_all["threshold"]), 5),
        reached=bool(th_all["reached"]), target_precision=float(target_precision),
        ece_out_of_fold_before=_r(expected_calibration_error(P[ok, 0], is_pl[ok])),
        ece_out_of_fold_after=_r(expected_calibration_error(Q[ok, 0], is_pl[ok])),
        threshold_by_fold=thr_by_fold)
    return dict(subsets=subsets, calibration=calibration, n_vetoed=int(veto.sum()),
                n_vetoed_planets=int((veto & is_pl).sum()))


def _r(x) -> float | None:
    x = float(x)
    return round(x, 4) if np.isfinite(x) else None
