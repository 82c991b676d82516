"""fraud-detection: the demo's Kotlin consumer of ``orders`` (Java-agent style spans)."""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from collections.abc import Sequence

from confluent_kafka import Message
from google.protobuf.message import DecodeError
from opentelemetry import context, propagate, trace
from opentelemetry.trace import Link, SpanKind

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.kafka import headers_to_carrier
from tracebed.reference.proto import demo_pb2
from tracebed.reference.services._consumer import BatchHandler, consumer_attrs, run_consumer

GROUP = "fraud-detection"
log = logging.getLogger(GROUP)


class FraudDetection:
    def __init__(self, flags: Flags, stopped: threading.Event, sleep: float = 1.0) -> None:
        self.flags = flags
        self.stopped = stopped
        self.sleep = sleep
        self.tracer = trace.get_tracer(GROUP)
        self.total = 0
        self._lock = threading.Lock()

    def handle(self, records: Sequence[Message]) -> None:
        base = consumer_attrs(GROUP, f"{GROUP}-consumer")
        parents = [propagate.extract(headers_to_carrier(m.headers())) for m in records]
        links = [
            Link(trace.get_current_span(p).get_span_context())
            for p in parents
            if trace.get_current_span(p).get_span_context().is_valid
        ]
        # One receive span per poll batch, in its own trace, linked to the producers.
        receive = self.tracer.start_span(
            f"{versions.kafka_topic()} receive",
            context=context.Context(),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                **base,
                "messaging.operation": "receive",
                "messaging.batch.message_count": len(records),
            },
        )
        receive.end()
        for message, parent in zip(records, parents, strict=True):
            attrs = {
                **base,
                "messaging.operation": "process",
                "messaging.destination.partition.id": str(message.partition()),
                "messaging.kafka.message.offset": message.offset() or 0,
                "messaging.message.body.size": len(message.value() or b""),
            }
            if versions.is_v3():
                # 3.0.0: a child of the receive span, linked to its producer (own trace)
                producer = trace.get_current_span(parent).get_span_context()
                ctx = trace.set_span_in_context(receive)
                links = [Link(producer)] if producer.is_valid else []
            else:
                # Each record is processed under its producer's context (traceparent header).
                ctx, links = parent, [Link(receive.get_span_context())]
            with self.tracer.start_as_current_span(
                f"{versions.kafka_topic()} process",
                context=ctx,
                kind=SpanKind.CONSUMER,
                links=links,
                attributes=attrs,
            ):
                self._process(message)

    def _process(self, message: Message) -> None:
        problems = self.flags.integer(
            "kafkaQueueProblems", 0, context={"session": str(uuid.uuid4())}
        )
        if problems > 0:
            log.info("FeatureFlag 'kafkaQueueProblems' is enabled, sleeping 1 second")
            telemetry.log("queue_problems")
            self.stopped.wait(self.sleep)  # the flag's effect: consumer lag (ends on SIGTERM)
        order = demo_pb2.OrderResult()
        try:
            order.ParseFromString(message.value() or b"")
        except DecodeError as exc:
            log.warning("cannot parse OrderResult at offset %s: %s", message.offset(), exc)
            return
        with self._lock:
            self.total += 1
            total = self.total
        log.info(
            "Consumed record with orderId: %s, and updated total count to: %d",
            order.order_id,
            total,
        )
        telemetry.log("consumed", order_id=order.order_id, total=total)


def make_handler(stopped: threading.Event) -> BatchHandler:
    return FraudDetection(Flags.from_env(), stopped).handle


def main() -> int:
    # kafka-clients' default reset is "latest": only orders placed after start-up.
    return run_consumer("fraud-detection", GROUP, from_beginning=False, make_handler=make_handler)


if __name__ == "__main__":
    sys.exit(main())
