"""The ``phystwin`` command line.

::

    phystwin simulate CONFIG.toml [--duration 1h] [--out run.h5] [--png run.png] [--solver rodas]
    phystwin generate CONFIG.toml --truth run.h5 [--out sensors.h5] [--seed 0]
    phystwin estimate CONFIG.toml --data sensors.h5 [--out estimate.h5] [--no-plot]
    phystwin bench serve BENCH.toml [--transport udp|mqtt|opcua|can|modbus] [--url URL] [--out bench.h5]
    phystwin run TWIN.toml --feed udp://127.0.0.1:5005 [--out run.h5] [--mode closed_loop] [--png-dir DIR]
    phystwin plot RECORD.h5 [--out-dir DIR] [--follow]
    phystwin export RECORD.h5 --to csv|netcdf|parquet [--out PATH] [--stream NAME]
    phystwin demo [--out-dir out/demo] [--duration 15min] [--rate-factor 5]
    phystwin twins [--config CONFIG.toml]
    phystwin template dc_motor [--out my_motor.toml]
    phystwin template my_pumps.centrifugal:build | --file pump_twin.py [--function build]
    phystwin --version

Errors in the user's input (config, integration failure, unwritable output) print one message and
exit with status 2, without a traceback; an integration failure still writes the partial record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from phystwin.cli.fmu import fmu_app
from phystwin.cli.paths import Labelled, check_outputs, config_inputs
from phystwin.cli.provenance import run_provenance
from phystwin.errors import PhystwinError

EXIT_ERROR = 2

app = typer.Typer(
    name="phystwin",
    help=(
        "Physics-based component twins: simulate, estimate and run twins from TOML configs (with FMU components), "
        "against live benches, with HDF5 records and plots."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


class CliError(PhystwinError):
    """A problem to report in one message, exit status 2."""


def _stdout() -> Console:
    # markup off: names, units ("[1]") and messages ("give it in [inputs]") are printed as they are
    return Console(highlight=False, soft_wrap=True, markup=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


@contextmanager
def _status(message: str) -> Iterator[None]:
    """A spinner on stderr, only when stderr is a terminal (logs and pipes stay clean)."""
    err = _stderr()
    if err.is_terminal:
        with err.status(message):
            yield
    else:
        yield


def _version(value: bool) -> None:
    if value:
        from phystwin import __version__

        typer.echo(f"phystwin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Physics-based component twins."""


# ---------------------------------------------------------------------------------------- simulate
def _seconds_option(text: str | None) -> float | None:
    if text is None:
        return None
    from phystwin.config.schema import parse_quantity
    from phystwin.units import UnitError, convert

    bad = CliError(f"--duration: expected a time such as 3600 or '1 h', got {text!r}")
    try:
        q = parse_quantity(text)
        if not isinstance(q.value, float):
            raise bad
        s = convert(q.value, q.unit, "s") if q.unit else q.value
    except (ValueError, UnitError):  # parse_quantity's pydantic error is a ValueError
        raise bad from None
    if not (math.isfinite(s) and s > 0):
        raise CliError(f"--duration: expected a time > 0 s, got {text!r}")
    return s


def _fmt(v: float) -> str:
    return "nan" if not math.isfinite(v) else f"{v:.6g}"


def _summary(traj: Any, spec: Any, wall: float, label: str) -> tuple[Table, Table]:
    st = traj.stats
    simulated = float(traj.t[-1] - traj.t[0]) if traj.t.size > 1 else 0.0
    run = Table(title=f"{label}: {'completed' if traj.ok else 'FAILED'}", show_header=False, title_justify="left")
    run.add_column("item", style="bold")
    run.add_column("value")
    run.add_row("duration", f"{_fmt(simulated)} s of {_fmt(spec.duration)} s")
    run.add_row("solver", spec.solver_name)
    run.add_row("steps", f"{int(st.get('n_accepted', 0))} accepted, {int(st.get('n_rejected', 0))} rejected")
    run.add_row("rhs evaluations", str(int(st.get("n_rhs", 0))))
    if st.get("n_jac"):
        run.add_row("jacobians", str(int(st["n_jac"])))
    if st.get("n_events"):
        run.add_row("events", str(int(st["n_events"])))
    run.add_row("integration wall time", f"{_fmt(float(st.get('wall_time', 0.0)))} s")
    run.add_row("total wall time", f"{_fmt(wall)} s (config, build, compile, simulate)")
    sim_wall = float(st.get("wall_time", 0.0))
    rtf = simulated / sim_wall if sim_wall > 0 else math.inf
    run.add_row("real-time factor", f"{_fmt(rtf)}x")
    out = Table(title="outputs", title_justify="left")
    for col in ("output", "unit", "final", "min", "max"):
        out.add_column(col, justify="left" if col in ("output", "unit") else "right")
    for k, sig in enumerate(traj.layout.outputs):
        y = traj.y[:, k]
        if y.size:
            out.add_row(sig.name, sig.unit, _fmt(y[-1]), _fmt(np.nanmin(y)), _fmt(np.nanmax(y)))
        else:
            out.add_row(sig.name, sig.unit, "-", "-", "-")
    return run, out


def _run_simulation(
    config_path: Path,
    duration: str | None,
    out: Path | None,
    png: Path | None,
    no_plot: bool,
    solver: str | None,
) -> int:
    from phystwin.config.resolve import SOLVERS, fmu_failure, load_model, resolve
    from phystwin.config.schema import read_config
    from phystwin.core.status import IntegrationError
    from phystwin.records.hdf5 import write_trajectory

    started = time.perf_counter()
    t_end = _seconds_option(duration)
    if solver is not None and solver not in SOLVERS:
        raise CliError(f"--solver: expected one of {', '.join(SOLVERS)}, got {solver!r}")
    config = read_config(config_path)
    out_path = out if out is not None else Path(config_path.stem + ".h5")
    png_path = None if no_plot else (png if png is not None else out_path.with_suffix(".png"))
    check_outputs(
        config_inputs(config_path, config),
        [
            ("--out" if out is not None else "the record", out_path),
            ("--png" if png is not None else "the plot", png_path),
        ],
    )
    with _status(f"building and compiling twin {config.twin.reference!r} ..."):
        model = load_model(config)
    spec = resolve(config, model, duration=t_end, solver=solver)
    with _status(f"simulating {spec.duration:g} s with {spec.solver_name} ..."):
        try:
            traj = spec.simulate(model, raise_on_failure=False)
        except IntegrationError as exc:  # defensive: simulate returns partial results when asked to
            raise CliError(str(exc)) from None
    record = write_trajectory(
        out_path,
        traj,
        config_text=config.text,
        provenance=run_provenance(
            config, model, duration_s=spec.duration, solver=spec.solver_name, solver_options=asdict(spec.solver)
        ),
        model=model,
        parameters=model.parameters(spec.params),
    )
    plot_file = None
    if png_path is not None and traj.t.size:
        from phystwin.plots.signals import plot_trajectory  # matplotlib only when a figure is wanted

        plot_file = plot_trajectory(traj, png_path, title=f"{spec.label} ({spec.twin_type})")
    wall = time.perf_counter() - started
    con = _stdout()
    for table in _summary(traj, spec, wall, spec.label):
        con.print(table)
    for title, notes in (
        ("derivative notes", model.derivative_notes),
        ("unit notes", model.unit_notes),
    ):
        if notes:  # what the compiler could not check or derive analytically
            con.print(f"{title}:")
            for note in notes:
                con.print(f"  - {note}")
    con.print(f"record: {record}")
    if plot_file is not None:
        con.print(f"plot:   {plot_file}")
    if not traj.ok:
        t_reached = float(traj.stats.get("t_reached", traj.t[-1] if traj.t.size else 0.0))
        reason = fmu_failure(model, t_reached) or traj.message  # an FMU names the failing call
        raise CliError(
            f"integration failed at t = {t_reached:.9g} s: {reason}; "
            f"the partial record ({traj.t.size} samples) was written to {record}"
        )
    return 0


@app.command()
def simulate(
    config: Annotated[Path, typer.Argument(help="Twin config file (TOML).", show_default=False, metavar="CONFIG.toml")],
    duration: Annotated[
        str | None,
        typer.Option("--duration", "-d", help="Simulated time (overrides the config): 3600, '90 min', '2 h'."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HDF5 record to write (default: <config name>.h5 in the current folder)."),
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Plot to write (default: beside the record, .png).")] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not write a plot.")] = False,
    solver: Annotated[
        str | None, typer.Option("--solver", "-s", help="rodas | dopri5 | rk4, overrides the config.")
    ] = None,
) -> None:
    """Simulate a twin from CONFIG; write an HDF5 record and a PNG plot and print a summary."""
    try:
        _run_simulation(config, duration, out, png, no_plot, solver)
    except PhystwinError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write output: {exc}")


def _print_result(res: Any) -> None:
    con = _stdout()
    table = Table(title=res.title, show_header=False)
    for label, value in res.rows:
        table.add_row(label, value)
    con.print(table)
    for f in res.files:
        con.print(f"wrote: {f}")


def _checked(inputs: list[Labelled], outputs: list[Labelled], fn: Any, *args: Any) -> Any:
    """``fn(*args)`` once no output names an input or another output (:func:`check_outputs`)."""
    check_outputs(inputs, outputs)
    return fn(*args)


def _guarded(fn: Any, *args: Any) -> None:
    """Run a command's work; user errors become one message and exit status 2."""
    try:
        _print_result(fn(*args))
    except PhystwinError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read or write a file: {exc}")


@app.command()
def generate(
    config: Annotated[
        Path, typer.Argument(help="Twin config with \\[sensors].", show_default=False, metavar="CONFIG.toml")
    ],
    truth: Annotated[
        Path, typer.Option("--truth", help="Truth record written by 'phystwin simulate'.", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Sensor record (default: <truth>_sensors.h5).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the noise, dropouts and outliers (same seed, same streams).")] = 0,
) -> None:
    """Turn a simulated truth run into noisy multi-rate sensor streams (the config's sensors section)."""
    from phystwin.cli.estimation import run_generate

    if seed < 0:
        _fail(f"--seed must be >= 0, got {seed}")
    dest = out or truth.with_name(truth.stem + "_sensors.h5")
    _guarded(
        _checked,
        [*config_inputs(config), ("--truth", truth)],
        [("--out", dest)],
        run_generate,
        config,
        truth,
        dest,
        seed,
    )


@app.command()
def estimate(
    config: Annotated[
        Path, typer.Argument(help="Twin config with \\[estimation].", show_default=False, metavar="CONFIG.toml")
    ],
    data: Annotated[
        Path, typer.Option("--data", help="Sensor record ('phystwin generate' or a recorded run).", show_default=False)
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Estimate record (default: <data>_estimate.h5).")
    ] = None,
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Do not write figures.")] = False,
) -> None:
    """Filter recorded measurements; write estimates, covariances, innovations and health to HDF5, and plots."""
    from phystwin.cli.estimation import run_estimate

    dest = out or data.with_name(data.stem + "_estimate.h5")
    figures = [] if no_plot else [("the figures", dest.parent / f"{dest.stem}_*.png")]
    _guarded(
        _checked,
        [*config_inputs(config), ("--data", data)],
        [("--out", dest), *figures],
        run_estimate,
        config,
        data,
        dest,
        None if no_plot else dest.parent,
    )


bench_app = typer.Typer(help="The virtual test bench that plays the hardware.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(fmu_app, name="fmu")


@bench_app.command("serve")
def bench_serve(
    config: Annotated[Path, typer.Argument(help="Bench config with \\[bench].", metavar="BENCH.toml")],
    transport: Annotated[str, typer.Option(help="udp | mqtt | opcua | can | modbus.")] = "udp",
    url: Annotated[str | None, typer.Option(help="Address (overrides --transport), e.g. udp://127.0.0.1:5005.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Bench record (truth, published, commands).")] = None,
    rate_factor: Annotated[float | None, typer.Option(help="N x real time (0: as fast as possible).")] = None,
    duration: Annotated[str | None, typer.Option(help="Bench time to play, e.g. 10min (default: \\[bench]).")] = None,
) -> None:
    """Run the truth plant and publish its noisy sensor streams; apply the commands that arrive."""
    from phystwin.cli.live import DEFAULT_URLS, run_bench

    if url is None and transport not in DEFAULT_URLS:
        _fail(f"--transport must be one of {', '.join(DEFAULT_URLS)}, got {transport!r}")
    address = url or DEFAULT_URLS[transport]
    _guarded(
        lambda: _checked(
            config_inputs(config),
            [("--out", out)],
            run_bench,
            config,
            address,
            out,
            rate_factor,
            _seconds_option(duration),
        )
    )


@app.command("run")
def run_twin(
    config: Annotated[Path, typer.Argument(help="Twin config with \\[estimation], \\[run].", metavar="TWIN.toml")],
    feed: Annotated[
        str, typer.Option(help="udp://H:P, mqtt://, opc.tcp://, can://, modbus://")
    ] = "udp://127.0.0.1:5005",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run record (HDF5, SWMR).")] = None,
    mode: Annotated[str | None, typer.Option(help="shadow | advisory | closed_loop (default: \\[run] mode).")] = None,
    duration: Annotated[str | None, typer.Option(help="Wall time, e.g. 2min (default: until quiet).")] = None,
    png_dir: Annotated[Path | None, typer.Option(help="Write the run's figures here at the end.")] = None,
) -> None:
    """Track a bench in real time: fuse the feed, record, and (closed loop) command it within the safety envelope."""
    from phystwin.cli.live import run_twin as work

    if mode is not None and mode not in ("shadow", "advisory", "closed_loop"):
        _fail(f"--mode must be shadow, advisory or closed_loop, got {mode!r}")
    figures = [] if png_dir is None or out is None else [("the figures", png_dir / f"{out.stem}_*.png")]
    _guarded(
        lambda: _checked(
            config_inputs(config),
            [("--out", out), *figures],
            work,
            config,
            feed,
            out,
            mode,
            _seconds_option(duration),
            png_dir,
        )[0]
    )


@app.command()
def plot(
    record: Annotated[
        Path,
        typer.Argument(
            help="Any phystwin record (simulate, generate, estimate, bench, run).",
            show_default=False,
            metavar="RECORD.h5",
        ),
    ],
    out_dir: Annotated[Path | None, typer.Option(help="Folder of the figures (default: beside the record).")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Refresh while the file grows (live records).")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between refreshes with --follow.")] = 2.0,
) -> None:
    """Write the figures of a record: signals, estimates with +-3 sigma, innovations, NIS, health, timing."""
    from phystwin.cli.live import run_plot

    if not record.exists():
        _fail(f"no such record: {record}")
    figures = ("the figures", (out_dir or record.parent) / f"{record.stem}_*.png")
    _guarded(_checked, [("the record", record)], [figures], run_plot, record, out_dir, follow, interval)


@app.command("export")
def export(
    record: Annotated[Path, typer.Argument(help="Any phystwin record.", show_default=False, metavar="RECORD.h5")],
    to: Annotated[str, typer.Option("--to", help="csv | netcdf | parquet.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="File to write (a folder for csv/parquet of several streams; default: beside the record).",
        ),
    ] = None,
    stream: Annotated[str | None, typer.Option(help="Export this stream only (e.g. simulation, estimate).")] = None,
) -> None:
    """Export a record: CSV (units in the header), netCDF (units attributes) or Parquet (units in the schema)."""
    from phystwin.cli.records import run_export
    from phystwin.records.export import FORMATS

    if to not in FORMATS:
        _fail(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    if not record.exists():
        _fail(f"no such record: {record}")
    _guarded(_checked, [("the record", record)], [("--out", out)], run_export, record, to, out, stream)


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Folder of the records and figures.")] = Path("out/demo"),
    duration: Annotated[str | None, typer.Option(help="Bench time of the duty cycle (default: \\[bench]).")] = None,
    rate_factor: Annotated[float, typer.Option(help="N x real time.")] = 5.0,
    port: Annotated[int, typer.Option(help="UDP port of the twin on 127.0.0.1 (0: a free one).")] = 0,
) -> None:
    """The main job: virtual bench and closed-loop twin over UDP on loopback, with a cooling fault."""
    from phystwin.cli.demo import run_demo

    _guarded(lambda: run_demo(out_dir, _seconds_option(duration), rate_factor, port))


def _fail(message: str) -> None:
    _stderr().print(Text.assemble(("error:", "bold red"), f" {message}"))
    raise typer.Exit(EXIT_ERROR)


# ---------------------------------------------------------------------------------------- twins, template
@app.command("twins")
def list_twins(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Also list the twin this config names (a module or file twin).",
            metavar="CONFIG.toml",
        ),
    ] = None,
) -> None:
    """List the twins (built-in, registered, entry points, a config's own) with their kind, inputs and outputs."""
    from phystwin.cli.twins import print_twins, twin_entries

    try:
        entries = twin_entries(config)
    except PhystwinError as exc:
        _fail(str(exc))
    print_twins(_stdout(), entries)


@app.command()
def template(
    twin_type: Annotated[
        str | None,
        typer.Argument(
            help="A twin (see 'phystwin twins') or 'package.module:function'.", show_default=False, metavar="[TYPE]"
        ),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A Python file whose function builds the twin (instead of TYPE).")
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="The function in --file that returns the System (default: build).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: print to stdout).")] = None,
    duration: Annotated[float, typer.Option(help="Duration to put in the config, in seconds.")] = 10.0,
) -> None:
    """Print (or write) a complete config for a twin with every default and unit spelled out."""
    from phystwin.cli.twins import template_text

    try:
        check_outputs([("--file", file)], [("--out", out)])
        text = template_text(twin_type, file, function, out, duration)
    except PhystwinError as exc:
        _fail(str(exc))
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    _stdout().print(f"config: {out}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
