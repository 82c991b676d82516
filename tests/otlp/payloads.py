"""Hand-built OTLP requests for the sink's tests."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan


def new_trace_id() -> bytes:
    return os.urandom(16)


def request(
    spans: list[tuple[bytes, bytes, bytes, str]], service: str = "svc"
) -> ExportTraceServiceRequest:
    """spans: (trace_id, span_id, parent_span_id, name)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value=service))
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    for trace_id, span_id, parent, name in spans:
        span = ss.spans.add()
        span.trace_id, span.span_id, span.parent_span_id, span.name = (
            trace_id,
            span_id,
            parent,
            name,
        )
        span.kind = PbSpan.SPAN_KIND_SERVER
        span.start_time_unix_nano = 1_700_000_000_000_000_000
        span.end_time_unix_nano = 1_700_000_000_500_000_000
        span.attributes.append(KeyValue(key="app.count", value=AnyValue(int_value=2**40)))
    return req


def simple_trace(
    n: int = 3, trace_id: bytes | None = None
) -> tuple[bytes, ExportTraceServiceRequest]:
    """A root and n-1 children."""
    trace_id = trace_id or new_trace_id()
    root = os.urandom(8)
    spans = [(trace_id, root, b"", "root")]
    spans += [(trace_id, os.urandom(8), root, f"child-{i}") for i in range(n - 1)]
    return trace_id, request(spans)
