"""Load users for the UDP services: RFC 868 ``time-udp`` and RFC 862 ``echo-udp``.

Each user owns one connected UDP socket (the kernel then delivers only datagrams from the
server's address, so a reply is an answer, not stray traffic) and sends one request at a
time. UDP may lose a datagram, and a server that falls behind loses them for sure (its
receive buffer overflows), so a reply that does not come within ``--request-timeout`` is
counted as a **loss**: a failure of kind ``DatagramLostError``. There is no retry: a retry
would hide the loss the load test is there to count. After a loss the socket is replaced by a
fresh one (a new source port), so that a late reply to the lost request cannot be taken for
the answer to the next one.

Replies are checked by the protocols' one client each: a time reply must be exactly 4 bytes
(RFC 868: "a 32-bit time value") and decode to within two seconds of our own clock (server
and generator share the machine's clock; harness/clients/timekeeping.py); an echo reply must
be the request's bytes exactly (each payload starts with its sequence number;
harness/clients/echo.py).

Layers: the client and abstract user are harness/loadgen/users.py's
:class:`~harness.loadgen.users.RequesterUser`; this file holds the abstract datagram users
and the concrete :class:`TimeUdpUser` and :class:`EchoUdpUser` with only host, task and wait
time.

Run it::

    wirecheck serve time-udp --runner selectors            # prints READY udp 127.0.0.1:PORT
    locust -f loadtests/datagram_udp.py TimeUdpUser --host 127.0.0.1:PORT --headless -u 10 -r 10 -t 10s
    python loadtests/datagram_udp.py --host 127.0.0.1:PORT  # one time user, every request printed
"""

from __future__ import annotations

from locust import run_single_user, task

from harness.clients.echo import datagram_echo_requester
from harness.clients.timekeeping import time_datagram_requester
from harness.loadgen.targets import default_target
from harness.loadgen.users import DatagramLostError, RequesterUser, paced


class DatagramUserBase(RequesterUser):
    """Abstract UDP user: one socket, one request in flight, every reply checked, a late
    reply counted as lost."""

    abstract = True
    transport = "udp"
    timeout_error = DatagramLostError


class TimeUserBase(DatagramUserBase):
    """Abstract RFC 868 time user: an empty request (RFC 868 ignores its content)."""

    abstract = True
    requester_factory = staticmethod(time_datagram_requester)
    request_type = "udp-time"
    request_label = "time"


class EchoDatagramUserBase(DatagramUserBase):
    """Abstract RFC 862 echo user: a numbered payload of ``--payload-bytes``."""

    abstract = True
    requester_factory = staticmethod(datagram_echo_requester)
    request_type = "udp-echo"
    request_label = "echo"


class TimeUdpUser(TimeUserBase):
    """RFC 868 time over UDP."""

    host = default_target("time-udp", 37)
    wait_time = paced()

    @task
    def ask_time(self) -> None:
        self.request_once()


class EchoUdpUser(EchoDatagramUserBase):
    """RFC 862 echo over UDP."""

    host = default_target("echo-udp", 7)
    wait_time = paced()

    @task
    def echo(self) -> None:
        self.request_once()


if __name__ == "__main__":
    run_single_user(TimeUdpUser)
