"""The Kafka consumer loop shared by accounting and fraud-detection.

Partitions are taken with ``assign()`` rather than a group subscription: a group join
on Tansu takes ~23 s, assign is immediate. Group ids are still set (they name the
consumer in spans and logs) but nothing is committed.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env
from tracebed.reference.common.kafka import ensure_topic
from tracebed.reference.services._runner import setup_logging

BatchHandler = Callable[[Sequence[Message]], None]
#: Builds the handler; the event is set on SIGTERM so long waits inside it can end early.
HandlerFactory = Callable[[threading.Event], BatchHandler]


def consumer_attrs(group: str, client_id: str) -> dict[str, Any]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": versions.kafka_topic(),
        "messaging.kafka.consumer.group": group,
        "messaging.client_id": client_id,
    }


def run_consumer(
    service_name: str,
    group: str,
    *,
    from_beginning: bool,
    make_handler: HandlerFactory,
) -> int:
    """Consume ``orders`` until SIGTERM, handing each non-empty poll batch to the handler."""
    log = setup_logging(service_name)
    try:
        telemetry.setup(service_name)
        bootstrap = env("KAFKA_ADDR")
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    if versions.is_v3():
        from_beginning = True  # both consumers read from the earliest offset at 3.0.0
    stopped = threading.Event()
    handler = make_handler(stopped)
    try:
        partitions = ensure_topic(bootstrap, versions.kafka_topic(), timeout=30)
    except TimeoutError as exc:
        log.error("%s", exc)
        return 1
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"{service_name}-consumer",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
        }
    )
    assignment = []
    for p in partitions:
        if from_beginning:
            offset = OFFSET_BEGINNING
        else:
            # Resolve "latest" now, so every order produced after start-up is seen.
            _low, offset = consumer.get_watermark_offsets(
                TopicPartition(versions.kafka_topic(), p), timeout=10
            )
        assignment.append(TopicPartition(versions.kafka_topic(), p, offset))
    consumer.assign(assignment)
    log.info(
        "%s consuming %s partitions %s (%s)",
        service_name,
        versions.kafka_topic(),
        partitions,
        "from the beginning" if from_beginning else "from the end",
    )
    ready_file = os.environ.get("TRACEBED_READY_FILE")
    if ready_file:
        # A marker a readiness probe can test for (consumers listen on no port).
        Path(ready_file).write_text("assigned\n")
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        while not stopped.is_set():
            batch = consumer.consume(num_messages=100, timeout=0.1)
            records = [m for m in batch if m.error() is None]
            for m in batch:
                if m.error() is not None:
                    log.warning("consume error: %s", m.error())
            if records:
                handler(records)
    finally:
        consumer.close()
        telemetry.shutdown()
    return 0
