"""`SinkClient`: a running sink's HTTP query API (`tracebed up` / `tracebed sink`) as a trace source.

`GET /api/traces/{id}?wait=S&quiet=Q&services=a,b` long-polls on the sink side (event-driven
there, through the store's one wait), so `wait_for_trace` makes one request in the common case.
When the condition asks for more than the sink can check (its `services`; e.g. a Kafka
publish span) and the sink's answer does not satisfy it, the client asks again after a short
exponential back-off (0.05 s doubling to 1 s), bounded by the deadline.

Logs and metrics the same way: `GET /api/logs?...&wait=S&count=N` and
`GET /api/metrics?...&wait=S&count=N&increase=X` wait on the sink side; a condition the sink
cannot check (anything but a count or an increase) is checked here, asking again as above.
"""

from __future__ import annotations

import json
import time
from typing import Any, Unpack
from urllib.parse import urlsplit

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tracebed.errors import SinkError
from tracebed.model import Span, Trace, TraceTimeoutError
from tracebed.model.logs import LogPredicate, LogRecord
from tracebed.model.metrics import MetricPoint, MetricPredicate, MetricSelection
from tracebed.model.source import (
    LogFilters,
    Mark,
    MetricFilters,
    TracePredicate,
    described,
    quiet_of,
    why_not,
)
from tracebed.model.store import LogTimeoutError, MetricTimeoutError, reason_not
from tracebed.otlp import codec
from tracebed.otlp.otlp_json import spans_from_otlp_json
from tracebed.otlp.signals import logs_from_request, metrics_from_request

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.05, 1.0


class SinkApiError(SinkError, RuntimeError):
    """The sink's HTTP API cannot be reached or answered something unexpected."""


class SinkClient:
    """A `TraceSource` and `TelemetrySource` over a sink's HTTP API, e.g.
    `SinkClient("http://127.0.0.1:4319")`."""

    def __init__(
        self, base_url: str, session: requests.Session | None = None, timeout: float = 10.0
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"sink URL must look like http://127.0.0.1:PORT, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout  # per request, on top of a long poll's own wait

    def __repr__(self) -> str:
        return f"SinkClient({self.base_url!r})"

    def _get(self, path: str, params: dict[str, str] | None = None, wait: float = 0.0) -> Any:
        url = f"{self.base_url}{path}"
        try:
            return self.session.get(url, params=params, timeout=wait + self.timeout)
        except requests.RequestException as exc:
            raise SinkApiError(f"sink API at {self.base_url} not reachable: {exc}") from exc

    def check(self, timeout: float = 5.0) -> dict[str, object]:
        """`GET /api/stats`: raises `SinkApiError` when the sink is not there."""
        try:
            response = self.session.get(f"{self.base_url}/api/stats", timeout=timeout)
            response.raise_for_status()
            stats = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SinkApiError(f"sink API at {self.base_url} not usable: {exc}") from exc
        if not isinstance(stats, dict):
            raise SinkApiError(f"sink API at {self.base_url}: /api/stats is not an object")
        return stats

    def trace_ids(self) -> list[str]:
        """`GET /api/traces`: the ids of the traces held, oldest first."""
        response = self._get("/api/traces")
        try:
            response.raise_for_status()
            return [str(t["trace_id"]) for t in response.json().get("traces", [])]
        except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SinkApiError(
                f"sink at {self.base_url} answered something unexpected: {exc}"
            ) from None

    def get_trace(
        self,
        trace_id: str,
        *,
        wait: float = 0.0,
        quiet: float | None = None,
        services: set[str] | None = None,
    ) -> Trace | None:
        """The trace as the sink holds it (None: unknown); with `wait`, the sink's long poll."""
        params: dict[str, str] = {}
        if wait > 0:
            params["wait"] = f"{wait:.3f}"
        if quiet is not None:
            params["quiet"] = f"{quiet:.3f}"
        if services:
            params["services"] = ",".join(sorted(services))
        trace_id = trace_id.lower()
        response = self._get(f"/api/traces/{trace_id}", params, wait)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SinkApiError(
                f"GET {response.url}: HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            spans = spans_from_otlp_json(json.loads(response.content))
        except ValueError as exc:  # JSONDecodeError and the decoder's own errors
            raise SinkApiError(f"trace {trace_id}: not an OTLP/JSON document: {exc}") from exc
        return Trace(trace_id, spans, self)

    def trace(self, trace_id: str) -> Trace:
        """The trace as the sink holds it now (empty when nothing arrived)."""
        return self.get_trace(trace_id) or Trace(trace_id.lower(), (), self)

    def traces(self, limit: int | None = None) -> list[Trace]:
        """The traces held (the newest `limit` of them), one request each."""
        ids = self.trace_ids()
        if limit is not None:
            ids = ids[max(0, len(ids) - limit) :]
        traces = []
        for trace_id in ids:
            trace = self.get_trace(trace_id)
            if trace is not None:  # None: evicted between the listing and now
                traces.append(trace)
        return traces

    def spans_linking_to(self, trace_id: str) -> list[Span]:
        """Spans linking into `trace_id`. The API has no link index: this reads every trace."""
        wanted = trace_id.lower()
        return [
            span
            for trace in self.traces()
            for span in trace
            if any(link.trace_id == wanted for link in span.links)
        ]

    def wait_for_trace(
        self,
        trace_id: str,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """See `TraceSource.wait_for_trace`; the waiting itself happens in the sink."""
        quiet = quiet_of(until, quiet)
        services = set(getattr(until, "services", ()) or ()) or None
        trace_id = trace_id.lower()
        deadline = time.monotonic() + timeout
        backoff = BACKOFF_FIRST_S
        trace: Trace | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            trace = self.get_trace(trace_id, wait=remaining, quiet=quiet, services=services)
            if trace is not None and (until is None or until(trace)):
                return trace
            # The sink answered early (its services filter held) but the condition does not
            # hold yet: the sink cannot wait on it, so back off briefly and ask again.
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        snapshot = trace if trace is not None else Trace(trace_id, (), self)
        raise TraceTimeoutError(trace_id, snapshot, timeout, why_not(until, snapshot, quiet))

    # -- logs and metrics ---------------------------------------------------------------
    def _get_json(self, path: str, params: dict[str, str], wait: float = 0.0) -> Any:
        response = self._get(path, params, wait)
        if response.status_code != 200:
            raise SinkApiError(
                f"GET {response.url}: HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise SinkApiError(f"GET {response.url}: not JSON: {exc}") from None

    def mark(self) -> Mark:
        """Now, in the sink's arrivals (`since=` for later logs and metric points)."""
        mark = self.check().get("mark")
        if not isinstance(mark, dict):
            raise SinkApiError(f"sink at {self.base_url} has no logs/metrics store (no mark)")
        return Mark(int(mark.get("logs", 0)), int(mark.get("metrics", 0)))

    def logs(
        self,
        *,
        limit: int | None = None,
        wait: float = 0.0,
        count: int = 1,
        **filters: Unpack[LogFilters],
    ) -> list[LogRecord]:
        """`GET /api/logs`: the matching records (with `wait`, once `count` are there)."""
        since = filters.get("since")
        params = _params(
            **{**filters, "since": since.logs if since is not None else None}, limit=limit
        )
        if wait > 0:
            params.update(wait=f"{wait:.3f}", count=str(count))
        document = self._get_json("/api/logs", params, wait)
        return logs_from_request(_parse(document, ExportLogsServiceRequest()))

    def logs_for_span(self, span: Span) -> list[LogRecord]:
        return self.logs(trace_id=span.trace_id, span_id=span.span_id)

    def wait_for_logs(
        self,
        *,
        until: LogPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[LogFilters],
    ) -> list[LogRecord]:
        """See `TelemetrySource.wait_for_logs`; the waiting happens in the sink."""
        count = int(getattr(until, "count", 1) or 1)
        deadline = time.monotonic() + timeout
        backoff = BACKOFF_FIRST_S
        records: list[LogRecord] = []
        while (remaining := deadline - time.monotonic()) > 0:
            records = self.logs(**filters, wait=remaining, count=count)
            if (until is None and records) or (until is not None and until(records)):
                return records
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        raise LogTimeoutError(described(filters), records, timeout, reason_not(until, records))

    def _points(self, params: dict[str, str], wait: float = 0.0) -> list[MetricPoint]:
        document = self._get_json("/api/metrics", params, wait)
        metrics = metrics_from_request(_parse(document, ExportMetricsServiceRequest()))
        return [point for metric in metrics for point in metric.series()]

    def _metric_params(
        self, service: str | None, name: str | None, filters: MetricFilters
    ) -> dict[str, str]:
        params = _params(service=service, name=name)
        for key, value in (filters.get("attributes") or {}).items():
            params[f"attr.{key}"] = str(value)
        since = filters.get("since")
        if since is not None:
            params["since"] = str(since.metrics)
        return params

    def metric_points(
        self,
        service: str | None = None,
        name: str | None = None,
        *,
        wait: float = 0.0,
        count: int = 1,
        increase: float | None = None,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """`GET /api/metrics` (and, with `since`, each series' last point before it)."""
        params = self._metric_params(service, name, filters)
        selection = MetricSelection()
        if "since" in params:
            before = {k: v for k, v in params.items() if k != "since"}
            for point in self._points({**before, "before": params["since"]}):
                selection.baselines[point.series_key()] = point
        if wait > 0:
            params.update(wait=f"{wait:.3f}", count=str(count))
            if increase is not None:
                params["increase"] = repr(increase)
        selection.points = self._points(params, wait)
        return selection

    def metric_increase(self, service: str, name: str, **filters: Unpack[MetricFilters]) -> float:
        """See `TelemetrySource.metric_increase` (computed in the sink)."""
        params = self._metric_params(service, name, filters)
        return float(self._get_json("/api/metrics/increase", params)["increase"])

    def wait_for_metric(
        self,
        service: str,
        name: str,
        *,
        until: MetricPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """See `TelemetrySource.wait_for_metric`; the waiting happens in the sink."""
        count = int(getattr(until, "count", 1) or 1)
        increase = getattr(until, "increase", None)
        deadline = time.monotonic() + timeout
        backoff = BACKOFF_FIRST_S
        selection = MetricSelection()
        while (remaining := deadline - time.monotonic()) > 0:
            selection = self.metric_points(
                service, name, wait=remaining, count=count, increase=increase, **filters
            )
            if (until is None and len(selection)) or (until is not None and until(selection)):
                return selection
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        raise MetricTimeoutError(
            f"{service}/{name}", selection, timeout, reason_not(until, selection)
        )


def _params(**values: object) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


def _parse(document: Any, message: codec.M) -> codec.M:
    try:
        return codec.parse(json.dumps(document).encode(), codec.JSON, message)
    except codec.BadPayload as exc:
        raise SinkApiError(f"sink answered something that is not OTLP/JSON: {exc}") from None
