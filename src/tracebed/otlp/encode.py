"""The span model into OTLP protobuf messages (the inverse of `tracebed.otlp.decode`).

OTLP/JSON is written from these messages with protobuf's own JSON mapping
(`tracebed.otlp.codec.to_otlp_json`, which turns the ids into hex as OTLP/JSON wants).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from tracebed.model.span import Attributes, AttrValue, Span, StatusCode
from tracebed.otlp.decode import OtlpSpanBatch

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def encode_value(value: AttrValue, out: AnyValue) -> AnyValue:
    """Fill `out` with a Python attribute value (None stays an empty AnyValue)."""
    if value is None:
        return out
    if isinstance(value, bool):  # before int: bool is an int subclass
        out.bool_value = value
    elif isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"integer attribute {value} does not fit in 64 bits")
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, bytes | bytearray | memoryview):
        out.bytes_value = bytes(value)
    elif isinstance(value, Mapping):
        out.kvlist_value.SetInParent()
        encode_attributes(value, out.kvlist_value.values)
    elif isinstance(value, list | tuple):
        out.array_value.SetInParent()
        for item in value:
            encode_value(item, out.array_value.values.add())
    else:
        raise TypeError(f"cannot write {type(value).__name__} value {value!r} as an OTLP AnyValue")
    return out


def encode_attributes(attributes: Attributes, out: Any) -> None:
    """Append `attributes` to a repeated `KeyValue` field."""
    for key, value in attributes.items():
        pair = out.add()
        pair.key = str(key)
        pair.value.SetInParent()  # a None value is written as an empty AnyValue, not left out
        encode_value(value, pair.value)


def _id(value: str, size: int, what: str, span: Span) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise ValueError(f"span {span.name!r}: {what} {value!r} is not {2 * size} hex characters")
    return raw


def span_to_pb(span: Span, out: PbSpan) -> PbSpan:
    """Fill `out` with one span (its resource and scope belong to the enclosing groups)."""
    out.trace_id = _id(span.trace_id, 16, "trace id", span)
    out.span_id = _id(span.span_id, 8, "span id", span)
    if span.parent_span_id:
        out.parent_span_id = _id(span.parent_span_id, 8, "parent span id", span)
    out.name = span.name
    out.kind = int(span.kind)  # type: ignore[assignment]
    out.start_time_unix_nano = span.start_ns
    out.end_time_unix_nano = span.end_ns
    encode_attributes(span.attributes, out.attributes)
    for event in span.events:
        pb_event = out.events.add(time_unix_nano=event.time_ns, name=event.name)
        encode_attributes(event.attributes, pb_event.attributes)
    for link in span.links:
        pb_link = out.links.add(
            trace_id=_id(link.trace_id, 16, "link trace id", span),
            span_id=_id(link.span_id, 8, "link span id", span),
        )
        encode_attributes(link.attributes, pb_link.attributes)
    if span.status.message:
        out.status.message = span.status.message
    if span.status.code is not StatusCode.UNSET:
        out.status.code = int(span.status.code)  # type: ignore[assignment]
    return out


class _Groups:
    """An export being built: spans grouped by resource, then scope, in order of first
    appearance (a resource is told by its bytes)."""

    def __init__(self) -> None:
        self.request = ExportTraceServiceRequest()
        self._groups: dict[bytes, tuple[Any, dict[tuple[str, str], ScopeSpans]]] = {}

    def spans_of(self, resource: Resource, scope: InstrumentationScope) -> Any:
        """The repeated `spans` field of the group for `resource` and `scope`."""
        key = resource.SerializeToString(deterministic=True)
        if key not in self._groups:
            resource_spans = self.request.resource_spans.add()
            resource_spans.resource.SetInParent()
            resource_spans.resource.CopyFrom(resource)
            self._groups[key] = (resource_spans, {})
        resource_spans, scopes = self._groups[key]
        scope_key = (scope.name, scope.version)
        scope_spans = scopes.get(scope_key)
        if scope_spans is None:
            scope_spans = scopes[scope_key] = resource_spans.scope_spans.add()
            scope_spans.scope.SetInParent()
            scope_spans.scope.CopyFrom(scope)
        return scope_spans.spans


def _model_groups(span: Span) -> tuple[Resource, InstrumentationScope]:
    resource = Resource()
    encode_attributes(span.resource, resource.attributes)
    return resource, InstrumentationScope(name=span.scope.name, version=span.scope.version)


def spans_to_request(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """Spans grouped by resource, then scope, in order of first appearance."""
    groups = _Groups()
    for span in spans:
        span_to_pb(span, groups.spans_of(*_model_groups(span)).add())
    return groups.request


def stored_spans_to_request(
    spans: Iterable[Span], held: Iterable[tuple[Any, int] | None]
) -> ExportTraceServiceRequest:
    """As `spans_to_request`, but a span held in an `OtlpSpanBatch` (`held`: its batch and
    index, from `SpanStore.held_spans`) is copied from the protobuf it came in rather than
    encoded again from the model: the same document, faster, and with what the model does not
    keep (trace state, flags, dropped counts)."""
    groups = _Groups()
    for span, where in zip(spans, held, strict=True):
        if where is None or not isinstance(where[0], OtlpSpanBatch):
            span_to_pb(span, groups.spans_of(*_model_groups(span)).add())
            continue
        batch, index = where
        pb, (pb_resource, pb_scope) = batch.stored(index)
        out = groups.spans_of(pb_resource, pb_scope).add()
        out.CopyFrom(pb)
        # As the model reads them: an unknown kind or status code is unspecified / unset.
        if out.kind != span.kind:
            out.kind = int(span.kind)  # type: ignore[assignment]
        if out.status.code != span.status.code:
            out.status.code = int(span.status.code)  # type: ignore[assignment]
    return groups.request
