"""OTLP protobuf messages into the span model.

Ingest only validates and indexes ids; a span becomes a `Span` when a test first looks at it
(`OtlpSpanBatch.materialize`). That keeps the receivers close to protobuf's own parse speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from tracebed.model.span import (
    Attributes,
    Event,
    Link,
    Scope,
    Span,
    SpanKind,
    Status,
    StatusCode,
)

_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


def decode_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a Python value (maps become dicts, arrays lists)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [decode_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    return getattr(value, which)


def decode_attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: decode_value(kv.value) for kv in pairs}


def _kind(value: int) -> SpanKind:
    try:
        return SpanKind(value)
    except ValueError:
        return SpanKind.UNSPECIFIED


def _status(code: int, message: str) -> Status:
    try:
        return Status(StatusCode(code), message)
    except ValueError:
        return Status(StatusCode.UNSET, message)


def span_from_pb(pb: PbSpan, resource: Attributes, scope: Scope) -> Span:
    return Span(
        trace_id=pb.trace_id.hex(),
        span_id=pb.span_id.hex(),
        parent_span_id=pb.parent_span_id.hex(),
        name=pb.name,
        kind=_kind(pb.kind),
        start_ns=pb.start_time_unix_nano,
        end_ns=pb.end_time_unix_nano,
        status=_status(pb.status.code, pb.status.message),
        attributes=decode_attributes(pb.attributes),
        events=tuple(
            Event(e.name, e.time_unix_nano, decode_attributes(e.attributes)) for e in pb.events
        ),
        links=tuple(
            Link(link.trace_id.hex(), link.span_id.hex(), decode_attributes(link.attributes))
            for link in pb.links
        ),
        resource=resource,
        scope=scope,
    )


def malformed_ids(pb: PbSpan) -> str | None:
    """Why this span's ids are unusable, or None when they are fine."""
    trace_id, span_id, parent = pb.trace_id, pb.span_id, pb.parent_span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return f"trace_id must be 16 non-zero bytes, got {len(trace_id)} bytes"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return f"span_id must be 8 non-zero bytes, got {len(span_id)} bytes"
    if len(parent) not in (0, 8):
        return f"parent_span_id must be empty or 8 bytes, got {len(parent)} bytes"
    return None


@dataclass
class OtlpSpanBatch:
    """The valid spans of one export request, still as protobuf messages."""

    spans: list[PbSpan] = field(default_factory=list)
    context: list[int] = field(default_factory=list)  # index into `scopes` per span
    scopes: list[tuple[Any, Any]] = field(default_factory=list)  # (pb resource, pb scope)
    _keys: list[tuple[bytes, bytes]] = field(default_factory=list)
    _links: list[tuple[int, bytes]] = field(default_factory=list)
    _decoded_scopes: dict[int, tuple[Attributes, Scope]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.spans)

    def keys(self) -> list[tuple[bytes, bytes]]:
        return self._keys

    def link_targets(self) -> list[tuple[int, bytes]]:
        return self._links

    def materialize(self, index: int) -> Span:
        ctx = self.context[index]
        decoded = self._decoded_scopes.get(ctx)
        if decoded is None:
            pb_resource, pb_scope = self.scopes[ctx]
            decoded = (
                decode_attributes(pb_resource.attributes),
                Scope(pb_scope.name, pb_scope.version),
            )
            self._decoded_scopes[ctx] = decoded
        return span_from_pb(self.spans[index], *decoded)


@dataclass
class DecodedTraces:
    batch: OtlpSpanBatch
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        if not self.rejected:
            return ""
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        return f"{self.rejected} spans rejected: {shown}{more}"


def batch_from_request(request: ExportTraceServiceRequest) -> DecodedTraces:
    """Split a request into storable spans and rejected ones (malformed ids)."""
    batch = OtlpSpanBatch()
    out = DecodedTraces(batch)
    spans, context, keys, links = batch.spans, batch.context, batch._keys, batch._links
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        for scope_spans in resource_spans.scope_spans:
            ctx = len(batch.scopes)
            batch.scopes.append((resource, scope_spans.scope))
            for pb in scope_spans.spans:
                trace_id, span_id, parent = pb.trace_id, pb.span_id, pb.parent_span_id
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or len(parent) not in (0, 8)
                    or trace_id == _ZERO_TRACE
                    or span_id == _ZERO_SPAN
                ):
                    out.rejected += 1
                    out.problems.append(f"span {pb.name!r}: {malformed_ids(pb)}")
                    continue
                if pb.links:
                    for link in pb.links:
                        links.append((len(spans), link.trace_id))
                keys.append((trace_id, span_id))
                spans.append(pb)
                context.append(ctx)
    return out
