"""The pytest layer of the suites: options, endpoints, verdicts, the results file.

Loaded by the repository's root ``conftest.py``. It only supplies endpoints and turns
outcomes into verdicts; what a case checks lives in ``harness.checks`` (usable without
pytest), and which level and requirement a case has lives in its ``@case`` declaration
(``harness.cases``).

Options (a contract, ../shared/DESIGN.md): ``--service NAME`` and ``--runner NAME``
(repeatable) restrict which services run and which reference runners are launched;
``--target NAME=HOST:PORT`` (repeatable, loopback only) runs that service's cases against a
running server and launches nothing; ``--case-timeout SECONDS`` is each case's whole budget
(default 30); ``--results FILE.json`` writes one record per case, and with it where the results
came from (``--label NAME`` and ``--label-version VERSION`` name the implementation judged;
:mod:`harness.provenance` adds the suite, the machine and the date). TLS: ``--tls`` launches the
reference servers with ``wirecheck serve --tls``, each pytest process giving its servers a
certificate from one throw-away authority of its own (``--cert/--key``) and trusting that
authority's CA; ``--target NAME=tls://HOST:PORT`` names a running TLS server, verified against
``--tls-ca FILE`` (default: the system's CAs) or not at all with ``--tls-insecure``. Stream
cases run unchanged over TLS; datagram services are deselected under ``--tls``; cases about
TLS itself run only against TLS targets. A ``--target`` may name a loopback network
(``NAME=127.0.0.8/29:PORT``): each of its hosts is a target of its own (harness/hosts.py says
which addresses are hosts). ``--progress auto|always|never`` and ``--progress-every SECONDS``
control the line that names a long-running case (harness/pytest_progress.py). ``--strict`` (SHOULD
failures count toward the exit status) is pytest's own flag — pytest 9 owns the name (it
also turns on strict markers, xfail and parametrization IDs, all of which the suites
satisfy) — so it is read here, not registered.

Theory of operation:

- *Parametrization.* Each ``@case`` function is parametrized over the targets of its service
  (``pytest_generate_tests``), with IDs ``<case-id>@<target>`` — e.g.
  ``test_small_payload_is_echoed[echo-tcp/862/1@runner:raw]`` — never positional. Cases of
  services with no target (``--service``/``--target`` excluded them) are deselected.
- *Endpoints.* The ``endpoint`` fixture gives a case its server's address and a fresh
  :class:`~harness.checks.Deadline` of ``--case-timeout`` seconds. Reference servers are
  launched lazily, once per process, by a session-scoped pool, and stopped at session end.
  A launch failure (including a runner whose optional dependency is missing) is ERROR for
  each of that server's cases, with the server's stderr in the message; it is never a skip.
- *pytest-xdist.* Each case is marked ``xdist_group(<service>@<target>)`` and, when ``-n`` is
  given without ``--dist``, the distribution mode defaults to ``loadgroup``: all cases of one
  server run on one worker, so each server is launched once in the whole run, not once per
  worker; different servers run in parallel. (Plain ``load`` would also work, at the cost
  of every worker launching every server.) Verdicts are computed on the worker and carried
  to the controller as an extra report attribute (``report.wirecheck``; pytest serialises a
  report's extra attributes), where the results file is written once.
- *Nothing listening.* Each ``--target`` is probed once before collection
  (harness/pytest_reachability.py): where nothing listens, its cases are deselected and one
  item reports one ERROR ("connection refused at 127.0.0.1:1"), so a setup mistake reads as
  one line, not as a column of FAILED cases blamed on an absent server.
- *Verdicts.* ``pytest_runtest_makereport`` maps (level, exception) to a verdict
  (:func:`harness.verdicts.verdict_for`) and sets the report's outcome so that pytest's
  exit status is the contract's: 0 iff no MUST case FAILED, nothing ERRORed, and, with
  ``--strict``, nothing was NON-STRICT. The terminal shows the verdict word per case and a
  closing line of verdict counts.
- *Runs that end.* Every wait of a case is bounded by its budget; the run as a whole is
  bounded per target by the hostility budget (``--hostile-budget``, default 15 s;
  :mod:`harness.hostility`): once the cases a target failed (or kept waiting their whole
  budget) have taken that long in all, its remaining cases fail at once without being run
  (``pytest_pyfunc_call``), their actual naming the costliest. A slow but correct target is
  not hostile: a case whose budget ran out while complete replies were arriving at a usable
  pace is ERROR with the pace measured (:class:`~harness.verdicts.TargetTooSlow`,
  :mod:`harness.checks.pace`), and does not count.
"""

from __future__ import annotations

import argparse
import functools
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from harness.cases import CaseSpec, Target, TargetOptionError, case_of, select_targets
from harness.checks import Deadline, Endpoint
from harness.checks.properties import load_profile
from harness.provenance import LabelError, check_label, provenance
from harness.hostility import DEFAULT_HOSTILE_BUDGET_S, CutShort, HostilityLedger
from harness.launch import LaunchError, RunningServer, launch_server
from harness.pytest_progress import ProgressLine, add_progress_options
from harness.pytest_reachability import TargetReachability
from harness.suite_files import SuitesNotFoundError, suites_directory
from harness.services import (
    ServiceOption,
    ServiceOptionError,
    checker_options,
    fresh_secret_value,
    get_service,
    parse_option_value,
    per_run_secret_options,
)
from harness.tls_setup import ThrowawayAuthority, TlsSetupError, client_tls_context
from harness.verdicts import (
    CaseRecord,
    ConformanceFailure,
    HarnessError,
    TargetTooSlow,
    Verdict,
    case_sort_key,
    counts_as_failure,
    results_document,
    summary_line,
    utc_timestamp,
    verdict_counts,
    verdict_for,
)

# Long enough for the slowest case (16 MiB through a process-per-connection server on a
# loaded 2-core machine), short enough that a silent target costs minutes, not hours.
DEFAULT_CASE_TIMEOUT_S = 30.0

# The argument name a case function is parametrized over.
TARGET_ARGUMENT = "wirecheck_target"


@dataclass
class WirecheckRun:
    """What the plugin knows for one pytest process (controller or worker)."""

    targets: dict[str, list[Target]]
    case_timeout: float
    strict: bool
    results_path: Path | None
    tls_ca: str | None = None
    tls_insecure: bool = False
    label: str | None = None
    label_version: str | None = None
    started: str = field(default_factory=utc_timestamp)
    # option name -> a random value for this process's reference servers and their checks
    per_run_secrets: dict[str, str] = field(default_factory=dict)
    # nodeid -> record; filled on whichever process sees the reports (the controller)
    records: dict[str, CaseRecord] = field(default_factory=dict)
    # per target, the time its costly cases took; filled where the cases run (a worker)
    hostility: HostilityLedger = field(default_factory=HostilityLedger)


RUN_KEY = pytest.StashKey[WirecheckRun]()
OBSERVATION_KEY = pytest.StashKey[str]()
DEADLINE_KEY = pytest.StashKey[Deadline]()


# --- options ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wirecheck", "wirecheck conformance suites")
    group.addoption(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this service's cases (repeatable)",
    )
    group.addoption(
        "--runner",
        action="append",
        default=[],
        metavar="NAME",
        help="launch only these reference runners (repeatable)",
    )
    group.addoption(
        "--target",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="run service NAME's cases against a running server at HOST:PORT (loopback only; "
        "[::1]:PORT for IPv6; tls://HOST:PORT for TLS; a loopback network such as 127.0.0.8/29:PORT "
        "or [::1]/128:PORT for each of its hosts); repeatable; launches nothing",
    )
    group.addoption(
        "--tls",
        action="store_true",
        default=False,
        help="launch the reference servers over TLS (a throw-away certificate per pytest process); "
        "datagram services are deselected",
    )
    group.addoption(
        "--tls-ca",
        default=None,
        metavar="FILE",
        help="verify tls:// targets' certificates against this CA file (default: the system's CAs)",
    )
    group.addoption(
        "--tls-insecure",
        action="store_true",
        default=False,
        help="do not verify tls:// targets' certificates (cases that judge the certificate are deselected)",
    )
    group.addoption(
        "--case",
        action="append",
        default=[],
        metavar="ID",
        help="run only this case (an ID, SERVICE/SECTION/N, or a prefix ending in '/', SERVICE/SECTION/); "
        "repeatable; `wirecheck cases` lists the IDs",
    )
    group.addoption(
        "--case-timeout",
        type=float,
        default=DEFAULT_CASE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"each case's whole time budget (default {DEFAULT_CASE_TIMEOUT_S:g})",
    )
    group.addoption(
        "--hostile-budget",
        type=float,
        default=DEFAULT_HOSTILE_BUDGET_S,
        metavar="SECONDS",
        help="once the cases a target failed (or kept waiting their whole budget) have taken this long "
        f"in all, its remaining cases fail at once without being run (default {DEFAULT_HOSTILE_BUDGET_S:g})",
    )
    for option in checker_options().values():
        if option.flag:
            group.addoption(f"--{option.name}", dest=option.attribute, action="store_true", help=option.help)
            continue
        group.addoption(
            f"--{option.name}",
            dest=option.attribute,
            type=_option_parser(option),
            default=option.default,
            metavar="VALUE",
            help=option.help,
        )
    add_progress_options(group)  # --progress, --progress-every (harness/pytest_progress.py)
    group.addoption(
        "--results",
        default=None,
        metavar="FILE.json",
        help="write every case's verdict to this JSON file",
    )
    group.addoption(
        "--label",
        default=None,
        metavar="NAME",
        help="the judged implementation's name, written into the results file (wirecheck report's column)",
    )
    group.addoption(
        "--label-version",
        default=None,
        metavar="VERSION",
        help="the judged implementation's version, written into the results file beside --label",
    )


def _option_parser(option: ServiceOption) -> Callable[[str], Any]:
    """argparse's ``type`` for a service option: its parser, with the option named on error."""

    def parse(text: str) -> Any:
        try:
            return parse_option_value(option, text)
        except ServiceOptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def strict_requested(config: pytest.Config) -> bool:
    """Whether ``--strict`` was given (pytest's flag; pytest 9 also has a ``strict`` ini)."""
    if config.getoption("strict", False):
        return True
    try:
        return bool(config.getini("strict"))
    except ValueError:  # pytest < 9: no such ini option
        return False


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Iterator[Any]:
    # `-n N` without `--dist`: group by server (see the module docstring). A wrapper, so that
    # it runs before xdist's own (tryfirst) hook whatever order the plugins were registered in
    # (installed, this one comes through an entry point, possibly before xdist), which would
    # otherwise turn "no" into "load" and spread one server's cases over the workers.
    if is_wirecheck_run(config):
        if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", None) == "no":
            config.option.dist = "loadgroup"
    return (yield)


# The options whose presence on the command line makes a run wirecheck's, wherever it runs.
WIRECHECK_RUN_OPTIONS = ("service", "runner", "target", "results", "label", "case", "tls")


def is_wirecheck_run(config: pytest.Config) -> bool:
    """Whether this pytest run is wirecheck's: in its checkout, on its suites, or with its options.

    Installed, this plugin is loaded into every pytest run of the environment (the ``pytest11``
    entry point), other projects' included. Its run-wide defaults — the hypothesis profile
    (ten derandomized examples) and ``-n`` grouping by server — are for wirecheck's suites and
    tests only: another project keeps its own hypothesis settings and xdist distribution.
    """
    if any(config.getoption(name, None) for name in WIRECHECK_RUN_OPTIONS):
        return True
    try:
        suites = suites_directory()
    except SuitesNotFoundError:
        return False
    if config.rootpath.resolve() == suites.parent:  # the checkout (or the installed package)
        return True
    for argument in config.args:
        if config.option.pyargs and argument.split("::")[0].startswith("harness.suites"):
            return True
        path = Path(argument.split("::")[0]).resolve()
        if path == suites or suites in path.parents:
            return True
    return False


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    # xdist workers re-parse the original command line, so they would not see the
    # loadgroup default chosen above; tell them (read in pytest_configure).
    node.workerinput["wirecheck_dist"] = node.config.option.dist


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run on the worker that runs this group")
    worker_input = getattr(config, "workerinput", None)
    if worker_input is not None and worker_input.get("wirecheck_dist") == "loadgroup":
        config.option.loadgroup = True  # read by xdist's worker when it collects
    try:
        targets = select_targets(
            services=config.getoption("service"),
            runners=config.getoption("runner"),
            target_options=config.getoption("target"),
            tls=config.getoption("tls"),
        )
    except TargetOptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    case_timeout = config.getoption("case_timeout")
    if not case_timeout > 0:
        raise pytest.UsageError(f"--case-timeout must be a positive number of seconds, got {case_timeout}")
    hostile_budget = config.getoption("hostile_budget")
    if not hostile_budget > 0:
        raise pytest.UsageError(f"--hostile-budget must be a positive number of seconds, got {hostile_budget}")
    results = config.getoption("results")
    tls_ca, tls_insecure = config.getoption("tls_ca"), config.getoption("tls_insecure")
    if tls_ca is not None and tls_insecure:
        raise pytest.UsageError("--tls-ca and --tls-insecure contradict each other: give one")
    if tls_ca is not None and not Path(tls_ca).is_file():
        raise pytest.UsageError(f"--tls-ca {tls_ca}: no such file")
    try:
        label = check_label(config.getoption("label"), "--label")
        label_version = check_label(config.getoption("label_version"), "--label-version")
    except LabelError as exc:
        raise pytest.UsageError(str(exc)) from None
    run = WirecheckRun(
        label=label,
        label_version=label_version,
        targets=targets,
        case_timeout=case_timeout,
        strict=strict_requested(config),
        results_path=Path(results) if results else None,
        per_run_secrets=_fresh_secrets(),
        tls_ca=tls_ca,
        tls_insecure=tls_insecure,
        hostility=HostilityLedger(hostile_budget),
    )
    config.stash[RUN_KEY] = run
    config.pluginmanager.register(ResultsCollector(config, run), "wirecheck-results")
    # A --target where nothing listens: one ERROR before any case (harness/pytest_reachability.py).
    config.pluginmanager.register(TargetReachability(config, targets, _target_of), "wirecheck-reachability")
    progress = ProgressLine.if_wanted(config)  # the line naming a long-running case
    if progress is not None:
        config.pluginmanager.register(progress, "wirecheck-progress")
    if is_wirecheck_run(config) and not config.getoption("hypothesis_profile", None):
        load_profile()  # $HYPOTHESIS_PROFILE, else ci


# --- collection ------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    spec = case_of(metafunc.function)
    if spec is None:
        return
    if "endpoint" not in metafunc.fixturenames:
        raise TypeError(
            f"case {spec.case_id} ({metafunc.function.__name__}) must take an 'endpoint' argument"
        )
    run = metafunc.config.stash[RUN_KEY]
    targets = [
        target
        for target in run.targets.get(spec.service, [])
        if spec.applies_to(target, certificate_verified=not (target.runner is None and run.tls_insecure))
    ]
    metafunc.parametrize(
        TARGET_ARGUMENT,
        [
            pytest.param(
                target,
                id=f"{spec.case_id}@{target.test_id}",
                marks=pytest.mark.xdist_group(target.group),
            )
            for target in targets
        ],
    )


def _case_and_target(item: pytest.Item) -> tuple[CaseSpec, Target] | tuple[None, None]:
    spec = case_of(getattr(item, "function", None))
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get(TARGET_ARGUMENT) if callspec is not None else None
    if spec is None or not isinstance(target, Target):
        return None, None
    return spec, target


def _target_of(item: pytest.Item) -> Target | None:
    """The target a case's item runs against; None for an item that is not a case."""
    return _case_and_target(item)[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A case with no target this run (its service excluded by --service/--target/--tls, or a
    # TLS case with no TLS target: an empty parametrization) is deselected, not skipped:
    # "not asked for" is not an outcome.
    # --case narrows the run to the named cases (an ID, or a prefix ending in "/").
    wanted = config.getoption("case") or []
    keep, drop = [], []
    for item in items:
        spec, _ = _case_and_target(item)
        is_case = case_of(getattr(item, "function", None)) is not None
        named = spec is None or not wanted or any(_names_case(pattern, spec.case_id) for pattern in wanted)
        (drop if is_case and (spec is None or not named) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _names_case(pattern: str, case_id: str) -> bool:
    return case_id == pattern or (pattern.endswith("/") and case_id.startswith(pattern))


# --- fixtures --------------------------------------------------------------------------


class ServerPool:
    """Reference servers of this process, launched on first use, stopped at the end.

    Args:
        launch: starts ``(service, runner)`` (TLS servers also get ``tls_files=(cert, key)``)
            and returns the running server, or raises :class:`~harness.launch.LaunchError`
            (default: :func:`harness.launch.launch_server`).

    A failed launch is remembered, so each of that server's cases fails fast with the same
    message instead of relaunching.

    Resource handling: the pool owns every server it launched; :meth:`stop_all` stops them.
    """

    def __init__(self, launch: Callable[..., RunningServer] = launch_server) -> None:
        self._launch = launch
        self._servers: dict[tuple[str, str, bool], RunningServer] = {}
        self._failures: dict[tuple[str, str, bool], str] = {}
        self._authority: ThrowawayAuthority | None = None
        self._client_contexts: dict[bool, ssl.SSLContext] = {}  # by "is a reference server"

    @property
    def authority(self) -> ThrowawayAuthority:
        """The throw-away authority whose certificates this process's TLS servers present
        (made on first use: plain runs never import trustme)."""
        if self._authority is None:
            self._authority = ThrowawayAuthority()
        return self._authority

    def address_of(self, target: Target) -> tuple[str, int]:
        """The (host, port) to check for ``target``, launching its server if needed.

        Raises:
            HarnessError: the reference server could not be launched.
        """
        if target.runner is None:
            assert target.host is not None and target.port is not None
            return target.host, target.port
        key = (target.service, target.runner, target.tls)
        if key in self._failures:
            raise HarnessError(self._failures[key])
        server = self._servers.get(key)
        if server is None:
            over_tls = " over TLS" if target.tls else ""
            try:
                if target.tls:
                    tls_files = (str(self.authority.cert_path), str(self.authority.key_path))
                    server = self._launch(target.service, target.runner, tls_files=tls_files)
                else:
                    server = self._launch(target.service, target.runner)
            except LaunchError as exc:
                self._failures[key] = f"could not launch {target.service} on runner {target.runner}{over_tls}: {exc}"
                raise HarnessError(self._failures[key]) from None
            self._servers[key] = server
        return server.host, server.port

    def reference_server(self, target: Target) -> RunningServer | None:
        """The launched server of ``target`` (launching it if needed), or None for a --target.

        For checks that read a server's processes (its memory from /proc): only a reference
        runner's processes are ours to read.

        Raises:
            HarnessError: the reference server could not be launched.
        """
        if target.runner is None:
            return None
        self.address_of(target)
        return self._servers[(target.service, target.runner, target.tls)]

    def client_tls_context(self, target: Target, run: WirecheckRun) -> ssl.SSLContext | None:
        """The client context for ``target``: None for plain TCP; this process's CA for a
        reference server; ``--tls-ca`` (or the system's CAs, or nothing with
        ``--tls-insecure``) for a ``tls://`` target.

        Raises:
            HarnessError: the CA file cannot be read.
        """
        if not target.tls:
            return None
        reference = target.runner is not None
        if reference not in self._client_contexts:
            try:
                if reference:
                    context = client_tls_context(str(self.authority.ca_path))
                else:
                    context = client_tls_context(run.tls_ca, insecure=run.tls_insecure)
            except TlsSetupError as exc:
                raise HarnessError(str(exc)) from None
            self._client_contexts[reference] = context
        return self._client_contexts[reference]

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()
        if self._authority is not None:
            self._authority.remove()
            self._authority = None


# --- per-run secrets --------------------------------------------------------------------
#
# A secret option that the server and the checks both read (a shared key) gets a fresh random
# value in each pytest process: reference servers are launched with it in their environment
# (``WIRECHECK_OPTION_NAME``, never on a command line) and the checks of those servers see the same value through ``service_options``. A
# ``--target`` server is checked with the value given on the command line instead (pytest
# ``--NAME``). The value is never printed: launch errors show it as ``(secret)``.

def _fresh_secrets() -> dict[str, str]:
    return {
        name: fresh_secret_value()
        for name, option in checker_options().items()
        if option.secret and option.for_server
    }


def launch_with_secrets(
    per_run_secrets: dict[str, str],
    service: str,
    runner: str,
    tls_files: tuple[str, str] | None = None,
    *,
    shared_options: dict[str, str] | None = None,
) -> RunningServer:
    """:func:`launch_server`, passing the service's per-run secret options (in its environment)
    and the options it shares with its checks as the command line gave them (``shared_options``:
    a server must speak what its checks expect, such as a codec)."""
    secret = {
        option.name: per_run_secrets[option.name]
        for option in per_run_secret_options(get_service(service))
        if option.name in per_run_secrets
    }
    own = {option.name for option in get_service(service).options if option.for_server}
    shared = {name: text for name, text in (shared_options or {}).items() if name in own and name not in secret}
    return launch_server(service, runner, options={**shared, **secret}, secret_options=tuple(secret), tls_files=tls_files)


def shared_option_texts(config: pytest.Config) -> dict[str, str]:
    """The non-secret options that both servers and checks read, where the command line changed
    them from their default: the reference servers are launched with the same value."""
    return {
        name: str(config.getoption(option.attribute))
        for name, option in checker_options().items()
        if option.for_server and not option.secret and config.getoption(option.attribute) != option.default
    }


@pytest.fixture(scope="session")
def wirecheck_servers(pytestconfig: pytest.Config) -> Iterator[ServerPool]:
    """The session's reference servers (launched lazily; stopped at session end)."""
    pool = ServerPool(
        functools.partial(
            launch_with_secrets,
            pytestconfig.stash[RUN_KEY].per_run_secrets,
            shared_options=shared_option_texts(pytestconfig),
        )
    )
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def wirecheck_target() -> Target:
    """Supplied by the parametrization of ``@case`` functions; nothing else may use it."""
    raise HarnessError("wirecheck_target is only available to functions declared with @case")


@pytest.fixture
def endpoint(
    request: pytest.FixtureRequest, wirecheck_target: Target, wirecheck_servers: ServerPool
) -> Endpoint:
    """The case's server (with its TLS client context) and a fresh deadline of
    ``--case-timeout`` seconds."""
    run = request.config.stash[RUN_KEY]
    host, port = wirecheck_servers.address_of(wirecheck_target)
    tls = wirecheck_servers.client_tls_context(wirecheck_target, run)
    deadline = request.node.stash[DEADLINE_KEY] = Deadline(run.case_timeout)  # read by the hostility budget
    return Endpoint(host, port, deadline, tls=tls)


@pytest.fixture
def reference_server_pid(wirecheck_target: Target, wirecheck_servers: ServerPool) -> int | None:
    """The case's reference server's pid (its session leader), or None against a --target."""
    server = wirecheck_servers.reference_server(wirecheck_target)
    return None if server is None else server.pid


@pytest.fixture
def service_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The suites' service options (``--clock-tolerance`` ...), by option name, parsed.

    Against a reference server a per-run secret option has the value the server was
    launched with; against a ``--target``, the command line's.
    """
    options = checker_options()
    values = {name: request.config.getoption(option.attribute) for name, option in options.items()}
    callspec = getattr(request.node, "callspec", None)
    target = callspec.params.get(TARGET_ARGUMENT) if callspec is not None else None
    if isinstance(target, Target) and target.runner is not None:
        for name, text in request.config.stash[RUN_KEY].per_run_secrets.items():
            values[name] = options[name].parse(text)
    return values


@pytest.fixture
def record_observation(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """For INFO cases: ``record_observation(text)`` makes ``text`` the case's ``actual``."""

    def record(text: str) -> None:
        request.node.stash[OBSERVATION_KEY] = text

    return record


# --- the hostility budget ------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    # A target that spent its hostility budget: the case fails at once, as its level says.
    spec, target = _case_and_target(pyfuncitem)
    if spec is None or target is None:
        return
    refusal = pyfuncitem.config.stash[RUN_KEY].hostility.refusal(target.group)
    if refusal is not None:
        raise CutShort(spec.expected, refusal)


def _costs_hostility_budget(error: BaseException | None, deadline: Deadline | None) -> bool:
    """Whether a case's time counts toward its target's hostility budget: the target failed
    it, or kept it waiting until its whole budget was spent (an INFO case watching a drip) —
    but not a slow, correct target's case, a case failed unrun, or the harness's own ERROR."""
    if isinstance(error, (TargetTooSlow, CutShort)):
        return False
    if isinstance(error, ConformanceFailure):
        return True
    return error is None and deadline is not None and deadline.spent


# --- verdicts --------------------------------------------------------------------------


def _describe_error(error: BaseException | None, when: str) -> str:
    if error is None:
        return f"harness error during {when}"
    text = str(error).strip() or type(error).__name__
    if isinstance(error, HarnessError):
        return f"harness error during {when}: {text}"
    if isinstance(error, pytest.skip.Exception):
        return f"the case was skipped during {when} ({text}); a case may not skip"
    return f"harness error during {when}: {type(error).__name__}: {text}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    spec, target = _case_and_target(item)
    if spec is None or target is None:
        return report
    if call.when != "call" and call.excinfo is None:
        return report  # setup or teardown went fine: the call's report carries the verdict
    run = item.config.stash[RUN_KEY]
    level = spec.level_for(target.runner)
    error = call.excinfo.value if call.excinfo is not None else None
    verdict = verdict_for(level, error) if call.when == "call" else Verdict.ERROR
    if isinstance(error, ConformanceFailure) and call.when == "call":
        expected, actual = error.expected, error.actual  # TargetTooSlow too: ERROR, in its words
    elif verdict is Verdict.ERROR:
        expected, actual = spec.expected, _describe_error(error, call.when)
    else:
        expected, actual = spec.expected, item.stash.get(OBSERVATION_KEY, "as expected")
    if call.when == "call" and _costs_hostility_budget(error, item.stash.get(DEADLINE_KEY, None)):
        run.hostility.record_failure(target.group, spec.case_id, call.duration, actual)
    record = CaseRecord(
        id=spec.case_id,
        service=spec.service,
        target=target.name,
        level=level.value,
        verdict=verdict.value,
        requirement=spec.requirement,
        expected=expected,
        actual=actual,
        duration_s=round(call.duration, 3),
    )
    report.wirecheck = record.to_json()  # type: ignore[attr-defined]
    if counts_as_failure(verdict, strict=run.strict):
        report.outcome = "failed"
        if isinstance(error, (ConformanceFailure, HarnessError)) or verdict is not Verdict.ERROR:
            report.longrepr = (
                f"{spec.case_id} against {target.name}: {verdict.value} ({level.value})\n"
                f"requirement: {spec.requirement}\nexpected: {expected}\nactual: {actual}"
            )
    else:
        report.outcome = "passed"
        report.longrepr = None
    return report


# The terminal's word per verdict: (category for pytest's counts, letter, verbose word).
_STATUS: dict[str, tuple[str, str, tuple[str, dict[str, bool]]]] = {
    Verdict.OK.value: ("passed", ".", ("OK", {"green": True})),
    Verdict.INFORMATIONAL.value: ("informational", "i", ("INFORMATIONAL", {"cyan": True})),
    Verdict.NON_STRICT.value: ("non-strict", "n", ("NON-STRICT", {"yellow": True})),
    Verdict.FAILED.value: ("failed", "F", ("FAILED", {"red": True})),
    Verdict.ERROR.value: ("error", "E", ("ERROR", {"red": True})),
}


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    record = getattr(report, "wirecheck", None)
    if record is None:
        return None
    return _STATUS[record["verdict"]]


class ResultsCollector:
    """Gathers verdict records from reports, prints the summary, writes the results file.

    Registered by ``pytest_configure`` in every process; it acts where the reports arrive
    and the session ends for good: the controller under xdist, the one process otherwise.
    """

    def __init__(self, config: pytest.Config, run: WirecheckRun) -> None:
        self._config = config
        self._run = run
        self._worker = hasattr(config, "workerinput")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "wirecheck", None)
        if record is None:
            return
        previous = self._run.records.get(report.nodeid)
        # A teardown error after a passing call overrides it; nothing overrides an ERROR.
        if previous is None or record["verdict"] == Verdict.ERROR.value:
            self._run.records[report.nodeid] = CaseRecord.from_json(record)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run = self._run
        if self._worker or not run.records:
            return
        records = sorted(run.records.values(), key=case_sort_key)
        noteworthy = [record for record in records if record.verdict != Verdict.OK.value]
        if noteworthy:
            terminalreporter.section("wirecheck verdicts other than OK")
            for record in noteworthy:
                first_line = record.actual.splitlines()[0] if record.actual else ""
                terminalreporter.write_line(
                    f"{record.verdict:<13} {record.id} @ {record.target} ({record.level}): {first_line}"
                )
        if run.results_path is not None:
            terminalreporter.write_line(f"wirecheck: results written to {run.results_path}")
        strict = " (--strict: NON-STRICT counts as a failure)" if run.strict else ""
        terminalreporter.write_line(
            f"wirecheck verdicts: {summary_line(verdict_counts(records))}{strict}", bold=True
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        run = self._run
        if self._worker or run.results_path is None:
            return
        write_results(run, int(exitstatus))


def write_results(run: WirecheckRun, exit_status: int) -> None:
    """Write ``run``'s records to its results path (atomically: never a half-written file)."""
    assert run.results_path is not None
    document = results_document(
        run.records.values(),
        started=run.started,
        finished=utc_timestamp(),
        strict=run.strict,
        exit_status=exit_status,
        targets={service: [target.name for target in targets] for service, targets in run.targets.items()},
        provenance=provenance(run.label, run.label_version, date=run.started),
    )
    run.results_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = run.results_path.with_name(run.results_path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(run.results_path)
