"""Numbered request payloads for the echo users and the threaded client.

Every echo request starts with its sequence number (16 hex digits), so that a reply that
belongs to another request — a late reply after a timeout, a server that mixes up buffers —
is caught as a wrong reply, not just a wrong byte count. The rest is printable filler with no
LF, so that a line-echo payload holds exactly one LF, at its end. Free of locust and gevent,
so that it is shared with the plain threaded client and unit-tested directly.
"""

from __future__ import annotations

# Printable, without LF (a line-echo payload must hold exactly one, at its end).
FILLER = b"wirecheck-echo-payload-"

# The width of the sequence stamp: 16 hex digits never wrap in a load run.
STAMP_DIGITS = 16


def numbered_payload(sequence: int, size: int, *, line: bool = False) -> bytes:
    """A ``size``-byte payload that starts with ``sequence`` in hex; one trailing LF when ``line``.

    A payload shorter than the stamp keeps the stamp's last digits (the most variable ones).
    """
    body_size = size - 1 if line else size
    stamp = f"{sequence:0{STAMP_DIGITS}x}".encode("ascii")
    if body_size <= len(stamp):
        body = stamp[len(stamp) - body_size :] if body_size > 0 else b""
    else:
        filler = FILLER * ((body_size - len(stamp)) // len(FILLER) + 1)
        body = stamp + filler[: body_size - len(stamp)]
    return body + b"\n" if line else body
