"""Records and configuration: TOML twin configs with units, HDF5 records with units and provenance."""

from phystwin.records.config import ConfigError as ConfigError
from phystwin.records.config import TwinConfig as TwinConfig
from phystwin.records.config import parse_config as parse_config
from phystwin.records.config import read_config as read_config
from phystwin.records.hdf5 import Record as Record
from phystwin.records.hdf5 import RecordError as RecordError
from phystwin.records.hdf5 import read_record as read_record
from phystwin.records.hdf5 import write_trajectory as write_trajectory
from phystwin.records.resolve import RunSpec as RunSpec
from phystwin.records.resolve import load_model as load_model
from phystwin.records.resolve import resolve as resolve
from phystwin.records.units import UnitError as UnitError
from phystwin.records.units import convert as convert

__all__ = [
    "ConfigError",
    "Record",
    "RecordError",
    "RunSpec",
    "TwinConfig",
    "UnitError",
    "convert",
    "load_model",
    "parse_config",
    "read_config",
    "read_record",
    "resolve",
    "write_trajectory",
]
