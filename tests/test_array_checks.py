"""The array-tcp memory check can fail: a server that holds whole frames is caught by it.

array-tcp/stream/3 is judged only against reference runners (their processes are the harness's
to read), so no mutant run through ``--target`` can show it failing. Here the checker is called
directly with a mutant's pid: the server that buffers whole frames grows by the frame's size
and fails; the reference server on the threading runner stays within the bound.
"""

from __future__ import annotations

import pytest

from fixtures.mutants import MUTANTS
from harness.checks import Deadline, Endpoint
from harness.checks.arrays import MEMORY_BOUND_BYTES, check_memory_bounded_during_one_gib_frame
from harness.launch import launch_command, launch_server
from harness.verdicts import ConformanceFailure

pytestmark = pytest.mark.slow

BUDGET_S = 180.0  # 2 GiB through the server on a loaded 2-core machine; not a figure under test


def test_a_server_holding_whole_frames_fails_the_memory_check() -> None:
    (mutant,) = [mutant for mutant in MUTANTS if mutant.name == "array_tcp_buffers_whole_frame"]
    with launch_command(mutant.command()) as server:
        endpoint = Endpoint(server.host, server.port, Deadline(BUDGET_S))
        with pytest.raises(ConformanceFailure, match="Pss grew by"):
            check_memory_bounded_during_one_gib_frame(endpoint, server.pid)


def test_the_reference_server_passes_the_memory_check() -> None:
    with launch_server("array-tcp", "threading") as server:
        endpoint = Endpoint(server.host, server.port, Deadline(BUDGET_S))
        growth = check_memory_bounded_during_one_gib_frame(endpoint, server.pid)
    assert growth.startswith("Pss grew by")
    assert MEMORY_BOUND_BYTES == 64 << 20
