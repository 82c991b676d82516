"""Metrics and logs of every backend, as the demo 2.0.2's services emit them.

The backends send traces to the sink and metrics and logs to ``signal_receiver`` (a sink of
their own, read as flat rows).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import grpc
import pytest

from tests.reference.otlp_signals import Point, Record, SignalReceiver
from tracebed.paths import release_fixtures
from tracebed.reference.common import signals
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.suites.otel_demo.signals import load_matrix

from .conftest import Backends, has, new_traceparent, one
from .test_checkout import PLACE, _card, _complete, _fill_cart, _order

# The demo's own signal matrix (demo-facts-3.0 §13.2, at 3.0.0) as the bundled suite holds it
# (fixtures/signals/3.0.0), for the stand-in's backends and frontend, and where 2.0.2 (the
# release the stand-in reproduces) differs from it.
_MATRIX = load_matrix(release_fixtures("signals", "3.0.0"))
DEMO_MATRIX_3_0 = {
    s: set(_MATRIX.services[s].required)
    for s in (
        "ad",
        "cart",
        "checkout",
        "currency",
        "email",
        "payment",
        "product-catalog",
        "quote",
        "recommendation",
        "shipping",
        "accounting",
        "fraud-detection",
        "frontend",
    )
}
NOT_AT_2_0_2 = {
    # 2.0.2's email exports traces only; its counter and log are new at 3.0.0
    "email": {"metrics", "logs"},
    # no custom metric at 2.0.2; runtime/library telemetry of Rust not reproduced
    "shipping": {"metrics", "logs"},
    # runtime/library metrics only (.NET, JVM), not reproduced
    "accounting": {"metrics"},
    "fraud-detection": {"metrics"},
}
BACKENDS = sorted(set(DEMO_MATRIX_3_0) - {"frontend"})


def test_the_table_is_the_demo_matrix_minus_the_documented_gaps() -> None:
    for service, demo in DEMO_MATRIX_3_0.items():
        row = signals.for_service(service, "2.0.2")
        assert row.emits == demo - NOT_AT_2_0_2.get(service, set()), service
        # a service that emits a signal has something in the table for it, and vice versa
        assert bool(row.metrics) == ("metrics" in row.emits), service
        assert bool(row.logs) == ("logs" in row.emits), service
        for gap in NOT_AT_2_0_2.get(service, ()):
            assert row.left_out or service == "email", (service, gap)


def test_release_comes_from_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=x,service.version=2.0.2")
    assert signals.release() == "2.0.2"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9.9")
    assert signals.release() == signals.DEFAULT_RELEASE  # no table: the default release


def _run_checkout(backends: Backends) -> tuple[str, demo_pb2.OrderResult]:
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("66VCHSJNUP", 2), ("LS4PSXUNUM", 1)])
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    order = stub.PlaceOrder(_order(user), metadata=md).order
    backends.wait_trace(trace_id, _complete, timeout=20)
    return trace_id, order


def _touch_the_rest(backends: Backends) -> None:
    ad = backends.stub("ad", demo_pb2_grpc.AdServiceStub)
    ad.GetAds(demo_pb2.AdRequest(context_keys=["binoculars"]))
    rec = backends.stub("recommendation", demo_pb2_grpc.RecommendationServiceStub)
    rec.ListRecommendations(demo_pb2.ListRecommendationsRequest(user_id="u", product_ids=["x"]))


def test_every_backend_emits_the_signals_of_its_row(
    backends: Backends, signal_receiver: SignalReceiver
) -> None:
    trace_id, _ = _run_checkout(backends)
    _touch_the_rest(backends)
    expected = {s: signals.for_service(s, "2.0.2").emits for s in BACKENDS}

    def arrived() -> bool:
        return all(
            ("logs" not in want or signal_receiver.records(s))
            and ("metrics" not in want or signal_receiver.points(s))
            for s, want in expected.items()
        )

    signal_receiver.wait(arrived, timeout=20)
    # every service whose row lacks a signal sent none of it (by now the others have)
    for service, want in expected.items():
        if "logs" not in want:
            assert signal_receiver.records(service) == [], service
        if "metrics" not in want:
            assert signal_receiver.points(service) == [], service
    # every record is one of its row's, with the row's severity and scope
    for service in BACKENDS:
        row = signals.for_service(service, "2.0.2")
        for r in signal_receiver.records(service):
            assert any(_is(r, spec) for spec in row.logs.values()), r
    # each row's traces: the checkout trace has every service of the flow
    trace = backends.sink.trace(trace_id)
    assert {s for s in BACKENDS if s not in ("ad", "recommendation")} <= trace.services


def _is(record: Record, spec: signals.Log) -> bool:
    """Whether ``record`` is an instance of the table's ``spec``."""
    if spec.formatted:
        pattern = re.escape(spec.body)
        pattern = re.sub(r"\\\{\w+\\\}", ".*", pattern)
        body_ok = re.fullmatch(pattern, str(record.body), re.DOTALL) is not None
    else:
        body_ok = record.body == spec.body
    return (
        body_ok
        and record.severity_text == spec.severity
        and record.scope == (spec.scope or record.service)
        and set(record.attributes) == set(spec.attributes.values())
        and (record.trace_id != "") == spec.span_context
    )


def _metric_matches_table(point: Point) -> None:
    row = signals.for_service(point.service, "2.0.2")
    (spec,) = [m for m in row.metrics.values() if m.name == point.name]
    assert point.unit == spec.unit, point
    assert point.kind == ("sum" if spec.instrument == "counter" else "histogram"), point
    assert point.scope == (spec.meter or point.service), point
    if point.kind == "sum":
        assert point.monotonic and point.temporality == 2, point  # cumulative counters
    assert set(point.attributes) == set(spec.attributes.values()), point
    if spec.buckets:
        assert point.bounds == spec.buckets, point


def test_metrics_carry_the_demo_names_units_scopes_and_attributes(
    backends: Backends, signal_receiver: SignalReceiver
) -> None:
    _run_checkout(backends)
    _touch_the_rest(backends)
    wanted = {
        ("ad", "app.ads.ad_requests"),
        ("cart", "app.cart.add_item.latency"),
        ("cart", "app.cart.get_cart.latency"),
        ("checkout", "rpc.server.duration"),
        ("currency", "app.currency_counter"),
        ("payment", "app.payment.transactions"),
        ("product-catalog", "rpc.server.duration"),
        ("quote", "quotes"),
        ("recommendation", "app_recommendations_counter"),
    }
    got = signal_receiver.wait(
        lambda: (
            {(p.service, p.name): p for p in signal_receiver.points()}
            if wanted <= {(p.service, p.name) for p in signal_receiver.points()}
            else None
        ),
        timeout=20,
    )
    for key in wanted:
        _metric_matches_table(got[key])
    assert got[("currency", "app.currency_counter")].scope_version == "2.0.2"  # $VERSION
    targeted = {"app.ads.ad_request_type": "TARGETED", "app.ads.ad_response_type": "TARGETED"}
    assert signal_receiver.latest("ad", "app.ads.ad_requests", **targeted) >= 1
    rpc = [
        p
        for p in signal_receiver.points("checkout", "rpc.server.duration")
        if p.attributes.get("rpc.method") == "PlaceOrder"
        and p.attributes.get("rpc.grpc.status_code") == 0
    ]
    assert rpc and rpc[-1].attributes == {
        "rpc.system": "grpc",
        "rpc.service": "oteldemo.CheckoutService",
        "rpc.method": "PlaceOrder",
        "rpc.grpc.status_code": 0,
    }
    assert rpc[-1].total > 0  # milliseconds spent


def _records(
    receiver: SignalReceiver, service: str, match: Callable[[Record], bool], n: int = 1
) -> list[Record]:
    def probe() -> list[Record] | None:
        found = [r for r in receiver.records(service) if match(r)]
        return found if len(found) >= n else None

    return receiver.wait(probe, timeout=20)


def test_checkout_logs_its_order_in_the_checkout_trace(
    backends: Backends, signal_receiver: SignalReceiver
) -> None:
    trace_id, order = _run_checkout(backends)
    server = one(backends.sink.trace(trace_id), PLACE, "checkout")
    (placed,) = _records(
        signal_receiver,
        "checkout",
        lambda r: r.body == "order placed" and r.attributes.get("app.order.id") == order.order_id,
    )
    assert (placed.trace_id, placed.span_id) == (trace_id, server.span_id)
    assert (placed.severity_text, placed.severity_number) == ("INFO", 9)
    assert placed.attributes == {
        "app.order.id": order.order_id,
        "app.shipping.amount": float(order.shipping_cost.units),
        "app.order.amount": server.attributes["app.order.amount"],
        "app.order.items.count": 2,
        "app.shipping.tracking.id": order.shipping_tracking_id,
    }
    in_trace = [r for r in signal_receiver.records("checkout") if r.trace_id == trace_id]
    assert [r.body for r in in_trace] == ["[PlaceOrder]", "payment went through", "order placed"]
    assert in_trace[1].attributes["transaction_id"]
    # the demo's plain logger.Info carries no context
    plain = [r for r in signal_receiver.records("checkout") if r.body == "sending to postProcessor"]
    assert plain and all(r.trace_id == "" and r.span_id == "" for r in plain)
    # the consumers log the order inside their own consumer spans of the same trace
    trace = backends.sink.trace(trace_id)
    process = one(trace, "orders process", "fraud-detection")
    (consumed,) = _records(
        signal_receiver, "fraud-detection", lambda r: order.order_id in str(r.body)
    )
    assert (consumed.trace_id, consumed.span_id) == (trace_id, process.span_id)
    assert str(consumed.body).startswith(
        f"Consumed record with orderId: {order.order_id}, and updated total count to: "
    )
    receive = one(trace, "orders receive", "accounting")
    (details,) = _records(
        signal_receiver, "accounting", lambda r: order.order_id in str(r.attributes)
    )
    assert details.body == "Order details: {@OrderResult}."  # ILogger's template
    assert (details.trace_id, details.span_id) == (trace_id, receive.span_id)


def test_payment_transaction_counter_grows_by_one_per_charge(
    backends: Backends, signal_receiver: SignalReceiver
) -> None:
    stub = backends.stub("payment", demo_pb2_grpc.PaymentServiceStub)
    currency = "NZD"  # this test's own series (no other test charges in NZD)
    name = "app.payment.transactions"

    def charge(number: str = "4432-8015-6152-0454") -> tuple[str, list[tuple[str, str]]]:
        trace_id, md = new_traceparent()
        request = demo_pb2.ChargeRequest(
            amount=demo_pb2.Money(currency_code=currency, units=12, nanos=50_000_000),
            credit_card=_card(2039, 1),
        )
        request.credit_card.credit_card_number = number
        stub.Charge(request, metadata=md)
        return trace_id, md

    def total() -> float:
        return signal_receiver.latest("payment", name, **{"app.payment.currency": currency})

    before = total()
    trace_id, _ = charge()
    signal_receiver.wait(lambda: total() == before + 1)
    # a rejected card is not a transaction: the next charge makes it exactly 2
    with pytest.raises(grpc.RpcError):
        charge("4000-0000-0000-0000")
    charge()
    signal_receiver.wait(lambda: total() == before + 2)
    # payment logs the charge inside its spans: the request on the server span, the
    # completed transaction inside `charge`
    trace = backends.wait_trace(trace_id, has("charge"))
    server, inner = one(trace, "grpc.oteldemo.PaymentService/Charge"), one(trace, "charge")
    received, complete = (
        _records(signal_receiver, "payment", lambda r, b=b: (r.trace_id, r.body) == (trace_id, b))[
            0
        ]
        for b in ("Charge request received.", "Transaction complete.")
    )
    assert received.span_id == server.span_id
    assert complete.span_id == inner.span_id
    assert complete.scope == "payment-logger"
    assert complete.attributes["cardType"] == "visa"
    assert complete.attributes["lastFourDigits"] == "0454"
    assert complete.attributes["amount"] == {
        "units": 12,
        "nanos": 50_000_000,
        "currencyCode": currency,
    }
    assert complete.attributes["loyalty_level"] == inner.attributes["app.loyalty.level"]


def test_email_sends_no_logs_or_metrics_at_2_0_2(
    backends: Backends, signal_receiver: SignalReceiver
) -> None:
    # emitted by the checkout flows above; the table has no email entries at 2.0.2
    _run_checkout(backends)
    signal_receiver.wait(lambda: signal_receiver.records("checkout"))
    assert signal_receiver.records("email") == []
    assert signal_receiver.points("email") == []
