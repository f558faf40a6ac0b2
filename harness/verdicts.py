"""Levels, verdicts, conformance failures, and the words that describe what was observed.

A case has a **level** (how strongly its requirement binds) and, once run, a **verdict**:

==========  =========================  ============================
level       the check passed           the target did not comply
==========  =========================  ============================
MUST        OK                         FAILED
SHOULD      OK                         NON-STRICT
INFO        INFORMATIONAL              INFORMATIONAL
==========  =========================  ============================

and any other exception — the server could not be launched, a checker has a bug, a
runner's optional dependency is missing — is **ERROR** at every level: the harness or the
setup broke, and that is never blamed on the target (h2spec and trio's ``check_*`` draw the
same line). The one exception type that blames the target is :class:`ConformanceFailure`.

A target that is **slow but correct** (an inetd that needs a second per connection under
load) is not blamed either: when a case's budget runs out while every reply so far was
correct and arrived at a usable pace, the checker raises :class:`TargetTooSlow`, whose
verdict is **ERROR** at every level, its ``actual`` naming the pace measured and the
``--case-timeout`` that would let the case finish. Why ERROR, not FAILED or NON-STRICT:
FAILED would say a MUST was not met, and nothing wrong was seen ("no false FAILED");
NON-STRICT would say a SHOULD was missed and let the run exit 0 as if the MUST had been
verified, which it was not (a case that did not run to its end must never look like a pass).
ERROR is the contract's word for "this run could not judge the case, and the target is not
blamed": the budget, a setting of the run, was too small for this target; the exit status
stays non-zero until a run with a budget that fits judges it.

A conformance failure always reads "expected … / actual …", and ``actual`` names what was
observed, in one of a few fixed forms produced by the ``describe_*`` helpers below so that
every checker words them the same way:

- data: ``data differing at offset 6 (7 bytes received of 7 expected)`` and a hexdump
  excerpt of the first differing region, expected above actual;
- orderly close: ``orderly close (EOF after 6 of 7 bytes)``;
- reset: ``reset (after 0 bytes received)``;
- timeout: ``timeout (after 5 s, with 0 of 7 bytes received)``;
- unreachable: ``unreachable (connection refused by 127.0.0.1:7)``.

Results: one :class:`CaseRecord` per case and target, gathered into the results document
that ``pytest --results FILE.json`` writes (:func:`results_document`; the shape is a
contract, see ../shared/DESIGN.md).
"""

from __future__ import annotations

import datetime
import enum
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

import harness


class Level(str, enum.Enum):
    """How strongly a requirement binds (RFC 2119 words, plus INFO: observed, not judged)."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


class Verdict(str, enum.Enum):
    """The outcome of one case against one target."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    FAILED = "FAILED"
    ERROR = "ERROR"


MUST = Level.MUST
SHOULD = Level.SHOULD
INFO = Level.INFO

# The order verdicts are listed in summaries: good news first, then what needs reading.
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.OK,
    Verdict.INFORMATIONAL,
    Verdict.NON_STRICT,
    Verdict.FAILED,
    Verdict.ERROR,
)

# How many bytes of each side a hexdump excerpt shows: two 16-byte rows are enough to see
# the difference and its neighbourhood, and keep a failure message readable.
HEXDUMP_EXCERPT_BYTES = 32
HEXDUMP_ROW_BYTES = 16

# How many leading bytes a short payload description spells out in hex.
PREVIEW_BYTES = 16


class ConformanceFailure(Exception):
    """The target did not do what the requirement says: the only exception that blames it.

    Attributes:
        expected: what the requirement demands, in words ("the 7 bytes sent, echoed …").
        actual: what was observed, worded by one of the ``describe_*`` helpers.
    """

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(expected, actual)
        self.expected = expected
        self.actual = actual

    def __str__(self) -> str:
        return f"expected: {self.expected}\nactual: {self.actual}"

    def with_context(self, context: str) -> "ConformanceFailure":
        """A copy (of the same type) whose ``actual`` ends with ``context`` (e.g. which
        hypothesis example failed)."""
        return type(self)(self.expected, f"{self.actual}\n{context}")


class TargetTooSlow(ConformanceFailure):
    """The case's budget ran out while the target was answering correctly, only slowly.

    A :class:`ConformanceFailure` so that it travels every checker's failure path (hypothesis
    examples, "client 3:" prefixes) unchanged, but :func:`verdict_for` makes it ERROR, never
    FAILED: the target is not blamed (see the module docstring for why ERROR).
    """


class HarnessError(Exception):
    """The harness or the setup broke (a server that would not launch, a bad option).

    Raised where the target cannot be blamed; the verdict is ERROR.
    """


def verdict_for(level: Level, error: BaseException | None) -> Verdict:
    """Map a case's level and how its check ended to a verdict.

    Args:
        level: the case's level for this target.
        error: None if the check returned normally, else what it raised.

    Returns:
        The verdict, per the table in the module docstring. Anything but a
        :class:`ConformanceFailure` (including pytest's skip and a KeyboardInterrupt) is
        ERROR: a case that did not run must never look like a pass; so is
        :class:`TargetTooSlow`: a case that could not finish in its budget was not judged.
    """
    if error is None:
        return Verdict.INFORMATIONAL if level is Level.INFO else Verdict.OK
    if not isinstance(error, ConformanceFailure) or isinstance(error, TargetTooSlow):
        return Verdict.ERROR
    return {
        Level.MUST: Verdict.FAILED,
        Level.SHOULD: Verdict.NON_STRICT,
        Level.INFO: Verdict.INFORMATIONAL,
    }[level]


def counts_as_failure(verdict: Verdict, *, strict: bool) -> bool:
    """Whether this verdict makes the run exit non-zero (NON-STRICT only with ``strict``)."""
    if verdict in (Verdict.FAILED, Verdict.ERROR):
        return True
    return strict and verdict is Verdict.NON_STRICT


# --- describing bytes -----------------------------------------------------------------


def hexdump(data: bytes, *, start: int = 0, length: int = HEXDUMP_EXCERPT_BYTES) -> list[str]:
    """Rows of ``offset  hex bytes  |ascii|`` for ``data[start:start+length]``, row-aligned.

    The excerpt starts at the 16-byte row containing ``start`` so offsets line up between
    the expected and the actual dump.

    Args:
        data: the whole buffer (offsets are printed relative to its start).
        start: the offset of interest.
        length: how many bytes after the row start to show at most.

    Returns:
        One string per row; an empty buffer region gives ``["(no bytes)"]``.
    """
    row_start = start - start % HEXDUMP_ROW_BYTES
    region = data[row_start : row_start + length]
    if not region:
        return ["(no bytes)"]
    rows = []
    for offset in range(0, len(region), HEXDUMP_ROW_BYTES):
        row = region[offset : offset + HEXDUMP_ROW_BYTES]
        hex_part = " ".join(f"{byte:02x}" for byte in row)
        text = "".join(chr(byte) if 0x20 <= byte < 0x7F else "." for byte in row)
        rows.append(f"{row_start + offset:08x}  {hex_part:<47}  |{text}|")
    return rows


def first_difference(expected: bytes, actual: bytes) -> int | None:
    """The offset of the first byte where the two differ, or None if they are equal.

    If one is a proper prefix of the other, the answer is the shorter one's length.
    """
    if expected == actual:
        return None
    for offset, (want, got) in enumerate(zip(expected, actual)):
        if want != got:
            return offset
    return min(len(expected), len(actual))


def preview(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    """``7 bytes: 68 65 6c 6c 6f 0d 0a`` (the first ``limit`` bytes, then ``…``)."""
    if not data:
        return "0 bytes"
    shown = " ".join(f"{byte:02x}" for byte in data[:limit])
    more = " …" if len(data) > limit else ""
    unit = "byte" if len(data) == 1 else "bytes"
    return f"{len(data)} {unit}: {shown}{more}"


def describe_echo_expected(payload: bytes) -> str:
    """The expectation of an echo: ``the 7 bytes sent (68 65 …), echoed byte-exact``."""
    return f"the {preview(payload)} sent, echoed back byte-exact"


def describe_data(expected: bytes, actual: bytes) -> str:
    """Describe data that differ from the expected, with a hexdump of the first difference.

    Args:
        expected: the whole expected byte string.
        actual: the bytes received (possibly a prefix, possibly longer).

    Returns:
        ``data differing at offset N (R bytes received of E expected)`` then the expected
        and actual hexdump excerpts around offset N; ``data: as expected`` if equal.
    """
    offset = first_difference(expected, actual)
    if offset is None:
        return f"data: as expected ({len(actual)} bytes)"
    if offset == len(expected):
        head = f"data: {len(actual) - len(expected)} bytes more than expected, from offset {offset}"
    elif offset == len(actual):
        head = f"data: only {len(actual)} of {len(expected)} bytes received"
    else:
        head = (
            f"data differing at offset {offset} "
            f"({len(actual)} bytes received of {len(expected)} expected)"
        )
    lines = [head, "  expected:"]
    lines += ["    " + row for row in hexdump(expected, start=offset)]
    lines.append("  actual:")
    lines += ["    " + row for row in hexdump(actual, start=offset)]
    return "\n".join(lines)


def _progress(received: int, expected: int | None) -> str:
    """``6 of 7 bytes``, ``0 of 1 byte``, ``1 byte``."""
    total = expected if expected is not None else received
    unit = "byte" if total == 1 else "bytes"
    return f"{received} of {expected} {unit}" if expected is not None else f"{received} {unit}"


def describe_close(received: int, expected: int | None = None) -> str:
    """``orderly close (EOF after 6 of 7 bytes)``: the peer sent FIN."""
    return f"orderly close (EOF after {_progress(received, expected)})"


def describe_reset(received: int, expected: int | None = None) -> str:
    """``reset (after 6 of 7 bytes received)``: the peer sent RST (ECONNRESET/EPIPE)."""
    return f"reset (after {_progress(received, expected)} received)"


def describe_timeout(seconds: float, received: int, expected: int | None = None, why: str = "") -> str:
    """``timeout (after 5 s, with 0 of 7 bytes received)``; ``why`` adds what was awaited."""
    reason = f"; {why}" if why else ""
    return (
        f"timeout (after {seconds:.3g} s, with {_progress(received, expected)} received{reason})"
    )


def describe_unreachable(address: str, reason: str = "connection refused") -> str:
    """``unreachable (connection refused by 127.0.0.1:7)``."""
    return f"unreachable ({reason} by {address})"


# --- records and the results document -----------------------------------------------


@dataclass
class CaseRecord:
    """One case run against one target: a row of the results file.

    Attributes:
        id: the case ID, e.g. ``echo-tcp/862/1``.
        service: the service the case belongs to.
        target: ``runner:threading`` for a reference server, ``127.0.0.1:7`` for --target.
        level: the level that applied to this target (a runner may lower it).
        verdict: the verdict.
        requirement: the requirement, quoted verbatim.
        expected: what was expected, in words.
        actual: what was observed (``as expected`` when the check passed).
        duration_s: how long the check ran, in seconds.
    """

    id: str
    service: str
    target: str
    level: str
    verdict: str
    requirement: str
    expected: str
    actual: str
    duration_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CaseRecord":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def case_id_sort_key(case_id: str) -> tuple:
    """Natural order of case IDs: ``echo-tcp/862/2`` before ``echo-tcp/862/10``."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in case_id.split("/"))


def case_sort_key(record: CaseRecord) -> tuple:
    """Natural order of case IDs (``echo-tcp/862/2`` before ``echo-tcp/862/10``), then target."""
    return (case_id_sort_key(record.id), record.target)


def verdict_counts(records: Iterable[CaseRecord]) -> dict[str, int]:
    """``{"OK": n, "INFORMATIONAL": n, "NON-STRICT": n, "FAILED": n, "ERROR": n, "total": n}``."""
    counter = Counter(record.verdict for record in records)
    counts = {verdict.value: counter.get(verdict.value, 0) for verdict in VERDICT_ORDER}
    counts["total"] = sum(counter.values())
    return counts


def summary_line(counts: Mapping[str, int]) -> str:
    """``25 OK, 3 INFORMATIONAL, 1 NON-STRICT, 0 FAILED, 0 ERROR``."""
    return ", ".join(f"{counts.get(verdict.value, 0)} {verdict.value}" for verdict in VERDICT_ORDER)


def utc_timestamp(when: datetime.datetime | None = None) -> str:
    """An ISO 8601 UTC timestamp with a ``Z``, to the second."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def results_document(
    records: Iterable[CaseRecord],
    *,
    started: str,
    finished: str,
    strict: bool,
    exit_status: int,
    targets: Mapping[str, Iterable[str]] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results file's content (the shape is a contract; see ../shared/DESIGN.md).

    Args:
        provenance: more top-level keys (the implementation, suite, machine and date blocks
            of :func:`harness.provenance.provenance`); they never replace a contract key.

    Returns:
        ``{"cases": [record…], "summary": {verdict: count, "total": n}, "started",
        "finished", "wirecheck_version", "strict", "exit_status", "targets": {service:
        [target…]}}`` and the provenance keys, cases in natural ID order then target.
    """
    ordered = sorted(records, key=case_sort_key)
    return {
        **(provenance or {}),
        "cases": [record.to_json() for record in ordered],
        "summary": verdict_counts(ordered),
        "started": started,
        "finished": finished,
        "wirecheck_version": harness.__version__,
        "strict": strict,
        "exit_status": exit_status,
        "targets": {service: list(names) for service, names in (targets or {}).items()},
    }
