"""array-tcp's frames past 2^31 and 2^32 bytes run only when asked for (``--large``).

The option is array-tcp's checker option (``harness.services``), read like any other. Without
it the large cases are deselected, not skipped: "not asked for" is not an outcome.
"""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large_frames: an array-tcp case that moves GiBs; only with --large")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("large"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("large_frames") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
