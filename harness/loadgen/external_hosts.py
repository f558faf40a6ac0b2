"""Third-party servers hosting one of our applications, started the way a recipe would be.

``wirecheck compare`` measures *external server targets* beside our runners: any command that
binds 127.0.0.1 on an ephemeral port, prints one line ``READY tcp 127.0.0.1:PORT`` and serves
until SIGTERM (the contract of ``wirecheck serve``). A recipe under fixtures/thirdparty/ named
like the target (``gunicorn-gthread`` -> fixtures/thirdparty/gunicorn_gthread.py) is used when
it exists; otherwise this module is the launcher::

    python -m harness.loadgen.external_hosts waitress harness.apps.rest:application
    python -m harness.loadgen.external_hosts gunicorn-gthread harness.apps.rest:application
    python -m harness.loadgen.external_hosts twisted-kv harness.apps.xmlrpc_service:KeyValueStore

Each host is configured for one core (``wirecheck compare`` pins its whole tree to one):

- ``waitress``: ``waitress.create_server`` on 127.0.0.1:0 in this process (its port is read
  back from the bound socket, so no race), waitress's default of 4 threads.
- ``gunicorn-sync`` / ``gunicorn-gthread``: this process binds and listens on 127.0.0.1:0,
  prints READY, then *becomes* gunicorn (``exec``) with ``--bind fd://N``: the socket is
  inherited, the port known before gunicorn starts (connections queue in the backlog until
  its worker accepts), and the pid the caller holds is gunicorn's master. One worker (one
  core); gthread with :data:`GTHREAD_THREADS` threads.
- ``twisted-kv``: the KeyValueServer's store (the object named on the command line) behind
  ``twisted.web.xmlrpc.XMLRPC`` on the reactor, on 127.0.0.1:0.

The application is named ``module:attribute``; ``module:attribute()`` calls it first (an
application factory).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
from typing import Any, Callable

from harness.loadgen.profile import resolve

# A listen backlog that a burst of 1000 connects does not overflow (as our runners').
BACKLOG = 4096
# gthread's threads per worker: enough that 50 keep-alive connections are not queued behind
# a few busy threads (gunicorn's own default is 1, which makes gthread a sync worker).
GTHREAD_THREADS = 8
# A keep-alive connection idle this long is closed (gunicorn's default of 2 s closes locust's
# connections between the warm-up and the window of a slow machine).
KEEPALIVE_S = 30


def load_application(dotted: str) -> Any:
    """``module:attribute`` (or ``module:factory()``, called) imported."""
    if dotted.endswith("()"):
        return resolve(dotted[:-2])()
    return resolve(dotted)


def listening_socket() -> socket.socket:
    """A TCP socket bound to 127.0.0.1 on an ephemeral port, listening."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(BACKLOG)
    return listener


def announce(port: int) -> None:
    print(f"READY tcp 127.0.0.1:{port}", flush=True)


def serve_waitress(application: str) -> None:
    import waitress

    server = waitress.create_server(load_application(application), host="127.0.0.1", port=0, backlog=BACKLOG)
    signal.signal(signal.SIGTERM, lambda *_: server.close() or sys.exit(0))
    announce(server.effective_port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


def _exec_gunicorn(application: str, worker_arguments: list[str]) -> None:
    gunicorn = shutil.which("gunicorn")
    if gunicorn is None:
        sys.exit("gunicorn is not installed (pip install gunicorn)")
    listener = listening_socket()
    listener.set_inheritable(True)
    announce(listener.getsockname()[1])
    os.execv(gunicorn, [
        gunicorn, "--bind", f"fd://{listener.fileno()}", "--workers", "1", *worker_arguments,
        "--keep-alive", str(KEEPALIVE_S), "--log-level", "warning", application,
    ])


def serve_gunicorn_sync(application: str) -> None:
    _exec_gunicorn(application, ["--worker-class", "sync"])


def serve_gunicorn_gthread(application: str) -> None:
    _exec_gunicorn(application, ["--worker-class", "gthread", "--threads", str(GTHREAD_THREADS)])


def serve_twisted_xmlrpc(store_factory: str) -> None:
    from twisted.internet import reactor
    from twisted.web import server, xmlrpc

    store = load_application(store_factory if store_factory.endswith("()") else store_factory + "()")

    class KeyValueResource(xmlrpc.XMLRPC):
        """The store's public methods as XML-RPC methods (twisted's ``xmlrpc_`` naming)."""

        def lookupProcedure(self, procedurePath: str) -> Callable[..., Any]:
            if procedurePath.startswith("_") or not callable(getattr(store, procedurePath, None)):
                raise xmlrpc.NoSuchFunction(self.NOT_FOUND, f"procedure {procedurePath} not found")
            return getattr(store, procedurePath)

    port = reactor.listenTCP(0, server.Site(KeyValueResource(allowNone=False)), backlog=BACKLOG, interface="127.0.0.1")
    signal.signal(signal.SIGTERM, lambda *_: reactor.callFromThread(reactor.stop))
    announce(port.getHost().port)
    reactor.run(installSignalHandlers=False)


HOSTS: dict[str, Callable[[str], None]] = {
    "waitress": serve_waitress,
    "gunicorn-sync": serve_gunicorn_sync,
    "gunicorn-gthread": serve_gunicorn_gthread,
    "twisted-kv": serve_twisted_xmlrpc,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", choices=sorted(HOSTS))
    parser.add_argument("application", help="module:attribute, or module:factory() to call it")
    args = parser.parse_args(argv)
    HOSTS[args.host](args.application)


if __name__ == "__main__":
    main()
