"""A TLS client connection with the socket surface the checkers use, so every stream check runs over TLS.

The checkers drive non-blocking sockets from one ``selectors`` loop (``harness.checks.stream``)
with ``send``, ``recv``, ``shutdown(SHUT_WR)``, ``close``, ``setsockopt`` and ``fileno``, and
close them with a ``with`` block; the array helpers (``harness.clients.arrays``) add
``recv_into`` and ask ``pending`` before they wait, as they would of an ``ssl.SSLSocket``.
:class:`TlsClientConnection` offers exactly that surface over TLS, sans-IO: an
``ssl.SSLObject`` on two ``ssl.MemoryBIO``\\ s, with the raw non-blocking socket moving
ciphertext. (``ssl.SSLSocket`` in non-blocking mode would do the I/O itself, but it hides
whether a close came with close_notify, and its ``shutdown`` is not TLS's half-close.)

Theory of operation:

- *The selector sees the raw socket* (``fileno``). So ``recv`` must never leave plaintext
  decrypted-but-undelivered: once the raw socket is drained the selector would not fire
  again for it. ``recv`` reads the raw socket once, then decrypts every complete record in
  the incoming BIO and returns all of it, which may be a little more than ``bufsize`` (at
  most one record over, as the raw read is ``bufsize`` bytes); a partial record waits for
  its rest, whose arrival wakes the selector.
- *Ends.* ``recv`` returns ``b""`` at the peer's close_notify, and also at a TCP EOF without
  one; the second is recorded (:attr:`eof_without_close_notify`), since RFC 8446 §6.1 says of
  it: "If a transport-level close is received prior to a "close_notify", the receiver cannot
  know that all the data that was sent has been received." A fatal alert from the peer ends the
  connection as a reset would (``ConnectionResetError``, the alert named in its message and
  in :attr:`alert`).
- *Writes.* ``send`` encrypts at most one chunk (:data:`PLAINTEXT_CHUNK_BYTES`) and keeps its
  ciphertext pending until the raw socket has taken it all; while it cannot, ``send`` raises
  ``BlockingIOError`` and the caller retries with the same data, exactly as with a full
  socket buffer. Only once the ciphertext is flushed does ``send`` report the plaintext as
  sent. So a checker that has "sent everything" has nothing pending.
- *Half-close.* ``shutdown(SHUT_WR)`` sends close_notify, then closes the TCP write side
  (FIN), and keeps reading: exactly the order RFC 8446 §6.1 asks for ("Each party MUST send a
  "close_notify" alert before closing its write side of the connection, unless it has
  already sent some error alert."). The FIN matters to servers that linger before closing
  (read and discard until the peer's EOF): without it they would wait out their linger bound
  per client. If the raw socket cannot take the alert at once, alert and FIN go out on the
  next ``recv`` or ``send``.
- *Handshake.* :func:`tls_handshake` runs it inside ``Endpoint.connect``, bounded by the
  case's deadline; a failure is the target's (:class:`~harness.verdicts.ConformanceFailure`
  whose actual reads ``TLS handshake failed: certificate verify failed: ...``).
"""

from __future__ import annotations

import selectors
import socket
import ssl
import time
from typing import Any

from harness.verdicts import ConformanceFailure, describe_close, describe_reset, describe_timeout

# Plaintext encrypted per send(): four full TLS records (16 KiB each, RFC 8446 §5.1), so a
# 16 MiB echo takes a few hundred sends and at most ~64 KiB of ciphertext waits in memory.
PLAINTEXT_CHUNK_BYTES = 65536

# Ciphertext read from the raw socket per step of the handshake.
HANDSHAKE_READ_BYTES = 65536

# The versions a conforming server may negotiate (RFC 8996 retires TLS 1.0 and 1.1).
ACCEPTABLE_VERSIONS = ("TLSv1.2", "TLSv1.3")


class TlsClientConnection:
    """A TLS client over a connected, non-blocking socket, with the socket surface checkers use.

    Args:
        sock: the raw socket (connected, non-blocking); this object owns it.
        tls: the client ``SSLObject`` whose BIOs are ``incoming`` and ``outgoing``, its
            handshake already complete (see :func:`tls_handshake`).
        incoming: the BIO ciphertext from the peer is written into.
        outgoing: the BIO ciphertext for the peer is read from.

    Attributes:
        close_notify_received: the peer's close_notify arrived.
        eof_without_close_notify: the peer's TCP EOF came without a close_notify before it.
        alert: the text of a fatal alert or record error from the peer, or None.

    Resource handling: :meth:`close` closes the raw socket.
    """

    def __init__(self, sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> None:
        self._sock = sock
        self._tls = tls
        self._incoming = incoming
        self._outgoing = outgoing
        self._pending = bytearray()  # ciphertext the raw socket has not taken yet
        self._pending_plaintext = 0  # what send() reports once _pending is flushed
        self._raw_eof = False
        self._incomplete_record = False  # the incoming BIO holds only part of a record
        self._close_notify_sent = False
        self._fin_sent = False
        self.close_notify_received = False
        self.eof_without_close_notify = False
        self.alert: str | None = None

    # --- the socket surface -----------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno()

    def setsockopt(self, *arguments: Any) -> None:
        self._sock.setsockopt(*arguments)

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def close(self) -> None:
        """Close the raw socket (no close_notify: :meth:`shutdown` is the orderly end)."""
        self._sock.close()

    def __enter__(self) -> "TlsClientConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # as a socket's ``with`` block ends: checkers write ``with endpoint.connect() as sock``

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt up to one chunk of ``data`` and send it.

        Returns:
            How many bytes of ``data`` were sent, once their ciphertext has been flushed.

        Raises:
            BlockingIOError: ciphertext is still pending; call again with the same data.
            BrokenPipeError, ConnectionResetError: as the raw socket's send.
        """
        if self._pending:
            self._flush()
            if self._pending:
                raise BlockingIOError("TLS ciphertext still pending")
            sent, self._pending_plaintext = self._pending_plaintext, 0
            if sent:
                return sent
        if not data:
            return 0
        chunk = memoryview(data)[:PLAINTEXT_CHUNK_BYTES]
        self._tls.write(chunk)
        self._pending += self._outgoing.read()
        self._flush()
        if self._pending:
            self._pending_plaintext = len(chunk)
            raise BlockingIOError("TLS ciphertext still pending")
        return len(chunk)

    def recv(self, bufsize: int) -> bytes:
        """Read the raw socket once and return every byte of plaintext that can be decrypted.

        Returns:
            Plaintext (possibly a little more than ``bufsize``: see the module docstring),
            or ``b""`` at the peer's close_notify or TCP EOF.

        Raises:
            BlockingIOError: nothing to return yet.
            ConnectionResetError: the peer reset the connection or sent a fatal alert.
        """
        if self._pending:
            self._flush()
        self._read_raw(bufsize)
        plaintext = self._decrypt_all()
        self._flush_late_output()
        if plaintext:
            return plaintext
        if self.close_notify_received or self._raw_eof:
            return b""
        raise BlockingIOError("no TLS record complete yet")

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        """As ``socket.recv_into``: at most ``nbytes`` (default: the buffer's size) of plaintext,
        decrypted straight into ``buffer``.

        Unlike :meth:`recv` this never returns more than asked (a frame reader must not take
        the next frame's bytes), so plaintext can remain in the TLS object with the raw socket
        drained: a caller waiting on the raw socket asks :meth:`pending` first, as it would of
        an ``ssl.SSLSocket``.

        Returns:
            The count, or 0 at the peer's close_notify or TCP EOF.

        Raises:
            BlockingIOError: nothing to return yet.
            ConnectionResetError: the peer reset the connection or sent a fatal alert.
        """
        size = nbytes or len(buffer)
        if self._pending:
            self._flush()
        count = self._read_plaintext(size, buffer)
        if count is None:
            self._read_raw(size)
            count = self._read_plaintext(size, buffer)
        self._flush_late_output()
        if count:
            return count  # type: ignore[return-value]
        if self.alert is not None and not self.close_notify_received:
            raise ConnectionResetError(f"TLS alert or record error from the peer: {self.alert}")
        if self.close_notify_received or self._raw_eof:
            return 0
        raise BlockingIOError("no TLS record complete yet")

    def pending(self) -> int:
        """Bytes :meth:`recv_into` can return without the raw socket becoming readable again:
        plaintext the TLS object holds, or ciphertext read but not yet tried as a record."""
        if self._tls.pending():
            return self._tls.pending()
        return 0 if self._incomplete_record else self._incoming.pending

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def shutdown(self, how: int) -> None:
        """``SHUT_WR``: send close_notify, then FIN, and keep reading; ``SHUT_RDWR``/``SHUT_RD``:
        the raw socket's."""
        if how != socket.SHUT_WR:
            self._sock.shutdown(how)
            return
        if self._close_notify_sent:
            return
        self._close_notify_sent = True
        try:
            self._tls.unwrap()  # writes our close_notify; the peer's may come later
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            raise ConnectionResetError(f"close_notify could not be sent: {exc}") from None
        self._pending += self._outgoing.read()
        try:
            self._flush()
        except BlockingIOError:
            pass  # flushed by the next recv or send

    # --- TLS facts --------------------------------------------------------------------

    def version(self) -> str | None:
        """The negotiated version (``TLSv1.3``)."""
        return self._tls.version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._tls.cipher()

    # --- the work -------------------------------------------------------------------

    def _flush(self) -> None:
        while self._pending:
            try:
                sent = self._sock.send(self._pending)
            except BlockingIOError:
                return
            del self._pending[:sent]
        if self._close_notify_sent and not self._fin_sent:
            self._fin_sent = True
            self._sock.shutdown(socket.SHUT_WR)  # the close_notify is out: now the FIN

    def _read_raw(self, bufsize: int) -> None:
        """One read of the raw socket (if it has not ended) into the incoming BIO."""
        if self._raw_eof:
            return
        try:
            ciphertext = self._sock.recv(max(bufsize, 1))
        except BlockingIOError:
            return
        if ciphertext == b"":
            self._raw_eof = True
            self._incoming.write_eof()
        elif ciphertext:
            self._incoming.write(ciphertext)
        self._incomplete_record = False  # new ciphertext (or EOF): worth another record

    def _flush_late_output(self) -> None:
        if self._outgoing.pending:  # a TLS 1.3 KeyUpdate answer, a late alert
            self._pending += self._outgoing.read()
            self._flush()

    def _read_plaintext(self, size: int, buffer: Any = None) -> bytes | int | None:
        """One ``SSLObject.read`` (into ``buffer`` when given); None when nothing can be read
        now: a partial record, the peer's close_notify or EOF seen, or an alert recorded."""
        if self.close_notify_received or self.alert is not None:
            return None
        try:
            piece = self._tls.read(size) if buffer is None else self._tls.read(size, buffer)
        except ssl.SSLWantReadError:
            self._incomplete_record = True
            return None
        except ssl.SSLZeroReturnError:
            self.close_notify_received = True
            return None
        except ssl.SSLEOFError:
            # a TCP EOF with no close_notify before it: a possible truncation (RFC 8446 §6.1)
            self.eof_without_close_notify = True
            return None
        except ssl.SSLError as exc:
            self.alert = alert_text(exc)  # raised by the caller once earlier plaintext is delivered
            return None
        if not piece:  # SSLObject.read gives b"" (0 into a buffer) once the peer's close_notify is read
            self.close_notify_received = True
            return None
        return piece

    def _decrypt_all(self) -> bytes:
        plaintext = bytearray()
        while (piece := self._read_plaintext(PLAINTEXT_CHUNK_BYTES)) is not None:
            plaintext += piece  # type: ignore[operator]
        if not plaintext and self.alert is not None and not self.close_notify_received:
            raise ConnectionResetError(f"TLS alert or record error from the peer: {self.alert}")
        return bytes(plaintext)


def alert_text(exc: ssl.SSLError) -> str:
    """``certificate verify failed: certificate has expired``: an SSLError in a few words."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    reason = getattr(exc, "reason", None)
    if reason:
        return reason.lower().replace("_", " ")
    return str(exc)


def tls_handshake(
    sock: socket.socket,
    context: ssl.SSLContext,
    server_name: str | None,
    *,
    timeout: float,
    address_text: str,
) -> TlsClientConnection:
    """Run the TLS handshake over ``sock`` (connected, non-blocking) within ``timeout``.

    Args:
        sock: the raw connection; owned by the returned object, or closed on failure.
        context: the client context (verification, versions).
        server_name: the name to verify and send as SNI (an IP literal is verified, not sent).
        timeout: the limit on the whole handshake (already capped by the case's deadline).
        address_text: ``127.0.0.1:7``, for messages.

    Returns:
        The established connection.

    Raises:
        ConformanceFailure: the handshake failed (the actual names the alert or the
            verification error), the server closed or reset the connection, or it did not
            complete in time.
    """
    expected = f"a TLS handshake with {address_text} completed (TLS 1.2 or 1.3, certificate verified)"
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        completed = _drive_handshake(sock, tls, incoming, outgoing, time.monotonic() + timeout)
    except ConformanceFailure as failure:
        sock.close()
        raise ConformanceFailure(expected, failure.actual) from None
    except ssl.SSLError as exc:
        sock.close()
        raise ConformanceFailure(expected, f"TLS handshake failed: {alert_text(exc)}") from None
    except (ConnectionResetError, BrokenPipeError):
        sock.close()
        raise ConformanceFailure(expected, describe_reset(0) + " during the TLS handshake") from None
    except BaseException:
        sock.close()
        raise
    if not completed:
        sock.close()
        raise ConformanceFailure(
            expected, describe_timeout(timeout, 0, why="the TLS handshake did not complete")
        )
    return TlsClientConnection(sock, tls, incoming, outgoing)


def _drive_handshake(
    sock: socket.socket,
    tls: ssl.SSLObject,
    incoming: ssl.MemoryBIO,
    outgoing: ssl.MemoryBIO,
    deadline: float,
) -> bool:
    """Step the handshake until done (True) or until the monotonic ``deadline`` passes (False)."""
    while True:
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        pending = outgoing.read()
        while pending:  # a flight is a few KiB: wait for room if the socket has none
            try:
                sent = sock.send(pending)
                pending = pending[sent:]
            except BlockingIOError:
                if not _wait(sock, selectors.EVENT_WRITE, deadline):
                    return False
        if done:
            return True
        if not _wait(sock, selectors.EVENT_READ, deadline):
            return False
        data = sock.recv(HANDSHAKE_READ_BYTES)
        if not data:
            incoming.write_eof()
            try:
                tls.do_handshake()
            except ssl.SSLError as exc:
                if isinstance(exc, ssl.SSLEOFError):
                    raise ConformanceFailure("", describe_close(0) + " during the TLS handshake") from None
                raise
            raise ConformanceFailure("", describe_close(0) + " during the TLS handshake")
        incoming.write(data)


def _wait(sock: socket.socket, events: int, deadline: float) -> bool:
    """Wait until ``sock`` is ready for ``events`` or ``deadline`` passes; True if ready."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, events)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if selector.select(left):
                return True
