"""Checking datagram services: one request out, replies in, every wait bounded.

UDP gives no connection to watch, so what a TCP checker learns from a close or a reset a
datagram checker must learn from silence: a request unanswered after ``attempts`` tries of
``REPLY_WAIT_S`` each (loopback loses a datagram only when a socket buffer overflows, so
three tries separate a dead server from an unlucky drop). Every wait is further capped by
the case's :class:`~harness.checks.endpoint.Deadline`.

The checker's socket is **unconnected**, so it sees a reply from any source and can name it:
RFC 862/867/868 servers answer "in an answering datagram", and a reply that comes from
another port than the one the request went to never reaches a connected client (the kernel
drops it), which is how real clients, the chapter's included, would see such a server: as
silent. :func:`exchange` reports the wrong source as what it is.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from harness.checks.endpoint import Endpoint
from harness.clients.datagram import RECEIVE_BUFFER_BYTES, ask
from harness.verdicts import ConformanceFailure, preview

# How long one try waits for its reply; loopback answers in well under a millisecond.
REPLY_WAIT_S = 1.0
DEFAULT_ATTEMPTS = 3

# After a burst, how long to wait for each further reply before counting the rest as lost.
BURST_DRAIN_WAIT_S = 0.5

# The largest UDP payload: 65,535 minus the 8-byte UDP header and, over IPv4, the 20-byte
# IP header (IPv6's payload-length field does not count its header).
MAX_PAYLOAD_BYTES = {socket.AF_INET: 65_507, socket.AF_INET6: 65_527}


@dataclass(frozen=True)
class Reply:
    """A datagram received, and where from."""

    data: bytes
    source: tuple[str, int]


def family_of(endpoint: Endpoint) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET


def open_client(endpoint: Endpoint) -> socket.socket:
    """An unconnected, non-blocking UDP socket on the endpoint's loopback family.

    Resource handling: the caller owns and closes it.
    """
    sock = socket.socket(family_of(endpoint), socket.SOCK_DGRAM)
    sock.setblocking(False)
    return sock


def server_address(endpoint: Endpoint) -> tuple[str, int]:
    return (endpoint.host, endpoint.port)


def describe_silence(attempts: int, wait_s: float, payload: bytes) -> str:
    return (
        f"no reply (timeout: {attempts} request(s) of {preview(payload)}, "
        f"{wait_s:.3g} s each, went unanswered)"
    )


def receive(sock: socket.socket, wait_s: float) -> Reply | None:
    """One datagram within ``wait_s`` seconds, or None (no request sent)."""
    readable, _, _ = select.select([sock], [], [], wait_s)
    if not readable:
        return None
    try:
        data, source = sock.recvfrom(RECEIVE_BUFFER_BYTES)
    except (BlockingIOError, InterruptedError):
        return None
    return Reply(data, (source[0], source[1]))


def capped_waits(endpoint: Endpoint, attempts: int, record: list[float]) -> Iterator[float]:
    """One wait per try, each capped by what is left of the case's deadline when it starts
    (drawn lazily by :func:`~harness.clients.datagram.ask`), noted in ``record``."""
    for _ in range(attempts):
        record.append(endpoint.deadline.cap(REPLY_WAIT_S))
        yield record[-1]


def exchange(
    endpoint: Endpoint,
    payload: bytes,
    *,
    expected: str,
    attempts: int = DEFAULT_ATTEMPTS,
    sock: socket.socket | None = None,
) -> Reply:
    """Send ``payload`` and return the first reply, retrying on silence (the reference
    client's :func:`~harness.clients.datagram.ask`, with every wait capped by the deadline).

    Args:
        endpoint: the server, with the case's deadline.
        payload: the request datagram.
        expected: the requirement in words, for the failure if nothing comes back.
        attempts: how many times to send before calling the server silent.
        sock: a client socket to use (an unconnected one is opened and closed otherwise).

    Raises:
        ConformanceFailure: no reply after every attempt, or the deadline was spent.
    """
    waits: list[float] = []
    client = open_client(endpoint) if sock is None else sock
    try:
        answer = ask(client, payload, server_address(endpoint), capped_waits(endpoint, attempts, waits))
    finally:
        if sock is None:
            client.close()
    if answer is None:
        tries = sum(1 for wait in waits if wait > 0)
        raise ConformanceFailure(expected, describe_silence(tries, max(waits, default=0.0), payload))
    data, source = answer
    return Reply(data, (source[0], source[1]))


def require_reply_from_server(endpoint: Endpoint, reply: Reply, expected: str) -> None:
    """Fail unless ``reply`` came from the very address and port the request was sent to.

    Raises:
        ConformanceFailure: naming the source it did come from.
    """
    want = server_address(endpoint)
    if (reply.source[0], reply.source[1]) != want and not _same_loopback_port(reply.source, want):
        raise ConformanceFailure(
            expected,
            f"reply from {reply.source[0]}:{reply.source[1]}, not from {endpoint.address_text} "
            "where the request went (a connected client never receives it)",
        )


def _same_loopback_port(source: tuple[str, int], want: tuple[str, int]) -> bool:
    """``localhost`` as a target name: compare the port and that both ends are loopback."""
    return want[0] == "localhost" and source[1] == want[1] and source[0] in ("127.0.0.1", "::1")


def check_connected_client_is_answered(endpoint: Endpoint, expected: str, request: bytes) -> Reply:
    """A *connected* client (the chapter's and most real clients' way) gets its reply.

    Raises:
        ConformanceFailure: nothing reached the connected socket (a reply from another
            source is dropped by the kernel, so this fails as silence, said so).
    """
    waits: list[float] = []
    with socket.socket(family_of(endpoint), socket.SOCK_DGRAM) as client:
        client.connect(server_address(endpoint))
        try:
            answer = ask(client, request, None, capped_waits(endpoint, DEFAULT_ATTEMPTS, waits))
        except ConnectionRefusedError:
            raise ConformanceFailure(
                expected, f"unreachable (ICMP port unreachable from {endpoint.address_text})"
            ) from None
    if answer is None:
        tries = sum(1 for wait in waits if wait > 0)
        raise ConformanceFailure(
            expected,
            describe_silence(tries, max(waits, default=0.0), request)
            + " on a connected socket, which accepts datagrams only from the server's address",
        )
    return Reply(answer[0], (answer[1][0], answer[1][1]))


def check_concurrent_clients(
    endpoint: Endpoint,
    clients: int,
    request_for: Callable[[int], bytes],
    judge_reply: Callable[[int, bytes, float], str | None],
    expected: str,
) -> None:
    """``clients`` sockets each send one request at once; each must get its own good reply.

    All sockets are watched together and the unanswered are asked again in rounds (a
    datagram lost in the burst is UDP's right), so a slow or lossy server costs
    ``DEFAULT_ATTEMPTS`` waits in all, not one per client; each reply is stamped with the
    wall-clock time it arrived, so that a time reply is judged against the moment it was
    read, not the moment the checker got round to it.

    Args:
        request_for: client number -> its request payload.
        judge_reply: (client number, reply, arrival as Unix time) -> None if right, else what
            is wrong with it.

    Raises:
        ConformanceFailure: how many clients were served, and the first that was not.
    """
    sockets = {number: open_client(endpoint) for number in range(clients)}
    replies: dict[int, tuple[bytes, float]] = {}
    rounds = 0
    try:
        for _ in range(DEFAULT_ATTEMPTS):
            wait = endpoint.deadline.cap(REPLY_WAIT_S)
            pending = {number: sock for number, sock in sockets.items() if number not in replies}
            if wait <= 0 or not pending:
                break
            rounds += 1
            for number, sock in pending.items():
                sock.sendto(request_for(number), server_address(endpoint))
            by_socket = {sock: number for number, sock in pending.items()}
            round_ends = time.monotonic() + wait
            while by_socket and (left := round_ends - time.monotonic()) > 0:
                readable, _, _ = select.select(list(by_socket), [], [], left)
                for sock in readable:
                    try:
                        data, _ = sock.recvfrom(RECEIVE_BUFFER_BYTES)
                    except (BlockingIOError, InterruptedError):
                        continue
                    replies[by_socket.pop(sock)] = (data, time.time())
    finally:
        for sock in sockets.values():
            sock.close()
    failures = []
    for number in range(clients):
        if number not in replies:
            failures.append(f"client {number + 1}: {describe_silence(rounds, REPLY_WAIT_S, request_for(number))}")
            continue
        problem = judge_reply(number, *replies[number])
        if problem:
            failures.append(f"client {number + 1}: {problem}")
    if failures:
        raise ConformanceFailure(
            expected,
            f"{clients - len(failures)} of {clients} clients got a right reply; {failures[0]}"
            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
        )


def observe_burst(endpoint: Endpoint, request: bytes, count: int) -> str:
    """Send ``count`` requests back to back from one socket; report how many were answered.

    Loss under a burst is a property of the server's receive buffer and its speed, not a
    conformance question (UDP promises nothing), so this is for INFO cases: measured and
    reported, never hidden and never judged.
    """
    with open_client(endpoint) as sock:
        sent = 0
        for _ in range(count):
            try:
                sock.sendto(request, server_address(endpoint))
                sent += 1
            except BlockingIOError:
                break  # our own send buffer is full: the burst is as large as it can be
        replies = 0
        while replies < sent and receive(sock, endpoint.deadline.cap(BURST_DRAIN_WAIT_S)):
            replies += 1
    lost = sent - replies
    return (
        f"{sent} requests sent back to back from one socket: {replies} answered, {lost} lost "
        f"({100 * lost / max(sent, 1):.1f} %)"
    )
