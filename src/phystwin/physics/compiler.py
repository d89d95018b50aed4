"""Compile a System into one fused, disk-cached Model.

Steps:

1. :func:`~phystwin.physics.flatten.flatten` the hierarchy into leaf components and variable
   *classes* (a node's across variables are one class; a driven input is one class with its source).
2. Classes holding a state, parameter or external input are known; the rest are unknowns.
   Equations are the component relations (each with one or more explicit solutions) and one
   Kirchhoff balance per node (sum of through variables = 0, solvable for any of them).
3. A maximum bipartite matching assigns each equation the unknown it computes; an unknown left
   over is reported as "nothing determines X", an equation left over as over-determined.
4. Tarjan's strongly connected components order the assignments (block-lower-triangular form);
   a block of more than one equation is an algebraic loop and is refused, naming its members.
5. Python source for ``rhs``, ``out``, ``jac``, ``jac_p``, ``ev`` and ``act`` is generated (only
   the assignments each function needs; the Jacobians by the chain rule over traced partials, see
   :mod:`~phystwin.physics.jacobian_codegen`), written to the cache folder under a name derived from
   its hash, and imported; Numba caches the compiled code beside it, so the next process with the
   same structure loads machine code instead of compiling. The solvers are model-independent kernels
   (compiled once per machine, see :mod:`phystwin.core.solvers`) that take these functions as
   first-class function arguments.
6. ``jac`` and ``jac_p`` are checked against finite differences of ``rhs``
   (:mod:`~phystwin.physics.jacobian_check`); a disagreement is refused, a pass recorded beside
   the module.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from phystwin._jit import NUMBA_ERRORS
from phystwin.core.model import Layout, Model, Signal, StateBound, state_bounds
from phystwin.core.status import STATE_BOUND
from phystwin.physics import _kernels, jacobian_check
from phystwin.physics.component import Component, ModelDefinitionError, arg_names
from phystwin.physics.dimensions import check_dimensions
from phystwin.physics.flatten import Flat, Key, flatten
from phystwin.physics.jacobian_codegen import JacobianCode, jacobian_code
from phystwin.physics.model_cache import cache_dir, load_model_module
from phystwin.physics.system import System


class AlgebraicLoopError(ModelDefinitionError):
    """The composed equations contain an algebraic loop (listed by member)."""


class StructuralError(ModelDefinitionError):
    """A variable is not determined by any equation, or an equation is over-determined."""


class UnconnectedPortError(StructuralError):
    """The structural analysis failed and port(s) left unconnected take part in the conflict.

    An unconnected port is legal (its through variable is zero: an insulated heat port, a free
    flange, an open pin); it is refused only when that zero flow contradicts the component's own
    equations. ``ports`` names them (``"pump.shaft"``), in the order of the message.
    """

    def __init__(self, message: str, ports: Sequence[str]) -> None:
        super().__init__(message)
        self.ports = tuple(ports)


@dataclass
class _Alt:
    target: int  # class id
    fn_key: str | None  # None: Kirchhoff balance
    args: list[str | int]  # literal expression or class id
    arg_names: list[str]


@dataclass
class _Eq:
    label: str
    owner: str
    alts: list[_Alt]


def _placeholder(a: str | int) -> str:
    """A literal argument as is; a class id as ``{id}``, filled with its variable name later."""
    return a if isinstance(a, str) else "{" + str(a) + "}"


class _Compiler:
    def __init__(
        self, system: System, analytic_jacobian: bool = True, estimated_parameters: tuple[str, ...] = ()
    ) -> None:
        self.system = system
        self.analytic_jacobian = analytic_jacobian
        self.estimated_parameters = estimated_parameters
        self.n_physical = 0
        self.jacobian_kind = "finite-difference"
        self.flat: Flat = flatten(system)
        self.class_of: dict[Key, int] = {}
        self.class_members: list[list[Key]] = []
        self.known_expr: dict[int, str] = {}
        self.states: list[tuple[Key, Signal]] = []
        self.params: list[tuple[Key, Signal, int, int]] = []
        self.eqs: list[_Eq] = []
        self.unconnected: dict[int, tuple[str, Any]] = {}  # node-balance equation -> its single (path, port)

    # ------------------------------------------------------------------ classes and knowns
    def build_classes(self) -> None:
        flat = self.flat
        roots: dict[Key, int] = {}
        for key in flat.vars:
            r = flat.find(key)
            if r not in roots:
                roots[r] = len(self.class_members)
                self.class_members.append([])
            cid = roots[r]
            self.class_of[key] = cid
            self.class_members[cid].append(key)
        for path, comp in flat.leaves.items():
            for s in comp.states:
                self.states.append(
                    (
                        (path, s.name),
                        Signal(f"{path}.{s.name}", s.unit, comp.state_starts[s.name], s.description, s.lower, s.upper),
                    )
                )
        pos = 0
        for path, comp in flat.leaves.items():
            for prm in comp.parameters:
                size = prm.size or 1
                val = comp.parameter_values[prm.name]
                default = tuple(float(v) for v in val) if prm.size else float(val)
                sig = Signal(
                    f"{path}.{prm.name}", prm.unit, default, prm.description, prm.lower, prm.upper, prm.strict, size
                )
                self.params.append(((path, prm.name), sig, pos, size))
                pos += size
        self.n_physical = len(self.states)
        augmented = self._augment_parameters()
        for i, (key, _) in enumerate(self.states):
            self._set_known(key, f"x[{i}]")
        for key, sig, pos0, size in self.params:
            if key in augmented:
                continue
            self._set_known(key, f"p[{pos0}:{pos0 + size}]" if sig.size > 1 or self._is_vector(key) else f"p[{pos0}]")
        for k, (_, _, _, _, key) in enumerate(flat.ext_inputs):
            self._set_known(key, f"u[{k}]")
        for cid, members in enumerate(self.class_members):
            if cid in self.known_expr:
                continue
            roles = {flat.vars[m].role for m in members}
            if roles <= {"input", "virtual_in", "virtual_out"}:
                names = ", ".join(sorted(flat.vars[m].where for m in members))
                raise StructuralError(
                    f"signal input(s) {names} not connected: connect a source to it or declare a system input for it"
                )

    def _augment_parameters(self) -> set[Key]:
        """Append each estimated parameter as a state with zero derivative (a random walk once the
        filter adds process noise); its ``p`` entry stays in the layout but is no longer read."""
        by_name = {sig.name: (key, sig) for key, sig, _, _ in self.params}
        done: set[Key] = set()
        for name in self.estimated_parameters:
            if name not in by_name:
                close = difflib.get_close_matches(name, sorted(by_name), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; parameters: {', '.join(sorted(by_name))}"
                raise StructuralError(f"cannot estimate unknown parameter {name!r}{hint}")
            key, sig = by_name[name]
            if sig.size > 1 or self._is_vector(key):
                raise StructuralError(f"cannot estimate vector parameter {name!r}: only scalar parameters")
            if key in done:
                raise StructuralError(f"parameter {name!r} listed twice in estimated_parameters")
            done.add(key)
            desc = f"estimated parameter (random-walk state): {sig.description}".rstrip(": ")
            self.states.append((key, Signal(name, sig.unit, sig.default, desc, sig.lower, sig.upper, sig.strict)))
        return done

    def _is_vector(self, key: Key) -> bool:
        comp = self.flat.leaves[key[0]]
        return any(p.name == key[1] and p.size for p in comp.parameters)

    def _set_known(self, key: Key, expr: str) -> None:
        cid = self.class_of[key]
        if cid in self.known_expr and self.known_expr[cid] != expr:
            members = ", ".join(sorted(self.flat.vars[m].where for m in self.class_members[cid]))
            raise StructuralError(f"signal driven by more than one source: {members}")
        self.known_expr[cid] = expr

    def where(self, cid: int) -> str:
        members = self.class_members[cid]
        flat = self.flat
        best = sorted(members, key=lambda m: (flat.vars[m].role.startswith("virtual"), flat.vars[m].where))
        return flat.vars[best[0]].where

    def describe(self, cid: int) -> str:
        """All names of a variable class: ``a.u = b.y`` for a driven input."""
        names = sorted(
            {
                self.flat.vars[m].where
                for m in self.class_members[cid]
                if not self.flat.vars[m].role.startswith("virtual")
            }
        )
        return " = ".join(names) or self.where(cid)

    # ------------------------------------------------------------------ equations
    def _arg(self, path: str, comp: Component, name: str) -> str | int:
        if name == "t":
            return "t"
        ports = {f"{p.name}_{p.kind.across}": p.across for p in comp.ports}
        ports.update({f"{p.name}_{p.kind.through}": p.through for p in comp.ports})
        local = ports.get(name, name)
        cid = self.class_of[(path, local)]
        return self.known_expr.get(cid, cid)

    def build_equations(self) -> None:
        flat = self.flat
        for path, comp in flat.leaves.items():
            for r, rel in enumerate(comp.relations):
                alts = []
                for target, fn in rel.solves.items():
                    cid = self.class_of[(path, target)]
                    if cid in self.known_expr:
                        continue
                    names = list(arg_names(fn))
                    alts.append(_Alt(cid, _kernels.register(fn), [self._arg(path, comp, a) for a in names], names))
                label = rel.description or f"relation {r} ({'/'.join(rel.solves)})"
                self.eqs.append(_Eq(label, path, alts))
        nodes: dict[int, list[tuple[str, Any]]] = {}
        for path, port in flat.ports:
            nodes.setdefault(self.class_of[(path, port.across)], []).append((path, port))
        for members in nodes.values():
            through = [self.class_of[(path, port.through)] for path, port in members]
            owner = ", ".join(f"{path}.{port.name}" for path, port in members)
            alts = [_Alt(c, None, [o for o in through if o != c], []) for c in through]
            if len(members) == 1:  # an unconnected port: its through variable is zero
                self.unconnected[len(self.eqs)] = members[0]
            self.eqs.append(_Eq("node balance (sum of through variables = 0)", owner, alts))

    # ------------------------------------------------------------------ matching and ordering
    def match(self) -> dict[int, int]:
        """Kuhn's augmenting paths: equation index -> alternative index."""
        unknowns = [c for c in range(len(self.class_members)) if c not in self.known_expr]
        solved_by: dict[int, int] = {}
        choice: dict[int, int] = {}

        def augment(e: int, seen: set[int]) -> bool:
            for a, alt in enumerate(self.eqs[e].alts):
                c = alt.target
                if c in seen:
                    continue
                seen.add(c)
                if c not in solved_by or augment(solved_by[c], seen):
                    solved_by[c] = e
                    choice[e] = a
                    return True
            return False

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * len(self.eqs) + 1000))
        try:
            for e in range(len(self.eqs)):
                augment(e, set())
        finally:
            sys.setrecursionlimit(limit)
        free = [c for c in unknowns if c not in solved_by]
        over = [e for e in range(len(self.eqs)) if e not in choice]
        if free or over:
            message, ports = self._singularity_report(free, over, solved_by, choice)
            raise UnconnectedPortError(message, ports) if ports else StructuralError(message)
        return choice

    def _singularity_report(
        self, free: list[int], over: list[int], solved_by: dict[int, int], choice: dict[int, int]
    ) -> tuple[str, list[str]]:
        """Name the whole under- and over-determined sets (Dulmage-Mendelsohn by alternating paths),
        not just the variable or equation the matching happened to leave over; unconnected ports
        first. Returns the message and the unconnected ports taking part in the conflict."""
        seen_e: set[int] = set()
        seen_v: set[int] = set()
        can_solve: dict[int, list[int]] = {}
        for e, eq in enumerate(self.eqs):
            for alt in eq.alts:
                can_solve.setdefault(alt.target, []).append(e)
        lines: list[str] = []
        if over:
            # equations reachable from an unmatched equation: e -> its candidate variables -> their equations
            seen_e, todo = set(over), list(over)
            while todo:
                e = todo.pop()
                for alt in self.eqs[e].alts:
                    e2 = solved_by.get(alt.target)
                    if e2 is not None and e2 not in seen_e:
                        seen_e.add(e2)
                        todo.append(e2)
            owners = sorted({self.eqs[e].owner for e in seen_e})
            variables = sorted({self.where(a.target) for e in seen_e for a in self.eqs[e].alts})
            lines.append(
                f"over-determined: {len(seen_e)} equation(s) of {'; '.join(owners)} compete for "
                f"{len(seen_e) - len(over)} variable(s) ({', '.join(variables[:12])}) - two sources "
                "imposing the same quantity, or rigidly coupled storage elements?"
            )
        if free:
            seen_v, todo = set(free), list(free)
            while todo:
                c = todo.pop()
                for e in can_solve.get(c, []):
                    if e in choice:
                        c2 = self.eqs[e].alts[choice[e]].target
                        if c2 not in seen_v:
                            seen_v.add(c2)
                            todo.append(c2)
            names = sorted(self.where(c) for c in seen_v)
            lines.append(f"under-determined: nothing determines {', '.join(names[:12])}")
        head, ports = self._unconnected_report(seen_e, seen_v)
        return head + "the composed system is structurally singular:\n  " + "\n  ".join(lines), ports

    def _unconnected_report(self, seen_e: set[int], seen_v: set[int]) -> tuple[str, list[str]]:
        """Lines naming the unconnected ports, those in the conflict (``seen_e``, ``seen_v``) first."""
        involved: list[str] = []
        lines: list[str] = []
        others: list[str] = []
        for e, (path, port) in sorted(self.unconnected.items(), key=lambda item: f"{item[1][0]}.{item[1][1].name}"):
            name = f"{path}.{port.name}"
            k = port.kind
            classes = {self.class_of[(path, port.across)], self.class_of[(path, port.through)]}
            if e in seen_e or classes & seen_v:
                involved.append(name)
                lines.append(
                    f"port {name} is not connected ({k.name} port: {k.across} [{k.across_unit}] across, "
                    f"{k.through} [{k.through_unit}] through)"
                )
            else:
                others.append(f"{name} ({k.name})")
        if involved:
            port_word = "this port" if len(involved) == 1 else "these ports"
            lines.append(
                f"an unconnected port carries no flow (its through variable is 0), which the equations of "
                f"{', '.join(sorted({n.rsplit('.', 1)[0] for n in involved}))} contradict: connect {port_word}"
            )
        if others:
            lines.append(
                f"also not connected (zero flow, not part of the conflict): {', '.join(others[:12])}"
                + (f" and {len(others) - 12} more" if len(others) > 12 else "")
            )
        return "".join(line + "\n" for line in lines), involved

    def order(self, choice: dict[int, int]) -> list[int]:
        """Equations in evaluation order; refuse algebraic loops (Tarjan, iterative)."""
        solver_of = {self.eqs[e].alts[a].target: e for e, a in choice.items()}
        deps = {e: [solver_of[x] for x in self.eqs[e].alts[a].args if isinstance(x, int)] for e, a in choice.items()}
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        out: list[int] = []
        counter = 0
        for root in deps:
            if root in index:
                continue
            work = [(root, 0)]
            while work:
                v, i = work.pop()
                if i == 0:
                    index[v] = low[v] = counter
                    counter += 1
                    stack.append(v)
                    on_stack.add(v)
                recurse = False
                for j in range(i, len(deps[v])):
                    w = deps[v][j]
                    if w not in index:
                        work.append((v, j + 1))
                        work.append((w, 0))
                        recurse = True
                        break
                    if w in on_stack:
                        low[v] = min(low[v], index[w])
                if recurse:
                    continue
                if low[v] == index[v]:
                    block = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        block.append(w)
                        if w == v:
                            break
                    if len(block) > 1 or v in deps[v]:
                        self._loop_error(block, choice)
                    out.extend(block)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[v])
        return out

    def _loop_error(self, block: list[int], choice: dict[int, int]) -> None:
        owners = sorted({self.eqs[e].owner for e in block})
        variables = sorted({self.describe(self.eqs[e].alts[choice[e]].target) for e in block})
        raise AlgebraicLoopError(
            "algebraic loop between " + "; ".join(owners) + " (variables: " + ", ".join(variables) + ")"
        )

    # ------------------------------------------------------------------ code generation
    def generate(self) -> tuple[str, Layout]:
        choice = self.match()
        order = self.order(choice)
        flat = self.flat
        var_name = {self.eqs[e].alts[choice[e]].target: f"v{n}" for n, e in enumerate(order)}

        def expr(a: str | int) -> str:
            return var_name[a] if isinstance(a, int) else a

        def class_expr(cid: int) -> str:
            return self.known_expr.get(cid) or var_name[cid]

        assign: dict[int, str] = {}
        needs: dict[int, list[int]] = {}
        self._solution: dict[int, _Alt] = {}
        kernels: dict[str, str] = {}
        self.kernel_names = kernels  # registry key -> name in the generated module (k0, k1, ...)
        self.kernel_owner: dict[str, str] = {
            alt.fn_key: f"component {eq.owner}, equation {eq.label}"
            for eq in self.eqs
            for alt in eq.alts
            if alt.fn_key is not None
        }

        def kname(key: str) -> str:
            return kernels.setdefault(key, f"k{len(kernels)}")

        for e in order:
            alt = self.eqs[e].alts[choice[e]]
            if alt.fn_key is None:
                rhs = "-(" + " + ".join(expr(a) for a in alt.args) + ")" if alt.args else "0.0"
            else:
                rhs = f"{kname(alt.fn_key)}({', '.join(expr(a) for a in alt.args)})"
            assign[alt.target] = f"    {var_name[alt.target]} = {rhs}  # {self.where(alt.target)}"
            self._solution[alt.target] = alt
            needs[alt.target] = [a for a in alt.args if isinstance(a, int)]
        pos = {self.eqs[e].alts[choice[e]].target: n for n, e in enumerate(order)}

        def prelude(roots: list[str | int]) -> list[str]:
            want: set[int] = set()
            todo = [r for r in roots if isinstance(r, int)]
            while todo:
                c = todo.pop()
                if c in want:
                    continue
                want.add(c)
                todo.extend(needs[c])
            return [assign[c] for c in sorted(want, key=lambda c: pos[c])]

        def call(path: str, comp: Component, fn: Callable[..., float]) -> tuple[str, list[str | int]]:
            args = [self._arg(path, comp, a) for a in arg_names(fn)]
            key = _kernels.register(fn)
            self.kernel_owner.setdefault(key, f"component {path}, equation {getattr(fn, '__qualname__', key)}")
            return (
                f"{kname(key)}({', '.join(_placeholder(a) for a in args)})",
                args,
            )

        def fill(template: str) -> str:
            # class ids are filled after all names are known
            for cid in sorted(var_name, reverse=True):
                template = template.replace("{" + str(cid) + "}", var_name[cid])
            return template

        # derivatives
        rhs_lines: list[str] = []
        rhs_roots: list[str | int] = []
        der_calls: list[tuple[Callable[..., float], list[str | int]]] = []
        for i, ((path, sname), _) in enumerate(self.states):
            if i >= self.n_physical:  # estimated parameter: constant between filter updates
                rhs_lines.append(f"    dx[{i}] = 0.0")
                continue
            comp = flat.leaves[path]
            text, args = call(path, comp, comp.derivatives[sname])
            rhs_lines.append(f"    dx[{i}] = {fill(text)}")
            rhs_roots += args
            der_calls.append((comp.derivatives[sname], args))
        # outputs
        out_lines: list[str] = []
        out_roots: list[str | int] = []
        outputs: list[Signal] = []
        for j, (name, unit, desc, key) in enumerate(self.flat.outputs):
            cid = self.class_of[key]
            out_lines.append(f"    y[{j}] = {class_expr(cid)}")
            if cid not in self.known_expr:
                out_roots.append(cid)
            outputs.append(Signal(name, unit or flat.vars[key].unit, 0.0, desc))
        # events
        ev_lines: list[str] = []
        act_lines: list[str] = []
        ev_roots: list[str | int] = []
        act_roots: list[str | int] = []
        events: list[tuple[str, int]] = []
        state_pos = {key: i for i, (key, _) in enumerate(self.states)}
        bounds = self._state_bounds()
        for path, comp in flat.leaves.items():
            for ev in comp.events:
                k = len(events)
                events.append((f"{path}.{ev.name}", ev.direction))
                text, args = call(path, comp, ev.indicator)
                ev_lines.append(f"    g[{k}] = {fill(text)}")
                ev_roots += args
                if ev.resets:
                    act_lines.append(f"    if k == {k}:")
                    tmp = []
                    for n, (sname, fn) in enumerate(ev.resets.items()):
                        text, args = call(path, comp, fn)
                        act_lines.append(f"        r{n} = {fill(text)}")
                        act_roots += args
                        tmp.append((state_pos[(path, sname)], n))
                    for i, n in tmp:
                        act_lines.append(f"        x[{i}] = r{n}")
                    act_lines += _reset_range_checks([i for i, _ in tmp], bounds)
        # declared state ranges: one falling indicator per finite bound after the model's own events
        # (Layout.event_directions); its crossing stops the run with STATE_BOUND
        if bounds:
            n_ev = len(events)
            ev_lines.append(f"    if g.shape[0] >= {n_ev + len(bounds)}:  # the caller watches the state bounds")
            for j, b in enumerate(bounds):
                dist = f"x[{b.index}] - ({b.limit!r})" if b.side == "lower" else f"({b.limit!r}) - x[{b.index}]"
                ev_lines.append(f"        g[{n_ev + j}] = {dist}  # {self.states[b.index][1].name} {b.side} bound")
            act_lines += [f"    if k >= {n_ev}:", f"        return {STATE_BOUND}  # a state left its declared range"]

        nx, ny = len(self.states), len(outputs)
        inputs = [
            Signal(name, unit, math.nan if default is None else float(default), desc)
            for name, unit, default, desc, _ in flat.ext_inputs
        ]
        layout = Layout(
            states=tuple(s for _, s in self.states),
            parameters=tuple(s for _, s, _, _ in self.params),
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            events=tuple(events),
        )
        src: list[str] = [
            f'"""Generated by phystwin from System {self.system.name!r}: {nx} states, {ny} outputs. Do not edit."""',
            "# Each assignment computes the variable named in its comment.",
            "# ruff: noqa",
            "import math",
            "",
            "from phystwin._jit import njit",
            "from phystwin.core.jacobian import fd_jacobian",
            "from phystwin.physics._kernels import KERNELS",
            "",
        ]
        for kernel_key, kernel_name in kernels.items():
            src.append(f"{kernel_name} = KERNELS[{kernel_key!r}]")
        src += ["", "", "@njit", "def rhs(t, x, u, p, dx):"]
        src += prelude(rhs_roots) + rhs_lines + ["    return 0", "", "", "@njit", "def out(t, x, u, p, y):"]
        src += prelude(out_roots) + out_lines + ["    return 0", "", "", "@njit", "def ev(t, x, u, p, g):"]
        src += prelude(ev_roots) + ev_lines + ["    return 0", "", "", "@njit", "def act(t, x, u, p, k):"]
        src += prelude(act_roots) + act_lines + ["    return 0"]
        # jac and jac_p (df/dx, df/dp): forward-mode chain rule over the traced partials
        self.jacobians: JacobianCode = jacobian_code(self, prelude(rhs_roots), der_calls, var_name, expr, kname)
        src += self.jacobians.lines
        self.jacobian_kind = self.jacobians.kind
        return "\n".join(src) + "\n", layout

    def _state_bounds(self) -> tuple[StateBound, ...]:
        """The finite state bounds, after checking each declared range and start value."""
        for _, sig in self.states[: self.n_physical]:
            lo, hi, start = sig.lower, sig.upper, float(sig.default)  # type: ignore[arg-type]
            where = f"state {sig.name} [{sig.unit}]"
            if not lo <= hi:
                raise ModelDefinitionError(f"{where}: lower bound {lo:g} is not <= upper bound {hi:g}")
            if not lo <= start <= hi:
                raise ModelDefinitionError(f"{where}: start value {start:g} is outside its range [{lo:g}, {hi:g}]")
        return state_bounds(tuple(sig for _, sig in self.states))

    def uses_time(self) -> bool:
        """Whether any relation, derivative or event reads ``t`` (else only inputs vary in time)."""
        if any("t" in alt.arg_names for eq in self.eqs for alt in eq.alts):
            return True
        for comp in self.flat.leaves.values():
            fns = [*comp.derivatives.values(), *(e.indicator for e in comp.events)]
            if any("t" in arg_names(fn) for fn in fns):
                return True
        return False

    def _fn_of(self, alt: _Alt) -> Callable[..., float] | None:
        if alt.fn_key is None:
            return None
        fn = _kernels.KERNELS[alt.fn_key]
        return getattr(fn, "py_func", fn)  # type: ignore[no-any-return]


def _reset_range_checks(indices: list[int], bounds: tuple[StateBound, ...]) -> list[str]:
    """Generated lines of an event's action: a reset that puts a state outside its range fails the run."""
    lines = []
    for b in bounds:
        if b.index in indices:
            cmp = "<=" if b.side == "lower" else ">="
            lines += [f"        if x[{b.index}] {cmp} {b.limit!r}:", f"            return {STATE_BOUND}"]
    return lines


def compile_system(
    system: System, *, analytic_jacobian: bool = True, estimated_parameters: Sequence[str] = ()
) -> Model:
    """Compile ``system`` into a :class:`Model` (see the module docstring).

    ``estimated_parameters`` names scalar parameters (``"component.parameter"``) that become
    extra states after the physical ones, with ``d(theta)/dt = 0``: the augmented model of joint
    state and parameter estimation. A filter's process noise on those states makes them random
    walks. Their start value is the parameter's value; their Jacobian columns come from the same
    analytic chain rule as the physical states' (``df/d(theta)``), so the EKF and the process-noise
    discretisation see how each parameter acts on the dynamics.
    """
    comp = _Compiler(system, analytic_jacobian, tuple(estimated_parameters))
    comp.build_classes()
    comp.build_equations()
    unit_notes = check_dimensions(comp.flat, cache_dir())  # refuses a dimensionally wrong equation or an unknown unit
    source, layout = comp.generate()
    module, digest, path = load_model_module(source)
    # refuses a Jacobian that disagrees with finite differences of rhs (a pass is cached with the module);
    # its first call of rhs / jac compiles them: an equation numba cannot compile fails here
    try:
        checked = jacobian_check.verify(
            module,
            layout,
            comp.jacobians,
            model_name=system.name,
            source_path=path,
            components=comp.flat.leaves.values(),
        )
    except NUMBA_ERRORS as exc:
        raise _kernel_compile_error(exc, comp, module, path, system.name) from None
    model = Model(
        name=system.name,
        layout=layout,
        kernels=module,
        structure_hash=digest,
        jacobian_kind=comp.jacobian_kind,
        source_path=path,
        n_equations=len(comp.eqs),
        uses_time=comp.uses_time(),
        estimated_parameters=tuple(estimated_parameters),
        derivative_notes=comp.jacobians.notes + checked,
        unit_notes=unit_notes,
    )
    try:  # compile (or load from numba's cache) every kernel now, so no run fails on its first call
        model.functions()
    except NUMBA_ERRORS as exc:
        raise _kernel_compile_error(exc, comp, module, path, system.name) from None
    except Exception:  # noqa: S110 - anything else (an unreadable numba cache) surfaces at the first run, as before
        pass
    return model


class KernelCompileError(ModelDefinitionError):
    """Numba cannot compile an equation (a plain-Python helper without ``@njit``, a numpy function
    numba does not support in ``nopython`` mode, ``math.fmod``...).

    Attributes
    ----------
    equation : str
        ``"component <path>, equation <label>"`` of the kernel that failed ("" if not identified).
    kernel : str
        Its registry key (:mod:`phystwin.physics._kernels`), "" if not identified.
    location : str
        ``file:line`` in the user's code named by numba's message ("" if none).
    """

    def __init__(self, message: str, *, equation: str = "", kernel: str = "", location: str = "") -> None:
        super().__init__(message)
        self.equation = equation
        self.kernel = kernel
        self.location = location


_NUMBA_FILE = re.compile(r'^\s*File "([^"]+)", line (\d+)')
_NUMBA_NOISE = ("Failed in ", "During:", "<source elided>", "Enable logging at debug level")


def _kernel_compile_error(exc: Exception, comp: Any, module: Any, path: str, model_name: str) -> KernelCompileError:
    """A readable refusal from numba's compile error: the equation whose kernel failed, the user's
    file:line numba names, and the first lines of its message (no traceback)."""
    text = str(exc)
    lines = text.splitlines()
    generated = os.path.realpath(path)
    # the kernel: a `kN(` call on the generated module's line numba quotes, else the function numba names
    by_name = {v: k for k, v in getattr(comp, "kernel_names", {}).items()}
    key = ""
    for n, line in enumerate(lines):
        m = _NUMBA_FILE.match(line)
        if m and os.path.realpath(m.group(1)) == generated:
            for quoted in lines[n + 1 : n + 4]:
                hit = re.search(r"\b(k\d+)\(", quoted)
                if hit and hit.group(1) in by_name:
                    key = by_name[hit.group(1)]
                    break
            if key:
                break
    if not key:  # the function numba names ("<function C.<lambda> at 0x...>")
        named = {re.sub(r"[<>]", "", q).replace(".", "_") for q in re.findall(r"<function ([\w.<>]+) at", text)}
        key = next((k for k in by_name.values() if k.rsplit("_", 1)[0] in named), "")
    owners = dict(getattr(comp, "kernel_owner", {}))
    jac = getattr(comp, "jacobians", None)
    for lk in getattr(jac, "links", ()):
        if lk.row is not None and lk.fn is not None:  # a derivative: name it d(x)/dt
            try:
                owners[_kernels.register(lk.fn)] = f"component {lk.owner}, equation {lk.equation}"
            except Exception:  # noqa: S112 - best effort naming
                continue
    owner = owners.get(key, "")
    location = ""
    for line in lines:
        m = _NUMBA_FILE.match(line)
        if m and os.path.realpath(m.group(1)) != generated and "site-packages" not in m.group(1):
            location = f"{os.path.abspath(m.group(1))}:{m.group(2)}"
            break
    relevant: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith(_NUMBA_NOISE):
            continue
        m = _NUMBA_FILE.match(line)
        if m and os.path.realpath(m.group(1)) == generated:
            break
        relevant.append("    " + stripped)
        if len(relevant) >= 8:
            break
    what = owner or (f"kernel {key}" if key else "one of its equations")
    where = f" ({location})" if location else ""
    message = (
        f"model {model_name!r}: numba cannot compile {what}{where}: an equation must be plain arithmetic on "
        "floats, math functions, numpy functions numba supports, and helper functions decorated with "
        "phystwin._jit.njit. Numba says:\n" + "\n".join(relevant or ["    " + type(exc).__name__])
    )
    return KernelCompileError(message, equation=owner, kernel=key, location=location)
