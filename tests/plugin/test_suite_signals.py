"""The bundled suite's signal matrix: its loader, the shipped matrices per release, and the wait
that fails naming the service and the signal that did not arrive (a store fed with OTLP)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tracebed.model import Mark, SpanStore
from tracebed.otlp.ingest import Ingest
from tracebed.paths import DEMO_VERSIONS, release_fixtures, release_versions
from tracebed.suites.otel_demo.signals import (
    SPAN_METRICS,
    MatrixError,
    SignalsMissing,
    arrived,
    load_matrix,
    metric_interval_s,
    wait_for_signals,
)

TRACE = "5b8efff798038103d269b633813fc60c"
NOW = 1_700_000_000_000_000_000
BEGINNING = Mark()  # the store's first arrival on


# -- OTLP ------------------------------------------------------------------------------


def _resource(service: str) -> Resource:
    return Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])


def feed_spans(store: SpanStore, *spans: tuple[str, str]) -> None:
    """(service, span id) spans of TRACE, one resource each."""
    request = ExportTraceServiceRequest()
    for service, span_id in spans:
        rs = request.resource_spans.add(resource=_resource(service))
        span = rs.scope_spans.add().spans.add()
        span.trace_id, span.span_id = bytes.fromhex(TRACE), bytes.fromhex(span_id)
        span.name, span.kind = f"{service} work", 2
        span.start_time_unix_nano, span.end_time_unix_nano = NOW, NOW + 1_000
    Ingest(store).traces(request, "test", request.ByteSize())


def feed_log(store: SpanStore, service: str, body: str, span_id: str = "") -> None:
    request = ExportLogsServiceRequest()
    record = (
        request.resource_logs.add(resource=_resource(service)).scope_logs.add().log_records.add()
    )
    record.time_unix_nano, record.severity_number, record.severity_text = NOW, 9, "INFO"
    record.body.string_value = body
    record.trace_id = bytes.fromhex(TRACE)
    if span_id:
        record.span_id = bytes.fromhex(span_id)
    Ingest(store).logs(request, "test", request.ByteSize())


def feed_counter(store: SpanStore, service: str, name: str, value: int) -> None:
    request = ExportMetricsServiceRequest()
    metric = (
        request.resource_metrics.add(resource=_resource(service)).scope_metrics.add().metrics.add()
    )
    metric.name = name
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.sum.data_points.add(as_int=value)
    point.start_time_unix_nano, point.time_unix_nano = NOW, NOW + value
    Ingest(store).metrics(request, "test", request.ByteSize())


@pytest.fixture
def store() -> SpanStore:
    """checkout and payment traced in TRACE and both counting; only checkout logged."""
    s = SpanStore()
    feed_spans(s, ("checkout", "00000000000000a1"), ("payment", "00000000000000b2"))
    feed_log(s, "checkout", "order placed", "00000000000000a1")
    feed_counter(s, "checkout", "rpc.server.duration", 1)
    feed_counter(s, "payment", "demo.payment.transactions", 1)
    return s


# -- the wait and its failure ------------------------------------------------------------


def test_a_service_whose_logs_are_missing_fails_naming_it_and_the_signal(store: SpanStore) -> None:
    with pytest.raises(SignalsMissing) as caught:
        wait_for_signals(
            store,
            "payment",
            ["traces", "metrics", "logs"],
            since=BEGINNING,
            trace_ids=[TRACE],
            timeout=0.2,
            release="3.0.0",
        )
    message = str(caught.value)
    assert caught.value.service == "payment" and caught.value.missing == ["logs"]
    first = message.splitlines()[0]
    assert first.startswith("payment: no logs arrived within 0.2s")
    assert "demo 3.0.0's signal matrix requires traces, metrics, logs" in first
    assert "traces, metrics arrived" in first
    # what did come, so the reader sees whose logs the sink holds
    assert "logs since the warm-up came from: checkout" in message


def test_every_missing_signal_is_named(store: SpanStore) -> None:
    with pytest.raises(SignalsMissing) as caught:
        wait_for_signals(
            store,
            "quote",
            ["traces", "metrics", "logs"],
            since=BEGINNING,
            trace_ids=[TRACE],
            timeout=0.1,
        )
    assert caught.value.missing == ["traces", "metrics", "logs"]
    assert str(caught.value).startswith("quote: no traces and no metrics and no logs arrived")
    assert "traces in the warm-up's traces came from: checkout, payment" in str(caught.value)


def test_a_service_with_all_its_signals_passes(store: SpanStore) -> None:
    got = wait_for_signals(
        store,
        "checkout",
        ["traces", "metrics", "logs"],
        since=BEGINNING,
        trace_ids=[TRACE],
        timeout=5,
    )
    assert got == {"traces", "metrics", "logs"}


def test_the_wait_wakes_when_the_missing_signal_arrives(store: SpanStore) -> None:
    adder = threading.Timer(
        0.05, feed_log, (store, "payment", "Transaction complete.", "00000000000000b2")
    )
    adder.start()
    try:
        got = wait_for_signals(
            store, "payment", ["logs"], since=BEGINNING, trace_ids=[TRACE], timeout=30
        )
    finally:
        adder.join()
    assert got == {"logs"}


def test_only_what_arrived_after_the_mark_counts(store: SpanStore) -> None:
    mark = store.mark()
    assert arrived(store, "checkout", ["logs", "metrics"], since=mark, trace_ids=[TRACE]) == set()
    feed_counter(store, "checkout", "rpc.server.duration", 2)
    assert arrived(store, "checkout", ["logs", "metrics"], since=mark, trace_ids=[TRACE]) == {
        "metrics"
    }


def test_spans_count_only_in_the_given_traces_unless_none_are_given(store: SpanStore) -> None:
    other = "0af7651916cd43dd8448eb211c80319c"
    assert arrived(store, "payment", ["traces"], since=BEGINNING, trace_ids=[other]) == set()
    assert arrived(store, "payment", ["traces"], since=BEGINNING, trace_ids=None) == {"traces"}


# -- the matrices shipped ------------------------------------------------------------------


def test_a_matrix_ships_for_every_release() -> None:
    assert sorted(release_versions("signals")) == sorted(DEMO_VERSIONS)


def test_the_3_0_0_matrix_is_the_demos_own() -> None:
    """demo-facts-3.0 §13.2, minimal and full scopes."""
    matrix = load_matrix(release_fixtures("signals", "3.0.0"))
    rows = {name: row.required for name, row in matrix.services.items()}
    every = ("traces", "metrics", "logs")
    for service in (
        "ad", "cart", "checkout", "currency", "email", "payment", "product-catalog", "quote",
        "recommendation", "shipping", "frontend-proxy", "load-generator", "accounting",
        "fraud-detection",
    ):  # fmt: skip
        assert rows.pop(service) == every, service
    assert rows == {
        "frontend": ("traces", "metrics"),
        "image-provider": ("traces", "metrics"),
        "frontend-web": ("traces", "metrics"),
        "kafka": ("metrics", "logs"),
    }
    assert matrix.services["kafka"].scope == "full"
    assert matrix.services["frontend-web"].via == "load-generator"
    assert matrix.services["image-provider"].sources["metrics"] == SPAN_METRICS
    assert [(e.service, e.body) for e in matrix.flow_logs] == [
        ("checkout", "order placed"),
        ("payment", "Transaction complete."),
        ("email", "Order confirmation email sent"),
    ]
    assert matrix.flow_logs[0].order_id == "demo.order.id"


def test_the_2_0_2_matrix_follows_its_facts() -> None:
    matrix = load_matrix(release_fixtures("signals", "2.0.2"))
    # email exported traces only at 2.0.2: its metrics are span-derived, it does not log
    assert matrix.services["email"].required == ("traces", "metrics")
    assert matrix.services["email"].sources["metrics"] == SPAN_METRICS
    assert "logs" not in matrix.services["checkout"].sources  # slog + OTel bridge: 2.1.3
    assert matrix.services["kafka"].required == ("metrics", "logs")
    assert [(e.service, e.body) for e in matrix.flow_logs] == [("payment", "Transaction complete.")]
    assert set(matrix.services) == set(load_matrix(release_fixtures("signals", "3.0.0")).services)


# -- the loader's refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("matrix:\n  ad: {traces: own, spans: own}\n", "matrix.ad: unknown key 'spans'"),
        (
            "matrix:\n  ad: {metrics: prometheus}\n",
            "matrix.ad.metrics: unknown source 'prometheus'",
        ),
        ("matrix:\n  ad: {traces: span_metrics}\n", "matrix.ad.traces: unknown source"),
        ("matrix:\n  ad: {scope: minimal}\n", "matrix.ad: the row requires no signal"),
        ("matrix:\n  ad: {traces: own, scope: huge}\n", "matrix.ad.scope: 'huge' is not one of"),
        (
            "matrix:\n  ad: {traces: own}\nflow_logs:\n  - {flow: x, service: ad, body: b}\n",
            "flow_logs names ad, which the matrix does not require to log",
        ),
        (
            "matrix:\n  ad: {logs: own}\nflow_logs:\n  - {flow: x, service: ad}\n",
            "flow_logs[0].body",
        ),
        ("services: {}\n", "expected a mapping with `matrix:`"),
        ("matrix: [\n", "is not valid YAML"),
    ],
)
def test_a_bad_matrix_is_refused_naming_the_file_and_row(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(MatrixError) as caught:
        load_matrix(tmp_path)
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_missing_matrix_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match="cannot read signal matrix"):
        load_matrix(tmp_path / "nowhere")


def test_the_metric_export_interval_is_the_services_or_the_sdk_default() -> None:
    assert metric_interval_s({"OTEL_METRIC_EXPORT_INTERVAL": "1000"}) == 1.0
    assert metric_interval_s({}) == 60.0
    assert metric_interval_s({"OTEL_METRIC_EXPORT_INTERVAL": "${UNSET}"}) == 60.0
    assert metric_interval_s(None) == 60.0
