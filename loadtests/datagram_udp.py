"""Load users for the UDP services: RFC 868 ``time-udp`` and RFC 862 ``echo-udp``.

Each user owns one connected UDP socket (the kernel then delivers only datagrams from the
server's address, so a reply is an answer, not stray traffic) and sends one request at a
time. UDP may lose a datagram, and a server that falls behind loses them for sure (its
receive buffer overflows), so a reply that does not come within ``--request-timeout`` is
counted as a **loss**: a failure of kind ``DatagramLostError``. There is no retry: a retry
would hide the loss the load test is there to count. After a loss the socket is replaced by a
fresh one (a new source port), so that a late reply to the lost request cannot be taken for
the answer to the next one.

Replies are checked: a time reply must be exactly 4 bytes (RFC 868: "a 32-bit time value")
and decode to within :data:`TIME_TOLERANCE_S` of our own clock (server and generator share
the machine's clock); an echo reply must be the request's bytes exactly (each payload starts
with its sequence number).

Layers: :class:`DatagramClient` (socket, timing, the request event),
:class:`DatagramUserBase` (abstract), and the concrete :class:`TimeUdpUser` and
:class:`EchoUdpUser` with only host, task and wait time.

Run it::

    wirecheck serve time-udp --runner selectors            # prints READY udp 127.0.0.1:PORT
    locust -f loadtests/datagram_udp.py TimeUdpUser --host 127.0.0.1:PORT --headless -u 10 -r 10 -t 10s
    python loadtests/datagram_udp.py --host 127.0.0.1:PORT  # one time user, every request printed
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

from locust import run_single_user, task

from harness.loadgen import plugin
from harness.loadgen.payloads import numbered_payload
from harness.loadgen.recorder import ConnectionSlot
from harness.loadgen.targets import Target, default_target
from harness.loadgen.users import WirecheckUser, paced, report_request
from harness.protocols.timekeeping import MalformedReplyError, decode_rfc868

# RFC 868 counts whole seconds and the server reads the same clock as we do: its answer is
# at most 1 s behind ours, plus the request's latency. Two seconds of tolerance accept that
# and still catch a server answering in the wrong era, zone or epoch.
TIME_TOLERANCE_S = 2.0

# Larger than any UDP payload (65,507 bytes over IPv4), so no reply is silently truncated.
RECEIVE_BUFFER_BYTES = 65536

# After a refused send (ICMP port unreachable), pause before the next attempt: without it a
# closed loop against a dead port spins at full CPU and floods the report.
REFUSED_PAUSE_S = 0.1

ReplyCheck = Callable[[bytes, bytes], None]


class DatagramLostError(TimeoutError):
    """No reply within the request timeout: the request or the reply was lost (or is very late)."""


class WrongReplyError(AssertionError):
    """A reply arrived, but not one the protocol allows for this request."""


def check_time_reply(request: bytes, reply: bytes) -> None:
    """RFC 868: 4 bytes, and the time they stand for is within the tolerance of our clock.

    Raises:
        WrongReplyError: wrong length, or a time too far from ours.
    """
    now = time.time()
    try:
        served = decode_rfc868(reply, near=now)
    except MalformedReplyError as error:
        raise WrongReplyError(f"expected a 4-byte RFC 868 time / actual: {error}: {reply[:16].hex(' ')}") from None
    if abs(served - now) > TIME_TOLERANCE_S:
        raise WrongReplyError(
            f"expected a time within {TIME_TOLERANCE_S:g} s of ours / actual: {served - now:+.0f} s off"
        )


def check_echo_reply(request: bytes, reply: bytes) -> None:
    """RFC 862: the datagram comes back unchanged.

    Raises:
        WrongReplyError: the reply differs from the request.
    """
    if reply != request:
        raise WrongReplyError(
            f"expected the {len(request)} bytes sent / actual: {len(reply)} bytes, "
            f"starting {reply[:16].hex(' ') or '(empty)'}"
        )


class DatagramClient:
    """One connected UDP socket; one checked, timed request/reply at a time.

    Args:
        environment: the locust environment whose request event is fired.
        target: a loopback endpoint.
        slot: the recorder's health record of this user.
        timeout_s: how long to wait for each reply before counting a loss.
        request_type: the locust request type (``udp-time``, ``udp-echo``).

    Resource handling: the client owns its socket; :meth:`close` releases it, and a loss or
    an error replaces it before the next request.
    """

    def __init__(
        self, environment: Any, target: Target, slot: ConnectionSlot, *, timeout_s: float, request_type: str
    ) -> None:
        self.environment = environment
        self.target = target
        self.slot = slot
        self.timeout_s = timeout_s
        self.request_type = request_type
        self.sock: socket.socket | None = None

    def _open(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.target.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect(self.target.address)
        # The wait for a reply is bounded by the watchdog (plugin), not a socket timeout.
        self.slot.wake = self._wake
        return sock

    def _wake(self) -> None:
        """The watchdog's call: the reply is overdue; end the blocked receive (a loss)."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def request(
        self, payload: bytes, check: ReplyCheck, *, name: str, intended_start: float | None = None
    ) -> None:
        """Send one datagram, wait for one reply, check it, report the request.

        Args:
            payload: the request datagram.
            check: raises :class:`WrongReplyError` for a reply the protocol does not allow.
            name: the locust name of the request.
            intended_start: the scheduled send time in open loop (latency is measured from it).
        """
        sent_at = time.perf_counter()
        started = intended_start if intended_start is not None else sent_at
        plugin.RECORDER.begin_wait(self.slot)
        reply = b""
        try:
            if self.sock is None:
                self.sock = self._open()
            self.sock.send(payload)
            reply = self.sock.recv(RECEIVE_BUFFER_BYTES)
            check(payload, reply)
        except (OSError, WrongReplyError) as error:
            # A receive the watchdog ended is a loss, whatever the socket said.
            failure: BaseException = (
                DatagramLostError(
                    f"expected a reply within {self.timeout_s:g} s / actual: none (lost, or the server is stalled)"
                )
                if self.slot.expired
                else error
            )
            plugin.RECORDER.end_wait(self.slot, replied=False, timed_out=isinstance(failure, TimeoutError))
            report_request(
                self.environment, request_type=self.request_type, name=name, started=started,
                response_length=len(reply), exception=failure,
            )
            self.close()
            if isinstance(error, ConnectionRefusedError):
                time.sleep(REFUSED_PAUSE_S)
            return
        plugin.RECORDER.end_wait(self.slot, replied=True)
        report_request(
            self.environment, request_type=self.request_type, name=name, started=started,
            response_length=len(reply),
        )

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


class DatagramUserBase(WirecheckUser):
    """Abstract UDP user: one socket, one request in flight, every reply checked.

    Subclasses set ``request_type``, ``check_reply`` and :meth:`next_payload`.
    """

    abstract = True
    transport = "udp"
    request_type = "udp"
    check_reply: ReplyCheck = staticmethod(check_echo_reply)

    def on_start(self) -> None:
        self.client = DatagramClient(
            self.environment,
            self.target,
            self.slot,
            timeout_s=float(self.options.request_timeout),
            request_type=self.request_type,
        )
        self.sequence = 0
        self.request_name = f"{self.request_type.removeprefix('udp-')}{self.loop_label}"

    def next_payload(self) -> bytes:
        return b""

    def request_once(self) -> None:
        self.sequence += 1
        self.client.request(
            self.next_payload(), type(self).check_reply, name=self.request_name,
            intended_start=self.pacer.take_slot(),
        )

    def on_stop(self) -> None:
        self.client.close()
        super().on_stop()


class TimeUserBase(DatagramUserBase):
    """Abstract RFC 868 time user: an empty request (RFC 868 ignores its content)."""

    abstract = True
    request_type = "udp-time"
    check_reply = staticmethod(check_time_reply)


class EchoDatagramUserBase(DatagramUserBase):
    """Abstract RFC 862 echo user: a numbered payload of ``--payload-bytes``."""

    abstract = True
    request_type = "udp-echo"
    check_reply = staticmethod(check_echo_reply)

    def next_payload(self) -> bytes:
        return numbered_payload(self.sequence, int(self.options.payload_bytes))


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
