"""Checks of TLS itself, for any stream service served over TLS: plain functions of an endpoint.

Every stream check already runs over TLS (``Endpoint.connect`` on a TLS endpoint returns a
connection past its handshake). The checks here judge the TLS layer on its own terms, and
none depends on the service inside: a handshake, a close, a client that does not speak TLS,
a client that stops half-way through its handshake. So the same checkers serve the TLS
sections of every stream service's suite.

Separation of blame: only :func:`check_certificate_verifies` judges the certificate. The
other checks connect with a client that does not verify it (but still refuses TLS 1.0 and
1.1), so a server with a wrong certificate fails that one case, not five.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl

from harness.checks.endpoint import Endpoint
from harness.checks.stream import Conversation, Ending, converse
from harness.checks.tls_connection import ACCEPTABLE_VERSIONS, TlsClientConnection
from harness.tls_setup import client_tls_context
from harness.verdicts import (
    ConformanceFailure,
    HarnessError,
    describe_close,
    describe_reset,
    describe_timeout,
    preview,
)

# How long a server has to answer a plaintext client with an alert or a close, and to finish a
# second client's handshake while another one stands half-way: on loopback a handshake takes
# milliseconds, so 5 s of nothing is a server that is not going to.
TLS_WAIT_S = 5.0

# What the plaintext client sends: a line of text, whose first byte (0x68) is no TLS record
# content type, so the server's TLS layer must reject it at the first record header.
PLAINTEXT_REQUEST = b"hello, this is not TLS\r\n"

# RFC 8446 §5.1: ContentType alert(21). A record layer that rejects input may answer with one.
ALERT_CONTENT_TYPE = 0x15


def unverified(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with a client that does not check the certificate (still TLS 1.2 or later)."""
    return dataclasses.replace(endpoint, tls=client_tls_context(None, insecure=True))


def _require_tls(endpoint: Endpoint) -> None:
    if endpoint.tls is None:
        raise HarnessError(f"{endpoint.address_text} is not a TLS endpoint; TLS checks need one")


def check_handshake_version(endpoint: Endpoint) -> str:
    """tls/1: a handshake completes, with TLS 1.2 or 1.3.

    Returns:
        What was negotiated (``TLSv1.3, TLS_AES_256_GCM_SHA384``).
    """
    _require_tls(endpoint)
    expected = "a TLS handshake that completes with TLS 1.2 or TLS 1.3"
    try:
        connection = unverified(endpoint).connect()
    except ConformanceFailure as failure:
        raise ConformanceFailure(expected, failure.actual) from None
    assert isinstance(connection, TlsClientConnection)
    try:
        version = connection.version()
        cipher = connection.cipher()
    finally:
        connection.close()
    if version not in ACCEPTABLE_VERSIONS:
        raise ConformanceFailure(expected, f"the handshake completed with {version}")
    return f"{version}, {cipher[0] if cipher else 'no cipher'}"


def check_certificate_verifies(endpoint: Endpoint) -> None:
    """tls/2: the certificate chains to the trusted CA, is in date, and is valid for the name."""
    _require_tls(endpoint)
    assert endpoint.tls is not None
    if endpoint.tls.verify_mode == ssl.CERT_NONE:
        raise HarnessError("the certificate cannot be judged without verification (--tls-insecure)")
    expected = (
        f"a certificate that verifies against the trusted CA and is valid for {endpoint.tls_server_name!r}"
    )
    try:
        endpoint.connect().close()
    except ConformanceFailure as failure:
        raise ConformanceFailure(expected, failure.actual) from None


def check_close_notify_sent(endpoint: Endpoint) -> None:
    """tls/3: after the client's close_notify, the server's close comes with a close_notify of its own."""
    _require_tls(endpoint)
    expected = (
        "the server's close_notify alert before its TCP close, after the client sent its own "
        f"(within {TLS_WAIT_S:g} s)"
    )
    connection = unverified(endpoint).connect()
    assert isinstance(connection, TlsClientConnection)
    try:
        watch = Conversation(connection, [], None, shut_wr=True)  # type: ignore[arg-type]
        converse([watch], endpoint.deadline, stall_timeout=TLS_WAIT_S)
    finally:
        connection.close()
    received = len(watch.received)
    if connection.close_notify_received:
        return
    if connection.eof_without_close_notify or watch.ending is Ending.EOF:
        raise ConformanceFailure(expected, describe_close(received) + " without a close_notify alert")
    if watch.ending is Ending.RESET:
        raise ConformanceFailure(expected, describe_reset(received) + " instead of a close_notify alert")
    raise ConformanceFailure(
        expected, describe_timeout(TLS_WAIT_S, received, why="no close_notify and no close")
    )


def check_plaintext_client_refused(endpoint: Endpoint) -> None:
    """tls/4: a client speaking plaintext gets an alert or a close, and the server serves on."""
    _require_tls(endpoint)
    expected = (
        f"after {PLAINTEXT_REQUEST!r} (not TLS), at most a TLS alert and then a close within "
        f"{TLS_WAIT_S:g} s; then another client's handshake completes"
    )
    plain = endpoint.connect_plain()
    try:
        watch = Conversation(plain, [PLAINTEXT_REQUEST], None)
        converse([watch], endpoint.deadline, stall_timeout=TLS_WAIT_S)
    finally:
        plain.close()
    received = bytes(watch.received)
    if received and received[0] != ALERT_CONTENT_TYPE:
        raise ConformanceFailure(expected, f"data: {preview(received)}, which is not a TLS alert record")
    if watch.ending not in (Ending.EOF, Ending.RESET):
        raise ConformanceFailure(
            expected,
            describe_timeout(TLS_WAIT_S, len(received), why="the connection was neither closed nor reset"),
        )
    try:
        unverified(endpoint).connect().close()
    except ConformanceFailure as failure:
        raise ConformanceFailure(expected, f"after the plaintext client, {failure.actual}") from None


def half_a_client_hello(endpoint: Endpoint) -> bytes:
    """The first half of a real ClientHello for ``endpoint``: a client stopped mid-handshake."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_tls_context(None, insecure=True).wrap_bio(incoming, outgoing)
    try:
        client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    return hello[: len(hello) // 2]


def check_stalled_handshake_does_not_block_others(endpoint: Endpoint) -> None:
    """tls/5: while one client stands half-way through its handshake, another's completes."""
    _require_tls(endpoint)
    expected = (
        f"a second client's TLS handshake completes within {TLS_WAIT_S:g} s while the first "
        "client has sent half a ClientHello and then nothing"
    )
    stalled = endpoint.connect_plain()
    try:
        stalled.setblocking(True)
        stalled.settimeout(endpoint.deadline.cap(TLS_WAIT_S))
        stalled.sendall(half_a_client_hello(endpoint))
        try:
            unverified(endpoint).connect(timeout=TLS_WAIT_S).close()
        except ConformanceFailure as failure:
            raise ConformanceFailure(
                expected, f"{failure.actual}, while another client's handshake stood half-sent"
            ) from None
    except (socket.timeout, ConnectionError) as exc:
        raise ConformanceFailure(expected, f"the first client could not send half a ClientHello: {exc}") from None
    finally:
        stalled.close()
