"""Export of the classifier: float and int8 TFLite, MAC count, C array, model card.

Conversion goes through a SavedModel: with Keras 3 (TensorFlow >= 2.16)
``TFLiteConverter.from_keras_model`` fails, so the model is written with
``model.export(dir)`` and converted with ``TFLiteConverter.from_saved_model(dir)``.

The helpers that read a converted model (:func:`count_macs`, :func:`estimate_arena`,
:func:`cortex_m4_latency`, :func:`write_c_array`, :func:`write_model_card`) need only
LiteRT (``ai-edge-litert``), not TensorFlow.

With the PyPI package ``tflite-micro`` installed (the ``dev`` extra), an int8 conversion is run
in TensorFlow Lite Micro's interpreter before it is returned and refused when TFLM cannot run
it (:func:`check_tflm`), and :func:`measure_arena` records the arena TFLM actually needs.
Without it, :func:`check_tflm` logs a warning and returns ``None``, and :func:`measure_arena`
falls back to :func:`estimate_arena` and says so (the TFLM runner is :mod:`astrotinyml.training.tflm`).  ``astrotinyml.training.edge`` has the
measurements themselves (and the Cortex-M4 ones).
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from ..atomic import atomic_paths
from ..errors import ModelIntegrityError
from .tflm import EdgeToolMissing, tflm_arena, tflm_check, tools

__all__ = [
    "convert_tflite",
    "count_macs",
    "estimate_arena",
    "measure_arena",
    "check_tflm",
    "TFLM_MAX_DIFF",
    "cortex_m4_latency",
    "write_c_array",
    "write_model_card",
    "experiment_notes",
    "CYCLES_PER_MAC",
]

#: Cortex-M4 cycles per int8 multiply-accumulate assumed for latency estimates.  CMSIS-NN's
#: int8 convolution and fully-connected kernels on a Cortex-M4 with the DSP extension do two
#: 16-bit MACs per SMLAD instruction but spend cycles on loads, sign extension and
#: requantization; published measurements are ~1.5-4 cycles/MAC.  3 is a middle value.
CYCLES_PER_MAC = 3.0
#: Extra cycles per operator (dispatch, requantization set-up, pooling, reshape).
CYCLES_PER_OP = 3000.0

#: Largest difference (int8 output steps, 1/256 of probability for a softmax output) between
#: TFLM and LiteRT that :func:`check_tflm` accepts as rounding (see there).
TFLM_MAX_DIFF = 16

_log = logging.getLogger(__name__)


def convert_tflite(model, representative: Callable[[], Iterable[dict]] | None = None, *,
                   int8: bool = False) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer (float32, or full-integer int8).

    Parameters
    ----------
    model : keras.Model
        Model with inputs whose names are valid Python identifiers.
    representative : callable, optional
        Returns an iterable of ``{input_name: array of shape (1, ...)}`` samples (training
        views) for the int8 calibration; required when ``int8``.
    int8 : bool
        Full-integer quantization: int8 weights, activations, input and output.

    Returns
    -------
    bytes
        The flatbuffer.

    Examples
    --------
    >>> from astrotinyml.training.export import convert_tflite   # doctest: +SKIP
    >>> buf = convert_tflite(keras_model)                      # doctest: +SKIP
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "saved_model")
        model.export(saved, format="tf_saved_model", verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(saved)
        if int8:
            if representative is None:
                raise ValueError("int8 conversion needs a representative dataset")
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
        buf = bytes(conv.convert())
    if int8:
        check_tflm(buf)
    return buf


def check_tflm(model: bytes | str | os.PathLike) -> dict[str, Any] | None:
    """Refuse an int8 model that TensorFlow Lite Micro cannot run; compare it with LiteRT.

    Runs :func:`astrotinyml.training.tflm.tflm_check` on 16 fixed pseudo-random int8 inputs (with a
    64 KiB arena; :func:`measure_arena` finds the smallest).  The int8 outputs of TFLM and LiteRT may differ where a
    requantization lands on an exact tie (LiteRT's optimized kernels round ties toward
    +infinity, TFLM's reference kernels away from zero): one step in a layer, which the softmax
    can widen to a few output steps.  A difference above :data:`TFLM_MAX_DIFF` steps is not
    rounding but a different computation, and is refused too.

    Parameters
    ----------
    model : bytes or path
        int8 TFLite flatbuffer.

    Returns
    -------
    dict or None
        The check (``n``, ``identical``, ``max_abs_diff``, ...), or ``None`` when ``tflite-micro`` is
        not installed (a warning is logged: the model is then exported unchecked).

    Raises
    ------
    ModelIntegrityError
        TFLM cannot allocate or run the model, or its outputs differ from LiteRT's by more than
        :data:`TFLM_MAX_DIFF` int8 steps.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> check_tflm(load_model().path)["max_abs_diff"] <= 1   # doctest: +SKIP
    True
    """
    try:
        res = tflm_check(model, arena=False)  # measure_arena bisects the arena separately
    except EdgeToolMissing as exc:
        _log.warning("int8 model not checked with TensorFlow Lite Micro: %s", exc)
        return None
    if res["max_abs_diff"] > TFLM_MAX_DIFF:
        raise ModelIntegrityError(f"TensorFlow Lite Micro and LiteRT disagree on this int8 model by "
                                  f"{res['max_abs_diff']} int8 steps ({res['n'] - res['identical']} of {res['n']} inputs)")
    return res


def measure_arena(model: bytes | str | os.PathLike) -> dict[str, Any]:
    """Tensor arena of a converted model: measured by TFLM where possible, else estimated.

    Parameters
    ----------
    model : bytes or path

    Returns
    -------
    dict
        With ``tflite-micro``: ``arena_bytes`` (the smallest arena with which TFLM's host
        interpreter allocates and runs the model, by bisection to 16 B), ``method``
        (``"tflm"``), ``tflite_micro`` (version), plus the :func:`estimate_arena` fields under
        ``estimate``.  Without it: :func:`estimate_arena` with ``method`` ``"estimate"``.

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> measure_arena(load_model().path)["arena_bytes"] < 64 * 1024
    True
    """
    est = estimate_arena(model)
    try:
        n = tflm_arena(model)
    except EdgeToolMissing:
        return dict(est, method="estimate", note="tflite-micro not installed: liveness estimate")
    return dict(arena_bytes=int(n), method="tflm", tflite_micro=tools()["tflite_micro"],
                note="smallest arena with which the tflite-micro host interpreter (64-bit, reference kernels) "
                     "allocates and runs the model, bisection to 16 B; a 32-bit Cortex-M build should need less "
                     "(4-byte pointers in its per-tensor structs; not measured here)",
                estimate=est)


def _interpreter(model: bytes | str | os.PathLike):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # No default delegate: XNNPACK would replace operators by DELEGATE nodes, and the graph
    # read here must be the flatbuffer's own operator list (what TFLite Micro executes).
    kw = dict(experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    if isinstance(model, (bytes, bytearray)):
        it = Interpreter(model_content=bytes(model), **kw)
    else:
        it = Interpreter(model_path=os.fspath(model), **kw)
    it.allocate_tensors()
    return it


def _graph(model):
    it = _interpreter(model)
    ops = it._get_ops_details()  # parsed from the flatbuffer's operator list
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    return it, ops, tensors


def count_macs(model: bytes | str | os.PathLike) -> dict[str, Any]:
    """Multiply-accumulates per inference, counted from the converted TFLite graph.

    Every operator of the flatbuffer is read with its tensor shapes (LiteRT's parsed
    graph); MACs are ``H*W*Cout*kh*kw*Cin`` for ``CONV_2D`` (Keras ``Conv1D`` becomes a
    ``CONV_2D`` with H = 1), ``H*W*C*kh*kw`` for ``DEPTHWISE_CONV_2D`` and
    ``rows*units*inputs`` for ``FULLY_CONNECTED`` (batch 1).  Other operators (pooling,
    reshape, concatenation, softmax) do no MACs and are listed in ``ops``.

    Parameters
    ----------
    model : bytes or path
        TFLite flatbuffer.

    Returns
    -------
    dict
        ``macs`` (total), ``by_op`` (list of ``{op, macs, weight_shape, output_shape}``),
        ``ops`` (operator name counts), ``n_ops``, ``params`` (elements of constant tensors
        read by MAC operators: weights and biases).

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> count_macs(load_model().path)["macs"] <= 150_000
    True
    """
    _, ops, tensors = _graph(model)
    produced = {o for op in ops for o in op["outputs"]}
    total = 0
    rows = []
    names: dict[str, int] = {}
    params = 0
    for op in ops:
        name = op["op_name"]
        names[name] = names.get(name, 0) + 1
        ins = [i for i in op["inputs"] if i >= 0]
        out_shape = [int(x) for x in tensors[op["outputs"][0]]["shape"]]
        macs = 0
        wshape: list[int] = []
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(ins) >= 2:
            wshape = [int(x) for x in tensors[ins[1]]["shape"]]
            if name == "CONV_2D":
                _, h, w, cout = out_shape
                _, kh, kw, cin = wshape
                macs = h * w * cout * kh * kw * cin
            elif name == "DEPTHWISE_CONV_2D":
                _, h, w, cout = out_shape
                _, kh, kw, _ = wshape
                macs = h * w * cout * kh * kw
            else:
                units, n_in = wshape
                rows_ = int(np.prod(out_shape[:-1])) if len(out_shape) > 1 else 1
                macs = rows_ * units * n_in
            for i in ins[1:]:
                if i not in produced:
                    params += int(np.prod(tensors[i]["shape"]))
        total += macs
        rows.append(dict(op=name, macs=int(macs), weight_shape=wshape, output_shape=out_shape))
    return dict(macs=int(total), by_op=rows, ops=names, n_ops=len(ops), params=int(params))


def estimate_arena(model: bytes | str | os.PathLike) -> dict[str, int]:
    """Estimate the TensorFlow Lite Micro tensor arena for a converted model.

    Activations: a liveness scan over the operators in execution order gives the peak sum
    of the tensors alive at once (what TFLM's greedy planner achieves, up to
    fragmentation).  Added: TFLM's per-tensor (64 B) and per-operator (128 B) runtime
    structures, per-channel quantization parameters (8 B per output channel) and the
    largest CMSIS-NN im2col scratch buffer (``2 * kh * kw * Cin`` int16), plus 1 KiB margin.

    Parameters
    ----------
    model : bytes or path

    Returns
    -------
    dict
        ``activations_peak``, ``overhead``, ``scratch``, ``arena_bytes`` (suggested
        ``kTensorArenaSize``, rounded up to 256 B).

    Examples
    --------
    >>> from astrotinyml.classification import load_model
    >>> estimate_arena(load_model().path)["arena_bytes"] < 64 * 1024
    True
    """
    _, ops, tensors = _graph(model)
    produced = {o: k for k, op in enumerate(ops) for o in op["outputs"]}
    consumed_last: dict[int, int] = {}
    for k, op in enumerate(ops):
        for i in op["inputs"]:
            if i >= 0:
                consumed_last[i] = k
    it = _interpreter(model)
    graph_inputs = {d["index"] for d in it.get_input_details()}
    graph_outputs = {d["index"] for d in it.get_output_details()}

    def nbytes(i):
        t = tensors[i]
        return int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize

    live_range = {}
    for i in set(produced) | graph_inputs:
        start = produced.get(i, -1)
        end = len(ops) if i in graph_outputs else consumed_last.get(i, start)
        live_range[i] = (start, end)
    peak = 0
    for k in range(len(ops)):
        peak = max(peak, sum(nbytes(i) for i, (s, e) in live_range.items() if s <= k <= e))
    scratch = 0
    chan = 0
    for op in ops:
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = tensors[op["inputs"][1]]["shape"]
            scratch = max(scratch, 2 * int(w[1]) * int(w[2]) * int(w[3]))
            chan += 8 * int(w[0] if op["op_name"] == "CONV_2D" else w[3])
        elif op["op_name"] == "FULLY_CONNECTED":
            chan += 8
    overhead = 64 * len(tensors) + 128 * len(ops) + chan + 1024
    arena = peak + scratch + overhead
    arena = int(math.ceil(arena / 256.0) * 256)
    return dict(activations_peak=int(peak), scratch=int(scratch), overhead=int(overhead), arena_bytes=arena)


def cortex_m4_latency(macs: int, n_ops: int, *, clocks_mhz=(64, 80, 120),
                      cycles_per_mac: float = CYCLES_PER_MAC) -> dict[str, float]:
    """Estimated int8 inference latency on a Cortex-M4 (milliseconds per clock).

    ``cycles = macs * cycles_per_mac + n_ops * CYCLES_PER_OP``; see :data:`CYCLES_PER_MAC`
    for the assumption.  An estimate, not a measurement on hardware.

    Parameters
    ----------
    macs : int
    n_ops : int
    clocks_mhz : sequence of float
    cycles_per_mac : float

    Returns
    -------
    dict
        ``{"64MHz": ms, ...}`` plus ``cycles``.

    Examples
    --------
    >>> cortex_m4_latency(100_000, 20, clocks_mhz=(80,))["80MHz"]
    4.5
    """
    cycles = macs * cycles_per_mac + n_ops * CYCLES_PER_OP
    out = {f"{c:g}MHz": round(cycles / (c * 1e3), 3) for c in clocks_mhz}
    out["cycles"] = float(cycles)
    return out


def write_c_array(model: bytes, out_dir: str | os.PathLike, *, name: str = "astrotinyml_model") -> tuple[Path, Path]:
    """Write the flatbuffer as a C array (``<name>.h`` + ``<name>.cc``) for TFLite Micro.

    Parameters
    ----------
    model : bytes
        TFLite flatbuffer (the int8 model for a microcontroller).
    out_dir : path-like
    name : str
        C identifier stem: the array is ``g_<name>`` and its length ``g_<name>_len``.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        Header and source paths.  The array is 16-byte aligned (TFLM reads the flatbuffer
        in place) and ``const`` so it stays in flash.

    Examples
    --------
    >>> import tempfile
    >>> h, cc = write_c_array(b"\\x1c\\x00\\x00\\x00TFL3", tempfile.mkdtemp())
    >>> "g_astrotinyml_model_len" in h.read_text()
    True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    guard = f"ASTROTINYML_{name.upper()}_H_"
    h = out / f"{name}.h"
    cc = out / f"{name}.cc"
    h.write_text(
        f"// Generated by astrotinyml.training.export.write_c_array: int8 TFLite classifier.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char g_{name}[];\nextern const unsigned int g_{name}_len;\n\n"
        f"#endif  // {guard}\n")
    lines = []
    for i in range(0, len(model), 12):
        lines.append("  " + ", ".join(f"0x{b:02x}" for b in model[i:i + 12]) + ",")
    cc.write_text(
        f"// Generated by astrotinyml.training.export.write_c_array ({len(model)} bytes).\n"
        f"#include \"{name}.h\"\n\n"
        f"alignas(16) const unsigned char g_{name}[] = {{\n" + "\n".join(lines) + "\n};\n"
        f"const unsigned int g_{name}_len = {len(model)};\n")
    return h, cc


def _fmt_table(rows: list[list[Any]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def _real_oof_table(oof: dict[str, Any]) -> str:
    """One markdown row per subset of the out-of-fold real-star summary (int8)."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f} %"

    rows = []
    for subset, d in (oof.get("int8", {}).get("subsets") or {}).items():
        rows.append([subset, d.get("n_planets", "-"), pct(d.get("planet_recall")), d.get("n_non_planets", "-"),
                     pct(d.get("non_planets_not_planet")), pct(d.get("eb_not_planet")), d.get("auc") or "-",
                     pct(d.get("calibrated_planet_recall")), pct(d.get("calibrated_planet_precision"))])
    return _fmt_table(rows, ["signals", "planets", "planet recall (argmax)", "non-planets",
                             "non-planets not called planet", "EBs not called planet", "planet-vs-rest AUC",
                             "recall (calibrated, unknown below threshold)", "precision (calibrated)"])


def write_model_card(card: dict[str, Any], out_dir: str | os.PathLike, *, name: str = "MODEL_CARD") -> tuple[Path, Path]:
    """Write a model card as JSON and markdown.

    Parameters
    ----------
    card : dict
        Keys used in the markdown: ``name``, ``classes``, ``architecture``, ``params``,
        ``macs``, ``tflite_bytes``, ``arena``, ``latency_ms``, ``cycles_per_mac``,
        ``metrics``, ``training_data``, ``seed``, ``versions``, ``threshold``, ``notes``,
        ``experiment_notes``; everything goes to the JSON.  ``experiment_notes`` (markdown) records
        the runs that chose settings of the build; when the card has none, the "Experiment notes"
        section of the markdown card already in ``out_dir`` is carried over, so a retrain keeps them.
    out_dir : path-like
    name : str
        File stem.

    Returns
    -------
    (pathlib.Path, pathlib.Path)
        JSON and markdown paths.

    Examples
    --------
    >>> import tempfile
    >>> j, md = write_model_card({"name": "demo", "classes": ["planet"]}, tempfile.mkdtemp())
    >>> md.read_text().startswith("# Model card: demo")
    True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    j = out / f"{name}.json"
    p = out / f"{name}.md"
    if not card.get("experiment_notes") and p.exists():
        previous = experiment_notes(p.read_text())
        if previous:
            card = {**card, "experiment_notes": previous}
    g = card.get
    md = [f"# Model card: {g('name', '?')}", ""]
    md += [g("summary", ""), ""]
    md += ["## Budget (counted from the converted int8 graph; measured where the row says so)", ""]
    tb = g("tflite_bytes", {})
    arena = g("arena", {})
    lat = g("latency_ms", {})
    m4 = g("cortex_m4", {}) or {}
    measured = arena.get("method") == "tflm"
    rows = [
        ["parameters", g("params", "?")],
        ["multiply-accumulates / inference", g("macs", "?")],
        ["int8 flatbuffer bytes", tb.get("int8", "?")],
        ["float32 flatbuffer bytes", tb.get("float", "?")],
        ["tensor arena, measured with TFLM (bytes)" if measured else "tensor arena estimate (bytes)",
         arena.get("arena_bytes", "?")],
    ]
    if m4.get("instructions"):
        ins = m4["instructions"]
        rows += [["Cortex-M4 instructions / inference (measured, QEMU)",
                  f"{min(ins)}-{max(ins)}" if min(ins) != max(ins) else ins[0]],
                 ["Cortex-M4 code + weights / activations (bytes, arm-none-eabi-size)",
                  f"{m4['size_model']['text']} / {m4['size_model']['data'] + m4['size_model']['bss']}"]]
        rows += [[f"Cortex-M4 latency @ {k} (ms): CPI 1 bound / modelled / MLPerf-Tiny anchor", v]
                 for k, v in sorted((m4.get("ms") or {}).items(), key=lambda kv: float(kv[0][:-3]))]
    rows += [[f"est. Cortex-M4 latency @ {k} (ms), MAC-count model", v] for k, v in lat.items() if k.endswith("MHz")]
    md.append(_fmt_table(rows, ["quantity", "value"]))
    if measured:
        md += ["", f"Arena: {arena.get('note', '')} (tflite-micro {arena.get('tflite_micro', '?')}; the liveness "
               f"estimate was {arena.get('estimate', {}).get('arena_bytes', '?')} B)."]
    if m4.get("how"):
        md += ["", "Cortex-M4: " + str(m4["how"])]
    if g("tflm_check"):
        t = g("tflm_check")
        md += ["", f"TFLM vs LiteRT on {t.get('n')} real views: {t.get('identical')} int8 outputs identical, "
               f"largest difference {t.get('max_abs_diff')} step(s) of 1/256. {t.get('explanation', '')}"]
    md += ["", f"MAC-count model: {g('cycles_per_mac', CYCLES_PER_MAC)} cycles per MAC (CMSIS-NN int8 on a "
           f"Cortex-M4 with DSP extension) + {CYCLES_PER_OP:.0f} cycles per operator; an estimate, not a "
           "measurement.", ""]
    md += ["## Classes and decision", "", f"Classes: {', '.join(g('classes', []))}.", "",
           str(g("threshold_note", "")), ""]
    if g("architecture"):
        md += ["## Architecture", "", "```", str(g("architecture")), "```", ""]
    metrics = g("metrics", {})
    if metrics:
        md += ["## Metrics", ""]
        oof = metrics.get("real_out_of_fold")
        if isinstance(oof, dict):
            cal = oof.get("int8", {}).get("calibration", {})
            md += [f"Real stars, out of fold ({oof.get('folds')} folds grouped by star: every number below comes "
                   "from a network that never saw that star; int8, physics veto applied):", "",
                   _real_oof_table(oof), "",
                   f"Nested out-of-fold calibration: temperature {cal.get('temperature')}, ECE "
                   f"{cal.get('ece_out_of_fold_before')} -> {cal.get('ece_out_of_fold_after')}, `unknown` threshold "
                   f"{cal.get('threshold')} (per fold: {cal.get('threshold_by_fold')}).", ""]
        for key, m in metrics.items():
            md += [f"### {key}", "", "```", json.dumps(m, indent=1, default=str), "```", ""]
    if g("training_data"):
        md += ["## Training data", "", "```", json.dumps(g("training_data"), indent=1, default=str), "```", ""]
    md += ["## Reproducibility", "", f"Seed: {g('seed', '?')}", "",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(g("versions", {}).items())), ""]
    if g("experiment_notes"):
        md += [f"## {_EXPERIMENT_NOTES}", "", str(g("experiment_notes")).strip(), ""]
    if g("notes"):
        md += ["## Limitations", ""] + [f"- {n}" for n in g("notes")] + [""]
    # Both files or neither: a card whose JSON and markdown disagree would mislead.
    with atomic_paths({"json": j, "md": p}, overwrite=True) as tmp:
        tmp["json"].write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
        tmp["md"].write_text("\n".join(md))
    return j, p


_EXPERIMENT_NOTES = "Experiment notes"


def experiment_notes(markdown: str) -> str:
    """The body of the "Experiment notes" section of a markdown model card ("" when absent).

    Parameters
    ----------
    markdown : str
        Text of a model card written by :func:`write_model_card`.

    Returns
    -------
    str
        The section's text without its heading, up to the next level-2 (``##``) heading.

    Examples
    --------
    >>> experiment_notes("# Card\\n\\n## Experiment notes\\n\\nREAL_WEIGHT 6 beat 3.\\n\\n## Limitations\\n")
    'REAL_WEIGHT 6 beat 3.'
    """
    body, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == _EXPERIMENT_NOTES
            continue
        if inside:
            body.append(line)
    return "\n".join(body).strip()
