"""A minimal stand-in of the demo frontend's HTTP API, traced with the real OTel SDK.

It answers the routes the load generator uses with small valid bodies, records every request
(method, path, query, JSON body, headers) and, for each request, emits spans under several
service names as the demo would (frontend server span; for a checkout the whole chain down to
quote, email and the Kafka publish), exported over OTLP/gRPC to a real sink. Knobs let a test
make some requests fail (HTTP 500) or some checkout traces incomplete, and count them.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICES = (
    "frontend",
    "checkout",
    "cart",
    "product-catalog",
    "currency",
    "shipping",
    "quote",
    "payment",
    "email",
)
FLOOD_FLAG_PATH = "/ofrep/v1/evaluate/flags/loadGeneratorFloodHomepage"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeFrontend:
    """Start with `.start(otlp_endpoint)`; `.url` is the base URL; `.stop()` flushes spans."""

    fail_every: int = 0  # every n-th GET /api/products/{id} answers 500 (0: never)
    incomplete_every: int = 0  # every n-th checkout trace lacks email and the Kafka publish
    flood_count: int = 2  # the OFREP value of loadGeneratorFloodHomepage
    seen: list[Seen] = field(default_factory=list)
    checkouts_complete: int = 0
    checkouts_incomplete: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _browse_count: int = 0
    _checkout_count: int = 0

    def start(self, otlp_endpoint: str) -> FakeFrontend:
        self.providers: dict[str, TracerProvider] = {}
        self.tracers: dict[str, Tracer] = {}
        for service in SERVICES:
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
            self.providers[service] = provider
            self.tracers[service] = provider.get_tracer("fake-frontend")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        for provider in self.providers.values():
            provider.shutdown()

    def reset(self) -> None:
        with self._lock:
            self.seen.clear()
            self.checkouts_complete = self.checkouts_incomplete = self.failed = 0
            self._browse_count = self._checkout_count = 0

    def api_requests(self) -> list[Seen]:
        """Shop requests that got a final answer (not the 308 hop, not flag evaluations)."""
        with self._lock:
            return [s for s in self.seen if s.status != 308 and not s.path.startswith("/ofrep/")]

    # -- spans ------------------------------------------------------------------------------
    @contextmanager
    def hop(self, caller: str, callee: str, name: str, rpc: bool = True) -> Iterator[None]:
        attrs: dict[str, Any] = (
            {"rpc.system": "grpc", "rpc.method": name.rsplit("/", 1)[-1]}
            if rpc
            else {"http.request.method": "POST"}
        )
        with (
            self.tracers[caller].start_as_current_span(
                name, kind=SpanKind.CLIENT, attributes=attrs
            ),
            self.tracers[callee].start_as_current_span(
                name, kind=SpanKind.SERVER, attributes=attrs
            ),
        ):
            yield

    def checkout_chain(self, complete: bool) -> None:
        with self.hop("frontend", "checkout", "oteldemo.CheckoutService/PlaceOrder"):
            with self.hop("checkout", "cart", "oteldemo.CartService/GetCart"):
                pass
            with self.hop(
                "checkout", "product-catalog", "oteldemo.ProductCatalogService/GetProduct"
            ):
                pass
            with self.hop("checkout", "currency", "oteldemo.CurrencyService/Convert"):
                pass
            with (
                self.hop("checkout", "shipping", "oteldemo.ShippingService/GetQuote"),
                self.hop("shipping", "quote", "POST /getquote", rpc=False),
            ):
                pass
            with self.hop("checkout", "payment", "oteldemo.PaymentService/Charge"):
                pass
            with self.hop("checkout", "cart", "oteldemo.CartService/EmptyCart"):
                pass
            if complete:
                with self.hop("checkout", "email", "POST /send_order_confirmation", rpc=False):
                    pass
                with self.tracers["checkout"].start_as_current_span(
                    "orders publish",
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": "orders",
                    },
                ):
                    pass

    # -- answers ----------------------------------------------------------------------------
    def answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        path, query, body = seen.path, seen.query, seen.body
        product = {
            "id": "X",
            "name": "Thing",
            "priceUsd": {"currencyCode": "USD", "units": 1, "nanos": 0},
            "categories": ["telescopes"],
        }
        if seen.method == "POST" and path == FLOOD_FLAG_PATH:
            return 200, {"key": "loadGeneratorFloodHomepage", "value": self.flood_count}, {}
        if seen.method == "GET" and (path in ("/", "/cart") or path.startswith("/product/")):
            return 200, "<html><body>shop</body></html>", {}
        if seen.method == "GET" and path.startswith("/api/products/"):
            with self._lock:
                self._browse_count += 1
                fail = bool(self.fail_every) and self._browse_count % self.fail_every == 0
            if fail:
                return 500, {"error": "injected failure"}, {}
            return 200, {**product, "id": path.rsplit("/", 1)[-1]}, {}
        if seen.method == "GET" and path == "/api/products":
            return 200, [product], {}
        if seen.method == "GET" and path == "/api/data/":
            # Next.js redirects the trailing slash away (308 keeps the method).
            target = "/api/data" + (
                ("?" + seen.headers["x-raw-query"]) if seen.headers.get("x-raw-query") else ""
            )
            return 308, "", {"Location": target}
        if seen.method == "GET" and path == "/api/data":
            return 200, [{"redirectUrl": "/product/X", "text": "ad"}], {}
        if seen.method == "GET" and path == "/api/recommendations":
            return 200, [product], {}
        if seen.method == "GET" and path == "/api/cart":
            return 200, {"userId": query.get("sessionId", [""])[0], "items": []}, {}
        if seen.method == "POST" and path == "/api/cart":
            return 200, {"userId": body["userId"], "items": [body["item"]]}, {}
        if seen.method == "DELETE" and path == "/api/cart":
            return 204, None, {}
        if seen.method == "GET" and path == "/api/currency":
            return 200, ["USD", "EUR", "CHF"], {}
        if seen.method == "GET" and path == "/api/shipping":
            return 200, {"currencyCode": "USD", "units": 8, "nanos": 990000000}, {}
        if seen.method == "POST" and path == "/api/checkout":
            with self._lock:
                self._checkout_count += 1
                complete = not (
                    self.incomplete_every and self._checkout_count % self.incomplete_every == 0
                )
                if complete:
                    self.checkouts_complete += 1
                else:
                    self.checkouts_incomplete += 1
            self.checkout_chain(complete)
            return 200, {"orderId": str(uuid.uuid1()), "items": []}, {}
        return 404, {"error": f"no route {seen.method} {path}"}, {}


def _handler(app: FakeFrontend) -> type[BaseHTTPRequestHandler]:
    propagator = TraceContextTextMapPropagator()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["x-raw-query"] = url.query
            seen = Seen(
                self.command,
                url.path,
                parse_qs(url.query),
                json.loads(raw) if raw else None,
                headers,
            )
            ctx = propagator.extract(headers)
            route = (
                url.path
                if not url.path.startswith("/api/products/")
                else "/api/products/{productId}"
            )
            with app.tracers["frontend"].start_as_current_span(
                f"{self.command} {route}",
                context=ctx,
                kind=SpanKind.SERVER,
                attributes={"http.request.method": self.command, "url.path": url.path},
            ) as span:
                status, payload, extra = app.answer(seen)
                span.set_attribute("http.response.status_code", status)
            seen.status = status
            with app._lock:
                app.seen.append(seen)
                if status >= 500:
                    app.failed += 1
            data = (
                b""
                if payload is None
                else payload.encode()
                if isinstance(payload, str)
                else json.dumps(payload).encode()
            )
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if status != 204:
                ctype = "text/html" if isinstance(payload, str) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if status != 204:
                self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _handle  # noqa: N815 - stdlib names

    return Handler
