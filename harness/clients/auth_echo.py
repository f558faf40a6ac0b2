"""An auth-echo-tcp client: answer the challenge, prove the answer was taken, then echo.

The wire format (suites/auth_echo_tcp/SPEC.md) gives the client no status byte: the server
sends 32 random bytes, the client answers HMAC-SHA256(key, challenge), and "a client learns it
was accepted when its data come back". So the handshake here ends with a probe: the answer
and a short probe go out, and the handshake is complete only when the probe comes back
byte-exact. A refused answer (the server closes, or resets) is an :class:`AuthEchoRefusedError`
at the handshake, where it belongs, not a mysterious failure of the first echo.

After the handshake the connection is RFC 862 echo, and each request is the echo client's
(:class:`~harness.clients.echo.EchoConnection`): a numbered payload, every byte checked.
"""

from __future__ import annotations

import functools

from harness.clients.echo import EchoClosedError, EchoConnection, EchoResetError, StreamEchoRequester
from harness.clients.requesters import RequestOptions, RoundTripError
from harness.protocols.auth_echo import CHALLENGE_BYTES, answer_for
from harness.services import AUTHKEY, secret_from_environment

# What the handshake sends after its answer, to learn whether the answer was taken.
PROBE = b"wirecheck-auth-echo-probe"


class AuthEchoRefusedError(RoundTripError):
    """The server ended the connection after our answer instead of echoing: refused."""


def authenticate(connection: EchoConnection, key: bytes) -> None:
    """Read the challenge, answer it, and wait for the probe's echo.

    Raises:
        AuthEchoRefusedError: the server closed or reset instead of echoing the probe.
        EchoMismatchError: other bytes came back.
        EchoClosedError, EchoResetError, EchoTimeoutError: the challenge did not arrive whole,
            or the probe's echo did not arrive in time.
    """
    challenge = connection.receive_exactly(CHALLENGE_BYTES)
    connection.send(answer_for(key, challenge))
    try:
        connection.echo(PROBE)
    except (EchoClosedError, EchoResetError) as exc:
        raise AuthEchoRefusedError(
            f"expected the echo of a {len(PROBE)}-byte probe after our HMAC-SHA256 answer / actual: {exc} "
            "(the answer refused: do the keys differ?)"
        ) from None


def auth_echo_requester(address: tuple[str, int], options: RequestOptions) -> StreamEchoRequester:
    """One authenticated connection, keyed by ``WIRECHECK_OPTION_AUTHKEY``; each request a
    numbered payload echoed, every byte checked.

    Raises:
        MissingSecretError: the key is not in the environment.
        AuthEchoRefusedError, EchoError: the handshake failed.
    """
    key = secret_from_environment(AUTHKEY)
    return StreamEchoRequester(address, options, preamble=functools.partial(authenticate, key=key))
