"""Checkers of the chapter's KeyValueServer (suites/xmlrpc_kv/SPEC.md), over XML-RPC."""

from __future__ import annotations

import datetime
import threading
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from harness.checks.endpoint import Endpoint
from harness.checks.properties import network_settings
from harness.checks.xmlrpc import Reply, call, same_value
from harness.verdicts import ConformanceFailure

VALUES = (
    "text <&> é",
    -(2**31),
    0.1,
    True,
    {"b": [1, 2, {"c": "d"}], "a": 1.5},
    [],
    b"\x00\xffbinary",
    datetime.datetime(2026, 12, 2, 11, 0, 0),
)

CONCURRENT_CLIENTS = 8
KEYS_PER_CLIENT = 10
STATE_MACHINE_STEPS = 12


def _answer(endpoint: Endpoint, method: str, params: tuple, expected: str) -> Reply:
    return call(endpoint, method, params, expected)


def _value(endpoint: Endpoint, method: str, params: tuple, expected: str) -> Any:
    reply = _answer(endpoint, method, params, expected)
    if reply.fault is not None:
        raise ConformanceFailure(expected, f"{method}{params!r} answered {reply.describe()}")
    return reply.value


def _get_equals(endpoint: Endpoint, key: str, wanted: Any, expected: str) -> None:
    got = _value(endpoint, "get", (key,), expected)
    if not same_value(got, wanted):
        raise ConformanceFailure(expected, f"get({key!r}) returned {got!r}, {wanted!r} was set")


def check_set_get_round_trip(endpoint: Endpoint, prefix: str, expected: str) -> None:
    for number, value in enumerate(VALUES):
        key = f"{prefix}-{number}"
        _value(endpoint, "set", (key, value), expected)
        _get_equals(endpoint, key, value, expected)
    key = f"{prefix}-replaced"
    _value(endpoint, "set", (key, "first"), expected)
    _value(endpoint, "set", (key, "second"), expected)
    _get_equals(endpoint, key, "second", expected + " (a second set replaces the first)")


def check_missing_key_fault(endpoint: Endpoint, prefix: str, expected: str) -> None:
    reply = _answer(endpoint, "get", (f"{prefix}-never-set",), expected)
    if reply.fault is None:
        raise ConformanceFailure(expected, f"get of a key never set returned {reply.describe()}")


def check_delete_and_exists(endpoint: Endpoint, prefix: str, expected: str) -> None:
    key = f"{prefix}-doomed"
    if _value(endpoint, "exists", (key,), expected) is not False:
        raise ConformanceFailure(expected, "exists() of a key never set was not false")
    _value(endpoint, "set", (key, 1), expected)
    if _value(endpoint, "exists", (key,), expected) is not True:
        raise ConformanceFailure(expected, "exists() after set was not true")
    _answer(endpoint, "delete", (key,), expected)
    if _value(endpoint, "exists", (key,), expected) is not False:
        raise ConformanceFailure(expected, "exists() after delete was not false")
    check_missing_key_fault(endpoint, f"{prefix}-doomed-again", expected)
    reply = _answer(endpoint, "get", (key,), expected)
    if reply.fault is None:
        raise ConformanceFailure(expected, f"get after delete returned {reply.describe()}")


def check_keys(endpoint: Endpoint, prefix: str, expected: str) -> None:
    mine = {f"{prefix}-k{number}" for number in range(5)}
    for key in mine:
        _value(endpoint, "set", (key, key), expected)
    _value(endpoint, "set", (f"{prefix}-k0", "again"), expected)  # set twice, listed once
    keys = _value(endpoint, "keys", (), expected)
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise ConformanceFailure(expected, f"keys() returned {keys!r}"[:300])
    listed = [key for key in keys if key.startswith(prefix + "-")]
    if sorted(listed) != sorted(mine):
        raise ConformanceFailure(expected, f"keys() lists {sorted(listed)} of the {sorted(mine)} set")


def check_delete_missing(endpoint: Endpoint, prefix: str, expected: str) -> None:
    reply = _answer(endpoint, "delete", (f"{prefix}-never",), expected)
    if reply.fault is None and reply.value not in (False, True, None):
        raise ConformanceFailure(expected, f"delete of a missing key returned {reply.describe()}")
    check_set_get_round_trip(endpoint, prefix, expected + " (afterwards)")


def check_against_model(endpoint: Endpoint, prefix: str, expected: str) -> None:
    """A hypothesis state machine over the five methods, checked against a dict."""
    names = st.sampled_from([f"{prefix}-{letter}" for letter in "abcd"])
    # XML 1.0 cannot carry control characters (nor a CR, which parsers turn into LF).
    xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n<&>"), max_size=20)
    values = st.one_of(st.integers(-(2**31), 2**31 - 1), xml_text, st.booleans(),
                       st.lists(st.integers(0, 9), max_size=3))

    class KeyValueModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model: dict[str, Any] = {}
            for key in [f"{prefix}-{letter}" for letter in "abcd"]:
                _answer(endpoint, "delete", (key,), expected)  # a clean slate per example

        @rule(key=names, value=values)
        def set(self, key: str, value: Any) -> None:
            _value(endpoint, "set", (key, value), expected)
            self.model[key] = value

        @rule(key=names)
        def get(self, key: str) -> None:
            reply = _answer(endpoint, "get", (key,), expected)
            if key in self.model:
                if reply.fault is not None or not same_value(reply.value, self.model[key]):
                    raise ConformanceFailure(expected, f"get({key!r}) answered {reply.describe()}, the model says {self.model[key]!r}")
            elif reply.fault is None:
                raise ConformanceFailure(expected, f"get({key!r}) answered {reply.describe()} for a key the model says is not set")

        @rule(key=names)
        def delete(self, key: str) -> None:
            _answer(endpoint, "delete", (key,), expected)
            self.model.pop(key, None)

        @rule(key=names)
        def exists(self, key: str) -> None:
            got = _value(endpoint, "exists", (key,), expected)
            if got is not (key in self.model):
                raise ConformanceFailure(expected, f"exists({key!r}) answered {got!r}, the model says {key in self.model}")

        @rule()
        def keys(self) -> None:
            listed = sorted(key for key in _value(endpoint, "keys", (), expected) if key.startswith(prefix + "-"))
            if listed != sorted(self.model):
                raise ConformanceFailure(expected, f"keys() lists {listed}, the model {sorted(self.model)}")

    machine_settings = network_settings(max_examples=5)
    run_state_machine_as_test(KeyValueModel, settings=type(machine_settings)(machine_settings, stateful_step_count=STATE_MACHINE_STEPS))


def check_concurrent_writes(endpoint: Endpoint, prefix: str, expected: str) -> None:
    failures: list[ConformanceFailure] = []

    def client(number: int) -> None:
        try:
            for index in range(KEYS_PER_CLIENT):
                _value(endpoint, "set", (f"{prefix}-c{number}-{index}", number * 100 + index), expected)
        except ConformanceFailure as failure:
            failures.append(failure)

    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(endpoint.deadline.remaining())
    if failures:
        raise failures[0]
    for number in range(CONCURRENT_CLIENTS):
        for index in range(KEYS_PER_CLIENT):
            _get_equals(endpoint, f"{prefix}-c{number}-{index}", number * 100 + index, expected)
