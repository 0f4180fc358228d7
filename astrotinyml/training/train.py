"""Train, evaluate and export the classifier (needs the ``train`` extra: TensorFlow).

:func:`train_model` is what ``astrotinyml train`` and ``notebooks/train_model.ipynb`` call:

1. :func:`astrotinyml.training.simulate.build_dataset` (cached ``.npz``);
2. a stratified, seeded 70 / 15 / 15 train / validation / test split;
3. scalar standardization from the training split (stored in the input spec);
4. training with time-reversed copies of the training views (a transit, an eclipse and
   most systematics look the same backwards), balanced class weights, early stopping on
   the validation loss;
5. float and full-integer int8 TFLite (representative dataset: training views), MACs and
   arena counted from the int8 graph, C array, model card, ``registry.json``;
6. metrics of the float and int8 models on the held-out test split.

The output directory is a complete model directory: :func:`astrotinyml.classify.load_model`
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

from ..errors import InvalidParameterError

__all__ = ["train_model", "TrainResult", "split_indices", "DEFAULT_THRESHOLD", "counts_for"]

#: Uncalibrated default decision threshold: a candidate whose highest class probability is
#: below it is labelled ``unknown``.  Calibration (a later issue) will replace it.
DEFAULT_THRESHOLD = 0.5
MODEL_NAME = "astrotinyml-cnn-v1"


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
        :attr:`astrotinyml.training.simulate.SimulatedDataset.info`.
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
    of :data:`astrotinyml.training.simulate.DEFAULT_COUNTS`.

    Examples
    --------
    >>> counts_for(100, 300)
    {'planet': 100, 'eb': 100, 'variability': 67, 'instrumental': 67, 'noise': 67}
    """
    from .training.simulate import DEFAULT_COUNTS

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


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("tensorflow", "tensorflow-cpu", "keras", "ai-edge-litert", "numpy", "astropy", "lightkurve",
                "wotan", "batman-package"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    from .._version import __version__

    out["astrotinyml"] = __version__
    return out


def _flip(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"global_view": x["global_view"][:, ::-1], "local_views": x["local_views"][:, ::-1],
            "scalars": x["scalars"]}


from .._util import sha256_file as _sha256


def train_model(
    *,
    planets: int | None = None,
    non_planets: int | None = None,
    epochs: int = 80,
    out_dir: str | os.PathLike | None = None,
    seed: int = 20240,
    dataset: Any = None,
    n_real_natural: int = 150,
    long_counts: dict | None = None,
    backgrounds: Any = None,
    processes: int = 1,
    width: float = 1.0,
    batch_size: int = 64,
    patience: int = 10,
    threshold: float = DEFAULT_THRESHOLD,
    cache_dir: str | os.PathLike | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Build the dataset, train the CNN, export float/int8 TFLite + C array + model card.

    Parameters
    ----------
    planets, non_planets : int, optional
        Planet injections and non-planet injections (see :func:`counts_for`); default
        :data:`astrotinyml.training.simulate.DEFAULT_COUNTS`.
    epochs : int
        Maximum epochs (early stopping on the validation loss usually ends sooner).
    out_dir : path-like, optional
        Model directory to write; default ``<cache>/models/<name>-<seed>``.
    seed : int
        Seed of the dataset, the split, the weight initialization and the shuffling.
    dataset : SimulatedDataset, optional
        Use this dataset instead of building one (``planets``/``non_planets`` ignored).
    n_real_natural : int
        See :func:`astrotinyml.training.simulate.build_dataset`.
    long_counts : dict, optional
        Long-period supplement (a second cached build, seed + 1); default
        :data:`astrotinyml.training.simulate.LONG_COUNTS` scaled like ``planets``/``non_planets``;
        ``{}`` for none.
    backgrounds : sequence, optional
        Real backgrounds (default: the files a fresh clone has).
    processes : int
        Worker processes for the dataset build.
    width : float
        Filter / unit multiplier of the network (1 = the shipped size).
    batch_size, patience : int
        Training batch size; early-stopping patience in epochs.
    threshold : float
        Decision threshold stored in the registry (``unknown`` below it); uncalibrated.
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
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("Training needs TensorFlow: pip install 'astrotinyml[train]'") from exc

    from ..config import cache_dir as _cache_dir
    from .training.simulate import CLASSES, LONG_COUNTS, build_dataset, concat_datasets
    from .architecture import build_model
    from .export import (CYCLES_PER_MAC, convert_tflite, cortex_m4_latency, count_macs, estimate_arena,
                         write_c_array, write_model_card)
    from .metrics import summarize
    from .spec import default_spec, preprocess

    t_all = _time.perf_counter()
    timings: dict[str, float] = {}
    t = _time.perf_counter()
    if dataset is None:
        counts = counts_for(planets, non_planets)
        parts = [build_dataset(counts=counts, n_real_natural=n_real_natural, seed=seed,
                               backgrounds=backgrounds, processes=processes, cache_dir=cache_dir)]
        if long_counts is None:
            from .training.simulate import DEFAULT_COUNTS

            scale = {"planet": counts["planet"] / DEFAULT_COUNTS["planet"],
                     "eb": counts["eb"] / DEFAULT_COUNTS["eb"], "noise": counts["noise"] / DEFAULT_COUNTS["noise"]}
            long_counts = {k: int(round(v * scale[k])) for k, v in LONG_COUNTS.items()}
        if long_counts and sum(long_counts.values()) > 0:
            parts.append(build_dataset(counts={}, n_real_natural=0, long_counts=long_counts, seed=seed + 1,
                                       backgrounds=backgrounds, processes=processes, cache_dir=cache_dir))
        dataset = concat_datasets(parts)
    timings["dataset"] = round(_time.perf_counter() - t, 1)
    labels = dataset.labels
    split = split_indices(labels, seed)
    for part in ("train", "val", "test"):
        if split[part].size == 0:
            raise InvalidParameterError(f"the {part} split is empty: build a larger dataset")

    s_train = dataset.arrays["scalars"][split["train"]]
    spec = default_spec(s_train.mean(axis=0), s_train.std(axis=0) + 1e-6)
    X = preprocess(dataset.arrays, spec)

    def part(name):
        return {k: v[split[name]] for k, v in X.items()}, labels[split[name]]

    x_tr, y_tr = part("train")
    x_va, y_va = part("val")
    x_te, y_te = part("test")
    x_aug = {k: np.concatenate([x_tr[k], _flip(x_tr)[k]]) for k in x_tr}
    y_aug = np.concatenate([y_tr, y_tr])

    keras.utils.set_random_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001 - older TF
        pass
    model = build_model(spec, n_classes=len(CLASSES), width=width)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    present = np.bincount(y_aug, minlength=len(CLASSES)).astype(float)
    class_weight = {i: (present.sum() / (len(CLASSES) * present[i]) if present[i] else 0.0)
                    for i in range(len(CLASSES))}
    t = _time.perf_counter()
    hist = model.fit(
        x_aug, y_aug, validation_data=(x_va, y_va), epochs=int(epochs), batch_size=int(batch_size),
        class_weight=class_weight, verbose=verbose, shuffle=True,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(patience),
                                                 restore_best_weights=True),
                   keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                     patience=max(int(patience) // 2, 2))])
    timings["train"] = round(_time.perf_counter() - t, 1)
    history = {k: [float(x) for x in v] for k, v in hist.history.items()}

    t = _time.perf_counter()
    out = Path(out_dir) if out_dir is not None else _cache_dir(cache_dir) / "models" / f"{MODEL_NAME}-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    float_buf = convert_tflite(model)
    rep_rng = np.random.default_rng([seed, 11])
    rep_idx = rep_rng.choice(len(y_tr), size=min(500, len(y_tr)), replace=False)

    def representative():
        for i in rep_idx:
            yield {k: x_tr[k][i:i + 1] for k in ("global_view", "local_views", "scalars")}

    int8_buf = convert_tflite(model, representative, int8=True)
    stem = MODEL_NAME
    f_float = out / f"{stem}.float32.tflite"
    f_int8 = out / f"{stem}.int8.tflite"
    f_float.write_bytes(float_buf)
    f_int8.write_bytes(int8_buf)
    write_c_array(int8_buf, out / "c_array", name="astrotinyml_model")
    timings["export"] = round(_time.perf_counter() - t, 1)

    from ..classify import TFLiteModel

    m_float = TFLiteModel(f_float, spec=spec, classes=CLASSES)
    m_int8 = TFLiteModel(f_int8, spec=spec, classes=CLASSES)
    metrics = {
        "val_float": summarize(y_va, m_float.predict_inputs(x_va), CLASSES),
        "test_float": summarize(y_te, m_float.predict_inputs(x_te), CLASSES),
        "test_int8": summarize(y_te, m_int8.predict_inputs(x_te), CLASSES),
    }
    metrics["int8_auc_loss"] = round(metrics["test_float"]["planet_auc"] - metrics["test_int8"]["planet_auc"], 5)
    macs = count_macs(int8_buf)
    arena = estimate_arena(int8_buf)
    latency = cortex_m4_latency(macs["macs"], macs["n_ops"])
    n_params = int(model.count_params())
    summary_lines: list[str] = []
    model.summary(print_fn=lambda s, **k: summary_lines.append(s))
    tdata = json.loads(json.dumps(dataset.info, default=str))
    tdata.pop("errors", None)
    for part_info in tdata.get("parts", []):
        part_info.pop("errors", None)
    tdata["split"] = {k: int(v.size) for k, v in split.items()}
    tdata["split_rule"] = "stratified by class, numpy default_rng([seed, 7]), 70/15/15"
    tdata["augmentation"] = "training views time-reversed (copies)"
    # File names in the cache's datasets/ directory, not this machine's paths (the registry
    # ships with the package); the recorded config rebuilds them where they are missing.
    tdata["dataset_files"] = [Path(p).name for p in ([str(dataset.path)] if dataset.path else
                                                     dataset.info.get("dataset_files", [])) if p]
    tdata["dataset_files_dir"] = "<astrotinyml cache>/datasets"
    threshold_note = (f"classify(): label = argmax of the probabilities, or 'unknown' when the highest "
                      f"probability is below {threshold} (an uncalibrated default).  detect() then applies the "
                      "calibration shipped beside the model (calibration.json, astrotinyml.calibrate: temperature "
                      "scaling and a threshold fitted on confirmed planets); refit it after retraining with "
                      "benchmarks/calibrate_corpus.py --write-default.")
    entry = {
        "name": MODEL_NAME,
        "classes": list(CLASSES),
        "files": {
            "int8": {"file": f_int8.name, "sha256": _sha256(f_int8), "bytes": len(int8_buf)},
            "float32": {"file": f_float.name, "sha256": _sha256(f_float), "bytes": len(float_buf)},
        },
        "default_variant": "int8",
        "input_spec": spec,
        "threshold": float(threshold),
        "threshold_note": threshold_note,
        "calibrated": False,
        "params": n_params,
        "macs": macs["macs"],
        "macs_by_op": macs["by_op"],
        "arena": arena,
        "latency_ms_cortex_m4": latency,
        "cycles_per_mac": CYCLES_PER_MAC,
        "metrics": metrics,
        "training_data": tdata,
        "training": {"epochs_run": len(history.get("loss", [])), "max_epochs": int(epochs),
                     "batch_size": int(batch_size), "width": float(width), "optimizer": "Adam(2e-3)",
                     "class_weight": {CLASSES[i]: round(w, 4) for i, w in class_weight.items()},
                     "seconds": timings["train"]},
        "seed": int(seed),
        "versions": _versions(),
        "git_commit": _git_commit(),
        "created": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime()),
    }
    registry = {"schema_version": 1, "default": MODEL_NAME, "models": {MODEL_NAME: entry}}
    (out / "registry.json").write_text(json.dumps(registry, indent=1, sort_keys=True, default=str) + "\n")
    card = dict(
        name=MODEL_NAME,
        summary=("1-D CNN classifying transit-search candidates of Kepler/K2/TESS light curves into "
                 f"{', '.join(CLASSES)} from the folded views of astrotinyml.views.fold_views; trained on "
                 "simulated signals injected into real and synthetic noise and passed through the pipeline."),
        classes=list(CLASSES), architecture="\n".join(summary_lines), params=n_params, macs=macs["macs"],
        tflite_bytes={"int8": len(int8_buf), "float": len(float_buf)}, arena=arena, latency_ms=latency,
        cycles_per_mac=CYCLES_PER_MAC, metrics=metrics, training_data=tdata, seed=seed, versions=entry["versions"],
        threshold=threshold, threshold_note=threshold_note,
        notes=["classify()'s probabilities are the network's softmax, not calibrated; calibrated ones come from "
               "astrotinyml.calibrate.apply_calibration (detect() does it).",
               "Trained on simulations: real-corpus metrics (benchmarks/model_eval.py) are the honest measure.",
               "The training views come from one search pass on the plain detrending (astrotinyml.training.simulate), "
               "while detect() searches twice (search_passes=2)."],
    )
    write_model_card(card, out)
    timings["total"] = round(_time.perf_counter() - t_all, 1)
    entry["timings"] = timings
    (out / "registry.json").write_text(json.dumps(registry, indent=1, sort_keys=True, default=str) + "\n")
    return TrainResult(out_dir=out, registry=entry, metrics=metrics, history=history, timings=timings,
                       dataset_info=dataset.info)
