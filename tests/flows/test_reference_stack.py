"""The flows against the reference stack's real front door (Envoy -> frontend -> services)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from tests.reference.conftest import require_debian
from tracebed.flows import ChainCheck, ShopClient, run_load
from tracebed.flows.tasks import BROWSER_TASKS, TASK_WEIGHTS
from tracebed.harness import DemoStack, Harness, HarnessOptions
from tracebed.model import SpanKind
from tracebed.otlp import Sink

pytestmark = pytest.mark.slow

NEEDED = ("redis-server", "nginx")


@pytest.fixture(scope="module")
def stack(sink: Sink) -> Iterator[DemoStack]:
    require_debian(*NEEDED)
    harness = Harness(HarnessOptions(kind="local", progress=False), sink=sink)
    try:
        yield harness.start()
    finally:
        harness.stop()  # the sink is the module fixture's: the harness leaves it running
        harness.remove_workdir()


@pytest.fixture
def shop(stack: DemoStack, sink: Sink) -> ShopClient:
    ofrep = stack.flags.ofrep_url if stack.flags else None
    return ShopClient(
        stack.frontend_url, sink_store=sink.store, rng=random.Random(5), ofrep_url=ofrep
    )


def test_every_task_succeeds_through_the_front_door(shop: ShopClient) -> None:
    for name in [*TASK_WEIGHTS, *BROWSER_TASKS]:
        flow = shop.run_task(name)
        assert all(r.ok for r in flow.results), str(flow)


def test_checkout_trace_starts_at_our_span_and_has_the_chain(shop: ShopClient) -> None:
    run = shop.checkout(quantity=2)
    assert run.ok and run.json["orderId"], str(run)
    # Envoy exports its spans later than the services do: wait for the proxy hop too.
    chain = ChainCheck()
    trace = run.trace(
        until=lambda t: chain(t) and ("frontend-proxy", "frontend") in t.edges, timeout=30
    )
    # The proxy's ingress span is the child of the span id we sent in traceparent.
    (ours,) = [s for s in trace if s.parent_span_id == run.main.span_id]
    assert (ours.service, ours.kind) == ("frontend-proxy", SpanKind.SERVER)
    assert ("frontend", "checkout") in trace.edges


def test_short_load_run_verifies_every_checkout(stack: DemoStack, sink: Sink) -> None:
    summary = run_load(
        stack.frontend_url,
        users=3,
        spawn_rate=10,
        duration_s=4,
        store=sink.store,
        wait_time=(0.05, 0.2),
        tasks="browse_product=4,checkout=2,checkout_multi=1,get_ads=1,view_cart=1",
        verify_timeout=30,
    )
    print(summary.render())
    assert summary.failures == 0, summary.render()
    assert summary.checkouts > 0 and summary.traces_verified == summary.checkouts
    assert summary.traces_incomplete == 0 and summary.ok
    edges = {(e.caller, e.callee) for e in summary.edges}
    assert {("client", "frontend-proxy"), ("checkout", "payment"), ("shipping", "quote")} <= edges
