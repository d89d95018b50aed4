"""What the twin runner records per arrival: one row per sample in each stream's declared signal order.

The runner appends rows positionally (:meth:`Recorder.append_row`), so these tests pin every column
of the ``meas``, ``innovation``, ``estimate`` and input streams to the values they must hold, without
a transport: arrivals are handed to the runner directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from phystwin.config.live import make_runner, runner_setup
from phystwin.config.schema import parse_config
from phystwin.estimation.types import Measurement
from phystwin.hil.link import Arrival
from phystwin.hil.runner import OUTCOME_CODES
from phystwin.records.hdf5 import read_record
from phystwin.records.recorder import Recorder

ROOT = Path(__file__).resolve().parents[2]
TWIN = (ROOT / "examples" / "dc_motor_twin.toml").read_text()
STREAM = "current+speed"


class _NoLink:
    """A link that delivers nothing (the test hands arrivals to the runner itself)."""

    def poll(self, timeout: float) -> list[Arrival]:
        return []

    def send_command(self, command: Any) -> None:
        raise AssertionError("a shadow runner sends no command")


def test_recorded_rows_hold_the_samples_outcomes_innovations_and_estimates(tmp_path: Path) -> None:
    cfg = parse_config(TWIN)
    setup = runner_setup(cfg)
    rec = Recorder(tmp_path / "run.h5", kind="run", config_text=cfg.text)
    runner = make_runner(setup, _NoLink(), rec, "shadow")
    rec.start()
    engine = setup.engine
    outcomes: list[Any] = []
    estimates: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    push = engine.push

    def spy(meas: Measurement) -> Any:
        out = push(meas)
        outcomes.append(out)
        estimates[engine.state.t] = (engine.state.x.copy(), np.sqrt(np.diag(engine.state.P)))
        return out

    engine.push = spy  # type: ignore[method-assign]
    rng = np.random.default_rng(5)
    inputs = np.array([0.0, 0.0, 298.15])
    runner._handle(Arrival(Measurement(0.0005, "inputs", inputs, 1), 0.0))
    sent = []
    for k in range(60):
        z = rng.normal(size=2) * [0.05, 0.2]
        if k == 20:
            z = np.array([80.0, 0.0])  # an outlier: gated, its innovation still recorded
        m = Measurement(0.01 * (k + 1), STREAM, z, k)
        sent.append(m)
        runner._handle(Arrival(m, 0.0))
    runner._handle(Arrival(Measurement(0.605, "housing_temperature", [299.0], 1), 0.0))
    rec.close()

    r = read_record(tmp_path / "run.h5")
    meas = r.streams[f"meas/{STREAM}"]
    assert np.array_equal(meas.t, [m.t for m in sent])
    assert np.array_equal(meas.signals["current"].values, [m.value[0] for m in sent])
    assert np.array_equal(meas.signals["speed"].values, [m.value[1] for m in sent])
    assert np.array_equal(meas.signals["seq"].values, [m.seq for m in sent])
    codes = [OUTCOME_CODES.index(o.reason) for o in outcomes if o.sensor == STREAM]
    assert np.array_equal(meas.signals["outcome"].values, codes)
    assert np.all(meas.signals["latency"].values >= 0.0)
    assert {OUTCOME_CODES[c].name for c in codes} == {"ACCEPTED", "GATED"}

    inn = r.streams[f"innovation/{STREAM}"]
    fused = [o for o in outcomes if o.sensor == STREAM]
    assert np.array_equal(inn.t, [o.t for o in fused])
    for i, name in enumerate(("current", "speed")):
        assert np.array_equal(inn.signals[name].values, [o.innovation[i] for o in fused])
        assert np.array_equal(inn.signals[f"{name}.S"].values, [o.S[i, i] for o in fused])
    assert np.array_equal(inn.signals["nis"].values, [o.nis for o in fused])
    assert np.all(inn.signals["dof"].values == 2.0)

    est = r.streams["estimate"]
    assert est.t.size >= 5
    states = [s.name for s in setup.model.layout.states]
    for j, t in enumerate(est.t):
        x, sd = estimates[float(t)]
        assert np.array_equal([est.signals[s].values[j] for s in states], x)
        assert np.array_equal([est.signals[f"{s}.sd"].values[j] for s in states], sd)

    u = r.streams["meas/inputs"]
    names = [s.name for s in setup.model.layout.inputs]
    assert np.array_equal([u.signals[n].values[0] for n in names], inputs)
    assert u.signals["seq"].values[0] == 1.0
    hous = r.streams["meas/housing_temperature"]
    assert np.array_equal(hous.signals["housing_temperature"].values, [299.0])


def test_a_late_sample_replayed_by_fusion_still_records_its_innovation(tmp_path: Path) -> None:
    # a slow sensor whose samples arrive after faster ones (within the lag window) is fused by a replay;
    # its innovation is part of the record like any other (it was silently left out)
    cfg = parse_config(TWIN)
    setup = runner_setup(cfg)
    rec = Recorder(tmp_path / "run.h5", kind="run", config_text=cfg.text)
    runner = make_runner(setup, _NoLink(), rec, "shadow")
    rec.start()
    outcomes: list[Any] = []
    push = setup.engine.push

    def spy(meas: Measurement) -> Any:
        out = push(meas)
        outcomes.append(out)
        return out

    setup.engine.push = spy  # type: ignore[method-assign]
    runner._handle(Arrival(Measurement(0.0005, "inputs", np.array([0.0, 0.0, 298.15]), 1), 0.0))
    for k in range(40):
        runner._handle(Arrival(Measurement(0.01 * (k + 1), STREAM, np.zeros(2), k), 0.0))
        if k in (15, 35):  # the temperature of 25 ms earlier arrives now
            t_late = 0.01 * (k + 1) - 0.025  # inside the 0.05 s lag window
            runner._handle(Arrival(Measurement(t_late, "housing_temperature", [298.2], k), 0.0))
    rec.close()
    late = [o for o in outcomes if o.sensor == "housing_temperature"]
    assert [(o.reason.name, o.replayed > 0) for o in late] == [("ACCEPTED", True)] * 2, late
    inn = read_record(tmp_path / "run.h5").streams["innovation/housing_temperature"]
    assert np.allclose(inn.t, [o.t for o in late])
    assert np.array_equal(inn.signals["housing_temperature"].values, [o.innovation[0] for o in late])
