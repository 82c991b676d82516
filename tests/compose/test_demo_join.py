"""docker-compose.test.yml on a real dockerd: the demo's collector config plus tracebed's overlay
export to a sink on the host through host-gateway, and the front door is published on 127.0.0.1.

The demo's own images cannot be pulled here, so the project is the demo's shape with stand-ins:
``otel-collector`` runs the demo's real collector config files (merged with the overlay, as the
collector merges them) through rotel, ``frontend-proxy`` is a plain HTTP server on the demo's
port. Everything the overlay adds is exercised for real: the mount, the extra --config, the
environment, ``host.docker.internal:host-gateway`` and the 127.0.0.1 port.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.compose.conftest import (
    REPO,
    assert_nothing_left,
    check_logs_and_metrics_reach_the_sink,
    demo_shaped_project,
    require_docker,
)
from tracebed.otlp.sink import Sink
from tracebed.refstack.compose import build_reference_image
from tracebed.stack import Stack, Topology
from tracebed.stack.backends.compose import ComposeBackend
from tracebed.stack.collector_overlay import docker_bridge_gateway, join_environment

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway_sink() -> Iterator[Sink]:
    require_docker()
    # Containers reach the host only on the bridge address, so the sink listens there (not on
    # every interface).
    with Sink(host=docker_bridge_gateway()) as sink:
        yield sink


@pytest.fixture(scope="module")
def joined(
    gateway_sink: Sink, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    image = build_reference_image()
    work = tmp_path_factory.mktemp("demo-join")
    demo_shaped = demo_shaped_project(image, demo_dir)
    project = work / "docker-compose.yml"
    project.write_text(yaml.safe_dump(demo_shaped))
    # The overlay is generated from the project's own collector configs, as the harness does.
    env = join_environment([project], gateway_sink.grpc_port, work / "overlay")
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)  # compose reads them from the process environment
    topo = Topology.from_compose([project, REPO / "docker-compose.test.yml"])
    stack = Stack(topo, ComposeBackend(), run_dir=work / "run")
    try:
        stack.start(progress=False)
        yield stack
    finally:
        stack.stop()
        mp.undo()
        assert_nothing_left(stack)


def test_front_door_is_published_on_loopback(joined: Stack) -> None:
    svc = joined.topology.services["frontend-proxy"]
    host, port = joined.backend.address(svc, 8080, None)
    assert host == "127.0.0.1" and port != 8080
    assert requests.get(f"http://{host}:{port}/", timeout=10).status_code == 200


def test_collector_exports_to_the_host_sink_through_host_gateway(
    joined: Stack, gateway_sink: Sink
) -> None:
    svc = joined.topology.services["otel-collector"]
    host, port = joined.backend.address(svc, 4317, None)
    provider = TracerProvider(resource=Resource.create({"service.name": "join-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{host}:{port}", insecure=True))
    )
    name = f"join-{secrets.token_hex(4)}"
    with provider.get_tracer("tracebed.tests").start_as_current_span(name) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    trace = gateway_sink.wait_for_trace(trace_id, until=lambda t: bool(t.named(name)), timeout=30)
    assert [s.service for s in trace.named(name)] == ["join-test"]


def test_logs_metrics_and_span_metrics_reach_the_sink(joined: Stack, gateway_sink: Sink) -> None:
    # 2.0.2: the overlay restates metrics [otlphttp/prometheus, debug] and logs
    # [opensearch, debug] with otlp/tracebed; spanmetrics feeds the metrics pipeline
    svc = joined.topology.services["otel-collector"]
    host, port = joined.backend.address(svc, 4317, None)
    check_logs_and_metrics_reach_the_sink(gateway_sink, f"{host}:{port}")
