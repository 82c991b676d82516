"""The span model: spans, traces (tree and service graph), the `TraceSource` protocol, and the
span store with its one event-driven wait (for any signal)."""

from tracebed.model.render import render_tree
from tracebed.model.source import TracePredicate, TraceSource
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
    "TraceSource",
    "TraceSummary",
    "TraceTimeoutError",
    "render_tree",
]
