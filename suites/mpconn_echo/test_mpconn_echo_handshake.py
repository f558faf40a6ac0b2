"""mpconn-echo, section handshake: the mutual HMAC challenge (suites/mpconn_echo/SPEC.md §handshake).

The checker plays the Client, correct or broken on purpose: a modern one for each allowed
digest, a legacy (<= 3.11) one, one with the wrong key, a truncated, replayed or unlisted-digest
MAC, a pickle instead of a MAC, malformed challenges; and, once, the real stdlib Client.
"""

import os

from harness.cases import case
from harness.checks import Endpoint
from harness.checks import mpconn
from harness.verdicts import MUST, SHOULD

H1 = (
    'SPEC.md H1: "The server MUST send #CHALLENGE# followed by either 20 random bytes or a {digest} '
    'prefix naming an allowed digest and random bytes, before the client sends anything."'
)
H2 = 'SPEC.md H2: "A Python 3.12+ server SHOULD name {sha256} and send 40 random bytes."'
H3 = 'SPEC.md H3: "The challenge MUST be fresh on every connection."'
H4 = (
    'SPEC.md H4: "The server MUST welcome a correct MAC: {digest} + HMAC-digest of the whole '
    'challenge for an allowed digest, or a bare 16-byte HMAC-MD5 from a legacy client."'
)
H5 = (
    'SPEC.md H5: "The server MUST answer a MAC that is wrong, truncated, replayed from another '
    "connection, or names a digest outside the allowed set with #FAILURE#, then close the connection; "
    'it MUST compare MACs in constant time (hmac.compare_digest)."'
)
H6 = (
    'SPEC.md H6: "Nothing the client sends before both sides are authenticated MUST be echoed or '
    'unpickled."'
)
H7 = (
    'SPEC.md H7: "The server MUST answer the client\'s challenge with a MAC the client accepts: exactly '
    "the bare HMAC-MD5 for a 20-byte challenge; for an allowed {digest} challenge, {digest} + "
    'HMAC-digest, or the bare HMAC-MD5 of the whole challenge that a 3.11 server sends."'
)
H8 = (
    'SPEC.md H8: "The server MUST NOT answer a challenge that lacks the #CHALLENGE# prefix, is shorter '
    "than 20 bytes, names a digest outside the allowed set, has neither a legacy length nor a {digest} "
    'prefix, or is longer than 256 bytes; it MUST close the connection and MAY send #FAILURE# first."'
)
H10 = (
    'SPEC.md H10: "The server MUST refuse a MAC that has neither a legacy length nor an allowed {digest} '
    "prefix (a bare 32-byte HMAC-SHA256, a 5-byte answer) with #FAILURE# and a close, and a MAC message "
    'longer than 256 bytes with a close; it MUST NOT guess a digest for an unprefixed MAC."'
)
H9 = (
    'SPEC.md H9: "A standard multiprocessing.connection.Client with the same authkey MUST be able to '
    'connect, and its send_bytes/recv_bytes and send/recv MUST round-trip."'
)


@case("mpconn-echo/handshake/1", level=MUST, requirement=H1, expected="#CHALLENGE# + a legacy or {digest} challenge, unasked")
def test_server_challenges_first(endpoint: Endpoint, record_observation) -> None:
    record_observation(f"challenge: {mpconn.check_challenge_is_well_formed(endpoint)}")


@case("mpconn-echo/handshake/2", level=SHOULD, requirement=H2, expected="#CHALLENGE# + {digest} + 40 random bytes")
def test_challenge_is_modern(endpoint: Endpoint) -> None:
    mpconn.check_challenge_is_modern(endpoint)


@case("mpconn-echo/handshake/3", level=MUST, requirement=H3, expected="two connections, two different challenges")
def test_challenge_is_fresh_per_connection(endpoint: Endpoint) -> None:
    mpconn.check_challenges_differ(endpoint)


@case("mpconn-echo/handshake/4", level=MUST, requirement=H4, expected="#WELCOME# after the MAC the challenge asks for")
def test_correct_mac_is_welcomed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_correct_mac_welcomed(endpoint, authkey)


@case("mpconn-echo/handshake/5", level=MUST, requirement=H4, expected="#WELCOME# after a legacy client's bare HMAC-MD5")
def test_legacy_client_answer_is_welcomed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_legacy_answer_welcomed(endpoint, authkey)


@case("mpconn-echo/handshake/6", level=MUST, requirement=H5, expected="#FAILURE# and a close after a MAC under the wrong key")
def test_wrong_key_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_wrong_key_refused(endpoint, authkey)


@case("mpconn-echo/handshake/7", level=MUST, requirement=H5, expected="#FAILURE# and a close after a correct {sha1} MAC")
def test_unlisted_digest_in_the_answer_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_unlisted_digest_answer_refused(endpoint, authkey)


@case("mpconn-echo/handshake/8", level=MUST, requirement=H5, expected="#FAILURE# and a close after a MAC cut short")
def test_truncated_mac_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_truncated_mac_refused(endpoint, authkey)


@case("mpconn-echo/handshake/9", level=MUST, requirement=H5, expected="#FAILURE# and a close after another connection's MAC")
def test_replayed_mac_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_replayed_mac_refused(endpoint, authkey)


@case(
    "mpconn-echo/handshake/10",
    level=MUST,
    requirement=H6,
    expected="a pickle sent as the MAC: #FAILURE#, a close, nothing echoed, and the pickle never loaded",
)
def test_pickle_before_authentication_is_neither_loaded_nor_echoed(endpoint: Endpoint) -> None:
    mpconn.check_pickle_instead_of_mac_neither_unpickled_nor_echoed(endpoint)


@case(
    "mpconn-echo/handshake/11",
    level=MUST,
    requirement=H7,
    expected="our {digest} + 40-byte challenge (each allowed digest) answered with a MAC a 3.12 Client accepts, then an echo",
)
def test_server_answers_a_modern_challenge(endpoint: Endpoint, authkey: bytes) -> None:
    for digest in mpconn.MODERN_DIGESTS:  # one case, one record: the first digest that fails is named
        mpconn.check_server_answers_our_challenge(endpoint, authkey, mpconn.modern_challenge(digest, os.urandom(40)))


@case(
    "mpconn-echo/handshake/12",
    level=MUST,
    requirement=H7,
    expected="our legacy 20-byte challenge answered with the bare HMAC-MD5, then an echo",
)
def test_server_answers_a_legacy_challenge(endpoint: Endpoint, authkey: bytes) -> None:
    challenge = os.urandom(20)
    mpconn.check_server_answers_our_challenge(endpoint, authkey, challenge, exact=True)


BAD_CHALLENGES = {
    "unknown-digest": (b"#CHALLENGE#{sha1}" + bytes(40), "a {sha1} challenge"),
    "missing-prefix": (b"#CHALLENGE#" + bytes(41), "a 41-byte challenge with no {digest} prefix"),
    "too-short": (b"#CHALLENGE#" + bytes(19), "a 19-byte challenge"),
    "over-256-bytes": (b"#CHALLENGE#{sha256}" + bytes(240), "a 259-byte challenge message"),
    "no-challenge-word": (b"{sha256}" + bytes(40), "a challenge without #CHALLENGE#"),
}


@case(
    "mpconn-echo/handshake/13",
    level=MUST,
    requirement=H8,
    expected="no MAC for a malformed challenge (each kind): a close, #FAILURE# allowed before it",
)
def test_malformed_challenge_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    for message, what in BAD_CHALLENGES.values():  # the first kind answered is named in the failure
        mpconn.check_bad_challenge_refused(endpoint, authkey, message, what)


@case(
    "mpconn-echo/handshake/14",
    level=MUST,
    plaintext_only=True,  # multiprocessing.connection speaks no TLS
    requirement=H9,
    expected="this interpreter's multiprocessing.connection.Client round-trips bytes and a pickled dict",
)
def test_stdlib_client_round_trips(endpoint: Endpoint, authkey: bytes, record_observation) -> None:
    version = mpconn.check_stdlib_client_round_trip(endpoint, authkey)
    record_observation(f"Python {version}'s Client: bytes and objects round-trip")


@case(
    "mpconn-echo/handshake/15",
    level=MUST,
    requirement=H6,
    expected="after our #FAILURE# to the server's MAC and a message: the server's close, nothing echoed",
)
def test_client_refusal_of_the_server_is_obeyed(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_client_refusal_ends_connection(endpoint, authkey, b"not to be echoed")


@case(
    "mpconn-echo/handshake/16",
    level=MUST,
    requirement=H10,
    expected="an unprefixed HMAC-SHA256 and a 5-byte answer: #FAILURE# and a close; a 300-byte MAC: a close",
)
def test_malformed_mac_is_refused(endpoint: Endpoint, authkey: bytes) -> None:
    mpconn.check_malformed_mac_refused(endpoint, authkey)
