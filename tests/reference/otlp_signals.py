"""Where tests read the content of the stand-in's logs and metrics: a tracebed `Sink` (which
stores them), seen through the flat `Record` / `Point` rows these tests assert on.

The stand-in's services are pointed at it (``OTEL_EXPORTER_OTLP_{METRICS,LOGS}_ENDPOINT``);
`wait` is the store's one wait, woken by every arrival of any signal, bounded by a timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tracebed.errors import WaitTimeout
from tracebed.model.logs import LogRecord
from tracebed.model.metrics import MetricPoint
from tracebed.otlp import Sink

T = TypeVar("T")
_TEMPORALITY = {"cumulative": 2, "delta": 1}  # the OTLP enum's numbers


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


def _record(r: LogRecord) -> Record:
    return Record(
        r.service,
        r.scope_name,
        r.body,
        r.severity_text,
        r.severity_number,
        r.trace_id,
        r.span_id,
        dict(r.attributes),
        r.event_name,
        dict(r.resource),
    )


def _point(mp: MetricPoint) -> Point:
    m, p = mp.metric, mp.point
    histogram = m.kind == "histogram"
    return Point(
        m.service,
        m.scope_name,
        m.scope_version,
        m.name,
        m.unit,
        m.description,
        m.kind,
        m.monotonic,
        _TEMPORALITY.get(m.temporality, 0),
        dict(p.attributes),
        float(p.count if histogram else (p.value or 0)),
        float(p.sum or 0.0) if histogram else 0.0,
        p.explicit_bounds,
    )


class SignalReceiver:
    """A sink on free ports; its logs and metrics as `Record` and `Point` rows."""

    def __init__(self) -> None:
        self.sink = Sink()

    @property
    def endpoint(self) -> str:
        return f"http://{self.sink.grpc_endpoint}"

    def start(self) -> SignalReceiver:
        self.sink.start()
        return self

    def stop(self) -> None:
        self.sink.stop()

    def records(self, service: str | None = None) -> list[Record]:
        return [_record(r) for r in self.sink.logs(service=service)]

    def points(self, service: str | None = None, name: str | None = None) -> list[Point]:
        return [_point(mp) for mp in self.sink.metric_points(service, name).points]

    def latest(self, service: str, name: str, **attributes: Any) -> float:
        """The last exported value of the series with these attributes (0 if none yet)."""
        found = [
            p
            for p in self.points(service, name)
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        ]
        return found[-1].value if found else 0.0

    def wait(self, probe: Callable[[], T | None], timeout: float = 15.0) -> T:
        """``probe()``'s first truthy result, re-checked on every arrival."""
        found: list[T] = []

        def check() -> bool:
            result = probe()
            if result:
                found[:] = [result]
                return True
            return False

        try:
            self.sink.store.wait(check, on=None, timeout=timeout, description="signal")
        except WaitTimeout:
            raise AssertionError(f"not received within {timeout}s") from None
        return found[0]
