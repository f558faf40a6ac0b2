"""Root conftest: loads wirecheck's pytest plugin for suites/ and tests/.

The plugin (harness/pytest_plugin.py) adds --service, --runner, --target, --case-timeout
and --results, supplies the ``endpoint`` fixture to ``@case`` functions and turns their
outcomes into verdicts. It lives in the package, not here, so that the suites can also be
run from an installed wirecheck (``pytest -p harness.pytest_plugin``).
"""

pytest_plugins = ["harness.pytest_plugin"]
