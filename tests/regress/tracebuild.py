"""Hand-built traces for the regression and contract tests (no stack needed)."""

from __future__ import annotations

import itertools
from typing import Any

from tracebed.model import Event, Span, SpanKind, Status, StatusCode, Trace

_ids = itertools.count(1)


class TraceBuilder:
    """Adds spans one by one; `span()` returns the new span id to parent the next ones."""

    def __init__(self, trace_id: str = "0af7651916cd43dd8448eb211c80319c"):
        self.trace_id = trace_id
        self.spans: list[Span] = []
        self._clock = 1_700_000_000_000_000_000

    def span(
        self,
        service: str,
        name: str,
        kind: SpanKind | str = SpanKind.INTERNAL,
        parent: str = "",
        attrs: dict[str, Any] | None = None,
        status: StatusCode | str = StatusCode.UNSET,
        message: str = "",
    ) -> str:
        span_id = f"{next(_ids):016x}"
        self._clock += 1_000_000
        self.spans.append(
            Span(
                trace_id=self.trace_id,
                span_id=span_id,
                name=name,
                parent_span_id=parent,
                kind=SpanKind.parse(kind),
                start_ns=self._clock,
                end_ns=self._clock + 500_000,
                status=Status(StatusCode.parse(status), message),
                attributes=dict(attrs or {}),
                resource={"service.name": service},
            )
        )
        return span_id

    def event(self, span_id: str, name: str, attrs: dict[str, Any] | None = None) -> None:
        span = next(s for s in self.spans if s.span_id == span_id)
        span.events = (*span.events, Event(name, span.start_ns, dict(attrs or {})))

    def trace(self) -> Trace:
        return Trace(self.trace_id, self.spans)


def grpc_attrs(service: str, method: str, code: int | None = 0) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "rpc.system": "grpc",
        "rpc.service": f"oteldemo.{service}",
        "rpc.method": method,
    }
    if code is not None:
        attrs["rpc.grpc.status_code"] = code
    return attrs
