"""recommendation: five ids, the join-then-split exclusion, Python span names, cache flag."""

from __future__ import annotations

from tracebed.model.span import SpanKind
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, FlagService, has, new_traceparent, one

SERVER = "/oteldemo.RecommendationService/ListRecommendations"
CLIENT = "/oteldemo.ProductCatalogService/ListProducts"
CATALOG_SERVER = "oteldemo.ProductCatalogService/ListProducts"
ALL_IDS = {
    "OLJCESPC7Z",
    "66VCHSJNUP",
    "1YMWWN1N4O",
    "L9ECAV7KIM",
    "2ZYFJ3GM2N",
    "0PUK6V6EV0",
    "LS4PSXUNUM",
    "9SIQT8TOJO",
    "6E92ZMYYFZ",
    "HQTGWGPNH4",
}


def test_tracetest_request_returns_five_and_spans_chain(backends: Backends) -> None:
    stub = backends.stub("recommendation", demo_pb2_grpc.RecommendationServiceStub)
    trace_id, md = new_traceparent()
    sent = ["OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N"]
    req = demo_pb2.ListRecommendationsRequest(user_id="1234", product_ids=sent)
    ids = list(stub.ListRecommendations(req, metadata=md).product_ids)
    # Several real ids collapse into one unmatched string: nothing is excluded.
    assert len(ids) == 5 and len(set(ids)) == 5 and set(ids) <= ALL_IDS
    trace = backends.wait_trace(trace_id, has(SERVER, "get_product_list", CLIENT, CATALOG_SERVER))
    server = one(trace, SERVER)
    assert server.service == "recommendation" and server.kind is SpanKind.SERVER
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["app.products_recommended.count"] == 5
    inner = one(trace, "get_product_list")
    assert inner.parent_span_id == server.span_id
    assert inner.attributes["app.recommendation.cache_enabled"] is False
    assert inner.attributes["app.products.count"] == 10
    assert inner.attributes["app.filtered_products.count"] == 10
    client = one(trace, CLIENT)
    assert client.kind is SpanKind.CLIENT and client.parent_span_id == inner.span_id
    assert one(trace, CATALOG_SERVER).parent_span_id == client.span_id


def test_single_id_and_comma_string_are_excluded(backends: Backends) -> None:
    stub = backends.stub("recommendation", demo_pb2_grpc.RecommendationServiceStub)
    for _ in range(10):
        req = demo_pb2.ListRecommendationsRequest(product_ids=["OLJCESPC7Z"])
        assert "OLJCESPC7Z" not in stub.ListRecommendations(req).product_ids
    # The frontend's comma-joined string arrives as one entry per character.
    joined = list("OLJCESPC7Z,66VCHSJNUP,1YMWWN1N4O,L9ECAV7KIM,2ZYFJ3GM2N,0PUK6V6EV0")
    ids = set(
        stub.ListRecommendations(
            demo_pb2.ListRecommendationsRequest(product_ids=joined)
        ).product_ids
    )
    assert ids == {"LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ", "HQTGWGPNH4"}


def test_cache_failure_flag_sets_cache_attributes(backends: Backends, flags: FlagService) -> None:
    stub = backends.stub("recommendation", demo_pb2_grpc.RecommendationServiceStub)
    flags.set("recommendationCacheFailure", "on")
    hits = set()
    for _ in range(40):  # 50% misses: P(40 alike) ~ 2e-12
        trace_id, md = new_traceparent()
        stub.ListRecommendations(demo_pb2.ListRecommendationsRequest(), metadata=md)
        inner = one(backends.wait_trace(trace_id, has("get_product_list")), "get_product_list")
        assert inner.attributes["app.recommendation.cache_enabled"] is True
        hits.add(inner.attributes["app.cache_hit"])
        if hits == {True, False}:
            break
    assert hits == {True, False}
