# Thin wrappers: every target calls an invoke task in tasks.py inside .venv.
PYTHON ?= python3
VENV ?= .venv
INVOKE := $(VENV)/bin/invoke

.PHONY: help demo test bench proto venv clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv with Wharf and its test tools

demo: venv ## serve the example model locally and print its answers
	$(INVOKE) demo

test: venv ## run all tests (unit, integration, parity with seldon-core 1.19.0)
	$(INVOKE) test

bench: venv ## benchmark against seldon-core 1.19.0 (needs wrk)
	$(INVOKE) bench

proto: venv ## regenerate the protobuf stubs
	$(INVOKE) proto

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis
