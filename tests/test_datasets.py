"""Bundled sample light curves: manifest, paths, checksums, loading, errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from astrotinyml import datasets
from astrotinyml.errors import InvalidParameterError

EXPECTED = {
    "kepler-90": ("KIC 11442793", "Kepler", "planet_host", 3),
    "wasp-18": ("TIC 100100827", "TESS", "planet_host", 1),
    "kic-2306740": ("KIC 2306740", "Kepler", "eclipsing_binary", 1),
    "epic-210651981": ("EPIC 210651981", "K2", "variable_star", 1),
    "epic-248045685": ("EPIC 248045685", "K2", "quiet_star", 1),
}


def test_list_samples_table():
    t = datasets.list_samples()
    assert list(t["name"]) == list(EXPECTED)
    for row in t:
        assert row["label"] == EXPECTED[row["name"]][2]
        assert row["n_files"] == EXPECTED[row["name"]][3]
        assert row["mission"] == EXPECTED[row["name"]][1]
        assert row["description"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_sample_files_exist_and_match_checksums(name):
    infos = datasets.sample_info(name)
    paths = datasets.sample_paths(name)
    assert len(paths) == EXPECTED[name][3]
    for info, path in zip(infos, paths):
        assert path.is_file() and path.parent == datasets.DATA_DIR
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info["sha256"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_load_sample(name):
    target, mission, label, _ = EXPECTED[name]
    lc = datasets.load_sample(name)
    assert lc.meta["target"] == target
    assert lc.meta["mission"] == mission
    assert lc.meta["sample"] == name and lc.meta["catalog_label"] == label
    assert np.all(np.diff(lc.time.jd) > 0)
    assert np.median(lc.flux.value) == pytest.approx(1.0, abs=0.01)
    assert len(lc) > 1000


def test_names_are_forgiving_about_case_and_separators():
    assert datasets.sample_paths("KEPLER_90") == datasets.sample_paths("kepler-90")


def test_unknown_sample_lists_available_names():
    with pytest.raises(InvalidParameterError) as info:
        datasets.sample_paths("kepler-999")
    msg = str(info.value)
    assert "kepler-999" in msg
    for name in EXPECTED:
        assert name in msg


def test_sample_path_for_multi_file_sample_points_to_sample_paths():
    assert datasets.sample_path("wasp-18").name.startswith("tess_WASP-18")
    with pytest.raises(InvalidParameterError, match="sample_paths"):
        datasets.sample_path("kepler-90")


def test_bundled_data_is_small():
    total = sum(p.stat().st_size for p in datasets.DATA_DIR.iterdir() if p.is_file())
    assert total < 10 * 1024**2


def test_sample_known_periods_are_numbers():
    lc = datasets.load_sample("wasp-18")
    assert lc.meta["known_period_days"] == [pytest.approx(0.941453)]
