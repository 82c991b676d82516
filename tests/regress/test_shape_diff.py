"""Shapes of hand-built checkout traces, and diffs between versions that differ in known ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories import TraceBuilder, grpc_attrs
from tracebed.model import Trace
from tracebed.regress.diff import Change, ChangeKind, diff_sets, diff_shapes, render_changes
from tracebed.regress.files import ShapeLoadError, load_shapes, write_shape
from tracebed.regress.shape import (
    TraceShape,
    demo_span_name,
    keep_span_name,
    normalise,
    value_type,
)


def checkout_trace(
    *,
    lines: int = 2,
    payment_name: str = "grpc.oteldemo.PaymentService/Charge",
    amount: object = "43.13",
    user_email: bool = False,
    cart_count: bool = True,
    charge_kind: str = "internal",
    email: bool = True,
    quote: bool = False,
    route: str = "/api/checkout",
    ship_status: str = "unset",
    order_id: str = "f3a1c6e2-0000-11ee-be56-0242ac120002",
    trace_id: str = "0af7651916cd43dd8448eb211c80319c",
) -> Trace:
    """A PlaceOrder trace as the demo 2.0.2 emits it, with knobs for known changes."""
    b = TraceBuilder(trace_id)
    root = b.span(
        "frontend",
        "POST /api/checkout",
        "server",
        attrs={"http.method": "POST", "http.route": route, "http.status_code": 200},
    )
    call = b.span(
        "frontend",
        "grpc.oteldemo.CheckoutService/PlaceOrder",
        "client",
        root,
        grpc_attrs("CheckoutService", "PlaceOrder"),
    )
    checkout_attrs = {
        **grpc_attrs("CheckoutService", "PlaceOrder"),
        "app.user.id": "u-1",
        "app.order.id": order_id,
        "app.order.amount": 43.0,
    }
    if user_email:
        checkout_attrs["app.user.email"] = "a@example.com"
    place = b.span(
        "checkout", "oteldemo.CheckoutService/PlaceOrder", "server", call, checkout_attrs
    )
    prep = b.span(
        "checkout",
        "prepareOrderItemsAndShippingQuoteFromCart",
        "internal",
        place,
        {"app.shipping.amount": 12.0, "app.cart.items.count": 3, "app.order.items.count": lines},
    )
    get_cart = b.span(
        "checkout",
        "oteldemo.CartService/GetCart",
        "client",
        prep,
        grpc_attrs("CartService", "GetCart"),
    )
    cart_attrs = {
        "grpc.method": "/oteldemo.CartService/GetCart",
        "grpc.status_code": "0",
        "app.user.id": "u-1",
    }
    if cart_count:
        cart_attrs["app.cart.items.count"] = 3
    cart = b.span("cart", "POST /oteldemo.CartService/GetCart", "server", get_cart, cart_attrs)
    b.span("cart", "HGET", "client", cart, {"db.system": "redis", "db.statement": "HGET u-1"})
    for i in range(lines):
        get = b.span(
            "checkout",
            "oteldemo.ProductCatalogService/GetProduct",
            "client",
            prep,
            grpc_attrs("ProductCatalogService", "GetProduct"),
        )
        b.span(
            "product-catalog",
            "oteldemo.ProductCatalogService/GetProduct",
            "server",
            get,
            {**grpc_attrs("ProductCatalogService", "GetProduct"), "app.product.id": f"P{i}"},
        )
    quote_call = b.span(
        "checkout",
        "oteldemo.ShippingService/GetQuote",
        "client",
        prep,
        grpc_attrs("ShippingService", "GetQuote"),
    )
    ship = b.span(
        "shipping",
        "oteldemo.ShippingService/GetQuote",
        "server",
        quote_call,
        {**grpc_attrs("ShippingService", "GetQuote"), "app.shipping.cost.total": "12.5"},
        status=ship_status,
    )
    if quote:
        post = b.span(
            "shipping", "POST", "client", ship, {"http.method": "POST", "http.status_code": 200}
        )
        b.span(
            "quote",
            "POST /getquote",
            "server",
            post,
            {"http.method": "POST", "http.route": "/getquote"},
        )
    charge_call = b.span(
        "checkout",
        "oteldemo.PaymentService/Charge",
        "client",
        place,
        grpc_attrs("PaymentService", "Charge"),
    )
    pay = b.span(
        "payment",
        payment_name,
        "server",
        charge_call,
        {**grpc_attrs("PaymentService", "Charge"), "app.payment.amount": amount},
    )
    b.span(
        "payment",
        "charge",
        charge_kind,
        pay,
        {"app.payment.card_type": "visa", "app.payment.charged": False},
    )
    if email:
        mail = b.span(
            "checkout",
            "HTTP POST",
            "client",
            place,
            {"http.method": "POST", "http.status_code": 200},
        )
        b.span(
            "email",
            "POST /send_order_confirmation",
            "server",
            mail,
            {"http.method": "POST", "http.status_code": 200, "app.order.id": order_id},
        )
    b.span(
        "checkout",
        "orders publish",
        "producer",
        place,
        {
            "messaging.system": "kafka",
            "messaging.destination.name": "orders",
            "messaging.kafka.message.offset": 7,
        },
    )
    return b.trace()


def kinds(changes: list[Change]) -> list[tuple[ChangeKind, str]]:
    return sorted((c.kind, c.detail) for c in changes)


def test_value_types() -> None:
    assert [
        value_type(v) for v in ("a", 1, 1.5, True, b"x", ["a", "b"], [1, "a"], [], {"k": 1})
    ] == [
        "string",
        "int",
        "double",
        "bool",
        "bytes",
        "array<string>",
        "array<int|string>",
        "array",
        "map",
    ]


def test_shape_drops_ids_timings_and_data_values() -> None:
    shape = normalise(checkout_trace(), "checkout")
    text = json.dumps(shape.to_dict())
    for volatile in ("0af7651916cd43dd8448eb211c80319c", "f3a1c6e2", "u-1", "43.13", "1700000000"):
        assert volatile not in text
    place = shape.roots[0].children[0].children[0]
    assert place.label == "checkout: oteldemo.CheckoutService/PlaceOrder"
    assert place.values == {
        "rpc.grpc.status_code": 0,
        "rpc.method": "PlaceOrder",
        "rpc.service": "oteldemo.CheckoutService",
        "rpc.system": "grpc",
    }
    assert place.attributes["app.order.amount"] == "double"
    assert place.attributes["app.user.id"] == "string"


def test_identical_siblings_merge_with_a_count() -> None:
    shape = normalise(checkout_trace(lines=3), "checkout")
    prep = next(n for n in shape.nodes() if n.name == "prepareOrderItemsAndShippingQuoteFromCart")
    gets = [c for c in prep.children if c.name == "oteldemo.ProductCatalogService/GetProduct"]
    assert len(gets) == 1 and gets[0].count == 3
    assert gets[0].children[0].count == 3 and gets[0].children[0].service == "product-catalog"
    assert shape.span_count == len(checkout_trace(lines=3))


def test_same_flow_twice_has_no_differences() -> None:
    # Different ids, order ids and line counts: all outside the shape.
    base = normalise(checkout_trace(lines=1), "checkout")
    again = normalise(
        checkout_trace(lines=4, order_id="other", trace_id="1" * 32, amount="99.99"), "checkout"
    )
    assert diff_shapes(base, again) == []
    counted = diff_shapes(base, again, counts=True)
    assert {c.kind for c in counted} == {ChangeKind.COUNT_CHANGED}


def test_diff_reports_exactly_the_known_changes() -> None:
    base = normalise(checkout_trace(), "checkout")
    current = normalise(
        checkout_trace(
            payment_name="oteldemo.PaymentService/Charge",  # renamed
            amount=43.13,  # string -> double
            user_email=True,  # attribute added
            cart_count=False,  # attribute removed
            charge_kind="client",  # kind changed
            email=False,  # checkout -> email edge and its spans gone
            quote=True,  # shipping -> quote edge and spans new
            route="/api/checkout/v2",  # a stable value changed
            ship_status="error",  # status changed
        ),
        "checkout",
    )
    changes = diff_shapes(base, current)
    assert kinds(changes) == sorted(
        [
            (ChangeKind.EDGE_REMOVED, "checkout -> email (http)"),
            (ChangeKind.EDGE_ADDED, "shipping -> quote (http)"),
            (
                ChangeKind.SPAN_RENAMED,
                "'grpc.oteldemo.PaymentService/Charge' -> 'oteldemo.PaymentService/Charge' (payment)",
            ),
            (ChangeKind.ATTRIBUTE_RETYPED, "app.payment.amount: string -> double"),
            (ChangeKind.ATTRIBUTE_ADDED, "app.user.email (string)"),
            (ChangeKind.ATTRIBUTE_REMOVED, "app.cart.items.count (int)"),
            (ChangeKind.KIND_CHANGED, "internal -> client"),
            (ChangeKind.SPAN_REMOVED, "checkout: HTTP POST [client] with 1 descendant span(s)"),
            (ChangeKind.SPAN_ADDED, "shipping: POST [client] with 1 descendant span(s)"),
            (ChangeKind.VALUE_CHANGED, "http.route: '/api/checkout' -> '/api/checkout/v2'"),
            (ChangeKind.STATUS_CHANGED, "unset -> error"),
        ]
    )
    where = {c.kind: c.where for c in changes}
    assert where[ChangeKind.KIND_CHANGED].endswith(
        "payment: oteldemo.PaymentService/Charge > payment: charge"
    )
    assert where[ChangeKind.ATTRIBUTE_REMOVED].endswith("cart: POST /oteldemo.CartService/GetCart")
    assert where[ChangeKind.STATUS_CHANGED].endswith("shipping: oteldemo.ShippingService/GetQuote")


def test_values_can_be_ignored() -> None:
    base = normalise(checkout_trace(), "checkout")
    current = normalise(checkout_trace(route="/x"), "checkout")
    assert [c.kind for c in diff_shapes(base, current)] == [ChangeKind.VALUE_CHANGED]
    assert diff_shapes(base, current, values=False) == []


def test_unrelated_leftovers_are_added_and_removed_not_renamed() -> None:
    b1, b2 = TraceBuilder(), TraceBuilder()
    r1 = b1.span(
        "ad", "oteldemo.AdService/GetAds", "server", attrs=grpc_attrs("AdService", "GetAds")
    )
    b1.span("ad", "getRandomAds", "internal", r1, {"app.ads.count": 2})
    b1.span("ad", "getAdsByCategory", "internal", r1, {"app.ads.category": "x", "app.ads.count": 1})
    r2 = b2.span(
        "ad", "oteldemo.AdService/GetAds", "server", attrs=grpc_attrs("AdService", "GetAds")
    )
    b2.span("ad", "getAdsByCategory", "internal", r2, {"app.ads.category": "x", "app.ads.count": 1})
    b2.span("ad", "loadAds", "internal", r2, {"db.system": "h2"})
    b2.span("ad", "pickAds", "internal", r2, {"app.ads.count": 2})
    changes = diff_shapes(normalise(b1.trace(), "ads"), normalise(b2.trace(), "ads"))
    # getRandomAds -> pickAds share their attribute keys: a rename; loadAds is new.
    assert kinds(changes) == sorted(
        [
            (ChangeKind.SPAN_RENAMED, "'getRandomAds' -> 'pickAds' (ad)"),
            (ChangeKind.SPAN_ADDED, "ad: loadAds [internal]"),
        ]
    )


def test_recording_round_trip_and_directory_diff(tmp_path: Path) -> None:
    base_dir, cur_dir = tmp_path / "base", tmp_path / "cur"
    write_shape(normalise(checkout_trace(), "checkout"), base_dir)
    write_shape(normalise(checkout_trace(), "browse_product"), base_dir)
    write_shape(normalise(checkout_trace(user_email=True), "checkout"), cur_dir)
    write_shape(normalise(checkout_trace(), "view_cart"), cur_dir)
    path = base_dir / "checkout.shape.json"
    again = TraceShape.from_dict(json.loads(path.read_text()))
    assert again.to_dict() == normalise(checkout_trace(), "checkout").to_dict()
    # Deterministic bytes: recording the same shape twice gives the same file.
    first = path.read_bytes()
    write_shape(again, base_dir)
    assert path.read_bytes() == first

    changes = diff_sets(load_shapes(base_dir), load_shapes(cur_dir))
    assert kinds(changes) == sorted(
        [
            (ChangeKind.ATTRIBUTE_ADDED, "app.user.email (string)"),
            (ChangeKind.FLOW_REMOVED, "no trace for flow 'browse_product'"),
            (ChangeKind.FLOW_ADDED, "new flow 'view_cart'"),
        ]
    )
    report = render_changes(changes)
    assert "flow checkout: 1 change(s)" in report and "attribute added: app.user.email" in report


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(ShapeLoadError, match="expected a JSON object"):
        load_shapes(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    with pytest.raises(ShapeLoadError, match="neither a shape recording"):
        load_shapes(tmp_path / "other.json")
    (tmp_path / "bad.json").write_text('{"format": "tracebed.shape/1", "spans": 3}')
    with pytest.raises(ShapeLoadError, match="'spans' must be a list"):
        load_shapes(tmp_path / "bad.json")
    with pytest.raises(ShapeLoadError, match="no such file"):
        load_shapes(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ShapeLoadError, match="no .json"):
        load_shapes(empty)


def test_span_names_normalised_as_the_demo_collector_does() -> None:
    assert demo_span_name("GET /api/products/OLJCESPC7Z?currencyCode=CHF") == (
        "GET /api/products/{productId}"
    )
    assert demo_span_name("GET /api/recommendations?productIds=A,B") == "GET /api/recommendations"
    assert demo_span_name("oteldemo.CartService/GetCart") == "oteldemo.CartService/GetCart"
    b = TraceBuilder()
    b.span("frontend", "GET /api/products/L9ECAV7KIM?currencyCode=", "server")
    assert normalise(b.trace()).roots[0].name == "GET /api/products/{productId}"
    kept = normalise(b.trace(), rename=keep_span_name).roots[0].name
    assert kept == "GET /api/products/L9ECAV7KIM?currencyCode="
