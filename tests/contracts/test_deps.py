"""Runtime calls against compose depends_on: demo 2.0.2, the reference stack, observed traces."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.contracts.demo_traces import checkout_2_0_2
from tracebed.contracts import (
    DEMO_ALIASES,
    Contract,
    analyse_dependencies,
    contract_calls,
    declared_dependencies,
    load_contracts,
    observed_calls,
)
from tracebed.stack.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / ".." / "shared" / "reference" / "otel-demo-2.0.2"
CONTRACTS = ROOT / "fixtures" / "contracts" / "2.0.2"

# Every service that exports telemetry to the collector (demo-facts §4, last row).
_EXPORTERS = [
    "ad",
    "cart",
    "checkout",
    "currency",
    "email",
    "payment",
    "product-catalog",
    "quote",
    "recommendation",
    "shipping",
    "accounting",
    "fraud-detection",
    "image-provider",
    "frontend",
    "frontend-proxy",
    "load-generator",
    "flagd",
    "flagd-ui",
]

# The demo 2.0.2 call graph, demo-facts §4, as (caller, callee).
CALL_GRAPH_2_0_2: frozenset[tuple[str, str]] = frozenset(
    {
        ("browser", "frontend-proxy"),
        ("load-generator", "frontend-proxy"),
        ("load-generator", "flagd"),
        *(
            ("frontend-proxy", s)
            for s in [
                "frontend",
                "image-provider",
                "flagd",
                "flagd-ui",
                "load-generator",
                "jaeger",
                "grafana",
                "otel-collector",
            ]
        ),
        *(
            ("frontend", s)
            for s in [
                "ad",
                "cart",
                "checkout",
                "currency",
                "product-catalog",
                "recommendation",
                "shipping",
            ]
        ),
        *(
            ("checkout", s)
            for s in [
                "cart",
                "product-catalog",
                "currency",
                "shipping",
                "payment",
                "email",
                "kafka",
            ]
        ),
        ("recommendation", "product-catalog"),
        ("shipping", "quote"),
        ("cart", "valkey-cart"),
        ("accounting", "kafka"),
        ("fraud-detection", "kafka"),
        *(
            (s, "flagd")
            for s in [
                "ad",
                "cart",
                "checkout",
                "payment",
                "product-catalog",
                "recommendation",
                "fraud-detection",
            ]
        ),
        *((s, "otel-collector") for s in _EXPORTERS),
    }
)


@pytest.fixture(scope="module")
def demo_topology() -> Topology:
    compose = DEMO / "docker-compose.yml"
    if not compose.exists():
        pytest.skip(f"demo 2.0.2 files not found at {DEMO} (they live in ../shared/reference)")
    return Topology.from_compose([compose], env_file=DEMO / "demo.env")


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return load_contracts(CONTRACTS)


def pairs(findings: list) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {(f.caller, f.callee) for f in findings}


# What demo-facts §15.3 says about 2.0.2, as the analysis must find it.
RACES = {
    ("shipping", "quote"),
    ("fraud-detection", "flagd"),
    ("load-generator", "frontend-proxy"),
    ("flagd", "otel-collector"),
}
TRANSITIVE = {
    ("frontend-proxy", "image-provider"),
    ("frontend-proxy", "flagd"),
    ("frontend-proxy", "otel-collector"),
    ("load-generator", "otel-collector"),
}
UNUSED = {
    ("frontend", "quote"),
    ("frontend", "image-provider"),
    ("frontend", "flagd"),
    ("load-generator", "frontend"),
}


def test_demo_2_0_2_call_graph_against_its_compose(demo_topology: Topology) -> None:
    declared = declared_dependencies(demo_topology)
    assert declared["checkout"] >= {"kafka", "flagd", "cart"}
    report = analyse_dependencies(CALL_GRAPH_2_0_2, declared)
    assert pairs(report.races) == RACES
    assert pairs(report.transitive) == TRANSITIVE
    # flagd-ui shares flagd's file through a volume; it never calls flagd.
    assert pairs(report.unused) == UNUSED | {("flagd-ui", "flagd")}
    assert report.unknown == [("browser", "frontend-proxy")]
    assert not report.ok
    inverted = next(f for f in report.races if f.caller == "load-generator")
    assert "inverted" in inverted.detail and inverted.via == ("frontend-proxy", "load-generator")
    text = report.explain()
    assert "start-order races (runtime call, no depends_on): 4" in text
    assert (
        "frontend-proxy -> image-provider: ordered only through frontend-proxy -> frontend" in text
    )


def test_the_contracts_carry_the_demo_call_graph(contracts: dict[str, Contract]) -> None:
    from_contracts = contract_calls(contracts.values())
    expected = {
        (a, b) for a, b in CALL_GRAPH_2_0_2 if a not in ("browser", "flagd-ui")
    }  # no contract for the browser or flagd-ui
    assert from_contracts == expected


def test_contracts_against_demo_compose(
    contracts: dict[str, Contract], demo_topology: Topology
) -> None:
    report = analyse_dependencies(
        contract_calls(contracts.values()),
        declared_dependencies(demo_topology),
        callers=contracts,
    )
    assert (pairs(report.races), pairs(report.transitive), pairs(report.unused)) == (
        RACES,
        TRANSITIVE,
        UNUSED,
    )


def test_contracts_against_the_reference_stack(
    contracts: dict[str, Contract], tmp_path: Path
) -> None:
    from tracebed.reference.spec import build_spec

    spec = build_spec(
        tmp_path, "127.0.0.1:4317", with_load_generator=True, demo_version="2.0.2"
    )
    report = analyse_dependencies(
        contract_calls(contracts.values()),
        declared_dependencies(Topology.from_spec(spec)),
        callers=contracts,
    )
    # The reference stack keeps the demo's depends_on, so it has the same races ...
    assert pairs(report.races) == RACES
    assert pairs(report.unused) == UNUSED
    # ... and leaves out Jaeger and Grafana, so the proxy's routes to them are not checked.
    assert set(report.unknown) == {("frontend-proxy", "grafana"), ("frontend-proxy", "jaeger")}


def test_observed_calls_from_a_trace() -> None:
    services = {
        "frontend",
        "checkout",
        "cart",
        "valkey-cart",
        "kafka",
        "accounting",
        "fraud-detection",
        "payment",
        "shipping",
        "quote",
        "email",
        "currency",
        "product-catalog",
    }
    calls = observed_calls([checkout_2_0_2()], services, DEMO_ALIASES)
    assert calls == {
        ("frontend", "checkout"),
        ("frontend", "product-catalog"),
        ("checkout", "cart"),
        ("checkout", "product-catalog"),
        ("checkout", "currency"),
        ("checkout", "shipping"),
        ("checkout", "payment"),
        ("checkout", "email"),
        ("shipping", "quote"),
        # exit spans with no instrumented peer: named by server.address / peer.service / aliases
        ("cart", "valkey-cart"),
        ("checkout", "kafka"),
        ("accounting", "kafka"),
        ("fraud-detection", "kafka"),
    }  # and no checkout -> accounting: producer -> consumer goes through the broker


def test_declared_dependencies_accepts_plain_shapes() -> None:
    assert declared_dependencies({"a": ["b"], "b": []}) == {"a": {"b"}, "b": set()}
    compose_like = {"a": {"image": "x", "depends_on": {"b": {"condition": "service_healthy"}}}}
    assert declared_dependencies(compose_like) == {"a": {"b"}}
    with pytest.raises(TypeError):
        declared_dependencies(42)
