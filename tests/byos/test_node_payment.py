"""A real Node payment service (tests/byos/node_payment) against the stand-in's flagd.

It reaches flagd only through the OpenFeature flagd provider over flagd's gRPC evaluation
protocol, so a flag switch that fails the next Charge proves that path end to end.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.byos.support import Flagd, has, new_traceparent, retrying
from tracebed.model.span import SpanKind, StatusCode
from tracebed.model.trace import Trace
from tracebed.otlp.sink import Sink
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

SERVER = "grpc.oteldemo.PaymentService/Charge"
VALID = "4432-8015-6152-0454"  # the demo's Tracetest card (visa)


def request(number: str = VALID, year: int = 2039, month: int = 1) -> demo_pb2.ChargeRequest:
    return demo_pb2.ChargeRequest(
        amount=demo_pb2.Money(currency_code="USD", units=43, nanos=130000000),
        credit_card=demo_pb2.CreditCardInfo(
            credit_card_number=number,
            credit_card_cvv=672,
            credit_card_expiration_year=year,
            credit_card_expiration_month=month,
        ),
    )


@pytest.fixture(scope="module")
def payment(node_payment: str) -> Iterator[demo_pb2_grpc.PaymentServiceStub]:
    with grpc.insecure_channel(node_payment) as channel:
        yield demo_pb2_grpc.PaymentServiceStub(channel)


def charge(
    stub: demo_pb2_grpc.PaymentServiceStub, req: demo_pb2.ChargeRequest, baggage: str = ""
) -> tuple[str, demo_pb2.ChargeResponse | grpc.RpcError]:
    trace_id, metadata = new_traceparent()
    if baggage:
        metadata.append(("baggage", baggage))
    try:
        return trace_id, stub.Charge(req, metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        return trace_id, err


def test_valid_card_is_charged_and_traced(
    payment: demo_pb2_grpc.PaymentServiceStub, sink: Sink, flags: Flagd
) -> None:
    trace_id, reply = charge(payment, request())
    assert isinstance(reply, demo_pb2.ChargeResponse), reply
    assert len(reply.transaction_id) == 36  # a UUID v4

    trace = sink.wait_for_trace(trace_id, until=has(SERVER, "charge"), timeout=30)
    (server,) = trace.named(SERVER, "payment")
    (inner,) = trace.named("charge", "payment")
    assert server.kind is SpanKind.SERVER
    assert server.resource["service.namespace"] == "opentelemetry-demo"
    assert server.resource["service.version"] == "2.0.2"
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.service"] == "oteldemo.PaymentService"
    assert server.attributes["rpc.method"] == "Charge"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["app.payment.amount"] == "43.13"  # a string, as in the demo
    assert inner.kind is SpanKind.INTERNAL
    assert inner.parent_span_id == server.span_id
    assert inner.attributes["app.payment.card_type"] == "visa"
    assert inner.attributes["app.payment.card_valid"] is True
    assert inner.attributes["app.payment.charged"] is True
    assert inner.attributes["app.loyalty.level"] in {"platinum", "gold", "silver", "bronze"}


def test_synthetic_request_is_not_charged(
    payment: demo_pb2_grpc.PaymentServiceStub, sink: Sink, flags: Flagd
) -> None:
    trace_id, reply = charge(payment, request(), baggage="session.id=s-1,synthetic_request=true")
    assert isinstance(reply, demo_pb2.ChargeResponse), reply
    trace = sink.wait_for_trace(trace_id, until=has("charge"), timeout=30)
    assert trace.named("charge")[0].attributes["app.payment.charged"] is False


@pytest.mark.parametrize(
    ("number", "year", "message"),
    [
        ("0000-0000-0000-0000", 2039, "Credit card info is invalid."),
        (
            "3714 496353 98431",
            2039,
            "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted.",
        ),
        (VALID, 2021, "The credit card (ending 0454) expired on 1/2021."),
    ],
)
def test_rejected_card_gives_the_demo_error(
    payment: demo_pb2_grpc.PaymentServiceStub,
    sink: Sink,
    flags: Flagd,
    number: str,
    year: int,
    message: str,
) -> None:
    trace_id, reply = charge(payment, request(number, year))
    assert isinstance(reply, grpc.RpcError), reply
    assert reply.code() is grpc.StatusCode.UNKNOWN
    assert reply.details() == message

    trace = sink.wait_for_trace(trace_id, until=has(SERVER), timeout=30)
    (server,) = trace.named(SERVER)
    assert server.status.code is StatusCode.ERROR
    assert server.attributes["grpc.error_message"] == message
    assert [e.name for e in server.events] == ["exception"]
    # 2.0.2 never ends `charge` on these errors, so it is never exported; it would have
    # ended (and been queued for export) before the server span.
    assert not trace.named("charge"), trace


def test_payment_failure_flag_reaches_the_service_over_grpc(
    payment: demo_pb2_grpc.PaymentServiceStub, sink: Sink, flags: Flagd
) -> None:
    trace_id, reply = charge(payment, request())
    assert isinstance(reply, demo_pb2.ChargeResponse), reply  # off: charged

    flags.set("paymentFailure", "100%")
    # The provider caches flag values and empties its cache on flagd's configuration_change
    # event; retry until that event has arrived (bounded).
    for attempt in retrying():
        with attempt:
            trace_id, reply = charge(payment, request())
            assert isinstance(reply, grpc.RpcError), "paymentFailure=100% not seen yet"
    assert reply.code() is grpc.StatusCode.UNKNOWN
    expected = "Payment request failed. Invalid token. app.loyalty.level=gold"
    assert reply.details() == expected
    resolve_float = "grpc.flagd.evaluation.v1.Service/ResolveFloat"
    trace: Trace = sink.wait_for_trace(
        trace_id, until=has(SERVER, "charge", resolve_float), timeout=30
    )
    (server,) = trace.named(SERVER)
    (inner,) = trace.named("charge")
    assert inner.attributes["app.loyalty.level"] == "gold"  # ended on this path, so exported
    # The first evaluation after the change missed the provider's cache: a flagd gRPC call.
    # (`charge` is started without being made current, so the call hangs off the server span.)
    (resolve,) = trace.named(resolve_float)
    assert resolve.kind is SpanKind.CLIENT
    assert resolve.parent_span_id == server.span_id
    assert server.attributes["grpc.error_message"] == expected

    flags.set("paymentFailure", "off")
    for attempt in retrying():
        with attempt:
            _, reply = charge(payment, request())
            assert isinstance(reply, demo_pb2.ChargeResponse), "paymentFailure=off not seen yet"
