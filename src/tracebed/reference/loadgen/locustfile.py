"""The demo 2.0.2 load generator's HTTP user: same tasks, weights, requests and baggage.

Browser users (Playwright) are not run: no browser automation is installed here.
Each request is a CLIENT span (what the demo gets from the requests instrumentation) with
W3C ``traceparent`` and the user's ``baggage: session.id=…,synthetic_request=true``.
Telemetry goes over OTLP/HTTP: gRPC does not mix with Locust's gevent.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from importlib import resources
from typing import Any

from locust import HttpUser, between, task
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PRODUCTS = [
    "0PUK6V6EV0",
    "1YMWWN1N4O",
    "2ZYFJ3GM2N",
    "66VCHSJNUP",
    "6E92ZMYYFZ",
    "9SIQT8TOJO",
    "L9ECAV7KIM",
    "LS4PSXUNUM",
    "OLJCESPC7Z",
    "HQTGWGPNH4",
]
CATEGORIES = ["binoculars", "telescopes", "accessories", "assembly", "travel", "books", None]
QUANTITIES = [1, 2, 3, 4, 5, 10]


def _people() -> list[dict[str, Any]]:
    text = (resources.files("tracebed.reference") / "data" / "people.json").read_text("utf-8")
    people = json.loads(text)
    if not isinstance(people, list) or not people:
        raise RuntimeError("tracebed/reference/data/people.json must be a non-empty list")
    return people


PEOPLE = _people()


def _setup_telemetry() -> trace.Tracer:
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
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    flagd_host = os.environ.get("FLAGD_HOST")
    if flagd_host:
        ofrep_port = os.environ.get("FLAGD_OFREP_PORT", "8016")
        api.set_provider(OFREPProvider(f"http://{flagd_host}:{ofrep_port}", timeout=1.0))
    return trace.get_tracer("load-generator")


TRACER = _setup_telemetry()
FLAGS = api.get_client()


class WebsiteUser(HttpUser):
    wait_time = between(1, 10)

    def on_start(self) -> None:
        ctx = baggage.set_baggage("session.id", str(uuid.uuid4()))
        ctx = baggage.set_baggage("synthetic_request", "true", context=ctx)
        self._ctx = ctx
        self.index()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        token = context.attach(self._ctx)
        try:
            with TRACER.start_as_current_span(
                method,
                kind=SpanKind.CLIENT,
                attributes={"http.method": method, "http.url": f"{self.host}{path}"},
            ) as span:
                headers = dict(kwargs.pop("headers", None) or {})
                propagate.inject(headers)
                resp = self.client.request(method, path, headers=headers, **kwargs)
                span.set_attribute("http.status_code", resp.status_code)
                if resp.status_code >= 400:
                    span.set_status(Status(StatusCode.ERROR))
                return resp
        finally:
            context.detach(token)

    @task(1)
    def index(self) -> None:
        self._request("GET", "/")

    @task(10)
    def browse_product(self) -> None:
        self._request("GET", "/api/products/" + random.choice(PRODUCTS))

    @task(3)
    def get_recommendations(self) -> None:
        self._request(
            "GET", "/api/recommendations", params={"productIds": [random.choice(PRODUCTS)]}
        )

    @task(3)
    def get_ads(self) -> None:
        # trailing slash and a None category (dropped by requests) as in the demo
        self._request("GET", "/api/data/", params={"contextKeys": [random.choice(CATEGORIES)]})

    @task(3)
    def view_cart(self) -> None:
        self._request("GET", "/api/cart")

    @task(2)
    def add_to_cart(self, user: str = "") -> None:
        if user == "":
            user = str(uuid.uuid1())
        product = random.choice(PRODUCTS)
        self._request("GET", "/api/products/" + product)
        body = {
            "item": {"productId": product, "quantity": random.choice(QUANTITIES)},
            "userId": user,
        }
        self._request("POST", "/api/cart", json=body)

    @task(1)
    def checkout(self) -> None:
        user = str(uuid.uuid1())
        self.add_to_cart(user=user)
        self._request("POST", "/api/checkout", json={**random.choice(PEOPLE), "userId": user})

    @task(1)
    def checkout_multi(self) -> None:
        user = str(uuid.uuid1())
        for _ in range(random.choice([2, 3, 4])):
            self.add_to_cart(user=user)
        self._request("POST", "/api/checkout", json={**random.choice(PEOPLE), "userId": user})

    @task(5)
    def flood_home(self) -> None:
        for _ in range(FLAGS.get_integer_value("loadGeneratorFloodHomepage", 0)):
            self._request("GET", "/")
