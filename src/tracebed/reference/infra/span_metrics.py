"""The demo collector's ``spanmetrics`` connector (2.0.2; ``span_metrics`` at 3.0.0), on OTLP
protobuf messages.

Both releases configure the connector with no settings (demo-facts §11, demo-facts-3.0
§11.1), so its defaults apply: namespace ``traces.span.metrics``; a ``calls`` sum (monotonic,
cumulative) and a ``duration`` histogram (unit ``ms``, explicit buckets
``DEFAULT_BUCKETS_MS``) per (service.name, span.name, span.kind, status.code), the kind and
code spelled as their protobuf enum names (``SPAN_KIND_SERVER``, ``STATUS_CODE_UNSET``); each
resource's metrics carry the resource of the spans they were derived from, so every service
that sends spans gets metrics (and so a ``target_info`` in Prometheus). No exemplars and no
events (off by default).

One difference: the connector re-exports every series at each flush; here only the
resources that saw new spans since the last flush are exported (their series cumulative, as
the connector's), so an idle stack sends nothing.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

NAMESPACE = "traces.span.metrics"
CALLS = f"{NAMESPACE}.calls"
DURATION = f"{NAMESPACE}.duration"
UNIT = "ms"
#: The connector's default explicit histogram bounds (ms).
DEFAULT_BUCKETS_MS: tuple[float, ...] = (
    2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000,
)  # fmt: skip
SCOPE = "spanmetricsconnector"
#: Series kept at most; new ones past it are dropped (the connector bounds its caches too).
MAX_SERIES = 10_000

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def _kind_name(kind: int) -> str:
    return (
        str(Span.SpanKind.Name(kind)) if kind in Span.SpanKind.values() else "SPAN_KIND_UNSPECIFIED"
    )


def _code_name(code: int) -> str:
    return (
        str(Status.StatusCode.Name(code))
        if code in Status.StatusCode.values()
        else "STATUS_CODE_UNSET"
    )


def _service_name(resource: Resource) -> str:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return kv.value.string_value
    return ""


@dataclass
class _Series:
    """One dimension set: calls and the duration histogram."""

    start_ns: int
    calls: int = 0
    total_ms: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DEFAULT_BUCKETS_MS) + 1))


@dataclass
class _ResourceState:
    resource: bytes  # the serialized Resource: the key, and copied into each export
    series: dict[tuple[str, str, str, str], _Series] = field(default_factory=dict)
    dirty: bool = False


class SpanMetrics:
    """Aggregates spans as the connector does; ``flush`` gives what it would export."""

    def __init__(self, buckets_ms: tuple[float, ...] = DEFAULT_BUCKETS_MS) -> None:
        self.buckets_ms = buckets_ms
        self._resources: dict[bytes, _ResourceState] = {}
        self._count = 0
        self._lock = threading.Lock()

    def add(self, resource_spans: Iterable[ResourceSpans], now_ns: int | None = None) -> None:
        now = now_ns if now_ns is not None else time.time_ns()
        with self._lock:
            for rs in resource_spans:
                key = rs.resource.SerializeToString(deterministic=True)
                state = self._resources.setdefault(key, _ResourceState(key))
                service = _service_name(rs.resource)
                for scope_spans in rs.scope_spans:
                    for span in scope_spans.spans:
                        self._add_span(state, service, span, now)

    def _add_span(self, state: _ResourceState, service: str, span: Span, now: int) -> None:
        dims = (service, span.name, _kind_name(span.kind), _code_name(span.status.code))
        series = state.series.get(dims)
        if series is None:
            if self._count >= MAX_SERIES:
                return
            series = state.series[dims] = _Series(start_ns=now)
            self._count += 1
        duration_ms = max(span.end_time_unix_nano - span.start_time_unix_nano, 0) / 1e6
        series.calls += 1
        series.total_ms += duration_ms
        # a value equal to a bound belongs to that bound's bucket (Prometheus' ``le``)
        series.buckets[bisect.bisect_left(self.buckets_ms, duration_ms)] += 1
        state.dirty = True

    def flush(self, now_ns: int | None = None) -> ExportMetricsServiceRequest | None:
        """The cumulative metrics of every resource that saw spans since the last flush."""
        now = now_ns if now_ns is not None else time.time_ns()
        request = ExportMetricsServiceRequest()
        with self._lock:
            for state in self._resources.values():
                if not state.dirty:
                    continue
                state.dirty = False
                request.resource_metrics.append(self._resource_metrics(state, now))
        return request if request.resource_metrics else None

    def mark_dirty(self, request: ExportMetricsServiceRequest) -> None:
        """Export these resources again at the next flush (their export failed)."""
        with self._lock:
            for rm in request.resource_metrics:
                state = self._resources.get(rm.resource.SerializeToString(deterministic=True))
                if state is not None:
                    state.dirty = True

    def _resource_metrics(self, state: _ResourceState, now: int) -> metrics_pb2.ResourceMetrics:
        rm = metrics_pb2.ResourceMetrics(resource=Resource.FromString(state.resource))
        scope = rm.scope_metrics.add(scope=InstrumentationScope(name=SCOPE))
        calls = scope.metrics.add(name=CALLS)
        calls.sum.aggregation_temporality = CUMULATIVE
        calls.sum.is_monotonic = True
        duration = scope.metrics.add(name=DURATION, unit=UNIT)
        duration.histogram.aggregation_temporality = CUMULATIVE
        for (service, name, kind, code), series in state.series.items():
            attrs = [
                KeyValue(key="service.name", value=AnyValue(string_value=service)),
                KeyValue(key="span.name", value=AnyValue(string_value=name)),
                KeyValue(key="span.kind", value=AnyValue(string_value=kind)),
                KeyValue(key="status.code", value=AnyValue(string_value=code)),
            ]
            calls.sum.data_points.add(
                attributes=attrs,
                start_time_unix_nano=series.start_ns,
                time_unix_nano=now,
                as_int=series.calls,
            )
            duration.histogram.data_points.add(
                attributes=attrs,
                start_time_unix_nano=series.start_ns,
                time_unix_nano=now,
                count=series.calls,
                sum=series.total_ms,
                bucket_counts=series.buckets,
                explicit_bounds=self.buckets_ms,
            )
        return rm
