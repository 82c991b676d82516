"""The Python API: select(), assert_that(trace).has()/lacks()/follows()."""

from __future__ import annotations

import pytest

from tracebed.model import SpanKind, StatusCode, Trace
from tracebed.query import assert_that, select

from .helpers import TRACE_ID, ids, span


@pytest.fixture
def trace() -> Trace:
    return Trace(TRACE_ID, [
        span(1, "POST /api/checkout", service="frontend", kind=SpanKind.SERVER, http__status_code=200),
        span(2, "oteldemo.PaymentService/Charge", 1, service="frontend", kind=SpanKind.CLIENT,
             rpc__system="grpc", rpc__grpc__status_code=0),
        span(3, "grpc.oteldemo.PaymentService/Charge", 2, service="payment", kind=SpanKind.SERVER,
             rpc__system="grpc", rpc__grpc__status_code=0, app__payment__charged=True, duration_ms=12),
        span(4, "send", 1, service="frontend", status=StatusCode.ERROR, message="nope"),
    ])


def test_select(trace: Trace) -> None:
    assert ids(select(trace, 'span[rpc.system="grpc"]')) == [2, 3]


def test_has_with_count_where_and_expect(trace: Trace) -> None:
    spans = assert_that(trace).has('span[tracetest.span.type="rpc" kind="server"]', count=1,
                                   where={"rpc.grpc.status_code": 0, "app.payment.charged": True},
                                   expect=["attr:tracetest.span.duration < 1s", "attr:service.name = \"payment\""])
    assert ids(spans) == [3]
    assert_that(trace).has('span[rpc.system="grpc"]', min_count=2, max_count=2)
    assert_that(trace).has("", expect=["attr:tracetest.selected_spans.count = 4"])
    assert_that(trace).lacks('span[service.name="ad"]')


def test_failures_explain_and_mark_the_tree(trace: Trace) -> None:
    with pytest.raises(AssertionError) as info:
        assert_that(trace).has('span[rpc.system="grpc"]', count=1, where={"rpc.grpc.status_code": 2})
    text = str(info.value)
    assert "matched 2 span(s)" in text
    assert "expected 1 span(s), selected 2" in text
    assert "rpc.grpc.status_code is '0', expected '2'" in text
    assert sum(line.startswith(">>") for line in text.splitlines()) == 2  # both selected spans marked
    with pytest.raises(AssertionError, match="expected at least one span, selected none"):
        assert_that(trace).has('span[name="missing"]')
    with pytest.raises(AssertionError, match=r"attr:tracetest.span.duration < 1ms failed: actual '12ms'"):
        assert_that(trace).has('span[service.name="payment"]', expect=["attr:tracetest.span.duration < 1ms"])
    with pytest.raises(AssertionError, match="expected 0 span"):
        assert_that(trace).lacks('span[tracetest.span.status_code="error"]')


def test_follows(trace: Trace) -> None:
    assert_that(trace).follows("frontend → payment")
    with pytest.raises(AssertionError, match="call chain differs"):
        assert_that(trace).follows("frontend → {payment, email}")
