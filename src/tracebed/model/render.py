"""A plain-text tree of a trace, for failure messages and the terminal."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from tracebed.model.span import AttrValue, Span, StatusCode

if TYPE_CHECKING:
    from tracebed.model.trace import Trace

# Attributes worth a line in a failure message: the ones that say what the call was and how it
# ended. Everything under app.* is shown too (the demo's business attributes).
KEY_ATTRIBUTES = (
    "http.request.method",
    "http.method",
    "http.route",
    "url.path",
    "http.target",
    "http.response.status_code",
    "http.status_code",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "messaging.system",
    "messaging.destination.name",
    "messaging.operation",
    "messaging.operation.type",
    "db.system",
    "db.operation",
    "error.type",
    "exception.message",
)


def _format_duration(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.2f}s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.1f}ms"
    return f"{ns / 1e3:.0f}µs"


def _format_value(value: AttrValue, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def interesting_attributes(span: Span) -> list[tuple[str, AttrValue]]:
    shown = [(k, span.attributes[k]) for k in KEY_ATTRIBUTES if k in span.attributes]
    shown += sorted((k, v) for k, v in span.attributes.items() if k.startswith("app."))
    return shown


def render_span_line(span: Span, *, orphan: bool = False, entry: bool = False) -> str:
    status = ""
    if span.status.code is StatusCode.ERROR:
        status = " ERROR" + (f" {span.status.message!r}" if span.status.message else "")
    elif span.status.code is StatusCode.OK:
        status = " OK"
    tag = ""
    if entry:
        tag = " (entry: its parent is the caller's span)"
    elif orphan:
        tag = " (orphan: parent not received)"
    return (
        f"{span.service or '?'}: {span.name} [{span.kind.label}] "
        f"{_format_duration(span.duration_ns)}{status}{tag}"
    )


def render_tree(
    trace: Trace,
    *,
    marks: Collection[str] = (),
    attributes: bool = True,
    max_spans: int = 200,
) -> str:
    """Render the tree; spans whose id is in `marks` get a `>>` in the margin."""
    if not len(trace):
        return f"trace {trace.trace_id}: no spans received"
    orphan_ids = {span.span_id for span in trace.lost_parents}
    entry = trace.entry
    # An entry whose parent is not in the trace was called from outside it (a test's traceparent).
    entry_id = entry.span_id if entry is not None and entry.parent_span_id else ""
    lines = [
        f"trace {trace.trace_id}: {len(trace)} spans, services: {', '.join(sorted(trace.services))}"
    ]
    for count, (depth, span) in enumerate(trace.walk()):
        if count >= max_spans:
            lines.append(f"… {len(trace) - max_spans} more spans")
            break
        margin = ">> " if span.span_id in marks else "   "
        indent = "  " * depth
        line = render_span_line(
            span, orphan=span.span_id in orphan_ids, entry=span.span_id == entry_id
        )
        lines.append(f"{margin}{indent}{line}")
        if attributes:
            for key, value in interesting_attributes(span):
                lines.append(f"   {indent}    {key}={_format_value(value)}")
    return "\n".join(lines)
