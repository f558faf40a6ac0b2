"""Load user for the chapter's KeyValueServer over XML-RPC (``xmlrpc-kv``), every reply checked.

Each user holds one keep-alive HTTP connection and makes one call at a time, drawn at random
from set, get, exists, delete and keys over a handful of keys under a prefix that is the
user's alone; its in-memory model of those keys says what every reply must be (a ``get`` of
a key it deleted must be the "no such key" fault; ``keys``, filtered to the prefix, must list
exactly the modelled keys). A wrong reply, a fault where a value was due, an HTTP status other
than 200, a reset and a timeout (``--request-timeout``, default 2 s) are failures; after one
the connection is closed and the next request opens a fresh one with a fresh prefix and an
empty model.

The calls and the model are the XML-RPC client's (harness/clients/xmlrpc.py,
:class:`~harness.clients.xmlrpc.KeyValueRequester`), the same the plain threaded client
drives; timing, reporting and the watchdog are harness/loadgen/users.py's.

Run it::

    wirecheck serve xmlrpc-kv --runner asyncio              # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/xmlrpc_kv.py KeyValueUser --host 127.0.0.1:PORT --headless -u 20 -r 20 -t 10s
    python loadtests/xmlrpc_kv.py --host 127.0.0.1:PORT    # one user, every request printed
"""

from __future__ import annotations

from locust import run_single_user, task

from harness.clients.xmlrpc import key_value_requester
from harness.loadgen.targets import default_target
from harness.loadgen.users import RequesterUser, paced


class KeyValueUserBase(RequesterUser):
    """Abstract key-value user: one connection, one modelled call at a time."""

    abstract = True
    transport = "tcp"
    requester_factory = staticmethod(key_value_requester)
    request_type = "xmlrpc-call"
    request_label = "key-value call"
    connect_request_type = "tcp-connect"


class KeyValueUser(KeyValueUserBase):
    """The chapter's KeyValueServer over XML-RPC."""

    host = default_target("xmlrpc-kv", 15000)  # the chapter's port
    wait_time = paced()

    @task
    def call(self) -> None:
        self.request_once()


if __name__ == "__main__":
    run_single_user(KeyValueUser)
