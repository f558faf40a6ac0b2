"""Load users for the TCP echo services (RFC 862 ``echo-tcp`` and the chapter's ``line-echo-tcp``).

Each user holds one persistent connection and sends one request at a time: a payload of
``--payload-bytes`` (default 64), whose first 16 bytes are the request's sequence number in
hex, so a reply that belongs to another request is caught, not just a wrong byte. Every reply
is read to exactly the payload's length and compared byte for byte; a wrong reply, a short
one (the server closed early), a reset and a timeout (``--request-timeout``, default 2 s,
applies to the connect and to every reply) are failures. After a failure the connection is
closed and a fresh one is opened for the next request, since a stream that lost a reply is
out of step for good.

Layers (see harness/loadgen/users.py): :class:`StreamEchoClient` (socket, timing, the
request event), :class:`StreamEchoUserBase` (abstract), and the concrete
:class:`EchoTcpUser` / :class:`LineEchoTcpUser` with only host, task and wait time.

Run it::

    wirecheck serve echo-tcp --runner selectors            # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/echo_tcp.py EchoTcpUser --host 127.0.0.1:PORT --headless -u 50 -r 50 -t 10s
    python loadtests/echo_tcp.py --host 127.0.0.1:PORT    # one user, every request printed
"""

from __future__ import annotations

import socket
import time
from typing import Any

from locust import run_single_user, task

from harness.loadgen.payloads import numbered_payload
from harness.loadgen.recorder import ConnectionSlot
from harness.loadgen.targets import Target, default_target
from harness.loadgen import plugin
from harness.loadgen.users import WirecheckUser, paced, report_request

# After a failed connect, pause this long before the next attempt: a refused connect costs
# microseconds, and without a pause a dead server would make a closed loop spin at full CPU
# and bury the report in identical failures.
RECONNECT_PAUSE_S = 0.1

# Bytes of the hexdump excerpt in a mismatch message: enough to see the difference.
EXCERPT_BYTES = 16

class EchoMismatchError(AssertionError):
    """The server's reply was not the request's bytes (the peer broke RFC 862)."""


class ShortReplyError(ConnectionError):
    """The server closed the connection before echoing the whole request."""


class ReplyTimeoutError(TimeoutError):
    """No complete reply within the request timeout (a stalled or starving server)."""


def open_connection(target: Target, timeout_s: float) -> socket.socket:
    """Connect to ``target`` without a name lookup when its host is an address literal.

    ``socket.create_connection`` always calls ``getaddrinfo``, which gevent runs on a small
    thread pool: 1000 users connecting at once then queue behind it for up to a second, and
    that delay would be reported as the server's. ``connect`` on a literal skips the lookup.
    """
    if target.host.lower() == "localhost":
        return socket.create_connection(target.address, timeout=timeout_s)
    family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect(target.address)
    except BaseException:
        sock.close()
        raise
    return sock


def _hex_excerpt(data: bytes, at: int) -> str:
    start = max(0, at - 4)
    return data[start : start + EXCERPT_BYTES].hex(" ") or "(nothing)"


class StreamEchoClient:
    """One persistent connection to an echo server; one checked, timed request at a time.

    Args:
        environment: the locust environment whose request event is fired.
        target: a loopback endpoint.
        slot: the recorder's health record of this connection.
        timeout_s: bound on the connect and on each reply.
        request_type: the locust request type of the echo requests.

    Resource handling: the client owns its socket; :meth:`close` releases it, and every
    failure closes it before the next request reconnects.
    """

    def __init__(
        self,
        environment: Any,
        target: Target,
        slot: ConnectionSlot,
        *,
        timeout_s: float,
        request_type: str = "tcp-echo",
    ) -> None:
        self.environment = environment
        self.target = target
        self.slot = slot
        self.timeout_s = timeout_s
        self.request_type = request_type
        self.sock: socket.socket | None = None
        self._buffer = bytearray()

    def connect(self) -> bool:
        """Open the connection, reported as a ``tcp-connect`` request. Returns success."""
        started = time.perf_counter()
        plugin.RECORDER.begin_wait(self.slot)
        try:
            self.sock = open_connection(self.target, self.timeout_s)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Replies are bounded by the watchdog (plugin), not a per-call socket timeout.
            self.sock.settimeout(None)
            self.slot.wake = self._wake
        except OSError as error:
            self.sock = None
            timed_out = isinstance(error, TimeoutError)
            plugin.RECORDER.end_wait(self.slot, replied=False, timed_out=timed_out)
            report_request(
                self.environment, request_type="tcp-connect", name="connect", started=started,
                response_length=0, exception=error,
            )
            time.sleep(RECONNECT_PAUSE_S)
            return False
        plugin.RECORDER.end_wait(self.slot, replied=False)
        report_request(
            self.environment, request_type="tcp-connect", name="connect", started=started, response_length=0
        )
        return True

    def echo(self, payload: bytes, *, name: str, intended_start: float | None = None) -> None:
        """Send ``payload``, read back exactly as many bytes, check them, report the request.

        Args:
            payload: the request.
            name: the locust name of the request.
            intended_start: the scheduled send time in open loop (latency is measured from it).
        """
        if self.sock is None and not self.connect():
            return
        assert self.sock is not None
        sent_at = time.perf_counter()
        started = intended_start if intended_start is not None else sent_at
        plugin.RECORDER.begin_wait(self.slot)
        try:
            self.sock.sendall(payload)
            reply = self._receive_exactly(len(payload))
            if reply != payload:
                at = next(i for i, (a, b) in enumerate(zip(reply, payload)) if a != b)
                raise EchoMismatchError(
                    f"expected the {len(payload)} bytes sent / actual: reply differs at byte {at}: "
                    f"sent {_hex_excerpt(payload, at)}, got {_hex_excerpt(reply, at)}"
                )
        except (OSError, EchoMismatchError) as error:
            # A receive the watchdog ended is a timeout, whatever the socket said.
            failure: BaseException = (
                ReplyTimeoutError(f"expected {len(payload)} bytes echoed within {self.timeout_s:g} s / actual: timeout")
                if self.slot.expired
                else error
            )
            plugin.RECORDER.end_wait(self.slot, replied=False, timed_out=isinstance(failure, TimeoutError))
            report_request(
                self.environment, request_type=self.request_type, name=name, started=started,
                response_length=0, exception=failure,
            )
            self.close()
            return
        plugin.RECORDER.end_wait(self.slot, replied=True)
        report_request(
            self.environment, request_type=self.request_type, name=name, started=started,
            response_length=len(reply),
        )

    def _receive_exactly(self, size: int) -> bytes:
        assert self.sock is not None
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        received = 0
        while received < size:
            count = self.sock.recv_into(view[received:])
            if count == 0:
                raise ShortReplyError(
                    f"expected {size} bytes echoed / actual: orderly close after {received} bytes"
                )
            received += count
        return bytes(view)

    def _wake(self) -> None:
        """The watchdog's call: this wait is past the timeout; end the blocked receive."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class StreamEchoUserBase(WirecheckUser):
    """Abstract echo user: one connection, a numbered payload per request, every reply checked."""

    abstract = True
    transport = "tcp"
    request_type = "tcp-echo"
    line_mode = False  # True: the payload is one LF-terminated line (line-echo-tcp)

    def on_start(self) -> None:
        self.client = StreamEchoClient(
            self.environment,
            self.target,
            self.slot,
            timeout_s=float(self.options.request_timeout),
            request_type=self.request_type,
        )
        self.payload_bytes = int(self.options.payload_bytes)
        self.sequence = 0
        kind = "line" if self.line_mode else "echo"
        self.request_name = f"{kind} {self.payload_bytes}B{self.loop_label}"
        self.client.connect()

    def echo_once(self) -> None:
        """One checked echo of a fresh numbered payload."""
        self.sequence += 1
        payload = numbered_payload(self.sequence, self.payload_bytes, line=self.line_mode)
        self.client.echo(payload, name=self.request_name, intended_start=self.pacer.take_slot())

    def on_stop(self) -> None:
        self.client.close()
        super().on_stop()


class EchoTcpUser(StreamEchoUserBase):
    """RFC 862 echo over TCP."""

    host = default_target("echo-tcp", 7)
    wait_time = paced()

    @task
    def echo(self) -> None:
        self.echo_once()


class LineEchoUserBase(StreamEchoUserBase):
    """Abstract line-echo user: each request is one LF-terminated line."""

    abstract = True
    request_type = "tcp-line-echo"
    line_mode = True


class LineEchoTcpUser(LineEchoUserBase):
    """The chapter's line echo over TCP."""

    host = default_target("line-echo-tcp", 7)
    wait_time = paced()

    @task
    def echo_line(self) -> None:
        self.echo_once()


if __name__ == "__main__":
    run_single_user(EchoTcpUser)
