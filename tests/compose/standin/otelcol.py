"""A stand-in for the demo's otel-collector container, for tests only.

The contrib collector image cannot be pulled here, so this entrypoint reads the same
``--config=`` files the demo's command passes (the demo's own configs in their order, and
tracebed's overlay), merges them with the collector's rules, and receives OTLP/gRPC on 4317:
traces, metrics and logs. Each export is forwarded to each ``otlp``/``otlp_grpc``-type exporter
of that signal's pipelines whose host resolves in this network (``otlp/tracebed``, at 3.0.0
``otlp_grpc/tracebed``; Jaeger only where the test project has a stand-in for it; Prometheus
(``otlphttp``) and OpenSearch are other types, left out). Other flags (3.0.0's
``--feature-gates``) are ignored.

The span-metrics connector (``spanmetrics``, ``span_metrics`` at 3.0.0) is followed as the
config wires it: when a traces pipeline exports to it and a metrics pipeline receives from it,
each span counts one call in a cumulative ``traces.span.metrics.calls`` sum (the connector's
calls metric; its duration histogram is left out), exported through that metrics pipeline.

It forwards with grpc and the OTLP protobuf stubs rather than running rotel: rotel reads no
collector config and exports each signal to one exporter only, and 3.0.0's pipelines have two
OTLP exporters with the overlay (``otlp_grpc/jaeger`` and ``otlp_grpc/tracebed``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tracebed.stack.collector_overlay import load_config, merge_all

# `otlp_grpc` is the collector's newer name for `otlp` (demo 3.0.0's otlp_grpc/jaeger)
OTLP_GRPC_TYPES = ("otlp", "otlp_grpc")
SPANMETRICS_TYPES = ("spanmetrics", "span_metrics")
STUBS = {
    "traces": trace_service_pb2_grpc.TraceServiceStub,
    "metrics": metrics_service_pb2_grpc.MetricsServiceStub,
    "logs": logs_service_pb2_grpc.LogsServiceStub,
}


def _expand(value: str) -> str:
    return re.sub(
        r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: os.environ.get(m.group(1), ""), value
    )


def _pipelines(merged: dict[str, Any], signal_name: str) -> dict[str, dict[str, Any]]:
    return {
        str(name): pipeline or {}
        for name, pipeline in merged["service"]["pipelines"].items()
        if str(name).split("/", 1)[0] == signal_name
    }


def targets(merged: dict[str, Any], signal_name: str) -> list[tuple[str, str, str]]:
    """(pipeline, label, host:port) of each reachable OTLP/gRPC exporter of the signal's
    pipelines."""
    found: list[tuple[str, str, str]] = []
    for pipeline, config in _pipelines(merged, signal_name).items():
        for exporter in config.get("exporters") or []:
            if exporter.split("/")[0] not in OTLP_GRPC_TYPES:
                continue
            endpoint = _expand(str(merged["exporters"][exporter]["endpoint"]))
            target = endpoint.split("://")[-1]
            try:
                socket.getaddrinfo(target.rsplit(":", 1)[0], None)
            except OSError:
                print(f"stand-in: {pipeline}/{exporter} -> {endpoint}: unresolvable, skipped")
                continue
            found.append((pipeline, f"{pipeline}/{exporter}", target))
            print(f"stand-in: {pipeline}/{exporter} -> {endpoint}", flush=True)
    return found


def span_metrics_targets(
    merged: dict[str, Any], metrics: list[tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """The metrics exporters that span metrics reach: those of the metrics pipelines receiving
    from a span-metrics connector that a traces pipeline exports to."""
    connectors = {
        str(n) for n in merged.get("connectors") or {} if str(n).split("/")[0] in SPANMETRICS_TYPES
    }
    exported = {e for p in _pipelines(merged, "traces").values() for e in p.get("exporters") or []}
    fed = {
        name
        for name, p in _pipelines(merged, "metrics").items()
        if exported & connectors & set(p.get("receivers") or [])
    }
    chosen = [t for t in metrics if t[0] in fed]
    for _, label, _ in chosen:
        print(f"stand-in: span metrics -> {label}", flush=True)
    return chosen


class Forward:
    def __init__(self, signal_name: str, to: list[tuple[str, str, str]]) -> None:
        stub = STUBS[signal_name]
        self.stubs = [(label, stub(grpc.insecure_channel(target))) for _, label, target in to]

    def send(self, request: Any) -> None:
        for label, stub in self.stubs:
            try:
                stub.Export(request, timeout=10)
            except grpc.RpcError as exc:
                print(f"stand-in: export to {label} failed: {exc.code()}", flush=True)


class SpanMetrics:
    """The connector's calls counter: one cumulative series per service, span and kind."""

    def __init__(self, forward: Forward) -> None:
        self.forward = forward
        self.start = time.time_ns()
        self.calls: dict[tuple[str, str, int, int], int] = {}
        self.lock = threading.Lock()

    def count(self, request: Any) -> None:
        with self.lock:
            for rs in request.resource_spans:
                service = next(
                    (
                        a.value.string_value
                        for a in rs.resource.attributes
                        if a.key == "service.name"
                    ),
                    "",
                )
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        key = (service, span.name, span.kind, span.status.code)
                        self.calls[key] = self.calls.get(key, 0) + 1
            self.forward.send(self._export())

    def _export(self) -> Any:
        now = time.time_ns()
        by_service: dict[str, list[metrics_pb2.NumberDataPoint]] = {}
        for (service, name, kind, code), calls in sorted(self.calls.items()):
            attrs = {
                "span.name": name,
                "span.kind": trace_pb2.Span.SpanKind.Name(kind),
                "status.code": trace_pb2.Status.StatusCode.Name(code),
            }
            by_service.setdefault(service, []).append(
                metrics_pb2.NumberDataPoint(
                    attributes=[_kv(k, v) for k, v in attrs.items()],
                    start_time_unix_nano=self.start,
                    time_unix_nano=now,
                    as_int=calls,
                )
            )
        resource_metrics = [
            metrics_pb2.ResourceMetrics(
                resource=resource_pb2.Resource(attributes=[_kv("service.name", service)]),
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(
                        scope=common_pb2.InstrumentationScope(name="spanmetricsconnector"),
                        metrics=[
                            metrics_pb2.Metric(
                                name="traces.span.metrics.calls",
                                sum=metrics_pb2.Sum(
                                    data_points=points,
                                    aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
                                    is_monotonic=True,
                                ),
                            )
                        ],
                    )
                ],
            )
            for service, points in by_service.items()
        ]
        return metrics_service_pb2.ExportMetricsServiceRequest(resource_metrics=resource_metrics)


def _kv(key: str, value: str) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, forward: Forward, span_metrics: SpanMetrics | None) -> None:
        self.forward, self.span_metrics = forward, span_metrics

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
        self.forward.send(request)
        if self.span_metrics is not None:
            self.span_metrics.count(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, forward: Forward) -> None:
        self.forward = forward

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.forward.send(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, forward: Forward) -> None:
        self.forward = forward

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.forward.send(request)
        return logs_service_pb2.ExportLogsServiceResponse()


def main() -> None:
    files = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--config=")]
    merged = merge_all([load_config(Path(f)) for f in files])
    to = {s: targets(merged, s) for s in STUBS}
    if not to["traces"]:
        sys.exit("stand-in: no reachable traces exporter in the merged config")
    derived = span_metrics_targets(merged, to["metrics"])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    span_metrics = SpanMetrics(Forward("metrics", derived)) if derived else None
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
        Traces(Forward("traces", to["traces"]), span_metrics), server
    )
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
        Metrics(Forward("metrics", to["metrics"])), server
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
        Logs(Forward("logs", to["logs"])), server
    )
    server.add_insecure_port("0.0.0.0:4317")
    server.start()
    # PID 1 in the container ignores SIGTERM unless it handles it: stop promptly on docker stop.
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    print("stand-in: listening on 0.0.0.0:4317", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
