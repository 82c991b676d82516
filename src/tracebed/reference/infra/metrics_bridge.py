"""Prometheus' OTLP receiver, for the Prometheus on these machines (Debian 2.42 has none).

The demo's collector sends every metric, the span-derived ones included, to Prometheus'
``/api/v1/otlp`` (v3.2.0 at 2.0.2, v3.13.1 at 3.0.0). Here the collector (rotel, one
exporter per signal) sends traces and metrics to this bridge over OTLP/gRPC, which

* passes every request on to the sink byte for byte (a sink error goes back to the
  collector, which retries),
* derives the ``spanmetrics`` connector's metrics from the traces (``span_metrics.py``) and
  sends them back into the collector's OTLP, so they reach the sink and this bridge like
  any service's metrics (only traces feed the connector, so nothing loops), and
* holds every metric it receives and serves them on ``/metrics`` with the names and labels
  Prometheus' OTLP translation gives them (``PromSettings``); Prometheus scrapes that with
  ``honor_labels`` so ``job``/``instance`` are the resource's, as over OTLP.

It runs as the ``prometheus`` service: ``run`` starts the bridge, then Prometheus as its
child, forwarding SIGTERM/SIGINT, so the service is ready when Prometheus is.

  python -m tracebed.reference.infra.metrics_bridge --otlp-port P --metrics-port M \
      --collector 127.0.0.1:4317 --sink 127.0.0.1:4318 --demo-version 3.0.0 \
      -- prometheus --config.file=...
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from tracebed.reference.infra.child import forward_stop_signals
from tracebed.reference.infra.span_metrics import SpanMetrics

#: How often the span metrics are sent to the collector (s): short, like the stack's SDK
#: export interval (the connector's default is 60 s).
FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class PromSettings:
    """The demo Prometheus' OTLP settings (its ``prometheus-config.yaml``)."""

    #: resource attributes added as labels to every series (a trailing ``*`` = prefix)
    promote: tuple[str, ...]
    #: keep service.name/namespace/instance.id on ``target_info`` (they also give job/instance)
    keep_identifying: bool


#: demo-facts §12 (v3.2.0) and demo-facts-3.0 §12 (v3.13.1); both translate with Prometheus
#: 3's default strategy, UnderscoreEscapingWithSuffixes.
SETTINGS: dict[str, PromSettings] = {
    "2.0.2": PromSettings(
        promote=(
            "service.instance.id",
            "service.name",
            "service.namespace",
            "cloud.availability_zone",
            "cloud.region",
            "container.name",
            "deployment.environment.name",
        ),
        keep_identifying=False,
    ),
    "3.0.0": PromSettings(
        promote=(
            "service.instance.id",
            "service.name",
            "service.namespace",
            "service.version",
            "service.criticality",
            "cloud.*",
            "deployment.environment.name",
            "k8s.*",
            "container.name",
            "host.name",
            "postgresql.database.name",
            "postgresql.schema.name",
            "postgresql.table.name",
            "postgresql.index.name",
            "kafka.cluster.alias",
            "collector.instance.id",
        ),
        keep_identifying=True,
    ),
}
IDENTIFYING = ("service.namespace", "service.name", "service.instance.id")

# --- Prometheus' OTLP name translation (otlptranslator, with suffixes) --------------------

#: OTel unit -> Prometheus name suffix; units not listed are used as written.
UNITS: dict[str, str] = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}  # fmt: skip
PER_UNITS: dict[str, str] = {
    "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
    "y": "year",
}  # fmt: skip
_NAME_SEPARATOR = re.compile(r"[^a-zA-Z0-9:]+")
_UNIT_INVALID = re.compile(r"[^a-zA-Z0-9:_]")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")
COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"


def _clean_unit(unit: str) -> str:
    return _UNIT_INVALID.sub("_", unit).strip("_")


def metric_name(name: str, unit: str, kind: str) -> str:
    """The Prometheus name of an OTLP metric (``kind``: counter = monotonic sum)."""
    tokens = [t for t in _NAME_SEPARATOR.split(name) if t]
    main, _, per = unit.partition("/")
    if "{" in main:  # annotations such as ``{request}`` give no suffix
        main = ""
    main = _clean_unit(UNITS.get(main, main))
    per = _clean_unit(PER_UNITS.get(per, per)) if per and "{" not in per else ""
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens += ["per", per]
    if kind == COUNTER:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == GAUGE:
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return f"_{out}" if out[:1].isdigit() else out


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name."""
    out = _LABEL_INVALID.sub("_", key)
    if out[:1].isdigit():
        return f"key_{out}"
    if out.startswith("_") and not out.startswith("__"):
        return f"key{out}"
    return out


def attribute_value(value: AnyValue) -> str:
    """An attribute value as a label value (pcommon ``AsString``)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "double_value":
        return go_float(value.double_value)
    if which == "bytes_value":
        return value.bytes_value.hex()
    if which in ("array_value", "kvlist_value"):
        return json.dumps(_plain(value), separators=(",", ":"))
    return ""


def go_float(value: float) -> str:
    """Go's ``FormatFloat(v, 'f', -1, 64)``: Prometheus' spelling of bucket bounds and double
    attributes (``le="2"``, not ``"2.0"``)."""
    if value != value or value in (float("inf"), float("-inf")):
        return {"inf": "+Inf", "-inf": "-Inf"}.get(str(value), "NaN")
    return format(Decimal(repr(float(value))).normalize(), "f")


def _plain(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_plain(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, which) if which else None


def _labels(attrs: Iterable[KeyValue]) -> dict[str, str]:
    """Attributes as labels; keys that collide once sanitized are joined with ``;``."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for kv in attrs:
        grouped.setdefault(label_name(kv.key), []).append((kv.key, attribute_value(kv.value)))
    return {name: ";".join(v for _, v in sorted(pairs)) for name, pairs in grouped.items()}


def _promoted(key: str, promote: tuple[str, ...]) -> bool:
    return any(key.startswith(p[:-1]) if p.endswith("*") else key == p for p in promote)


def job_instance(resource_attrs: dict[str, str]) -> dict[str, str]:
    name = resource_attrs.get("service.name", "")
    namespace = resource_attrs.get("service.namespace", "")
    out: dict[str, str] = {}
    if name:
        out["job"] = f"{namespace}/{name}" if namespace else name
    if resource_attrs.get("service.instance.id"):
        out["instance"] = resource_attrs["service.instance.id"]
    return out


# --- what the bridge holds ----------------------------------------------------------------

LabelSet = tuple[tuple[str, str], ...]


@dataclass
class _Family:
    kind: str
    help: str
    #: labelset -> value (counter, gauge) or (bucket bounds, cumulative counts, sum, count)
    samples: dict[LabelSet, Any]


class PromStore(Collector):
    """Every metric received, as Prometheus' OTLP receiver would store it; a
    prometheus_client collector, so ``/metrics`` is that library's exposition."""

    def __init__(self, settings: PromSettings) -> None:
        self.settings = settings
        self._families: dict[str, _Family] = {}
        self._targets: set[LabelSet] = set()
        self._lock = threading.Lock()

    def ingest(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self._lock:
            for rm in request.resource_metrics:
                self._ingest_resource(rm)

    def _ingest_resource(self, rm: metrics_pb2.ResourceMetrics) -> None:
        raw = {kv.key: attribute_value(kv.value) for kv in rm.resource.attributes}
        ident = job_instance(raw)
        promoted = _labels(
            kv for kv in rm.resource.attributes if _promoted(kv.key, self.settings.promote)
        )
        seen = False
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                seen |= self._ingest_metric(metric, promoted, ident)
        non_identifying = [kv for kv in rm.resource.attributes if kv.key not in IDENTIFYING]
        if seen and non_identifying:  # Prometheus adds no target_info for job/instance alone
            kept = rm.resource.attributes if self.settings.keep_identifying else non_identifying
            self._targets.add(_key({**_labels(kept), **ident}))

    def _ingest_metric(
        self, metric: metrics_pb2.Metric, promoted: dict[str, str], ident: dict[str, str]
    ) -> bool:
        which = metric.WhichOneof("data")
        if which == "gauge":
            kind, points = GAUGE, metric.gauge.data_points
        elif which == "sum":
            if metric.sum.aggregation_temporality != metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE:
                return False  # Prometheus' OTLP receiver drops delta sums by default
            kind = COUNTER if metric.sum.is_monotonic else GAUGE
            points = metric.sum.data_points
        elif which == "histogram":
            if (
                metric.histogram.aggregation_temporality
                != metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
            ):
                return False
            kind, points = HISTOGRAM, metric.histogram.data_points
        else:
            return False  # exponential histograms and summaries: not held here
        name = metric_name(metric.name, metric.unit, kind)
        if not name:
            return False
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, metric.description, {})
        elif family.kind != kind:
            return False  # one name, one type (a clash would break the whole scrape)
        stored = False
        for point in points:
            if point.flags & metrics_pb2.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK:
                continue
            labels = _key({**promoted, **_labels(point.attributes), **ident})
            family.samples[labels] = _value(kind, point)
            stored = True
        return stored

    def describe(self) -> list[Metric]:
        return []  # registered without a collect() at registration time

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = {n: (f.kind, f.help, dict(f.samples)) for n, f in self._families.items()}
            targets = sorted(self._targets)
        if targets:
            info = GaugeMetricFamily("target_info", "Target metadata", labels=None)
            for labels in targets:
                info.add_sample("target_info", dict(labels), 1.0)
            yield info
        for name, (kind, help_text, samples) in sorted(families.items()):
            yield _family(name, kind, help_text, samples)

    def exposition(self) -> bytes:
        from prometheus_client.exposition import generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return generate_latest(registry)


def _key(labels: dict[str, str]) -> LabelSet:
    # empty values are no label; ``__``-names are reserved (the exposition would refuse them)
    return tuple(sorted((k, v) for k, v in labels.items() if v != "" and not k.startswith("__")))


def _value(kind: str, point: Any) -> Any:
    if kind == HISTOGRAM:
        cumulative, running = [], 0
        for count in point.bucket_counts:
            running += count
            cumulative.append(running)
        if not cumulative:  # a histogram without buckets: only the +Inf one, = count
            return ((), (point.count,), point.sum, point.count)
        return (tuple(point.explicit_bounds), tuple(cumulative), point.sum, point.count)
    return float(point.as_int if point.WhichOneof("value") == "as_int" else point.as_double)


def _family(name: str, kind: str, help_text: str, samples: dict[LabelSet, Any]) -> Metric:
    family: Metric
    if kind == COUNTER:
        family = CounterMetricFamily(name, help_text)
        for labels, value in samples.items():
            family.add_sample(name, dict(labels), value)
    elif kind == GAUGE:
        family = GaugeMetricFamily(name, help_text)
        for labels, value in samples.items():
            family.add_sample(name, dict(labels), value)
    else:
        family = HistogramMetricFamily(name, help_text)
        for labels, (bounds, cumulative, total, count) in samples.items():
            base = dict(labels)
            les = [_le(b) for b in bounds] + ["+Inf"]
            for le, value in zip(les, cumulative, strict=False):
                family.add_sample(f"{name}_bucket", {**base, "le": le}, float(value))
            family.add_sample(f"{name}_count", base, float(count))
            family.add_sample(f"{name}_sum", base, float(total))
    return family


def _le(bound: float) -> str:
    return go_float(bound)


# --- the servers --------------------------------------------------------------------------


TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
METRICS_EXPORT = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"


class Bridge:
    """The OTLP/gRPC tee (traces and metrics, passed on to the sink as received), the
    span-metrics flusher and the ``/metrics`` server."""

    def __init__(
        self,
        otlp_port: int,
        metrics_port: int,
        collector: str,
        sink: str,
        demo_version: str,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        host: str = "127.0.0.1",
    ) -> None:
        self.span_metrics = SpanMetrics()
        self.store = PromStore(SETTINGS[demo_version])
        self.collector, self.sink = collector, sink
        self.flush_interval_s = flush_interval_s
        self._stop = threading.Event()
        self._sink = grpc.insecure_channel(sink)
        self._collector = grpc.insecure_channel(collector)
        # raw bytes in and out: what rotel sent reaches the sink byte for byte
        self._forward = {
            path: self._sink.unary_unary(path) for path in (TRACE_EXPORT, METRICS_EXPORT)
        }
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self._grpc.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService",
                    {"Export": grpc.unary_unary_rpc_method_handler(self._export_traces)},
                ),
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.metrics.v1.MetricsService",
                    {"Export": grpc.unary_unary_rpc_method_handler(self._export_metrics)},
                ),
            ]
        )
        if self._grpc.add_insecure_port(f"{host}:{otlp_port}") == 0:
            raise OSError(f"metrics bridge: cannot listen on {host}:{otlp_port}")
        self._host, self._metrics_port = host, metrics_port
        self._http: Any = None
        self._flusher = threading.Thread(target=self._flush_loop, name="span-metrics", daemon=True)

    def _pass_on(self, path: str, body: bytes, context: grpc.ServicerContext) -> bytes | None:
        """Forward to the sink; on failure answer the collector with the sink's error, so it
        retries (and nothing is counted twice)."""
        try:
            answer: bytes = self._forward[path](body, timeout=10)
            return answer
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNAVAILABLE
            context.abort(code, f"metrics bridge: the sink at {self.sink}: {code}")
        return None

    def _export_traces(self, body: bytes, context: grpc.ServicerContext) -> bytes | None:
        answer = self._pass_on(TRACE_EXPORT, body, context)
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        self.span_metrics.add(request.resource_spans)
        return answer

    def _export_metrics(self, body: bytes, context: grpc.ServicerContext) -> bytes | None:
        answer = self._pass_on(METRICS_EXPORT, body, context)
        self.store.ingest(metrics_service_pb2.ExportMetricsServiceRequest.FromString(body))
        return answer

    def start(self) -> None:
        from prometheus_client.exposition import start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.store)
        self._http, _ = start_http_server(self._metrics_port, addr=self._host, registry=registry)
        self._grpc.start()
        self._flusher.start()

    def flush(self) -> None:
        """Send the span metrics that changed to the collector (they come back as metrics)."""
        request = self.span_metrics.flush()
        if request is None:
            return
        try:
            metrics_service_pb2_grpc.MetricsServiceStub(self._collector).Export(request, timeout=5)
        except grpc.RpcError as exc:  # the collector is down: the next flush sends them again
            self.span_metrics.mark_dirty(request)
            code = exc.code() if isinstance(exc, grpc.Call) else exc
            print(f"metrics bridge: export to {self.collector} failed: {code}", flush=True)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()

    def stop(self) -> None:
        self._stop.set()
        self._grpc.stop(grace=1)
        if self._http is not None:
            self._http.shutdown()
        self._sink.close()
        self._collector.close()


def run(args: argparse.Namespace) -> int:
    bridge = Bridge(args.otlp_port, args.metrics_port, args.collector, args.sink, args.demo_version)
    bridge.start()
    print(
        f"metrics bridge: OTLP/gRPC on 127.0.0.1:{args.otlp_port}, /metrics on "
        f"127.0.0.1:{args.metrics_port}",
        flush=True,
    )
    if not args.child:
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        stopped.wait()
        bridge.stop()
        return 0
    proc = subprocess.Popen(args.child)
    forward_stop_signals(proc)
    try:
        return proc.wait()
    finally:
        bridge.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="metrics_bridge", description="OTLP -> span metrics + Prometheus exposition"
    )
    parser.add_argument("--otlp-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--collector", required=True, help="host:port of the collector's OTLP/gRPC")
    parser.add_argument("--sink", required=True, help="host:port of the sink's OTLP/gRPC")
    parser.add_argument("--demo-version", choices=sorted(SETTINGS), required=True)
    parser.add_argument("child", nargs=argparse.REMAINDER, help="-- the command to supervise")
    args = parser.parse_args(argv)
    if args.child[:1] == ["--"]:
        args.child = args.child[1:]
    sys.exit(run(args))


if __name__ == "__main__":
    main()
