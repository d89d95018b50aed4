"""Compile-time cross-check of the generated Jacobians against finite differences of ``rhs``.

Every compiled model's ``jac`` (``J = df/dx``) and ``jac_p`` (``Jp = df/dp``, scalar parameters) are
compared with central differences of its compiled ``rhs`` at the start point (state start values,
parameter defaults, input defaults or 1 where an input has none, ``t = 0``) and at
:data:`N_PERTURBED` points around it (each state, scalar parameter and input scaled by
``1 + 0.01 r``, ``r`` uniform in [-1, 1] from a seeded generator, clipped to its bounds; at the last
point a value that is zero moves to ``0.01 r``, so a speed at rest is also checked in motion).

For column ``j`` (a state or a parameter ``z_j``) with scale ``c_j = |z_j|`` (1 if ``z_j = 0``) and
step ``h = 1e-4 c_j``:

.. math::

    D_1 = \\frac{f(z + h e_j) - f(z - h e_j)}{2h}, \\quad
    D_2 = \\frac{f(z + 2h e_j) - f(z - 2h e_j)}{4h}, \\quad
    D = \\frac{4 D_1 - D_2}{3}

(fourth order). Entry ``(i, j)`` passes when

.. math::

    |J_{ij} - D_{ij}| \\le 10^{-5} \\max(|J_{ij}|, |D_{ij}|) + 10^{-8} \\frac{R_i}{c_j} + |D_{1,ij} - D_{2,ij}|

with the row scale :math:`R_i = \\max(|f_i|, \\max_k |D_{ik}| c_k)` (the size of the terms that make up
``f_i``, so a derivative near equilibrium, where the terms cancel, is not held to rounding noise) and
the last term the difference estimate's own error. An entry that fails is retried with one-sided,
second-order differences from the right and from the left (points ``z +- h, 2h, 3h``, not ``z``
itself): at a kink or jump exactly at the point (``|w|`` at ``w = 0``, a table breakpoint) the
analytic value is a convention (``copysign``, ``H(0) = 1/2``, a forward difference), so it passes
when it lies between the left and right derivatives (tolerance ``1e-4``).

Entries that are not finite (analytic or by differences) are skipped; a point where ``rhs`` or
``jac`` fails or ``f`` is not finite is skipped. A disagreement raises :class:`JacobianMismatchError`
naming the component, the equation, the entry and both values; with the compiler's
:class:`~phystwin.physics.jacobian_codegen.Link` list, each equation on the entry's path is checked
on its own (its traced partials against differences of the equation) to name the culprit.

A pass is recorded beside the generated module (``model_<hash>.jaccheck``): the check is a property
of the generated code, which the hash identifies, so a warm load reads the record instead of loading
``jac_p`` and evaluating ``rhs`` a few hundred times.
"""

from __future__ import annotations

import json
import math
import os
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phystwin.core.model import Layout, is_internal_parameter
from phystwin.physics.component import ModelDefinitionError
from phystwin.physics.jacobian_codegen import JacobianCode, Link

__all__ = ["CheckReport", "JacobianMismatchError", "check_jacobians", "check_points", "verify"]

CHECK_VERSION = "jacobian-check-1"
"""Part of the pass record: a change to the check's rules re-runs it on every model."""
RTOL = 1e-5
ATOL = 1e-8
STEP = 1e-4
ONE_SIDED_RTOL = 1e-4
FD_RTOL = 1.4901161193847656e-08
"""sqrt(machine epsilon): the relative step of a forward-difference fallback (jacobian_codegen.FD_STEP)."""
N_PERTURBED = 3
PERTURBATION = 1e-2
SEED = 20_260_101


class JacobianMismatchError(ModelDefinitionError):
    """A generated Jacobian entry disagrees with finite differences of the right-hand side.

    Attributes
    ----------
    component : str
        Component path owning the equation (the state's component when no finer culprit is found).
    equation : str
        The equation (``"d(x)/dt"`` or a relation's description).
    entry : str
        ``"J[i, j] = d(dx_i/dt)/d(x_j)"`` or ``"Jp[i, k]"``, with names.
    analytic, finite_difference : float
        Both values of the entry.
    """

    def __init__(
        self,
        message: str,
        *,
        component: str,
        equation: str,
        entry: str,
        analytic: float,
        finite_difference: float,
    ) -> None:
        super().__init__(message)
        self.component = component
        self.equation = equation
        self.entry = entry
        self.analytic = analytic
        self.finite_difference = finite_difference


@dataclass(frozen=True)
class CheckReport:
    """What the check did.

    Attributes
    ----------
    points : int
        Points where ``rhs`` and the Jacobians could be evaluated.
    entries : int
        Entries compared (over all points).
    notes : tuple of str
        What could not be checked (no usable point, entries never finite).
    """

    points: int
    entries: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Mismatch:
    kind: str  # "x" or "p"
    row: int
    col: int
    analytic: float
    fd: float
    excess: float  # |difference| / tolerance


def check_points(
    layout: Layout, n_perturbed: int = N_PERTURBED, seed: int = SEED
) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """The start point and ``n_perturbed`` seeded points around it, as ``(t, x, u, p)``."""
    x0 = np.array([float(s.default) for s in layout.states])  # type: ignore[arg-type]
    u0 = np.array(
        [float(s.default) if isinstance(s.default, float) and math.isfinite(s.default) else 1.0 for s in layout.inputs]
    )
    p0 = np.empty(layout.np)
    scalars: list[tuple[int, Any]] = []
    for s in layout.parameters:
        sl = layout.param_slice(s.name)
        p0[sl] = s.default
        if s.size == 1 and not is_internal_parameter(s.name):
            scalars.append((sl.start, s))
    rng = np.random.default_rng(seed)
    points = [(0.0, x0, u0, p0)]
    for n in range(n_perturbed):
        # the last point also moves values that are zero (a speed at rest), by an absolute 1e-2
        shift = PERTURBATION if n == n_perturbed - 1 else 0.0

        def move(v: np.ndarray, shift: float = shift) -> np.ndarray:
            r = rng.uniform(-1.0, 1.0, v.size)
            return np.where(v == 0.0, shift * r, v * (1.0 + PERTURBATION * r))

        x = np.clip(move(x0), [s.lower for s in layout.states], [s.upper for s in layout.states])
        u = move(u0)
        p = p0.copy()
        for k, s in scalars:
            v = min(max(float(move(p0[k : k + 1])[0]), s.lower), s.upper)
            p[k] = v if not (s.strict and v <= s.lower) else p0[k]
        points.append((0.0, x, u, p))
    return points


def _parameter_columns(layout: Layout) -> list[int]:
    """Entries of ``p`` whose ``jac_p`` column is analytic: scalar, not internal."""
    return [
        layout.param_slice(s.name).start for s in layout.parameters if s.size == 1 and not is_internal_parameter(s.name)
    ]


def check_jacobians(
    kernels: Any,
    layout: Layout,
    *,
    links: Sequence[Link] | None = None,
    model_name: str = "model",
    n_perturbed: int = N_PERTURBED,
    seed: int = SEED,
) -> CheckReport:
    """Compare ``kernels.jac`` (and ``kernels.jac_p`` if present) with finite differences of ``kernels.rhs``.

    Parameters
    ----------
    kernels : module or namespace
        ``rhs(t, x, u, p, dx)``, ``jac(t, x, u, p, J)`` and optionally ``jac_p(t, x, u, p, Jp)``.
    layout : Layout
        Names, start values, defaults and bounds.
    links : sequence of Link, optional
        The compiler's equations in evaluation order: lets a refusal name the culprit equation.
    model_name : str
        For messages.

    Raises
    ------
    JacobianMismatchError
        At the first point with a disagreeing entry (the worst one is named).
    """
    nx = layout.nx
    p_cols = _parameter_columns(layout) if hasattr(kernels, "jac_p") else []
    usable = 0
    compared = 0
    checked = {"x": np.zeros((nx, nx), dtype=bool), "p": np.zeros((nx, layout.np), dtype=bool)}
    non_finite = {k: np.zeros_like(v) for k, v in checked.items()}
    fd = _fd_entries(links or (), nx, layout.np)
    for n, (t, x, u, p) in enumerate(check_points(layout, n_perturbed, seed)):
        res = _check_point(kernels, t, x, u, p, p_cols, nx, fd)
        if res is None:
            continue
        usable += 1
        mismatches, ok, skipped = res
        for kind in ok:
            compared += int(ok[kind].sum())
            checked[kind] |= ok[kind]
            non_finite[kind] |= skipped[kind]
        if mismatches:
            worst = max(mismatches, key=lambda m: m.excess)
            raise _refusal(worst, mismatches, layout, links, model_name, n, t, x, u, p)
    notes: list[str] = []
    if usable == 0:
        notes.append(
            "Jacobian not checked: rhs or jac fails or is not finite at the start point and every perturbed point"
        )
    never = [(k, int(i), int(j)) for k in ("x", "p") for i, j in np.argwhere(non_finite[k] & ~checked[k])]
    if usable and never:
        names = ", ".join(_entry_name(layout, k, i, j) for k, i, j in never[:4])
        more = f" and {len(never) - 4} more" if len(never) > 4 else ""
        notes.append(f"Jacobian entries not finite at any check point, not checked: {names}{more}")
    return CheckReport(usable, compared, tuple(notes))


def _uncompiled(kernels: Any, name: str) -> Any:
    """``kernels.<name>`` run as Python, calling the equations' Python functions.

    Used for ``jac_p``: nothing in a simulation or a filter calls it, so compiling it at every cold
    compile only for the check would cost as much as compiling ``jac``; the check reads the same
    generated source, and numba compiles it on first use.
    """
    fn = getattr(kernels, name)
    py = getattr(fn, "py_func", None)
    if py is None:
        return fn
    glb = dict(py.__globals__)
    for key, obj in vars(kernels).items():
        inner = getattr(obj, "py_func", None)
        if inner is not None and re.fullmatch(r"k\d+", key):
            glb[key] = inner
    return types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, py.__closure__)


def _eval(rhs: Any, t: float, x: np.ndarray, u: np.ndarray, p: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    try:
        st = rhs(t, x, u, p, out)
    except (ArithmeticError, ValueError):
        return None
    return out.copy() if st == 0 else None


def _fd_entries(links: Sequence[Link], nx: int, n_par: int) -> dict[str, np.ndarray]:
    """Masks of the entries of ``J`` and ``Jp`` whose analytic value goes through a relation
    differentiated by a forward difference (an untraceable equation) on its chain-rule path."""
    out = {"x": np.zeros((nx, nx), dtype=bool), "p": np.zeros((nx, n_par), dtype=bool)}
    deps: dict[int, tuple[set[tuple[str, int]], set[tuple[str, int]]]] = {}

    def of(a: str | int) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        if isinstance(a, int):
            return deps.get(a, (set(), set()))
        m = re.match(r"^([xp])\[(\d+)\]$", a)
        return ({(m.group(1), int(m.group(2)))}, set()) if m else (set(), set())

    for lk in links:
        cols: set[tuple[str, int]] = set()
        fd_cols: set[tuple[str, int]] = set()
        for a in lk.args:
            c, f = of(a)
            cols |= c
            fd_cols |= f
        if lk.fn is not None and (lk.partials is None or lk.partials.sources is None):
            fd_cols = set(cols)
        if lk.target is not None:
            deps[lk.target] = (cols, fd_cols)
        elif lk.row is not None and lk.row < nx:
            for kind, j in fd_cols:
                if j < out[kind].shape[1]:
                    out[kind][lk.row, j] = True
    return out


def _check_point(
    kernels: Any,
    t: float,
    x: np.ndarray,
    u: np.ndarray,
    p: np.ndarray,
    p_cols: list[int],
    nx: int,
    fd: dict[str, np.ndarray] | None = None,
) -> tuple[list[_Mismatch], dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """Compare at one point: the mismatches, and masks of the entries that passed / were not finite.

    ``fd`` marks the entries computed through a forward-difference fallback: they are held to that
    fallback's truncation error (:data:`FD_RTOL`), not the analytic tolerance."""
    buf = np.empty(nx)
    f0 = _eval(kernels.rhs, t, x, u, p, buf)
    if f0 is None or not np.all(np.isfinite(f0)):
        return None
    J = np.zeros((nx, nx))
    if kernels.jac(t, x.copy(), u, p, J) != 0:
        return None
    groups: list[tuple[str, np.ndarray, np.ndarray, list[int]]] = [("x", J, x, list(range(nx)))]
    if p_cols:
        Jp = np.zeros((nx, p.size))
        try:
            ok_p = _uncompiled(kernels, "jac_p")(t, x.copy(), u, p, Jp) == 0
        except (ArithmeticError, ValueError):  # Python raises where compiled code gives inf/nan
            ok_p = False
        if ok_p:
            groups.append(("p", Jp, p, p_cols))

    def f_at(kind: str, j: int, dz: float) -> np.ndarray | None:
        z = (x if kind == "x" else p).copy()
        z[j] += dz
        xs, ps = (z, p) if kind == "x" else (x, z)
        return _eval(kernels.rhs, t, xs, u, ps, buf)

    estimates: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, float, float, np.ndarray]] = {}
    scale = np.abs(f0)
    for kind, _, z, cols in groups:
        for j in cols:
            c = abs(z[j]) if z[j] != 0.0 else 1.0
            h = STEP * c
            fp1, fm1, fp2, fm2 = (f_at(kind, j, s * h) for s in (1.0, -1.0, 2.0, -2.0))
            if fp1 is None or fm1 is None or fp2 is None or fm2 is None:
                # the differences leave the domain (h**1.5 at h = 0): one-sided differences below
                d4 = np.full(nx, np.nan)
                err = np.full(nx, np.inf)
                curv = np.full(nx, np.inf)
            else:
                d1 = (fp1 - fm1) / (2.0 * h)
                d2 = (fp2 - fm2) / (4.0 * h)
                d4 = (4.0 * d1 - d2) / 3.0
                err = np.abs(d1 - d2)
                curv = np.abs(fp1 - 2.0 * f0 + fm1) / (h * h)  # |d2f/dz2|, for a forward difference's error
            estimates[(kind, j)] = (d4, err, c, h, curv)
            with np.errstate(invalid="ignore"):
                scale = np.fmax(scale, np.abs(d4) * c)
    mismatches: list[_Mismatch] = []
    ok = {kind: np.zeros(Jan.shape, dtype=bool) for kind, Jan, _, _ in groups}
    skipped = {kind: np.zeros(Jan.shape, dtype=bool) for kind, Jan, _, _ in groups}
    for kind, Jan, z, cols in groups:
        for j in cols:
            d4, err, c, h, curv = estimates[(kind, j)]
            a = Jan[:, j]
            with np.errstate(invalid="ignore"):
                tol = RTOL * np.fmax(np.abs(a), np.abs(d4)) + ATOL * scale / c + np.where(np.isfinite(err), err, 0.0)
                if fd is not None and j < fd[kind].shape[1] and fd[kind][:, j].any():
                    # forward difference, step sqrt(eps) max(|a|, 1): truncation step/2 |g''|, rounding
                    # eps |g| / step; both bounded generously from the row's scale and curvature
                    step = FD_RTOL * max(abs(float(z[j])), 1.0)
                    fd_tol = FD_RTOL * (100.0 * scale / c + 10.0 * np.abs(d4)) + 10.0 * step * np.nan_to_num(curv)
                    tol = np.where(fd[kind][:, j], tol + fd_tol, tol)
                good = np.abs(a - d4) <= tol  # False where either is not finite
            ok[kind][:, j] = good
            skipped[kind][:, j] = ~np.isfinite(a)
            rest = np.flatnonzero(~good & np.isfinite(a))
            if rest.size == 0:
                continue
            # a kink or jump at the point, or differences that failed: the one-sided derivatives bound it
            one_sided = _one_sided(f_at, kind, j, h)
            for i in rest:
                ai, di = float(a[i]), float(d4[i])
                sides = [float(s[i]) for s in one_sided if s is not None and math.isfinite(s[i])]
                if not sides and not math.isfinite(di):
                    skipped[kind][i, j] = True
                    continue
                ref = di if math.isfinite(di) else sides[0]
                tol1 = ONE_SIDED_RTOL * max(abs(ai), abs(ref)) + 10.0 * ATOL * scale[i] / c
                if math.isfinite(di):
                    tol1 += float(tol[i]) - (RTOL * max(abs(ai), abs(di)) + ATOL * scale[i] / c)
                if sides and min(sides) - tol1 <= ai <= max(sides) + tol1:
                    ok[kind][i, j] = True
                    continue
                if not math.isfinite(di):
                    # central differences left the domain and the one-sided ones inside it disagree (a
                    # root-like edge, h**1.5 at h = 0, is poorly resolved): not checked here, never refused
                    skipped[kind][i, j] = True
                    continue
                bound = float(tol[i]) if math.isfinite(di) else tol1
                mismatches.append(_Mismatch(kind, int(i), j, ai, ref, abs(ai - ref) / bound))
    return mismatches, ok, skipped


def _one_sided(f_at: Any, kind: str, j: int, h: float) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Second-order one-sided derivatives from ``z + h, 2h, 3h`` and ``z - h, 2h, 3h`` (``z`` left out,
    so a jump exactly at ``z`` does not enter): ``(-5 f_1 + 8 f_2 - 3 f_3) / (2h)`` and its mirror."""
    out: list[np.ndarray | None] = []
    for s in (1.0, -1.0):
        f1, f2, f3 = (f_at(kind, j, s * m * h) for m in (1.0, 2.0, 3.0))
        if f1 is None or f2 is None or f3 is None:
            out.append(None)
        else:
            out.append(s * (-5.0 * f1 + 8.0 * f2 - 3.0 * f3) / (2.0 * h))
    return out[0], out[1]


# ------------------------------------------------------------------------------------------ messages
def _entry_name(layout: Layout, kind: str, i: int, j: int) -> str:
    row = layout.states[i].name
    if kind == "x":
        return f"J[{i}, {j}] = d(d{row}/dt)/d({layout.states[j].name})"
    return f"Jp[{i}, {j}] = d(d{row}/dt)/d({_parameter_at(layout, j)})"


def _parameter_at(layout: Layout, k: int) -> str:
    for s in layout.parameters:
        sl = layout.param_slice(s.name)
        if sl.start <= k < sl.stop:
            return s.name if s.size == 1 else f"{s.name}[{k - sl.start}]"
    return f"p[{k}]"


def _refusal(
    worst: _Mismatch,
    mismatches: list[_Mismatch],
    layout: Layout,
    links: Sequence[Link] | None,
    model_name: str,
    n: int,
    t: float,
    x: np.ndarray,
    u: np.ndarray,
    p: np.ndarray,
) -> JacobianMismatchError:
    state = layout.states[worst.row].name
    component, _, local = state.rpartition(".")
    equation = f"d({local})/dt"
    where = "the start point" if n == 0 else f"perturbed check point {n}"
    entry = _entry_name(layout, worst.kind, worst.row, worst.col)
    lines = [
        f"model {model_name!r}: the generated Jacobian disagrees with finite differences of the "
        f"right-hand side at {where}: {entry} is {worst.analytic:.9g} analytically, "
        f"{worst.fd:.9g} by finite differences (component {component or state}, equation {equation})"
    ]
    culprits: list[tuple[Link, str, float, float]] = []
    if links:
        try:
            culprits = _diagnose(links, worst, t, x, u, p)
        except Exception as exc:  # diagnosis is best effort; the refusal stands without it
            lines.append(f"  (could not check the equations one by one: {type(exc).__name__}: {exc})")
        for lk, arg, a, d in culprits:
            lines.append(
                f"  culprit: component {lk.owner}, equation {lk.equation} (computes {lk.computes}): "
                f"d/d{arg} = {a:.9g} by its traced derivative, {d:.9g} by finite differences"
            )
        if not culprits and len(lines) == 1:
            lines.append(
                "  every equation on this path, run as Python now, agrees with its own finite difference, so "
                "the compiled code computes something else: most likely a global value an equation reads "
                "(a module constant, an array, a config object's attribute) changed after it was compiled "
                "in this process, or a stale cache (restart Python; if it persists, remove "
                "$PHYSTWIN_CACHE_DIR/models and retry). If it persists with a fresh cache, the chain rule "
                "(phystwin.physics.jacobian_codegen) is at fault: please report it"
            )
    others = [m for m in mismatches if m is not worst]
    if others:
        shown = "; ".join(
            f"{_entry_name(layout, m.kind, m.row, m.col)}: {m.analytic:.6g} vs {m.fd:.6g}" for m in others[:4]
        )
        lines.append(f"  also: {shown}{' ...' if len(others) > 4 else ''}")
    lines.append(
        "  An equation written so that tracing sees something other than what it computes, or a "
        "hand-written kernel, is the usual cause; write it as one plain expression or function."
    )
    if culprits:
        lk = culprits[0][0]
        component, equation = lk.owner, lk.equation
    return JacobianMismatchError(
        "\n".join(lines),
        component=component or state,
        equation=equation,
        entry=entry,
        analytic=worst.analytic,
        finite_difference=worst.fd,
    )


_LITERAL = re.compile(r"^([xup])\[(\d+)(?::(\d+))?\]$")


def _literal(a: str, t: float, x: np.ndarray, u: np.ndarray, p: np.ndarray) -> Any:
    if a == "t":
        return t
    m = _LITERAL.match(a)
    if m is None:
        return float(a)
    vec = {"x": x, "u": u, "p": p}[m.group(1)]
    if m.group(3) is not None:
        return vec[int(m.group(2)) : int(m.group(3))]
    return float(vec[int(m.group(2))])


def _diagnose(
    links: Sequence[Link], m: _Mismatch, t: float, x: np.ndarray, u: np.ndarray, p: np.ndarray
) -> list[tuple[Link, str, float, float]]:
    """Each equation on the path of entry ``m``, its traced partials against its own differences."""
    column = f"{m.kind}[{m.col}]"
    values: dict[int, Any] = {}
    depends: dict[int, bool] = {}
    by_target = {lk.target: lk for lk in links if lk.target is not None}
    row = next(lk for lk in links if lk.row == m.row)
    cone: set[int] = set()
    todo = [a for a in row.args if isinstance(a, int)]
    while todo:
        c = todo.pop()
        if c in cone:
            continue
        cone.add(c)
        todo += [a for a in by_target[c].args if isinstance(a, int)]

    def value(a: str | int) -> Any:
        return values[a] if isinstance(a, int) else _literal(a, t, x, u, p)

    def dep(a: str | int) -> bool:
        return depends.get(a, False) if isinstance(a, int) else a == column

    culprits: list[tuple[Link, str, float, float]] = []
    for lk in [*(lk for lk in links if lk.target is not None), row]:
        args = [value(a) for a in lk.args]
        live = [k for k, a in enumerate(lk.args) if dep(a)]
        if lk.target is not None:
            values[lk.target] = lk.fn(*args) if lk.fn is not None else -sum(args)
            depends[lk.target] = bool(live)
            if lk.target not in cone:
                continue
        if lk.fn is None or lk.partials is None or lk.partials.sources is None:
            continue
        for k in live:
            name = lk.arg_names[k]
            src = lk.partials.sources.get(name)
            env = dict(zip(lk.arg_names, args, strict=True))
            builtins = {"abs": abs, "min": min, "max": max}
            # the source comes from autodiff's printer and reads only the arguments and math
            a = float(eval(src, {"__builtins__": builtins, "math": math}, env)) if src else 0.0  # noqa: S307
            d = _scalar_derivative(lk.fn, args, k)
            if math.isfinite(a) and math.isfinite(d) and abs(a - d) > 1e-4 * max(abs(a), abs(d)) + 1e-12:
                culprits.append((lk, name, a, d))
    return culprits


def _scalar_derivative(fn: Any, args: list[Any], k: int) -> float:
    """Fourth-order central difference of ``fn`` in its argument ``k``."""
    a0 = float(args[k])
    h = 1e-4 * (abs(a0) if a0 != 0.0 else 1.0)

    def at(dz: float) -> float:
        shifted = list(args)
        shifted[k] = a0 + dz
        v = fn(*shifted)
        return float(v) if not isinstance(v, complex) else math.nan

    d1 = (at(h) - at(-h)) / (2.0 * h)
    d2 = (at(2.0 * h) - at(-2.0 * h)) / (4.0 * h)
    return (4.0 * d1 - d2) / 3.0


# ------------------------------------------------------------------------------------------ compile
def verify(
    kernels: Any,
    layout: Layout,
    code: JacobianCode,
    *,
    model_name: str,
    source_path: str,
    components: Iterable[Any] = (),
) -> tuple[str, ...]:
    """The compile-time check of a generated model, or its recorded pass; returns the notes.

    ``components`` are the model's leaf components: an FMU component's instance (attribute ``fmu``)
    is reset after the check, so a failed FMI call at a check point does not surface in the first run.
    """
    if code.kind == "finite-difference":
        return ()
    record = Path(source_path).with_suffix(".jaccheck")
    try:
        data = json.loads(record.read_text())
        if data.get("version") == CHECK_VERSION and data.get("passed") is True:
            return tuple(str(n) for n in data.get("notes", []))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        report = check_jacobians(kernels, layout, links=code.links, model_name=model_name)
    finally:
        for comp in components:
            inst = getattr(comp, "fmu", None)
            if inst is not None and hasattr(inst, "status_cells") and hasattr(inst, "invalidate"):
                inst.status_cells[:] = 0
                inst.invalidate()
    try:
        tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": CHECK_VERSION, "passed": True, "notes": list(report.notes)}))
        os.replace(tmp, record)
    except OSError:  # a read-only cache: check again next time
        pass
    return report.notes
