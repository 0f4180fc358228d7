"""Package-level contracts: light import, error hierarchy, configuration precedence."""

import subprocess
import sys

import pytest

import astrotinyml
from astrotinyml import config, errors


def test_import_does_not_pull_heavy_dependencies():
    # A fresh interpreter, so modules imported by other tests do not count.
    code = (
        "import sys, astrotinyml; "
        "heavy = [m for m in ('lightkurve', 'tensorflow', 'wotan', 'numba', 'dask', 'matplotlib', "
        "'astropy.table', 'transitleastsquares', 'ai_edge_litert', 'exovetter') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_error_is_an_astrotinyml_error_and_a_builtin():
    pairs = {
        errors.LightCurveFileNotFoundError: FileNotFoundError,
        errors.LightCurveFormatError: ValueError,
        errors.LightCurveDataError: ValueError,
        errors.TimeFormatError: ValueError,
        errors.InvalidParameterError: ValueError,
        errors.OfflineError: ConnectionError,
        errors.ArchiveConnectionError: ConnectionError,
    }
    for cls, builtin in pairs.items():
        assert issubclass(cls, errors.AstroTinyMLError)
        assert issubclass(cls, builtin)


def test_cache_dir_keyword_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROTINYML_CACHE_DIR", str(tmp_path / "from_env"))
    assert config.cache_dir() == tmp_path / "from_env"
    assert config.cache_dir(tmp_path / "kw") == tmp_path / "kw"
    assert (tmp_path / "kw").is_dir()


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_offline_from_environment(monkeypatch, value, expected):
    monkeypatch.setenv("ASTROTINYML_OFFLINE", value)
    assert config.is_offline() is expected
    assert config.is_offline(not expected) is (not expected)


def test_offline_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv("ASTROTINYML_OFFLINE", "perhaps")
    with pytest.raises(errors.InvalidParameterError, match="ASTROTINYML_OFFLINE"):
        config.is_offline()


def test_version_is_exposed():
    assert astrotinyml.__version__.count(".") == 2
