"""The whole reference stack (local launcher), driven through Envoy: every frontend route,
the proxy's routes and fault filter, and the spans that reach the sink."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from tenacity import Retrying, stop_after_delay, wait_fixed

from tests.reference.conftest import PERSON, RunningStack, reference_stack
from tracebed.model.trace import Trace


class Running(RunningStack):
    def call(self, method: str, path: str, **kw: Any) -> tuple[requests.Response, str, str]:
        """Send with a fresh W3C traceparent; return (response, trace id, parent span id)."""
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        headers = {"traceparent": f"00-{trace_id}-{span_id}-01", **kw.pop("headers", {})}
        resp = requests.request(method, self.url + path, headers=headers, timeout=20, **kw)
        return resp, trace_id, span_id

    def trace(self, trace_id: str, until: Callable[[Trace], bool]) -> Trace:
        """Wait until ``until`` holds and Envoy's ``ingress`` span (the last to end) is in."""
        return self.sink.wait_for_trace(
            trace_id, until=lambda t: until(t) and bool(t.named("ingress")), timeout=15
        )

    def set_flag(self, key: str, variant: str) -> None:
        r = requests.post(
            f"{self.url}/feature/api/flags/{key}", json={"defaultVariant": variant}, timeout=5
        )
        assert r.status_code == 200, r.text


stack = reference_stack("2.0.2", Running)


def _has(*spans: str | tuple[str, str]) -> Callable[[Trace], bool]:
    """Every span named (``name`` or ``(name, service)``) has arrived: each service exports
    on its own, so a test waits for every span it then asserts on."""
    wanted = [(s, None) if isinstance(s, str) else s for s in spans]
    return lambda t: all(t.named(name, service) for name, service in wanted)


def _one(trace: Trace, name: str, service: str | None = None) -> Any:
    spans = trace.named(name, service)
    assert spans, f"no span {name!r} ({service}) in:\n{trace}"
    return spans[0]


def test_product_request_is_traced_from_envoy_to_the_catalog(stack: Running) -> None:
    r, tid, parent = stack.call("GET", "/api/products/0PUK6V6EV0")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "0PUK6V6EV0" and body["description"] and body["picture"]
    assert set(body["priceUsd"]) == {"currencyCode", "units", "nanos"} and body["categories"]
    t = stack.trace(
        tid,
        _has(
            "router frontend egress",
            ("GET /api/products/0PUK6V6EV0", "frontend"),
            ("executing api route (pages) /api/products/[productId]", "frontend"),
            ("grpc.oteldemo.ProductCatalogService/GetProduct", "frontend"),
            ("oteldemo.ProductCatalogService/GetProduct", "product-catalog"),
        ),
    )
    ingress = _one(t, "ingress", "frontend-proxy")
    assert ingress.parent_span_id == parent  # W3C context from our request
    assert ingress.resource.get("service.namespace") == "opentelemetry-demo"
    egress = _one(t, "router frontend egress", "frontend-proxy")
    server = _one(t, "GET /api/products/0PUK6V6EV0", "frontend")
    assert server.parent_span_id == egress.span_id
    assert server.kind.name == "SERVER" and server.attributes["http.status_code"] == 200
    handler = _one(t, "executing api route (pages) /api/products/[productId]", "frontend")
    client = _one(t, "grpc.oteldemo.ProductCatalogService/GetProduct", "frontend")
    assert client.parent_span_id == handler.span_id and client.kind.name == "CLIENT"
    assert client.attributes["rpc.service"] == "oteldemo.ProductCatalogService"
    catalog = _one(t, "oteldemo.ProductCatalogService/GetProduct", "product-catalog")
    assert catalog.parent_span_id == client.span_id
    assert catalog.attributes["app.product.id"] == "0PUK6V6EV0"


def test_products_list_converts_only_for_other_currencies(stack: Running) -> None:
    r, tid, _ = stack.call("GET", "/api/products")
    assert r.status_code == 200 and len(r.json()) == 10
    assert {p["priceUsd"]["currencyCode"] for p in r.json()} == {"USD"}
    r, tid, _ = stack.call("GET", "/api/products?currencyCode=EUR")
    assert {p["priceUsd"]["currencyCode"] for p in r.json()} == {"EUR"}  # key stays priceUsd
    t = stack.trace(
        tid,
        lambda t: (
            len(t.named("Currency/Convert", "currency")) == 10
            and bool(t.named("GET /api/products?currencyCode=EUR", "frontend"))
        ),
    )
    assert _one(t, "GET /api/products?currencyCode=EUR", "frontend")  # query kept, as Next.js


def test_cart_add_view_empty(stack: Running) -> None:
    user = str(uuid.uuid4())
    item = {"productId": "66VCHSJNUP", "quantity": 2}
    r, tid, _ = stack.call("POST", "/api/cart", json={"userId": user, "item": item})
    assert r.json() == {"userId": user, "items": [item]}
    t = stack.trace(tid, _has("HMSET"))
    assert _one(t, "HMSET").attributes["db.statement"] == f"HMSET {user}"
    stack.call("POST", "/api/cart", json={"userId": user, "item": item})
    view, _, _ = stack.call("GET", f"/api/cart?sessionId={user}&currencyCode=CHF")
    (line,) = view.json()["items"]
    assert line["quantity"] == 4 and line["product"]["priceUsd"]["currencyCode"] == "CHF"
    # userId is not the parameter the API reads (demo quirk): that is the cart of user ""
    other, _, _ = stack.call("GET", f"/api/cart?userId={user}")
    assert other.status_code == 200 and other.json()["items"] == []
    gone, _, _ = stack.call("DELETE", "/api/cart", json={"userId": user})
    assert gone.status_code == 204 and gone.content == b""
    after, _, _ = stack.call("GET", f"/api/cart?sessionId={user}")
    assert after.json() == {"userId": "", "items": []}


def test_currency_ads_recommendations_shipping(stack: Running) -> None:
    cur, _, _ = stack.call("GET", "/api/currency")
    assert cur.json()[0] == "ZAR" and cur.json()[32] == "MYR"
    # Locust's trailing slash: redirected with 308, then answered
    ads, tid, _ = stack.call("GET", "/api/data/?contextKeys=binoculars")
    assert ads.status_code == 200 and ads.history[0].status_code == 308
    assert all("/product/" in a["redirectUrl"] for a in ads.json())
    rec, tid, _ = stack.call("GET", "/api/recommendations?productIds=66VCHSJNUP&sessionId=u1")
    ids = [p["id"] for p in rec.json()]
    assert 0 < len(ids) <= 4 and "66VCHSJNUP" not in ids  # one id: excluded (§17.10)
    items = json.dumps([{"productId": "66VCHSJNUP", "quantity": 2}])
    addr = json.dumps(PERSON["address"])
    ship, tid, _ = stack.call("GET", "/api/shipping", params={"itemList": items, "address": addr})
    assert ship.status_code == 200 and ship.json()["currencyCode"] == "USD"
    # USD -> USD is still converted
    t = stack.trace(
        tid,
        _has(
            ("Currency/Convert", "currency"), ("grpc.oteldemo.ShippingService/GetQuote", "frontend")
        ),
    )
    assert _one(t, "grpc.oteldemo.ShippingService/GetQuote", "frontend")


def test_bad_requests_get_clear_errors(stack: Running) -> None:
    bad, _, _ = stack.call(
        "POST", "/api/cart", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    missing, _, _ = stack.call("GET", "/api/shipping")
    assert missing.status_code == 400 and "itemList" in missing.json()["error"]
    wrong, _, _ = stack.call("PUT", "/api/cart")
    assert wrong.status_code == 405


def test_backend_failure_is_a_500_with_an_error_span(stack: Running) -> None:
    stack.set_flag("productCatalogFailure", "on")
    try:
        r, tid, _ = stack.call("GET", "/api/products/OLJCESPC7Z")
    finally:
        stack.set_flag("productCatalogFailure", "off")
    assert r.status_code == 500
    t = stack.trace(tid, _has(("GET /api/products/OLJCESPC7Z", "frontend")))
    server = _one(t, "GET /api/products/OLJCESPC7Z", "frontend")
    assert server.attributes["http.status_code"] == 500
    assert server.status.code.name == "ERROR"
    assert any(e.name == "exception" for e in server.events)


def test_checkout_through_envoy_has_the_complete_trace(stack: Running) -> None:
    user = str(uuid.uuid4())
    stack.call(
        "POST",
        "/api/cart",
        json={"userId": user, "item": {"productId": "OLJCESPC7Z", "quantity": 1}},
    )
    # the load generator's baggage crosses Envoy, the frontend and checkout to payment
    r, tid, _ = stack.call(
        "POST",
        "/api/checkout",
        json={**PERSON, "userId": user},
        headers={"baggage": f"session.id={user},synthetic_request=true"},
    )
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["orderId"] and order["shippingTrackingId"]
    assert order["items"][0]["item"]["product"]["id"] == "OLJCESPC7Z"
    services = {
        "frontend-proxy",
        "frontend",
        "checkout",
        "cart",
        "payment",
        "shipping",
        "quote",
        "currency",
        "product-catalog",
        "email",
    }
    t = stack.trace(
        tid,
        lambda t: (
            t.services >= services
            and _has(
                "orders publish",
                "POST /send_order_confirmation",
                ("oteldemo.CheckoutService/PlaceOrder", "checkout"),
                ("charge", "payment"),
                ("oteldemo.PaymentService/Charge", "checkout"),
                ("oteldemo.ShippingService/ShipOrder", "checkout"),
                ("oteldemo.CartService/EmptyCart", "checkout"),
            )(t)
        ),
    )
    place = _one(t, "oteldemo.CheckoutService/PlaceOrder", "checkout")
    assert place.attributes["app.user.id"] == user
    assert place.attributes["app.order.items.count"] == 1
    assert _one(t, "charge", "payment").attributes["app.payment.charged"] is False
    for name in (
        "oteldemo.PaymentService/Charge",
        "oteldemo.ShippingService/ShipOrder",
        "oteldemo.CartService/EmptyCart",
    ):
        assert _one(t, name, "checkout").attributes["rpc.grpc.status_code"] == 0
    assert {
        "frontend-proxy",
        "frontend",
        "checkout",
        "cart",
        "payment",
        "shipping",
        "quote",
        "currency",
        "product-catalog",
        "email",
    } <= t.services


def test_proxy_routes(stack: Running) -> None:
    img = requests.get(f"{stack.url}/images/products/RoofBinoculars.jpg", timeout=5)
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    page = requests.get(f"{stack.url}/feature", timeout=5)
    assert page.status_code == 200 and "imageSlowLoad" in page.text
    flag = requests.post(
        f"{stack.url}/flagservice/ofrep/v1/evaluate/flags/imageSlowLoad",
        json={"context": {}},
        timeout=5,
    )
    assert flag.json()["value"] == 0
    assert requests.get(f"{stack.url}/loadgen/", timeout=5).status_code == 503  # not started
    home = requests.get(f"{stack.url}/", timeout=5)
    assert home.status_code == 200 and "<html" in home.text


def test_fault_filter_delays_on_the_image_slow_load_header(stack: Running) -> None:
    url = f"{stack.url}/images/products/SolarFilter.jpg"
    t0 = time.monotonic()
    requests.get(url, timeout=5)
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    r = requests.get(url, headers={"x-envoy-fault-delay-request": "400"}, timeout=5)
    slow = time.monotonic() - t0
    # Envoy's timer may fire a fraction of a millisecond early
    assert r.status_code == 200 and slow >= 0.39 and fast < slow - 0.3


def test_browser_otlp_route_reaches_the_sink(stack: Running) -> None:
    """What the demo's browser does: OTLP/HTTP to /otlp-http/v1/traces through Envoy."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "frontend-web"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{stack.url}/otlp-http/v1/traces"))
    )
    with provider.get_tracer("browser").start_as_current_span("documentFetch") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    t = stack.sink.wait_for_trace(
        trace_id, until=_has(("documentFetch", "frontend-web")), timeout=15
    )
    assert _one(t, "documentFetch", "frontend-web").kind.name == "INTERNAL"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium to play the demo's browser (apt-get install chromium)")


def test_image_slow_load_delays_pictures_in_a_real_browser(stack: Running, tmp_path: Path) -> None:
    """imageSlowLoad as in the demo: the browser reads the flag and sends the fault header,
    Envoy's fault filter delays each picture; the page finishes with all 10 pictures."""
    chromium = _chromium()
    stack.set_flag("imageSlowLoad", "5sec")
    try:
        out = subprocess.run(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"{stack.url}/",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        stack.set_flag("imageSlowLoad", "off")
    assert 'data-image-delay-ms="5000"' in out.stdout, out.stdout[-2000:]
    assert 'data-images-loaded="10"' in out.stdout, re.findall(
        r'data-images-[a-z]+="[^"]*"', out.stdout
    )
    # Envoy's ingress span of a picture request lasts at least the injected delay; the
    # last spans may still be on their way (checked outside the store's lock)
    for attempt in Retrying(stop=stop_after_delay(10), wait=wait_fixed(0.1), reraise=True):
        with attempt:
            delayed = [
                s
                for t in stack.sink.store.traces()
                for s in t.named("ingress", "frontend-proxy")
                if "/images/products/" in str(s.attributes.get("http.url", ""))
                and s.duration >= 4.9  # Envoy's timer may fire a few ms early
            ]
            assert len(delayed) >= 10, sorted(
                (str(s.attributes.get("http.url")), round(s.duration, 2))
                for t in stack.sink.store.traces()
                for s in t.named("ingress", "frontend-proxy")
                if "/images/" in str(s.attributes.get("http.url", ""))
            )
