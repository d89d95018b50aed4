# phystwin: `make demo` and `make test` each set everything up on a fresh machine.
VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: venv sysdeps demo test lint bench clean

# System packages the tests need: a real mosquitto broker (MQTT tests start their own on 127.0.0.1).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
sysdeps:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || \
		( $(SUDO) apt-get update -q && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -q mosquitto )

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/phystwin demo --out-dir out/demo

test: $(STAMP) sysdeps
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	bash benchmarks/install_deps.sh $(PY)
	$(PY) benchmarks/bench_solvers.py --repeats 5
	$(PY) benchmarks/bench_rhs.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_compile.py
	$(PY) benchmarks/bench_estimation.py --repeats 5
	$(PY) benchmarks/bench_fmu_me.py --repeats 5
	$(PY) benchmarks/bench_fmu_cosim.py --repeats 7
	$(PY) benchmarks/bench_live.py

clean:
	rm -rf $(VENV) out .pytest_cache
