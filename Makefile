# Two commands do all the set-up: `make run` and `make test`.
# Both create .venv with a Python >= 3.12 (PATH first, then pyenv) and install what they need.

VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RULES ?= rules.example.yaml

.PHONY: run test lint mutation venv clean image image-base

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	scripts/system-deps build
	@python=$$(scripts/find-python) || exit 1; \
	  test -x $(BIN)/python || "$$python" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

run: $(INSTALLED)
	$(BIN)/aiwall run --rules $(RULES)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/aiwall check --strict --rules rules.example.yaml --policies policies > /dev/null

test: $(INSTALLED)
	scripts/system-deps
	$(MAKE) lint
	$(BIN)/python -m pytest

# The container image, localhost/aiwall:<version> (deploy/GUIDE.md, "Container image"):
# `make image` with the base image from a registry, or, where no container registry is
# reachable, `make image-base` then `make image PYTHON_IMAGE=localhost/aiwall-base:trixie`.
image:
	scripts/build-image

image-base:
	scripts/build-base

# Not part of `make test`: mutmut over the decision core, against its fast unit tests
# (bench/README.md says what it measures). JOBS=1 on a busy machine.
JOBS ?= 2
mutation: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/python scripts/mutation.py --jobs $(JOBS)

clean:
	rm -rf $(VENV) test-output .pytest_cache .mypy_cache .ruff_cache .hypothesis build/mutation
