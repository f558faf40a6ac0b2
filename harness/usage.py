"""The one error a command raises for a user's mistake, shared by every ``wirecheck`` command.

It lives below the command modules (harness/cli.py, harness/compare/command.py), so that a
command can raise it without importing the CLI that dispatches to it.
"""

from __future__ import annotations

# The exit status of a command the user got wrong (argparse's own convention).
EXIT_USAGE = 2


class UsageError(Exception):
    """The user asked for something that cannot be done; the message (one line) says what and why."""
