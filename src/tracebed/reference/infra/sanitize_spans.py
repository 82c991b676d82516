"""The 3.0.0 collector's ``transform/sanitize_spans``, as a rotel trace processor.

demo 3.0.0's traces pipeline (demo-facts-3.0 §11.3) first sets a missing ``http.route`` on
some frontend SERVER spans, then calls ``set_semconv_span_name("1.37.0",
"original_span_name")``: every SERVER/CLIENT/PRODUCER/CONSUMER span whose attributes allow
it is renamed, keeping the old name in ``original_span_name``. rotel loads this file with
``--otlp-with-trace-processor``; it runs in rotel's embedded Python, so it imports nothing
from tracebed (``rotel_sdk`` only exists there and is imported inside ``process_spans``).
"""

from __future__ import annotations

import re
from typing import Any

# OTLP span kinds
INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER = 1, 2, 3, 4, 5

#: (http.target pattern, route) tried in order on frontend SERVER spans without http.route.
FRONTEND_ROUTES: tuple[tuple[str, str], ...] = (
    (r"/api/cart", "/api/cart"),
    (r"/api/checkout", "/api/checkout"),
    (r"/api/products/.*", "/api/products/{productId}"),
    (r"/api/recommendations", "/api/recommendations"),
    (r"/api/data.*", "/api/data"),
)
ORIGINAL = "original_span_name"


def frontend_route(service: str, kind: int, attrs: dict[str, Any]) -> str | None:
    """The route the processor sets, or None."""
    if service != "frontend" or kind != SERVER or attrs.get("http.route") is not None:
        return None
    target = attrs.get("http.target")
    if not isinstance(target, str):
        return None
    for pattern, route in FRONTEND_ROUTES:
        if re.search(pattern, target):
            return route
    return None


def _rpc(attrs: dict[str, Any]) -> str | None:
    service, method = attrs.get("rpc.service"), attrs.get("rpc.method")
    if service and method:
        return f"{service}/{method}"
    return None


def _messaging(attrs: dict[str, Any]) -> str | None:
    operation = attrs.get("messaging.operation.name") or attrs.get("messaging.operation")
    if not operation:
        return None
    destination = attrs.get("messaging.destination.name")
    return f"{operation} {destination}" if destination else str(operation)


def _db(attrs: dict[str, Any]) -> str | None:
    system = attrs.get("db.system.name") or attrs.get("db.system")
    if not system:
        return None
    if attrs.get("db.query.summary"):
        return str(attrs["db.query.summary"])
    target = None
    namespace = attrs.get("db.namespace")
    if namespace:
        collection = attrs.get("db.collection.name")
        target = f"{namespace}.{collection}" if collection else str(namespace)
    elif attrs.get("server.address"):
        port = attrs.get("server.port")
        target = f"{attrs['server.address']}:{port}" if port else str(attrs["server.address"])
    operation = attrs.get("db.operation.name")
    if operation and target:
        return f"{operation} {target}"
    if target:
        return target
    return str(operation or system)


def semconv_span_name(kind: int, attrs: dict[str, Any]) -> str | None:
    """The name ``set_semconv_span_name`` gives, or None to keep the span's own."""
    if kind == INTERNAL:
        return None
    if kind in (SERVER, CLIENT):
        method = attrs.get("http.request.method") or attrs.get("http.method")
        if method:
            method = str(method)
            if method == "_OTHER":
                method = "HTTP"
            template = attrs.get("http.route" if kind == SERVER else "url.template")
            return f"{method} {template}" if template else method
        rpc = _rpc(attrs)
        if rpc:
            return rpc
        if kind == CLIENT:
            db = _db(attrs)
            if db:
                return db
        return _messaging(attrs)
    if kind in (PRODUCER, CONSUMER):
        return _messaging(attrs)
    return None


def sanitize(
    service: str, kind: int, name: str, attrs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """(new name, attributes to add) for one span: the whole processor on plain data."""
    added: dict[str, Any] = {}
    route = frontend_route(service, kind, attrs)
    if route is not None:
        added["http.route"] = route
    new = semconv_span_name(kind, {**attrs, **added})
    if new is not None and new != name:
        added[ORIGINAL] = name
        return new, added
    return name, added


def process_spans(resource_spans: Any) -> None:  # pragma: no cover - runs inside rotel
    from rotel_sdk.open_telemetry.common.v1 import AnyValue, KeyValue

    service = ""
    if resource_spans.resource is not None:
        for kv in resource_spans.resource.attributes:
            if kv.key == "service.name" and kv.value is not None:
                service = str(kv.value.value)
    for scope_spans in resource_spans.scope_spans:
        for span in scope_spans.spans:
            attrs = {
                kv.key: (kv.value.value if kv.value is not None else None) for kv in span.attributes
            }
            name, added = sanitize(service, int(span.kind), span.name, attrs)
            for key, value in added.items():
                span.attributes.append(KeyValue(key, AnyValue(value)))
            span.name = name
