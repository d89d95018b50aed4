"""Flattening a (possibly nested) System into leaf components, variable classes and nodes.

Every variable of every leaf component gets a key ``(path, local)``; port connections make the
across variables of a node one *class*, signal connections make a driven input one class with its
source. The compiler then works on classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phystwin.physics.component import Component, ModelDefinitionError
from phystwin.physics.ports import Port
from phystwin.physics.system import System, normalize_unit

Key = tuple[str, str]


@dataclass
class VarInfo:
    """One variable before aliasing."""

    key: Key
    unit: str
    role: str  # state | param | alg | input | ext | virtual_in | virtual_out
    where: str  # dotted name for messages


@dataclass
class Flat:
    """A flattened system."""

    leaves: dict[str, Component] = field(default_factory=dict)
    vars: dict[Key, VarInfo] = field(default_factory=dict)
    parent: dict[Key, Key] = field(default_factory=dict)
    ports: list[tuple[str, Port]] = field(default_factory=list)
    ext_inputs: list[tuple[str, str, float | None, str, Key]] = field(default_factory=list)
    outputs: list[tuple[str, str, str, Key]] = field(default_factory=list)  # name, unit (may be ''), description, key

    def find(self, k: Key) -> Key:
        root = k
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[k] != root:
            self.parent[k], k = root, self.parent[k]
        return root

    def union(self, a: Key, b: Key) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def add_var(self, key: Key, unit: str, role: str, where: str) -> None:
        self.vars[key] = VarInfo(key, unit, role, where)
        self.parent[key] = key


def _dotted(prefix: str, name: str) -> str:
    return f"{prefix}{name}" if prefix else name


def flatten(top: System) -> Flat:
    """Flatten ``top``; refuse unknown references, kind and unit mismatches naming both ends."""
    flat = Flat()
    _declare(top, "", flat, is_top=True)
    _link(top, "", flat)
    return flat


def _declare(sys_: System, prefix: str, flat: Flat, is_top: bool) -> None:
    for name, child in sys_.children.items():
        path = _dotted(prefix, name)
        if isinstance(child, System):
            _declare(child, path + ".", flat, is_top=False)
            continue
        flat.leaves[path] = child
        for s in child.states:
            flat.add_var((path, s.name), s.unit, "state", f"{path}.{s.name}")
        for p in child.parameters:
            flat.add_var((path, p.name), p.unit, "param", f"{path}.{p.name}")
        for v in child.inputs:
            flat.add_var((path, v.name), v.unit, "input", f"{path}.{v.name}")
        for v in child.variables:
            flat.add_var((path, v.name), v.unit, "alg", f"{path}.{v.name}")
        for port in child.ports:
            flat.ports.append((path, port))
            flat.add_var((path, port.across), port.kind.across_unit, "alg", f"{path}.{port.across}")
            flat.add_var((path, port.through), port.kind.through_unit, "alg", f"{path}.{port.through}")
    own = prefix[:-1] if prefix else ""
    for inp in sys_.inputs.values():
        role = "ext" if is_top else "virtual_in"
        flat.add_var((own, "@in:" + inp.name), inp.unit, role, _dotted(prefix, inp.name))
        if is_top:
            flat.ext_inputs.append((inp.name, inp.unit, inp.default, inp.description, (own, "@in:" + inp.name)))
    for out in sys_.outputs.values():
        flat.add_var((own, "@out:" + out.name), out.unit or "", "virtual_out", _dotted(prefix, out.name))
        if is_top:
            flat.outputs.append((out.name, out.unit or "", out.description, (own, "@out:" + out.name)))


Resolved = tuple[str, str, Port] | tuple[str, Key]


def _resolve(sys_: System, prefix: str, ref: str, flat: Flat) -> Resolved:
    head, _, rest = ref.partition(".")
    child = sys_.children.get(head)
    where = f"system {prefix[:-1] or sys_.name!r}"
    if child is None:
        members = ", ".join(sys_.children) or "(none)"
        raise ModelDefinitionError(f"{where}: unknown member {head!r} in reference {ref!r}; members are {members}")
    if not rest:
        raise ModelDefinitionError(
            f"{where}: reference {ref!r} names a whole member; expected 'member.port' or 'member.variable'"
        )
    path = _dotted(prefix, head)
    if isinstance(child, System):
        if rest in child.exposed:
            return _resolve(child, path + ".", child.exposed[rest], flat)
        if rest in child.inputs:
            return ("var", (path, "@in:" + rest))
        if rest in child.outputs:
            return ("var", (path, "@out:" + rest))
        if rest.partition(".")[0] in child.children:
            return _resolve(child, path + ".", rest, flat)
        offered = sorted([*child.exposed, *child.inputs, *child.outputs, *child.children])
        raise ModelDefinitionError(
            f"{where}: subsystem {head!r} has no port, input, output or member {rest!r} "
            f"(reference {ref!r}); it offers {', '.join(offered) or '(nothing)'}"
        )
    comp = child
    for port in comp.ports:
        if rest == port.name:
            return ("port", path, port)
        if rest in (port.across, port.through):
            return ("var", (path, rest))
    if (path, rest) in flat.vars:
        return ("var", (path, rest))
    names = [p.name for p in comp.ports]
    names += [s.name for s in comp.states] + [v.name for v in (*comp.variables, *comp.inputs)]
    names += [p.name for p in comp.parameters]
    raise ModelDefinitionError(
        f"{where}: {type(comp).__name__} {head!r} has no port or variable {rest!r} (reference {ref!r}); "
        f"expected one of {', '.join(names) or '(none)'}"
    )


def _as_var(res: Resolved, ref: str, what: str) -> Key:
    if res[0] != "var":
        raise ModelDefinitionError(f"{what} {ref!r} is a port, expected a signal or variable")
    return res[1]  # type: ignore[return-value]


def _check_units(flat: Flat, a: Key, b: Key, ra: str, rb: str) -> None:
    ua, ub = flat.vars[a].unit, flat.vars[b].unit
    if ua and ub and normalize_unit(ua) != normalize_unit(ub):
        raise ModelDefinitionError(f"unit mismatch connecting {ra!r} [{ua}] to {rb!r} [{ub}]")


def _drive(flat: Flat, src: Key, dst: Key, rs: str, rd: str) -> None:
    if flat.vars[dst].role not in ("input", "virtual_in"):
        raise ModelDefinitionError(
            f"cannot drive {rd!r} from {rs!r}: {rd!r} is not a signal input "
            f"(it is a {flat.vars[dst].role} variable); the destination comes second"
        )
    _check_units(flat, src, dst, rs, rd)
    flat.union(src, dst)


def _link(sys_: System, prefix: str, flat: Flat) -> None:
    own = prefix[:-1] if prefix else ""
    for child_name, child in sys_.children.items():
        if isinstance(child, System):
            _link(child, _dotted(prefix, child_name) + ".", flat)
    for inp in sys_.inputs.values():
        vkey = (own, "@in:" + inp.name)
        for tgt in inp.targets:
            dst = _as_var(_resolve(sys_, prefix, tgt, flat), tgt, f"input {inp.name!r} target")
            _drive(flat, vkey, dst, _dotted(prefix, inp.name), _dotted(prefix, tgt))
    for out in sys_.outputs.values():
        okey = (own, "@out:" + out.name)
        src = _as_var(_resolve(sys_, prefix, out.source, flat), out.source, f"output {out.name!r} source")
        if not out.unit:
            flat.vars[okey].unit = flat.vars[src].unit
        _check_units(flat, src, okey, _dotted(prefix, out.source), _dotted(prefix, out.name))
        flat.union(src, okey)
    for a, b in sys_.port_links:
        ra, rb = _resolve(sys_, prefix, a, flat), _resolve(sys_, prefix, b, flat)
        if ra[0] != "port" or rb[0] != "port":
            raise ModelDefinitionError(f"cannot connect {a!r} to {b!r}: both ends must be ports")
        pa, pb = ra[2], rb[2]  # type: ignore[misc]
        if pa.kind != pb.kind:
            raise ModelDefinitionError(
                f"cannot connect {_dotted(prefix, a)!r} ({pa.kind.name} port) to "
                f"{_dotted(prefix, b)!r} ({pb.kind.name} port): port kinds differ"
            )
        flat.union((ra[1], pa.across), (rb[1], pb.across))  # type: ignore[arg-type]
    for a, b in sys_.signal_links:
        ra, rb = _resolve(sys_, prefix, a, flat), _resolve(sys_, prefix, b, flat)
        if ra[0] == "port" or rb[0] == "port":
            raise ModelDefinitionError(
                f"cannot connect {_dotted(prefix, a)!r} to {_dotted(prefix, b)!r}: a port can only be "
                "connected to another port"
            )
        _drive(flat, ra[1], rb[1], _dotted(prefix, a), _dotted(prefix, b))  # type: ignore[arg-type]
