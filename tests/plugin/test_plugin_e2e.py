"""The plugin end to end: a user's test file against the reference stack, in a subprocess.

One pytest session (one stack start) covers fixtures, the flags marker, a load run, failure
output with the trace tree, JUnit properties and the report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = '''
import pytest

@pytest.mark.flow
def test_checkout_reaches_every_backend(shop, span_sink):
    outcome = shop.checkout()
    trace = outcome.main.trace(
        until=lambda t: {"payment", "email", "accounting", "fraud-detection"} <= t.services,
        timeout=30,
    )
    assert ("frontend", "checkout") in trace.edges

@pytest.mark.flags(paymentFailure="100%")
def test_payment_failure_flag_fails_the_charge(shop):
    outcome = shop.checkout()
    assert outcome.main.status_code >= 500
    trace = outcome.main.trace(until=lambda t: any(s.service == "payment" and s.status.is_error for s in t), timeout=30)
    assert trace.errors

def test_flag_restored_after_marker(shop):
    assert shop.checkout().main.status_code == 200

def test_failure_shows_the_flow_and_its_tree(shop):
    result = shop.browse_product(product="OLJCESPC7Z")
    result.trace(until=lambda t: "product-catalog" in t.services, timeout=30)
    assert result.status_code == 418, "deliberate failure"

def test_short_load_run(load_run):
    summary = load_run(users=2, spawn_rate=2, duration_s=6, wait_time=(0.1, 0.3), max_requests=200)
    assert summary.ok, summary.render()
    assert summary.requests > 0

def test_demo_stack_urls(demo_stack):
    assert demo_stack.url("frontend-proxy").startswith("http://127.0.0.1:")
    assert demo_stack.timeline.ready_at("frontend-proxy") > demo_stack.timeline.ready_at("frontend")
'''


@pytest.mark.slow
def test_user_suite_against_reference_stack(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--junitxml=junit.xml",
        "--tracebed-report=report",
        "--tracebed-demo-version=2.0.2",  # the span names below are 2.0.2's
        timeout=600,
    )
    result.assert_outcomes(passed=5, failed=1)
    output = result.stdout.str()
    # The failure shows the request, the response head and the trace tree.
    assert "tracebed: flows this test drove" in output
    assert "[browse_product] GET http://127.0.0.1:" in output
    assert "product-catalog: oteldemo.ProductCatalogService/GetProduct [server]" in output
    junit = ET.parse(pytester.path / "junit.xml")
    props = [p.get("value") for p in junit.iter("property") if p.get("name") == "tracebed.trace_id"]
    assert len(props) >= 5 and all(len(v or "") == 32 for v in props)
    assert (pytester.path / "report" / "index.html").exists()

