"""Fixtures the suites share beyond the plugin's ``endpoint`` and ``service_options``."""

from typing import Any

import pytest


@pytest.fixture
def clock_tolerance(service_options: dict[str, Any]) -> float:
    """Seconds a server's clock may differ from ours (``--clock-tolerance``)."""
    return float(service_options["clock-tolerance"])
