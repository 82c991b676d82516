"""payment: the demo's four tracetest cases, messages verbatim, paymentFailure."""

from __future__ import annotations

import uuid

import grpc
import pytest

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, FlagService, has, new_traceparent, one

NAME = "grpc.oteldemo.PaymentService/Charge"


def _charge(number: str, year: int = 2039, month: int = 1) -> demo_pb2.ChargeRequest:
    return demo_pb2.ChargeRequest(
        amount=demo_pb2.Money(currency_code="USD", units=43, nanos=130000000),
        credit_card=demo_pb2.CreditCardInfo(
            credit_card_number=number,
            credit_card_cvv=672,
            credit_card_expiration_year=year,
            credit_card_expiration_month=month,
        ),
    )


def test_valid_card_is_charged(backends: Backends) -> None:
    stub = backends.stub("payment", demo_pb2_grpc.PaymentServiceStub)
    trace_id, md = new_traceparent()
    md.append(("baggage", "synthetic_request=true"))
    tx = stub.Charge(_charge("4432-8015-6152-0454"), metadata=md).transaction_id
    assert uuid.UUID(tx).version == 4
    trace = backends.wait_trace(trace_id, has(NAME, "charge"))
    server = one(trace, NAME)
    assert server.kind is SpanKind.SERVER and server.service == "payment"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["app.payment.amount"] == "43.13"
    charge = one(trace, "charge")
    assert charge.parent_span_id == server.span_id
    assert charge.attributes["app.payment.card_type"] == "visa"
    assert charge.attributes["app.payment.card_valid"] is True
    assert charge.attributes["app.payment.charged"] is False  # synthetic request
    assert charge.attributes["app.loyalty.level"] in {"platinum", "gold", "silver", "bronze"}


@pytest.mark.parametrize(
    ("number", "year", "message"),
    [
        ("0000-0000-0000-0000", 2039, "Credit card info is invalid."),
        (
            "3714 496353 98431",
            2039,
            "Sorry, we cannot process amex credit cards. Only VISA or MasterCard is accepted.",
        ),
        ("4432-8015-6152-0454", 2021, "The credit card (ending 0454) expired on 1/2021."),
        (
            "4026-0000-0000-0002",
            2039,
            "Sorry, we cannot process visa_electron credit cards. "
            "Only VISA or MasterCard is accepted.",
        ),
    ],
)
def test_rejected_cards(backends: Backends, number: str, year: int, message: str) -> None:
    stub = backends.stub("payment", demo_pb2_grpc.PaymentServiceStub)
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.Charge(_charge(number, year), metadata=md)
    assert err.value.code() is grpc.StatusCode.UNKNOWN  # tracetest: response status 2
    assert err.value.details() == message
    trace = backends.wait_trace(trace_id, has(NAME))
    span = one(trace, NAME)
    assert span.attributes["grpc.error_message"] == message
    assert span.attributes["grpc.error_name"] == "Error"
    assert span.attributes["rpc.grpc.status_code"] == 2
    assert span.status.code is StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)
    # The demo never ends `charge` on these errors, so it is never exported.
    assert not trace.named("charge")


def test_payment_failure_flag(backends: Backends, flags: FlagService) -> None:
    stub = backends.stub("payment", demo_pb2_grpc.PaymentServiceStub)
    flags.set("paymentFailure", "100%")
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.Charge(_charge("4432-8015-6152-0454"), metadata=md)
    assert err.value.code() is grpc.StatusCode.UNKNOWN
    assert err.value.details() == "Payment request failed. Invalid token. app.loyalty.level=gold"
    charge = one(backends.wait_trace(trace_id, has(NAME, "charge")), "charge")
    assert charge.attributes["app.loyalty.level"] == "gold"
    # The "50%" variant fails some but not all of 60 charges (P(all same) ~ 2e-18).
    flags.set("paymentFailure", "50%")
    outcomes = set()
    for _ in range(60):
        try:
            stub.Charge(_charge("4432-8015-6152-0454"))
            outcomes.add("ok")
        except grpc.RpcError:
            outcomes.add("failed")
    assert outcomes == {"ok", "failed"}
