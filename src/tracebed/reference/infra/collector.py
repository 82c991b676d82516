"""otel-collector: rotel receiving OTLP (gRPC + HTTP) from every service.

All three signals go to the tracebed sink over OTLP/gRPC (the demo's "test collector
exporter" for traces; the sink stands in for Prometheus' OTLP receiver and OpenSearch,
which are absent here). At 2.0.2 rotel applies no span-name transform, like the demo's
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


def command(
    binary: Path, grpc_port: int, http_port: int, demo_version: str = "2.0.2"
) -> list[str]:
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


def environment(sink_otlp_grpc: str) -> dict[str, str]:
    if "://" in sink_otlp_grpc:
        sink_otlp_grpc = sink_otlp_grpc.split("://", 1)[1]
    host, _, port = sink_otlp_grpc.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"sink_otlp_grpc must be 'host:port', got {sink_otlp_grpc!r}")
    return {
        "ROTEL_EXPORTERS": "sink:otlp",
        "ROTEL_EXPORTER_SINK_ENDPOINT": f"http://{host}:{port}",
        "ROTEL_EXPORTER_SINK_PROTOCOL": "grpc",
        "ROTEL_EXPORTERS_TRACES": "sink",
        "ROTEL_EXPORTERS_METRICS": "sink",
        "ROTEL_EXPORTERS_LOGS": "sink",
    }
