"""The reference stack in containers: built with no registry, started tier by tier by the
compose backend, a checkout trace reaching the sink on the host, nothing left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.compose.conftest import assert_nothing_left, labelled, require_docker
from tracebed.flows.chain import CHECKOUT_SERVICES as CHAIN_SERVICES
from tracebed.flows.client import ShopClient
from tracebed.otlp.sink import Sink
from tracebed.refstack.compose import (
    LABEL_STACK,
    build_reference_image,
    reference_compose_topology,
)
from tracebed.stack import Stack
from tracebed.stack.backends.compose import ComposeBackend

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def reference_image() -> str:
    require_docker()
    return build_reference_image()


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


@pytest.fixture(scope="module")
def compose_stack(
    reference_image: str, sink: Sink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("reference-compose")
    # 2.0.2: the span names below are 2.0.2's (3.0.0's collector renames them; tests/reference/v3)
    topology = reference_compose_topology(
        workdir, sink.grpc_endpoint, image=reference_image, demo_version="2.0.2"
    )
    stack = Stack(topology, ComposeBackend(), run_dir=workdir / "run")
    try:
        stack.start(progress=False)
        yield stack
    finally:
        stack.stop()
        # Every container, network and volume of the run is gone, failure or not.
        assert_nothing_left(stack)


def test_compose_file_is_shaped_like_the_demo(compose_stack: Stack) -> None:
    topo = compose_stack.topology
    assert topo.compose_files, "the stack must come from a real compose file"
    services = topo.services
    # Same names and demo conditions as the demo's compose file (absent services dropped).
    assert services["checkout"].depends_on["kafka"].condition == "service_healthy"
    assert services["accounting"].depends_on["kafka"].condition == "service_healthy"
    assert services["recommendation"].depends_on["product-catalog"].condition == ("service_started")
    assert services["kafka"].healthcheck is not None


def test_tiers_start_in_order_with_readiness(compose_stack: Stack) -> None:
    tl = compose_stack.timeline
    assert tl.check_order() == []
    assert tl.ready_before("kafka", "checkout")
    assert tl.ready_before("product-catalog", "recommendation")
    assert tl.ready_before("frontend", "frontend-proxy")


def test_all_containers_run_from_the_reference_image(
    compose_stack: Stack, reference_image: str
) -> None:
    ids = labelled("container", f"io.tracebed.run={compose_stack.record.run_id}")
    assert len(ids) == len(compose_stack.topology.services)
    res = subprocess.run(
        [
            "docker",
            "inspect",
            "--format",
            '{{.Config.Image}} {{index .Config.Labels "' + LABEL_STACK + '"}} {{.State.Running}}',
            *ids,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {tuple(line.split()) for line in res.stdout.splitlines()}
    assert rows == {(reference_image, "tracebed-reference", "true")}


# The services a checkout reaches through the front door.
CHECKOUT_SERVICES = {"frontend-proxy", "frontend", *CHAIN_SERVICES}


def test_checkout_trace_reaches_the_sink_on_the_host(compose_stack: Stack, sink: Sink) -> None:
    front = compose_stack.topology.extras["x-tracebed-stack"]["frontend_url"]
    shop = ShopClient(front, sink_store=sink.store)
    order = shop.checkout().steps[-1]
    assert order.status_code == 200, order
    # Spans leave the containers through the containerised collector (rotel) to the host sink.
    trace = order.trace(
        until=lambda t: (
            t.services >= CHECKOUT_SERVICES
            and bool(t.named("orders publish"))
            and bool(t.named("ingress"))
        ),
        timeout=30,
    )
    (top,) = trace.tops
    assert (top.service, top.name) == ("frontend-proxy", "ingress")
