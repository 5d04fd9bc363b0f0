# The interface: `make forecast` and `make test` are all a fresh clone needs.
# Each target creates .venv on first use and rebuilds it only when pyproject.toml changes; recipes call
# .venv/bin/... directly so cron needs no activated environment.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_QUIET := --quiet --disable-pip-version-check --no-input

.PHONY: help forecast replay test quick lint bench bench-broker lab notebooks sample clean

help:
	@echo "make forecast   run the capacity report on capacity/sample (writes reports/<date>/)"
	@echo "make test       lint and run the whole test suite (what CI runs)"
	@echo "make quick      lint and the fast tests only (under a minute; slow and notebook tests skipped)"
	@echo "make replay     replay the sample's 2010 story week by week"
	@echo "make lab        JupyterLab on notebooks/"
	@echo "make notebooks  execute every notebook, HTML copies in reports/notebooks/"
	@echo "make bench      benchmarks (print tables)"
	@echo "make bench-broker  validate the fan-out cost model on a real Redis broker"
	@echo "make lint       ruff"
	@echo "make sample     regenerate capacity/sample from scripts/make_sample.py"
	@echo "make clean      remove .venv, reports and caches"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing capacity and its dependencies into $(VENV) (first run only)" >&2
	@$(BIN)/python -m pip install $(PIP_QUIET) -e '.[test,lab]' 2>&1 | { grep -v "^WARNING: Location" || true; } >&2
	@touch $(STAMP)

# recipes of the cron-facing targets are silent (@): with --quiet, nothing is printed on success
forecast: $(STAMP)
	@$(BIN)/capacity forecast $(ARGS)

replay: $(STAMP)
	@$(BIN)/capacity replay $(ARGS)

# everything, serially: the signal and concurrency tests of report publishing time real subprocesses,
# which a second worker's load can push past their timeouts (seen once with -n 2)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the inner loop: fast tests only, on both cores (pytest-xdist); `make test` still runs everything, serially
quick: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not slow and not notebook" -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	@for b in bench/*.py; do \
		case $$b in bench/broker_*) continue;; esac; \
		echo "== $$b"; $(BIN)/python $$b || exit 1; done

lab: $(STAMP)
	@# open the jupytext .py notebooks as notebooks on double-click
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@$(BIN)/jupytext-config --settings-file $(VENV)/share/jupyter/lab/settings/overrides.json \
		set-default-viewer python >/dev/null
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

notebooks: $(STAMP)
	$(BIN)/python scripts/run_notebooks.py

bench-broker: $(STAMP)
	$(BIN)/python bench/broker_fanout.py

sample: $(STAMP)
	$(BIN)/python scripts/make_sample.py

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache
