"""``single``: ``socketserver.TCPServer``, one client at a time.

The chapter's first server. A connection is served to completion in the main thread before
the next is accepted: a second client waits in the backlog, and an idle client holds the
server until the idle timeout. It is here as the baseline the concurrent models are
compared against, and because one-shot services (daytime, time) suit it well. For UDP it
is ``socketserver.UDPServer``: each datagram answered in turn.
"""

from __future__ import annotations

import socketserver
from harness.runners.socketserver_base import SocketServerDatagramRunner, SocketServerRunner


class SingleRunner(SocketServerRunner):
    """socketserver.TCPServer: serve each connection in the accepting thread."""

    server_class = socketserver.TCPServer


class SingleDatagramRunner(SocketServerDatagramRunner):
    """socketserver.UDPServer: answer each datagram in the receiving thread."""

    server_class = socketserver.UDPServer
