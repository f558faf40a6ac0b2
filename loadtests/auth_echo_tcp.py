"""Load user for ``auth-echo-tcp``: an HMAC-SHA256 challenge per connection, then echo.

Each user opens one connection and authenticates on it: it reads the server's 32-byte
challenge, answers HMAC-SHA256(key, challenge), and sends a short probe that must come back
byte-exact, since the protocol has no status byte and an echo is the only sign the answer was
taken. That handshake is reported as a request of its own (``auth-handshake``); a refused one
(the server closes or resets instead of echoing the probe) is a failure. Then each request
is a payload of ``--payload-bytes`` (default 64), numbered in its first 16 bytes, whose echo
is checked byte for byte. A wrong reply, a short one, a reset and a timeout
(``--request-timeout``, default 2 s, bounds the connect, the handshake and every reply) are
failures; after one, the next request connects and authenticates anew.

The shared key is read from the environment, ``WIRECHECK_OPTION_AUTHKEY``, exactly as
``wirecheck serve`` reads it, and never from the command line. ``wirecheck compare`` sets a
fresh random one per run.

The handshake is the auth-echo client's (harness/clients/auth_echo.py) and the echo is the
one echo client's; the client and abstract user layers are harness/loadgen/users.py's
:class:`~harness.loadgen.users.RequesterUser`.

Run it::

    export WIRECHECK_OPTION_AUTHKEY=$(python -c 'import secrets; print(secrets.token_hex(16))')
    wirecheck serve auth-echo-tcp --runner selectors    # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/auth_echo_tcp.py AuthEchoTcpUser --host 127.0.0.1:PORT --headless -u 50 -r 50 -t 10s
    python loadtests/auth_echo_tcp.py --host 127.0.0.1:PORT    # one user, every request printed
"""

from __future__ import annotations

from locust import run_single_user, task

from harness.clients.auth_echo import auth_echo_requester
from harness.loadgen.targets import default_target
from harness.loadgen.users import ReplyTimeoutError, RequesterUser, paced


class AuthEchoUserBase(RequesterUser):
    """Abstract user: one authenticated connection, a numbered payload per request, every echo checked."""

    abstract = True
    transport = "tcp"
    requester_factory = staticmethod(auth_echo_requester)
    request_type = "auth-echo"
    request_label = "echo {payload_bytes}B"
    connect_request_type = "auth-handshake"
    timeout_error = ReplyTimeoutError


class AuthEchoTcpUser(AuthEchoUserBase):
    """The authenticated echo: a fresh challenge per connection, HMAC-SHA256 answered, then echo."""

    host = default_target("auth-echo-tcp", 18000)  # a hand-started server's port; --host overrides it
    wait_time = paced()

    @task
    def echo(self) -> None:
        self.request_once()


if __name__ == "__main__":
    run_single_user(AuthEchoTcpUser)
