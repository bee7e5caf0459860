# genrelab — the two commands a newcomer needs:
#   make classify FILE=song.mp3   install everything (first time) and classify a file
#   make test                     install everything (first time) and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DEPS := pyproject.toml constraints.txt

.PHONY: install install-system classify test test-fast bench gpu-check clean

$(STAMP): $(DEPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[web,export,scale,dev]'
	$(PIP) install -q --no-deps musicnn==0.1.0
	touch $(STAMP)

install: $(STAMP) ## install genrelab and its dependencies into .venv

install-system: ## Debian packages used by optional features and browser tests (ffmpeg, chromium)
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  need=""; for p in ffmpeg chromium chromium-driver; do dpkg -s $$p >/dev/null 2>&1 || need="$$need $$p"; done; \
	  if [ -n "$$need" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; fi; \
	else echo "install-system: skipped (needs root and apt-get); browser and ffmpeg tests will be skipped"; fi

classify: $(STAMP) ## classify FILE (a song or a folder) with the shipped model
	@test -n "$(FILE)" || { echo "usage: make classify FILE=path/to/song.mp3"; exit 2; }
	$(VENV)/bin/genrelab classify "$(FILE)"

test: $(STAMP) install-system ## run the whole test suite
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

bench: $(STAMP) ## run every benchmark (prints ratios against baselines)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

gpu-check: $(STAMP) ## on a CUDA machine: GPU vs CPU parity and throughput (mel, a training epoch, musicnn); < 5 min
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
