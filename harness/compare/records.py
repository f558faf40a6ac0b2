"""The typed records of a comparison, and their JSON form (compare.json).

Every step of ``wirecheck compare`` passes these records, not string-keyed dicts: a
:class:`LocustSample` or a :class:`ThreadedSample` per measurement, a :class:`Point` per
runner and user count (the median over repetitions), a :class:`ThreadedResult` per runner,
the :class:`ServerBoundReference`, the service's :class:`Goal` verdicts, and the whole
:class:`Comparison`. A record that could not be measured carries ``error`` (a one-line
reason) and no figures.

The JSON form keeps the keys compare.json has always had (a field's ``json`` metadata names a
key that is not an identifier, such as ``p99.9``), so earlier documents load with
:meth:`JsonRecord.from_json` and existing readers keep working. An ``error`` field is left out
of the JSON when empty, so ``"error" in record`` still tells a failed record from a good one.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

Record = TypeVar("Record", bound="JsonRecord")

# Field metadata: the JSON key when it differs from the field's name; leave out when None;
# never written (a path on this machine).
JSON_KEY = "json"
OMIT_IF_NONE = "omit_if_none"
NOT_IN_JSON = "not_in_json"


def optional_error() -> Any:
    """The ``error`` field of a record: None when measured, else why not."""
    return field(default=None, metadata={OMIT_IF_NONE: True})


class JsonRecord:
    """Mixin of the dataclass records: ``to_json`` and ``from_json`` by their fields' types."""

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls: type[Record], data: dict[str, Any]) -> Record:
        """The record from its JSON form; keys it does not know are ignored, missing ones
        take their defaults."""
        hints = typing.get_type_hints(cls)
        values = {}
        for record_field in fields(cls):  # type: ignore[arg-type]
            key = record_field.metadata.get(JSON_KEY, record_field.name)
            if key in data and not record_field.metadata.get(NOT_IN_JSON):
                values[record_field.name] = _from_json(hints[record_field.name], data[key])
        return cls(**values)


def _to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        document = {}
        for record_field in fields(value):
            item = getattr(value, record_field.name)
            if record_field.metadata.get(NOT_IN_JSON) or (item is None and record_field.metadata.get(OMIT_IF_NONE)):
                continue
            document[record_field.metadata.get(JSON_KEY, record_field.name)] = _to_json(item)
        return document
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _from_json(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        present = [argument for argument in arguments if argument is not type(None)]
        return _from_json(present[0], value) if len(present) == 1 else value
    if origin is list:
        return [_from_json(arguments[0], item) for item in value]
    if origin is tuple:
        return tuple(value)
    if origin is dict:
        return {key: _from_json(arguments[1], item) for key, item in value.items()}
    if isinstance(annotation, type) and issubclass(annotation, JsonRecord):
        return annotation.from_json(value)
    return value


# --- what one measurement yields -------------------------------------------------------------


@dataclass
class Latency(JsonRecord):
    """Latency percentiles in µs (None: no request in the window)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p99_9: float | None = field(default=None, metadata={JSON_KEY: "p99.9"})
    max: float | None = field(default=None, metadata={OMIT_IF_NONE: True})


@dataclass
class ConnectionCounts(JsonRecord):
    """Connection health in the window, from wirecheck's locust plugin."""

    connections: int = 0
    stalled: int = 0
    timed_out: int = 0
    starved: int = 0
    stall_threshold_ms: float | None = None


@dataclass
class LocustSample(JsonRecord):
    """One locust run against one server: the figures of wirecheck's report, and how it ran."""

    error: str | None = optional_error()
    command: list[str] | None = field(default=None, metadata={OMIT_IF_NONE: True})
    mode: str = "closed-loop"
    window_s: float = 0.0
    requests: int = 0
    rps: float = 0.0
    failures: int = 0
    timeouts: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)
    latency_us: Latency = field(default_factory=Latency)
    connections: ConnectionCounts = field(default_factory=ConnectionCounts)
    generator_cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    server_peak_rss_kib: int | None = None
    other_cpu_cores: float | None = None
    steal_cpu_cores: float | None = None
    exit_status: int | None = None
    wall_s: float | None = None
    html_report: str | None = None
    # The machine may be shared: the 1-minute load average after each run shows when it was.
    load_average_1min: float | None = None
    # Periods the kernel throttled the server's CPU budget (--server-cpu, the reference).
    throttled_periods: int | None = field(default=None, metadata={OMIT_IF_NONE: True})


@dataclass
class ThreadedSample(JsonRecord):
    """One run of the plain threaded client: its JSON line (harness/loadgen/threaded_client.py)."""

    error: str | None = optional_error()
    command: list[str] | None = field(default=None, metadata={OMIT_IF_NONE: True})
    service: str | None = None
    target: str | None = None
    threads: int = 0
    window_s: float = 0.0
    replies: int = 0
    failures: int = 0
    rps: float = 0.0
    cpu_cores: float | None = None
    threads_left_running: int = 0
    server_cpu_cores: float | None = None
    throttled_periods: int | None = field(default=None, metadata={OMIT_IF_NONE: True})


# --- what the repetitions of a point yield ------------------------------------------------------


@dataclass
class Point(JsonRecord):
    """Locust at one number of users against one runner: the median over repetitions (the
    spread as min and max); failure-like counts are the worst repetition's.

    Also the form of the generator ceiling and of the server-bound reference's locust runs.
    """

    error: str | None = optional_error()
    service: str | None = field(default=None, metadata={OMIT_IF_NONE: True})
    runner: str = ""
    users: int = 0
    repeats: int = 0
    mode: str = "closed-loop"
    rps: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    latency_us: Latency = field(default_factory=Latency)
    p99_min_us: float | None = None
    p99_max_us: float | None = None
    failures: int = 0
    timeouts: int = 0
    stalled_connections: int = 0
    timed_out_connections: int = 0
    starved_connections: int = 0
    stall_threshold_ms: float | None = None
    server_cpu_cores: float | None = None
    server_peak_rss_kib: int | None = None
    generator_cpu_cores: float | None = None
    failed_repeats: int = 0
    load_average_1min_max: float | None = None
    other_cpu_cores: float | None = None
    steal_cpu_cores: float | None = None
    generator_bound: bool = False
    generator_bound_reasons: list[str] = field(default_factory=list)
    samples: list[LocustSample] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.error is None and self.rps is not None


@dataclass
class ThreadedResult(JsonRecord):
    """The plain threaded client's repetitions against one runner: median rate and spread."""

    error: str | None = optional_error()
    threads: int = 0
    repeats: int = 0
    rps: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    failures: int = 0
    cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    samples: list[ThreadedSample] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.error is None and bool(self.rps)


@dataclass
class ServerBoundReference(JsonRecord):
    """Locust and the threaded client against one CPU-capped runner (and peers, locust only).

    ``ratio`` is locust's median rate over the threaded client's; ``ratio_min``/``ratio_max``
    the spread over the paired repetitions.
    """

    runner: str = ""
    users: int = 0
    cpu_cap: float = 0.0
    error: str | None = optional_error()
    cap: str | None = None
    locust: Point | None = None
    threaded: ThreadedResult | None = None
    peers_locust: dict[str, Point] = field(default_factory=dict)
    ratio: float | None = field(default=None, metadata={OMIT_IF_NONE: True})
    ratio_min: float | None = field(default=None, metadata={OMIT_IF_NONE: True})
    ratio_max: float | None = field(default=None, metadata={OMIT_IF_NONE: True})


@dataclass
class WrkSample(JsonRecord):
    """One wrk run against one server (harness/compare/wrk.py): its figures and how it ran."""

    error: str | None = optional_error()
    command: list[str] | None = field(default=None, metadata={OMIT_IF_NONE: True})
    connections: int = 0
    window_s: float = 0.0
    requests: int = 0
    rps: float = 0.0
    # Socket errors (connect, read, write, timeout) and non-2xx/3xx answers, as wrk counts them.
    errors: int = 0
    latency_us: Latency = field(default_factory=Latency)
    server_cpu_cores: float | None = None
    load_average_1min: float | None = None


@dataclass
class WrkResult(JsonRecord):
    """wrk's repetitions against one runner or external server: the median and the spread."""

    error: str | None = optional_error()
    runner: str = ""
    connections: int = 0
    repeats: int = 0
    rps: float | None = None
    rps_min: float | None = None
    rps_max: float | None = None
    latency_us: Latency = field(default_factory=Latency)
    errors: int = 0
    server_cpu_cores: float | None = None
    samples: list[WrkSample] = field(default_factory=list)

    @property
    def measured(self) -> bool:
        return self.error is None and self.rps is not None


@dataclass
class Goal(JsonRecord):
    """One of a service's goals, judged on a finished comparison.

    Attributes:
        goal: what is required, in one line.
        passed: the verdict.
        details: the figures behind the verdict, one Markdown line each.
        note: what the verdict is worth, when it needs saying.
        figures: the same figures for programs, by name; the service's goals module decides
            them (numbers, strings, or its own records).
    """

    goal: str
    passed: bool
    details: list[str] = field(default_factory=list)
    note: str | None = field(default=None, metadata={OMIT_IF_NONE: True})
    figures: dict[str, Any] = field(default_factory=dict)


# --- the whole comparison --------------------------------------------------------------------

# The full run's sweep: one client, a few, the chapter's "many", and a flood.
DEFAULT_USERS = (1, 10, 50, 200, 1000)
# Enough to see a trend and a spread without the full run taking an hour per service.
DEFAULT_DURATION_S = 5.0
DEFAULT_WARMUP_S = 2.0
DEFAULT_REPEAT = 3


@dataclass
class Settings(JsonRecord):
    """How the comparison was asked to run (the ``settings`` of compare.json)."""

    service: str = ""
    runners: list[str] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    warmup_s: float = 0.0
    repeat: int = 1
    payload_bytes: int = 64
    request_timeout_s: float = 2.0
    stall_ms: float = 500.0
    open_loop_rate: float | None = None
    pinned: bool = False
    server_core: int = 0
    generator_core: int = 1
    open_files_limit: int | None = None
    # The threaded client's threads on every runner (the goals compare it with locust at the
    # same concurrency).
    threaded_client_users: int = 50
    # --server-cpu: every runner's server held to this share of a core (None: not capped).
    server_cpu: float | None = None
    server_cpu_cap: str | None = None
    # Third-party servers measured beside the runners: name -> the command that starts one
    # (prints READY tcp HOST:PORT). Their names are in ``runners`` too, in sweep order.
    external_targets: dict[str, list[str]] = field(default_factory=dict)
    # wrk, the second generator: connections per run (0: not used) and the request target.
    wrk_connections: int = 0
    wrk_target: str | None = None
    out_dir: Path = field(default=Path("compare-results"), metadata={NOT_IN_JSON: True})
    html_dir: Path = field(default=Path("compare-results/points"), metadata={NOT_IN_JSON: True})

    @property
    def mode(self) -> str:
        return "open-loop" if self.open_loop_rate else "closed-loop"


@dataclass
class Machine(JsonRecord):
    cpu_model: str = ""
    cpus: int | None = None
    python: str = ""
    platform: str = ""
    kernel: str = ""


@dataclass
class Comparison(JsonRecord):
    """The compare.json document."""

    service: str
    settings: Settings
    machine: Machine = field(default_factory=Machine)
    load_average_before: list[float] = field(default_factory=list)
    load_average_after: list[float] = field(default_factory=list)
    generator_ceiling: Point = field(default_factory=Point)
    threaded_client: dict[str, ThreadedResult] = field(default_factory=dict)
    server_bound_reference: ServerBoundReference = field(default_factory=ServerBoundReference)
    points: list[Point] = field(default_factory=list)
    leftover_processes: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    goals: list[Goal] = field(default_factory=list)
    # wrk against every runner and external server, by name (empty when wrk was not used).
    wrk: dict[str, WrkResult] = field(default_factory=dict)

    def point(self, runner: str, users: int) -> Point | None:
        """The measured point of ``runner`` at ``users``, if the sweep has one."""
        for record in self.points:
            if record.runner == runner and record.users == users and record.measured:
                return record
        return None

    @property
    def mode(self) -> str:
        return self.points[0].mode if self.points else "closed-loop"
