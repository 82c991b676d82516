"""The demo 2.0.2 load generator's HTTP user: same tasks, weights, requests and baggage.

Browser users (Playwright) are not run: no browser automation is installed here.
Each request is a CLIENT span (what the demo gets from the requests instrumentation) with
W3C ``traceparent`` and the user's ``baggage: session.id=…,synthetic_request=true``.
Telemetry goes over OTLP/HTTP: gRPC does not mix with Locust's gevent.
"""

from __future__ import annotations

import os
import random
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import locust  # noqa: F401  (first: it patches ssl and sockets with gevent before they load)
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

# the data the tasks choose from, re-exported: readers of the locustfile look for it here
from tracebed.reference.loadgen.shop import CATEGORIES as CATEGORIES
from tracebed.reference.loadgen.shop import PRODUCTS as PRODUCTS
from tracebed.reference.loadgen.shop import WEIGHTS, Query, ShopUser, tracer_provider


def _setup_telemetry() -> trace.Tracer:
    trace.set_tracer_provider(tracer_provider())
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


class WebsiteUser(ShopUser):
    # Locust's @task(weight) on each task, as the demo's locustfile has it
    tasks = [getattr(ShopUser, name) for name, weight in WEIGHTS.items() for _ in range(weight)]

    def on_start(self) -> None:
        self.rng = random.Random()
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

    # -- ShopUser's hooks: the requests are traced, the tasks are not ----------------------

    def _span(self, name: str, attrs: dict[str, Any] | None = None) -> AbstractContextManager[Any]:
        return nullcontext()

    def _get(self, span: Any, path: str, name: str | None = None, query: Query = None) -> Any:
        # requests drops a None value (the random-ads category); statistics by path
        if query:
            return self._request("GET", path, params={k: [v] for k, v in query.items()})
        return self._request("GET", path)

    def _post(self, span: Any, path: str, body: Any) -> Any:
        return self._request("POST", path, json=body)

    def _new_user(self) -> str:
        return str(uuid.uuid1())

    def _flood_count(self) -> int:
        return FLAGS.get_integer_value("loadGeneratorFloodHomepage", 0)
