"""Services' goals under load, one module per service family.

Each module provides the function that a service's load profile names in
``LoadProfile.goals`` (harness/services.py): it takes a finished
:class:`~harness.compare.records.Comparison` and returns
:class:`~harness.compare.records.Goal` records. ``wirecheck compare`` (harness/compare/) calls
it through the profile and knows no goal of its own.
"""
