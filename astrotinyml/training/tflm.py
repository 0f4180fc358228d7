"""Running an int8 flatbuffer in TensorFlow Lite Micro and in LiteRT, side by side.

The primitives both the export (:func:`astrotinyml.training.export.check_tflm`, which refuses a
model TFLM cannot run, and :func:`~astrotinyml.training.export.measure_arena`) and the edge
measurements (:mod:`astrotinyml.training.edge`) use: quantizing inputs to the model's int8 input
tensors (:func:`int8_inputs`), the int8 outputs of LiteRT without a delegate
(:func:`litert_outputs`) and of TFLM's host interpreter (:func:`tflm_outputs`, PyPI
``tflite-micro``, reference kernels), their agreement (:func:`tflm_check`) and the smallest
tensor arena (:func:`tflm_arena`).  :func:`tools` says which edge tools are installed; a missing
one raises :class:`EdgeToolMissing` naming the package.

>>> sorted(tools())
['arm_gcc', 'arm_size', 'gcc', 'qemu', 'tflite_micro']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidParameterError, ModelIntegrityError

__all__ = ["EdgeToolMissing", "tools", "need_tool", "model_bytes", "litert_interpreter", "int8_inputs",
           "litert_outputs", "tflm_outputs", "tflm_arena", "tflm_check"]


class EdgeToolMissing(RuntimeError):
    """A tool an edge step needs is not installed; the message names the package to install."""


def tools() -> dict[str, str | None]:
    """Which edge tools are installed: paths (``None`` when missing) and the tflite-micro version.

    Returns
    -------
    dict
        ``tflite_micro`` (version string or ``None``), ``gcc``, ``arm_gcc``, ``arm_size``,
        ``qemu`` (paths or ``None``).

    Examples
    --------
    >>> sorted(tools())
    ['arm_gcc', 'arm_size', 'gcc', 'qemu', 'tflite_micro']
    """
    try:
        import tflite_micro

        tflm = str(getattr(tflite_micro, "__version__", "installed"))
    except ImportError:
        tflm = None
    return dict(tflite_micro=tflm, gcc=shutil.which("gcc") or shutil.which("cc"),
                arm_gcc=shutil.which("arm-none-eabi-gcc"), arm_size=shutil.which("arm-none-eabi-size"),
                qemu=shutil.which("qemu-system-arm"))


def need_tool(tool: str) -> str:
    """Path of an edge tool (a key of :func:`tools`); :class:`EdgeToolMissing` naming its package if missing."""
    path = tools()[tool]
    if path:
        return path
    hint = {"tflite_micro": "pip install tflite-micro (in the 'dev' extra: pip install -e '.[dev]')",
            "gcc": "a host C compiler: apt-get install gcc",
            "arm_gcc": "apt-get install gcc-arm-none-eabi", "arm_size": "apt-get install gcc-arm-none-eabi",
            "qemu": "apt-get install qemu-system-arm"}[tool]
    raise EdgeToolMissing(f"{tool.replace('_', '-')} is not installed: {hint}")


def model_bytes(model) -> bytes:
    """The flatbuffer bytes of a model given as bytes, a path or a TFLiteModel."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    if hasattr(model, "path"):  # a TFLiteModel
        model = model.path
    p = Path(model)
    if not p.is_file():
        raise InvalidParameterError(f"{p}: no such model file; pass an int8 .tflite or its bytes")
    return p.read_bytes()


def litert_interpreter(buf: bytes, *, preserve: bool = False):
    """A LiteRT interpreter of ``buf`` with the flatbuffer's own operators (no delegate), allocated."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # The flatbuffer's own operators (no XNNPACK delegate), as TFLM runs them.
    it = Interpreter(model_content=buf, experimental_preserve_all_tensors=preserve,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def int8_inputs(model, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Quantize preprocessed float inputs to the model's int8 input tensors, in input order.

    Parameters
    ----------
    model : bytes or path
        int8 TFLite flatbuffer.
    inputs : dict of str to numpy.ndarray
        :func:`astrotinyml.modelspec.preprocess` output, ``(N, ...)`` float arrays keyed by
        input name (a key is matched as a substring of the tensor name, as
        :class:`astrotinyml.classification.TFLiteModel` does).

    Returns
    -------
    list of numpy.ndarray
        One ``(N, ...)`` int8 array per model input, in the flatbuffer's input order.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> m = load_model()
    >>> x = {k: np.zeros((2, *v["shape"]), np.float32) for k, v in m.spec["inputs"].items()}
    >>> [a.shape for a in int8_inputs(m.path, x)]
    [(2, 201, 1), (2, 61, 4), (2, 19)]
    """
    it = litert_interpreter(model_bytes(model))
    out = []
    for d in it.get_input_details():
        key = next((k for k in inputs if k in d["name"]), None)
        if key is None:
            raise InvalidParameterError(f"model input {d['name']!r} matches none of {sorted(inputs)}")
        if d["dtype"] != np.int8:
            raise ModelIntegrityError(f"model input {d['name']!r} is {np.dtype(d['dtype']).name}, not int8: "
                                      "the edge checks take the int8 model")
        scale, zero = d["quantization"]
        x = np.asarray(inputs[key], dtype=np.float32)
        out.append(np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8))
    return out


def litert_outputs(model, x8: Sequence[np.ndarray], *, tensor: int | None = None) -> np.ndarray:
    """int8 outputs of LiteRT (no delegate) for int8 inputs, one example at a time.

    Parameters
    ----------
    model : bytes or path
    x8 : sequence of numpy.ndarray
        :func:`int8_inputs` output.
    tensor : int, optional
        Return this tensor (by flatbuffer index) instead of the model output, e.g. the logits.

    Returns
    -------
    numpy.ndarray
        ``(N, n_out)`` int8.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> m = load_model()
    >>> x = int8_inputs(m.path, {k: np.zeros((1, *v["shape"]), np.float32) for k, v in m.spec["inputs"].items()})
    >>> litert_outputs(m.path, x).shape
    (1, 5)
    """
    it = litert_interpreter(model_bytes(model), preserve=tensor is not None)
    ins = it.get_input_details()
    idx = it.get_output_details()[0]["index"] if tensor is None else int(tensor)
    n = len(x8[0])
    rows = []
    for j in range(n):
        for d, x in zip(ins, x8):
            it.set_tensor(d["index"], x[j:j + 1])
        it.invoke()
        rows.append(np.asarray(it.get_tensor(idx)).reshape(-1).copy())
    return np.array(rows, dtype=np.int8)


def _tflm_interpreter(buf: bytes, arena: int):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(buf, arena_size=int(arena))


def tflm_outputs(model, x8: Sequence[np.ndarray], *, arena_size: int = 64 * 1024) -> np.ndarray:
    """int8 outputs of TensorFlow Lite Micro's interpreter (``tflite-micro``) for int8 inputs.

    Parameters
    ----------
    model : bytes or path
    x8 : sequence of numpy.ndarray
        :func:`int8_inputs` output.
    arena_size : int
        Tensor arena bytes.

    Returns
    -------
    numpy.ndarray
        ``(N, n_out)`` int8.

    Raises
    ------
    EdgeToolMissing
        ``tflite-micro`` is not installed.
    ModelIntegrityError
        TFLM cannot allocate or run the model (an unsupported operator, a too small arena).

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> m = load_model()
    >>> x = int8_inputs(m.path, {k: np.zeros((1, *v["shape"]), np.float32) for k, v in m.spec["inputs"].items()})
    >>> tflm_outputs(m.path, x).shape   # doctest: +SKIP
    (1, 5)
    """
    need_tool("tflite_micro")
    buf = model_bytes(model)
    err = _QuietStderr()
    try:
        with err:
            it = _tflm_interpreter(buf, arena_size)
            rows = []
            for j in range(len(x8[0])):
                for i, x in enumerate(x8):
                    it.set_input(x[j:j + 1], i)
                it.invoke()
                rows.append(np.asarray(it.get_output(0)).reshape(-1).copy())
    except (RuntimeError, ValueError) as exc:
        why = " ".join(ln.strip() for ln in err.text.splitlines() if ln.strip())
        raise ModelIntegrityError(f"TensorFlow Lite Micro cannot run this model (arena {arena_size} B): {exc}"
                                  + (f" ({why})" if why else "")) from exc
    return np.array(rows, dtype=np.int8)


def tflm_arena(model, *, lo: int = 256, hi: int = 1 << 20, step: int = 16) -> int:
    """The smallest tensor arena (bytes) with which TFLM allocates the model and runs one inference.

    Bisection over ``[lo, hi]`` to ``step`` bytes (TFLM aligns its allocations to 16 B).  The
    arena is that of ``tflite-micro``'s host build (64-bit pointers, reference kernels, the
    recording allocator): a 32-bit Cortex-M build should need less for its per-tensor structures
    (pointers are half as wide) and CMSIS-NN kernels may ask for scratch buffers, so give the
    firmware this value plus a margin.

    Parameters
    ----------
    model : bytes or path
    lo, hi : int
        Search bounds; ``hi`` must allocate.
    step : int
        Resolution in bytes.

    Returns
    -------
    int

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> tflm_arena(load_model().path) < 64 * 1024   # doctest: +SKIP
    True
    """
    need_tool("tflite_micro")
    buf = model_bytes(model)
    it0 = litert_interpreter(buf)
    zeros = [np.zeros(d["shape"], d["dtype"]) for d in it0.get_input_details()]

    def ok(n: int) -> bool:
        try:
            it = _tflm_interpreter(buf, n)
            for i, x in enumerate(zeros):
                it.set_input(x, i)
            it.invoke()
            return True
        except (RuntimeError, ValueError):
            return False

    # In units of `step`: the answer is the smallest multiple of `step` that works.
    k_lo, k_hi = max(lo // step, 1) - 1, -(-hi // step)
    with _QuietStderr():  # TFLM reports each failed allocation on stderr
        if not ok(k_hi * step):
            raise ModelIntegrityError(f"TensorFlow Lite Micro cannot allocate or run this model even with a "
                                      f"{k_hi * step} B arena")
        while k_hi - k_lo > 1:
            mid = (k_lo + k_hi) // 2
            if ok(mid * step):
                k_hi = mid
            else:
                k_lo = mid
    return int(k_hi * step)


class _QuietStderr:
    """Capture file descriptor 2 for a while (TFLM's C++ logs its errors there directly)."""

    def __enter__(self):
        import sys

        sys.stderr.flush()
        self._saved = os.dup(2)
        self._file = tempfile.TemporaryFile()
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
        return False


def tflm_check(model, x8: Sequence[np.ndarray] | None = None, *, arena: bool = True) -> dict[str, Any]:
    """Run the model in TFLM and LiteRT on the same int8 inputs; report agreement and the arena.

    Parameters
    ----------
    model : bytes or path
        int8 TFLite flatbuffer.
    x8 : sequence of numpy.ndarray, optional
        :func:`int8_inputs` output; default: 16 fixed pseudo-random int8 inputs (enough to show
        that TFLM runs the graph; the agreement claim is made on real views).
    arena : bool
        Also bisect the smallest arena (:func:`tflm_arena`).

    Returns
    -------
    dict
        ``n``, ``identical`` (examples whose int8 outputs are equal), ``max_abs_diff`` (int8
        steps), ``differing`` (indices), ``arena_bytes`` (when ``arena``), ``tflite_micro``
        (version).

    Raises
    ------
    EdgeToolMissing, ModelIntegrityError
        As :func:`tflm_outputs`.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> tflm_check(load_model().path, arena=False)["max_abs_diff"] <= 1   # doctest: +SKIP
    True
    """
    need_tool("tflite_micro")
    buf = model_bytes(model)
    if x8 is None:
        rng = np.random.default_rng(0)
        x8 = [rng.integers(-128, 128, size=(16, *d["shape"][1:]), dtype=np.int8) if d["dtype"] == np.int8
              else rng.standard_normal((16, *d["shape"][1:])).astype(d["dtype"])
              for d in litert_interpreter(buf).get_input_details()]
    b = tflm_outputs(buf, x8)  # first: a model TFLM cannot run is refused with TFLM's reason
    a = litert_outputs(buf, x8)
    d = np.abs(a.astype(np.int32) - b.astype(np.int32)).max(axis=1)
    out = dict(n=int(len(a)), identical=int((d == 0).sum()), max_abs_diff=int(d.max()) if len(d) else 0,
               differing=[int(i) for i in np.flatnonzero(d)], tflite_micro=tools()["tflite_micro"])
    if arena:
        out["arena_bytes"] = tflm_arena(buf)
    return out
