"""telemetry-docs (new at 3.0.0): its routes, its spans, its place in the stand-in (and not at 2.0.2)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tenacity import Retrying, stop_after_delay, wait_fixed

from tracebed.reference.services.telemetry_docs import DocsServer, healthcheck, route_of
from tracebed.reference.spec import build_spec


def test_routes_map_as_the_demo_nginx_names_its_spans() -> None:
    assert route_of("/") == "/"
    assert route_of("/index") == route_of("/index.html") == "/index"
    assert route_of("/attributes/app") == "/attributes/{business_domain}"
    assert route_of("/attributes/app/") == "/attributes/{business_domain}"
    assert route_of("/services/cart/") == "/services/{service_name}"
    assert route_of("/registry/whatever") == "/registry/whatever"  # the raw URI
    for untraced in (
        "/status",
        "/search/",
        "/search/search_index.json",
        "/assets/site.css",
        "/img/logo.png",
    ):
        assert route_of(untraced) is None, untraced


@pytest.fixture
def docs() -> Iterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = DocsServer(0, host="127.0.0.1", tracer=provider.get_tracer("nginx"))
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", exporter
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def finished(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    """The spans once `count` have ended, in start order.

    A span ends after its response is written, on the server's own thread: wait (bounded)
    for them all, and order them by start, not by end.
    """
    for attempt in Retrying(stop=stop_after_delay(5), wait=wait_fixed(0.02), reraise=True):
        with attempt:
            assert len(exporter.get_finished_spans()) >= count
    return sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)


def test_pages_and_their_spans(docs: tuple[str, InMemorySpanExporter]) -> None:
    base, exporter = docs
    trace_id, parent = "ab" * 16, "cd" * 8
    r = requests.get(
        f"{base}/attributes/app/",
        timeout=5,
        headers={"traceparent": f"00-{trace_id}-{parent}-01", "baggage": "session.id=s1"},
    )
    assert r.status_code == 200 and "telemetry" in r.text
    for path in ("/", "/index", "/services/cart", "/status", "/assets/site.css"):
        assert requests.get(base + path, timeout=5).status_code == 200, path
    assert requests.get(base + "/nope", timeout=5).status_code == 404
    assert "Active connections" in requests.get(base + "/status", timeout=5).text
    spans = finished(exporter, 5)
    assert [s.name for s in spans] == [
        "GET /attributes/{business_domain}",
        "GET /",
        "GET /index",
        "GET /services/{service_name}",
        "GET /nope",  # /status and the asset: not traced
    ]
    first = spans[0]
    assert first.kind is SpanKind.SERVER
    assert f"{first.context.trace_id:032x}" == trace_id
    assert first.parent is not None and f"{first.parent.span_id:016x}" == parent
    attrs = dict(first.attributes or {})
    assert attrs["http.method"] == "GET" and attrs["http.target"] == "/attributes/app/"
    assert attrs["http.route"] == "/attributes/{business_domain}"  # the collector keeps the name
    assert attrs["http.status_code"] == 200
    assert dict(spans[-1].attributes or {})["http.status_code"] == 404


def test_head_and_other_methods_as_nginx_answers_them(
    docs: tuple[str, InMemorySpanExporter],
) -> None:
    base, exporter = docs
    page = requests.get(base + "/services/cart", timeout=5)
    head = requests.head(base + "/services/cart", timeout=5)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == page.headers["Content-Length"] != "0"
    assert head.headers["Server"].strip() == "nginx"  # no Python version in it
    assert requests.post(base + "/", timeout=5).status_code == 501  # GET and HEAD only
    spans = finished(exporter, 2)
    assert [s.name for s in spans] == [
        "GET /services/{service_name}",
        "HEAD /services/{service_name}",
    ]
    assert dict(spans[1].attributes or {})["http.response_content_length"] == int(
        page.headers["Content-Length"]
    )


def test_the_healthcheck_repeats_a_traced_get_of_the_root(
    docs: tuple[str, InMemorySpanExporter],
) -> None:
    base, exporter = docs
    stopped = threading.Event()
    thread = threading.Thread(target=healthcheck, args=(base + "/", 0.05, stopped), daemon=True)
    thread.start()
    try:
        for _ in range(200):  # bounded: each wait is one interval
            if len(exporter.get_finished_spans()) >= 2:
                break
            stopped.wait(0.05)
    finally:
        stopped.set()
        thread.join(timeout=5)
    spans = exporter.get_finished_spans()
    assert len(spans) >= 2 and {s.name for s in spans} == {"GET /"}
    assert all(s.parent is None for s in spans)  # each check is a trace of its own
    assert dict(spans[0].attributes or {})["http.user_agent"] == "Wget"


def test_in_the_3_0_0_stand_in_behind_envoy_and_absent_at_2_0_2(tmp_path: Path) -> None:
    spec = build_spec(tmp_path / "v3", "127.0.0.1:4317", demo_version="3.0.0")
    services = spec["services"]
    docs = services["telemetry-docs"]
    port = spec["x-tracebed-stack"]["ports"]["TELEMETRY_DOCS_PORT"]
    env = docs["environment"]
    assert env["TELEMETRY_DOCS_PORT"] == str(port) and env["OTEL_SERVICE_NAME"] == "telemetry-docs"
    assert "OTEL_RESOURCE_ATTRIBUTES" not in env  # compose passes none
    assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in env  # gRPC, to the collector's 4317
    assert env["TRACEBED_HEALTHCHECK_INTERVAL_S"] == "5"
    assert docs["x-tracebed"]["probe"] == {
        "type": "http",
        "url": f"http://127.0.0.1:{port}/",
        "status": 200,
    }
    assert services["frontend-proxy"]["depends_on"]["telemetry-docs"] == {
        "condition": "service_healthy"
    }
    assert services["frontend-proxy"]["environment"]["TELEMETRY_DOCS_PORT"] == str(port)
    assert "telemetry-docs" not in spec["x-tracebed-stack"]["absent"]
    assert "opamp-server" in spec["x-tracebed-stack"]["absent"]
    routes, clusters = _envoy(tmp_path / "v3")
    assert {"match": {"path": "/telemetry"}, "redirect": {"path_redirect": "/telemetry/"}} in routes
    docs_route = next(r for r in routes if r["match"] == {"prefix": "/telemetry/"})
    assert docs_route["route"] == {"cluster": "telemetry-docs", "prefix_rewrite": "/"}
    assert routes.index(docs_route) < next(
        i for i, r in enumerate(routes) if r["match"] == {"prefix": "/"}
    )
    assert clusters["telemetry-docs"] == port

    old = build_spec(tmp_path / "v2", "127.0.0.1:4317", demo_version="2.0.2")
    assert "telemetry-docs" not in old["services"]
    assert "telemetry-docs" not in old["x-tracebed-stack"]["absent"]  # no such service at 2.0.2
    assert all("TELEMETRY_DOCS_HOST" not in s["environment"] for s in old["services"].values())
    routes, clusters = _envoy(tmp_path / "v2")
    assert not [
        r
        for r in routes
        if r["match"].get("prefix", r["match"].get("path", "")).startswith("/telemetry")
    ]
    assert "telemetry-docs" not in clusters


def _envoy(workdir: Path) -> tuple[list[dict], dict[str, int]]:
    doc = yaml.safe_load((workdir / "frontend-proxy" / "envoy.yaml").read_text())
    hcm = doc["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    clusters = {
        c["name"]: c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]["port_value"]
        for c in doc["static_resources"]["clusters"]
    }
    return routes, clusters
