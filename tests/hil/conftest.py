"""Fixtures of the HIL tests.

``mosquitto``: a started real mosquitto broker (loopback, password authentication, TLS listener),
fresh for each test and always stopped afterwards; see ``tests/hil/mosquitto.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mosquitto import Mosquitto, mosquitto_broker


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A started :class:`mosquitto.Mosquitto` (``url()``, ``options()``, ``restart()``…)."""
    with mosquitto_broker(tmp_path_factory) as broker:
        yield broker
