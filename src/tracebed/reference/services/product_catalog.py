"""product-catalog: the demo's Go ProductCatalogService.

At 2.0.2 it serves the project's products file; at 3.0.0 it queries PostgreSQL
(``DB_CONNECTION_STRING``, the stand-in's astronomy-db) on every RPC.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from google.protobuf import json_format
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env, env_int
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


_COLUMNS = """SELECT
		p.id, p.name, p.description, p.picture,
		p.price_currency_code, p.price_units, p.price_nanos,
		p.categories
	FROM catalog.products p"""
#: The demo's three statements (product-catalog/main.go at 3.0.0), as its spans show them.
LIST_SQL = _COLUMNS + "\n\tORDER BY p.id"
GET_SQL = _COLUMNS + "\n\tWHERE p.id = $1"
SEARCH_SQL = (
    _COLUMNS + "\n\tWHERE LOWER(p.name) LIKE $1 OR LOWER(p.description) LIKE $1\n\tORDER BY p.id"
)


class DbError(Exception):
    pass


class PgCatalog:
    """Products from PostgreSQL (demo 3.0.0), with otelsql's CLIENT spans around each call.

    otelsql names its spans ``sql.connector.connect``, ``sql.conn.ping`` and
    ``sql.conn.query``, with ``db.system.name``, ``server.address`` (the DSN's host; the
    demo's DSN has no port, so no ``server.port``) and the statement as ``db.query.text``.
    The statement sent to the server carries a SQLCommenter ``traceparent`` comment.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.host = urlsplit(dsn).hostname or ""
        self.tracer = trace.get_tracer("github.com/XSAM/otelsql")
        self._lock = threading.Lock()
        self._conn: Any = None

    def _attrs(self) -> dict[str, Any]:
        return {"db.system.name": "postgresql", "server.address": self.host}

    def _span(self, name: str) -> Any:
        return self.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=self._attrs(), record_exception=True
        )

    def _connection(self) -> Any:
        import psycopg  # the reference extra (only the 3.0.0 catalogue needs it)

        if self._conn is None or self._conn.closed:
            with self._span("sql.connector.connect"):
                try:
                    self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                except psycopg.Error as exc:
                    raise DbError(str(exc)) from exc
        return self._conn

    def ping(self) -> None:
        """The demo's ``db.Ping()`` at start-up (a root span)."""
        with self._lock:
            conn = self._connection()
            with self._span("sql.conn.ping"):
                conn.execute("SELECT 1")

    def _query(self, sql: str, param: str | None = None) -> list[demo_pb2.Product]:
        import psycopg

        with self._lock:
            conn = self._connection()
            with self._span("sql.conn.query") as span:
                span.set_attribute("db.query.text", sql)
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                comment = f"/*traceparent='{carrier['traceparent']}'*/ " if carrier else ""
                sent = comment + sql.replace("$1", "%(p1)s")
                try:
                    rows = conn.execute(sent, {"p1": param} if param is not None else None)
                    result = [_product(r) for r in rows.fetchall()]
                except psycopg.Error as exc:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
                    raise DbError(str(exc)) from exc
        return result

    def all(self) -> list[demo_pb2.Product]:
        return self._query(LIST_SQL)

    def get(self, product_id: str) -> demo_pb2.Product | None:
        found = self._query(GET_SQL, product_id)
        return found[0] if found else None

    def search(self, query: str) -> list[demo_pb2.Product]:
        # SQL LIKE: % and _ in the query are wildcards, as in the demo
        return self._query(SEARCH_SQL, "%" + query.lower() + "%")


def _product(row: tuple[Any, ...]) -> demo_pb2.Product:
    pid, name, description, picture, currency, units, nanos, categories = row
    return demo_pb2.Product(
        id=pid,
        name=name,
        description=description,
        picture=picture,
        price_usd=demo_pb2.Money(currency_code=currency, units=units, nanos=nanos),
        categories=[c.strip() for c in categories.split(",")],
    )


class PgProductCatalogService(demo_pb2_grpc.ProductCatalogServiceServicer):
    """demo 3.0.0: every RPC queries PostgreSQL; the flag is asked on every GetProduct."""

    def __init__(self, catalog: PgCatalog, flags: Flags) -> None:
        self.catalog = catalog
        self.flags = flags

    def ListProducts(
        self, request: demo_pb2.Empty, context: grpc.ServicerContext
    ) -> demo_pb2.ListProductsResponse:
        span = trace.get_current_span()
        try:
            products = self.catalog.all()
        except DbError as exc:
            message = f"failed to load products: {exc}"
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            raise RpcError(grpc.StatusCode.INTERNAL, message) from exc
        span.set_attribute("app.products.count", len(products))
        return demo_pb2.ListProductsResponse(products=products)

    def GetProduct(
        self, request: demo_pb2.GetProductRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Product:
        span = trace.get_current_span()
        span.set_attribute("app.product.id", request.id)
        # targeting decides: as shipped only product_id OLJCESPC7Z can be switched on
        if self.flags.boolean(
            "productCatalogFailure", False, context={"product_id": request.id}, event=True
        ):
            message = "Error: Product Catalog Fail Feature Flag Enabled"
            span.add_event(message)
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            raise RpcError(grpc.StatusCode.INTERNAL, message)
        try:
            product = self.catalog.get(request.id)
        except DbError:
            product = None  # the demo reports any DB error as NOT_FOUND
        if product is None:
            message = f"Product Not Found: {request.id}"
            span.add_event(message)
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            raise RpcError(grpc.StatusCode.NOT_FOUND, message)
        span.set_attribute("app.product.name", product.name)
        span.add_event("Product Found")
        telemetry.log("product_found", name=product.name, id=product.id)
        return product

    def SearchProducts(
        self, request: demo_pb2.SearchProductsRequest, context: grpc.ServicerContext
    ) -> demo_pb2.SearchProductsResponse:
        span = trace.get_current_span()
        try:
            results = self.catalog.search(request.query)
        except DbError as exc:
            message = f"failed to search products: {exc}"
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            raise RpcError(grpc.StatusCode.INTERNAL, message) from exc
        span.set_attribute("app.products_search.count", len(results))
        return demo_pb2.SearchProductsResponse(results=results)


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
    if versions.is_v3():
        pg = PgCatalog(env("DB_CONNECTION_STRING"))
        try:
            pg.ping()
        except DbError as exc:
            raise EnvError(f"cannot reach the database in DB_CONNECTION_STRING: {exc}") from exc
        v3 = PgProductCatalogService(pg, Flags.from_env())
        return [lambda s: demo_pb2_grpc.add_ProductCatalogServiceServicer_to_server(v3, s)]
    path = Path(os.environ.get("PRODUCT_CATALOG_FILE") or PRODUCTS_FILE)
    catalog = Catalog(path, float(env_int("PRODUCT_CATALOG_RELOAD_INTERVAL", 10)))
    service = ProductCatalogService(catalog, Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_ProductCatalogServiceServicer_to_server(service, s)]


def main() -> int:
    return run_grpc("product-catalog", Style.GO, "PRODUCT_CATALOG_PORT", build)


if __name__ == "__main__":
    sys.exit(main())
