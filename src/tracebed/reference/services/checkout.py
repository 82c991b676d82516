"""checkout: the demo's Go CheckoutService (PlaceOrder in the demo's order of calls)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import requests
from confluent_kafka import KafkaException, Producer
from google.protobuf.message import Message
from opentelemetry import baggage, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import grpc_target, http_base, require
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.http import post_json
from tracebed.reference.common.kafka import carrier_to_headers, ensure_topic
from tracebed.reference.common.rpc_tracing import RpcError, Style, traced_channel
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

log = logging.getLogger("checkout")

NANOS_MOD = 1_000_000_000
#: Where the paymentUnreachable flag sends Charge.
BAD_PAYMENT_ADDR = "badAddress:50051"
#: Read timeout of the 3.0.0 shipping calls. The demo's otelhttp.Post (Go's default client)
#: has none, so an intlShippingSlowdown sleep (up to 10 s) only delays the order; the bound
#: is just so a stuck shipping cannot hold a worker forever.
SHIPPING_TIMEOUT_S = 60.0


class MoneyError(ValueError):
    pass


def _valid(m: demo_pb2.Money) -> bool:
    same_sign = (m.units >= 0 and m.nanos >= 0) or (m.units <= 0 and m.nanos <= 0)
    return same_sign and -999_999_999 <= m.nanos <= 999_999_999


def money_sum(left: demo_pb2.Money, right: demo_pb2.Money) -> demo_pb2.Money:
    """The demo's money.Sum: same currency required, carry nanos into units."""
    if not _valid(left) or not _valid(right):
        raise MoneyError("one of the specified money values is invalid")
    if left.currency_code != right.currency_code:
        raise MoneyError("mismatching currency codes")
    units = left.units + right.units
    nanos = left.nanos + right.nanos
    if (units == 0 and nanos == 0) or (units > 0 and nanos >= 0) or (units < 0 and nanos <= 0):
        units += int(nanos / NANOS_MOD)  # Go's integer division truncates toward zero
        nanos = nanos - int(nanos / NANOS_MOD) * NANOS_MOD
    elif units > 0:
        units -= 1
        nanos += NANOS_MOD
    else:
        units += 1
        nanos -= NANOS_MOD
    return demo_pb2.Money(currency_code=left.currency_code, units=units, nanos=nanos)


def money_multiply(m: demo_pb2.Money, n: int) -> demo_pb2.Money:
    """money.MultiplySlow: repeated addition (a quantity of 0 counts as 1, as in the demo)."""
    out = m
    while n > 1:
        out = money_sum(out, m)
        n -= 1
    return out


def whole_units(m: demo_pb2.Money) -> float:
    """The demo formats "%d.%02d" with nanos/1e9 (always 0): the cents are dropped."""
    return float(f"{m.units}.{int(m.nanos / NANOS_MOD):02d}")


def cents_amount(m: demo_pb2.Money) -> float:
    """3.0.0 (PR #3744): "units.cents" with cents = nanos / 10,000,000, zero-padded."""
    return float(f"{m.units}.{abs(int(m.nanos / 10_000_000)):02d}")


def amount(m: demo_pb2.Money) -> float:
    return cents_amount(m) if versions.is_v3() else whole_units(m)


def go_error(err: grpc.RpcError) -> str:
    """How grpc-go prints a status error: ``rpc error: code = Unknown desc = ...``."""
    code = err.code()  # type: ignore[attr-defined]
    name = "".join(part.capitalize() for part in code.name.split("_"))
    if code is grpc.StatusCode.OK:
        name = "OK"
    return f"rpc error: code = {name} desc = {err.details()}"  # type: ignore[attr-defined]


def go_json(msg: Message) -> dict[str, Any]:
    """Go encoding/json of a generated struct: snake_case, omitempty, int64 as numbers."""
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.message_type is not None:
            if field.is_repeated:
                out[field.name] = [go_json(v) for v in value]
            else:
                out[field.name] = go_json(value)
        elif field.is_repeated:
            out[field.name] = list(value)
        else:
            out[field.name] = value
    return out


@dataclass
class Clients:
    cart: demo_pb2_grpc.CartServiceStub
    catalog: demo_pb2_grpc.ProductCatalogServiceStub
    currency: demo_pb2_grpc.CurrencyServiceStub
    shipping: demo_pb2_grpc.ShippingServiceStub
    payment: demo_pb2_grpc.PaymentServiceStub
    email_url: str
    #: 3.0.0: shipping's HTTP base URL (``SHIPPING_ADDR``); None = the 2.0.2 gRPC stub
    shipping_url: str | None = None


class OrderPublisher:
    """Publishes OrderResult protobufs to ``orders`` under an ``orders publish`` span."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.topic = versions.kafka_topic()
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.tracer = trace.get_tracer("checkout")
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        # Delivery callbacks run from poll(); keep them flowing for every publisher.
        while not self._stop.is_set():
            self.producer.poll(0.05)

    def close(self) -> None:
        self._stop.set()
        self.producer.flush(2)

    def publish(self, order: demo_pb2.OrderResult, extra_copies: int = 0) -> None:
        value = order.SerializeToString()
        attrs: dict[str, Any] = {
            "peer.service": "kafka",
            "network.transport": "tcp",
            "messaging.system": "kafka",
            "messaging.destination.name": self.topic,
            "messaging.operation": "publish",
            "messaging.kafka.destination.partition": 0,
        }
        with self.tracer.start_as_current_span(
            f"{self.topic} publish", kind=SpanKind.PRODUCER, attributes=attrs
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers = carrier_to_headers(carrier)
            done = threading.Event()
            outcome: dict[str, Any] = {}

            def delivered(err: Any, msg: Any) -> None:
                outcome["err"], outcome["msg"] = err, msg
                done.set()

            start = time.monotonic()
            try:
                self.producer.produce(
                    self.topic, value=value, headers=headers, on_delivery=delivered
                )
            except (KafkaException, BufferError) as exc:
                outcome["err"] = exc
                done.set()
            finished = done.wait(10.0)
            duration_ms = int((time.monotonic() - start) * 1000)
            span.set_attribute("messaging.kafka.producer.duration_ms", duration_ms)
            if finished and outcome.get("err") is None:
                span.set_attribute("messaging.kafka.producer.success", True)
                span.set_attribute("messaging.kafka.message.offset", outcome["msg"].offset())
            else:
                span.set_attribute("messaging.kafka.producer.success", False)
                reason = str(outcome.get("err") or "delivery timed out")
                span.set_status(Status(StatusCode.ERROR, reason))
                log.warning("failed to publish order %s: %s", order.order_id, reason)
        # kafkaQueueProblems: the same message again, N times, untraced (as the demo's
        # background goroutines do).
        for _ in range(extra_copies):
            try:
                self.producer.produce(self.topic, value=value, headers=headers)
            except (KafkaException, BufferError) as exc:
                log.warning("extra copy not queued: %s", exc)
                break


class CheckoutService(demo_pb2_grpc.CheckoutServiceServicer):
    def __init__(
        self,
        clients: Clients,
        flags: Flags,
        publisher: OrderPublisher | None,
        bad_payment: demo_pb2_grpc.PaymentServiceStub,
    ) -> None:
        self.c = clients
        self.flags = flags
        self.publisher = publisher
        self.bad_payment = bad_payment
        self.tracer = trace.get_tracer("checkout")
        self.http = requests.Session()

    def PlaceOrder(
        self, request: demo_pb2.PlaceOrderRequest, context: grpc.ServicerContext
    ) -> demo_pb2.PlaceOrderResponse:
        span = trace.get_current_span()
        span.set_attribute("app.user.id", request.user_id)
        span.set_attribute("app.user.currency", request.user_currency)
        telemetry.log("place_order", user_id=request.user_id, user_currency=request.user_currency)
        if versions.is_v3() and versions.synthetic(baggage.get_baggage("synthetic_request")):
            span.set_attribute("user_agent.synthetic.type", "test")
        try:
            return self._place_order(request, span)
        except RpcError as err:
            if versions.is_v3():
                span.record_exception(err)  # span.RecordError: a standard `exception` event
            else:
                span.add_event("error", {"exception.message": err.message})
            raise

    def _place_order(
        self, request: demo_pb2.PlaceOrderRequest, span: trace.Span
    ) -> demo_pb2.PlaceOrderResponse:
        order_id = str(uuid.uuid1())
        try:
            cart_items, order_items, shipping = self._prepare(request)
        except _PrepError as err:
            raise RpcError(grpc.StatusCode.INTERNAL, str(err)) from err
        span.add_event("prepared")

        try:
            total = demo_pb2.Money(currency_code=request.user_currency, units=0, nanos=0)
            total = money_sum(total, shipping)
            for it in order_items:
                total = money_sum(total, money_multiply(it.cost, it.item.quantity))
        except MoneyError as err:
            raise RpcError(grpc.StatusCode.INTERNAL, f"failed to total the order: {err}") from err

        try:
            tx_id = self._charge(total, request.credit_card)
        except grpc.RpcError as err:
            raise RpcError(
                grpc.StatusCode.INTERNAL,
                f"failed to charge card: could not charge the card: {go_error(err)}",
            ) from err
        telemetry.log("payment_went_through", transaction_id=tx_id)
        span.add_event("charged", {"app.payment.transaction.id": tx_id})

        try:
            tracking_id = self._ship_order(request.address, cart_items)
        except grpc.RpcError as err:
            raise RpcError(
                grpc.StatusCode.UNAVAILABLE, f"shipping error: shipment failed: {go_error(err)}"
            ) from err
        except _HttpError as err:
            raise RpcError(grpc.StatusCode.UNAVAILABLE, f"shipping error: {err}") from err
        span.add_event("shipped", {"app.shipping.tracking.id": tracking_id})

        try:
            self.c.cart.EmptyCart(demo_pb2.EmptyCartRequest(user_id=request.user_id))
        except grpc.RpcError as err:
            log.warning("failed to empty user cart during checkout: %s", go_error(err))

        order = demo_pb2.OrderResult(
            order_id=order_id,
            shipping_tracking_id=tracking_id,
            shipping_cost=shipping,
            shipping_address=request.address,
            items=order_items,
        )
        span.set_attribute("app.order.id", order_id)
        span.set_attribute("app.shipping.tracking.id", tracking_id)
        span.set_attribute("app.shipping.amount", amount(shipping))
        span.set_attribute("app.order.amount", amount(total))
        span.set_attribute("app.order.items.count", len(order_items))
        telemetry.log(
            "order_placed",
            order_id=order_id,
            shipping_amount=amount(shipping),
            order_amount=amount(total),
            items_count=len(order_items),
            tracking_id=tracking_id,
        )

        self._send_confirmation(request.email, order)
        if self.publisher is not None:
            telemetry.log("post_processor")
            copies = self.flags.integer("kafkaQueueProblems", 0, event=True)
            self.publisher.publish(order, extra_copies=max(0, copies))
        return demo_pb2.PlaceOrderResponse(order=order)

    def _prepare(
        self, request: demo_pb2.PlaceOrderRequest
    ) -> tuple[list[demo_pb2.CartItem], list[demo_pb2.OrderItem], demo_pb2.Money]:
        currency = request.user_currency
        with self.tracer.start_as_current_span("prepareOrderItemsAndShippingQuoteFromCart") as span:
            try:
                cart = self.c.cart.GetCart(demo_pb2.GetCartRequest(user_id=request.user_id))
            except grpc.RpcError as err:
                raise _PrepError(
                    f"cart failure: failed to get user cart during checkout: {go_error(err)}"
                ) from err
            cart_items = list(cart.items)
            order_items: list[demo_pb2.OrderItem] = []
            for item in cart_items:
                try:
                    product = self.c.catalog.GetProduct(
                        demo_pb2.GetProductRequest(id=item.product_id)
                    )
                except grpc.RpcError as err:
                    raise _PrepError(
                        f'failed to prepare order: failed to get product #"{item.product_id}"'
                    ) from err
                try:
                    price = self.c.currency.Convert(
                        demo_pb2.CurrencyConversionRequest(
                            to_code=currency, **{"from": product.price_usd}
                        )
                    )
                except grpc.RpcError as err:
                    raise _PrepError(
                        f'failed to prepare order: failed to convert price of "{item.product_id}" '
                        f"to {currency}"
                    ) from err
                order_items.append(demo_pb2.OrderItem(item=item, cost=price))
            try:
                quote = self._get_quote(request.address, cart_items)
            except grpc.RpcError as err:
                raise _PrepError(
                    f"shipping quote failure: failed to get shipping quote: {go_error(err)}"
                ) from err
            except _HttpError as err:
                raise _PrepError(
                    f"shipping quote failure: failed to get shipping quote: {err}"
                ) from err
            try:
                shipping = self.c.currency.Convert(
                    demo_pb2.CurrencyConversionRequest(to_code=currency, **{"from": quote})
                )
            except grpc.RpcError as err:
                raise _PrepError(
                    "failed to convert shipping cost to currency: "
                    f"failed to convert currency: {go_error(err)}"
                ) from err
            span.set_attribute("app.shipping.amount", amount(shipping))
            span.set_attribute("app.cart.items.count", sum(i.quantity for i in cart_items))
            span.set_attribute("app.order.items.count", len(order_items))
            return cart_items, order_items, shipping

    def _shipping_post(
        self, path: str, address: demo_pb2.Address, items: list[demo_pb2.CartItem]
    ) -> dict[str, Any]:
        """3.0.0: shipping over HTTP with Go's omitempty snake_case JSON (otelhttp client)."""
        body = go_json(demo_pb2.GetQuoteRequest(address=address, items=items))
        assert self.c.shipping_url is not None
        try:
            reply = post_json(
                self.c.shipping_url + path,
                body,
                span_name="HTTP POST",
                tracer_name="checkout",
                timeout=SHIPPING_TIMEOUT_S,
                session=self.http,
            )
        except requests.RequestException as exc:
            raise _HttpError(f"failed POST to shipping service: {exc}") from exc
        if reply.status_code != 200:
            # the demo's message really says "email" (a copy-paste slip in checkout)
            raise _HttpError(f"failed POST to email service: expected 200, got {reply.status_code}")
        try:
            doc = reply.json()
        except ValueError as exc:
            raise _HttpError(f"failed to decode shipping response: {exc}") from exc
        return doc if isinstance(doc, dict) else {}

    def _get_quote(
        self, address: demo_pb2.Address, items: list[demo_pb2.CartItem]
    ) -> demo_pb2.Money:
        if self.c.shipping_url is None:
            return self.c.shipping.GetQuote(
                demo_pb2.GetQuoteRequest(address=address, items=items)
            ).cost_usd
        cost = self._shipping_post("/get-quote", address, items).get("cost_usd")
        if not isinstance(cost, dict):
            raise _HttpError("shipping response has no cost_usd")
        return demo_pb2.Money(
            currency_code=str(cost.get("currency_code", "")),
            units=int(cost.get("units", 0)),
            nanos=int(cost.get("nanos", 0)),
        )

    def _ship_order(self, address: demo_pb2.Address, items: list[demo_pb2.CartItem]) -> str:
        if self.c.shipping_url is None:
            return str(
                self.c.shipping.ShipOrder(
                    demo_pb2.ShipOrderRequest(address=address, items=items)
                ).tracking_id
            )
        tracking = self._shipping_post("/ship-order", address, items).get("tracking_id")
        if not tracking:
            raise _HttpError("shipping returned an empty tracking id")
        return str(tracking)

    def _charge(self, total: demo_pb2.Money, card: demo_pb2.CreditCardInfo) -> str:
        stub = self.c.payment
        if self.flags.boolean("paymentUnreachable", False, event=True):
            stub = self.bad_payment
        response = stub.Charge(demo_pb2.ChargeRequest(amount=total, credit_card=card))
        return str(response.transaction_id)

    def _send_confirmation(self, email: str, order: demo_pb2.OrderResult) -> None:
        payload = go_json(demo_pb2.SendOrderConfirmationRequest(email=email, order=order))
        try:
            reply = post_json(
                self.c.email_url + "/send_order_confirmation",
                payload,
                span_name="HTTP POST",
                tracer_name="checkout",
                session=self.http,
            )
            if reply.status_code != 200:
                log.warning(
                    "failed to send order confirmation to %r: email answered %d",
                    email,
                    reply.status_code,
                )
        except requests.RequestException as exc:
            log.warning("failed to send order confirmation to %r: %s", email, exc)


class _PrepError(Exception):
    pass


class _HttpError(Exception):
    pass


_publisher: OrderPublisher | None = None


def build() -> list[Registration]:
    global _publisher
    # The demo panics if any of these is unset.
    require(
        "SHIPPING_ADDR",
        "PRODUCT_CATALOG_ADDR",
        "CART_ADDR",
        "CURRENCY_ADDR",
        "EMAIL_ADDR",
        "PAYMENT_ADDR",
    )

    def stub(env_name: str) -> grpc.Channel:
        return traced_channel(grpc_target(env_name), Style.GO)

    clients = Clients(
        cart=demo_pb2_grpc.CartServiceStub(stub("CART_ADDR")),
        catalog=demo_pb2_grpc.ProductCatalogServiceStub(stub("PRODUCT_CATALOG_ADDR")),
        currency=demo_pb2_grpc.CurrencyServiceStub(stub("CURRENCY_ADDR")),
        shipping=demo_pb2_grpc.ShippingServiceStub(stub("SHIPPING_ADDR")),
        payment=demo_pb2_grpc.PaymentServiceStub(stub("PAYMENT_ADDR")),
        email_url=http_base("EMAIL_ADDR"),
        shipping_url=http_base("SHIPPING_ADDR") if versions.is_v3() else None,
    )
    bad_payment = demo_pb2_grpc.PaymentServiceStub(traced_channel(BAD_PAYMENT_ADDR, Style.GO))
    kafka_addr = os.environ.get("KAFKA_ADDR", "")
    if kafka_addr:
        try:
            ensure_topic(kafka_addr, versions.kafka_topic())
        except TimeoutError as exc:
            log.warning("%s (orders will be published once the broker answers)", exc)
        _publisher = OrderPublisher(kafka_addr)
    service = CheckoutService(clients, Flags.from_env(), _publisher, bad_payment)
    return [lambda s: demo_pb2_grpc.add_CheckoutServiceServicer_to_server(service, s)]


def _close() -> None:
    if _publisher is not None:
        _publisher.close()


def main() -> int:
    return run_grpc("checkout", Style.GO, "CHECKOUT_PORT", build, on_stop=_close)


if __name__ == "__main__":
    sys.exit(main())
