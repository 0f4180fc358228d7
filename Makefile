# Two commands on a fresh machine: `make demo` and `make test`.
# Both create the virtualenv in .venv when it is missing and install the package into it:
# `make demo` the runtime only (the package, LiteRT, no TensorFlow), `make test` the dev extra
# (TensorFlow for training tests, Jupyter Book, papermill, TLS, ...).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmarks book chromium clean edge

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when the package metadata changes.  The dev install includes the runtime.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $(RUNTIME_STAMP)

install: $(STAMP)

demo: $(RUNTIME_STAMP)
	$(PY) -m astrotinyml demo --output demo_output --overwrite

test: $(STAMP) chromium
	$(PY) -m pytest tests

# Headless Chromium for tests/test_book.py (Debian package `chromium`), installed when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	    else sudo -n apt-get install -y -qq chromium; fi; } || \
	  echo "warning: chromium not installed; tests/test_book.py will skip its browser checks"

# The Jupyter Book (1.x), built offline: executes the pipeline notebooks, then builds strictly.
book: $(STAMP)
	nice -n 10 $(PY) book/build.py
	@echo "book: open book/_build/html/intro.html"

benchmarks: $(STAMP)
	$(PY) benchmarks/search_vs_peers.py

# Edge deployment measured (benchmarks/edge.py): TFLM check and arena (tflite-micro, dev extra), the
# generated C on the host (gcc) and on a Cortex-M4 under QEMU (Debian gcc-arm-none-eabi, qemu-system-arm).
# Steps whose tools are missing are skipped with the package named; EDGE_ARGS=--write records the
# numbers in astrotinyml/models.
edge: $(STAMP)
	@command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1 || \
	  echo "note: Cortex-M4 step needs 'apt-get install gcc-arm-none-eabi qemu-system-arm'; it will be skipped"
	nice -n 10 $(PY) benchmarks/edge.py $(EDGE_ARGS)

clean:
	rm -rf $(VENV) demo_output build *.egg-info .pytest_cache book/_build runs
