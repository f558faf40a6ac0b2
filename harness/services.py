"""The service registry: every service's name, kind, protocol, options and load profile.

A reference server is ``SERVICES[name] x RUNNERS[runner]``. A service knows nothing about how
it is served; the runner registry (``harness.runners``) says which runners carry which kind
of service, so adding a service touches no runner and adding a runner touches no service.

Everything particular to a service is in its entry here or in its own modules: its typed
options (read generically by ``wirecheck serve --option KEY=VALUE`` and by the pytest plugin),
its load profile (read by ``wirecheck compare`` and the load generators). No other module
names a service; tests/test_service_names.py scans harness/ and loadtests/ to keep it so.
Service names are a stable contract (../shared/DESIGN.md).
"""

from __future__ import annotations

import enum
import functools
import os
import secrets
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Union

from harness.checks.timekeeping import DEFAULT_CLOCK_TOLERANCE_S
from harness.loadgen.profile import LoadProfile
from harness.apps import wsgi_probe, xmlrpc_service
from harness.apps.rest import RestApplication
from harness.protocols.arrays import ArrayRelayProtocol
from harness.protocols.base import DatagramProtocol, ServiceConfig, StreamProtocol
from harness.protocols.http_gateway import WsgiApplication, WsgiGatewayProtocol
from harness.protocols.mpconn import MAX_MESSAGE_BYTES as MPCONN_MAX_MESSAGE_BYTES
from harness.protocols.mpconn import MultiprocessingEchoProtocol
from harness.protocols.auth_echo import AuthEchoProtocol
from harness.protocols.rpc import CODEC_NAMES, DEFAULT_CODEC, parse_codec_name, rpc_listener
from harness.protocols.echo import MAX_LINE_BYTES, EchoDatagramProtocol, EchoProtocol, LineEchoProtocol
from harness.protocols.timekeeping import (
    CtimeDatagramProtocol,
    DaytimeDatagramProtocol,
    DaytimeStreamProtocol,
    TimeDatagramProtocol,
    TimeStreamProtocol,
)


class ServiceKind(enum.Enum):
    """What a service is, which decides the runners that can carry it."""

    BYTE_STREAM = "stream"  # one protocol object per connection, TCP (or TLS over TCP)
    DATAGRAM = "datagram"  # one protocol object per server, UDP
    WSGI_APPLICATION = "web-application"  # a WSGI application: through the HTTP gateway, or a WSGI server
    XMLRPC_APPLICATION = "xml-rpc-application"  # an XML-RPC dispatcher that is also a WSGI application

    @property
    def transport(self) -> str:
        """The READY line's transport word (``tls`` replaces ``tcp`` when TLS is on)."""
        return "udp" if self is ServiceKind.DATAGRAM else "tcp"

    @property
    def carried_by(self) -> tuple[str, ...]:
        """The runner kinds that can carry it (``harness.runners.RunnerEntry.kinds``): a WSGI
        application rides any stream runner through the HTTP gateway, and WSGI servers."""
        if self is ServiceKind.WSGI_APPLICATION:
            return ("stream", "web-application")
        if self is ServiceKind.XMLRPC_APPLICATION:
            return ("stream", "web-application", "xml-rpc-application")
        return (self.value,)

    @property
    def is_wsgi_application(self) -> bool:
        return self in (ServiceKind.WSGI_APPLICATION, ServiceKind.XMLRPC_APPLICATION)


ProtocolFactory = Callable[[ServiceConfig], Union[StreamProtocol, DatagramProtocol]]
ApplicationFactory = Callable[[ServiceConfig], WsgiApplication]


class ServiceOptionError(ValueError):
    """An option value that cannot be used; the message says which and why."""


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"must be zero or more, got {text}")
    return value


def parse_flag(text: str) -> bool:
    """A flag's value: ``yes``/``true``/``1`` or ``no``/``false``/``0`` (a pytest flag passes none)."""
    lowered = text.strip().lower()
    if lowered in ("yes", "true", "1", "on"):
        return True
    if lowered in ("no", "false", "0", "off"):
        return False
    raise ValueError(f"must be yes or no, got {text}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be a whole number of at least 1, got {text}")
    return value


@dataclass(frozen=True)
class ServiceOption:
    """One typed option of a service.

    Attributes:
        name: the option's name, ``lower-case-with-dashes``: ``wirecheck serve --option
            NAME=VALUE`` for a server option, ``pytest --NAME VALUE`` for a checker option.
        parse: turns the command-line text into the value (raises ValueError when invalid).
        default: the value when the option is not given.
        help: one line for ``--help``.
        for_server: the reference server reads it (``wirecheck serve --option``).
        for_checks: the suite's checkers read it (a pytest option of the same name).
        secret: never printed or logged (a shared key). A secret option that is both
            ``for_server`` and ``for_checks`` is given a fresh random value per pytest run
            for the reference servers and their checks (``harness.pytest_plugin``).
        required: the server cannot start without it (``server_config`` refuses).
        secret: never printed or logged (a shared key).
        flag: a checker option given without a value (``pytest --NAME`` sets it True);
            its ``default`` is False.
    """

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    for_server: bool = False
    for_checks: bool = False
    secret: bool = False
    required: bool = False
    flag: bool = False

    @property
    def attribute(self) -> str:
        """The option's name as a Python identifier (pytest's ``config.getoption`` key)."""
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class Service:
    """A named service: what it speaks, what it can be told, and how it is loaded.

    Attributes:
        name: the contract name, e.g. the RFC 862 TCP echo's.
        kind: byte stream, datagram or WSGI application.
        protocol_factory: makes a fresh protocol object from the service's configuration
            (None for a WSGI application: see :meth:`connection_factory`).
        spec: where the normative text lives (an RFC, or a SPEC.md under suites/).
        summary: one line for ``wirecheck list --table``.
        options: the service's typed options.
        load_profile: how ``wirecheck compare`` loads it, or None when it has no locust user.
        application_factory: for a WSGI application, makes it from the configuration.
        modules: the service family's own modules (paths from the repository root): with
            this registry, the only modules that may name the service
            (tests/test_service_names.py holds every other module to that).
    """

    name: str
    kind: ServiceKind
    protocol_factory: ProtocolFactory | None
    spec: str
    summary: str
    options: tuple[ServiceOption, ...] = ()
    load_profile: LoadProfile | None = None
    application_factory: ApplicationFactory | None = None
    modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind.is_wsgi_application and self.application_factory is None:
            raise ValueError(f"service {self.name}: a WSGI application needs an application_factory")
        if not self.kind.is_wsgi_application and self.protocol_factory is None:
            raise ValueError(f"service {self.name}: a protocol_factory is required")

    def connection_factory(self, config: ServiceConfig) -> Callable[[], Union[StreamProtocol, DatagramProtocol]]:
        """What a stream or datagram runner is handed: fresh protocols for one server.

        A WSGI application is made once here, in the serving process before any runner
        forks, and shared by every connection's HTTP gateway: an application's state (the
        key-value store) belongs to the server, not to a connection.
        """
        if self.kind.is_wsgi_application:
            assert self.application_factory is not None
            application = self.application_factory(config)
            return lambda: WsgiGatewayProtocol(application, config.clock)
        assert self.protocol_factory is not None
        return functools.partial(self.protocol_factory, config)

    @property
    def transport(self) -> str:
        return self.kind.transport

    def option(self, name: str) -> ServiceOption:
        for option in self.options:
            if option.name == name:
                return option
        raise ServiceOptionError(f"service {self.name} has no option {name!r}{self._known_options()}")

    def server_config(self, given: Mapping[str, str] = {}, **config: Any) -> ServiceConfig:
        """The configuration of a reference server: ``given`` options parsed, the rest defaulted.

        Args:
            given: ``{name: text}`` from ``--option NAME=VALUE``.
            config: ``clock`` / ``random_bytes`` overrides for :class:`ServiceConfig`.

        Raises:
            ServiceOptionError: an unknown option, one the server does not read, or a value
                its parser refuses (the message names the option and the reason, never a
                secret's value).
        """
        values = {option.name: option.default for option in self.options if option.for_server}
        for name, text in given.items():
            option = self.option(name)
            if not option.for_server:
                raise ServiceOptionError(
                    f"option {name!r} of {self.name} is for the suite's checks (pytest --{name}), "
                    "not for the server"
                )
            values[name] = parse_option_value(option, text)
        missing = [o.name for o in self.options if o.for_server and o.required and o.name not in given]
        if missing:
            raise ServiceOptionError(
                f"service {self.name} needs --option {missing[0]}=VALUE"
                + (" (a shared secret: keep it out of logs)" if self.option(missing[0]).secret else "")
            )
        return ServiceConfig(options=values, **config)

    def _known_options(self) -> str:
        names = [option.name for option in self.options if option.for_server]
        return f"; its server options: {', '.join(names)}" if names else "; it takes no server options"


def option_environment_variable(option: ServiceOption) -> str:
    """Where a secret option's value is passed to a server: ``WIRECHECK_OPTION_AUTHKEY``.

    A command line is readable by every local user (``/proc/PID/cmdline``); a process's
    environment only by its own user. So secrets travel in the environment.
    """
    return "WIRECHECK_OPTION_" + option.attribute.upper()


class MissingSecretError(LookupError):
    """A client needs a secret option's value and its environment variable is not set."""


def secret_from_environment(option: ServiceOption) -> Any:
    """A secret option's value as a client reads it: from ``WIRECHECK_OPTION_<NAME>``, parsed.

    The load users of an authenticated service read the shared key here, the way ``wirecheck
    serve`` does, never from their command line (which every local user can read).

    Raises:
        MissingSecretError: the variable is not set (the message names it, never a value).
        ServiceOptionError: the value does not parse (the message hides it).
    """
    variable = option_environment_variable(option)
    text = os.environ.get(variable)
    if text is None:
        raise MissingSecretError(f"set {variable} to the server's {option.name} (it is read from the environment only)")
    return parse_option_value(option, text)


def parse_option_value(option: ServiceOption, text: str) -> Any:
    """``option.parse(text)``, with a message that names the option (and hides a secret)."""
    try:
        return option.parse(text)
    except ValueError as exc:
        shown = "(secret value)" if option.secret else repr(text)
        raise ServiceOptionError(f"option {option.name}={shown}: {exc}") from None


def parse_option_assignments(assignments: list[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` to a dict; a malformed or repeated one is a ServiceOptionError."""
    given: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise ServiceOptionError(f"--option {assignment.split('=')[0]!r}: expected KEY=VALUE")
        if name in given:
            raise ServiceOptionError(f"--option {name} is given twice")
        given[name] = value
    return given


def secret_text(text: str) -> bytes:
    """A shared key given as text: its UTF-8 bytes (at least 8 of them)."""
    value = text.encode("utf-8")
    if len(value) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes long")
    return value


# A key shorter than this is a typo or a placeholder, not a secret.
MIN_SECRET_BYTES = 8


# A shared key made for one run: 32 random bytes as 64 hex digits, text any key option accepts.
PER_RUN_SECRET_BYTES = 32


def fresh_secret_value() -> str:
    """A new random value for a per-run secret option (the suites' and compare's reference servers)."""
    return secrets.token_hex(PER_RUN_SECRET_BYTES)


def per_run_secret_options(service: Service) -> tuple[ServiceOption, ...]:
    """The options for which a reference server and the checks share a random per-run value."""
    return tuple(option for option in service.options if option.secret and option.for_server and option.for_checks)


# --- the options and load profiles of the services ------------------------------------------

CLOCK_TOLERANCE = ServiceOption(
    "clock-tolerance",
    non_negative_float,
    DEFAULT_CLOCK_TOLERANCE_S,
    "how far a time or daytime server's clock may be from ours, in seconds "
    f"(default {DEFAULT_CLOCK_TOLERANCE_S:g})",
    for_checks=True,
)

MAX_LINE = ServiceOption(
    "max-line-bytes",
    positive_int,
    MAX_LINE_BYTES,
    f"the longest line held before it is echoed in pieces (default {MAX_LINE_BYTES})",
    for_server=True,
)

AUTHKEY = ServiceOption(
    "authkey",
    secret_text,
    None,
    "the shared secret of the authenticated services (text, used as its UTF-8 bytes); "
    "reference servers get a random one per run",
    for_server=True,
    for_checks=True,
    secret=True,
    required=True,
)

MAX_MESSAGE = ServiceOption(
    "max-message-bytes",
    positive_int,
    MPCONN_MAX_MESSAGE_BYTES,
    f"the longest message mpconn-echo holds and echoes (default {MPCONN_MAX_MESSAGE_BYTES})",
    for_server=True,
)

CODEC = ServiceOption(
    "codec",
    parse_codec_name,
    DEFAULT_CODEC,
    f"how rpc-mpconn encodes calls: {' or '.join(CODEC_NAMES)} (default {DEFAULT_CODEC}, the safe option: "
    "decoding JSON runs no code); the suite's checks use the same codec, and the reference servers it "
    "launches are given it",
    for_server=True,
    for_checks=True,
)

LARGE_FRAMES = ServiceOption(
    "large",
    parse_flag,
    False,
    "also send frames past 2^31 and 2^32 bytes (array-tcp; about 13 GiB through the server, "
    "8 GiB of client memory at the peak)",
    for_checks=True,
    flag=True,
)

_ECHO_LOAD = "loadtests/echo_tcp.py"
_DATAGRAM_LOAD = "loadtests/datagram_udp.py"
_MPCONN_LOAD = "loadtests/mpconn_echo.py"
_AUTH_ECHO_LOAD = "loadtests/auth_echo_tcp.py"
_STREAM_TIMEOUTS = ("ReplyTimeoutError",)
_DATAGRAM_TIMEOUTS = ("DatagramLostError",)

# Each family's own modules: the protocol, its checks, its one client, its goals under load.
_ECHO_MODULES = (
    "harness/protocols/echo.py",
    "harness/checks/echo.py",
    "harness/clients/echo.py",
    "harness/goals/echo.py",
)
_REST_LOAD = "loadtests/rest_http.py"
_XMLRPC_KV_LOAD = "loadtests/xmlrpc_kv.py"
_HTTP_APP_MODULES = (
    "harness/apps/rest.py",
    "harness/checks/rest_http.py",
    "harness/clients/rest.py",
    "harness/goals/rest_http.py",
    _REST_LOAD,
)
_WSGI_PROBE_MODULES = ("harness/apps/wsgi_probe.py", "harness/checks/wsgi.py")
_XMLRPC_MODULES = (
    "harness/apps/xmlrpc_service.py",
    "harness/clients/xmlrpc.py",
    "harness/checks/xmlrpc.py",
    "harness/checks/xmlrpc_kv.py",
    "harness/checks/xmlrpc_hostile.py",
)
_XMLRPC_KV_MODULES = _XMLRPC_MODULES + (_XMLRPC_KV_LOAD,)
_TIMEKEEPING_MODULES = (
    "harness/protocols/timekeeping.py",
    "harness/checks/timekeeping.py",
    "harness/clients/timekeeping.py",
)


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Service(
            "echo-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: EchoProtocol(),
            "RFC 862",
            "every byte sent back, in order",
            load_profile=LoadProfile(
                _ECHO_LOAD,
                "EchoTcpUser",
                "tcp-echo",
                _STREAM_TIMEOUTS,
                requester="harness.clients.echo:stream_echo_requester",
                goals="harness.goals.echo:evaluate_goals",
            ),
            modules=_ECHO_MODULES + (_ECHO_LOAD, "harness/core_benchmark.py"),
        ),
        Service(
            "line-echo-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: LineEchoProtocol(config.options[MAX_LINE.name]),
            "suites/line_echo_tcp/SPEC.md",
            "each line sent back once its LF arrives",
            options=(MAX_LINE,),
            load_profile=LoadProfile(
                _ECHO_LOAD,
                "LineEchoTcpUser",
                "tcp-line-echo",
                _STREAM_TIMEOUTS,
                requester="harness.clients.echo:line_echo_requester",
            ),
            modules=_ECHO_MODULES + (_ECHO_LOAD,),
        ),
        Service(
            "echo-udp",
            ServiceKind.DATAGRAM,
            lambda config: EchoDatagramProtocol(),
            "RFC 862",
            "every datagram sent back",
            load_profile=LoadProfile(
                _DATAGRAM_LOAD,
                "EchoUdpUser",
                "udp-echo",
                _DATAGRAM_TIMEOUTS,
                requester="harness.clients.echo:datagram_echo_requester",
            ),
            modules=_ECHO_MODULES + (_DATAGRAM_LOAD,),
        ),
        Service(
            "daytime-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: DaytimeStreamProtocol(config.clock),
            "RFC 867",
            "date and time in ASCII, then close",
            options=(CLOCK_TOLERANCE,),
            modules=_TIMEKEEPING_MODULES,
        ),
        Service(
            "daytime-udp",
            ServiceKind.DATAGRAM,
            lambda config: DaytimeDatagramProtocol(config.clock),
            "RFC 867",
            "date and time in ASCII",
            options=(CLOCK_TOLERANCE,),
            modules=_TIMEKEEPING_MODULES,
        ),
        Service(
            "time-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: TimeStreamProtocol(config.clock),
            "RFC 868",
            "32-bit seconds since 1900, then close",
            options=(CLOCK_TOLERANCE,),
            modules=_TIMEKEEPING_MODULES,
        ),
        Service(
            "time-udp",
            ServiceKind.DATAGRAM,
            lambda config: TimeDatagramProtocol(config.clock),
            "RFC 868",
            "32-bit seconds since 1900",
            options=(CLOCK_TOLERANCE,),
            load_profile=LoadProfile(
                _DATAGRAM_LOAD,
                "TimeUdpUser",
                "udp-time",
                _DATAGRAM_TIMEOUTS,
                requester="harness.clients.timekeeping:time_datagram_requester",
            ),
            modules=_TIMEKEEPING_MODULES + (_DATAGRAM_LOAD,),
        ),
        Service(
            "ctime-udp",
            ServiceKind.DATAGRAM,
            lambda config: CtimeDatagramProtocol(config.clock),
            "suites/ctime_udp/SPEC.md",
            "the chapter's server: time.ctime() in ASCII",
            options=(CLOCK_TOLERANCE,),
            modules=_TIMEKEEPING_MODULES,
        ),
        Service(
            "rest-http",
            ServiceKind.WSGI_APPLICATION,
            None,
            "suites/rest_http/SPEC.md",
            "the chapter's REST interface: /hello and /localtime over HTTP/1.1",
            options=(CLOCK_TOLERANCE,),
            application_factory=lambda config: RestApplication(config.clock),
            load_profile=LoadProfile(
                _REST_LOAD,
                "RestHelloUser",
                "GET",  # FastHttpUser reports each request under its method
                ("TimeoutError",),
                requester="harness.clients.rest:hello_requester",
                goals="harness.goals.rest_http:evaluate_goals",
                external_targets=("gunicorn-sync", "gunicorn-gthread", "waitress", "uwsgi"),
                external_application="harness.apps.rest:application",
                wrk_target="/hello?name=wrk",
            ),
            modules=_HTTP_APP_MODULES,
        ),
        Service(
            "wsgi",
            ServiceKind.WSGI_APPLICATION,
            None,
            "PEP 3333",
            "a probe application reporting what the WSGI server handed it",
            application_factory=lambda config: wsgi_probe.application,
            modules=_WSGI_PROBE_MODULES,
        ),
        Service(
            "xmlrpc-kv",
            ServiceKind.XMLRPC_APPLICATION,
            None,
            "suites/xmlrpc_kv/SPEC.md",
            "the chapter's KeyValueServer over XML-RPC: set, get, delete, exists, keys",
            application_factory=lambda config: xmlrpc_service.key_value_application(),
            load_profile=LoadProfile(
                _XMLRPC_KV_LOAD,
                "KeyValueUser",
                "xmlrpc-call",
                _STREAM_TIMEOUTS,
                requester="harness.clients.xmlrpc:key_value_requester",
                external_targets=("twisted-kv",),
                external_application="harness.apps.xmlrpc_service:KeyValueStore()",
            ),
            modules=_XMLRPC_KV_MODULES,
        ),
        Service(
            "xmlrpc-validator1",
            ServiceKind.XMLRPC_APPLICATION,
            None,
            "XML-RPC specification; UserLand validator1",
            "the eight validator1 methods every XML-RPC implementation was checked against",
            application_factory=lambda config: xmlrpc_service.validator1_application(),
            modules=_XMLRPC_MODULES,
        ),
        Service(
            "mpconn-echo",
            ServiceKind.BYTE_STREAM,
            lambda config: MultiprocessingEchoProtocol(
                config.options[AUTHKEY.name],
                config.random_bytes,
                max_message_bytes=config.options[MAX_MESSAGE.name],
            ),
            "suites/mpconn_echo/SPEC.md",
            "a multiprocessing.connection Listener: mutual HMAC challenge, then each message sent back",
            options=(AUTHKEY, MAX_MESSAGE),
            load_profile=LoadProfile(
                _MPCONN_LOAD,
                "MpconnEchoUser",
                "mpconn-echo",
                _STREAM_TIMEOUTS,
                requester="harness.clients.mpconn:mpconn_echo_requester",
            ),
            modules=(
                "harness/protocols/mpconn.py",
                "harness/checks/mpconn.py",
                "harness/clients/mpconn.py",
                "harness/interop.py",
                _MPCONN_LOAD,
            ),
        ),
        Service(
            "auth-echo-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: AuthEchoProtocol(config.options[AUTHKEY.name], config.random_bytes),
            "suites/auth_echo_tcp/SPEC.md",
            "a fresh 32-byte challenge, HMAC-SHA256 answer checked in constant time, then echo",
            options=(AUTHKEY,),
            load_profile=LoadProfile(
                _AUTH_ECHO_LOAD,
                "AuthEchoTcpUser",
                "auth-echo",
                _STREAM_TIMEOUTS,
                requester="harness.clients.auth_echo:auth_echo_requester",
            ),
            modules=(
                "harness/protocols/auth_echo.py",
                "harness/checks/auth_echo.py",
                "harness/clients/auth_echo.py",
                _AUTH_ECHO_LOAD,
            ),
        ),
        Service(
            "rpc-mpconn",
            ServiceKind.BYTE_STREAM,
            lambda config: rpc_listener(config.options[AUTHKEY.name], config.random_bytes, config.options[CODEC.name]),
            "suites/rpc_mpconn/SPEC.md",
            "the Cookbook's RPCHandler: (name, args, kwargs) over an authenticated multiprocessing.connection, "
            "a result or a typed exception back",
            options=(AUTHKEY, CODEC),
            modules=("harness/protocols/rpc.py", "harness/checks/rpc.py"),
        ),
        Service(
            "array-tcp",
            ServiceKind.BYTE_STREAM,
            lambda config: ArrayRelayProtocol(),
            "suites/array_tcp/SPEC.md",
            "the chapter's large arrays: every frame (dtype, shape, length, bytes) returned unchanged",
            options=(LARGE_FRAMES,),
            modules=("harness/protocols/arrays.py", "harness/checks/arrays.py", "harness/clients/arrays.py", "harness/bulk.py"),
        ),
    )
}


class UnknownServiceError(LookupError):
    """The caller named a service that is not in the registry."""


def get_service(name: str) -> Service:
    """Look a service up by its contract name.

    Raises:
        UnknownServiceError: with the list of known names, for a clear CLI message.
    """
    try:
        return SERVICES[name]
    except KeyError:
        known = ", ".join(sorted(SERVICES))
        raise UnknownServiceError(f"unknown service {name!r}; known services: {known}") from None


def checker_options() -> dict[str, ServiceOption]:
    """Every option the suites' checkers read, by name, once each (shared names must agree).

    Raises:
        ValueError: two services declare one name with different meanings.
    """
    options: dict[str, ServiceOption] = {}
    for service in SERVICES.values():
        for option in service.options:
            if not option.for_checks:
                continue
            known = options.setdefault(option.name, option)
            if known != option:
                raise ValueError(f"services declare option {option.name!r} twice, differently")
    return options
