"""TLS as a protocol layer: any stream protocol, served over TLS by any runner.

:class:`TlsServerProtocol` wraps an inner stream protocol and is itself a stream protocol,
so runners carry TLS without a line of TLS code: ciphertext from the runner goes into an
``ssl.MemoryBIO``, the ``ssl.SSLObject`` turns it into plaintext for the inner protocol, and
the inner protocol's output is encrypted into the outgoing BIO that the runner pulls from.
This is ``ssl``'s own sans-IO interface (the one asyncio's sslproto is built on).

Theory of operation:

- *Handshake.* Until it completes, input feeds ``do_handshake``; the inner protocol's
  ``connection_made`` is called only once it has, with the negotiated version, cipher and SNI
  name in its context (``TlsFacts``), so a WSGI gateway can say ``https``. A handshake that
  fails (a plaintext client, a bad ClientHello, no shared version) sends the alert the ssl
  module produced, then the connection closes; the peer EOF mid-handshake closes it too.
- *Data.* Plaintext is read only while the inner protocol wants input; otherwise the
  ciphertext stays in the incoming BIO, bounded because this layer then pauses the runner.
  An inner protocol that lends buffers (``BufferedStreamProtocol``) gets its plaintext
  decrypted straight into them (``SSLObject.read(n, buffer)``); the others get ``bytes``.
  This layer itself takes ciphertext through ``data_received`` (it offers no buffers of its
  own): the ciphertext must be written into the ``MemoryBIO``, a copy whatever the runner
  reads it into, so a buffer of ours would only add a second one.
- *Close.* RFC 8446 §6.1: "Each party MUST send a "close_notify" alert before closing its
  write side of the connection, unless it has already sent some error alert." Once the inner
  protocol is finished and its output drained, ``unwrap()`` writes close_notify; only then
  does this layer report ``wants_close``. A TCP EOF without the peer's close_notify is a
  possible truncation (RFC 8446 §6.1: "If a transport-level close is received prior to a
  "close_notify", the receiver cannot know that all the data that was sent has been
  received."); the inner protocol
  is still told EOF — only after every byte of plaintext before it, even when the inner
  protocol was paused at the time — and the event is logged at debug level. (The server
  context from ``harness.tls_setup`` makes OpenSSL treat that EOF as an end of data, so the
  reply to what did arrive can still be sent; with a context that does not, a write after
  it fails, and the connection ends without the rest.)

Nothing here touches a socket, a clock or a thread: it is unit-tested with two of them back
to back (a client ``SSLObject`` on a pair of BIOs).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import ssl

from harness.protocols.base import Chunk, ConnectionContext, StreamProtocol, TlsFacts, is_buffered

log = logging.getLogger("wirecheck.tls")

# Plaintext read from the SSL object per call: one TLS record holds at most 16 KiB, so this
# drains a few records per call without holding much.
PLAINTEXT_READ_BYTES = 65536


class _Phase(enum.Enum):
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"
    CLOSE_NOTIFY_SENT = "close_notify sent"
    FAILED = "failed"


class TlsServerProtocol:
    """The server side of TLS around ``inner``.

    Args:
        inner: the protocol spoken inside TLS (a fresh one per connection).
        context: a server-side ``ssl.SSLContext`` with its certificate loaded.
    """

    def __init__(self, inner: StreamProtocol, context: ssl.SSLContext) -> None:
        self._inner = inner
        self._inner_buffered = is_buffered(inner)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._phase = _Phase.HANDSHAKING
        self._context: ConnectionContext | None = None
        self._inner_started = False
        self._peer_eof = False
        self._inner_saw_eof = False

    # --- what the runner asks ---------------------------------------------------------

    @property
    def wants_input(self) -> bool:
        if self._phase is _Phase.HANDSHAKING:
            return True
        if self._phase is _Phase.ESTABLISHED:
            return self._inner.wants_input
        return False

    @property
    def wants_close(self) -> bool:
        return self._phase in (_Phase.CLOSE_NOTIFY_SENT, _Phase.FAILED)

    def connection_made(self, context: ConnectionContext) -> None:
        self._context = context

    def data_received(self, data: bytes) -> None:
        if self._phase in (_Phase.HANDSHAKING, _Phase.ESTABLISHED):
            self._incoming.write(data)
            self._advance()

    def eof_received(self) -> None:
        self._peer_eof = True
        self._incoming.write_eof()
        if self._phase is _Phase.HANDSHAKING:
            log.debug("peer closed during the TLS handshake")
            self._phase = _Phase.FAILED
            return
        if self._phase is _Phase.ESTABLISHED:
            # Plaintext still buffered, and perhaps the close_notify: the inner protocol is told
            # EOF only after all of it, so if it pauses first, the rest (and the EOF) waits
            # for pull_output to resume it (SSLObject.read raises SSLEOFError once the BIO,
            # at EOF, is empty: the truncation case, handled in _advance).
            self._advance()

    def pull_output(self, max_bytes: int) -> Chunk:
        if self._phase is _Phase.ESTABLISHED:
            if self._inner.wants_input and self._input_held_back:
                self._advance()  # input (or the EOF) held back while the inner protocol was paused
            self._encrypt_inner_output(max_bytes)
        return self._outgoing.read(max_bytes)

    def connection_lost(self) -> None:
        if self._inner_started:
            self._inner.connection_lost()

    # --- the layer's work ---------------------------------------------------------------

    def _advance(self) -> None:
        if self._phase is _Phase.HANDSHAKING:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return
            except (ssl.SSLError, ssl.CertificateError) as exc:
                log.debug("TLS handshake failed: %s", exc)
                self._phase = _Phase.FAILED  # the alert, if any, is in the outgoing BIO
                return
            self._phase = _Phase.ESTABLISHED
            self._start_inner()
        while self._phase is _Phase.ESTABLISHED and self._inner.wants_input and not self._inner_saw_eof:
            try:
                if self._inner_buffered:  # decrypt straight into the inner protocol's memory
                    buffer = self._inner.get_buffer(PLAINTEXT_READ_BYTES)  # type: ignore[attr-defined]
                    count = self._tls.read(len(buffer), buffer)
                else:
                    plaintext = self._tls.read(PLAINTEXT_READ_BYTES)
                    count = len(plaintext)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:  # the peer's close_notify (older OpenSSL builds)
                self._tell_inner_eof()
                return
            except ssl.SSLError as exc:  # a bad record MAC, a truncated record at EOF...
                log.debug("TLS record error: %s", exc)
                if self._peer_eof:
                    # RFC 8446 6.1: without close_notify, a possible truncation; still an EOF.
                    log.debug("TCP EOF without close_notify (RFC 8446 6.1: possible truncation)")
                    self._tell_inner_eof()
                else:
                    self._phase = _Phase.FAILED
                return
            if not count:
                # SSLObject.read returns b"" (or 0 into a buffer; it does not raise) once the
                # peer's close_notify has been read: the orderly end of the peer's data.
                self._tell_inner_eof()
                return
            if self._inner_buffered:
                self._inner.buffer_updated(count)  # type: ignore[attr-defined]
            else:
                self._inner.data_received(plaintext)

    @property
    def _input_held_back(self) -> bool:
        """Ciphertext or plaintext not yet given to the inner protocol, or an EOF not yet told."""
        return bool(
            self._incoming.pending or self._tls.pending() or (self._peer_eof and not self._inner_saw_eof)
        )

    def _start_inner(self) -> None:
        assert self._context is not None, "connection_made comes first"
        cipher = self._tls.cipher()
        facts = TlsFacts(
            version=self._tls.version() or "",
            cipher=cipher[0] if cipher else "",
            server_name=getattr(self._tls, "server_hostname", None),
            alpn_protocol=self._tls.selected_alpn_protocol(),
        )
        self._inner_started = True
        self._inner.connection_made(dataclasses.replace(self._context, tls=facts))

    def _tell_inner_eof(self) -> None:
        if not self._inner_saw_eof:
            self._inner_saw_eof = True
            self._inner.eof_received()

    def _encrypt_inner_output(self, max_bytes: int) -> None:
        while self._outgoing.pending < max_bytes:
            chunk = self._inner.pull_output(max_bytes)
            if not chunk:
                break
            try:
                self._tls.write(chunk)
            except ssl.SSLError as exc:  # the session failed (a truncation, an alert): no more output
                log.debug("TLS write failed: %s", exc)
                self._phase = _Phase.FAILED
                return
        if not self._outgoing.pending and self._inner.wants_close:
            self._send_close_notify()

    def _send_close_notify(self) -> None:
        try:
            self._tls.unwrap()  # writes our close_notify; the peer's may never come
        except ssl.SSLWantReadError:
            pass  # unwrap waits for the peer's close_notify; ours is already in the BIO
        except ssl.SSLError as exc:
            log.debug("close_notify not sent: %s", exc)
        self._phase = _Phase.CLOSE_NOTIFY_SENT
