"""Hand-built traces shaped like the demo's checkout, for report tests."""

from __future__ import annotations

from tests.factories import T0, TraceBuilder, make_span
from tracebed.model import Event, Link, Scope, Span, SpanKind, StatusCode, Trace

__all__ = ["T0", "checkout_trace", "report_builder", "span_with_everything"]


def report_builder(trace_id: str | None = None) -> TraceBuilder:
    """Spans as the reference stack's Python services send them (SDK language, scope)."""
    return TraceBuilder(
        trace_id or "3c8d3a9b1f0e4c2d9a7b6e5f4d3c2b1a",
        resource={"telemetry.sdk.language": "python"},
        scope=lambda service: Scope(f"tracebed.reference.{service}", "0.1.0"),
    )


def checkout_trace(*, payment_error: bool = False, trace_id: str | None = None) -> Trace:
    """proxy -> frontend -> checkout -> cart, catalog, currency, shipping -> quote, payment,
    email, Kafka -> accounting and fraud-detection; optionally with payment failing."""
    m = report_builder(trace_id)
    rpc = SpanKind.CLIENT
    proxy = m.span(
        "frontend-proxy",
        "ingress",
        SpanKind.SERVER,
        None,
        start_ms=0,
        duration_ms=120,
        http__request__method="POST",
        url__path="/api/checkout",
        http__response__status_code=200,
    )
    fe = m.span(
        "frontend",
        "POST /api/checkout",
        SpanKind.SERVER,
        proxy,
        start_ms=2,
        duration_ms=115,
        http__route="/api/checkout",
    )
    call = m.span(
        "frontend",
        "oteldemo.CheckoutService/PlaceOrder",
        rpc,
        fe,
        start_ms=3,
        duration_ms=110,
        rpc__system="grpc",
        rpc__service="oteldemo.CheckoutService",
        rpc__method="PlaceOrder",
    )
    co = m.span(
        "checkout",
        "oteldemo.CheckoutService/PlaceOrder",
        SpanKind.SERVER,
        call,
        start_ms=4,
        duration_ms=105,
        rpc__system="grpc",
        app__user__id="u-1",
        app__order__items__count=2,
    )
    for i, (svc, method) in enumerate(
        [("cart", "GetCart"), ("product-catalog", "GetProduct"), ("currency", "Convert")]
    ):
        c = m.span(
            "checkout",
            f"oteldemo.X/{method}",
            rpc,
            co,
            start_ms=5 + i * 6,
            duration_ms=5,
            rpc__system="grpc",
        )
        m.span(
            svc,
            f"oteldemo.X/{method}",
            SpanKind.SERVER,
            c,
            start_ms=5.5 + i * 6,
            duration_ms=4,
            rpc__system="grpc",
        )
    ship = m.span(
        "checkout",
        "oteldemo.ShippingService/GetQuote",
        rpc,
        co,
        start_ms=25,
        duration_ms=12,
        rpc__system="grpc",
    )
    ship_s = m.span(
        "shipping",
        "oteldemo.ShippingService/GetQuote",
        SpanKind.SERVER,
        ship,
        start_ms=25.5,
        duration_ms=11,
        rpc__system="grpc",
    )
    q = m.span(
        "shipping", "POST", rpc, ship_s, start_ms=26, duration_ms=8, http__request__method="POST"
    )
    m.span(
        "quote",
        "calculate-quote",
        SpanKind.SERVER,
        q,
        start_ms=27,
        duration_ms=6,
        http__request__method="POST",
        app__quote__cost__total=12.5,
    )
    pay = m.span(
        "checkout",
        "oteldemo.PaymentService/Charge",
        rpc,
        co,
        start_ms=40,
        duration_ms=20,
        rpc__system="grpc",
        error="payment failed" if payment_error else None,
    )
    m.span(
        "payment",
        "charge",
        SpanKind.SERVER,
        pay,
        start_ms=41,
        duration_ms=18,
        rpc__system="grpc",
        app__payment__card_type="visa",
        app__loyalty__level="gold",
        error="Invalid token. app.loyalty.level=gold" if payment_error else None,
    )
    if payment_error:
        return m.trace()
    em = m.span(
        "checkout",
        "POST /send_order_confirmation",
        rpc,
        co,
        start_ms=62,
        duration_ms=10,
        http__request__method="POST",
    )
    m.span(
        "email",
        "send_email",
        SpanKind.SERVER,
        em,
        start_ms=63,
        duration_ms=8,
        app__email__recipient="a@b.c",
    )
    prod = m.span(
        "checkout",
        "orders publish",
        SpanKind.PRODUCER,
        co,
        start_ms=75,
        duration_ms=3,
        messaging__system="kafka",
        messaging__destination__name="orders",
    )
    m.span(
        "accounting",
        "orders receive",
        SpanKind.CONSUMER,
        prod,
        start_ms=90,
        duration_ms=5,
        messaging__system="kafka",
    )
    m.span(
        "fraud-detection",
        "orders receive",
        SpanKind.CONSUMER,
        prod,
        start_ms=92,
        duration_ms=6,
        messaging__system="kafka",
        tags=["a", 1, True],
        raw=b"\x00\x01",
        nested={"k": [1.5]},
    )
    return m.trace()


def span_with_everything(trace_id: str = "0af7651916cd43dd8448eb211c80319c") -> Span:
    """One span using every field and every AnyValue type."""
    return make_span(
        "b7ad6b7169203331",
        "00f067aa0ba902b7",
        trace_id=trace_id,
        name="with everything",
        kind=SpanKind.PRODUCER,
        start_ns=T0,
        end_ns=T0 + 1234,
        status=StatusCode.ERROR,
        message="it broke",
        attributes={
            "s": "text ü </script>",
            "b": False,
            "i": -(2**63),
            "big": 2**63 - 1,
            "d": 0.25,
            "bytes": b"\xff\x00",
            "list": ["a", 1, [2.5, None]],
            "map": {"inner": {"x": True}},
            "empty": None,
        },
        events=(Event("exception", T0 + 10, {"exception.message": "boom"}),),
        links=(Link("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", {"why": "batch"}),),
        service="checkout",
        resource={"service.version": "2.0.2"},
        scope=Scope("go.opentelemetry.io/otel", "1.34.0"),
    )
