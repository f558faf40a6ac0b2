"""``stdlib-xmlrpc``: the chapter's ``SimpleXMLRPCServer``, carrying an XML-RPC service.

The chapter's KeyValueServer is ``SimpleXMLRPCServer(address, allow_none=True)`` with the
methods registered on it and ``serve_forever()``. This runner is that server, with the
service's own functions, introspection and multicall registered on it; its parsing,
dispatch and HTTP handling are the standard library's, unchanged, so the suites judge the
stdlib as the chapter uses it. One request at a time, in the accepting thread.

What is ours is only the lifecycle every runner shares (harness.runners.socketserver_base):
the pre-bound listener, a stop from a signal handler, a per-connection timeout, and
request logging sent to the debug log.
"""

from __future__ import annotations

from typing import Any
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from harness.runners.base import log
from harness.runners.socketserver_base import SocketServerRunner


class _TrackedXmlRpcHandler(SimpleXMLRPCRequestHandler):
    """The stdlib handler, with its socket tracked (a stop can wake it) and quiet logs."""

    server: Any

    def setup(self) -> None:
        runner = self.server.runner
        self.timeout = runner.options.idle_timeout
        runner.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.runner.connections.discard(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("stdlib-xmlrpc: " + format, *args)


class StdlibXmlRpcRunner(SocketServerRunner):
    """SimpleXMLRPCServer with the service's functions registered on it.

    The factory handed to this runner makes the service's XML-RPC application, whose
    ``functions_to_register`` are registered here as the chapter registers its methods.
    """

    server_class = SimpleXMLRPCServer
    handler_class = _TrackedXmlRpcHandler

    def configure(self, server: Any) -> None:
        application = self.protocol_factory()
        server.logRequests = False
        server.use_builtin_types = True
        for name, function in application.functions_to_register.items():
            server.register_function(function, name)
        server.register_introspection_functions()
        server.register_multicall_functions()
