"""Demo 3.0.0's layered compose project: tiers from the merged depends_on, a probe for every
service (the compose healthcheck where the demo declares one), as `tracebed topology` shows it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.demo_layout import LAYERS, demo30_checkout
from tracebed.cli import cli
from tracebed.stack import ProbeSpec, Readiness, ServiceDef, Topology

# demo-facts-3.0.md §15.2: the default stack (core + full + observability), 28 services
DEFAULT_TIERS = [
    ["astronomy-db", "flagd", "grafana", "jaeger", "kafka", "opamp-server", "opensearch"]
    + ["prometheus", "telemetry-docs", "valkey-cart"],
    ["otel-collector"],
    ["accounting", "ad", "cart", "currency", "email", "flagd-ui", "fraud-detection"]
    + ["image-provider", "payment", "product-catalog", "quote", "shipping"],
    ["checkout", "recommendation"],
    ["frontend"],
    ["frontend-proxy"],
    ["load-generator"],
]
# §15.2: compose.yaml alone (20 services): nothing gates the collector
CORE_TIERS = [
    ["astronomy-db", "flagd", "otel-collector", "telemetry-docs", "valkey-cart"],
    ["ad", "cart", "currency", "email", "flagd-ui", "image-provider", "payment"]
    + ["product-catalog", "quote", "shipping"],
    ["checkout", "recommendation"],
    ["frontend"],
    ["frontend-proxy"],
    ["load-generator"],
]
# §1.3: no compose healthcheck at 3.0.0
NO_HEALTHCHECK = {
    "cart", "flagd", "otel-collector", "accounting", "fraud-detection", "jaeger", "grafana",
    "prometheus",
}  # fmt: skip


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return demo30_checkout(tmp_path / "demo")


def test_cli_topology_of_the_default_stack(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(checkout)  # as a maintainer runs it, from the checkout
    argv = ["topology", *(a for f in LAYERS for a in ("--compose", f)), "--env-file", ".env"]
    result = CliRunner().invoke(cli, [*argv, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    services = doc["services"]
    assert len(services) == 28
    tiers = [sorted(n for n, s in services.items() if s["tier"] == t) for t in range(7)]
    assert tiers == DEFAULT_TIERS
    # merged depends_on: observability's patches add to the core's edges
    assert services["otel-collector"]["depends_on"] == {
        "jaeger": "service_started",
        "opensearch": "service_healthy",
        "opamp-server": "service_healthy",
    }
    assert services["frontend-proxy"]["depends_on"]["opamp-server"] == "service_healthy"
    assert services["frontend-proxy"]["depends_on"]["telemetry-docs"] == "service_healthy"
    assert services["checkout"]["depends_on"]["kafka"] == "service_healthy"  # full's patch
    assert services["product-catalog"]["depends_on"]["astronomy-db"] == "service_healthy"
    # §15.2: the 2.0.2 inversion (proxy waiting for the load generator) is gone; flagd still
    # starts with the infrastructure
    assert [c for c in doc["conflicts"] if c["kind"] == "order"] == []
    placement = {c["service"]: c["before"] for c in doc["conflicts"] if c["kind"] == "placement"}
    assert placement == {"flagd": ["otel-collector"]}
    text = CliRunner().invoke(cli, argv)
    assert text.exit_code == 0 and "28 services, 7 tiers" in text.output


def test_every_service_has_a_probe_and_healthchecks_win(checkout: Path) -> None:
    topo = Topology.from_compose(
        [checkout / f for f in LAYERS], env_file=checkout / ".env", readiness=Readiness.load()
    )
    probes = {n: topo.probe_for(n) for n in topo.services}
    with_hc = {n for n, s in topo.services.items() if s.healthcheck is not None}
    assert with_hc == set(topo.services) - NO_HEALTHCHECK
    assert all(probes[n] == ProbeSpec("healthcheck") for n in with_hc)
    assert topo.services["astronomy-db"].healthcheck is not None
    assert topo.services["astronomy-db"].healthcheck.test == "pg_isready"
    # the others by tracebed's defaults; only the consumers with no port are merely "started"
    assert probes["cart"] == ProbeSpec("grpc", {"port": 7070})
    assert probes["otel-collector"] == ProbeSpec("tcp", {"port": 4317})
    assert probes["prometheus"].type == "http" and probes["grafana"].type == "http"
    assert {n for n, p in probes.items() if p.type == "started"} == {
        "accounting",
        "fraud-detection",
    }


@pytest.mark.parametrize(
    ("service", "probe"),
    [
        (
            "astronomy-db",
            ProbeSpec("command", {"argv": ["pg_isready", "-h", "{host}", "-p", "{port}"],
                                  "port": 5432}),
        ),
        (
            "telemetry-docs",
            ProbeSpec("http", {"port": 8000, "path": "/status", "status": 200}),
        ),
        ("opamp-server", ProbeSpec("http", {"port": 4321, "path": "/", "status": 200})),
        ("shipping", ProbeSpec("tcp", {"port": 50050})),  # gRPC at 2.0.2, HTTP at 3.0.0
    ],
)  # fmt: skip
def test_defaults_for_the_new_services_where_no_healthcheck_runs(
    checkout: Path, service: str, probe: ProbeSpec
) -> None:
    # An external stack without its compose project cannot ask docker for health: the runner
    # then falls back to these defaults (Stack._probe_for), with ports from the .env.
    topo = Topology.from_compose([checkout / f for f in LAYERS], env_file=checkout / ".env")
    fallback = topo.readiness.choose(ServiceDef(name=service), topo.env)
    assert fallback == probe


def test_core_layer_alone(checkout: Path) -> None:
    topo = Topology.from_compose([checkout / "compose.yaml"], env_file=checkout / ".env")
    assert len(topo.services) == 20
    assert topo.tiers == CORE_TIERS
    assert topo.services["otel-collector"].depends_on == {}
