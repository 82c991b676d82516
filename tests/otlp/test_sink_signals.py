"""Logs and metrics: the real OpenTelemetry Python SDK exporters (gRPC, HTTP protobuf with and
without gzip) and OTLP/JSON send them; the sink stores them, the query API and `SinkClient`
give exact counts back, bad input is refused with nothing lost."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator

import grpc
import pytest
import requests
from google.rpc import code_pb2, status_pb2
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from tracebed.model.logs import LogRecord
from tracebed.otlp import Sink
from tracebed.otlp.client import SinkClient
from tracebed.otlp.codec import to_otlp_json
from tracebed.query.conditions import log_records, metric_increased

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        yield running


def _emit_logs(exporter: LogRecordExporter, service: str, count: int) -> str:
    """`count` records (INFO, ERROR, INFO, ...) inside one span; returns its trace id."""
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("tracebed-test")
    try:
        with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
            for i in range(count):
                error = bool(i % 2)
                logger.emit(
                    body=f"record {i}",
                    severity_number=SeverityNumber.ERROR if error else SeverityNumber.INFO,
                    severity_text="ERROR" if error else "INFO",
                    attributes={"app.i": i},
                )
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()
    return trace_id


def _meter(exporter: MetricExporter, service: str) -> tuple[MeterProvider, Counter, Histogram]:
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": service}), metric_readers=[reader]
    )
    meter = provider.get_meter("t")
    return provider, meter.create_counter("app.requests"), meter.create_histogram("app.latency")


def _delta() -> dict[type, AggregationTemporality]:
    return {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}


@pytest.mark.parametrize(
    "transport", ["grpc", "http", "http-gzip"], ids=["grpc", "http-protobuf", "http-gzip"]
)
def test_sdk_log_exporters_records_come_back_exactly(sink: Sink, transport: str) -> None:
    def exporter() -> LogRecordExporter:
        if transport == "grpc":
            return GrpcLogs(endpoint=sink.grpc_endpoint, insecure=True)
        gz = Compression.Gzip if transport == "http-gzip" else Compression.NoCompression
        return HttpLogs(endpoint=f"{sink.http_url}/v1/logs", compression=gz)

    trace_id = _emit_logs(exporter(), "svc-logs", 6)
    _emit_logs(exporter(), "svc-other", 2)

    records = sink.logs(trace_id=trace_id)
    assert [r.body for r in records] == [f"record {i}" for i in range(6)]
    first = records[0]
    assert first.service == "svc-logs" and first.span_id and first.attributes["app.i"] == 0
    assert (first.severity_number, first.severity_text) == (9, "INFO")
    assert len(sink.logs(service="svc-logs", severity="ERROR")) == 3
    assert sink.store.stats_dict()["logs_stored"] == 8

    # The same through the HTTP API, as OTLP/JSON, and through SinkClient.
    document = requests.get(f"{sink.http_url}/api/logs", params={"trace_id": trace_id}).json()
    bodies = [
        r["body"]["stringValue"]
        for rl in document["resourceLogs"]
        for sl in rl["scopeLogs"]
        for r in sl["logRecords"]
    ]
    assert bodies == [f"record {i}" for i in range(6)]
    assert document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] == trace_id
    client = SinkClient(sink.http_url)
    assert [r.body for r in client.logs(trace_id=trace_id, severity="error")] == [
        "record 1", "record 3", "record 5",
    ]  # fmt: skip
    assert len(client.logs(service="svc-other")) == 2
    assert len(client.logs(limit=3)) == 3


@pytest.mark.parametrize("transport", ["grpc", "http"])
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_sdk_metric_exporters_increase_over_a_test(
    sink: Sink, transport: str, temporality: str
) -> None:
    preferred = _delta() if temporality == "delta" else None
    if transport == "grpc":
        exporter: MetricExporter = GrpcMetrics(
            endpoint=sink.grpc_endpoint, insecure=True, preferred_temporality=preferred
        )
    else:
        exporter = HttpMetrics(
            endpoint=f"{sink.http_url}/v1/metrics", preferred_temporality=preferred
        )
    provider, requests_counter, latency = _meter(exporter, "svc-metrics")
    try:
        requests_counter.add(10, {"route": "a"})  # before the test's mark
        provider.force_flush()
        mark = sink.mark()
        requests_counter.add(2, {"route": "a"})
        requests_counter.add(1, {"route": "b"})
        latency.record(3.0)
        latency.record(5.0)
        provider.force_flush()
        requests_counter.add(4, {"route": "a"})
        provider.force_flush()
    finally:
        provider.shutdown()

    assert sink.metric_increase("svc-metrics", "app.requests", since=mark) == 7
    assert (
        sink.metric_increase("svc-metrics", "app.requests", since=mark, attributes={"route": "a"})
        == 6
    )
    assert sink.metric_increase("svc-metrics", "app.latency", since=mark) == 2
    points = sink.metric_points("svc-metrics", "app.requests").points
    assert {p.temporality for p in points} == {temporality} and all(p.monotonic for p in points)
    histogram = sink.metric_points("svc-metrics", "app.latency").points[0]
    assert histogram.kind == "histogram" and histogram.point.sum == 8.0

    client = SinkClient(sink.http_url)
    client_mark = client.mark()
    assert client_mark == sink.mark()
    assert client.metric_increase("svc-metrics", "app.requests", since=mark) == 7
    selection = client.metric_points("svc-metrics", "app.requests", since=mark)
    assert selection.increase() == 7  # baselines came along: cumulative counts right
    document = requests.get(
        f"{sink.http_url}/api/metrics", params={"service": "svc-metrics", "name": "app.latency"}
    ).json()
    metric = document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric["name"] == "app.latency" and "histogram" in metric


def test_json_logs_and_metrics_round_trip(sink: Sink) -> None:
    """OTLP/JSON in (hex ids), OTLP/JSON out: what the API answers can be posted back."""
    _emit_logs(HttpLogs(endpoint=f"{sink.http_url}/v1/logs"), "svc-json", 3)
    logs_doc = requests.get(f"{sink.http_url}/api/logs").json()
    provider, c, _ = _meter(HttpMetrics(endpoint=f"{sink.http_url}/v1/metrics"), "svc-json")
    c.add(5)
    provider.shutdown()
    metrics_doc = requests.get(f"{sink.http_url}/api/metrics").json()
    with Sink() as other:
        for path, doc in (("/v1/logs", logs_doc), ("/v1/metrics", metrics_doc)):
            answer = requests.post(f"{other.http_url}{path}", data=json.dumps(doc), headers=JSON)
            assert answer.status_code == 200 and answer.json() == {}
        assert [r.body for r in other.logs()] == [r.body for r in sink.logs()]
        assert [r.trace_id for r in other.logs()] == [r.trace_id for r in sink.logs()]
        assert other.metric_increase("svc-json", "app.requests") == 5


def _bad_logs() -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    good = scope.log_records.add()
    good.body.string_value, good.time_unix_nano = "good", 1
    good.trace_id, good.span_id = bytes(range(16)), bytes(range(8))
    bad = scope.log_records.add()
    bad.body.string_value, bad.trace_id = "bad", b"\x01\x02\x03"  # 3-byte trace id
    request.resource_logs[0].resource.attributes.add(key="service.name").value.string_value = "bad"
    return request


def _bad_metrics() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.add(key="service.name").value.string_value = "bad"
    metrics = rm.scope_metrics.add().metrics
    ok = metrics.add(name="app.ok")
    ok.gauge.data_points.add(as_int=1, time_unix_nano=5)
    ok.gauge.data_points.add(as_int=2)  # no time
    nameless = metrics.add()
    nameless.gauge.data_points.add(as_int=3, time_unix_nano=5)
    return request


def test_http_bad_records_are_partial_success_nothing_else_lost(sink: Sink) -> None:
    answer = requests.post(
        f"{sink.http_url}/v1/logs", data=_bad_logs().SerializeToString(), headers=PROTOBUF
    )
    assert answer.status_code == 200
    partial = ExportLogsServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_log_records == 1 and "trace_id must be empty or 16 bytes" in (
        partial.error_message
    )
    assert [r.body for r in sink.logs()] == ["good"]
    answer = requests.post(
        f"{sink.http_url}/v1/metrics",
        data=json.dumps(to_otlp_json(_bad_metrics())),
        headers=JSON,
    )
    assert answer.status_code == 200
    assert answer.json()["partialSuccess"]["rejectedDataPoints"] == "2"
    assert "time_unix_nano is required" in answer.json()["partialSuccess"]["errorMessage"]
    assert [p.value for p in sink.metric_points("bad", "app.ok")] == [1]
    stats = requests.get(f"{sink.http_url}/api/stats").json()
    assert (stats["logs_rejected"], stats["points_rejected"]) == (1, 2)
    assert (stats["logs_held"], stats["points_held"]) == (1, 1)


def test_grpc_bad_records_are_partial_success(sink: Sink) -> None:
    with grpc.insecure_channel(sink.grpc_endpoint) as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=ExportLogsServiceResponse.FromString,
        )
        response = export(_bad_logs(), timeout=5)
        assert response.partial_success.rejected_log_records == 1
        garbage = channel.unary_unary(
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            request_serializer=None,
            response_deserializer=ExportMetricsServiceResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            garbage(b"\xff\xff garbage", timeout=5)
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [r.body for r in sink.logs()] == ["good"]


def test_full_log_store_refuses_retryably_and_keeps_what_it_had() -> None:
    with Sink(when_full="reject", max_log_records=1) as sink:
        requests.post(
            f"{sink.http_url}/v1/logs", data=_bad_logs().SerializeToString(), headers=PROTOBUF
        )
        second = _bad_logs()
        second.resource_logs[0].scope_logs[0].log_records[0].time_unix_nano = 2  # a new record
        answer = requests.post(
            f"{sink.http_url}/v1/logs", data=gzip.compress(second.SerializeToString()),
            headers={**PROTOBUF, "Content-Encoding": "gzip"},
        )  # fmt: skip
        assert answer.status_code == 503 and answer.headers["Retry-After"]
        status = status_pb2.Status.FromString(answer.content)
        assert status.code == code_pb2.UNAVAILABLE and "log store full" in status.message
        assert len(sink.logs()) == 1


def test_api_waits_say_met_or_timeout(sink: Sink) -> None:
    _emit_logs(HttpLogs(endpoint=f"{sink.http_url}/v1/logs"), "svc-wait", 2)
    met = requests.get(
        f"{sink.http_url}/api/logs", params={"service": "svc-wait", "wait": "5", "count": "2"}
    )
    assert met.headers["X-Tracebed-Wait"] == "met"
    short = requests.get(
        f"{sink.http_url}/api/logs", params={"service": "svc-wait", "wait": "0.05", "count": "3"}
    )
    assert short.headers["X-Tracebed-Wait"] == "timeout"
    assert len(short.json()["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) == 2
    plain = requests.get(f"{sink.http_url}/api/logs", params={"service": "svc-wait"})
    assert "X-Tracebed-Wait" not in plain.headers
    metric = requests.get(
        f"{sink.http_url}/api/metrics", params={"service": "x", "name": "y", "wait": "0.05"}
    )
    assert metric.headers["X-Tracebed-Wait"] == "timeout" and metric.json() == {}


def test_api_rejects_bad_parameters(sink: Sink) -> None:
    answer = requests.get(f"{sink.http_url}/api/logs", params={"severity": "LOUD"})
    assert answer.status_code == 400 and "unknown severity" in answer.json()["error"]
    answer = requests.get(f"{sink.http_url}/api/metrics/increase", params={"service": "x"})
    assert answer.status_code == 400


def test_client_waits_through_the_sinks_long_poll(sink: Sink) -> None:
    """`SinkClient.wait_for_logs` / `wait_for_metric` return when the sink sees the arrival:
    the sending thread starts only once the sink is already waiting."""
    client = SinkClient(sink.http_url)
    mark = client.mark()
    started = threading.Event()
    original = sink.store.wait

    def wait_and_tell(*args: object, **kwargs: object) -> None:
        started.set()  # the sink-side wait has begun
        original(*args, **kwargs)  # type: ignore[arg-type]

    sink.store.wait = wait_and_tell  # type: ignore[method-assign]
    results: dict[str, object] = {}

    def send() -> None:
        assert started.wait(10)
        results["trace_id"] = _emit_logs(HttpLogs(endpoint=f"{sink.http_url}/v1/logs"), "late", 4)

    sender = threading.Thread(target=send)
    sender.start()
    records = client.wait_for_logs(service="late", since=mark, until=log_records(4), timeout=30)
    sender.join(10)
    assert len(records) == 4 and all(isinstance(r, LogRecord) for r in records)
    assert records[0].trace_id == results["trace_id"]

    started.clear()

    def count() -> None:
        assert started.wait(10)
        provider, c, _ = _meter(HttpMetrics(endpoint=f"{sink.http_url}/v1/metrics"), "late")
        c.add(3)
        provider.shutdown()

    sender = threading.Thread(target=count)
    sender.start()
    selection = client.wait_for_metric(
        "late", "app.requests", since=mark, until=metric_increased(3), timeout=30
    )
    sender.join(10)
    assert selection.increase() == 3


def test_json_log_record_with_a_non_hex_trace_id_is_rejected(sink: Sink) -> None:
    """A bad hex id must not pass as "no trace id": log records may have none."""
    document = to_otlp_json(_bad_logs())
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records[1]["traceId"] = "not-hex-at-all"
    records.append({"body": {"stringValue": "no ids"}, "timeUnixNano": "3"})
    answer = requests.post(f"{sink.http_url}/v1/logs", data=json.dumps(document), headers=JSON)
    assert answer.status_code == 200
    assert answer.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    assert sorted(str(r.body) for r in sink.logs()) == ["good", "no ids"]
