"""``--out`` / ``--png`` naming an input or another output: refused (exit 2) before anything is written.

Each command gets an output that resolves to one of its inputs (directly, through ``..`` or a symlink)
or to another of its outputs; the input must be unchanged afterwards, byte for byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phystwin.cli import app
from phystwin.cli.paths import OutputPathError, check_outputs

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_twin"


@pytest.fixture
def pump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A truth record and a sensor record of the pump twin (written once)."""
    folder = tmp_path_factory.mktemp("records")
    for f in EXAMPLE.iterdir():
        if f.is_file():
            shutil.copy(f, folder / f.name)
    runner = CliRunner()
    cfg = str(folder / "pump.toml")
    res = runner.invoke(app, ["simulate", cfg, "-d", "20", "--out", str(folder / "truth.h5"), "--no-plot"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["generate", cfg, "--truth", str(folder / "truth.h5"), "--out", str(folder / "s.h5")])
    assert res.exit_code == 0, res.output
    return folder


def _refused(args: list[str], *protected: Path, words: tuple[str, ...] = ()) -> str:
    before = {p: p.read_bytes() for p in protected}
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for p, data in before.items():
        assert p.read_bytes() == data, f"{p} was changed"
    for w in words:
        assert w in res.output, res.output
    return str(res.output)


def test_simulate_out_is_the_twin_file(pump: Path) -> None:
    _refused(["simulate", "pump.toml", "--out", "pump_twin.py"], pump / "pump_twin.py", words=("--out", "twin.file"))


def test_simulate_png_is_the_config(pump: Path) -> None:
    _refused(["simulate", "pump.toml", "--png", "pump.toml"], pump / "pump.toml", words=("--png", "the config"))


def test_simulate_out_and_png_the_same(pump: Path) -> None:
    _refused(["simulate", "pump.toml", "--out", "same.h5", "--png", "same.h5"], words=("--out", "--png"))
    assert not (pump / "same.h5").exists()


def test_simulate_out_through_dotdot_and_symlink(pump: Path) -> None:
    (pump / "sub").mkdir()
    _refused(["simulate", "pump.toml", "--out", "sub/../pump.toml"], pump / "pump.toml")
    (pump / "link.h5").symlink_to(pump / "pump_twin.py")
    _refused(["simulate", "pump.toml", "--out", "link.h5"], pump / "pump_twin.py")


def test_simulate_default_plot_is_the_config(pump: Path) -> None:
    # --out pump.h5 puts the default plot at pump.png; a config named pump.png is an input
    shutil.copy(pump / "pump.toml", pump / "pump.png")
    _refused(["simulate", "pump.png", "--out", "pump.h5"], pump / "pump.png", words=("the plot",))


def test_generate_out_is_the_truth(records: Path) -> None:
    truth = records / "truth.h5"
    _refused(["generate", str(records / "pump.toml"), "--truth", str(truth), "--out", str(truth)], truth)


def test_estimate_out_is_the_data(records: Path) -> None:
    data = records / "s.h5"
    _refused(["estimate", str(records / "pump.toml"), "--data", str(data), "--out", str(data)], data)


def test_estimate_out_is_the_config(records: Path) -> None:
    cfg = records / "pump.toml"
    _refused(["estimate", str(cfg), "--data", str(records / "s.h5"), "--out", str(cfg)], cfg)


def test_export_out_is_the_record(records: Path) -> None:
    truth = records / "truth.h5"
    _refused(["export", str(truth), "--to", "csv", "--out", str(truth)], truth, words=("the record",))


def test_plot_figures_overwrite_an_input(tmp_path: Path, records: Path) -> None:
    rec = tmp_path / "truth.h5"
    shutil.copy(records / "truth.h5", rec)
    shutil.copy(records / "truth.h5", tmp_path / "truth_simulation.png")  # a figure name of this record
    # the record is an input; the figures written into its folder must not name it
    check_outputs([("the record", rec)], [("the figures", tmp_path / "other_*.png")])
    with pytest.raises(OutputPathError):
        check_outputs([("x", tmp_path / "truth_simulation.png")], [("the figures", tmp_path / "truth_*.png")])


def test_template_out_is_the_file(pump: Path) -> None:
    _refused(["template", "--file", "pump_twin.py", "--out", "pump_twin.py"], pump / "pump_twin.py")


def test_bench_serve_out_is_the_config(pump: Path) -> None:
    _refused(["bench", "serve", "pump_bench.toml", "--out", "pump_bench.toml"], pump / "pump_bench.toml")


def test_run_out_is_the_twin_file(pump: Path) -> None:
    _refused(["run", "pump.toml", "--out", "pump_twin.py"], pump / "pump_twin.py")


def test_check_outputs_names_both_and_is_a_phystwin_error(tmp_path: Path) -> None:
    from phystwin.errors import PhystwinError

    with pytest.raises(PhystwinError, match=r"--out .*a\.h5.* --data .*a\.h5"):
        check_outputs([("--data", tmp_path / "a.h5")], [("--out", tmp_path / "x" / ".." / "a.h5")])
    check_outputs([("--data", tmp_path / "a.h5"), ("none", None)], [("--out", tmp_path / "b.h5"), ("none", None)])
