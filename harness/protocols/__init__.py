"""Sans-IO protocol objects, one module per service family.

A protocol object never touches a socket, a thread or a clock. A runner feeds it the
bytes it read and writes out the bytes it returns; this is h11's discipline, and it is
what lets one protocol run unchanged on every concurrency model in ``harness.runners``.
"""
