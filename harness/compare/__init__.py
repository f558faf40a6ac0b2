"""``wirecheck compare``: the same protocol on every runner, under the same locust load, measured.

For one service, each runner in turn is started on an ephemeral loopback port, pinned to one
core, and driven by locust pinned to the other core, at each number of concurrent users of
the sweep, after a warm-up, several times (the median is reported and the spread shown).
Per point it records requests/s, latency percentiles at 10 µs resolution, failures,
connections that stalled or timed out, server CPU and peak RSS, and generator CPU. In the same
run it measures the generator's own ceiling and a plain threaded client's rate, and flags the
points where the generator, not the server, was the limit. ``--server-cpu FRACTION`` holds
every runner's server to the same CPU budget (a cgroup quota), so that every point is
server-bound. Outputs: ``compare.json`` (one record per point), ``compare.md`` (the tables,
the service's goals), ``throughput.png`` and ``p99.png`` (a line per runner), and locust's
HTML report, CSV files and wirecheck's JSON report per point (``--html-dir``).

One module per step, over the typed records of :mod:`harness.compare.records`, each layer
importing only those below it (none imports harness/cli.py):

- :mod:`~harness.compare.records`: the records and their JSON form (compare.json);
- :mod:`~harness.compare.formatting`: figures as people read them, progress lines;
- :mod:`~harness.compare.measure`: one measurement (pinned, optionally CPU-capped server;
  one locust or threaded-client subprocess);
- :mod:`~harness.compare.aggregation`: medians and spreads, generator-bound flags;
- :mod:`~harness.compare.references`: the generator ceiling and the server-bound reference;
- :mod:`~harness.compare.sweep`: every runner at every user count, and the threaded client;
- :mod:`~harness.compare.goals`: the service's own goals, named by its load profile;
- :mod:`~harness.compare.report`, :mod:`~harness.compare.charts`: compare.json, compare.md,
  the PNG charts;
- :mod:`~harness.compare.run`: the steps in order; :mod:`~harness.compare.command`: the
  command line.

The service comes from the registry (harness/services.py): its load profile names the
locustfile and user, the request type that measures it, its requester (for the threaded
client) and its goals. No module here names a service.
"""

from harness.compare.command import add_compare_command

__all__ = ["add_compare_command"]
