# deskroute — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DURATION ?= 0
RATE ?= 8
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null || \
		{ echo "deskroute needs Python 3.11 (python3.11 on PATH, or PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: help
help: ## Show this help.
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-13s %s\n", $$1, $$2}'

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install deskroute with its dev tools.

.PHONY: run
run: $(VENV)/.installed ## Embedded broker + worker + sample traffic, routing live (DURATION=30 stops by itself).
	$(BIN)/deskroute run --duration $(DURATION) --rate $(RATE)

.PHONY: test
test: $(VENV)/.installed ## The whole suite: unit, integration on the embedded broker, e2e, then lint.
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

.PHONY: lint
lint: $(VENV)/.installed ## ruff and strict mypy on the packages.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

.PHONY: deploy-check
deploy-check: $(VENV)/.installed ## Check deploy/ offline: alert rules and their tests, manifests, compose, image, dashboard.
	$(BIN)/python -m pytest -q tests/deploy

.PHONY: observe
observe: ## Prometheus on 127.0.0.1:9090 scraping the running demo (make run in another terminal).
	@bash deploy/observe.sh

.PHONY: bench
bench: $(VENV)/.installed ## Benchmarks (~9 min; the memory run is 1M events); ends with one line of JSON holding every figure.
	$(BIN)/python -m bench.run

.PHONY: bench-memory
bench-memory: $(VENV)/.installed ## Worker RSS from 100k to 1M events on a fresh broker (~8 min; BENCH_RSS_EVENTS=1000000).
	BENCH_RSS_EVENTS=$${BENCH_RSS_EVENTS:-1000000} $(BIN)/python -m bench.memory

.PHONY: soak
soak: $(VENV)/.installed ## One worker under steady traffic for SOAK_SECONDS (300) at SOAK_RATE (100/s): RSS samples, growth as JSON.
	$(BIN)/python -m bench.soak

.PHONY: clean
clean: ## Remove run state (.deskroute) and caches; keeps .venv.
	rm -rf .deskroute .pytest_cache .mypy_cache .ruff_cache .hypothesis
