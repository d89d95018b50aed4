"""FMU components named in twin configs: ``[components.<name>]`` (config/components.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from phystwin.cli import app
from phystwin.config.components import add_components
from phystwin.config.schema import ConfigError, parse_config, read_config
from phystwin.fmu.archive import sha256_file
from phystwin.fmu.build import build_fmu
from phystwin.physics.twins import dc_motor
from phystwin.records.hdf5 import read_record

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dc_motor_fmu_load.toml"

COMPONENT = """[twin]
type = "dc_motor"

[components.coupling]
fmu = "{fmu}"
{extra}
parameters = {{ J_l = "0.5 g*m2", k_c = 2.0 }}
connect = {{ "coupling.w_in" = "rotor.w", "load.tau_load" = "coupling.tau" }}
inputs = {{ load_torque = "coupling.tau_ext" }}
outputs = {{ load_speed = "coupling.w_l" }}
"""


@pytest.fixture(scope="module")
def dc_load(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled dc_load FMU, copied into a folder of its own (as a supplier's file would be)."""
    folder = tmp_path_factory.mktemp("supplier")
    return Path(shutil.copy(build_fmu("dc_load"), folder / "dc_load.fmu"))


def test_example_runs_the_fmu_in_the_twin_and_records_its_hash(tmp_path: Path) -> None:
    out = tmp_path / "fmu_load.h5"
    res = CliRunner().invoke(app, ["simulate", str(EXAMPLE), "--duration", "3 s", "--out", str(out), "--no-plot"])
    assert res.exit_code == 0, res.output
    record = read_record(out)
    (entry,) = record.provenance["fmus"]
    assert entry["component"] == "coupling"
    assert entry["sha256"] == sha256_file(build_fmu("dc_load"))
    assert entry["fmi_version"] == "2.0" and entry["model_name"] == "dc_load"
    with h5py.File(out, "r") as f:  # the FMU's function addresses are process data, not a parameter of the run
        assert "coupling.k_c" not in f["parameters"] and not any("fmu_handle" in k for k in f["parameters"])
        assert "rotor.J" in f["parameters"]
    sim = record.stream("simulation")
    assert "coupling.w_l" in sim.signals  # the FMU's states are the twin's states
    w, w_load = sim.signals["speed"].values, sim.signals["load_speed"].values
    assert np.all(np.isfinite(w_load)) and w[-1] > 100.0
    # a soft coupling (k_c = 2 N m/rad) lets the load lag, but it follows the motor on average
    assert abs(np.mean(w_load[-100:]) - np.mean(w[-100:])) < 0.05 * np.mean(w[-100:])


def test_relative_path_pin_and_input_rebinding(dc_load: Path) -> None:
    text = COMPONENT.format(fmu="dc_load.fmu", extra=f'sha256 = "{sha256_file(dc_load).upper()}"')
    cfg_path = dc_load.parent / "twin.toml"
    cfg_path.write_text(text)
    config = read_config(cfg_path)
    system = dc_motor.build()
    assert system.inputs["load_torque"].targets == ("load.tau_load",)
    (entry,) = add_components(system, config)
    assert entry["fmu"] == str(dc_load) and entry["sha256"] == sha256_file(dc_load)
    # the connected signal input lost its twin input, which now drives the FMU (unit and default kept)
    rebound = system.inputs["load_torque"]
    assert rebound.targets == ("coupling.tau_ext",) and rebound.unit == "N*m" and rebound.default == 0.0
    assert ("coupling.tau", "load.tau_load") in system.signal_links
    assert system.outputs["load_speed"].source == "coupling.w_l"


def test_every_problem_of_every_component_is_reported_at_once(dc_load: Path, tmp_path: Path) -> None:
    text = f"""[twin]
type = "dc_motor"

[components.missing]
fmu = "{tmp_path / "nowhere.fmu"}"

[components.pinned]
fmu = "{dc_load}"
sha256 = "{"0" * 64}"

[components.badparams]
fmu = "{dc_load}"
parameters = {{ J_load = 1.0, k_c = "3 V", d_c = 0.1 }}

[components.rotor]
fmu = "{dc_load}"
"""
    with pytest.raises(ConfigError) as info:
        add_components(dc_motor.build(), parse_config(text))
    problems = dict(info.value.problems)
    assert "no FMU file" in problems["components.missing.fmu"]
    assert "not the pinned" in problems["components.pinned.sha256"]
    assert "has no parameter 'J_load'" in problems["components.badparams.parameters.J_load"]
    assert "did you mean 'J_l'" in problems["components.badparams.parameters.J_load"]
    assert "'V'" in problems["components.badparams.parameters.k_c"]
    assert "already has a component named 'rotor'" in problems["components.rotor"]
    assert len(problems) == 5


def test_schema_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config('[twin]\ntype = "dc_motor"\n[components.x]\nfmu = "a.fmu"\nsha256 = "abc"\nconect = {}\n')
    problems = dict(info.value.problems)
    assert problems["components.x.sha256"].endswith('expected 64 hexadecimal digits, got "abc"')
    assert "did you mean 'connect'" in problems["components.x.conect"]


def test_the_fmu_handle_cannot_be_set_from_a_config(dc_load: Path) -> None:
    """The hidden parameter holding the FMU's function addresses is refused by name: a value from a file
    would send compiled code to a stale address."""
    from phystwin.config.resolve import load_model, resolve

    text = COMPONENT.format(fmu=dc_load, extra="") + '\n[parameters]\n"coupling.fmu_handle" = 1.0\n'
    config = parse_config(text)
    with pytest.raises(ConfigError) as info:
        resolve(config, load_model(config))
    problems = dict(info.value.problems)
    assert problems['parameters."coupling.fmu_handle"'] == (
        "an internal parameter (the FMU's function addresses) cannot be set"
    )


def test_an_fmu_failure_is_named_by_simulate(tmp_path: Path) -> None:
    """An FMU that returns fmi2Discard stops the run with an error naming the FMU, the FMI function, the
    status and the time, not a bare "non-finite state"; the partial record is kept. The fault mode is an
    Integer parameter of the FMU, set from the config."""
    cfg = tmp_path / "faulty.toml"
    cfg.write_text(
        """[twin]
type = "dc_motor"

[components.inj]
fmu = "bundled:fault_injector"
parameters = { fault_mode = 1, fault_time = "500 ms" }
inputs = { inj_u = "inj.u" }
outputs = { inj_y = "inj.y" }

[inputs]
voltage = 12.0
inj_u = 1.0

[simulation]
duration = "1 s"
"""
    )
    out = tmp_path / "faulty.h5"
    res = CliRunner().invoke(app, ["simulate", str(cfg), "--out", str(out), "--no-plot"])
    assert res.exit_code == 2, res.output
    message = " ".join(res.output.split())
    found = re.search(r"FMU 'fault_injector': fmi2GetDerivatives near t = (\S+) s returned Discard", message)
    assert found is not None, message
    assert float(found.group(1)) == pytest.approx(0.5, abs=1e-6)  # the solver retried up to the fault time
    assert "[DISCARD]" not in message  # the FMU's own log goes to the phystwin.fmu logger, not stdout
    assert read_record(out).stream("simulation").t[-1] < 0.5 + 1e-6  # the partial record up to the fault
    bad = parse_config(cfg.read_text().replace("fault_mode = 1", 'fault_mode = "1 s"'))
    with pytest.raises(ConfigError, match="is of type Integer: give a plain number, without a unit"):
        add_components(dc_motor.build(), bad)
