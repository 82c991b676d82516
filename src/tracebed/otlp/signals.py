"""OTLP logs and metrics, protobuf <-> model: decoding (with the sink's bad-input rules) and
encoding (for the query API's OTLP/JSON answers).

Bad input, as for spans: a log record whose trace id is not empty/16 bytes or span id not
empty/8 bytes is rejected; a data point of a metric without a name, or with no time, or
whose exemplar ids are malformed is rejected. Rejected items are counted in the response's
`partial_success`, the rest of the request is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, NumberDataPoint
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric as PbMetric

from tracebed.model.logs import LogHead, LogRecord, level_of
from tracebed.model.metrics import (
    CUMULATIVE,
    DELTA,
    DataPoint,
    Exemplar,
    Metric,
    MetricPoint,
    PointHead,
)
from tracebed.otlp.decode import PbRuns, decode_attributes, decode_value
from tracebed.otlp.encode import encode_attributes, encode_value

_POINT_KIND = {
    "histogram": "histogram_data_point",
    "exponential_histogram": "exponential_histogram_data_point",
    "summary": "summary_data_point",
}
_TEMPORALITY: dict[int, str] = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: CUMULATIVE,
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: DELTA,
}


B = TypeVar("B")


@dataclass
class Decoded(Generic[B]):
    """What a request holds: a batch of storable items, and how many were rejected and why."""

    batch: B
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, count: int, why: str) -> None:
        self.rejected += count
        self.problems.append(why)

    def error_message(self, noun: str) -> str:
        if not self.rejected:
            return ""
        shown = "; ".join(self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        return f"{self.rejected} {noun} rejected: {shown}{more}"


_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)


def _service(pb_resource: Any) -> str:
    """A resource's `service.name`, as `LogRecord.service` / `Metric.service` read it."""
    for kv in pb_resource.attributes:
        if kv.key == "service.name":
            return str(decode_value(kv.value))
    return ""


def _hex(raw: bytes) -> str:
    return raw.hex() if any(raw) else ""


def _bad_ids(trace_id: bytes, span_id: bytes) -> str | None:
    if len(trace_id) not in (0, 16):
        return f"trace_id must be empty or 16 bytes, got {len(trace_id)} bytes"
    if len(span_id) not in (0, 8):
        return f"span_id must be empty or 8 bytes, got {len(span_id)} bytes"
    return None


# -- logs ----------------------------------------------------------------------------------------
def _log_from_pb(pb: PbLogRecord, resource: dict[str, Any], scope: Any) -> LogRecord:
    attributes = decode_attributes(pb.attributes)
    # Before LogRecord.event_name existed, SDKs put the name in `event.name`.
    event_name = pb.event_name or str(attributes.get("event.name") or "")
    return LogRecord(
        event_name=event_name,
        attributes=attributes,
        resource=resource,
        trace_id=_hex(pb.trace_id),
        span_id=_hex(pb.span_id),
        severity_number=int(pb.severity_number),
        severity_text=pb.severity_text,
        body=decode_value(pb.body) if pb.HasField("body") else None,
        time_unix_nano=pb.time_unix_nano,
        observed_time_unix_nano=pb.observed_time_unix_nano,
        scope_name=scope.name,
        scope_version=scope.version,
        flags=pb.flags,
    )


class OtlpLogBatch:
    """The valid log records of one export request, still as protobuf messages (one run per
    scope); a record becomes a `LogRecord` when a query returns it."""

    def __init__(self) -> None:
        self.head_list: list[LogHead] = []
        self.runs = PbRuns()  # context: (pb resource, pb scope)

    def __len__(self) -> int:
        return len(self.head_list)

    def heads(self) -> list[LogHead]:
        return self.head_list

    def materialize(self, index: int) -> LogRecord:
        run_no, pb = self.runs.locate(index)
        resource, scope = self.runs.decoded(run_no, _log_context)
        return _log_from_pb(pb, resource, scope)


def _log_context(context: tuple[Any, Any]) -> tuple[dict[str, Any], Any]:
    return decode_attributes(context[0].attributes), context[1]


def decode_logs(request: ExportLogsServiceRequest) -> Decoded[OtlpLogBatch]:
    """The storable records of a request as a lazy batch, and the rejected ones.

    The sink's hot path for logs: it reads the ids, times and severity of each record."""
    batch = OtlpLogBatch()
    out = Decoded(batch)
    heads = batch.head_list
    zero_trace, zero_span = _ZERO_TRACE, _ZERO_SPAN
    for resource_logs in request.resource_logs:
        service = _service(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            container = scope_logs.log_records
            first = len(heads)
            offsets: list[int] | None = None
            for position, pb in enumerate(container):
                trace_id, span_id = pb.trace_id, pb.span_id
                if len(trace_id) in (0, 16) and len(span_id) in (0, 8):
                    if offsets is not None:
                        offsets.append(position)
                    heads.append(
                        (
                            service,
                            b"" if trace_id == zero_trace else trace_id,
                            b"" if span_id == zero_span else span_id,
                            pb.time_unix_nano,
                            pb.observed_time_unix_nano,
                            pb.severity_number or level_of(0, pb.severity_text),
                        )
                    )
                    continue
                if offsets is None:  # first rejection in this scope: keep explicit offsets
                    offsets = list(range(position))
                out.reject(1, f"log record: {_bad_ids(trace_id, span_id)}")
            if len(heads) > first:
                batch.runs.add(
                    first, container, offsets, (resource_logs.resource, scope_logs.scope)
                )
    return out


def logs_from_request(request: ExportLogsServiceRequest) -> list[LogRecord]:
    """Every log record of a request (files: nothing is rejected here)."""
    return [
        _log_from_pb(pb, decode_attributes(rl.resource.attributes), sl.scope)
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for pb in sl.log_records
    ]


def _group(
    items: Iterable[Any], resource_of: Any, scope_of: Any
) -> dict[Any, dict[Any, list[Any]]]:
    grouped: dict[Any, dict[Any, list[Any]]] = {}
    for item in items:
        resource_key = repr(sorted(resource_of(item).items()))
        grouped.setdefault(resource_key, {}).setdefault(scope_of(item), []).append(item)
    return grouped


def logs_to_request(records: Iterable[LogRecord]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    grouped = _group(records, lambda r: r.resource, lambda r: (r.scope_name, r.scope_version))
    for scopes in grouped.values():
        rl = request.resource_logs.add()
        first = next(iter(scopes.values()))[0]
        encode_attributes(first.resource, rl.resource.attributes)
        for (scope_name, scope_version), group in scopes.items():
            sl = rl.scope_logs.add()
            sl.scope.name, sl.scope.version = scope_name, scope_version
            for record in group:
                pb = sl.log_records.add()
                pb.time_unix_nano = record.time_unix_nano
                pb.observed_time_unix_nano = record.observed_time_unix_nano
                pb.severity_number = record.severity_number  # type: ignore[assignment]
                pb.severity_text = record.severity_text
                if record.body is not None:
                    encode_value(record.body, pb.body)
                encode_attributes(record.attributes, pb.attributes)
                pb.flags = record.flags
                pb.trace_id = bytes.fromhex(record.trace_id)
                pb.span_id = bytes.fromhex(record.span_id)
                if record.event_name:
                    pb.event_name = record.event_name
    return request


# -- metrics -------------------------------------------------------------------------------------
def _instrument(metric: PbMetric) -> str:
    which = metric.WhichOneof("data")
    if which == "sum":
        return "counter" if metric.sum.is_monotonic else "updowncounter"
    if which == "exponential_histogram":
        return "histogram"
    return which or ""


def _exemplars(pb: Any) -> tuple[Exemplar, ...]:
    return tuple(
        Exemplar(
            _hex(e.trace_id),
            _hex(e.span_id),
            float(getattr(e, e.WhichOneof("value")) if e.WhichOneof("value") else 0.0),
            e.time_unix_nano,
            decode_attributes(e.filtered_attributes),
        )
        for e in getattr(pb, "exemplars", ())
    )


def _point(which: str, pb: Any) -> DataPoint:
    exemplars = _exemplars(pb)
    common: dict[str, Any] = dict(
        attributes=decode_attributes(pb.attributes),
        kind=_POINT_KIND.get(which, "number_data_point"),
        trace_id=exemplars[0].trace_id if exemplars else "",
        span_id=exemplars[0].span_id if exemplars else "",
        time_unix_nano=pb.time_unix_nano,
        start_time_unix_nano=pb.start_time_unix_nano,
        exemplars=exemplars,
        flags=pb.flags,
    )
    if which in ("sum", "gauge"):
        value_field = pb.WhichOneof("value")
        value = getattr(pb, value_field) if value_field else None
        return DataPoint(value=value, **common)
    optional: dict[str, Any] = {
        k: getattr(pb, k) if pb.HasField(k) else None
        for k in ("sum", "min", "max")
        if k in pb.DESCRIPTOR.fields_by_name
    }
    if which == "summary":
        return DataPoint(
            count=pb.count,
            sum=pb.sum,
            quantiles=tuple((q.quantile, q.value) for q in pb.quantile_values),
            **common,
        )
    if which == "histogram":
        return DataPoint(
            count=pb.count,
            bucket_counts=tuple(pb.bucket_counts),
            explicit_bounds=tuple(pb.explicit_bounds),
            **optional,
            **common,
        )
    return DataPoint(
        count=pb.count,
        scale=pb.scale,
        zero_count=pb.zero_count,
        positive=(pb.positive.offset, tuple(pb.positive.bucket_counts)),
        negative=(pb.negative.offset, tuple(pb.negative.bucket_counts)),
        **optional,
        **common,
    )


def _metric(
    pb: PbMetric, points: tuple[DataPoint, ...], resource: dict[str, Any], scope: Any
) -> Metric:
    which = pb.WhichOneof("data") or ""
    data = getattr(pb, which) if which else None
    temporality = _TEMPORALITY.get(getattr(data, "aggregation_temporality", 0), "")
    return Metric(
        pb.name,
        pb.unit,
        _instrument(pb),
        points,
        resource,
        kind=which,
        temporality=temporality,
        monotonic=bool(getattr(data, "is_monotonic", False)),
        description=pb.description,
        scope_name=scope.name,
        scope_version=scope.version,
    )


def _point_problem(pb: Any) -> str | None:
    if not pb.time_unix_nano:
        return "time_unix_nano is required"
    for exemplar in getattr(pb, "exemplars", ()):
        problem = _bad_ids(exemplar.trace_id, exemplar.span_id)
        if problem is not None:
            return f"exemplar {problem}"
    return None


class OtlpMetricBatch:
    """The valid data points of one export request, still as protobuf messages (one run per
    metric); a point becomes a `MetricPoint` when a query returns it."""

    def __init__(self) -> None:
        self.head_list: list[PointHead] = []
        self.runs = PbRuns()  # context: (pb resource, pb scope, pb metric)

    def __len__(self) -> int:
        return len(self.head_list)

    def heads(self) -> list[PointHead]:
        return self.head_list

    def attributes(self, index: int) -> dict[str, Any]:
        return decode_attributes(self.runs.locate(index)[1].attributes)

    def materialize(self, index: int) -> MetricPoint:
        run_no, pb = self.runs.locate(index)
        # The points of a metric share one point-less Metric: evicting some points of a
        # metric must not keep all of them alive through it.
        meta = self.runs.decoded(run_no, _metric_context)
        return MetricPoint(meta, _point(meta.kind, pb))


def _metric_context(context: tuple[Any, Any, PbMetric]) -> Metric:
    pb_resource, pb_scope, pb = context
    return _metric(pb, (), decode_attributes(pb_resource.attributes), pb_scope)


def _attributes_as_sent(point: Any) -> bytes:
    """A point's attributes as the sender wrote them (equal bytes: equal attributes)."""
    return b"".join([kv.SerializeToString() for kv in point.attributes])


# A NumberDataPoint's fixed-size fields, each a tag byte and 8 bytes: start time, time,
# as_double, as_int. Protobuf writes fields in number order, so these come first, then
# exemplars (5), attributes (7) and flags (8).
_FIXED_TAGS = frozenset({0x11, 0x19, 0x21, 0x31})
_ATTRIBUTES_TAG, _FLAGS_TAG = 0x3A, 0x40


def _tail(point: Any) -> bytes | None:
    """A number point's bytes after its times and value: its attributes (and flags) as
    written, from one serialization rather than one per attribute. None when it has
    exemplars (they would make every point's key new)."""
    raw = point.SerializeToString()
    at, size = 0, len(raw)
    while at < size and raw[at] in _FIXED_TAGS:
        at += 9
    return raw[at:] if at == size or raw[at] in (_ATTRIBUTES_TAG, _FLAGS_TAG) else None


def _tail_ok(point: Any) -> bool:
    """Does `_tail` hold only attributes and flags here (the field order as expected)?"""
    tail = _tail(point)
    if tail is None:
        return True  # this point takes the long way; others may not
    back = NumberDataPoint.FromString(tail)
    return (
        not back.time_unix_nano
        and not back.start_time_unix_nano
        and back.WhichOneof("value") is None
        and not back.exemplars
        and back.attributes == point.attributes
    )


def decode_metrics(request: ExportMetricsServiceRequest) -> Decoded[OtlpMetricBatch]:
    """The storable points of a request as a lazy batch, and the rejected ones.

    The sink's hot path for metrics: per point it reads the times and the attributes as sent
    (their bytes, to find the series; decoded only for bytes not seen before)."""
    batch = OtlpMetricBatch()
    out = Decoded(batch)
    heads = batch.head_list
    for resource_metrics in request.resource_metrics:
        service = _service(resource_metrics.resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for pb in scope_metrics.metrics:
                which = pb.WhichOneof("data")
                container: Any = getattr(pb, which).data_points if which else ()
                name = pb.name
                if not name:
                    out.reject(len(container), "metric without a name")
                    continue
                exemplars = which != "summary"  # summaries have none
                # Sums' and gauges' points: their own bytes say their attributes (checked once).
                tail = which in ("sum", "gauge") and bool(container) and _tail_ok(container[0])
                first = len(heads)
                offsets: list[int] | None = None
                for position, point in enumerate(container):
                    when = point.time_unix_nano
                    problem = (
                        _point_problem(point)
                        if not when or (exemplars and point.exemplars)
                        else None
                    )
                    if problem is None:
                        if offsets is not None:
                            offsets.append(position)
                        sent_as = _tail(point) if tail else None
                        if sent_as is None:
                            sent_as = _attributes_as_sent(point)
                        heads.append((service, name, sent_as, when, point.start_time_unix_nano))
                        continue
                    if offsets is None:
                        offsets = list(range(position))
                    out.reject(1, f"metric {name!r}: data point {problem}")
                if len(heads) > first:
                    context = (resource_metrics.resource, scope_metrics.scope, pb)
                    batch.runs.add(first, container, offsets, context)
    return out


def metrics_from_request(request: ExportMetricsServiceRequest) -> list[Metric]:
    """Every metric of a request with all its points (files: nothing is rejected here)."""
    out = []
    for rm in request.resource_metrics:
        resource = decode_attributes(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for pb in sm.metrics:
                which = pb.WhichOneof("data")
                points = (
                    tuple(_point(which, p) for p in getattr(pb, which).data_points) if which else ()
                )
                out.append(_metric(pb, points, resource, sm.scope))
    return out


_TEMPORALITY_PB = {v: k for k, v in _TEMPORALITY.items()}


def _encode_point(which: str, point: DataPoint, pb: Any) -> None:
    encode_attributes(point.attributes, pb.attributes)
    pb.time_unix_nano = point.time_unix_nano
    pb.start_time_unix_nano = point.start_time_unix_nano
    pb.flags = point.flags
    for exemplar in point.exemplars:
        e = pb.exemplars.add()
        e.trace_id, e.span_id = bytes.fromhex(exemplar.trace_id), bytes.fromhex(exemplar.span_id)
        e.as_double = exemplar.value
        e.time_unix_nano = exemplar.time_unix_nano
        encode_attributes(exemplar.attributes, e.filtered_attributes)
    if which in ("sum", "gauge"):
        if isinstance(point.value, int) and not isinstance(point.value, bool):
            pb.as_int = point.value
        elif point.value is not None:
            pb.as_double = float(point.value)
        return
    pb.count = point.count
    if which == "summary":
        pb.sum = point.sum or 0.0
        for quantile, value in point.quantiles:
            q = pb.quantile_values.add()
            q.quantile, q.value = quantile, value
        return
    for name in ("sum", "min", "max"):
        value = getattr(point, name)
        if value is not None:
            setattr(pb, name, value)
    if which == "histogram":
        pb.bucket_counts.extend(point.bucket_counts)
        pb.explicit_bounds.extend(point.explicit_bounds)
    else:
        pb.scale, pb.zero_count = point.scale, point.zero_count
        pb.positive.offset, pb.negative.offset = point.positive[0], point.negative[0]
        pb.positive.bucket_counts.extend(point.positive[1])
        pb.negative.bucket_counts.extend(point.negative[1])


def metrics_to_request(points: Iterable[MetricPoint]) -> ExportMetricsServiceRequest:
    """Points (of any metrics) as one export, grouped by resource, scope and metric."""
    request = ExportMetricsServiceRequest()
    grouped = _group(
        points,
        lambda mp: mp.metric.resource,
        lambda mp: (mp.metric.scope_name, mp.metric.scope_version),
    )
    for scopes in grouped.values():
        rm = request.resource_metrics.add()
        first = next(iter(scopes.values()))[0]
        encode_attributes(first.metric.resource, rm.resource.attributes)
        for (scope_name, scope_version), group in scopes.items():
            sm = rm.scope_metrics.add()
            sm.scope.name, sm.scope.version = scope_name, scope_version
            by_metric: dict[tuple[str, str, str, str, bool], list[MetricPoint]] = {}
            for mp in group:
                m = mp.metric
                by_metric.setdefault(
                    (m.name, m.unit, m.kind, m.temporality, m.monotonic), []
                ).append(mp)
            for (name, unit, kind, temporality, monotonic), mps in by_metric.items():
                pb = sm.metrics.add()
                pb.name, pb.unit, pb.description = name, unit, mps[0].metric.description
                if not kind:
                    continue
                data = getattr(pb, kind)
                data.SetInParent()
                if kind in ("sum", "histogram", "exponential_histogram"):
                    data.aggregation_temporality = _TEMPORALITY_PB.get(temporality, 0)
                if kind == "sum":
                    data.is_monotonic = monotonic
                for mp in mps:
                    _encode_point(kind, mp.point, data.data_points.add())
    return request
