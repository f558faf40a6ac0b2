"""echo-tcp, section tls: the TLS layer of an echo served over TLS (suites/echo_tcp/SPEC.md).

These cases run only against TLS targets (``--tls``, or ``--target echo-tcp=tls://HOST:PORT``)
and are deselected otherwise; every other echo-tcp case runs inside TLS unchanged. The
checkers (``harness.checks.tls``) know nothing of echo: only the certificate case judges the
certificate, the others use a client that does not verify it.
"""

from typing import Callable

from harness.cases import case, on_one_client_at_a_time_runners
from harness.checks import Endpoint
from harness.checks import tls
from harness.verdicts import INFO, MUST, SHOULD


@case(
    "echo-tcp/tls/1",
    level=MUST,
    tls_only=True,
    requirement=(
        'RFC 8996, Abstract: "This document formally deprecates Transport Layer Security (TLS) '
        'versions 1.0 (RFC 2246) and 1.1 (RFC 4346)."'
    ),
    expected="a TLS handshake that completes with TLS 1.2 or TLS 1.3",
)
def test_handshake_completes_with_tls_1_2_or_1_3(endpoint: Endpoint, record_observation: Callable[[str], None]) -> None:
    record_observation(f"negotiated {tls.check_handshake_version(endpoint)}")


@case(
    "echo-tcp/tls/2",
    level=MUST,
    needs_verified_certificate=True,
    requirement=(
        'RFC 8446 §4.4.2.2: "The certificate type MUST be X.509v3 [RFC5280], unless explicitly '
        'negotiated otherwise (e.g., [RFC7250])." and RFC 8446 §4.4.2.2: "The "server_name" '
        '[RFC6066] and "certificate_authorities" extensions are used to guide certificate selection."'
    ),
    expected="a certificate that chains to the trusted CA, is in date and is valid for the name asked",
)
def test_certificate_verifies_for_the_name_asked(endpoint: Endpoint) -> None:
    tls.check_certificate_verifies(endpoint)


@case(
    "echo-tcp/tls/3",
    level=SHOULD,
    tls_only=True,
    requirement=(
        'RFC 8446 §6.1: "Each party MUST send a "close_notify" alert before closing its write '
        'side of the connection, unless it has already sent some error alert."'
    ),
    expected="after the client's close_notify, the server's close_notify before its TCP close",
)
def test_orderly_close_sends_close_notify(endpoint: Endpoint) -> None:
    tls.check_close_notify_sent(endpoint)


@case(
    "echo-tcp/tls/4",
    level=MUST,
    tls_only=True,
    requirement=(
        'RFC 8446 §6: "Peers which receive a message which cannot be parsed according to the '
        "syntax (e.g., have a length extending beyond the message boundary or contain an "
        'out-of-range length) MUST terminate the connection with a "decode_error" alert."'
    ),
    expected="a plaintext client gets at most an alert, then a close (not a hang, not an answer); the next client is served",
)
def test_plaintext_client_gets_an_alert_or_a_close(endpoint: Endpoint) -> None:
    tls.check_plaintext_client_refused(endpoint)


@case(
    "echo-tcp/tls/5",
    level=MUST,
    tls_only=True,
    level_for_runner=on_one_client_at_a_time_runners(INFO),
    requirement=(
        'SPEC.md §tls: "A client that stops in the middle of its TLS handshake MUST NOT prevent '
        'the server from completing the handshake of another client."'
    ),
    expected="a second client's handshake completes while the first has sent half a ClientHello",
)
def test_stalled_handshake_does_not_hold_up_others(endpoint: Endpoint) -> None:
    tls.check_stalled_handshake_does_not_block_others(endpoint)
