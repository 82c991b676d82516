"""Kafka helpers shared by checkout (producer) and the consumers of topic ``orders``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger(__name__)

#: The demo's topic (a constant in checkout, accounting and fraud-detection).
ORDERS_TOPIC = "orders"


def ensure_topic(bootstrap: str, topic: str = ORDERS_TOPIC, *, timeout: float = 10.0) -> list[int]:
    """Create ``topic`` with one partition unless it exists; return its partition ids.

    The demo's broker auto-creates topics; creating it up front keeps the partition
    count at one so every consumer sees every order in order.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            # Ask for all topics: a metadata request naming the topic would make the
            # broker auto-create it (Tansu with four partitions).
            meta = admin.list_topics(timeout=2)
            found = meta.topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return sorted(found.partitions)
            futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            try:
                futures[topic].result(timeout=2)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        except KafkaException as exc:
            last_error = exc
            time.sleep(0.1)  # broker still starting: short bounded retry
    raise TimeoutError(
        f"topic {topic!r} not available on {bootstrap} within {timeout}s: {last_error}"
    )


def headers_to_carrier(
    headers: Mapping[str, bytes | str | None] | Iterable[tuple[str, bytes | str | None]] | None,
) -> dict[str, str]:
    """Kafka message headers as a text carrier for W3C propagation."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    carrier: dict[str, str] = {}
    for key, value in pairs:
        if value is None:
            continue
        carrier[key.lower()] = (
            value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        )
    return carrier


def carrier_to_headers(carrier: Mapping[str, str]) -> list[tuple[str, str | bytes | None]]:
    return [(k, v.encode()) for k, v in carrier.items()]
