"""OpenTelemetry SDK setup shared by every reference service.

Traces go over OTLP (gRPC, or http/protobuf when ``OTEL_EXPORTER_OTLP_PROTOCOL`` says so,
as 3.0.0's HTTP exporters do) to ``OTEL_EXPORTER_OTLP_ENDPOINT``; the batch processor flushes
every few tens of milliseconds so a test sees a trace almost as soon as it ends.
"""

from __future__ import annotations

import os

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HTTPSpanExporter,
)
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tracebed.reference import versions
from tracebed.reference.common.config import EnvError
from tracebed.reference.common.renames import RenamingExporter

#: Flush delay of the batch span processor (ms); short so traces arrive fast.
SCHEDULE_DELAY_MS = 50

_provider: TracerProvider | None = None


def setup(service_name: str, *, baggage: bool = True) -> TracerProvider:
    """Install a global TracerProvider for ``service_name`` (the demo's service name).

    ``baggage=False`` installs only the W3C TraceContext propagator (the demo's C++
    currency service does that). Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` spans are
    recorded but not exported, so a service still runs standalone.
    """
    global _provider
    if not service_name:
        raise EnvError("service_name must not be empty")
    if _provider is not None:
        return _provider
    # OTEL_RESOURCE_ATTRIBUTES (service.namespace, service.version) is merged in by
    # Resource.create; the explicit service.name wins over OTEL_SERVICE_NAME.
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)
    exporter = _span_exporter()
    if exporter is not None:
        renames = versions.ATTRIBUTE_RENAMES[versions.current()]
        if renames:
            exporter = RenamingExporter(exporter, renames)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter, schedule_delay_millis=SCHEDULE_DELAY_MS, max_export_batch_size=512
            )
        )
    trace.set_tracer_provider(provider)
    propagators: list = [TraceContextTextMapPropagator()]
    if baggage:
        propagators.append(W3CBaggagePropagator())
    propagate.set_global_textmap(CompositePropagator(propagators))
    _provider = provider
    return provider


def _span_exporter() -> SpanExporter | None:
    """OTLP over the protocol the demo's service uses (``OTEL_EXPORTER_OTLP_PROTOCOL``)."""
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol == "http/protobuf":
        url = traces or (base.rstrip("/") + "/v1/traces" if base else "")
        return HTTPSpanExporter(endpoint=url, timeout=5) if url else None
    endpoint = traces or base
    if not endpoint:
        return None
    insecure = not endpoint.startswith("https://")
    return OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=5)


def shutdown() -> None:
    """Flush and stop the exporter (call on SIGTERM before exiting)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=2000)
        _provider.shutdown()
