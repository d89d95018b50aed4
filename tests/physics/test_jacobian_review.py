"""Review fixes of the traced Jacobians (issue 12 follow-up).

* a truth test on a traced value (``if flag:``) makes the equation untraceable (finite differences);
* the kernel fingerprint covers the global values compiled code freezes (arrays, containers, module
  and object attributes), so an edited global never reuses a stale kernel, partial or check record;
* the compile check neither refuses a model whose differences leave the domain (``h**1.5`` at 0) nor
  holds a finite-difference fallback to the analytic tolerance;
* an equation numba cannot compile is refused with a :class:`KernelCompileError` naming it, also
  through ``phystwin simulate`` (exit 2, no traceback).
"""

from __future__ import annotations

import math
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from phystwin.cli import app
from phystwin.core.simulation import simulate
from phystwin.physics import Component, Parameter, State, System, _kernels
from phystwin.physics.compiler import KernelCompileError


def _system(name: str, fn, x0: float, params: tuple[tuple[str, str, float], ...], unit: str = "1") -> System:  # type: ignore[no-untyped-def]
    state = fn.__code__.co_varnames[0]

    class C(Component):
        states = (State(state, unit, x0),)
        parameters = tuple(Parameter(n, u, v) for n, u, v in params)
        derivatives = {state: fn}

    C.__name__ = C.__qualname__ = f"C_{name}"
    s = System(name)
    s.add(C("c"))
    s.output("y", f"c.{state}")
    return s


def _jac(model, p: np.ndarray | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    x = model.initial_state()
    J = np.zeros((x.size, x.size))
    model.kernels.jac(0.0, x, model.input_vector(None), model.parameters() if p is None else p, J)
    return J


# ------------------------------------------------------------------------------- 1. truth tests
def test_truth_test_on_a_traced_value_is_not_traced() -> None:
    fn = lambda w, b, use_damping: -b * w if use_damping else -0.1 * b * w
    model = _system("flag", fn, 10.0, (("b", "1/s", 2.0), ("use_damping", "1", 1.0)), "rad/s").compile()
    assert any("truth" in n for n in model.derivative_notes), model.derivative_notes
    assert _jac(model)[0, 0] == pytest.approx(-2.0, rel=1e-6)
    off = model.parameters({"c.use_damping": 0.0})
    assert _jac(model, off)[0, 0] == pytest.approx(-0.2, rel=1e-6)  # was -2: the first branch, always


def _helper_or(x, k):  # type: ignore[no-untyped-def]
    return (k or 1.0) * x


def test_truth_tests_in_helpers_and_not_are_found() -> None:
    from phystwin.physics.autodiff import differentiate

    assert differentiate(lambda x, k: -_helper_or(x, k), ("x", "k"), cache=False).sources is None
    assert differentiate(lambda x, k: -x if not k else x, ("x", "k"), cache=False).sources is None
    # a branch on a comparison is refused by SymPy itself; plain arithmetic is traced
    assert differentiate(lambda x, k: k * x if x > 0.0 else x, ("x", "k"), cache=False).sources is None
    assert differentiate(lambda x, k: -k * x, ("x", "k"), cache=False).sources == {"x": "-k", "k": "-x"}


# ------------------------------------------------------------------------------- 2. fingerprints
ARR = np.array([1.0, 2.0])
TABLE = {"a": 1.0}
CFG = types.SimpleNamespace(K=2.0)
MOD = types.ModuleType("phystwin_test_cfg")
MOD.K = 3.0  # type: ignore[attr-defined]


def test_fingerprint_covers_arrays_containers_and_attributes() -> None:
    fns = {
        "array": (lambda x: ARR[0] * x, lambda: ARR.__setitem__(0, 5.0)),
        "dict": (lambda x: TABLE["a"] * x, lambda: TABLE.__setitem__("a", 7.0)),
        "object": (lambda x: CFG.K * x, lambda: setattr(CFG, "K", 4.0)),
        "module": (lambda x: MOD.K * x, lambda: setattr(MOD, "K", 6.0)),
    }
    for what, (fn, edit) in fns.items():
        before = _kernels.register(fn)
        edit()
        assert _kernels.register(fn) != before, what


G_ARR = np.array([2.0, 0.0])


def test_an_edited_global_array_gives_the_new_result() -> None:
    fn = lambda x, k: -G_ARR[0] * k * x
    m1 = _system("garr", fn, 1.0, (("k", "1/s", 1.5),)).compile()
    G_ARR[0] = 4.0
    m2 = _system("garr", fn, 1.0, (("k", "1/s", 1.5),)).compile()
    assert m1.structure_hash != m2.structure_hash
    assert _jac(m2)[0, 0] == pytest.approx(-6.0)
    tr = simulate(m2, (0.0, 1.0))
    assert tr["y"][-1] == pytest.approx(math.exp(-6.0), rel=1e-3)


# ------------------------------------------------------------------------------- 3. the check
def test_differences_leaving_the_domain_do_not_refuse() -> None:
    fn = lambda h, q, a, A: (q - a * h**1.5) / A
    pars = (("q", "m3/s", 1e-3), ("a", "m^1.5/s", 1e-3), ("A", "m2", 1.0))
    model = _system("pow15", fn, 0.0, pars, "m").compile()  # was: JacobianMismatchError
    assert _jac(model)[0, 0] == 0.0


def test_finite_difference_fallback_gets_its_own_tolerance() -> None:
    fn = lambda x, k: k * x if x > 0.5 else k * x * x
    model = _system("ternary0", fn, 0.0, (("k", "1/s", 1.5),)).compile()  # was: "the chain rule is at fault"
    assert "finite differences" in model.jacobian_kind
    assert abs(_jac(model)[0, 0]) < 1e-7


# ------------------------------------------------------------------------------- 4. numba errors
def _plain_clip(x):  # type: ignore[no-untyped-def]
    return np.clip(x, 0.0, 1.0)


@pytest.mark.parametrize(
    "fn",
    [lambda x, k: -k * _plain_clip(x), lambda x, k: -k * math.fmod(x, 1.0)],
    ids=["plain-python-helper", "fmod"],
)
def test_code_numba_cannot_compile_is_refused_by_name(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KernelCompileError) as info:
        _system("nonumba", fn, 0.5, (("k", "1/s", 1.5),)).compile()
    msg = str(info.value)
    assert "component c, equation d(x)/dt" in msg and "Traceback" not in msg, msg
    assert info.value.kernel.startswith("lambda_"), msg  # the registry key of the equation
    assert len(msg.splitlines()) <= 12, msg


def test_simulate_a_twin_numba_cannot_compile_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad_twin.py").write_text(
        textwrap.dedent(
            """
            import numpy as np
            from phystwin import Component, Parameter, State, System

            def limit(x):
                return np.clip(x, 0.0, 1.0)

            class Leak(Component):
                states = (State("x", "1", 0.5),)
                parameters = (Parameter("k", "1/s", 1.5),)
                derivatives = {"x": lambda x, k: -k * limit(x)}

            def build():
                s = System("leaky")
                s.add(Leak("tank"))
                s.output("x", "tank.x")
                return s
            """
        )
    )
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[twin]\nfile = "bad_twin.py"\nname = "leaky_A"\n\n[simulation]\nduration = 1.0\n')
    res = CliRunner().invoke(app, ["simulate", str(cfg), "--out", str(tmp_path / "run.h5"), "--no-plot"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "component tank, equation d(x)/dt" in res.output, res.output
    assert "bad_twin.py" in res.output and len(res.output.splitlines()) < 25, res.output
