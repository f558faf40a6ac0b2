"""Fixtures the suites share beyond the plugin's ``endpoint`` and ``service_options``."""

from typing import Any

import pytest

from harness.verdicts import HarnessError


@pytest.fixture
def clock_tolerance(service_options: dict[str, Any]) -> float:
    """Seconds a server's clock may differ from ours (``--clock-tolerance``)."""
    return float(service_options["clock-tolerance"])


@pytest.fixture
def authkey(service_options: dict[str, Any]) -> bytes:
    """The authenticated services' shared key (``--authkey``; the per-run one for reference
    servers). Never printed: failure messages describe frames, never keys."""
    key = service_options["authkey"]
    if key is None:
        raise HarnessError("a --target of an authenticated service needs its shared key: pytest --authkey KEY")
    return key
