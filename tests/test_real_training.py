"""The real-data training path, offline: labels from the archive snapshots, light curves
filed into the cache with import_to_cache, examples through the same pipeline as detect(),
star-grouped out-of-fold evaluation, and the CLI end to end with a small N."""

from __future__ import annotations

import json

import numpy as np
import pytest

from astrotinyml import datasets
from astrotinyml.remote.mast import import_to_cache
from astrotinyml.training.real import (KnownSignal, LabelledStar, labelled_stars_from_manifest,
                                       real_training_set, star_examples, star_group)
from astrotinyml.training.signals import CLASSES


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    tab = import_to_cache([str(p) for n in ("kepler-90", "wasp-18", "kic-2306740")
                           for p in datasets.sample_paths(n)], cache_dir=d)
    assert set(tab["status"]) == {"imported"}
    return d


@pytest.fixture(scope="module")
def real_set(cache):
    return real_training_set(2, 1, offline=True, cache_dir=cache)


def test_archive_labels_meet_the_cached_light_curves(real_set):
    """Kepler-90 (7 confirmed KOIs) and WASP-18 (TOI-185, KP) are the planet hosts, KIC 2306740
    (KOI-6265, stellar-eclipse false positive) the non-planet: found through the archive
    snapshots and served by fetch from the cache."""
    info = real_set.info
    assert info["archive"]["found"] == {"planet": 2, "non_planet": 1}
    groups = {m["group"] for m in real_set.meta}
    assert groups == {"kic 11442793", "tic 100100827", "kic 2306740"}
    by = {(m["group"], m["mode"], CLASSES[y]) for m, y in zip(real_set.meta, real_set.labels)}
    assert ("tic 100100827", "catalogue", "planet") in by and ("tic 100100827", "search", "planet") in by
    assert ("kic 2306740", "catalogue", "eb") in by
    # every Kepler-90 catalogue example is a planet, at a KOI period with data in Q3-Q5
    k90 = [m for m in real_set.meta if m["group"] == "kic 11442793" and m["mode"] == "catalogue"]
    koi_periods = (7.008151, 8.719375, 14.44912, 59.73667, 91.93913, 124.9144, 210.6070, 331.6006)
    assert len(k90) >= 4 and all(min(abs(m["period"] / p - 1) for p in koi_periods) < 1e-3 for m in k90)
    # WASP-18 b's search signal carries the catalogue period within 0.1 %
    w = [m for m in real_set.meta if m["group"] == "tic 100100827" and m["mode"] == "search"]
    assert abs(w[0]["period"] / 0.941452 - 1) < 1e-3


def test_the_eclipsing_binary_is_vetoed_by_its_star(real_set):
    eb = [m for m, y in zip(real_set.meta, real_set.labels) if m["group"] == "kic 2306740" and CLASSES[y] == "eb"]
    assert eb and any(m["not_planet_physics"] and "COMPANION_TOO_LARGE" in m["vet_flags"] for m in eb)


def test_real_set_is_cached_and_reused(cache, real_set):
    again = real_training_set(2, 1, offline=True, cache_dir=cache)
    assert again.path is not None and again.path.name == f"real-{real_set.info['key']}.npz"
    assert np.array_equal(again.labels, real_set.labels)


def test_quiet_star_search_signals_are_noise():
    path = datasets.sample_path("epic-248045685")  # a quiet K2 star
    s = LabelledStar("EPIC 248045685", "noise", files=(str(path),), group=star_group("EPIC 248045685"))
    from astrotinyml.io import read_lightcurve

    ex = star_examples(read_lightcurve(path), s)
    assert all(e["label"] == "noise" and e["meta"]["mode"] == "search" for e in ex)


def test_manifest_stars(tmp_path):
    (tmp_path / "MANIFEST.csv").write_text(
        "file,target,label,known_period_days,known_epoch,time_system,label_source\n"
        "a.fits,Kepler-90 (KIC 11442793),planet_host,7.008151;8.719375,,BKJD,KOI\n"
        "b.fits,Kepler-90 (KIC 11442793),planet_host,7.008151,,BKJD,KOI\n"
        "c.dat,EPIC 1,variable_star,,,BKJD,own LS\n"
        "d.fits,EPIC 2,unclassified,,,BKJD,own\n")
    stars = labelled_stars_from_manifest(tmp_path / "MANIFEST.csv")
    assert [(s.group, s.star_class, len(s.files), len(s.signals)) for s in stars] == [
        ("kic 11442793", "planet", 2, 2), ("epic 1", "variability", 1, 0)]
    assert stars[1].time_format == "bkjd"


def test_cli_trains_on_real_stars_offline_with_small_n(cache, real_set, tmp_path, capsys):
    pytest.importorskip("tensorflow")
    from astrotinyml.apps.cli import main

    out = tmp_path / "model"
    rc = main(["train", "--offline", "--cache-dir", str(cache), "--planets", "2", "--non-planets", "1",
               "--sim-planets", "12", "--sim-non-planets", "24", "--sim-natural", "0", "--epochs", "2", "--folds", "3",
               "--processes", "1", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "real examples:" in text and "out of fold" in text
    reg = json.loads((out / "registry.json").read_text())["models"]["astrotinyml-cnn-v1"]
    oof = reg["metrics"]["real_out_of_fold"]
    assert oof["folds"] == 3 and oof["int8"]["subsets"]["all"]["n"] == len(real_set)
    files = reg["training_data"]["real"]["files"]
    assert any("kplr011442793" in f for f in files) and any("WASP-18" in f for f in files)
    z = np.load(out / "real_out_of_fold.npz")
    # every star's examples sit in one fold: no star in a training and a test fold
    meta = json.loads(str(z["meta"]))
    folds_of = {}
    for m, f in zip(meta, z["fold"]):
        folds_of.setdefault(m["group"], set()).add(int(f))
    assert all(len(v) == 1 for v in folds_of.values())
    assert "Real stars, out of fold" in (out / "MODEL_CARD.md").read_text()
