"""The sink answers Jaeger's HTTP query API in Jaeger's JSON shape, so the demo's own
`test/telemetry` queries (services, traces by service with limit and lookback, the walk from a
child span's CHILD_OF reference to its parent's process) work against it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.otlp import Sink

BASES = ["/jaeger/api", "/jaeger/ui/api"]  # the demo 3.0 Jaeger's base path is /jaeger/ui


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[Sink, str]]:
    """A sink holding one trace: frontend -> checkout -> (payment, checkout internal)."""
    with Sink() as running:
        providers = {
            name: TracerProvider(
                resource=Resource.create({"service.name": name, "service.version": "9"})
            )
            for name in ("frontend", "checkout", "payment")
        }
        for provider in providers.values():
            exporter = OTLPSpanExporter(endpoint=running.grpc_endpoint, insecure=True)
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = {name: p.get_tracer("test-scope", "1.2") for name, p in providers.items()}
        with tracer["frontend"].start_as_current_span(
            "GET /api/cart", kind=SpanKind.SERVER
        ) as root:
            root.set_attribute("http.response.status_code", 200)
            with tracer["checkout"].start_as_current_span(
                "oteldemo.CheckoutService/PlaceOrder", kind=SpanKind.SERVER
            ):
                with tracer["checkout"].start_as_current_span("prepare"):
                    pass
                with tracer["payment"].start_as_current_span(
                    "oteldemo.PaymentService/Charge", kind=SpanKind.SERVER
                ) as charge:
                    charge.set_status(Status(StatusCode.ERROR, "declined"))
                    charge.add_event("card checked", {"app.ok": False})
            trace_id = format(root.get_span_context().trace_id, "032x")
        for provider in providers.values():
            provider.shutdown()
        running.wait_for_trace(trace_id, until=lambda t: len(t) == 4, timeout=10)
        yield running, trace_id


def _get(sink: Sink, path: str, **params: Any) -> Any:
    response = requests.get(f"{sink.http_url}{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"data", "total", "limit", "offset", "errors"}
    assert document["errors"] is None
    return document["data"]


@pytest.mark.parametrize("base", BASES)
def test_services_and_operations(sink: tuple[Sink, str], base: str) -> None:
    running, _ = sink
    assert _get(running, f"{base}/services") == ["checkout", "frontend", "payment"]
    assert _get(running, f"{base}/services/checkout/operations") == [
        "oteldemo.CheckoutService/PlaceOrder",
        "prepare",
    ]
    assert _get(running, f"{base}/operations", service="payment") == [
        {"name": "oteldemo.PaymentService/Charge", "spanKind": "server"}
    ]


@pytest.mark.parametrize("base", BASES)
def test_edges_found_the_way_the_demos_telemetry_tests_walk_them(
    sink: tuple[Sink, str], base: str
) -> None:
    running, trace_id = sink
    assert len(_get(running, f"{base}/traces", service="payment", limit=1, lookback="1h")) == 1

    def edge(parent: str, child: str) -> bool:
        for trace in _get(running, f"{base}/traces", service=child, limit=200, lookback="1h"):
            by_id = {s["spanID"]: s for s in trace["spans"]}
            for span in trace["spans"]:
                if trace["processes"][span["processID"]]["serviceName"] != child:
                    continue
                for ref in span["references"]:
                    target = by_id.get(ref["spanID"])
                    if ref["refType"] == "CHILD_OF" and target is not None:
                        process = trace["processes"][target["processID"]]
                        if process["serviceName"] == parent:
                            return True
        return False

    assert edge("frontend", "checkout") and edge("checkout", "payment")
    assert not edge("frontend", "payment")  # payment's parent is checkout, not frontend


def test_trace_by_id_in_jaegers_shape(sink: tuple[Sink, str]) -> None:
    running, trace_id = sink
    [trace] = _get(running, f"/jaeger/api/traces/{trace_id}")
    assert trace["traceID"] == trace_id and len(trace["spans"]) == 4
    charge = next(s for s in trace["spans"] if s["operationName"].endswith("Charge"))
    tags = {t["key"]: (t["type"], t["value"]) for t in charge["tags"]}
    assert tags["span.kind"] == ("string", "server")
    assert tags["otel.status_code"] == ("string", "ERROR") and tags["error"] == ("bool", True)
    assert tags["otel.status_description"] == ("string", "declined")
    assert tags["otel.scope.name"] == ("string", "test-scope")
    assert isinstance(charge["startTime"], int) and charge["duration"] >= 0  # microseconds
    assert charge["logs"][0]["fields"][0] == {
        "key": "event",
        "type": "string",
        "value": "card checked",
    }
    process = trace["processes"][charge["processID"]]
    assert process["serviceName"] == "payment"
    assert {"key": "service.version", "type": "string", "value": "9"} in process["tags"]
    root = next(s for s in trace["spans"] if s["operationName"] == "GET /api/cart")
    assert root["references"] == []
    assert {"key": "http.response.status_code", "type": "int64", "value": 200} in root["tags"]


def test_dependencies_and_errors(sink: tuple[Sink, str]) -> None:
    running, _ = sink
    assert _get(running, "/jaeger/api/dependencies", lookback=3_600_000) == [
        {"parent": "checkout", "child": "payment", "callCount": 1},
        {"parent": "frontend", "child": "checkout", "callCount": 1},
    ]
    missing = requests.get(f"{running.http_url}/jaeger/api/traces/{'0' * 31}1", timeout=10)
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 404
    bad = requests.get(f"{running.http_url}/jaeger/api/traces", timeout=10)
    assert bad.status_code == 400 and "service" in bad.json()["errors"][0]["msg"]
    bad = requests.get(
        f"{running.http_url}/jaeger/api/traces",
        params={"service": "payment", "lookback": "forever"},
        timeout=10,
    )
    assert bad.status_code == 400
    # An old lookback finds nothing; the trace is newer than a window ending an hour ago.
    end_us = int(time.time() * 1e6 - 3600e6)
    assert _get(running, "/jaeger/api/traces", service="payment", end=end_us, lookback="1h") == []


def test_trace_search_filters_as_jaeger_parses_them(sink: tuple[Sink, str]) -> None:
    running, trace_id = sink
    base = "/jaeger/api/traces"
    assert len(_get(running, base, service="frontend", tag="http.response.status_code:200")) == 1
    assert _get(running, base, service="frontend", tag="http.response.status_code:500") == []
    # Derived tags (error, from the status) and process tags (resource) match too.
    assert len(_get(running, base, service="payment", tags='{"error": "true"}')) == 1
    assert _get(running, base, service="checkout", tags='{"error": "true"}') == []
    assert len(_get(running, base, service="checkout", tag="service.version:9")) == 1
    assert len(_get(running, base, service="checkout", operation="prepare")) == 1
    assert _get(running, base, service="checkout", operation="nope") == []
    assert _get(running, base, service="checkout", minDuration="1h") == []
    assert len(_get(running, base, service="checkout", maxDuration="1h30m")) == 1
    [by_id] = _get(running, base, traceID=trace_id)
    assert by_id["traceID"] == trace_id
    bad = requests.get(
        f"{running.http_url}{base}", params={"service": "x", "tag": "no-colon"}, timeout=10
    )
    assert bad.status_code == 400 and "expecting key:value" in bad.json()["errors"][0]["msg"]
