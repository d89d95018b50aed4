"""Generated Jacobians: forward-mode chain rule over the ordered relations.

The compiled right-hand side evaluates the relations in order, ``v_m = g_m(a_1, ..., a_k)``, each
argument ``a`` a state ``x_j``, a parameter ``p_k``, an input, ``t`` or an earlier variable, then
``dx_i/dt = f_i(...)``. The generated ``jac(t, x, u, p, J)`` carries the tangents

.. math::

    \\frac{\\partial v_m}{\\partial z_j} = \\sum_a \\frac{\\partial g_m}{\\partial a}
    \\frac{\\partial a}{\\partial z_j}, \\qquad
    J_{ij} = \\frac{\\partial f_i}{\\partial x_j}

through the same order with seeds ``z = x`` (``dx_j/dx_j = 1``), and ``jac_p(t, x, u, p, Jp)`` does
the same with seeds ``z = p`` (the scalar parameters), giving ``Jp[i, k] = df_i/dp_k``. Each
``dg/da`` is the traced symbolic partial of the relation (:mod:`phystwin.physics.autodiff`) or, for a
relation that cannot be traced, a compiled forward difference of that relation alone
(:math:`(g(a + h) - g(a)) / h`, :math:`h = \\sqrt{\\varepsilon} \\max(|a|, 1)`). Only structurally
non-zero entries are computed, so both Jacobians have the model's exact sparsity.

Vector parameters (tables) are not seeds: ``jac_p`` differentiates the right-hand side by forward
differences over their entries (internal parameters such as FMU addresses get zero columns).
Every finite-difference part is reported in :attr:`JacobianCode.notes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from phystwin.core.model import is_internal_parameter
from phystwin.physics import _kernels, autodiff
from phystwin.physics.component import arg_names

FD_STEP = "1.4901161193847656e-08"
"""sqrt(machine epsilon): the relative step of the forward differences in generated code."""

_SCALAR = re.compile(r"^([xp])\[(\d+)\]$")
_SLICE = re.compile(r"^p\[(\d+):(\d+)\]$")


@dataclass(frozen=True)
class Link:
    """One evaluated equation of the right-hand side, for the compile-time check's diagnosis.

    Attributes
    ----------
    owner : str
        Component path (``"motor.friction"``).
    equation : str
        The relation's description, or ``"d(<state>)/dt"`` for a derivative.
    computes : str
        The variable it computes (``"friction.tau"``), or the state whose derivative it is.
    fn : callable
        The equation as a Python function.
    arg_names : tuple of str
        Its argument names.
    args : tuple
        Per argument, the generated literal (``"x[2]"``, ``"p[5]"``, ``"p[0:12]"``, ``"u[1]"``,
        ``"t"``) or the class id of an earlier variable; for a node balance ``fn`` is ``None`` and the
        value is ``-(sum of args)``.
    target : int or None
        Class id of the computed variable; ``None`` for a derivative (then ``row`` is the state index).
    row : int or None
        State index for a derivative.
    partials : autodiff.Partials or None
        The symbolic partials (``None`` for a node balance).
    """

    owner: str
    equation: str
    computes: str
    fn: Callable[..., float] | None
    arg_names: tuple[str, ...]
    args: tuple[str | int, ...]
    target: int | None
    row: int | None
    partials: autodiff.Partials | None

    def describe(self) -> str:
        return f"{self.owner}: {self.equation} (computes {self.computes})"


@dataclass
class JacobianCode:
    """Source of ``jac`` and ``jac_p`` and what it says about itself.

    Attributes
    ----------
    lines : list of str
        Both functions, decorated, ready to append to the generated module.
    kind : str
        ``"analytic"``, ``"analytic (N relation(s) by finite differences)"`` or ``"finite-difference"``.
    notes : tuple of str
        One line per part computed by finite differences (component, equation, reason).
    links : list of Link
        The relations evaluated by ``rhs`` in order, then the derivatives (row order).
    """

    lines: list[str]
    kind: str
    notes: tuple[str, ...]
    links: list[Link] = field(default_factory=list)


def jacobian_code(
    comp: Any,
    prelude_lines: list[str],
    der_calls: list[tuple[Callable[..., float], list[str | int]]],
    var_name: dict[int, str],
    expr: Callable[[str | int], str],
    kname: Callable[[str], str],
) -> JacobianCode:
    """Generate ``jac`` and ``jac_p`` for the compiler ``comp`` (see the module docstring).

    Parameters
    ----------
    comp : phystwin.physics.compiler._Compiler
        After ``generate`` has chosen and ordered the relations (``_solution``, ``eqs``, ``states``,
        ``params``, ``analytic_jacobian``).
    prelude_lines : list of str
        The assignments ``rhs`` evaluates (``"    v3 = k2(x[0], p[4])  # where"``), in order.
    der_calls : list of (fn, args)
        The derivative of each physical state: its function and argument literals / class ids.
    var_name, expr, kname : callables
        Class id -> variable name; argument -> source; kernel key -> module-level name.
    """
    nx = len(comp.states)
    n_par = sum(size for _, _, _, size in comp.params)
    links = _links(comp, prelude_lines, der_calls, var_name)
    tables = _read_tables(comp, links)
    lines = ["", "", "@njit", "def jac(t, x, u, p, J):"]
    if not comp.analytic_jacobian:
        lines += ["    return fd_jacobian(rhs, t, x, u, p, J)"]
        lines += _jac_p_fd(nx, n_par, _read_scalars(comp, links) + tables)
        return JacobianCode(lines, "finite-difference", (), links)
    gen = _ChainRule(comp, links, var_name, expr, kname)
    lines += [f"    for _i in range({nx}):", f"        for _j in range({nx}):", "            J[_i, _j] = 0.0"]
    lines += prelude_lines + gen.emit(prelude_lines, der_calls, "x", "J")
    lines += ["    return 0", "", "", "@njit", "def jac_p(t, x, u, p, Jp):"]
    lines += [f"    for _i in range({nx}):", f"        for _j in range({n_par}):", "            Jp[_i, _j] = 0.0"]
    lines += prelude_lines + gen.emit(prelude_lines, der_calls, "p", "Jp")
    lines += _fd_columns(nx, tables, "Jp")
    lines += ["    return 0", ""]
    notes = list(gen.notes.values())
    for name, a, b in _table_names(comp, tables):
        notes.append(f"parameter Jacobian of the table {name} ({b - a} entries): finite differences of the rhs")
    n_fd = len(gen.notes)
    kind = "analytic" if n_fd == 0 else f"analytic ({n_fd} relation(s) by finite differences)"
    return JacobianCode(lines, kind, tuple(notes), links)


class _ChainRule:
    """Emits the forward-mode chain rule for one kind of seed (states or scalar parameters)."""

    def __init__(
        self,
        comp: Any,
        links: list[Link],
        var_name: dict[int, str],
        expr: Callable[[str | int], str],
        kname: Callable[[str], str],
    ) -> None:
        self.comp = comp
        self.by_target = {lk.target: lk for lk in links if lk.target is not None}
        self.rows = [lk for lk in links if lk.row is not None]
        self.var_name = var_name
        self.expr = expr
        self.kname = kname
        self.notes: dict[str, str] = {}

    def emit(
        self,
        prelude_lines: list[str],
        der_calls: Sequence[tuple[Callable[..., float], list[str | int]]],
        seed: str,
        out: str,
    ) -> list[str]:
        lines: list[str] = []
        tangent: dict[int, dict[int, str]] = {}

        def arg_tangent(a: str | int) -> dict[int, str]:
            if isinstance(a, int):
                return tangent.get(a, {})
            m = _SCALAR.match(a)
            return {int(m.group(2)): "1.0"} if m and m.group(1) == seed else {}

        def partial_terms(lk: Link, tag: str, value: str) -> list[tuple[str, dict[int, str]]]:
            live = [(k, t) for k, t in ((k, arg_tangent(a)) for k, a in enumerate(lk.args)) if t]
            if not live:
                return []
            if lk.fn is None:  # node balance: v = -(sum of args)
                return [("-1.0", t) for _, t in live]
            sym = lk.partials.sources if lk.partials is not None else None
            if sym is None:
                why = lk.partials.reason if lk.partials is not None else "no partials"
                self.notes.setdefault(lk.describe(), f"{lk.describe()} by finite differences: not traceable: {why}")
                key = self.kname(_kernels.register(lk.fn))
            mapping = {n: self.expr(a) for n, a in zip(lk.arg_names, lk.args, strict=True)}
            terms: list[tuple[str, dict[int, str]]] = []
            for k, t in live:
                pd = f"pd_{tag}_{k}"
                if sym is not None:
                    src = sym.get(lk.arg_names[k])
                    if src is None:
                        continue
                    lines.append(f"    {pd} = {autodiff.substitute(src, mapping)}")
                else:
                    a = self.expr(lk.args[k])
                    shifted = ", ".join(
                        f"{self.expr(b)} + h_{tag}_{k}" if m == k else self.expr(b) for m, b in enumerate(lk.args)
                    )
                    lines.append(f"    h_{tag}_{k} = {FD_STEP} * max(abs({a}), 1.0)")
                    lines.append(f"    {pd} = ({key}({shifted}) - {value}) / h_{tag}_{k}")
                terms.append((pd, t))
            return terms

        def combine(terms: list[tuple[str, dict[int, str]]]) -> dict[int, str]:
            cols: dict[int, list[str]] = {}
            for pd, t in terms:
                for j, d in t.items():
                    cols.setdefault(j, []).append(pd if d == "1.0" else f"{pd} * {d}")
            return {j: " + ".join(v) for j, v in cols.items()}

        wanted = {int(line.split("=")[0].strip()[1:]) for line in prelude_lines}
        ordered = sorted(
            ((c, n) for c, n in self.var_name.items() if int(n[1:]) in wanted), key=lambda cn: int(cn[1][1:])
        )
        for cid, name in ordered:
            cols = combine(partial_terms(self.by_target[cid], name, name))
            tangent[cid] = {}
            for j, sum_src in cols.items():
                dname = f"d{name}_{j}"
                lines.append(f"    {dname} = {sum_src}")
                tangent[cid][j] = dname
        for i, lk in enumerate(self.rows):
            fn, args = der_calls[i]
            value = f"f_{i}"
            if lk.partials is not None and lk.partials.sources is None and any(arg_tangent(a) for a in args):
                call = ", ".join(self.expr(a) for a in args)
                lines.append(f"    {value} = {self.kname(_kernels.register(fn))}({call})")
            for j, sum_src in combine(partial_terms(lk, f"x{i}", value)).items():
                lines.append(f"    {out}[{i}, {j}] = {sum_src}")
        return lines


def _links(
    comp: Any,
    prelude_lines: list[str],
    der_calls: list[tuple[Callable[..., float], list[str | int]]],
    var_name: dict[int, str],
) -> list[Link]:
    eq_of = {id(alt): eq for eq in comp.eqs for alt in eq.alts}
    wanted = {int(line.split("=")[0].strip()[1:]) for line in prelude_lines}
    links: list[Link] = []
    for cid, _ in sorted(((c, n) for c, n in var_name.items() if int(n[1:]) in wanted), key=lambda cn: int(cn[1][1:])):
        alt = comp._solution[cid]
        eq = eq_of[id(alt)]
        fn = comp._fn_of(alt)
        names = tuple(alt.arg_names)
        res = None if fn is None else autodiff.differentiate(fn, names)
        links.append(Link(eq.owner, eq.label, comp.where(cid), fn, names, tuple(alt.args), cid, None, res))
    for i, (fn, args) in enumerate(der_calls):
        (path, sname), _ = comp.states[i]
        names = tuple(arg_names(fn))
        py = getattr(fn, "py_func", fn)
        res = autodiff.differentiate(fn, names)
        links.append(Link(path, f"d({sname})/dt", f"{path}.{sname}", py, names, tuple(args), None, i, res))
    return links


def _read_scalars(comp: Any, links: list[Link]) -> list[tuple[int, int]]:
    """``(start, stop)`` of every scalar parameter the right-hand side reads (not internal ones)."""
    read = set()
    for lk in links:
        for a in lk.args:
            if isinstance(a, str) and (m := _SCALAR.match(a)) and m.group(1) == "p":
                read.add(int(m.group(2)))
    return [(k, k + 1) for k in sorted(read) if not _internal(comp, k)]


def _read_tables(comp: Any, links: list[Link]) -> list[tuple[int, int]]:
    """``(start, stop)`` of every vector parameter the right-hand side reads (not internal ones)."""
    read = set()
    for lk in links:
        for a in lk.args:
            if isinstance(a, str) and (m := _SLICE.match(a)):
                read.add((int(m.group(1)), int(m.group(2))))
    return [(a, b) for a, b in sorted(read) if not _internal(comp, a)]


def _internal(comp: Any, pos: int) -> bool:
    return any(pos0 <= pos < pos0 + size and is_internal_parameter(sig.name) for _, sig, pos0, size in comp.params)


def _table_names(comp: Any, tables: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    out = []
    for a, b in tables:
        for _, sig, pos0, _ in comp.params:
            if pos0 == a:
                out.append((sig.name, a, b))
                break
    return out


def _fd_columns(nx: int, blocks: list[tuple[int, int]], out: str) -> list[str]:
    """Forward differences of the whole ``rhs`` over the parameter entries in ``blocks``."""
    if not blocks:
        return []
    lines = [
        "    _f0 = x.copy()",
        "    _f1 = x.copy()",
        "    _pp = p.copy()",
        "    _st = rhs(t, x, u, p, _f0)",
        "    if _st != 0:",
        "        return _st",
    ]
    for a, b in blocks:
        lines += [
            f"    for _k in range({a}, {b}):",
            f"        _h = {FD_STEP} * max(abs(p[_k]), 1.0)",
            "        _pp[_k] = p[_k] + _h",
            "        _h = _pp[_k] - p[_k]",
            "        _st = rhs(t, x, u, _pp, _f1)",
            "        if _st != 0:",
            "            return _st",
            f"        for _i in range({nx}):",
            f"            {out}[_i, _k] = (_f1[_i] - _f0[_i]) / _h",
            "        _pp[_k] = p[_k]",
        ]
    return lines


def _jac_p_fd(nx: int, n_par: int, blocks: list[tuple[int, int]]) -> list[str]:
    lines = ["", "", "@njit", "def jac_p(t, x, u, p, Jp):"]
    lines += [f"    for _i in range({nx}):", f"        for _j in range({n_par}):", "            Jp[_i, _j] = 0.0"]
    return lines + _fd_columns(nx, blocks, "Jp") + ["    return 0", ""]
