"""Shared test configuration.

Tests are offline.  Tests marked ``remote_data`` need MAST / the Exoplanet Archive and run
only with ``pytest --remote-data``.  ``shared_data`` points to ``../shared/data`` beside the
checkout (the full real corpus); tests that need it skip when it is absent, while the
bundled copies in ``tests/data`` and ``astrotinyml/data`` are always there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS_DATA = REPO / "tests" / "data"
SHARED_DATA = Path(os.environ.get("ASTROTINYML_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_addoption(parser):
    parser.addoption(
        "--remote-data", action="store_true", default=False,
        help="run tests that need internet access (MAST, NASA Exoplanet Archive)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--remote-data"):
        return
    skip = pytest.mark.skip(reason="needs internet; run with --remote-data")
    for item in items:
        if "remote_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tests_data() -> Path:
    """Directory of the real light curves copied into the repository for the tests."""
    return TESTS_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (full real corpus); skips the test when it is not beside the checkout."""
    if not (SHARED_DATA / "lightcurves" / "MANIFEST.csv").exists():
        pytest.skip(f"real corpus not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.astrotinyml from a test, and never go online."""
    monkeypatch.setenv("ASTROTINYML_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "1")
    # a "no network" seen by an earlier test must not make this test's fake servers unreachable
    from astrotinyml.remote import _net

    monkeypatch.setitem(_net._no_network, "since", None)
    # fake archives patched in at the library level would be hidden by the real DNS probe
    monkeypatch.setenv("ASTROTINYML_NET_PROBE", "0")
