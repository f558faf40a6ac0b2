"""No generic module names a service: only the registry and the service family's own modules.

DESIGN.md: "Everything that is particular to a service ... is in its registry entry and its
own modules: no other module names a service." This test holds harness/ and loadtests/ to it.
A module *names* a service when one of its string literals (f-string parts included; not
docstrings, and comments are not code) contains a service name from
``harness.services.SERVICES`` as a whole word (``echo-tcp`` inside ``line-echo-tcp`` does not
count). It may when it is harness/services.py or one of the modules that service's registry
entry lists in ``Service.modules``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.services import SERVICES

REPO_ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("harness", "loadtests")
REGISTRY = "harness/services.py"

# Modules a colleague is editing at the moment, which still name a service; each entry must
# go once the module is fixed (the test below says so when it is).
BEING_EDITED_ELSEWHERE = {
    "harness/cases.py": "the --target help text's example (echo-tcp=127.0.0.1:7)",
}

_NAME_PATTERNS = {name: re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])") for name in SERVICES}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def service_names_in(source: str) -> list[tuple[int, str]]:
    """``(line, service name)`` for every string literal of ``source`` that names a service."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    named = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            named += [(node.lineno, name) for name, pattern in _NAME_PATTERNS.items() if pattern.search(node.value)]
    return sorted(named)


def _modules() -> list[str]:
    return sorted(
        str(path.relative_to(REPO_ROOT)) for folder in SCANNED for path in (REPO_ROOT / folder).rglob("*.py")
    )


def test_the_scan_sees_literals_but_not_docstrings_or_comments() -> None:
    source = '''"""Serves echo-tcp."""
# time-udp in a comment
def f():
    """daytime-tcp in a docstring."""
    return ["line-echo-tcp", f"{1}:echo-udp"]
'''
    assert service_names_in(source) == [(5, "echo-udp"), (5, "line-echo-tcp")]


@pytest.mark.parametrize("module", _modules())
def test_a_module_names_only_its_own_services(module: str) -> None:
    if module == REGISTRY:
        return
    named = service_names_in((REPO_ROOT / module).read_text())
    if module in BEING_EDITED_ELSEWHERE:
        assert named, f"{module} no longer names a service: remove it from BEING_EDITED_ELSEWHERE"
        return
    foreign = [(line, name) for line, name in named if module not in SERVICES[name].modules]
    assert not foreign, "\n".join(
        f"{module}:{line} names {name}, but is not one of its modules ({', '.join(SERVICES[name].modules)}); "
        "move what is particular to the service into its registry entry or its own modules"
        for line, name in foreign
    )


def test_every_declared_module_exists() -> None:
    for service in SERVICES.values():
        for module in service.modules:
            assert (REPO_ROOT / module).is_file(), f"{service.name} declares {module}, which does not exist"
