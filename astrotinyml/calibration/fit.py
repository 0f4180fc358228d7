"""Fitting a calibration: the pipeline on references with known answers, held out by star.

:func:`calibrate` runs :func:`astrotinyml.detection.detect` on every reference of a
:func:`~astrotinyml.calibration.references.reference_set` (with the model's raw probabilities,
never calibrated ones), matches each detection to the reference's known signals
(:func:`~astrotinyml.calibration.references.match_signal`) and fits, in four steps:

1. **recovery** (completeness) of the detectable known planets (at least ``min_transits``
   transits covered by data) against the SNR the known signal has in the flattened light curve:
   a logistic curve in ``log10(SNR)``, and binned rates by SNR and by period;
2. **false alarms**: unmatched detections per star with no planet (quiet, variable,
   false-positive references), per planet host, and the share of eclipsing-binary signals found;
3. **biases** of the detections matched at the true period: medians of measured / catalogue
   depth and duration (the detrending losses; their inverses are the corrections) and the
   period and epoch precision;
4. **probabilities**: temperature scaling and isotonic regression of the classifier output
   (:mod:`astrotinyml.calibration.probability`), the one with the lower held-out negative
   log-likelihood kept, and the decision threshold that reaches the target precision.

Every reported metric is held out: the references are split into folds grouped by star
(:func:`~astrotinyml.calibration.references.grouped_folds`), each fold scored with what was fitted on the others.  The final
parameters are fitted on all references.  The result is a
:class:`~astrotinyml.calibration.store.Calibration`, stored in the database unless
``store=False``.

This module runs the pipeline (it imports :mod:`astrotinyml.detection`, which applies a stored
calibration), so the package ``astrotinyml.calibration`` does not import it: import
:func:`calibrate` from here.

>>> from astrotinyml.calibration.fit import calibrate
>>> calibrate.__module__
'astrotinyml.calibration.fit'
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import warnings
from typing import Any, Sequence

import numpy as np

from .. import detection
from .._version import __version__
from ..candidates import PROBABILITY_COLUMNS, cell_value
from ..errors import InvalidParameterError
from ..transits import robust_std
from ._db import check_writable, clean
from .probability import (
    apply_isotonic,
    apply_temperature,
    decide_labels,
    expected_calibration_error,
    fit_isotonic,
    fit_logistic,
    fit_temperature,
    nll,
    precision_threshold,
    sigmoid,
)
from .references import HARMONICS, KnownSignal, Reference, grouped_folds, match_signal, reference_set
from .store import Calibration, new_run_id, save_calibration, utc_timestamp

__all__ = ["calibrate"]

_PLANET_LABELS = {"planet_host", "planet"}
_NONPLANET_LABELS = {"eclipsing_binary", "false_positive", "variable_star", "quiet_star", "other"}
_NAN = float("nan")
#: Metrics of the probability step, NaN when it is not fitted.
_PROB_METRICS = ("prob_ece_before", "prob_ece_after", "prob_nll_before", "prob_nll_after", "prob_threshold",
                 "prob_precision_at_threshold", "prob_recall_at_threshold")


# ----------------------------------------------------------------------------------------
# records of a run (stored in Calibration.tables as plain dicts, in field order)
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Detection:
    """One detection on a reference, with its match (``signal`` -1: none) and its truth."""

    reference: str
    group: str
    ref_label: str
    index: int
    period: float
    epoch: float
    duration_h: float
    depth_ppm: float
    snr: float
    sde: float
    single_event: bool
    truth: str
    signal: int
    harmonic: float
    period_error: float
    epoch_offset_h: float
    cat_depth_ppm: float
    cat_duration_h: float
    label: str
    p_planet: float = _NAN
    p_eb: float = _NAN
    p_variability: float = _NAN
    p_instrumental: float = _NAN
    p_noise: float = _NAN
    #: held-out calibrated p_planet and label (filled in after the fit)
    p_planet_cal: float = _NAN
    label_cal: str = ""

    @property
    def probabilities(self) -> list[float]:
        """The ``p_*`` values in the order of :data:`astrotinyml.candidates.PROBABILITY_COLUMNS`."""
        return [getattr(self, c) for c in PROBABILITY_COLUMNS]


@dataclasses.dataclass(frozen=True)
class SignalOutcome:
    """One known signal of a reference: covered by data, its SNR there, and whether it was found."""

    reference: str
    group: str
    ref_label: str
    signal: int
    kind: str
    name: str
    period: float
    epoch: float
    cat_duration_h: float
    cat_depth_ppm: float
    n_covered: int
    detectable: bool
    snr_expected: float
    depth_in_data_ppm: float
    recovered: bool
    recovered_alias: bool
    #: index of the matching detection in the run's detections (-1: none)
    detection: int


@dataclasses.dataclass(frozen=True)
class ReferenceOutcome:
    """One reference: the pipeline's status and its counts."""

    reference: str
    target: str
    group: str
    label: str
    path: str
    sha256: str
    status: str
    n_detections: int = 0
    n_signals: int = 0
    n_detectable: int = 0
    n_recovered: int = 0
    n_unmatched: int = 0
    n_periodic_unmatched: int = 0


# ----------------------------------------------------------------------------------------
# per-reference evaluation
# ----------------------------------------------------------------------------------------

def _transit_stats(lc, period: float, epoch: float, duration_h: float) -> dict:
    """SNR of a known signal in a flattened light curve, and transits covered by data."""
    tt = lc.time
    t = np.asarray(tt.jd if hasattr(tt, "jd") else tt, dtype=float)  # full BJD_TDB
    f = np.asarray(getattr(lc.flux, "value", lc.flux), dtype=float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    res = dict(n_covered=0, snr_expected=_NAN, depth_measured_ppm=_NAN)
    if t.size < 10 or not np.isfinite(period) or not np.isfinite(epoch):
        return res
    if not np.isfinite(duration_h) or duration_h <= 0:
        # Solar-density estimate: T ~ 13 h (P / 365 d)^(1/3).
        duration_h = 13.0 * (period / 365.25) ** (1 / 3)
    half = duration_h / 48.0
    phase = (t - epoch + 0.5 * period) % period - 0.5 * period
    intr = np.abs(phase) < half
    cyc = np.round((t - epoch) / period)
    res["n_covered"] = int(np.unique(cyc[intr]).size)
    out = np.abs(phase) > 2 * half
    if intr.sum() < 2 or out.sum() < 10:
        return res
    base = np.median(f[out])
    sigma = robust_std(f[out])
    depth = base - np.mean(f[intr])
    res["depth_measured_ppm"] = float(depth * 1e6)
    if sigma > 0:
        res["snr_expected"] = float(depth / sigma * np.sqrt(intr.sum()))
    return res


def _best_match(P: float, T0: float, D: float, signals: Sequence[KnownSignal], *, period_tol: float,
                epoch_tol: float) -> tuple[int, dict] | None:
    """(index, match) of the known signal a detection matches best (true period first), or None."""
    best = None
    for j, s in enumerate(signals):
        m = match_signal(P, T0, D, known_period=s.period, known_epoch=s.epoch, known_duration_h=s.duration_h,
                         period_tol=period_tol, epoch_tol=epoch_tol, check_epoch=s.kind != "eb")
        if m["matched"]:
            rank = (0 if m["harmonic"] == 1.0 else 1, abs(m["period_error"]) if np.isfinite(m["period_error"]) else 1)
            if best is None or rank < best[0]:
                best = (rank, j, m)
    return None if best is None else (best[1], best[2])


def _detections(ref: Reference, cands, *, period_tol: float, epoch_tol: float) -> list[Detection]:
    """The detections of one reference, each matched to its known signals."""
    signals = ref.signals
    names = cands.colnames
    has_p = all(c in names for c in PROBABILITY_COLUMNS)
    out = []
    for i in range(len(cands)):
        row = cands[i]
        P, T0, D = cell_value(row["pl_orbper"]), cell_value(row["pl_tranmid"]), cell_value(row["pl_trandurh"])
        hit = _best_match(P, T0, D, signals, period_tol=period_tol, epoch_tol=epoch_tol)
        if hit is not None:
            j, m = hit
            truth = {"planet": "planet", "eb": "eb", "false_positive": "false_positive", "other": "other"}[signals[j].kind]
        else:
            j, m = -1, dict(harmonic=_NAN, period_error=_NAN, epoch_offset_h=_NAN)
            truth = {"variable_star": "variability", "eclipsing_binary": "noise"}.get(ref.label, "noise")
        probs = {c: cell_value(row[c]) if has_p else _NAN for c in PROBABILITY_COLUMNS}
        out.append(Detection(
            reference=ref.reference, group=ref.group, ref_label=ref.label, index=i,
            period=P, epoch=T0, duration_h=D, depth_ppm=cell_value(row["pl_trandep"]),
            snr=cell_value(row["snr"]), sde=cell_value(row["sde"]) if "sde" in names else _NAN,
            single_event=bool(row["single_event"]) if "single_event" in names else not np.isfinite(P),
            truth=truth, signal=j, harmonic=m["harmonic"], period_error=m["period_error"],
            epoch_offset_h=m["epoch_offset_h"],
            cat_depth_ppm=signals[j].depth_ppm if j >= 0 else _NAN,
            cat_duration_h=signals[j].duration_h if j >= 0 else _NAN,
            label=str(row["label"]) if "label" in names else "", **probs))
    return out


def _signal_outcomes(ref: Reference, flat, dets: list[Detection], min_transits: int) -> list[SignalOutcome]:
    """Per known signal: covered by data, its SNR there, and the detection that found it."""
    out = []
    for j, s in enumerate(ref.signals):
        st = _transit_stats(flat, s.period, s.epoch, s.duration_h)
        hits = [i for i, d in enumerate(dets) if d.signal == j]
        exact = [i for i in hits if dets[i].harmonic == 1.0]
        out.append(SignalOutcome(
            reference=ref.reference, group=ref.group, ref_label=ref.label, signal=j, kind=s.kind,
            name=s.catalog_name, period=s.period, epoch=s.epoch,
            cat_duration_h=s.duration_h, cat_depth_ppm=s.depth_ppm, n_covered=st["n_covered"],
            detectable=bool(st["n_covered"] >= min_transits), snr_expected=st["snr_expected"],
            depth_in_data_ppm=st["depth_measured_ppm"], recovered=bool(exact),
            recovered_alias=bool(hits) and not exact, detection=(exact or hits or [-1])[0]))
    return out


def _evaluate(ref: Reference, result, *, period_tol: float, epoch_tol: float, min_transits: int
              ) -> tuple[list[Detection], list[SignalOutcome], ReferenceOutcome]:
    """(detections, signal outcomes, reference outcome) for one reference and its DetectionResult."""
    dets = _detections(ref, result.candidates, period_tol=period_tol, epoch_tol=epoch_tol)
    sigs = _signal_outcomes(ref, result.flat, dets, min_transits)
    outcome = ReferenceOutcome(
        reference=ref.reference, target=ref.target, group=ref.group, label=ref.label, path=ref.path,
        sha256=ref.sha256, status="ok", n_detections=len(dets), n_signals=len(ref.signals),
        n_detectable=sum(r.detectable for r in sigs), n_recovered=sum(r.recovered for r in sigs if r.detectable),
        n_unmatched=sum(d.signal < 0 for d in dets),
        n_periodic_unmatched=sum(d.signal < 0 and not d.single_event for d in dets))
    return dets, sigs, outcome


# ----------------------------------------------------------------------------------------
# fits
# ----------------------------------------------------------------------------------------

def _robust_ratio(r: np.ndarray) -> dict:
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return dict(median=_NAN, q16=_NAN, q84=_NAN, n=0)
    return dict(median=float(np.median(r)), q16=float(np.percentile(r, 16)), q84=float(np.percentile(r, 84)),
                n=int(r.size))


def _binned(x: np.ndarray, y: np.ndarray, edges: list[float]) -> list[dict]:
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = np.isfinite(x) & (x >= lo) & (x < hi)
        out.append(dict(lo=lo, hi=hi, n=int(m.sum()), recovered=int(y[m].sum()),
                        rate=float(y[m].mean()) if m.any() else _NAN))
    return out


def _mean_or_nan(values) -> float:
    values = list(values)
    return float(np.mean(values)) if values else _NAN


def _fit_recovery(sigs: list[SignalOutcome], *, folds: int, seed: int) -> tuple[dict, dict]:
    """Step 1: recovery of detectable known planets vs their SNR in the data."""
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    S = [s for s in sigs if s.kind == "planet" and s.detectable]
    rec = np.array([s.recovered for s in S], float)
    rec_any = np.array([s.recovered or s.recovered_alias for s in S], float)
    snr = np.array([s.snr_expected for s in S], float)
    per = np.array([s.period for s in S], float)
    metrics["n_planet_signals"] = len(S)
    metrics["recovery_rate"] = float(rec.mean()) if S else _NAN
    metrics["recovery_rate_with_aliases"] = float(rec_any.mean()) if S else _NAN
    ok = np.isfinite(snr) & (snr > 0)
    x = np.log10(np.clip(snr, 0.1, None))
    if ok.sum() >= 3 and 0 < rec[ok].sum() < ok.sum():
        a, b = fit_logistic(x[ok], rec[ok])
        params["recovery_logistic"] = dict(a=a, b=b, x="log10(snr_expected)",
                                           snr50=float(10 ** (-a / b)) if b else _NAN)
        g = grouped_folds([s.group for s, k in zip(S, ok) if k], folds, seed)
        oof = np.full(ok.sum(), np.nan)
        for k in np.unique(g):
            tr, te = g != k, g == k
            if tr.sum() >= 2:
                aa, bb = fit_logistic(x[ok][tr], rec[ok][tr])
                oof[te] = sigmoid(aa + bb * x[ok][te])
        m = np.isfinite(oof)
        metrics["recovery_model_nll_heldout"] = nll(oof[m], rec[ok][m])
    else:
        params["recovery_logistic"] = dict(a=_NAN, b=_NAN, x="log10(snr_expected)",
                                           snr50=_NAN, note="not fitted: too few detectable signals "
                                           "or all/none recovered")
    params["recovery_by_snr"] = _binned(snr, rec, [0, 7.1, 10, 20, 50, 1e9])
    params["recovery_by_period"] = _binned(per, rec, [0, 1, 3, 10, 30, 1e9])
    return params, metrics


def _false_alarm_metrics(sigs: list[SignalOutcome], refs: list[ReferenceOutcome]) -> dict:
    """Step 2: unmatched detections on stars without planets and on planet hosts; EBs found."""
    ok = [r for r in refs if r.status == "ok"]
    non = [r for r in ok if r.label in _NONPLANET_LABELS - {"eclipsing_binary"}]
    host = [r for r in ok if r.label in _PLANET_LABELS]
    ebs = [r for r in ok if r.label == "eclipsing_binary"]
    eb_sig = [s for s in sigs if s.kind == "eb" and s.detectable]
    return {
        "n_nonplanet_stars": len(non),
        "false_alarms_per_star": _mean_or_nan(r.n_unmatched for r in non),
        "periodic_false_alarms_per_star": _mean_or_nan(r.n_periodic_unmatched for r in non),
        "nonplanet_star_fa_fraction": _mean_or_nan(r.n_unmatched > 0 for r in non),
        "unmatched_per_host": _mean_or_nan(r.n_unmatched for r in host),
        "n_eb_signals": len(eb_sig),
        "eb_detected_rate": _mean_or_nan(s.recovered or s.recovered_alias for s in eb_sig),
        "n_eb_stars": len(ebs),
    }


def _fit_biases(dets: list[Detection], *, folds: int, seed: int) -> tuple[dict, dict]:
    """Step 3: depth/duration ratios measured/catalogue (matched at the true period) and precision."""
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    M = [d for d in dets if d.truth == "planet" and d.harmonic == 1.0]
    dr = np.array([d.depth_ppm / d.cat_depth_ppm if d.cat_depth_ppm > 0 else np.nan for d in M])
    tr_ = np.array([d.duration_h / d.cat_duration_h if d.cat_duration_h > 0 else np.nan for d in M])
    dep, dur = _robust_ratio(dr), _robust_ratio(tr_)
    params["depth_correction"] = 1.0 / dep["median"] if dep["n"] else 1.0
    params["duration_correction"] = 1.0 / dur["median"] if dur["n"] else 1.0
    params["depth_ratio"] = dep
    params["duration_ratio"] = dur
    metrics["depth_ratio_median"] = dep["median"]
    metrics["duration_ratio_median"] = dur["median"]
    metrics["n_depth_pairs"] = dep["n"]
    # held-out: |log ratio| after a correction fitted on the other folds
    for name, ratios in (("depth", dr), ("duration", tr_)):
        idx = np.isfinite(ratios) & (ratios > 0)
        if idx.sum() >= 3:
            g = grouped_folds([d.group for d, k in zip(M, idx) if k], folds, seed)
            lr = np.log(ratios[idx])
            after = np.full(lr.size, np.nan)
            for k in np.unique(g):
                if (g != k).any():
                    after[g == k] = lr[g == k] - np.median(lr[g != k])
            metrics[f"{name}_abs_log_error_before"] = float(np.median(np.abs(lr)))
            metrics[f"{name}_abs_log_error_after_heldout"] = float(np.nanmedian(np.abs(after)))
    pe = np.array([abs(d.period_error) for d in M])
    metrics["period_rel_error_median"] = float(np.median(pe)) if pe.size else _NAN
    eo = np.array([d.epoch_offset_h for d in M], float)
    eo = eo[np.isfinite(eo)]
    metrics["epoch_offset_h_median"] = float(np.median(eo)) if eo.size else _NAN
    metrics["epoch_abs_offset_h_median"] = float(np.median(np.abs(eo))) if eo.size else _NAN
    params["period_precision"] = dict(rel_error_median=metrics["period_rel_error_median"],
                                      epoch_abs_offset_h_median=metrics["epoch_abs_offset_h_median"])
    return params, metrics


def _not_fitted(reason: str) -> dict:
    return dict(probability=dict(fitted=False, method="none", reason=reason),
                threshold=dict(value=_NAN, fitted=False, reason=reason))


def _heldout_probabilities(P: np.ndarray, y: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold calibrated probabilities of both maps (NaN rows: fold without training data)."""
    oof = {"temperature": np.full_like(P, np.nan), "isotonic": np.full_like(P, np.nan)}
    for k in np.unique(g):
        tr, te = g != k, g == k
        if tr.sum() < 2:
            continue
        T = fit_temperature(P[tr], y[tr])
        oof["temperature"][te] = apply_temperature(P[te], T)
        oof["isotonic"][te] = apply_isotonic(P[te], fit_isotonic(P[tr, 0], y[tr]))
    return oof


def _fit_probabilities(dets: list[Detection], *, folds: int, seed: int, target_precision: float,
                       classes: Sequence[str]) -> tuple[dict, dict, dict]:
    """Step 4: probability calibration and decision threshold (needs classifier output)."""
    metrics: dict[str, Any] = {}
    D = [d for d in dets if np.isfinite(d.p_planet)]
    if not D:
        metrics.update({k: _NAN for k in _PROB_METRICS}, probability_fitted=0.0)
        return _not_fitted("not fitted: no classifier output"), metrics, {}
    P = np.array([d.probabilities for d in D], float)
    y = np.array([d.truth == "planet" for d in D], float)
    metrics["n_classified"] = len(D)
    metrics["n_classified_planet"] = int(y.sum())
    oof = _heldout_probabilities(P, y, grouped_folds([d.group for d in D], folds, seed))
    have = np.isfinite(oof["temperature"][:, 0])
    nlls = {m: nll(v[have, 0], y[have]) for m, v in oof.items()}
    metrics["prob_nll_before"] = nll(P[have, 0], y[have])
    metrics["prob_nll_temperature_heldout"] = nlls["temperature"]
    metrics["prob_nll_isotonic_heldout"] = nlls["isotonic"]
    if y.sum() == 0 or y.sum() == len(y) or not have.any():
        params = _not_fitted(f"not fitted: references give {int(y.sum())} planet and "
                             f"{int(len(y) - y.sum())} non-planet classified detections")
        metrics["probability_fitted"] = 0.0
        metrics["prob_ece_before"] = expected_calibration_error(P[:, 0], y)
        metrics.update({k: _NAN for k in _PROB_METRICS if k not in ("prob_ece_before", "prob_nll_before")})
        return params, metrics, {}
    method = min(nlls, key=lambda m: (nlls[m], m != "temperature"))  # ties: the smoother one
    final = {"method": method, "fitted": True, "classes": list(classes),
             "heldout_nll": nlls, "chosen_by": "held-out negative log-likelihood of planet vs not planet"}
    if method == "temperature":
        final["temperature"] = fit_temperature(P, y)
    else:
        final["isotonic"] = fit_isotonic(P[:, 0], y)
    Q = oof[method]
    metrics["prob_ece_before"] = expected_calibration_error(P[have, 0], y[have])
    metrics["prob_ece_after"] = expected_calibration_error(Q[have, 0], y[have])
    metrics["prob_nll_after"] = nlls[method]
    th = precision_threshold(Q[have, 0], y[have], Q[have].argmax(axis=1) == 0, target_precision)
    params = dict(probability=final, threshold=dict(
        value=th["threshold"], fitted=True, target_precision=target_precision, reached=th["reached"],
        note="lowest calibrated p_planet whose held-out planet-label precision reaches "
             "the target; signals whose best calibrated probability is below it are 'unknown'"))
    metrics["probability_fitted"] = 1.0
    metrics["prob_threshold"] = th["threshold"]
    metrics["prob_precision_at_threshold"] = th["precision"]
    metrics["prob_recall_at_threshold"] = th["recall"]
    rows = np.array([i for i, d in enumerate(dets) if np.isfinite(d.p_planet)])[have]
    return params, metrics, dict(oof_p_planet=(rows, Q[have, 0], Q[have]), threshold=th["threshold"])


def _fit_all(dets: list[Detection], sigs: list[SignalOutcome], refs: list[ReferenceOutcome], *, folds: int,
             seed: int, target_precision: float, classes: Sequence[str]) -> tuple[dict, dict, dict]:
    """(parameters, metrics, extra per-detection arrays) -- metrics from held-out folds."""
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    p, m = _fit_recovery(sigs, folds=folds, seed=seed)
    params.update(p)
    metrics.update(m)
    metrics.update(_false_alarm_metrics(sigs, refs))
    p, m = _fit_biases(dets, folds=folds, seed=seed)
    params.update(p)
    metrics.update(m)
    p, m, extra = _fit_probabilities(dets, folds=folds, seed=seed, target_precision=target_precision,
                                     classes=classes)
    params.update(p)
    metrics.update(m)
    return params, metrics, extra


# ----------------------------------------------------------------------------------------
# calibrate
# ----------------------------------------------------------------------------------------

def _progress(it, total, enabled, desc):
    if not enabled:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return it
    return tqdm(it, total=total, desc=desc, file=sys.stderr)


def _check_references(refs, results) -> None:
    if len(refs) == 0:
        raise InvalidParameterError("calibrate: the reference set is empty.")
    if results is not None and len(results) != len(refs):
        raise InvalidParameterError(f"calibrate: {len(results)} results for {len(refs)} references")


def _detect_options(detect_options: dict | None) -> dict:
    opts = dict(detect_options or {})
    # Record the search passes (they change depths and durations) even when left at the default.
    opts.setdefault("search_passes", inspect.signature(detection.detect).parameters["search_passes"].default)
    return opts


def _detect_reference(ref: Reference, source, opts: dict):
    """detect() on one reference with raw probabilities; a ReferenceOutcome with the error if it fails."""
    kw = dict(opts)
    kw["calibration"] = False  # fit on the model's raw probabilities, never on calibrated ones
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return detection.detect(source, **kw)
    except Exception as exc:  # noqa: BLE001 - isolate one bad reference
        return ReferenceOutcome(reference=ref.reference, target=ref.target, group=ref.group, label=ref.label,
                                path=ref.path, sha256=ref.sha256,
                                status=f"error: {type(exc).__name__}: {exc}"[:300])


def _evaluate_all(refs, results, opts: dict, *, period_tol: float, epoch_tol: float, progress: bool):
    """Detect (unless given) and evaluate every reference: (detections, signals, references, model sha256)."""
    min_transits = int(opts.get("min_transits", 2))
    lcs = refs.meta.get("lightcurves", {}) if hasattr(refs, "meta") else {}
    dets: list[Detection] = []
    sigs: list[SignalOutcome] = []
    rrows: list[ReferenceOutcome] = []
    model_sha = ""
    rows = [Reference.from_row(dict(zip(refs.colnames, [str(v) for v in r]))) for r in refs]
    for i, ref in enumerate(_progress(rows, len(rows), progress, "calibrate")):
        res = results[i] if results is not None else None
        if res is None:
            res = _detect_reference(ref, lcs.get(ref.reference, ref.path), opts)
            if isinstance(res, ReferenceOutcome):
                rrows.append(res)
                continue
        if (getattr(res.candidates, "meta", {}) or {}).get("classifier_calibrated"):
            raise InvalidParameterError(
                f"calibrate: the result for {ref.reference} carries calibrated probabilities; calibration "
                f"must be fitted on the model's raw output (detect(..., calibration=False)).")
        d, s, r = _evaluate(ref, res, period_tol=period_tol, epoch_tol=epoch_tol, min_transits=min_transits)
        base = len(dets)
        sigs += [dataclasses.replace(x, detection=x.detection + base) if x.detection >= 0 else x for x in s]
        dets += d
        rrows.append(r)
        model_sha = model_sha or str(getattr(res, "model_sha256", "") or "")
    if not any(r.status == "ok" for r in rrows):
        raise InvalidParameterError("calibrate: the pipeline failed on every reference: " +
                                    "; ".join(r.status for r in rrows[:5]))
    return rows, dets, sigs, rrows, model_sha


def _with_heldout_labels(dets: list[Detection], extra: dict, classes: Sequence[str]) -> list[Detection]:
    """Held-out calibrated p_planet and label per detection (confusion matrix / reliability diagram)."""
    if "oof_p_planet" not in extra:
        return dets
    dets = list(dets)
    idx, pp, Q = extra["oof_p_planet"]
    labs = decide_labels(Q, classes, extra["threshold"])
    for k, i in enumerate(idx):
        dets[i] = dataclasses.replace(dets[i], p_planet_cal=float(pp[k]), label_cal=labs[k])
    return dets


def _reference_summary(refs, rows: list[Reference], rrows: list[ReferenceOutcome]) -> dict:
    by_label: dict[str, int] = {}
    for r in rows:
        by_label[r.label] = by_label.get(r.label, 0) + 1
    return dict(sources=list(refs.meta.get("sources", [])) if hasattr(refs, "meta") else [],
                n_references=len(rows), n_ok=sum(r.status == "ok" for r in rrows),
                n_targets=len({r.group for r in rows}), by_label=by_label,
                files=[dict(file=r.reference, sha256=r.sha256, label=r.label) for r in rows])


def calibrate(
    references: Any = "bundled",
    *,
    db: str | os.PathLike | None = None,
    store: bool = True,
    results: Sequence[Any] | None = None,
    target_precision: float = 0.9,
    folds: int = 5,
    seed: int = 0,
    period_tol: float = 0.01,
    epoch_tol: float = 1.0,
    detect_options: dict | None = None,
    drift_tolerances: dict | None = None,
    progress: bool = True,
) -> Calibration:
    """Run the pipeline on reference light curves, match, fit, and store a calibration run.

    Parameters
    ----------
    references : Table, str, path-like or list
        A :func:`reference_set` table, or what :func:`reference_set` accepts (``"bundled"``,
        a MANIFEST directory, ``"koi"``/``"toi"``/``"planets"``).
    db : path-like, optional
        Calibration database (default ``<cache_dir>/calibration.sqlite``).
    store : bool
        Write the run to the database (False: just return it).
    results : sequence of DetectionResult, optional
        Precomputed :func:`astrotinyml.detection.detect` results, one per reference row in order
        (None items are computed); keeps notebooks and tests from detecting twice.
    target_precision : float
        Precision of ``planet`` labels the decision threshold must reach on held-out folds.
    folds : int
        k of the grouped k-fold (groups: stars); 0 = leave-one-target-out.
    seed : int
        Fold assignment seed.
    period_tol, epoch_tol : float
        Matching tolerances (see :func:`match_signal`).
    detect_options : dict, optional
        Keyword arguments for :func:`astrotinyml.detection.detect`.
    drift_tolerances : dict, optional
        Overrides of :data:`DRIFT_TOLERANCES`.
    progress : bool
        tqdm progress bar on stderr.

    Returns
    -------
    Calibration
        With ``drift`` filled in against the previous run in the database when stored.

    Raises
    ------
    InvalidParameterError
        Bad options, ``results`` of the wrong length, or no usable reference.
    CalibrationDatabaseError
        The database file is unusable (nothing is written to it).

    Examples
    --------
    >>> refs = reference_set("bundled", labels=["planet_host", "quiet_star"], enrich=False)
    >>> refs = refs[[r.startswith(("tess_WASP-18", "k2_EPIC248")) for r in refs["reference"]]]
    >>> cal = calibrate(refs, store=False, progress=False)
    >>> cal.metrics["recovery_rate"]
    1.0
    """
    if not 0 < target_precision <= 1:
        raise InvalidParameterError(f"target_precision must be in (0, 1], got {target_precision}")
    if folds < 0 or folds == 1:
        raise InvalidParameterError(f"folds must be 0 (leave-one-target-out) or >= 2, got {folds}")
    refs = references if hasattr(references, "colnames") else reference_set(references)
    _check_references(refs, results)
    if store:
        # before the minutes of detection: a read-only or foreign database fails now, not after
        check_writable(db)
    opts = _detect_options(detect_options)
    classes = [c[2:] for c in PROBABILITY_COLUMNS]
    rows, dets, sigs, rrows, model_sha = _evaluate_all(refs, results, opts, period_tol=period_tol,
                                                       epoch_tol=epoch_tol, progress=progress)
    params, metrics, extra = _fit_all(dets, sigs, rrows, folds=folds, seed=seed,
                                      target_precision=target_precision, classes=classes)
    dets = _with_heldout_labels(dets, extra, classes)
    summary = _reference_summary(refs, rows, rrows)
    options = dict(target_precision=target_precision, folds=folds, seed=seed, period_tol=period_tol,
                   epoch_tol=epoch_tol, detect_options={k: v for k, v in opts.items() if k != "model"},
                   harmonics=list(HARMONICS))
    created = utc_timestamp()
    cid = new_run_id(created, clean(dict(p=params, m=metrics, s=summary, pid=os.getpid())))
    tables = dict(references=[dataclasses.asdict(r) for r in rrows], detections=[dataclasses.asdict(d) for d in dets],
                  signals=[dataclasses.asdict(s) for s in sigs])
    cal = Calibration(id=cid, created=created, software_version=__version__, model_sha256=model_sha,
                      reference_summary=summary, parameters=params, metrics=metrics, tables=tables, options=options)
    if store:
        save_calibration(cal, db=db, drift_tolerances=drift_tolerances)
    return cal
