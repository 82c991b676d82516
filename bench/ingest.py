"""Sink ingest benchmark: spans/s stored through OTLP/gRPC vs protobuf parse-only, in one process.

Run: .venv/bin/python bench/ingest.py [--requests 40] [--spans-per-request 5000]
Prints a Markdown section; `--record` appends it to bench/RESULTS.md.
Results are ratios against the parse-only baseline measured in the same process (shared,
noisy machines make absolute numbers meaningless from one run to the next).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import threading
import time

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from rounds import Interleaved, heading, interleaved, latency_ms, report

from tracebed.model import Span, SpanStore
from tracebed.otlp import Sink
from tracebed.otlp.codec import to_otlp_json
from tracebed.otlp.encode import stored_spans_to_request
from tracebed.otlp.otlp_json import trace_to_otlp_json

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def make_request(spans: int, traces: int = 50) -> bytes:
    """A collector-sized batch: `spans` spans over `traces` traces, demo-like attributes."""
    req = ExportTraceServiceRequest()
    for service in ("frontend", "checkout", "cart", "currency"):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value=service))
        )
        rs.resource.attributes.append(
            KeyValue(key="telemetry.sdk.language", value=AnyValue(string_value="go"))
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "go.opentelemetry.io/otel"
        trace_ids = [os.urandom(16) for _ in range(traces)]
        for i in range(spans // 4):
            span = ss.spans.add()
            span.trace_id = trace_ids[i % traces]
            span.span_id = os.urandom(8)
            span.parent_span_id = os.urandom(8)
            span.name = "oteldemo.CartService/GetCart"
            span.kind = PbSpan.SPAN_KIND_SERVER
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
            span.end_time_unix_nano = 1_700_000_000_001_000_000 + i
            for key, value in (
                ("rpc.system", "grpc"),
                ("rpc.service", "oteldemo.CartService"),
                ("rpc.method", "GetCart"),
                ("app.user.id", "f5b6c4e2-1234"),
                ("net.peer.name", "cart"),
            ):
                span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
            span.attributes.append(
                KeyValue(key="rpc.grpc.status_code", value=AnyValue(int_value=0))
            )
    return req.SerializeToString()


def bench_parse_only(payloads: list[bytes]) -> float:
    start = time.perf_counter()
    for body in payloads:
        ExportTraceServiceRequest.FromString(body)
    return time.perf_counter() - start


def bench_grpc_ingest(payloads: list[bytes], total_spans: int) -> float:
    with (
        Sink(max_spans=total_spans * 2) as sink,
        grpc.insecure_channel(
            sink.grpc_endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        ) as channel,
    ):
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        start = time.perf_counter()
        for body in payloads:
            call(body, timeout=60)
        sink.store.wait(lambda: len(sink.store) >= total_spans, timeout=60)
        return time.perf_counter() - start


def bench_memory(payloads: list[bytes], total_spans: int) -> float:
    """Resident bytes per stored span (store holds parsed messages; conversion is lazy)."""
    store_holder: list[Sink] = []
    gc.collect()
    before = psutil.Process().memory_info().rss
    sink = Sink(max_spans=total_spans * 2).start()
    store_holder.append(sink)
    with grpc.insecure_channel(
        sink.grpc_endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        for body in payloads:
            call(body, timeout=60)
    gc.collect()
    after = psutil.Process().memory_info().rss
    sink.stop()
    return (after - before) / total_spans


def bench_wakeup(trials: int) -> list[float]:
    """Seconds from the last span's arrival in the store to `wait_for_trace` returning."""
    store = SpanStore()
    latencies = []
    for i in range(trials):
        trace_id = os.urandom(16).hex()
        root = Span(trace_id, os.urandom(8).hex(), "root", resource={"service.name": "a"})
        store.add_spans([root])
        done = threading.Event()
        returned: list[float] = []

        def waiter(
            tid: str = trace_id, out: list[float] = returned, finished: threading.Event = done
        ) -> None:
            store.wait_for_trace(tid, until=lambda t: len(t) == 2, timeout=10)
            out.append(time.perf_counter())
            finished.set()

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.002)  # let the waiter block first; this is the setup, not the measure
        child = Span(trace_id, os.urandom(8).hex(), f"c{i}", parent_span_id=root.span_id)
        arrived = time.perf_counter()
        store.add_spans([child])
        done.wait(10)
        thread.join()
        latencies.append(returned[0] - arrived)
    return latencies


def bench_trace_answer(calls: int = 200) -> tuple[Interleaved[float], float, int]:
    """`GET /api/traces/{id}`'s body for a 21-span trace: encoded again from the model (the
    file writer's way, the baseline) vs copied from the stored protobuf; and asked again."""
    with Sink() as sink:
        sink.ingest.traces(ExportTraceServiceRequest.FromString(make_request(84, 1)), "grpc", 0)
        trace = sink.traces()[0]
        receiver = sink._http
        assert receiver is not None

        def model() -> float:
            start = time.perf_counter()
            for _ in range(calls):
                json.dumps(trace_to_otlp_json(trace)).encode()
            return (time.perf_counter() - start) / calls

        def stored() -> float:
            start = time.perf_counter()
            for _ in range(calls):
                request = stored_spans_to_request(trace, sink.store.held_spans(trace))
                json.dumps(to_otlp_json(request)).encode()
            return (time.perf_counter() - start) / calls

        timed = interleaved(model, stored)
        receiver.trace_json(trace)
        start = time.perf_counter()
        for _ in range(calls):
            receiver.trace_json(trace)
        return timed, (time.perf_counter() - start) / calls, len(trace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--spans-per-request", type=int, default=5000)
    parser.add_argument("--wakeup-trials", type=int, default=300)
    parser.add_argument(
        "--record", action="store_true", help="append the results to bench/RESULTS.md"
    )
    args = parser.parse_args()

    payloads = [make_request(args.spans_per_request) for _ in range(args.requests)]
    total = args.requests * (args.spans_per_request // 4) * 4
    bench_parse_only(payloads[:3])  # warm-up
    timed = interleaved(
        lambda: bench_parse_only(payloads), lambda: bench_grpc_ingest(payloads, total)
    )
    per_span = bench_memory(payloads, total)
    answer, again_s, answer_spans = bench_trace_answer()
    wake_median, wake_p95 = latency_ms(bench_wakeup(args.wakeup_trials))
    parse_rate, ingest_rate = total / timed.baseline_s, total / timed.measured_s
    lines = [
        heading("Sink ingest", "ingest.py", os.cpu_count()),
        "",
        f"{args.requests} OTLP/gRPC requests of {args.spans_per_request} spans (demo-like attributes).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| parse-only (protobuf `FromString`) | {parse_rate:,.0f} spans/s |",
        f"| stored through OTLP/gRPC (sink) | {ingest_rate:,.0f} spans/s |",
        f"| **ingest / parse-only** (median of 5 interleaved rounds) | **{timed.speed:.2f}x** (target >= 0.2x) |",
        f"| resident memory per stored span | {per_span:,.0f} bytes |",
        f"| wake-up after last span, median | {wake_median:.3f} ms (target < 5 ms) |",
        f"| wake-up after last span, p95 | {wake_p95:.3f} ms |",
        f"| `GET /api/traces/{{id}}` body, {answer_spans} spans, from the model (file writer) | {answer.baseline_s * 1000:.3f} ms |",
        f"| same, copied from the stored protobuf | {answer.measured_s * 1000:.3f} ms |",
        f"| **stored / model** (median of 5 interleaved rounds) | **{answer.cost:.2f}x** the time |",
        f"| same trace asked again (one answer per snapshot) | {again_s * 1000:.4f} ms |",
        "",
    ]
    report(lines, args.record)


if __name__ == "__main__":
    main()
