"""Named wait conditions: what they accept, how they combine, and what a timeout then says."""

from __future__ import annotations

import pytest

from tracebed.model import Link, SpanKind, SpanStore, Trace, TraceTimeoutError
from tracebed.model.source import DEFAULT_QUIET_S, quiet_of
from tracebed.query.conditions import (
    complete_shape,
    entry_span,
    follows_chain,
    has_services,
    quiet,
    settled,
)

from .helpers import TRACE_ID, span

OTHER = "1" * 32


def _trace(*services: str) -> Trace:
    return Trace(TRACE_ID, [span(i + 1, "op", service=s) for i, s in enumerate(services)])


def test_has_services_names_what_is_missing_and_tells_the_sink() -> None:
    cond = has_services("cart", "payment")
    assert cond(_trace("cart", "payment", "email"))
    assert not cond(_trace("cart"))
    assert cond.explain(_trace("cart")) == "missing: payment"
    assert cond.explain(_trace("cart", "payment")) == ""
    assert cond.services == ("cart", "payment")
    assert "cart, payment" in cond.description


def test_complete_shape_counts_named_spans_too() -> None:
    publish = complete_shape("checkout", spans={"publish": lambda s: s.kind is SpanKind.PRODUCER})
    assert publish.missing(_trace("checkout")) == ["publish"]
    producer = span(9, "orders publish", service="checkout", kind=SpanKind.PRODUCER)
    assert publish(Trace(TRACE_ID, [producer]))


def test_conditions_combine_with_and() -> None:
    both = has_services("cart") & quiet(0.3) & (lambda t: len(t) >= 2)
    assert both.quiet == 0.3 and both.services == ("cart",)
    assert "services cart present" in both.description and "no new span" in both.description
    assert not both(_trace("cart")) and both(_trace("cart", "email"))
    assert both.explain(_trace("email")) == "missing: cart"


def test_quiet_window_of_a_wait() -> None:
    assert quiet_of(None, None) == DEFAULT_QUIET_S
    assert quiet_of(lambda t: True, None) is None
    assert quiet_of(has_services("a") & quiet(0.3), None) == 0.3
    assert quiet_of(quiet(0.3), 0.1) == 0.3 and quiet_of(quiet(0.1), 0.3) == 0.3


def test_settled_and_entry_span() -> None:
    client = f"{0xAA:016x}"
    entry = span(1, "GET /", service="frontend")
    entry.parent_span_id = client
    child = span(2, "child", 1, service="cart")
    early = span(3, "late parent's child", 7, service="cart")
    assert settled(client)(Trace(TRACE_ID, [entry, child]))
    assert not settled(client)(Trace(TRACE_ID, [entry, child, early]))
    assert settled(client).explain(Trace(TRACE_ID, [entry, early])) == (
        "1 span(s) wait for their parent"
    )
    assert not settled(client)(Trace(TRACE_ID, []))
    assert entry_span(client)(Trace(TRACE_ID, [entry])) and not entry_span(client)(_trace("x"))


def test_timeout_message_says_which_condition_and_what_is_missing() -> None:
    store = SpanStore()
    store.add_spans([span(1, "GET /api/cart", service="frontend")])
    with pytest.raises(TraceTimeoutError) as caught:
        store.wait_for_trace(TRACE_ID, until=has_services("frontend", "cart"), timeout=0.1)
    assert "condition services frontend, cart present never held: missing: cart" in str(
        caught.value
    )


def test_follows_chain_resolves_async_hops_through_the_traces_source() -> None:
    """A trace from the store finds a consumer of another trace through its span link."""
    store = SpanStore()
    producer = span(2, "orders publish", 1, service="checkout", kind=SpanKind.PRODUCER)
    store.add_spans([span(1, "PlaceOrder", service="checkout"), producer])
    cond = follows_chain("checkout ~> accounting")
    assert not cond(store.trace(TRACE_ID))
    assert "~> accounting" in cond.explain(store.trace(TRACE_ID))
    consumer = span(5, "orders process", service="accounting", kind=SpanKind.CONSUMER, trace_id=OTHER)
    consumer.links = (Link(TRACE_ID, producer.span_id),)
    store.add_spans([consumer])
    trace = store.wait_for_trace(TRACE_ID, until=cond, timeout=5)
    assert cond(trace) and trace.source is store
    assert not cond(Trace(TRACE_ID, list(trace)))  # a bare value has nowhere to look
