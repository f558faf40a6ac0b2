"""External server targets: third-party servers measured beside our runners, by name.

An external target is a command that binds 127.0.0.1 on an ephemeral port, prints one line
``READY tcp 127.0.0.1:PORT`` and serves until SIGTERM, like ``wirecheck serve``. A name is
resolved in this order:

1. ``NAME=COMMAND`` on the command line (``--external``): the command, split like a shell;
2. a recipe ``fixtures/thirdparty/<name with - as _>.py``: ``python <recipe>``;
3. a host of harness/loadgen/external_hosts.py (waitress, gunicorn-sync, gunicorn-gthread,
   twisted-kv) serving the application the service's load profile names.

So a recipe added under fixtures/thirdparty/ replaces the built-in host of the same name with
no change here, and a server no one has written a recipe for can still be measured.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from harness.loadgen.external_hosts import HOSTS
from harness.loadgen.profile import LoadProfile
from harness.usage import UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
RECIPES = REPO_ROOT / "fixtures" / "thirdparty"


def recipe_path(name: str) -> Path:
    return RECIPES / (name.replace("-", "_") + ".py")


def external_target_command(name: str, profile: LoadProfile) -> list[str]:
    """The command that starts the external target ``name`` (see the module's order).

    Raises:
        UsageError: no recipe and no built-in host of that name, or the service's profile
            names no application for a built-in host to serve.
    """
    recipe = recipe_path(name)
    if recipe.exists():
        return [sys.executable, str(recipe)]
    if name in HOSTS:
        if profile.external_application is None:
            raise UsageError(f"external target {name}: this service names no application for {name} to host")
        return [sys.executable, "-m", "harness.loadgen.external_hosts", name, profile.external_application]
    raise UsageError(
        f"external target {name!r}: no recipe {recipe.relative_to(REPO_ROOT)} and no built-in host of that name "
        f"(built-in: {', '.join(sorted(HOSTS))}); or give NAME=COMMAND"
    )


def resolve_external_targets(given: list[str], profile: LoadProfile, runners: list[str]) -> dict[str, list[str]]:
    """``--external`` values (or the profile's defaults when none is given) to name -> command.

    ``none`` alone means no external target.

    Raises:
        UsageError: an unknown name, an empty command, or a name that is also a runner's.
    """
    if given == ["none"]:
        return {}
    targets: dict[str, list[str]] = {}
    for item in given or list(profile.external_targets):
        name, equals, command = item.partition("=")
        name = name.strip()
        if not name or name in runners or name in targets:
            raise UsageError(f"--external {item!r}: the name must be new (not a runner's, not given twice)")
        argv = shlex.split(command) if equals else external_target_command(name, profile)
        if not argv:
            raise UsageError(f"--external {item!r}: an empty command")
        targets[name] = argv
    return targets
