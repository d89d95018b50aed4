"""Co-simulation master: FMUs (co-simulation) and native phystwin models coupled at fixed macro steps.

Every unit is advanced from :math:`t_k` to :math:`t_{k+1} = t_0 + (k + 1) H` with its inputs held
(zero-order hold). Inputs come from connections ``"unit.output" -> "unit.input"`` and from external inputs:

* **Jacobi** (``method="jacobi"``): every unit reads the outputs at :math:`t_k`,
  :math:`u_i(t) = y_j(t_k)` on :math:`[t_k, t_{k+1})`; the units could run in parallel.
* **Gauss-Seidel** (``method="gauss_seidel"``): units are stepped in ``order``; each one reads the newest
  outputs, i.e. :math:`y_j(t_{k+1})` of the units already stepped in this macro step.

Both are first-order in :math:`H` (the input hold is the error source: :math:`\\|e\\| = O(H)`). Measured on the
``dc_load`` FMU (coupling stiffness 50 N.m/rad, load inertia 2e-3 kg.m2, internal RK4 step 1e-4 s) coupled to a
native inertia (0.01 kg.m2, RK4 with the macro step) driven by 0.1 N.m over 0.5 s: maximum error of the coupling
torque ``load.tau`` (peak 0.030 N.m) against a ``solve_ivp`` (DOP853, rtol 1e-12) solution of the fully coupled
ODE (``tests/fmu/test_cosim.py``):

========= ============== =========================== ===========================
H [s]      Jacobi [N.m]   Gauss-Seidel motor, load    Gauss-Seidel load, motor
========= ============== =========================== ===========================
4e-4       5.31e-4        4.64e-4                     5.94e-4
2e-4       2.62e-4        2.31e-4
1e-4       1.30e-4        1.15e-4                     1.48e-4
========= ============== =========================== ===========================

Halving :math:`H` halves the error (ratio 2.03: first order). Gauss-Seidel is ~13 % more accurate than Jacobi
when the stiff side (the inertia feeding ``w_in``, which ``tau`` depends on directly) goes first, and ~12 % *less*
accurate in the other order: the order matters, Jacobi is the order-free baseline. The coupled mode is at
~173 rad/s, so :math:`H` must stay well below ~5 ms for either scheme to be stable; for 1 % of the peak torque
:math:`H \\approx 2 \\cdot 10^{-4}` s is needed.

Speed: when every unit is an FMI 2.0 co-simulation FMU, the whole run executes in one numba-compiled loop that
calls ``fmi2SetReal`` / ``fmi2DoStep`` / ``fmi2GetReal`` through their C addresses (:func:`phystwin.fmu.native.c_call`);
its per-step overhead is within 2x of a plain C loop (``benchmarks/bench_fmu_cosim.py``). With a native
subsystem or an FMI 3.0 FMU the master falls back to a Python loop (one :class:`~phystwin.core.simulation.Stepper`
RK4 call per native unit and one fmpy call per FMI function per macro step); ``compiled=False`` forces it.
Both loops do the same floating-point operations in the same order and give identical results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from phystwin.errors import InvalidValueError, UnknownNameError
from phystwin.fmu._cosim_loop import (
    FN_NAMES,
    NONFINITE,
    Tables,
    compiled_loop,
    unit_inputs,
)
from phystwin.fmu._cosim_units import CoSimUnit, NativeUnit, Port
from phystwin.fmu.errors import FMUNonFinite, check_status
from phystwin.fmu.instance import FMUInstance

__all__ = ["CoSimResult", "CoSimUnit", "CoSimulation", "NativeUnit"]

InputValue = float | Callable[[float], float] | np.ndarray | Sequence[float]


@dataclass
class CoSimResult:
    """Result of :meth:`CoSimulation.run`: ``values["unit.variable"]`` [SI] at the times ``t`` [s].

    Outputs are sampled at :math:`t_k`; an input row :math:`k` is the value held over
    :math:`[t_k, t_{k+1})` (the last row: the value a further step would use).
    """

    t: np.ndarray
    values: dict[str, np.ndarray]
    units: dict[str, str]
    method: str
    compiled: bool
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise UnknownNameError(f"no signal {name!r} in the result (signals: {', '.join(self.values)})") from None


class CoSimulation:
    """A fixed-macro-step co-simulation of FMUs and native models.

    Parameters
    ----------
    units
        Unit name -> :class:`~phystwin.fmu.instance.FMUInstance` (co-simulation), :class:`NativeUnit`, or
        :class:`~phystwin.core.model.Model`. The caller owns (and closes) the FMU instances.
    connections
        ``("unit.output", "unit.input")`` pairs; values are converted through SI between the units' units.
    method
        ``"jacobi"`` or ``"gauss_seidel"``.
    order
        Stepping order for Gauss-Seidel (all unit names); default: the order of ``units``.
    """

    def __init__(
        self,
        units: Mapping[str, CoSimUnit],
        connections: Sequence[tuple[str, str]] = (),
        method: str = "jacobi",
        order: Sequence[str] | None = None,
    ) -> None:
        if method not in ("jacobi", "gauss_seidel"):
            raise InvalidValueError(f"method must be 'jacobi' or 'gauss_seidel', got {method!r}")
        if not units:
            raise InvalidValueError("a co-simulation needs at least one unit")
        self.method = method
        self.ports = [Port(n, u) for n, u in units.items()]
        self.names = [p.name for p in self.ports]
        order = list(order) if order is not None else list(self.names)
        if sorted(order) != sorted(self.names):
            raise InvalidValueError(f"order must list every unit once: got {order}, units are {self.names}")
        self.order = np.array([self.names.index(n) for n in order], dtype=np.int64)
        self.in_off = np.cumsum([0] + [len(p.inputs) for p in self.ports]).astype(np.int64)
        self.out_off = np.cumsum([0] + [len(p.outputs) for p in self.ports]).astype(np.int64)
        self.connections: list[tuple[int, int, int]] = []  # (dst unit, src global out, dst global in)
        for src, dst in connections:
            (_, so), (du, di) = self._slot(src, "output"), self._slot(dst, "input")
            if any(c[2] == di for c in self.connections):
                raise InvalidValueError(f"input {dst!r} is connected twice; expected at most one source per input")
            self.connections.append((du, so, di))

    def _slot(self, ref: str, kind: str) -> tuple[int, int]:
        unit, _, var = ref.partition(".")
        if unit not in self.names or not var:
            raise UnknownNameError(f"{ref!r}: expected 'unit.{kind}' with unit one of {self.names}")
        k = self.names.index(unit)
        port = self.ports[k]
        names = port.outputs if kind == "output" else port.inputs
        if var not in names:
            raise UnknownNameError(
                f"{ref!r}: unit {unit!r} has no Real {kind} {var!r} ({kind}s: {', '.join(names) or 'none'})"
            )
        base = self.out_off if kind == "output" else self.in_off
        return k, int(base[k]) + names.index(var)

    @property
    def can_compile(self) -> bool:
        """True when every unit is an FMI 2.0 co-simulation FMU (the loop then runs compiled)."""
        return all(p.fmu is not None and not p.fmu.fmi3 for p in self.ports)

    def _tables(self, inputs: Mapping[str, InputValue], t: np.ndarray) -> Tables:
        n_in = int(self.in_off[-1])
        sc_in = np.concatenate([p.scale[: len(p.inputs)] for p in self.ports] or [np.zeros(0)])
        of_in = np.concatenate([p.offset[: len(p.inputs)] for p in self.ports] or [np.zeros(0)])
        sc_out = np.concatenate([p.scale[len(p.inputs) :] for p in self.ports] or [np.zeros(0)])
        of_out = np.concatenate([p.offset[len(p.inputs) :] for p in self.ports] or [np.zeros(0)])
        conns = sorted(self.connections)
        ext: list[tuple[int, int, np.ndarray]] = []
        for ref, value in inputs.items():
            k, di = self._slot(ref, "input")
            if any(c[2] == di for c in conns):
                raise InvalidValueError(f"input {ref!r} is both connected and given in inputs; expected one source")
            ext.append((k, di, (_sample(ref, value, t) - of_in[di]) / sc_in[di]))
        ext.sort(key=lambda e: (e[0], e[1]))
        n_units = len(self.ports)
        c_off = np.searchsorted([c[0] for c in conns], np.arange(n_units + 1)).astype(np.int64)
        e_off = np.searchsorted([e[0] for e in ext], np.arange(n_units + 1)).astype(np.int64)
        src = np.array([c[1] for c in conns], dtype=np.int64)
        dst = np.array([c[2] for c in conns], dtype=np.int64)
        return Tables(
            order=self.order,
            gauss_seidel=self.method == "gauss_seidel",
            in_off=self.in_off,
            out_off=self.out_off,
            vr_in=np.concatenate([p.vr_in for p in self.ports]),
            vr_out=np.concatenate([p.vr_out for p in self.ports]),
            c_off=c_off,
            c_src=src,
            c_dst=dst,
            c_a=sc_out[src] / sc_in[dst],
            c_b=(of_out[src] - of_in[dst]) / sc_in[dst],
            e_off=e_off,
            e_dst=np.array([e[1] for e in ext], dtype=np.int64),
            E=np.ascontiguousarray(np.array([e[2] for e in ext]).T.reshape(t.size, len(ext))),
            sc_in=sc_in,
            of_in=of_in,
            sc_out=sc_out,
            of_out=of_out,
            n_in=n_in,
        )

    def run(
        self,
        t0: float,
        t_end: float,
        macro_step: float,
        inputs: Mapping[str, InputValue] | None = None,
        *,
        compiled: bool | None = None,
    ) -> CoSimResult:
        """Advance every unit from ``t0`` to ``t_end`` [s] in macro steps of ``macro_step`` [s].

        Parameters
        ----------
        inputs
            ``"unit.input"`` -> constant [SI], callable ``f(t)`` [SI], or array of the values at the ``N + 1``
            output times; sampled at :math:`t_k` and held over the macro step.
        compiled
            None: compiled loop when :attr:`can_compile`; False: the Python loop; True: require the compiled loop.

        Raises
        ------
        FMUDiscard, FMUCallError, FMUFatal
            A unit's FMI call failed; ``.time`` is the start of the failing macro step.
        FMUNonFinite
            An output became NaN or Inf; the message names the variables.
        """
        if not (macro_step > 0 and t_end > t0):
            raise InvalidValueError(f"need macro_step > 0 and t_end > t0, got {macro_step=}, {t0=}, {t_end=}")
        n = round((t_end - t0) / macro_step)
        if n < 1 or abs(n * macro_step - (t_end - t0)) > 1e-9 * max(1.0, abs(t_end)):
            raise InvalidValueError(
                f"t_end - t0 = {t_end - t0:g} s is not a whole number of macro steps {macro_step:g} s"
            )
        if compiled and not self.can_compile:
            raise InvalidValueError("compiled=True needs every unit to be an FMI 2.0 co-simulation FMU")
        use_compiled = self.can_compile if compiled is None else bool(compiled)
        t = t0 + np.arange(n + 1) * macro_step
        for p in self.ports:
            p.start(t0, t_end, macro_step)
        tab = self._tables(inputs or {}, t)
        u = self._initial_inputs(tab)
        y = np.zeros(int(self.out_off[-1]))
        for _ in range(2):  # consistent outputs at t0 (direct feedthrough through the connections)
            for k in self.order:
                unit_inputs(int(k), 0, tab, y, u)
                self._apply(int(k), u, y)
        Y = np.full((n + 1, y.size), np.nan)
        U = np.full((n + 1, u.size), np.nan)
        Y[0] = y
        if use_compiled:
            self._run_compiled(tab, t0, macro_step, n, y, u, Y, U)
        else:
            self._run_python(tab, t, macro_step, n, y, u, Y, U)
        for k in range(len(self.ports)):
            unit_inputs(k, n, tab, Y[n], u)
        U[n] = u
        for p in self.ports:
            if p.fmu is not None:
                p.fmu.time = float(t[-1])
        return self._result(t, Y * tab.sc_out + tab.of_out, U * tab.sc_in + tab.of_in, use_compiled, n)

    def _initial_inputs(self, tab: Tables) -> np.ndarray:
        u = np.zeros(tab.n_in)
        for k, p in enumerate(self.ports):
            sl = slice(int(self.in_off[k]), int(self.in_off[k + 1]))
            if p.fmu is not None and p.inputs:
                u[sl] = p.fmu.get_reals_vr(p.vr_in.tolist())
            elif p.native is not None:
                u[sl] = p.native.model.input_vector(None)
        return u

    def _apply(self, k: int, u: np.ndarray, y: np.ndarray) -> None:
        p = self.ports[k]
        ui = u[self.in_off[k] : self.in_off[k + 1]]
        p.set_inputs(ui)
        y[self.out_off[k] : self.out_off[k + 1]] = p.read(ui)

    def _nonfinite(self, k: int, y: np.ndarray, t: float) -> FMUNonFinite:
        p = self.ports[k]
        ys = y[self.out_off[k] : self.out_off[k + 1]]
        bad = tuple(name for name, v in zip(p.outputs, ys, strict=True) if not math.isfinite(v))
        return FMUNonFinite(
            f"unit {p.name!r}: non-finite output(s) {', '.join(bad)} after the macro step from t = {t:.9g} s; "
            "expected finite outputs",
            variables=bad,
            fmu=p.name,
            function="doStep",
            time=t,
        )

    def _run_python(
        self, tab: Tables, t: np.ndarray, h: float, n: int, y: np.ndarray, u: np.ndarray, Y: Any, U: Any
    ) -> None:
        units = range(len(self.ports))
        for step in range(n):
            tk = float(t[0] + step * h)
            if not tab.gauss_seidel:
                for k in units:
                    unit_inputs(k, step, tab, y, u)
            for k in self.order:
                k = int(k)
                if tab.gauss_seidel:
                    unit_inputs(k, step, tab, y, u)
                p = self.ports[k]
                ui = u[self.in_off[k] : self.in_off[k + 1]]
                p.set_inputs(ui)
                p.step(tk, h, ui)
                y[self.out_off[k] : self.out_off[k + 1]] = p.read(ui)
                if not np.all(np.isfinite(y[self.out_off[k] : self.out_off[k + 1]])):
                    raise self._nonfinite(k, y, tk)
            U[step] = u
            Y[step + 1] = y

    def _run_compiled(
        self, tab: Tables, t0: float, h: float, n: int, y: np.ndarray, u: np.ndarray, Y: Any, U: Any
    ) -> None:
        fmus = [cast(FMUInstance, p.fmu) for p in self.ports]
        addr = np.array([[f.function_address(fn) for fn in FN_NAMES] + [f.component_address] for f in fmus], np.int64)
        info = np.zeros(4, dtype=np.int64)
        compiled_loop(addr, tab, t0, h, n, y, u, Y, U, info)
        status, step, k, fn = (int(v) for v in info)
        if status == 0:
            return
        fmu = fmus[k]
        tk = t0 + step * h
        fmu.time = tk
        if status == NONFINITE:
            raise self._nonfinite(k, y, tk)
        if status == 4:
            fmu.mark_fatal()
        check_status(status, fmu.name, FN_NAMES[fn], tk)

    def _result(self, t: np.ndarray, Ysi: np.ndarray, Usi: np.ndarray, compiled: bool, n: int) -> CoSimResult:
        values: dict[str, np.ndarray] = {}
        units: dict[str, str] = {}
        for k, p in enumerate(self.ports):
            for j, name in enumerate(p.outputs):
                values[f"{p.name}.{name}"] = Ysi[:, int(self.out_off[k]) + j].copy()
                units[f"{p.name}.{name}"] = p.labels[len(p.inputs) + j]
            for j, name in enumerate(p.inputs):
                values[f"{p.name}.{name}"] = Usi[:, int(self.in_off[k]) + j].copy()
                units[f"{p.name}.{name}"] = p.labels[j]
        return CoSimResult(t, values, units, self.method, compiled, {"macro_steps": n})


def _sample(ref: str, value: InputValue, t: np.ndarray) -> np.ndarray:
    if callable(value):
        return np.array([float(value(float(tk))) for tk in t])
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(t.size, float(arr))
    if arr.shape != (t.size,):
        raise InvalidValueError(
            f"input {ref!r}: expected a scalar, a callable or {t.size} samples, got shape {arr.shape}"
        )
    return arr.copy()
