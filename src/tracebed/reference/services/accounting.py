"""accounting: the demo's .NET consumer of ``orders`` (one receive span per message)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Message
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.kafka import headers_to_carrier
from tracebed.reference.proto import demo_pb2
from tracebed.reference.services._consumer import BatchHandler, consumer_attrs, run_consumer

GROUP = "accounting"
log = logging.getLogger(GROUP)


def npgsql_params(conn_string: str) -> dict[str, str]:
    """psycopg keywords from .NET's ``Host=…;Username=…;Password=…;Database=…``."""
    names = {
        "host": "host",
        "port": "port",
        "username": "user",
        "password": "password",
        "database": "dbname",
    }
    out: dict[str, str] = {}
    for part in conn_string.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip().lower() in names:
            out[names[key.strip().lower()]] = value.strip()
    return out


class OrderStore:
    """3.0.0: every consumed order goes to PostgreSQL (order, shipping, orderitem rows);
    a duplicate (Kafka redelivery) is logged and skipped, as the demo's DbUpdateException
    handler does. EF Core tracing is off in the demo, so these writes add no spans here."""

    def __init__(self, conn_string: str) -> None:
        self.params = npgsql_params(conn_string)
        self._conn: Any = None
        #: whether the last failed save was a duplicate (the demo logs those by EventName)
        self.duplicate = False

    def save(self, order: demo_pb2.OrderResult) -> bool:
        import psycopg
        from psycopg.conninfo import make_conninfo

        self.duplicate = False
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    make_conninfo(**self.params), connect_timeout=5
                )
            with self._conn.transaction():
                self._write(order)
            return True
        except psycopg.errors.UniqueViolation:
            self.duplicate = True
            log.warning("order %s was already saved; skipping the duplicate", order.order_id)
        except psycopg.Error as exc:
            log.warning("failed to save order %s: %s", order.order_id, exc)
            if self._conn is not None and self._conn.closed:
                self._conn = None
        return False

    def _write(self, order: demo_pb2.OrderResult) -> None:
        c = self._conn
        c.execute('INSERT INTO accounting."order" (order_id) VALUES (%s)', (order.order_id,))
        a, cost = order.shipping_address, order.shipping_cost
        c.execute(
            "INSERT INTO accounting.shipping (shipping_tracking_id, shipping_cost_currency_code,"
            " shipping_cost_units, shipping_cost_nanos, street_address, city, state, country,"
            " zip_code, order_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                order.shipping_tracking_id,
                cost.currency_code,
                cost.units,
                cost.nanos,
                a.street_address,
                a.city,
                a.state,
                a.country,
                a.zip_code,
                order.order_id,
            ),
        )
        for item in order.items:
            c.execute(
                "INSERT INTO accounting.orderitem (item_cost_currency_code, item_cost_units,"
                " item_cost_nanos, product_id, quantity, order_id)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    item.cost.currency_code,
                    item.cost.units,
                    item.cost.nanos,
                    item.item.product_id,
                    item.item.quantity,
                    order.order_id,
                ),
            )


class Accounting:
    def __init__(self, store: OrderStore | None = None) -> None:
        self.tracer = trace.get_tracer(GROUP)
        self.store = store

    def handle(self, records: Sequence[Message]) -> None:
        base = consumer_attrs(GROUP, f"{GROUP}-consumer")
        for message in records:
            parent = propagate.extract(headers_to_carrier(message.headers()))
            attrs = {
                **base,
                "messaging.operation": "receive",
                "messaging.kafka.destination.partition": message.partition() or 0,
                "messaging.kafka.message.offset": message.offset() or 0,
            }
            if versions.is_v3():
                self._receive_v3(message, parent, attrs)
                continue
            with self.tracer.start_as_current_span(
                f"{versions.kafka_topic()} receive",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=attrs,
            ):
                order = demo_pb2.OrderResult()
                try:
                    order.ParseFromString(message.value() or b"")
                except DecodeError as exc:
                    log.warning("cannot parse OrderResult at offset %s: %s", message.offset(), exc)
                    continue
                details = json_format.MessageToJson(order, indent=None)
                log.info("Order details: %s", details)
                telemetry.log("order_details", order=details)

    def _receive_v3(self, message: Message, parent: Context, attrs: dict[str, Any]) -> None:
        """3.0.0: a root ``order-consumed`` span; ``orders receive`` is its child, linked
        (not parented) to the producer, as .NET's Kafka instrumentation does."""
        producer = trace.get_current_span(parent).get_span_context()
        links = [Link(producer)] if producer.is_valid else []
        with (
            self.tracer.start_as_current_span("order-consumed", context=Context()),
            self.tracer.start_as_current_span(
                f"{versions.kafka_topic()} receive",
                kind=SpanKind.CONSUMER,
                attributes=attrs,
                links=links,
            ),
        ):
            order = demo_pb2.OrderResult()
            try:
                order.ParseFromString(message.value() or b"")
            except DecodeError as exc:
                log.warning("cannot parse OrderResult at offset %s: %s", message.offset(), exc)
                return
            details = json_format.MessageToJson(order, indent=None)
            log.info("Order details: %s", details)
            telemetry.log("order_details", order=details)
            if self.store is not None and not self.store.save(order) and self.store.duplicate:
                telemetry.log("duplicate_skipped", order_id=order.order_id)


def make_handler(_stopped: threading.Event) -> BatchHandler:
    # without DB_CONNECTION_STRING nothing is written, as in the demo
    conn = os.environ.get("DB_CONNECTION_STRING", "")
    store = OrderStore(conn) if conn and versions.is_v3() else None
    return Accounting(store).handle


def main() -> int:
    # The demo's accounting group starts from the earliest offset.
    return run_consumer("accounting", GROUP, from_beginning=True, make_handler=make_handler)


if __name__ == "__main__":
    sys.exit(main())
