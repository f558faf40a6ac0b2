"""Fixtures the suites share beyond the plugin's ``endpoint``."""

import pytest

from harness.checks.timekeeping import DEFAULT_CLOCK_TOLERANCE_S


@pytest.fixture
def clock_tolerance(request: pytest.FixtureRequest) -> float:
    """Seconds a server's clock may differ from ours (``--clock-tolerance``)."""
    return float(request.config.getoption("clock_tolerance", DEFAULT_CLOCK_TOLERANCE_S))
