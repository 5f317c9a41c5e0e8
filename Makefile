# Rempart: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Appeal links and the printed addresses use the port the demo really serves on.
DEMO_ENV := REMPART_DEMO=1 REMPART_PUBLIC_URL=http://$(HOST):$(PORT)

.PHONY: install demo test test-fast lint bench clean verifier

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip

# The lock pins every package; the project itself is installed without touching them.
$(VENV)/.installed: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

demo: install
	@mkdir -p var
# The server starts before the seed, which takes minutes on a busy machine: the console and
# the API answer first, and the demo sign-ins work as soon as the seed prints them. Its
# first process writes the demo keys and creates the database (from the schema snapshot,
# in milliseconds) before handing over to uvicorn, without importing the rest of the CLI:
# on a busy machine each command started was seconds before serving. The seed waits for
# the server's first answer so as not to take the CPU its processes start with.
	@echo "Serving on http://$(HOST):$(PORT), then seeding the demo data; the worker starts after (log in var/worker.log)"
	@$(DEMO_ENV) $(BIN)/rempart serve --demo-setup --host $(HOST) --port $(PORT) & server=$$!; worker=; \
	  trap 'kill $$server $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/python scripts/wait_for_http.py http://$(HOST):$(PORT)/healthz $$server || exit 1; \
	  $(DEMO_ENV) $(BIN)/rempart demo seed || exit 1; \
	  $(DEMO_ENV) $(BIN)/rempart worker > var/worker.log 2>&1 & worker=$$!; \
	  wait $$server

test: install
	@bash scripts/ensure-chromium.sh
	$(BIN)/pytest -n 2 --dist loadgroup

# The quick loop: no test that starts a server, worker, browser or homeserver process.
test-fast: install
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports --no-cache

# The standalone transparency verifier (standard library and `cryptography` only).
verifier: install
	$(BIN)/python -c 'from pathlib import Path; from rempart.transparency.bundle import write; write(Path("verify_report.py"))'

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .venv-synapse var .pytest_cache .mypy_cache .ruff_cache
