"""The checkout-chain check and per-edge latency on hand-built traces."""

from __future__ import annotations

import pytest

from tests.factories import make_span
from tracebed.flows.chain import (
    CHECKOUT_SERVICES,
    KAFKA_PUBLISH,
    ChainCheck,
    edge_latencies,
    percentile,
)
from tracebed.model import Span, SpanKind, Trace

TRACE = "ab" * 16


def _span(
    sid: str,
    service: str,
    parent: str = "",
    kind: SpanKind = SpanKind.SERVER,
    ms: float = 1.0,
    name: str = "op",
    **attrs: object,
) -> Span:
    """A span of TRACE lasting `ms` (`tests.factories.make_span`; attribute keys as given)."""
    return make_span(
        sid,
        parent,
        name=name,
        service=service,
        kind=kind,
        trace_id=TRACE,
        end_ns=int(ms * 1e6),
        attributes=attrs,
    )


def _checkout_trace(with_publish: bool = True, drop: str = "") -> Trace:
    spans = [_span("01", "frontend", parent="ff", ms=40), _span("02", "checkout", "01", ms=30)]
    for i, service in enumerate(s for s in CHECKOUT_SERVICES if s not in ("checkout", drop)):
        spans.append(_span(f"{i + 3:02x}", service, "02", ms=i + 1))
    if with_publish:
        spans.append(
            _span(
                "ee",
                "checkout",
                "02",
                SpanKind.PRODUCER,
                name="orders publish",
                **{"messaging.system": "kafka"},
            )
        )
    return Trace(TRACE, spans)


def test_full_chain_holds() -> None:
    check = ChainCheck()
    assert check(_checkout_trace()) and check.missing(_checkout_trace()) == []
    assert "kafka publish" in check.description


def test_missing_parts_are_named() -> None:
    check = ChainCheck()
    assert check.missing(_checkout_trace(drop="email")) == ["email"]
    assert check.missing(_checkout_trace(with_publish=False)) == [KAFKA_PUBLISH]
    # A PRODUCER span of another system is no Kafka publish.
    trace = Trace(
        TRACE,
        [
            *_checkout_trace(with_publish=False),
            _span("ed", "checkout", "02", SpanKind.PRODUCER, name="x publish"),
        ],
    )
    assert not check(trace)
    assert ChainCheck(kafka_publish=False)(trace)
    with pytest.raises(ValueError):
        ChainCheck(services=(), kafka_publish=False)


def test_edge_latency_is_the_callee_span_duration() -> None:
    traces = [_checkout_trace(), _checkout_trace()]
    edges = {(e.caller, e.callee): e for e in edge_latencies(traces, {TRACE: "ff" * 8})}
    assert edges[("client", "frontend")].p50_ms == pytest.approx(40)
    assert edges[("frontend", "checkout")].p95_ms == pytest.approx(30)
    assert edges[("checkout", "cart")].count == 2
    assert ("checkout", "checkout") not in edges  # the producer span stays inside checkout


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
