"""Hand-built traces shaped as the demo 2.0.2 emits them (demo-facts §5, §6, §9)."""

from __future__ import annotations

from typing import Any

from tests.factories import TraceBuilder, grpc_attrs
from tracebed.model import Trace

ORDER_ID = "4c7d8a3e-8f2b-11ee-b9d1-0242ac120002"  # UUID v1, as checkout makes them
TRACKING_ID = "9b2f6c1e-3d4a-4b5c-8d7e-1f2a3b4c5d6e"  # UUID v4


def checkout_2_0_2(
    *,
    lines: int = 2,
    drop: tuple[tuple[str, str], ...] = (),
    override: dict[tuple[str, str], Any] | None = None,
    payment_error: str | None = None,
    extra_call: bool = False,
    without_email: bool = False,
    trace_id: str = "4bf92f3577b34da6a3ce929d0e0e4736",
) -> Trace:
    """`POST /api/checkout` -> PlaceOrder and everything under it.

    `drop`: (span name, attribute key) pairs to leave out; `override`: (span name, key) -> value.
    """
    override = override or {}

    def attrs(span: str, values: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in values.items() if (span, k) not in drop}
        out.update({k: v for (s, k), v in override.items() if s == span})
        return out

    b = TraceBuilder(trace_id)
    root = b.span(
        "frontend",
        "POST /api/checkout",
        "server",
        attrs=attrs("POST /api/checkout", {"http.method": "POST", "http.status_code": 200}),
    )
    call = b.span(
        "frontend",
        "grpc.oteldemo.CheckoutService/PlaceOrder",
        "client",
        root,
        grpc_attrs("CheckoutService", "PlaceOrder"),
    )
    place_name = "oteldemo.CheckoutService/PlaceOrder"
    place = b.span(
        "checkout",
        place_name,
        "server",
        call,
        attrs(
            place_name,
            {
                **grpc_attrs("CheckoutService", "PlaceOrder"),
                "app.user.id": "b3a9e7a4-8f2b-11ee-b9d1-0242ac120002",
                "app.user.currency": "USD",
                "app.order.id": ORDER_ID,
                "app.shipping.tracking.id": TRACKING_ID,
                "app.shipping.amount": 17.0,
                "app.order.amount": 219.0,
                "app.order.items.count": lines,
            },
        ),
    )
    for event in ("prepared", "charged", "shipped"):
        b.event(place, event)
    prep_name = "prepareOrderItemsAndShippingQuoteFromCart"
    prep = b.span(
        "checkout",
        prep_name,
        "internal",
        place,
        attrs(
            prep_name,
            {
                "app.shipping.amount": 17.0,
                "app.cart.items.count": 3,
                "app.order.items.count": lines,
            },
        ),
    )

    def grpc_call(parent: str, service: str, method: str) -> str:
        return b.span(
            "checkout",
            f"oteldemo.{service}/{method}",
            "client",
            parent,
            attrs(f"oteldemo.{service}/{method}", grpc_attrs(service, method)),
        )

    get_cart = grpc_call(prep, "CartService", "GetCart")
    cart = b.span(
        "cart",
        "POST /oteldemo.CartService/GetCart",
        "server",
        get_cart,
        {
            "grpc.method": "/oteldemo.CartService/GetCart",
            "grpc.status_code": 0,
            "app.user.id": "b3a9e7a4",
            "app.cart.items.count": 3,
        },
    )
    b.event(cart, "Fetch cart")
    b.span(
        "cart",
        "HGET",
        "client",
        cart,
        {"db.system": "redis", "db.statement": "HGET b3a9e7a4", "server.address": "valkey-cart"},
    )
    for i in range(lines):
        get = grpc_call(prep, "ProductCatalogService", "GetProduct")
        b.span(
            "product-catalog",
            "oteldemo.ProductCatalogService/GetProduct",
            "server",
            get,
            {
                **grpc_attrs("ProductCatalogService", "GetProduct"),
                "app.product.id": ["OLJCESPC7Z", "66VCHSJNUP", "L9ECAV7KIM"][i % 3],
                "app.product.name": "National Park Foundation Explorascope",
            },
        )
        conv = grpc_call(prep, "CurrencyService", "Convert")
        b.span(
            "currency",
            "Currency/Convert",
            "server",
            conv,
            {
                **grpc_attrs("CurrencyService", "Convert"),
                "app.currency.conversion.from": "USD",
                "app.currency.conversion.to": "USD",
            },
            status="ok",
        )
    quote_call = grpc_call(prep, "ShippingService", "GetQuote")
    ship = b.span(
        "shipping",
        "oteldemo.ShippingService/GetQuote",
        "server",
        quote_call,
        {
            **grpc_attrs("ShippingService", "GetQuote"),
            "app.shipping.zip_code": "94043",
            "app.shipping.items.count": 3,
            "app.shipping.cost.total": "17.5",
        },
    )
    b.event(ship, "Processing get quote request")
    b.event(ship, "Received Quote")
    post = b.span("shipping", "POST", "client", ship, {"http.request.method": "POST"})
    quote = b.span("quote", "POST /getquote", "server", post, {"http.request.method": "POST"})
    b.event(quote, "Received get quote request, processing it")
    b.event(quote, "Quote processed, response sent back")
    b.span(
        "quote",
        "calculate-quote",
        "internal",
        quote,
        {"app.quote.items.count": 3, "app.quote.cost.total": 17.55},
    )
    conv = grpc_call(prep, "CurrencyService", "Convert")
    b.span(
        "currency",
        "Currency/Convert",
        "server",
        conv,
        {
            **grpc_attrs("CurrencyService", "Convert"),
            "app.currency.conversion.from": "USD",
            "app.currency.conversion.to": "USD",
        },
        status="ok",
    )
    charge = grpc_call(place, "PaymentService", "Charge")
    pay_name = "grpc.oteldemo.PaymentService/Charge"
    pay_attrs = attrs(
        pay_name, {**grpc_attrs("PaymentService", "Charge"), "app.payment.amount": "219.00"}
    )
    if payment_error:
        pay_attrs.update(
            {
                "rpc.grpc.status_code": 2,
                "grpc.error_name": "Error",
                "grpc.error_message": payment_error,
            }
        )
    pay = b.span(
        "payment",
        pay_name,
        "server",
        charge,
        pay_attrs,
        status="error" if payment_error else "unset",
        message=payment_error or "",
    )
    if payment_error:
        b.event(pay, "exception", {"exception.message": payment_error})
    else:
        b.span(
            "payment",
            "charge",
            "internal",
            pay,
            attrs(
                "charge",
                {
                    "app.payment.card_type": "visa",
                    "app.payment.card_valid": True,
                    "app.loyalty.level": "gold",
                    "app.payment.charged": False,
                },
            ),
        )
    ship_order = grpc_call(place, "ShippingService", "ShipOrder")
    shipped = b.span(
        "shipping",
        "oteldemo.ShippingService/ShipOrder",
        "server",
        ship_order,
        {**grpc_attrs("ShippingService", "ShipOrder"), "app.shipping.tracking.id": TRACKING_ID},
    )
    b.event(shipped, "Processing shipping order request")
    b.event(shipped, "Shipping tracking id created, response sent back")
    empty = grpc_call(place, "CartService", "EmptyCart")
    emptied = b.span(
        "cart",
        "POST /oteldemo.CartService/EmptyCart",
        "server",
        empty,
        {
            "grpc.method": "/oteldemo.CartService/EmptyCart",
            "grpc.status_code": 0,
            "app.user.id": "b3",
        },
    )
    b.event(emptied, "Empty cart")
    for cmd in ("HMSET", "EXPIRE"):
        b.span("cart", cmd, "client", emptied, {"db.system": "redis", "db.statement": f"{cmd} b3"})
    if not without_email:
        mail = b.span(
            "checkout",
            "HTTP POST",
            "client",
            place,
            {"http.method": "POST", "http.status_code": 200},
        )
        email = b.span(
            "email",
            "POST /send_order_confirmation",
            "server",
            mail,
            {"http.method": "POST", "http.status_code": 200, "app.order.id": ORDER_ID},
        )
        send = b.span(
            "email", "send_email", "internal", email, {"app.email.recipient": "larry@example.com"}
        )
        b.span("email", "sinatra.render_template", "internal", send)
    if extra_call:
        # Something new: checkout asks recommendation (not in its contract).
        rec = grpc_call(place, "RecommendationService", "ListRecommendations")
        b.span(
            "recommendation",
            "/oteldemo.RecommendationService/ListRecommendations",
            "server",
            rec,
            grpc_attrs("RecommendationService", "ListRecommendations"),
        )
    publish = b.span(
        "checkout",
        "orders publish",
        "producer",
        place,
        {
            "peer.service": "kafka",
            "network.transport": "tcp",
            "messaging.system": "kafka",
            "messaging.destination.name": "orders",
            "messaging.operation": "publish",
            "messaging.kafka.destination.partition": 0,
            "messaging.kafka.producer.success": True,
            "messaging.kafka.producer.duration_ms": 2,
            "messaging.kafka.message.offset": 41,
        },
    )
    b.span(
        "accounting",
        "orders receive",
        "consumer",
        publish,
        {"messaging.system": "kafka", "messaging.destination.name": "orders"},
    )
    b.span(
        "fraud-detection",
        "orders process",
        "consumer",
        publish,
        {
            "messaging.system": "kafka",
            "messaging.destination.name": "orders",
            "messaging.operation": "process",
        },
    )
    # The frontend then looks up each ordered product for the response (demo-facts §6.2).
    for i in range(lines):
        get = b.span(
            "frontend",
            "grpc.oteldemo.ProductCatalogService/GetProduct",
            "client",
            root,
            grpc_attrs("ProductCatalogService", "GetProduct"),
        )
        b.span(
            "product-catalog",
            "oteldemo.ProductCatalogService/GetProduct",
            "server",
            get,
            {
                **grpc_attrs("ProductCatalogService", "GetProduct"),
                "app.product.id": ["OLJCESPC7Z", "66VCHSJNUP", "L9ECAV7KIM"][i % 3],
                "app.product.name": "National Park Foundation Explorascope",
            },
        )
    return b.trace()
