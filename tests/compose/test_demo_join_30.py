"""Demo 3.0.0's layered compose project joined through docker-compose.test.yml on a real dockerd,
as a maintainer does it from a 3.0.0 checkout (README, "The Compose path").

`tracebed compose-overlay .` picks compose.yaml + compose.full.yaml + compose.observability.yaml
and restates the collector's command of their merge; `docker compose ... config -q` accepts the
four files; the stack comes up tier by tier from the merged depends_on, ready by the compose
healthchecks the layers declare; the collector (a stand-in reading the real 3.0.0 configs in
their real order) exports every span both to the renamed ``otlp_grpc/jaeger`` (a stand-in Jaeger)
and to the tracebed sink on the host. The services are the stand-ins of
`conftest.demo30_shaped_project` (the demo's images cannot be pulled here).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.compose.conftest import (
    assert_nothing_left,
    check_logs_and_metrics_reach_the_sink,
    demo30_shaped_project,
    require_docker,
)
from tracebed.cli import cli
from tracebed.otlp.sink import Sink
from tracebed.refstack.compose import build_reference_image
from tracebed.stack import ProbeSpec, Stack, Topology
from tracebed.stack.backends.compose import ComposeBackend, compose_command
from tracebed.stack.collector_overlay import docker_bridge_gateway, join_environment

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway_sink() -> Iterator[Sink]:
    require_docker()
    with Sink(host=docker_bridge_gateway()) as sink:
        yield sink


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    require_docker()
    image = build_reference_image()
    dest = tmp_path_factory.mktemp("demo30")
    files = demo30_shaped_project(image, dest)
    return dest, files


@pytest.fixture(scope="module")
def joined(
    gateway_sink: Sink, checkout: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    dest, files = checkout
    # README step 0, from the checkout: the defaults are the three layers
    result = CliRunner().invoke(cli, ["compose-overlay", str(dest)])
    assert result.exit_code == 0, result.output
    overlay = dest / "docker-compose.test.yml"
    work = tmp_path_factory.mktemp("demo30-join")
    # what the harness does for --tracebed-stack=compose with these four files
    env = join_environment([*files, overlay], gateway_sink.grpc_port, work / "overlay")
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)  # compose reads them from the process environment
    topo = Topology.from_compose([*files, overlay])
    stack = Stack(topo, ComposeBackend(), run_dir=work / "run")
    try:
        stack.start(progress=False)
        yield stack
    finally:
        stack.stop()
        mp.undo()
        assert_nothing_left(stack)


def test_real_compose_accepts_the_four_files(checkout: tuple[Path, list[Path]]) -> None:
    dest, files = checkout
    CliRunner().invoke(cli, ["compose-overlay", str(dest)])
    argv = [*compose_command(), "--env-file", str(dest / ".env")]
    for f in [*files, dest / "docker-compose.test.yml"]:
        argv += ["-f", str(f)]
    proc = subprocess.run(
        [*argv, "config", "-q"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr  # README step 1


def test_tiers_and_readiness_come_from_the_merged_layers(joined: Stack) -> None:
    topo = joined.topology
    # observability's patches: the collector waits for jaeger and opamp-server (healthy), the
    # proxy for opamp-server too; core's edge to telemetry-docs stays
    assert topo.tiers == [["jaeger", "opamp-server", "telemetry-docs"], ["frontend-proxy", "otel-collector"]]  # fmt: skip
    collector = topo.services["otel-collector"].depends_on
    assert {d: c.condition for d, c in collector.items()} == {
        "jaeger": "service_started",
        "opamp-server": "service_healthy",
    }
    for name in ("opamp-server", "telemetry-docs", "frontend-proxy"):
        assert topo.probe_for(name) == ProbeSpec("healthcheck"), name
        assert joined.timeline.ready_at(name) is not None
        assert joined.backend.health(topo.services[name]) == "healthy"  # type: ignore[attr-defined]
    # the collector joined last among its dependencies, with the whole 3.0.0 config chain
    command = topo.services["otel-collector"].command
    assert command == [
        "--config=/etc/otelcol-config.yml",
        "--config=/etc/otelcol-config-full.yml",
        "--config=/etc/otelcol-config-observability.yml",
        "--config=/etc/otelcol-config-extras.yml",
        "--feature-gates=service.profilesSupport",
        "--config=/etc/otelcol-tracebed.yml",
    ]


def test_front_door_is_published_on_loopback(joined: Stack) -> None:
    svc = joined.topology.services["frontend-proxy"]
    host, port = joined.backend.address(svc, 8080, None)
    assert host == "127.0.0.1" and port != 8080
    assert requests.get(f"http://{host}:{port}/", timeout=10).status_code == 200


def test_spans_reach_the_sink_and_the_renamed_jaeger_exporter(
    joined: Stack, gateway_sink: Sink
) -> None:
    svc = joined.topology.services["otel-collector"]
    host, port = joined.backend.address(svc, 4317, None)
    provider = TracerProvider(resource=Resource.create({"service.name": "join-test-30"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{host}:{port}", insecure=True))
    )
    name = f"join30-{secrets.token_hex(4)}"
    with provider.get_tracer("tracebed.tests").start_as_current_span(name) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    trace = gateway_sink.wait_for_trace(trace_id, until=lambda t: bool(t.named(name)), timeout=30)
    assert [s.service for s in trace.named(name)] == ["join-test-30"]
    # otlp_grpc/jaeger, kept by the overlay: the stand-in Jaeger got the same span
    jaeger = joined.topology.services["jaeger"]
    jhost, jport = joined.backend.address(jaeger, 16686, None)
    resp = requests.get(f"http://{jhost}:{jport}/api/traces/{trace_id}?wait=30", timeout=40)
    assert resp.status_code == 200, resp.text
    spans = [
        s["name"]
        for rs in resp.json()["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    ]
    assert spans == [name]


def test_logs_metrics_and_span_metrics_reach_the_sink(joined: Stack, gateway_sink: Sink) -> None:
    # 3.0.0, all three layers: metrics [debug, otlp_http/prometheus] and logs [debug,
    # opensearch] with otlp_grpc/tracebed; span_metrics feeds the metrics pipeline
    svc = joined.topology.services["otel-collector"]
    host, port = joined.backend.address(svc, 4317, None)
    check_logs_and_metrics_reach_the_sink(gateway_sink, f"{host}:{port}")
