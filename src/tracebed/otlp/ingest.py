"""What every receiver does with a decoded request, whatever the transport."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

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


@dataclass
class SignalCounts:
    """Metrics and logs are accepted and counted only, so a collector's other pipelines succeed."""

    metric_points: int = 0
    log_records: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {"metric_points": self.metric_points, "log_records": self.log_records}


def _count_points(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total


class Ingest:
    """Stores traces in the span store; counts metrics and logs."""

    def __init__(self, store: SpanStore):
        self.store = store
        self.counts = SignalCounts()

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
        self.store.count_request(f"{transport}-metrics", nbytes)
        points = _count_points(request)
        with self.counts._lock:
            self.counts.metric_points += points
        return ExportMetricsServiceResponse()

    def logs(
        self, request: ExportLogsServiceRequest, transport: str, nbytes: int
    ) -> ExportLogsServiceResponse:
        self.store.count_request(f"{transport}-logs", nbytes)
        records = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        with self.counts._lock:
            self.counts.log_records += records
        return ExportLogsServiceResponse()
