"""shipping: the demo's Rust ShippingService: gRPC at 2.0.2, HTTP/JSON at 3.0.0; asks quote."""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from typing import Any

import grpc
import requests
from opentelemetry import trace

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env_port, http_base
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.http import Reply, TracedHTTPServer, post_json
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc, setup_logging


def cost_from_quote(quote: float) -> tuple[int, int, str]:
    """(units, nanos, app.shipping.cost.total) as the Rust code derives them.

    Cents are not zero-padded in the attribute, so 12.05 reads "12.5".
    """
    dollars = math.floor(quote)
    cents = math.trunc(quote * 100) % 100
    return dollars, cents * 10_000_000, f"{dollars}.{cents}"


class ShippingService(demo_pb2_grpc.ShippingServiceServicer):
    def __init__(self, quote_addr: str) -> None:
        self.quote_url = quote_addr + "/getquote"
        self.session = requests.Session()

    def GetQuote(
        self, request: demo_pb2.GetQuoteRequest, context: grpc.ServicerContext
    ) -> demo_pb2.GetQuoteResponse:
        span = trace.get_current_span()
        span.add_event("Processing get quote request")
        if not request.HasField("address"):
            # The demo unwraps the address and its handler panics.
            raise RpcError(grpc.StatusCode.UNKNOWN, "missing address")
        span.set_attribute("app.shipping.zip_code", request.address.zip_code)
        count = sum(item.quantity for item in request.items)
        try:
            response = post_json(
                self.quote_url,
                {"numberOfItems": count},
                span_name="POST",
                tracer_name="shipping",
                session=self.session,
            )
            response.raise_for_status()
            quote = float(response.text)
        except (requests.RequestException, ValueError) as exc:
            raise RpcError(grpc.StatusCode.UNKNOWN, f"failed to get quote: {exc}") from exc
        units, nanos, total = cost_from_quote(quote)
        span.set_attribute("app.shipping.items.count", count)
        span.set_attribute("app.shipping.cost.total", total)
        span.add_event("Received Quote", {"app.shipping.cost.total": total})
        return demo_pb2.GetQuoteResponse(
            cost_usd=demo_pb2.Money(currency_code="USD", units=units, nanos=nanos)
        )

    def ShipOrder(
        self, request: demo_pb2.ShipOrderRequest, context: grpc.ServicerContext
    ) -> demo_pb2.ShipOrderResponse:
        span = trace.get_current_span()
        span.add_event("Processing shipping order request")
        tracking_id = str(uuid.uuid4())
        span.set_attribute("app.shipping.tracking.id", tracking_id)
        span.add_event("Shipping tracking id created, response sent back")
        return demo_pb2.ShipOrderResponse(tracking_id=tracking_id)


#: Countries shipping treats as domestic (``intlShippingSlowdown`` spares them).
DOMESTIC = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}
_ADDRESS_FIELDS = (
    ("street_address", "streetAddress"),
    ("city", "city"),
    ("state", "state"),
    ("country", "country"),
    ("zip_code", "zipCode"),
)


class BadBody(ValueError):
    pass


def parse_order(body: Any) -> tuple[list[tuple[str, int]], dict[str, str] | None]:
    """The actix JSON extractor's checks: required item fields and address strings."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise BadBody("Json deserialize error: missing field `items`")
    items: list[tuple[str, int]] = []
    for item in body["items"]:
        if not isinstance(item, dict):
            raise BadBody("Json deserialize error: invalid type: expected struct CartItem")
        pid = item.get("product_id", item.get("productId"))
        qty = item.get("quantity")
        if not isinstance(pid, str):
            raise BadBody("Json deserialize error: missing field `product_id`")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            raise BadBody("Json deserialize error: missing field `quantity`")
        items.append((pid, qty))
    raw = body.get("address")
    if raw is None:
        return items, None
    if not isinstance(raw, dict):
        raise BadBody("Json deserialize error: invalid type: expected struct Address")
    address: dict[str, str] = {}
    for snake, camel in _ADDRESS_FIELDS:
        value = raw.get(snake, raw.get(camel))
        if not isinstance(value, str):
            raise BadBody(f"Json deserialize error: missing field `{snake}`")
        address[snake] = value
    return items, address


class HttpShipping:
    """demo 3.0.0's shipping: actix-web JSON routes, traceparent-only propagation."""

    def __init__(self, quote_addr: str, flags: Flags) -> None:
        self.quote_url = quote_addr + "/getquote"
        self.flags = flags
        self.session = requests.Session()

    def get_quote(self, body: Any, span: trace.Span) -> Reply:
        try:
            items, _ = parse_order(body)
        except BadBody as exc:
            return Reply(400, str(exc).encode(), content_type="text/plain; charset=utf-8")
        count = sum(q for _, q in items)
        try:
            # awc's client span: method + host (the demo's host is the service name)
            response = post_json(
                self.quote_url,
                {"numberOfItems": count},
                span_name="POST quote",
                tracer_name="shipping",
                session=self.session,
            )
            response.raise_for_status()
            quote = float(response.text)
        except (requests.RequestException, ValueError) as exc:
            return Reply(500, f"Failed to get quote: {exc}".encode(), content_type="text/plain")
        units, nanos, total = cost_from_quote(quote)
        span.set_attribute("app.shipping.cost.total", total)
        span.add_event("shipping.quote.received", {"app.shipping.cost.total": total})
        telemetry.count("items_shipped", count)
        telemetry.log("quote_sent", dollars=units, cents=nanos // 10_000_000)
        doc = {"cost_usd": {"currency_code": "USD", "units": units, "nanos": nanos}}
        return Reply(200, json.dumps(doc).encode())

    def ship_order(self, body: Any, span: trace.Span) -> Reply:
        try:
            _, address = parse_order(body)
        except BadBody as exc:
            return Reply(400, str(exc).encode(), content_type="text/plain; charset=utf-8")
        country = (address or {}).get("country", "US").strip().upper()
        if address is not None and country not in DOMESTIC:
            delay = self.flags.integer("intlShippingSlowdown", 0)
            if delay > 0:
                telemetry.log("international_slowdown", delay_secs=delay)
                time.sleep(delay)  # the flag's effect: a slow international shipment
        tracking_id = str(uuid.uuid4())
        telemetry.log("tracking_id_created", tracking_id=tracking_id)
        return Reply(200, json.dumps({"tracking_id": tracking_id}).encode())

    @staticmethod
    def health(body: Any, span: trace.Span) -> Reply:
        return Reply(200, b"", content_type="text/plain")


def main_http() -> int:
    log = setup_logging("shipping")
    try:
        telemetry.setup("shipping", baggage=False)  # TraceContext propagator only
        port = env_port("SHIPPING_PORT")
        svc = HttpShipping(http_base("QUOTE_ADDR", "http://quote:8090"), Flags.from_env())
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    server = TracedHTTPServer(
        {
            ("POST", "/get-quote"): svc.get_quote,
            ("POST", "/ship-order"): svc.ship_order,
            ("GET", "/health"): svc.health,
        },
        port,
        tracer_name="shipping",
    )
    log.info("shipping listening on port %d (HTTP)", server.port)
    server.serve_until_signal()
    return 0


def build() -> list[Registration]:
    service = ShippingService(http_base("QUOTE_ADDR", "http://quote:8090"))
    return [lambda s: demo_pb2_grpc.add_ShippingServiceServicer_to_server(service, s)]


def main() -> int:
    if versions.is_v3():
        return main_http()
    # tonic-health reports the named service, not "".
    return run_grpc(
        "shipping",
        Style.GO,
        "SHIPPING_PORT",
        build,
        health_services=("", "oteldemo.ShippingService"),
    )


if __name__ == "__main__":
    sys.exit(main())
