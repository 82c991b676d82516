"""Shared pieces of the Docker Compose tests.

Tests that need a daemon call ``require_docker()`` (through the ``docker_daemon`` fixture): in
CI (CI=true) a missing or dead dockerd is a failure, locally it is a skip that says why.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tracebed.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
DEMO = (SHARED / "reference" / "otel-demo-2.0.2").resolve()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Fail in CI, skip locally: CI must prove the Docker path, a laptop may lack Docker."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (scripts/setup.sh installs it)")
        raise AssertionError  # unreachable: unavailable() raises
    return path


def require_docker() -> None:
    require_tool("docker")
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable("`docker info` did not answer within 20 s")
        return
    if proc.returncode != 0:
        unavailable(
            "dockerd is not answering (start it with scripts/docker-up.sh): "
            + (proc.stderr.strip().splitlines() or ["no output"])[-1]
        )


def require_demo() -> Path:
    if not (DEMO / "docker-compose.yml").is_file():
        unavailable(f"the demo 2.0.2 reference files are not at {DEMO}")
    return DEMO


def labelled(kind: str, label: str) -> list[str]:
    argv = {"container": ["docker", "ps", "-a", "-q"]}.get(kind, ["docker", kind, "ls", "-q"])
    res = subprocess.run(
        [*argv, "--filter", f"label={label}"], capture_output=True, text=True, check=True
    )
    return res.stdout.split()


def own_project() -> str:
    """A compose project name for one test's run (`--tracebed-project`), so that what the test
    finds left behind is its own, whatever else runs on the same dockerd."""
    return f"tracebed-test-{secrets.token_hex(4)}"


def project_left(project: str) -> dict[str, list[str]]:
    """The containers, networks and volumes of a compose project that still exist."""
    label = f"com.docker.compose.project={project}"
    return {k: ids for k in ("container", "network", "volume") if (ids := labelled(k, label))}


def assert_nothing_left(stack: Stack) -> None:
    """No container of the run (its label) and no container, network or volume of its project."""
    project = f"com.docker.compose.project={stack.backend.project_name}"  # type: ignore[attr-defined]
    left = {
        "run containers": labelled("container", f"io.tracebed.run={stack.record.run_id}"),
        **{f"project {k}s": labelled(k, project) for k in ("container", "network", "volume")},
    }
    assert all(not v for v in left.values()), left


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    require_docker()


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return require_demo()


STANDIN = Path(__file__).resolve().parent / "standin"


def connector_fed(config: dict[str, Any], connector: str) -> list[str]:
    """The pipelines of a merged collector config that receive from ``connector``."""
    return [
        name
        for name, pipeline in config["service"]["pipelines"].items()
        if connector in ((pipeline or {}).get("receivers") or [])
    ]


def demo_shaped_project(image: str, demo_dir: Path) -> dict[str, Any]:
    """A compose project shaped like the demo, with stand-ins for images that cannot be pulled:
    `otel-collector` runs the demo's own collector configs (merged with any overlay, as the
    collector merges them) through rotel; `frontend-proxy` is a plain HTTP server."""
    return {
        "services": {
            "otel-collector": {
                "image": image,
                "entrypoint": ["/opt/tracebed/bin/python", "/standin/otelcol.py"],
                # the demo's own command and config mounts (docker-compose.yml 2.0.2)
                "command": [
                    "--config=/etc/otelcol-config.yml",
                    "--config=/etc/otelcol-config-extras.yml",
                ],
                "volumes": [
                    f"{demo_dir / 'otelcol-config.yml'}:/etc/otelcol-config.yml",
                    f"{demo_dir / 'otelcol-config-extras.yml'}:/etc/otelcol-config-extras.yml",
                    f"{STANDIN}:/standin:ro",
                ],
                "ports": ["4317"],
            },
            "frontend-proxy": {
                "image": image,
                "command": ["python", "-m", "http.server", "8080"],
                "depends_on": {"otel-collector": {"condition": "service_started"}},
            },
        }
    }


def _py_get(url: str) -> list[str]:
    """A compose healthcheck that GETs ``url`` with the image's Python (it has no wget)."""
    return ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen({url!r})"]


def demo30_shaped_project(image: str, dest: Path) -> list[Path]:
    """Demo 3.0.0's layered compose project, shaped from the real files, with stand-ins.

    ``dest`` becomes a 3.0.0 checkout (real .env, real collector configs in
    src/otel-collector/); compose.yaml, compose.full.yaml and compose.observability.yaml are
    rewritten to hold stand-in services whose ``command`` (the collector's), ``volumes``
    (config mounts), ``ports`` and ``depends_on`` (on the services present) are taken from the
    real layer files, so the layering and its merge are the demo's own. Stand-ins: the
    collector as in `demo_shaped_project`; ``frontend-proxy``, ``telemetry-docs`` and
    ``opamp-server`` are plain HTTP servers with compose healthchecks (as 3.0.0 declares them,
    with a 1 s interval); ``jaeger`` is a tracebed sink (OTLP/gRPC 4317, its query API on 16686),
    so the renamed ``otlp_grpc/jaeger`` exporter is exercised too. Returns the three files.
    """
    from tests.demo_layout import LAYERS, demo30_checkout

    demo30_checkout(dest)
    timing = {"interval": "1s", "timeout": "5s", "retries": 60, "start_period": "0s"}
    standins: dict[str, dict[str, Any]] = {
        "compose.yaml": {
            "otel-collector": {
                "image": image,
                "entrypoint": ["/opt/tracebed/bin/python", "/standin/otelcol.py"],
                "volumes": [f"{STANDIN}:/standin:ro"],
            },
            "frontend-proxy": {
                "image": image,
                "command": ["python", "-m", "http.server", "8080"],
                "healthcheck": {
                    "test": ["CMD", "bash", "-c", "echo > /dev/tcp/localhost/8080"],
                    **timing,
                },
            },
            "telemetry-docs": {
                "image": image,
                "command": ["python", "-m", "http.server", "8000"],
                "healthcheck": {"test": _py_get("http://localhost:8000/"), **timing},
            },
        },
        "compose.full.yaml": {"otel-collector": {}},
        "compose.observability.yaml": {
            "jaeger": {
                "image": image,
                "command": ["tracebed", "sink", "--host", "0.0.0.0"]
                + ["--grpc-port", "4317", "--http-port", "16686"],
            },
            "opamp-server": {
                "image": image,
                "command": ["python", "-m", "http.server", "4321"],
                "healthcheck": {"test": _py_get("http://localhost:4321/"), **timing},
            },
            "otel-collector": {},
            "frontend-proxy": {},
        },
    }
    present = {name for layer in standins.values() for name in layer}
    files = []
    for layer in LAYERS:
        real = yaml.safe_load((dest / layer).read_text())["services"]
        services: dict[str, Any] = {}
        for name, standin in standins[layer].items():
            svc = dict(standin)
            source = real.get(name) or {}
            if name == "otel-collector" and "command" in source:
                svc["command"] = source["command"]
            configs = [v for v in source.get("volumes") or [] if "/etc/otelcol-" in str(v)]
            if configs:
                svc["volumes"] = [*svc.get("volumes", []), *configs]
            # not frontend-proxy's: fixed host ports (8080, 10000); the overlay publishes it
            if "ports" in source and name != "frontend-proxy":
                svc["ports"] = source["ports"]
            deps = {d: c for d, c in (source.get("depends_on") or {}).items() if d in present}
            if deps:
                svc["depends_on"] = deps
            services[name] = svc
        path = dest / layer
        path.write_text(yaml.safe_dump({"services": services}, sort_keys=False))
        files.append(path)
    return files


def send_logs_and_metrics(endpoint: str, service: str, logs: int, add: int) -> None:
    """``logs`` log records and one counter (``tracebed.test.orders``, increased by ``add``)
    from real OTel SDK exporters (OTLP/gRPC) to ``endpoint``, flushed before returning."""
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": service})
    log_provider = LoggerProvider(resource=resource)
    log_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True))
    )
    logger = log_provider.get_logger("tracebed.tests")
    for i in range(logs):
        logger.emit(
            severity_number=SeverityNumber.WARN, severity_text="WARN", body=f"order {i} placed"
        )
    log_provider.shutdown()
    # one export, at shutdown (the interval is never reached)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    counter = meter_provider.get_meter("tracebed.tests").create_counter("tracebed.test.orders")
    counter.add(add, {"app.payment.currency": "EUR"})
    meter_provider.shutdown()


def check_logs_and_metrics_reach_the_sink(sink: Any, endpoint: str) -> None:
    """Logs, metrics and span-derived metrics sent to the demo-shaped collector at ``endpoint``
    reach ``sink`` (a `tracebed.otlp.sink.Sink`) through the overlay's pipelines, exactly once."""
    import secrets

    import requests
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    service = f"signals-{secrets.token_hex(4)}"
    mark = sink.mark()
    send_logs_and_metrics(endpoint, service, logs=5, add=3)
    records = sink.wait_for_logs(
        service=service, since=mark, until=lambda r: len(r) >= 5, timeout=30
    )
    assert sorted(str(r.body) for r in records) == [f"order {i} placed" for i in range(5)]
    assert {r.severity_text for r in records} == {"WARN"}
    resp = requests.get(f"{sink.http_url}/api/logs", params={"service": service}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert (
        sum(len(sl["logRecords"]) for rl in resp.json()["resourceLogs"] for sl in rl["scopeLogs"])
        == 5
    )
    orders = sink.wait_for_metric(
        service, "tracebed.test.orders", since=mark, until=lambda s: len(s) >= 1, timeout=30
    )
    assert orders.increase() == 3
    assert [dict(p.attributes) for p in orders.latest()] == [{"app.payment.currency": "EUR"}]

    # the traces pipeline's span-metrics connector feeds the metrics pipeline, and so the sink
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True))
    )
    for _ in range(2):
        with provider.get_tracer("tracebed.tests").start_as_current_span("PlaceOrder"):
            pass
    provider.shutdown()
    calls = sink.wait_for_metric(
        service,
        "traces.span.metrics.calls",
        since=mark,
        until=lambda s: len(s) > 0 and s.increase() >= 2,
        timeout=30,
    )
    assert calls.increase() == 2
    assert [(p.attributes["span.name"], p.value) for p in calls.latest()] == [("PlaceOrder", 2)]
