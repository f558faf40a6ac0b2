"""wirecheck: conformance suites and load tests for the classic small network services.

The package is split by what a piece knows about:

- ``harness.protocols``: sans-IO protocol objects. Bytes in, bytes out, no sockets.
- ``harness.runners``: concurrency models. Sockets, processes, threads, loops; no protocol.
- ``harness.services``: the registry that pairs a service name with its protocol.
- ``harness.launch``: start a service on a runner as a subprocess and wait for READY.
- ``harness.verdicts`` and ``harness.cases``: levels, verdicts, cases, results.
- ``harness.cli``: the ``wirecheck`` command.
"""

__version__ = "0.1.0"
