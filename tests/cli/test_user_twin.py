"""A user's own twin through every command of the CLI.

The worked example ``examples/user_twin`` (a coolant pump built by ``pump_twin.py``, outside the
library) runs through ``simulate``, ``generate``, ``estimate``, ``template`` and ``twins`` in-process,
and through ``bench serve`` + ``run`` as two real processes over UDP on 127.0.0.1. A twin named by a
``"module:function"`` reference and one declared as an entry point by a real distribution on disk
(no mocks) run as well; every way of naming a twin wrongly exits 2 with one message naming the key
and the file, module or function.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from phystwin.cli import app
from phystwin.config.schema import parse_config, read_config
from phystwin.records.hdf5 import read_record

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "user_twin"
PUMP_TOML = EXAMPLE / "pump.toml"
PUMP_PY = EXAMPLE / "pump_twin.py"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _ok(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output, output


def _env(*paths: Path) -> dict[str, str]:
    extra = [str(p) for p in (*paths, ROOT / "src")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*extra, os.environ.get("PYTHONPATH", "")])}


def _phystwin(*args: str) -> list[str]:
    return [sys.executable, "-m", "phystwin.cli", *args]


# ---------------------------------------------------------------------------------------- the example
def test_example_is_a_file_twin_outside_the_library() -> None:
    config = read_config(PUMP_TOML)
    assert config.twin.type is None and config.twin.file == "pump_twin.py" and config.twin.function == "build"
    assert not PUMP_PY.resolve().is_relative_to(ROOT / "src")
    text = PUMP_PY.read_text()
    assert "class CentrifugalPump(Component)" in text and "lambda" in text


def test_simulate_generate_estimate_the_example(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    truth, sensors, estimate = tmp_path / "truth.h5", tmp_path / "sensors.h5", tmp_path / "estimate.h5"
    out = _ok(runner.invoke(app, ["simulate", str(PUMP_TOML), "--duration", "20", "--out", str(truth)]))
    assert "coolant_pump_A: completed" in out and "coolant_temperature" in out
    rec = read_record(truth)
    t, w, unit = rec.signal("speed")
    assert unit == "rad/s" and t[-1] == 20.0 and 300.0 < w[-1] < 450.0  # 24 V: about 390 rad/s
    _, q, unit = rec.signal("flow")
    assert unit == "m3/s" and 5e-4 < q[-1] < 1.5e-3
    _, T_w, _ = rec.signal("winding_temperature")
    _, T_c, _ = rec.signal("coolant_temperature")
    assert T_w[-1] > T_c[-1] > 298.15  # the winding heats the coolant, which heats up
    prov = rec.provenance
    assert prov["twin_type"] == "pump_twin.py:build" and prov["twin_name"] == "coolant_pump_A"
    assert prov["twin"]["kind"] == "file" and prov["twin"]["origin"] == f"{PUMP_PY.resolve()}:build"
    assert prov["twin"]["sha256"] == hashlib.sha256(PUMP_PY.read_bytes()).hexdigest()
    assert rec.parameters["pump.fouling"][0] == 1.0 and rec.parameters["coolant.C"][0] == 8000.0

    out = _ok(
        runner.invoke(app, ["generate", str(PUMP_TOML), "--truth", str(truth), "--out", str(sensors), "--seed", "3"])
    )
    assert "samples of flow at 20 Hz" in out and "samples of coolant_temperature at 1 Hz" in out

    out = _ok(runner.invoke(app, ["estimate", str(PUMP_TOML), "--data", str(sensors), "--out", str(estimate)]))
    rms = {m.group(1): float(m.group(2)) for m in re.finditer(r"RMS error (\S+)\s+\S\s+([-+0-9.eE]+)", out)}
    assert rms["winding.T"] < 1.0 and rms["coolant.T"] < 0.5 and rms["rotor.w"] < 2.0, out  # unmeasured T_w too
    fouling = re.search(r"estimate pump\.fouling\s+\S\s+([-+0-9.eE]+) \+- ([-+0-9.eE]+)", out)
    assert fouling is not None, out
    value, sd = float(fouling.group(1)), float(fouling.group(2))
    assert abs(value - 1.0) < 3 * sd + 0.02 and sd < 0.2  # the truth is clean pipes; the filter learnt
    est = read_record(estimate)
    assert json.loads(est.attrs["twin"])["kind"] == "file"
    assert "pump.fouling" in est.stream("estimate").signals


def test_template_of_the_example_file(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "configs" / "pump_template.toml"
    dest.parent.mkdir()
    out = _ok(runner.invoke(app, ["template", "--file", str(PUMP_PY), "--out", str(dest)]))
    assert f"config: {dest}" in out
    cfg = read_config(dest)
    assert cfg.twin.type is None and cfg.twin.function == "build" and cfg.twin.name == "pump_twin"
    assert (dest.parent / cfg.twin.file).resolve() == PUMP_PY.resolve()  # relative to the written config
    text = dest.read_text()
    assert '"pump.fouling" = 1.0' in text and '"pump.K_ref" = 100000000000.0' in text
    assert "voltage = 0.0  # [V] motor supply voltage (required: no default)" in text
    assert "# phystwin config for the 'pump_twin.py:build' twin: Canned-motor coolant pump" in text
    result = runner.invoke(app, ["simulate", str(dest), "--duration", "1", "--out", str(tmp_path / "t.h5")])
    assert "pump_twin: completed" in _ok(result)
    monkeypatch.chdir(EXAMPLE)  # printed for a config in the working directory, beside the twin file
    printed = parse_config(_ok(runner.invoke(app, ["template", "--file", "pump_twin.py", "--function", "build"])))
    assert printed.twin.file == "pump_twin.py" and printed.twin.function == "build"


def test_module_reference_twin_simulates_and_templates(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(EXAMPLE))  # the example folder is where a user's package would be
    cfg = tmp_path / "pump_ref.toml"
    cfg.write_text(
        PUMP_TOML.read_text()
        .replace('file = "pump_twin.py"', 'type = "pump_twin:build"')
        .replace('function = "build"', ""),
        encoding="utf-8",
    )
    assert parse_config(cfg.read_text()).twin.type == "pump_twin:build"
    out = _ok(
        runner.invoke(app, ["simulate", str(cfg), "--duration", "2", "--no-plot", "--out", str(tmp_path / "r.h5")])
    )
    assert "coolant_pump_A: completed" in out
    assert read_record(tmp_path / "r.h5").provenance["twin"] == {"kind": "module", "origin": "pump_twin:build"}
    text = _ok(runner.invoke(app, ["template", "pump_twin:build", "--duration", "5"]))
    tmpl = parse_config(text)
    assert tmpl.twin.type == "pump_twin:build" and tmpl.simulation.duration == 5.0


def test_twins_lists_the_kinds_and_a_configs_twin(runner) -> None:  # type: ignore[no-untyped-def]
    out = _ok(runner.invoke(app, ["twins", "--config", str(PUMP_TOML)]))
    assert "dc_motor: DC motor drive" in out and "kind: built-in (phystwin.physics.twins.dc_motor:build)" in out
    assert "li_ion_cell:" in out
    block = out[out.index("pump_twin.py:build: Canned-motor coolant pump") :]
    assert f"kind: file {PUMP_PY.resolve()}, function build -- named by {PUMP_TOML}" in block
    assert "flow [m3/s]" in block and "voltage [V]" in block and "7 states" not in block
    assert "6 states, 22 parameters" in block and f"phystwin template --file {PUMP_PY.resolve()}" in block
    plain = _ok(runner.invoke(app, ["twins"]))
    assert "pump_twin.py" not in plain and "dc_motor:" in plain


# ---------------------------------------------------------------------------------------- bad twins
BAD_TWINS = '''from phystwin import System


def raises():
    """Builds nothing."""
    raise ValueError("pump curve table is empty")


def not_system():
    return {"pump": 1}


def needs_args(size):
    return System("a")


def unconnected():
    from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor

    s = System("loose")
    s.add(HeatCapacitor("mass"))
    s.add(ThermalConductor("wall"))
    s.add(PrescribedTemperature("ambient"))
    s.connect("mass.port", "wall.a")
    s.connect("wall.b", "ambient.port")
    return s


NOT_CALLABLE = 3
'''


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    (tmp_path / "twins_bad.py").write_text(BAD_TWINS, encoding="utf-8")
    (tmp_path / "broken_import.py").write_text("import phystwin_no_such_dependency\n", encoding="utf-8")
    (tmp_path / "syntax_error.py").write_text("def build(:\n    pass\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("twin", "expected"),
    [
        ('file = "missing.py"', ["twin.file: no such file: ", "missing.py"]),
        (
            'file = "twins_bad.py"\nfunction = "raise"',
            ["twin.function: ", "twins_bad.py has no function 'raise'; did you mean 'raises'?"],
        ),
        ('file = "twins_bad.py"', ["twin.file: ", "twins_bad.py has no function 'build'"]),
        (
            'file = "twins_bad.py"\nfunction = "raises"',
            [
                "twin.function: ",
                "twins_bad.py:raises() raised ValueError: pump curve table is empty (at twins_bad.py:6)",
            ],
        ),
        (
            'file = "twins_bad.py"\nfunction = "not_system"',
            ["twin.function: ", "twins_bad.py:not_system() returned a dict, expected a phystwin.System"],
        ),
        (
            'file = "twins_bad.py"\nfunction = "needs_args"',
            ["twin.function: twins_bad.py:needs_args(size) needs arguments; a twin function is called with none"],
        ),
        (
            'file = "twins_bad.py"\nfunction = "NOT_CALLABLE"',
            ["twin.function: twins_bad.py:NOT_CALLABLE is an int, expected a function returning a phystwin.System"],
        ),
        (
            'file = "twins_bad.py"\nfunction = "unconnected"',
            ["twin.function: the System built by ", "twins_bad.py:unconnected does not compile: ", "ambient.T"],
        ),
        (
            'file = "broken_import.py"',
            ["twin.file: loading ", "broken_import.py raised ModuleNotFoundError: ", "phystwin_no_such_dependency"],
        ),
        ('file = "syntax_error.py"', ["twin.file: loading ", "syntax_error.py raised SyntaxError: "]),
        ('file = "notes.txt"', ['twin.file: expected a Python file ending in .py, got "notes.txt"']),
        (
            'type = "phystwin_no_such_pkg.pumps:build"',
            ["twin.type: module 'phystwin_no_such_pkg.pumps' not found: no module named 'phystwin_no_such_pkg'"],
        ),
        ('type = "json:build_pump"', ["twin.type: module 'json' has no function 'build_pump'"]),
        ('type = "json:dumps"', ["twin.type: json:dumps(obj, *, skipkeys=False", "needs arguments"]),
        ('type = "pumps:"', ["twin.type: 'pumps:' is not a reference of the form 'package.module:function'"]),
        (
            'type = "dc_motr"',
            ["twin.type: unknown twin type 'dc_motr'; did you mean 'dc_motor'?", 'file = "my_twin.py"'],
        ),
        ('type = "dc_motor"\nfunction = "build"', ["twin.function: function goes with file"]),
        ('type = "dc_motor"\nfile = "twins_bad.py"', ["twin.type: give either type or file, not both"]),
        ('name = "pump"', ["twin.type: required key is missing"]),
    ],
)
def test_bad_twins_exit_2_naming_key_and_item(runner, bad_folder, twin, expected) -> None:  # type: ignore[no-untyped-def]
    cfg = bad_folder / "bad.toml"
    cfg.write_text(f"[twin]\n{twin}\n\n[simulation]\nduration = 1.0\n", encoding="utf-8")
    out = bad_folder / "x.h5"
    result = runner.invoke(app, ["simulate", str(cfg), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {cfg}: "), result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    _no_traceback(result.output)
    assert not out.exists()


def test_a_failing_twin_fails_every_command_the_same_way(runner, bad_folder) -> None:  # type: ignore[no-untyped-def]
    cfg = bad_folder / "bad.toml"
    text = PUMP_TOML.read_text().replace('file = "pump_twin.py"', 'file = "twins_bad.py"')
    cfg.write_text(text.replace('function = "build"', 'function = "raises"'), encoding="utf-8")
    bench_cfg = bad_folder / "bad_bench.toml"
    text = (EXAMPLE / "pump_bench.toml").read_text()
    bench_cfg.write_text(text.replace('file = "pump_twin.py"', 'file = "twins_bad.py"\nfunction = "raises"'))
    raised = f"twin.function: {bad_folder / 'twins_bad.py'}:raises() raised ValueError: pump curve table is empty"
    for args in (
        ["simulate", str(cfg)],
        ["generate", str(cfg), "--truth", str(bad_folder / "t.h5")],
        ["estimate", str(cfg), "--data", str(bad_folder / "s.h5")],
        ["bench", "serve", str(bench_cfg), "--url", "udp://127.0.0.1:9"],
        ["run", str(cfg), "--feed", "udp://127.0.0.1:0", "--duration", "1"],
        ["twins", "--config", str(cfg)],
    ):
        result = runner.invoke(app, args)
        config = bench_cfg if "serve" in args else cfg
        assert result.exit_code == 2 and result.stderr.startswith(f"error: {config}: {raised}"), (args, result.output)
        _no_traceback(result.output)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--file", "missing.py"], "--file: no such file: "),
        (["--file", "twins_bad.py", "--function", "raises"], "--function: "),
        (["--file", "twins_bad.py"], "--file: "),
        (["phystwin_no_such_pkg:build"], "TYPE: module 'phystwin_no_such_pkg' not found"),
        (["dc_motr"], "TYPE: unknown twin type 'dc_motr'; did you mean 'dc_motor'?"),
        ([], "give a twin TYPE (see 'phystwin twins') or --file TWIN.py"),
        (["dc_motor", "--file", "twins_bad.py"], "give a twin TYPE (see 'phystwin twins') or --file TWIN.py"),
        (["dc_motor", "--function", "build"], "--function goes with --file"),
    ],
)
def test_bad_template_arguments_exit_2(runner, bad_folder, monkeypatch, args, expected) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(bad_folder)
    result = runner.invoke(app, ["template", *args])
    assert result.exit_code == 2 and expected in result.stderr, result.output
    _no_traceback(result.output)


# ---------------------------------------------------------------------------------------- entry points
PLUGIN = '''"""A package that ships a twin for phystwin (entry point group phystwin.twins)."""

from phystwin import System
from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor


def build():
    """Oil sump of a gearbox cooling to ambient (an installed plugin)."""
    s = System("oil_sump")
    s.add(HeatCapacitor("oil", C=2000.0, T=350.0))
    s.add(ThermalConductor("case", G=4.0))
    s.add(PrescribedTemperature("ambient"))
    s.connect("oil.port", "case.a")
    s.connect("case.b", "ambient.port")
    s.input("T_amb", "K", "ambient.T", default=293.15)
    s.output("T_oil", "oil.T")
    return s
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A real installed distribution ``mypkg 0.1`` (dist-info with METADATA and entry_points.txt)."""
    root = tmp_path_factory.mktemp("site")
    (root / "mypkg").mkdir()
    (root / "mypkg" / "__init__.py").write_text("", encoding="utf-8")
    (root / "mypkg" / "twins.py").write_text(PLUGIN, encoding="utf-8")
    info = root / "mypkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[phystwin.twins]\noil_sump = mypkg.twins:build\nbroken_plugin = mypkg.missing:build\n", encoding="utf-8"
    )
    return root


def test_twins_lists_entry_points(runner, site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(site))
    out = _ok(runner.invoke(app, ["twins"]))
    block = out[out.index("oil_sump: Oil sump of a gearbox") :]
    assert block.splitlines()[1].strip() == "kind: entry point of mypkg 0.1 (mypkg.twins:build)"
    assert "T_oil [K]" in block and "T_amb [K] = 293.15" in block
    broken = out[out.index("broken_plugin") :]
    assert "kind: entry point 'mypkg.missing:build'" in broken
    assert "(cannot load: entry point 'broken_plugin' = 'mypkg.missing:build' of mypkg 0.1: " in broken
    assert "module 'mypkg.missing' not found" in broken


def test_entry_point_twin_simulates_in_a_fresh_process(site, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "sump.toml"
    cfg.write_text(
        '[twin]\ntype = "oil_sump"\n[initial]\n"oil.T" = "80 degC"\n'
        '[simulation]\nduration = "10 min"\nsave_interval = 10.0\n',
        encoding="utf-8",
    )
    args = _phystwin("simulate", str(cfg), "--out", str(tmp_path / "sump.h5"), "--no-plot")
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(site), cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rec = read_record(tmp_path / "sump.h5")
    t, T, _ = rec.signal("T_oil")
    np.testing.assert_allclose(T, 293.15 + 60.0 * np.exp(-t / 500.0), rtol=1e-5)  # tau = C/G = 500 s
    assert rec.provenance["twin"] == {"kind": "entry point", "origin": "mypkg.twins:build", "distribution": "mypkg 0.1"}
    bad = cfg.with_name("bad.toml")
    bad.write_text('[twin]\ntype = "broken_plugin"\n[simulation]\nduration = 1.0\n', encoding="utf-8")
    proc = subprocess.run(
        _phystwin("simulate", str(bad)), capture_output=True, text=True, env=_env(site), cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 2 and "twin.type: entry point 'broken_plugin'" in proc.stderr, proc.stderr
    assert "module 'mypkg.missing' not found" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------- live
def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ticking(record: Path) -> bool:
    """Whether the run record being written already holds timing samples of the runner's loop."""
    if not record.exists():
        return False
    try:
        timing = read_record(record).streams.get("timing")
    except Exception:  # being created or flushed: try again
        return False
    return timing is not None and timing.t.size > 0


@pytest.mark.slow
def test_bench_serve_and_run_the_example_over_udp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # a copy of the example folder elsewhere: the configs find their twin file beside them
    folder = tmp_path / "user_twin"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    twin_cfg = folder / "pump.toml"  # a generous idle timeout: the test stops the twin itself
    twin_cfg.write_text(twin_cfg.read_text().replace('idle_timeout = "10 s"', 'idle_timeout = "120 s"'))
    url = f"udp://127.0.0.1:{_free_udp_port()}"
    run_h5, bench_h5 = tmp_path / "run.h5", tmp_path / "bench.h5"
    twin = subprocess.Popen(
        _phystwin("run", str(twin_cfg), "--feed", url, "--out", str(run_h5)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while not _ticking(run_h5):  # the twin listens and its loop runs (its kernels are loaded)
            assert twin.poll() is None, twin.communicate()
            assert time.monotonic() < deadline, "the twin did not start"
            time.sleep(0.2)
        bench = subprocess.run(
            _phystwin("bench", "serve", str(folder / "pump_bench.toml"), "--url", url, "--out", str(bench_h5),
                      "--duration", "6 s", "--rate-factor", "2"),
            capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=600, check=False,
        )  # fmt: skip
        time.sleep(0.5)
        twin.send_signal(signal.SIGTERM)  # a stopped run closes its record and exits normally
        out, err = twin.communicate(timeout=120)
    finally:
        if twin.poll() is None:
            twin.kill()
            twin.communicate()
    assert bench.returncode == 0, bench.stdout + bench.stderr
    assert twin.returncode == 0, out + err
    commands = re.search(r"commands applied\s+\S\s+voltage: (\d+)", bench.stdout)
    assert commands is not None and int(commands.group(1)) > 100, bench.stdout + out  # closed loop: the twin drives
    assert "twin coolant_pump_A (closed_loop)" in out and "in_sync" in out
    accepted = re.search(r"stream current\+speed\s+\S\s+accepted (\d+)", out)
    assert accepted is not None and int(accepted.group(1)) >= 500, out  # 6 s at 100 Hz
    rec = read_record(run_h5)
    est = rec.stream("estimate")
    assert est.t.size > 100 and np.all(np.diff(est.t) > 0) and "pump.fouling" in est.signals
    w_est = est.signals["rotor.w"].values[-1]
    assert 200.0 < w_est < 450.0, w_est  # the PI loop spun the pump up towards its 350 rad/s setpoint
    assert rec.provenance["twin"]["kind"] == "file"
    assert rec.provenance["twin"]["origin"] == f"{(folder / 'pump_twin.py').resolve()}:build"
    bench_rec = read_record(bench_h5)
    assert bench_rec.provenance["twin_type"] == "pump_twin.py:build"


HELPER = '''"""Components of the sibling-import twin (imported by twin.py from the same folder)."""
from phystwin.physics import System
from phystwin.physics.thermal import HeatCapacitor, PrescribedTemperature, ThermalConductor


def thermal_rc(name):
    s = System(name)
    s.add(HeatCapacitor("mass", C=500.0, T=350.0))
    s.add(ThermalConductor("wall", G=2.0))
    s.add(PrescribedTemperature("ambient"))
    s.connect("mass.port", "wall.a")
    s.connect("wall.b", "ambient.port")
    s.input("T_amb", "K", "ambient.T", default=293.15)
    s.output("T_mass", "mass.T")
    return s
'''

SIBLING_TWIN = '''"""A twin whose parts live in a module beside it."""
from ptw_sibling_helper import thermal_rc


def build():
    """thermal mass built by a helper module beside this file"""
    return thermal_rc("sibling")
'''


def test_file_twin_imports_a_module_beside_it(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "twin"
    folder.mkdir()
    (folder / "ptw_sibling_helper.py").write_text(HELPER)
    (folder / "twin.py").write_text(SIBLING_TWIN)
    cfg = folder / "sibling.toml"
    cfg.write_text('[twin]\nfile = "twin.py"\n\n[simulation]\nduration = "10 s"\n')
    monkeypatch.chdir(tmp_path)  # neither the working directory nor PYTHONPATH holds the helper
    path_before = list(sys.path)
    try:
        out = _ok(runner.invoke(app, ["simulate", str(cfg), "--out", str(tmp_path / "s.h5"), "--no-plot"]))
        assert "T_mass" in out
        assert sys.path == path_before  # the folder was on sys.path only while the file ran
        assert str(folder) not in sys.path
    finally:
        sys.modules.pop("ptw_sibling_helper", None)


def test_template_writes_a_relative_twin_file_outside_the_configs_folder(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "twins").mkdir()
    (tmp_path / "configs").mkdir()
    shutil.copy(PUMP_PY, tmp_path / "twins" / "pump_twin.py")
    dest = tmp_path / "configs" / "pump.toml"
    _ok(runner.invoke(app, ["template", "--file", str(tmp_path / "twins" / "pump_twin.py"), "--out", str(dest)]))
    cfg = read_config(dest)
    assert cfg.twin.file == "../twins/pump_twin.py"
    assert (dest.parent / cfg.twin.file).resolve() == (tmp_path / "twins" / "pump_twin.py").resolve()
