"""3.0.0's metrics and logs: the signal table's names, the OTLP protocol per signal, and one
service (email, which emits logs and metrics only from 3.0.0) checked on the wire."""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.reference.backends.procs import Proc, clean_env, free_port, tcp_open
from tests.reference.otlp_signals import SignalReceiver
from tracebed.reference import versions
from tracebed.reference.common import signals, telemetry

#: demo-facts-3.0 §13.2: the services whose traces, metrics and logs the demo's tests expect.
ALL_THREE = (
    "ad",
    "cart",
    "checkout",
    "currency",
    "email",
    "payment",
    "product-catalog",
    "quote",
    "recommendation",
    "shipping",
)


def test_the_matrix_services_emit_metrics_and_logs_at_3_0_0() -> None:
    for service in ALL_THREE:
        row = signals.for_service(service, "3.0.0")
        assert {"traces", "metrics", "logs"} <= row.emits, service
        assert row.metrics and row.logs, service
    # and the frontend's only custom metric is gone
    assert signals.for_service("frontend", "3.0.0").metrics == {}
    assert signals.for_service("email", "2.0.2").emits == {"traces"}


def test_the_3_0_0_table_gives_final_names() -> None:
    for service, row in signals.TABLES["3.0.0"].items():
        for metric in row.metrics.values():
            assert not metric.name.startswith("app"), (service, metric.name)
            assert not any(a.startswith("app.") for a in metric.attributes.values()), service
        for log in row.logs.values():
            assert not any(a.startswith("app.") for a in log.attributes.values()), service
    # a 3.0.0 rename of a span attribute that also names a metric attribute agrees with it
    renames = versions.ATTRIBUTE_RENAMES["3.0.0"]
    for service, old in signals.TABLES["2.0.2"].items():
        new = signals.TABLES["3.0.0"][service]
        for key, metric in old.metrics.items():
            if key in new.metrics:
                for fieldname, wire in metric.attributes.items():
                    if renames.get(wire):
                        assert new.metrics[key].attributes[fieldname] == renames[wire], key


#: Both releases' tables as they were written out row by row (commit 8ee2a70), before 3.0.0's
#: was derived from 2.0.2's.
PINNED_TABLES = Path(__file__).resolve().parents[1] / "data" / "signal-tables.json"


def _plain(value: Any) -> Any:
    """A table as JSON would hold it (sets sorted, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_the_derived_3_0_0_table_is_the_one_written_out_before() -> None:
    pinned = json.loads(PINNED_TABLES.read_text(encoding="utf-8"))
    assert set(signals.TABLES) == set(pinned)
    for release, table in signals.TABLES.items():
        assert _plain(table) == pinned[release], release


def test_units_and_event_names_of_3_0_0() -> None:
    t = signals.TABLES["3.0.0"]
    assert t["cart"].metrics["add_item_latency"].unit == "s"
    assert t["cart"].metrics["add_item_latency"].scale == 1e-9  # ns in, seconds out
    assert t["payment"].metrics["transactions"].unit == "{transaction}"
    assert t["cart"].logs["add_item"].event_name == "cart.add_item"
    assert t["currency"].logs["converted"].event_name == "currency.conversion"
    assert t["shipping"].metrics["items_shipped"].meter == "otel_demo.shipping.quote"


def test_release_falls_back_to_the_impersonated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.setenv(versions.ENV, "2.0.2")
    assert signals.release() == "2.0.2"
    monkeypatch.setenv(versions.ENV, "3.0.0")
    assert signals.release() == "3.0.0"


@pytest.mark.parametrize("signal", ["TRACES", "METRICS", "LOGS"])
def test_every_signal_follows_the_otlp_protocol(
    monkeypatch: pytest.MonkeyPatch, signal: str
) -> None:
    for var in ("ENDPOINT", "PROTOCOL"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{signal}_{var}", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    http = telemetry._exporter(signal)
    assert type(http).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    assert http._endpoint == f"http://127.0.0.1:4318/v1/{signal.lower()}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    grpc = telemetry._exporter(signal)
    assert type(grpc).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert telemetry._exporter(signal) is None


@pytest.fixture
def receiver() -> Iterator[SignalReceiver]:
    r = SignalReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def test_email_at_3_0_0_counts_and_logs_each_confirmation(
    receiver: SignalReceiver, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(
        {
            versions.ENV: "3.0.0",
            "EMAIL_PORT": str(port),
            "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=opentelemetry-demo,service.version=3.0.0",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "250",
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = [sys.executable, "-m", "tracebed.reference.services.email"]
    proc = Proc("email", argv, env, tmp_path / "email.log").start()
    try:
        proc.wait_until(tcp_open(port))
        trace_id = secrets.token_hex(16)
        order = {
            "order_id": "606",
            "items": [
                {
                    "item": {"product_id": "1YMWWN1N4O", "quantity": 1},
                    "cost": {"currency_code": "USD", "units": 100, "nanos": 0},
                }
            ],
        }
        reply = requests.post(
            f"http://127.0.0.1:{port}/send_order_confirmation",
            json={"email": "x@example.com", "order": order},
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
            timeout=5,
        )
        assert reply.status_code == 200
        record = receiver.wait(
            lambda: next(iter(r for r in receiver.records("email") if r.trace_id == trace_id), None)
        )
        assert record.event_name == "email.confirmation_sent"
        assert record.body == "Order confirmation email sent"
        assert record.attributes == {"demo.order.id": "606"}
        receiver.wait(lambda: receiver.latest("email", "demo.notification.confirmations") >= 1)
        (point, *_) = receiver.points("email", "demo.notification.confirmations")
        assert point.unit == "1"
    finally:
        if proc.popen is not None:
            proc.popen.terminate()
            proc.popen.wait(timeout=10)
