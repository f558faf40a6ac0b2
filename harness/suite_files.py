"""Where the conformance suites are: installed with the package, or beside it in a checkout.

A wheel ships suites/ inside the package as ``harness/suites`` (setup.py); a checkout keeps
it at the top, beside harness/, where ``pytest suites/`` and the root conftest expect it.
Code that needs the suites' files (``wirecheck check``, the case catalogue) asks here, so it
finds the suites that belong to the harness it runs — never a copy found on sys.path, which
under an editable install of another checkout could be that checkout's.
"""

from __future__ import annotations

from pathlib import Path

# The package's own folder: site-packages/harness installed, <checkout>/harness otherwise.
PACKAGE_DIRECTORY = Path(__file__).resolve().parent

# Installed first: a wheel's harness/ has no checkout around it, and a checkout's harness/
# has no suites/ inside it, so at most one of the two exists.
CANDIDATES = (PACKAGE_DIRECTORY / "suites", PACKAGE_DIRECTORY.parent / "suites")


class SuitesNotFoundError(RuntimeError):
    """Neither an installed nor a checked-out suites folder is next to this harness."""


def suites_directory() -> Path:
    """The suites folder of this harness (the one holding the suites' shared conftest.py).

    Raises:
        SuitesNotFoundError: no suites folder in either place (a broken install).
    """
    for candidate in CANDIDATES:
        if (candidate / "conftest.py").is_file():
            return candidate
    raise SuitesNotFoundError(
        f"no conformance suites at {' or '.join(str(candidate) for candidate in CANDIDATES)}: "
        "reinstall wirecheck"
    )
