"""OTLP protobuf messages into the span model.

Ingest only validates and indexes ids; a span becomes a `Span` when a test first looks at it
(`OtlpSpanBatch.materialize`). That keeps the receivers close to protobuf's own parse speed.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
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


class PbRuns:
    """Where a lazy batch's items are in the request: one run per protobuf container (a
    scope's spans or log records, a metric's data points) rather than one entry per item.

    A run is (first batch index, container, container offsets or None when every item of the
    container was stored, context: what the items share, e.g. their resource and scope)."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, Any, list[int] | None, Any]] = []
        self._starts: list[int] = []
        self._decoded: dict[int, Any] = {}

    def add(self, first: int, container: Any, offsets: list[int] | None, context: Any) -> None:
        self._starts.append(first)
        self.runs.append((first, container, offsets, context))

    def locate(self, index: int) -> tuple[int, Any]:
        """`(run number, protobuf item)` of batch item `index`."""
        run_no = bisect.bisect_right(self._starts, index) - 1
        first, container, offsets, _ = self.runs[run_no]
        position = index - first
        return run_no, container[offsets[position] if offsets is not None else position]

    def decoded(self, run_no: int, decode: Callable[[Any], Any]) -> Any:
        """`decode(context)` of a run, computed once (what its items share, as model values)."""
        found = self._decoded.get(run_no)
        if found is None:
            found = self._decoded[run_no] = decode(self.runs[run_no][3])
        return found


def _resource_and_scope(context: tuple[Any, Any]) -> tuple[Attributes, Scope]:
    pb_resource, pb_scope = context
    return decode_attributes(pb_resource.attributes), Scope(pb_scope.name, pb_scope.version)


class OtlpSpanBatch:
    """The valid spans of one export request, still as protobuf messages.

    Spans are kept as runs (`PbRuns`, one per scope) rather than one list entry per span,
    and links are read only when someone asks: ingest touches nothing but the ids.
    """

    def __init__(self) -> None:
        self.trace_id_list: list[bytes] = []
        self.span_id_list: list[bytes] = []
        self.runs = PbRuns()  # context: (pb resource, pb scope)

    def __len__(self) -> int:
        return len(self.trace_id_list)

    def trace_ids(self) -> list[bytes]:
        return self.trace_id_list

    def span_ids(self) -> list[bytes]:
        return self.span_id_list

    def link_targets(self) -> list[tuple[int, bytes]]:
        targets = []
        runs = self.runs.runs
        for run_no, run in enumerate(runs):
            end = runs[run_no + 1][0] if run_no + 1 < len(runs) else len(self)
            for index in range(run[0], end):
                _, pb = self.runs.locate(index)
                for link in pb.links:
                    targets.append((index, link.trace_id))
        return targets

    def materialize(self, index: int) -> Span:
        run_no, pb = self.runs.locate(index)
        return span_from_pb(pb, *self.runs.decoded(run_no, _resource_and_scope))

    def stored(self, index: int) -> tuple[PbSpan, tuple[Any, Any]]:
        """The span as received, with its (protobuf) resource and scope."""
        run_no, pb = self.runs.locate(index)
        context: tuple[Any, Any] = self.runs.runs[run_no][3]
        return pb, context


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
    """Split a request into storable spans and rejected ones (malformed ids).

    This loop is the sink's hot path: it reads three fields per span and nothing else.
    """
    batch = OtlpSpanBatch()
    out = DecodedTraces(batch)
    trace_ids, span_ids = batch.trace_id_list, batch.span_id_list
    zero_trace, zero_span = _ZERO_TRACE, _ZERO_SPAN
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        for scope_spans in resource_spans.scope_spans:
            container = scope_spans.spans
            first = len(trace_ids)
            offsets: list[int] | None = None
            rejected_here = 0
            for pb in container:
                trace_id, span_id = pb.trace_id, pb.span_id
                if (
                    len(trace_id) == 16
                    and len(span_id) == 8
                    and trace_id != zero_trace
                    and span_id != zero_span
                    and len(pb.parent_span_id) in (0, 8)
                ):
                    if offsets is not None:
                        offsets.append(len(trace_ids) - first + rejected_here)
                    trace_ids.append(trace_id)
                    span_ids.append(span_id)
                    continue
                if offsets is None:  # first rejection in this scope: keep explicit offsets
                    offsets = list(range(len(trace_ids) - first))
                rejected_here += 1
                out.rejected += 1
                out.problems.append(f"span {pb.name!r}: {malformed_ids(pb)}")
            if len(trace_ids) > first:
                batch.runs.add(first, container, offsets, (resource, scope_spans.scope))
    return out
