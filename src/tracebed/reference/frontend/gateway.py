"""gRPC clients of the frontend (ts-proto + @grpc/grpc-js in the demo).

Each call gets a CLIENT span ``grpc.oteldemo.<Service>/<Method>`` — the Node gRPC
instrumentation's naming — with the W3C context in the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import requests

from tracebed.reference import versions
from tracebed.reference.common.config import grpc_target, http_base
from tracebed.reference.common.http import post_json
from tracebed.reference.common.rpc_tracing import Style, traced_channel
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

#: Deadline of every backend call; the demo sets none, but a stuck call must not hang a test.
TIMEOUT_S = 15.0


@dataclass
class Gateway:
    ad: demo_pb2_grpc.AdServiceStub
    cart: demo_pb2_grpc.CartServiceStub
    checkout: demo_pb2_grpc.CheckoutServiceStub
    currency: demo_pb2_grpc.CurrencyServiceStub
    product_catalog: demo_pb2_grpc.ProductCatalogServiceStub
    recommendation: demo_pb2_grpc.RecommendationServiceStub
    shipping: demo_pb2_grpc.ShippingServiceStub
    #: 3.0.0: shipping's HTTP base URL (``SHIPPING_ADDR``); None = the 2.0.2 gRPC stub
    shipping_url: str | None = None

    @classmethod
    def from_env(cls) -> Gateway:
        """Targets from the demo's ``*_ADDR`` variables (``host:port``)."""

        def channel(var: str) -> grpc.Channel:
            return traced_channel(grpc_target(var), Style.NODE)

        return cls(
            ad=demo_pb2_grpc.AdServiceStub(channel("AD_ADDR")),
            cart=demo_pb2_grpc.CartServiceStub(channel("CART_ADDR")),
            checkout=demo_pb2_grpc.CheckoutServiceStub(channel("CHECKOUT_ADDR")),
            currency=demo_pb2_grpc.CurrencyServiceStub(channel("CURRENCY_ADDR")),
            product_catalog=demo_pb2_grpc.ProductCatalogServiceStub(
                channel("PRODUCT_CATALOG_ADDR")
            ),
            recommendation=demo_pb2_grpc.RecommendationServiceStub(channel("RECOMMENDATION_ADDR")),
            shipping=demo_pb2_grpc.ShippingServiceStub(channel("SHIPPING_ADDR")),
            shipping_url=http_base("SHIPPING_ADDR") if versions.is_v3() else None,
        )

    # Thin wrappers so every call carries the deadline.

    def convert(self, money: demo_pb2.Money, to_code: str) -> demo_pb2.Money:
        req = demo_pb2.CurrencyConversionRequest(to_code=to_code)
        getattr(req, "from").CopyFrom(money)  # ``from`` is a Python keyword
        return self.currency.Convert(req, timeout=TIMEOUT_S)

    def supported_currencies(self) -> list[str]:
        resp = self.currency.GetSupportedCurrencies(demo_pb2.Empty(), timeout=TIMEOUT_S)
        return list(resp.currency_codes)

    def list_products(self) -> list[demo_pb2.Product]:
        resp = self.product_catalog.ListProducts(demo_pb2.Empty(), timeout=TIMEOUT_S)
        return list(resp.products)

    def get_product(self, product_id: str) -> demo_pb2.Product:
        return self.product_catalog.GetProduct(
            demo_pb2.GetProductRequest(id=product_id), timeout=TIMEOUT_S
        )

    def get_cart(self, user_id: str) -> demo_pb2.Cart:
        return self.cart.GetCart(demo_pb2.GetCartRequest(user_id=user_id), timeout=TIMEOUT_S)

    def add_item(self, user_id: str, item: demo_pb2.CartItem) -> None:
        self.cart.AddItem(demo_pb2.AddItemRequest(user_id=user_id, item=item), timeout=TIMEOUT_S)

    def empty_cart(self, user_id: str) -> None:
        self.cart.EmptyCart(demo_pb2.EmptyCartRequest(user_id=user_id), timeout=TIMEOUT_S)

    def place_order(self, req: demo_pb2.PlaceOrderRequest) -> demo_pb2.PlaceOrderResponse:
        return self.checkout.PlaceOrder(req, timeout=TIMEOUT_S)

    def get_ads(self, context_keys: list[str]) -> list[demo_pb2.Ad]:
        resp = self.ad.GetAds(demo_pb2.AdRequest(context_keys=context_keys), timeout=TIMEOUT_S)
        return list(resp.ads)

    def list_recommendations(self, user_id: str, product_ids: list[str]) -> list[str]:
        resp = self.recommendation.ListRecommendations(
            demo_pb2.ListRecommendationsRequest(user_id=user_id, product_ids=product_ids),
            timeout=TIMEOUT_S,
        )
        return list(resp.product_ids)

    def get_quote(
        self, address: demo_pb2.Address, items: list[demo_pb2.CartItem]
    ) -> demo_pb2.Money:
        if self.shipping_url is not None:
            return self._http_quote(address, items)
        resp = self.shipping.GetQuote(
            demo_pb2.GetQuoteRequest(address=address, items=items), timeout=TIMEOUT_S
        )
        return resp.cost_usd

    def _http_quote(
        self, address: demo_pb2.Address, items: list[demo_pb2.CartItem]
    ) -> demo_pb2.Money:
        """3.0.0's Shipping.gateway: fetch (undici, span ``POST``) with hand-built snake_case."""
        body = {
            "items": [{"product_id": i.product_id, "quantity": i.quantity} for i in items],
            "address": {
                "street_address": address.street_address,
                "city": address.city,
                "state": address.state,
                "country": address.country,
                "zip_code": address.zip_code,
            },
        }
        assert self.shipping_url is not None
        try:
            reply = post_json(
                self.shipping_url + "/get-quote",
                body,
                span_name="POST",
                tracer_name="frontend",
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise ShippingHttpError(str(exc)) from exc
        if reply.status_code != 200:
            raise ShippingHttpError(f"shipping answered {reply.status_code}")
        cost = reply.json().get("cost_usd") or {}
        return demo_pb2.Money(
            currency_code=str(cost.get("currency_code", "USD")),
            units=int(cost.get("units", 0)),
            nanos=int(cost.get("nanos", 0)),
        )


class ShippingHttpError(RuntimeError):
    """3.0.0: shipping's HTTP call failed; the API answers 500."""
