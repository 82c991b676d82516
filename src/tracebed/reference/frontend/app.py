"""The demo frontend's HTTP surface (demo-facts §6.2), route by route.

Query parameters follow Next.js ``req.query``: a repeated parameter is a list, a single one
a string. Responses are the ts-proto objects as JSON. A failed backend call is an
unhandled exception in the demo, answered 500; so it is here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from tracebed.reference.frontend import pages, shapes
from tracebed.reference.frontend.gateway import Gateway, ShippingHttpError
from tracebed.reference.frontend.shapes import BadRequest
from tracebed.reference.frontend.tracing import run_handler
from tracebed.reference.proto import demo_pb2

API_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _query(name: str) -> str | list[str] | None:
    values = request.args.getlist(name)
    if not values:
        return None
    return values if len(values) > 1 else values[0]


def _query_str(name: str, default: str = "") -> str:
    value = _query(name)
    if value is None:
        return default
    return value if isinstance(value, str) else value[0]


def _json_body() -> Any:
    raw = request.get_data()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None


def _json_query(name: str) -> Any:
    raw = _query_str(name)
    if not raw:
        raise BadRequest(f"query parameter {name} is required (a JSON string)")
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name} is not valid JSON") from None


def _wants_conversion(currency_code: str) -> bool:
    # the demo converts product prices only for a non-empty code other than USD
    return bool(currency_code) and currency_code != "USD"


def create_app(gw: Gateway) -> Flask:
    app = Flask("frontend")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep ts-proto field order
    app.url_map.strict_slashes = False

    def priced(p: demo_pb2.Product, currency_code: str) -> dict[str, Any]:
        out = shapes.product(p)
        if _wants_conversion(currency_code):
            # the key stays priceUsd even though the price is converted (as in the demo)
            out["priceUsd"] = shapes.money(gw.convert(p.price_usd, currency_code))
        return out

    def api(page: str, handler: Callable[[], Any]) -> Any:
        if request.method not in allowed.get(page, ()):
            return Response(status=405)
        return run_handler(page, handler)

    allowed: dict[str, tuple[str, ...]] = {
        "/api/products": ("GET",),
        "/api/products/[productId]": ("GET",),
        "/api/cart": ("GET", "POST", "DELETE"),
        "/api/checkout": ("POST",),
        "/api/currency": ("GET",),
        "/api/data": ("GET",),
        "/api/recommendations": ("GET",),
        "/api/shipping": ("GET",),
    }

    @app.errorhandler(BadRequest)
    def _bad_request(exc: BadRequest) -> tuple[Response, int]:
        return jsonify({"error": str(exc)}), 400

    @app.errorhandler(ShippingHttpError)
    def _shipping_failed(_exc: ShippingHttpError) -> tuple[str, int]:
        return "Internal Server Error", 500

    @app.errorhandler(grpc.RpcError)
    def _backend_failed(_exc: grpc.RpcError) -> tuple[str, int]:
        return "Internal Server Error", 500

    @app.before_request
    def _trailing_slash() -> BaseResponse | None:
        # Next.js redirects /x/ to /x with 308 before any handler runs (Locust's get_ads
        # requests /api/data/?contextKeys=...).
        path = request.path
        if path != "/" and path.endswith("/"):
            qs = request.query_string.decode()
            return redirect(path.rstrip("/") + (f"?{qs}" if qs else ""), code=308)
        return None

    @app.route("/api/products", methods=API_METHODS)
    def products() -> Any:
        def handler() -> Any:
            code = _query_str("currencyCode", "USD")
            return jsonify([priced(p, code) for p in gw.list_products()])

        return api("/api/products", handler)

    @app.route("/api/products/<product_id>", methods=API_METHODS)
    def product(product_id: str) -> Any:
        def handler() -> Any:
            code = _query_str("currencyCode", "USD")
            return jsonify(priced(gw.get_product(product_id), code))

        return api("/api/products/[productId]", handler)

    @app.route("/api/cart", methods=API_METHODS)
    def cart() -> Any:
        def get() -> Any:
            # the cart is read by sessionId; a userId query parameter is ignored (§17.8)
            code = _query_str("currencyCode")
            c = gw.get_cart(_query_str("sessionId"))
            items = [
                {**shapes.cart_item(i), "product": priced(gw.get_product(i.product_id), code)}
                for i in c.items
            ]
            return jsonify({"userId": c.user_id, "items": items})

        def post() -> Any:
            body = shapes._obj(_json_body(), "body")
            user_id = shapes._str(body, "userId", "body")
            gw.add_item(user_id, shapes.parse_cart_item(body.get("item")))
            return jsonify(shapes.cart(gw.get_cart(user_id)))

        def delete() -> Any:
            body = shapes._obj(_json_body(), "body")
            gw.empty_cart(shapes._str(body, "userId", "body"))
            return Response(status=204)

        handlers = {"GET": get, "POST": post, "DELETE": delete}
        return api("/api/cart", handlers.get(request.method, get))

    @app.route("/api/checkout", methods=API_METHODS)
    def checkout() -> Any:
        def handler() -> Any:
            code = _query_str("currencyCode")
            order = gw.place_order(shapes.parse_place_order(_json_body())).order
            items = [
                {
                    "cost": shapes.money(oi.cost),
                    "item": {
                        **shapes.cart_item(oi.item),
                        "product": priced(gw.get_product(oi.item.product_id), code),
                    },
                }
                for oi in order.items
            ]
            return jsonify(
                {
                    "orderId": order.order_id,
                    "shippingTrackingId": order.shipping_tracking_id,
                    "shippingCost": shapes.money(order.shipping_cost),
                    "shippingAddress": shapes.address(order.shipping_address),
                    "items": items,
                }
            )

        return api("/api/checkout", handler)

    @app.route("/api/currency", methods=API_METHODS)
    def currency() -> Any:
        return api("/api/currency", lambda: jsonify(gw.supported_currencies()))

    @app.route("/api/data", methods=API_METHODS)
    def data() -> Any:
        def handler() -> Any:
            keys = _query("contextKeys")
            if keys is None:
                context_keys: list[str] = []
            elif isinstance(keys, str):
                context_keys = keys.split(",")
            else:
                context_keys = keys
            return jsonify([shapes.ad(a) for a in gw.get_ads(context_keys)])

        return api("/api/data", handler)

    @app.route("/api/recommendations", methods=API_METHODS)
    def recommendations() -> Any:
        def handler() -> Any:
            raw = _query("productIds")
            # ts-proto encodes a *string* given for a repeated field one character per
            # entry; the recommendation service joins and re-splits them (§5.9, §17.10)
            if raw is None:
                product_ids: list[str] = []
            elif isinstance(raw, str):
                product_ids = list(raw)
            else:
                product_ids = raw
            code = _query_str("currencyCode")
            ids = gw.list_recommendations(_query_str("sessionId"), product_ids)
            return jsonify([priced(gw.get_product(pid), code) for pid in ids[:4]])

        return api("/api/recommendations", handler)

    @app.route("/api/shipping", methods=API_METHODS)
    def shipping() -> Any:
        def handler() -> Any:
            items_json = _json_query("itemList")
            if not isinstance(items_json, list):
                raise BadRequest("query parameter itemList must be a JSON array")
            items = [shapes.parse_cart_item(i) for i in items_json]
            raw_address = _json_query("address") if _query_str("address") else None
            if raw_address is None and gw.shipping_url is not None:
                # 3.0.0: the snake_case transform throws on a missing address -> 500
                raise ShippingHttpError("address is required")
            address = shapes.parse_address(raw_address)
            code = _query_str("currencyCode", "USD")
            cost = gw.get_quote(address, items)
            # always converted, even USD -> USD (§17.6)
            return jsonify(shapes.money(gw.convert(cost, code)))

        return api("/api/shipping", handler)

    # --- pages: shells; the demo's pages fetch their data in the browser (see pages.py) ---

    def page(title: str, home: bool = False) -> Response:
        return Response(pages.shell(title, home=home), mimetype="text/html")

    @app.get("/")
    def home() -> Response:
        return page("Astronomy Shop", home=True)

    @app.get("/product/<product_id>")
    def product_page(product_id: str) -> Response:
        return page(f"Product {product_id}")

    @app.get("/cart")
    def cart_page() -> Response:
        return page("Cart")

    @app.get("/cart/checkout/<order_id>")
    def order_page(order_id: str) -> Response:
        return page(f"Order {order_id}")

    return app
