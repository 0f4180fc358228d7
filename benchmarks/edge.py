"""Edge deployment of the int8 classifier, measured (``make edge``).

Steps, each run where its tools exist and skipped with the missing package named otherwise:

1. TensorFlow Lite Micro (PyPI ``tflite-micro``): the int8 model in TFLM's host interpreter and
   in LiteRT on the same real views, int8 outputs compared; the smallest arena that allocates
   (bisection).
2. Plain C generated from the flatbuffer (:func:`astrotinyml.training.edge.generate_c`),
   compiled with the host ``gcc -O2``, compared with LiteRT (logits and output) and TFLM.
3. The same C for a Cortex-M4 (``arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2``) run under
   ``qemu-system-arm -M mps2-an386`` with an instruction-counting plugin; ``arm-none-eabi-size``.

Views: the model's real labelled signals from the cache (``datasets/real-<key>.npz``, built by
``astrotinyml train``) when present, else the detect() candidates of the bundled light curves.

Usage::

    python benchmarks/edge.py                 # print the table
    python benchmarks/edge.py --write         # also record the measurements in astrotinyml/models
    python benchmarks/edge.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _card_fields(rep: dict) -> dict:
    """Card/registry fields of an edge report (measured values only; skipped steps left out)."""
    from astrotinyml.training.edge import CLOCKS_MHZ, CPI_MODEL, MLPERF_TINY_CYCLES_PER_MAC

    out = {}
    t = rep.get("tflm", {})
    if "arena_bytes" in t:
        out["tflm_check"] = dict(
            n=t["n"], identical=t["identical"], max_abs_diff=t["max_abs_diff"], differing=t["differing"],
            views=rep["views"], tflite_micro=t["tflite_micro"],
            explanation=("The differences are exact requantization ties in the last FULLY_CONNECTED layer "
                         "(e.g. -13.5 -> LiteRT -13, TFLM -14): LiteRT's optimized per-channel kernel rounds "
                         "ties toward +infinity, TFLM's reference kernels away from zero."
                         if t["max_abs_diff"] else "Identical."))
        out["arena"] = dict(arena_bytes=t["arena_bytes"], method="tflm", tflite_micro=t["tflite_micro"],
                            note=("smallest arena with which the tflite-micro host interpreter (64-bit, reference "
                                  "kernels) allocates and runs the model, bisection to 16 B; a 32-bit Cortex-M "
                                  "build should need less (4-byte pointers in its per-tensor structs; not measured here)"))
    c = rep.get("cortex_m4", {})
    if "instructions" in c:
        cyc = c["cycles"]
        lo, hi = MLPERF_TINY_CYCLES_PER_MAC
        ms = {f"{f}MHz": f"{cyc['lower'] / (f * 1e3):.2f} / {cyc['modelled'] / (f * 1e3):.2f} / "
                         f"{rep['macs'] * lo / (f * 1e3):.2f}-{rep['macs'] * hi / (f * 1e3):.2f}" for f in CLOCKS_MHZ}
        out["cortex_m4"] = dict(
            instructions=c["instructions"], instructions_trace=c.get("instructions_trace"), views=c["n"], loads=c["loads"], stores=c["stores"],
            branches=c["branches"], multiplies=c["multiplies"], multi_register=c["multi_register"],
            size_model=c["size_model"], size_image=c["size_image"], cycles=cyc, cpi_model=CPI_MODEL,
            mlperf_tiny_cycles_per_mac=list(MLPERF_TINY_CYCLES_PER_MAC), ms=ms, tools=c["tools"],
            outputs_max_diff_litert=c["outputs_max_diff_litert"],
            how=(f"plain C generated from the flatbuffer (astrotinyml.training.edge, TFLM reference arithmetic), "
                 f"arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -O2, run under qemu-system-arm -M mps2-an386 on "
                 f"{c['n']} real views; instructions counted by a QEMU plugin between two marker functions "
                 f"(first view cross-checked with QEMU's -singlestep exec trace: {c.get('instructions_trace')}). "
                 f"QEMU counts instructions, not cycles: 'CPI 1' is a lower bound (a Cortex-M4 retires at most "
                 f"one instruction per cycle), 'modelled' adds the Cortex-M4 TRM extra cycles (load +1, branch "
                 f"+2, LDM/STM +1 per register; zero wait states) = CPI {cyc['cpi_modelled']}; the MLPerf-Tiny "
                 f"anchor is {lo}-{hi} cycles/MAC with vendor (CMSIS-NN) kernels. Flash = model object .text "
                 f"(code + weights), RAM = .data + .bss (activation buffers). Largest difference of the board's int8 "
                 f"outputs from LiteRT's: {c['outputs_max_diff_litert']} steps."))
    return out


def write_models(rep: dict, models_dir: Path) -> None:
    """Record the measured fields in the shipped card (JSON + markdown) and registry."""
    from astrotinyml.training.export import write_model_card

    fields = _card_fields(rep)
    card_p = models_dir / "MODEL_CARD.json"
    card = json.loads(card_p.read_text())
    reg_p = models_dir / "registry.json"
    reg = json.loads(reg_p.read_text())
    entry = reg["models"][reg["default"]]
    if "arena" in fields:
        from astrotinyml.training.export import estimate_arena

        fields["arena"]["estimate"] = estimate_arena(models_dir / entry["files"]["int8"]["file"])
    for k, v in fields.items():
        card[k] = v
        entry[k] = v
    write_model_card(card, models_dir)
    reg_p.write_text(json.dumps(reg, indent=1, sort_keys=True, default=str) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="int8 .tflite (default: the shipped model)")
    ap.add_argument("--n-m4", type=int, default=3, help="views run on the emulated Cortex-M4 (default 3)")
    ap.add_argument("--write", action="store_true", help="record the measurements in astrotinyml/models")
    ap.add_argument("--json", help="write the report as JSON here")
    a = ap.parse_args(argv)

    from astrotinyml.classification import load_model
    from astrotinyml.training.edge import edge_report, format_edge_table, tools

    t0 = time.perf_counter()
    have = tools()
    print("tools: " + ", ".join(f"{k}={'missing' if v is None else v}" for k, v in have.items()))
    model = load_model()
    rep = edge_report(model if a.model is None else Path(a.model), n_m4=a.n_m4,
                      progress=lambda msg: print(f"... {msg}", flush=True))
    print(f"\nviews: {rep['views']}\n")
    print(format_edge_table(rep))
    for step in ("tflm", "host_c", "cortex_m4"):
        if "skipped" in rep.get(step, {}):
            print(f"\nskipped {step}: {rep[step]['skipped']}")
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1, default=lambda o: o.tolist()
                                           if isinstance(o, np.ndarray) else str(o)) + "\n")
    if a.write:
        if a.model:
            print("--write records the shipped model only; drop --model", file=sys.stderr)
            return 2
        write_models(rep, Path(model.path).parent)
        print(f"recorded in {Path(model.path).parent}/MODEL_CARD.* and registry.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
