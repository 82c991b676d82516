"""The span model: spans, traces (tree and service graph), and the span store with waits."""

from tracebed.model.render import render_tree
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
    "TraceSummary",
    "TraceTimeoutError",
    "render_tree",
]
