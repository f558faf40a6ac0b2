"""How a service is put under load: the record each service's registry entry carries.

``wirecheck compare``, the threaded client and the locust users know no service by name;
they read this record from ``SERVICES[name].load_profile``. Everything in it that is code
(the requester every load generator drives, the service's goals) is named by a dotted path
(``module:attribute``) and imported only when a load run needs it, so that the registry can
be imported without locust, matplotlib or the service's load modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoadProfile:
    """Which locust user drives a service, which request type measures it, and what else.

    Attributes:
        locustfile: the locustfile, relative to the repository root.
        user_class: the locust user class in it.
        request_type: the locust request type whose statistics are the measurement.
        timeout_kinds: exception names that mean "no reply in time" (counted as stalls).
        requester: ``module:callable``, the service's requester factory
            (harness/clients/requesters.py): the plain threaded client drives it, and so do
            the locust users; None when the yardstick does not speak the protocol.
        external_targets: third-party servers ``wirecheck compare`` measures beside the
            runners by default, by name: a fixtures/thirdparty/ recipe of that name, else a
            host of harness/loadgen/external_hosts.py serving ``external_application``.
        external_application: what those hosts serve (``module:attribute``, or
            ``module:factory()``).
        wrk_target: the request target wrk (the second generator) sends, for an HTTP service
            whose requests are all alike; None when wrk cannot load it.
        goals: ``module:callable`` judging a finished comparison (a
            ``harness.compare.records.Comparison``) against the service's own goals and
            returning a list of ``harness.compare.records.Goal``; None when it has none.
    """

    locustfile: str
    user_class: str
    request_type: str
    timeout_kinds: tuple[str, ...]
    requester: str | None = None
    goals: str | None = None
    external_targets: tuple[str, ...] = ()
    external_application: str | None = None
    wrk_target: str | None = None


def resolve(dotted: str) -> Any:
    """Import ``module:attribute`` and return the attribute."""
    module_name, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
