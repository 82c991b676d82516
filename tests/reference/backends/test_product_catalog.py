"""product-catalog: the demo's catalog data, lookups, errors, the failure flag, spans."""

from __future__ import annotations

import json

import grpc
import pytest

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import SHARED_DEMO, Backends, FlagService, has, new_traceparent, one


def _demo_products() -> list[dict]:
    path = SHARED_DEMO / "products.json"
    if not path.exists():
        pytest.skip(f"demo reference file not found: {path}")
    return json.loads(path.read_text())["products"]


def test_list_products_matches_the_demo_catalog(backends: Backends) -> None:
    stub = backends.stub("product-catalog", demo_pb2_grpc.ProductCatalogServiceStub)
    trace_id, md = new_traceparent()
    products = stub.ListProducts(demo_pb2.Empty(), metadata=md).products
    ours = [
        (p.id, p.name, p.picture, p.price_usd.units, p.price_usd.nanos, list(p.categories))
        for p in products
    ]
    demo = [
        (
            p["id"],
            p["name"],
            p["picture"],
            int(p["priceUsd"].get("units", 0)),
            int(p["priceUsd"].get("nanos", 0)),
            p["categories"],
        )
        for p in _demo_products()
    ]
    assert ours == demo
    assert all(p.description and p.price_usd.currency_code == "USD" for p in products)
    span = one(
        backends.wait_trace(trace_id, has("oteldemo.ProductCatalogService/ListProducts")),
        "oteldemo.ProductCatalogService/ListProducts",
    )
    assert span.kind is SpanKind.SERVER and span.service == "product-catalog"
    assert span.attributes["app.products.count"] == 10
    assert span.attributes["rpc.grpc.status_code"] == 0


def test_get_product_found_and_not_found(backends: Backends) -> None:
    stub = backends.stub("product-catalog", demo_pb2_grpc.ProductCatalogServiceStub)
    trace_id, md = new_traceparent()
    product = stub.GetProduct(demo_pb2.GetProductRequest(id="OLJCESPC7Z"), metadata=md)
    assert product.name == "National Park Foundation Explorascope"
    assert product.picture and product.description and list(product.categories)
    name = "oteldemo.ProductCatalogService/GetProduct"
    span = one(backends.wait_trace(trace_id, has(name)), name)
    assert span.attributes["app.product.id"] == "OLJCESPC7Z"
    assert span.attributes["app.product.name"] == product.name
    assert span.events[-1].name.startswith("Product Found - ID: OLJCESPC7Z")

    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProduct(demo_pb2.GetProductRequest(id="NOPE"), metadata=md)
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "Product Not Found: NOPE"
    span = one(backends.wait_trace(trace_id, has(name)), name)
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert span.status.code is StatusCode.ERROR


def test_search_roof_binoculars_finds_exactly_one(backends: Backends) -> None:
    stub = backends.stub("product-catalog", demo_pb2_grpc.ProductCatalogServiceStub)
    trace_id, md = new_traceparent()
    results = stub.SearchProducts(
        demo_pb2.SearchProductsRequest(query="Roof Binoculars"), metadata=md
    ).results
    assert [r.name for r in results] == ["Roof Binoculars"]
    assert len(stub.SearchProducts(demo_pb2.SearchProductsRequest(query="telescope")).results) >= 3
    name = "oteldemo.ProductCatalogService/SearchProducts"
    span = one(backends.wait_trace(trace_id, has(name)), name)
    assert span.attributes["app.products_search.count"] == 1


def test_product_catalog_failure_flag_breaks_only_its_product(
    backends: Backends, flags: FlagService
) -> None:
    stub = backends.stub("product-catalog", demo_pb2_grpc.ProductCatalogServiceStub)
    flags.set("productCatalogFailure", "on")
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.GetProduct(demo_pb2.GetProductRequest(id="OLJCESPC7Z"), metadata=md)
    assert err.value.code() is grpc.StatusCode.INTERNAL
    assert err.value.details() == "Error: Product Catalog Fail Feature Flag Enabled"
    assert stub.GetProduct(demo_pb2.GetProductRequest(id="66VCHSJNUP")).id == "66VCHSJNUP"
    name = "oteldemo.ProductCatalogService/GetProduct"
    span = one(backends.wait_trace(trace_id, has(name)), name)
    assert span.status.code is StatusCode.ERROR
    flag_events = [e for e in span.events if e.name == "feature_flag"]
    assert flag_events and flag_events[0].attributes["feature_flag.key"] == "productCatalogFailure"
    assert flag_events[0].attributes["feature_flag.variant"] == "on"
    flags.set("productCatalogFailure", "off")
    assert stub.GetProduct(demo_pb2.GetProductRequest(id="OLJCESPC7Z")).id == "OLJCESPC7Z"
