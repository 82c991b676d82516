"""The demo's own Tracetest files, unchanged, against tracebed's reference stack (no Docker).

Slow (it starts the stack's first tiers), so it is marked `slow`; it proves that selectors,
assertions, the gRPC trigger built from demo.proto, error statuses and the trigger span behave
as the demo's suite expects. The full suite (all 10 folders) is a longer run: see the report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DEMO = (Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2"
        / "tracetesting").resolve()


@pytest.mark.slow
def test_demo_currency_and_payment_suites_pass_on_the_reference_stack(pytester: pytest.Pytester) -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-v", "--tracebed-until=payment", f"--junitxml={junit}",
        "--tracebed-demo-version=2.0.2",  # the 2.0.2 suite, the stand-in as 2.0.2
        str(DEMO / "currency"), str(DEMO / "payment"), timeout=300,
    )
    result.assert_outcomes(passed=12)
    # error triggers: the gRPC status code of the rejected cards reaches the trigger span
    result.stdout.fnmatch_lines(["*payment/all.yaml::[[]2[]] Payment: invalid credit card::"
                                 "It should return a return an gRPC error code to the caller PASSED*'2'*"])
    cases = ET.parse(junit).getroot().findall(".//testcase")
    trace_ids = {p.get("value") for c in cases for p in c.findall(".//property") if "trace" in (p.get("name") or "")}
    assert len(trace_ids) == 6  # one trace per Tracetest test, shared by its specs
