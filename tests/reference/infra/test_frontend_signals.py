"""The frontend's metrics (the API middleware's request counter) and its absence of logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.reference.backends.procs import Proc, clean_env, free_port, python_module, tcp_open
from tests.reference.otlp_signals import Point, SignalReceiver
from tracebed.reference.common import signals

BACKEND_VARS = (
    "AD_ADDR",
    "CART_ADDR",
    "CHECKOUT_ADDR",
    "CURRENCY_ADDR",
    "PRODUCT_CATALOG_ADDR",
    "RECOMMENDATION_ADDR",
    "SHIPPING_ADDR",
)


@pytest.fixture
def frontend(tmp_path: Path) -> Iterator[tuple[str, SignalReceiver]]:
    receiver = SignalReceiver().start()
    port = free_port()
    dead = f"127.0.0.1:{free_port()}"  # no backend: every API call fails fast with 500
    env = {
        "PORT": str(port),
        "OTEL_SERVICE_NAME": "frontend",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
        **{var: dead for var in BACKEND_VARS},
    }
    proc = Proc(
        "frontend",
        python_module("tracebed.reference.frontend"),
        clean_env(env),
        tmp_path / "fe.log",
    ).start()
    try:
        proc.wait_until(tcp_open(port), timeout=30)
        yield f"http://127.0.0.1:{port}", receiver
    finally:
        proc.stop()
        receiver.stop()


def test_frontend_counts_api_requests_and_sends_no_logs(
    frontend: tuple[str, SignalReceiver],
) -> None:
    url, receiver = frontend
    assert requests.get(f"{url}/api/currency?x=1", timeout=10).status_code == 500
    assert requests.get(f"{url}/", timeout=10).status_code == 200  # a page: not counted
    (spec,) = signals.for_service("frontend", "2.0.2").metrics.values()

    def counted() -> list[Point]:
        return [p for p in receiver.points("frontend", spec.name) if p.value >= 1]

    points = receiver.wait(counted)
    # the target is the path without its query, the status the one answered
    assert {tuple(sorted(p.attributes.items())) for p in points} == {
        (("method", "GET"), ("status", 500), ("target", "/api/currency")),
    }
    # frontend has no logs in the demo, and its providers are not even set up
    assert receiver.records() == []
