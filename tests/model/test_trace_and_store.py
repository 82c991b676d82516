"""The trace model and the store's waits, on hand-built spans."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.factories import make_span
from tracebed.model import (
    Link,
    Span,
    SpanKind,
    SpanStore,
    SpanType,
    Status,
    StatusCode,
    StoreFullError,
    Trace,
    TraceTimeoutError,
)

T1 = "11" * 16
T2 = "22" * 16
T3 = "33" * 16


def span(span_id: str, parent: str = "", **fields: Any) -> Span:
    """A server span of trace T1 unless told otherwise (`tests.factories.make_span`)."""
    return make_span(span_id, parent, **{"kind": SpanKind.SERVER, "trace_id": T1, **fields})


def test_tree_children_in_start_order_and_orphans() -> None:
    store = SpanStore()
    store.add_spans(
        [
            span("01", service="frontend"),
            span("03", "01", service="cart", start_ns=20),
            span("02", "01", service="checkout", start_ns=10),
            span("04", "99", service="email"),  # parent never arrives
        ]
    )
    trace = store.trace(T1)
    assert [s.span_id for s in trace.roots] == ["01" * 8]
    assert [s.service for s in trace.children(trace.roots[0])] == ["checkout", "cart"]
    assert [s.service for s in trace.orphans] == ["email"]
    assert trace.services == {"frontend", "cart", "checkout", "email"}
    assert trace.edges == {("frontend", "cart"), ("frontend", "checkout")}
    rendered = trace.render()
    assert "orphan: parent not received" in rendered and "frontend: op-01 [server]" in rendered


def test_edges_carry_the_kind_of_call() -> None:
    trace_spans = [
        span("01", service="frontend", http__request__method="GET"),
        span("02", "01", service="checkout", rpc__system="grpc"),
        span("03", "02", service="accounting", messaging__system="kafka"),
        span("04", "02", service="checkout"),  # same service: no edge
    ]
    store = SpanStore()
    store.add_spans(trace_spans)
    kinds = store.trace(T1).edge_kinds()
    assert kinds == {
        ("frontend", "checkout"): {SpanType.RPC},
        ("checkout", "accounting"): {SpanType.MESSAGING},
    }


def test_span_type_and_status() -> None:
    assert span("01", db__system="redis").span_type is SpanType.DATABASE
    assert span("01").span_type is SpanType.GENERAL
    assert Status(StatusCode.ERROR, "x").is_error
    assert SpanKind.parse("SPAN_KIND_CLIENT") is SpanKind.CLIENT
    with pytest.raises(ValueError):
        SpanKind.parse("sideways")


def test_linked_spans_from_other_traces() -> None:
    store = SpanStore()
    producer = span("01", service="checkout")
    consumer = span("05", service="accounting", trace_id=T2)
    consumer.links = (Link(T1, "01" * 8),)
    store.add_spans([producer, consumer])
    assert [s.service for s in store.trace(T1).linked_spans()] == ["accounting"]


def test_linked_spans_filtered_by_the_span_they_link_to() -> None:
    store = SpanStore()
    to_producer = span("05", service="accounting", trace_id=T2)
    to_producer.links = (Link(T1, "01" * 8),)
    to_absent = span("06", service="fraud-detection", trace_id=T2)
    to_absent.links = (Link(T1, "09" * 8),)  # a span of T1 that never arrived
    # Same span id, other trace: only links into T1 count.
    to_other_trace = span("07", service="email", trace_id=T3)
    to_other_trace.links = (Link(T2, "02" * 8), Link(T1, "03" * 8))
    store.add_spans([span("01"), span("02", "01"), to_producer, to_absent, to_other_trace])
    trace = store.trace(T1)
    assert {s.service for s in trace.linked_spans()} == {"accounting", "fraud-detection", "email"}
    held = {s.span_id for s in trace}
    assert [s.service for s in trace.linked_spans(span_ids=held)] == ["accounting"]
    assert [s.service for s in trace.linked_spans(span_ids={"09" * 8})] == ["fraud-detection"]
    assert trace.linked_spans(span_ids=set()) == []


def test_wait_returns_when_predicate_holds_woken_by_arrival() -> None:
    store = SpanStore()
    woke: list[float] = []

    def waiter() -> None:
        store.wait_for_trace(T1, until=lambda t: len(t) == 2, timeout=10)
        woke.append(time.monotonic())

    thread = threading.Thread(target=waiter)
    thread.start()
    store.add_spans([span("01")])
    assert not woke
    sent = time.monotonic()
    store.add_spans([span("02", "01")])
    thread.join(timeout=10)
    assert woke and woke[0] - sent < 2.0  # event-driven: no poll period to wait out


def test_wait_without_predicate_waits_for_quiet_window() -> None:
    store = SpanStore()
    store.add_spans([span("01")])
    start = time.monotonic()
    trace = store.wait_for_trace(T1, quiet=0.2, timeout=5)
    assert len(trace) == 1
    assert time.monotonic() - start >= 0.15


def test_timeout_message_shows_what_arrived() -> None:
    store = SpanStore()
    store.add_spans([span("01", service="frontend", name="GET /api/cart")])
    with pytest.raises(TraceTimeoutError) as caught:
        store.wait_for_trace(T1, until=lambda t: "cart" in t.services, timeout=0.2)
    message = str(caught.value)
    assert "never held" in message and "frontend: GET /api/cart" in message
    with pytest.raises(TraceTimeoutError, match="no span of it arrived"):
        store.wait_for_trace(T2, timeout=0.1)


def test_bad_trace_id_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="32 hex characters"):
        SpanStore().wait_for_trace("xyz", timeout=0.1)


def test_reject_policy_stores_nothing_of_an_oversized_batch() -> None:
    store = SpanStore(max_spans=2, when_full="reject")
    store.add_spans([span("01")])
    with pytest.raises(StoreFullError):
        store.add_spans([span("02"), span("03")])
    assert len(store) == 1 and [s.span_id for s in store.trace(T1)] == ["01" * 8]


def test_predicate_may_query_the_store_while_waiting() -> None:
    """A predicate that looks at linked spans (another lock-taking query) must not deadlock."""
    store = SpanStore()
    producer = span("01", service="checkout")
    consumer = span("05", service="accounting", trace_id=T2)
    consumer.links = (Link(T1, "01" * 8),)
    store.add_spans([producer])
    found: list[int] = []

    def waiter() -> None:
        trace = store.wait_for_trace(T1, until=lambda t: bool(t.linked_spans()), timeout=10)
        found.append(len(trace.linked_spans()))

    thread = threading.Thread(target=waiter)
    thread.start()
    store.add_spans([consumer])  # arrives in another trace: still wakes the waiter
    thread.join(timeout=10)
    assert found == [1]
    store.wait(lambda: len(store.trace_ids()) == 2, timeout=5)


def test_single_top_with_a_foreign_parent_is_the_entry_not_an_orphan() -> None:
    store = SpanStore()
    # The caller (a test's traceparent, span "aa") never reports a span of its own.
    store.add_spans([span("01", "aa", service="frontend-proxy"), span("02", "01", service="frontend")])
    rendered = store.trace(T1).render()
    assert "frontend-proxy: op-01 [server] 1.0ms (entry: its parent is the caller's span)" in rendered
    assert "orphan" not in rendered


def test_store_wait_looks_again_when_the_check_asks_without_an_arrival() -> None:
    """`wait`'s check may return a time to re-check at (a quiet window ending): honoured even
    though nothing arrives, so the second look comes long before the deadline."""
    store = SpanStore()
    start = time.monotonic()
    calls: list[float] = []

    def check() -> bool | float:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return calls[0] + 0.05
        return calls[-1] - start < 4.0  # False only if we slept to the deadline

    store.wait(check, timeout=5)
    assert len(calls) == 2
    with pytest.raises(TimeoutError, match="a thing did not hold within 0.1s"):
        store.wait(lambda: False, timeout=0.1, description="a thing")


def test_last_arrival_moves_with_each_stored_batch() -> None:
    store = SpanStore()
    assert store.last_arrival() == 0.0
    store.add_spans([span("01")])
    first = store.last_arrival()
    assert first > 0.0 and store.last_arrival("logs") == 0.0
    store.add_spans([span("01")])  # a duplicate stores nothing: no arrival
    assert store.last_arrival() == first


def test_trace_is_a_value_whose_links_resolve_through_its_source() -> None:
    store = SpanStore()
    consumer = span("05", service="accounting", trace_id=T2)
    consumer.links = (Link(T1, "01" * 8),)
    store.add_spans([span("01"), consumer])
    trace = store.trace(T1)
    assert trace.source is store and [s.span_id for s in trace.linked_spans()] == ["05" * 8]
    assert Trace(T1, list(trace)).linked_spans() == []
    assert not hasattr(trace, "select")
