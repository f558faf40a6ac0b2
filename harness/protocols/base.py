"""The interface every sans-IO protocol object implements.

Theory of operation: a runner owns one protocol object per connection (stream services)
or one per server (datagram services). For a stream it calls :meth:`StreamProtocol.data_received`
with whatever ``recv`` returned, writes out every byte the call returns, in order, and calls
:meth:`StreamProtocol.eof_received` once the peer half-closes. When ``wants_close`` becomes
true the runner flushes what it was given and closes the connection. Nothing here may block,
sleep or look at the clock: that is the runner's job, and the reason the same object can be
driven by a blocking thread, a select() loop and an asyncio transport alike.

The interface is a ``typing.Protocol`` rather than a base class so that protocol objects stay
plain classes with no inherited behaviour to surprise a reader.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class StreamProtocol(Protocol):
    """One connection's worth of protocol state for a byte-stream (TCP) service."""

    @property
    def wants_close(self) -> bool:
        """True once the protocol has nothing more to say; the runner then flushes and closes."""
        ...

    def connection_made(self) -> bytes:
        """Called once when the connection is accepted.

        Returns:
            Bytes to send before anything is read (a greeting, a daytime reply), or b"".
        """
        ...

    def data_received(self, data: bytes) -> bytes:
        """Feed bytes read from the peer.

        Args:
            data: a non-empty chunk, split wherever the network split it.

        Returns:
            Bytes to send to the peer now (possibly b"").
        """
        ...

    def eof_received(self) -> bytes:
        """The peer shut down its sending side (orderly close or half-close).

        Returns:
            Final bytes to send before closing. After this call ``wants_close`` is true.
        """
        ...


@runtime_checkable
class DatagramProtocol(Protocol):
    """Server-wide protocol state for a datagram (UDP) service: one datagram in, replies out."""

    def datagram_received(self, data: bytes) -> list[bytes]:
        """Map one request datagram to zero or more reply datagrams, sent back to its source."""
        ...
