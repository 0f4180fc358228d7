"""Edge deployment measured: TensorFlow Lite Micro check, tensor arena, plain-C int8 code, Cortex-M4 cost.

Four measurements of an int8 TFLite classifier (the shipped one or any ``train`` exports):

1. :func:`tflm_check` runs the flatbuffer in TensorFlow Lite Micro's own interpreter (PyPI
   ``tflite-micro``, its host build with the reference kernels) and LiteRT on the same int8
   inputs and reports how the int8 outputs differ.  :func:`tflm_arena` finds, by bisection, the
   smallest tensor arena with which TFLM allocates and runs the model (both live in
   :mod:`astrotinyml.training.tflm`, which the export's check uses too, and are re-exported here).
2. :func:`generate_c` writes a plain-C99 implementation of exactly the flatbuffer's graph: its
   weights, biases and per-channel requantization multipliers taken from the flatbuffer, and
   kernels with TFLM's reference arithmetic (``astrotinyml/data/edge/tflm_kernels.h``).
   :func:`host_c_check` compiles it with the host ``gcc`` and compares it with LiteRT and TFLM.
3. :func:`cortex_m4_run` cross-compiles it with ``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2``,
   runs it under ``qemu-system-arm -M mps2-an386`` (a Cortex-M4 board) with a small QEMU plugin
   that counts the instructions executed per inference, and reads ``arm-none-eabi-size``.
4. :func:`edge_report` does all of it where the tools exist and :func:`format_edge_table`
   prints the table ``make edge`` shows.

Why an instruction count and not cycles: QEMU executes the Cortex-M4 instruction set exactly
but models no pipeline, so it counts instructions, not cycles.  A Cortex-M4 retires at most one
instruction per cycle, so ``instructions / f`` is a lower bound on the time at clock ``f``; the
modelled cycles add the documented Cortex-M4 extra cycles for loads, taken branches and
multi-register transfers (:data:`CPI_MODEL`), with zero-wait-state memory.  CMSIS-NN's kernels
are faster than these reference loops: the MLPerf-Tiny anchor (:data:`MLPERF_TINY_CYCLES_PER_MAC`)
stays beside the measurement.

The Python parts need only LiteRT (a runtime dependency) and, for the TFLM steps, the
``tflite-micro`` package (the ``dev`` extra); the C steps need ``gcc``, and the Cortex-M4 step
``gcc-arm-none-eabi`` and ``qemu-system-arm`` (Debian packages).  :func:`tools` says what is
available; a missing tool raises :class:`EdgeToolMissing` naming the package.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..classification import load_model
from ..config import cache_dir as _cache_dir
from ..detection import detect
from ..errors import InvalidParameterError, ModelIntegrityError
from ..modelspec import preprocess
from ..views import stack_views
from .dataset import load_dataset
from .export import count_macs
from .tflm import (
    EdgeToolMissing,
    int8_inputs,
    litert_interpreter,
    litert_outputs,
    model_bytes,
    need_tool,
    tflm_arena,
    tflm_check,
    tflm_outputs,
    tools,
)

__all__ = [
    "EdgeToolMissing",
    "tools",
    "int8_inputs",
    "litert_outputs",
    "tflm_outputs",
    "tflm_check",
    "tflm_arena",
    "generate_c",
    "host_c_check",
    "cortex_m4_run",
    "edge_report",
    "format_edge_table",
    "real_corpus_inputs",
    "MLPERF_TINY_CYCLES_PER_MAC",
    "CPI_MODEL",
    "CLOCKS_MHZ",
]

#: Cycles per MAC measured by MLPerf Tiny v1.x submissions of int8 CNNs on Cortex-M4 boards with
#: vendor (CMSIS-NN) kernels: an anchor for what optimized kernels reach, not a measurement here.
MLPERF_TINY_CYCLES_PER_MAC = (3.4, 3.9)
#: Extra cycles per executed instruction class on a Cortex-M4 (ARM Cortex-M4 TRM, table 3-1, zero
#: wait states): a load takes 2 cycles (+1), a taken branch 1 + a 1-3 cycle refill (+2, charged to
#: every branch: an upper side for the not-taken ones), LDM/STM/PUSH/POP 1 + N registers (+N - 1,
#: counted as +1 per register listed beyond the base instruction).  Everything else 1 cycle.
CPI_MODEL = {"load": 1.0, "branch": 2.0, "multi_register": 1.0}
#: Clocks of the table (common Cortex-M4 parts: 64 MHz nRF52840, 80 MHz STM32L4, 120 MHz STM32L4+).
CLOCKS_MHZ = (64, 80, 120)

_EDGE_DATA = "data/edge"


def _data_file(name: str) -> Path:
    return Path(str(resources.files("astrotinyml").joinpath(_EDGE_DATA, name)))


# ---------------------------------------------------------------------------------------------
# Plain-C generation from the flatbuffer
# ---------------------------------------------------------------------------------------------

def _quantize_multiplier(m: float) -> tuple[int, int]:
    """tflite::QuantizeMultiplier: m = q * 2**shift with q a Q31 integer."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    qf = int(math.floor(abs(q) * (1 << 31) + 0.5)) * (1 if q > 0 else -1)  # std::round: half away from 0
    if qf == (1 << 31):
        qf //= 2
        shift += 1
    if shift < -31:
        shift, qf = 0, 0
    if shift > 30:
        shift, qf = 30, (1 << 31) - 1
    return int(qf), int(shift)


def _act_range(act: int, scale: float, zp: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8: NONE, RELU (1), RELU_N1_TO_1 (2), RELU6 (3)."""
    def q(v):
        return zp + int(math.floor(v / scale + 0.5)) if v >= 0 else zp - int(math.floor(-v / scale + 0.5))

    lo, hi = -128, 127
    if act == 1:
        lo = max(lo, q(0.0))
    elif act == 2:
        lo, hi = max(lo, q(-1.0)), min(hi, q(1.0))
    elif act == 3:
        lo, hi = max(lo, q(0.0)), min(hi, q(6.0))
    elif act != 0:
        raise ModelIntegrityError(f"fused activation {act} is not supported by the C generator")
    return lo, hi


def _same_pad(in_size: int, k: int, stride: int, dil: int, padding: int) -> tuple[int, int]:
    """tflite::ComputePaddingHeightWidth for one axis: (output size, padding before)."""
    eff = (k - 1) * dil + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size - eff + stride) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2


@dataclass
class _Tensor:
    index: int
    shape: tuple
    dtype: int
    scales: np.ndarray
    zps: np.ndarray
    data: np.ndarray | None


def _c_array(name: str, ctype: str, values, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    body = ",\n".join("  " + ", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line))
    return f"static const {ctype} {name}[{len(vals)}] = {{\n{body}\n}};\n"


def _parse(buf: bytes):
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(buf, 0))
    if len(m.subgraphs) != 1:
        raise ModelIntegrityError(f"the C generator takes one subgraph, this model has {len(m.subgraphs)}")
    g = m.subgraphs[0]
    names = {v: k for k, v in vars(S.BuiltinOperator).items() if not k.startswith("_")}
    tensors = {}
    for i, t in enumerate(g.tensors):
        q = t.quantization
        data = None
        if t.buffer is not None and t.buffer > 0 and m.buffers[t.buffer].data is not None:
            raw = np.asarray(m.buffers[t.buffer].data, dtype=np.uint8).tobytes()
            dt = {S.TensorType.INT8: np.int8, S.TensorType.INT32: np.int32, S.TensorType.INT64: np.int64}.get(t.type)
            if dt is not None and raw:
                data = np.frombuffer(raw, dtype=dt).reshape(t.shape if t.shape is not None else ())
        tensors[i] = _Tensor(i, tuple(int(s) for s in (t.shape if t.shape is not None else ())), int(t.type),
                             np.asarray(q.scale if q is not None and q.scale is not None else [], np.float32),
                             np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], np.int64),
                             data)
    ops = []
    for op in g.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        ops.append((names.get(code, str(code)), [int(i) for i in op.inputs], [int(o) for o in op.outputs],
                    op.builtinOptions))
    return S, tensors, ops, [int(i) for i in g.inputs], [int(o) for o in g.outputs]


def generate_c(model, out_dir: str | os.PathLike, *, name: str = "astrotinyml_edge_model") -> dict[str, Any]:
    """Write a plain-C99 int8 implementation of the flatbuffer's graph (``<name>.c`` and ``.h``).

    Operators: ``CONV_2D`` (per-channel requantization), ``MAX_POOL_2D``, ``FULLY_CONNECTED``
    (per-tensor or per-channel), ``CONCATENATION`` (inputs quantized as the output),
    ``SOFTMAX`` (int8 output, scale 1/256, zero point -128); ``RESHAPE``/``EXPAND_DIMS`` become
    aliases of their input and ``SHAPE``/``STRIDED_SLICE``/``PACK`` on shapes are evaluated here
    (every shape is static).  The arithmetic is TFLM's reference one
    (``astrotinyml/data/edge/tflm_kernels.h``, copied beside the generated file); the
    requantization multipliers are computed from the flatbuffer's scales with TFLite's
    ``QuantizeMultiplier``.  Activations live in one static buffer per tensor.

    The entry point is ``void atm_edge_invoke(const int8_t *in, int8_t *out)``: ``in`` holds the
    int8 inputs back to back in the model's input order (``ATM_EDGE_INPUT_BYTES``), ``out`` the
    int8 output; ``atm_edge_logits()`` points at the tensor fed to the final softmax.

    Parameters
    ----------
    model : bytes or path
        int8 TFLite flatbuffer.
    out_dir : path-like
    name : str
        File stem.

    Returns
    -------
    dict
        ``source``, ``header``, ``kernels`` (paths), ``ops`` (operator counts in the C code),
        ``macs``, ``input_bytes``, ``output_bytes``, ``logits_tensor`` (flatbuffer index).

    Raises
    ------
    ModelIntegrityError
        An operator, type or quantization the generator does not implement.

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.classification import load_model
    >>> info = generate_c(load_model().path, tempfile.mkdtemp())
    >>> info["macs"], info["input_bytes"], info["output_bytes"]
    (117512, 464, 5)
    """
    buf = model_bytes(model)
    S, T, ops, g_in, g_out = _parse(buf)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(g_out) != 1:
        raise ModelIntegrityError(f"the C generator takes one output tensor, this model has {len(g_out)}")
    for i in g_in + g_out:
        if T[i].dtype != S.TensorType.INT8:
            raise ModelIntegrityError(f"tensor {i} is not int8: the C generator takes the full-integer model")
    gen = _CGraph(S, T, g_in, g_out)
    for k, (name_op, ins, outs, opt) in enumerate(ops):
        gen.add(k, name_op, [i for i in ins if i >= 0], outs[0], opt)
    return gen.write(out, name)


class _CGraph:
    """The C code of one flatbuffer graph, built operator by operator (see :func:`generate_c`)."""

    def __init__(self, S, T, g_in, g_out):
        self.S, self.T, self.g_out = S, T, g_out
        self.alias: dict[int, int] = {}      # tensor -> tensor whose bytes it shares
        self.consts: dict[int, np.ndarray] = {}  # int32 shape tensors evaluated here
        self.decls: list[str] = []
        self.body: list[str] = []
        self.counts: dict[str, int] = {}
        self.macs = 0
        self.buffers: dict[int, int] = {}
        self.in_offsets: dict[int, int] = {}
        self.logits: int | None = None
        pos = 0
        for i in g_in:
            self.in_offsets[i] = pos
            pos += int(np.prod(T[i].shape))
        self.input_bytes = pos

    def root(self, i):
        while i in self.alias:
            i = self.alias[i]
        return i

    def val(self, i):
        if i in self.consts:
            return self.consts[i]
        if self.T[i].data is not None:
            return self.T[i].data
        raise ModelIntegrityError(f"tensor {i} should be constant (a shape) but is computed at run time")

    def ref(self, i):
        r = self.root(i)
        if r in self.in_offsets:
            return f"(in + {self.in_offsets[r]})"
        if r == self.g_out[0]:
            return "out"
        self.buffers.setdefault(r, int(np.prod(self.T[r].shape)))
        return f"t{r}"

    def q(self, i):
        t = self.T[i]
        if len(t.scales) != 1:
            raise ModelIntegrityError(f"tensor {i}: per-tensor quantization expected for an activation")
        return float(t.scales[0]), int(t.zps[0])

    def add(self, k: int, name_op: str, ins_: list[int], o: int, opt) -> None:
        self.counts[name_op] = self.counts.get(name_op, 0) + 1
        step = {"RESHAPE": self._alias, "EXPAND_DIMS": self._alias, "SQUEEZE": self._alias,
                "SHAPE": self._shape, "STRIDED_SLICE": self._strided_slice, "PACK": self._pack,
                "CONV_2D": self._conv2d, "MAX_POOL_2D": self._max_pool, "FULLY_CONNECTED": self._fully_connected,
                "CONCATENATION": self._concatenation, "SOFTMAX": self._softmax}.get(name_op)
        if step is None:
            raise ModelIntegrityError(f"op {k}: {name_op} is not implemented by the C generator")
        step(k, name_op, ins_, o, opt)

    # shapes and aliases: evaluated here, no code
    def _alias(self, k, name_op, ins_, o, opt):
        T = self.T
        if int(np.prod(T[o].shape)) != int(np.prod(T[ins_[0]].shape)):
            raise ModelIntegrityError(f"op {k} {name_op}: sizes differ")
        if T[o].dtype == self.S.TensorType.INT8 and self.q(o) != self.q(ins_[0]):
            raise ModelIntegrityError(f"op {k} {name_op}: quantization changes")
        self.alias[o] = ins_[0]

    def _shape(self, k, name_op, ins_, o, opt):
        self.consts[o] = np.array(self.T[ins_[0]].shape, np.int32)

    def _strided_slice(self, k, name_op, ins_, o, opt):
        x, b, e, s = (self.val(i) for i in ins_[:4])
        if opt.beginMask or opt.endMask or opt.ellipsisMask or opt.newAxisMask or x.ndim != 1:
            raise ModelIntegrityError(f"op {k} STRIDED_SLICE: only a 1-D shape slice is supported")
        r = x[int(b[0]):int(e[0]):int(s[0])]
        self.consts[o] = r[0] if opt.shrinkAxisMask & 1 else r

    def _pack(self, k, name_op, ins_, o, opt):
        self.consts[o] = np.array([int(self.val(i)) for i in ins_], np.int32)

    def _weights(self, ins_, o, w, b, sums, mq) -> None:
        self.decls += [_c_array(f"w{ins_[1]}", "int8_t", w.data), _c_array(f"ws{o}", "int32_t", sums),
                       _c_array(f"b{o}", "int32_t", b.data) if b is not None else "",
                       _c_array(f"m{o}", "int32_t", [a for a, _ in mq]),
                       _c_array(f"s{o}", "int32_t", [s for _, s in mq])]

    def _conv2d(self, k, name_op, ins_, o, opt):
        T, ref = self.T, self.ref
        x, w, b = T[ins_[0]], T[ins_[1]], (T[ins_[2]] if len(ins_) > 2 else None)
        _, ih, iw, ic = x.shape
        oc, kh, kw, wc = w.shape
        if wc != ic or w.data is None:
            raise ModelIntegrityError(f"op {k} CONV_2D: grouped or non-constant filter")
        oh, ph = _same_pad(ih, kh, opt.strideH, opt.dilationHFactor, opt.padding)
        ow, pw = _same_pad(iw, kw, opt.strideW, opt.dilationWFactor, opt.padding)
        if (1, oh, ow, oc) != T[o].shape:
            raise ModelIntegrityError(f"op {k} CONV_2D: output shape {T[o].shape} != {(1, oh, ow, oc)}")
        xs, xz = self.q(ins_[0])
        ys, yz = self.q(o)
        ws = w.scales if len(w.scales) == oc else np.repeat(w.scales, oc)
        mq = [_quantize_multiplier(float(np.float64(xs) * np.float64(s) / np.float64(ys))) for s in ws]
        lo, hi = _act_range(opt.fusedActivationFunction, ys, yz)
        self._weights(ins_, o, w, b, w.data.reshape(oc, -1).astype(np.int64).sum(axis=1), mq)
        self.body.append(f"  atm_conv2d_s8({ref(ins_[0])}, {ih}, {iw}, {ic}, w{ins_[1]}, ws{o}, {kh}, {kw}, "
                         f"{'b%d' % o if b is not None else 'NULL'}, {ref(o)}, {oh}, {ow}, {oc}, {opt.strideH}, "
                         f"{opt.strideW}, {opt.dilationHFactor}, {opt.dilationWFactor}, {ph}, {pw}, {-xz}, {yz}, "
                         f"m{o}, s{o}, {lo}, {hi});  /* op {k} */")
        self.macs += oh * ow * oc * kh * kw * ic

    def _max_pool(self, k, name_op, ins_, o, opt):
        T, ref = self.T, self.ref
        _, ih, iw, c = T[ins_[0]].shape
        oh, ph = _same_pad(ih, opt.filterHeight, opt.strideH, 1, opt.padding)
        ow, pw = _same_pad(iw, opt.filterWidth, opt.strideW, 1, opt.padding)
        if self.q(o) != self.q(ins_[0]) or (1, oh, ow, c) != T[o].shape:
            raise ModelIntegrityError(f"op {k} MAX_POOL_2D: requantization or shape mismatch")
        lo, hi = _act_range(opt.fusedActivationFunction, *self.q(o))
        self.body.append(f"  atm_maxpool_s8({ref(ins_[0])}, {ih}, {iw}, {c}, {ref(o)}, {oh}, {ow}, "
                         f"{opt.filterHeight}, {opt.filterWidth}, {opt.strideH}, {opt.strideW}, {ph}, {pw}, {lo}, "
                         f"{hi});  /* op {k} */")

    def _fully_connected(self, k, name_op, ins_, o, opt):
        T, ref = self.T, self.ref
        x, w, b = T[ins_[0]], T[ins_[1]], (T[ins_[2]] if len(ins_) > 2 else None)
        units, n_in = w.shape
        if int(np.prod(x.shape)) != n_in or w.data is None or opt.keepNumDims:
            raise ModelIntegrityError(f"op {k} FULLY_CONNECTED: only batch-1 constant weights are supported")
        xs, xz = self.q(ins_[0])
        ys, yz = self.q(o)
        if len(w.scales) == units and units > 1:
            per = 1
            mq = [_quantize_multiplier(float(np.float64(xs) * np.float64(s) / np.float64(ys))) for s in w.scales]
        else:
            per = 0
            mq = [_quantize_multiplier(float(np.float64(xs) * np.float64(w.scales[0]) / np.float64(ys)))]
        lo, hi = _act_range(opt.fusedActivationFunction, ys, yz)
        self._weights(ins_, o, w, b, w.data.astype(np.int64).sum(axis=1), mq)
        self.body.append(f"  atm_fc_s8({ref(ins_[0])}, {n_in}, w{ins_[1]}, ws{o}, "
                         f"{'b%d' % o if b is not None else 'NULL'}, {ref(o)}, {units}, {-xz}, "
                         f"{-int(w.zps[0]) if len(w.zps) else 0}, {yz}, m{o}, s{o}, {per}, {lo}, {hi});  /* op {k} */")
        self.macs += units * n_in

    def _concatenation(self, k, name_op, ins_, o, opt):
        T, ref = self.T, self.ref
        shape = T[o].shape
        axis = opt.axis % len(shape)
        if opt.fusedActivationFunction or any(self.q(i) != self.q(o) for i in ins_):
            raise ModelIntegrityError(f"op {k} CONCATENATION: inputs must be quantized as the output")
        if int(np.prod(shape[:axis])) != 1:
            raise ModelIntegrityError(f"op {k} CONCATENATION: only the outermost-contiguous case is supported")
        off = 0
        lines = []
        for i in ins_:
            n = int(np.prod(T[i].shape))
            lines.append(f"  for (int i = 0; i < {n}; ++i) {ref(o)}[{off} + i] = {ref(i)}[i];")
            off += n
        self.body.append("\n".join(lines) + f"  /* op {k} */")

    def _softmax(self, k, name_op, ins_, o, opt):
        T, ref = self.T, self.ref
        xs, _ = self.q(ins_[0])
        ys, yz = self.q(o)
        if abs(ys - 1 / 256) > 1e-9 or yz != -128:
            raise ModelIntegrityError(f"op {k} SOFTMAX: int8 output must have scale 1/256, zero point -128")
        # PreprocessSoftmaxScaling / CalculateInputRadius with 5 integer bits (TFLM softmax_common.cc).
        real = min(float(opt.beta) * float(np.float64(xs)) * (1 << (31 - 5)), (1 << 31) - 1.0)
        mult, lshift = _quantize_multiplier(real)
        if lshift < 0:
            raise ModelIntegrityError(f"op {k} SOFTMAX: input scale too small")
        radius = math.floor(((1 << 5) - 1) * (1 << (31 - 5)) / (1 << lshift))
        depth = T[o].shape[-1]
        self.body.append(f"  atm_softmax_s8({ref(ins_[0])}, {ref(o)}, {int(np.prod(T[o].shape)) // depth}, "
                         f"{depth}, {mult}, {lshift}, {-radius});  /* op {k} */")
        self.logits = self.root(ins_[0])

    def write(self, out: Path, name: str) -> dict[str, Any]:
        """Write ``<name>.h``, ``<name>.c`` and the kernels into ``out``; the :func:`generate_c` summary."""
        T, g_out, buffers, counts, macs = self.T, self.g_out, self.buffers, self.counts, self.macs
        logits = self.logits
        if logits is None or logits in self.in_offsets:
            logits = self.root(g_out[0])
        input_bytes = self.input_bytes
        output_bytes = int(np.prod(T[g_out[0]].shape))
        logits_bytes = int(np.prod(T[logits].shape))
        kernels = out / "tflm_kernels.h"
        shutil.copyfile(_data_file("tflm_kernels.h"), kernels)
        h = out / f"{name}.h"
        h.write_text(
            "/* Generated by astrotinyml.training.edge.generate_c from an int8 TFLite flatbuffer. */\n"
            "#ifndef ATM_EDGE_MODEL_H_\n#define ATM_EDGE_MODEL_H_\n#include <stdint.h>\n"
            f"#define ATM_EDGE_INPUT_BYTES {input_bytes}\n#define ATM_EDGE_OUTPUT_BYTES {output_bytes}\n"
            f"#define ATM_EDGE_LOGITS_BYTES {logits_bytes}\n"
            "void atm_edge_invoke(const int8_t *in, int8_t *out);\n"
            "const int8_t *atm_edge_logits(void);\n#endif\n")
        bufs = "".join(f"static int8_t t{i}[{n}];\n" for i, n in sorted(buffers.items()))
        logits_expr = f"t{logits}" if logits in buffers else "atm_last_out"
        src = out / f"{name}.c"
        src.write_text(
            "/* Generated by astrotinyml.training.edge.generate_c: the int8 graph of the flatbuffer in plain C\n"
            f" * ({', '.join(f'{v} {k}' for k, v in counts.items())}; {macs} MACs). */\n"
            "#include <stddef.h>\n#include <stdint.h>\n"
            f"#include \"{h.name}\"\n#include \"tflm_kernels.h\"\n\n" + "".join(d for d in self.decls if d) + "\n"
            + bufs + "static const int8_t *atm_last_out;\n\n"
            "void atm_edge_invoke(const int8_t *in, int8_t *out) {\n" + "\n".join(self.body) +
            "\n  atm_last_out = out;\n}\n\n"
            f"const int8_t *atm_edge_logits(void) {{ return {logits_expr}; }}\n")
        return dict(source=src, header=h, kernels=kernels, ops=counts, macs=int(macs), input_bytes=input_bytes,
                    output_bytes=output_bytes, logits_tensor=int(logits), activation_bytes=int(sum(buffers.values())))


def _pack(x8: Sequence[np.ndarray]) -> bytes:
    n = len(x8[0])
    return b"".join(np.concatenate([x[j].reshape(-1) for x in x8]).astype(np.int8).tobytes() for j in range(n))


def _run(cmd: list[str], *, what: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} timed out after {timeout} s: {' '.join(cmd)}") from exc
    if r.returncode != 0:
        err = (r.stderr or b"").decode(errors="replace")[-2000:]
        raise RuntimeError(f"{what} failed (exit {r.returncode}): {' '.join(cmd)}\n{err}")
    return r


def host_c_check(model, x8: Sequence[np.ndarray], *, workdir: str | os.PathLike | None = None,
                 tflm: bool = True) -> dict[str, Any]:
    """Compile the generated C with the host ``gcc -O2`` and compare it with LiteRT (and TFLM).

    Parameters
    ----------
    model : bytes or path
    x8 : sequence of numpy.ndarray
        :func:`int8_inputs` output.
    workdir : path-like, optional
        Where the C files and the binary go (default: a temporary directory, removed).
    tflm : bool
        Also compare with TFLM when ``tflite-micro`` is installed.

    Returns
    -------
    dict
        ``n``; ``logits_identical_litert`` (examples whose pre-softmax int8 tensor equals
        LiteRT's); ``output_identical_litert``, ``output_max_diff_litert``; with TFLM
        ``output_identical_tflm``, ``output_max_diff_tflm``; ``host_us_per_inference`` (the
        compiled C on this machine, one core); ``outputs`` (the C outputs).

    Raises
    ------
    EdgeToolMissing
        No host C compiler.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> m = load_model()
    >>> x = int8_inputs(m.path, {k: np.zeros((2, *v["shape"]), np.float32) for k, v in m.spec["inputs"].items()})
    >>> host_c_check(m.path, x, tflm=False)["logits_identical_litert"]   # doctest: +SKIP
    2
    """
    cc = need_tool("gcc")
    buf = model_bytes(model)
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    wd = Path(tmp.name if tmp else workdir)
    try:
        info = generate_c(buf, wd)
        shutil.copyfile(_data_file("host_main.c"), wd / "host_main.c")
        exe = wd / "atm_edge_host"
        _run([cc, "-O2", "-std=c99", "-Wall", "-o", str(exe), str(wd / "host_main.c"), str(info["source"])],
             what="host C compile")
        payload = _pack(x8)
        n = len(x8[0])
        reps = max(1, 2000 // max(n, 1))
        t0 = time.perf_counter()
        r = _run([str(exe)], what="host C run", input=payload * reps)
        dt = time.perf_counter() - t0
        per = info["output_bytes"] + _logits_bytes(info, buf)
        raw = np.frombuffer(r.stdout, dtype=np.int8)[: n * per].reshape(n, per)
        y_c, l_c = raw[:, : info["output_bytes"]], raw[:, info["output_bytes"]:]
        y_lit = litert_outputs(buf, x8)
        l_lit = litert_outputs(buf, x8, tensor=info["logits_tensor"])
        dl = np.abs(y_c.astype(np.int32) - y_lit.astype(np.int32)).max(axis=1)
        out = dict(n=int(n), logits_identical_litert=int((l_c == l_lit).all(axis=1).sum()),
                   output_identical_litert=int((dl == 0).sum()), output_max_diff_litert=int(dl.max()),
                   host_us_per_inference=round(1e6 * dt / (n * reps), 2), outputs=y_c.copy(),
                   ops=info["ops"], macs=info["macs"])
        if tflm and tools()["tflite_micro"]:
            y_t = tflm_outputs(buf, x8)
            dt_ = np.abs(y_c.astype(np.int32) - y_t.astype(np.int32)).max(axis=1)
            out.update(output_identical_tflm=int((dt_ == 0).sum()), output_max_diff_tflm=int(dt_.max()))
        return out
    finally:
        if tmp:
            tmp.cleanup()


def _logits_bytes(info, buf) -> int:
    text = Path(info["header"]).read_text()
    return int(re.search(r"ATM_EDGE_LOGITS_BYTES (\d+)", text).group(1))


def cortex_m4_run(model, x8: Sequence[np.ndarray], *, workdir: str | os.PathLike | None = None,
                  timeout: float = 300, cross_check: bool = False) -> dict[str, Any]:
    """Cross-compile the generated C for a Cortex-M4, run it in QEMU, count instructions per inference.

    ``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2`` (soft float: the model has no float
    arithmetic), no C library; ``qemu-system-arm -M mps2-an386`` with semihosting for output and
    exit, and a QEMU TCG plugin compiled here from ``astrotinyml/data/edge/insn_plugin.c`` that
    counts the instructions executed between the entries of ``atm_mark_begin`` and
    ``atm_mark_end`` (an empty pair first gives the overhead subtracted from each inference).

    Parameters
    ----------
    model : bytes or path
    x8 : sequence of numpy.ndarray
        A few examples (:func:`int8_inputs` output), embedded in the firmware image.
    workdir : path-like, optional
        Keep the build here (default: a temporary directory, removed).
    timeout : float
        Seconds for the QEMU run.
    cross_check : bool
        Count the instructions of the first inference a second way, independent of the plugin:
        QEMU with ``-singlestep -d nochain,exec`` logs every executed instruction as its own
        block; the log lines between the two markers are counted (``instructions_trace``).

    Returns
    -------
    dict
        ``n``, ``instructions`` (per inference, one per example), ``loads``, ``stores``,
        ``branches``, ``multiplies``, ``multi_register`` (per inference, mean), ``outputs``
        (int8, from the board), ``size_model`` (``text``/``data``/``bss`` of the model object:
        code + weights in flash, activations in RAM), ``size_image`` (whole firmware), ``tools``.

    Raises
    ------
    EdgeToolMissing
        ``gcc-arm-none-eabi``, ``qemu-system-arm`` or a host ``gcc`` (for the plugin) missing.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> m = load_model()
    >>> x = int8_inputs(m.path, {k: np.zeros((1, *v["shape"]), np.float32) for k, v in m.spec["inputs"].items()})
    >>> cortex_m4_run(m.path, x)["instructions"][0] > 100_000   # doctest: +SKIP
    True
    """
    arm_gcc, arm_size, qemu, cc = need_tool("arm_gcc"), need_tool("arm_size"), need_tool("qemu"), need_tool("gcc")
    buf = model_bytes(model)
    tmp = tempfile.TemporaryDirectory() if workdir is None else None
    wd = Path(tmp.name if tmp else workdir)
    try:
        info = generate_c(buf, wd)
        for f in ("m4_main.c", "m4_startup.c", "m4.ld", "insn_plugin.c"):
            shutil.copyfile(_data_file(f), wd / f)
        n = len(x8[0])
        rows = [np.concatenate([x[j].reshape(-1) for x in x8]) for j in range(n)]
        (wd / "astrotinyml_edge_views.c").write_text(
            "#include <stdint.h>\n#include \"astrotinyml_edge_model.h\"\n"
            f"const int atm_n_views = {n};\n"
            f"const int8_t atm_views[{n}][ATM_EDGE_INPUT_BYTES] = {{\n" +
            ",\n".join("  {" + ", ".join(str(int(v)) for v in r) + "}" for r in rows) + "\n};\n")
        flags = ["-mcpu=cortex-m4", "-mthumb", "-O2", "-std=c99", "-ffreestanding", "-ffunction-sections",
                 "-fdata-sections", "-Wall"]
        objs = []
        for c in ("astrotinyml_edge_model.c", "m4_main.c", "m4_startup.c", "astrotinyml_edge_views.c"):
            o = wd / (Path(c).stem + ".o")
            _run([arm_gcc, *flags, "-c", "-o", str(o), str(wd / c)], what=f"arm-none-eabi-gcc {c}")
            objs.append(str(o))
        elf = wd / "atm_edge_m4.elf"
        _run([arm_gcc, *flags, "-nostdlib", "-nostartfiles", "-T", str(wd / "m4.ld"), "-Wl,--gc-sections",
              "-o", str(elf), *objs, "-lgcc"], what="arm-none-eabi-gcc link")
        sizes = {}
        for key, f in (("size_model", objs[0]), ("size_image", str(elf))):
            r = _run([arm_size, "-B", f], what="arm-none-eabi-size")
            text, data, bss = (int(v) for v in r.stdout.decode().splitlines()[1].split()[:3])
            sizes[key] = dict(text=text, data=data, bss=bss)
        r = _run([arm_gcc.replace("gcc", "nm"), str(elf)], what="arm-none-eabi-nm")
        syms = {}
        for line in r.stdout.decode().splitlines():
            parts = line.split()
            if len(parts) == 3:
                syms[parts[2]] = int(parts[0], 16) & ~1  # Thumb bit off: the block's start address
        plugin = wd / "libatminsn.so"
        _run([cc, "-shared", "-fPIC", "-O2", "-o", str(plugin), str(wd / "insn_plugin.c")], what="plugin compile")
        cmd = [qemu, "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", "enable=on,target=native",
               "-plugin", f"{plugin},begin={syms['atm_mark_begin']:#x},end={syms['atm_mark_end']:#x}",
               "-d", "plugin", "-D", str(wd / "plugin.log"), "-kernel", str(elf)]
        r = _run(cmd, what="qemu-system-arm", timeout=timeout)
        # QEMU writes the semihosting console to stderr.
        text = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        log = (wd / "plugin.log").read_text() if (wd / "plugin.log").exists() else ""
        counts = np.array([[int(v) for v in ln.split()[1:]] for ln in (log or text).splitlines()
                           if ln.startswith("atm-insns ")], dtype=np.int64)
        outs = [bytes.fromhex("".join(ln.split()[1:])) for ln in text.splitlines() if ln.startswith("out")]
        if len(counts) != n + 1 or len(outs) != n:
            raise RuntimeError(f"qemu-system-arm: expected {n + 1} counts and {n} outputs, got {len(counts)} and "
                               f"{len(outs)}; stdout: {text[-500:]!r} log: {log[-500:]!r}")
        per = counts[1:] - counts[0]
        mean = per.mean(axis=0)
        extra = {}
        if cross_check:
            extra["instructions_trace"] = _trace_count(qemu, elf, wd, syms["atm_mark_begin"], syms["atm_mark_end"],
                                                       timeout)
        return dict(**extra, n=int(n), instructions=[int(v) for v in per[:, 0]], loads=float(mean[1]), stores=float(mean[2]),
                    branches=float(mean[3]), multiplies=float(mean[4]), multi_register=float(mean[5]),
                    outputs=np.array([np.frombuffer(o, dtype=np.int8) for o in outs]), **sizes,
                    tools=dict(gcc=_version([arm_gcc, "--version"]), qemu=_version([qemu, "--version"])))
    finally:
        if tmp:
            tmp.cleanup()


def _trace_count(qemu: str, elf: Path, wd: Path, begin: int, end: int, timeout: float) -> int:
    """Instructions of the first inference from QEMU's one-instruction-per-block exec log."""
    log = wd / "exec_trace.log"
    _run([qemu, "-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
          "-semihosting-config", "enable=on,target=native", "-singlestep", "-d", "nochain,exec", "-D", str(log),
          "-kernel", str(elf)], what="qemu-system-arm exec trace", timeout=timeout)
    pat = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")
    marks = []  # (line number, which marker), in execution order
    k = 0
    with open(log) as f:
        for line in f:
            mt = pat.match(line)
            if not mt:
                continue
            pc = int(mt.group(1), 16)
            if pc in (begin, end):
                marks.append((k, pc == begin))
                if len(marks) == 4:
                    break
            k += 1
    log.unlink()
    # Marks: begin/end of the empty pair, then of the first inference.
    if len(marks) < 4 or [m[1] for m in marks] != [True, False, True, False]:
        raise RuntimeError("qemu-system-arm exec trace: the marker functions were not seen in order")
    return int((marks[3][0] - marks[2][0]) - (marks[1][0] - marks[0][0]))


def _version(cmd) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def modelled_cycles(m4: dict[str, Any]) -> dict[str, float]:
    """Cycles per inference from a :func:`cortex_m4_run` result: lower bound and modelled.

    ``lower`` = instructions (a Cortex-M4 retires at most one per cycle); ``modelled`` adds
    :data:`CPI_MODEL` extra cycles per load, branch and listed register of LDM/STM/PUSH/POP.

    Examples
    --------
    >>> modelled_cycles(dict(instructions=[100], loads=20, branches=10, multi_register=0))
    {'lower': 100.0, 'modelled': 140.0, 'cpi_modelled': 1.4}
    """
    ins = float(np.mean(m4["instructions"]))
    extra = (CPI_MODEL["load"] * m4["loads"] + CPI_MODEL["branch"] * m4["branches"]
             + CPI_MODEL["multi_register"] * m4["multi_register"])
    return dict(lower=ins, modelled=ins + extra, cpi_modelled=round((ins + extra) / ins, 3) if ins else float("nan"))


def real_corpus_inputs(model=None, *, n: int | None = None, cache_dir: str | None = None,
                       files: Sequence[str | os.PathLike] = ()) -> tuple[dict[str, np.ndarray], str]:
    """Real-corpus views for the edge checks, preprocessed with the model's input spec.

    The real labelled examples the model was trained and cross-validated on, from the cache's
    ``datasets/real-<key>.npz`` (the key in the registry's ``training_data.real.info.key``) when
    it is there; otherwise (a clone without the corpus) the candidates :func:`astrotinyml.detect`
    finds in ``files`` (default: the real light curves bundled with the package).

    Parameters
    ----------
    model : TFLiteModel, optional
        Default :func:`astrotinyml.classification.load_model`.
    n : int, optional
        At most this many views (the first ones).
    cache_dir : str, optional
    files : sequence of path-like
        Light curves for the fallback.

    Returns
    -------
    (dict, str)
        Preprocessed inputs and a description of their source.

    Examples
    --------
    >>> x, source = real_corpus_inputs(n=2)   # doctest: +SKIP
    >>> x["global_view"].shape   # doctest: +SKIP
    (2, 201, 1)
    """
    m = model if model is not None else load_model()
    key = (m.registry.get("training_data", {}).get("real", {}).get("info", {}) or {}).get("key")
    path = _cache_dir(cache_dir) / "datasets" / f"real-{key}.npz" if key else None
    if path is not None and path.exists() and not files:
        ds = load_dataset(path)
        arrays = ds.arrays if n is None else {k: v[:n] for k, v in ds.arrays.items()}
        return preprocess(arrays, m.spec), f"{path.name}: the model's {len(ds)} real labelled signals"
    if not files:
        data = Path(str(resources.files("astrotinyml").joinpath("data")))
        files = sorted(p for p in data.glob("*.fits"))
    views, names = [], []
    for f in files:
        res = detect(f, model=m)
        views += list(res.views)
        names.append(Path(f).name)
        if n is not None and len(views) >= n:
            break
    if not views:
        raise InvalidParameterError("detect() found no candidate in the given light curves: pass other files")
    views = views[:n] if n is not None else views
    return preprocess(stack_views(views), m.spec), f"{len(views)} detect() candidates of {', '.join(names)}"


def edge_report(model=None, *, inputs: dict[str, np.ndarray] | None = None, source: str = "",
                n_m4: int = 3, progress=None) -> dict[str, Any]:
    """Run every edge step whose tools exist; skipped steps say which tool is missing.

    Parameters
    ----------
    model : TFLiteModel or path, optional
        int8 model; default the shipped one.
    inputs : dict, optional
        Preprocessed real views (default :func:`real_corpus_inputs`).
    source : str
        Description of ``inputs`` for the report.
    n_m4 : int
        Views run on the emulated Cortex-M4.
    progress : callable, optional
        Called with a short message before each step.

    Returns
    -------
    dict
        ``bytes``, ``macs``, ``views``; ``tflm`` (:func:`tflm_check`), ``host_c``
        (:func:`host_c_check`), ``cortex_m4`` (:func:`cortex_m4_run` with ``cycles``), each
        replaced by ``{"skipped": reason}`` when a tool is missing; ``litert_us_per_inference``.

    Examples
    --------
    >>> r = edge_report()           # doctest: +SKIP
    >>> print(format_edge_table(r))  # doctest: +SKIP
    """
    say = progress or (lambda msg: None)
    m = model if model is not None and not isinstance(model, (str, os.PathLike, bytes)) else None
    if m is None and model is None:
        m = load_model()
    buf = model_bytes(m.path if m is not None else model)
    if inputs is None:
        say("real views")
        inputs, source = real_corpus_inputs(m)
    x8 = int8_inputs(buf, inputs)
    rep: dict[str, Any] = dict(bytes=len(buf), macs=count_macs(buf)["macs"], views=source, n_views=int(len(x8[0])))
    it = litert_interpreter(buf)
    ins = it.get_input_details()
    t0 = time.perf_counter()
    for j in range(len(x8[0])):
        for d, x in zip(ins, x8):
            it.set_tensor(d["index"], x[j:j + 1])
        it.invoke()
    rep["litert_us_per_inference"] = round(1e6 * (time.perf_counter() - t0) / len(x8[0]), 1)
    say("TFLM check and arena")
    try:
        rep["tflm"] = tflm_check(buf, x8)
    except EdgeToolMissing as exc:
        rep["tflm"] = {"skipped": str(exc)}
    say("plain C on the host")
    try:
        rep["host_c"] = host_c_check(buf, x8)
        rep["host_c"].pop("outputs")
    except EdgeToolMissing as exc:
        rep["host_c"] = {"skipped": str(exc)}
    say("Cortex-M4 under QEMU")
    try:
        sub = [x[:n_m4] for x in x8]
        m4 = cortex_m4_run(buf, sub, cross_check=True)
        ref = litert_outputs(buf, sub)
        m4["outputs_max_diff_litert"] = int(np.abs(m4.pop("outputs").astype(int) - ref.astype(int)).max())
        m4["cycles"] = modelled_cycles(m4)
        rep["cortex_m4"] = m4
    except EdgeToolMissing as exc:
        rep["cortex_m4"] = {"skipped": str(exc)}
    return rep


def format_edge_table(rep: dict[str, Any]) -> str:
    """The ``make edge`` table (markdown) of an :func:`edge_report` result.

    Examples
    --------
    >>> print(format_edge_table(dict(bytes=10, macs=5, tflm={"skipped": "x"}, host_c={"skipped": "y"},
    ...                              cortex_m4={"skipped": "z"})).splitlines()[2])
    | int8 flatbuffer | 10 B |
    """
    rows = [["int8 flatbuffer", f"{rep['bytes']} B"], ["multiply-accumulates / inference", rep["macs"]]]
    t = rep.get("tflm", {})
    if "skipped" in t:
        rows.append(["TFLM check", "skipped: " + t["skipped"]])
    else:
        rows += [["TFLM arena (smallest that allocates, host build)", f"{t['arena_bytes']} B"],
                 ["TFLM vs LiteRT int8 outputs", f"{t['identical']}/{t['n']} identical, max diff {t['max_abs_diff']} "
                                                 "(1/256 probability steps)"]]
    if "litert_us_per_inference" in rep:
        rows.append(["host latency, LiteRT (one core)", f"{rep['litert_us_per_inference']} us"])
    h = rep.get("host_c", {})
    if "skipped" in h:
        rows.append(["plain C on the host", "skipped: " + h["skipped"]])
    else:
        rows += [["plain C vs LiteRT, logits (pre-softmax int8)", f"{h['logits_identical_litert']}/{h['n']} identical"],
                 ["plain C vs LiteRT, output", f"{h['output_identical_litert']}/{h['n']} identical, "
                                               f"max diff {h['output_max_diff_litert']}"]]
        if "output_identical_tflm" in h:
            rows.append(["plain C vs TFLM, output", f"{h['output_identical_tflm']}/{h['n']} identical, "
                                                    f"max diff {h['output_max_diff_tflm']}"])
        rows.append(["host latency, plain C gcc -O2 (one core)", f"{h['host_us_per_inference']} us"])
    c = rep.get("cortex_m4", {})
    if "skipped" in c:
        rows.append(["Cortex-M4 (QEMU mps2-an386)", "skipped: " + c["skipped"]])
    else:
        ins = c["instructions"]
        cyc = c["cycles"]
        rows += [["Cortex-M4 instructions / inference (QEMU, plain C -O2)",
                  f"{min(ins)}" + (f"-{max(ins)}" if max(ins) != min(ins) else "") + f" ({c['n']} views)"],
                 *([["same, first view, from QEMU's -singlestep exec trace (plugin: "
                     f"{ins[0]})", c["instructions_trace"]]] if "instructions_trace" in c else []),
                 ["instructions / MAC", f"{np.mean(ins) / rep['macs']:.2f}"],
                 ["code + weights (flash, model object .text)", f"{c['size_model']['text']} B"],
                 ["activations (RAM, model object .data + .bss)",
                  f"{c['size_model']['data'] + c['size_model']['bss']} B"],
                 ["Cortex-M4 output vs LiteRT", f"max diff {c['outputs_max_diff_litert']}"]]
        for f in CLOCKS_MHZ:
            rows.append([f"est. ms @ {f} MHz: CPI 1 (bound) / modelled CPI {cyc['cpi_modelled']} / "
                         f"MLPerf-Tiny {MLPERF_TINY_CYCLES_PER_MAC[0]}-{MLPERF_TINY_CYCLES_PER_MAC[1]} cyc/MAC",
                         f"{cyc['lower'] / (f * 1e3):.2f} / {cyc['modelled'] / (f * 1e3):.2f} / "
                         f"{rep['macs'] * MLPERF_TINY_CYCLES_PER_MAC[0] / (f * 1e3):.2f}-"
                         f"{rep['macs'] * MLPERF_TINY_CYCLES_PER_MAC[1] / (f * 1e3):.2f}"])
    out = ["| quantity | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(out)
