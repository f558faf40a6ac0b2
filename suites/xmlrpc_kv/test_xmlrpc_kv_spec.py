"""xmlrpc-kv, the KeyValueServer contract (suites/xmlrpc_kv/SPEC.md).

The stateful case is a hypothesis rule-based state machine: random sequences of set, get,
delete, exists and keys, each answer checked against an in-memory model. Keys are prefixed
per run, so the model only speaks of keys this run made (a shared server may hold others).
"""

import secrets

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import xmlrpc_kv
from harness.verdicts import MUST, SHOULD

SPEC = 'suites/xmlrpc_kv/SPEC.md: '


@case("xmlrpc-kv/spec/1", level=MUST,
      requirement=SPEC + '"set(key, value) [...] The server MUST store the value under the key, replacing any earlier value" and "get(key): MUST return the value last set under key"',
      expected="each value set (string, int, double, struct, array, base64, dateTime) read back equal; a second set replaces it")
def test_set_then_get(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_set_get_round_trip(endpoint, secrets.token_hex(4), "values read back as set")


@case("xmlrpc-kv/spec/2", level=MUST,
      requirement=SPEC + '"For a key that is not set it MUST answer with a fault"',
      expected="get of a key never set answered with a fault")
def test_get_of_a_missing_key_is_a_fault(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_missing_key_fault(endpoint, secrets.token_hex(4), "a fault")


@case("xmlrpc-kv/spec/3", level=MUST,
      requirement=SPEC + '"delete(key): after it, exists(key) MUST be false and get(key) a fault." and "exists(key): MUST return a boolean, true exactly when the key is set."',
      expected="exists true after set; after delete, exists false and get a fault")
def test_delete_and_exists(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_delete_and_exists(endpoint, secrets.token_hex(4), "delete removes, exists follows")


@case("xmlrpc-kv/spec/4", level=MUST,
      requirement=SPEC + '"keys(): MUST return an array of strings: every key that is set, each once, in any order."',
      expected="the keys set by this case, each once, among keys()")
def test_keys_lists_every_key(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_keys(endpoint, secrets.token_hex(4), "every key once")


@case("xmlrpc-kv/spec/5", level=MUST,
      requirement=SPEC + '"get(key): MUST return the value last set under key" and "exists(key): MUST return a boolean, true exactly when the key is set." and "keys(): MUST return an array of strings: every key that is set" (over any sequence of calls, checked against a model by a hypothesis state machine)',
      expected="random set/get/delete/exists/keys sequences answered as the model says")
def test_the_server_behaves_as_the_model(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_against_model(endpoint, secrets.token_hex(4), "the model's answers")


@case("xmlrpc-kv/spec/6", level=MUST,
      requirement=SPEC + '"a value set on one connection MUST be seen on another, and writes from several clients at once MUST all be kept."',
      expected="8 clients each setting 10 keys at once: all 80 read back from new connections")
def test_concurrent_writes_are_all_kept(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_concurrent_writes(endpoint, secrets.token_hex(4), "every write kept")


@case("xmlrpc-kv/spec/7", level=SHOULD,
      requirement=SPEC + '"Deleting a key that is not set MUST NOT be an error that stops the server (a fault or false)."',
      expected="delete of a key never set answered (false or a fault), the server still serving")
def test_deleting_a_missing_key_is_harmless(endpoint: Endpoint) -> None:
    xmlrpc_kv.check_delete_missing(endpoint, secrets.token_hex(4), "an answer, then service as usual")
