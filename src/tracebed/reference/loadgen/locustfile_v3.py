"""The demo 3.0.0 load generator (k6 ``script.js``) re-told for Locust.

Each Locust user is one k6 VU of the ``load`` scenario. One iteration: a
``feature_flag.evaluate`` span around an OFREP read of ``loadGeneratorTraffic`` (at 0 the
iteration ends); on the VU's first iteration a ``user_session_start`` span and ``GET /``
under a fresh uuid4 session; then one task picked by weight (total 29) under its own
CLIENT span, the root of its trace. Every request, OFREP included, carries the enclosing
span's ``traceparent`` and ``baggage: synthetic_request=true,session.id=<id>`` explicitly,
as xk6-otel does; the requests themselves are not traced. The VU count follows
``loadGeneratorVUs`` (polled every 10 s), as k6's wrapper restarts k6 with a new count.
The browser scenario is not run: no browser is installed here.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Callable
from importlib import resources
from typing import Any

import gevent
from locust import HttpUser, between, events, task
from locust.env import Environment
from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

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
CATEGORIES: list[str | None] = [
    "binoculars",
    "telescopes",
    "accessories",
    "assembly",
    "travel",
    "books",
    None,
]
QUANTITIES = [1, 2, 3, 4, 5, 10]
#: (task, weight) as in script.js: the weights total 29.
WEIGHTS: dict[str, int] = {
    "index": 1,
    "browse_product": 10,
    "get_recommendations": 3,
    "get_ads": 3,
    "view_cart": 3,
    "add_to_cart": 2,
    "checkout": 1,
    "checkout_multi": 1,
    "flood_home": 5,
}
#: Seconds between reads of loadGeneratorVUs (the wrapper's poll: 10 s). The environment
#: variable is tracebed's knob, so that a test can watch a change take effect quickly.
VUS_POLL_SECONDS = float(os.environ.get("TRACEBED_LOADGEN_VUS_POLL_SECONDS") or 10.0)


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
    if host and port:  # xk6-otel: otlptracehttp to the collector's 4318
        exporter = OTLPSpanExporter(endpoint=f"http://{host}:{port}/v1/traces", timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    return provider.get_tracer("load-generator")


TRACER = _setup_telemetry()


def _ofrep_url() -> str | None:
    host = os.environ.get("FLAGD_HOST")
    if not host:
        return None
    return f"http://{host}:{os.environ.get('FLAGD_OFREP_PORT', '8016')}/ofrep/v1/evaluate/flags/"


OFREP = _ofrep_url()


def traceparent(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"


def pick_task(rng: random.Random) -> str:
    names = list(WEIGHTS)
    return rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]


def flag_value(doc: Any) -> float:
    """k6 reads ``value`` and treats anything else (404, no value) as 0."""
    if isinstance(doc, dict) and isinstance(doc.get("value"), (int, float)):
        return float(doc["value"])
    return 0.0


class WebsiteUser(HttpUser):
    wait_time = between(1, 10)

    def on_start(self) -> None:
        self.session_id: str | None = None  # baggage says session.id=null until then
        self.rng = random.Random()

    # -- plumbing ------------------------------------------------------------------------

    def _headers(self, span: trace.Span) -> dict[str, str]:
        return {
            "traceparent": traceparent(span),
            "baggage": f"synthetic_request=true,session.id={self.session_id or 'null'}",
        }

    def _span(self, name: str, attrs: dict[str, Any] | None = None) -> Any:
        # a task span is the root of its trace; addToCart inside checkout nests under it
        return TRACER.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs or {})

    def _get(self, span: trace.Span, path: str, name: str | None = None) -> Any:
        return self.client.get(path, headers=self._headers(span), name=name or path)

    def _post(self, span: trace.Span, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self._headers(span), name=path)

    def _flag(self, key: str) -> float:
        with self._span("feature_flag.evaluate", {"feature_flag.key": key}) as span:
            if OFREP is None:
                return 0.0
            with self.client.post(
                OFREP + key,
                json={},
                headers=self._headers(span),
                name="ofrep",
                catch_response=True,
            ) as resp:
                resp.success()  # a 404 (unknown flag) is an answer, not a failure
                try:
                    return flag_value(resp.json())
                except ValueError:
                    return 0.0

    # -- one k6 iteration ------------------------------------------------------------------

    @task
    def iteration(self) -> None:
        token = context.attach(context.Context())  # every iteration starts a fresh stack
        try:
            if self._flag("loadGeneratorTraffic") <= 0:
                return  # traffic paused; wait_time is the k6 sleep
            if self.session_id is None:
                self.session_id = str(uuid.uuid4())
                with self._span("user_session_start") as span:
                    self._get(span, "/")
            tasks: dict[str, Callable[[], None]] = {
                "index": self.index,
                "browse_product": self.browse_product,
                "get_recommendations": self.get_recommendations,
                "get_ads": self.get_ads,
                "view_cart": self.view_cart,
                "add_to_cart": self.add_to_cart,
                "checkout": self.checkout,
                "checkout_multi": self.checkout_multi,
                "flood_home": self.flood_home,
            }
            tasks[pick_task(self.rng)]()
        finally:
            context.detach(token)

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
            self._get(span, f"/api/recommendations?productIds={product}", "/api/recommendations")

    def get_ads(self) -> None:
        category = self.rng.choice(CATEGORIES)
        with self._span("user_get_ads", {"category": category or "null"}) as span:
            # trailing slash, and the literal None for the null category, as k6 sends
            self._get(span, f"/api/data/?contextKeys={category or 'None'}", "/api/data/")

    def view_cart(self) -> None:
        with self._span("user_view_cart") as span:
            self._get(span, "/api/cart")  # no sessionId: reads user ""

    def add_to_cart(self, user: str | None = None) -> None:
        user = user or str(uuid.uuid4())
        product = self.rng.choice(PRODUCTS)
        quantity = self.rng.choice(QUANTITIES)
        attrs = {"user.id": user, "product.id": product, "quantity": quantity}
        with self._span("user_add_to_cart", attrs) as span:
            self._get(span, f"/api/products/{product}", name="/api/products/[id]")
            body = {"item": {"productId": product, "quantity": quantity}, "userId": user}
            self._post(span, "/api/cart", body)

    def checkout(self) -> None:
        user = str(uuid.uuid4())
        with self._span("user_checkout_single", {"user.id": user}) as span:
            self.add_to_cart(user)
            self._post(span, "/api/checkout", {**self.rng.choice(PEOPLE), "userId": user})

    def checkout_multi(self) -> None:
        user = str(uuid.uuid4())
        count = self.rng.choice([2, 3, 4])
        with self._span("user_checkout_multi", {"user.id": user, "item.count": count}) as span:
            for _ in range(count):
                self.add_to_cart(user)
            self._post(span, "/api/checkout", {**self.rng.choice(PEOPLE), "userId": user})

    def flood_home(self) -> None:
        # 3.0.0's flag file has no loadGeneratorFloodHomepage: OFREP 404 -> 0 -> nothing
        for _ in range(int(self._flag("loadGeneratorFloodHomepage"))):
            with self._span("user_flood_home") as span:
                self._get(span, "/")


def _follow_vus(environment: Environment) -> None:
    """The wrapper's loop: read loadGeneratorVUs every 10 s, re-scale on a change.

    The first read sets the count too (the wrapper starts k6 with the flag's value; only
    when flagd is unreachable or says 0 does it keep ``LOAD_GENERATOR_VUS``, here ``-u``).
    """
    import requests

    last: int | None = None
    while OFREP is not None:
        try:
            value = int(
                flag_value(requests.post(OFREP + "loadGeneratorVUs", json={}, timeout=2).json())
            )
        except (requests.RequestException, ValueError):
            value = 0  # a transient failure keeps the last value
        runner = environment.runner
        # a change against the last value read, or on the first read against -u
        before = last if last is not None or runner is None else runner.target_user_count
        if runner is not None and value > 0 and value != before:
            runner.start(value, spawn_rate=value)
        if value > 0:
            last = value
        gevent.sleep(VUS_POLL_SECONDS)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    gevent.spawn(_follow_vus, environment)
