"""accounting: the demo's .NET consumer of ``orders`` (one receive span per message)."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence

from confluent_kafka import Message
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from tracebed.reference.common import telemetry
from tracebed.reference.common.kafka import ORDERS_TOPIC, headers_to_carrier
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
            with self.tracer.start_as_current_span(
                f"{ORDERS_TOPIC} receive", context=parent, kind=SpanKind.CONSUMER, attributes=attrs
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


def make_handler(_stopped: threading.Event) -> BatchHandler:
    return Accounting().handle


def main() -> int:
    # The demo's accounting group starts from the earliest offset.
    return run_consumer("accounting", GROUP, from_beginning=True, make_handler=make_handler)


if __name__ == "__main__":
    sys.exit(main())
