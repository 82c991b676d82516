"""The whole reference stack started through the stack layer (tracebed.stack), with the
load generator: tier order, a checkout through Envoy with its complete trace, Locust traffic."""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path

import requests
from tenacity import Retrying, stop_after_delay, wait_fixed

from tests.reference.conftest import PERSON, require_debian
from tests.reference.infra.test_metrics_bridge import wait_for_query
from tracebed.flows.chain import CHECKOUT_SERVICES as CHAIN_SERVICES
from tracebed.model.store import SpanStore
from tracebed.otlp.sink import Sink
from tracebed.reference.spec import build_spec
from tracebed.stack.runner import Stack
from tracebed.stack.topology import Topology

# The services a checkout reaches through the front door.
CHECKOUT_SERVICES = {"frontend-proxy", "frontend", *CHAIN_SERVICES}


def _load_generator_reached_the_proxy(store: SpanStore) -> bool:
    for trace in store.traces():
        for span in trace.named("ingress", "frontend-proxy"):
            parent = trace.parent(span)
            if parent is not None and parent.service == "load-generator":
                return True
    return False


def test_reference_stack_through_the_stack_layer(tmp_path: Path, sink: Sink) -> None:
    require_debian("redis-server", "nginx", "prometheus")
    spec = build_spec(
        tmp_path / "work", sink.grpc_endpoint, with_load_generator=True, demo_version="2.0.2"
    )
    topology = Topology.from_spec(spec)
    # the demo 2.0.2 ordering, quirk included: the proxy waits for the load generator
    assert topology.tier_of("frontend-proxy") > topology.tier_of("load-generator")
    assert topology.tier_of("checkout") > topology.tier_of("kafka")
    t0 = time.monotonic()
    with Stack(topology, "local", run_dir=tmp_path / "run") as stack:
        started_in = time.monotonic() - t0
        timeline = stack.timeline
        assert timeline.ready_at("frontend-proxy") >= timeline.ready_at("load-generator")  # type: ignore[operator]
        assert timeline.ready_at("otel-collector") <= timeline.requested_at("checkout")  # type: ignore[operator]

        url = spec["x-tracebed-stack"]["frontend_url"]
        user = str(uuid.uuid4())
        requests.post(
            f"{url}/api/cart",
            timeout=20,
            json={"userId": user, "item": {"productId": "L9ECAV7KIM", "quantity": 3}},
        )
        trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
        r = requests.post(
            f"{url}/api/checkout",
            timeout=20,
            json={**PERSON, "userId": user},
            headers={"traceparent": f"00-{trace_id}-{parent}-01"},
        )
        assert r.status_code == 200, r.text
        trace = sink.wait_for_trace(
            trace_id,
            until=lambda t: (
                t.services >= CHECKOUT_SERVICES
                and bool(t.named("orders publish"))
                and bool(t.named("ingress"))
                and bool(t.named("POST /api/checkout", "frontend"))
            ),
            quiet=0.3,  # then no span for 0.3 s: the stragglers of every service are in
            timeout=15,
        )
        # one tree under Envoy's ingress span, whose parent is our (unexported) client span
        (top,) = trace.tops
        assert (top.service, top.name, top.parent_span_id) == ("frontend-proxy", "ingress", parent)
        assert trace.orphans == [top]
        # Locust (autostart) sends traffic through Envoy with its own CLIENT spans
        # (checked outside the store's lock: its traces() cannot run inside wait_for)
        for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.2), reraise=True):
            with attempt:
                assert _load_generator_reached_the_proxy(sink.store)
        # logs and metrics reach the sink through rotel too (stored; woken by each arrival)
        sink.store.wait(
            lambda: bool(sink.store.logs(limit=1) and len(sink.store.metric_points())),
            on=None,
            timeout=15,
            description="logs and metrics",
        )
        stats = requests.get(f"{sink.http_url}/api/stats", timeout=5).json()
        assert stats["log_records"] > 0 and stats["metric_points"] > 0, stats
        # Prometheus holds checkout's metrics as 2.0.2's does over OTLP: target_info by
        # job (2.0.2 keeps no service_name on it), its own and its span-derived metrics
        prom = spec["services"]["prometheus"]["x-tracebed"]["endpoints"]["http"]
        assert wait_for_query(prom, 'target_info{job="opentelemetry-demo/checkout"}')
        assert wait_for_query(
            prom, 'rpc_server_duration_milliseconds_count{service_name="checkout"}'
        )
        assert wait_for_query(
            prom,
            'traces_span_metrics_calls_total{service_name="checkout",'
            'span_name="oteldemo.CheckoutService/PlaceOrder"}',
        )
    assert started_in < 60, f"stack took {started_in:.1f}s to start"
