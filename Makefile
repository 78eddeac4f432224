# `make run` and `make test` bootstrap everything they need: .venv, Python packages, Debian packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the project needs: speech and audio processing, aplay for the loudspeakers;
# Chromium for the console tests;
# Gammu SMSD, the peer the benchmarks measure Loa against
DEBS := espeak-ng ffmpeg alsa-utils chromium gammu-smsd

.PHONY: run test lint deps debs bench emulator clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP) debs

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing Debian packages:$$missing (run make as root, or: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

run: deps
	$(BIN)/loa run

test: deps lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# every benchmark, one table (Markdown here, JSON in bench-results.json), Gammu SMSD beside Loa
bench: deps
	$(BIN)/python -m bench

emulator: deps
	$(BIN)/loa emulator

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
