"""Case declaration and target selection: which case runs against which server.

A **case** is one requirement checked one way. It is declared on a pytest test function::

    @case("echo-tcp/862/1", level=MUST, requirement='RFC 862: "Once a connection …"',
          expected="b'hello\\r\\n' comes back byte-exact")
    def test_small_payload_is_echoed(endpoint: Endpoint) -> None:
        check_small_payload_echoed(endpoint)

Case IDs are explicit and stable, ``<service>/<spec-section>/<n>`` (a contract: scripts
compare results across runs by ID), never derived from a position in a file. The
requirement is quoted verbatim from the RFC, or from the suite's SPEC.md where the RFC is
silent. A level may depend on the runner: "20 clients at once are served" is a SHOULD of an
echo server, but the one-at-a-time runners ``raw`` and ``single`` cannot meet it by design,
so for them it is INFO (observed, not judged).

A **target** is where a service's cases are run: a reference server (``runner:raw``,
launched by the pytest plugin) or a running server named with ``--target
echo-tcp=127.0.0.1:7`` (or a fleet of them: ``--target echo-tcp=127.0.0.8/29:7`` is one target
per host of the network, each judged and reported on its own); either may speak TLS
(``--tls`` launches reference servers with ``--tls``, ``--target echo-tcp=tls://127.0.0.1:7``
names a TLS server), and every stream case then runs over TLS unchanged. Cases about TLS
itself are declared ``tls_only`` and run only against TLS targets; a case that judges the certificate is declared
``needs_verified_certificate`` and is not run when verification is off (``--tls-insecure``).
TLS carries byte streams only, so under ``--tls`` datagram services have no target. Only loopback addresses are ever targets (../shared/DESIGN.md:
"Only loopback addresses (127.0.0.0/8, ::1) are ever targets of tests and load runs").
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, TypeVar

from harness.hosts import NetworkError, fleet_hosts
from harness.runners import RUNNERS, STREAM, one_client_at_a_time_runners, runners_for
from harness.services import SERVICES
from harness.verdicts import Level

CASE_ID_PATTERN = re.compile(
    r"^(?P<service>[a-z0-9]+(?:-[a-z0-9]+)*)/(?P<section>[a-z0-9][a-z0-9.-]*)/(?P<number>[1-9][0-9]*)$"
)

# The attribute the decorator sets on a test function; the pytest plugin reads it.
CASE_ATTRIBUTE = "wirecheck_case"

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class CaseSpec:
    """A declared case.

    Attributes:
        case_id: ``<service>/<spec-section>/<n>``.
        level: the level for every target not named in ``level_for_runner``.
        requirement: the requirement, quoted verbatim (with its source).
        expected: what passing looks like, in words (the results' ``expected`` when OK).
        level_for_runner: per-runner overrides, e.g. ``{"raw": INFO}``.
        tls_only: the case is about TLS itself and runs only against TLS targets.
        needs_verified_certificate: the case judges the certificate, so it runs only when
            the client verifies it (not under ``--tls-insecure``).
        plaintext_only: the case's client cannot speak TLS (a stdlib client of a protocol with
            no TLS of its own), so it runs only against plaintext targets.
    """

    case_id: str
    level: Level
    requirement: str
    expected: str
    level_for_runner: Mapping[str, Level] = field(default_factory=dict)
    tls_only: bool = False
    needs_verified_certificate: bool = False
    plaintext_only: bool = False

    def applies_to(self, target: "Target", *, certificate_verified: bool) -> bool:
        """Whether this case runs against ``target`` (TLS cases need a TLS target)."""
        if self.tls_only and not target.tls:
            return False
        if self.plaintext_only and target.tls:
            return False
        return certificate_verified or not self.needs_verified_certificate

    @property
    def service(self) -> str:
        return self.case_id.split("/", 1)[0]

    @property
    def section(self) -> str:
        return self.case_id.split("/")[1]

    def level_for(self, runner: str | None) -> Level:
        """The level against a reference runner (``None``: a --target server)."""
        if runner is None:
            return self.level
        return self.level_for_runner.get(runner, self.level)


# Every case declared so far, by ID: a duplicate ID is a defect found at import time.
CASES: dict[str, CaseSpec] = {}
_CASE_OWNERS: dict[str, str] = {}


@contextlib.contextmanager
def separate_registry() -> Iterator[dict[str, CaseSpec]]:
    """Declare cases into an empty registry for the duration, then restore the real one.

    For the project's own tests, which declare throwaway cases or load suite files to
    inspect their declarations without clashing with the cases pytest collected.
    """
    saved_cases, saved_owners = dict(CASES), dict(_CASE_OWNERS)
    CASES.clear()
    _CASE_OWNERS.clear()
    try:
        yield CASES
    finally:
        CASES.clear()
        CASES.update(saved_cases)
        _CASE_OWNERS.clear()
        _CASE_OWNERS.update(saved_owners)


def validate_case_id(case_id: str) -> None:
    """Raise ValueError unless ``case_id`` is ``<known service>/<section>/<n>``."""
    match = CASE_ID_PATTERN.match(case_id)
    if match is None:
        raise ValueError(
            f"case ID {case_id!r} is not <service>/<spec-section>/<n> "
            "(lower case, sections like 862 or concurrency, n from 1)"
        )
    if match.group("service") not in SERVICES:
        raise ValueError(f"case ID {case_id!r} names unknown service {match.group('service')!r}")


def case(
    case_id: str,
    *,
    level: Level,
    requirement: str,
    expected: str,
    level_for_runner: Mapping[str, Level] | None = None,
    tls_only: bool = False,
    needs_verified_certificate: bool = False,
    plaintext_only: bool = False,
) -> Callable[[F], F]:
    """Declare a pytest test function as the conformance case ``case_id``.

    Args:
        case_id: ``<service>/<spec-section>/<n>``, unique across the suites.
        level: MUST, SHOULD or INFO.
        requirement: the requirement quoted verbatim, with its source.
        expected: what passing looks like, in words.
        level_for_runner: levels that differ for some reference runners.
        tls_only: run only against TLS targets (a case about TLS itself).
        needs_verified_certificate: run only when the certificate is verified.
        plaintext_only: run only against plaintext targets (the case's client has no TLS).

    Returns:
        A decorator that registers the case and returns the function unchanged but for the
        :data:`CASE_ATTRIBUTE` attribute. The function must take an ``endpoint`` argument.

    Raises:
        ValueError: a malformed or duplicate ID, an unknown runner in the overrides, an
            empty requirement.
    """
    validate_case_id(case_id)
    overrides = dict(level_for_runner or {})
    unknown = sorted(set(overrides) - set(RUNNERS))
    if unknown:
        raise ValueError(f"case {case_id}: level_for_runner names unknown runners {unknown}")
    if not requirement.strip():
        raise ValueError(f"case {case_id}: the requirement must be quoted")
    spec = CaseSpec(
        case_id,
        Level(level),
        requirement,
        expected,
        overrides,
        tls_only=tls_only or needs_verified_certificate,
        needs_verified_certificate=needs_verified_certificate,
        plaintext_only=plaintext_only,
    )

    def register(function: F) -> F:
        owner = f"{function.__module__}.{function.__qualname__}"
        if _CASE_OWNERS.get(case_id, owner) != owner:
            raise ValueError(f"duplicate case ID {case_id}: {_CASE_OWNERS[case_id]} and {owner}")
        CASES[case_id] = spec
        _CASE_OWNERS[case_id] = owner
        setattr(function, CASE_ATTRIBUTE, spec)
        return function

    return register


def on_one_client_at_a_time_runners(level: Level) -> dict[str, Level]:
    """``level_for_runner`` for the runners that serve one client at a time by design (their
    registry traits say so): concurrency cannot be asked of them, only observed."""
    return {name: level for name in sorted(one_client_at_a_time_runners())}


def case_of(function: object) -> CaseSpec | None:
    """The case a test function declares, or None for an ordinary test."""
    return getattr(function, CASE_ATTRIBUTE, None)


# --- targets ---------------------------------------------------------------------------


class TargetOptionError(ValueError):
    """A --target/--service/--runner value that cannot be used; the message says why."""


@dataclass(frozen=True)
class Target:
    """Where one service's cases run.

    Attributes:
        service: the service name.
        runner: the reference runner to launch, or None for a running server.
        host: the running server's host (None for a reference runner).
        port: the running server's port (None for a reference runner).
        tls: the server speaks TLS (a reference server launched with ``--tls``, or a
            ``tls://`` target).
    """

    service: str
    runner: str | None = None
    host: str | None = None
    port: int | None = None
    tls: bool = False

    @property
    def name(self) -> str:
        """``runner:threading``, ``runner:uvloop+tls``, ``127.0.0.1:7``, ``[::1]:7`` or
        ``tls://127.0.0.1:7``: the results' ``target``."""
        if self.runner is not None:
            return f"runner:{self.runner}" + ("+tls" if self.tls else "")
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return ("tls://" if self.tls else "") + f"{host}:{self.port}"

    @property
    def test_id(self) -> str:
        """The name as it appears in a pytest test ID.

        pytest separates node ID parts with ``::``, so an IPv6 host is written without the
        ``::`` abbreviation (``[0:0:0:0:0:0:0:1]:7``).
        """
        if self.host and ":" in self.host:
            groups = ipaddress.ip_address(self.host).exploded.split(":")
            full = ":".join(str(int(group, 16)) for group in groups)
            return ("tls://" if self.tls else "") + f"[{full}]:{self.port}"
        return self.name

    @property
    def group(self) -> str:
        """One server, as an xdist group name: ``echo-tcp.runner-raw``, ``echo-tcp.127.0.0.1-7``.

        pytest-xdist's loadgroup appends ``@<group>`` to node IDs and splits at the last
        ``@`` after the last ``]``, so a group name may contain neither.
        """
        return re.sub(r"[@\[\]:/\s]+", "-", f"{self.service}.{self.name}")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (literals only; no DNS is consulted)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The scheme that makes a --target a TLS server.
TLS_SCHEME = "tls://"


def parse_target_option(text: str) -> Target:
    """Parse ``NAME=HOST:PORT`` (``NAME=[::1]:PORT`` for IPv6; ``NAME=tls://HOST:PORT`` for TLS).

    One server; :func:`parse_target_fleet` also takes a network (``NAME=127.0.0.8/29:PORT``).

    Raises:
        TargetOptionError: as :func:`parse_target_fleet`, or a network where one host was asked.
    """
    address = text.partition("=")[2]
    if "/" in address.removeprefix(TLS_SCHEME):
        raise TargetOptionError(f"--target {text!r}: expected one HOST:PORT, got a network")
    (target,) = parse_target_fleet(text)
    return target


def parse_target_fleet(text: str) -> list[Target]:
    """Parse ``NAME=HOST:PORT`` or ``NAME=NETWORK:PORT`` into one target per host.

    Forms: ``echo-tcp=127.0.0.1:7``, ``echo-tcp=[::1]:7``, ``echo-tcp=tls://127.0.0.1:7``,
    and a loopback network in CIDR form, ``echo-tcp=127.0.0.8/29:7007`` or
    ``echo-tcp=[::1]/128:7007`` (``tls://`` too): every host of it on that port, each its own
    target, named by its ``host:port`` in the results. Which addresses are hosts is
    ipaddress's ``hosts()`` rule (:func:`harness.hosts.host_range`): a /29 is its 6 hosts
    (``127.0.0.9`` to ``127.0.0.14``; the network and broadcast addresses are no host's), a
    /31 or /32 (/127, /128) every address in it: a /31 has no room for a network and a
    broadcast address, its two addresses are the two ends of a link (RFC 3021), and a /32
    is one host, so a network that small is taken to name exactly the servers meant. A
    network must be wholly loopback and have at most :data:`harness.hosts.MAX_FLEET_HOSTS`
    hosts; both are checked here, before anything is sent.

    Raises:
        TargetOptionError: unknown service, malformed address, a port outside 1–65535, a
            host or network that is not loopback (this project never targets anything else),
            a network too large or with host bits set, or TLS for a datagram service.
    """
    name, equals, address = text.partition("=")
    tls = address.startswith(TLS_SCHEME)
    if tls:
        address = address[len(TLS_SCHEME) :]
    if not equals or not name or not address:
        raise TargetOptionError(f"--target {text!r}: expected NAME=HOST:PORT, e.g. echo-tcp=127.0.0.1:7")
    if name not in SERVICES:
        raise TargetOptionError(
            f"--target {text!r}: unknown service {name!r}; known services: {', '.join(SERVICES)}"
        )
    bracketed = re.fullmatch(r"\[([^\]/]+)\](/\d+)?:(\d+)", address)
    plain = re.fullmatch(r"([^:\[\]/]+)(/\d+)?:(\d+)", address)
    match = bracketed or plain
    if match is None:
        raise TargetOptionError(
            f"--target {text!r}: expected HOST:PORT, [IPv6]:PORT or a loopback network such as "
            f"127.0.0.8/29:PORT or [::1]/128:PORT after '=', got {address!r}"
        )
    host, prefix, port = match.group(1), match.group(2), int(match.group(3))
    if not 1 <= port <= 65535:
        raise TargetOptionError(f"--target {text!r}: port {port} is outside 1-65535")
    if tls and STREAM not in SERVICES[name].kind.carried_by:
        raise TargetOptionError(f"--target {text!r}: TLS carries byte streams; {name} is a datagram service")
    if prefix is None:
        hosts = [host]
        if not is_loopback_host(host):
            raise TargetOptionError(
                f"--target {text!r}: {host} is not a loopback address; wirecheck only targets "
                "127.0.0.0/8, ::1 and localhost"
            )
    else:
        try:
            hosts = fleet_hosts(host + prefix)
        except NetworkError as exc:
            raise TargetOptionError(f"--target {text!r}: {exc}") from None
    return [Target(name, host=member, port=port, tls=tls) for member in hosts]


def select_targets(
    *,
    services: Iterable[str] = (),
    runners: Iterable[str] = (),
    target_options: Iterable[str] = (),
    tls: bool = False,
) -> dict[str, list[Target]]:
    """Which targets each selected service's cases run against.

    Args:
        services: --service values; empty means every service.
        runners: --runner values; empty means every reference runner carrying the service
            (a runner judged as a finding, such as wsgiref, only when named).
        target_options: --target values. If any is given, only those services run, only
            against those servers (every host of a network), and nothing is launched.
        tls: reference servers are launched over TLS; services TLS cannot carry (datagram
            services) then have no target.

    Returns:
        ``{service: [Target…]}`` for every service that has at least one target.

    Raises:
        TargetOptionError: an unknown service or runner, or a bad --target.
    """
    services = list(dict.fromkeys(services))
    runners = list(dict.fromkeys(runners))
    for name in services:
        if name not in SERVICES:
            raise TargetOptionError(f"--service {name!r}: unknown; known services: {', '.join(SERVICES)}")
    for name in runners:
        if name not in RUNNERS:
            raise TargetOptionError(f"--runner {name!r}: unknown; known runners: {', '.join(RUNNERS)}")
    wanted = set(services or SERVICES)
    selected: dict[str, list[Target]] = {}
    explicit = [target for text in target_options for target in parse_target_fleet(text)]
    if explicit:
        for target in explicit:
            if target.service in wanted and target not in selected.get(target.service, []):
                selected.setdefault(target.service, []).append(target)
        return selected
    for name, service in SERVICES.items():
        # TLS is a layer over byte streams: under --tls a service is served by stream runners
        # only (a WSGI application through the HTTP gateway; not by the stdlib servers).
        kinds = (STREAM,) if tls else service.kind.carried_by
        if name not in wanted or (tls and STREAM not in service.kind.carried_by):
            continue
        carried = [
            runner
            for runner in runners_for(*kinds)
            if (runner in runners if runners else RUNNERS[runner].reference)
        ]
        if carried:
            selected[name] = [Target(name, runner=runner, tls=tls) for runner in carried]
    return selected
