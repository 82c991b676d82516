"""checkout: PlaceOrder end to end over every backend, Kafka consumers, failure paths."""

from __future__ import annotations

import secrets
import uuid

import grpc
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tracebed.model.span import SpanKind, StatusCode
from tracebed.model.trace import Trace
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, FlagService, has, new_traceparent, one

PLACE = "oteldemo.CheckoutService/PlaceOrder"
ADDRESS = demo_pb2.Address(
    street_address="1600 Amphitheatre Parkway",
    city="Mountain View",
    state="CA",
    country="United States",
    zip_code="94043",
)


def _card(year: int = 2030, month: int = 1) -> demo_pb2.CreditCardInfo:
    return demo_pb2.CreditCardInfo(
        credit_card_number="4432-8015-6152-0454",
        credit_card_cvv=672,
        credit_card_expiration_year=year,
        credit_card_expiration_month=month,
    )


def _fill_cart(backends: Backends, user: str, lines: list[tuple[str, int]]) -> None:
    cart = backends.stub("cart", demo_pb2_grpc.CartServiceStub)
    for product_id, qty in lines:
        item = demo_pb2.CartItem(product_id=product_id, quantity=qty)
        cart.AddItem(demo_pb2.AddItemRequest(user_id=user, item=item))


def _order(user: str, currency: str = "USD", card: demo_pb2.CreditCardInfo | None = None):
    return demo_pb2.PlaceOrderRequest(
        user_id=user,
        user_currency=currency,
        address=ADDRESS,
        email="someone@example.com",
        credit_card=card or _card(),
    )


def _complete(trace: Trace) -> bool:
    names = {s.name for s in trace}
    return {
        PLACE,
        "orders publish",
        "orders process",
        "orders receive",
        "POST /send_order_confirmation",
    } <= names and any(s.name == "orders receive" and s.service == "accounting" for s in trace)


def test_place_order_end_to_end(backends: Backends) -> None:
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("66VCHSJNUP", 2), ("LS4PSXUNUM", 1)])
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    order = stub.PlaceOrder(_order(user), metadata=md).order
    assert uuid.UUID(order.order_id).version == 1
    assert uuid.UUID(order.shipping_tracking_id).version == 4
    assert order.shipping_cost.currency_code == "USD"
    assert order.shipping_address == ADDRESS
    # Prices went through currency even USD->USD: 349.95 -> 349 / 949999999 (truncation),
    # and 57.08 reads as 57.80 (the nanos bug).
    costs = {
        (i.item.product_id, i.item.quantity): (i.cost.units, i.cost.nanos) for i in order.items
    }
    assert costs == {("66VCHSJNUP", 2): (349, 949999999), ("LS4PSXUNUM", 1): (57, 799999999)}

    trace = backends.wait_trace(trace_id, _complete, timeout=20)
    server = one(trace, PLACE, "checkout")
    assert server.kind is SpanKind.SERVER and server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["app.user.id"] == user
    assert server.attributes["app.user.currency"] == "USD"
    assert server.attributes["app.order.id"] == order.order_id
    assert server.attributes["app.order.items.count"] == 2  # lines, not units
    assert server.attributes["app.shipping.tracking.id"] == order.shipping_tracking_id
    assert server.attributes["app.shipping.amount"] == float(order.shipping_cost.units)
    assert server.attributes["app.order.amount"] == float(
        int(server.attributes["app.order.amount"])
    )
    assert [e.name for e in server.events if e.name != "feature_flag"] == [
        "prepared",
        "charged",
        "shipped",
    ]

    prep = one(trace, "prepareOrderItemsAndShippingQuoteFromCart")
    assert prep.parent_span_id == server.span_id
    assert prep.attributes["app.cart.items.count"] == 3
    assert prep.attributes["app.order.items.count"] == 2

    # Checkout's client calls in the demo's order, each with its server on the other side.
    calls = [
        s.name
        for s in sorted(
            trace.find(lambda s: s.kind is SpanKind.CLIENT and s.service == "checkout"),
            key=lambda s: s.start_ns,
        )
    ]
    assert calls == [
        "oteldemo.CartService/GetCart",
        "oteldemo.ProductCatalogService/GetProduct",
        "oteldemo.CurrencyService/Convert",
        "oteldemo.ProductCatalogService/GetProduct",
        "oteldemo.CurrencyService/Convert",
        "oteldemo.ShippingService/GetQuote",
        "oteldemo.CurrencyService/Convert",
        "oteldemo.PaymentService/Charge",
        "oteldemo.ShippingService/ShipOrder",
        "oteldemo.CartService/EmptyCart",
        "HTTP POST",
    ]
    for s in trace.find(lambda s: s.kind is SpanKind.CLIENT and s.service == "checkout"):
        assert s.attributes.get("rpc.grpc.status_code", 0) == 0, s
    servers = {s.service for s in trace.find(lambda s: s.kind is SpanKind.SERVER)}
    assert servers == {
        "checkout",
        "cart",
        "product-catalog",
        "currency",
        "shipping",
        "quote",
        "payment",
        "email",
    }
    assert trace.edges >= {
        ("checkout", "cart"),
        ("checkout", "payment"),
        ("shipping", "quote"),
        ("checkout", "email"),
        ("checkout", "accounting"),
        ("checkout", "fraud-detection"),
    }

    publish = one(trace, "orders publish")
    assert publish.kind is SpanKind.PRODUCER and publish.parent_span_id == server.span_id
    assert publish.attributes["messaging.system"] == "kafka"
    assert publish.attributes["messaging.destination.name"] == "orders"
    assert publish.attributes["messaging.operation"] == "publish"
    assert publish.attributes["messaging.kafka.producer.success"] is True
    process = one(trace, "orders process", "fraud-detection")
    assert process.kind is SpanKind.CONSUMER and process.parent_span_id == publish.span_id
    receive = one(trace, "orders receive", "accounting")
    assert receive.kind is SpanKind.CONSUMER and receive.parent_span_id == publish.span_id
    assert trace.orphans == [server]  # its parent is the test's own traceparent

    # The cart was emptied as part of the order.
    cart = backends.stub("cart", demo_pb2_grpc.CartServiceStub)
    assert list(cart.GetCart(demo_pb2.GetCartRequest(user_id=user)).items) == []


def test_published_value_is_the_order_result(backends: Backends) -> None:
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("HQTGWGPNH4", 1)])
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    order = stub.PlaceOrder(_order(user, currency="EUR"), metadata=md).order
    assert order.shipping_cost.currency_code == "EUR"
    backends.wait_trace(trace_id, lambda t: bool(t.named("orders publish")))
    kafka_addr = backends.procs["checkout"].env["KAFKA_ADDR"]
    consumer = Consumer(
        {"bootstrap.servers": kafka_addr, "group.id": "tracebed-test-" + secrets.token_hex(3)}
    )
    try:
        partitions = consumer.list_topics(timeout=5).topics["orders"].partitions
        assert list(partitions) == [0]  # created with one partition, not auto-created
        consumer.assign([TopicPartition("orders", 0, OFFSET_BEGINNING)])
        found = None
        for _ in range(200):  # bounded: 200 polls of at most 0.1 s
            msg = consumer.poll(0.1)
            if msg is None or msg.error():
                continue
            headers = dict(msg.headers() or [])
            if trace_id.encode() in headers.get("traceparent", b""):
                found = demo_pb2.OrderResult.FromString(msg.value())
                break
        assert found == order
        assert msg.key() is None
    finally:
        consumer.close()


def test_expired_card_fails_with_internal(backends: Backends) -> None:
    """The tracetest's checkout card (3/2025) has expired; checkout wraps payment's error."""
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("OLJCESPC7Z", 1)])
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.PlaceOrder(_order(user, card=_card(2025, 3)), metadata=md)
    assert err.value.code() is grpc.StatusCode.INTERNAL
    assert err.value.details() == (
        "failed to charge card: could not charge the card: rpc error: code = Unknown "
        "desc = The credit card (ending 0454) expired on 3/2025."
    )
    trace = backends.wait_trace(trace_id, has(PLACE, "grpc.oteldemo.PaymentService/Charge"))
    server = one(trace, PLACE, "checkout")
    assert server.status.code is StatusCode.ERROR
    assert server.attributes["rpc.grpc.status_code"] == 13
    assert not trace.named("oteldemo.ShippingService/ShipOrder")


def test_payment_unreachable_flag(backends: Backends, flags: FlagService) -> None:
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("OLJCESPC7Z", 1)])
    flags.set("paymentUnreachable", "on")
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.PlaceOrder(_order(user), metadata=md, timeout=30)
    assert err.value.code() is grpc.StatusCode.INTERNAL
    assert err.value.details().startswith(
        "failed to charge card: could not charge the card: rpc error: code = Unavailable desc = "
    )
    trace = backends.wait_trace(trace_id, has(PLACE, "oteldemo.PaymentService/Charge"))
    charge = one(trace, "oteldemo.PaymentService/Charge")
    assert charge.attributes["server.address"] == "badAddress"
    assert charge.status.code is StatusCode.ERROR
    assert not trace.named("grpc.oteldemo.PaymentService/Charge")  # never reached payment


def test_kafka_queue_problems_sends_extra_copies(backends: Backends, flags: FlagService) -> None:
    """With the flag at N the same message goes out N more times (test variant N=3)."""
    user = str(uuid.uuid4())
    _fill_cart(backends, user, [("OLJCESPC7Z", 1)])
    flags.set_value("kafkaQueueProblems", 3)
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    stub.PlaceOrder(_order(user), metadata=md)
    # accounting receives every copy under the producer's context: 1 + 3 receive spans.
    trace = backends.wait_trace(
        trace_id, lambda t: len(t.named("orders receive", "accounting")) == 4, timeout=20
    )
    publish = one(trace, "orders publish")
    assert {s.parent_span_id for s in trace.named("orders receive", "accounting")} == {
        publish.span_id
    }
    # fraud-detection sleeps a second per record while the flag is on (consumer lag).
    trace = backends.wait_trace(
        trace_id, lambda t: bool(t.named("orders process", "fraud-detection")), timeout=20
    )
    process = trace.named("orders process", "fraud-detection")[0]
    assert process.parent_span_id == publish.span_id
    assert process.duration >= 1.0


def test_empty_cart_order_succeeds_though_email_fails(backends: Backends) -> None:
    """0 items: quote 0, charge 0; email gets no `items` key, answers 500, checkout only logs."""
    stub = backends.stub("checkout", demo_pb2_grpc.CheckoutServiceStub)
    trace_id, md = new_traceparent()
    order = stub.PlaceOrder(_order("empty-" + secrets.token_hex(4)), metadata=md).order
    assert list(order.items) == []
    assert (order.shipping_cost.units, order.shipping_cost.nanos) == (0, 0)
    trace = backends.wait_trace(trace_id, has(PLACE, "POST /send_order_confirmation"))
    assert one(trace, PLACE, "checkout").attributes["rpc.grpc.status_code"] == 0
    email = one(trace, "POST /send_order_confirmation")
    assert email.attributes["http.status_code"] == 500
    client = one(trace, "HTTP POST", "checkout")
    assert client.attributes["http.response.status_code"] == 500
    assert email.parent_span_id == client.span_id
