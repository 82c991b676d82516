"""What a load run checks in its traces: the checkout chain, and per-edge latencies."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tracebed.model import Span, SpanKind, Trace
from tracebed.query.conditions import ShapeCondition

# Services a successful checkout reaches at 2.0.2 (demo-facts §4.1), by their OTEL_SERVICE_NAME.
CHECKOUT_SERVICES: tuple[str, ...] = (
    "checkout",
    "cart",
    "product-catalog",
    "currency",
    "shipping",
    "quote",
    "payment",
    "email",
)
KAFKA_PUBLISH = "kafka publish"
CLIENT = "client"  # the caller name for the hop from the flow client to the front door


def is_kafka_publish(span: Span) -> bool:
    """checkout's PRODUCER span for topic `orders` (named `orders publish` at 2.0.2)."""
    if span.kind is not SpanKind.PRODUCER:
        return False
    return (
        span.attributes.get("messaging.system") == "kafka"
        or span.attributes.get("messaging.destination.name") == "orders"
        or span.name == "orders publish"
    )


class ChainCheck(ShapeCondition):
    """A trace condition: every required service has a span, and (optionally) a Kafka publish.

    Usable as `until=` in `wait_for_trace`; `missing(trace)` says what is absent.
    """

    def __init__(self, services: Sequence[str] = CHECKOUT_SERVICES, kafka_publish: bool = True):
        if not services and not kafka_publish:
            raise ValueError("a chain check needs at least one service or the Kafka publish")
        self.kafka_publish = kafka_publish
        spans = {KAFKA_PUBLISH: is_kafka_publish} if kafka_publish else {}
        parts = [*services, *spans]
        super().__init__(services, spans, "checkout chain (" + ", ".join(parts) + ")")


def edge_samples(
    trace: Trace, client_span_id: str | None = None
) -> Iterable[tuple[tuple[str, str], float]]:
    """`((caller, callee), seconds)` per cross-service hop: the callee's first span's duration.

    The callee's side of a hop is its server (or consumer) span; its duration is the latency
    the caller saw minus the network. The hop from the flow client is named `client -> <svc>`.
    """
    for span in trace:
        if client_span_id and span.parent_span_id == client_span_id:
            yield (CLIENT, span.service), span.duration
            continue
        parent = trace.parent(span)
        if parent is not None and parent.service != span.service:
            yield (parent.service, span.service), span.duration


@dataclass(frozen=True, slots=True)
class EdgeLatency:
    caller: str
    callee: str
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, object]:
        return {
            "caller": self.caller,
            "callee": self.callee,
            "count": self.count,
            "p50_ms": round(self.p50_ms, 3),
            "p95_ms": round(self.p95_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already-sorted values (p in 0..100)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def edge_latencies(
    traces: Iterable[Trace], client_span_ids: Mapping[str, str] | None = None
) -> list[EdgeLatency]:
    """Per-edge p50/p95 over the given traces, busiest edge first."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for trace in traces:
        client = (client_span_ids or {}).get(trace.trace_id)
        for edge, seconds in edge_samples(trace, client):
            samples[edge].append(seconds * 1000)
    out = []
    for (caller, callee), values in samples.items():
        values.sort()
        out.append(
            EdgeLatency(
                caller,
                callee,
                len(values),
                percentile(values, 50),
                percentile(values, 95),
                values[-1],
            )
        )
    out.sort(key=lambda e: (-e.count, e.caller, e.callee))
    return out
