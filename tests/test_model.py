"""Model budget (from the converted graph), export and a tiny training run."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import numpy as np
import pytest

from astrotinyml.classification import MODELS_DIR, load_model
from astrotinyml.training.export import count_macs, cortex_m4_latency, estimate_arena, write_c_array
from astrotinyml.views import SCALAR_NAMES


def test_shipped_model_within_budget():
    m = load_model()
    macs = count_macs(m.path)
    assert macs["macs"] <= 150_000
    assert macs["ops"]["CONV_2D"] >= 2 and macs["ops"]["FULLY_CONNECTED"] >= 2
    assert m.path.stat().st_size <= 100 * 1024
    entry = json.loads((MODELS_DIR / "registry.json").read_text())["models"][m.name]
    assert entry["macs"] == macs["macs"]  # the registry states what the graph holds
    assert entry["files"]["int8"]["bytes"] == m.path.stat().st_size
    assert estimate_arena(m.path)["arena_bytes"] < 64 * 1024
    lat = cortex_m4_latency(macs["macs"], macs["n_ops"])
    assert lat["64MHz"] > lat["120MHz"] > 0


def test_shipped_c_array_matches_the_int8_model(tmp_path):
    m = load_model()
    cc = MODELS_DIR / "c_array" / "astrotinyml_model.cc"
    assert cc.exists()
    text = cc.read_text()
    assert f"g_astrotinyml_model_len = {m.path.stat().st_size};" in text
    assert "alignas(16)" in text


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_c_array_compiles(tmp_path):
    h, cc = write_c_array(load_model().path.read_bytes(), tmp_path)
    res = subprocess.run(["g++", "-std=c++11", "-c", str(cc), "-o", str(tmp_path / "m.o")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _fake_dataset(n_per_class=40, seed=0):
    """Class-dependent synthetic views (no pipeline: this test is about training/export)."""
    from astrotinyml.training.dataset import SimulatedDataset
    from astrotinyml.training.signals import CLASSES

    rng = np.random.default_rng(seed)
    arrays = {k: [] for k in ("global_view", "local_view", "secondary_view", "odd_view", "even_view", "scalars")}
    labels = []
    x = np.linspace(-2, 2, 61)
    for c in range(len(CLASSES)):
        for _ in range(n_per_class):
            box = -1.0 * (np.abs(x) < 0.5 + 0.3 * c)
            arrays["local_view"].append(box + 0.1 * rng.normal(size=61))
            arrays["odd_view"].append(box * (1 + 0.3 * (c == 1)) + 0.1 * rng.normal(size=61))
            arrays["even_view"].append(box * (1 - 0.3 * (c == 1)) + 0.1 * rng.normal(size=61))
            arrays["secondary_view"].append(0.5 * box * (c == 1) + 0.1 * rng.normal(size=61))
            g = 0.1 * rng.normal(size=201)
            g[95:106] -= 1
            arrays["global_view"].append(g + np.sin(np.arange(201) / 10) * (c == 2))
            arrays["scalars"].append(rng.normal(size=len(SCALAR_NAMES)) + c)
            labels.append(c)
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    meta = [dict(label=CLASSES[c], subtype="fake", mode="true", background_kind="synthetic") for c in labels]
    return SimulatedDataset(arrays=arrays, labels=np.asarray(labels), meta=meta, info={"fake": True})


def test_tiny_training_exports_within_budget(tmp_path):
    pytest.importorskip("tensorflow")
    from astrotinyml.training.train import train_model

    t = time.perf_counter()
    res = train_model(dataset=_fake_dataset(), epochs=3, width=0.5, out_dir=tmp_path, seed=1)
    assert time.perf_counter() - t < 60
    int8 = tmp_path / res.registry["files"]["int8"]["file"]
    assert int8.stat().st_size <= 100 * 1024
    assert count_macs(int8)["macs"] <= 150_000
    assert (tmp_path / "MODEL_CARD.md").exists() and (tmp_path / "c_array" / "astrotinyml_model.h").exists()
    m = load_model(path=tmp_path)
    x = _fake_dataset(2, seed=9)
    from astrotinyml.modelspec import preprocess

    p = m.predict_inputs(preprocess(x.arrays, m.spec))
    assert p.shape == (10, 5) and np.allclose(p.sum(axis=1), 1.0, atol=0.05)
    # float and int8 agree closely on the held-out split
    assert abs(res.metrics["test_float"]["planet_auc"] - res.metrics["test_int8"]["planet_auc"]) < 0.1


def test_model_card_summarizes_the_out_of_fold_real_metrics(tmp_path):
    from astrotinyml.training.export import write_model_card

    reg = json.loads((MODELS_DIR / "registry.json").read_text())
    oof = reg["models"][reg["default"]]["metrics"]["real_out_of_fold"]
    _, md = write_model_card({"name": "x", "metrics": {"real_out_of_fold": oof}}, tmp_path)
    text = md.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| planets_snr_ge_7 |"))
    recall = oof["int8"]["subsets"]["planets_snr_ge_7"]["planet_recall"]
    assert f"{100 * recall:.1f} %" in row  # the argmax recall of the registry, as a percentage
    assert "grouped by star" in text


def test_a_retrain_keeps_the_model_cards_experiment_notes(tmp_path):
    """write_model_card regenerates the card from a training run; the hand-written
    "Experiment notes" of the shipped card must survive that (they were lost before)."""
    import shutil

    from astrotinyml.training.export import experiment_notes, write_model_card

    shipped = experiment_notes((MODELS_DIR / "MODEL_CARD.md").read_text())
    assert "REAL_WEIGHT" in shipped  # the shipped card documents the real-weight runs
    shutil.copy(MODELS_DIR / "MODEL_CARD.md", tmp_path / "MODEL_CARD.md")
    j, md = write_model_card({"name": "retrained", "notes": ["a limitation"]}, tmp_path)
    text = md.read_text()
    assert text.startswith("# Model card: retrained")
    assert experiment_notes(text) == shipped
    assert text.index("## Experiment notes") < text.index("## Limitations")
    assert json.loads(j.read_text())["experiment_notes"] == shipped
    # notes given with the card replace the old ones
    _, md = write_model_card({"name": "r2", "experiment_notes": "new run"}, tmp_path)
    assert experiment_notes(md.read_text()) == "new run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL_CARD.json", "MODEL_CARD.md"]


def test_shipped_out_of_fold_predictions_match_the_registry():
    """The shipped model's real-star numbers are recomputed from the saved out-of-fold
    predictions: no star in two folds, and the summary is what the registry says."""
    from astrotinyml.training.metrics import real_summary

    reg = json.loads((MODELS_DIR / "registry.json").read_text())
    entry = reg["models"][reg["default"]]
    z = np.load(MODELS_DIR / "real_out_of_fold.npz")
    meta = json.loads(str(z["meta"]))
    folds_of = {}
    for m, f in zip(meta, z["fold"]):
        folds_of.setdefault(m["group"], set()).add(int(f))
    assert all(len(v) == 1 for v in folds_of.values())
    again = real_summary(meta, z["labels"], z["int8"], z["fold"])
    assert again["subsets"] == entry["metrics"]["real_out_of_fold"]["int8"]["subsets"]
    files = set(entry["training_data"]["real"]["files"])
    assert {f for m in meta for f in m["files"]} <= files
