"""The bundled suite's waits hold at the SDKs' default export delay of 5 s (issue 17): a few
flows (in the flow batch), a contract and one fault scenario of `tracebed demo`, with every
stand-in process exporting only every 5 s, pass — no quiet window shorter than the delay
decides that a trace is complete."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRACEBED = [sys.executable, "-c", "from tracebed.cli import main; main()"]
SELECTED = (
    "(test_flow_follows_its_chain and (checkout or ads))"
    " or (test_service_contract and Charge)"
    " or test_payment_failure_100"
)
EXPECTED = (
    "passed   flows::test_flow_follows_its_chain[3.0.0-checkout]",
    "passed   flows::test_flow_follows_its_chain[3.0.0-ads]",
    "passed   contracts::test_service_contract[3.0.0-payment-Charge]",
    "passed   faults::test_payment_failure_100_fails_every_checkout",
)


@pytest.mark.slow
def test_flows_and_a_fault_pass_with_the_sdk_default_export_delay(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *TRACEBED,
            "demo",
            "--report",
            str(tmp_path / "report"),
            "--",
            "--tracebed-export-delay",
            "5",
            "-k",
            SELECTED,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200", "TRACEBED_SUITE_BATCH": ""},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "tracebed demo: all passed" in output
    for line in EXPECTED:
        assert line in output, output[-6000:]
