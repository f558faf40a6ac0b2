"""wirecheck: conformance suites and load tests for the classic small network services.

The package is split by what a piece knows about:

- ``harness.protocols``: sans-IO protocol objects. Bytes in, bytes out, no sockets.
- ``harness.runners``: concurrency models. Sockets, processes, threads, loops; no protocol.
- ``harness.services``: the registry that pairs a service name with its protocol, options,
  load profile and own modules.
- ``harness.clients``: one reference client per protocol, used by the suites and the load
  generators alike.
- ``harness.loadgen``, ``harness.compare``, ``harness.goals``: load generation, the
  ``wirecheck compare`` command, and each service family's goals under load.
- ``harness.launch``: start a service on a runner as a subprocess and wait for READY.
- ``harness.verdicts`` and ``harness.cases``: levels, verdicts, cases, results.
- ``harness.cli``: the ``wirecheck`` command (``harness.usage``: its one user error).
"""

__version__ = "0.1.0"
