"""Logs and metrics stored as protobuf batches (decoded only when queried) behave as decoded
values did: duplicates by identity, series whatever the attribute order, eviction and the
indexes built on the next query, a record decoded once however often it is asked for. And a
trace is answered over HTTP from the protobuf its spans came in."""

from __future__ import annotations

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.otlp.payloads import simple_trace
from tracebed.model.held import COMPACT_AFTER
from tracebed.model.store import SpanStore
from tracebed.otlp import Sink
from tracebed.otlp.client import SinkClient
from tracebed.otlp.encode import encode_attributes
from tracebed.otlp.ingest import Ingest
from tracebed.otlp.signals import decode_logs, decode_metrics

TRACE = bytes.fromhex("ab" * 16)


def logs_request(
    bodies: list[str], *, service: str = "cart", time: int = 1_000, span: bytes = b""
) -> ExportLogsServiceRequest:
    """One record per body, all with the same ids, times and severity (equal heads)."""
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    encode_attributes({"service.name": service}, rl.resource.attributes)
    sl = rl.scope_logs.add()
    for body in bodies:
        record = sl.log_records.add(time_unix_nano=time, severity_number=9, trace_id=TRACE)
        record.span_id = span
        record.body.string_value = body
    return request


def test_equal_heads_are_told_apart_by_the_whole_record() -> None:
    store = SpanStore()
    store.add_log_batch(decode_logs(logs_request(["a", "b", "a"])).batch)
    again = store.add_log_batch(decode_logs(logs_request(["b", "c"])).batch)
    assert (again.stored, again.duplicates) == (1, 1)
    assert [r.body for r in store.logs(trace_id=TRACE.hex())] == ["a", "b", "c"]
    stats = store.stats_dict()
    assert (stats["logs_stored"], stats["logs_duplicate"], stats["logs_held"]) == (3, 2, 3)


def test_full_store_counts_only_records_that_are_new() -> None:
    store = SpanStore(max_log_records=3, when_full="reject")
    store.add_log_batch(decode_logs(logs_request(["a", "b"])).batch)
    # "a" and "b" are held and "c" twice is one record: one new, and there is room for one.
    assert store.add_log_batch(decode_logs(logs_request(["a", "c", "b", "c"])).batch).stored == 1
    assert [r.body for r in store.logs()] == ["a", "b", "c"]


def test_records_evicted_before_any_query_leave_no_trace_in_the_indexes() -> None:
    store = SpanStore(max_log_records=COMPACT_AFTER)
    total = 3 * COMPACT_AFTER // 100 * 100
    for n in range(total // 100):  # held heads are compacted on the way
        bodies = [f"r{n * 100 + i}" for i in range(100)]
        span = bytes([1 + n % 200]) * 8
        store.add_log_batch(decode_logs(logs_request(bodies, time=n, span=span)).batch)
        if n == 10:
            assert len(store.logs(service="cart")) == 1_100  # a query part-way: indexed then
    records = store.logs(service="cart")
    assert len(records) == COMPACT_AFTER
    assert records[0].body == f"r{total - COMPACT_AFTER}" and records[-1].body == f"r{total - 1}"
    assert store.logs(span_id=(bytes([1]) * 8).hex()) == []  # its batches are all gone
    assert len(store.logs(trace_id=TRACE.hex(), severity="INFO")) == COMPACT_AFTER
    stats = store.stats_dict()
    assert (stats["logs_evicted"], stats["logs_held"]) == (total - COMPACT_AFTER, COMPACT_AFTER)


def test_a_record_is_decoded_once() -> None:
    store = SpanStore()
    store.add_log_batch(decode_logs(logs_request(["a"])).batch)
    assert store.logs()[0] is store.logs(trace_id=TRACE.hex())[0]


def _points(value: int, time: int, pairs: list[tuple[str, str]]) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    encode_attributes({"service.name": "cart"}, rm.resource.attributes)
    metric = rm.scope_metrics.add().metrics.add(name="app.requests")
    metric.sum.aggregation_temporality, metric.sum.is_monotonic = 2, True
    point = metric.sum.data_points.add(as_int=value, time_unix_nano=time, start_time_unix_nano=1)
    for key, text in pairs:
        point.attributes.append(KeyValue(key=key, value=AnyValue(string_value=text)))
    return request


def test_a_series_is_the_same_whatever_order_its_attributes_come_in() -> None:
    store = SpanStore()
    ingest = Ingest(store)
    ingest.metrics(_points(3, 10, [("route", "a"), ("code", "200")]), "grpc", 0)
    mark = store.mark()
    ingest.metrics(_points(3, 10, [("code", "200"), ("route", "a")]), "grpc", 0)  # a retry
    ingest.metrics(_points(8, 20, [("code", "200"), ("route", "a")]), "grpc", 0)
    assert store.stats_dict()["points_duplicate"] == 1
    assert store.metric_increase("cart", "app.requests", since=mark) == 5
    assert len(store.metric_points("cart", "app.requests", attributes={"code": "200"})) == 2
    selection = store.metric_points("cart", "app.requests", since=mark)
    assert [p.value for p in selection] == [8]
    assert [p.value for p in selection.baselines.values()] == [3]


def test_metric_points_evicted_oldest_first_through_batches() -> None:
    store = SpanStore(max_metric_points=2)
    for n in range(4):
        store.add_metric_batch(decode_metrics(_points(n, 10 + n, [("route", "a")])).batch)
    assert [p.value for p in store.metric_points("cart", "app.requests")] == [2, 3]
    assert store.stats_dict()["points_evicted"] == 2


def test_a_trace_is_answered_from_the_protobuf_it_came_in() -> None:
    """`GET /api/traces/{id}` copies the stored spans: what the model does not keep (trace
    state) is there, a kind or status code the model reads as unset is written so, a span
    added since is in the next answer, and the client reads it all back."""
    trace_id, request = simple_trace(3)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_state = "vendor=1"
    spans[1].kind = 9  # type: ignore[assignment]  # no such kind
    spans[2].status.code = 7  # type: ignore[assignment]
    with Sink() as sink:
        ingest = sink.ingest
        ingest.traces(request, "grpc", 0)
        url = f"{sink.http_url}/api/traces/{trace_id.hex()}"
        document = requests.get(url, timeout=10).json()
        written = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        by_name = {span["name"]: span for span in written}
        assert by_name["root"]["traceState"] == "vendor=1"
        assert by_name["child-0"].get("kind", 0) == 0 and by_name["child-1"].get("status", {}) == {}
        assert document == requests.get(url, timeout=10).json()  # asked again: the same
        _, more = simple_trace(1, trace_id)
        ingest.traces(more, "grpc", 0)
        assert len(SinkClient(sink.http_url).trace(trace_id.hex())) == 4


def test_a_series_is_one_whether_its_points_have_flags_exemplars_or_nothing() -> None:
    """A point's series is read from its bytes when it has no exemplars, else from its
    attributes one by one: either way the same series, and a retry is a duplicate."""
    store = SpanStore()
    ingest = Ingest(store)
    flagged = _points(1, 10, [("route", "a")])
    flagged.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].flags = 1
    with_exemplar = _points(4, 20, [("route", "a")])
    point = with_exemplar.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    point.exemplars.add(as_int=1, time_unix_nano=20, trace_id=TRACE, span_id=b"\x01" * 8)
    bare = _points(0, 30, [])
    for request in (flagged, with_exemplar, with_exemplar, bare):
        ingest.metrics(request, "grpc", 0)
    selection = store.metric_points("cart", "app.requests")
    assert [p.value for p in selection] == [1, 4, 0]
    assert sorted(key[2] for key in selection.series()) == ["[('route', 'a')]", "[]"]
    assert store.stats_dict()["points_duplicate"] == 1
    assert selection.points[1].exemplars[0].span_id == "01" * 8
