"""Property-based checks over the network: payload strategies, profiles, a bounded runner.

Payloads. Hypothesis cannot draw a 1 MiB ``st.binary()`` (its choice sequence is bounded, and
a 1 MiB repr in a failure report is useless anyway), so a payload is drawn as a small
*recipe* — a size, a seed for pseudo-random filler, and a few hand-picked fragments placed
at random offsets — and built deterministically from it. The fragments are the bytes that
break careless servers: every byte value 0x00–0xFF, runs of NUL, CR, LF and CRLF, invalid
UTF-8 (a server that decodes and re-encodes text mangles them), a BOM. Sizes favour the
edges (0, 1, around 64 KiB buffer sizes, 1 MiB).

Running. :func:`run_property` runs a check over many drawn examples, but differently from a
plain ``@given`` test, because every example costs network round trips and a failing one
may cost a whole timeout:

- no shrink phase: shrinking a 1 MiB payload over a network is slow and of little use; the
  failing example's size and the hexdump of its first difference say enough;
- the first conformance failure is kept and every later call fails at once with it, so
  hypothesis's replay of the failing example costs nothing, and what is reported is what
  was first observed (not a later "budget spent" or a Flaky error from the replay);
- ``deadline=None`` (network timing is not the property), no example database (a failing
  example of one target must not be replayed against another), health checks about slow
  or large data off.

Profiles: ``ci`` (few examples, derandomized: reproducible in CI, and the default, which
keeps the full suite quick) and ``dev`` (more examples, random). Choose with the environment
variable ``HYPOTHESIS_PROFILE`` (or hypothesis's own ``--hypothesis-profile wirecheck-dev``);
:func:`load_profile` applies it and the pytest plugin calls it. Hypothesis knows them as
``wirecheck-ci`` and ``wirecheck-dev``: hypothesis has a built-in ``ci`` profile that it makes
current by itself when it sees a CI environment (``$CI`` set), and registering a profile under
the current profile's name loads it at once, so a profile registered as ``ci`` would have
changed the defaults of every other project's tests in a CI job of an environment where
wirecheck is installed (its pytest plugin imports this module).
"""

from __future__ import annotations

import os
import random
import zlib
from typing import Callable, Sequence, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import example as hypothesis_example
from hypothesis import strategies as st

from harness.verdicts import ConformanceFailure

T = TypeVar("T")

MIB = 1024 * 1024

PROFILE_ENVIRONMENT_VARIABLE = "HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "ci"
# The short names users give, and the names registered with hypothesis (see the docstring).
PROFILE_NAMES = {"ci": "wirecheck-ci", "dev": "wirecheck-dev"}

settings.register_profile(
    PROFILE_NAMES["ci"],
    # Ten examples per property keeps `pytest suites/ --runner raw` under a minute; the
    # fixed seed makes a CI failure reproducible by rerunning.
    max_examples=10,
    derandomize=True,
    deadline=None,
    print_blob=False,
)
settings.register_profile(
    PROFILE_NAMES["dev"],
    # For hunting bugs locally: more examples, a fresh seed each run.
    max_examples=50,
    deadline=None,
)

# The bytes that break careless servers (see the module docstring).
SPECIAL_FRAGMENTS: tuple[bytes, ...] = (
    bytes(range(256)),  # every byte value
    bytes(range(255, -1, -1)),
    b"\x00",
    b"\x00" * 64,  # a NUL run (C-string handling stops at the first)
    b"\r\n",
    b"\r",
    b"\n",
    b"\n\r\n\r",
    b"\xff\xfe\xc3\x28",  # invalid UTF-8: a BOM-like pair, then a bad continuation
    b"\xc0\x80",  # overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate encoded in UTF-8 (invalid)
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xef\xbb\xbf",  # UTF-8 BOM
    b"\x1a\x04\x03",  # ^Z, ^D, ^C: EOF/interrupt characters of terminals
)

# Sizes at which buffering bugs live: empty, one byte, common buffer sizes and their
# neighbours (8192: the chapter's recv size; 65536: the runners' recv size).
EDGE_SIZES: tuple[int, ...] = (0, 1, 2, 8191, 8192, 8193, 65535, 65536, 65537, MIB - 1, MIB)


def load_profile(name: str | None = None) -> str:
    """Load hypothesis profile ``name``, else ``$HYPOTHESIS_PROFILE``, else ``ci``.

    ``ci`` and ``dev`` name wirecheck's profiles; any other name is hypothesis's own.

    Returns:
        The name of the profile loaded, as hypothesis knows it.

    Raises:
        hypothesis.errors.InvalidArgument: no such profile.
    """
    requested = name or os.environ.get(PROFILE_ENVIRONMENT_VARIABLE) or DEFAULT_PROFILE
    chosen = PROFILE_NAMES.get(requested, requested)
    settings.load_profile(chosen)
    return chosen


def build_payload(size: int, seed: int, fragments: list[bytes]) -> bytes:
    """The payload a recipe describes: ``size`` pseudo-random bytes with fragments laid in."""
    rng = random.Random(seed)
    body = bytearray(rng.randbytes(size))
    for fragment in fragments:
        if size == 0:
            break
        piece = fragment[:size]
        at = rng.randrange(0, size - len(piece) + 1)
        body[at : at + len(piece)] = piece
    return bytes(body)


@st.composite
def payloads(draw: st.DrawFn, min_size: int = 0, max_size: int = MIB) -> bytes:
    """Payloads of ``min_size``–``max_size`` bytes, rich in the bytes that break servers."""
    edges = [size for size in EDGE_SIZES if min_size <= size <= max_size]
    size_strategies = [
        st.integers(min_size, min(max_size, max(min_size, 512))),
        st.integers(min_size, max_size),
    ]
    if edges:
        size_strategies.append(st.sampled_from(edges))
    size = draw(st.one_of(size_strategies))
    fragments = draw(
        st.lists(
            st.one_of(st.sampled_from(SPECIAL_FRAGMENTS), st.binary(min_size=1, max_size=64)),
            max_size=6,
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    return build_payload(size, seed, fragments)


@st.composite
def split_payloads(draw: st.DrawFn, min_size: int = 0, max_size: int = 256 * 1024) -> list[bytes]:
    """A payload cut into chunks at points hypothesis chooses (each chunk one ``send``)."""
    from harness.checks.stream import split_at

    payload = draw(payloads(min_size=min_size, max_size=max_size))
    if len(payload) < 2:
        return [payload]
    offsets = draw(st.lists(st.integers(1, len(payload) - 1), max_size=64))
    return split_at(payload, offsets)


@st.composite
def line_contents(draw: st.DrawFn, max_size: int = 4096) -> bytes:
    """A line's content: arbitrary bytes except LF (CR, CRLF's CR, NUL, invalid UTF-8...)."""
    parts = draw(
        st.lists(
            st.one_of(st.binary(max_size=max_size // 8), st.sampled_from(SPECIAL_FRAGMENTS)),
            max_size=8,
        )
    )
    return b"".join(parts).replace(b"\n", b"")[:max_size]


def network_settings(max_examples: int | None = None) -> settings:
    """The loaded profile, adjusted for checks that talk to a server (module docstring)."""
    base = settings.default
    return settings(
        base,
        max_examples=max_examples if max_examples is not None else base.max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


def run_property(
    check: Callable[[T], None],
    strategy: st.SearchStrategy[T],
    describe_example: Callable[[T], str],
    *,
    name: str,
    explicit: Sequence[T] = (),
    max_examples: int | None = None,
    on_seed: Callable[[int], None] | None = None,
) -> int:
    """Run ``check`` on examples drawn from ``strategy``; re-raise the first failure.

    Args:
        check: raises :class:`ConformanceFailure` when the target misbehaves on an example.
        strategy: where examples come from.
        describe_example: a short description of an example for the failure message
            (``"a 1048576-byte payload in 37 sends"``), never the example itself.
        name: names the property. Under a derandomized profile (``ci``) it seeds the run,
            so each property draws its own reproducible examples (hypothesis would
            otherwise seed every property here alike: they share one inner function).
        explicit: examples always checked first, whatever the profile draws (the edges a
            requirement names, e.g. a 1 MiB payload, must not depend on luck).
        max_examples: overrides the profile's count (for expensive properties).
        on_seed: told the seed of this run (derived from ``name`` under a derandomized
            profile, drawn at random otherwise), so a report can name it and a run be replayed.

    Returns:
        How many examples were checked.

    Raises:
        ConformanceFailure: the first failure observed, with the failing example described.
        Exception: anything else the check or hypothesis raised (an ERROR: a harness bug).
    """
    first_failure: list[ConformanceFailure] = []
    examples = 0

    def property_holds(example: T) -> None:
        nonlocal examples
        if first_failure:
            raise first_failure[0]  # the replay of a failing example: no second timeout
        examples += 1
        try:
            check(example)
        except ConformanceFailure as failure:
            first_failure.append(
                failure.with_context(f"(failing example {examples}: {describe_example(example)})")
            )
            raise first_failure[0] from None

    test = given(strategy)(property_holds)
    for example in reversed(explicit):
        test = hypothesis_example(example)(test)
    test = network_settings(max_examples)(test)
    run_seed = zlib.crc32(name.encode()) if settings.default.derandomize else random.SystemRandom().getrandbits(32)
    test = seed(run_seed)(test)
    if on_seed is not None:
        on_seed(run_seed)
    try:
        test()
    except Exception:
        if first_failure:
            raise first_failure[0] from None
        raise
    return examples
