"""Infrastructure as real processes: rotel -> sink, Tansu with topic orders, redis, nginx,
Prometheus."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
import redis
import requests
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

from tests.reference.infra.conftest import require_debian
from tests.reference.infra.launcher import Launcher
from tracebed.otlp.sink import Sink
from tracebed.reference.infra.nginx import images_dir
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc


def _endpoint(spec: dict[str, Any], name: str) -> str:
    return str(
        spec["services"][name]["x-tracebed"]["endpoints"][
            next(iter(spec["services"][name]["x-tracebed"]["endpoints"]))
        ]
    )


def _send_span(exporter: SpanExporter, service: str) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("probe-span") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_collector_forwards_traces_to_the_sink(
    spec: dict[str, Any], sink: Sink, launch: Callable[..., Launcher], protocol: str
) -> None:
    launch("otel-collector")
    ports = spec["x-tracebed-stack"]["ports"]
    if protocol == "grpc":
        exporter: SpanExporter = GrpcExporter(
            endpoint=f"127.0.0.1:{ports['OTEL_COLLECTOR_PORT_GRPC']}", insecure=True
        )
    else:
        exporter = HttpExporter(
            endpoint=f"http://127.0.0.1:{ports['OTEL_COLLECTOR_PORT_HTTP']}/v1/traces"
        )
    trace_id = _send_span(exporter, f"svc-{protocol}")
    trace = sink.wait_for_trace(trace_id, until=lambda t: len(t) >= 1, timeout=10)
    (span,) = trace.spans
    assert span.name == "probe-span" and span.service == f"svc-{protocol}"


def test_collector_accepts_metrics_and_logs(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("otel-collector")
    http = f"http://127.0.0.1:{spec['x-tracebed-stack']['ports']['OTEL_COLLECTOR_PORT_HTTP']}"
    for path in ("/v1/metrics", "/v1/logs"):
        r = requests.post(
            f"{http}{path}", data=b"", timeout=5, headers={"Content-Type": "application/x-protobuf"}
        )
        assert r.status_code == 200, (path, r.status_code, r.text)


def test_collector_forwards_a_services_metrics_and_logs_to_the_sink(
    spec: dict[str, Any], sink: Sink, launch: Callable[..., Launcher]
) -> None:
    """A stand-in service's logs and metrics go through rotel to the sink (stored there)."""
    launch("payment")  # and its dependencies: the collector, flagd
    addr = _endpoint(spec, "payment")
    assert spec["services"]["payment"]["environment"]["OTEL_METRIC_EXPORT_INTERVAL"] == "1000"
    with grpc.insecure_channel(addr) as channel:
        demo_pb2_grpc.PaymentServiceStub(channel).Charge(
            demo_pb2.ChargeRequest(
                amount=demo_pb2.Money(currency_code="USD", units=1),
                credit_card=demo_pb2.CreditCardInfo(
                    credit_card_number="4432-8015-6152-0454",
                    credit_card_expiration_year=2039,
                    credit_card_expiration_month=1,
                ),
            )
        )

    # the sink stores logs and metrics: wait for them there, woken by each arrival
    def counted() -> bool:
        stats = sink.store.stats_dict()
        return stats["log_records"] >= 2 and stats["metric_points"] >= 1

    sink.store.wait(counted, on=None, timeout=15, description="payment's logs and metrics")
    stats = requests.get(f"{sink.http_url}/api/stats", timeout=5).json()
    assert stats["log_records"] >= 2, stats  # request received, transaction complete
    assert stats["metric_points"] >= 1, stats  # app.payment.transactions


def test_kafka_has_topic_orders_and_carries_headers(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("kafka")
    bootstrap = spec["services"]["kafka"]["x-tracebed"]["endpoints"]["kafka"]
    producer = Producer({"bootstrap.servers": bootstrap})
    payload = secrets.token_bytes(16)
    producer.produce(
        "orders",
        value=payload,
        headers=[("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")],
    )
    assert producer.flush(10) == 0
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    # assign() instead of subscribe(): a group join on Tansu takes ~20 s (DESIGN.md)
    consumer.assign([TopicPartition("orders", 0, 0)])
    try:
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None
        assert msg.value() == payload
        assert dict(msg.headers() or [])["traceparent"].startswith(b"00-111")
    finally:
        consumer.close()


def test_valkey_cart_is_a_redis_server(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    require_debian("redis-server")
    launch("valkey-cart")
    port = spec["x-tracebed-stack"]["ports"]["VALKEY_PORT"]
    r = redis.Redis(host="127.0.0.1", port=port)
    r.hset("1234", mapping={"OLJCESPC7Z": 1})
    assert r.hget("1234", "OLJCESPC7Z") == b"1"


def test_image_provider_serves_the_product_pictures(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    require_debian("nginx")
    launch("image-provider")
    base = _endpoint(spec, "image-provider")
    pictures = sorted(p.name for p in (images_dir() / "products").iterdir())
    assert "RoofBinoculars.jpg" in pictures and len(pictures) == 10
    for name in pictures:
        r = requests.get(f"{base}/products/{name}", timeout=5)
        assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg", name
        assert r.content[:2] == b"\xff\xd8"  # a JPEG
    assert requests.get(f"{base}/Banner.png", timeout=5).headers["Content-Type"] == "image/png"
    assert requests.get(f"{base}/products/", timeout=5).status_code in (403, 404)  # no autoindex
    assert requests.get(f"{base}/products/nope.jpg", timeout=5).status_code == 404


def test_prometheus_starts_and_scrapes_itself(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    require_debian("prometheus")
    launch("prometheus")
    base = _endpoint(spec, "prometheus")

    config = requests.get(f"{base}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
    jobs = {c["job_name"] for c in yaml.safe_load(config)["scrape_configs"]}
    assert jobs == {"prometheus", "frontend-proxy", "otlp"}  # otlp: the metrics bridge


def test_processes_stop_promptly_on_sigterm(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    """Each process exits on SIGTERM (the spec's stop_signal) and leaves nothing behind."""
    require_debian("redis-server", "nginx", "prometheus")
    launcher = launch("kafka", "flagd-ui", "image-provider", "valkey-cart", "prometheus")
    tansu = subprocess.run(
        ["pgrep", "-g", str(launcher.procs["kafka"].pid)], capture_output=True, text=True
    ).stdout.split()
    assert len(tansu) == 2  # the wrapper and the broker, one process group
    for name, proc in launcher.procs.items():
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
        assert time.monotonic() - t0 < 5, name
    for pid in tansu:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
