"""Conformance checkers: plain functions of an endpoint, usable with or without pytest.

A checker takes an :class:`Endpoint` (host, port, and the case's :class:`Deadline`) and
either returns — the requirement was met — or raises
:class:`~harness.verdicts.ConformanceFailure` with "expected … / actual …". It never skips,
never sleeps for synchronisation, and never waits past the deadline. The pytest layer
(``harness.pytest_plugin``) only supplies endpoints and turns outcomes into verdicts; the
same checkers can be run from a script or a REPL against any loopback server.

Modules: ``endpoint`` (Endpoint, Deadline, connecting, resetting), ``stream`` (the
non-blocking conversation loop and how its endings are described), ``pace`` (what a spent
budget means: a slow but correct target, a drip, or a plain timeout), ``tls_connection`` (a TLS
client with the socket surface the checkers use, so every stream check runs over TLS),
``properties`` (hypothesis payload strategies, profiles, the bounded property runner), one
module per service family (``echo``, ``timekeeping``, ``datagram``), and ``tls`` (checks of
the TLS layer itself, for any stream service).
"""

from harness.checks.endpoint import Deadline, Endpoint

__all__ = ["Deadline", "Endpoint"]
