"""payment: the demo's Node.js PaymentService (card rules, messages and status codes verbatim)."""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
import uuid

import grpc
from opentelemetry import baggage, context, trace

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

# simple-card-validator's patterns, checked in this order: (type, prefix regex, lengths).
CARD_TYPES: list[tuple[str, re.Pattern[str], tuple[int, ...]]] = [
    ("amex", re.compile(r"^3[47]"), (15,)),
    ("diners_club_carte_blanche", re.compile(r"^30[0-5]"), (14,)),
    ("diners_club_international", re.compile(r"^36"), (14,)),
    ("jcb", re.compile(r"^35(2[89]|[3-8]\d)"), (16,)),
    ("laser", re.compile(r"^(6304|670[69]|6771)"), (16, 17, 18, 19)),
    ("visa_electron", re.compile(r"^(4026|417500|4508|4844|4913|4917)"), (16,)),
    ("visa", re.compile(r"^4"), (16,)),
    ("mastercard", re.compile(r"^5[1-5]"), (16,)),
    ("maestro", re.compile(r"^(5018|5020|5038|6304|6759|676[1-3])"), tuple(range(12, 20))),
    (
        "discover",
        re.compile(r"^(6011|622(12[6-9]|1[3-9]\d|[2-8]\d{2}|9[0-1]\d|92[0-5])|64[4-9]|65)"),
        (16,),
    ),
]
LOYALTY_LEVELS = ("platinum", "gold", "silver", "bronze")


def luhn(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_info(raw: str) -> tuple[str, bool]:
    """(card_type, valid) as simple-card-validator reports them."""
    number = re.sub(r"[\s-]", "", raw)
    for name, pattern, lengths in CARD_TYPES:
        if pattern.match(number):
            return name, luhn(number) and len(number) in lengths
    return "unknown", False


def js_amount(units: int, nanos: int) -> str:
    """parseFloat(`${units}.${nanos}`).toFixed(2): 43 / 50000000 gives "43.50"."""
    match = re.match(r"^[+-]?(\d+(\.\d*)?)", f"{units}.{nanos}")
    value = float(match.group(0)) if match else float("nan")
    return f"{value:.2f}"


class PaymentService(demo_pb2_grpc.PaymentServiceServicer):
    def __init__(self, flags: Flags, rng: random.Random | None = None) -> None:
        self.flags = flags
        self.rng = rng or random.Random()
        self.tracer = trace.get_tracer("payment")

    def Charge(
        self, request: demo_pb2.ChargeRequest, ctx: grpc.ServicerContext
    ) -> demo_pb2.ChargeResponse:
        amount = request.amount
        telemetry.log("charge_received")
        v3 = versions.is_v3()
        # 3.0.0's amount is right to the cent; 2.0.2 parses `${units}.${nanos}`
        text = (
            f"{amount.units + amount.nanos / 1e9:.2f}"
            if v3
            else js_amount(amount.units, amount.nanos)
        )
        trace.get_current_span().set_attribute("app.payment.amount", text)
        if v3:  # 3.0.0 always ends `charge`, with the error recorded
            with self.tracer.start_as_current_span(
                "charge", record_exception=True, set_status_on_exception=True
            ) as span:
                return self._charge(span, request, v3)
        # The demo 2.0.2 never ends `charge` on the validation errors, so it is never
        # exported then: start it by hand and end it only where the demo does.
        span = self.tracer.start_span("charge")
        token = context.attach(trace.set_span_in_context(span))
        try:
            response = self._charge(span, request, v3)
            span.end()
            return response
        finally:
            context.detach(token)

    def _charge(
        self, span: trace.Span, request: demo_pb2.ChargeRequest, v3: bool
    ) -> demo_pb2.ChargeResponse:
        """The card checks and the charge, inside ``charge`` (the span ``Charge`` started)."""
        amount, card = request.amount, request.credit_card
        if v3:
            synthetic = versions.synthetic(baggage.get_baggage("synthetic_request"))
            if synthetic:
                span.set_attribute("user_agent.synthetic.type", "test")
        else:
            synthetic = baggage.get_baggage("synthetic_request") == "true"
        failure = self.flags.number("paymentFailure", 0.0)
        if failure > 0 and self.rng.random() < failure:
            span.set_attribute("app.loyalty.level", "gold")
            if not v3:
                span.end()  # the one error after which 2.0.2 ends `charge`
            # the message names the attribute as the release's wire does
            loyalty_key = _wire_name("app.loyalty.level")
            raise RpcError(
                grpc.StatusCode.UNKNOWN,
                f"Payment request failed. Invalid token. {loyalty_key}=gold",
            )
        card_type, valid = card_info(card.credit_card_number)
        span.set_attribute("app.payment.card_type", card_type)
        span.set_attribute("app.payment.card_valid", valid)
        loyalty = self.rng.choice(LOYALTY_LEVELS)
        span.set_attribute("app.loyalty.level", loyalty)
        if not valid:
            raise RpcError(grpc.StatusCode.UNKNOWN, "Credit card info is invalid.")
        if card_type not in ("visa", "mastercard"):
            raise RpcError(
                grpc.StatusCode.UNKNOWN,
                f"Sorry, we cannot process {card_type} credit cards. "
                "Only VISA or MasterCard is accepted.",
            )
        today = dt.date.today()
        year, month = card.credit_card_expiration_year, card.credit_card_expiration_month
        if today.year * 12 + today.month > year * 12 + month:
            last4 = re.sub(r"[\s-]", "", card.credit_card_number)[-4:]
            raise RpcError(
                grpc.StatusCode.UNKNOWN,
                f"The credit card (ending {last4}) expired on {month}/{year}.",
            )
        user = baggage.get_baggage("enduser.id")
        if user and v3:
            span.set_attribute("enduser.id", str(user))  # new at 3.0.0
        span.set_attribute("app.payment.charged", not synthetic)
        transaction_id = str(uuid.uuid4())
        telemetry.log(
            "transaction_complete",
            transaction_id=transaction_id,
            card_type=card_type,
            last_four=re.sub(r"[\s-]", "", card.credit_card_number)[-4:],
            amount={
                "units": amount.units,
                "nanos": amount.nanos,
                "currencyCode": amount.currency_code,
            },
            loyalty_level=loyalty,
        )
        telemetry.count("transactions", currency=amount.currency_code)
        return demo_pb2.ChargeResponse(transaction_id=transaction_id)


def _wire_name(key: str) -> str:
    """``key`` as the active release names it (``common.renames`` renames span attributes)."""
    return versions.ATTRIBUTE_RENAMES[versions.current()].get(key) or key


def build() -> list[Registration]:
    service = PaymentService(Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_PaymentServiceServicer_to_server(service, s)]


def main() -> int:
    return run_grpc("payment", Style.NODE, "PAYMENT_PORT", build)


if __name__ == "__main__":
    sys.exit(main())
