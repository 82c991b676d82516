"""The one way tests build spans and traces: `make_span` for a span, `TraceBuilder` for a trace.

    make_span("01", "02", service="cart", kind="server", http__route="/api/cart")
    b = TraceBuilder()
    root = b.span("frontend", "POST /api/checkout", "server", http__request__method="POST")
    b.span("checkout", "PlaceOrder", "server", root, {"rpc.system": "grpc"}, error="boom")
    trace = b.trace()

Attribute keywords spell a dot as `__` (`http__route` is `http.route`); a mapping of
attributes can be given as well. Ids may be given short: an int is its hex (`1` ->
`0000000000000001`), a string shorter than the id is repeated (`"ab"` -> `abab…`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tracebed.model import Event, Link, Scope, Span, SpanKind, Status, StatusCode, Trace

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
MS = 1_000_000
T0 = 1_700_000_000_000_000_000  # a 2023 wall-clock time in ns: big enough to need int64 strings

# Span ids a builder hands out are unique in the process: traces built apart can share a store.
_span_ids = itertools.count(1)


def hex_id(value: int | str, width: int = 16) -> str:
    """An id of `width` hex characters from a short form (see the module docstring)."""
    if isinstance(value, int):
        return f"{value:0{width}x}"
    if value and len(value) < width and width % len(value) == 0:
        return value * (width // len(value))
    return value


def attributes_of(mapping: Mapping[str, Any] | None, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """`mapping` plus the keyword attributes, whose `__` are dots."""
    return {**(mapping or {}), **{k.replace("__", "."): v for k, v in keywords.items()}}


def make_span(
    span_id: int | str,
    parent: Span | int | str | None = None,
    *,
    name: str | None = None,
    service: str | None = "svc",
    kind: SpanKind | str = SpanKind.INTERNAL,
    trace_id: str = TRACE_ID,
    start_ns: int = 0,
    end_ns: int | None = None,
    status: StatusCode | str = StatusCode.UNSET,
    message: str = "",
    error: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    resource: Mapping[str, Any] | None = None,
    scope: Scope | None = None,
    events: Sequence[Event] = (),
    links: Sequence[Link] = (),
    **attrs: Any,
) -> Span:
    """One span. `name` defaults to `op-<span_id as given>`, `end_ns` to 1 ms after the start;
    `error="why"` is `status=ERROR, message="why"`; `service=None` leaves `service.name` out."""
    if isinstance(parent, Span):
        parent_id = parent.span_id
    elif parent is None or parent == "":
        parent_id = ""
    else:
        parent_id = hex_id(parent)
    res = {"service.name": service} if service is not None else {}
    return Span(
        trace_id=hex_id(trace_id, 32),
        span_id=hex_id(span_id),
        parent_span_id=parent_id,
        name=name if name is not None else f"op-{span_id}",
        kind=SpanKind.parse(kind),
        start_ns=start_ns,
        end_ns=start_ns + MS if end_ns is None else end_ns,
        status=Status(StatusCode.ERROR, error)
        if error
        else Status(StatusCode.parse(status), message),
        attributes=attributes_of(attributes, attrs),
        resource={**res, **(resource or {})},
        scope=scope if scope is not None else Scope(),
        events=tuple(events),
        links=tuple(links),
    )


def trace_of(spans: Iterable[Span], trace_id: str | None = None) -> Trace:
    """A trace of the spans (its id is the first span's unless given)."""
    spans = list(spans)
    return Trace(trace_id or (spans[0].trace_id if spans else TRACE_ID), spans)


class TraceBuilder:
    """Spans of one trace, added one by one; `span()` returns the new span's id to parent the
    next ones with.

    Times: a span starts at `start_ms` after `epoch_ns` if given, else 1 ms after the span
    added before it; it lasts `duration_ms` (0.5 ms unless given). `resource` is added to every
    span's resource; `scope` is every span's scope, or a function of the span's service.
    """

    def __init__(
        self,
        trace_id: str = TRACE_ID,
        *,
        epoch_ns: int = T0,
        resource: Mapping[str, Any] | None = None,
        scope: Scope | Callable[[str], Scope] | None = None,
    ) -> None:
        self.trace_id = hex_id(trace_id, 32)
        self.spans: list[Span] = []
        self.epoch_ns = epoch_ns
        self.resource = dict(resource or {})
        self.scope = scope
        self._clock = epoch_ns

    def span(
        self,
        service: str,
        name: str,
        kind: SpanKind | str = SpanKind.INTERNAL,
        parent: Span | str | None = None,
        attrs: Mapping[str, Any] | None = None,
        status: StatusCode | str = StatusCode.UNSET,
        message: str = "",
        *,
        start_ms: float | None = None,
        duration_ms: float = 0.5,
        error: str | None = None,
        **attributes: Any,
    ) -> str:
        if start_ms is None:
            self._clock += MS
            start = self._clock
        else:
            start = self.epoch_ns + int(start_ms * MS)
        scope = self.scope(service) if callable(self.scope) else self.scope
        span = make_span(
            next(_span_ids),
            parent,
            name=name,
            service=service,
            kind=kind,
            trace_id=self.trace_id,
            start_ns=start,
            end_ns=start + int(duration_ms * MS),
            status=status,
            message=message,
            error=error,
            attributes=attributes_of(attrs, attributes),
            resource=self.resource,
            scope=scope,
        )
        self.spans.append(span)
        return span.span_id

    def get(self, span_id: str) -> Span:
        return next(s for s in self.spans if s.span_id == span_id)

    def event(self, span_id: str, name: str, attrs: Mapping[str, Any] | None = None) -> None:
        span = self.get(span_id)
        span.events = (*span.events, Event(name, span.start_ns, dict(attrs or {})))

    def trace(self) -> Trace:
        return Trace(self.trace_id, self.spans)


def grpc_attrs(service: str, method: str, code: int | None = 0) -> dict[str, Any]:
    """The `rpc.*` attributes of a call to `oteldemo.<service>/<method>`."""
    attrs: dict[str, Any] = {
        "rpc.system": "grpc",
        "rpc.service": f"oteldemo.{service}",
        "rpc.method": method,
    }
    if code is not None:
        attrs["rpc.grpc.status_code"] = code
    return attrs
