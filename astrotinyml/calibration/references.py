"""Reference light curves with known answers, and matching detections to them.

A *reference* is a light curve whose answer is known: a planet host with the ephemerides of
its planets, an eclipsing binary, a false positive, a variable or a quiet star.
:func:`reference_set` reads them from a directory with a ``MANIFEST.csv`` (the bundled real
light curves, ``../shared/data/lightcurves``) or from the archives' catalogues (KOI, TOI,
confirmed planets; light curves fetched or from the cache), and converts every known epoch to
full BJD_TDB (BKJD and BTJD offsets, or the offset the MANIFEST names).

:func:`match_signal` decides whether a detection is a known signal: the period within a
relative tolerance of one of the :data:`HARMONICS` of the known period (P/2, 2P, P/3, 3P are
aliases the search can lock onto), and the epoch, propagated with the period to the nearest
known transit, within a transit duration.  Eclipsing binaries are matched on period only (the
search may find the secondary eclipse).

>>> from astrotinyml.calibration.references import match_signal
>>> match_signal(1.8829, 2458354.70, 2.1, known_period=0.941453, known_epoch=2458354.70)["harmonic"]
2.0
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..config import DATA_DIR
from ..errors import InvalidParameterError, OfflineError
from ..io.conventions import BKJD_OFFSET, BTJD_OFFSET
from ..provenance import sha256_file
from ..remote import archives
from ..remote.mast import fetch_lightcurve

if TYPE_CHECKING:  # pragma: no cover
    from astropy.table import Table

__all__ = ["HARMONICS", "KnownSignal", "Reference", "reference_set", "match_signal", "grouped_folds"]

#: Period ratios detected/known that count as the same signal (aliases).
HARMONICS = (1.0, 0.5, 2.0, 1.0 / 3.0, 3.0)

#: Time systems named in MANIFEST cells, and the days to add for full BJD_TDB.
_TIME_OFFSETS = {"BKJD": BKJD_OFFSET, "BTJD": BTJD_OFFSET}
_REFERENCE_COLUMNS = ("reference", "target", "group", "path", "label", "mission", "time_system", "sha256",
                      "source", "signals")


# ----------------------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KnownSignal:
    """One known signal of a reference (an element of the ``signals`` JSON column).

    ``kind`` is ``planet``, ``eb``, ``false_positive`` or ``other``; ``period`` [d], ``epoch``
    [full BJD_TDB], ``duration_h`` and ``depth_ppm`` (NaN when unknown); ``epoch_source`` says
    where the epoch comes from (``manifest``, ``manifest_bls`` or a catalogue).

    Examples
    --------
    >>> KnownSignal.from_dict(dict(kind="planet", period=3.0, epoch=2458000.0, duration_h=2.0,
    ...                            depth_ppm=500.0)).catalog_name
    ''
    """

    kind: str
    period: float
    epoch: float
    epoch_source: str
    duration_h: float
    depth_ppm: float
    catalog_name: str = ""
    disposition: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> "KnownSignal":
        """From a decoded ``signals`` element (``kind``, ``period``, ``epoch``, ``duration_h``,
        ``depth_ppm`` required)."""
        return cls(kind=d["kind"], period=d["period"], epoch=d["epoch"], epoch_source=d.get("epoch_source", ""),
                   duration_h=d["duration_h"], depth_ppm=d["depth_ppm"], catalog_name=d.get("catalog_name", ""),
                   disposition=d.get("disposition", ""))


@dataclasses.dataclass(frozen=True)
class CatalogueEphemeris:
    """A catalogue row (KOI, TOI or confirmed planet) used to enrich a MANIFEST signal."""

    name: str
    period: float
    epoch: float
    duration_h: float
    depth_ppm: float
    disposition: str
    catalog: str


@dataclasses.dataclass(frozen=True)
class Reference:
    """One reference light curve (a row of :func:`reference_set`'s table).

    ``lightcurve`` holds the in-memory light curve of a catalogue reference (None for files).

    Examples
    --------
    >>> r = Reference.from_row(dict(reference="a.fits", target="KIC 1", group="KIC 1", path="a.fits",
    ...                             label="quiet_star", sha256="", signals=""))
    >>> r.signals
    ()
    """

    reference: str
    target: str
    group: str
    path: str
    label: str
    mission: str
    time_system: str
    sha256: str
    source: str
    signals: tuple[KnownSignal, ...] = ()
    lightcurve: Any = dataclasses.field(default=None, repr=False, compare=False)

    def row(self) -> list[str]:
        """The table row (``signals`` as a JSON list)."""
        values = dataclasses.asdict(self)
        values["signals"] = json.dumps([dataclasses.asdict(s) for s in self.signals])
        return [values[c] for c in _REFERENCE_COLUMNS]

    @classmethod
    def from_row(cls, row: dict) -> "Reference":
        """From a table row as a dict of strings (``signals`` decoded from its JSON)."""
        text = row.get("signals", "")
        signals = tuple(KnownSignal.from_dict(s) for s in json.loads(text)) if text else ()
        return cls(reference=row["reference"], target=row["target"], group=row["group"], path=row["path"],
                   label=row["label"], mission=row.get("mission", ""), time_system=row.get("time_system", ""),
                   sha256=row["sha256"], source=row.get("source", ""), signals=signals)


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


def _catalogue_rows(ids: dict, *, offline) -> list[CatalogueEphemeris]:
    """Catalogue ephemerides (depth, duration, disposition) for a star, from the archives."""
    rows: list[CatalogueEphemeris] = []
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
            rows.append(CatalogueEphemeris(
                name=str(r["name"]), period=float(getattr(r["pl_orbper"], "value", r["pl_orbper"])),
                epoch=float(getattr(r["pl_tranmid"], "value", r["pl_tranmid"])),
                duration_h=float(getattr(r["pl_trandurh"], "value", r["pl_trandurh"])),
                depth_ppm=float(r["pl_trandep"]), disposition=str(r["disposition"]), catalog=str(r["catalog"])))
    return rows


def _signals_from_manifest(row: dict, *, enrich: bool, offline) -> list[KnownSignal]:
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
    return [_manifest_signal(i, p, kind, known, bls, cat, row.get("file", "")) for i, p in enumerate(periods)]


def _manifest_signal(i: int, p: float, kind: str, known: list[float], bls: list[float],
                     cat: list[CatalogueEphemeris], file: str) -> KnownSignal:
    """The i-th MANIFEST period with its epoch (known, else the BLS epoch in the data, else the
    catalogue's) and the catalogue's depth, duration and disposition when a period matches."""
    ep = known[i] if i < len(known) else float("nan")
    source = "manifest"
    if not np.isfinite(ep) and i < len(bls) and np.isfinite(bls[i]):
        ep, source = bls[i], "manifest_bls"
    sig = KnownSignal(kind=kind, period=p, epoch=ep, epoch_source=source if np.isfinite(ep) else "",
                      duration_h=float("nan"), depth_ppm=float("nan"), catalog_name="", disposition="")
    best = next((c for c in cat if np.isfinite(c.period) and abs(c.period / p - 1) < 2e-3), None)
    if best is not None:
        sig = dataclasses.replace(sig, duration_h=best.duration_h, depth_ppm=best.depth_ppm,
                                  catalog_name=best.name, disposition=best.disposition)
        if not np.isfinite(sig.epoch) and np.isfinite(best.epoch):
            sig = dataclasses.replace(sig, epoch=best.epoch, epoch_source=best.catalog)
    # EB catalogue entries (TEBC) and circumbinary planets: first period is the EB.
    if kind == "eb" and i > 0 and "CBP" in file:
        sig = dataclasses.replace(sig, kind="planet")
    return sig


def _manifest_refs(directory: Path, *, enrich: bool, offline, labels, check_sha: bool) -> list[Reference]:
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
            if check_sha and sha and sha256_file(path) != sha:
                warnings.warn(f"{path}: sha256 differs from {man.name}; skipped", stacklevel=3)
                continue
            target = (row.get("target") or path.stem).strip()
            refs.append(Reference(
                reference=path.name, target=target, group=_group_id(target),
                path=str(path), label=label, mission=row.get("mission", ""),
                time_system=row.get("time_system", ""), sha256=sha or sha256_file(path),
                source=str(man), signals=tuple(_signals_from_manifest(row, enrich=enrich, offline=offline)),
            ))
    return refs


def _group_id(target: str) -> str:
    """Stable star identity from a MANIFEST target string (EPIC/KIC/TIC number, else the name)."""
    for key in ("KIC", "TIC", "EPIC"):
        m = re.search(rf"\b{key}[\s_-]*0*(\d+)", target)
        if m:
            return f"{key} {m.group(1)}"
    return target.split("(")[0].strip()


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


def _catalog_signals(name: str, *, offline, limit, targets) -> dict[str, list[KnownSignal]]:
    """Known signals by host star from a catalogue (the first ``limit`` rows, or ``targets``)."""
    fn = {"koi": archives.query_koi, "toi": archives.query_toi, "planets": archives.query_planets}[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if targets:
            tabs = [archives.reference_ephemerides(fn(t, offline=offline)) for t in targets]
            from astropy.table import vstack

            ref = vstack(tabs) if tabs else None
        else:
            ref = archives.reference_ephemerides(fn(limit=limit or 20, offline=offline))
    by_host: dict[str, list[KnownSignal]] = {}
    for r in ref:
        host = str(r["host"]) or str(r["name"])
        disp = str(r["disposition"])
        kind = "planet" if disp in ("confirmed", "candidate") else "false_positive"
        by_host.setdefault(host, []).append(KnownSignal(
            kind=kind, period=float(r["pl_orbper"].value), epoch=float(r["pl_tranmid"].value),
            epoch_source=str(r["catalog"]), duration_h=float(r["pl_trandurh"].value),
            depth_ppm=float(r["pl_trandep"]), catalog_name=str(r["name"]), disposition=disp))
    return by_host


def _catalog_refs(name: str, *, offline, limit, targets, cache_dir) -> list[Reference]:
    by_host = _catalog_signals(name, offline=offline, limit=limit, targets=targets)
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
        planet = any(s.kind == "planet" for s in sigs)
        refs.append(Reference(reference=host, target=host, group=host, path=str(lc.meta.get("source_file", host)),
                              label="planet_host" if planet else "false_positive",
                              mission=str(lc.meta.get("mission", "")), time_system="BJD_TDB", sha256="",
                              source=f"archive:{name}", signals=tuple(sigs), lightcurve=lc))
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
    refs: list[Reference] = []
    seen: set[str] = set()
    for src in sources:
        for r in _references_from(os.fspath(src), labels=labels, enrich=enrich, check_sha256=check_sha256,
                                  targets=targets, limit=limit, offline=offline, cache_dir=cache_dir):
            key = r.sha256 or r.path
            if key not in seen:
                seen.add(key)
                refs.append(r)
    cols = list(_REFERENCE_COLUMNS)
    tab = Table(rows=[r.row() for r in refs], names=cols, dtype=[str] * len(cols)) if refs \
        else Table(names=cols, dtype=[str] * len(cols))
    tab.meta["lightcurves"] = {r.reference: r.lightcurve for r in refs if r.lightcurve is not None}
    tab.meta["sources"] = [os.fspath(s) for s in sources]
    return tab


def _references_from(s: str, *, labels, enrich, check_sha256, targets, limit, offline, cache_dir) -> list[Reference]:
    """The references of one source of :func:`reference_set`."""
    if s in ("koi", "toi", "planets"):
        return _catalog_refs(s, offline=offline, limit=limit, targets=targets, cache_dir=cache_dir)
    if s == "bundled":
        return _manifest_refs(DATA_DIR, enrich=enrich, offline=True if offline is None else offline,
                              labels=labels, check_sha=check_sha256)
    if Path(s).expanduser().is_dir():
        return _manifest_refs(Path(s).expanduser(), enrich=enrich, offline=True if offline is None else offline,
                              labels=labels, check_sha=check_sha256)
    raise InvalidParameterError(
        f"reference_set: {s!r} is neither 'bundled', 'koi', 'toi', 'planets' nor a directory with a MANIFEST.csv.")


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
    # The known transits are propagated with the catalogue period (at harmonic h, every
    # min(h, 1) of it): the detected period's error, times the cycles between the
    # catalogue epoch and the data (~2000 for WASP-18 b in TESS S2), would move the
    # offset by hours (7e-5 d low: 3.3 h off) although the detection is on the transits.
    d = offset(known_period * min(h, 1.0))
    ok = True
    if check_epoch and np.isfinite(d):
        ok = abs(d) <= tol_d
    out.update(matched=bool(ok), harmonic=float(h), period_error=float(err),
               epoch_offset_h=float(d * 24) if np.isfinite(d) else float("nan"),
               epoch_checked=bool(check_epoch and np.isfinite(d)))
    return out
