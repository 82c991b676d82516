"""A stand-in for the demo's otel-collector container, for tests only.

The contrib collector image cannot be pulled here, so this entrypoint reads the same
``--config=`` files the demo's command passes (the demo's own configs in their order, and
tracebed's overlay), merges them with the collector's rules, and receives OTLP/gRPC on 4317,
forwarding every trace export to each ``otlp``/``otlp_grpc``-type exporter of the traces
pipelines whose host resolves in this network (``otlp/tracebed``, at 3.0.0 ``otlp_grpc/tracebed``;
Jaeger only where the test project has a stand-in for it). Other flags (3.0.0's ``--feature-gates``) are ignored.

It forwards with grpc and the OTLP protobuf stubs rather than running rotel: rotel exports each
signal to one exporter only, and 3.0.0's traces pipeline has two OTLP exporters with the overlay
(``otlp_grpc/jaeger`` and ``otlp_grpc/tracebed``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from tracebed.stack.collector_overlay import load_config, merge_all, traces_pipelines

# `otlp_grpc` is the collector's newer name for `otlp` (demo 3.0.0's otlp_grpc/jaeger)
OTLP_GRPC_TYPES = ("otlp", "otlp_grpc")


def _expand(value: str) -> str:
    return re.sub(
        r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: os.environ.get(m.group(1), ""), value
    )


def targets(argv: list[str]) -> list[tuple[str, str]]:
    """(label, host:port) of each reachable OTLP/gRPC traces exporter of the merged config."""
    files = [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
    merged = merge_all([load_config(Path(f)) for f in files])
    found: list[tuple[str, str]] = []
    for pipeline, exporters in traces_pipelines(merged).items():
        for exporter in exporters:
            if exporter.split("/")[0] not in OTLP_GRPC_TYPES:
                continue
            endpoint = _expand(str(merged["exporters"][exporter]["endpoint"]))
            target = endpoint.split("://")[-1]
            try:
                socket.getaddrinfo(target.rsplit(":", 1)[0], None)
            except OSError:
                print(f"stand-in: {pipeline}/{exporter} -> {endpoint}: unresolvable, skipped")
                continue
            found.append((f"{pipeline}/{exporter}", target))
            print(f"stand-in: {pipeline}/{exporter} -> {endpoint}", flush=True)
    return found


class Fanout(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, to: list[tuple[str, str]]) -> None:
        self.stubs = [
            (label, trace_service_pb2_grpc.TraceServiceStub(grpc.insecure_channel(target)))
            for label, target in to
        ]

    def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
        for label, stub in self.stubs:
            try:
                stub.Export(request, timeout=10)
            except grpc.RpcError as exc:
                print(f"stand-in: export to {label} failed: {exc.code()}", flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


def main() -> None:
    to = targets(sys.argv[1:])
    if not to:
        sys.exit("stand-in: no reachable traces exporter in the merged config")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Fanout(to), server)
    server.add_insecure_port("0.0.0.0:4317")
    server.start()
    # PID 1 in the container ignores SIGTERM unless it handles it: stop promptly on docker stop.
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    print("stand-in: listening on 0.0.0.0:4317", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
