"""Reference definition of the DC-motor benchmark model, independent of ``phystwin``.

Everything the benchmark peers need is here, written by hand from the governing equations:

* the nominal parameters and the two variants (``"nonstiff"``: L = 5e-3 H, ``"stiff"``: L = 5e-5 H);
* the duty cycle (piecewise-constant inputs) and the segmentwise save grid;
* :func:`rhs_py` -- a plain-Python right-hand side ``f(t, x, u)`` for :func:`scipy.integrate.solve_ivp`;
* :func:`rhs_nb` -- the *hand-written compiled right-hand side* ``rhs(t, x, u, p, dx)`` over a flat
  float64 parameter vector: the figure of merit the composed phystwin rhs is compared against;
* :data:`rhs_cfunc` -- a numbalsoda ``cfunc`` (inputs and parameters passed through the data pointer);
* :func:`reference_solution` -- a high-accuracy solution (scipy DOP853 / Radau at rtol = atol = 1e-12,
  segment by segment), cached in ``benchmarks/.cache/reference_<variant>.npz``.

State ``x = [i, phi, w, T_w, T_s, T_h]`` (A, rad, rad/s, K, K, K); input ``u = [V, tau_load, T_amb]``
(V, N m, K)::

    R(T_w)      = R_ref (1 + alpha (T_w - T_ref))
    L di/dt     = V - R(T_w) i - k w
    dphi/dt     = w
    J dw/dt     = k i - b w - tau_c tanh(w / w_c) - tau_load
    C_w dT_w/dt = R(T_w) i^2 - (T_w - T_s) / R_ws
    C_s dT_s/dt = (T_w - T_s) / R_ws - (T_s - T_h) / R_sh
    C_h dT_h/dt = (T_s - T_h) / R_sh + b w^2 + tau_c tanh(w / w_c) w - h A (T_h - T_amb)

Run ``python benchmarks/motor_reference.py [--force]`` to (re)build and check the cached references.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE / ".cache"

# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------

PARAM_NAMES: tuple[str, ...] = (
    "R_ref", "alpha", "T_ref", "L", "k", "J", "b", "tau_c", "w_c",
    "C_w", "C_s", "C_h", "R_ws", "R_sh", "h", "A",
)  # fmt: skip
"""Order of the flat parameter vector used by :func:`rhs_nb` and :data:`rhs_cfunc`."""

(P_R_REF, P_ALPHA, P_T_REF, P_L, P_K, P_J, P_B, P_TAU_C, P_W_C,
 P_C_W, P_C_S, P_C_H, P_R_WS, P_R_SH, P_H, P_A) = range(len(PARAM_NAMES))  # fmt: skip
N_PARAMS = len(PARAM_NAMES)

NOMINAL: dict[str, float] = {
    "R_ref": 0.5,  # ohm
    "alpha": 3.93e-3,  # 1/K
    "T_ref": 293.15,  # K
    "L": 5.0e-3,  # H (non-stiff: L/R = 1e-2 s)
    "k": 0.05,  # N m/A = V s/rad
    "J": 1.0e-4,  # kg m^2
    "b": 1.0e-5,  # N m s/rad
    "tau_c": 0.01,  # N m
    "w_c": 1.0,  # rad/s
    "C_w": 50.0,  # J/K
    "C_s": 300.0,  # J/K
    "C_h": 800.0,  # J/K
    "R_ws": 0.5,  # K/W
    "R_sh": 0.3,  # K/W
    "h": 25.0,  # W/(m^2 K)
    "A": 0.04,  # m^2
}

STATE_NAMES: tuple[str, ...] = ("i", "phi", "w", "T_w", "T_s", "T_h")
INPUT_NAMES: tuple[str, ...] = ("V", "tau_load", "T_amb")
N_STATES = len(STATE_NAMES)
N_INPUTS = len(INPUT_NAMES)

T0 = 298.15
X0 = np.array([0.0, 0.0, 0.0, T0, T0, T0])
"""Initial state: at rest, all temperatures at 298.15 K."""

V_SUPPLY = 24.0
T_AMB = T0
LOAD_STEPS: tuple[float, ...] = (0.0, 0.3, 0.1, 0.5, 0.2)
"""Load torque sequence [N m], cycled, one value per duty-cycle segment."""

# Uniform scalar tolerances for every benchmarked solver.  All states are O(1) or larger in SI units
# (A, rad, rad/s, K), so a single atol is a sensible scale, and numbalsoda's lsoda accepts only a
# scalar atol: keeping scipy on the same scalar keeps the comparison like-for-like.
RTOL = 1e-6
ATOL = 1e-8
REF_TOL = 1e-12


@dataclass(frozen=True)
class Variant:
    name: str
    L: float  # armature inductance [H]
    segment: float  # duration of one duty-cycle segment [s]
    t_end: float  # simulated time [s]
    save_dt: float  # save interval [s]
    ref_method: str  # scipy method for the reference solution

    @property
    def n_segments(self) -> int:
        return round(self.t_end / self.segment)

    @property
    def saves_per_segment(self) -> int:
        return round(self.segment / self.save_dt)


VARIANTS: dict[str, Variant] = {
    "nonstiff": Variant("nonstiff", L=5.0e-3, segment=10.0, t_end=100.0, save_dt=1.0, ref_method="DOP853"),
    "stiff": Variant("stiff", L=5.0e-5, segment=300.0, t_end=3600.0, save_dt=10.0, ref_method="Radau"),
}


def get_variant(variant: str | Variant) -> Variant:
    return variant if isinstance(variant, Variant) else VARIANTS[variant]


def params(variant: str | Variant = "nonstiff") -> dict[str, float]:
    """Parameter dict of a variant."""
    v = get_variant(variant)
    p = dict(NOMINAL)
    p["L"] = v.L
    return p


def param_vector(variant: str | Variant = "nonstiff") -> np.ndarray:
    """Flat float64 parameter vector in :data:`PARAM_NAMES` order."""
    p = params(variant)
    return np.array([p[n] for n in PARAM_NAMES], dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# Duty cycle and save grid
# --------------------------------------------------------------------------------------------------


def segments(variant: str | Variant) -> list[tuple[float, float, np.ndarray]]:
    """``[(t0, t1, u), ...]``: piecewise-constant input segments covering ``[0, t_end]``."""
    v = get_variant(variant)
    out = []
    for s in range(v.n_segments):
        u = np.array([V_SUPPLY, LOAD_STEPS[s % len(LOAD_STEPS)], T_AMB])
        out.append((s * v.segment, (s + 1) * v.segment, u))
    return out


def segment_inputs(variant: str | Variant) -> np.ndarray:
    """Inputs as an ``(n_segments, N_INPUTS)`` array (row s applies on ``[s*segment, (s+1)*segment)``)."""
    return np.array([u for _, _, u in segments(variant)])


def segment_edges(variant: str | Variant) -> np.ndarray:
    """Breakpoints ``[0, segment, 2*segment, ..., t_end]``."""
    v = get_variant(variant)
    return np.arange(v.n_segments + 1) * v.segment


def save_times(variant: str | Variant) -> np.ndarray:
    """Save grid ``0, save_dt, ..., t_end`` (inclusive), ``n_segments * saves_per_segment + 1`` points."""
    v = get_variant(variant)
    n = v.n_segments * v.saves_per_segment
    return np.arange(n + 1) * v.save_dt


def segment_save_times(variant: str | Variant, s: int) -> np.ndarray:
    """Save times of segment ``s``, including both of its end points."""
    v = get_variant(variant)
    m = v.saves_per_segment
    return (s * m + np.arange(m + 1)) * v.save_dt


# --------------------------------------------------------------------------------------------------
# Right-hand sides
# --------------------------------------------------------------------------------------------------


def make_rhs_py(variant: str | Variant = "nonstiff"):
    """Plain-Python ``f(t, x, u) -> ndarray`` with the variant's parameters bound (for scipy).

    Scalar arithmetic in ``math`` (faster than NumPy ufuncs on scalars); this is the typical
    "Python rhs" a scipy user would write.
    """
    p = params(variant)
    R_ref, alpha, T_ref, L, k, J = p["R_ref"], p["alpha"], p["T_ref"], p["L"], p["k"], p["J"]
    b, tau_c, w_c = p["b"], p["tau_c"], p["w_c"]
    C_w, C_s, C_h, R_ws, R_sh, hA = p["C_w"], p["C_s"], p["C_h"], p["R_ws"], p["R_sh"], p["h"] * p["A"]
    tanh = math.tanh
    array = np.array

    def rhs_py(t, x, u):
        i, _phi, w, T_w, T_s, T_h = x
        V, tau_load, T_amb = u
        R = R_ref * (1.0 + alpha * (T_w - T_ref))
        fc = tau_c * tanh(w / w_c)
        q_ws = (T_w - T_s) / R_ws
        q_sh = (T_s - T_h) / R_sh
        return array(
            [
                (V - R * i - k * w) / L,
                w,
                (k * i - b * w - fc - tau_load) / J,
                (R * i * i - q_ws) / C_w,
                (q_ws - q_sh) / C_s,
                (q_sh + b * w * w + fc * w - hA * (T_h - T_amb)) / C_h,
            ]
        )

    return rhs_py


def make_jac_py(variant: str | Variant = "nonstiff"):
    """Analytic Jacobian ``J(t, x, u)`` of :func:`make_rhs_py` (used by the Radau reference only)."""
    p = params(variant)
    R_ref, alpha, T_ref, L, k, J = p["R_ref"], p["alpha"], p["T_ref"], p["L"], p["k"], p["J"]
    b, tau_c, w_c = p["b"], p["tau_c"], p["w_c"]
    C_w, C_s, C_h, R_ws, R_sh, hA = p["C_w"], p["C_s"], p["C_h"], p["R_ws"], p["R_sh"], p["h"] * p["A"]

    def jac_py(t, x, u):
        i, _phi, w, T_w, _T_s, _T_h = x
        R = R_ref * (1.0 + alpha * (T_w - T_ref))
        th = math.tanh(w / w_c)
        dfc_dw = tau_c * (1.0 - th * th) / w_c
        jm = np.zeros((6, 6))
        jm[0, 0] = -R / L
        jm[0, 2] = -k / L
        jm[0, 3] = -R_ref * alpha * i / L
        jm[1, 2] = 1.0
        jm[2, 0] = k / J
        jm[2, 2] = (-b - dfc_dw) / J
        jm[3, 0] = 2.0 * R * i / C_w
        jm[3, 3] = (R_ref * alpha * i * i - 1.0 / R_ws) / C_w
        jm[3, 4] = 1.0 / (R_ws * C_w)
        jm[4, 3] = 1.0 / (R_ws * C_s)
        jm[4, 4] = (-1.0 / R_ws - 1.0 / R_sh) / C_s
        jm[4, 5] = 1.0 / (R_sh * C_s)
        jm[5, 2] = (2.0 * b * w + tau_c * th + w * dfc_dw) / C_h
        jm[5, 4] = 1.0 / (R_sh * C_h)
        jm[5, 5] = (-1.0 / R_sh - hA) / C_h
        return jm

    return jac_py


# Same compilation policy as phystwin's own kernels (src/phystwin/_jit.py): cached, numpy error
# model, no fastmath -- so the comparison with the composed rhs is like-for-like.
_JIT = {"cache": True, "error_model": "numpy", "fastmath": False}


@numba.njit(**_JIT)
def rhs_nb(t, x, u, p, dx):
    """Hand-written compiled rhs: ``dx <- f(t, x, u; p)``; ``p`` in :data:`PARAM_NAMES` order."""
    i = x[0]
    w = x[2]
    T_w = x[3]
    T_s = x[4]
    T_h = x[5]
    V = u[0]
    tau_load = u[1]
    T_amb = u[2]
    R = p[0] * (1.0 + p[1] * (T_w - p[2]))
    fc = p[7] * math.tanh(w / p[8])
    q_ws = (T_w - T_s) / p[12]
    q_sh = (T_s - T_h) / p[13]
    dx[0] = (V - R * i - p[4] * w) / p[3]
    dx[1] = w
    dx[2] = (p[4] * i - p[6] * w - fc - tau_load) / p[5]
    dx[3] = (R * i * i - q_ws) / p[9]
    dx[4] = (q_ws - q_sh) / p[10]
    dx[5] = (q_sh + p[6] * w * w + fc * w - p[14] * p[15] * (T_h - T_amb)) / p[11]


# numbalsoda data-pointer layout: [u (3) | rhs call counter (1) | p (N_PARAMS)].
DATA_U = 0
DATA_COUNT = N_INPUTS
DATA_P = N_INPUTS + 1
DATA_LEN = DATA_P + N_PARAMS


def make_data(u: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Pack inputs and parameters into the numbalsoda data array (counter starts at zero)."""
    d = np.zeros(DATA_LEN)
    d[DATA_U : DATA_U + N_INPUTS] = u
    d[DATA_P:] = p
    return d


def _make_cfunc():
    try:
        from numbalsoda import lsoda_sig
    except ImportError:  # numbalsoda not installed: run benchmarks/install_deps.sh
        return None

    @numba.cfunc(lsoda_sig, **_JIT)
    def rhs_cfunc(t, x, dx, data):
        # Same arithmetic as rhs_nb; inputs and parameters come from the data pointer.  data[3]
        # counts rhs calls (one store per call, negligible next to the tanh).
        i = x[0]
        w = x[2]
        T_w = x[3]
        T_s = x[4]
        T_h = x[5]
        V = data[0]
        tau_load = data[1]
        T_amb = data[2]
        data[3] += 1.0
        R = data[4] * (1.0 + data[5] * (T_w - data[6]))
        fc = data[11] * math.tanh(w / data[12])
        q_ws = (T_w - T_s) / data[16]
        q_sh = (T_s - T_h) / data[17]
        dx[0] = (V - R * i - data[8] * w) / data[7]
        dx[1] = w
        dx[2] = (data[8] * i - data[10] * w - fc - tau_load) / data[9]
        dx[3] = (R * i * i - q_ws) / data[13]
        dx[4] = (q_ws - q_sh) / data[14]
        dx[5] = (q_sh + data[10] * w * w + fc * w - data[18] * data[19] * (T_h - T_amb)) / data[15]

    return rhs_cfunc


rhs_cfunc = _make_cfunc()
"""numbalsoda ``cfunc`` rhs (``None`` if numbalsoda is not installed); pass ``rhs_cfunc.address``."""

assert DATA_P == 4 and P_L == 3 and P_A == 15  # the literal indices in rhs_cfunc rely on this


# --------------------------------------------------------------------------------------------------
# High-accuracy reference
# --------------------------------------------------------------------------------------------------


def _solve_reference(v: Variant) -> tuple[np.ndarray, np.ndarray, dict]:
    from scipy.integrate import solve_ivp

    f = make_rhs_py(v)
    jac = make_jac_py(v)
    t_all = save_times(v)
    X = np.empty((t_all.size, N_STATES))
    X[0] = X0
    x = X0.copy()
    m = v.saves_per_segment
    nfev = 0
    t_start = time.perf_counter()
    for s, (t0, t1, u) in enumerate(segments(v)):
        te = segment_save_times(v, s)
        kw = {"jac": jac} if v.ref_method in ("Radau", "BDF", "LSODA") else {}
        sol = solve_ivp(f, (t0, t1), x, method=v.ref_method, t_eval=te, args=(u,), rtol=REF_TOL, atol=REF_TOL, **kw)
        if not sol.success:
            raise RuntimeError(f"reference solve failed in segment {s}: {sol.message}")
        X[s * m + 1 : (s + 1) * m + 1] = sol.y[:, 1:].T
        x = sol.y[:, -1].copy()
        nfev += sol.nfev
    info = {
        "method": v.ref_method,
        "rtol": REF_TOL,
        "atol": REF_TOL,
        "nfev": nfev,
        "seconds": time.perf_counter() - t_start,
    }
    return t_all, X, info


def reference_solution(variant: str | Variant = "nonstiff", force: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(t, X)`` of the high-accuracy reference on the save grid; cached in ``.cache/``."""
    v = get_variant(variant)
    path = CACHE_DIR / f"reference_{v.name}.npz"
    p = param_vector(v)
    t_expected = save_times(v)
    if path.exists() and not force:
        with np.load(path) as z:
            ok = (
                z["p"].shape == p.shape
                and np.array_equal(z["p"], p)
                and np.array_equal(z["t"], t_expected)
                and np.array_equal(z["u"], segment_inputs(v))
                and np.array_equal(z["x0"], X0)
                and str(z["method"]) == v.ref_method
                and float(z["tol"]) == REF_TOL
            )
            if ok:
                return z["t"].copy(), z["X"].copy()
    t, X, info = _solve_reference(v)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(
        path, t=t, X=X, p=p, u=segment_inputs(v), x0=X0, method=v.ref_method, tol=REF_TOL,
        nfev=info["nfev"], seconds=info["seconds"],
    )  # fmt: skip
    return t, X


def max_rel_error(X: np.ndarray, X_ref: np.ndarray) -> float:
    """max over saves and states of ``|X - X_ref| / max(|X_ref|, 1)`` (elementwise scale)."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape != X_ref.shape:
        raise ValueError(f"shape mismatch: {X.shape} vs reference {X_ref.shape}")
    return float(np.max(np.abs(X - X_ref) / np.maximum(np.abs(X_ref), 1.0)))


def _main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="recompute the cached references")
    args = ap.parse_args()
    for name, v in VARIANTS.items():
        t0 = time.perf_counter()
        t, X = reference_solution(v, force=args.force)
        dt = time.perf_counter() - t0
        # cross-check: the compiled rhs agrees with the Python rhs along the reference trajectory
        f = make_rhs_py(v)
        p = param_vector(v)
        dx = np.empty(N_STATES)
        worst = 0.0
        for tt, x in zip(t, X, strict=True):
            s = min(int(tt // v.segment), v.n_segments - 1)
            u = segment_inputs(v)[s]
            rhs_nb(tt, x, u, p, dx)
            ref = f(tt, x, u)
            worst = max(worst, float(np.max(np.abs(dx - ref) / np.maximum(np.abs(ref), 1.0))))
        print(f"{name:9s} {v.ref_method:6s} {X.shape} in {dt:7.2f} s; final x = {np.array2string(X[-1], precision=6)}")
        print(f"{'':9s} rhs_nb vs rhs_py along trajectory: max rel diff {worst:.1e}")


if __name__ == "__main__":
    _main()
