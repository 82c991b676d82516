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

import os
import random
import uuid
from contextlib import AbstractContextManager
from typing import Any

import gevent
from locust import events, task
from locust.env import Environment
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind

# the data the tasks choose from, re-exported: readers of the locustfile look for it here
from tracebed.reference.loadgen.shop import CATEGORIES as CATEGORIES
from tracebed.reference.loadgen.shop import PRODUCTS as PRODUCTS
from tracebed.reference.loadgen.shop import WEIGHTS as WEIGHTS
from tracebed.reference.loadgen.shop import Query, ShopUser, tracer_provider

#: Seconds between reads of loadGeneratorVUs (the wrapper's poll: 10 s). The environment
#: variable is tracebed's knob, so that a test can watch a change take effect quickly.
VUS_POLL_SECONDS = float(os.environ.get("TRACEBED_LOADGEN_VUS_POLL_SECONDS") or 10.0)

TRACER = tracer_provider().get_tracer("load-generator")


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


class WebsiteUser(ShopUser):
    def on_start(self) -> None:
        self.session_id: str | None = None  # baggage says session.id=null until then
        self.rng = random.Random()

    # -- plumbing ------------------------------------------------------------------------

    def _headers(self, span: trace.Span) -> dict[str, str]:
        return {
            "traceparent": traceparent(span),
            "baggage": f"synthetic_request=true,session.id={self.session_id or 'null'}",
        }

    def _span(self, name: str, attrs: dict[str, Any] | None = None) -> AbstractContextManager[Any]:
        # a task span is the root of its trace; addToCart inside checkout nests under it
        return TRACER.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs or {})

    def _get(
        self, span: trace.Span, path: str, name: str | None = None, query: Query = None
    ) -> Any:
        # k6 formats the query itself: the null category is the literal None
        url = path + "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else path
        return self.client.get(url, headers=self._headers(span), name=name or path)

    def _post(self, span: trace.Span, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self._headers(span), name=path)

    def _new_user(self) -> str:
        return str(uuid.uuid4())

    def _flood_count(self) -> int:
        # 3.0.0's flag file has no loadGeneratorFloodHomepage: OFREP 404 -> 0 -> nothing
        return int(self._flag("loadGeneratorFloodHomepage"))

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
            getattr(self, pick_task(self.rng))()  # a task of ShopUser, by weight
        finally:
            context.detach(token)


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
