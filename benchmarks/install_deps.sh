#!/usr/bin/env bash
# Install the system and Python dependencies needed only by the benchmarks.
#
# Idempotent: safe to run repeatedly; each step is skipped when already done.
#
#     bash benchmarks/install_deps.sh [PYTHON]
#
# PYTHON defaults to $PYTHON, then the active virtualenv, then <repo>/.venv.
#
# numbalsoda install route (documented as the brief asks)
# --------------------------------------------------------
# PyPI has no numbalsoda 0.3.4 wheel for Linux/CPython 3.11 (only the sdist),
# so pip builds it from source.  Its build is scikit-build (classic) + CMake +
# Ninja, compiling LSODA (C++) and DOP853 (Fortran) into plain shared libraries
# that the package loads with ctypes.  Consequences:
#   * gfortran is required (the CMake project declares LANGUAGES Fortran CXX);
#     it comes from Debian's `gfortran` package.
#   * numpy is NOT a build dependency (no C-API extension is compiled), so there
#     is no numpy-1 vs numpy-2 ABI issue: the package's pure-Python drivers
#     (numba @njit wrappers around ctypes) work unchanged with numpy 2.x.
#   * We build *with* build isolation (pip's default): pip fetches setuptools,
#     wheel, scikit-build, cmake>=3.18 and ninja as binary wheels from PyPI into a
#     throw-away build env, so the venv itself is not modified by the build.
#   * Fallback (if the isolated build fails, or BENCH_DEPS_NO_ISOLATION=1): the
#     same build requirements are pip-installed into the venv and numbalsoda is
#     built with --no-build-isolation.
#   * --no-deps is used for numbalsoda so pip never tries to change the venv's
#     numpy/numba pins (its install_requires is just unpinned numpy, numba).
# The version is pinned for reproducible benchmark numbers.
set -euo pipefail

NUMBALSODA_VERSION="0.3.4"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

# --- Python environment -----------------------------------------------------
# Interpreter: first argument (`make bench` passes $(VENV)/bin/python), else $PYTHON, else the
# active virtualenv's python, else the repo's .venv.
if [[ $# -ge 1 && -n "$1" ]]; then
    PY="$1"
elif [[ -n "${PYTHON:-}" ]]; then
    PY="$PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    PY="$VIRTUAL_ENV/bin/python"
elif [[ -x "$repo/.venv/bin/python" ]]; then
    PY="$repo/.venv/bin/python"
else
    echo "install_deps.sh: no interpreter given, no active virtualenv and no $repo/.venv" >&2
    exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
    echo "install_deps.sh: warning: $PY is not inside a virtualenv" >&2
fi
echo "install_deps.sh: using $("$PY" -c 'import sys; print(sys.executable)')"

# --- System packages --------------------------------------------------------
if ! command -v gfortran >/dev/null 2>&1; then
    echo "install_deps.sh: gfortran missing -> apt-get install gfortran"
    if [[ "$(id -u)" -ne 0 ]]; then
        echo "install_deps.sh: need root to apt-get install gfortran" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq gfortran
else
    echo "install_deps.sh: gfortran present ($(command -v gfortran))"
fi
if ! command -v g++ >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq g++
fi

# --- Python packages (bench-only) -------------------------------------------
# Runtime deps of the benchmarks that the library itself does not need.
if ! "$PY" -c 'import numpy, scipy, numba' >/dev/null 2>&1; then
    "$PY" -m pip install -q numpy scipy numba
fi

have_numbalsoda() {
    "$PY" - "$NUMBALSODA_VERSION" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
assert version("numbalsoda") == sys.argv[1]
import numbalsoda  # loads liblsoda.so through ctypes
PYEOF
}

if have_numbalsoda; then
    echo "install_deps.sh: numbalsoda $NUMBALSODA_VERSION already installed"
else
    echo "install_deps.sh: building numbalsoda $NUMBALSODA_VERSION from source"
    if [[ "${BENCH_DEPS_NO_ISOLATION:-0}" != "1" ]] && "$PY" -m pip install --no-deps \
        --no-binary numbalsoda "numbalsoda==$NUMBALSODA_VERSION"; then
        :
    else
        # Fallback: put the build requirements (pyproject.toml [build-system]) into the venv
        # and build without isolation.  Forced with BENCH_DEPS_NO_ISOLATION=1.
        echo "install_deps.sh: isolated build skipped/failed -> building without isolation"
        "$PY" -m pip install -q "setuptools>=42" wheel scikit-build "cmake>=3.18" ninja
        "$PY" -m pip install --no-deps --no-build-isolation --no-binary numbalsoda \
            "numbalsoda==$NUMBALSODA_VERSION"
    fi
    have_numbalsoda || { echo "install_deps.sh: numbalsoda did not install" >&2; exit 1; }
fi

# --- Smoke test: integrate dy/dt = -y with a numba cfunc and check the result.
"$PY" - <<'PYEOF'
import numpy as np
import numba as nb
from numbalsoda import lsoda, lsoda_sig

@nb.cfunc(lsoda_sig)
def _rhs(t, u, du, p):
    du[0] = -u[0]

u, ok = lsoda(_rhs.address, np.array([1.0]), np.array([0.0, 1.0]),
              rtol=1e-10, atol=1e-12)
assert ok and abs(u[-1, 0] - np.exp(-1.0)) < 1e-8, (ok, u)
print(f"install_deps.sh: numbalsoda OK (numpy {np.__version__}, numba {nb.__version__})")
PYEOF
