# phystwin: `make demo` and `make test` each set everything up on a fresh machine.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/phystwin demo --out-dir out/demo

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	bash benchmarks/install_deps.sh $(PY)
	$(PY) benchmarks/bench_solvers.py --repeats 5
	$(PY) benchmarks/bench_rhs.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_estimation.py --repeats 5

clean:
	rm -rf $(VENV) out .pytest_cache
