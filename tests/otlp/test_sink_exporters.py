"""The sink against the real OpenTelemetry SDK exporters (gRPC and HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import Status, StatusCode

from tracebed.model import SpanKind
from tracebed.model import StatusCode as TbStatus
from tracebed.otlp import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def _provider(exporter: SpanExporter, service: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _emit_tree(provider: TracerProvider) -> str:
    """root(server) -> [child-a(client) -> grandchild, child-b]; returns the trace id."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", kind=OtelKind.SERVER) as root:
        root.set_attribute("http.request.method", "GET")
        with tracer.start_as_current_span("child-a", kind=OtelKind.CLIENT) as a:
            a.set_attribute("rpc.system", "grpc")
            a.set_attribute("app.numbers", [1, 2, 3])
            with tracer.start_as_current_span("grandchild") as g:
                g.set_status(Status(StatusCode.ERROR, "boom"))
        with tracer.start_as_current_span("child-b"):
            pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    return trace_id


def _check_tree(sink: Sink, trace_id: str, service: str) -> None:
    trace = sink.wait_for_trace(trace_id, until=lambda t: len(t) == 4, timeout=10)
    assert len(trace) == 4
    by_name = {span.name: span for span in trace}
    assert set(by_name) == {"root", "child-a", "grandchild", "child-b"}
    root = by_name["root"]
    assert root.is_root and root.kind is SpanKind.SERVER and root.service == service
    assert by_name["child-a"].parent_span_id == root.span_id
    assert by_name["child-b"].parent_span_id == root.span_id
    assert by_name["grandchild"].parent_span_id == by_name["child-a"].span_id
    assert by_name["child-a"].attributes["app.numbers"] == [1, 2, 3]
    assert by_name["grandchild"].status.code is TbStatus.ERROR
    assert by_name["grandchild"].status.message == "boom"
    assert trace.orphans == []
    assert [c.name for c in trace.children(root)] == ["child-a", "child-b"]


def test_grpc_exporter_spans_and_parent_links(sink: Sink) -> None:
    provider = _provider(GrpcExporter(endpoint=sink.grpc_endpoint, insecure=True), "svc-grpc")
    trace_id = _emit_tree(provider)
    provider.shutdown()
    _check_tree(sink, trace_id, "svc-grpc")
    assert sink.store.stats_dict()["spans_stored"] == 4


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_http_exporter_protobuf_and_gzip(sink: Sink, compression: Compression) -> None:
    exporter = HttpExporter(endpoint=f"{sink.http_url}/v1/traces", compression=compression)
    provider = _provider(exporter, "svc-http")
    trace_id = _emit_tree(provider)
    provider.shutdown()
    _check_tree(sink, trace_id, "svc-http")
    assert sink.store.stats_dict()["requests"] == {"http": 4}


def test_concurrent_senders_lose_nothing(sink: Sink) -> None:
    senders, per_sender = 6, 25
    trace_ids: list[str] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        provider = _provider(GrpcExporter(endpoint=sink.grpc_endpoint, insecure=True), f"s{index}")
        for _ in range(per_sender):
            trace_id = _emit_tree(provider)
            with lock:
                trace_ids.append(trace_id)
        provider.shutdown()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.store.wait(lambda: len(sink.store) == senders * per_sender * 4, timeout=20)
    assert len(set(trace_ids)) == senders * per_sender
    assert all(len(sink.trace(t)) == 4 for t in trace_ids)
    stats = sink.store.stats_dict()
    assert stats["spans_stored"] == senders * per_sender * 4
    assert stats["spans_duplicate"] == 0
