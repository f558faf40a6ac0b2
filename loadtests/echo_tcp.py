"""Load users for the TCP echo services (RFC 862 ``echo-tcp`` and the chapter's ``line-echo-tcp``).

Each user holds one persistent connection and sends one request at a time: a payload of
``--payload-bytes`` (default 64), whose first 16 bytes are the request's sequence number in
hex, so a reply that belongs to another request is caught, not just a wrong byte. Every reply
is read to exactly the payload's length and compared byte for byte; a wrong reply, a short
one (the server closed early), a reset and a timeout (``--request-timeout``, default 2 s,
applies to the connect and to every reply) are failures. After a failure the connection is
closed and a fresh one is opened for the next request, since a stream that lost a reply is
out of step for good.

The echo itself is the one echo client's (harness/clients/echo.py, through its requesters);
the client and abstract user layers are harness/loadgen/users.py's
:class:`~harness.loadgen.users.RequesterUser`; this file holds the abstract echo users and the
concrete :class:`EchoTcpUser` / :class:`LineEchoTcpUser` with only host, task and wait time.

Run it::

    wirecheck serve echo-tcp --runner selectors            # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/echo_tcp.py EchoTcpUser --host 127.0.0.1:PORT --headless -u 50 -r 50 -t 10s
    python loadtests/echo_tcp.py --host 127.0.0.1:PORT    # one user, every request printed
"""

from __future__ import annotations

from locust import run_single_user, task

from harness.clients.echo import line_echo_requester, stream_echo_requester
from harness.loadgen.targets import default_target
from harness.loadgen.users import ReplyTimeoutError, RequesterUser, paced


class StreamEchoUserBase(RequesterUser):
    """Abstract echo user: one connection, a numbered payload per request, every reply checked."""

    abstract = True
    transport = "tcp"
    requester_factory = staticmethod(stream_echo_requester)
    request_type = "tcp-echo"
    request_label = "echo {payload_bytes}B"
    connect_request_type = "tcp-connect"
    timeout_error = ReplyTimeoutError


class EchoTcpUser(StreamEchoUserBase):
    """RFC 862 echo over TCP."""

    host = default_target("echo-tcp", 7)
    wait_time = paced()

    @task
    def echo(self) -> None:
        self.request_once()


class LineEchoUserBase(StreamEchoUserBase):
    """Abstract line-echo user: each request is one LF-terminated line."""

    abstract = True
    requester_factory = staticmethod(line_echo_requester)
    request_type = "tcp-line-echo"
    request_label = "line {payload_bytes}B"


class LineEchoTcpUser(LineEchoUserBase):
    """The chapter's line echo over TCP."""

    host = default_target("line-echo-tcp", 7)
    wait_time = paced()

    @task
    def echo_line(self) -> None:
        self.request_once()


if __name__ == "__main__":
    run_single_user(EchoTcpUser)
