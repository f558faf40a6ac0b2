"""A full echo suite run passes on every reference runner and leaves nothing behind.

One run serves both claims: it launches every stream runner for echo-tcp and line-echo-tcp
(two servers per runner), and afterwards no process, thread, fd or port of ours may remain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from harness.runners import STREAM, runners_for

REPO = Path(__file__).resolve().parent.parent
MARKER = "WIRECHECK_LEAK_MARKER"


def processes_with_marker(value: str) -> list[str]:
    found = []
    needle = f"{MARKER}={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name}: {command}")
        except OSError:
            continue  # exited while we looked, or not ours to read
    return found


def test_echo_suites_pass_on_every_runner_and_leave_nothing_behind(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {**os.environ, MARKER: marker, "HYPOTHESIS_PROFILE": "ci"}
    probe = subprocess.run(
        [
            sys.executable, "-m", "tests.cleanup_probe", "--",
            "suites/", "-q", "-p", "no:xdist", "-p", "no:randomly",
            "--service", "echo-tcp", "--service", "line-echo-tcp",
            "--results", str(tmp_path / "results.json"),
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    assert report["exit_status"] == 0, probe.stdout[-3000:]
    assert report["threads"] == []
    assert report["fds"] == {}
    assert processes_with_marker(marker) == []
    # The run did launch every runner (else "nothing left" would prove nothing), and no
    # MUST case failed on any of them.
    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert {case["target"] for case in cases} == {f"runner:{name}" for name in runners_for(STREAM)}
    broken = [f"{c['id']}@{c['target']}: {c['verdict']}" for c in cases if c["verdict"] in ("FAILED", "ERROR")]
    assert broken == []
