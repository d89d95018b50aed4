"""FMUInstance: FMU state round trips, capability flags, fault modes mapped to error classes, no call after Fatal."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from phystwin.fmu.errors import (
    FMUCallError,
    FMUDiscard,
    FMUError,
    FMUFatal,
    FMUNonFinite,
    FMURefused,
    FMUStateUnsupported,
    check_status,
)
from phystwin.fmu.instance import FMUInstance


def _start(inst: FMUInstance) -> None:
    inst.initialize(0.0, 1.0)
    inst.set({"w_in": 20.0})
    for _ in range(5):
        inst.do_step(1e-3)


def test_state_round_trip_is_bit_exact(dc_load_fmu: Path) -> None:
    with FMUInstance(dc_load_fmu) as inst:
        assert len(inst.sha256) == 64 and inst.description.model_name == "dc_load"
        _start(inst)
        snap = inst.get_state()
        inst.do_step(1e-3)
        first = inst.get(["tau", "w_load"])
        inst.set({"w_in": -3.0})  # disturb, then go back
        inst.do_step(1e-3)
        inst.set_state(snap)
        assert inst.time == pytest.approx(5e-3)
        inst.set({"w_in": 20.0})
        inst.do_step(1e-3)
        np.testing.assert_array_equal(inst.get(["tau", "w_load"]), first)
        inst.free_state(snap)
        with pytest.raises(FMUError, match="freed"):
            inst.set_state(snap)

        data = inst.serialize_state()
        t_saved = inst.time
        inst.do_step(1e-3)
        second = inst.get(["tau", "w_load"])
        inst.do_step(1e-3)
        inst.deserialize_state(data, time=t_saved)
        inst.do_step(1e-3)
        np.testing.assert_array_equal(inst.get(["tau", "w_load"]), second)


def test_unit_conversion_by_name(thermal_rc_fmu: Path) -> None:
    with FMUInstance(thermal_rc_fmu) as inst:
        inst.initialize(0.0)
        assert inst.get(["T1_out"], si=True)[0] == pytest.approx(inst.get(["T1_out"], si=False)[0])
        with pytest.raises(KeyError, match="T1_out"):
            inst.get(["T9"])


def _without_state_capability(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "modelDescription.xml":
                text = data.decode()
                assert 'canGetAndSetFMUstate="true"' in text
                data = text.replace('canGetAndSetFMUstate="true"', 'canGetAndSetFMUstate="false"').encode()
            zout.writestr(info, data)
    return dst


def test_state_unsupported_names_the_flag(dc_load_fmu: Path, tmp_path: Path) -> None:
    path = _without_state_capability(dc_load_fmu, tmp_path / "no_state.fmu")
    with FMUInstance(path) as inst:
        _start(inst)
        for call in (inst.get_state, inst.serialize_state):
            with pytest.raises(FMUStateUnsupported, match="canGetAndSetFMUstate"):
                call()
        with pytest.raises(FMUStateUnsupported, match="canGetAndSetFMUstate"):
            inst.deserialize_state(b"\0" * 16)


@pytest.mark.parametrize(
    ("mode", "error", "status"),
    [(1, FMUDiscard, 2), (2, FMUCallError, 3), (3, FMUFatal, 4)],
)
def test_fault_modes_give_distinct_errors_with_time(
    fault_injector_fmu: Path, mode: int, error: type[FMUError], status: int
) -> None:
    with FMUInstance(fault_injector_fmu) as inst:
        inst.initialize(0.0, integers={"fault_mode": mode}, values={"fault_time": 0.0035})
        inst.set({"u": 1.0})
        for _ in range(3):
            inst.do_step(1e-3)
        with pytest.raises(error, match="fmi2DoStep") as info:
            inst.do_step(1e-3)
        assert type(info.value) is error
        assert info.value.status == status
        assert info.value.function == "fmi2DoStep"
        assert info.value.time == pytest.approx(3e-3)
        assert info.value.fmu == "fault_injector"


def test_no_fmi_call_after_fatal(fault_injector_fmu: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FMUInstance(fault_injector_fmu) as inst:
        inst.initialize(0.0, integers={"fault_mode": 3}, values={"fault_time": 0.0})
        with pytest.raises(FMUFatal):
            inst.do_step(1e-3)
        assert inst.is_fatal
        calls: list[str] = []
        for name in ("getReal", "setReal", "doStep", "getFMUState", "terminate"):
            monkeypatch.setattr(inst.fmu, name, lambda *a, _n=name: calls.append(_n))
        with pytest.raises(FMURefused, match="no FMI call after Fatal"):
            inst.get(["y"])
        with pytest.raises(FMURefused, match="refused"):
            inst.do_step(1e-3)
        with pytest.raises(FMUFatal):  # FMURefused is an FMUFatal
            inst.set({"u": 0.0})
        with pytest.raises(FMURefused):
            inst.get_state()
        assert calls == []


def test_nan_mode_names_the_output(fault_injector_fmu: Path) -> None:
    with FMUInstance(fault_injector_fmu) as inst:
        inst.initialize(0.0, integers={"fault_mode": 4}, values={"fault_time": 0.002})
        inst.do_step(1e-3)
        with pytest.raises(FMUNonFinite, match="y") as info:
            inst.do_step(1e-3)
        assert info.value.variables == ("y",)
        assert info.value.time == pytest.approx(2e-3)


def test_check_status_mapping() -> None:
    check_status(0, "m", "fmi2DoStep", 0.0)
    check_status(1, "m", "fmi2DoStep", 0.0)  # Warning: logged only
    for code, cls in ((2, FMUDiscard), (3, FMUCallError), (4, FMUFatal), (5, FMUCallError), (9, FMUCallError)):
        with pytest.raises(cls) as info:
            check_status(code, "m", "fmi2DoStep", 1.5)
        assert info.value.status == code and info.value.time == 1.5


def test_close_removes_extracted_files(dc_load_fmu: Path) -> None:
    inst = FMUInstance(dc_load_fmu)
    folder = Path(inst._tmp)
    assert (folder / "modelDescription.xml").is_file()
    inst.close()
    inst.close()
    assert not folder.exists()
    with pytest.raises(FMUCallError, match="after close"):
        inst.do_step(1e-3)


def test_fmi3_cosimulation(thermal_rc_fmi3_fmu: Path) -> None:
    with FMUInstance(thermal_rc_fmi3_fmu) as inst:
        inst.initialize(0.0, 10.0)
        inst.set({"Q_in": 100.0})
        t1 = inst.get(["T1_out"])[0]
        inst.do_step(0.1)
        assert inst.get(["T1_out"])[0] > t1
        snap = inst.get_state()
        inst.do_step(0.1)
        a = inst.get(["T1_out"])
        inst.set_state(snap)
        inst.do_step(0.1)
        np.testing.assert_array_equal(inst.get(["T1_out"]), a)
