"""The sink's query API for logs and metrics (beside `/api/traces`), over the store.

- `GET /api/logs?trace_id=&span_id=&service=&severity=&since=&limit=` → OTLP/JSON
  `ExportLogsServiceRequest` of the matching records (`severity`: at least that level, a
  number or TRACE/DEBUG/INFO/WARN/ERROR/FATAL; `since`: a mark's `logs` from `/api/stats`).
- `GET /api/metrics?service=&name=&since=&attr.KEY=VALUE` → OTLP/JSON
  `ExportMetricsServiceRequest` of the matching points; `before=N` instead gives each series'
  last point before mark N (what a cumulative counter's increase counts from).
- `GET /api/metrics/increase?service=&name=&since=&attr.KEY=VALUE` → `{"increase": x, "points": n}`.

`wait=S` (logs, metrics) blocks up to S seconds, event-driven through the store's one wait,
until `count=N` (default 1) items match (metrics: or the increase reaches `increase=X`);
on timeout the answer is what matched by then. After a wait the `X-Tracebed-Wait` header says
`met` or `timeout`, as on `/api/traces/{id}`.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tracebed.errors import SinkError, WaitTimeout
from tracebed.model.logs import severity_level
from tracebed.model.metrics import MetricSelection
from tracebed.model.store import Mark, SpanStore
from tracebed.otlp.codec import to_otlp_json
from tracebed.otlp.signals import logs_to_request, metrics_to_request

MAX_WAIT_S = 120.0
WAIT_HEADER = "X-Tracebed-Wait"  # as on /api/traces/{id}: "met" or "timeout" after a wait=
Query = dict[str, list[str]]
Headers = dict[str, str]


class QueryError(SinkError, ValueError):
    """A bad query parameter (HTTP 400)."""


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _number(query: Query, name: str, default: float) -> float:
    raw = _one(query, name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise QueryError(f"{name} must be a number, got {raw!r}") from None


def _seq(query: Query, name: str) -> int:
    return int(_number(query, name, 0))


def attribute_filter(query: Query) -> dict[str, object] | None:
    """`attr.KEY=VALUE` parameters (values compare as text)."""
    found = {k[len("attr.") :]: v[0] for k, v in query.items() if k.startswith("attr.") and v}
    return dict(found) or None


def _wait(query: Query) -> float:
    return min(max(_number(query, "wait", 0.0), 0.0), MAX_WAIT_S)


def logs(store: SpanStore, query: Query, headers: Headers) -> dict[str, Any]:
    severity: str | int | None = _one(query, "severity") or None
    if severity is not None:
        try:
            severity_level(severity)
        except ValueError as exc:
            raise QueryError(str(exc)) from None
    limit = int(_number(query, "limit", 0)) or None  # 0 or none given: no limit
    filters: dict[str, Any] = dict(
        trace_id=_one(query, "trace_id") or None,
        span_id=_one(query, "span_id") or None,
        service=_one(query, "service") or None,
        severity=severity,
        since=Mark(logs=_seq(query, "since")),
    )
    wait = _wait(query)
    if wait > 0:
        count = int(_number(query, "count", 1))
        headers[WAIT_HEADER] = "timeout"
        with contextlib.suppress(WaitTimeout):  # on timeout: answer with what matched by now
            store.wait_for_logs(
                **filters, until=lambda records: len(records) >= count, timeout=wait
            )
            headers[WAIT_HEADER] = "met"
    records = store.logs(**filters, limit=limit)
    return to_otlp_json(logs_to_request(records))


def _selection(store: SpanStore, query: Query, headers: Headers) -> MetricSelection:
    service, name = _one(query, "service") or None, _one(query, "name") or None
    attributes = attribute_filter(query)
    since = Mark(metrics=_seq(query, "since"))
    wait = _wait(query)
    if wait > 0 and service and name:
        count = int(_number(query, "count", 1))
        wanted = _number(query, "increase", float("nan"))

        def enough(selection: MetricSelection) -> bool:
            if len(selection) < count:
                return False
            return wanted != wanted or selection.increase() >= wanted  # nan: no increase asked

        try:
            selection = store.wait_for_metric(
                service, name, until=enough, since=since, attributes=attributes, timeout=wait
            )
            headers[WAIT_HEADER] = "met"
            return selection
        except WaitTimeout:
            headers[WAIT_HEADER] = "timeout"
    elif wait > 0:
        raise QueryError("wait= needs both service= and name=")
    return store.metric_points(service, name, attributes=attributes, since=since)


def metrics(store: SpanStore, query: Query, headers: Headers) -> dict[str, Any]:
    if _one(query, "before") is not None:
        selection = store.metric_points(
            _one(query, "service") or None,
            _one(query, "name") or None,
            attributes=attribute_filter(query),
            since=Mark(metrics=_seq(query, "before")),
        )
        return to_otlp_json(metrics_to_request(selection.baselines.values()))
    return to_otlp_json(metrics_to_request(_selection(store, query, headers).points))


def increase(store: SpanStore, query: Query, headers: Headers) -> dict[str, Any]:
    if not (_one(query, "service") and _one(query, "name")):
        raise QueryError("service= and name= are required")
    selection = _selection(store, query, headers)
    try:
        return {"increase": selection.increase(), "points": len(selection)}
    except ValueError as exc:
        raise QueryError(str(exc)) from None


ROUTES = {"/api/logs": logs, "/api/metrics": metrics, "/api/metrics/increase": increase}


def answer(store: SpanStore, path: str, query: Query) -> tuple[int, Any, Headers] | None:
    """`(status, JSON document, headers)` for a logs/metrics API path, or None when it is not
    one."""
    route = ROUTES.get(path)
    if route is None:
        return None
    headers: Headers = {}
    try:
        return 200, route(store, query, headers), headers
    except QueryError as exc:
        return 400, {"error": str(exc)}, {}
