"""Hand-built traces shaped like the demo's checkout, for report tests."""

from __future__ import annotations

import itertools
import random

from tracebed.model import Event, Link, Scope, Span, SpanKind, Status, StatusCode, Trace

T0 = 1_763_000_000_000_000_000  # a 2025 wall-clock time in ns: big enough to need int64 strings
MS = 1_000_000


class SpanMaker:
    def __init__(self, trace_id: str | None = None, seed: int = 7):
        rng = random.Random(seed)
        self.trace_id = trace_id or f"{rng.getrandbits(128):032x}"
        self._ids = (f"{rng.getrandbits(64) | 1:016x}" for _ in itertools.count())
        self.spans: list[Span] = []

    def add(
        self,
        service: str,
        name: str,
        parent: Span | None,
        start_ms: float,
        dur_ms: float,
        kind: SpanKind = SpanKind.INTERNAL,
        error: str | None = None,
        **attributes: object,
    ) -> Span:
        span = Span(
            trace_id=self.trace_id,
            span_id=next(self._ids),
            parent_span_id=parent.span_id if parent else "",
            name=name,
            kind=kind,
            start_ns=T0 + int(start_ms * MS),
            end_ns=T0 + int((start_ms + dur_ms) * MS),
            status=Status(StatusCode.ERROR, error) if error else Status(),
            attributes={k.replace("__", "."): v for k, v in attributes.items()},
            resource={"service.name": service, "telemetry.sdk.language": "python"},
            scope=Scope(f"tracebed.reference.{service}", "0.1.0"),
        )
        self.spans.append(span)
        return span

    def trace(self) -> Trace:
        return Trace(self.trace_id, self.spans)


def checkout_trace(*, payment_error: bool = False, trace_id: str | None = None) -> Trace:
    """proxy -> frontend -> checkout -> cart, catalog, currency, shipping -> quote, payment,
    email, Kafka -> accounting and fraud-detection; optionally with payment failing."""
    m = SpanMaker(trace_id)
    rpc = SpanKind.CLIENT
    proxy = m.add(
        "frontend-proxy",
        "ingress",
        None,
        0,
        120,
        SpanKind.SERVER,
        http__request__method="POST",
        url__path="/api/checkout",
        http__response__status_code=200,
    )
    fe = m.add(
        "frontend",
        "POST /api/checkout",
        proxy,
        2,
        115,
        SpanKind.SERVER,
        http__route="/api/checkout",
    )
    call = m.add(
        "frontend",
        "oteldemo.CheckoutService/PlaceOrder",
        fe,
        3,
        110,
        rpc,
        rpc__system="grpc",
        rpc__service="oteldemo.CheckoutService",
        rpc__method="PlaceOrder",
    )
    co = m.add(
        "checkout",
        "oteldemo.CheckoutService/PlaceOrder",
        call,
        4,
        105,
        SpanKind.SERVER,
        rpc__system="grpc",
        app__user__id="u-1",
        app__order__items__count=2,
    )
    for i, (svc, method) in enumerate(
        [("cart", "GetCart"), ("product-catalog", "GetProduct"), ("currency", "Convert")]
    ):
        c = m.add("checkout", f"oteldemo.X/{method}", co, 5 + i * 6, 5, rpc, rpc__system="grpc")
        m.add(svc, f"oteldemo.X/{method}", c, 5.5 + i * 6, 4, SpanKind.SERVER, rpc__system="grpc")
    ship = m.add(
        "checkout", "oteldemo.ShippingService/GetQuote", co, 25, 12, rpc, rpc__system="grpc"
    )
    ship_s = m.add(
        "shipping",
        "oteldemo.ShippingService/GetQuote",
        ship,
        25.5,
        11,
        SpanKind.SERVER,
        rpc__system="grpc",
    )
    q = m.add("shipping", "POST", ship_s, 26, 8, rpc, http__request__method="POST")
    m.add(
        "quote",
        "calculate-quote",
        q,
        27,
        6,
        SpanKind.SERVER,
        http__request__method="POST",
        app__quote__cost__total=12.5,
    )
    pay = m.add(
        "checkout",
        "oteldemo.PaymentService/Charge",
        co,
        40,
        20,
        rpc,
        rpc__system="grpc",
        error="payment failed" if payment_error else None,
    )
    m.add(
        "payment",
        "charge",
        pay,
        41,
        18,
        SpanKind.SERVER,
        rpc__system="grpc",
        app__payment__card_type="visa",
        app__loyalty__level="gold",
        error="Invalid token. app.loyalty.level=gold" if payment_error else None,
    )
    if payment_error:
        return m.trace()
    em = m.add(
        "checkout", "POST /send_order_confirmation", co, 62, 10, rpc, http__request__method="POST"
    )
    m.add("email", "send_email", em, 63, 8, SpanKind.SERVER, app__email__recipient="a@b.c")
    prod = m.add(
        "checkout",
        "orders publish",
        co,
        75,
        3,
        SpanKind.PRODUCER,
        messaging__system="kafka",
        messaging__destination__name="orders",
    )
    m.add("accounting", "orders receive", prod, 90, 5, SpanKind.CONSUMER, messaging__system="kafka")
    m.add(
        "fraud-detection",
        "orders receive",
        prod,
        92,
        6,
        SpanKind.CONSUMER,
        messaging__system="kafka",
        tags=["a", 1, True],
        raw=b"\x00\x01",
        nested={"k": [1.5]},
    )
    return m.trace()


def span_with_everything(trace_id: str = "0af7651916cd43dd8448eb211c80319c") -> Span:
    """One span using every field and every AnyValue type."""
    return Span(
        trace_id=trace_id,
        span_id="b7ad6b7169203331",
        parent_span_id="00f067aa0ba902b7",
        name="with everything",
        kind=SpanKind.PRODUCER,
        start_ns=T0,
        end_ns=T0 + 1234,
        status=Status(StatusCode.ERROR, "it broke"),
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
        resource={"service.name": "checkout", "service.version": "2.0.2"},
        scope=Scope("go.opentelemetry.io/otel", "1.34.0"),
    )
