"""The conformance suites, one folder per service: ``pytest suites/`` in a checkout.

A regular package so that the suites also work installed: the wheel ships this folder as
``harness.suites`` (setup.py), which ``wirecheck check`` and ``pytest --pyargs
harness.suites`` run. The service folders stay without ``__init__.py``: pytest imports their
test modules by basename, which is why every test module's name starts with its service's
(tests/test_wheel.py checks that no two collide).
"""
