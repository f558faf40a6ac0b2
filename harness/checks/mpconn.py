"""Checkers of mpconn-echo: a multiprocessing.connection Listener judged over raw sockets.

The checker plays the Client, byte by byte, so that it can also play every broken or
old-fashioned Client the Listener must cope with: a legacy one answering with a bare
HMAC-MD5, one naming a digest outside the allowed set, one sending a truncated MAC, a pickle
instead of a MAC, a malformed challenge. The wire format (frames, ``#CHALLENGE#``, MACs)
comes from :mod:`harness.protocols.mpconn`, the one implementation of it in the project.

:class:`FramedPeer` is one connection with a deadline on every wait: it writes while it
reads (a 64 MiB message would otherwise deadlock against a server that echoes while
reading), decodes frames as they arrive, and turns each way a conversation can end (EOF,
reset, silence, the case's budget spent) into a ConformanceFailure reading "expected … /
actual …". One case (``check_stdlib_client_round_trip``) uses the real
``multiprocessing.connection.Client`` instead, in a child interpreter bounded by the case's
deadline and stopped by its pid, with the key handed over on stdin (never on a command line).
"""

from __future__ import annotations

import hmac
import os
import pickle
import selectors
import socket
import subprocess
import sys
import textwrap
import time
from typing import Callable

from harness.checks.endpoint import Endpoint
from harness.checks.pace import Exchange
from harness.protocols.mpconn import (
    CHALLENGE_PREFIX,
    FAILURE,
    LEGACY_CHALLENGE_BYTES,
    WELCOME,
    AuthenticationFailed,
    FrameDecoder,
    MpconnProtocolError,
    create_response,
    digest_of,
    encode_frame,
    encode_header,
    verify_response,
)
from harness.verdicts import (
    ConformanceFailure,
    describe_timeout,
    preview,
)

# No byte moved for this long on loopback: the server is not going to answer.
STALL_TIMEOUT_S = 5.0

# Bytes per recv().
RECV_BYTES = 262144

# What the checker accepts as one frame from the server: the 64 MiB case's echo and a little.
MAX_REPLY_BYTES = 80 * 1024 * 1024

# A frame longer than the send path's 16,384-byte switch is written as two send() calls,
# header then payload, as CPython's _send_bytes does; shorter ones in one.
CONCATENATION_LIMIT = 16384

# The digests a 3.12+ Client may name (CPython's _ALLOWED_DIGESTS).
MODERN_DIGESTS = ("sha256", "md5", "sha384", "sha3_256", "sha3_384")


class PeerEnded(Exception):
    """The server ended the conversation (or went silent); ``actual`` says how."""

    def __init__(self, actual: str) -> None:
        super().__init__(actual)
        self.actual = actual


class FramedPeer:
    """One client connection speaking frames, every wait bounded by the case's deadline.

    Resource handling: owns its socket; use as a context manager or call :meth:`close`.
    """

    def __init__(self, endpoint: Endpoint, *, stall_timeout: float = STALL_TIMEOUT_S) -> None:
        self.endpoint = endpoint
        self.deadline = endpoint.deadline
        self.stall_timeout = stall_timeout
        self.sock = endpoint.connect()
        self.decoder = FrameDecoder(MAX_REPLY_BYTES)
        self.received_frames: list[bytes] = []
        self.eof = False
        self.reset = False
        # the reply being awaited, in the deadline's pace log (harness.checks.pace)
        self._awaited: Exchange | None = None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.sock, selectors.EVENT_READ)

    def __enter__(self) -> "FramedPeer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._selector.close()
        self.sock.close()

    # -- the loop -------------------------------------------------------------------------

    def _pump(self, outgoing: list[memoryview], done: Callable[[], bool]) -> None:
        """Send ``outgoing`` (each piece by its own send) while reading, until ``done()``.

        Raises:
            PeerEnded: EOF or reset before ``done()``, or nothing moved for the stall
                limit, or the deadline was spent.
        """
        quiet_since = self._now()
        while not done():
            if self.eof or self.reset:
                raise PeerEnded(self._ending_text())
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if outgoing else 0)
            self._selector.modify(self.sock, events)
            wait = min(quiet_since + self.stall_timeout - self._now(), self.deadline.remaining())
            if wait <= 0:
                raise PeerEnded(self._silence_text())
            moved = False
            for _, mask in self._selector.select(wait):
                if mask & selectors.EVENT_WRITE and outgoing:
                    moved |= self._write(outgoing)
                if mask & selectors.EVENT_READ:
                    moved |= self._read()
            if moved:
                quiet_since = self._now()

    def _write(self, outgoing: list[memoryview]) -> bool:
        try:
            sent = self.sock.send(outgoing[0]) if len(outgoing[0]) else 0
        except BlockingIOError:
            return False
        except (BrokenPipeError, ConnectionResetError):
            self.reset = not self.eof
            outgoing.clear()
            return True
        outgoing[0] = outgoing[0][sent:]
        if not len(outgoing[0]):
            outgoing.pop(0)
        return True

    def _read(self) -> bool:
        try:
            data = self.sock.recv(RECV_BYTES)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            self.reset = True
            return True
        if not data:
            self.eof = True
            return True
        if self._awaited is not None:
            self._awaited.arrivals.append((self._now(), len(data)))
        self.decoder.feed(data)
        try:
            while (message := self.decoder.next_message()) is not None:
                self.received_frames.append(message)
        except MpconnProtocolError as exc:
            raise PeerEnded(f"a malformed frame: {exc}") from None
        return True

    @staticmethod
    def _now() -> float:
        return time.monotonic()

    def _progress(self) -> str:
        frames = len(self.received_frames)
        partial = f", {self.decoder.buffered_bytes} bytes of an unfinished frame" if self.decoder.mid_frame else ""
        return f"{frames} frame{'s' if frames != 1 else ''} received{partial}"

    def _ending_text(self) -> str:
        if self.reset:
            return f"reset (RST after {self._progress()})"
        return f"orderly close (EOF after {self._progress()})"

    def _silence_text(self) -> str:
        if self.deadline.spent:
            return describe_timeout(self.deadline.budget_s, 0, why=f"{self._progress()}; {self.deadline.spent_description()}")
        return f"timeout: nothing moved for {self.stall_timeout:g} s ({self._progress()})"

    # -- what checkers call ---------------------------------------------------------------

    def send_raw(self, *pieces: bytes, expected: str) -> None:
        """Send bytes (each piece by its own send call), reading meanwhile."""
        outgoing = [memoryview(piece) for piece in pieces if len(piece)]
        try:
            self._pump(outgoing, lambda: not outgoing)
        except PeerEnded as ended:
            raise ConformanceFailure(expected, ended.actual + " while we were still sending") from None

    def send_message(self, payload: bytes, *, expected: str, extended: bool = False) -> None:
        """One frame, written as CPython's send path writes it (split past 16,384 bytes)."""
        header = encode_header(len(payload), extended=extended)
        if len(payload) > CONCATENATION_LIMIT:
            self.send_raw(header, payload, expected=expected)
        else:
            self.send_raw(header + payload, expected=expected)

    def receive_message(self, *, expected: str) -> bytes:
        """The next frame's payload."""
        try:
            self._await_reply([], lambda: bool(self.received_frames))
        except PeerEnded as ended:
            raise self._failure(expected, ended) from None
        return self.received_frames.pop(0)

    def _await_reply(self, outgoing: list[memoryview], done: Callable[[], bool]) -> None:
        """:meth:`_pump`, recorded as one exchange in the deadline's pace log."""
        self._awaited = Exchange(self._now())
        self.deadline.pace.record(self._awaited)
        try:
            self._pump(outgoing, done)
            self._awaited.complete = True
        finally:
            self._awaited = None

    def _failure(self, expected: str, ended: PeerEnded) -> ConformanceFailure:
        """The failure of a wait that ended: judged by the pace when the budget was spent."""
        if self.deadline.spent and not (self.eof or self.reset):
            return self.deadline.spent_failure(expected, ended.actual)
        return ConformanceFailure(expected, ended.actual)

    def exchange(self, payload: bytes, *, expected: str, extended: bool = False) -> bytes:
        """Send one message and receive one, writing and reading at the same time."""
        header = encode_header(len(payload), extended=extended)
        pieces = [header, payload] if len(payload) > CONCATENATION_LIMIT else [header + payload]
        outgoing = [memoryview(piece) for piece in pieces if len(piece)]
        try:
            self._await_reply(outgoing, lambda: not outgoing and bool(self.received_frames))
        except PeerEnded as ended:
            raise self._failure(expected, ended) from None
        return self.received_frames.pop(0)

    def expect_close(self, *, expected: str, allowed_last: bytes | None = None) -> None:
        """Require the server to close (EOF or reset) with no frame, or only ``allowed_last``.

        Raises:
            ConformanceFailure: a frame other than ``allowed_last`` arrived, or no close
                came before the stall limit.
        """
        try:
            self._pump([], lambda: self.eof or self.reset or bool(self.received_frames))
            while self.received_frames:
                frame = self.received_frames.pop(0)
                if allowed_last is None or frame != allowed_last:
                    raise ConformanceFailure(expected, f"a frame {describe_frame(frame)} instead of a close")
                allowed_last = None
                self._pump([], lambda: self.eof or self.reset or bool(self.received_frames))
        except PeerEnded as ended:
            raise ConformanceFailure(expected, f"no close: {ended.actual}") from None


def describe_frame(frame: bytes) -> str:
    """``of N bytes: <preview>``, for failure messages (never a key: keys are never sent)."""
    return f"of {preview(frame)}"


# --- the handshake, played as a Client -------------------------------------------------------


def receive_challenge(peer: FramedPeer) -> bytes:
    """Read the server's first frame and return the challenge after ``#CHALLENGE#``."""
    expected = "a #CHALLENGE# frame from the server, unasked, right after the connect"
    message = peer.receive_message(expected=expected)
    if not message.startswith(CHALLENGE_PREFIX):
        raise ConformanceFailure(expected, f"a frame {describe_frame(message)}")
    return message[len(CHALLENGE_PREFIX) :]


def answer_challenge(peer: FramedPeer, authkey: bytes, challenge: bytes) -> None:
    """Answer with the right MAC (the digest the challenge names) and require #WELCOME#."""
    expected = "#WELCOME# after our correct MAC of the server's challenge"
    try:
        response = create_response(authkey, challenge)
    except AuthenticationFailed as exc:
        raise ConformanceFailure(expected, f"a challenge we cannot answer: {exc}") from None
    peer.send_message(response, expected=expected)
    verdict = peer.receive_message(expected=expected)
    if verdict != WELCOME:
        raise ConformanceFailure(expected, f"a frame {describe_frame(verdict)}")


def deliver_challenge(peer: FramedPeer, authkey: bytes, challenge: bytes, expected_mac: bytes | None = None) -> None:
    """Challenge the server; verify its MAC (or require ``expected_mac`` exactly); say #WELCOME#."""
    expected = f"the server's MAC of our {len(challenge)}-byte challenge: {describe_mac_form(challenge)}"
    peer.send_message(CHALLENGE_PREFIX + challenge, expected=expected)
    mac = peer.receive_message(expected=expected)
    if expected_mac is not None:
        if mac != expected_mac:
            raise ConformanceFailure(expected, f"a frame {describe_frame(mac)} (not the MAC under the shared key)")
    else:
        try:
            verify_response(authkey, challenge, mac)
        except AuthenticationFailed as exc:
            raise ConformanceFailure(expected, f"a frame {describe_frame(mac)}: {exc}") from None
    peer.send_message(WELCOME, expected="our #WELCOME# accepted")


def describe_mac_form(challenge: bytes) -> str:
    try:
        name, _ = digest_of(challenge)
    except AuthenticationFailed:
        return "(none: the challenge is malformed)"
    return f"{{{name}}} + HMAC-{name.upper()} (or a 3.11 server's bare HMAC-MD5)" if name else "exactly the bare 16-byte HMAC-MD5"


def modern_challenge(digest: str, random_part: bytes) -> bytes:
    return b"{%s}%s" % (digest.encode("ascii"), random_part)


def authenticated_peer(endpoint: Endpoint, authkey: bytes) -> FramedPeer:
    """A connection through the whole mutual handshake, as a 3.12+ Client makes it.

    Resource handling: the caller owns the returned peer (a context manager).
    """
    peer = FramedPeer(endpoint)
    try:
        challenge = receive_challenge(peer)
        answer_challenge(peer, authkey, challenge)
        deliver_challenge(peer, authkey, modern_challenge("sha256", client_nonce(40)))
    except BaseException:
        peer.close()
        raise
    return peer


def client_nonce(length: int) -> bytes:
    return os.urandom(length)  # a checker's nonce: the server's randomness is what is judged


# --- framing checks --------------------------------------------------------------------------


def check_message_echoed(endpoint: Endpoint, authkey: bytes, size: int, *, extended: bool = False) -> None:
    """After the handshake, a message of ``size`` bytes comes back as one frame, byte-exact."""
    payload = _pattern(size)
    header = "the -1 + 8-byte extended header" if extended else "a 4-byte header"
    expected = f"a {size}-byte message sent with {header} echoed as one frame of the same {size} bytes"
    with authenticated_peer(endpoint, authkey) as peer:
        echo = peer.exchange(payload, expected=expected, extended=extended)
        if echo != payload:
            raise ConformanceFailure(expected, f"a frame {describe_frame(echo)}")


def check_truncated_frame_then_eof_closes(endpoint: Endpoint, authkey: bytes) -> None:
    """A frame announcing 1,000 bytes, 10 sent, then SHUT_WR: the server closes, echoing nothing."""
    expected = "the server's close (EOF or reset), no frame, after a frame cut off mid-payload by our EOF"
    with authenticated_peer(endpoint, authkey) as peer:
        peer.send_raw(encode_header(1000) + b"x" * 10, expected=expected)
        peer.sock.shutdown(socket.SHUT_WR)
        peer.expect_close(expected=expected)


# --- handshake checks ------------------------------------------------------------------------


def check_challenge_is_well_formed(endpoint: Endpoint) -> str:
    """The server's first frame is #CHALLENGE# + a legacy 20-byte or an allowed {digest} challenge.

    Returns:
        The challenge's form, for the record (``{sha256} + 40 bytes``).
    """
    expected = "#CHALLENGE# + 20 random bytes (legacy) or {digest} + at least 20 random bytes"
    with FramedPeer(endpoint) as peer:
        challenge = receive_challenge(peer)
    try:
        name, random_part = digest_of(challenge)
    except AuthenticationFailed as exc:
        raise ConformanceFailure(expected, f"a challenge {describe_frame(challenge)}: {exc}") from None
    if len(challenge) < LEGACY_CHALLENGE_BYTES:
        raise ConformanceFailure(expected, f"a challenge of only {len(challenge)} bytes")
    return f"{{{name}}} + {len(random_part)} bytes" if name else f"legacy: {len(random_part)} bytes, no digest named"


def check_challenge_is_modern(endpoint: Endpoint) -> None:
    """A 3.12+ Listener's challenge: ``{sha256}`` (or another allowed digest) + 40 random bytes."""
    expected = "#CHALLENGE# + {digest} + 40 random bytes (Python 3.12+)"
    form = check_challenge_is_well_formed(endpoint)
    if form.startswith("legacy"):
        raise ConformanceFailure(expected, f"a legacy challenge ({form})")


def check_challenges_differ(endpoint: Endpoint) -> None:
    """Two connections get two different challenges."""
    expected = "a different challenge on each of two connections"
    challenges = []
    for _ in range(2):
        with FramedPeer(endpoint) as peer:
            challenges.append(receive_challenge(peer))
    if challenges[0] == challenges[1]:
        raise ConformanceFailure(expected, f"the same challenge twice: {describe_frame(challenges[0])}")


def check_correct_mac_welcomed(endpoint: Endpoint, authkey: bytes) -> None:
    """A Client that answers with the right MAC (the digest the challenge names) gets #WELCOME#."""
    with FramedPeer(endpoint) as peer:
        answer_challenge(peer, authkey, receive_challenge(peer))


def check_legacy_answer_welcomed(endpoint: Endpoint, authkey: bytes) -> None:
    """A <= 3.11 Client's bare 16-byte HMAC-MD5 of the whole challenge gets #WELCOME#."""
    expected = "#WELCOME# after a legacy Client's bare HMAC-MD5 of the whole challenge"
    with FramedPeer(endpoint) as peer:
        challenge = receive_challenge(peer)
        peer.send_message(hmac.new(authkey, challenge, "md5").digest(), expected=expected)
        verdict = peer.receive_message(expected=expected)
        if verdict != WELCOME:
            raise ConformanceFailure(expected, f"a frame {describe_frame(verdict)}")


def _check_answer_refused(endpoint: Endpoint, make_answer: Callable[[bytes], bytes], what: str) -> None:
    expected = f"#FAILURE# then the server's close, after {what}"
    with FramedPeer(endpoint) as peer:
        challenge = receive_challenge(peer)
        peer.send_message(make_answer(challenge), expected=expected)
        verdict = peer.receive_message(expected=expected)
        if verdict != FAILURE:
            raise ConformanceFailure(expected, f"a frame {describe_frame(verdict)}")
        peer.expect_close(expected=expected)


def check_wrong_key_refused(endpoint: Endpoint, authkey: bytes) -> None:
    """A MAC made with another key gets #FAILURE# and a close."""
    other_key = b"not-" + authkey
    _check_answer_refused(endpoint, lambda challenge: create_response(other_key, challenge), "a MAC under the wrong key")


def check_unlisted_digest_answer_refused(endpoint: Endpoint, authkey: bytes) -> None:
    """A correct HMAC-SHA1 under the right key, named ``{sha1}``: sha1 is not allowed."""
    _check_answer_refused(
        endpoint,
        lambda challenge: b"{sha1}" + hmac.new(authkey, challenge, "sha1").digest(),
        "a correct HMAC-SHA1 named {sha1}, a digest outside the allowed set",
    )


def check_truncated_mac_refused(endpoint: Endpoint, authkey: bytes) -> None:
    """The right MAC cut to its first 16 bytes (prefix kept) is refused."""
    _check_answer_refused(
        endpoint,
        lambda challenge: create_response(authkey, challenge)[:-16],
        "the right MAC with its last 16 bytes cut off",
    )


def check_malformed_mac_refused(endpoint: Endpoint, authkey: bytes) -> None:
    """A bare (unprefixed) 32-byte HMAC-SHA256 and a 5-byte answer get #FAILURE# and a close; a
    300-byte MAC message gets a close (#FAILURE# allowed before it). None is welcomed."""
    _check_answer_refused(
        endpoint,
        lambda challenge: hmac.new(authkey, challenge, "sha256").digest(),
        "a correct HMAC-SHA256 with no {sha256} prefix (32 bytes: not a legacy length)",
    )
    _check_answer_refused(endpoint, lambda challenge: b"{md5}", "a 5-byte answer")
    expected = "the server's close, #FAILURE# allowed before it, after a 300-byte MAC message"
    with FramedPeer(endpoint) as peer:
        challenge = receive_challenge(peer)
        peer.send_message(create_response(authkey, challenge).ljust(300, b"\0"), expected=expected)
        peer.expect_close(expected=expected, allowed_last=FAILURE)


def check_replayed_mac_refused(endpoint: Endpoint, authkey: bytes) -> None:
    """The right MAC of an earlier connection's challenge does not open a new connection."""
    with FramedPeer(endpoint) as first:
        earlier = create_response(authkey, receive_challenge(first))
    _check_answer_refused(endpoint, lambda challenge: earlier, "a MAC replayed from an earlier connection")


def check_pickle_instead_of_mac_neither_unpickled_nor_echoed(endpoint: Endpoint) -> None:
    """A pickle that would connect back to us if loaded, sent as the MAC: #FAILURE#, close, no call.

    The pickle's ``__reduce__`` is ``socket.create_connection(("127.0.0.1", port))`` for a
    listener of ours: harmless, and observable, because a connect completes into our
    listen backlog before the server could write its next frame. After the server's close,
    a non-blocking accept tells whether the pickle ran.
    """
    expected = "#FAILURE# and a close, and the pickle never loaded (no connection back to us)"
    with socket.create_server(("127.0.0.1", 0)) as canary:
        canary.setblocking(False)
        bomb = pickle.dumps(ConnectBack(canary.getsockname()[:2]), protocol=2)
        with FramedPeer(endpoint) as peer:
            receive_challenge(peer)
            peer.send_message(bomb, expected=expected)
            verdict = peer.receive_message(expected=expected)
            if verdict != FAILURE:
                raise ConformanceFailure(expected, f"a frame {describe_frame(verdict)}")
            peer.expect_close(expected=expected)
        require_no_connection_back(canary, expected)


def require_no_connection_back(canary: socket.socket, expected: str) -> None:
    """A connect completes into the canary's backlog before the server can write its next frame,
    so a non-blocking accept after the server's answer tells whether a ConnectBack pickle ran.

    Raises:
        ConformanceFailure: something connected: the pickle was loaded.
    """
    try:
        connection, _ = canary.accept()
    except BlockingIOError:
        return
    connection.close()
    raise ConformanceFailure(expected, "the pickle was loaded: it connected back to us")


class ConnectBack:
    """Pickles as a call of ``socket.create_connection(address)``."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address

    def __reduce__(self):
        return (socket.create_connection, (self.address, 5.0))


def check_server_answers_our_challenge(
    endpoint: Endpoint, authkey: bytes, challenge: bytes, *, exact: bool = False
) -> None:
    """Mutual authentication: the server proves the key by answering our challenge, then echoes.

    Args:
        exact: require exactly the MAC the challenge's form asks for (a 3.11 Client's check of
            its legacy challenge); otherwise any MAC a 3.12 Client accepts.
    """
    expected_echo = "after both #WELCOME#s, a message echoed"
    with FramedPeer(endpoint) as peer:
        answer_challenge(peer, authkey, receive_challenge(peer))
        deliver_challenge(peer, authkey, challenge, create_response(authkey, challenge) if exact else None)
        echo = peer.exchange(b"mutual", expected=expected_echo)
        if echo != b"mutual":
            raise ConformanceFailure(expected_echo, f"a frame {describe_frame(echo)}")


def check_bad_challenge_refused(endpoint: Endpoint, authkey: bytes, message: bytes, what: str) -> None:
    """Our malformed challenge message gets no MAC: #FAILURE# (optional) and a close."""
    expected = f"no MAC for {what}: the server's close, #FAILURE# allowed before it"
    with FramedPeer(endpoint) as peer:
        answer_challenge(peer, authkey, receive_challenge(peer))
        peer.send_message(message, expected=expected)
        peer.expect_close(expected=expected, allowed_last=FAILURE)


def check_client_refusal_ends_connection(endpoint: Endpoint, authkey: bytes, message: bytes) -> None:
    """We say #FAILURE# to the server's MAC of our challenge, then send ``message``: the server
    must close and send nothing (mutual authentication: the client's verdict binds the server).

    The server's MAC is not even looked at: a client may refuse a server for any reason, and
    #FAILURE# and the message leave in one write, so the server cannot have closed in between.
    """
    expected = "after our #FAILURE# to the server's MAC and a message: the server's close, nothing sent back"
    with FramedPeer(endpoint) as peer:
        answer_challenge(peer, authkey, receive_challenge(peer))
        peer.send_message(CHALLENGE_PREFIX + modern_challenge("sha256", client_nonce(40)), expected=expected)
        peer.receive_message(expected=expected)
        peer.send_raw(encode_frame(FAILURE) + encode_frame(message), expected=expected)
        peer.expect_close(expected=expected)


def check_stdlib_client_round_trip(endpoint: Endpoint, authkey: bytes, interpreter: str = sys.executable) -> str:
    """``multiprocessing.connection.Client`` of ``interpreter`` connects, sends bytes and an object.

    The client script runs unchanged on CPython 2.7 and 3.x, so any interpreter's Client can
    be the peer (``interpreter``).

    Returns:
        The client's interpreter version, for the record.
    """
    expected = (
        "the stdlib Client authenticates, gets b'ping' and 20,000 bytes back with recv_bytes, "
        "and a pickled dict back with recv"
    )
    return run_client_script(endpoint, authkey, _STDLIB_CLIENT, expected=expected, interpreter=interpreter)


def run_client_script(
    endpoint: Endpoint, authkey: bytes, script: str, *, expected: str, arguments: tuple[str, ...] = (), interpreter: str = sys.executable
) -> str:
    """Run a client ``script`` in a child ``interpreter``, bounded by the case's deadline.

    The script gets ``HOST PORT`` and ``arguments`` on its command line and the key, in hex, on
    its stdin (never on a command line); it prints its interpreter's version first and ``OK``
    last when every step worked.

    Returns:
        The first line it printed (the client's version).

    Raises:
        ConformanceFailure: the script timed out or failed (its last line of stderr).

    Resource handling: the child is killed by ``subprocess.run`` on timeout.
    """
    try:
        completed = subprocess.run(
            [interpreter, "-c", script, endpoint.host, str(endpoint.port), *arguments],
            input=authkey.hex(),
            capture_output=True,
            text=True,
            timeout=endpoint.deadline.cap(20.0),
        )
    except subprocess.TimeoutExpired:
        raise ConformanceFailure(expected, "timeout: the stdlib Client did not finish (a handshake or a reply never came)") from None
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines or lines[-1] != "OK":
        error = (completed.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ConformanceFailure(expected, f"the stdlib Client failed: {error[:300]}")
    return lines[0]


_STDLIB_CLIENT = textwrap.dedent(
    """
    import binascii, sys
    from multiprocessing.connection import Client
    authkey = binascii.unhexlify(sys.stdin.read().strip())  # 2.7 and 3.x alike
    connection = Client((sys.argv[1], int(sys.argv[2])), authkey=authkey)
    print(sys.version.split()[0])
    connection.send_bytes(b"ping")
    assert connection.recv_bytes() == b"ping", "bytes not echoed"
    connection.send_bytes(b"z" * 20000)
    assert connection.recv_bytes() == b"z" * 20000, "20,000 bytes not echoed"
    connection.send({"answer": [42, u"text"]})
    assert connection.recv() == {"answer": [42, u"text"]}, "object not echoed"
    connection.close()
    print("OK")
    """
)


def _pattern(size: int) -> bytes:
    """``size`` bytes that are not all alike (a shifted or dropped byte shows)."""
    block = bytes(range(251))  # a prime period: no power-of-two boundary lines up with it
    return (block * (size // len(block) + 1))[:size]
