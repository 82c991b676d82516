"""A small OTLP/gRPC receiver for tests that need the content of logs and metrics.

The sink only counts logs and metrics, so the stand-in's services are pointed at this
receiver (``OTEL_EXPORTER_OTLP_{METRICS,LOGS}_ENDPOINT``) where a test reads records and
points. Waits wake on every export (a condition variable), bounded by a timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

T = TypeVar("T")


def any_value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attrs(v.kvlist_value.values)
    return getattr(v, kind)


def attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


@dataclass(frozen=True)
class Record:
    service: str
    scope: str
    body: Any
    severity_text: str
    severity_number: int
    trace_id: str  # hex, "" without a span context
    span_id: str
    attributes: dict[str, Any]
    event_name: str
    resource: dict[str, Any]


@dataclass(frozen=True)
class Point:
    service: str
    scope: str
    scope_version: str
    name: str
    unit: str
    description: str
    kind: str  # "sum", "histogram", "gauge"
    monotonic: bool
    temporality: int
    attributes: dict[str, Any]
    value: float  # a sum's value, a histogram's count
    total: float  # a histogram's sum
    bounds: tuple[float, ...]


class SignalReceiver:
    """OTLP/gRPC LogsService and MetricsService on a free port; keeps what it receives."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._records: list[Record] = []
        self._points: list[Point] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SignalReceiver:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop(0)

    def _add(self, records: list[Record], points: list[Point]) -> None:
        with self._cond:
            self._records.extend(records)
            self._points.extend(points)
            self._cond.notify_all()

    def records(self, service: str | None = None) -> list[Record]:
        with self._cond:
            return [r for r in self._records if service in (None, r.service)]

    def points(self, service: str | None = None, name: str | None = None) -> list[Point]:
        with self._cond:
            return [
                p for p in self._points if service in (None, p.service) and name in (None, p.name)
            ]

    def latest(self, service: str, name: str, **attributes: Any) -> float:
        """The last exported value of the series with these attributes (0 if none yet)."""
        found = [
            p
            for p in self.points(service, name)
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        ]
        return found[-1].value if found else 0.0

    def wait(self, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
        """``probe()``'s first truthy result, re-checked on every export."""
        with self._cond:
            result = self._cond.wait_for(probe, timeout)
        if not result:
            raise AssertionError(f"not received within {timeout}s")
        return result


def _service(resource: Any) -> tuple[str, dict[str, Any]]:
    res = attrs(resource.attributes)
    return str(res.get("service.name", "")), res


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, owner: SignalReceiver) -> None:
        self.owner = owner

    def Export(self, request: Any, context: Any) -> Any:
        records = []
        for rl in request.resource_logs:
            service, res = _service(rl.resource)
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    records.append(
                        Record(
                            service,
                            sl.scope.name,
                            any_value(lr.body),
                            lr.severity_text,
                            lr.severity_number,
                            lr.trace_id.hex(),
                            lr.span_id.hex(),
                            attrs(lr.attributes),
                            lr.event_name,
                            res,
                        )
                    )
        self.owner._add(records, [])
        return logs_service_pb2.ExportLogsServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, owner: SignalReceiver) -> None:
        self.owner = owner

    def Export(self, request: Any, context: Any) -> Any:
        points = []
        for rm in request.resource_metrics:
            service, _ = _service(rm.resource)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    kind = m.WhichOneof("data")
                    base = (service, sm.scope.name, sm.scope.version, m.name, m.unit)
                    if kind == "sum":
                        for dp in m.sum.data_points:
                            value = dp.as_double if dp.HasField("as_double") else dp.as_int
                            points.append(
                                Point(
                                    *base,
                                    m.description,
                                    "sum",
                                    m.sum.is_monotonic,
                                    m.sum.aggregation_temporality,
                                    attrs(dp.attributes),
                                    float(value),
                                    0.0,
                                    (),
                                )
                            )
                    elif kind == "histogram":
                        for hp in m.histogram.data_points:
                            points.append(
                                Point(
                                    *base,
                                    m.description,
                                    "histogram",
                                    False,
                                    m.histogram.aggregation_temporality,
                                    attrs(hp.attributes),
                                    float(hp.count),
                                    hp.sum,
                                    tuple(hp.explicit_bounds),
                                )
                            )
                    elif kind == "gauge":
                        for gp in m.gauge.data_points:
                            value = gp.as_double if gp.HasField("as_double") else gp.as_int
                            points.append(
                                Point(
                                    *base,
                                    m.description,
                                    "gauge",
                                    False,
                                    0,
                                    attrs(gp.attributes),
                                    float(value),
                                    0.0,
                                    (),
                                )
                            )
        self.owner._add([], points)
        return metrics_service_pb2.ExportMetricsServiceResponse()
