"""Attribute keys renamed by a demo release, applied where spans leave the process.

The services keep one vocabulary (the 2.0.2 keys); this exporter wrapper rewrites span and
event attribute keys through ``versions.ATTRIBUTE_RENAMES`` so the wire carries the release's
names (``app.order.id`` -> ``demo.order.id`` at 3.0.0). One table, one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


def rename_attributes(
    attrs: Mapping[str, Any] | None, renames: Mapping[str, str | None]
) -> dict[str, Any]:
    """``attrs`` with renamed keys; a key renamed to ``None`` is dropped."""
    out: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        new = renames.get(key, key)
        if new is not None:
            out[new] = value
    return out


def rename_span(span: ReadableSpan, renames: Mapping[str, str | None]) -> ReadableSpan:
    events = [
        Event(e.name, rename_attributes(e.attributes, renames), e.timestamp) for e in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=rename_attributes(span.attributes, renames),
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RenamingExporter(SpanExporter):
    """Wraps an exporter; renames attribute keys of every span it is given."""

    def __init__(self, inner: SpanExporter, renames: Mapping[str, str | None]) -> None:
        self.inner = inner
        self.renames = dict(renames)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([rename_span(s, self.renames) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
