"""Classify transit candidates with the shipped TinyML model (LiteRT; no TensorFlow needed).

:func:`classify` folds each candidate into views (:func:`astrotinyml.views.fold_all`: each
candidate without the transits of the others),
maps them to the model inputs of the registry's input spec and runs the int8 (default) or
float32 TFLite model with LiteRT (``ai-edge-litert``).  It returns the candidates table with
``label`` and ``p_planet, p_eb, p_variability, p_instrumental, p_noise``.

By default the probabilities are **calibrated**, exactly as :func:`astrotinyml.detection.detect`
gives them: :func:`astrotinyml.calibration.store.apply_calibration` rescales the network's softmax
with the latest calibration run (else the default shipped beside the model) and re-decides
``label`` with the calibrated threshold (``unknown`` when the highest probability is below
it); ``meta['calibration_id']`` and ``meta['classifier_calibrated']`` say what was applied.
``calibration=False`` returns the raw softmax with the registry's default threshold.

Loading a model checks the SHA-256 of its ``.tflite`` file against ``registry.json``; a
mismatch raises :class:`~astrotinyml.errors.ModelIntegrityError`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .calibration.store import apply_calibration
from .candidates import PROBABILITY_COLUMNS
from .config import MODELS_DIR
from .errors import InvalidParameterError, ModelIntegrityError, error_boundary
from .modelspec import preprocess
from .provenance import sha256_file as _sha256
from .vetting import physics_veto, vet
from .views import fold_all, stack_views

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import QTable

__all__ = ["classify", "load_model", "TFLiteModel", "ModelIntegrityError", "MODELS_DIR", "PROBABILITY_COLUMNS"]


#: What LiteRT's C++ runtime writes to stderr on every interpreter it creates; it says nothing
#: about the user's data, so it is dropped (anything else LiteRT writes is passed on).
_LITERT_NOISE = (b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


class _quiet_litert:
    """Hold back file descriptor 2 while LiteRT starts, then pass on all but its INFO line.

    The line comes from C++ (not Python's ``sys.stderr``), so only a file-descriptor
    redirect catches it.  Other output written meanwhile is re-emitted, never lost.
    """

    def __enter__(self):
        import tempfile

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            self._tmp = tempfile.TemporaryFile()
            os.dup2(self._tmp.fileno(), 2)
        except (OSError, ValueError, AttributeError):  # no real fd 2 (some notebook front ends)
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        kept = [line for line in self._tmp.read().splitlines(keepends=True)
                if line.strip() not in _LITERT_NOISE]
        self._tmp.close()
        if kept:
            os.write(2, b"".join(kept))
        return False


class TFLiteModel:
    """A TFLite classifier run with LiteRT, with its input spec and classes.

    Parameters
    ----------
    path : path-like
        ``.tflite`` file (int8 or float32).
    spec : dict
        Input spec (``registry.json`` ``input_spec``).
    classes : sequence of str
        Output classes in order.
    threshold : float
        ``unknown`` below this highest probability.
    sha256 : str, optional
        Verified hash (kept for provenance).
    name : str
        Model name.

    Examples
    --------
    >>> m = load_model()
    >>> m.classes[0], m.variant
    ('planet', 'int8')
    """

    def __init__(self, path, *, spec: dict, classes, threshold: float = 0.5, sha256: str = "",
                 name: str = "", variant: str = "", registry: dict | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.spec = spec
        self.classes = tuple(classes)
        self.threshold = float(threshold)
        self.sha256 = sha256
        self.name = name or self.path.stem
        self.registry = registry or {}
        # One thread: the throughput benchmark and a Dask worker both want one core per model.
        with _quiet_litert():
            self._interp = Interpreter(model_path=str(self.path), num_threads=1)
            self._interp.allocate_tensors()
        self._inputs = {}
        for d in self._interp.get_input_details():
            key = next((k for k in spec["inputs"] if k in d["name"]), None)
            if key is None:
                raise ModelIntegrityError(f"{self.path.name}: input {d['name']!r} matches no input of the spec")
            self._inputs[key] = d
        self._output = self._interp.get_output_details()[0]
        self.variant = variant or ("int8" if self._output["dtype"] == np.int8 else "float32")
        self._batch = 1
        # A LiteRT interpreter holds its tensors: two threads (a threaded Dask worker, a
        # notebook) resizing, filling and invoking it at once would mix their inputs.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TFLiteModel(name={self.name!r}, variant={self.variant!r}, sha256={self.sha256[:12]!r})"

    def _resize(self, n: int) -> None:
        if n == self._batch:
            return
        for key, d in self._inputs.items():
            self._interp.resize_tensor_input(d["index"], [n, *self.spec["inputs"][key]["shape"]])
        self._interp.allocate_tensors()
        details = {d["index"]: d for d in self._interp.get_input_details()}
        self._inputs = {k: details[d["index"]] for k, d in self._inputs.items()}
        self._output = self._interp.get_output_details()[0]
        self._batch = n

    def predict_inputs(self, inputs: dict[str, np.ndarray], *, batch_size: int = 256) -> np.ndarray:
        """Class probabilities for preprocessed model inputs.

        Parameters
        ----------
        inputs : dict of str to numpy.ndarray
            Output of :func:`astrotinyml.modelspec.preprocess`.
        batch_size : int
            Examples per interpreter call.

        Returns
        -------
        numpy.ndarray
            ``(N, n_classes)`` float probabilities.
        """
        n = len(next(iter(inputs.values())))
        out = np.empty((n, len(self.classes)), dtype=np.float64)
        with self._lock, error_boundary(f"model {self.name!r} ({self.path.name})", ModelIntegrityError,
                                        fix="The model file does not run (altered or built for another "
                                            "runtime); reinstall astrotinyml or retrain it."):
            self._predict_into(inputs, out, n, batch_size)
        return out

    def _predict_into(self, inputs, out, n, batch_size) -> None:
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            self._resize(stop - start)
            for key, d in self._inputs.items():
                x = np.asarray(inputs[key][start:stop], dtype=np.float32)
                if d["dtype"] == np.int8:
                    scale, zero = d["quantization"]
                    x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
                self._interp.set_tensor(d["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._output["index"])
            if self._output["dtype"] == np.int8:
                scale, zero = self._output["quantization"]
                y = (y.astype(np.float64) - zero) * scale
            out[start:stop] = y

    def predict_views(self, views: list) -> np.ndarray:
        """Class probabilities for a list of :class:`~astrotinyml.views.Views`.

        Examples
        --------
        >>> import numpy as np, lightkurve as lk
        >>> from astrotinyml.views import fold_views
        >>> t = 2458000 + np.arange(0, 10, 0.005)
        >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
        >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
        >>> load_model().predict_views([v]).shape
        (1, 5)
        """

        if not views:
            return np.empty((0, len(self.classes)))
        return self.predict_inputs(preprocess(stack_views(list(views)), self.spec))


def _read_registry(directory: Path) -> dict:
    reg = directory / "registry.json"
    if not reg.exists():
        raise ModelIntegrityError(
            f"No registry.json in {directory}: not a model directory.  Train one with "
            "astrotinyml.training.train.train_model(out_dir=...) or use the shipped model (model=None).")
    try:
        return json.loads(reg.read_text())
    except json.JSONDecodeError as exc:
        raise ModelIntegrityError(f"{reg} is not valid JSON ({exc}); reinstall astrotinyml or retrain.") from None


def load_model(name: str | None = None, *, variant: str | None = None,
               path: str | os.PathLike | None = None) -> TFLiteModel:
    """Load a classifier from a registry, verifying its SHA-256.

    Parameters
    ----------
    name : str, optional
        Model name in the registry (default: the registry's ``default``).
    variant : {'int8', 'float32'}, optional
        Which flatbuffer (default: the entry's ``default_variant``, int8).  The float model
        is for comparison; the int8 one is what a microcontroller runs.
    path : path-like, optional
        Model directory holding ``registry.json`` (default: the shipped
        :data:`MODELS_DIR`).

    Returns
    -------
    TFLiteModel

    Raises
    ------
    ModelIntegrityError
        No registry, unknown name/variant, missing file, or a SHA-256 mismatch (a
        corrupted or modified model file).

    Examples
    --------
    >>> m = load_model(variant="float32")
    >>> m.variant, len(m.sha256)
    ('float32', 64)
    """
    directory = Path(path) if path is not None else MODELS_DIR
    registry = _read_registry(directory)
    models = registry.get("models", {})
    name = name or registry.get("default")
    if name not in models:
        raise ModelIntegrityError(f"Model {name!r} is not in {directory / 'registry.json'} (has: {sorted(models)}).")
    entry = models[name]
    variant = variant or entry.get("default_variant", "int8")
    files = entry.get("files", {})
    if variant not in files:
        raise ModelIntegrityError(f"Model {name!r} has no {variant!r} variant (has: {sorted(files)}).")
    f = directory / files[variant]["file"]
    if not f.exists():
        raise ModelIntegrityError(f"Model file {f} is missing; reinstall astrotinyml or retrain the model.")
    digest = _sha256(f)
    if digest != files[variant]["sha256"]:
        raise ModelIntegrityError(
            f"SHA-256 mismatch for {f}: file {digest[:16]}..., registry {files[variant]['sha256'][:16]}....  "
            "The model file was modified or corrupted; reinstall astrotinyml (or retrain and rewrite the registry).")
    # A registry entry without its input spec (KeyError) or a model file that matches its hash
    # but does not load (LiteRT's "CONV_2D failed to prepare") is one ModelIntegrityError.
    with error_boundary(f"model {name!r} ({f.name}, {directory / 'registry.json'})", ModelIntegrityError,
                        fix="The model or its registry entry is damaged or inconsistent; reinstall "
                            "astrotinyml, or retrain and rewrite the registry."):
        return TFLiteModel(f, spec=entry["input_spec"], classes=entry["classes"],
                           threshold=entry.get("threshold", 0.5), sha256=digest, name=name,
                           variant=variant, registry=entry)


_CACHE: dict[tuple, TFLiteModel] = {}
_CACHE_LOCK = threading.Lock()


def _resolve_model(model) -> TFLiteModel:
    if isinstance(model, TFLiteModel):
        return model
    if model is None or model in ("int8", "float32"):
        key = ("shipped", model)
        with _CACHE_LOCK:
            if key not in _CACHE:
                _CACHE[key] = load_model(variant=model)
            return _CACHE[key]
    if isinstance(model, (str, os.PathLike)) and Path(model).is_dir():
        return load_model(path=model)
    raise InvalidParameterError(
        f"model must be None (shipped int8), 'int8', 'float32', a model directory or a TFLiteModel; got {model!r}")


def _labels(probs: np.ndarray, classes, threshold: float) -> list[str]:
    """Most probable class per row, ``unknown`` where that probability is below ``threshold``."""
    best = probs.argmax(axis=1) if len(probs) else np.empty(0, dtype=int)
    return [classes[b] if probs[i, b] >= threshold else "unknown" for i, b in enumerate(best)]


def classify(
    lc: lightkurve.LightCurve,
    candidates: Any,
    *,
    model: Any = None,
    views: list | None = None,
    raw_lc: lightkurve.LightCurve | None = None,
    threshold: float | None = None,
    calibration: Any = None,
    copy: bool = True,
) -> QTable:
    """Classify candidates: add ``label`` and ``p_*`` columns to the candidates table.

    Parameters
    ----------
    lc : lightkurve.LightCurve
        The flattened light curve the candidates were found in (``detrend`` output;
        :func:`astrotinyml.detection.detect` passes its transit-masked flattening).
    candidates : astropy.table.Table, QTable or list of dict
        Candidates in the DESIGN columns (``pl_orbper`` [d], ``pl_tranmid`` [full BJD_TDB],
        ``pl_trandurh`` [h], optional ``pl_trandep`` [ppm], ``snr``, ``sde``...).  Without
        the :func:`astrotinyml.vetting.vet` columns, ``vet`` is run first (the model was trained
        on vetted candidates).
    model : None, 'int8', 'float32', path or TFLiteModel
        None: the shipped int8 model.  A directory: a model directory with its registry.
    views : list of Views, optional
        Views already folded for these rows (``DetectionResult.views``); folded here when
        omitted.  Their bin counts must match the model's input spec.
    raw_lc : lightkurve.LightCurve, optional
        Un-detrended light curve, passed to ``vet`` when it has to be run.
    threshold : float, optional
        ``unknown`` below this highest probability.  Default: the calibration's threshold
        (the registry's value with ``calibration=False``).  Given, it decides the label
        from the (calibrated) probabilities instead.
    calibration : None, str, Calibration or False
        As in :func:`astrotinyml.detection.detect`: None applies the latest calibration run
        (else the default shipped with the model), a run id or a
        :class:`~astrotinyml.calibration.store.Calibration` that one, False none (raw softmax).
    copy : bool
        False: a ``QTable`` given is changed in place and returned, not copied (for callers
        passing a table of their own, as ``astrotinyml.detection.characterize`` does:
        copying a vetted table of ~100 columns costs ~10 ms).

    Returns
    -------
    astropy.table.QTable
        A copy of the table (the table itself with ``copy=False``) with ``label`` (a class name or ``unknown``) and
        ``p_planet, p_eb, p_variability, p_instrumental, p_noise``; ``meta`` gains
        ``classifier_model``, ``classifier_sha256``, ``classifier_variant``,
        ``classifier_threshold``, ``classifier_calibrated`` and ``calibration_id``
        (None without calibration).  With a calibration the table also gains
        ``pl_trandep_cal`` and ``pl_trandurh_cal`` (see
        :func:`astrotinyml.calibration.store.apply_calibration`).

    Raises
    ------
    ModelIntegrityError
        The model file does not match its registry.
    InvalidParameterError
        Views that do not match the candidates or the model's input spec.

    Examples
    --------
    >>> import numpy as np, lightkurve as lk
    >>> rng = np.random.default_rng(0)
    >>> t = 2458000 + np.arange(0, 27, 0.02)
    >>> f = 1 + 3e-4 * rng.normal(size=t.size)
    >>> f[np.abs((t - 2458000.4 + 1.6) % 3.2 - 1.6) < 0.05] -= 4e-3
    >>> tab = classify(lk.LightCurve(time=t, flux=f), [dict(pl_orbper=3.2, pl_tranmid=2458000.4, pl_trandurh=2.4)])
    >>> tab["label"][0] in ("planet", "eb", "variability", "instrumental", "noise", "unknown")
    True
    >>> tab.meta["classifier_calibrated"], tab.meta["calibration_id"] is not None
    (True, True)
    """
    from astropy.table import QTable

    m = _resolve_model(model)
    if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
        raise InvalidParameterError(f"threshold must be in [0, 1], got {threshold}")
    if isinstance(candidates, (list, tuple)):
        table = QTable(rows=list(candidates)) if candidates else QTable()
    elif not copy and isinstance(candidates, QTable):
        table = candidates
    else:
        table = QTable(candidates, copy=True)
    n = len(table)
    thr = m.threshold if threshold is None or calibration is not False else float(threshold)
    if n == 0:
        probs = np.empty((0, len(m.classes)))
    else:
        if views is None:
            if "vet_depth_ppm" not in table.colnames:
                table = vet(lc, table, raw_lc=raw_lc)
            views = fold_all(lc, table, **m.spec["fold_views"])
        elif len(views) != n:
            raise InvalidParameterError(f"{len(views)} views given for {n} candidates")
        probs = m.predict_views(list(views))
    table["label"] = np.array(_labels(probs, m.classes, thr), dtype="U12")
    for j, col in enumerate(f"p_{c}" for c in m.classes):
        table[col] = probs[:, j].astype(float) if n else np.array([], dtype=float)
    table.meta["classifier_model"] = m.name
    table.meta["classifier_sha256"] = m.sha256
    table.meta["classifier_variant"] = m.variant
    table.meta["classifier_threshold"] = thr
    table.meta["classifier_calibrated"] = False
    table.meta["calibration_id"] = None
    if calibration is not False:
        # The same calibrated answer as detect(): one code path (apply_calibration also
        # applies vet's physics veto after re-deciding the labels).

        table = apply_calibration(table, calibration)
    if threshold is not None and calibration is not False and n:
        probs = np.array([[float(table[f"p_{c}"][i]) for c in m.classes] for i in range(n)])
        table["label"] = np.array(_labels(probs, m.classes, float(threshold)), dtype="U12")
        table.meta["classifier_threshold"] = float(threshold)
    # The network cannot know every star; vet's physics tests (companion larger than any
    # planet, ingress too short for the depth) overrule a 'planet' label.
    return physics_veto(table, copy=False)  # table is this function's own copy (or the caller's)
