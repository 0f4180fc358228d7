"""Execute the notebooks once per test session; shared by test_notebooks.py and test_book.py.

Executing a notebook starts a Jupyter kernel and imports lightkurve (seconds each), so the
pipeline (smoke parameters), the Kepler-90 tutorial and the explorer notebook are run once,
by whichever test asks first, and the executed copies are reused: the notebook tests check
them and the book test renders them.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
BOOK = REPO / "book"

_CACHE: dict[str, object] = {}


def book_builder():
    """``book/build.py`` imported as a module."""
    if "builder" not in _CACHE:
        spec = importlib.util.spec_from_file_location("astrotinyml_book_build", BOOK / "build.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _CACHE["builder"] = module
    return _CACHE["builder"]


def executed_notebooks(tmp_path_factory) -> dict:
    """{"paths": {name: executed .ipynb}, "run_dir": Path, "seconds": float}, computed once."""
    if "error" in _CACHE:
        raise RuntimeError(f"executing the notebooks failed earlier in this session: {_CACHE['error']}")
    if "executed" not in _CACHE:
        work = tmp_path_factory.mktemp("executed_notebooks")
        t0 = time.perf_counter()
        try:
            paths = book_builder().execute_notebooks(work, smoke=True)
        except Exception as err:
            _CACHE["error"] = f"{type(err).__name__}: {err}"
            raise
        _CACHE["executed"] = {"paths": paths, "run_dir": work / "run", "seconds": time.perf_counter() - t0}
    return _CACHE["executed"]
