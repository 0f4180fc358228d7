"""The numpydoc examples of every module run, offline, in an isolated cache (conftest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import astrotinyml

# __main__ runs the command line when imported.
MODULES = sorted(m.name for m in pkgutil.walk_packages(astrotinyml.__path__, "astrotinyml.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
