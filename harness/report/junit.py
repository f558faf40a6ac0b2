"""The report as JUnit XML, for CI systems that show test results (GitLab, Jenkins, GitHub actions).

A ``<testsuite>`` per implementation and a ``<testcase>`` per case it ran, named
``CASE-ID`` with the service as its class. What a CI dashboard counts must match the suite's
own exit status (../shared/DESIGN.md: a run fails iff a MUST case FAILED or something
ERRORed), so only FAILED becomes a ``<failure>`` and only ERROR an ``<error>``; NON-STRICT (a
SHOULD not met) and INFORMATIONAL (observed, not judged) are passes, and every case carries
its verdict and level as ``<properties>`` so nothing is lost. Written with
:mod:`xml.etree.ElementTree`, which escapes every string.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from harness.report.model import Report
from harness.verdicts import Verdict


def junit_xml(report: Report) -> str:
    """The report as a JUnit XML document (UTF-8 text with its declaration)."""
    suites = ElementTree.Element("testsuites", name="wirecheck")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for implementation in report.implementations:
        suite = ElementTree.SubElement(suites, "testsuite", name=implementation.name)
        properties = ElementTree.SubElement(suite, "properties")
        for name, value in (
            ("label", implementation.label),
            ("version", implementation.version),
            ("targets", ", ".join(implementation.targets)),
            ("machines", ", ".join(implementation.machines)),
            ("dates", ", ".join(implementation.dates)),
            ("suite", "; ".join(implementation.suites)),
        ):
            if value:
                ElementTree.SubElement(properties, "property", name=name, value=value)
        counts = {"tests": 0, "failures": 0, "errors": 0}
        elapsed = 0.0
        for row in report.rows:
            record = row.cells.get(implementation.name)
            if record is None:
                continue
            counts["tests"] += 1
            elapsed += record.duration_s
            testcase = ElementTree.SubElement(
                suite, "testcase", classname=record.service, name=record.id, time=f"{record.duration_s:.3f}"
            )
            case_properties = ElementTree.SubElement(testcase, "properties")
            for name, value in (("verdict", record.verdict), ("level", record.level), ("target", record.target)):
                ElementTree.SubElement(case_properties, "property", name=name, value=value)
            evidence = f"requirement: {record.requirement}\nexpected: {record.expected}\nactual: {record.actual}"
            first_line = (record.actual.splitlines() or [""])[0]
            if record.verdict == Verdict.FAILED.value:
                counts["failures"] += 1
                failure = ElementTree.SubElement(testcase, "failure", message=first_line, type=record.verdict)
                failure.text = evidence
            elif record.verdict == Verdict.ERROR.value:
                counts["errors"] += 1
                error = ElementTree.SubElement(testcase, "error", message=first_line, type=record.verdict)
                error.text = evidence
            elif record.verdict != Verdict.OK.value:
                output = ElementTree.SubElement(testcase, "system-out")
                output.text = f"{record.verdict} ({record.level})\n{evidence}"
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
        suite.set("time", f"{elapsed:.3f}")
    for key, value in totals.items():
        suites.set(key, str(value))
    ElementTree.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"
