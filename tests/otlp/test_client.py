"""`SinkClient`: the sink's HTTP query API as a `TraceSource`, and the protobuf encoder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.report.factory import checkout_trace, span_with_everything
from tracebed.model import Link, Span, SpanKind, TraceTimeoutError
from tracebed.otlp import Sink
from tracebed.otlp.client import SinkApiError, SinkClient
from tracebed.otlp.decode import span_from_pb
from tracebed.otlp.encode import spans_to_request
from tracebed.query.conditions import has_services

T1, T2 = "1" * 32, "2" * 32


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def test_client_reads_traces_and_waits_through_the_sink(sink: Sink) -> None:
    trace = checkout_trace(trace_id=T1)
    sink.store.add_spans(trace.spans)
    client = SinkClient(sink.http_url)
    got = client.get_trace(T1.upper())
    assert got is not None and got.source is client
    assert sorted(s.span_id for s in got) == sorted(s.span_id for s in trace)
    assert client.get_trace(T2) is None and len(client.trace(T2)) == 0
    assert [t.trace_id for t in client.traces()] == [T1] and client.traces(limit=0) == []
    waited = client.wait_for_trace(T1, until=has_services(*trace.services), timeout=5)
    assert waited.services == trace.services
    with pytest.raises(TraceTimeoutError, match="never held: missing: nowhere"):
        client.wait_for_trace(T1, until=has_services("nowhere"), timeout=0.2)


def test_client_resolves_links_by_reading_the_sink(sink: Sink) -> None:
    producer = Span(T1, "a" * 16, "publish", kind=SpanKind.PRODUCER, resource={"service.name": "checkout"})
    consumer = Span(T2, "b" * 16, "process", kind=SpanKind.CONSUMER, resource={"service.name": "accounting"},
                    links=(Link(T1, "a" * 16),))
    sink.store.add_spans([producer, consumer])
    trace = SinkClient(sink.http_url).trace(T1)
    assert [s.service for s in trace.linked_spans()] == ["accounting"]


def test_client_errors_are_one_type() -> None:
    with pytest.raises(ValueError, match="sink URL must look like"):
        SinkClient("127.0.0.1:4319")
    client = SinkClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(SinkApiError, match="not usable"):
        client.check(timeout=2)
    with pytest.raises(SinkApiError, match="not reachable"):
        client.get_trace(T1)
    with pytest.raises(SinkApiError, match="not reachable"):
        client.traces()


def test_protobuf_encoding_round_trips_every_field() -> None:
    span = span_with_everything()
    request = spans_to_request([span])
    (group,) = request.resource_spans
    (scope_group,) = group.scope_spans
    (pb,) = scope_group.spans
    back = span_from_pb(pb, {kv.key: kv.value.string_value for kv in group.resource.attributes},
                        span.scope)
    assert back == span
    with pytest.raises(ValueError, match="is not 32 hex characters"):
        spans_to_request([Span("xyz", "2" * 16, "x")])
