"""The HTTP services' requesters catch wrong replies (the locust users and the threaded client
drive these; a checker that cannot fail is a defect)."""

from __future__ import annotations

import threading
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

import pytest

from harness.clients.requesters import RequestOptions
from harness.clients.rest import greeting_problem, hello_requester
from harness.clients.xmlrpc import KeyValueMismatchError, KeyValueRequester, key_value_requester
from harness.launch import launch_server

PAGE = "<html><head><title>Hello {0}</title></head><body><h1>Hello {0}</h1></body></html>"


def test_the_right_greeting_passes() -> None:
    assert greeting_problem(200, PAGE.format("a&amp;b").encode(), "a&b") is None


@pytest.mark.parametrize(
    "status, body, fragment",
    [
        (500, PAGE.format("x"), "status 200"),
        (200, PAGE.format("y"), "actual: 'Hello y'"),
        (200, "<html><body><!-- <h1>Hello x</h1> --></body></html>", "actual: ''"),  # parsed, not grepped
        (200, "<html><body><h1>Hello <b>x</b></h1></body></html>", "elements ['b']"),
    ],
)
def test_a_wrong_greeting_is_named(status: int, body: str, fragment: str) -> None:
    problem = greeting_problem(status, body.encode(), "x")
    assert problem is not None and fragment in problem


class ForgetfulKeyValue:
    """A KeyValueServer that drops every other write: ``set`` says True and may keep nothing."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.writes = 0

    def set(self, key: str, value: str) -> bool:
        self.writes += 1
        if self.writes % 2:
            self.data[key] = value
        return True

    def get(self, key: str) -> str:
        if key not in self.data:
            raise xmlrpc.client.Fault(-32602, f"no such key: {key!r}")
        return self.data[key]

    def delete(self, key: str) -> bool:
        return self.data.pop(key, None) is not None

    def exists(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return sorted(self.data)


class _QuietHandler(SimpleXMLRPCRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_the_key_value_requester_catches_a_server_that_loses_writes() -> None:
    server = SimpleXMLRPCServer(("127.0.0.1", 0), requestHandler=_QuietHandler, logRequests=False)
    server.register_instance(ForgetfulKeyValue())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        requester = KeyValueRequester(server.server_address, RequestOptions(), seed=1)
        try:
            with pytest.raises(KeyValueMismatchError, match="expected .* / actual"):
                for _ in range(500):  # bounded: a lost write shows within a few dozen calls
                    requester.request()
        finally:
            requester.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("service, runner, factory", [
    ("rest-http", "threading", hello_requester),
    ("xmlrpc-kv", "stdlib-xmlrpc", key_value_requester),
])
def test_the_requesters_pass_on_the_reference_server(service, runner, factory) -> None:
    with launch_server(service, runner) as server:
        requester = factory((server.host, server.port), RequestOptions())
        try:
            assert all(requester.request() > 0 for _ in range(50))
        finally:
            requester.close()
