"""rpc-mpconn's codec: the cases read it, and the codec-specific cases run only under theirs.

The codec is rpc-mpconn's option shared by server and checks (``harness.services``): a
``--target`` is judged with ``pytest --codec NAME``, and the reference servers of the same run
are launched with it. A case marked ``codec("json")`` judges what only a JSON server owes (it
never unpickles); under the other codec it is deselected, not skipped: "not asked for" is not
an outcome.
"""

from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "codec(name): an rpc-mpconn case that applies only under that codec")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("codec")
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("codec")
        (drop if marker is not None and marker.args[0] != chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def codec(service_options: dict[str, Any]) -> str:
    """The codec the server speaks (``--codec``; ``json`` by default)."""
    return str(service_options["codec"])
