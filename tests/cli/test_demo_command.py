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
        # the bundled suite's contracts and chains are 2.0.2's (3.0.0's land with h-suite30)
        [*TRACEBED, "demo", "--demo-version", "2.0.2", "--report", str(tmp_path / "report")],
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
    assert "flows::test_flow_follows_its_chain[2.0.2-checkout]" in output
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


def test_summary_in_a_log_keeps_names_and_ids_whole_and_ends_with_the_report(
    tmp_path: Path,
) -> None:
    import io

    from rich.console import Console

    from tracebed.cli.demo import _print_summary, _Summary

    summary = _Summary()
    long_test = "src/tracebed/suites/otel_demo/test_flows.py::test_flow_follows_its_chain[" + (
        "checkout-with-a-very-long-parameter-name-that-does-not-fit-in-eighty-columns]"
    )
    ids = [f"{i:032x}" for i in range(1, 4)]
    summary.tests = {long_test: {"outcome": "passed", "trace_ids": ids}}
    summary.timeline = [("frontend-proxy", 3, 0.0, 1.25, "ready")]
    (tmp_path / "index.html").write_text("<html></html>")
    out = io.StringIO()
    _print_summary(Console(file=out, width=80), summary, tmp_path, 0)  # not a terminal
    text = out.getvalue()
    assert "…" not in text
    assert "flows::test_flow_follows_its_chain[checkout-with-a-very-long-parameter-name" in text
    assert all(f"trace {trace_id}" in text for trace_id in ids)  # every id, whole
    assert "startup (ready" in text and "frontend-proxy 1.25s" in text
    lines = text.splitlines()
    assert lines[-2] == "tracebed demo: all passed"
    assert lines[-1] == f"report: {(tmp_path / 'index.html').resolve()}"


def test_the_default_report_directory_is_ignored_by_git() -> None:
    gitignore = Path(__file__).resolve().parents[2] / ".gitignore"
    assert "/tracebed-report/" in gitignore.read_text().splitlines()
