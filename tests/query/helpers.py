"""Hand-built traces for the query tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.factories import MS, TRACE_ID, attributes_of, make_span
from tracebed.model import Span, SpanKind, StatusCode, Trace

__all__ = ["TRACE_ID", "attrs", "docs_trace", "ids", "span"]


def span(
    span_id: int,
    name: str,
    parent: int | None = None,
    *,
    service: str = "svc",
    start_ms: float | None = None,
    duration_ms: float = 1.0,
    kind: SpanKind = SpanKind.INTERNAL,
    status: StatusCode = StatusCode.UNSET,
    message: str = "",
    trace_id: str = TRACE_ID,
    **attributes: Any,
) -> Span:
    """`tests.factories.make_span` with the query tests' clock: span N starts at N ms."""
    start_ns = int((span_id if start_ms is None else start_ms) * MS)
    return make_span(
        span_id,
        parent,
        name=name,
        service=service,
        kind=kind,
        trace_id=trace_id,
        start_ns=start_ns,
        end_ns=start_ns + int(duration_ms * MS),
        status=status,
        message=message,
        attributes=attributes_of(None, attributes),  # a keyword like `error` is an attribute
    )


def attrs(**kwargs: Any) -> Mapping[str, Any]:
    return attributes_of(None, kwargs)


def docs_trace() -> Trace:
    """The e-commerce trace of Tracetest's selector documentation (span ids 1..11)."""
    spans = [
        span(1, "close order", service="cart-api", http__method="POST"),
        span(2, "is product available", 1, service="product-api", http__method="GET"),
        span(3, "get product information", 2, service="product-api", db__statement="SELECT * FROM ..."),
        span(4, "get user can access", 2, service="auth-api", http__method="GET"),
        span(5, "get user auth information", 4, service="auth-api", db__statement="SELECT * FROM ..."),
        span(6, "purchase products", 1, service="cart-api", http__method="POST"),
        span(7, "get user can access", 6, service="auth-api", http__method="GET"),
        span(8, "get user auth information", 7, service="auth-api", db__statement="SELECT * FROM ..."),
        span(9, "notify user", 6, service="notification-api", http__method="POST"),
        span(10, "send message to kafka", 9, service="notification-api", kind=SpanKind.PRODUCER,
             messaging__system="kafka"),
        span(11, "send message to users", 10, service="external-service", kind=SpanKind.CONSUMER,
             messaging__system="kafka"),
    ]
    return Trace(TRACE_ID, spans)


def ids(spans: list[Span]) -> list[int]:
    return [int(s.span_id, 16) for s in spans]
