"""OpenTelemetry SDK setup shared by every reference service: traces, metrics and logs.

All three go over OTLP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the signal's own
``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT``): gRPC, or http/protobuf when
``OTEL_EXPORTER_OTLP_PROTOCOL`` says so, as 3.0.0's HTTP exporters do. The export delays
are the SDK's standard variables, with short defaults so a test sees a signal almost as
soon as it is emitted: ``OTEL_BSP_SCHEDULE_DELAY`` and ``OTEL_BLRP_SCHEDULE_DELAY``
(50 ms) and ``OTEL_METRIC_EXPORT_INTERVAL`` (1000 ms).

Which metrics and logs a service emits, and their names, come from ``common.signals``:
the service code calls ``count``/``record``/``log`` with a stable key, and a key the
release's table lacks emits nothing.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HTTPLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HTTPMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPSpanExporter,
)
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tracebed.reference import versions
from tracebed.reference.common import signals
from tracebed.reference.common.config import EnvError, env_int
from tracebed.reference.common.renames import RenamingExporter

#: Flush delay of the batch span and log processors (ms) unless the environment sets one.
SCHEDULE_DELAY_MS = 50
#: Metric export interval (ms) unless ``OTEL_METRIC_EXPORT_INTERVAL`` sets one.
METRIC_EXPORT_INTERVAL_MS = 1000

_SEVERITY = {
    "DEBUG": SeverityNumber.DEBUG,
    "INFO": SeverityNumber.INFO,
    "WARN": SeverityNumber.WARN,
    "ERROR": SeverityNumber.ERROR,
}
#: A context with no span: a record emitted with it carries no trace or span id.
_NO_SPAN = trace.set_span_in_context(trace.INVALID_SPAN, Context())

_provider: TracerProvider | None = None
_meter_provider: MeterProvider | None = None
_logger_provider: LoggerProvider | None = None
_service = ""
_row = signals.ServiceSignals(frozenset({"traces"}))
_instruments: dict[str, Any] = {}
_lock = threading.Lock()


def export_delays() -> dict[str, int]:
    """The three export delays (ms) in effect, by variable name."""
    return {
        "OTEL_BSP_SCHEDULE_DELAY": env_int("OTEL_BSP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS),
        "OTEL_BLRP_SCHEDULE_DELAY": env_int("OTEL_BLRP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS),
        "OTEL_METRIC_EXPORT_INTERVAL": env_int(
            "OTEL_METRIC_EXPORT_INTERVAL", METRIC_EXPORT_INTERVAL_MS
        ),
    }


def setup(
    service_name: str, *, baggage: bool = True, resource_attributes: bool = True
) -> TracerProvider:
    """Install global tracer, meter and logger providers for ``service_name`` (the demo's name).

    ``baggage=False`` installs only the W3C TraceContext propagator (the demo's C++
    currency service does that). ``resource_attributes=False``: the resource is
    ``service.name`` alone, neither ``OTEL_RESOURCE_ATTRIBUTES`` nor the SDK's own
    attributes (the nginx otel module of telemetry-docs sets nothing else). Without an OTLP
    endpoint nothing is exported, so a service still runs standalone. Metrics and logs are set up only for the signals the
    service's row in ``signals`` emits.
    """
    global _provider, _meter_provider, _logger_provider, _service, _row
    if not service_name:
        raise EnvError("service_name must not be empty")
    if _provider is not None:
        return _provider
    delays = export_delays()
    # OTEL_RESOURCE_ATTRIBUTES (service.namespace, service.version) is merged in by
    # Resource.create; the explicit service.name wins over OTEL_SERVICE_NAME.
    resource = (
        Resource.create({SERVICE_NAME: service_name})
        if resource_attributes
        else Resource({SERVICE_NAME: service_name})
    )
    _service, _row = service_name, signals.for_service(service_name)
    provider = TracerProvider(resource=resource)
    exporter = _exporter("TRACES")
    if exporter is not None:
        renames = versions.ATTRIBUTE_RENAMES[versions.current()]
        if renames:
            exporter = RenamingExporter(exporter, renames)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                schedule_delay_millis=delays["OTEL_BSP_SCHEDULE_DELAY"],
                max_export_batch_size=512,
            )
        )
    trace.set_tracer_provider(provider)
    metric_exporter = _exporter("METRICS") if "metrics" in _row.emits else None
    if metric_exporter is not None:
        reader = PeriodicExportingMetricReader(
            metric_exporter,
            export_interval_millis=delays["OTEL_METRIC_EXPORT_INTERVAL"],
        )
        _meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(_meter_provider)
    log_exporter = _exporter("LOGS") if "logs" in _row.emits else None
    if log_exporter is not None:
        _logger_provider = LoggerProvider(resource=resource)
        _logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                log_exporter,
                schedule_delay_millis=delays["OTEL_BLRP_SCHEDULE_DELAY"],
            )
        )
        _logs.set_logger_provider(_logger_provider)
    propagators: list = [TraceContextTextMapPropagator()]
    if baggage:
        propagators.append(W3CBaggagePropagator())
    propagate.set_global_textmap(CompositePropagator(propagators))
    _provider = provider
    return provider


def _insecure(endpoint: str) -> bool:
    return not endpoint.startswith("https://")


_GRPC_EXPORTERS: dict[str, Any] = {
    "TRACES": OTLPSpanExporter,
    "METRICS": OTLPMetricExporter,
    "LOGS": OTLPLogExporter,
}
_HTTP_EXPORTERS: dict[str, Any] = {
    "TRACES": HTTPSpanExporter,
    "METRICS": HTTPMetricExporter,
    "LOGS": HTTPLogExporter,
}


def _exporter(signal: str) -> Any:
    """OTLP for ``signal`` over the protocol the demo's service uses
    (``OTEL_EXPORTER_OTLP[_{signal}]_PROTOCOL``), or None without an endpoint."""
    own = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT", "")
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    protocol = os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol == "http/protobuf":
        url = own or (base.rstrip("/") + f"/v1/{signal.lower()}" if base else "")
        return _HTTP_EXPORTERS[signal](endpoint=url, timeout=5) if url else None
    endpoint = own or base
    if not endpoint:
        return None
    return _GRPC_EXPORTERS[signal](endpoint=endpoint, insecure=_insecure(endpoint), timeout=5)
def _instrument(key: str) -> tuple[Any, signals.Metric] | None:
    spec = _row.metrics.get(key)
    if spec is None or _meter_provider is None:
        return None
    with _lock:
        inst = _instruments.get(key)
        if inst is None:
            version = os.environ.get(spec.meter_version_env) if spec.meter_version_env else None
            meter = _meter_provider.get_meter(spec.meter or _service, version)
            if spec.instrument == "counter":
                inst = meter.create_counter(spec.name, spec.unit, spec.description)
            else:
                inst = meter.create_histogram(
                    spec.name,
                    spec.unit,
                    spec.description,
                    explicit_bucket_boundaries_advisory=spec.buckets or None,
                )
            _instruments[key] = inst
    return inst, spec


def count(key: str, amount: int | float = 1, **fields: Any) -> None:
    """Add ``amount`` to the service's counter ``key`` (a no-op if the release has none)."""
    found = _instrument(key)
    if found is not None:
        inst, spec = found
        inst.add(amount, signals.attributes(spec.attributes, fields))


def record(key: str, value: int | float, **fields: Any) -> None:
    """Record ``value`` in the service's histogram ``key`` (a no-op if the release has none)."""
    found = _instrument(key)
    if found is not None:
        inst, spec = found
        inst.record(value * spec.scale, signals.attributes(spec.attributes, fields))


def log(key: str, **fields: Any) -> None:
    """Emit the service's log record ``key`` in the current context (if the release has it).

    ``fields`` fill the body's placeholders and the record's attributes.
    """
    spec = _row.logs.get(key)
    if spec is None or _logger_provider is None:
        return
    body = spec.body.format(**fields) if spec.formatted else spec.body
    logger = _logger_provider.get_logger(spec.scope or _service)
    logger.emit(
        context=None if spec.span_context else _NO_SPAN,
        severity_number=_SEVERITY[spec.severity],
        severity_text=spec.severity,
        body=body,
        attributes=signals.attributes(spec.attributes, fields) or None,
        event_name=spec.event_name or None,
    )


def shutdown() -> None:
    """Flush and stop the exporters (call on SIGTERM before exiting)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)
        _provider.shutdown()
    if _logger_provider is not None:
        _logger_provider.force_flush(timeout_millis=2000)
        _logger_provider.shutdown()
    if _meter_provider is not None:
        # shutdown exports one last collection, so a counter bumped just before SIGTERM
        # still arrives
        _meter_provider.shutdown(timeout_millis=2000)
