"""Secret service options (the authenticated services' shared key): required, never shown.

The key reaches a reference server as ``--option authkey=VALUE``; a launch that fails must
not print it, a refused value is not echoed, and a server without one does not start.
"""

from __future__ import annotations

import pytest

from harness.launch import HIDDEN_VALUE, LaunchError, hide_values, launch_server
from harness.pytest_plugin import _fresh_secrets
from harness.services import ServiceOptionError, checker_options, get_service, per_run_secret_options

SECRET = "do-not-print-this-value-0123456789"


def test_hide_values_masks_every_occurrence() -> None:
    argv = ["serve", "--option", f"authkey={SECRET}", SECRET]
    assert hide_values(argv, [SECRET]) == ["serve", "--option", f"authkey={HIDDEN_VALUE}", HIDDEN_VALUE]


def test_a_failed_launch_does_not_print_the_secret() -> None:
    with pytest.raises(LaunchError) as failure:
        launch_server(
            "mpconn-echo", "no-such-runner", options={"authkey": SECRET}, secret_options=["authkey"], ready_timeout=30
        )
    # The secret travels in the server's environment, never on its command line, so the
    # command a failure message shows cannot carry it.
    assert SECRET not in str(failure.value)
    assert SECRET not in " ".join(failure.value.args)


@pytest.mark.parametrize("service", ["mpconn-echo", "auth-echo-tcp"])
def test_authenticated_services_require_their_key_and_hide_a_refused_one(service: str) -> None:
    entry = get_service(service)
    with pytest.raises(ServiceOptionError, match="needs --option authkey"):
        entry.server_config({})
    with pytest.raises(ServiceOptionError) as refused:
        entry.server_config({"authkey": "short"})
    assert "short" not in str(refused.value).replace("shorter", "")
    assert entry.server_config({"authkey": SECRET}).options["authkey"] == SECRET.encode()
    assert [option.name for option in per_run_secret_options(entry)] == ["authkey"]


def test_each_pytest_process_draws_its_own_per_run_secret() -> None:
    first, second = _fresh_secrets(), _fresh_secrets()
    assert set(first) == {name for name, option in checker_options().items() if option.secret and option.for_server}
    assert first["authkey"] != second["authkey"]
