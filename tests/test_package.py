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


@pytest.mark.parametrize("user_value, expected", [
    (None, "GOMP_SPINCOUNT = '0'"),  # passive: idle threads sleep at once (unset: ~300000 spins)
    ("ACTIVE", "OMP_WAIT_POLICY = 'ACTIVE'"),
])
def test_numba_openmp_threads_wait_passively_unless_the_user_says(user_value, expected):
    # The OpenMP runtime of numba's parallel search prints the wait policy and spin count it
    # read when it starts (OMP_DISPLAY_ENV); it starts at the first parallel launch, after
    # the import.
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", NUMBA_NUM_THREADS="2")
    if user_value is not None:
        env["OMP_WAIT_POLICY"] = user_value
    code = ("import astrotinyml, numba, numpy as np\n"
            "@numba.njit(parallel=True)\n"
            "def g(a):\n"
            "    s = 0.0\n"
            "    for i in numba.prange(a.size):\n"
            "        s += a[i]\n"
            "    return s\n"
            "print(g(np.ones(100)), numba.threading_layer())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    total, layer = out.stdout.split()
    assert float(total) == 100.0
    if layer != "omp":
        pytest.skip(f"numba runs on the {layer} threading layer here, not OpenMP")
    assert expected in out.stderr


def test_detect_runs_its_linear_algebra_on_one_blas_thread(monkeypatch, tests_data):
    """detect() limits BLAS to one thread while it runs (OpenBLAS's threads only spin on its
    small matrices) and gives the user's setting back afterwards."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    import astrotinyml.detection as detection

    seen = []
    real_vet = detection.vet

    def spy(*args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return real_vet(*args, **kwargs)

    monkeypatch.setattr(detection, "vet", spy)
    np.linalg.lstsq(np.eye(2), np.ones(2), rcond=None)  # BLAS loaded
    with threadpool_limits(limits=2, user_api="blas"):
        detection.detect(tests_data / "kepler_KIC1026032_Q17_enosair_sapflux.csv", max_planets=1)
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert after and set(after) == {2}


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


# -- packaging: what `make demo` / `make test` install, build requirements, conda file ----------

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def _pyproject():
    tomllib = pytest.importorskip("tomllib")

    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_demo_installs_the_runtime_only():
    # `make demo` installs `-e .` (no extra); TensorFlow and the docs stack are in dev only.
    import re

    make = (REPO / "Makefile").read_text()
    demo_dep = re.search(r"^demo:\s*(\S+)", make, re.M).group(1)
    recipe = re.search(r"^" + re.escape(demo_dep) + r":.*\n((?:\t.*\n)+)", make, re.M).group(1)
    assert 'pip install --quiet -e .\n' in recipe and "[dev]" not in recipe, recipe
    test_deps = re.search(r"^test:\s*(.*)", make, re.M).group(1)
    stamp = re.search(r"^(\$\(STAMP\)):.*\n((?:\t.*\n)+)", make, re.M)
    assert "$(STAMP)" in test_deps and '-e ".[dev]"' in stamp.group(2)
    runtime = {_name(r) for r in _pyproject()["project"]["dependencies"]}
    assert "ai-edge-litert" in runtime
    assert not runtime & {"tensorflow", "tensorflow-cpu", "jupyter-book", "sphinx", "transitleastsquares", "pytest"}


def test_build_requirements_and_license():
    meta = _pyproject()
    setuptools_req = next(r for r in meta["build-system"]["requires"] if _name(r) == "setuptools")
    # PEP 639 SPDX `license` strings need setuptools >= 77.
    assert meta["project"]["license"] == "BSD-3-Clause" and ">=77" in setuptools_req.replace(" ", "")
    text = (REPO / "LICENSE").read_text()
    assert "BSD 3-Clause" in text and "the astrotinyml developers" in text
    assert "LICENSE" in meta["project"]["license-files"]


def test_environment_yml_lists_the_dev_install():
    import yaml

    meta = _pyproject()
    extras = meta["project"]["optional-dependencies"]
    wanted = set()
    for req in meta["project"]["dependencies"] + extras["docs"] + extras["dev"]:
        name = _name(req)
        if name == "astrotinyml":
            continue
        # conda-forge names: one TensorFlow package; dask[distributed] is two packages
        wanted |= {"tensorflow"} if name.startswith("tensorflow") else {"dask", "distributed"} if name == "dask" \
            else {name}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    have = set()
    for dep in env["dependencies"]:
        for item in (dep["pip"] if isinstance(dep, dict) else [dep]):
            have.add(_name(item))
    have -= {"python", "pip"}
    assert have == wanted, (sorted(wanted - have), sorted(have - wanted))
