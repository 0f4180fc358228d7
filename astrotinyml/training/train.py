"""Train, evaluate and export the classifier (needs the ``train`` extra: TensorFlow).

:func:`train_model` is what ``astrotinyml train`` and ``notebooks/train_model.ipynb`` call:

1. :func:`astrotinyml.training.dataset.build_dataset` (cached ``.npz``);
2. a stratified, seeded 70 / 15 / 15 train / validation / test split;
3. scalar standardization from the training split (stored in the input spec);
4. training with time-reversed copies of the training views (a transit, an eclipse and
   most systematics look the same backwards), balanced class weights, early stopping on
   the validation loss;
5. float and full-integer int8 TFLite (representative dataset: training views), MACs and
   arena counted from the int8 graph, C array, model card, ``registry.json``;
6. metrics of the float and int8 models on the held-out test split.

The output directory is a complete model directory: :func:`astrotinyml.classification.load_model`
reads it (``load_model(path=out_dir)``); the shipped model is the one written to
``astrotinyml/models``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time as _time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..calibration import grouped_folds
from ..classification import TFLiteModel
from ..config import cache_dir as _cache_dir
from ..errors import InvalidParameterError
from ..modelspec import default_spec, preprocess
from ..provenance import package_versions, sha256_file
from .architecture import build_model
from .dataset import DEFAULT_COUNTS, LONG_COUNTS, build_dataset, concat_datasets
from .export import (
    CYCLES_PER_MAC,
    convert_tflite,
    cortex_m4_latency,
    count_macs,
    measure_arena,
    write_c_array,
    write_model_card,
)
from .metrics import real_summary, summarize
from .real import star_group
from .signals import CLASSES

__all__ = ["train_model", "TrainResult", "split_indices", "DEFAULT_THRESHOLD", "counts_for", "cross_validate",
           "REAL_WEIGHT"]

#: Uncalibrated default decision threshold: a candidate whose highest class probability is
#: below it is labelled ``unknown``.  Calibration (a later issue) will replace it.
DEFAULT_THRESHOLD = 0.5
MODEL_NAME = "astrotinyml-cnn-v1"
#: Distributions whose versions the registry and the card record.
_RECORDED_VERSIONS = ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "numpy", "astropy", "lightkurve",
                      "wotan", "batman-package")


@dataclass
class TrainResult:
    """What :func:`train_model` produced.

    Attributes
    ----------
    out_dir : pathlib.Path
        Model directory (``registry.json``, ``.tflite`` files, C array, model card).
    registry : dict
        The registry entry written.
    metrics : dict
        ``test_float``, ``test_int8`` (simulated held-out split) and ``val_float``.
    history : dict
        Keras training history (loss/accuracy per epoch).
    timings : dict
        Seconds for ``dataset``, ``train``, ``export``, ``total``.
    dataset_info : dict
        :attr:`astrotinyml.training.dataset.SimulatedDataset.info`.
    """

    out_dir: Path
    registry: dict
    metrics: dict
    history: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    dataset_info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        m = self.metrics.get("test_int8", {})
        return (f"TrainResult(out_dir={str(self.out_dir)!r}, int8 accuracy={m.get('accuracy', float('nan')):.3f}, "
                f"planet AUC={m.get('planet_auc', float('nan')):.4f}, macs={self.registry.get('macs')}, "
                f"int8 bytes={self.registry.get('files', {}).get('int8', {}).get('bytes')})")


def counts_for(planets: int | None, non_planets: int | None) -> dict[str, int]:
    """Per-class injection counts from ``--planets N --non-planets M``.

    Non-planets are split over eb / variability / instrumental / noise in the proportions
    of :data:`astrotinyml.training.dataset.DEFAULT_COUNTS`.

    Examples
    --------
    >>> counts_for(100, 300)
    {'planet': 100, 'eb': 100, 'variability': 67, 'instrumental': 67, 'noise': 67}
    """
    out = dict(DEFAULT_COUNTS)
    if planets is not None:
        out["planet"] = int(planets)
    if non_planets is not None:
        rest = {k: v for k, v in DEFAULT_COUNTS.items() if k != "planet"}
        tot = sum(rest.values())
        for k, v in rest.items():
            out[k] = int(round(non_planets * v / tot))
    if any(v < 0 for v in out.values()):
        raise InvalidParameterError(f"counts must be >= 0, got {out}")
    return out


def split_indices(labels: np.ndarray, seed: int, fractions=(0.7, 0.15, 0.15)) -> dict[str, np.ndarray]:
    """Stratified, seeded train / val / test indices.

    Examples
    --------
    >>> s = split_indices(np.array([0] * 20 + [1] * 20), 0)
    >>> len(s["train"]), len(s["val"]), len(s["test"])
    (28, 6, 6)
    """
    rng = np.random.default_rng([seed, 7])
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(fractions[1] * idx.size))
        n_test = int(round(fractions[2] * idx.size))
        out["test"].extend(idx[:n_test])
        out["val"].extend(idx[n_test:n_test + n_val])
        out["train"].extend(idx[n_test + n_val:])
    return {k: np.sort(np.asarray(v, dtype=np.int64)) for k, v in out.items()}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 - not a git checkout
        return "unknown"


def _flip(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"global_view": x["global_view"][:, ::-1], "local_views": x["local_views"][:, ::-1],
            "scalars": x["scalars"]}


#: Weight of one real example relative to one simulated example in the loss.  Real examples
#: are few (hundreds against thousands) but they are the distribution the model is used on;
#: the value is chosen on the out-of-fold numbers of the real stars (the runs that chose it:
#: the model card's "Experiment notes").
REAL_WEIGHT = 6.0


def _class_balanced_weights(y: np.ndarray, w: np.ndarray, n_classes: int) -> np.ndarray:
    """Sample weights ``w`` times a class weight that gives every present class the same total."""
    tot = np.bincount(y, weights=w, minlength=n_classes)
    cw = np.where(tot > 0, tot.sum() / (n_classes * np.where(tot > 0, tot, 1.0)), 0.0)
    return w * cw[y]


def _fit(x_tr, y_tr, w_tr, x_va, y_va, spec, *, seed, width, epochs, batch_size, patience, verbose):
    """One network trained on (x_tr, y_tr) with sample weights; early stopping on x_va."""
    import keras
    import tensorflow as tf

    x_aug = {k: np.concatenate([x_tr[k], _flip(x_tr)[k]]) for k in x_tr}
    y_aug = np.concatenate([y_tr, y_tr])
    w_aug = _class_balanced_weights(y_aug, np.concatenate([w_tr, w_tr]), len(CLASSES))
    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF
        pass
    model = build_model(spec, n_classes=len(CLASSES), width=width)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(
        x_aug, y_aug, sample_weight=w_aug, validation_data=(x_va, y_va), epochs=int(epochs),
        batch_size=int(batch_size), verbose=verbose, shuffle=True,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(patience),
                                                 restore_best_weights=True),
                   keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                     patience=max(int(patience) // 2, 2))])
    return model, {k: [float(x) for x in v] for k, v in hist.history.items()}


def _export(model, x_rep: dict, seed: int) -> tuple[bytes, bytes]:
    """Float and full-integer int8 TFLite flatbuffers (representative: training views)."""
    rng = np.random.default_rng([seed, 11])
    n = len(next(iter(x_rep.values())))
    idx = rng.choice(n, size=min(500, n), replace=False)

    def representative():
        for i in idx:
            yield {k: x_rep[k][i:i + 1] for k in ("global_view", "local_views", "scalars")}

    return convert_tflite(model), convert_tflite(model, representative, int8=True)


def _predict(buf: bytes, spec: dict, x: dict) -> np.ndarray:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "m.tflite"
        f.write_bytes(buf)
        return TFLiteModel(f, spec=spec, classes=CLASSES).predict_inputs(x)


def _sim_groups(meta: list[dict]) -> list[str | None]:
    """The real star under each simulated example (its background), None for synthetic noise."""
    return [star_group(Path(str(m.get("background", ""))).name) if m.get("background_kind") != "synthetic"
            else None for m in meta]


def cross_validate(sim_x, sim_y, sim_groups, sim_val, real_x, real_y, real_groups, spec, *, folds: int,
                   seed: int, real_weight: float = REAL_WEIGHT, width: float = 1.0, epochs: int = 80,
                   batch_size: int = 64, patience: int = 10, verbose: int = 0) -> dict[str, Any]:
    """Out-of-fold predictions on the real examples, folds grouped by star.

    For fold k, a network is trained on the simulated training examples (less those injected
    into a star of fold k) and the real examples of the other folds, then converted to float
    and int8 TFLite and run on fold k's real examples.  No star is in both a training and a
    test fold.

    Parameters
    ----------
    sim_x, sim_y : dict, numpy.ndarray
        Preprocessed simulated training inputs and labels.
    sim_groups : list of str or None
        Star of each simulated example's background (None: synthetic).
    sim_val : tuple of (dict, numpy.ndarray)
        Simulated validation inputs and labels (early stopping).
    real_x, real_y, real_groups
        Preprocessed real inputs, labels and stars.
    spec : dict
        Input spec.
    folds, seed : int
        Number of star-grouped folds and the seed of the fold assignment and training.

    Returns
    -------
    dict
        ``fold`` (per real example), ``float`` and ``int8`` (N, 5) out-of-fold
        probabilities, ``epochs`` per fold.

    Examples
    --------
    >>> from astrotinyml.training.train import cross_validate    # doctest: +SKIP
    """
    fold = grouped_folds(list(real_groups), folds, seed)
    n_cls = 5
    oof_f = np.full((len(real_y), n_cls), np.nan)
    oof_i = np.full((len(real_y), n_cls), np.nan)
    epochs_run = []
    sim_groups = np.array([g if g is not None else "" for g in sim_groups], dtype=object)
    for k in range(int(fold.max()) + 1 if fold.size else 0):
        te = fold == k
        held = set(np.asarray(real_groups, dtype=object)[te])
        keep = np.array([g not in held for g in sim_groups])
        x_tr = {n: np.concatenate([sim_x[n][keep], real_x[n][~te]]) for n in sim_x}
        y_tr = np.concatenate([sim_y[keep], real_y[~te]])
        w_tr = np.concatenate([np.ones(int(keep.sum())), np.full(int((~te).sum()), float(real_weight))])
        model, hist = _fit(x_tr, y_tr, w_tr, *sim_val, spec, seed=seed + 100 + k, width=width, epochs=epochs,
                           batch_size=batch_size, patience=patience, verbose=verbose)
        epochs_run.append(len(hist.get("loss", [])))
        fbuf, ibuf = _export(model, x_tr, seed + k)
        x_te = {n: v[te] for n, v in real_x.items()}
        oof_f[te] = _predict(fbuf, spec, x_te)
        oof_i[te] = _predict(ibuf, spec, x_te)
    return {"fold": fold, "float": oof_f, "int8": oof_i, "epochs": epochs_run}


def train_model(
    *,
    planets: int | None = None,
    non_planets: int | None = None,
    epochs: int = 80,
    out_dir: str | os.PathLike | None = None,
    seed: int = 20240,
    dataset: Any = None,
    real: Any = None,
    real_weight: float = REAL_WEIGHT,
    folds: int = 5,
    n_real_natural: int = 150,
    long_counts: dict | None = None,
    backgrounds: Any = None,
    background_root: str | os.PathLike | None = None,
    processes: int = 1,
    width: float = 1.0,
    batch_size: int = 64,
    patience: int = 10,
    threshold: float = DEFAULT_THRESHOLD,
    target_precision: float = 0.9,
    cache_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Build the datasets, train the CNN on simulated and real examples, export everything.

    Parameters
    ----------
    planets, non_planets : int, optional
        Simulated planet and non-planet injections (see :func:`counts_for`); default
        :data:`astrotinyml.training.dataset.DEFAULT_COUNTS`.
    epochs : int
        Maximum epochs (early stopping on the simulated validation loss usually ends sooner).
    out_dir : path-like, optional
        Model directory to write; default ``<cache>/models/<name>-<seed>``.
    seed : int
        Seed of the dataset, the split, the folds, the weight initialization and the shuffling.
    dataset : SimulatedDataset, optional
        Use this simulated dataset instead of building one (``planets``/``non_planets`` ignored).
    real : SimulatedDataset, optional
        Real labelled examples (:func:`astrotinyml.training.real.real_examples`); each
        ``meta`` needs a ``group`` (star).  They are evaluated out of fold (star-grouped
        ``folds``-fold cross-validation, :func:`cross_validate`), then all of them train the
        shipped network.  None: simulation only.
    real_weight : float
        Loss weight of a real example relative to a simulated one (:data:`REAL_WEIGHT`).
    folds : int
        Star-grouped folds for the out-of-fold evaluation of the real examples (< 2: none).
    n_real_natural, long_counts, backgrounds, processes
        See :func:`astrotinyml.training.dataset.build_dataset` (the long-period supplement is
        a second build, seed + 1; default :data:`~astrotinyml.training.dataset.LONG_COUNTS`
        scaled like ``planets``/``non_planets``; ``{}`` for none).
    background_root : path-like, optional
        Directory the relative real-background paths are resolved against (see
        :func:`~astrotinyml.training.dataset.build_dataset`; default: the current directory).
    width : float
        Filter / unit multiplier of the network (1 = the shipped size).
    batch_size, patience : int
        Training batch size; early-stopping patience in epochs.
    threshold : float
        Decision threshold stored in the registry when no out-of-fold calibration can be
        fitted (``unknown`` below it).
    target_precision : float
        Planet-label precision the out-of-fold ``unknown`` threshold is chosen for.
    cache_dir : path-like, optional
        Cache for the dataset.
    verbose : int
        Keras verbosity.

    Returns
    -------
    TrainResult

    Raises
    ------
    ImportError
        TensorFlow is not installed (``pip install astrotinyml[train]``).

    Examples
    --------
    >>> from astrotinyml.training.train import train_model          # doctest: +SKIP
    >>> res = train_model(planets=40, non_planets=80, epochs=3)   # doctest: +SKIP
    >>> res.registry["macs"] <= 150_000                           # doctest: +SKIP
    True
    """
    _require_tensorflow()
    t_all = _time.perf_counter()
    timings: dict[str, float] = {}
    t = _time.perf_counter()
    if dataset is None:
        dataset = _simulated_dataset(planets, non_planets, n_real_natural=n_real_natural, long_counts=long_counts,
                                     seed=seed, backgrounds=backgrounds, background_root=background_root,
                                     processes=processes, cache_dir=cache_dir)
    timings["dataset"] = round(_time.perf_counter() - t, 1)
    data = _prepare(dataset, real, seed)
    fit_kw = dict(width=width, epochs=epochs, batch_size=batch_size, patience=patience, verbose=verbose)

    cv = None
    t = _time.perf_counter()
    if data.n_real and folds >= 2 and len(set(data.r_groups)) >= 2:
        cv = cross_validate(data.x_tr, data.y_tr, data.sim_groups, (data.x_va, data.y_va), data.R, real.labels,
                            data.r_groups, data.spec, folds=folds, seed=seed, real_weight=real_weight, **fit_kw)
    timings["cross_validation"] = round(_time.perf_counter() - t, 1)

    t = _time.perf_counter()
    model, history, x_fit = _fit_final(data, real, real_weight=real_weight, seed=seed, **fit_kw)
    timings["train"] = round(_time.perf_counter() - t, 1)

    t = _time.perf_counter()
    out = Path(out_dir) if out_dir is not None else _cache_dir(cache_dir) / "models" / f"{MODEL_NAME}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    files = _write_model_files(model, x_fit, seed, out)
    timings["export"] = round(_time.perf_counter() - t, 1)

    metrics, decision = _metrics(data, files, cv, real, target_precision)
    budget = _edge_budget(files.int8_buf)
    summary_lines: list[str] = []
    model.summary(print_fn=lambda s, **k: summary_lines.append(s))
    tdata = _training_data_record(dataset, data, real, real_weight)
    thr, threshold_note = _decision(decision, threshold, target_precision)
    entry = _registry_entry(files, data.spec, thr, threshold_note, int(model.count_params()), budget, metrics, tdata,
                            history, timings, seed=seed, epochs=epochs, batch_size=batch_size, width=width,
                            real_weight=real_weight)
    registry = {"schema_version": 1, "default": MODEL_NAME, "models": {MODEL_NAME: entry}}
    (out / "registry.json").write_text(json.dumps(registry, indent=1, sort_keys=True, default=str) + "\n")
    write_model_card(_model_card(entry, files, budget, summary_lines, data, real_weight, folds), out)
    timings["total"] = round(_time.perf_counter() - t_all, 1)
    entry["timings"] = timings
    (out / "registry.json").write_text(json.dumps(registry, indent=1, sort_keys=True, default=str) + "\n")
    if cv is not None:
        # The out-of-fold predictions, for the calibration and for benchmarks/model_eval.py.
        np.savez_compressed(out / "real_out_of_fold.npz", fold=cv["fold"], int8=cv["int8"], float32=cv["float"],
                            labels=real.labels, meta=np.array(json.dumps(real.meta, default=str)))
    return TrainResult(out_dir=out, registry=entry, metrics=metrics, history=history, timings=timings,
                       dataset_info=dataset.info)


# ---------------------------------------------------------------------------------------------
# the steps of train_model
# ---------------------------------------------------------------------------------------------

def _require_tensorflow() -> None:
    try:
        import keras  # noqa: F401
        import tensorflow as tf  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Training needs TensorFlow: pip install 'astrotinyml[train]'") from exc


def _simulated_dataset(planets, non_planets, *, n_real_natural, long_counts, seed, backgrounds, background_root,
                       processes, cache_dir):
    """The simulated set: the main build and the long-period supplement (seed + 1)."""
    counts = counts_for(planets, non_planets)
    build = dict(backgrounds=backgrounds, background_root=background_root, processes=processes, cache_dir=cache_dir)
    parts = [build_dataset(counts=counts, n_real_natural=n_real_natural, seed=seed, **build)]
    if long_counts is None:
        scale = {"planet": counts["planet"] / DEFAULT_COUNTS["planet"],
                 "eb": counts["eb"] / DEFAULT_COUNTS["eb"], "noise": counts["noise"] / DEFAULT_COUNTS["noise"]}
        long_counts = {k: int(round(v * scale[k])) for k, v in LONG_COUNTS.items()}
    if long_counts and sum(long_counts.values()) > 0:
        parts.append(build_dataset(counts={}, n_real_natural=0, long_counts=long_counts, seed=seed + 1, **build))
    return concat_datasets(parts)


@dataclass(frozen=True)
class _Prepared:
    """The split, the input spec and the preprocessed inputs train_model works on."""

    split: dict
    spec: dict
    x_tr: dict
    y_tr: np.ndarray
    x_va: dict
    y_va: np.ndarray
    x_te: dict
    y_te: np.ndarray
    sim_groups: list
    R: dict | None
    r_groups: list
    n_real: int


def _prepare(dataset, real, seed: int) -> _Prepared:
    """Split the simulated set, fix the standardization on its training part, preprocess everything."""
    labels = dataset.labels
    split = split_indices(labels, seed)
    for part in ("train", "val", "test"):
        if split[part].size == 0:
            raise InvalidParameterError(f"the {part} split is empty: build a larger dataset")
    n_real = len(real) if real is not None else 0
    if n_real and any("group" not in m for m in real.meta):
        raise InvalidParameterError("every real example needs meta['group'] (its star) for grouped folds")

    # Standardization from the simulated training split only: fixed before any fold is made.
    s_train = dataset.arrays["scalars"][split["train"]]
    spec = default_spec(s_train.mean(axis=0), s_train.std(axis=0) + 1e-6)
    X = preprocess(dataset.arrays, spec)

    def part(name):
        return {k: v[split[name]] for k, v in X.items()}, labels[split[name]]

    x_tr, y_tr = part("train")
    x_va, y_va = part("val")
    x_te, y_te = part("test")
    train_set = set(split["train"].tolist())
    sim_groups = [g for i, g in enumerate(_sim_groups(dataset.meta)) if i in train_set]
    return _Prepared(split=split, spec=spec, x_tr=x_tr, y_tr=y_tr, x_va=x_va, y_va=y_va, x_te=x_te, y_te=y_te,
                     sim_groups=sim_groups, R=preprocess(real.arrays, spec) if n_real else None,
                     r_groups=[m["group"] for m in real.meta] if n_real else [], n_real=n_real)


def _fit_final(data: _Prepared, real, *, real_weight: float, seed: int, **fit_kw):
    """The shipped network: all simulated training examples and all real ones."""
    if data.n_real:
        x_fit = {k: np.concatenate([data.x_tr[k], data.R[k]]) for k in data.x_tr}
        y_fit = np.concatenate([data.y_tr, real.labels])
        w_fit = np.concatenate([np.ones(len(data.y_tr)), np.full(data.n_real, float(real_weight))])
    else:
        x_fit, y_fit, w_fit = data.x_tr, data.y_tr, np.ones(len(data.y_tr))
    model, history = _fit(x_fit, y_fit, w_fit, data.x_va, data.y_va, data.spec, seed=seed, **fit_kw)
    return model, history, x_fit


@dataclass(frozen=True)
class _ModelFiles:
    float_buf: bytes
    int8_buf: bytes
    f_float: Path
    f_int8: Path


def _write_model_files(model, x_fit: dict, seed: int, out: Path) -> _ModelFiles:
    """Float and int8 flatbuffers and the C array, written to ``out``."""
    float_buf, int8_buf = _export(model, x_fit, seed)
    f_float = out / f"{MODEL_NAME}.float32.tflite"
    f_int8 = out / f"{MODEL_NAME}.int8.tflite"
    f_float.write_bytes(float_buf)
    f_int8.write_bytes(int8_buf)
    write_c_array(int8_buf, out / "c_array", name="astrotinyml_model")
    return _ModelFiles(float_buf=float_buf, int8_buf=int8_buf, f_float=f_float, f_int8=f_int8)


def _metrics(data: _Prepared, files: _ModelFiles, cv, real, target_precision: float) -> tuple[dict, dict | None]:
    """Simulated-split metrics of both models and the real stars' out-of-fold summary (and its decision)."""
    spec = data.spec
    metrics = {
        "val_float": summarize(data.y_va, _predict(files.float_buf, spec, data.x_va), CLASSES),
        "test_float": summarize(data.y_te, _predict(files.float_buf, spec, data.x_te), CLASSES),
        "test_int8": summarize(data.y_te, _predict(files.int8_buf, spec, data.x_te), CLASSES),
    }
    metrics["int8_auc_loss"] = round(metrics["test_float"]["planet_auc"] - metrics["test_int8"]["planet_auc"], 5)
    decision = None
    if cv is not None:
        metrics["real_out_of_fold"] = {
            variant: real_summary(real.meta, real.labels, cv[variant], cv["fold"], target_precision=target_precision)
            for variant in ("int8", "float")}
        metrics["real_out_of_fold"]["folds"] = int(cv["fold"].max()) + 1
        metrics["real_out_of_fold"]["epochs_per_fold"] = cv["epochs"]
        decision = metrics["real_out_of_fold"]["int8"]["calibration"]
    return metrics, decision


def _edge_budget(int8_buf: bytes) -> dict:
    """MACs and operators of the int8 graph, its arena and the Cortex-M4 latency estimate."""
    macs = count_macs(int8_buf)
    arena = measure_arena(int8_buf)  # TFLM-measured with tflite-micro installed, else the estimate
    return dict(macs=macs, arena=arena, latency=cortex_m4_latency(macs["macs"], macs["n_ops"]))


def _training_data_record(dataset, data: _Prepared, real, real_weight: float) -> dict:
    """What the network was trained on, for the registry and the card."""
    tdata = json.loads(json.dumps(dataset.info, default=str))
    tdata.pop("errors", None)
    for part_info in tdata.get("parts", []):
        part_info.pop("errors", None)
    tdata["split"] = {k: int(v.size) for k, v in data.split.items()}
    tdata["split_rule"] = "stratified by class, numpy default_rng([seed, 7]), 70/15/15"
    tdata["augmentation"] = "training views time-reversed (copies)"
    # File names in the cache's datasets/ directory, not this machine's paths (the registry
    # ships with the package); the recorded config rebuilds them where they are missing.
    tdata["dataset_files"] = [Path(p).name for p in ([str(dataset.path)] if dataset.path else
                                                     dataset.info.get("dataset_files", [])) if p]
    tdata["dataset_files_dir"] = "<astrotinyml cache>/datasets"
    if data.n_real:
        files = sorted({f for m in real.meta for f in m.get("files", [])})
        tdata["real"] = dict(
            n_examples=data.n_real, n_stars=len(set(data.r_groups)), weight=float(real_weight),
            counts={c: int((real.labels == i).sum()) for i, c in enumerate(CLASSES)},
            modes={m: sum(1 for x in real.meta if x.get("mode") == m) for m in ("catalogue", "search")},
            files=files, info={k: v for k, v in real.info.items() if k != "errors"},
            n_errors=len(real.info.get("errors", [])))
    return tdata


def _decision(decision: dict | None, threshold: float, target_precision: float) -> tuple[float, str]:
    """The registry's ``unknown`` threshold (out of fold where reached, else the default) and its note."""
    reached = bool(decision and decision.get("reached"))
    thr = float(decision["threshold"]) if reached else float(threshold)
    note = (
        f"classify(): label = argmax of the probabilities, or 'unknown' when the highest probability is below "
        f"{thr:.4f}" + (f" (chosen out of fold on the real examples for a planet precision of {target_precision})"
                        if reached else " (an uncalibrated default)")
        + "; a row vet marks not_planet_physics is never 'planet'.  detect() then applies the calibration shipped "
          "beside the model (calibration.json).")
    return thr, note


def _registry_entry(files: _ModelFiles, spec: dict, thr: float, threshold_note: str, n_params: int, budget: dict,
                    metrics: dict, tdata: dict, history: dict, timings: dict, *, seed: int, epochs: int,
                    batch_size: int, width: float, real_weight: float) -> dict:
    macs = budget["macs"]
    return {
        "name": MODEL_NAME,
        "classes": list(CLASSES),
        "files": {
            "int8": {"file": files.f_int8.name, "sha256": sha256_file(files.f_int8), "bytes": len(files.int8_buf)},
            "float32": {"file": files.f_float.name, "sha256": sha256_file(files.f_float),
                        "bytes": len(files.float_buf)},
        },
        "default_variant": "int8",
        "input_spec": spec,
        "threshold": thr,
        "threshold_note": threshold_note,
        "calibrated": False,
        "params": n_params,
        "macs": macs["macs"],
        "macs_by_op": macs["by_op"],
        "arena": budget["arena"],
        "latency_ms_cortex_m4": budget["latency"],
        "cycles_per_mac": CYCLES_PER_MAC,
        "metrics": metrics,
        "training_data": tdata,
        "training": {"epochs_run": len(history.get("loss", [])), "max_epochs": int(epochs),
                     "batch_size": int(batch_size), "width": float(width), "optimizer": "Adam(2e-3)",
                     "class_weight": "balanced over the weighted examples of each class",
                     "real_weight": float(real_weight), "seconds": timings["train"]},
        "seed": int(seed),
        "versions": package_versions(_RECORDED_VERSIONS),
        "git_commit": _git_commit(),
        "created": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime()),
    }


def _model_card(entry: dict, files: _ModelFiles, budget: dict, summary_lines: list[str], data: _Prepared,
                real_weight: float, folds: int) -> dict:
    n_real = data.n_real
    notes = ["classify()'s probabilities are the network's softmax; calibrated ones come from "
             "astrotinyml.calibration.store.apply_calibration (detect() does it).",
             "The training views come from the same pipeline as detect(): two search passes, vet with the star's "
             "parameters (a share of stars unknown), fold_views."]
    if n_real:
        notes.append(f"Real examples: {n_real} from {len(set(data.r_groups))} stars (weight {real_weight} each); every "
                     f"real-data number in this card is out of fold ({folds} folds grouped by star).")
    else:
        notes.append("Trained on simulations only: real-corpus metrics (benchmarks/model_eval.py) are the honest measure.")
    return dict(
        name=MODEL_NAME,
        summary=("1-D CNN classifying transit-search candidates of Kepler/K2/TESS light curves into "
                 f"{', '.join(CLASSES)} from the folded views of astrotinyml.views.fold_views; trained on "
                 "simulated signals injected into real and synthetic noise" + (
                     " and on real labelled signals of real stars" if n_real else "") + ", all passed through "
                 "the pipeline."),
        classes=list(CLASSES), architecture="\n".join(summary_lines), params=entry["params"],
        macs=budget["macs"]["macs"], tflite_bytes={"int8": len(files.int8_buf), "float": len(files.float_buf)},
        arena=budget["arena"], latency_ms=budget["latency"], cycles_per_mac=CYCLES_PER_MAC,
        metrics=entry["metrics"], training_data=entry["training_data"], seed=entry["seed"],
        versions=entry["versions"], threshold=entry["threshold"], threshold_note=entry["threshold_note"], notes=notes,
    )
