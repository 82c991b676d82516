"""`tracebed demo`, the main job, as a user runs it: a real subprocess on the reference stack."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TRACEBED = [sys.executable, "-c", "from tracebed.cli import main; main()"]


@pytest.mark.slow
def test_demo_runs_the_bundled_suite_and_reports(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*TRACEBED, "demo", "--report", str(tmp_path / "report")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "tracebed demo: all passed" in output
    # The summary names the tiers with ready times and the flows with their verdicts.
    assert "frontend-proxy" in output and "startup (ready" in output
    assert "flows::test_flow_follows_its_chain[checkout]" in output
    report = tmp_path / "report"
    index = (report / "index.html").read_text()
    assert "test_flow_follows_its_chain" in index
    junit = ET.parse(report / "junit.xml")
    trace_ids = {p.get("value") for p in junit.iter("property") if p.get("name") == "tracebed.trace_id"}
    assert trace_ids and all(len(t or "") == 32 for t in trace_ids)


def test_demo_exits_non_zero_when_nothing_ran(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*TRACEBED, "demo", "--report", str(tmp_path / "r"), "-k", "no_such_test_anywhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "FAILED (pytest exit code 5)" in proc.stdout + proc.stderr


def test_help_explains_the_commands() -> None:
    proc = subprocess.run([*TRACEBED, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("demo", "sink", "up", "down", "topology", "collector-overlay", "diff"):
        assert f"  {name}" in proc.stdout, proc.stdout
