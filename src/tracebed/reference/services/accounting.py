"""accounting: the demo's .NET consumer of ``orders`` (one receive span per message)."""

from __future__ import annotations

import logging
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
from tracebed.reference.common.kafka import headers_to_carrier
from tracebed.reference.proto import demo_pb2
from tracebed.reference.services._consumer import BatchHandler, consumer_attrs, run_consumer

GROUP = "accounting"
log = logging.getLogger(GROUP)


class Accounting:
    def __init__(self) -> None:
        self.tracer = trace.get_tracer(GROUP)

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
                log.info("Order details: %s", json_format.MessageToJson(order, indent=None))

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
            log.info("Order details: %s", json_format.MessageToJson(order, indent=None))


def make_handler(_stopped: threading.Event) -> BatchHandler:
    return Accounting().handle


def main() -> int:
    # The demo's accounting group starts from the earliest offset.
    return run_consumer("accounting", GROUP, from_beginning=True, make_handler=make_handler)


if __name__ == "__main__":
    sys.exit(main())
