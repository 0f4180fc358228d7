"""Self-calibration on targets with known answers, a calibration database, and drift checks.

A calibration run (:func:`calibrate`) takes *reference* light curves whose answer is known
(:func:`reference_set`: confirmed planets and candidates with their ephemerides, eclipsing
binaries, false positives, variable and quiet stars), runs :func:`astrotinyml.detection.detect`
on each, matches the detections to the known ephemerides (:func:`match_signal`: period within
a tolerance, harmonics P/2, 2P, P/3, 3P included, epoch within a transit duration) and fits

* **recovery** (completeness) of known planets as a function of the SNR they have in the data
  (a logistic curve in log SNR, plus binned rates by SNR and by period);
* **false alarms**: detections on stars with no planet (quiet, variable, EB, false-positive
  references) and unmatched detections on planet hosts;
* **systematic biases**: measured / catalogue depth and duration (the detrending losses),
  period and epoch precision; the correction factors are medians of the ratios;
* **probability calibration** of the classifier (temperature scaling of all ``p_*`` columns
  or isotonic regression of ``p_planet``; the one with the higher held-out likelihood wins)
  and the **decision threshold** that reaches the target precision for ``planet`` (below it
  a signal is ``unknown``).  Only when the detections carry classifier output (``p_*``
  columns); otherwise the run says ``not fitted: no classifier output``.

Reported metrics come from held-out folds grouped by target (k-fold, or leave-one-target-out
with ``folds=0``): nothing is scored on what it was fitted on.  The final parameters are fitted
on all references.

Runs go to an SQLite database (default ``<cache_dir>/calibration.sqlite``; see
``astrotinyml.calibration._db``): schema-versioned, one transaction per run, WAL, safe for several
writing processes.  A run whose metrics move beyond :data:`DRIFT_TOLERANCES` from the previous
run is flagged as drift.  :func:`load_calibration` returns the latest run (or a named one),
falling back to the default shipped in ``astrotinyml/models/calibration.json``;
:func:`apply_calibration` applies one to a candidates table.

For example, a detection at twice WASP-18 b's period matches it as the 2P harmonic:

>>> from astrotinyml.calibration.store import match_signal
>>> match_signal(1.8829, 2458354.70, 2.1, known_period=0.941453, known_epoch=2458354.70)["harmonic"]
2.0
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..config import DATA_DIR, MODELS_DIR
from ..errors import (
    CalibrationDatabaseError,
    CalibrationNotFoundError,
    InvalidParameterError,
    OfflineError,
    error_boundary,
)

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import QTable, Table
    from matplotlib.figure import Figure

__all__ = [
    "Calibration", "reference_set", "match_signal", "calibrate", "load_calibration", "save_calibration",
    "calibration_history", "current_calibration_id", "apply_calibration", "default_calibration",
    "with_probability_calibration", "grouped_folds", "expected_calibration_error", "fit_temperature",
    "apply_temperature", "precision_threshold",
    "DEFAULT_CALIBRATION_PATH", "DRIFT_TOLERANCES", "HARMONICS",
    "plot_reliability", "plot_recovery", "plot_confusion",
]

#: The calibration shipped with the package (fitted on the real corpus; see its ``reference_summary``).
DEFAULT_CALIBRATION_PATH = MODELS_DIR / "calibration.json"
_BUNDLED = DATA_DIR

#: Period ratios detected/known that count as the same signal (aliases).
HARMONICS = (1.0, 0.5, 2.0, 1.0 / 3.0, 3.0)

#: Absolute change ``abs(new - previous)`` beyond which a metric is flagged as drift.
DRIFT_TOLERANCES = {
    "recovery_rate": 0.10,
    "false_alarms_per_star": 0.50,
    "nonplanet_star_fa_fraction": 0.15,
    "depth_ratio_median": 0.10,
    "duration_ratio_median": 0.15,
    "prob_ece_after": 0.05,
    "prob_threshold": 0.10,
}

_TIME_OFFSETS = {"BKJD": 2454833.0, "BTJD": 2457000.0}
_PLANET_LABELS = {"planet_host", "planet"}
_NONPLANET_LABELS = {"eclipsing_binary", "false_positive", "variable_star", "quiet_star", "other"}
_PROB_COLS = ("p_planet", "p_eb", "p_variability", "p_instrumental", "p_noise")
_EPS = 1e-6


# ----------------------------------------------------------------------------------------
# reference sets
# ----------------------------------------------------------------------------------------

def _floats(text: str) -> list[float]:
    out = []
    for tok in (text or "").split(";"):
        tok = tok.strip()
        try:
            out.append(float(tok) if tok else float("nan"))
        except ValueError:
            out.append(float("nan"))
    return out


def _offset(system: str) -> float | None:
    """Days to add to a time in ``system`` for full BJD; None when unknown."""
    s = (system or "").upper()
    for key, off in _TIME_OFFSETS.items():
        if key in s:
            return off
    m = re.search(r"BJD\s*-\s*(24\d{5}(?:\.\d+)?)", s)
    if m:
        return float(m.group(1))
    if "BJD" in s or "FULL" in s:
        return 0.0
    return None


def _epochs(text: str, default_system: str) -> list[float]:
    """Full-BJD epochs from a MANIFEST ``known_epoch`` / ``epoch_in_data_bls`` cell."""
    if not text or not text.strip():
        return []
    values, _, paren = text.partition("(")
    head = paren.split(";")[0]
    off = _offset(head)
    if off is None or "file time system" in paren:
        off = _offset(default_system)
    if off is None:
        return []
    vals = _floats(values)
    return [v + off if np.isfinite(v) and v < 2.0e6 else v for v in vals]


def _identifiers(text: str) -> dict:
    ids: dict[str, Any] = {}
    m = re.search(r"\bKIC\s*0*(\d+)", text)
    if m:
        ids["kic"] = int(m.group(1))
    m = re.search(r"\bTIC[\s_-]*0*(\d+)", text)
    if m:
        ids["tic"] = int(m.group(1))
    names = re.findall(r"\b((?:K2|WASP|HAT-P|Kepler|TOI)-\d+)\b", text)
    ids["names"] = list(dict.fromkeys(names))
    return ids


def _catalogue_rows(ids: dict, *, offline) -> list[dict]:
    """Catalogue ephemerides (depth, duration, disposition) for a star, from the archives."""
    from ..remote import archives

    rows: list[dict] = []
    queries = []
    if "kic" in ids:
        queries.append((archives.query_koi, f"KIC {ids['kic']}"))
    if "tic" in ids:
        queries.append((archives.query_toi, f"TIC {ids['tic']}"))
    for name in ids.get("names", []):
        if name.startswith(("K2-", "WASP-", "HAT-P-")):
            queries.append((archives.query_planets, name))
    for fn, arg in queries:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = archives.reference_ephemerides(fn(arg, offline=offline))
        except Exception:  # noqa: BLE001 - enrichment is best effort (offline, not in snapshot)
            continue
        for r in ref:
            rows.append(dict(name=str(r["name"]), period=float(getattr(r["pl_orbper"], "value", r["pl_orbper"])),
                             epoch=float(getattr(r["pl_tranmid"], "value", r["pl_tranmid"])),
                             duration_h=float(getattr(r["pl_trandurh"], "value", r["pl_trandurh"])),
                             depth_ppm=float(r["pl_trandep"]), disposition=str(r["disposition"]),
                             catalog=str(r["catalog"])))
    return rows


def _signals_from_manifest(row: dict, *, enrich: bool, offline) -> list[dict]:
    label = row.get("label", "").strip()
    kind = {"planet_host": "planet", "eclipsing_binary": "eb", "false_positive": "false_positive",
            "other": "other"}.get(label)
    if kind is None:
        return []
    system = row.get("time_system", "") or ""
    periods = [p for p in _floats(row.get("known_period_days", "")) if np.isfinite(p)]
    known = _epochs(row.get("known_epoch", ""), system)
    bls = _epochs(row.get("epoch_in_data_bls", ""), system)
    cat = _catalogue_rows(_identifiers(" ".join([row.get("target", ""), row.get("known_epoch", ""),
                                                 row.get("label_source", ""), row.get("file", "")])),
                          offline=offline) if enrich else []
    out = []
    for i, p in enumerate(periods):
        ep = known[i] if i < len(known) else float("nan")
        source = "manifest"
        if not np.isfinite(ep) and i < len(bls) and np.isfinite(bls[i]):
            ep, source = bls[i], "manifest_bls"
        sig = dict(kind=kind, period=p, epoch=ep, epoch_source=source if np.isfinite(ep) else "",
                   duration_h=float("nan"), depth_ppm=float("nan"), catalog_name="", disposition="")
        best = None
        for c in cat:
            if np.isfinite(c["period"]) and abs(c["period"] / p - 1) < 2e-3:
                best = c
                break
        if best is not None:
            sig.update(duration_h=best["duration_h"], depth_ppm=best["depth_ppm"],
                       catalog_name=best["name"], disposition=best["disposition"])
            if not np.isfinite(sig["epoch"]) and np.isfinite(best["epoch"]):
                sig.update(epoch=best["epoch"], epoch_source=best["catalog"])
        # EB catalogue entries (TEBC) and circumbinary planets: first period is the EB.
        if kind == "eb" and i > 0 and "CBP" in row.get("file", ""):
            sig["kind"] = "planet"
        out.append(sig)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_refs(directory: Path, *, enrich: bool, offline, labels, check_sha: bool) -> list[dict]:
    import csv

    man = None
    for name in ("MANIFEST.csv", "manifest.csv"):
        if (directory / name).exists():
            man = directory / name
            break
    if man is None:
        raise InvalidParameterError(
            f"reference_set: {directory} has no MANIFEST.csv (one row per light-curve file with columns "
            f"file, target, label, known_period_days, known_epoch, time_system).")
    refs = []
    with open(man, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            path = directory / row["file"]
            label = (row.get("label") or "").strip()
            if labels is not None and label not in labels:
                continue
            if not path.exists():
                continue
            sha = row.get("sha256", "")
            if check_sha and sha and _sha256(path) != sha:
                warnings.warn(f"{path}: sha256 differs from {man.name}; skipped", stacklevel=3)
                continue
            target = (row.get("target") or path.stem).strip()
            refs.append(dict(
                reference=path.name, target=target, group=_group_id(target),
                path=str(path), label=label, mission=row.get("mission", ""),
                time_system=row.get("time_system", ""), sha256=sha or _sha256(path),
                source=str(man), signals=json.dumps(_signals_from_manifest(row, enrich=enrich, offline=offline)),
            ))
    return refs


def _group_id(target: str) -> str:
    """Stable star identity from a MANIFEST target string (EPIC/KIC/TIC number, else the name)."""
    for key in ("KIC", "TIC", "EPIC"):
        m = re.search(rf"\b{key}[\s_-]*0*(\d+)", target)
        if m:
            return f"{key} {m.group(1)}"
    return target.split("(")[0].strip()


def _catalog_refs(name: str, *, offline, limit, targets, cache_dir) -> list[dict]:
    from ..remote import archives
    from ..remote.mast import fetch_lightcurve

    fn = {"koi": archives.query_koi, "toi": archives.query_toi, "planets": archives.query_planets}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if targets:
            tabs = [archives.reference_ephemerides(fn(t, offline=offline)) for t in targets]
            from astropy.table import vstack

            ref = vstack(tabs) if tabs else None
        else:
            ref = archives.reference_ephemerides(fn(limit=limit or 20, offline=offline))
    by_host: dict[str, list] = {}
    for r in ref:
        host = str(r["host"]) or str(r["name"])
        disp = str(r["disposition"])
        kind = "planet" if disp in ("confirmed", "candidate") else "false_positive"
        by_host.setdefault(host, []).append(dict(
            kind=kind, period=float(r["pl_orbper"].value), epoch=float(r["pl_tranmid"].value),
            epoch_source=str(r["catalog"]), duration_h=float(r["pl_trandurh"].value),
            depth_ppm=float(r["pl_trandep"]), catalog_name=str(r["name"]), disposition=disp))
    refs, missing = [], []
    for host, sigs in by_host.items():
        try:
            lc = fetch_lightcurve(host, offline=offline, cache_dir=cache_dir)
        except OfflineError:
            missing.append(host)
            continue
        except Exception as exc:  # noqa: BLE001 - one unreadable target must not stop the set
            warnings.warn(f"reference_set({name!r}): {host}: {exc}", stacklevel=3)
            continue
        planet = any(s["kind"] == "planet" for s in sigs)
        refs.append(dict(reference=host, target=host, group=host, path=str(lc.meta.get("source_file", host)),
                         label="planet_host" if planet else "false_positive", mission=str(lc.meta.get("mission", "")),
                         time_system="BJD_TDB", sha256="", source=f"archive:{name}", signals=json.dumps(sigs),
                         _lc=lc))
    if not refs and missing:
        raise OfflineError(
            f"reference_set({name!r}): offline and no cached light curve for any of the {len(missing)} targets: "
            f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}.  Fetch them once online "
            f"(astrotinyml fetch TARGET) or use a directory with a MANIFEST.csv (e.g. ../shared/data/lightcurves).")
    if missing:
        warnings.warn(f"reference_set({name!r}): {len(missing)} targets skipped (offline, not cached): "
                      f"{', '.join(missing[:20])}", stacklevel=3)
    return refs


def reference_set(
    source: str | os.PathLike | Sequence[str | os.PathLike] = "bundled",
    *,
    labels: Sequence[str] | None = None,
    enrich: bool = True,
    check_sha256: bool = False,
    targets: Sequence[str] | None = None,
    limit: int | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Table:
    """Reference light curves with known answers, one row per light-curve file.

    Parameters
    ----------
    source : str, path-like or list of them
        ``"bundled"`` (the real light curves shipped in ``astrotinyml/data``), a directory
        holding a ``MANIFEST.csv`` (e.g. ``tests/data`` or ``../shared/data/lightcurves``:
        per file ``label`` = planet_host / eclipsing_binary / false_positive / variable_star /
        quiet_star, ``known_period_days`` and ``known_epoch`` with its time system), or a
        catalogue ``"koi"``, ``"toi"``, ``"planets"`` (ephemerides from
        :mod:`astrotinyml.remote.archives`, light curves from :func:`astrotinyml.remote.mast.fetch_lightcurve`
        or its cache).  A list combines several; a file present in two (same sha256) is kept once.
    labels : sequence of str, optional
        Keep only these MANIFEST labels.
    enrich : bool
        Add catalogue depth, duration and disposition (KOI/TOI/planet snapshots, offline-safe)
        to the known signals matched by period.
    check_sha256 : bool
        Skip (with a warning) files whose sha256 differs from the MANIFEST.
    targets : sequence of str, optional
        Catalogue sources: the targets to query (default: the first ``limit`` rows).
    limit : int, optional
        Catalogue sources: rows to take without ``targets`` (default 20).
    offline : bool, optional
        Forbid network access (default: ``ASTROTINYML_OFFLINE``).
    cache_dir : path-like, optional
        Cache of fetched light curves.

    Returns
    -------
    astropy.table.Table
        Columns ``reference`` (file name), ``target``, ``group`` (star identity, for grouped
        folds), ``path``, ``label``, ``mission``, ``time_system``, ``sha256``, ``source`` and
        ``signals`` (JSON list of known signals: ``kind`` planet/eb/false_positive,
        ``period`` [d], ``epoch`` [full BJD_TDB], ``duration_h``, ``depth_ppm``,
        ``catalog_name``, ``disposition``).  Epochs in BKJD/BTJD are converted to full BJD;
        epochs outside the data are propagated with the period when matching.

    Raises
    ------
    OfflineError
        A catalogue source offline with none of its light curves in the cache (the message
        lists them).
    InvalidParameterError
        A directory without a MANIFEST, or an unknown source name.

    Examples
    --------
    >>> refs = reference_set("bundled", enrich=False)
    >>> sorted(str(x) for x in set(refs["label"]))
    ['eclipsing_binary', 'planet_host', 'quiet_star', 'variable_star']
    """
    from astropy.table import Table

    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    rows: list[dict] = []
    seen: set[str] = set()
    lcs: dict[str, Any] = {}
    for src in sources:
        s = os.fspath(src)
        if s in ("koi", "toi", "planets"):
            new = _catalog_refs(s, offline=offline, limit=limit, targets=targets, cache_dir=cache_dir)
        elif s == "bundled":
            new = _manifest_refs(_BUNDLED, enrich=enrich, offline=True if offline is None else offline,
                                 labels=labels, check_sha=check_sha256)
        elif Path(s).expanduser().is_dir():
            new = _manifest_refs(Path(s).expanduser(), enrich=enrich, offline=True if offline is None else offline,
                                 labels=labels, check_sha=check_sha256)
        else:
            raise InvalidParameterError(
                f"reference_set: {s!r} is neither 'bundled', 'koi', 'toi', 'planets' nor a directory with a MANIFEST.csv.")
        for r in new:
            key = r["sha256"] or r["path"]
            if key in seen:
                continue
            seen.add(key)
            if "_lc" in r:
                lcs[r["reference"]] = r.pop("_lc")
            rows.append(r)
    cols = ["reference", "target", "group", "path", "label", "mission", "time_system", "sha256", "source", "signals"]
    tab = Table(rows=[[r[c] for c in cols] for r in rows], names=cols, dtype=[str] * len(cols)) if rows \
        else Table(names=cols, dtype=[str] * len(cols))
    tab.meta["lightcurves"] = lcs  # in-memory light curves of catalogue references
    tab.meta["sources"] = [os.fspath(s) for s in sources]
    return tab


# ----------------------------------------------------------------------------------------
# matching
# ----------------------------------------------------------------------------------------

def match_signal(
    period: float,
    epoch: float,
    duration_h: float,
    *,
    known_period: float,
    known_epoch: float = float("nan"),
    known_duration_h: float = float("nan"),
    period_tol: float = 0.01,
    epoch_tol: float = 1.0,
    harmonics: Sequence[float] = HARMONICS,
    check_epoch: bool = True,
) -> dict:
    """Does a detected signal match a known ephemeris (harmonics included)?

    Parameters
    ----------
    period, epoch, duration_h : float
        Detected period [d] (NaN for a single event), mid-transit time [full BJD_TDB] and
        duration [h].
    known_period, known_epoch, known_duration_h : float
        The known ephemeris; ``known_epoch`` may be anywhere (it is propagated with the period);
        NaN skips the epoch test.
    period_tol : float
        Relative tolerance on ``period / (h * known_period) - 1`` for each harmonic ``h``.
    epoch_tol : float
        Allowed epoch offset in units of the (longer) transit duration.
    harmonics : sequence of float
        Ratios detected/known accepted (default 1, 1/2, 2, 1/3, 3).
    check_epoch : bool
        Require the epoch agreement (False: period only, e.g. eclipsing binaries whose
        secondary eclipse may be detected).

    Returns
    -------
    dict
        ``matched`` (bool), ``harmonic`` (the ratio matched, NaN when none), ``period_error``
        (relative), ``epoch_offset_h`` (detected minus nearest known transit, hours; NaN without
        known epoch) and ``epoch_checked``.

    Examples
    --------
    >>> m = match_signal(0.94146, 2458354.4565, 2.2, known_period=0.941453, known_epoch=2460205.35332)
    >>> m["matched"], m["harmonic"], abs(m["epoch_offset_h"]) < 1
    (True, 1.0, True)
    >>> match_signal(0.4707, 2458354.4565, 2.2, known_period=0.941453)["harmonic"]
    0.5
    """
    out = dict(matched=False, harmonic=float("nan"), period_error=float("nan"),
               epoch_offset_h=float("nan"), epoch_checked=False)
    dur = np.nanmax([duration_h if np.isfinite(duration_h) else np.nan,
                     known_duration_h if np.isfinite(known_duration_h) else np.nan, 1.0])
    tol_d = epoch_tol * dur / 24.0
    if not np.isfinite(known_period) or known_period <= 0:
        return out

    def offset(base):
        if not np.isfinite(known_epoch) or not np.isfinite(epoch):
            return float("nan")
        d = (epoch - known_epoch) % base
        return d - base if d > base / 2 else d

    if not np.isfinite(period):  # single event: must fall on a known transit
        d = offset(known_period)
        if np.isfinite(d) and abs(d) <= tol_d:
            out.update(matched=True, harmonic=float("nan"), epoch_offset_h=d * 24, epoch_checked=True)
        out["single_event"] = True
        return out
    best = None
    for h in harmonics:
        err = period / (h * known_period) - 1.0
        if abs(err) <= period_tol and (best is None or abs(err) < abs(best[1])):
            best = (h, err)
    if best is None:
        return out
    h, err = best
    d = offset(min(period, known_period))
    ok = True
    if check_epoch and np.isfinite(d):
        ok = abs(d) <= tol_d
    out.update(matched=bool(ok), harmonic=float(h), period_error=float(err),
               epoch_offset_h=float(d * 24) if np.isfinite(d) else float("nan"),
               epoch_checked=bool(check_epoch and np.isfinite(d)))
    return out


def _val(x) -> float:
    try:
        return float(getattr(x, "value", x))
    except (TypeError, ValueError):
        return float("nan")


def _transit_stats(lc, period: float, epoch: float, duration_h: float) -> dict:
    """SNR of a known signal in a flattened light curve, and transits covered by data."""
    tt = lc.time
    t = np.asarray(tt.jd if hasattr(tt, "jd") else tt, dtype=float)  # full BJD_TDB
    f = np.asarray(getattr(lc.flux, "value", lc.flux), dtype=float)
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    res = dict(n_covered=0, snr_expected=float("nan"), depth_measured_ppm=float("nan"))
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
    sigma = 1.4826 * np.median(np.abs(f[out] - base))
    depth = base - np.mean(f[intr])
    res["depth_measured_ppm"] = float(depth * 1e6)
    if sigma > 0:
        res["snr_expected"] = float(depth / sigma * math.sqrt(intr.sum()))
    return res


# ----------------------------------------------------------------------------------------
# per-reference evaluation
# ----------------------------------------------------------------------------------------

def _evaluate(ref: dict, result, *, period_tol: float, epoch_tol: float, min_transits: int):
    """(detection rows, signal rows, reference row) for one reference and its DetectionResult."""
    signals = json.loads(ref["signals"]) if ref["signals"] else []
    cands = result.candidates
    label = ref["label"]
    det_rows = []
    matched_sig: dict[int, list[int]] = {}
    n = len(cands)
    has_p = all(c in cands.colnames for c in _PROB_COLS)
    for i in range(n):
        row = cands[i]
        P, T0, D = _val(row["pl_orbper"]), _val(row["pl_tranmid"]), _val(row["pl_trandurh"])
        best = None
        for j, s in enumerate(signals):
            m = match_signal(P, T0, D, known_period=s["period"], known_epoch=s["epoch"],
                             known_duration_h=s["duration_h"], period_tol=period_tol, epoch_tol=epoch_tol,
                             check_epoch=s["kind"] != "eb")
            if m["matched"]:
                rank = (0 if m["harmonic"] == 1.0 else 1, abs(m["period_error"]) if np.isfinite(m["period_error"]) else 1)
                if best is None or rank < best[0]:
                    best = (rank, j, m)
        if best is not None:
            j, m = best[1], best[2]
            kind = signals[j]["kind"]
            truth = {"planet": "planet", "eb": "eb", "false_positive": "false_positive", "other": "other"}[kind]
            matched_sig.setdefault(j, []).append(i)
        else:
            j, m = -1, dict(harmonic=float("nan"), period_error=float("nan"), epoch_offset_h=float("nan"))
            truth = {"variable_star": "variability", "eclipsing_binary": "noise"}.get(label, "noise")
        d = dict(reference=ref["reference"], group=ref["group"], ref_label=label, index=i,
                 period=P, epoch=T0, duration_h=D, depth_ppm=_val(row["pl_trandep"]),
                 snr=_val(row["snr"]), sde=_val(row["sde"]) if "sde" in cands.colnames else float("nan"),
                 single_event=bool(row["single_event"]) if "single_event" in cands.colnames else not np.isfinite(P),
                 truth=truth, signal=j, harmonic=m["harmonic"], period_error=m["period_error"],
                 epoch_offset_h=m["epoch_offset_h"],
                 cat_depth_ppm=signals[j]["depth_ppm"] if j >= 0 else float("nan"),
                 cat_duration_h=signals[j]["duration_h"] if j >= 0 else float("nan"),
                 label=str(row["label"]) if "label" in cands.colnames else "")
        for c in _PROB_COLS:
            d[c] = _val(row[c]) if has_p else float("nan")
        det_rows.append(d)
    sig_rows = []
    for j, s in enumerate(signals):
        st = _transit_stats(result.flat, s["period"], s["epoch"], s["duration_h"])
        hits = matched_sig.get(j, [])
        exact = [i for i in hits if det_rows[i]["harmonic"] == 1.0]
        sig_rows.append(dict(
            reference=ref["reference"], group=ref["group"], ref_label=label, signal=j, kind=s["kind"],
            name=s.get("catalog_name", ""), period=s["period"], epoch=s["epoch"],
            cat_duration_h=s["duration_h"], cat_depth_ppm=s["depth_ppm"], n_covered=st["n_covered"],
            detectable=bool(st["n_covered"] >= min_transits), snr_expected=st["snr_expected"],
            depth_in_data_ppm=st["depth_measured_ppm"], recovered=bool(exact),
            recovered_alias=bool(hits) and not exact, detection=(exact or hits or [-1])[0]))
    nd = len(det_rows)
    ref_row = dict(reference=ref["reference"], target=ref["target"], group=ref["group"], label=label,
                   path=ref["path"], sha256=ref["sha256"], status="ok", n_detections=nd,
                   n_signals=len(signals), n_detectable=sum(r["detectable"] for r in sig_rows),
                   n_recovered=sum(r["recovered"] for r in sig_rows if r["detectable"]),
                   n_unmatched=sum(r["signal"] < 0 for r in det_rows),
                   n_periodic_unmatched=sum(r["signal"] < 0 and not r["single_event"] for r in det_rows))
    return det_rows, sig_rows, ref_row


# ----------------------------------------------------------------------------------------
# fits
# ----------------------------------------------------------------------------------------

def grouped_folds(groups: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold index per item; items of one group share a fold (k=0: leave-one-group-out).

    Examples
    --------
    >>> f = grouped_folds(["a", "a", "b", "c"], 2, 0)
    >>> bool(f[0] == f[1]), sorted(set(f.tolist()))
    (True, [0, 1])
    """
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(len(uniq)))
    kk = len(uniq) if k <= 0 else max(1, min(k, len(uniq)))
    fold_of = {uniq[g]: i % kk for i, g in enumerate(order)}
    return np.array([fold_of[g] for g in groups], dtype=int)


def _nll(p, y) -> float:
    p = np.clip(np.asarray(p, float), _EPS, 1 - _EPS)
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


def _fit_logistic(x, y, ridge: float = 1e-2) -> tuple[float, float]:
    from scipy.optimize import minimize

    x, y = np.asarray(x, float), np.asarray(y, float)
    if y.size == 0:
        return float("nan"), float("nan")

    def f(w):
        z = w[0] + w[1] * x
        return np.sum(np.logaddexp(0, z) - y * z) + ridge * (w[0] ** 2 + w[1] ** 2)

    r = minimize(f, np.array([0.0, 1.0]), method="BFGS")
    return float(r.x[0]), float(r.x[1])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, float)))


def apply_temperature(P: np.ndarray, T: float) -> np.ndarray:
    """Temperature scaling of class probabilities ``P`` (rows sum to 1): softmax(log P / T).

    Examples
    --------
    >>> apply_temperature(np.array([[0.9, 0.1]]), 1.0).round(3).tolist()
    [[0.9, 0.1]]
    """
    z = np.log(np.clip(P, _EPS, 1.0)) / T
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

    r = minimize_scalar(lambda lt: _nll(apply_temperature(P, math.exp(lt))[:, 0], y), bounds=(-3, 3), method="bounded")
    return float(math.exp(r.x))


def _fit_isotonic(p: np.ndarray, y: np.ndarray) -> dict:
    from scipy.optimize import isotonic_regression

    o = np.argsort(p, kind="stable")
    xs, ys = p[o], y[o].astype(float)
    fit = isotonic_regression(ys, increasing=True).x
    # Knots: one per distinct x (mean of the fitted values there).
    ux, inv = np.unique(xs, return_inverse=True)
    uy = np.bincount(inv, weights=fit) / np.bincount(inv)
    return {"x": ux.tolist(), "y": uy.tolist()}


def _iso_apply(P: np.ndarray, knots: dict) -> np.ndarray:
    """Isotonic map of p_planet; the other classes share the rest in their old proportions."""
    P = np.asarray(P, float).copy()
    x, y = np.asarray(knots["x"]), np.asarray(knots["y"])
    new = np.clip(np.interp(P[:, 0], x, y), _EPS, 1 - _EPS)
    rest = P[:, 1:].sum(axis=1)
    scale = np.where(rest > 0, (1 - new) / np.where(rest > 0, rest, 1), 0.0)
    P[:, 1:] *= scale[:, None]
    P[:, 0] = new
    return P


def _prob_apply(P: np.ndarray, prob: dict) -> np.ndarray:
    if prob.get("method") == "temperature":
        return apply_temperature(P, prob["temperature"])
    if prob.get("method") == "isotonic":
        return _iso_apply(P, prob["isotonic"])
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


def _label(P: np.ndarray, classes: Sequence[str], threshold: float) -> list[str]:
    if P.size == 0:
        return []
    b = P.argmax(axis=1)
    return [classes[k] if P[i, k] >= threshold else "unknown" for i, k in enumerate(b)]


def _robust_ratio(r: np.ndarray) -> dict:
    r = r[np.isfinite(r) & (r > 0)]
    if r.size == 0:
        return dict(median=float("nan"), q16=float("nan"), q84=float("nan"), n=0)
    return dict(median=float(np.median(r)), q16=float(np.percentile(r, 16)), q84=float(np.percentile(r, 84)),
                n=int(r.size))


def _fit_all(dets: list[dict], sigs: list[dict], refs: list[dict], *, folds: int, seed: int,
             target_precision: float, classes: Sequence[str]) -> tuple[dict, dict, dict]:
    """(parameters, metrics, extra per-detection arrays) -- metrics from held-out folds."""
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}

    # --- recovery ------------------------------------------------------------------------
    S = [s for s in sigs if s["kind"] == "planet" and s["detectable"]]
    rec = np.array([s["recovered"] for s in S], float)
    rec_any = np.array([s["recovered"] or s["recovered_alias"] for s in S], float)
    snr = np.array([s["snr_expected"] for s in S], float)
    per = np.array([s["period"] for s in S], float)
    metrics["n_planet_signals"] = len(S)
    metrics["recovery_rate"] = float(rec.mean()) if S else float("nan")
    metrics["recovery_rate_with_aliases"] = float(rec_any.mean()) if S else float("nan")
    ok = np.isfinite(snr) & (snr > 0)
    x = np.log10(np.clip(snr, 0.1, None))
    if ok.sum() >= 3 and 0 < rec[ok].sum() < ok.sum():
        a, b = _fit_logistic(x[ok], rec[ok])
        params["recovery_logistic"] = dict(a=a, b=b, x="log10(snr_expected)",
                                           snr50=float(10 ** (-a / b)) if b else float("nan"))
        g = grouped_folds([s["group"] for s in np.array(S)[ok]], folds, seed)
        oof = np.full(ok.sum(), np.nan)
        for k in np.unique(g):
            tr, te = g != k, g == k
            if tr.sum() >= 2:
                aa, bb = _fit_logistic(x[ok][tr], rec[ok][tr])
                oof[te] = _sigmoid(aa + bb * x[ok][te])
        m = np.isfinite(oof)
        metrics["recovery_model_nll_heldout"] = _nll(oof[m], rec[ok][m])
    else:
        params["recovery_logistic"] = dict(a=float("nan"), b=float("nan"), x="log10(snr_expected)",
                                           snr50=float("nan"), note="not fitted: too few detectable signals "
                                           "or all/none recovered")
    edges_snr = [0, 7.1, 10, 20, 50, 1e9]
    edges_per = [0, 1, 3, 10, 30, 1e9]
    params["recovery_by_snr"] = _binned(snr, rec, edges_snr)
    params["recovery_by_period"] = _binned(per, rec, edges_per)

    # --- false alarms --------------------------------------------------------------------
    non = [r for r in refs if r["status"] == "ok" and r["label"] in _NONPLANET_LABELS - {"eclipsing_binary"}]
    host = [r for r in refs if r["status"] == "ok" and r["label"] in _PLANET_LABELS]
    ebs = [r for r in refs if r["status"] == "ok" and r["label"] == "eclipsing_binary"]
    metrics["n_nonplanet_stars"] = len(non)
    metrics["false_alarms_per_star"] = float(np.mean([r["n_unmatched"] for r in non])) if non else float("nan")
    metrics["periodic_false_alarms_per_star"] = (float(np.mean([r["n_periodic_unmatched"] for r in non]))
                                                 if non else float("nan"))
    metrics["nonplanet_star_fa_fraction"] = (float(np.mean([r["n_unmatched"] > 0 for r in non]))
                                             if non else float("nan"))
    metrics["unmatched_per_host"] = float(np.mean([r["n_unmatched"] for r in host])) if host else float("nan")
    eb_sig = [s for s in sigs if s["kind"] == "eb" and s["detectable"]]
    metrics["n_eb_signals"] = len(eb_sig)
    metrics["eb_detected_rate"] = (float(np.mean([s["recovered"] or s["recovered_alias"] for s in eb_sig]))
                                   if eb_sig else float("nan"))
    metrics["n_eb_stars"] = len(ebs)

    # --- biases (matched at the true period) ---------------------------------------------
    M = [d for d in dets if d["truth"] == "planet" and d["harmonic"] == 1.0]
    dr = np.array([d["depth_ppm"] / d["cat_depth_ppm"] if d["cat_depth_ppm"] > 0 else np.nan for d in M])
    tr_ = np.array([d["duration_h"] / d["cat_duration_h"] if d["cat_duration_h"] > 0 else np.nan for d in M])
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
            g = grouped_folds([d["group"] for d, k in zip(M, idx) if k], folds, seed)
            lr = np.log(ratios[idx])
            after = np.full(lr.size, np.nan)
            for k in np.unique(g):
                if (g != k).any():
                    after[g == k] = lr[g == k] - np.median(lr[g != k])
            metrics[f"{name}_abs_log_error_before"] = float(np.median(np.abs(lr)))
            metrics[f"{name}_abs_log_error_after_heldout"] = float(np.nanmedian(np.abs(after)))
    pe = np.array([abs(d["period_error"]) for d in M])
    metrics["period_rel_error_median"] = float(np.median(pe)) if pe.size else float("nan")
    eo = np.array([d["epoch_offset_h"] for d in M], float)
    eo = eo[np.isfinite(eo)]
    metrics["epoch_offset_h_median"] = float(np.median(eo)) if eo.size else float("nan")
    metrics["epoch_abs_offset_h_median"] = float(np.median(np.abs(eo))) if eo.size else float("nan")
    params["period_precision"] = dict(rel_error_median=metrics["period_rel_error_median"],
                                      epoch_abs_offset_h_median=metrics["epoch_abs_offset_h_median"])

    # --- probabilities -------------------------------------------------------------------
    extra: dict[str, Any] = {}
    D = [d for d in dets if np.isfinite(d["p_planet"])]
    if not D:
        params["probability"] = dict(fitted=False, method="none", reason="not fitted: no classifier output")
        params["threshold"] = dict(value=float("nan"), fitted=False, reason="not fitted: no classifier output")
        for k in ("prob_ece_before", "prob_ece_after", "prob_nll_before", "prob_nll_after", "prob_threshold",
                  "prob_precision_at_threshold", "prob_recall_at_threshold"):
            metrics[k] = float("nan")
        metrics["probability_fitted"] = 0.0
        return params, metrics, extra
    P = np.array([[d[c] for c in _PROB_COLS] for d in D], float)
    y = np.array([d["truth"] == "planet" for d in D], float)
    groups = [d["group"] for d in D]
    g = grouped_folds(groups, folds, seed)
    metrics["n_classified"] = len(D)
    metrics["n_classified_planet"] = int(y.sum())
    oof = {"temperature": np.full_like(P, np.nan), "isotonic": np.full_like(P, np.nan)}
    for k in np.unique(g):
        tr, te = g != k, g == k
        if tr.sum() < 2:
            continue
        T = fit_temperature(P[tr], y[tr])
        oof["temperature"][te] = apply_temperature(P[te], T)
        oof["isotonic"][te] = _iso_apply(P[te], _fit_isotonic(P[tr, 0], y[tr]))
    have = np.isfinite(oof["temperature"][:, 0])
    nll = {m: _nll(v[have, 0], y[have]) for m, v in oof.items()}
    metrics["prob_nll_before"] = _nll(P[have, 0], y[have])
    metrics["prob_nll_temperature_heldout"] = nll["temperature"]
    metrics["prob_nll_isotonic_heldout"] = nll["isotonic"]
    if y.sum() == 0 or y.sum() == len(y) or not have.any():
        params["probability"] = dict(fitted=False, method="none",
                                     reason=f"not fitted: references give {int(y.sum())} planet and "
                                            f"{int(len(y) - y.sum())} non-planet classified detections")
        params["threshold"] = dict(value=float("nan"), fitted=False, reason=params["probability"]["reason"])
        metrics["probability_fitted"] = 0.0
        metrics["prob_ece_before"] = expected_calibration_error(P[:, 0], y)
        for k in ("prob_ece_after", "prob_nll_after", "prob_threshold", "prob_precision_at_threshold",
                  "prob_recall_at_threshold"):
            metrics[k] = float("nan")
        return params, metrics, extra
    method = min(nll, key=lambda m: (nll[m], m != "temperature"))  # ties: the smoother one
    final = {"method": method, "fitted": True, "classes": list(classes),
             "heldout_nll": nll, "chosen_by": "held-out negative log-likelihood of planet vs not planet"}
    if method == "temperature":
        final["temperature"] = fit_temperature(P, y)
    else:
        final["isotonic"] = _fit_isotonic(P[:, 0], y)
    params["probability"] = final
    Q = oof[method]
    metrics["prob_ece_before"] = expected_calibration_error(P[have, 0], y[have])
    metrics["prob_ece_after"] = expected_calibration_error(Q[have, 0], y[have])
    metrics["prob_nll_after"] = nll[method]
    pred_planet = Q[have].argmax(axis=1) == 0
    th = precision_threshold(Q[have, 0], y[have], pred_planet, target_precision)
    params["threshold"] = dict(value=th["threshold"], fitted=True, target_precision=target_precision,
                               reached=th["reached"],
                               note="lowest calibrated p_planet whose held-out planet-label precision reaches "
                                    "the target; signals whose best calibrated probability is below it are 'unknown'")
    metrics["probability_fitted"] = 1.0
    metrics["prob_threshold"] = th["threshold"]
    metrics["prob_precision_at_threshold"] = th["precision"]
    metrics["prob_recall_at_threshold"] = th["recall"]
    extra["oof_p_planet"] = (np.array([i for i, d in enumerate(dets) if np.isfinite(d["p_planet"])])[have],
                             Q[have, 0], Q[have])
    extra["threshold"] = th["threshold"]
    return params, metrics, extra


def _binned(x: np.ndarray, y: np.ndarray, edges: list[float]) -> list[dict]:
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = np.isfinite(x) & (x >= lo) & (x < hi)
        out.append(dict(lo=lo, hi=hi, n=int(m.sum()), recovered=int(y[m].sum()),
                        rate=float(y[m].mean()) if m.any() else float("nan")))
    return out


# ----------------------------------------------------------------------------------------
# the Calibration object
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(eq=False)
class Calibration:
    """One calibration run: fitted parameters, held-out metrics, per-reference results.

    Attributes
    ----------
    id : str
        ``cal-YYYYmmddTHHMMSSZ-<8 hex>`` (the hex is a hash of the content).
    created : str
        UTC time, ISO 8601.
    software_version : str
        astrotinyml version that ran it.
    model_sha256 : str
        SHA-256 of the classifier model whose outputs were calibrated ('' when none).
    reference_summary : dict
        Sources, counts by label, and the files (name, sha256) used.
    parameters : dict
        ``probability`` (method, temperature or isotonic knots; ``fitted`` False with a
        reason when there was no classifier output), ``threshold``, ``depth_correction``,
        ``duration_correction`` (multiply measured values), ``recovery_logistic``,
        ``recovery_by_snr``, ``recovery_by_period``, ratio summaries, ``period_precision``.
    metrics : dict
        Held-out numbers: ``recovery_rate``, ``false_alarms_per_star``, ``eb_detected_rate``,
        ``depth_ratio_median``, ``prob_ece_before``/``prob_ece_after``, ``prob_threshold``, ...
    tables : dict
        ``references``, ``detections``, ``signals``: lists of row dicts (see
        :meth:`table`).
    drift : dict
        ``flagged`` and, per metric that moved beyond tolerance, the previous and new value;
        ``previous_id``.
    options : dict
        Options of the run (tolerances, folds, target precision, detect options).
    """

    id: str
    created: str
    software_version: str
    model_sha256: str
    reference_summary: dict
    parameters: dict
    metrics: dict
    tables: dict = dataclasses.field(default_factory=dict)
    drift: dict = dataclasses.field(default_factory=lambda: {"flagged": False})
    options: dict = dataclasses.field(default_factory=dict)
    source: str = ""

    def __repr__(self) -> str:
        m = self.metrics
        prob = self.parameters.get("probability", {})
        p = prob.get("method") if prob.get("fitted") else "none"
        return (f"Calibration(id={self.id!r}, references={self.reference_summary.get('n_references', '?')}, "
                f"recovery={m.get('recovery_rate', float('nan')):.2f}, "
                f"false_alarms/star={m.get('false_alarms_per_star', float('nan')):.2f}, probability={p}, "
                f"drift={bool(self.drift.get('flagged'))})")

    @property
    def probability_fitted(self) -> bool:
        """Whether the classifier probabilities were calibrated by this run."""
        return bool(self.parameters.get("probability", {}).get("fitted"))

    def table(self, kind: str = "references") -> Table:
        """One of the result tables as an astropy Table.

        Parameters
        ----------
        kind : {'references', 'detections', 'signals'}
            Per reference light curve, per detection (with its match and truth), or per known
            signal (with ``snr_expected`` and ``recovered``).

        Returns
        -------
        astropy.table.Table

        Examples
        --------
        >>> cal = default_calibration()
        >>> "recovered" in cal.table("signals").colnames
        True
        """
        from astropy.table import Table

        if kind not in ("references", "detections", "signals"):
            raise InvalidParameterError(f"kind must be 'references', 'detections' or 'signals', got {kind!r}")
        rows = self.tables.get(kind, [])
        if not rows:
            return Table()
        names = list(rows[0])
        cols = {n: [np.nan if r.get(n) is None else r.get(n) for r in rows] for n in names}
        return Table(cols, names=names)

    def summary(self) -> str:
        """A few lines for a notebook or the CLI.

        Returns
        -------
        str

        Examples
        --------
        >>> "recovery" in default_calibration().summary()
        True
        """
        m, p = self.metrics, self.parameters

        def f(k, fmt=".3f"):
            v = m.get(k, float("nan"))
            return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)

        prob = p.get("probability", {})
        lines = [
            f"calibration {self.id} ({self.created}, astrotinyml {self.software_version})",
            f"references: {self.reference_summary.get('n_references', 0)} light curves "
            f"{self.reference_summary.get('by_label', {})}",
            f"recovery (held-out truth, period match): {f('recovery_rate')} of {f('n_planet_signals', 'g')} "
            f"detectable planets ({f('recovery_rate_with_aliases')} with aliases); "
            f"SNR50 {p.get('recovery_logistic', {}).get('snr50', float('nan')):.3g}",
            f"false alarms: {f('false_alarms_per_star')} per non-planet star "
            f"({f('nonplanet_star_fa_fraction')} of them with any); EB signals detected: {f('eb_detected_rate')}",
            f"depth measured/catalogue {f('depth_ratio_median')} (n={f('n_depth_pairs', 'g')}), "
            f"duration {f('duration_ratio_median')}; period rel. error {f('period_rel_error_median', '.2e')}",
        ]
        if prob.get("fitted"):
            lines.append(f"probabilities: {prob['method']} (held-out ECE {f('prob_ece_before')} -> "
                         f"{f('prob_ece_after')}), threshold {f('prob_threshold')} for precision "
                         f"{p.get('threshold', {}).get('target_precision')} (held-out precision "
                         f"{f('prob_precision_at_threshold')}, recall {f('prob_recall_at_threshold')})")
        else:
            lines.append(f"probabilities: {prob.get('reason', 'not fitted')}")
        if self.drift.get("flagged"):
            lines.append("DRIFT vs " + str(self.drift.get("previous_id")) + ": " +
                         ", ".join(f"{k} {v['previous']:.3g} -> {v['current']:.3g}"
                                   for k, v in self.drift.get("metrics", {}).items()))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (NaN as None)."""
        from ._db import _clean

        return _clean(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, doc: dict, *, source: str = "") -> "Calibration":
        """Inverse of :meth:`to_dict` (also reads database rows)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in doc.items() if k in fields}
        kw.setdefault("tables", {})
        kw["metrics"] = {k: (float("nan") if v is None else v) for k, v in kw.get("metrics", {}).items()}
        kw["source"] = source or doc.get("source", "")
        for k in ("id", "created", "software_version", "model_sha256", "reference_summary", "parameters"):
            kw.setdefault(k, {} if k in ("reference_summary", "parameters") else "")
        return cls(**kw)

    def to_json(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the calibration as JSON atomically (the format of the shipped default).

        Parameters
        ----------
        path : path-like
        overwrite : bool
            Replace an existing file.

        Returns
        -------
        pathlib.Path
        """
        from ..atomic import atomic_path

        path = Path(path)
        with atomic_path(path, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")
        return path


def _new_id(created: str, content: dict) -> str:
    import uuid

    # content hash + a random nonce: two runs in the same second (batch workers) never collide
    h = hashlib.sha256((json.dumps(content, sort_keys=True, default=str) + uuid.uuid4().hex).encode()).hexdigest()[:8]
    stamp = created.replace("-", "").replace(":", "").split(".")[0].rstrip("Z") + "Z"
    return f"cal-{stamp}-{h}"


def _drift(prev_id, prev_metrics, metrics, tolerances=None) -> dict:
    tol = dict(DRIFT_TOLERANCES, **(tolerances or {}))
    out = {"flagged": False, "previous_id": prev_id, "metrics": {}, "tolerances": tol}
    if not prev_metrics:
        return out
    for k, t in tol.items():
        a, b = prev_metrics.get(k), metrics.get(k)
        if a is None or b is None:
            continue
        a, b = float(a), float(b)
        if math.isfinite(a) and math.isfinite(b) and abs(b - a) > t:
            out["metrics"][k] = {"previous": a, "current": b, "tolerance": t}
    out["flagged"] = bool(out["metrics"])
    return out


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
    from .._version import __version__

    if not 0 < target_precision <= 1:
        raise InvalidParameterError(f"target_precision must be in (0, 1], got {target_precision}")
    if folds < 0 or folds == 1:
        raise InvalidParameterError(f"folds must be 0 (leave-one-target-out) or >= 2, got {folds}")
    refs = references if hasattr(references, "colnames") else reference_set(references)
    if len(refs) == 0:
        raise InvalidParameterError("calibrate: the reference set is empty.")
    if results is not None and len(results) != len(refs):
        raise InvalidParameterError(f"calibrate: {len(results)} results for {len(refs)} references")
    if store:
        # before the minutes of detection: a read-only or foreign database fails now, not after
        from . import _db as _caldb

        _caldb.check_writable(db)
    opts = dict(detect_options or {})
    # Record the search passes (they change depths and durations) even when left at the default.
    import inspect

    from ..detection import detect as _detect_func

    opts.setdefault("search_passes", inspect.signature(_detect_func).parameters["search_passes"].default)
    min_transits = int(opts.get("min_transits", 2))
    lcs = refs.meta.get("lightcurves", {}) if hasattr(refs, "meta") else {}
    dets, sigs, rrows = [], [], []
    model_sha, classes = "", list(c[2:] for c in _PROB_COLS)
    rows = [dict(zip(refs.colnames, [str(v) for v in r])) for r in refs]
    for i, ref in enumerate(_progress(rows, len(rows), progress, "calibrate")):
        res = results[i] if results is not None else None
        if res is None:
            from ..detection import detect

            kw = dict(opts)
            kw["calibration"] = False  # fit on the model's raw probabilities, never on calibrated ones
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = detect(lcs.get(ref["reference"], ref["path"]), **kw)
            except Exception as exc:  # noqa: BLE001 - isolate one bad reference
                rrows.append(dict(reference=ref["reference"], target=ref["target"], group=ref["group"],
                                  label=ref["label"], path=ref["path"], sha256=ref["sha256"],
                                  status=f"error: {type(exc).__name__}: {exc}"[:300], n_detections=0,
                                  n_signals=0, n_detectable=0, n_recovered=0, n_unmatched=0,
                                  n_periodic_unmatched=0))
                continue
        if (getattr(res.candidates, "meta", {}) or {}).get("classifier_calibrated"):
            raise InvalidParameterError(
                f"calibrate: the result for {ref['reference']} carries calibrated probabilities; calibration "
                f"must be fitted on the model's raw output (detect(..., calibration=False)).")
        d, s, r = _evaluate(ref, res, period_tol=period_tol, epoch_tol=epoch_tol, min_transits=min_transits)
        base = len(dets)
        for x in s:
            if x["detection"] >= 0:
                x["detection"] += base
        dets += d
        sigs += s
        rrows.append(r)
        model_sha = model_sha or str(getattr(res, "model_sha256", "") or "")
    if not any(r["status"] == "ok" for r in rrows):
        raise InvalidParameterError("calibrate: the pipeline failed on every reference: " +
                                    "; ".join(r["status"] for r in rrows[:5]))
    params, metrics, extra = _fit_all(dets, sigs, rrows, folds=folds, seed=seed,
                                      target_precision=target_precision, classes=classes)
    # Held-out calibrated labels per detection (confusion matrix / reliability diagram).
    for d in dets:
        d["p_planet_cal"] = float("nan")
        d["label_cal"] = ""
    if "oof_p_planet" in extra:
        idx, pp, Q = extra["oof_p_planet"]
        labs = _label(Q, classes, extra["threshold"])
        for k, i in enumerate(idx):
            dets[i]["p_planet_cal"] = float(pp[k])
            dets[i]["label_cal"] = labs[k]
    by_label: dict[str, int] = {}
    for r in rows:
        by_label[r["label"]] = by_label.get(r["label"], 0) + 1
    summary = dict(sources=list(refs.meta.get("sources", [])) if hasattr(refs, "meta") else [],
                   n_references=len(rows), n_ok=sum(r["status"] == "ok" for r in rrows),
                   n_targets=len({r["group"] for r in rows}), by_label=by_label,
                   files=[dict(file=r["reference"], sha256=r["sha256"], label=r["label"]) for r in rows])
    options = dict(target_precision=target_precision, folds=folds, seed=seed, period_tol=period_tol,
                   epoch_tol=epoch_tol, detect_options={k: v for k, v in opts.items() if k != "model"},
                   harmonics=list(HARMONICS))
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    from ._db import _clean

    cid = _new_id(created, _clean(dict(p=params, m=metrics, s=summary, pid=os.getpid())))
    cal = Calibration(id=cid, created=created, software_version=__version__, model_sha256=model_sha,
                      reference_summary=summary, parameters=params, metrics=metrics,
                      tables=dict(references=rrows, detections=dets, signals=sigs), options=options)
    if store:
        save_calibration(cal, db=db, drift_tolerances=drift_tolerances)
    return cal


# ----------------------------------------------------------------------------------------
# database access
# ----------------------------------------------------------------------------------------

def save_calibration(calibration: Calibration, *, db: str | os.PathLike | None = None,
                     drift_tolerances: dict | None = None, _fail_after_rows: int | None = None) -> Calibration:
    """Store a run in the database (one transaction), filling in its drift flags.

    Parameters
    ----------
    calibration : Calibration
    db : path-like, optional
        Default ``<cache_dir>/calibration.sqlite``.
    drift_tolerances : dict, optional
        Overrides of :data:`DRIFT_TOLERANCES`.

    Returns
    -------
    Calibration
        The same object, ``drift`` updated and ``source`` set to the database path.

    Raises
    ------
    CalibrationDatabaseError
        The file is not a usable calibration database (left untouched).

    Examples
    --------
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "cal.sqlite")
    >>> cal = save_calibration(default_calibration().copy_as_new(), db=db)
    >>> current_calibration_id(db=db) == cal.id
    True
    """
    from . import _db as _caldb

    con = _caldb.connect(db)
    try:
        doc = calibration.to_dict()
        drift = _caldb.write_run(con, doc, drift_fn=lambda pid, pm, m: _drift(pid, pm, m, drift_tolerances),
                                 fail_after_rows=_fail_after_rows)
    finally:
        con.close()
    calibration.drift = drift
    calibration.source = str(_caldb.resolve(db))
    return calibration


def _copy_as_new(self: Calibration, **metric_overrides) -> Calibration:
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    metrics = dict(self.metrics, **metric_overrides)
    doc = self.to_dict()
    doc.update(created=created, metrics=metrics, drift={"flagged": False})
    doc["id"] = _new_id(created, dict(m=metrics, pid=os.getpid(), prev=self.id))
    return Calibration.from_dict(doc)


Calibration.copy_as_new = _copy_as_new  # type: ignore[attr-defined]
Calibration.copy_as_new.__doc__ = """A copy with a new id and time (metrics optionally overridden): for tests and
re-storing a calibration in another database.

Examples
--------
>>> c = default_calibration().copy_as_new(recovery_rate=0.5)
>>> c.metrics["recovery_rate"], c.id != default_calibration().id
(0.5, True)
"""


def with_probability_calibration(base: Calibration, *, temperature: float, threshold: float,
                                 model_sha256: str, metrics: dict | None = None, note: str = "") -> Calibration:
    """A new calibration: ``base``'s detection parameters (depth/duration corrections,
    recovery) with a probability calibration fitted elsewhere, e.g. on the out-of-fold
    predictions of the real stars made during training (:func:`astrotinyml.training.metrics.real_summary`).

    Parameters
    ----------
    base : Calibration
        Detection-level calibration kept as it is.
    temperature, threshold : float
        Temperature scaling of the probabilities and the ``unknown`` threshold.
    model_sha256 : str
        The classifier the probability calibration belongs to (applied only to its outputs).
    metrics : dict, optional
        Metrics to record (``prob_ece_before``/``prob_ece_after`` ...), merged into base's.
    note : str
        Where the probability calibration comes from (kept in ``parameters['probability']``).

    Returns
    -------
    Calibration
        New id and time.

    Examples
    --------
    >>> c = with_probability_calibration(default_calibration(), temperature=1.5, threshold=0.6, model_sha256="ab")
    >>> c.parameters["probability"]["temperature"], c.parameters["threshold"]["value"], c.model_sha256
    (1.5, 0.6, 'ab')
    """
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = base.to_dict()
    params = dict(doc["parameters"])
    params["probability"] = dict(method="temperature", temperature=float(temperature), fitted=True,
                                 classes=[c[2:] for c in _PROB_COLS], chosen_by=note or "given")
    params["threshold"] = dict(dict(params.get("threshold") or {}), value=float(threshold), fitted=True,
                               note=note or "given")
    doc.update(created=created, parameters=params, model_sha256=str(model_sha256),
               metrics=dict(doc.get("metrics") or {}, **(metrics or {})), drift={"flagged": False})
    doc["id"] = _new_id(created, dict(p=params, m=doc["metrics"], prev=base.id))
    return Calibration.from_dict(doc)


def _db_boundary(path):
    """A damaged row (bad JSON, a malformed page) becomes a CalibrationDatabaseError naming the file."""
    return error_boundary(str(path), CalibrationDatabaseError,
                          fix="The calibration database is damaged; move it aside (or pass db=/--db "
                              "another path) and rerun calibrate.")


def default_calibration() -> Calibration | None:
    """The calibration shipped with the package (``astrotinyml/models/calibration.json``).

    Returns
    -------
    Calibration or None
        None when the package ships none.

    Examples
    --------
    >>> default_calibration().id.startswith("cal-")
    True
    """
    if not DEFAULT_CALIBRATION_PATH.is_file():
        return None
    with error_boundary(str(DEFAULT_CALIBRATION_PATH), CalibrationDatabaseError,
                        fix="The shipped calibration file is damaged; reinstall astrotinyml."):
        doc = json.loads(DEFAULT_CALIBRATION_PATH.read_text())
        return Calibration.from_dict(doc, source=str(DEFAULT_CALIBRATION_PATH))


def load_calibration(db: str | os.PathLike | None = None, run_id: str | None = None, *,
                     fallback_default: bool = True) -> Calibration | None:
    """The calibration the pipeline applies: the latest run in the database, a named run, or
    the shipped default.

    Parameters
    ----------
    db : path-like, optional
        Database (default ``<cache_dir>/calibration.sqlite``; a missing file is not created).
    run_id : str, optional
        A run id (the shipped default's id also works); default: the latest run.
    fallback_default : bool
        Without runs in the database, return the shipped default (else None).

    Returns
    -------
    Calibration or None

    Raises
    ------
    CalibrationNotFoundError
        ``run_id`` is neither in the database nor the shipped default.
    CalibrationDatabaseError
        The database file is unusable.

    Examples
    --------
    >>> cal = load_calibration()   # fresh install: the shipped default
    >>> cal.id == default_calibration().id
    True
    """
    from . import _db as _caldb

    path = _caldb.resolve(db)
    doc = None
    # read-only: detection needs no write access to the database (nor changes its journal mode)
    con = _caldb.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                ids = _caldb.run_ids(con)
                if run_id is None and ids:
                    doc = _caldb.read_run(con, ids[-1])
                elif run_id is not None and run_id in ids:
                    doc = _caldb.read_run(con, run_id)
        finally:
            con.close()
    if doc is not None:
        with _db_boundary(path):
            return Calibration.from_dict(doc, source=str(path))
    default = default_calibration()
    if run_id is not None:
        if default is not None and default.id == run_id:
            return default
        raise CalibrationNotFoundError(
            f"calibration run {run_id!r} is not in {path} (see calibration_history() or "
            f"'astrotinyml calibrate --history') and is not the shipped default.")
    return default if fallback_default else None


def current_calibration_id(db: str | os.PathLike | None = None) -> str | None:
    """Id of the calibration the pipeline applies now (latest run, else shipped default).

    Parameters
    ----------
    db : path-like, optional

    Returns
    -------
    str or None
        None when neither a run nor a shipped default exists.

    Examples
    --------
    >>> current_calibration_id() == default_calibration().id
    True
    """
    from . import _db as _caldb

    path = _caldb.resolve(db)
    con = _caldb.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                ids = _caldb.run_ids(con)
        finally:
            con.close()
        if ids:
            return ids[-1]
    d = default_calibration()
    return d.id if d is not None else None


def calibration_history(db: str | os.PathLike | None = None, *, include_default: bool = False) -> Table:
    """All runs in the database, oldest first, with their key metrics and drift flags.

    Parameters
    ----------
    db : path-like, optional
    include_default : bool
        Add the shipped default as the first row.

    Returns
    -------
    astropy.table.Table
        ``id``, ``created``, ``software_version``, ``model_sha256``, ``n_references``, the
        :data:`DRIFT_TOLERANCES` metrics, ``drift`` (bool) and ``drift_metrics`` (names of the
        metrics that moved).

    Examples
    --------
    >>> import tempfile, os
    >>> len(calibration_history(os.path.join(tempfile.mkdtemp(), "none.sqlite")))
    0
    """
    from astropy.table import Table

    from . import _db as _caldb

    path = _caldb.resolve(db)
    rows = []
    if include_default and default_calibration() is not None:
        d = default_calibration()
        rows.append(dict(id=d.id, created=d.created, software_version=d.software_version,
                         model_sha256=d.model_sha256, reference_set=d.reference_summary, drift=False,
                         drift_detail={}, metrics=d.metrics))
    con = _caldb.connect_readonly(path) if path.exists() else None
    if con is not None:
        try:
            with _db_boundary(path):
                rows += _caldb.history_rows(con)
        finally:
            con.close()
    keys = list(DRIFT_TOLERANCES)
    names = ["id", "created", "software_version", "model_sha256", "n_references", *keys, "drift", "drift_metrics"]
    if not rows:
        return Table(names=names, dtype=[str, str, str, str, int, *[float] * len(keys), bool, str])
    cols: dict[str, list] = {n: [] for n in names}
    for r in rows:
        cols["id"].append(r["id"])
        cols["created"].append(r["created"])
        cols["software_version"].append(r["software_version"] or "")
        cols["model_sha256"].append(r["model_sha256"] or "")
        cols["n_references"].append(int((r["reference_set"] or {}).get("n_references", 0)))
        for k in keys:
            v = r["metrics"].get(k)
            cols[k].append(float("nan") if v is None else float(v))
        cols["drift"].append(bool(r["drift"]))
        cols["drift_metrics"].append(",".join(sorted((r["drift_detail"] or {}).get("metrics", {}))))
    return Table(cols, names=names)


# ----------------------------------------------------------------------------------------
# applying a calibration
# ----------------------------------------------------------------------------------------

def apply_calibration(candidates: Any, calibration: Calibration | str | None = None, *,
                      db: str | os.PathLike | None = None) -> QTable:
    """Apply a calibration to a candidates table (a copy is returned).

    Adds ``pl_trandep_cal`` [ppm] and ``pl_trandurh_cal`` [h] (measured values times the
    depth/duration corrections for detrending losses) and, when the table has classifier
    output, the calibration fitted for the same model (``model_sha256`` equal to
    ``meta['classifier_sha256']``) and probability calibration fitted: recalibrated ``p_*``
    columns and ``label`` re-decided with the calibrated threshold (``unknown`` below it).
    ``meta`` gains ``calibration_id``, ``classifier_calibrated`` (bool) and
    ``calibration_note`` (why probabilities were left as they were, if they were).

    Parameters
    ----------
    candidates : astropy.table.Table or QTable
        :func:`astrotinyml.detection.detect` candidates (``DetectionResult.candidates``).
    calibration : Calibration, str or None
        A Calibration, a run id, or None for :func:`load_calibration` (latest run, else the
        shipped default).
    db : path-like, optional
        Database to load from.

    Returns
    -------
    astropy.table.QTable

    Examples
    --------
    >>> from astropy.table import QTable
    >>> t = QTable(dict(pl_orbper=[3.0], pl_tranmid=[2458000.0], pl_trandurh=[2.0], pl_trandep=[1000.0]))
    >>> out = apply_calibration(t)
    >>> out.meta["calibration_id"] == current_calibration_id(), "pl_trandep_cal" in out.colnames
    (True, True)
    """
    import astropy.units as u
    from astropy.table import QTable

    if calibration is None or isinstance(calibration, str):
        cal = load_calibration(db=db, run_id=calibration)
    else:
        cal = calibration
    table = QTable(candidates, copy=True)
    if cal is None:
        table.meta["calibration_id"] = None
        table.meta["calibration_note"] = "no calibration available"
        return table
    p = cal.parameters
    n = len(table)
    if "pl_trandep" in table.colnames:
        dep = np.array([_val(x) for x in table["pl_trandep"]], float) if n else np.array([], float)
        table["pl_trandep_cal"] = dep * float(p.get("depth_correction", 1.0) or 1.0)
    if "pl_trandurh" in table.colnames:
        col = table["pl_trandurh"]
        # A Quantity column in days or minutes is converted; plain numbers are hours (DESIGN.md).
        dur = (np.asarray(u.Quantity(col).to_value(u.h), float) if getattr(col, "unit", None) is not None
               else np.array([_val(x) for x in col], float) if n else np.array([], float))
        table["pl_trandurh_cal"] = dur * float(p.get("duration_correction", 1.0) or 1.0) * u.h
    table.meta["calibration_id"] = cal.id
    note = ""
    calibrated = False
    prob = p.get("probability", {})
    has_p = all(c in table.colnames for c in _PROB_COLS)
    model = str(table.meta.get("classifier_sha256", ""))
    if not has_p:
        note = "no classifier output in the table"
    elif not prob.get("fitted"):
        note = f"probabilities left uncalibrated: {prob.get('reason', 'not fitted')}"
    elif cal.model_sha256 and model and cal.model_sha256 != model:
        note = (f"probabilities left uncalibrated: calibration {cal.id} was fitted for model "
                f"{cal.model_sha256[:12]}, the table comes from {model[:12]}; rerun calibrate")
    else:
        if n:
            P = np.array([[_val(table[c][i]) for c in _PROB_COLS] for i in range(n)], float)
            Q = _prob_apply(P, prob)
            thr = float(p.get("threshold", {}).get("value", 0.5))
            for j, c in enumerate(_PROB_COLS):
                table[c] = Q[:, j]
            table["label"] = np.array(_label(Q, [c[2:] for c in _PROB_COLS], thr), dtype="U12")
        table.meta["classifier_threshold"] = float(p.get("threshold", {}).get("value", float("nan")))
        calibrated = True
    table.meta["classifier_calibrated"] = calibrated
    table.meta["calibration_note"] = note
    # Re-deciding the label must not undo vet's physics veto (a companion no planet can be).
    from ..vetting import physics_veto

    return physics_veto(table)


# ----------------------------------------------------------------------------------------
# plots (object-oriented matplotlib; no pyplot state)
# ----------------------------------------------------------------------------------------

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
        ax.plot(xs, _sigmoid(lg["a"] + lg["b"] * np.log10(xs)), color="C0", label="logistic fit")
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
