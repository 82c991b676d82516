"""shipping: the demo's Rust ShippingService at 2.0.2 (gRPC), asking quote over HTTP."""

from __future__ import annotations

import math
import sys
import uuid

import grpc
import requests
from opentelemetry import trace

from tracebed.reference.common.config import http_base
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.http import post_json
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc


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


def build() -> list[Registration]:
    service = ShippingService(http_base("QUOTE_ADDR", "http://quote:8090"))
    return [lambda s: demo_pb2_grpc.add_ShippingServiceServicer_to_server(service, s)]


def main() -> int:
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
