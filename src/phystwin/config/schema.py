"""Twin configuration files (TOML): the schema and its structural validation.

A config names a twin, overrides parameters and start values (in any unit that converts
to the one the model declares), gives the input signals and the simulation settings::

    [twin]
    type = "dc_motor"                 # a twin (``phystwin twins`` lists them) or "package.module:function"
    # file = "pump.py"                # or: a Python file beside the config ...
    # function = "build"              # ... and its function returning the System (default: build)
    name = "motor_A"                  # optional label (plot titles, records)

    [parameters]                      # full parameter names of the compiled model
    "armature_R.R_ref" = 0.5          # a number is SI
    "armature_L.L" = "5 mH"           # a string "<number> <unit>"
    "armature_R.T_ref" = { value = 20, unit = "degC" }

    [initial]                         # state start values, same value forms
    "winding.T" = "25 degC"

    [simulation]
    duration = 3600.0                 # s, or "1 h" (the CLI's --duration overrides)
    solver = "rodas"                  # rodas | dopri5 | rk4
    rtol = 1e-6
    atol = 1e-8
    dt = 1e-3                         # s, rk4 only
    save_interval = 1.0               # s

    [inputs]
    load_torque = 0.1                 # a plain number (or "0.1 N*m") is a constant

    [inputs.voltage]                  # or a table
    kind = "hold"                     # hold | linear
    times = [0.0, 10.0, 20.0]         # s
    values = [24.0, 12.0, 24.0]
    period = 30.0                     # optional: repeat the table with this period until the end
    unit = "V"                        # optional; values are converted to the input's SI unit

Dotted names may be quoted (``"winding.C" = 50``) or not (``winding.C = 50``, which TOML reads as a
nested table; it is flattened back into the full name).

Validation happens in two stages. :func:`parse_config` checks the structure (pydantic, unknown keys
refused); :func:`~phystwin.config.resolve.resolve` checks every name against the compiled model's
layout (close matches are suggested), converts units and applies the model's bounds. Every problem
is reported in one :class:`ConfigError` with the TOML key path (``parameters."winding.C"``) and what
was expected.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from phystwin.errors import PhystwinError
from phystwin.units import UnitError, convert, parse_unit


# ---------------------------------------------------------------------------------------- errors
def key_path(loc: Sequence[str | int]) -> str:
    """TOML spelling of a key path: ``("parameters", "winding.C")`` -> ``parameters."winding.C"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


class ConfigError(PhystwinError, ValueError):
    """A twin configuration is invalid.

    Attributes
    ----------
    problems : list of (key path, message)
        Every problem found, each naming the offending key (``parameters."winding.C"``) and what
        was expected.
    source : str
        The config file (or ``"<string>"``).
    """

    def __init__(self, problems: Sequence[tuple[str, str]], source: str = "<string>") -> None:
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:
            path, msg = self.problems[0]
            text = f"{source}: {path}: {msg}" if path else f"{source}: {msg}"
        else:
            lines = [f"  {p}: {m}" if p else f"  {m}" for p, m in self.problems]
            text = f"{source}: {len(self.problems)} problems:\n" + "\n".join(lines)
        super().__init__(text)


def suggest(name: str, candidates: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for close matches of ``name`` (difflib), else ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return ""


# ---------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Quantity:
    """A value as written in a config: a number or vector, and the unit it was given in (None: SI)."""

    value: float | tuple[float, ...]
    unit: str | None = None

    def __str__(self) -> str:
        v = self.value if isinstance(self.value, float) else list(self.value)
        return f"{v} {self.unit}" if self.unit else f"{v}"


_NUMBER_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_FORMS = 'a number (SI), a string like "5 mH" or a table like { value = 5, unit = "mH" }'


def show(v: Any) -> str:
    """A value as it would be written in TOML (for messages)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return repr(v)


def _number(v: Any, what: str = "value") -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PydanticCustomError("number", "{what}: expected a number, got {got}", {"what": what, "got": show(v)})
    f = float(v)
    if not math.isfinite(f):
        raise PydanticCustomError(
            "number", "{what}: expected a finite number, got {got}", {"what": what, "got": show(v)}
        )
    return f


def _unit(u: Any) -> str:
    if not isinstance(u, str):
        raise PydanticCustomError("unit", 'unit must be a string like "mH", got {got}', {"got": show(u)})
    try:
        parse_unit(u)
    except UnitError as exc:
        raise PydanticCustomError("unit", "{msg}", {"msg": str(exc)}) from None
    return u.strip()


def parse_quantity(v: Any) -> Quantity:
    """A config value in one of its forms (see the module docstring) as a :class:`Quantity`."""
    if isinstance(v, Quantity):
        return v
    if isinstance(v, str):
        m = _NUMBER_UNIT.match(v)
        if m is None:
            raise PydanticCustomError("quantity", "expected {forms}, got {got}", {"forms": _FORMS, "got": show(v)})
        number = float(m.group(1))
        return Quantity(number, _unit(m.group(2)) if m.group(2) else None)
    if isinstance(v, dict):
        unknown = sorted(set(v) - {"value", "unit"})
        if unknown or "value" not in v:
            what = f"unknown key(s) {unknown}" if unknown else "no 'value'"
            raise PydanticCustomError(
                "quantity",
                "a value table has {what}; expected {form}",
                {"what": what, "form": '{ value = ..., unit = "..." }'},
            )
        inner = v["value"]
        value: float | tuple[float, ...]
        if isinstance(inner, list):
            value = tuple(_number(x, f"value[{k}]") for k, x in enumerate(inner))
        else:
            value = _number(inner)
        return Quantity(value, _unit(v["unit"]) if "unit" in v else None)
    if isinstance(v, list):
        return Quantity(tuple(_number(x, f"element [{k}]") for k, x in enumerate(v)))
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise PydanticCustomError("quantity", "expected {forms}, got {got}", {"forms": _FORMS, "got": show(v)})
    return Quantity(_number(v))


def _seconds(v: Any) -> float:
    q = parse_quantity(v)
    if not isinstance(q.value, float):
        raise PydanticCustomError("seconds", "expected a single time, got {got}", {"got": show(v)})
    try:
        s = convert(q.value, q.unit, "s") if q.unit else q.value
    except UnitError as exc:
        raise PydanticCustomError("seconds", "{msg}", {"msg": str(exc)}) from None
    if not s > 0:
        raise PydanticCustomError("seconds", "expected a time > 0 s, got {got}", {"got": show(v)})
    return s


QuantityField = Annotated[Quantity, PlainValidator(parse_quantity)]
Seconds = Annotated[float, PlainValidator(_seconds)]
"""A positive duration: a number (s) or a string/table with a time unit ("10 min")."""


# ---------------------------------------------------------------------------------------- schema
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TwinSection(_Section):
    """``[twin]``: which twin, and an optional label.

    Either ``type``: a built-in or registered twin (``"dc_motor"``), an installed package's entry point
    (group ``phystwin.twins``) or a ``"package.module:function"`` reference; or ``file``: a Python file
    (relative to the config file's folder) whose ``function`` (default ``build``) returns the System.
    """

    file: str | None = None
    type: str | None = Field(None, validate_default=True)
    function: str | None = Field(None, validate_default=True)
    name: str | None = None

    @field_validator("type")
    @classmethod
    def _type_or_file(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "file" not in info.data:  # file itself is invalid: reported there
            return v
        if v is None and info.data["file"] is None:
            raise PydanticCustomError(
                "missing",
                'required key is missing: give type (a twin name or "package.module:function") or file (a Python file)',
            )
        if v is not None and info.data["file"] is not None:
            raise PydanticCustomError(
                "twin", 'give either type or file, not both (with file, name the function with function = "...")'
            )
        if v is not None and not v.strip():
            raise PydanticCustomError("twin", "expected a twin name, got an empty string")
        return v

    @field_validator("file")
    @classmethod
    def _python_file(cls, v: str | None) -> str | None:
        if v is not None and not v.endswith(".py"):
            raise PydanticCustomError("twin", "expected a Python file ending in .py, got {v}", {"v": show(v)})
        return v

    @field_validator("function")
    @classmethod
    def _function_of_file(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or "file" not in info.data:
            return v
        if info.data["file"] is None:
            raise PydanticCustomError(
                "twin", 'function goes with file; with type, write type = "package.module:{v}"', {"v": v}
            )
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", v):
            raise PydanticCustomError("twin", "expected a Python function name, got {v}", {"v": show(v)})
        return v

    @property
    def reference(self) -> str:
        """How the twin is named, for messages and records: ``type``, or ``"<file>:<function>"``."""
        if self.file is not None:
            return f"{self.file}:{self.function or 'build'}"
        return self.type or ""


class SimulationSection(_Section):
    """``[simulation]``: time span, solver and output settings."""

    duration: Seconds | None = None
    solver: Literal["rodas", "dopri5", "rk4"] = "rodas"
    rtol: float = Field(1e-6, gt=0)
    atol: float = Field(1e-8, gt=0)
    dt: Seconds | None = None
    save_interval: Seconds | None = None
    max_steps: int | None = Field(None, gt=0)


class InputTable(_Section):
    """``[inputs.<name>]``: a time table, held or interpolated, optionally periodic."""

    kind: Literal["hold", "linear"] = "hold"
    times: list[float] = Field(min_length=1)
    values: list[float]
    period: Seconds | None = None
    unit: str | None = None

    @field_validator("times")
    @classmethod
    def _times_increasing(cls, t: list[float]) -> list[float]:
        for k, v in enumerate(t):
            if not math.isfinite(v):
                raise PydanticCustomError("times", "times[{k}] = {v} is not finite", {"k": k, "v": v})
        for k in range(len(t) - 1):
            if not t[k + 1] > t[k]:
                raise PydanticCustomError(
                    "times",
                    "times must be strictly increasing; times[{k1}] = {b} s does not come after times[{k}] = {a} s",
                    {"k": k, "k1": k + 1, "a": t[k], "b": t[k + 1]},
                )
        return t

    @field_validator("values")
    @classmethod
    def _values_match(cls, v: list[float], info: ValidationInfo) -> list[float]:
        for k, x in enumerate(v):
            if not math.isfinite(x):
                raise PydanticCustomError("values", "values[{k}] = {x} is not finite", {"k": k, "x": x})
        times = info.data.get("times")
        if times is not None and len(times) != len(v):
            raise PydanticCustomError(
                "values", "expected as many values as times ({n}), got {m}", {"n": len(times), "m": len(v)}
            )
        return v

    @field_validator("period")
    @classmethod
    def _period_long_enough(cls, p: float | None, info: ValidationInfo) -> float | None:
        times = info.data.get("times")
        if p is not None and times:
            span = times[-1] - times[0]
            if not p > span:
                raise PydanticCustomError(
                    "period",
                    "period {p} s must be longer than the table's span ({span} s) so the repeats do not overlap",
                    {"p": p, "span": span},
                )
        return p

    @field_validator("unit")
    @classmethod
    def _unit_known(cls, u: str | None) -> str | None:
        return None if u is None else _unit(u)


class SensorSection(_Section):
    """``[sensors.<name>]``: one scalar sensor sampling a model output (for ``phystwin generate``
    and as a measurement of ``phystwin estimate``). Values in the signal's unit unless given."""

    signal: str
    rate: float = Field(gt=0)
    """Sampling rate [Hz]."""
    noise: QuantityField
    """Standard deviation of the white noise (also the filter's R = noise^2)."""
    bias: QuantityField | None = None
    bias_psd: float = Field(0.0, ge=0)
    """Spectral density of the bias random walk [unit^2/s]."""
    scale: float = 1.0
    latency: float = Field(0.0, ge=0)
    dropout: float = Field(0.0, ge=0, le=1)
    outliers: float = Field(0.0, ge=0, le=1)
    outlier_sigmas: float = Field(10.0, gt=0)


class EstimatedParameter(_Section):
    """``[estimation.parameters."<name>"]``: a parameter estimated as a random-walk state."""

    initial: QuantityField | None = None
    """The filter's first guess (default: the parameter's value in [parameters] or the twin)."""
    sd: QuantityField
    """Standard deviation of that guess."""
    random_walk: float = Field(ge=0)
    """Spectral density of the random walk [unit^2/s]: how fast the parameter may drift."""


class EstimationSection(_Section):
    """``[estimation]``: the filter of ``phystwin estimate``."""

    filter: Literal["ukf"] = "ukf"
    sensors: list[str] | None = None
    """Sensors (of [sensors]) the filter uses, each measuring a model output; default: all."""
    groups: list[list[str]] = Field(default_factory=list)
    """Sensors sampled together and updated (and gated) as one, e.g. [["current", "speed"]]."""
    initial: dict[str, QuantityField] = Field(default_factory=dict)
    """The filter's first guess of states (over [initial])."""
    initial_sd: dict[str, QuantityField] = Field(default_factory=dict)
    """Standard deviation of that guess per state (default 1 in the state's unit)."""
    process_noise: dict[str, float] = Field(default_factory=dict)
    """Spectral density per state [unit^2/s] (default 0)."""
    parameters: dict[str, EstimatedParameter] = Field(default_factory=dict)
    solver_dt: Seconds = 1e-3
    gate_probability: float | None = Field(0.9999, gt=0, lt=1)
    save_interval: Seconds | None = None
    """Interval of the recorded estimates [s] (default: every sample); innovations are all kept."""


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ComponentSection(_Section):
    """``[components.<name>]``: an FMU added to the twin as component ``<name>`` (model exchange inside
    the compiled core, see :mod:`phystwin.config.components`)."""

    fmu: str
    """Path of the ``.fmu`` (relative to the config file's folder), or ``bundled:<model>`` for one of
    phystwin's own C test models, compiled with gcc on first use."""
    sha256: str | None = None
    """Optional pin: the FMU file's SHA-256 (64 hex digits); any other file is refused."""
    parameters: dict[str, QuantityField] = Field(default_factory=dict)
    """FMU parameters by FMU variable name: a number (SI) or a value with a unit."""
    connect: dict[str, str] = Field(default_factory=dict)
    """``"<signal input>" = "<signal>"``: the input (of this or any other component) fed by the signal,
    e.g. ``"coupling.w_in" = "rotor.w"`` and ``"load.tau_load" = "coupling.tau"``. A twin input that fed
    the same signal input is removed (rebind it with ``inputs``)."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """``<twin input> = "<signal input>"``: declare a twin input (or rebind an existing one, keeping its
    unit, default and the targets no connection took over) to drive a component input."""
    outputs: dict[str, str] = Field(default_factory=dict)
    """``<twin output> = "<signal>"``: new twin outputs."""

    @field_validator("sha256")
    @classmethod
    def _sha256_hex(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v.lower()):
            raise PydanticCustomError("sha256", "expected 64 hexadecimal digits, got {v}", {"v": show(v)})
        return None if v is None else v.lower()


from phystwin.config.live_schema import (  # noqa: E402  (the live sections build on the types above)
    BenchSection,
    ControlSection,
    RunSection,
    SafetySection,
)


def _input_tag(v: Any) -> str:
    return "table" if isinstance(v, dict) and "value" not in v else "constant"


InputSpec = Annotated[
    Annotated[QuantityField, Tag("constant")] | Annotated[InputTable, Tag("table")],
    Discriminator(_input_tag),
]
_TAGS = ("constant", "table")


class TwinConfig(_Section):
    """A whole twin config file, structurally validated (see the module docstring)."""

    twin: TwinSection
    parameters: dict[str, QuantityField] = Field(default_factory=dict)
    initial: dict[str, QuantityField] = Field(default_factory=dict)
    simulation: SimulationSection = Field(default_factory=SimulationSection)  # type: ignore[arg-type]
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    sensors: dict[str, SensorSection] = Field(default_factory=dict)
    estimation: EstimationSection | None = None
    bench: BenchSection | None = None
    run: RunSection | None = None
    control: ControlSection | None = None
    safety: dict[str, SafetySection] = Field(default_factory=dict)
    transport: dict[str, dict[str, Any]] = Field(default_factory=dict)
    components: dict[str, ComponentSection] = Field(default_factory=dict)
    _text: str = PrivateAttr("")

    @model_validator(mode="before")
    @classmethod
    def _accept_unquoted_dotted_names(cls, data: Any) -> Any:
        # In TOML an unquoted `winding.C = 5` is the nested table {winding = {C = 5}}; read it as the
        # dotted name the user meant (a value table has `value` and `unit` keys, so this is unambiguous).
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for section in ("parameters", "initial"):
            if isinstance(data.get(section), dict):
                out[section] = _flatten(section, data[section])
        est = data.get("estimation")
        if isinstance(est, dict):
            est = dict(est)
            for sub in ("initial", "initial_sd", "process_noise"):
                if isinstance(est.get(sub), dict):
                    est[sub] = _flatten(f"estimation.{sub}", est[sub])
            out["estimation"] = est
        return out

    _source: str = PrivateAttr("<string>")

    @property
    def text(self) -> str:
        """The config file's text as read (stored verbatim in records)."""
        return self._text

    @property
    def source(self) -> str:
        """Where the config came from (file path or ``"<string>"``)."""
        return self._source

    @property
    def label(self) -> str:
        """The twin's name for titles and records: ``[twin] name``, else its type."""
        return self.twin.name or self.twin.reference


def _flatten(section: str, table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        items = (
            _flatten(section, value, name + ".")
            if isinstance(value, dict) and value and not {"value", "unit"} & set(value)
            else {name: value}
        )
        for k, v in items.items():
            if k in out:
                raise PydanticCustomError("duplicate", "{key} is given twice", {"key": key_path((section, k))})
            out[k] = v
    return out


_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    (): TwinConfig,
    ("twin",): TwinSection,
    ("simulation",): SimulationSection,
    ("estimation",): EstimationSection,
}


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    if len(loc) == 2 and loc[0] == "inputs":
        return list(InputTable.model_fields)
    if len(loc) == 2 and loc[0] == "sensors":
        return list(SensorSection.model_fields)
    if len(loc) == 2 and loc[0] == "components":
        return list(ComponentSection.model_fields)
    if len(loc) == 3 and loc[:2] == ("estimation", "parameters"):
        return list(EstimatedParameter.model_fields)
    model = _SECTIONS.get(tuple(str(x) for x in loc))
    return list(model.model_fields) if model else []


def _problem(err: Mapping[str, Any]) -> tuple[str, str]:
    loc = tuple(err["loc"])
    if len(loc) >= 3 and loc[0] == "inputs" and loc[2] in _TAGS:
        loc = loc[:2] + loc[3:]
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = suggest(str(loc[-1]), allowed)
        return key_path(loc), f"unknown key{hint or ''}" + (f" (allowed here: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return key_path(loc), "required key is missing"
    if kind == "literal_error":
        return key_path(loc), f"expected {err['ctx']['expected']}, got {show(got)}"
    msg = str(err["msg"])
    if msg.startswith("Input should be"):
        what = (
            msg[len("Input should be ") :].replace("a valid dictionary", "a table").replace("a valid list", "an array")
        )
        return key_path(loc), f"expected {what}, got {show(got)}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return key_path(loc), msg


def parse_config(text: str, source: str = "<string>") -> TwinConfig:
    """Parse and structurally validate a config given as TOML text; :class:`ConfigError` on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("", f"not valid TOML: {exc}")], source) from None
    try:
        cfg = TwinConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(e) for e in exc.errors()], source) from None
    cfg._text = text
    cfg._source = source
    return cfg


def read_config(path: str | Path) -> TwinConfig:
    """Read and structurally validate a config file; :class:`ConfigError` on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([("", f"cannot read the config file: {exc}")], str(p)) from None
    return parse_config(text, str(p))


__all__ = [
    "ConfigError",
    "EstimatedParameter",
    "EstimationSection",
    "InputTable",
    "Quantity",
    "SensorSection",
    "SimulationSection",
    "TwinConfig",
    "TwinSection",
    "key_path",
    "parse_config",
    "parse_quantity",
    "read_config",
    "show",
    "suggest",
]
