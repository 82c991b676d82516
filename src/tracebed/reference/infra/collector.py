"""otel-collector: rotel receiving OTLP (gRPC + HTTP) from every service.

All three signals go to the tracebed sink over OTLP/gRPC (the demo's "test collector
exporter" for traces; the sink stands in for OpenSearch, which is absent here). This rotel
build takes one exporter per signal, so traces and metrics go to the sink through the
metrics bridge (``metrics_bridge.py``, the parent of rotel in this service), which passes
each request on unchanged, derives the
spanmetrics connector's metrics from the traces (sending them back here), and gives
Prometheus every metric as the demo's Prometheus holds them from its OTLP receiver. At 2.0.2 rotel applies no span-name transform, like the demo's
Tracetest collector overlay. At 3.0.0 it runs the release's ``transform/sanitize_spans``
(``sanitize_spans.py``, a rotel Python trace processor): the sink receives the names the
3.0.0 collector forwards.
"""

from __future__ import annotations

from pathlib import Path

#: rotel's batch timeout for every signal; short so what a service exports reaches the
#: sink quickly.
BATCH_TIMEOUT = "20ms"


#: rotel trace processor reproducing 3.0.0's ``transform/sanitize_spans``.
SANITIZE_SPANS = Path(__file__).with_name("sanitize_spans.py")


def command(binary: Path, grpc_port: int, http_port: int, demo_version: str = "2.0.2") -> list[str]:
    processors = (
        ["--otlp-with-trace-processor", str(SANITIZE_SPANS)] if demo_version == "3.0.0" else []
    )
    return [
        str(binary),
        "start",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--batch-timeout",
        BATCH_TIMEOUT,
        *processors,
    ]


def _host_port(address: str, what: str) -> str:
    if "://" in address:
        address = address.split("://", 1)[1]
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{what} must be 'host:port', got {address!r}")
    return f"{host}:{port}"


def environment(sink_otlp_grpc: str, bridge_otlp_grpc: str | None = None) -> dict[str, str]:
    """rotel's exporters: the sink for every signal, or, with a metrics bridge, the bridge
    for traces and metrics (it passes them on to the sink) and the sink for logs."""
    sink = _host_port(sink_otlp_grpc, "sink_otlp_grpc")
    env = {
        "ROTEL_EXPORTERS": "sink:otlp",
        "ROTEL_EXPORTER_SINK_ENDPOINT": f"http://{sink}",
        "ROTEL_EXPORTER_SINK_PROTOCOL": "grpc",
        "ROTEL_EXPORTERS_TRACES": "sink",
        "ROTEL_EXPORTERS_METRICS": "sink",
        "ROTEL_EXPORTERS_LOGS": "sink",
    }
    if bridge_otlp_grpc is not None:
        bridge = _host_port(bridge_otlp_grpc, "bridge_otlp_grpc")
        env.update(
            {
                "ROTEL_EXPORTERS": "sink:otlp,bridge:otlp",
                "ROTEL_EXPORTER_BRIDGE_ENDPOINT": f"http://{bridge}",
                "ROTEL_EXPORTER_BRIDGE_PROTOCOL": "grpc",
                "ROTEL_EXPORTERS_TRACES": "bridge",
                "ROTEL_EXPORTERS_METRICS": "bridge",
            }
        )
    return env


def with_bridge(
    rotel_command: list[str],
    python: str,
    otlp_port: int,
    metrics_port: int,
    collector: str,
    sink: str,
    demo_version: str,
) -> list[str]:
    """rotel started by the metrics bridge, which supervises it: one service, as the demo's
    collector holds its spanmetrics connector and its Prometheus exporter."""
    return [
        python,
        "-m",
        "tracebed.reference.infra.metrics_bridge",
        "--otlp-port",
        str(otlp_port),
        "--metrics-port",
        str(metrics_port),
        "--collector",
        collector,
        "--sink",
        sink,
        "--demo-version",
        demo_version,
        "--",
        *rotel_command,
    ]
