"""Edge deployment: the shipped int8 model under TensorFlow Lite Micro, the generated C, a Cortex-M4.

Views: the candidates detect() finds in a bundled real TESS light curve (an eclipsing binary).
The TFLM test needs ``tflite-micro`` (the dev extra installs it); the C tests need ``gcc`` and,
for the Cortex-M4, ``gcc-arm-none-eabi`` and ``qemu-system-arm`` (skipped where missing).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from astrotinyml.classification import MODELS_DIR, load_model
from astrotinyml.errors import ModelIntegrityError
from astrotinyml.training import edge
from astrotinyml.modelspec import preprocess
from astrotinyml.views import stack_views

EB_FILE = "tess_TIC300293197_S1_EB_tessspoc_bin30min.txt"


@pytest.fixture(scope="module")
def real_views(tests_data):
    from astrotinyml.detection import detect

    m = load_model()
    res = detect(tests_data / EB_FILE, model=m)
    assert len(res.views) >= 2
    x8 = edge.int8_inputs(m.path, preprocess(stack_views(res.views), m.spec))
    return m, x8, res


def test_tflm_runs_the_shipped_model_like_litert(real_views):
    pytest.importorskip("tflite_micro")
    m, x8, res = real_views
    chk = edge.tflm_check(m.path, x8, arena=False)
    assert chk["n"] == len(res.views)
    # int8 outputs equal, or one 1/256 step apart where a requantization lands on a tie.
    assert chk["max_abs_diff"] <= 1
    tflm = edge.tflm_outputs(m.path, x8)
    lit = edge.litert_outputs(m.path, x8)
    assert (tflm.argmax(axis=1) == lit.argmax(axis=1)).all()
    # TFLM's probabilities (scale 1/256, zero point -128) sum to one within the int8 rounding.
    p = (tflm.astype(float) + 128) / 256
    assert np.allclose(p.sum(axis=1), 1.0, atol=5 / 256)


def test_registry_arena_is_the_tflm_measurement():
    pytest.importorskip("tflite_micro")
    m = load_model()
    entry = json.loads((MODELS_DIR / "registry.json").read_text())["models"][m.name]
    assert entry["arena"]["method"] == "tflm"
    n = edge.tflm_arena(m.path)
    assert entry["arena"]["arena_bytes"] == n
    # One 16-byte step less does not allocate: the recorded arena is the smallest.
    with pytest.raises(ModelIntegrityError):
        edge.tflm_outputs(m.path, [np.zeros((1, *s), np.int8) for s in ((201, 1), (61, 4), (19,))],
                          arena_size=n - 16)


def _with_last_op_replaced(buf: bytes, builtin: int) -> bytes:
    """The flatbuffer with its last operator's code replaced (schema object API, re-serialized)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    m = S.ModelT.InitFromObj(S.Model.GetRootAsModel(buf, 0))
    oc = S.OperatorCodeT()
    oc.builtinCode = oc.deprecatedBuiltinCode = builtin
    oc.version = 1
    m.operatorCodes.append(oc)
    m.subgraphs[0].operators[-1].opcodeIndex = len(m.operatorCodes) - 1
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_check_tflm_refuses_a_model_tflm_cannot_run():
    pytest.importorskip("tflite_micro")
    from ai_edge_litert.schema_py_generated import BuiltinOperator

    from astrotinyml.training.export import check_tflm

    good = load_model().path.read_bytes()
    assert check_tflm(good)["max_abs_diff"] <= 1
    # TFLM has no REDUCE_PROD kernel: the shipped graph ending in one instead of its softmax.
    bad = _with_last_op_replaced(good, BuiltinOperator.REDUCE_PROD)
    with pytest.raises(ModelIntegrityError, match="TensorFlow Lite Micro cannot run.*REDUCE_PROD"):
        check_tflm(bad)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host C compiler (gcc)")
def test_generated_c_is_bit_exact_with_tflm_and_litert_logits(real_views, tmp_path):
    m, x8, _ = real_views
    r = edge.host_c_check(m.path, x8, workdir=tmp_path)
    assert r["macs"] == 117_512
    # Every logit (the int8 tensor fed to the softmax) as LiteRT computes it, except on exact
    # requantization ties, which LiteRT rounds toward +infinity and TFLM away from zero.
    assert r["logits_identical_litert"] >= r["n"] - 1
    assert r["output_max_diff_litert"] <= 1
    if edge.tools()["tflite_micro"]:
        assert r["output_identical_tflm"] == r["n"]


@pytest.mark.skipif(any(shutil.which(t) is None for t in ("gcc", "arm-none-eabi-gcc", "qemu-system-arm")),
                    reason="needs gcc, gcc-arm-none-eabi and qemu-system-arm")
def test_cortex_m4_under_qemu(real_views, tmp_path):
    m, x8, _ = real_views
    sub = [x[:1] for x in x8]
    r = edge.cortex_m4_run(m.path, sub, workdir=tmp_path)
    lit = edge.litert_outputs(m.path, sub)
    assert np.abs(r["outputs"].astype(int) - lit.astype(int)).max() <= 1
    ins = r["instructions"][0]
    # Each of the 117,512 MACs needs a multiply instruction (plain C, no SIMD), plus its loads.
    assert r["multiplies"] >= 117_512
    assert 2 * 117_512 < ins < 3_000_000
    # Flash holds the weights (10.7k int8 parameters) and the code.
    assert r["size_model"]["text"] > 10_000


def test_card_states_measured_edge_numbers():
    card = json.loads((MODELS_DIR / "MODEL_CARD.json").read_text())
    assert card["arena"]["method"] == "tflm"
    assert card["tflm_check"]["n"] >= 100 and card["tflm_check"]["max_abs_diff"] <= 1
    assert min(card["cortex_m4"]["instructions"]) > card["macs"]
    md = (MODELS_DIR / "MODEL_CARD.md").read_text()
    assert "measured with TFLM" in md and "QEMU" in md
