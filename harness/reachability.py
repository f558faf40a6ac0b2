"""Is anything listening at a target? One probe per target, before any case is run.

A ``--target`` where nothing listens is a mistake of the setup (the wrong port, a server
not started yet), not a server that broke its protocol. Judged case by case it would read
as a column of FAILED cases, each "unreachable", and blame a target that is not there; so
the suite asks once, at the start of the session, and a target found refused is ONE ERROR
("connection refused at 127.0.0.1:1"; ERROR is "the harness or the setup broke — never
blamed on the target", ../shared/DESIGN.md) while its cases are not run. In a fleet
(``--target SERVICE=127.0.0.8/29:PORT``) each host is probed on its own: a host where
nothing listens is one ERROR, and the other hosts are judged.

How each transport is probed:

- *Byte streams* (TLS included: only the TCP handshake is made): a TCP connect, closed at
  once. On Linux a loopback connect to a port nobody listens on is refused at once (RST);
  a listening server completes it in the kernel even if it never calls ``accept``. Only
  refusal counts: it is asked :data:`STREAM_ATTEMPTS` times, :data:`STREAM_RETRY_PAUSE_S`
  apart, so that a server being restarted is not declared absent. A connect that times out
  (a full backlog: a wedged server) or fails otherwise is left to the cases to judge. The
  probe is a real client connection: a server that serves one connection and exits (a
  mutant of the zoo does) has served it to the probe, and its cases then see it gone.
- *Datagrams*: one datagram, :data:`DATAGRAM_PROBE`, on a connected UDP socket. When nothing
  is bound to the port, the kernel answers with ICMP port unreachable, which Linux returns
  as an error of the socket's next call (udp(7): "All fatal errors will be passed to the
  user as an error return ... This includes asynchronous errors received from the network";
  "ECONNREFUSED No receiver was associated with the destination address"). A reply, or silence for
  :data:`DATAGRAM_WAIT_S`, is not refusal: a silent datagram server is the cases' to judge.
  Where ICMP is filtered or rate-limited, nothing comes back and the cases run as before
  (each then fails on its own wait). The probe is never empty: an empty datagram is
  itself a case (RFC 862 echoes it), and socat's UDP echo is wedged for good by one.

Probes of several targets run at once (a thread each, at most :data:`PARALLEL_PROBES`), so a
fleet of 256 hosts is probed in the time of a few.
"""

from __future__ import annotations

import concurrent.futures
import errno
import socket
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

from harness.checks.endpoint import format_host_port
from harness.clients.datagram import NoAnswerError, request_datagram

# Refused three times in a row, a quarter of a second apart: nobody is there (a server that is
# restarting binds its port again within that half second on loopback).
STREAM_ATTEMPTS = 3
STREAM_RETRY_PAUSE_S = 0.25

# A loopback connect completes or is refused in microseconds; 2 s is only reached when the
# server's backlog is full, which the cases then judge.
STREAM_CONNECT_TIMEOUT_S = 2.0

# ICMP port unreachable comes back over loopback within microseconds; a datagram server
# answers within milliseconds. Half a second is the most a silent datagram target costs.
DATAGRAM_WAIT_S = 0.5

# Any datagram service answers any datagram; this one is not empty (see the module docstring).
DATAGRAM_PROBE = b"wirecheck: is anyone listening?\r\n"

# Threads probing at once: the probes wait, they do not compute.
PARALLEL_PROBES = 32

# Connect errors that mean "nobody is there" rather than "the target misbehaved".
_ABSENT_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class ProbeTarget:
    """What to probe: an address and its transport.

    Attributes:
        host: an IP literal or ``localhost``.
        port: the port.
        transport: ``tcp`` (byte streams, TLS included) or ``udp``.
    """

    host: str
    port: int
    transport: str

    @property
    def address_text(self) -> str:
        return format_host_port(self.host, self.port)


def probe_stream(host: str, port: int) -> str | None:
    """None if something accepts TCP connections at ``host:port``, else why not (one line).

    Returns:
        None when a connection was accepted, or could not be ruled out (a timeout, an error
        other than refusal); ``"connection refused at 127.0.0.1:1 (3 attempts over 0.5 s)"``
        when every attempt was refused.

    Resource handling: every socket opened is closed before returning.
    """
    address = format_host_port(host, port)
    started = time.monotonic()
    reason = ""
    for attempt in range(STREAM_ATTEMPTS):
        if attempt:
            time.sleep(STREAM_RETRY_PAUSE_S)  # a retry's spacing, not synchronisation
        try:
            with socket.create_connection((host, port), timeout=STREAM_CONNECT_TIMEOUT_S):
                return None
        except ConnectionRefusedError:
            reason = "connection refused"
        except OSError as exc:
            if exc.errno not in _ABSENT_ERRNOS:
                return None  # a timeout or our own trouble: not proof that nobody is there
            reason = (exc.strerror or str(exc)).lower()
    elapsed = time.monotonic() - started
    return f"{reason} at {address} ({STREAM_ATTEMPTS} attempts over {elapsed:.1f} s)"


def probe_datagram(host: str, port: int) -> str | None:
    """None unless the host said nobody listens on UDP ``host:port`` (ICMP port unreachable).

    Returns:
        None when a reply came, or nothing came within :data:`DATAGRAM_WAIT_S`;
        ``"connection refused at 127.0.0.1:9 (ICMP port unreachable)"`` otherwise.
    """
    try:
        request_datagram(host, port, DATAGRAM_PROBE, timeout=DATAGRAM_WAIT_S, attempts=1)
    except ConnectionRefusedError:
        return f"connection refused at {format_host_port(host, port)} (udp: ICMP port unreachable)"
    except (NoAnswerError, OSError):
        return None  # silence, or an error of our own: the cases will judge
    return None


def probe(target: ProbeTarget) -> str | None:
    """:func:`probe_stream` or :func:`probe_datagram`, by the target's transport."""
    if target.transport == "udp":
        return probe_datagram(target.host, target.port)
    return probe_stream(target.host, target.port)


def find_absent(targets: Iterable[ProbeTarget]) -> dict[ProbeTarget, str]:
    """Probe every target at once; return those where nothing listens, with the reason.

    Resource handling: the probing threads are joined before returning.
    """
    unique: Sequence[ProbeTarget] = list(dict.fromkeys(targets))
    if not unique:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, len(unique))) as pool:
        reasons = list(pool.map(probe, unique))
    return {target: reason for target, reason in zip(unique, reasons) if reason is not None}
