"""build_spec: the compose-shaped contract with the stack layer (notes/stack-spec.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracebed.reference.spec import ABSENT, DEMO_DEPENDS_ON, PORT_NAMES, build_spec
from tracebed.reference.versions import V2

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "otel-demo-2.0.2"
SINK = "127.0.0.1:4317"
DEMO_SERVICES = set(DEMO_DEPENDS_ON) - set(ABSENT)


def test_every_demo_service_but_the_absent_ones_is_described(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, with_load_generator=True, demo_version=V2)
    assert set(spec["services"]) == DEMO_SERVICES
    assert set(spec["x-tracebed-stack"]["absent"]) == {"jaeger", "grafana", "opensearch"}
    assert spec["name"] == "tracebed-reference"


def test_load_generator_only_when_asked(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, demo_version=V2)
    assert "load-generator" not in spec["services"]
    assert "load-generator" not in spec["services"]["frontend-proxy"]["depends_on"]
    assert "load-generator" in spec["x-tracebed-stack"]["not_started"]
    assert "frontend-proxy -> load-generator" in spec["x-tracebed-stack"]["dropped_depends_on"]


def test_depends_on_mirrors_the_demo_compose_file_minus_absent_services(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((SHARED / "docker-compose.yml").read_text())["services"]
    spec = build_spec(tmp_path, SINK, with_load_generator=True, demo_version=V2)
    for name, svc in spec["services"].items():
        demo = compose[name].get("depends_on", {})
        if isinstance(demo, list):
            demo = {d: {"condition": "service_started"} for d in demo}
        expected = {
            dep: {"condition": c.get("condition", "service_started")}
            for dep, c in demo.items()
            if dep not in ABSENT
        }
        assert svc.get("depends_on", {}) == expected, name
    dropped = spec["x-tracebed-stack"]["dropped_depends_on"]
    assert "otel-collector -> opensearch" in dropped
    assert "frontend-proxy -> grafana" in dropped


def test_ports_are_distinct_free_and_wired_into_environment(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, with_load_generator=True, demo_version=V2)
    ports = spec["x-tracebed-stack"]["ports"]
    assert set(ports) == set(PORT_NAMES)
    assert len(set(ports.values())) == len(ports)
    cart = spec["services"]["cart"]
    assert cart["environment"]["CART_PORT"] == str(ports["CART_PORT"])
    assert cart["x-tracebed"]["probe"] == {
        "type": "grpc",
        "host": "127.0.0.1",
        "port": ports["CART_PORT"],
        "service": "",
    }
    checkout_env = spec["services"]["checkout"]["environment"]
    assert checkout_env["EMAIL_ADDR"] == f"http://127.0.0.1:{ports['EMAIL_PORT']}"
    assert checkout_env["CART_ADDR"] == f"127.0.0.1:{ports['CART_PORT']}"
    assert checkout_env["OTEL_SERVICE_NAME"] == "checkout"
    assert checkout_env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(
        f":{ports['OTEL_COLLECTOR_PORT_GRPC']}"
    )
    assert spec["x-tracebed-stack"]["frontend_url"] == f"http://127.0.0.1:{ports['ENVOY_PORT']}"


def test_port_overrides_are_used_and_validated(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, ports={"ENVOY_PORT": 18080}, demo_version=V2)
    assert spec["x-tracebed-stack"]["frontend_url"] == "http://127.0.0.1:18080"
    with pytest.raises(ValueError, match="unknown port name"):
        build_spec(tmp_path, SINK, ports={"NOPE_PORT": 1}, demo_version=V2)
    with pytest.raises(ValueError, match="not a TCP port"):
        build_spec(tmp_path, SINK, ports={"ENVOY_PORT": 70000}, demo_version=V2)
    with pytest.raises(ValueError, match="twice"):
        build_spec(
            tmp_path, SINK, ports={"ENVOY_PORT": 18080, "FRONTEND_PORT": 18080}, demo_version=V2
        )


def test_bad_sink_address_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="host:port"):
        build_spec(tmp_path, "localhost")


def test_commands_are_absolute_and_spec_is_plain_data(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, with_load_generator=True, demo_version=V2)
    json.dumps(spec)  # plain data only
    for name, svc in spec["services"].items():
        assert Path(svc["command"][0]).is_absolute(), name
        assert all(isinstance(v, str) for v in svc["environment"].values()), name
        assert svc["x-tracebed"]["stop_signal"] == "SIGTERM"


def test_flag_file_is_a_private_copy_with_the_demo_flag_keys(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, SINK, demo_version=V2)
    flag_file = Path(spec["x-tracebed-stack"]["flag_file"])
    assert flag_file.is_relative_to(tmp_path)
    ours = json.loads(flag_file.read_text())["flags"]
    demo = json.loads((SHARED / "demo.flagd.json").read_text())["flags"]
    assert set(ours) == set(demo)
    for key, flag in demo.items():
        assert ours[key]["variants"] == flag["variants"], key
        assert ours[key]["defaultVariant"] == flag["defaultVariant"], key
        assert ours[key]["state"] == flag["state"], key


def test_free_ports_are_outside_the_ephemeral_range_and_bindable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from tracebed.reference.infra import ports as ports_mod

    monkeypatch.setattr(ports_mod, "REGISTRY", tmp_path / "ports.json")
    ports = ports_mod.free_ports(30)
    assert len(set(ports)) == 30
    low, _ = ports_mod._ephemeral_range()
    assert all(20000 <= p < low for p in ports)
    # deterministic candidate order: the first candidates are the ones just handed out
    monkeypatch.setattr(ports_mod.random, "shuffle", lambda pool: pool.sort())
    first = ports_mod.free_ports(3)
    assert first == sorted(first) and len(first) == 3
    # reserved for a while: a concurrent allocation does not get them again
    assert not set(first) & set(ports_mod.free_ports(3))
    # a port something listens on is never handed out
    with socket.socket() as s:
        monkeypatch.setattr(ports_mod, "REGISTRY", tmp_path / "fresh.json")
        s.bind(("127.0.0.1", first[0]))
        s.listen()
        assert first[0] not in ports_mod.free_ports(3)
    with pytest.raises(ValueError):
        ports_mod.free_ports(-1)
