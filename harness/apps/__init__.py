"""WSGI applications served by the HTTP gateway (harness.protocols.http_gateway) on every
runner, and by the stdlib servers the chapter uses (the ``wsgiref`` runner)."""
