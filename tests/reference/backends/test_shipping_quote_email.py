"""shipping (gRPC) over quote (HTTP), and email (HTTP)."""

from __future__ import annotations

import json
import secrets
import uuid

import requests

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, has, new_traceparent, one

ADDRESS = demo_pb2.Address(
    street_address="One Microsoft Way",
    city="Redmond",
    state="Washington",
    country="United States",
    zip_code="98052",
)


def test_get_quote_calls_quote(backends: Backends) -> None:
    stub = backends.stub("shipping", demo_pb2_grpc.ShippingServiceStub)
    trace_id, md = new_traceparent()
    items = [demo_pb2.CartItem(product_id="66VCHSJNUP", quantity=2)]
    cost = stub.GetQuote(
        demo_pb2.GetQuoteRequest(address=ADDRESS, items=items), metadata=md
    ).cost_usd
    assert cost.currency_code == "USD" and 80 <= cost.units <= 200
    assert cost.nanos % 10_000_000 == 0
    trace = backends.wait_trace(
        trace_id, has("oteldemo.ShippingService/GetQuote", "POST /getquote", "calculate-quote")
    )
    server = one(trace, "oteldemo.ShippingService/GetQuote")
    assert server.service == "shipping" and server.kind is SpanKind.SERVER
    assert server.attributes["app.shipping.zip_code"] == "98052"
    assert server.attributes["app.shipping.items.count"] == 2
    assert (
        server.attributes["app.shipping.cost.total"] == f"{cost.units}.{cost.nanos // 10_000_000}"
    )
    quote = one(trace, "POST /getquote")
    assert quote.service == "quote" and quote.kind is SpanKind.SERVER
    assert trace.parent(quote) is not None and trace.parent(quote).service == "shipping"
    calc = one(trace, "calculate-quote")
    assert calc.parent_span_id == quote.span_id
    assert calc.attributes["app.quote.items.count"] == 2
    assert [e.name for e in quote.events] == [
        "Received get quote request, processing it",
        "Quote processed, response sent back",
    ]


def test_empty_quote_is_zero_and_ship_order_gives_uuid4(backends: Backends) -> None:
    stub = backends.stub("shipping", demo_pb2_grpc.ShippingServiceStub)
    cost = stub.GetQuote(demo_pb2.GetQuoteRequest(address=ADDRESS, items=[])).cost_usd
    assert (cost.currency_code, cost.units, cost.nanos) == ("USD", 0, 0)
    trace_id, md = new_traceparent()
    items = [demo_pb2.CartItem(product_id="66VCHSJNUP", quantity=2)]
    tracking = stub.ShipOrder(demo_pb2.ShipOrderRequest(address=ADDRESS, items=items), metadata=md)
    assert uuid.UUID(tracking.tracking_id).version == 4
    span = one(
        backends.wait_trace(trace_id, has("oteldemo.ShippingService/ShipOrder")),
        "oteldemo.ShippingService/ShipOrder",
    )
    assert span.attributes["app.shipping.tracking.id"] == tracking.tracking_id
    assert span.attributes["rpc.grpc.status_code"] == 0


def test_quote_http_answers_a_bare_number(backends: Backends) -> None:
    url = f"http://{backends.addr['quote']}/getquote"
    reply = requests.post(url, json={"numberOfItems": 3}, timeout=5)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert 120.0 <= json.loads(reply.text) <= 300.0
    missing = requests.post(url, json={}, timeout=5)
    assert missing.status_code == 200 and json.loads(missing.text) == 0
    assert requests.post(url.replace("getquote", "nope"), json={}, timeout=5).status_code == 404


def _confirmation(items: bool) -> dict:
    order = {
        "order_id": "505",
        "shipping_tracking_id": "dead-beef",
        "shipping_cost": {"currency_code": "USD", "units": 17, "nanos": 980000000},
        "shipping_address": {
            "street_address_1": "1600 Amphitheatre Parkway",
            "city": "Mountain View",
            "state": "California",
            "country": "United States",
            "zip_code": "94043",
        },
    }
    if items:
        order["items"] = [
            {
                "item": {"product_id": "1YMWWN1N4O", "quantity": 5},
                "cost": {"currency_code": "USD", "units": 100, "nanos": 0},
            }
        ]
    return {"email": "google@example.com", "order": order}


def test_email_confirmation(backends: Backends) -> None:
    url = f"http://{backends.addr['email']}/send_order_confirmation"
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    reply = requests.post(url, json=_confirmation(items=True), headers=headers, timeout=5)
    assert reply.status_code == 200 and reply.content == b""
    trace = backends.wait_trace(
        trace_id, has("POST /send_order_confirmation", "send_email", "sinatra.render_template")
    )
    server = one(trace, "POST /send_order_confirmation")
    assert server.service == "email"
    assert server.attributes["http.method"] == "POST"
    assert server.attributes["http.status_code"] == 200
    assert server.attributes["app.order.id"] == "505"
    send = one(trace, "send_email")
    assert send.attributes["app.email.recipient"] == "google@example.com"
    assert one(trace, "sinatra.render_template").parent_span_id == send.span_id


def test_email_without_items_answers_500(backends: Backends) -> None:
    url = f"http://{backends.addr['email']}/send_order_confirmation"
    trace_id = secrets.token_hex(16)
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    reply = requests.post(url, json=_confirmation(items=False), headers=headers, timeout=5)
    assert reply.status_code == 500
    server = one(
        backends.wait_trace(trace_id, has("POST /send_order_confirmation")),
        "POST /send_order_confirmation",
    )
    assert server.attributes["http.status_code"] == 500
    assert server.status.code is StatusCode.ERROR
    assert any(e.name == "exception" for e in server.events)
