"""The shipped classifier: integrity, LiteRT inference and classification of real stars."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from astrotinyml.classification import MODELS_DIR, TFLiteModel, classify, load_model
from astrotinyml.errors import AstroTinyMLError, ModelIntegrityError


def test_shipped_model_loads_and_verifies_sha256():
    reg = json.loads((MODELS_DIR / "registry.json").read_text())
    entry = reg["models"][reg["default"]]
    m = load_model()
    assert isinstance(m, TFLiteModel) and m.variant == "int8"
    assert m.sha256 == entry["files"]["int8"]["sha256"]
    assert m.classes == ("planet", "eb", "variability", "instrumental", "noise")
    assert entry["input_spec"]["inputs"]["local_views"]["shape"] == [61, 4]
    assert entry["calibrated"] is False and 0 < entry["threshold"] < 1
    assert load_model(variant="float32").variant == "float32"


def test_tampered_model_is_rejected(tmp_path):
    d = tmp_path / "models"
    shutil.copytree(MODELS_DIR, d, ignore=shutil.ignore_patterns("__pycache__"))
    reg = json.loads((d / "registry.json").read_text())
    f = d / reg["models"][reg["default"]]["files"]["int8"]["file"]
    load_model(path=d)  # an intact copy loads
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="SHA-256 mismatch"):
        load_model(path=d)
    with pytest.raises(AstroTinyMLError):
        load_model(path=tmp_path)  # no registry there
    f.unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        load_model(path=d)


def test_batched_inference_matches_single():
    m = load_model()
    rng = np.random.default_rng(0)
    x = {k: rng.normal(size=(7, *v["shape"])).astype(np.float32) for k, v in m.spec["inputs"].items()}
    batched = m.predict_inputs(x)
    single = np.concatenate([m.predict_inputs({k: v[i:i + 1] for k, v in x.items()}) for i in range(7)])
    np.testing.assert_allclose(batched, single, atol=1e-6)
    assert np.allclose(batched.sum(axis=1), 1.0, atol=0.02)


def test_classify_empty_and_plain_rows():
    import lightkurve as lk

    rng = np.random.default_rng(0)
    t = 2458000 + np.arange(0, 27, 0.02)
    f = 1 + 3e-4 * rng.normal(size=t.size)
    f[np.abs((t - 2458000.4 + 1.6) % 3.2 - 1.6) < 0.05] -= 4e-3
    lc = lk.LightCurve(time=t, flux=f)
    tab = classify(lc, [dict(pl_orbper=3.2, pl_tranmid=2458000.4, pl_trandurh=2.4, pl_trandep=4000.0)])
    for col in ("label", "p_planet", "p_eb", "p_variability", "p_instrumental", "p_noise"):
        assert col in tab.colnames
    assert abs(sum(float(tab[c][0]) for c in tab.colnames if c.startswith("p_")) - 1) < 0.02
    assert tab.meta["classifier_sha256"] == load_model().sha256
    empty = classify(lc, tab[:0])
    assert len(empty) == 0 and "p_planet" in empty.colnames


@pytest.fixture(scope="module")
def wasp18():
    from astrotinyml.datasets import sample_path
    from astrotinyml.detection import detect

    return detect(sample_path("wasp-18"), max_planets=2)


@pytest.fixture(scope="module")
def kic2306740():
    from astrotinyml.datasets import sample_path
    from astrotinyml.detection import detect

    return detect(sample_path("kic-2306740"), max_planets=2)


def _row_at(result, period, ratios=(1.0,)):
    for row in result.candidates:
        p = float(row["pl_orbper"].value)
        if np.isfinite(p) and any(abs(p / (period * r) - 1) < 0.01 for r in ratios):
            return row
    raise AssertionError(f"no candidate at {period} d in {result.candidates['pl_orbper']}")


def test_wasp18b_catalogue_ephemeris_classified_planet(wasp18):
    # TOI-185.01 ephemeris (P, T0 in BTJD) and the literature duration T14 = 2.19 h.
    p, t0 = 0.941453, 2457000 + 3205.35332
    t0 += round((float(np.median(wasp18.flat.time.jd)) - t0) / p) * p
    tab = classify(wasp18.flat, [dict(pl_orbper=p, pl_tranmid=t0, pl_trandurh=2.19)], raw_lc=wasp18.raw)
    probs = {c: float(tab[f"p_{c}"][0]) for c in ("planet", "eb", "variability", "instrumental", "noise")}
    assert max(probs, key=probs.get) == "planet", probs


def test_detect_wasp18b_is_a_planet(wasp18):
    # With the search's own ephemeris.  WASP-18 b shows a real occultation (~340 ppm) and
    # ellipsoidal variation; the model trained without hot-Jupiter occultations and with no
    # planet above SNR 150 called it an EB (p_eb 0.5).  Both are now in the training set.
    row = _row_at(wasp18, 0.941453)
    assert row["label"] == "planet" and float(row["p_planet"]) > 0.8, (row["label"], float(row["p_planet"]))
    assert wasp18.model_sha256 == load_model().sha256


def test_detect_classifies_kic2306740_as_eb(kic2306740):
    row = _row_at(kic2306740, 10.306987, ratios=(1.0, 0.5))
    probs = {c: float(row[f"p_{c}"]) for c in ("planet", "eb", "variability", "instrumental", "noise")}
    assert max(probs, key=probs.get) == "eb", probs


def test_classify_alone_is_calibrated_as_detect_is(kic2306740):
    # classify() and detect() give one answer: calibrated by default, raw softmax on request.
    res = kic2306740
    out = classify(res.flat, res.candidates, views=res.views)
    assert out.meta["classifier_calibrated"] is True and out.meta["calibration_id"] == res.calibration_id
    assert out.meta["classifier_threshold"] == res.candidates.meta["classifier_threshold"]
    np.testing.assert_allclose(np.asarray(out["p_eb"], float), np.asarray(res.candidates["p_eb"], float))
    assert list(out["label"]) == list(res.candidates["label"])
    raw = classify(res.flat, res.candidates, views=res.views, calibration=False)
    assert raw.meta["classifier_calibrated"] is False and raw.meta["calibration_id"] is None
    assert raw.meta["classifier_threshold"] == load_model().threshold
    assert not np.allclose(np.asarray(raw["p_planet"], float), np.asarray(out["p_planet"], float))
    # An explicit threshold decides the labels from the calibrated probabilities.
    assert set(classify(res.flat, res.candidates, views=res.views, threshold=1.0)["label"]) == {"unknown"}


def test_classify_is_thread_safe():
    """Threaded Dask workers share the cached interpreter; concurrent calls must not mix inputs."""
    from concurrent.futures import ThreadPoolExecutor

    from astrotinyml import datasets, detect
    from astrotinyml.classification import classify

    res = detect(datasets.load_sample("kic-2306740"), calibration=False)
    expected = np.asarray(res.candidates["p_eb"], dtype=float)

    def one(_):
        out = classify(res.flat, res.candidates, views=res.views, calibration=False)
        return np.allclose(np.asarray(out["p_eb"], dtype=float), expected)

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(one, range(100)))


def test_classify_copies_the_table_unless_told_not_to(kic2306740):
    from astropy.table import QTable

    res = kic2306740
    vetted = QTable(res.candidates, copy=True)
    vetted.remove_columns([c for c in vetted.colnames if c == "label" or c.startswith("p_")])
    before = list(vetted.colnames)
    out = classify(res.flat, vetted, views=res.views, calibration=False)
    assert out is not vetted and list(vetted.colnames) == before  # the caller's table untouched
    same = classify(res.flat, vetted, views=res.views, calibration=False, copy=False)
    assert same is vetted and "label" in vetted.colnames
    assert list(same["label"]) == list(out["label"])
    assert np.array_equal(same["p_eb"], out["p_eb"])
