"""Generated analytic Jacobians: forward-mode chain rule over the ordered relations.

For every algebraic variable ``v`` that depends on state ``j`` the generated ``jac`` computes
``dv/dx_j = sum_k (df/da_k) (da_k/dx_j)`` in evaluation order, with ``df/da_k`` the symbolic partial
of the relation's kernel (:mod:`phystwin.physics.autodiff`) or, for a kernel that is not one
expression, a compiled forward difference of that relation alone. Only structurally non-zero entries
are computed, so the Jacobian has the model's exact sparsity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from phystwin.physics import _kernels, autodiff
from phystwin.physics.component import arg_names


def jacobian_lines(
    comp: Any,
    prelude_lines: list[str],
    der_calls: list[tuple[Callable[..., float], list[str | int]]],
    var_name: dict[int, str],
    expr: Callable[[str | int], str],
    kname: Callable[[str], str],
) -> tuple[list[str], int]:
    """Forward-mode chain rule over the ordered relations: ``dv/dx_j`` for every variable ``v``
    that depends on state ``j``; symbolic partials where the kernel is one expression,
    a compiled finite difference of that relation otherwise."""
    nx = len(comp.states)
    lines = list(prelude_lines)
    lines += [f"    for _i in range({nx}):", f"        for _j in range({nx}):", "            J[_i, _j] = 0.0"]
    tangent: dict[int, dict[int, str]] = {}
    n_fd = 0
    fd_step = "1.4901161193847656e-08"

    def arg_tangent(a: str | int) -> dict[int, str]:
        if isinstance(a, int):
            return tangent.get(a, {})
        if a.startswith("x[") and ":" not in a:
            return {int(a[2:-1]): "1.0"}
        return {}

    def partial_terms(
        fn: Callable[..., float] | None, args: list[str | int], names: list[str], tag: str, value: str
    ) -> list[tuple[str, dict[int, str]]]:
        nonlocal n_fd
        terms: list[tuple[str, dict[int, str]]] = []
        live = [(k, arg_tangent(a)) for k, a in enumerate(args)]
        live = [(k, t) for k, t in live if t]
        if not live:
            return terms
        if fn is None:  # node balance: v = -(sum of args)
            return [("-1.0", t) for _, t in live]
        sym = _partials_of(fn, tuple(names))
        if sym is None:
            n_fd += 1
            key = kname(_kernels.register(fn))
        mapping = {n: expr(a) for n, a in zip(names, args, strict=True)}
        for k, t in live:
            pd = f"pd_{tag}_{k}"
            if sym is not None:
                src = sym.get(names[k])
                if src is None:
                    continue
                lines.append(f"    {pd} = {autodiff.substitute(src, mapping)}")
            else:
                a = expr(args[k])
                shifted = ", ".join(f"{expr(b)} + h_{tag}_{k}" if m == k else expr(b) for m, b in enumerate(args))
                lines.append(f"    h_{tag}_{k} = {fd_step} * max(abs({a}), 1.0)")
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
    for cid, name in sorted(
        ((c, n) for c, n in var_name.items() if int(n[1:]) in wanted), key=lambda cn: int(cn[1][1:])
    ):
        alt = comp._solution[cid]
        fn = comp._fn_of(alt)
        terms = partial_terms(fn, alt.args, alt.arg_names, name, name)
        cols = combine(terms)
        tangent[cid] = {}
        for j, sum_src in cols.items():
            dname = f"d{name}_{j}"
            lines.append(f"    {dname} = {sum_src}")
            tangent[cid][j] = dname
    for i, (fn, args) in enumerate(der_calls):
        names = list(arg_names(fn))
        value = f"f_{i}"
        needs_value = _partials_of(fn, tuple(names)) is None
        if needs_value:
            call_args = ", ".join(expr(a) for a in args)
            lines.append(f"    {value} = {kname(_kernels.register(fn))}({call_args})")
        for j, sum_src in combine(partial_terms(fn, args, names, f"x{i}", value)).items():
            lines.append(f"    J[{i}, {j}] = {sum_src}")
    lines += ["    return 0", ""]
    return lines, n_fd


_PARTIALS: dict[int, tuple[Callable[..., float], dict[str, str] | None]] = {}


def _partials_of(fn: Callable[..., float], names: tuple[str, ...]) -> dict[str, str] | None:
    hit = _PARTIALS.get(id(fn))
    if hit is None or hit[0] is not fn:
        hit = (fn, autodiff.partials(fn, names))
        _PARTIALS[id(fn)] = hit
    return hit[1]
