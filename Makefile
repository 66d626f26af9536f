# bayescmoe: `make demo` builds .venv and runs the flagship model; `make test` builds it and runs the tests;
# `make docs` builds the documentation site into site/ (MkDocs, warnings are errors).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the peers benchmark's own environment: PyMC, nutpie and numba (the optional extra "peers"), never in .venv
PEERS_VENV := benchmarks/.venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_STAMP := $(PEERS_VENV)/.installed
PEERS_ARGS ?=

.PHONY: venv demo test test-fast docs lint bench bench-peers clean

venv: $(STAMP)

# $(call build_venv,DIR,EXTRA): a venv in DIR from the Python .ci/find-python finds, the package with EXTRA
define build_venv
	@PYTHON=$$(sh .ci/find-python) || exit 1; \
	echo "building $(1) with $$PYTHON"; \
	"$$PYTHON" -m venv $(1) && \
	$(1)/bin/python -m pip install --quiet --upgrade pip && \
	$(1)/bin/python -m pip install --quiet -e ".[$(2)]"
	@touch $(1)/.installed
endef

$(STAMP): pyproject.toml
	$(call build_venv,$(VENV),dev)

demo: $(STAMP)
	$(PY) models/p2_distinguishable.py --out results

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist worksteal

# the loop while working: ruff and every test not marked slow (the whole suite stays make test, what CI runs)
test-fast: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist worksteal -m "not slow"

# the documentation site (mkdocs.yml): a broken link or a public name without a docstring fails the build
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/time_models.py

$(PEERS_STAMP): pyproject.toml
	$(call build_venv,$(PEERS_VENV),peers)

# NUTS against nutpie and hand-written NumPyro (benchmarks/peers.py); e.g. make bench-peers PEERS_ARGS=--quick
bench-peers: $(PEERS_STAMP)
	$(PEERS_PY) benchmarks/peers.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV) $(PEERS_VENV) results site .pytest_cache .ruff_cache
