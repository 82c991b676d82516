"""The bundled contract suite follows span links to the traces Kafka consumers start (3.0.0)."""

from __future__ import annotations

import threading
from typing import Any

from tests.factories import make_span
from tracebed.model import Link, Span, SpanKind, SpanStore, Trace
from tracebed.suites.otel_demo.test_contracts import CONTRACTS, linked_traces, traces_of

CHECKOUT = "c1" * 16
CONSUMER = "a1" * 16
OTHER = "b1" * 16
CLIENT_SPAN = "0f" * 8  # the harness's span: parent of the request's server span


def checkout_spans() -> list[Span]:
    """checkout's request trace, down to its Kafka publish span."""
    return [
        make_span(
            "01",
            CLIENT_SPAN,
            name="POST /api/checkout",
            service="frontend",
            kind=SpanKind.SERVER,
            trace_id=CHECKOUT,
        ),
        make_span(
            "02",
            "01",
            name="publish orders",
            service="checkout",
            kind=SpanKind.PRODUCER,
            trace_id=CHECKOUT,
        ),
    ]


def consumer_spans(trace_id: str = CONSUMER, link_to: str = "02" * 8) -> list[Span]:
    """accounting at 3.0.0: a root `order-consumed` with `receive orders` linked to the publish."""
    return [
        make_span("a1", None, name="order-consumed", service="accounting", trace_id=trace_id),
        make_span(
            "a2",
            "a1",
            name="receive orders",
            service="accounting",
            kind=SpanKind.CONSUMER,
            trace_id=trace_id,
            messaging__system="kafka",
            messaging__destination__name="orders",
            links=[Link(CHECKOUT, link_to)],
        ),
    ]


class Step:
    """A flow request as the suite sees it: its trace id, the client span id, `trace()`."""

    def __init__(self, store: SpanStore, trace_id: str = CHECKOUT):
        self.store, self.trace_id, self.span_id = store, trace_id, CLIENT_SPAN

    def trace(self, until: Any = None, quiet: float | None = None, timeout: float = 30.0) -> Trace:
        return self.store.wait_for_trace(self.trace_id, until=until, quiet=quiet, timeout=timeout)


def test_linked_traces_are_the_traces_linking_to_one_of_its_spans() -> None:
    store = SpanStore()
    store.add_spans(checkout_spans())
    store.add_spans(consumer_spans())
    # links into the trace but to no span of it: not a consumer of this trace's messages
    store.add_spans(consumer_spans(OTHER, link_to="99" * 8))
    found = linked_traces(store.trace(CHECKOUT))
    assert [t.trace_id for t in found] == [CONSUMER]
    assert [s.name for s in found[0]] == ["order-consumed", "receive orders"]
    assert linked_traces(store.trace(CONSUMER)) == []  # links point one way
    assert linked_traces(Trace(CHECKOUT, checkout_spans())) == []  # no source to ask


def test_traces_of_waits_for_the_linked_consumer_trace() -> None:
    contract = CONTRACTS["3.0.0"]["accounting"]
    op = contract.operations["ConsumeOrder"]
    assert "checkout" in op.flows  # the suite drives a flow for it
    store = SpanStore()
    store.add_spans(checkout_spans())
    # the consumer's trace arrives while the suite waits (woken by the arrival)
    late = threading.Timer(0.2, store.add_spans, args=(consumer_spans(),))
    late.start()
    try:
        traces = traces_of(Step(store), contract, op, timeout=20)
    finally:
        late.join()
    assert [t.trace_id for t in traces] == [CHECKOUT, CONSUMER]
    assert [s.name for s in traces[1]] == ["order-consumed", "receive orders"]


def test_traces_of_keeps_a_consumer_that_is_a_child_in_the_same_trace() -> None:
    """2.0.2: accounting's `orders receive` is a child of the publish span, no link needed."""
    contract = CONTRACTS["2.0.2"]["accounting"]
    op = contract.operations["ConsumeOrder"]
    store = SpanStore()
    store.add_spans(checkout_spans())
    store.add_spans(
        [
            make_span(
                "a2",
                "02",
                name="orders receive",
                service="accounting",
                kind=SpanKind.CONSUMER,
                trace_id=CHECKOUT,
            )
        ]
    )
    store.add_spans(consumer_spans())  # a linked trace is there too, but not needed
    traces = traces_of(Step(store), contract, op, timeout=20)
    assert [t.trace_id for t in traces] == [CHECKOUT]
