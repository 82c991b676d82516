"""The stand-in impersonating demo 3.0.0 (build_spec(demo_version="3.0.0")), whole stack.

Every flow is driven through Envoy and checked in the sink, i.e. after the stand-in's
collector, which renames spans as 3.0.0's ``transform/sanitize_spans`` does
(demo-facts-3.0 §5.2): the names asserted here are the collector's, with the wire name in
``original_span_name`` where it changed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from tenacity import Retrying, stop_after_delay, wait_fixed

from tests.reference.conftest import PERSON, RunningStack, reference_stack
from tests.reference.infra.test_metrics_bridge import wait_for_query
from tracebed.model.span import Span, SpanKind
from tracebed.model.trace import Trace
from tracebed.query.registry import Registry, load_registry
from tracebed.reference.flagd import flagfile

REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"
SCHEMA = REFERENCE / "otel-demo-3.0.0" / "telemetry-schema"
SEMCONV = REFERENCE / "semconv-1.40.0" / "model"

SYNTHETIC = {"baggage": "synthetic_request=true,session.id=v3-test-session"}
SORTED_IDS = [
    "0PUK6V6EV0",
    "1YMWWN1N4O",
    "2ZYFJ3GM2N",
    "66VCHSJNUP",
    "6E92ZMYYFZ",
    "9SIQT8TOJO",
    "HQTGWGPNH4",
    "L9ECAV7KIM",
    "LS4PSXUNUM",
    "OLJCESPC7Z",
]


class Running(RunningStack):
    def call(self, method: str, path: str, **kw: Any) -> tuple[requests.Response, str]:
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        headers = {"traceparent": f"00-{trace_id}-{span_id}-01", **kw.pop("headers", {})}
        base = kw.pop("base", self.url)
        resp = requests.request(method, base + path, headers=headers, timeout=30, **kw)
        return resp, trace_id

    def trace(self, trace_id: str, *spans: str | tuple[str, str]) -> Trace:
        wanted = [(s, None) if isinstance(s, str) else s for s in spans]
        return self.sink.wait_for_trace(
            trace_id,
            until=lambda t: all(t.named(n, svc) for n, svc in wanted),
            timeout=20,
        )


# the load generator is in the spec; its own test starts it, for a bounded while
stack = reference_stack("3.0.0", Running, with_load_generator=True, timeout=60)


@pytest.fixture(scope="module")
def registry() -> Registry:
    if not SCHEMA.is_dir():
        pytest.skip(f"{SCHEMA} is missing (the demo 3.0.0 reference files)")
    return load_registry(SCHEMA, dependency=SEMCONV)


def one(t: Trace, name: str, service: str | None = None) -> Span:
    found = t.named(name, service)
    assert found, f"no span {name!r} ({service}) in:\n{t}"
    return found[0]


def events(span: Span) -> dict[str, dict[str, Any]]:
    return {e.name: dict(e.attributes) for e in span.events}


# --- the catalogue in PostgreSQL -------------------------------------------------------


def test_products_come_from_postgres_sorted_by_id(stack: Running) -> None:
    r, tid = stack.call("GET", "/api/products")
    assert r.status_code == 200
    assert [p["id"] for p in r.json()] == SORTED_IDS  # ORDER BY p.id
    t = stack.trace(
        tid,
        ("oteldemo.ProductCatalogService/ListProducts", "product-catalog"),
        ("oteldemo.ProductCatalogService/ListProducts", "frontend"),
    )
    server = one(t, "oteldemo.ProductCatalogService/ListProducts", "product-catalog")
    assert server.kind is SpanKind.SERVER
    assert server.attributes["demo.product.count"] == 10
    (db,) = [s for s in t.children(server) if s.attributes.get("db.system.name")]
    # otelsql's CLIENT span; the collector names a DB span by its target (server.address)
    assert db.kind is SpanKind.CLIENT
    assert db.attributes["original_span_name"] == "sql.conn.query"
    assert db.name == db.attributes["server.address"] == "127.0.0.1"
    assert db.attributes["db.system.name"] == "postgresql"
    assert "server.port" not in db.attributes
    text = str(db.attributes["db.query.text"])
    assert "FROM catalog.products p" in text and text.rstrip().endswith("ORDER BY p.id")
    assert "\n\t" in text  # the literal as written in main.go, multi-line
    # the frontend's gRPC client: grpc.oteldemo... on the wire, renamed by the collector
    client = one(t, "oteldemo.ProductCatalogService/ListProducts", "frontend")
    assert (
        client.attributes["original_span_name"]
        == "grpc.oteldemo.ProductCatalogService/ListProducts"
    )


def test_get_product_and_search_query_the_database(stack: Running) -> None:
    r, tid = stack.call("GET", "/api/products/OLJCESPC7Z")
    assert r.status_code == 200 and r.json()["name"]
    t = stack.trace(tid, ("oteldemo.ProductCatalogService/GetProduct", "product-catalog"))
    server = one(t, "oteldemo.ProductCatalogService/GetProduct", "product-catalog")
    assert server.attributes["demo.product.id"] == "OLJCESPC7Z"
    assert server.attributes["demo.product.name"] == r.json()["name"]
    ev = events(server)
    assert "Product Found" in ev
    # productCatalogFailure is evaluated on every GetProduct (Go hook's event at 3.0.0)
    flag = ev["feature_flag.evaluation"]
    assert flag["feature_flag.key"] == "productCatalogFailure"
    assert flag["feature_flag.provider.name"] == "flagd"
    assert flag["feature_flag.result.variant"] == "off"
    (db,) = [s for s in t.children(server) if s.attributes.get("db.system.name")]
    assert "WHERE p.id = $1" in str(db.attributes["db.query.text"])

    # the collector's http.route fill-in names the frontend's server span by its route
    t = stack.trace(tid, ("GET /api/products/{productId}", "frontend"))
    page = one(t, "GET /api/products/{productId}", "frontend")
    assert page.attributes["original_span_name"] == "GET /api/products/OLJCESPC7Z"
    assert page.attributes["http.route"] == "/api/products/{productId}"

    r, _ = stack.call("GET", "/api/products/NOPE")
    assert r.status_code == 500  # NOT_FOUND from the catalogue


def test_product_catalog_failure_follows_the_targeting(stack: Running) -> None:
    doc = flagfile.read(stack.flag_file)
    original = json.loads(json.dumps(doc))
    try:
        # as shipped both branches say "off"; defaultVariant alone changes nothing
        doc["flags"]["productCatalogFailure"]["defaultVariant"] = "on"
        flagfile.write(stack.flag_file, doc)
        r, _ = stack.call("GET", "/api/products/OLJCESPC7Z")
        assert r.status_code == 200
        # flagd-ui's toggle edits the then-branch: only OLJCESPC7Z fails
        doc["flags"]["productCatalogFailure"]["defaultVariant"] = "off"
        doc["flags"]["productCatalogFailure"]["targeting"]["if"][1] = "on"
        flagfile.write(stack.flag_file, doc)
        r, tid = stack.call("GET", "/api/products/OLJCESPC7Z")
        assert r.status_code == 500
        t = stack.trace(tid, ("oteldemo.ProductCatalogService/GetProduct", "product-catalog"))
        server = one(t, "oteldemo.ProductCatalogService/GetProduct", "product-catalog")
        assert server.status.message == "Error: Product Catalog Fail Feature Flag Enabled"
        r, _ = stack.call("GET", "/api/products/66VCHSJNUP")
        assert r.status_code == 200
    finally:
        flagfile.write(stack.flag_file, original)


def test_failed_readiness_probe_turns_carts_health_check(stack: Running) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def status() -> int:
        with grpc.insecure_channel(stack.endpoint("cart", "grpc")) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)

    assert status() == health_pb2.HealthCheckResponse.SERVING
    doc = flagfile.read(stack.flag_file)
    original = json.loads(json.dumps(doc))
    try:
        doc["flags"]["failedReadinessProbe"]["defaultVariant"] = "on"
        flagfile.write(stack.flag_file, doc)
        assert status() == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        flagfile.write(stack.flag_file, original)
    assert status() == health_pb2.HealthCheckResponse.SERVING


def test_search_is_sql_like(stack: Running) -> None:
    import grpc

    from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

    with grpc.insecure_channel(stack.endpoint("product-catalog", "grpc")) as channel:
        stub = demo_pb2_grpc.ProductCatalogServiceStub(channel)

        def search(q: str) -> list[str]:
            req = demo_pb2.SearchProductsRequest(query=q)
            return [p.id for p in stub.SearchProducts(req, timeout=10).results]

        assert search("TELESCOPE") == sorted(search("telescope")) and search("telescope")
        assert search("_") == SORTED_IDS  # LIKE: `_` matches any one character
        assert search("no such thing") == []


def _set_variant(stack: Running, key: str, variant: str, value: Any = None) -> dict[str, Any]:
    """Switch ``key`` (optionally to a new variant with ``value``); return the original doc."""
    doc = flagfile.read(stack.flag_file)
    original = json.loads(json.dumps(doc))
    if value is not None:
        doc["flags"][key]["variants"][variant] = value
    doc["flags"][key]["defaultVariant"] = variant
    flagfile.write(stack.flag_file, doc)
    return original


def test_payment_failure_ends_charge_with_the_exception(stack: Running) -> None:
    original = _set_variant(stack, "paymentFailure", "100%")
    try:
        r, tid = _checkout(stack, secrets.token_hex(8), PERSON)
    finally:
        flagfile.write(stack.flag_file, original)
    assert r.status_code == 500
    t = stack.trace(tid, ("charge", "payment"), ("oteldemo.PaymentService/Charge", "payment"))
    charge = one(t, "charge", "payment")
    message = "Payment request failed. Invalid token. demo.user_context.loyalty_level=gold"
    assert charge.status.is_error
    assert events(charge)["exception"]["exception.message"] == message
    assert charge.attributes["demo.user_context.loyalty_level"] == "gold"
    server = one(t, "oteldemo.PaymentService/Charge", "payment")
    assert server.status.is_error and "exception" not in events(server)


def test_cart_failure_is_a_probability(stack: Running) -> None:
    import grpc

    from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

    def empty() -> grpc.StatusCode:
        with grpc.insecure_channel(stack.endpoint("cart", "grpc")) as channel:
            stub = demo_pb2_grpc.CartServiceStub(channel)
            try:
                stub.EmptyCart(demo_pb2.EmptyCartRequest(user_id="p-user"), timeout=30)
            except grpc.RpcError as err:
                return err.code()  # type: ignore[no-any-return, attr-defined]
            return grpc.StatusCode.OK

    assert empty() is grpc.StatusCode.OK
    original = _set_variant(stack, "cartFailure", "100%")  # probability 1
    try:
        assert empty() is grpc.StatusCode.FAILED_PRECONDITION
    finally:
        flagfile.write(stack.flag_file, original)


def test_intl_shipping_slowdown_delays_only_abroad(stack: Running) -> None:
    original = _set_variant(stack, "intlShippingSlowdown", "tracebed-test", 1)
    abroad = {
        "street_address": "1 Rue",
        "city": "Paris",
        "state": "IDF",
        "country": "France",
        "zip_code": "75001",
    }
    body = {"items": [{"product_id": "OLJCESPC7Z", "quantity": 1}], "address": abroad}
    try:
        r, tid = stack.call("POST", "/ship-order", json=body, base=stack.endpoint("shipping"))
    finally:
        flagfile.write(stack.flag_file, original)
    assert r.status_code == 200
    t = stack.trace(tid, ("POST /ship-order", "shipping"))
    assert one(t, "POST /ship-order", "shipping").duration >= 1.0  # slept the flag's 1 s


# --- shipping over HTTP, quote at 8.99 -------------------------------------------------


def test_shipping_is_http_json_and_quote_charges_8_99(stack: Running) -> None:
    shipping = stack.endpoint("shipping")
    body = {"items": [{"product_id": "OLJCESPC7Z", "quantity": 29}], "address": None}
    r, tid = stack.call("POST", "/get-quote", json=body, base=shipping)
    assert r.status_code == 200
    # 8.99 x 29 = 260.71, truncated to whole cents by the f64 -> u32 cast
    assert r.json() == {"cost_usd": {"currency_code": "USD", "units": 260, "nanos": 700000000}}
    t = stack.trace(tid, ("POST /get-quote", "shipping"), ("calculate-quote", "quote"))
    server = one(t, "POST /get-quote", "shipping")
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == "/get-quote"
    assert not any(k.startswith("rpc.") for k in server.attributes)
    assert server.attributes["demo.shipping.cost.total"] == "260.70"
    assert events(server)["shipping.quote.received"] == {"demo.shipping.cost.total": "260.70"}
    client = [s for s in t.children(server) if s.kind is SpanKind.CLIENT]
    assert [c.name for c in client] == ["POST"]  # awc's "POST quote", renamed
    assert client[0].attributes["original_span_name"] == "POST quote"
    quote = one(t, "calculate-quote", "quote")
    assert quote.attributes["demo.shipping.quote.items_count"] == 29
    assert quote.attributes["demo.shipping.quote.cost.total"] == 260.71

    bad = {"items": [{"product_id": "X"}]}  # no quantity: actix's extractor says 400
    r, _ = stack.call("POST", "/get-quote", json=bad, base=shipping)
    assert r.status_code == 400
    r, _ = stack.call("POST", "/ship-order", json=body, base=shipping)
    assert r.status_code == 200 and len(r.json()["tracking_id"]) == 36


def test_quote_is_called_under_shippings_client_span(stack: Running) -> None:
    body = {"items": [{"product_id": "OLJCESPC7Z", "quantity": 1}]}
    r, tid = stack.call(
        "POST", "/get-quote", json=body, base=stack.endpoint("shipping"), headers=SYNTHETIC
    )
    assert r.status_code == 200
    t = stack.trace(tid, ("POST /getquote", "quote"), ("POST /get-quote", "shipping"))
    server = one(t, "POST /get-quote", "shipping")
    (client,) = [s for s in t.children(server) if s.kind is SpanKind.CLIENT]
    assert one(t, "POST /getquote", "quote").parent_span_id == client.span_id


def test_frontend_shipping_calls_shipping_over_http(stack: Running) -> None:
    items = json.dumps([{"productId": "OLJCESPC7Z", "quantity": 2}])
    address = json.dumps(PERSON["address"])
    r, tid = stack.call(
        "GET",
        "/api/shipping",
        params={"itemList": items, "currencyCode": "USD", "address": address},
    )
    assert r.status_code == 200
    assert r.json()["units"] == 17 and r.json()["nanos"] == 980000000  # 2 x 8.99
    t = stack.trace(tid, ("POST /get-quote", "shipping"), ("POST", "frontend"))
    server = one(t, "POST /get-quote", "shipping")
    (parent,) = [s for s in t.spans if s.span_id == server.parent_span_id]
    assert parent.service == "frontend" and parent.name == "POST"  # undici fetch span
    assert parent.kind is SpanKind.CLIENT
    assert not t.named("grpc.oteldemo.ShippingService/GetQuote")
    r, _ = stack.call("GET", "/api/shipping", params={"itemList": items, "currencyCode": "USD"})
    assert r.status_code == 500  # a missing address throws in the snake_case transform


# --- checkout -------------------------------------------------------------------------


def _checkout(stack: Running, user: str, person: dict[str, Any], **kw: Any) -> tuple[Any, str]:
    r, _ = stack.call(
        "POST",
        "/api/cart",
        json={"userId": user, "item": {"productId": "OLJCESPC7Z", "quantity": 2}},
    )
    assert r.status_code == 200
    return stack.call("POST", "/api/checkout", json={**person, "userId": user}, **kw)


def test_checkout_is_3_0_0_shaped(stack: Running) -> None:
    user = secrets.token_hex(8)
    r, tid = _checkout(stack, user, PERSON, headers=SYNTHETIC)
    assert r.status_code == 200, r.text
    t = stack.trace(
        tid,
        ("oteldemo.CheckoutService/PlaceOrder", "checkout"),
        ("POST /ship-order", "shipping"),
        ("POST /send_order_confirmation", "email"),
        ("publish orders", "checkout"),
        ("charge", "payment"),
    )
    place = one(t, "oteldemo.CheckoutService/PlaceOrder", "checkout")
    a = place.attributes
    assert a["user.id"] == user
    assert a["demo.user_context.selected_currency"] == "USD"
    assert a["user_agent.synthetic.type"] == "test"
    # 2 x 101.96 (+ currency's nanos bug: 101.96 converts to 101.959999999 -> 101.95)
    # + shipping 17.98: the cents are real at 3.0.0
    assert a["demo.order.amount"] != int(a["demo.order.amount"])
    assert a["demo.shipping.amount"] == 17.98
    assert a["demo.order.items.count"] == 1
    assert set(events(place)) >= {"prepared", "charged", "shipped"}
    assert "demo.payment.transaction.id" in events(place)["charged"]
    # shipping over HTTP: otelhttp's "HTTP POST" clients, renamed "POST" by the collector
    http = [
        s
        for s in t.spans
        if s.service == "checkout" and s.attributes.get("original_span_name") == "HTTP POST"
    ]
    assert {s.name for s in http} == {"POST"}
    urls = sorted(str(s.attributes["url.full"]).rsplit("/", 1)[1] for s in http)
    assert urls == ["get-quote", "send_order_confirmation", "ship-order"]
    assert not [s for s in t.spans if "ShippingService" in s.name]
    # payment: the amount is right to the cent, and the synthetic annotation is there
    charge = one(t, "charge", "payment")
    assert charge.attributes["user_agent.synthetic.type"] == "test"
    assert charge.attributes["demo.payment.charged"] is False
    assert charge.attributes["demo.payment.card_type"] == "visa"
    payment = one(t, "oteldemo.PaymentService/Charge", "payment")
    assert payment.attributes["original_span_name"] == "grpc.oteldemo.PaymentService/Charge"
    # toFixed(2) rounds where checkout's cents truncate: 221.899999999 -> "221.90" / 221.89
    paid = str(payment.attributes["demo.payment.amount"])
    assert len(paid.split(".")[1]) == 2 and abs(float(paid) - a["demo.order.amount"]) < 0.011
    # Kafka: topic from KAFKA_TOPIC, producer renamed "publish orders"
    publish = one(t, "publish orders", "checkout")
    assert publish.kind is SpanKind.PRODUCER
    assert publish.attributes["original_span_name"] == "orders publish"
    assert publish.attributes["messaging.destination.name"] == "orders"
    # email: demo.order.id on both spans, no recipient
    send = one(t, "send_email", "email")
    assert send.attributes["demo.order.id"] == a["demo.order.id"]
    assert "app.email.recipient" not in send.attributes


def test_prometheus_holds_checkouts_metrics(stack: Running) -> None:
    """After a checkout, Prometheus answers as the demo's test asks it (demo-facts-3.0
    §13): ``target_info{service_name=...}``, checkout's own metric and its span metrics,
    and span-derived metrics for frontend-proxy, which exports no metrics of its own."""
    user = secrets.token_hex(8)
    r, _ = _checkout(stack, user, PERSON, headers=SYNTHETIC)
    assert r.status_code == 200, r.text
    prom = stack.endpoint("prometheus")
    (info,) = wait_for_query(prom, 'target_info{service_name="checkout"}')
    assert info["metric"]["job"] == "opentelemetry-demo/checkout"
    assert info["metric"]["service_version"] == "3.0.0"
    assert wait_for_query(prom, 'rpc_server_duration_milliseconds_count{service_name="checkout"}')
    assert wait_for_query(
        prom,
        'traces_span_metrics_calls_total{service_name="checkout",'
        'span_name="oteldemo.CheckoutService/PlaceOrder",span_kind="SPAN_KIND_SERVER"}',
    )
    assert wait_for_query(prom, 'target_info{service_name="frontend-proxy"}')
    assert wait_for_query(
        prom, 'traces_span_metrics_duration_milliseconds_count{service_name="frontend-proxy"}'
    )


def test_kafka_consumers_are_linked_not_parented(stack: Running) -> None:
    r, tid = _checkout(stack, secrets.token_hex(8), PERSON)
    assert r.status_code == 200
    t = stack.trace(tid, ("publish orders", "checkout"))
    publish = one(t, "publish orders", "checkout")
    assert not t.named("receive orders") and not t.named("process orders")

    def linked(service: str, name: str) -> list[Span]:
        return [
            s for s in stack.sink.spans_linking_to(tid) if s.service == service and s.name == name
        ]

    found: list[Span] = []
    for attempt in Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.1), reraise=True):
        with attempt:  # the consumers' spans are in traces of their own
            found = linked("accounting", "receive orders") + linked(
                "fraud-detection", "process orders"
            )
            assert {s.service for s in found} == {"accounting", "fraud-detection"}
    by_service = {s.service: s for s in found}
    assert set(by_service) == {"accounting", "fraud-detection"}
    receive = by_service["accounting"]
    assert receive.kind is SpanKind.CONSUMER
    assert receive.trace_id != publish.trace_id
    assert any(link.span_id == publish.span_id for link in receive.links)
    # accounting's receive span is the child of its root order-consumed span
    own = stack.sink.wait_for_trace(
        receive.trace_id, until=lambda x: bool(x.named("order-consumed"))
    )
    root = one(own, "order-consumed", "accounting")
    assert root.is_root and receive.parent_span_id == root.span_id
    process = by_service["fraud-detection"]
    assert process.attributes["original_span_name"] == "orders process"
    # accounting saved the order in astronomy-db (3.0.0)
    import psycopg

    order_id = r.json()["orderId"]
    port = stack.spec["x-tracebed-stack"]["ports"]["POSTGRES_PORT"]
    dsn = f"host=127.0.0.1 port={port} user=astronomy_user dbname=astronomy_db"
    for attempt in Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.1), reraise=True):
        with attempt, psycopg.connect(dsn) as conn:
            items = conn.execute(
                "SELECT product_id, quantity FROM accounting.orderitem WHERE order_id = %s",
                (order_id,),
            ).fetchall()
            assert items == [("OLJCESPC7Z", 2)]


def test_shipping_400_fails_the_order_with_the_email_message(stack: Running) -> None:
    person = json.loads(json.dumps(PERSON))
    person["address"]["state"] = ""  # omitempty drops it; shipping answers 400
    r, tid = _checkout(stack, secrets.token_hex(8), person)
    assert r.status_code == 500
    t = stack.trace(tid, ("oteldemo.CheckoutService/PlaceOrder", "checkout"))
    place = one(t, "oteldemo.CheckoutService/PlaceOrder", "checkout")
    assert "failed POST to email service: expected 200, got 400" in str(place.status.message)
    assert "exception" in events(place)  # RecordError, not the 2.0.2 `error` event


# --- ads, recommendations, cart, currency ----------------------------------------------


def test_other_flows_carry_demo_attributes(stack: Running) -> None:
    baggage = {"baggage": "session.id=s-1,enduser.id=u-1"}
    r, t_ads = stack.call("GET", "/api/data", params={"contextKeys": "telescopes"}, headers=baggage)
    assert r.status_code == 200
    r, t_rec = stack.call(
        "GET", "/api/recommendations", params={"productIds": "OLJCESPC7Z", "sessionId": "s-1"}
    )
    assert r.status_code == 200
    r, t_cart = stack.call("GET", "/api/cart", params={"sessionId": "nobody"})
    assert r.status_code == 200
    r, t_cur = stack.call("GET", "/api/products/OLJCESPC7Z", params={"currencyCode": "EUR"})
    assert r.status_code == 200

    ads = stack.trace(t_ads, ("oteldemo.AdService/GetAds", "ad"))
    a = one(ads, "oteldemo.AdService/GetAds", "ad").attributes
    assert a["demo.ad.context_keys"] == "[telescopes]" and a["demo.ad.request_type"] == "TARGETED"
    assert a["enduser.id"] == "u-1" and a["session.id"] == "s-1"
    rec = stack.trace(t_rec, ("get_product_list", "recommendation"))
    g = one(rec, "get_product_list", "recommendation").attributes
    assert g["demo.feature_flag.recommendation_cache"] is False
    assert g["demo.product.count"] == 10
    server = one(rec, "oteldemo.RecommendationService/ListRecommendations", "recommendation")
    assert server.attributes["original_span_name"] == (
        "/oteldemo.RecommendationService/ListRecommendations"
    )
    assert "demo.product.recommended.count" in server.attributes
    cart = stack.trace(t_cart, ("POST /oteldemo.CartService/GetCart", "cart"))
    c = one(cart, "POST /oteldemo.CartService/GetCart", "cart").attributes
    assert c["user.id"] == "nobody" and c["demo.cart.items.count"] == 0
    cur = stack.trace(t_cur, ("oteldemo.CurrencyService/Convert", "currency"))
    conv = one(cur, "oteldemo.CurrencyService/Convert", "currency")
    assert conv.attributes["original_span_name"] == "Currency/Convert"
    assert conv.attributes["demo.exchange.from"] == "USD"
    assert conv.attributes["demo.exchange.to"] == "EUR"


def test_proxy_has_no_loadgen_route(stack: Running) -> None:
    r, _ = stack.call("GET", "/loadgen/")
    # no /loadgen route at 3.0.0: the path falls through to the frontend (Next.js 404 page)
    assert r.status_code == 404
    assert "Locust" not in r.text


def test_telemetry_docs_through_the_front_door(stack: Running) -> None:
    r, tid = stack.call("GET", "/telemetry/services/cart/")
    assert r.status_code == 200 and "telemetry" in r.text.lower()
    # Envoy's span and the docs server's are exported apart: wait for both
    t = stack.sink.wait_for_trace(
        tid,
        until=lambda t: bool(t.named("GET /services/{service_name}", "telemetry-docs"))
        and any(s.service == "frontend-proxy" for s in t.spans),
        timeout=20,
    )
    docs = one(t, "GET /services/{service_name}", "telemetry-docs")
    assert docs.kind is SpanKind.SERVER
    assert docs.attributes["http.route"] == "/services/{service_name}"
    assert docs.attributes["http.target"] == "/services/cart/"  # Envoy rewrote the prefix
    assert "original_span_name" not in docs.attributes  # the collector kept the name
    assert docs.resource == {"service.name": "telemetry-docs"}  # nothing else set
    assert any(s.service == "frontend-proxy" for s in t.spans)  # proxied, one trace
    redirect, _ = stack.call("GET", "/telemetry", allow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["location"].endswith("/telemetry/")


def test_telemetry_docs_healthcheck_is_traced_every_few_seconds(stack: Running) -> None:
    def checks() -> list[Span]:
        return [
            s
            for t in stack.sink.traces()
            for s in t.spans
            if s.service == "telemetry-docs"
            and s.is_root
            and s.attributes.get("http.user_agent") == "Wget"
        ]

    found: list[Span] = []
    for attempt in Retrying(stop=stop_after_delay(20), wait=wait_fixed(0.2), reraise=True):
        with attempt:  # the first check comes one interval (5 s) after the start
            found = checks()
            assert found
    assert {s.name for s in found} == {"GET /"}
    assert found[0].kind is SpanKind.SERVER


# --- the load generator ----------------------------------------------------------------


def test_load_generator_sends_k6s_spans_and_headers(stack: Running, tmp_path: Path) -> None:
    svc = stack.spec["services"]["load-generator"]
    log = (tmp_path / "load-generator.log").open("wb")
    proc = subprocess.Popen(
        svc["command"],
        env={**os.environ, **svc["environment"]},
        cwd=svc.get("working_dir"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def spans(name: str) -> list[Span]:
        return [
            s
            for t in stack.sink.traces()
            for s in t.spans
            if s.service == "load-generator" and s.name == name
        ]

    try:
        for attempt in Retrying(stop=stop_after_delay(40), wait=wait_fixed(0.2), reraise=True):
            with attempt:  # every user's first iteration: flag, session start, one task
                assert spans("feature_flag.evaluate") and spans("user_session_start")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
        log.close()
    flag = spans("feature_flag.evaluate")[0]
    assert flag.kind is SpanKind.CLIENT and flag.is_root
    assert flag.attributes["feature_flag.key"] == "loadGeneratorTraffic"
    start = spans("user_session_start")[0]
    assert start.kind is SpanKind.CLIENT and start.is_root
    # explicit traceparent: Envoy's ingress span is a direct child of the task span
    t = stack.sink.wait_for_trace(
        start.trace_id, until=lambda x: bool(x.find(lambda s: s.service == "frontend-proxy"))
    )
    proxied = [s for s in t.spans if s.service == "frontend-proxy"]
    assert any(s.parent_span_id == start.span_id for s in proxied)


# --- the registry agrees ----------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, float),
    "boolean": lambda v: isinstance(v, bool),
    "string[]": lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
}


def test_every_demo_attribute_is_in_the_registry_with_its_type(
    stack: Running, registry: Registry
) -> None:
    # runs after the flows above (file order), so the sink holds every flow's spans
    spans = [s for t in stack.sink.traces() for s in t.spans]
    assert len(spans) > 50
    seen: dict[str, Any] = {}
    for span in spans:
        for attrs in (span.attributes, *(e.attributes for e in span.events)):
            for key, value in attrs.items():
                assert not key.startswith("app."), f"{span.service} {span.name}: 2.0.2 key {key}"
                if key.startswith("demo.") or key in ("user.id", "user_agent.synthetic.type"):
                    seen.setdefault(key, value)
    assert {"demo.order.id", "demo.product.id", "demo.shipping.cost.total"} <= set(seen)
    for key, value in sorted(seen.items()):
        definition = registry.attribute(key)
        assert definition is not None, f"{key} is not in the 3.0.0 registry"
        check = _TYPES.get(definition.type.value_type)
        assert check is not None and check(value), (
            f"{key}={value!r} is not a {definition.type.value_type}"
        )
