"""Load user for ``mpconn-echo``: a multiprocessing.connection Listener that echoes messages.

Each user opens one connection and makes the mutual HMAC handshake on it, as a 3.12+
``multiprocessing.connection.Client`` does (the Listener's ``{sha256}`` challenge answered,
``#WELCOME#`` required, then the Listener challenged and its MAC checked); the handshake is
reported as a request of its own (``mpconn-handshake``), and one that is refused (``#FAILURE#``,
a MAC that does not verify, a close) is a failure. Then each request is one message of
``--payload-bytes`` (default 64), numbered in its first 16 bytes, sent as a frame; the reply
must be the same frame byte for byte. A wrong reply, a short one, a reset and a timeout
(``--request-timeout``, default 2 s, bounds the connect, every handshake wait and every
reply) are failures; after one, the next request connects and shakes hands anew.

The shared key is read from the environment, ``WIRECHECK_OPTION_AUTHKEY``, exactly as
``wirecheck serve`` reads it, and never from the command line (``/proc/PID/cmdline`` is
readable by every local user). ``wirecheck compare`` sets a fresh random one per run.

The handshake and the echo are the mpconn client's (harness/clients/mpconn.py); the client and
abstract user layers are harness/loadgen/users.py's :class:`~harness.loadgen.users.RequesterUser`.

Run it::

    export WIRECHECK_OPTION_AUTHKEY=$(python -c 'import secrets; print(secrets.token_hex(16))')
    wirecheck serve mpconn-echo --runner fd-passing      # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/mpconn_echo.py MpconnEchoUser --host 127.0.0.1:PORT --headless -u 50 -r 50 -t 10s
    python loadtests/mpconn_echo.py --host 127.0.0.1:PORT    # one user, every request printed
"""

from __future__ import annotations

from locust import run_single_user, task

from harness.clients.mpconn import mpconn_echo_requester
from harness.loadgen.targets import default_target
from harness.loadgen.users import ReplyTimeoutError, RequesterUser, paced


class MpconnEchoUserBase(RequesterUser):
    """Abstract user: one authenticated connection, a numbered message per request, every reply checked."""

    abstract = True
    transport = "tcp"
    requester_factory = staticmethod(mpconn_echo_requester)
    request_type = "mpconn-echo"
    request_label = "message {payload_bytes}B"
    connect_request_type = "mpconn-handshake"
    timeout_error = ReplyTimeoutError


class MpconnEchoUser(MpconnEchoUserBase):
    """The chapter's Listener with an authkey, echoing each message."""

    host = default_target("mpconn-echo", 25000)  # a hand-started server's port; --host overrides it
    wait_time = paced()

    @task
    def echo_message(self) -> None:
        self.request_once()


if __name__ == "__main__":
    run_single_user(MpconnEchoUser)
