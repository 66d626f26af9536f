# bayescmoe: `make demo` builds .venv and runs the flagship model; `make test` builds it and runs the tests.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@PYTHON=$$(sh .ci/find-python) || exit 1; \
	echo "building $(VENV) with $$PYTHON"; \
	"$$PYTHON" -m venv $(VENV) && \
	$(PY) -m pip install --quiet --upgrade pip && \
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) models/p2_distinguishable.py --out results

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n auto --maxprocesses=4 --dist worksteal

bench: $(STAMP)
	$(PY) benchmarks/time_models.py

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
