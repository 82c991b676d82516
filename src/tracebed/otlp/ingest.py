"""What every receiver does with a decoded request, whatever the transport."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tracebed.model.store import SpanStore
from tracebed.otlp.decode import batch_from_request
from tracebed.otlp.signals import decode_logs, decode_metrics


class Ingest:
    """Stores traces, log records and metric points in the store; rejected items are
    answered in `partial_success`, as OTLP asks."""

    def __init__(self, store: SpanStore):
        self.store = store

    def traces(
        self, request: ExportTraceServiceRequest, transport: str, nbytes: int
    ) -> ExportTraceServiceResponse:
        """Raises StoreFullError (nothing stored) when the store refuses."""
        self.store.count_request(transport, nbytes)
        decoded = batch_from_request(request)
        if len(decoded.batch):
            self.store.add_batch(decoded.batch)
        response = ExportTraceServiceResponse()
        if decoded.rejected:
            self.store.count_rejected(decoded.rejected)
            response.partial_success.rejected_spans = decoded.rejected
            response.partial_success.error_message = decoded.error_message
        return response

    def metrics(
        self, request: ExportMetricsServiceRequest, transport: str, nbytes: int
    ) -> ExportMetricsServiceResponse:
        """Raises StoreFullError (nothing stored) when the store refuses."""
        self.store.count_request(f"{transport}-metrics", nbytes)
        decoded = decode_metrics(request)
        if len(decoded.batch):
            self.store.add_metric_batch(decoded.batch)
        response = ExportMetricsServiceResponse()
        if decoded.rejected:
            self.store.count_rejected_points(decoded.rejected)
            response.partial_success.rejected_data_points = decoded.rejected
            response.partial_success.error_message = decoded.error_message("data points")
        return response

    def logs(
        self, request: ExportLogsServiceRequest, transport: str, nbytes: int
    ) -> ExportLogsServiceResponse:
        """Raises StoreFullError (nothing stored) when the store refuses."""
        self.store.count_request(f"{transport}-logs", nbytes)
        decoded = decode_logs(request)
        if len(decoded.batch):
            self.store.add_log_batch(decoded.batch)
        response = ExportLogsServiceResponse()
        if decoded.rejected:
            self.store.count_rejected_logs(decoded.rejected)
            response.partial_success.rejected_log_records = decoded.rejected
            response.partial_success.error_message = decoded.error_message("log records")
        return response
