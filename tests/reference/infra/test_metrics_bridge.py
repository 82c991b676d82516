"""The metrics bridge: the spanmetrics connector's metrics from known spans, Prometheus'
OTLP names and labels per release, and Prometheus 2.42 holding them via the collector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
from prometheus_client.parser import text_string_to_metric_families
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from tests.reference.infra.conftest import require_debian
from tests.reference.infra.launcher import Launcher
from tracebed.otlp.sink import Sink
from tracebed.reference.infra import span_metrics
from tracebed.reference.infra.metrics_bridge import (
    SETTINGS,
    PromStore,
    label_name,
    metric_name,
)

RESOURCE = {
    "service.name": "checkout",
    "service.namespace": "opentelemetry-demo",
    "service.version": "3.0.0",
    "telemetry.sdk.language": "go",
}


def _attrs(d: dict[str, Any]) -> list[KeyValue]:
    out = []
    for k, v in d.items():
        if isinstance(v, bool):
            out.append(KeyValue(key=k, value=AnyValue(bool_value=v)))
        elif isinstance(v, int):
            out.append(KeyValue(key=k, value=AnyValue(int_value=v)))
        else:
            out.append(KeyValue(key=k, value=AnyValue(string_value=str(v))))
    return out


def _spans(durations_ms: list[tuple[str, int, int, float]]) -> ResourceSpans:
    """(name, kind, status code, duration ms) spans of one resource."""
    rs = ResourceSpans(resource=Resource(attributes=_attrs(RESOURCE)))
    scope = rs.scope_spans.add()
    for name, kind, code, ms in durations_ms:
        start = 1_700_000_000_000_000_000
        scope.spans.add(
            name=name,
            kind=kind,
            status=Status(code=code),
            start_time_unix_nano=start,
            end_time_unix_nano=start + int(ms * 1e6),
        )
    return rs


def _points(request: ExportMetricsServiceRequest, name: str) -> dict[tuple[str, ...], Any]:
    (rm,) = request.resource_metrics
    (metric,) = [m for sm in rm.scope_metrics for m in sm.metrics if m.name == name]
    data = metric.sum if metric.WhichOneof("data") == "sum" else metric.histogram
    return {tuple(kv.value.string_value for kv in p.attributes): p for p in data.data_points}


def test_span_metrics_from_known_spans() -> None:
    sm = span_metrics.SpanMetrics()
    server, client = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT
    ok, unset, error = Status.STATUS_CODE_OK, Status.STATUS_CODE_UNSET, Status.STATUS_CODE_ERROR
    sm.add(
        [
            _spans(
                [
                    ("PlaceOrder", server, unset, 3.0),
                    ("PlaceOrder", server, unset, 4.0),  # on a bound: the le="4" bucket
                    ("PlaceOrder", server, error, 20_000.0),  # past the last bound: +Inf
                    ("Charge", client, ok, 1.5),
                ]
            )
        ]
    )
    request = sm.flush(now_ns=2_000_000_000_000_000_000)
    assert request is not None
    (rm,) = request.resource_metrics
    assert {kv.key: kv.value.string_value for kv in rm.resource.attributes} == RESOURCE
    assert rm.scope_metrics[0].scope.name == "spanmetricsconnector"
    calls = _points(request, "traces.span.metrics.calls")
    key = ("checkout", "PlaceOrder", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET")
    assert {k: p.as_int for k, p in calls.items()} == {
        key: 2,
        ("checkout", "PlaceOrder", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"): 1,
        ("checkout", "Charge", "SPAN_KIND_CLIENT", "STATUS_CODE_OK"): 1,
    }
    durations = _points(request, "traces.span.metrics.duration")
    hist = durations[key]
    assert list(hist.explicit_bounds) == list(span_metrics.DEFAULT_BUCKETS_MS)
    assert hist.count == 2 and hist.sum == pytest.approx(7.0)
    assert list(hist.bucket_counts)[:3] == [0, 2, 0]  # (0,2] (2,4] (4,6]
    error_hist = durations[("checkout", "PlaceOrder", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR")]
    assert list(error_hist.bucket_counts)[-1] == 1
    # nothing new: nothing to flush; new spans: cumulative counts
    assert sm.flush() is None
    sm.add([_spans([("PlaceOrder", server, unset, 1.0)])])
    again = sm.flush()
    assert again is not None
    assert _points(again, "traces.span.metrics.calls")[key].as_int == 3


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("traces.span.metrics.calls", "", "counter", "traces_span_metrics_calls_total"),
        ("traces.span.metrics.duration", "ms", "histogram", "traces_span_metrics_duration_milliseconds"),
        ("demo.payment.transactions", "{transaction}", "counter", "demo_payment_transactions_total"),
        ("quotes", "quotes", "counter", "quotes_total"),
        ("demo.cart.add_item.latency", "s", "histogram", "demo_cart_add_item_latency_seconds"),
        ("process.cpu.utilization", "1", "gauge", "process_cpu_utilization_ratio"),
        ("http.server.request.body.size", "By", "histogram", "http_server_request_body_size_bytes"),
        ("app.requests__total", "", "counter", "app_requests_total"),
        ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
    ],
)  # fmt: skip
def test_names_as_prometheus_otlp_translates_them(
    name: str, unit: str, kind: str, expected: str
) -> None:
    assert metric_name(name, unit, kind) == expected


def test_label_names() -> None:
    assert label_name("service.name") == "service_name"
    assert label_name("2xx") == "key_2xx"
    assert label_name("_private") == "key_private"


def _checkout_metrics() -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add(resource=Resource(attributes=_attrs(RESOURCE)))
    metric = rm.scope_metrics.add().metrics.add(name="demo.payment.transactions", unit="{t}")
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    metric.sum.data_points.add(as_int=3, attributes=_attrs({"demo.payment.currency": "USD"}))
    return request


def _families(store: PromStore) -> dict[str, Any]:
    text = store.exposition().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_exposition_at_3_0_0_keeps_identifying_attributes_on_target_info() -> None:
    store = PromStore(SETTINGS["3.0.0"])
    store.ingest(_checkout_metrics())
    families = _families(store)
    (info,) = families["target_info"].samples
    assert info.labels == {
        "job": "opentelemetry-demo/checkout",
        "service_name": "checkout",
        "service_namespace": "opentelemetry-demo",
        "service_version": "3.0.0",
        "telemetry_sdk_language": "go",
    }
    (sample,) = families["demo_payment_transactions"].samples
    assert sample.name == "demo_payment_transactions_total" and sample.value == 3
    assert sample.labels == {
        "job": "opentelemetry-demo/checkout",
        "demo_payment_currency": "USD",
        "service_name": "checkout",
        "service_namespace": "opentelemetry-demo",
        "service_version": "3.0.0",  # promoted at 3.0.0
    }


def test_exposition_at_2_0_2_drops_identifying_attributes_from_target_info() -> None:
    store = PromStore(SETTINGS["2.0.2"])
    store.ingest(_checkout_metrics())
    families = _families(store)
    (info,) = families["target_info"].samples
    assert info.labels == {
        "job": "opentelemetry-demo/checkout",
        "service_version": "3.0.0",
        "telemetry_sdk_language": "go",
    }
    (sample,) = families["demo_payment_transactions"].samples
    assert "service_version" not in sample.labels and sample.labels["service_name"] == "checkout"


def test_span_metrics_histogram_exposition() -> None:
    sm = span_metrics.SpanMetrics()
    sm.add([_spans([("PlaceOrder", Span.SPAN_KIND_SERVER, 0, 3.0)])])
    request = sm.flush()
    assert request is not None
    store = PromStore(SETTINGS["3.0.0"])
    store.ingest(request)
    family = _families(store)["traces_span_metrics_duration_milliseconds"]
    assert family.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["2"] == 0 and buckets["4"] == 1 and buckets["+Inf"] == 1
    sample = next(s for s in family.samples if s.name.endswith("_count"))
    assert sample.labels["span_kind"] == "SPAN_KIND_SERVER"
    assert sample.labels["status_code"] == "STATUS_CODE_UNSET"


def test_what_would_break_a_scrape_is_left_out() -> None:
    """One name, one type; reserved label names and names with no valid character dropped;
    a histogram without buckets still has its +Inf bucket."""
    request = ExportMetricsServiceRequest()
    for service, clash in (("a", False), ("b", True)):
        rm = request.resource_metrics.add(
            resource=Resource(attributes=_attrs({"service.name": service}))
        )
        metric = rm.scope_metrics.add().metrics.add(name="demo.things")
        if clash:  # a histogram of the same name: a clash (gauge and histogram)
            metric.histogram.aggregation_temporality = (
                metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            )
            metric.histogram.data_points.add(count=1, sum=1.5)
        else:
            metric.sum.is_monotonic = False
            metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            metric.sum.data_points.add(as_int=2, attributes=_attrs({"__reserved": "x"}))
        rm.scope_metrics[0].metrics.add(name="...").gauge.data_points.add(as_int=1)
        hist = rm.scope_metrics[0].metrics.add(name="demo.latency", unit="s")
        hist.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        hist.histogram.data_points.add(count=3, sum=0.5)
    store = PromStore(SETTINGS["3.0.0"])
    store.ingest(request)
    families = _families(store)
    assert set(families) == {"demo_things", "demo_latency_seconds"}  # no target_info: no
    # attribute besides service.name
    (thing,) = families["demo_things"].samples
    assert thing.labels == {"job": "a", "service_name": "a"} and thing.value == 2
    buckets = [s for s in families["demo_latency_seconds"].samples if s.name.endswith("_bucket")]
    assert {(s.labels["le"], s.value) for s in buckets} == {("+Inf", 3.0)}


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    r = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=5)
    r.raise_for_status()
    return list(r.json()["data"]["result"])


def wait_for_query(base: str, promql: str, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Poll Prometheus' HTTP API (it has no push) until the query answers, bounded."""
    retry = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.25),
        retry=retry_if_result(lambda r: not r),
        retry_error_callback=lambda state: pytest.fail(
            f"Prometheus answered nothing to {promql!r} within {timeout}s"
        ),
    )
    result: list[dict[str, Any]] = retry(_query, base, promql)
    return result


def test_prometheus_holds_span_metrics_and_target_info_via_the_collector(
    spec: dict[str, Any], sink: Sink, launch: Callable[..., Launcher]
) -> None:
    """Spans sent to the collector: the sink gets their span metrics, and Prometheus (2.42,
    2.0.2's names here) answers target_info and the span metrics by name."""
    require_debian("prometheus")
    launch("prometheus", "otel-collector")
    ports = spec["x-tracebed-stack"]["ports"]
    with grpc.insecure_channel(f"127.0.0.1:{ports['OTEL_COLLECTOR_PORT_GRPC']}") as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            trace_service_pb2.ExportTraceServiceRequest(
                resource_spans=[_spans([("PlaceOrder", Span.SPAN_KIND_SERVER, 0, 3.0)] * 2)]
            ),
            timeout=5,
        )
    base = spec["services"]["prometheus"]["x-tracebed"]["endpoints"]["http"]
    (info,) = wait_for_query(base, 'target_info{job="opentelemetry-demo/checkout"}')
    assert "service_name" not in info["metric"]  # 2.0.2: identifying attributes not kept
    assert info["metric"]["telemetry_sdk_language"] == "go"
    assert "instance" not in info["metric"]  # no service.instance.id, as over OTLP
    (calls,) = wait_for_query(base, 'traces_span_metrics_calls_total{service_name="checkout"}')
    assert calls["value"][1] == "2"
    assert calls["metric"]["span_name"] == "PlaceOrder"
    assert calls["metric"]["job"] == "opentelemetry-demo/checkout"
    # the sink received the span metrics too, under the span's service
    points = sink.wait_for_metric("checkout", "traces.span.metrics.calls", timeout=10)
    assert {p.value for p in points} == {2}
