"""``wirecheck report``: many results files, one page of cases x implementations.

Results accumulate: each run writes a results file naming what it judged (``--label``), and
this package merges any number of them. One module per step, each importing only those
above it in this list (none imports harness/cli.py):

- :mod:`~harness.report.model`: read and check results files, merge them into a matrix
  (columns: implementations; rows: cases);
- :mod:`~harness.report.html`: one self-contained page with filters and each cell's evidence;
- :mod:`~harness.report.markdown`: tables for READMEs and issues (and the generated README
  sections are made of them);
- :mod:`~harness.report.junit`: JUnit XML for CI dashboards;
- :mod:`~harness.report.command`: the command line.

No module here names a service: everything comes from the files.
"""

from harness.report.command import add_report_command

__all__ = ["add_report_command"]
