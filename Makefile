# The commands of the README. `make run` and `make test` do all set-up on a fresh machine: a small
# tool environment with uv (.tools/), then the project environment (.venv/) exactly as locked in
# uv.lock, quietly. `make reset` puts `make run`'s demo back to the start.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv
# The interpreter itself, not a shim (pyenv's): uv rebuilds a venv whose base is another path.
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

# `make run`'s demo lives in the data directory (KBX_DATA_DIR, default ./var). The story it told
# is kept there: a later `make run` prints it again and goes straight to serving, until the
# schema or the reference recipients change, or `make reset` puts the demo back to the start.
DATA_DIR := $(or $(KBX_DATA_DIR),var)
STORY := $(DATA_DIR)/demo/story.txt
STORY_INPUTS := $(wildcard migrations/versions/*.py exchange/recipients.py) \
	$(shell find app -name '*.csv' 2>/dev/null)
# What `make run` writes into the data directory (the demo, and app/wiring.py's files).
DEMO_STATE := kbx.sqlite3 kbx.sqlite3-* demo drop locks mail-outbox sms-outbox.jsonl \
	service.key pseudonym.key sftp_host_ed25519

.PHONY: run reset test env lint bench FORCE

$(UV):
	@echo "kbx: installing uv $(UV_VERSION) in .tools/"
	@$(PYTHON) -m venv .tools
	@.tools/bin/pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

# Byte-compiled at install (uv's --compile-bytecode), and kbx's own modules before each use: with
# PYTHONDONTWRITEBYTECODE set (as on the agency's machines and CI), Python would otherwise compile
# typer & co. from source at every start of `kbx` (0.8 s instead of 0.3 s for `kbx --help`).
.venv/.synced: $(UV) pyproject.toml uv.lock
	@echo "kbx: installing the locked environment in .venv/"
	@$(UV) sync --locked --quiet --compile-bytecode
	@touch $@

# axe-core for the browser tests (tests/test_browser.py), exactly as locked in
# tests/browser/package-lock.json, by `make test` (not `make run`); the tests skip without it (or
# without Debian's chromium).
AXE := tests/browser/node_modules/axe-core/axe.min.js
# When missing (npm stamps its files with the tarball's date, so no date rule).
$(AXE):
	@if command -v npm >/dev/null; then npm ci --prefix tests/browser --silent; \
	else echo "kbx: npm not found; the browser tests' accessibility scans will skip"; fi

env: .venv/.synced
	@.venv/bin/python -m compileall -q -j 0 app exchange crypto channels >/dev/null

# The kept story stands for the SQLite database beside it: without that file, or with another
# database, the setup runs (and the story is told) every time, as before.
ifneq ($(KBX_DATABASE_URL),)
$(STORY): FORCE
endif
ifeq ($(wildcard $(DATA_DIR)/kbx.sqlite3),)
$(STORY): FORCE
endif
# The story names the SFTP drop's address (its commands, its known_hosts line) and the console's:
# told with other settings, it would send a person to the wrong port.
STORY_SETTINGS := KBX_SFTP_HOST=$(KBX_SFTP_HOST) KBX_SFTP_PORT=$(KBX_SFTP_PORT) \
	KBX_HTTP_HOST=$(KBX_HTTP_HOST) KBX_HTTP_PORT=$(KBX_HTTP_PORT)
ifneq ($(STORY_SETTINGS),$(shell cat '$(STORY).settings' 2>/dev/null))
$(STORY): FORCE
endif

$(STORY): $(STORY_INPUTS) | .venv/.synced
	@.venv/bin/kbx db upgrade
	@.venv/bin/kbx demo seed --persons 5000 --seed 1 --if-empty
	@mkdir -p $(@D)
	@.venv/bin/kbx demo story > $@.new
	@echo '$(STORY_SETTINGS)' > $@.settings
	@mv $@.new $@

run: env $(STORY)
	@cat $(STORY)
	@.venv/bin/kbx serve

# Stop `make run` first: this deletes its database, the demo's keys and files, the drop, the
# outboxes and the dev keys, so that the next `make run` tells the whole story again. Only those
# names, only in the data directory; .venv/ and .tools/ stay.
reset:
ifneq ($(KBX_DATABASE_URL),)
	$(error make reset clears the SQLite demo in $(DATA_DIR); KBX_DATABASE_URL names another database)
endif
ifeq ($(KBX_ENV),production)
	$(error make reset is for the demo; KBX_ENV is production)
endif
	@if [ -d '$(DATA_DIR)' ]; then cd '$(DATA_DIR)' && rm -rf -- $(DEMO_STATE); fi
	@rmdir '$(DATA_DIR)' 2>/dev/null || true
	@echo "kbx: demo reset; the next 'make run' tells the whole story again"

lint: env
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

test: lint $(AXE)
	.venv/bin/pytest

# The annual round at 1,000,000 persons takes about five minutes with its seed and its baseline:
# `make bench BENCH_PERSONS=1000000` for the figures of the issue.
BENCH_PERSONS ?= 200000
bench: env
	.venv/bin/python -m bench.cli_startup
	@command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey >/dev/null; }
	.venv/bin/python -m bench.console
	.venv/bin/python -m bench.import_and_select
	.venv/bin/python -m bench.annual_run --persons $(BENCH_PERSONS)
