"""The simulated training set: a reproducible plan, worker processes, a cached ``.npz``.

:func:`build_dataset` plans every example up front (class, ephemeris mode, real or synthetic
background) from the seed, runs :func:`astrotinyml.training.simulate.simulate_example` on each
(in worker processes if asked; example ``i`` of a build with seed ``s`` uses
``numpy.random.default_rng([s, i])``, so the result does not depend on the number of
processes) and writes the arrays once to ``<cache_dir>/datasets/sim-<hash>.npz``, where the
hash covers every option, the real backgrounds present and :data:`DATASET_VERSION`.

>>> ds = build_dataset(counts=dict(noise=1), n_real_natural=0, backgrounds=[], cache=False)
>>> ds.counts()["noise"]
1
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import cache_dir as _cache_dir
from ..errors import InvalidParameterError
from ..provenance import package_versions, sha256_file
from .backgrounds import REAL_BACKGROUNDS, Background, background_path, load_backgrounds, synthetic_background
from . import signals, simulate
from .signals import CLASSES
from .simulate import simulate_example

__all__ = ["DATASET_VERSION", "DEFAULT_COUNTS", "LONG_COUNTS", "REAL_FRACTION", "TRANSIT_MODES",
           "SimulatedDataset", "build_dataset", "save_dataset", "load_dataset", "concat_datasets"]

logger = logging.getLogger(__name__)

#: Distributions whose versions a build records.
_RECORDED_VERSIONS = ("numpy", "astropy", "lightkurve", "wotan", "batman-package", "numba", "scipy")

#: Dataset format version (bump when the content of an example changes).
DATASET_VERSION = 5

#: Default composition of a build: injections per class.
DEFAULT_COUNTS = {"planet": 1600, "eb": 1333, "variability": 889, "instrumental": 889, "noise": 889}
#: Ephemeris modes of the transit-like classes: (mode, probability).
TRANSIT_MODES = (("search", 0.5), ("narrow", 0.25), ("true", 0.25))
#: Long-period supplement of the shipped model's training set (see ``long_counts``).
LONG_COUNTS = {"planet": 436, "eb": 296, "noise": 222}
#: Share of examples on a real background (the rest on synthetic noise).
REAL_FRACTION = 0.5


@dataclass
class SimulatedDataset:
    """Arrays and records of a simulated dataset.

    Attributes
    ----------
    arrays : dict of str to numpy.ndarray
        ``global_view`` (N, G), ``local_view``, ``secondary_view``, ``odd_view``,
        ``even_view`` (N, L), ``scalars`` (N, S), all float32.
    labels : numpy.ndarray
        Class index (into :data:`CLASSES`) of each example, int64.
    meta : list of dict
        One record per example (injected truth, mode, background, found ephemeris).
    info : dict
        Build configuration, seed, backgrounds used (with sha256), counts, build time,
        versions.
    path : pathlib.Path or None
        The cached ``.npz``.
    """

    arrays: dict
    labels: np.ndarray
    meta: list
    info: dict
    path: Path | None = None

    def __len__(self) -> int:
        return int(self.labels.size)

    def counts(self) -> dict[str, int]:
        """Examples per class."""
        return {c: int((self.labels == i).sum()) for i, c in enumerate(CLASSES)}

    def subset(self, index: np.ndarray) -> SimulatedDataset:
        """A new dataset with the examples at ``index``."""
        index = np.asarray(index)
        return SimulatedDataset(arrays={k: v[index] for k, v in self.arrays.items()},
                                labels=self.labels[index], meta=[self.meta[i] for i in index],
                                info=dict(self.info), path=None)


def _plan(counts: dict[str, int], n_real_natural: int, seed: int, real_fraction: float,
          long_counts: dict[str, int] | None = None) -> list[tuple]:
    """(index, label, mode, background choice) of every example, reproducibly."""
    rng = np.random.default_rng([seed, 999_999])
    plan = []
    i = 0
    for label in CLASSES:
        for _ in range(int(counts.get(label, 0))):
            if label in ("planet", "eb"):
                modes, probs = zip(*TRANSIT_MODES)
                mode = str(rng.choice(modes, p=probs))
            elif label == "noise":
                mode = "random" if rng.random() < 0.2 else "search"
            else:
                mode = "search"
            plan.append((i, label, mode, "real" if rng.random() < real_fraction else "synthetic"))
            i += 1
    for _ in range(n_real_natural):
        plan.append((i, "natural", "search", "real"))
        i += 1
    for label, n in (long_counts or {}).items():
        for _ in range(int(n)):
            mode = "random" if label == "noise" else "true"
            plan.append((i, label, mode + "-long", "real" if rng.random() < real_fraction else "synthetic"))
            i += 1
    return plan


_WORKER_BGS: list = []


def _worker_init(bg_entries):
    global _WORKER_BGS
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER_BGS = load_backgrounds(bg_entries) if bg_entries else []


def _run_one(args):
    index, label, mode, where, seed = args
    rng = np.random.default_rng([seed, index])
    bgs = _WORKER_BGS
    try:
        if label == "natural":
            # A real star's own strongest signal, no injection: variable stars -> variability,
            # quiet stars and hosts with transits cut out -> noise.
            pool = [b for b in bgs if b.kind in ("variable", "quiet", "host")]
            bg = pool[int(rng.integers(len(pool)))]
            lab = "variability" if bg.kind == "variable" else "noise"
            bg = _crop(rng, bg)
            ex = simulate_example(rng, bg, lab, mode="search", inject=False)
        else:
            if where == "real" and bgs:
                bg = _crop(rng, bgs[int(rng.integers(len(bgs)))])
            else:
                bg = synthetic_background(rng)
            long_period = mode.endswith("-long")
            ex = simulate_example(rng, bg, label, mode=mode.replace("-long", ""), long_period=long_period)
    except Exception as exc:  # noqa: BLE001 - record, do not kill a long build
        return index, None, repr(exc)
    if ex is None:
        return index, None, None
    return index, (ex["views"].to_arrays(), ex["label"], ex["meta"]), None


def _crop(rng, bg: Background) -> Background:
    """A random window (>= 60 % or 20 d) of a real background: more variety, less time."""
    t = bg.time
    span = t[-1] - t[0]
    length = max(span * rng.uniform(0.6, 1.0), min(20.0, span))
    start = t[0] + rng.uniform(0.0, max(span - length, 0.0))
    keep = (t >= start) & (t <= start + length)
    if keep.sum() < 200:
        return bg
    return Background(name=bg.name, time=t[keep], flux=bg.flux[keep], mission=bg.mission,
                      cadence_min=bg.cadence_min, kind=bg.kind, sigma=bg.sigma, sha256=bg.sha256,
                      n_cut=bg.n_cut)


def build_dataset(
    *,
    counts: dict[str, int] | None = None,
    n_real_natural: int = 150,
    long_counts: dict[str, int] | None = None,
    seed: int = 20240,
    backgrounds: Any = None,
    background_root: str | os.PathLike | None = None,
    real_fraction: float = REAL_FRACTION,
    processes: int = 1,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> SimulatedDataset:
    """Build (or load from the cache) a labelled dataset of classifier views.

    Parameters
    ----------
    counts : dict, optional
        Injections per class (default :data:`DEFAULT_COUNTS`, 3800 injections).  Planet and EB
        injections the pipeline does not recover are dropped (real background) or become
        ``noise`` (synthetic background), so the final counts differ.
    n_real_natural : int
        Extra examples of real stars' own strongest signal with nothing injected (variable
        stars: ``variability``; quiet stars and hosts with their transits cut: ``noise``).
    long_counts : dict, optional
        Extra long-period examples per class (``planet``/``eb``: one or two transits in the
        data, ``true`` ephemeris; ``noise``: random long-period ephemeris), e.g.
        :data:`LONG_COUNTS`.
    seed : int
        Seed of the whole build.
    backgrounds : sequence, optional
        Real background entries (see :func:`~astrotinyml.training.backgrounds.load_backgrounds`); default
        :data:`~astrotinyml.training.backgrounds.REAL_BACKGROUNDS`.  Pass ``[]`` for synthetic
        noise only.  Entries whose file is not there are left out with a ``logging`` warning.
    background_root : path-like, optional
        Directory the relative background paths are resolved against (default: the current
        directory; files shipped in the package are read from it, see
        :func:`~astrotinyml.training.backgrounds.background_path`).
    real_fraction : float
        Share of injections on a real background.
    processes : int
        Worker processes (the result does not depend on it).
    cache : bool
        Read/write ``<cache_dir>/datasets/sim-<hash>.npz`` (the hash covers every option and
        the dataset version).
    cache_dir : path-like, optional
        Default :func:`astrotinyml.config.cache_dir`.
    progress : bool
        Print progress every 200 examples.

    Returns
    -------
    SimulatedDataset

    Examples
    --------
    >>> ds = build_dataset(counts=dict(planet=2, noise=2), n_real_natural=0, backgrounds=[], cache=False)
    >>> sorted(set(ds.meta[i]["label"] for i in range(len(ds)))) <= ["noise", "planet"]
    True
    """
    counts = dict(DEFAULT_COUNTS if counts is None else counts)
    for k in counts:
        if k not in CLASSES:
            raise InvalidParameterError(f"counts has an unknown class {k!r}; classes are {CLASSES}")
    present = _present_backgrounds(REAL_BACKGROUNDS if backgrounds is None else backgrounds, background_root)
    config = _dataset_config(counts, n_real_natural, seed, [e for e, _ in present], real_fraction, long_counts)
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    path = _cache_dir(cache_dir) / "datasets" / f"sim-{key}.npz"
    if cache and path.exists():
        return load_dataset(path)

    if not present:
        n_real_natural = 0
    plan = _plan(counts, int(n_real_natural), int(seed), real_fraction if present else 0.0, long_counts)
    t_start = _time.perf_counter()
    jobs = [(i, lab, mode, where, int(seed)) for i, lab, mode, where in plan]
    results, errors = _run_jobs(jobs, [(str(p), e[1], e[2]) for e, p in present], processes, progress)
    order = sorted(results)
    if not order:
        raise InvalidParameterError("build_dataset made no example (every injection was dropped)")
    names = list(results[order[0]][0].keys())
    arrays = {k: np.stack([results[i][0][k] for i in order]).astype(np.float32) for k in names}
    labels = np.array([CLASSES.index(results[i][1]) for i in order], dtype=np.int64)
    meta = [dict(results[i][2], index=int(i)) for i in order]
    bgs_info = [dict(file=str(e[0]), kind=e[1], sha256=sha256_file(p), known_periods_cut=[x[0] for x in e[2]])
                for e, p in present]
    info = dict(config=config, key=key, build_seconds=round(_time.perf_counter() - t_start, 1),
                n_planned=len(jobs), n_examples=len(order), n_errors=len(errors), errors=errors[:20],
                counts={c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
                modes={m: sum(1 for r in meta if r["mode"] == m)
                       for m in ("search", "narrow", "true", "random", "true-long", "random-long")},
                real_background_examples=sum(1 for r in meta if r["background_kind"] != "synthetic"),
                backgrounds=bgs_info, versions=package_versions(_RECORDED_VERSIONS), processes=int(processes))
    ds = SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=None)
    if cache:
        save_dataset(ds, path)
    return ds


def _present_backgrounds(backgrounds, root) -> list[tuple[tuple, Path]]:
    """(entry, file) of the background entries whose file is there; the others are reported."""
    entries = [(e, "quiet", ()) if isinstance(e, (str, os.PathLike)) else e for e in backgrounds]
    present, missing = [], []
    for e in entries:
        p = background_path(e[0], root)
        (present if p.exists() else missing).append((e, p))
    if missing:
        logger.warning("build_dataset: %d of %d real backgrounds are not there and are left out (pass "
                       "background_root= the directory their paths are relative to): %s", len(missing),
                       len(entries), ", ".join(str(e[0]) for e, _ in missing))
    return present


def _dataset_config(counts, n_real_natural, seed, entries, real_fraction, long_counts) -> dict:
    """What the dataset depends on (its hash is the cache key)."""
    config = dict(version=DATASET_VERSION, counts=counts, n_real_natural=int(n_real_natural), seed=int(seed),
                  backgrounds=[[str(e[0]), e[1], [list(x) for x in e[2]]] for e in entries],
                  real_fraction=float(real_fraction), transit_modes=[list(m) for m in TRANSIT_MODES])
    if long_counts:  # only present when used: keeps the cache key of earlier builds
        config["long_counts"] = {k: int(v) for k, v in long_counts.items()}
    # read at call time: the replay and the signal models read them there too
    if signals.TTV_FRACTION:  # likewise
        config["ttv_fraction"] = float(signals.TTV_FRACTION)
    config["search_passes"] = int(simulate.SEARCH_PASSES)
    return config


def _run_jobs(jobs: list[tuple], bg_entries: list[tuple], processes: int, progress: bool
              ) -> tuple[dict[int, tuple], list[str]]:
    """Run every planned example (in worker processes when ``processes > 1``)."""
    results: dict[int, tuple] = {}
    errors: list[str] = []
    t_start = _time.perf_counter()

    def collect(n, i, res, err):
        if res is not None:
            results[i] = res
        if err:
            errors.append(err)
        if progress and n % 200 == 0:
            print(f"  {n}/{len(jobs)} examples, {_time.perf_counter() - t_start:.0f} s", flush=True)

    if processes > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(processes, initializer=_worker_init, initargs=(bg_entries,)) as pool:
            for n, (i, res, err) in enumerate(pool.imap_unordered(_run_one, jobs, chunksize=8)):
                collect(n, i, res, err)
    else:
        _worker_init(bg_entries)
        for n, job in enumerate(jobs):
            collect(n, *_run_one(job))
    return results, errors


def save_dataset(ds: SimulatedDataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (``.npz``, atomically: a temporary file renamed into place);
    sets ``ds.path``.  :func:`load_dataset` reads it.

    Examples
    --------
    >>> import tempfile, os
    >>> ds = build_dataset(counts=dict(noise=1), n_real_natural=0, backgrounds=[], cache=False)
    >>> p = save_dataset(ds, os.path.join(tempfile.mkdtemp(), "d.npz"))
    >>> len(load_dataset(p)) == len(ds)
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, labels=ds.labels, meta=np.array(json.dumps(ds.meta, default=str)),
                        info=np.array(json.dumps(ds.info, default=str)), **ds.arrays)
    os.replace(tmp, path)
    ds.path = path
    return path


def concat_datasets(parts: list[SimulatedDataset]) -> SimulatedDataset:
    """Concatenate datasets (e.g. the main build and the long-period supplement).

    Examples
    --------
    >>> a = build_dataset(counts=dict(noise=1), n_real_natural=0, backgrounds=[], cache=False)
    >>> len(concat_datasets([a, a])) == 2 * len(a)
    True
    """
    if len(parts) == 1:
        return parts[0]
    arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].arrays}
    labels = np.concatenate([p.labels for p in parts])
    meta = [dict(m, part=j) for j, p in enumerate(parts) for m in p.meta]
    info = dict(parts=[p.info for p in parts], n_examples=int(labels.size),
                counts={c: int((labels == i).sum()) for i, c in enumerate(CLASSES)},
                dataset_files=[str(p.path) if p.path else None for p in parts])
    return SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=None)


def load_dataset(path: str | os.PathLike) -> SimulatedDataset:
    """Read a dataset written by :func:`build_dataset`.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.

    Returns
    -------
    SimulatedDataset

    Examples
    --------
    >>> import tempfile, os
    >>> ds = build_dataset(counts=dict(noise=2), n_real_natural=0, backgrounds=[], cache=True,
    ...                    cache_dir=tempfile.mkdtemp())
    >>> len(load_dataset(ds.path)) == len(ds)
    True
    """
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in ("labels", "meta", "info")}
        labels = z["labels"]
        meta = json.loads(str(z["meta"]))
        info = json.loads(str(z["info"]))
    return SimulatedDataset(arrays=arrays, labels=labels, meta=meta, info=info, path=Path(path))
