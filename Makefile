# Slipway: `make run` starts the demo stack, `make test` runs every test.
# Each target first installs what it needs (sandbox/bootstrap.py), then calls one script.

PYTHON ?= python3
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST := $(VENV)/bin/python -m pytest

.PHONY: run test test-fast lint bootstrap clean

run:
	@$(PYTHON) sandbox/bootstrap.py run
	@$(VENV)/bin/python -m sandbox.stack run

test: bootstrap
	$(PYTEST)

test-fast: bootstrap
	$(PYTEST) -m "not slow and not browser"

lint:
	@$(PYTHON) sandbox/bootstrap.py run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bootstrap:
	@$(PYTHON) sandbox/bootstrap.py test

# Removes the demo's state (database, registry storage, sandbox cluster), not .venv.
clean:
	rm -rf .run instance .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
