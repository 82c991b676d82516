"""The `conformance` fixture and marker: a user's tests record flows on a sink, and the
telemetry of each test's own flows is checked against `--tracebed-registry`."""

from __future__ import annotations

import importlib.metadata
import re
import textwrap

import pytest

pytest_plugins = ["pytester"]

REGISTRY = """\
file_format: definition/2
attributes:
  - key: service.name
    type: string
    brief: service
    stability: stable
  - key: demo.order.id
    type: string
    brief: order id
    stability: stable
  - key: demo.order.amount
    type: double
    brief: amount
    stability: stable
"""

CONFTEST = """
import pytest
from tracebed.model import SpanStore

class _Sink:
    store = SpanStore()

@pytest.fixture(scope="session")
def span_sink():
    return _Sink()
"""

USER_TESTS = """
import os
import pytest
from tracebed.model import Span
from tracebed.plugin.report import attach_trace_id


def emit(request, span_sink, attrs):
    trace_id = os.urandom(16).hex()
    span_id = os.urandom(8).hex()
    span_sink.store.add_spans(
        [Span(trace_id, span_id, "PlaceOrder", attributes=attrs, resource={"service.name": "checkout"})]
    )
    attach_trace_id(request, trace_id)
    return trace_id


def test_unregistered_key(request, span_sink, conformance):
    trace_id = emit(request, span_sink, {"demo.order.id": "o1", "demo.secret": "x"})
    print("TRACE", trace_id)
    conformance.check()


def test_conforming(request, span_sink, conformance):
    emit(request, span_sink, {"demo.order.id": "o1", "demo.order.amount": 1.5})
    report = conformance.check()
    assert report.count("violation") == 0
    assert report.statistics.seen_registry_attributes["demo.order.id"] == 1


def test_other_tests_flows_are_not_checked(request, span_sink, conformance):
    emit(request, span_sink, {"demo.order.id": "o2"})
    assert len(conformance.spans()) == 1


@pytest.mark.conformance
def test_marked(request, span_sink):
    emit(request, span_sink, {"demo.order.amount": "12.50"})


@pytest.mark.conformance
def test_marked_without_flows():
    pass


@pytest.mark.conformance(exclude=["missing_attribute", "extends_namespace"])
def test_marked_with_policy(request, span_sink):
    emit(request, span_sink, {"demo.order.note": "x"})
"""


def _plugin_args() -> list[str]:
    installed = {
        ep.name for ep in importlib.metadata.entry_points(group="pytest11")
    }  # once installed, the entry point loads it
    return [] if "tracebed_conformance" in installed else ["-p", "tracebed.plugin.conformance"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    (pytester.path / "registry").mkdir()
    (pytester.path / "registry" / "shop.yaml").write_text(REGISTRY)
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    return pytester


def test_fixture_and_marker_check_each_tests_own_flows(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess(*_plugin_args(), "--tracebed-registry=registry", "-s")
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    found = re.search(r"TRACE ([0-9a-f]{32})", out)
    assert found is not None
    trace_id = found.group(1)
    # The failure lists the finding under the flow's trace and the span it is about.
    result.stdout.fnmatch_lines(
        [
            "*test_unregistered_key*",
            "*telemetry of this test's 1 flow does not conform to *registry*",
            f"*trace {trace_id}*",
            "*checkout: span 'PlaceOrder' span *",
            "*violation*missing_attribute*Attribute 'demo.secret' does not exist in the registry.*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*test_marked*", "*type_mismatch*Attribute 'demo.order.amount' has type 'string'*"]
    )
    assert "FAILED test_user.py::test_marked_with_policy" not in out
    result.stdout.fnmatch_lines(
        ["*test_marked_without_flows*", "*conformance: this test recorded no flows*"]
    )


def test_no_registry_says_how_to_give_one(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess(*_plugin_args(), "-k", "conforming")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*no registry; pass --tracebed-registry DIR*2.0.2 has no registry*"]
    )


def test_bad_registry_is_one_line(suite: pytest.Pytester) -> None:
    (suite.path / "registry" / "shop.yaml").write_text(REGISTRY + "  - key: x\n    typo: 1\n")
    result = suite.runpytest_inprocess(
        *_plugin_args(), "--tracebed-registry=registry", "-k", "conforming"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*conformance: registry: *shop.yaml: attributes[[]3[]].typo: unknown key 'typo'*"]
    )


def test_the_report_shows_the_fixtures_findings_under_their_span(suite: pytest.Pytester) -> None:
    # The report fetches each recorded trace from the session's trace source: the fake sink's.
    suite.makeconftest(
        CONFTEST.replace("def span_sink():\n    return _Sink()", "def span_sink(pytestconfig):\n"
        "    from tracebed.plugin.report import set_trace_source\n"
        "    set_trace_source(pytestconfig, _Sink.store)\n    return _Sink()")
    )  # fmt: skip
    result = suite.runpytest_inprocess(
        *_plugin_args(), "--tracebed-registry=registry", "--tracebed-report=rep",
        "-k", "unregistered_key",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    pages = list((suite.path / "rep" / "tests").glob("*unregistered_key*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    block = re.search(r'<div class="span-findings" data-span-id="[0-9a-f]{16}">(.*?)</div>', page)
    assert block is not None, page[-3000:]
    assert "checkout: PlaceOrder" in block.group(1)
    assert "Attribute &#x27;demo.secret&#x27; does not exist in the registry." in block.group(1)
    index = (suite.path / "rep" / "index.html").read_text()
    assert "conformance: 1 violation" in index
