"""Fixtures for the CLI tests: a small registered thermal twin and config files for it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def cli_twin(thermal_system_builder) -> str:  # type: ignore[no-untyped-def]
    """Registers the twin type ``cli_thermal`` (same structure as the session's thermal_rc model)."""
    from phystwin.physics.twins import TwinSpec, register_twin

    register_twin(TwinSpec("cli_thermal", thermal_system_builder, "thermal mass cooling to ambient (CLI tests)"))
    return "cli_thermal"


CONFIG = """[twin]
type = "{twin}"
name = "oven_3"

[parameters]
"mass.C" = "1 kJ/K"
"wall.G" = "4 W/K"

[initial]
"mass.T" = "80 degC"

[simulation]
duration = "10 min"
solver = "rodas"
rtol = 1e-8
atol = 1e-8
save_interval = 10.0

[inputs.T_amb]
kind = "hold"
times = [0.0, 300.0]
values = [20.0, 40.0]
unit = "degC"
"""


@pytest.fixture
def write_config(tmp_path, cli_twin):  # type: ignore[no-untyped-def]
    """``write_config(text=None, name="oven.toml", **replace)``: a config file in tmp_path."""

    def write(text: str | None = None, name: str = "oven.toml", **replace: str):  # type: ignore[no-untyped-def]
        body = (text if text is not None else CONFIG).format(twin=cli_twin)
        for old, new in replace.items():
            body = body.replace(old, new)
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    return write
