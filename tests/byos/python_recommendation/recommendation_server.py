"""recommendation: the demo's RecommendationService (2.0.2 semantics) as a standalone service.

A real service to plug into tracebed's stand-in, not part of tracebed: it imports nothing of
tracebed. It reads the environment the demo's compose file gives recommendation
(``RECOMMENDATION_PORT``, ``PRODUCT_CATALOG_ADDR``, ``FLAGD_HOST``/``FLAGD_PORT``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_BSP_SCHEDULE_DELAY``), reads flags with the OpenFeature flagd provider in RPC mode
(flagd's gRPC evaluation protocol) and exports spans over OTLP/gRPC.

    python recommendation_server.py        # DEMO_PROTO overrides the demo.proto it compiles

3.0.0 differs only in attribute names (``demo.product.recommended.count``,
``demo.feature_flag.recommendation_cache``, ``demo.recommendation.cache_hit``,
``demo.product.count``, ``demo.product.filtered.*``; demo-facts-3.0 §5.3.9).
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_tools import protoc
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import (
    GrpcInstrumentorClient,
    GrpcInstrumentorServer,
    filters,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

PROTO = Path(
    os.environ.get("DEMO_PROTO")
    or Path(__file__).resolve().parents[3]
    / "src"
    / "tracebed"
    / "reference"
    / "proto"
    / "demo.proto"
)
MAX_RESPONSES = 5
#: The demo's leak grows without bound; stop at this many ids so a long run stays bounded.
CACHE_CAP = 2_000_000


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        print(f"recommendation: {name} is not set", file=sys.stderr)
        sys.exit(2)
    return value


def compile_proto(proto: Path) -> tuple[ModuleType, ModuleType]:
    """demo_pb2 and demo_pb2_grpc, generated into a temporary directory at start."""
    out = tempfile.mkdtemp(prefix="recommendation-pb-")
    code = protoc.main(
        [
            "protoc",
            f"-I{proto.parent}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            proto.name,
        ]
    )
    if code != 0:
        print(f"recommendation: cannot compile {proto}", file=sys.stderr)
        sys.exit(2)
    sys.path.insert(0, out)
    stem = proto.stem
    return importlib.import_module(f"{stem}_pb2"), importlib.import_module(f"{stem}_pb2_grpc")


def setup_telemetry() -> TracerProvider:
    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the exporter reads
    # OTEL_EXPORTER_OTLP_ENDPOINT (http:// means plaintext); the batch processor reads
    # OTEL_BSP_SCHEDULE_DELAY.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Health checks are readiness probes, not traffic.
    GrpcInstrumentorServer(filter_=filters.negate(filters.health_check())).instrument()
    GrpcInstrumentorClient().instrument()
    return provider


class Recommendations:
    def __init__(self, pb: ModuleType, catalog: Any) -> None:
        self.pb = pb
        self.catalog = catalog
        self.flags = api.get_client()
        self.tracer = trace.get_tracer("recommendation")
        self.cached_ids: list[str] = []
        self.first_run = True
        self.lock = threading.Lock()

    def _catalog_ids(self) -> list[str]:
        return [p.id for p in self.catalog.ListProducts(self.pb.Empty()).products]

    def product_list(self, requested: list[str]) -> list[str]:
        with self.tracer.start_as_current_span("get_product_list") as span:
            # The demo joins every entry and splits on ",": a comma-joined string (one entry,
            # or one entry per character) is split back; several real ids collapse into one.
            excluded = "".join(requested).split(",")
            if self.flags.get_boolean_value("recommendationCacheFailure", False):
                span.set_attribute("app.recommendation.cache_enabled", True)
                with self.lock:
                    if random.random() < 0.5 or self.first_run:
                        self.first_run = False
                        span.set_attribute("app.cache_hit", False)
                        grown = self.cached_ids + self._catalog_ids()
                        grown += grown[: len(grown) // 4]
                        self.cached_ids = grown[:CACHE_CAP]
                    else:
                        span.set_attribute("app.cache_hit", True)
                    ids = list(self.cached_ids)
            else:
                span.set_attribute("app.recommendation.cache_enabled", False)
                ids = self._catalog_ids()
            span.set_attribute("app.products.count", len(ids))
            filtered = list(set(ids) - set(excluded))
            span.set_attribute("app.filtered_products.count", len(filtered))
            chosen = random.sample(filtered, min(MAX_RESPONSES, len(filtered)))
            span.set_attribute("app.filtered_products.list", chosen)
            return chosen

    def ListRecommendations(self, request: Any, context: grpc.ServicerContext) -> Any:
        ids = self.product_list(list(request.product_ids))
        trace.get_current_span().set_attribute("app.products_recommended.count", len(ids))
        return self.pb.ListRecommendationsResponse(product_ids=ids)


def main() -> int:
    port = required("RECOMMENDATION_PORT")
    catalog_addr = required("PRODUCT_CATALOG_ADDR")
    required("OTEL_SERVICE_NAME")
    provider = setup_telemetry()
    pb, pb_grpc = compile_proto(PROTO)
    api.set_provider(
        FlagdProvider(
            host=os.environ.get("FLAGD_HOST", "flagd"),
            port=int(os.environ.get("FLAGD_PORT", "8013")),
            resolver_type=ResolverType.RPC,
        )
    )
    catalog = pb_grpc.ProductCatalogServiceStub(grpc.insecure_channel(catalog_addr))
    service = Recommendations(pb, catalog)

    server = grpc.server(futures.ThreadPoolExecutor(10))
    pb_grpc.add_RecommendationServiceServicer_to_server(service, server)
    checks = health.HealthServicer()
    checks.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    server.add_insecure_port(f"[::]:{port}")
    server.start()
    print(f"recommendation gRPC server started on port {port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(2).wait()
    api.shutdown()
    provider.shutdown()  # flush the last spans
    return 0


if __name__ == "__main__":
    sys.exit(main())
