"""Third-party servers hosting one of our applications, started the way a recipe would be.

``wirecheck compare`` measures *external server targets* beside our runners: any command that
binds 127.0.0.1 on an ephemeral port, prints one line ``READY tcp 127.0.0.1:PORT`` and serves
until SIGTERM (the contract of ``wirecheck serve``). A recipe under fixtures/thirdparty/ named
like the target (``gunicorn-gthread`` -> fixtures/thirdparty/gunicorn_gthread.py) is used when
it exists; otherwise this module is the launcher::

    python -m harness.loadgen.external_hosts waitress harness.apps.rest:application
    python -m harness.loadgen.external_hosts gunicorn-gthread harness.apps.rest:application
    python -m harness.loadgen.external_hosts twisted-kv harness.apps.xmlrpc_service:KeyValueStore
    python -m harness.loadgen.external_hosts uwsgi harness.apps.rest:application

Each host is configured for one core (``wirecheck compare`` pins its whole tree to one):

- ``waitress``: ``waitress.create_server`` on 127.0.0.1:0 in this process (its port is read
  back from the bound socket, so no race), waitress's default of 4 threads.
- ``gunicorn-sync`` / ``gunicorn-gthread``: this process binds and listens on 127.0.0.1:0,
  prints READY, then *becomes* gunicorn (``exec``) with ``--bind fd://N``: the socket is
  inherited, the port known before gunicorn starts (connections queue in the backlog until
  its worker accepts), and the pid the caller holds is gunicorn's master. One worker (one
  core); gthread with :data:`GTHREAD_THREADS` threads.
- ``uwsgi``: Debian's uWSGI with its python3 plugin. This process binds and listens on
  127.0.0.1:0, prints READY, then becomes uWSGI (``exec``), which adopts the socket through
  Upstart's socket-bridge variables (``UPSTART_EVENTS=socket``, ``UPSTART_FDS=N``: uWSGI adopts
  an inherited socket named on its command line only on a reload) and speaks HTTP/1.1 with
  keep-alive on it (``--protocol http11``, what ``--http11-socket`` selects: the plain
  ``--http-socket`` closes every connection after one response without saying
  ``Connection: close``, so a keep-alive client's next request meets a reset). One process
  (one core) with :data:`GTHREAD_THREADS` threads, as gunicorn gthread, and no master (a second
  process on the core with nothing to do). Each thread holds one keep-alive connection for as
  long as the client keeps it, so past that many connections the rest wait: measured, at 50
  users 8 are served and 42 stall (uWSGI's default of one thread serves one connection at a
  time). ``--die-on-term`` so that SIGTERM stops it (uWSGI 2.0 takes it as "reload"), ``--need-app``
  so that an application that does not import in the interpreter the plugin embeds (Debian's
  /usr/bin/python3, not this one; the application is found through ``--pythonpath``) is an
  exit, not a server answering 500.
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
from pathlib import Path
from typing import Any, Callable

from harness.loadgen.profile import resolve

# A listen backlog that a burst of 1000 connects does not overflow (as our runners').
BACKLOG = 4096
# gthread's threads per worker: enough that 50 keep-alive connections are not queued behind
# a few busy threads (gunicorn's own default is 1, which makes gthread a sync worker).
GTHREAD_THREADS = 8
# The checkout: uWSGI's embedded interpreter imports the application from here (--pythonpath).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# Debian's uWSGI core loads its python3 plugin (Debian package uwsgi-plugin-python3) by name.
UWSGI_PYTHON_PLUGIN = "python3"
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


def _become_on_inherited_socket(
    program: str,
    missing: str,
    argv_for: Callable[[str, int], list[str]],
    environment_for: Callable[[int], dict[str, str]] = lambda descriptor: dict(os.environ),
) -> None:
    """Bind and listen on 127.0.0.1:0, announce READY, then exec ``program`` with the socket.

    Args:
        program: the executable's name on PATH.
        missing: the message to exit with when it is not installed.
        argv_for: given the program's path and the listening descriptor, its argv.
        environment_for: given the descriptor, the program's environment.

    Resource handling: the socket is inherited by the program (connections queue in its backlog
    until the program accepts); this process becomes the program, so its pid is the caller's.
    """
    path = shutil.which(program)
    if path is None:
        sys.exit(missing)
    listener = listening_socket()
    listener.set_inheritable(True)
    announce(listener.getsockname()[1])
    os.execve(path, argv_for(path, listener.fileno()), environment_for(listener.fileno()))


def _exec_gunicorn(application: str, worker_arguments: list[str]) -> None:
    _become_on_inherited_socket(
        "gunicorn",
        "gunicorn is not installed (pip install gunicorn)",
        lambda gunicorn, descriptor: [
            gunicorn, "--bind", f"fd://{descriptor}", "--workers", "1", *worker_arguments,
            "--keep-alive", str(KEEPALIVE_S), "--log-level", "warning", application,
        ],  # fmt: skip
    )


def serve_gunicorn_sync(application: str) -> None:
    _exec_gunicorn(application, ["--worker-class", "sync"])


def serve_gunicorn_gthread(application: str) -> None:
    _exec_gunicorn(application, ["--worker-class", "gthread", "--threads", str(GTHREAD_THREADS)])


def serve_uwsgi(application: str) -> None:
    _become_on_inherited_socket(
        "uwsgi",
        "uWSGI is not installed (Debian: apt-get install uwsgi uwsgi-plugin-python3)",
        lambda uwsgi, descriptor: [
            uwsgi, "--strict", "--plugin", UWSGI_PYTHON_PLUGIN, "--protocol", "http11",
            "--pythonpath", str(REPOSITORY_ROOT), "--module", application, "--need-app",
            "--processes", "1", "--threads", str(GTHREAD_THREADS), "--die-on-term", "--disable-logging",
        ],  # fmt: skip
        # Upstart's socket bridge: uWSGI adopts descriptor N at every start (see the docstring).
        lambda descriptor: {**os.environ, "UPSTART_EVENTS": "socket", "UPSTART_FDS": str(descriptor)},
    )


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
    "uwsgi": serve_uwsgi,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host", choices=sorted(HOSTS))
    parser.add_argument("application", help="module:attribute, or module:factory() to call it")
    args = parser.parse_args(argv)
    HOSTS[args.host](args.application)


if __name__ == "__main__":
    main()
