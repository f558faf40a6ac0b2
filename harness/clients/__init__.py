"""Reference clients: the chapter's client snippets, done right (timeouts, retries, errors).

Each client is a plain function of ``(host, port)`` usable from a script, the suites and the
load tests alike. What goes wrong reads as one of two errors: :class:`NoAnswerError` (nothing
came back in time, after the retries UDP needs) or
:class:`~harness.protocols.timekeeping.MalformedReplyError` (something came back that the
protocol cannot produce).
"""

from harness.clients.datagram import NoAnswerError, request_datagram

__all__ = ["NoAnswerError", "request_datagram"]
