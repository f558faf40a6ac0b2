"""Which packages the distribution ships: harness, and the suites as ``harness.suites``.

pyproject.toml holds the project's metadata; this file says only what pyproject.toml cannot
derive. The conformance suites live in suites/ at the top of a checkout, where ``pytest
suites/`` finds them beside the root conftest, but an installed wirecheck must judge servers
with the same files. So suites/ ships inside the harness package, as ``harness.suites``
(no second top-level name in site-packages; `wirecheck check` and ``pytest --pyargs
harness.suites`` run them). The suite folders are namespace packages (no ``__init__.py``:
pytest imports their test modules by basename, as in a checkout), so they are found with
``find_namespace_packages``; both lists are derived from the tree, so a new suite or a new
harness subpackage is never left out of the wheel — namespace packages included (harness/loadgen
has no ``__init__.py``; ``find_packages`` alone dropped it). fixtures/ (mutants, third-party recipes),
loadtests/ and tests/ are not shipped: they serve the project's own tests.
"""

from setuptools import find_namespace_packages, setup

PACKAGE = "harness"
SUITES_PACKAGE = "harness.suites"
SUITES_FOLDER = "suites"


def package_and_subpackages(package: str, folder: str) -> list[str]:
    """``package`` (whose files are in ``folder``) and every folder below it, as packages."""
    below = find_namespace_packages(folder, exclude=["*__pycache__*"])
    return [package, *(f"{package}.{name}" for name in below)]


setup(
    packages=[*package_and_subpackages(PACKAGE, PACKAGE), *package_and_subpackages(SUITES_PACKAGE, SUITES_FOLDER)],
    package_dir={SUITES_PACKAGE: SUITES_FOLDER},
)
