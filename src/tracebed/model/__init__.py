"""The model: spans, traces (tree and service graph), log records, metric points, the
`TraceSource` protocol, and the store with its one event-driven wait (for any signal)."""

from tracebed.model.logs import LogRecord
from tracebed.model.metrics import DataPoint, Exemplar, Metric, MetricPoint, MetricSelection
from tracebed.model.render import render_tree
from tracebed.model.source import LogSource, TelemetrySource, TracePredicate, TraceSource
from tracebed.model.span import (
    Attributes,
    AttrValue,
    Event,
    Link,
    Scope,
    Span,
    SpanKind,
    SpanType,
    Status,
    StatusCode,
)
from tracebed.model.store import (
    AddResult,
    LogTimeoutError,
    Mark,
    MetricTimeoutError,
    SpanBatch,
    SpanListBatch,
    SpanStore,
    StoreFullError,
    TraceSummary,
    TraceTimeoutError,
)
from tracebed.model.trace import Edge, Trace

__all__ = [
    "AddResult",
    "DataPoint",
    "Exemplar",
    "LogRecord",
    "LogSource",
    "LogTimeoutError",
    "Mark",
    "Metric",
    "MetricPoint",
    "MetricSelection",
    "MetricTimeoutError",
    "AttrValue",
    "Attributes",
    "Edge",
    "Event",
    "Link",
    "Scope",
    "Span",
    "SpanBatch",
    "SpanKind",
    "SpanListBatch",
    "SpanStore",
    "SpanType",
    "Status",
    "StatusCode",
    "StoreFullError",
    "Trace",
    "TracePredicate",
    "TelemetrySource",
    "TraceSource",
    "TraceSummary",
    "TraceTimeoutError",
    "render_tree",
]
