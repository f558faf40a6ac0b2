"""TLS on both sides: the server layer (sans-IO, two SSL objects back to back) and the checkers'
client connection over a real loopback socket pair.

The server layer is driven with a client ``SSLObject`` on a pair of BIOs, ciphertext moved
between them by hand: input whole, one byte at a time, and with the client's close_notify
trailing the data. The client connection is driven against the same layer served by a
reference runner, and against a socket pair whose far end is a blocking ``SSLSocket``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from harness.checks import Deadline, Endpoint
from harness.checks.tls_connection import TlsClientConnection, tls_handshake
from harness.clients.arrays import exchange_arrays
from harness.protocols.arrays import RING_BYTES, ArrayHeader, ArrayRelayProtocol
from harness.protocols.base import ConnectionContext, RunnerTraits, StreamProtocol
from harness.protocols.echo import EchoProtocol
from harness.protocols.tls import TlsServerProtocol
from harness.tls_setup import ThrowawayAuthority, client_tls_context, server_tls_context
from harness.verdicts import ConformanceFailure
from tests.runner_host import GREETING, BufferedShoutingProtocol

CONTEXT = ConnectionContext(("127.0.0.1", 50000), ("127.0.0.1", 7), RunnerTraits("test"))


@pytest.fixture(scope="module")
def authority() -> Iterator[ThrowawayAuthority]:
    made = ThrowawayAuthority()
    yield made
    made.remove()


class BackToBack:
    """A client SSLObject and a TlsServerProtocol, ciphertext moved between them on ``pump``."""

    def __init__(
        self, authority: ThrowawayAuthority, *, split: int | None = None, inner: StreamProtocol | None = None
    ) -> None:
        self.server = TlsServerProtocol(
            inner or EchoProtocol(), server_tls_context(str(authority.cert_path), str(authority.key_path))
        )
        self.server.connection_made(CONTEXT)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_tls_context(str(authority.ca_path)).wrap_bio(
            self.incoming, self.outgoing, server_hostname="127.0.0.1"
        )
        self.split = split  # feed the server this many bytes per data_received

    def pump(self) -> None:
        while True:
            moved = False
            data = self.outgoing.read()
            if data:
                step = self.split or len(data)
                for start in range(0, len(data), step):
                    self.server.data_received(data[start : start + step])
                moved = True
            output = self.server.pull_output(65536)
            if output:
                self.incoming.write(bytes(output))
                moved = True
            if not moved:
                return

    def handshake(self) -> None:
        while True:
            try:
                self.client.do_handshake()
                return
            except ssl.SSLWantReadError:
                self.pump()

    def flood_then_drain(self, payload: bytes, *, close_notify: bool) -> bytes:
        """Write ``payload`` (then close_notify), hand the server all its ciphertext in one
        ``data_received`` (so its inner protocol pauses with input held back), then the EOF;
        pull until the layer is done. Returns what the client read back."""
        for start in range(0, len(payload), 16384):
            self.client.write(payload[start : start + 16384])
        if close_notify:
            with pytest.raises(ssl.SSLWantReadError):
                self.client.unwrap()
        self.server.data_received(self.outgoing.read())  # all of it at once
        assert not self.server.wants_input
        self.server.eof_received()
        returned = bytearray()
        while not self.server.wants_close:
            output = self.server.pull_output(65536)
            assert output, "the layer stalled with input held back"
            self.incoming.write(bytes(output))
            returned += self.read_all()
        self.incoming.write(bytes(self.server.pull_output(65536)))
        returned += self.read_all()
        return bytes(returned)

    def read_all(self) -> bytes:
        received = bytearray()
        while True:
            try:
                piece = self.client.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                return bytes(received)
            if not piece:
                return bytes(received)
            received += piece


@pytest.mark.parametrize("split", [None, 1], ids=["whole", "one-byte-at-a-time"])
def test_tls_layer_echoes_and_answers_close_notify_with_its_own(authority: ThrowawayAuthority, split: int | None) -> None:
    pair = BackToBack(authority, split=split)
    pair.handshake()
    assert pair.client.version() in ("TLSv1.2", "TLSv1.3")
    pair.client.write(b"hello\r\n")
    pair.pump()
    assert pair.read_all() == b"hello\r\n"
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.unwrap()  # our close_notify out; the server's not yet in
    pair.pump()
    assert pair.server.wants_close
    pair.client.unwrap()  # the server's close_notify arrived: an orderly TLS close


def test_tls_layer_echoes_data_that_trails_in_the_same_flight_as_close_notify(authority: ThrowawayAuthority) -> None:
    pair = BackToBack(authority)
    pair.handshake()
    pair.client.write(b"last words\n")
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.unwrap()
    pair.pump()  # data and close_notify reach the server in one data_received
    assert pair.read_all() == b"last words\n"
    assert pair.server.wants_close


@pytest.mark.parametrize("plaintext", [b"hello, this is not TLS\r\n", b"\x16\x03\x01\x00\x05hello"])
def test_tls_layer_closes_for_a_plaintext_client_with_at_most_an_alert(
    authority: ThrowawayAuthority, plaintext: bytes
) -> None:
    pair = BackToBack(authority)
    pair.server.data_received(plaintext)
    output = bytes(pair.server.pull_output(65536))
    assert pair.server.wants_close
    assert output[:1] in (b"", b"\x15")  # nothing, or content type 21: alert (RFC 8446 5.1)


# --- the checkers' client connection ------------------------------------------------------


class BlockingTlsEchoPeer:
    """A blocking SSLSocket echo peer on one end of a socket pair, in a thread."""

    def __init__(self, authority: ThrowawayAuthority, sock: socket.socket, *, close_notify: bool) -> None:
        self._context = server_tls_context(str(authority.cert_path), str(authority.key_path))
        self._sock = sock
        self._close_notify = close_notify
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            with self._context.wrap_socket(self._sock, server_side=True) as tls:
                while data := tls.recv(65536):
                    tls.sendall(data)
                if self._close_notify:
                    tls.unwrap().close()
        except (ssl.SSLError, OSError):
            self._sock.close()  # the client refused our certificate: nothing to serve


def connected_pair(authority: ThrowawayAuthority, *, close_notify: bool = True) -> tuple[TlsClientConnection, BlockingTlsEchoPeer]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    peer = BlockingTlsEchoPeer(authority, theirs, close_notify=close_notify)
    connection = tls_handshake(
        ours, client_tls_context(str(authority.ca_path)), "127.0.0.1", timeout=5.0, address_text="peer"
    )
    return connection, peer


def exchange(connection: TlsClientConnection, payload: bytes) -> tuple[bytes, int]:
    """Send ``payload`` and SHUT_WR while reading, to EOF; returns (received, BlockingIOErrors)."""
    import selectors

    received, offset, blocked, shut = bytearray(), 0, 0, False
    with selectors.DefaultSelector() as selector:
        selector.register(connection, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while True:
            events = selector.select(5.0)
            assert events, "stalled"
            mask = events[0][1]
            if mask & selectors.EVENT_WRITE and not shut:
                if offset < len(payload):
                    try:
                        offset += connection.send(memoryview(payload)[offset:])
                    except BlockingIOError:
                        blocked += 1
                else:
                    connection.shutdown(socket.SHUT_WR)
                    shut = True
                    selector.modify(connection, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                try:
                    data = connection.recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    return bytes(received), blocked
                received += data


def test_client_connection_echoes_4_mib_through_a_selector_and_sees_close_notify(authority: ThrowawayAuthority) -> None:
    connection, peer = connected_pair(authority)
    try:
        payload = bytes(range(256)) * 16384
        received, _ = exchange(connection, payload)
        assert received == payload
        assert connection.close_notify_received and not connection.eof_without_close_notify
    finally:
        connection.close()
        peer.thread.join(5)


def test_client_connection_closes_at_the_end_of_a_with_block_as_a_socket_does(authority: ThrowawayAuthority) -> None:
    connection, peer = connected_pair(authority)
    with connection as entered:
        assert entered is connection
        assert exchange(connection, b"in a with block\n")[0] == b"in a with block\n"
    assert connection.fileno() == -1  # the raw socket is closed
    peer.thread.join(5)


def test_client_connection_records_an_eof_without_close_notify(authority: ThrowawayAuthority) -> None:
    connection, peer = connected_pair(authority, close_notify=False)
    try:
        received, _ = exchange(connection, b"truncate me?\n")
        assert received == b"truncate me?\n"
        assert connection.eof_without_close_notify and not connection.close_notify_received
    finally:
        connection.close()
        peer.thread.join(5)


def test_handshake_against_a_certificate_for_another_name_is_a_conformance_failure(
    authority: ThrowawayAuthority, tmp_path: Path
) -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    peer = BlockingTlsEchoPeer(authority, theirs, close_notify=True)
    with pytest.raises(ConformanceFailure) as failure:
        tls_handshake(
            ours, client_tls_context(str(authority.ca_path)), "echo.example.net", timeout=5.0, address_text="peer"
        )
    assert failure.value.actual.startswith("TLS handshake failed: certificate verify failed: ")
    assert "echo.example.net" in failure.value.actual
    peer.thread.join(5)


def test_handshake_against_a_silent_server_times_out_within_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        endpoint = Endpoint("127.0.0.1", listener.getsockname()[1], Deadline(0.3), tls=client_tls_context(None, insecure=True))
        with pytest.raises(ConformanceFailure, match="the TLS handshake did not complete"):
            endpoint.connect()
    finally:
        listener.close()


@pytest.mark.parametrize("close_notify", [True, False], ids=["close_notify-then-FIN", "FIN-only"])
def test_tls_layer_tells_eof_only_after_the_data_its_paused_inner_protocol_held_back(
    authority: ThrowawayAuthority, close_notify: bool
) -> None:
    pair = BackToBack(authority)
    pair.handshake()
    pair.pump()
    payload = bytes(range(256)) * 12288  # 3 MiB: three times the echo's high-water mark
    assert pair.flood_then_drain(payload, close_notify=close_notify) == payload  # the echo paused


def test_tls_layer_decrypts_into_the_buffers_an_inner_protocol_lends(authority: ThrowawayAuthority) -> None:
    pair = BackToBack(authority, inner=BufferedShoutingProtocol())
    pair.handshake()
    pair.pump()
    assert pair.read_all() == GREETING
    message = b"decrypted into a seven-byte buffer\n" * 100
    pair.client.write(message)
    pair.pump()
    assert pair.read_all() == message.upper()  # FALLBACK_MARK had the layer used data_received


def test_tls_layer_carries_an_array_frame_into_the_relay_ring_and_back(authority: ThrowawayAuthority) -> None:
    size = 3 * RING_BYTES  # more than the ring: the relay pauses, the layer holds ciphertext back
    payload = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8).tobytes()
    frame = ArrayHeader("|u1", "C", (size,), size).encode() + payload
    pair = BackToBack(authority, inner=ArrayRelayProtocol())
    pair.handshake()
    pair.pump()
    assert pair.flood_then_drain(frame, close_notify=True) == frame  # the relay paused


def test_array_frames_round_trip_over_a_tls_client_connection(authority: ThrowawayAuthority) -> None:
    # Small frames share TLS records, so a frame's last bytes and the next frame's first ones
    # are decrypted together: recv_into must leave the rest in the TLS object (pending), and
    # the exchange must take it without waiting for the raw socket (which has nothing more).
    connection, peer = connected_pair(authority)
    arrays = [np.arange(n, dtype="<i4") for n in (1, 0, 3, 100_000, 2)] + [np.ones((3, 5), dtype=">f8", order="F")]
    try:
        received = exchange_arrays(connection, arrays, deadline=Deadline(30.0), stall_timeout=5.0)
    finally:
        connection.close()
        peer.thread.join(5.0)
    assert len(received) == len(arrays)
    for got, sent in zip(received, arrays):
        assert got.dtype == sent.dtype and got.shape == sent.shape and np.array_equal(got, sent)


def test_recv_into_never_returns_more_than_asked_and_pending_tells_what_remains(authority: ThrowawayAuthority) -> None:
    connection, peer = connected_pair(authority)
    try:
        while True:
            try:
                connection.send(b"0123456789")
                break
            except BlockingIOError:
                continue
        buffer = bytearray(4)
        deadline = Deadline(10.0)
        while True:
            assert not deadline.spent, "the echo never came back"
            try:
                count = connection.recv_into(buffer, 4)
                break
            except BlockingIOError:
                continue
        assert (count, bytes(buffer)) == (4, b"0123") and connection.pending() == 6
        rest = bytearray(16)
        assert connection.recv_into(rest) == 6 and bytes(rest[:6]) == b"456789"
        assert connection.pending() == 0
    finally:
        connection.close()
        peer.thread.join(5.0)
