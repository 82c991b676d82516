"""A real Python recommendation service (tests/byos/python_recommendation) against the
stand-in's flagd (OpenFeature flagd provider, RPC mode) and product-catalog."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.byos.support import Flagd, has, new_traceparent, one, retrying
from tracebed.model.span import SpanKind
from tracebed.model.trace import Trace
from tracebed.otlp.sink import Sink
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

SERVER = "/oteldemo.RecommendationService/ListRecommendations"
CLIENT = "/oteldemo.ProductCatalogService/ListProducts"
CATALOG_SERVER = "oteldemo.ProductCatalogService/ListProducts"  # the stand-in's, Go-style
INNER = "get_product_list"
RESOLVE = "/flagd.evaluation.v2.Service/ResolveBoolean"
CATALOG = {
    "OLJCESPC7Z", "66VCHSJNUP", "1YMWWN1N4O", "L9ECAV7KIM", "2ZYFJ3GM2N",
    "0PUK6V6EV0", "LS4PSXUNUM", "9SIQT8TOJO", "6E92ZMYYFZ", "HQTGWGPNH4",
}  # fmt: skip


@pytest.fixture(scope="module")
def recommendation(
    python_recommendation: str,
) -> Iterator[demo_pb2_grpc.RecommendationServiceStub]:
    with grpc.insecure_channel(python_recommendation) as channel:
        yield demo_pb2_grpc.RecommendationServiceStub(channel)


def recommend(
    stub: demo_pb2_grpc.RecommendationServiceStub, product_ids: list[str]
) -> tuple[str, list[str]]:
    trace_id, metadata = new_traceparent()
    request = demo_pb2.ListRecommendationsRequest(user_id="u-1", product_ids=product_ids)
    reply = stub.ListRecommendations(request, metadata=metadata, timeout=10)
    return trace_id, list(reply.product_ids)


def test_recommendations_are_served_and_traced(
    recommendation: demo_pb2_grpc.RecommendationServiceStub, sink: Sink, flags: Flagd
) -> None:
    trace_id, ids = recommend(recommendation, ["OLJCESPC7Z"])
    assert len(ids) == 5
    assert set(ids) <= CATALOG - {"OLJCESPC7Z"}

    trace = sink.wait_for_trace(trace_id, until=has(SERVER, INNER, CLIENT, CATALOG_SERVER))
    server, inner, client = one(trace, SERVER), one(trace, INNER), one(trace, CLIENT)
    assert server.service == "recommendation"
    assert server.kind is SpanKind.SERVER
    assert server.resource["service.namespace"] == "opentelemetry-demo"
    assert server.resource["service.version"] == "2.0.2"
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["app.products_recommended.count"] == 5
    assert inner.parent_span_id == server.span_id
    assert inner.attributes["app.recommendation.cache_enabled"] is False
    assert inner.attributes["app.products.count"] == 10
    assert inner.attributes["app.filtered_products.count"] == 9
    assert list(inner.attributes["app.filtered_products.list"]) == ids  # type: ignore[arg-type]
    assert client.kind is SpanKind.CLIENT
    assert client.parent_span_id == inner.span_id
    assert one(trace, CATALOG_SERVER).parent_span_id == client.span_id
    assert one(trace, CATALOG_SERVER).service == "product-catalog"


def test_several_ids_exclude_nothing(
    recommendation: demo_pb2_grpc.RecommendationServiceStub, sink: Sink, flags: Flagd
) -> None:
    # The demo joins the entries before splitting on ",": two real ids become one unknown id.
    trace_id, _ = recommend(recommendation, ["OLJCESPC7Z", "66VCHSJNUP"])
    trace = sink.wait_for_trace(trace_id, until=has(INNER))
    assert one(trace, INNER).attributes["app.filtered_products.count"] == 10


def test_cache_failure_flag_reaches_the_service_over_grpc(
    recommendation: demo_pb2_grpc.RecommendationServiceStub, sink: Sink, flags: Flagd
) -> None:
    def cache_enabled() -> tuple[Trace, object]:
        trace_id, ids = recommend(recommendation, ["OLJCESPC7Z"])
        assert len(ids) == 5
        trace = sink.wait_for_trace(trace_id, until=has(INNER))
        return trace, one(trace, INNER).attributes["app.recommendation.cache_enabled"]

    assert cache_enabled()[1] is False
    flags.set("recommendationCacheFailure", "on")
    # The provider caches flag values until flagd's configuration_change event: retry until
    # it has arrived (bounded).
    for attempt in retrying():
        with attempt:
            trace, enabled = cache_enabled()
            assert enabled is True, "recommendationCacheFailure=on not seen yet"
    inner = one(trace, INNER)
    assert isinstance(inner.attributes["app.cache_hit"], bool)  # set only in flag mode
    # The value came over flagd's gRPC protocol (v2 from provider 0.6), not from a cache.
    resolve = one(sink.wait_for_trace(trace.trace_id, until=has(RESOLVE)), RESOLVE)
    assert resolve.kind is SpanKind.CLIENT
    assert resolve.parent_span_id == inner.span_id

    flags.set("recommendationCacheFailure", "off")
    for attempt in retrying():
        with attempt:
            assert cache_enabled()[1] is False, "recommendationCacheFailure=off not seen yet"
