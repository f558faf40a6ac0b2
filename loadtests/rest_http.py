"""Load user for the chapter's REST interface (``rest-http``): ``GET /hello?name=X``, every page judged.

Built on locust's FastHttpUser (geventhttpclient: one keep-alive HTTP/1.1 connection per user,
several times cheaper per request than HttpUser's requests session, so one generator core
drives more of a server before it becomes the limit). Each request greets a fresh name, the
user's number and a sequence number, so a page meant for another request is caught; each
reply is judged by the REST client's one reader (harness/clients/rest.py): status 200 and an
``<h1>`` that, parsed with ``html.parser``, says exactly ``Hello <name>``. A wrong page is a
failure, reported with "expected ... / actual ...".

``--name-prefix TEXT`` (default ``user``) starts every name greeted: the names are
``<prefix><user number>-<sequence number>``. A prefix with non-ASCII letters and markup
(``--name-prefix '<i>Länge</i>-'``) makes every request check escaping, UTF-8 %-decoding and a
Content-Length counted in octets too, under load.

A response that cannot be parsed as HTTP (geventhttpclient's ``HTTPParseError``: say, the
rest of an over-long body read where the next status line should be) is a failure too: locust
counts only connection errors and timeouts as failed requests and lets a parse error escape the
task, so the user catches it and reports the request as failed itself.

``--request-timeout`` (default 2 s) bounds the connect and every reply (FastHttpUser's
connection and network timeouts). Each user's connection is a slot of wirecheck's recorder,
so stalls are counted per connection like the raw-socket users'. With ``--open-loop-rate``
latency is measured from the intended send time (the request event's ``response_time`` is
rewritten before it fires), as harness/loadgen/users.py describes.

Run it::

    wirecheck serve rest-http --runner selectors           # prints READY tcp 127.0.0.1:PORT
    locust -f loadtests/rest_http.py RestHelloUser --host http://127.0.0.1:PORT --headless -u 50 -r 50 -t 10s
    python loadtests/rest_http.py --host 127.0.0.1:PORT   # one user, every request printed

``--host`` may omit ``http://`` (``wirecheck compare`` passes ``HOST:PORT``); only loopback
hosts are accepted.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from geventhttpclient.response import HTTPParseError
from locust import events, run_single_user, task
from locust.contrib.fasthttp import FastHttpUser

from harness.clients.rest import greeting_problem, hello_target
from harness.loadgen import plugin
from harness.loadgen.targets import default_target
from harness.loadgen.users import PacingMixin, paced

# A user's number in this generator process: part of every name it greets.
_user_numbers = itertools.count(1)

# What every greeted name starts with, unless --name-prefix says otherwise.
DEFAULT_NAME_PREFIX = "user"


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--name-prefix", default=DEFAULT_NAME_PREFIX, env_var="WIRECHECK_NAME_PREFIX",
        help=f"the start of every name greeted (default {DEFAULT_NAME_PREFIX!r}); non-ASCII letters and "
        "markup here make every page check escaping and UTF-8 too",
    )


def http_base_url(host: str) -> str:
    """``HOST:PORT`` as FastHttpUser's base URL (``http://HOST:PORT``); a URL is kept as given."""
    host = host.strip()
    return host if "://" in host else f"http://{host}"


class RestUserBase(PacingMixin, FastHttpUser):
    """Abstract REST user: one keep-alive connection, every page parsed and judged."""

    abstract = True
    request_label = "/hello"

    def __init__(self, environment: Any) -> None:
        options = plugin.options_of(environment)
        # Instance attributes, read by FastHttpUser.__init__ when it builds the session.
        self.host = http_base_url(self.host or environment.host or "")
        self.network_timeout = self.connection_timeout = float(options.request_timeout)
        super().__init__(environment)
        self.slot = plugin.RECORDER.new_slot()
        self.prefix = f"{getattr(options, 'name_prefix', DEFAULT_NAME_PREFIX)}{next(_user_numbers)}-"
        self.sequence = itertools.count(1)
        self.request_name = self.request_label + self.loop_label

    def greet_once(self) -> None:
        """One ``GET /hello?name=...``, its page judged; a wrong page is a failure."""
        name = f"{self.prefix}{next(self.sequence)}"
        intended_start = self.pacer.take_slot()
        sent = time.perf_counter()
        plugin.RECORDER.begin_wait(self.slot)
        replied = timed_out = False
        try:
            with self.client.get(hello_target(name), name=self.request_name, catch_response=True) as response:
                replied = bool(response.status_code)
                timed_out = isinstance(getattr(response, "error", None), TimeoutError)
                if intended_start is not None:
                    response.request_meta["response_time"] = (time.perf_counter() - intended_start) * 1000.0
                problem = greeting_problem(response.status_code or 0, response.content or b"", name)
                if problem is not None:
                    response.failure(problem)
        except HTTPParseError as error:  # the server's reply is not HTTP: its failure, not the user's crash
            self.environment.events.request.fire(
                request_type="GET",
                name=self.request_name,
                response_time=(time.perf_counter() - (sent if intended_start is None else intended_start)) * 1000.0,
                response_length=0,
                exception=f"expected an HTTP/1.1 response / actual: not parseable ({error})",
                context={},
            )
        finally:
            plugin.RECORDER.end_wait(self.slot, replied=replied, timed_out=timed_out)

    def on_stop(self) -> None:
        plugin.RECORDER.retire_slot(self.slot)


class RestHelloUser(RestUserBase):
    """``GET /hello?name=X`` back to back (closed loop) or on schedule (open loop)."""

    host = default_target("rest-http", 8080)
    wait_time = paced()

    @task
    def hello(self) -> None:
        self.greet_once()


if __name__ == "__main__":
    run_single_user(RestHelloUser)
