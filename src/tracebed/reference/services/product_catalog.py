"""product-catalog: the demo's Go ProductCatalogService, reading the project's products file."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import grpc
from google.protobuf import json_format
from opentelemetry import trace

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import env_int
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.data import PRODUCTS_FILE
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

#: The one product the productCatalogFailure flag breaks.
FAILING_PRODUCT = "OLJCESPC7Z"


class Catalog:
    """Products from a protojson ListProductsResponse file, re-read every ``interval`` s."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval if interval > 0 else 10.0  # the demo treats <= 0 as 10
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._products: list[demo_pb2.Product] = []
        self._load()

    def _load(self) -> None:
        try:
            doc = self.path.read_text()
        except OSError as exc:
            raise RuntimeError(f"cannot read product catalog {self.path}: {exc}") from None
        parsed = json_format.Parse(doc, demo_pb2.ListProductsResponse())
        self._products = list(parsed.products)
        self._loaded_at = time.monotonic()

    def products(self) -> list[demo_pb2.Product]:
        with self._lock:
            if time.monotonic() - self._loaded_at >= self.interval:
                self._load()
            return self._products


class ProductCatalogService(demo_pb2_grpc.ProductCatalogServiceServicer):
    def __init__(self, catalog: Catalog, flags: Flags) -> None:
        self.catalog = catalog
        self.flags = flags

    def ListProducts(
        self, request: demo_pb2.Empty, context: grpc.ServicerContext
    ) -> demo_pb2.ListProductsResponse:
        products = self.catalog.products()
        trace.get_current_span().set_attribute("app.products.count", len(products))
        return demo_pb2.ListProductsResponse(products=products)

    def GetProduct(
        self, request: demo_pb2.GetProductRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Product:
        span = trace.get_current_span()
        span.set_attribute("app.product.id", request.id)
        # Only this id consults the flag, as in the demo.
        if request.id == FAILING_PRODUCT and self.flags.boolean(
            "productCatalogFailure", False, event=True
        ):
            message = "Error: Product Catalog Fail Feature Flag Enabled"
            span.add_event(message)
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            raise RpcError(grpc.StatusCode.INTERNAL, message)
        for product in self.catalog.products():
            if product.id == request.id:
                span.set_attribute("app.product.name", product.name)
                span.add_event(f"Product Found - ID: {product.id}, Name: {product.name}")
                telemetry.log("product_found", name=product.name, id=product.id)
                return product
        message = f"Product Not Found: {request.id}"
        span.add_event(message)
        span.set_status(trace.Status(trace.StatusCode.ERROR, message))
        raise RpcError(grpc.StatusCode.NOT_FOUND, message)

    def SearchProducts(
        self, request: demo_pb2.SearchProductsRequest, context: grpc.ServicerContext
    ) -> demo_pb2.SearchProductsResponse:
        query = request.query.lower()
        results = [
            p
            for p in self.catalog.products()
            if query in p.name.lower() or query in p.description.lower()
        ]
        trace.get_current_span().set_attribute("app.products_search.count", len(results))
        return demo_pb2.SearchProductsResponse(results=results)


def build() -> list[Registration]:
    path = Path(os.environ.get("PRODUCT_CATALOG_FILE") or PRODUCTS_FILE)
    catalog = Catalog(path, float(env_int("PRODUCT_CATALOG_RELOAD_INTERVAL", 10)))
    service = ProductCatalogService(catalog, Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_ProductCatalogServiceServicer_to_server(service, s)]


def main() -> int:
    return run_grpc("product-catalog", Style.GO, "PRODUCT_CATALOG_PORT", build)


if __name__ == "__main__":
    sys.exit(main())
