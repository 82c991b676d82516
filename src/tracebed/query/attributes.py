"""The attributes a span shows to selectors and expressions, as Tracetest derives them.

Tracetest flattens every value to text and adds pseudo-attributes: `name`, `kind`,
`tracetest.span.type` (from the semantic-convention prefix of the attribute keys),
`tracetest.span.duration` (nanoseconds), `tracetest.span.status_code` (the OTLP enum name,
e.g. `STATUS_CODE_ERROR`), `tracetest.span.status_description`, and more. Resource attributes
(`service.name`, ...) are visible too; a span attribute wins over a resource one.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

from tracebed.model import Span, SpanKind, StatusCode

# Prefix of an attribute key -> the span type Tracetest reports. Checked in this order, so an
# HTTP/2 gRPC span that carries both rpc.* and http.* is an "rpc" span (stable, unlike Go's
# map iteration order).
TYPE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("rpc.", "rpc"),
    ("messaging.", "messaging"),
    ("db.", "database"),
    ("http.", "http"),
    ("faas.", "faas"),
    ("exception.", "exception"),
)

STATUS_NAMES = {
    StatusCode.UNSET: "STATUS_CODE_UNSET",
    StatusCode.OK: "STATUS_CODE_OK",
    StatusCode.ERROR: "STATUS_CODE_ERROR",
}

KIND_NAMES = {kind: kind.label for kind in SpanKind}

# The attributes Tracetest computes for every span (documented as selectable / assertable).
PSEUDO_ATTRIBUTES = (
    "name",
    "kind",
    "tracetest.span.name",
    "tracetest.span.type",
    "tracetest.span.kind",
    "tracetest.span.duration",
    "tracetest.span.start_time",
    "tracetest.span.end_time",
    "tracetest.span.parent_id",
    "tracetest.span.id",
    "tracetest.span.status_code",
    "tracetest.span.status_description",
    "span.events",
)

SELECTED_SPANS_COUNT = "tracetest.selected_spans.count"
STATUS_CODE_KEY = "tracetest.span.status_code"


def to_text(value: Any) -> str:
    """An attribute value as Tracetest's text: ints plain, bools `true`/`false`, lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e18:
            return str(int(value))
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def span_type(attributes: Mapping[str, Any]) -> str:
    for prefix, name in TYPE_PREFIXES:
        if any(key.startswith(prefix) for key in attributes):
            return name
    return "general"


def span_view(span: Span) -> dict[str, str]:
    """Every attribute a selector or `attr:` expression can read, as text."""
    view: dict[str, str] = {k: to_text(v) for k, v in span.resource.items()}
    view.update((k, to_text(v)) for k, v in span.attributes.items())
    derived_type = view.get("tracetest.span.type") or span_type(span.attributes)
    view.update(
        {
            "name": span.name,
            "kind": KIND_NAMES.get(span.kind, "unspecified"),
            "tracetest.span.name": span.name,
            "tracetest.span.type": derived_type,
            "tracetest.span.kind": KIND_NAMES.get(span.kind, "unspecified"),
            "tracetest.span.duration": str(span.duration_ns),
            "tracetest.span.start_time": str(span.start_ns),
            "tracetest.span.end_time": str(span.end_ns),
            "tracetest.span.parent_id": span.parent_span_id,
            "tracetest.span.id": span.span_id,
            "tracetest.span.status_code": STATUS_NAMES.get(span.status.code, "STATUS_CODE_UNSET"),
            "tracetest.span.status_description": span.status.message,
        }
    )
    if span.events:
        view["span.events"] = json.dumps(
            [
                {"name": e.name, "timestamp": e.time_ns, "attributes": {k: to_text(v) for k, v in e.attributes.items()}}
                for e in span.events
            ],
            separators=(",", ":"),
        )
    return view


def normalize_status(text: str) -> str | None:
    """`ok`, `OK`, `STATUS_CODE_OK`, `1` -> `STATUS_CODE_OK`; None when it is no status code."""
    try:
        code = StatusCode.parse(int(text) if text.strip().isdigit() else text)
    except ValueError:
        return None
    return STATUS_NAMES[code]
