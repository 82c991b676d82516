"""The test factory's conventions, which many tests rely on."""

from __future__ import annotations

from tests.factories import MS, T0, TRACE_ID, TraceBuilder, hex_id, make_span
from tracebed.model import SpanKind, StatusCode


def test_short_ids_are_widened() -> None:
    assert hex_id(1) == "0000000000000001"
    assert hex_id("ab") == "ab" * 8
    assert hex_id("1", 32) == "1" * 32
    assert hex_id("b7ad6b7169203331") == "b7ad6b7169203331"


def test_make_span_defaults_and_keyword_attributes() -> None:
    span = make_span("01", "02", service="cart", kind="server", http__route="/api/cart")
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, "01" * 8, "02" * 8)
    assert (span.name, span.kind, span.service) == ("op-01", SpanKind.SERVER, "cart")
    assert (span.start_ns, span.end_ns) == (0, MS)
    assert span.attributes == {"http.route": "/api/cart"}
    failed = make_span(3, error="boom", service=None)
    assert (failed.status.code, failed.status.message) == (StatusCode.ERROR, "boom")
    assert failed.resource == {}


def test_builder_parents_times_and_unique_ids() -> None:
    b = TraceBuilder(resource={"telemetry.sdk.language": "python"})
    root = b.span("frontend", "GET /", "server")
    child = b.span("cart", "GetCart", "client", root, {"rpc.system": "grpc"}, start_ms=5)
    b.event(child, "retry")
    trace = b.trace()
    first, second = trace.spans
    assert second.parent_span_id == root and first.start_ns == T0 + MS
    assert (second.start_ns, second.end_ns) == (T0 + 5 * MS, T0 + 5 * MS + MS // 2)
    assert second.resource == {"service.name": "cart", "telemetry.sdk.language": "python"}
    assert [e.name for e in second.events] == ["retry"]
    other = TraceBuilder().span("frontend", "GET /")
    assert other not in {root, child}  # traces built apart can share one store
