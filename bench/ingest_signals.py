"""Sink ingest benchmark for logs and metrics: records/points per second stored through
OTLP/gRPC vs protobuf parse-only of the same requests, in one process; and the wake-up time
of `wait_for_logs` after the last log record arrives.

Run: .venv/bin/python bench/ingest_signals.py [--requests 20] [--per-request 2000] [--record]
Results are ratios against the parse-only baseline measured in the same run (as bench/ingest.py).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from rounds import heading, interleaved, latency_ms, report

from tracebed.model import SpanStore
from tracebed.model.logs import LogRecord
from tracebed.otlp import Sink

LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
METRICS = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
SERVICES = ("frontend", "checkout", "cart", "currency")


def _resource(out: object, service: str) -> None:
    attributes = out.attributes  # type: ignore[attr-defined]
    attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
    attributes.append(KeyValue(key="telemetry.sdk.language", value=AnyValue(string_value="go")))


def make_logs(records: int, seq: int) -> bytes:
    """A collector-sized logs batch: demo-like records with trace context and attributes."""
    req = ExportLogsServiceRequest()
    for service in SERVICES:
        rl = req.resource_logs.add()
        _resource(rl.resource, service)
        sl = rl.scope_logs.add()
        sl.scope.name = "go.opentelemetry.io/otel/log"
        for i in range(records // len(SERVICES)):
            r = sl.log_records.add()
            r.time_unix_nano = 1_700_000_000_000_000_000 + seq * 1_000_000 + i
            r.observed_time_unix_nano = r.time_unix_nano + 1
            r.severity_number, r.severity_text = 9, "INFO"
            r.body.string_value = f"GetCart called with userId={i}"
            r.trace_id, r.span_id = os.urandom(16), os.urandom(8)
            for key, value in (("app.user.id", "f5b6c4e2-1234"), ("event.name", "cart.get")):
                r.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return req.SerializeToString()


def make_metrics(points: int, seq: int) -> bytes:
    """A metrics batch: cumulative counters, one point per (route, status) series."""
    req = ExportMetricsServiceRequest()
    for service in SERVICES:
        rm = req.resource_metrics.add()
        _resource(rm.resource, service)
        sm = rm.scope_metrics.add()
        sm.scope.name = "go.opentelemetry.io/otel/metric"
        metric = sm.metrics.add(name="app.requests", unit="{request}")
        metric.sum.aggregation_temporality = 2
        metric.sum.is_monotonic = True
        for i in range(points // len(SERVICES)):
            p = metric.sum.data_points.add(as_int=seq * 10 + i)
            p.start_time_unix_nano = 1_700_000_000_000_000_000
            p.time_unix_nano = 1_700_000_000_000_000_000 + seq * 1_000_000_000
            for key, value in (("route", f"/api/{i % 50}"), ("status", str(200 + i // 50))):
                p.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return req.SerializeToString()


def parse_only(payloads: list[bytes], message: type[Message]) -> float:
    start = time.perf_counter()
    for body in payloads:
        message.FromString(body)
    return time.perf_counter() - start


def grpc_ingest(
    payloads: list[bytes], method: str, held: Callable[[Sink], int], total: int
) -> float:
    with (
        Sink(max_log_records=total * 2, max_metric_points=total * 2) as sink,
        grpc.insecure_channel(
            sink.grpc_endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        ) as channel,
    ):
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        start = time.perf_counter()
        for body in payloads:
            call(body, timeout=60)
        signal = "logs" if method == LOGS else "metrics"
        sink.store.wait(lambda: held(sink) >= total, on=signal, timeout=60)
        elapsed = time.perf_counter() - start
        # Stored is held: the store has room for all (counted, not read: reading decodes).
        assert held(sink) == total, (held(sink), total)
        return elapsed


def wakeup(trials: int) -> list[float]:
    """Seconds from the last log record's arrival to `wait_for_logs` returning."""
    store = SpanStore()
    latencies = []
    for i in range(trials):
        trace_id = os.urandom(16).hex()
        blocked = threading.Event()
        returned: list[float] = []

        def until(records: list[LogRecord], ev: threading.Event = blocked) -> bool:
            ev.set()  # first call: the waiter is about to block
            return len(records) >= 2

        def waiter(tid: str = trace_id, out: list[float] = returned) -> None:
            store.wait_for_logs(trace_id=tid, until=until, timeout=10)
            out.append(time.perf_counter())

        store.add_logs([LogRecord(trace_id=trace_id, body="first", time_unix_nano=2 * i)])
        thread = threading.Thread(target=waiter)
        thread.start()
        blocked.wait(10)
        time.sleep(0.001)  # setup, not the measure: let the waiter reach the condition wait
        last = LogRecord(trace_id=trace_id, body="last", time_unix_nano=2 * i + 1)
        arrived = time.perf_counter()
        store.add_logs([last])
        thread.join(10)
        latencies.append(returned[0] - arrived)
    return latencies


def _measure(
    payloads: list[bytes],
    message: type[Message],
    method: str,
    held: Callable[[Sink], int],
    total: int,
) -> tuple[float, float, float]:
    parse_only(payloads[:2], message)  # warm-up
    timed = interleaved(
        lambda: parse_only(payloads, message),
        lambda: grpc_ingest(payloads, method, held, total),
    )
    return total / timed.baseline_s, total / timed.measured_s, timed.speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--per-request", type=int, default=2000)
    parser.add_argument("--wakeup-trials", type=int, default=300)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()

    per = args.per_request // len(SERVICES) * len(SERVICES)
    total = args.requests * per
    logs = [make_logs(per, seq) for seq in range(args.requests)]
    metrics = [make_metrics(per, seq) for seq in range(args.requests)]
    log_parse, log_ingest, log_ratio = _measure(
        logs, ExportLogsServiceRequest, LOGS, lambda s: s.store.stats.logs.stored, total
    )
    metric_parse, metric_ingest, metric_ratio = _measure(
        metrics,
        ExportMetricsServiceRequest,
        METRICS,
        lambda s: s.store.stats.points.stored,
        total,
    )
    wake_median, wake_p95 = latency_ms(wakeup(args.wakeup_trials))
    lines = [
        heading("Sink ingest, logs and metrics", "ingest_signals.py", os.cpu_count()),
        "",
        f"{args.requests} OTLP/gRPC requests of {per} log records / metric points each.",
        "",
        "| measure | logs | metrics |",
        "|---|---|---|",
        f"| parse-only (protobuf `FromString`) | {log_parse:,.0f} records/s | {metric_parse:,.0f} points/s |",
        f"| stored through OTLP/gRPC (sink) | {log_ingest:,.0f} records/s | {metric_ingest:,.0f} points/s |",
        f"| **ingest / parse-only** (median of 5 interleaved rounds) | **{log_ratio:.2f}x** | **{metric_ratio:.2f}x** |",
        "",
        f"`wait_for_logs` wake-up after the last log record ({args.wakeup_trials} trials): "
        f"median {wake_median:.3f} ms, p95 {wake_p95:.3f} ms.",
        "",
    ]
    report(lines, args.record)


if __name__ == "__main__":
    main()
