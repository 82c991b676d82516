"""Call-chain patterns against hand-built traces, async hops across traces, the YAML fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebed.model import Link, Span, SpanKind, SpanStore, Trace, TraceTimeoutError
from tracebed.query import QuerySyntaxError
from tracebed.query.chains import (
    ChainMatcher,
    ChainMismatch,
    assert_chain,
    load_chain,
    load_chains,
    match_chain,
    parse_chain,
    service_tree,
    svc,
)

from .helpers import TRACE_ID, span

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "2.0.2"
OTHER_TRACE = "1" * 32


def checkout_spans(*, with_email: bool = True, consumers_in_trace: bool = True) -> list[Span]:
    S, C, P, K = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER
    spans = [
        span(1, "ingress", service="frontend-proxy", kind=S),
        span(2, "POST /api/checkout", 1, service="frontend", kind=S),
        span(3, "PlaceOrder", 2, service="frontend", kind=C),
        span(4, "oteldemo.CheckoutService/PlaceOrder", 3, service="checkout", kind=S, app__order__id="o-1"),
        span(5, "GetCart", 4, service="checkout", kind=C),
        span(6, "GetCart", 5, service="cart", kind=S),
        span(7, "GetProduct", 4, service="checkout", kind=C),
        span(8, "GetProduct", 7, service="product-catalog", kind=S),
        span(9, "Convert", 4, service="checkout", kind=C),
        span(10, "Convert", 9, service="currency", kind=S),
        span(11, "Convert", 4, service="checkout", kind=C),
        span(12, "Convert", 11, service="currency", kind=S),
        span(13, "GetQuote", 4, service="checkout", kind=C),
        span(14, "GetQuote", 13, service="shipping", kind=S),
        span(15, "POST /getquote", 14, service="shipping", kind=C),
        span(16, "getquote", 15, service="quote", kind=S),
        span(17, "Charge", 4, service="checkout", kind=C),
        span(18, "grpc.oteldemo.PaymentService/Charge", 17, service="payment", kind=S),
        span(19, "ShipOrder", 4, service="checkout", kind=C),
        span(20, "ShipOrder", 19, service="shipping", kind=S),
        span(23, "orders publish", 4, service="checkout", kind=P, messaging__system="kafka"),
    ]
    if with_email:
        spans += [span(21, "POST", 4, service="checkout", kind=C),
                  span(22, "POST /send_order_confirmation", 21, service="email", kind=S)]
    if consumers_in_trace:
        spans += [span(24, "orders receive", 23, service="accounting", kind=K),
                  span(25, "orders receive", 23, service="fraud-detection", kind=K)]
    return spans


CHAIN = ("frontend-proxy → frontend → checkout → {cart, product-catalog, currency, shipping → quote, "
         "payment, email} ~> {accounting, fraud-detection}")


def test_checkout_chain_matches() -> None:
    trace = Trace(TRACE_ID, checkout_spans())
    assert match_chain(trace, CHAIN) is None
    assert_chain(trace, CHAIN)


def test_service_tree_collapses_spans_into_calls() -> None:
    (top,) = service_tree(Trace(TRACE_ID, checkout_spans()))
    assert top.service == "frontend-proxy"
    (frontend,) = top.children
    (checkout,) = frontend.children
    services = [n.service for n in checkout.children]
    assert services.count("currency") == 2 and services.count("shipping") == 2
    assert [n.hop for n in checkout.children if n.service == "accounting"] == ["~>"]


def test_missing_call_shows_both_trees_with_the_first_difference() -> None:
    trace = Trace(TRACE_ID, checkout_spans(with_email=False))
    with pytest.raises(ChainMismatch) as info:
        assert_chain(trace, CHAIN)
    text = str(info.value)
    assert text.startswith("call chain differs: expected a call from checkout to email")
    lines = text.splitlines()
    marked = [line for line in lines if line.startswith(">>")]
    assert marked, text
    assert len(marked) == 1, text
    assert "→ email  ✗" in marked[0] and "(missing)  ◀" in marked[0], text
    # the rows line up call by call: checkout's actual cell sits beside the expected checkout
    row = next(line for line in lines if line.strip().startswith("→ checkout"))
    assert row.count("→ checkout") == 2, text
    header = next(line for line in lines if "expected" in line and "actual" in line)
    assert header.index("actual") > header.index("expected")
    assert any("currency ×2" in line for line in lines)  # repeated calls grouped


def test_optional_count_and_exact() -> None:
    trace = Trace(TRACE_ID, checkout_spans(with_email=False))
    assert match_chain(trace, "checkout → {cart, email?}") is None
    assert match_chain(trace, "checkout → {currency*2, shipping*2}") is None
    diff = match_chain(trace, "checkout → currency*3")
    assert diff is not None and "expected 3 call(s) from checkout to currency, found 2" in diff.reason
    diff = match_chain(trace, "checkout → {cart, payment}", exact=True)
    assert diff is not None and "unexpected call(s) from checkout to" in diff.reason
    assert "product-catalog" in diff.reason
    with pytest.raises(ChainMismatch) as info:
        assert_chain(trace, "checkout → {cart, payment}", exact=True)
    marked = [line for line in str(info.value).splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and "(not expected)" in marked[0] and "→ product-catalog  ◀" in marked[0]


def test_nested_requirement_checked_on_some_call() -> None:
    trace = Trace(TRACE_ID, checkout_spans())
    # shipping is called twice; only GetQuote reaches quote, which is enough
    assert match_chain(trace, "checkout → shipping → quote") is None
    diff = match_chain(trace, "checkout → payment → quote")
    assert diff is not None and "from payment to quote" in diff.reason


def test_ordered_children() -> None:
    trace = Trace(TRACE_ID, checkout_spans())
    assert match_chain(trace, "checkout → [cart, product-catalog, payment, email]") is None
    diff = match_chain(trace, "checkout → [payment, cart]")
    assert diff is not None and "out of order" in diff.reason


def test_root_may_be_anywhere_and_missing_root_is_reported() -> None:
    trace = Trace(TRACE_ID, checkout_spans())
    assert match_chain(trace, "shipping → quote") is None
    diff = match_chain(trace, "ad → x")
    assert diff is not None and "no span of service 'ad'" in diff.reason


def test_async_hop_through_a_span_link_in_another_trace() -> None:
    store = SpanStore()
    store.add_spans(checkout_spans(consumers_in_trace=False))
    producer = f"{23:016x}"
    consumer = span(1, "orders process", service="accounting", kind=SpanKind.CONSUMER, trace_id=OTHER_TRACE)
    consumer.links = (Link(TRACE_ID, producer),)
    store.add_spans([consumer])
    trace = store.trace(TRACE_ID)
    assert match_chain(trace, "checkout ~> accounting") is None
    diff = match_chain(trace, "checkout ~> fraud-detection")
    assert diff is not None and "asynchronous hop from checkout to fraud-detection" in diff.reason
    # a synchronous arrow does not look into other traces
    assert match_chain(trace, "checkout → accounting") is not None


def test_async_hop_through_a_correlating_attribute() -> None:
    store = SpanStore()
    store.add_spans(checkout_spans(consumers_in_trace=False))
    store.add_spans([
        span(1, "orders receive", service="fraud-detection", kind=SpanKind.CONSUMER, trace_id=OTHER_TRACE,
             app__order__id="o-1"),
        span(2, "orders receive", service="accounting", kind=SpanKind.CONSUMER, trace_id="2" * 32,
             app__order__id="another-order"),
    ])
    trace = store.trace(TRACE_ID)
    assert match_chain(trace, "checkout ~> fraud-detection", correlate=["app.order.id"]) is None
    assert match_chain(trace, "checkout ~> fraud-detection") is not None  # nothing links them otherwise
    diff = match_chain(trace, "checkout ~> accounting", correlate=["app.order.id"])
    assert diff is not None  # a different order id is not this order's consumer


def test_python_builder_equals_text() -> None:
    built = svc("checkout").calls("cart", svc("shipping").calls("quote")).publishes("accounting")
    assert built == parse_chain("checkout → {cart, shipping → quote} ~> accounting")
    assert str(built) == "checkout → {cart, shipping → quote} ~> accounting"


def test_fixtures_parse_and_checkout_matches_a_checkout_trace() -> None:
    chains = load_chains(FIXTURES)
    assert {"checkout", "browse-product", "add-to-cart", "view-cart", "recommendations", "ads"} <= set(chains)
    assert all(c.flow for c in chains.values())
    checkout = chains["checkout"]
    assert checkout.correlate == ("app.order.id",)
    assert checkout.matcher().match(Trace(TRACE_ID, checkout_spans())) is None
    # consumers in another trace, found through the order id
    store = SpanStore()
    store.add_spans(checkout_spans(consumers_in_trace=False))
    store.add_spans([span(1, "c", service=s, kind=SpanKind.CONSUMER, trace_id=t, app__order__id="o-1")
                     for s, t in (("accounting", OTHER_TRACE), ("fraud-detection", "3" * 32))])
    assert checkout.matcher(store).match(store.trace(TRACE_ID)) is None


def test_bad_fixture_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nchain: a → {b,\n")
    with pytest.raises(ValueError, match=r"bad.yaml: chain: syntax error at column 8"):
        load_chain(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [("", 1, "a service name"), ("a →", 4, "a service name"), ("a → {b c}", 8, "',' or '}'"),
     ("a b", 3, "→, ~> or the end"), ("a*", 3, "a number of calls"), ("a → [b, c}", 10, "',' or ']'")],
)
def test_chain_syntax_errors(text: str, column: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_chain(text)
    assert info.value.column == column and expected in info.value.expected, str(info.value)


def test_wait_follows_arrivals_across_traces() -> None:
    import threading

    store = SpanStore()
    store.add_spans(checkout_spans(consumers_in_trace=False))
    matcher = load_chains(FIXTURES)["checkout"].matcher(store)
    late = [span(1, "c", service=s, kind=SpanKind.CONSUMER, trace_id=t, app__order__id="o-1")
            for s, t in (("accounting", OTHER_TRACE), ("fraud-detection", "3" * 32))]
    timer = threading.Timer(0.2, store.add_spans, args=(late,))
    timer.start()
    try:
        trace = store.wait_for_trace(TRACE_ID, until=matcher.condition(), timeout=10)
    finally:
        timer.cancel()
    assert trace.trace_id == TRACE_ID
    with pytest.raises(TraceTimeoutError, match="from checkout to ad"):
        store.wait_for_trace(
            TRACE_ID, until=ChainMatcher(parse_chain("checkout → ad"), store=store).condition(), timeout=0.3
        )


def test_mismatch_shows_consumers_found_in_other_traces() -> None:
    store = SpanStore()
    store.add_spans(checkout_spans(consumers_in_trace=False))
    store.add_spans([span(1, "c", service="accounting", kind=SpanKind.CONSUMER, trace_id=OTHER_TRACE,
                          app__order__id="o-1")])
    matcher = load_chains(FIXTURES)["checkout"].matcher(store)
    with pytest.raises(ChainMismatch) as info:
        matcher.check(store.trace(TRACE_ID))
    lines = str(info.value).splitlines()
    assert any("~> accounting" in line and "~> accounting (trace 11111111…)" in line for line in lines), lines
    marked = [line for line in lines if line.startswith(">>")]
    assert len(marked) == 1 and "~> fraud-detection  ✗" in marked[0] and "(missing)  ◀" in marked[0]
