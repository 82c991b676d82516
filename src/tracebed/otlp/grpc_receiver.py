"""OTLP/gRPC receiver: TraceService stored; MetricsService and LogsService counted.

Requests arrive as raw bytes (no deserializer on the method handlers) so that an undecodable
body is answered INVALID_ARGUMENT, as the OTLP specification asks, instead of grpcio's INTERNAL.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracebed.model.store import StoreFullError
from tracebed.otlp.ingest import Ingest

RETRY_AFTER_S = 1


def _abort_full(context: grpc.ServicerContext, exc: StoreFullError) -> None:
    # RESOURCE_EXHAUSTED is retryable by OTLP exporters only when RetryInfo is attached.
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.seconds = RETRY_AFTER_S
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=str(exc))
    status.details.add().Pack(retry)
    context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))


def _handler(
    request_type: type[Message], export: Callable[[Any, str, int], Message]
) -> grpc.RpcMethodHandler:
    def handle(raw: bytes, context: grpc.ServicerContext) -> Message:
        request = request_type()
        try:
            request.ParseFromString(raw)
        except DecodeError as exc:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"request is not a valid {request_type.DESCRIPTOR.name}: {exc}",
            )
        try:
            return export(request, "grpc", len(raw))
        except StoreFullError as exc:
            if exc.permanent:  # OTLP: INVALID_ARGUMENT is not retried
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            _abort_full(context, exc)
            raise  # unreachable: abort raises

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=None, response_serializer=lambda m: m.SerializeToString()
    )


class GrpcReceiver:
    def __init__(
        self,
        ingest: Ingest,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = 64 * 1024 * 1024,
        workers: int = 8,
    ):
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="tracebed-otlp-grpc"
            ),
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        services = {
            "opentelemetry.proto.collector.trace.v1.TraceService": _handler(
                ExportTraceServiceRequest, ingest.traces
            ),
            "opentelemetry.proto.collector.metrics.v1.MetricsService": _handler(
                ExportMetricsServiceRequest, ingest.metrics
            ),
            "opentelemetry.proto.collector.logs.v1.LogsService": _handler(
                ExportLogsServiceRequest, ingest.logs
            ),
        }
        self._server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(name, {"Export": handler})
                for name, handler in services.items()
            )
        )
        self.host = host
        self.port = self._server.add_insecure_port(f"{_bracket(host)}:{port}")
        if self.port == 0:
            raise OSError(f"cannot listen for OTLP/gRPC on {host}:{port}")

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
