"""TLS contexts for reference servers and for the suites' clients, and throw-away certificates.

A reference server over TLS needs a certificate; a user who gives none gets a throw-away CA
and a leaf certificate for ``localhost``, ``127.0.0.1`` and ``::1`` made with trustme (a
well-kept library for exactly this: real X.509, no OpenSSL command line), and the CA's path
so that a client can verify it. Versions below TLS 1.2 are refused (RFC 8996 deprecates
TLS 1.0 and 1.1).
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Callable


class TlsSetupError(RuntimeError):
    """A certificate or key that cannot be used; the message names the file and the reason."""


# The names a throw-away certificate is valid for: every way a loopback server is reached.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ThrowawayAuthority:
    """A fresh CA and a leaf certificate for the loopback names, written to a private folder.

    Attributes:
        folder: where ``ca.pem``, ``cert.pem`` (leaf and chain) and ``key.pem`` are, and
            ``ca-key.pem``, the CA's own key, for tests that issue more certificates from it
            (a mutant with a certificate for another name, or an expired one).

    Resource handling: :meth:`remove` deletes the folder; it is also registered with atexit.
    """

    def __init__(self, names: tuple[str, ...] = LOOPBACK_NAMES) -> None:
        import trustme  # imported here: only TLS runs need it

        self.folder = Path(tempfile.mkdtemp(prefix="wirecheck-tls-"))
        authority = trustme.CA()
        leaf = authority.issue_cert(*names)
        authority.cert_pem.write_to_path(str(self.ca_path))
        authority.private_key_pem.write_to_path(str(self.ca_key_path))
        leaf.private_key_pem.write_to_path(str(self.key_path))
        with open(self.cert_path, "wb") as chain:
            for blob in leaf.cert_chain_pems:
                chain.write(blob.bytes())
        atexit.register(self.remove)

    @property
    def ca_path(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key_path(self) -> Path:
        return self.folder / "ca-key.pem"

    @property
    def cert_path(self) -> Path:
        return self.folder / "cert.pem"

    @property
    def key_path(self) -> Path:
        return self.folder / "key.pem"

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def server_tls_context(
    cert: str | None, key: str | None, *, announce: Callable[[str], None] = lambda path: None
) -> ssl.SSLContext:
    """A server context from ``cert``/``key``, or from a throw-away authority when both are None.

    Args:
        cert: PEM certificate chain, or None.
        key: PEM private key, or None.
        announce: told the CA file's path when a throw-away authority is made.

    Raises:
        TlsSetupError: a file is missing or is not a matching certificate and key.
    """
    if cert is None:
        authority = ThrowawayAuthority()
        cert, key = str(authority.cert_path), str(authority.key_path)
        announce(str(authority.ca_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996: not 1.0 or 1.1
    # A client's TCP EOF without close_notify ends its data like a close_notify would, instead
    # of failing the connection: OpenSSL 3 otherwise refuses every later write, and the
    # echo of what the client did send would be lost. RFC 8446 6.1 only warns that "the
    # receiver cannot know that all the data that was sent has been received".
    context.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot use certificate {cert} with key {key}: {exc}") from None
    return context


def client_tls_context(ca_file: str | None, *, insecure: bool = False) -> ssl.SSLContext:
    """A client context that verifies against ``ca_file`` (or, with ``insecure``, nothing).

    Raises:
        TlsSetupError: the CA file cannot be read.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        if ca_file is not None:
            context.load_verify_locations(ca_file)
        else:
            context.load_default_certs()
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot read CA file {ca_file}: {exc}") from None
    return context
