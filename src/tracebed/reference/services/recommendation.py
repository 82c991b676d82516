"""recommendation: the demo's Python RecommendationService (calls product-catalog)."""

from __future__ import annotations

import random
import sys
import threading

import grpc
from opentelemetry import trace

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import grpc_target
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import Style, traced_channel
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

MAX_RESPONSES = 5
#: Cap on the recommendationCacheFailure "leak" so a long run cannot exhaust the machine.
MAX_LEAKED_IDS = 2_000_000


def requested_ids(product_ids: list[str]) -> list[str]:
    """The demo joins all entries with no separator, then splits on commas.

    One id or one comma-joined string is excluded as expected; several real ids collapse
    into one unmatched string, so nothing is excluded.
    """
    return "".join(product_ids).split(",")


class RecommendationService(demo_pb2_grpc.RecommendationServiceServicer):
    def __init__(
        self,
        catalog: demo_pb2_grpc.ProductCatalogServiceStub,
        flags: Flags,
        rng: random.Random | None = None,
    ) -> None:
        self.catalog = catalog
        self.flags = flags
        self.rng = rng or random.Random()
        self.tracer = trace.get_tracer("recommendation")
        self._lock = threading.Lock()
        self._first_run = True
        self._cached_ids: list[str] = []

    def ListRecommendations(
        self, request: demo_pb2.ListRecommendationsRequest, context: grpc.ServicerContext
    ) -> demo_pb2.ListRecommendationsResponse:
        ids = self._product_list(list(request.product_ids))
        trace.get_current_span().set_attribute("app.products_recommended.count", len(ids))
        # the demo logs the f-string of the Python list it returns
        telemetry.log("received", product_ids=str(ids))
        telemetry.count("recommendations", len(ids), type="catalog")
        return demo_pb2.ListRecommendationsResponse(product_ids=ids)

    def _catalog_ids(self) -> list[str]:
        return [p.id for p in self.catalog.ListProducts(demo_pb2.Empty()).products]

    def _product_list(self, raw_ids: list[str]) -> list[str]:
        with self.tracer.start_as_current_span("get_product_list") as span:
            excluded = requested_ids(raw_ids)
            if self.flags.boolean("recommendationCacheFailure", False, event=True):
                span.set_attribute("app.recommendation.cache_enabled", True)
                with self._lock:
                    miss = self._first_run or self.rng.random() < 0.5
                if miss:
                    telemetry.log("cache_miss")
                    span.set_attribute("app.cache_hit", False)
                    fetched = self._catalog_ids()
                    with self._lock:
                        self._first_run = False
                        # The demo's leak: the list grows by the catalog plus a quarter of itself.
                        grown = self._cached_ids + fetched
                        grown += grown[: len(grown) // 4]
                        self._cached_ids = grown[:MAX_LEAKED_IDS]
                        product_ids = self._cached_ids
                else:
                    telemetry.log("cache_hit")
                    span.set_attribute("app.cache_hit", True)
                    with self._lock:
                        product_ids = self._cached_ids
            else:
                span.set_attribute("app.recommendation.cache_enabled", False)
                product_ids = self._catalog_ids()
            span.set_attribute("app.products.count", len(product_ids))
            filtered = list(set(product_ids) - set(excluded))
            span.set_attribute("app.filtered_products.count", len(filtered))
            chosen = self.rng.sample(filtered, min(MAX_RESPONSES, len(filtered)))
            span.set_attribute("app.filtered_products.list", chosen)
            return chosen


def build() -> list[Registration]:
    target = grpc_target("PRODUCT_CATALOG_ADDR")
    catalog = demo_pb2_grpc.ProductCatalogServiceStub(traced_channel(target, Style.PYTHON))
    service = RecommendationService(catalog, Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_RecommendationServiceServicer_to_server(service, s)]


def main() -> int:
    return run_grpc("recommendation", Style.PYTHON, "RECOMMENDATION_PORT", build)


if __name__ == "__main__":
    sys.exit(main())
