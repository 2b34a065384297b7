# The two commands of the README. Both do all set-up on a fresh machine: a small tool environment
# with uv (.tools/), then the project environment (.venv/) exactly as locked in uv.lock.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: run test env lint bench

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

env: .venv/.synced

run: env
	.venv/bin/kbx db upgrade
	.venv/bin/kbx demo seed --persons 5000 --seed 1 --if-empty
	.venv/bin/kbx demo story
	.venv/bin/kbx serve

lint: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint
	.venv/bin/pytest

# The annual round at 1,000,000 persons takes about five minutes with its seed and its baseline:
# `make bench BENCH_PERSONS=1000000` for the figures of the issue.
BENCH_PERSONS ?= 200000
bench: env
	.venv/bin/python -m bench.import_and_select
	.venv/bin/python -m bench.annual_run --persons $(BENCH_PERSONS)
