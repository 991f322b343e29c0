# Thin wrappers: every target calls an invoke task in tasks.py inside .venv.
PYTHON ?= python3
VENV ?= .venv
INVOKE := $(VENV)/bin/invoke

.PHONY: help demo test bench proto venv clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	@echo "make: creating $(VENV) with $(PYTHON) (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

# The demo needs Wharf's runtime and invoke only; the test tools and every server's libraries
# (scikit-learn, XGBoost, MLflow, ...) come with `make venv` / `make test`.
$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	@echo "make: installing Wharf's runtime and invoke into $(VENV) for the demo (first run only, about a minute)"
	$(VENV)/bin/pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	@echo "make: installing Wharf, every extra and the test tools into $(VENV) (first run only, several minutes)"
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv with Wharf and its test tools

demo: $(VENV)/.demo-installed ## run the example graph on this machine, no cluster (transformer, bandit router, two models) and print its answers
	$(INVOKE) demo

test: venv ## run all tests (unit, integration, parity with seldon-core 1.19.0)
	$(INVOKE) test

bench: venv ## benchmark against seldon-core 1.19.0 (needs wrk)
	$(INVOKE) bench

proto: venv ## regenerate the protobuf stubs
	$(INVOKE) proto

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .hypothesis
