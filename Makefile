# Two commands on a fresh machine: `make demo` and `make test`.
# Both create the virtualenv in .venv when it is missing and install the package into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install benchmarks clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when the package metadata changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m astrotinyml demo --output demo_output --overwrite

test: $(STAMP)
	$(PY) -m pytest tests

benchmarks: $(STAMP)
	$(PY) benchmarks/search_vs_peers.py

clean:
	rm -rf $(VENV) demo_output build *.egg-info .pytest_cache
