"""Jaeger's HTTP query API (the v1 JSON its UI uses) over the store, so tools written for
Jaeger (the demo's own `test/telemetry` suite among them) can query the sink.

Routes, under `/jaeger/api/` and also `/jaeger/ui/api/` (the demo 3.0's Jaeger base path):
`services`, `services/{service}/operations`, `operations?service=`, `traces?service=&operation=
&tag=&tags=&minDuration=&maxDuration=&limit=&start=&end=&lookback=` (or `traceID=`),
`traces/{id}`, `dependencies?endTs=&lookback=`; parameters are parsed as Jaeger parses them. Answers are
Jaeger's structured response `{"data", "total", "limit", "offset", "errors"}`; spans carry
`references` (CHILD_OF / FOLLOWS_FROM), times in microseconds, resource attributes as the
process's tags, and kind / status / scope as the tags Jaeger's OTLP translator writes.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from tracebed.errors import SinkError
from tracebed.model.span import AttrValue, Span, SpanKind, StatusCode
from tracebed.model.store import SpanStore
from tracebed.model.trace import Trace

PREFIXES = ("/jaeger/api/", "/jaeger/ui/api/")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DEFAULT_LIMIT = 100  # Jaeger's defaultQueryLimit
DEFAULT_LOOKBACK_S = 2 * 24 * 3600.0  # Jaeger's default trace-query lookback (no start given)


class JaegerQueryError(SinkError, ValueError):
    """A bad query parameter (Jaeger answers 400 with the message in `errors`)."""


def response(data: Any, total: int | None = None) -> dict[str, Any]:
    """Jaeger's `structuredResponse`."""
    if total is None:
        total = len(data) if isinstance(data, list) else 0
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": None}


def error(status: int, message: str) -> dict[str, Any]:
    return {
        "data": None,
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": [{"code": status, "msg": message}],
    }


def _tag(key: str, value: AttrValue) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, bytes):
        return {"key": key, "type": "binary", "value": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    # Lists and maps: Jaeger's translator writes them as JSON strings.
    return {"key": key, "type": "string", "value": json.dumps(value, default=str)}


def _tags(attributes: Iterable[tuple[str, AttrValue]]) -> list[dict[str, Any]]:
    return [_tag(k, v) for k, v in attributes]


def span_tags(span: Span) -> list[dict[str, Any]]:
    """A span's attributes, and kind / scope / status as the tags Jaeger derives from OTLP."""
    tags = _tags(span.attributes.items())
    if span.kind not in (SpanKind.UNSPECIFIED, SpanKind.INTERNAL):
        tags.append(_tag("span.kind", span.kind.label))
    if span.scope.name:
        tags.append(_tag("otel.scope.name", span.scope.name))
    if span.scope.version:
        tags.append(_tag("otel.scope.version", span.scope.version))
    if span.status.code is not StatusCode.UNSET:
        tags.append(_tag("otel.status_code", span.status.code.name))
    if span.status.code is StatusCode.ERROR:
        tags.append(_tag("error", True))
    if span.status.message:
        tags.append(_tag("otel.status_description", span.status.message))
    return tags


def trace_json(trace: Trace) -> dict[str, Any]:
    """One trace as Jaeger's UI model: spans, and a process per distinct resource."""
    processes: dict[str, dict[str, Any]] = {}
    process_ids: dict[str, str] = {}
    spans = []
    held = {s.span_id for s in trace}
    for span in sorted(trace, key=lambda s: (s.start_ns, s.span_id)):
        resource_key = repr(sorted(span.resource.items()))
        pid = process_ids.get(resource_key)
        if pid is None:
            pid = process_ids[resource_key] = f"p{len(process_ids) + 1}"
            processes[pid] = {
                "serviceName": span.service,
                "tags": _tags((k, v) for k, v in span.resource.items() if k != "service.name"),
            }
        references = []
        if span.parent_span_id:
            references.append(
                {"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id}
            )
        references += [
            {"refType": "FOLLOWS_FROM", "traceID": link.trace_id, "spanID": link.span_id}
            for link in span.links
        ]
        tags = span_tags(span)
        warnings = (
            None
            if not span.parent_span_id or span.parent_span_id in held
            else [f"invalid parent span IDs={span.parent_span_id}; skipping clock skew adjustment"]
        )
        spans.append(
            {
                "traceID": span.trace_id,
                "spanID": span.span_id,
                "operationName": span.name,
                "references": references,
                "startTime": span.start_ns // 1000,
                "duration": span.duration_ns // 1000,
                "tags": tags,
                "logs": [
                    {
                        "timestamp": event.time_ns // 1000,
                        "fields": [_tag("event", event.name)] + _tags(event.attributes.items()),
                    }
                    for event in span.events
                ],
                "processID": pid,
                "warnings": warnings,
                "flags": 1,
            }
        )
    return {"traceID": trace.trace_id, "spans": spans, "processes": processes, "warnings": None}


def parse_duration(text: str, name: str) -> float:
    """A Go duration (`1h`, `2h30m`, `500ms`, `1.5s`) in seconds."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise JaegerQueryError(
            f"unable to parse param '{name}': {text!r} is not a duration like 1h, 15m or 500ms"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def _duration_ns(query: dict[str, list[str]], name: str) -> int | None:
    raw = query.get(name, [""])[0]
    return int(parse_duration(raw, name) * 1e9) if raw else None


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [""])[0]
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise JaegerQueryError(f"{name}={raw!r} is not an integer") from None


def services(store: SpanStore) -> list[str]:
    return sorted({span.service for trace in store.traces() for span in trace if span.service})


def operations(store: SpanStore, service: str) -> list[dict[str, str]]:
    seen: set[tuple[str, str]] = set()
    for trace in store.traces():
        for span in trace:
            if span.service == service:
                seen.add(
                    (span.name, span.kind.label if span.kind is not SpanKind.UNSPECIFIED else "")
                )
    return [{"name": name, "spanKind": kind} for name, kind in sorted(seen)]


def _tag_filter(query: dict[str, list[str]]) -> dict[str, str]:
    """`tag=key:value` (repeatable) and `tags={"key": "value"}`, as Jaeger parses them."""
    wanted: dict[str, str] = {}
    for tag in query.get("tag", []):
        key, sep, value = tag.partition(":")
        if not sep:
            raise JaegerQueryError(
                f"malformed 'tag' parameter, expecting key:value, received: {tag}"
            )
        wanted[key] = value
    for raw in query.get("tags", []):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise JaegerQueryError(
                f"malformed 'tags' parameter, cannot unmarshal JSON: {exc}"
            ) from None
        if not isinstance(document, dict):
            raise JaegerQueryError("malformed 'tags' parameter: expecting a JSON object")
        wanted.update({str(k): str(v) for k, v in document.items()})
    return wanted


def _has_tags(span: Span, wanted: dict[str, str]) -> bool:
    """Jaeger matches a tag among the span's tags (derived ones too) and its process's."""
    have = {t["key"]: t["value"] for t in _tags(span.resource.items())}
    have.update({t["key"]: t["value"] for t in span_tags(span)})

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return all(key in have and text(have[key]) == value for key, value in wanted.items())


def find_traces(store: SpanStore, query: dict[str, list[str]]) -> list[Trace]:
    """`/api/traces?service=&operation=&tag=&tags=&minDuration=&maxDuration=&limit=&start=&end=`
    (and the UI's `lookback=`, which sets `start` when it is not given), newest first; or
    `traceID=` (repeatable) for those traces."""
    ids = query.get("traceID", [])
    if ids:
        traces = []
        for trace_id in ids:
            try:
                trace = store.get_trace(trace_id.lower().rjust(32, "0"))
            except ValueError:
                raise JaegerQueryError(f"cannot parse traceID param: {trace_id!r}") from None
            if trace is not None:
                traces.append(trace)
        return traces
    service = query.get("service", [""])[0]
    if not service:
        raise JaegerQueryError("parameter 'service' is required")
    operation = query.get("operation", [""])[0]
    limit = _int(query, "limit", DEFAULT_LIMIT) or DEFAULT_LIMIT
    end_us = _int(query, "end", int(time.time() * 1e6))
    lookback = query.get("lookback", [""])[0]
    if query.get("start", [""])[0]:
        start_us = _int(query, "start", 0)
    elif lookback and lookback != "custom":
        start_us = int(end_us - parse_duration(lookback, "lookback") * 1e6)
    else:
        start_us = int(end_us - DEFAULT_LOOKBACK_S * 1e6)
    wanted = _tag_filter(query)
    min_ns = _duration_ns(query, "minDuration")
    max_ns = _duration_ns(query, "maxDuration")
    found = []
    for trace in store.traces():
        matching = [
            s
            for s in trace
            if s.service == service
            and (not operation or s.name == operation)
            and start_us <= s.start_ns // 1000 <= end_us
            and (not wanted or _has_tags(s, wanted))
            and (min_ns is None or s.duration_ns >= min_ns)
            and (max_ns is None or s.duration_ns <= max_ns)
        ]
        if matching:
            found.append((max(s.start_ns for s in trace), trace))
    found.sort(key=lambda item: item[0], reverse=True)
    return [trace for _, trace in found[:limit]]


def dependencies(store: SpanStore, query: dict[str, list[str]]) -> list[dict[str, Any]]:
    """`/api/dependencies?endTs=&lookback=` (milliseconds): parent -> child call counts."""
    end_ms = _int(query, "endTs", int(time.time() * 1000))
    lookback_ms = _int(query, "lookback", 24 * 3600 * 1000)
    start_ns, end_ns = (end_ms - lookback_ms) * 1_000_000, end_ms * 1_000_000
    calls: Counter[tuple[str, str]] = Counter()
    for trace in store.traces():
        for span in trace:
            if not start_ns <= span.start_ns <= end_ns:
                continue
            parent = trace.parent(span)
            if parent is not None and parent.service != span.service:
                calls[(parent.service, span.service)] += 1
    return [{"parent": p, "child": c, "callCount": n} for (p, c), n in sorted(calls.items())]


def answer(store: SpanStore, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
    """`(status, JSON document)` for a Jaeger API path, or None when `path` is not one."""
    rest = next((path[len(p) :] for p in PREFIXES if path.startswith(p)), None)
    if rest is None:
        return None
    parts = [p for p in rest.split("/") if p]
    try:
        if parts == ["services"]:
            return 200, response(services(store))
        if len(parts) == 3 and parts[0] == "services" and parts[2] == "operations":
            return 200, response([op["name"] for op in operations(store, parts[1])])
        if parts == ["operations"]:
            service = query.get("service", [""])[0]
            if not service:
                raise JaegerQueryError("parameter 'service' is required")
            return 200, response(operations(store, service))
        if parts == ["traces"]:
            return 200, response([trace_json(t) for t in find_traces(store, query)])
        if len(parts) == 2 and parts[0] == "traces":
            trace_id = parts[1].lower().rjust(32, "0")
            try:
                trace = store.get_trace(trace_id)
            except ValueError as exc:
                raise JaegerQueryError(str(exc)) from None
            if trace is None:
                return 404, error(404, "trace not found")
            return 200, response([trace_json(trace)])
        if parts == ["dependencies"]:
            return 200, response(dependencies(store, query))
    except JaegerQueryError as exc:
        return 400, error(400, str(exc))
    return 404, error(404, f"no Jaeger API resource {path}")
