"""What both releases' load generators share: the shop data, the task mix, the tracer, and the
nine HTTP tasks, written once.

``ShopUser`` holds the task bodies; each release's locustfile subclasses it and says how a
task is traced and its requests sent: 2.0.2's Locust traces each request (``locustfile``),
3.0.0's k6 script traces each task and sends the span's context itself (``locustfile_v3``).
This module imports Locust (which patches the interpreter with gevent): only the
locustfiles import it.
"""

from __future__ import annotations

import json
import os
import random
from contextlib import AbstractContextManager
from importlib import resources
from typing import Any

from locust import HttpUser, between
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tracebed import demo_data

# The demo's data, held once in tracebed.demo_data (the shop flows use it too), as the lists
# and dict the tasks have always used.
PRODUCTS = list(demo_data.PRODUCTS)
#: None: no category (2.0.2's requests drops the parameter; 3.0.0's k6 sends "None").
CATEGORIES: list[str | None] = list(demo_data.CATEGORIES)
QUANTITIES = list(demo_data.QUANTITIES)
#: task -> weight, the same in 2.0.2's locustfile and 3.0.0's script.js (they total 29).
WEIGHTS: dict[str, int] = dict(demo_data.TASK_WEIGHTS_2_0_2)
#: A request's query parameters (None: 2.0.2 leaves the parameter out, 3.0.0 sends "None").
Query = dict[str, str | None] | None


def _people() -> list[dict[str, Any]]:
    text = (resources.files("tracebed.reference") / "data" / "people.json").read_text("utf-8")
    people = json.loads(text)
    if not isinstance(people, list) or not people:
        raise RuntimeError("tracebed/reference/data/people.json must be a non-empty list")
    return people


PEOPLE = _people()


def tracer_provider() -> TracerProvider:
    """The load generator's tracer provider: OTLP/HTTP to the collector's 4318 (gRPC does
    not mix with Locust's gevent; 3.0.0's xk6-otel uses otlptracehttp)."""
    provider = TracerProvider(
        resource=Resource.create(
            {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "load-generator")}
        )
    )
    host = os.environ.get("OTEL_COLLECTOR_HOST")
    port = os.environ.get("OTEL_COLLECTOR_PORT_HTTP")
    if host and port:
        exporter = OTLPSpanExporter(endpoint=f"http://{host}:{port}/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    return provider


class ShopUser(HttpUser):
    """The demo's HTTP tasks. A release's user gives the hooks: ``_span`` (the span of one
    task, or none), ``_get``/``_post`` (one request under it), ``_new_user`` and
    ``_flood_count``."""

    abstract = True
    wait_time = between(1, 10)
    rng: random.Random

    # -- what a release's user provides ----------------------------------------------------

    def _span(self, name: str, attrs: dict[str, Any] | None = None) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _get(self, span: Any, path: str, name: str | None = None, query: Query = None) -> Any:
        """GET ``path`` with ``query``; ``name`` is the Locust statistics entry."""
        raise NotImplementedError

    def _post(self, span: Any, path: str, body: Any) -> Any:
        raise NotImplementedError

    def _new_user(self) -> str:
        raise NotImplementedError

    def _flood_count(self) -> int:
        """loadGeneratorFloodHomepage: how many extra home page loads."""
        raise NotImplementedError

    # -- the tasks -------------------------------------------------------------------------

    def index(self) -> None:
        with self._span("user_index") as span:
            self._get(span, "/")

    def browse_product(self) -> None:
        product = self.rng.choice(PRODUCTS)
        with self._span("user_browse_product", {"product.id": product}) as span:
            self._get(span, f"/api/products/{product}", name="/api/products/[id]")

    def get_recommendations(self) -> None:
        product = self.rng.choice(PRODUCTS)
        with self._span("user_get_recommendations", {"product.id": product}) as span:
            self._get(span, "/api/recommendations", query={"productIds": product})

    def get_ads(self) -> None:
        category = self.rng.choice(CATEGORIES)
        with self._span("user_get_ads", {"category": category or "null"}) as span:
            # the trailing slash is the demo's
            self._get(span, "/api/data/", query={"contextKeys": category})

    def view_cart(self) -> None:
        with self._span("user_view_cart") as span:
            self._get(span, "/api/cart")  # no sessionId: reads user ""

    def add_to_cart(self, user: str | None = None) -> None:
        user = user or self._new_user()
        product = self.rng.choice(PRODUCTS)
        quantity = self.rng.choice(QUANTITIES)
        attrs = {"user.id": user, "product.id": product, "quantity": quantity}
        with self._span("user_add_to_cart", attrs) as span:
            self._get(span, f"/api/products/{product}", name="/api/products/[id]")
            body = {"item": {"productId": product, "quantity": quantity}, "userId": user}
            self._post(span, "/api/cart", body)

    def checkout(self) -> None:
        user = self._new_user()
        with self._span("user_checkout_single", {"user.id": user}) as span:
            self.add_to_cart(user)
            self._post(span, "/api/checkout", {**self.rng.choice(PEOPLE), "userId": user})

    def checkout_multi(self) -> None:
        user = self._new_user()
        count = self.rng.choice([2, 3, 4])
        with self._span("user_checkout_multi", {"user.id": user, "item.count": count}) as span:
            for _ in range(count):
                self.add_to_cart(user)
            self._post(span, "/api/checkout", {**self.rng.choice(PEOPLE), "userId": user})

    def flood_home(self) -> None:
        for _ in range(self._flood_count()):
            with self._span("user_flood_home") as span:
                self._get(span, "/")
