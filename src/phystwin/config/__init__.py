"""TOML twin configs -> models, filters, benches and runners: schema with units, resolution, FMU wiring,
estimator and live set-up."""

from phystwin.config.resolve import RunSpec as RunSpec
from phystwin.config.resolve import load_model as load_model
from phystwin.config.resolve import resolve as resolve
from phystwin.config.schema import ConfigError as ConfigError
from phystwin.config.schema import TwinConfig as TwinConfig
from phystwin.config.schema import parse_config as parse_config
from phystwin.config.schema import read_config as read_config

__all__ = ["ConfigError", "RunSpec", "TwinConfig", "load_model", "parse_config", "read_config", "resolve"]
