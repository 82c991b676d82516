"""Units of the 3.0.0 mode: the collector's span renaming, the rename table, the flag file,
the spec, the load generator's mix."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracebed.reference import versions
from tracebed.reference.common.renames import rename_attributes
from tracebed.reference.flagd import flagfile
from tracebed.reference.infra import sanitize_spans as ss
from tracebed.reference.spec import ABSENT_V3, DEMO_DEPENDS_ON_V3, build_spec

REFERENCE = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"

# --- transform/sanitize_spans (demo-facts-3.0 §5.2 table) ------------------------------


@pytest.mark.parametrize(
    ("service", "kind", "name", "attrs", "expected"),
    [
        (
            "payment",
            ss.SERVER,
            "grpc.oteldemo.PaymentService/Charge",
            {"rpc.service": "oteldemo.PaymentService", "rpc.method": "Charge"},
            "oteldemo.PaymentService/Charge",
        ),
        (
            "currency",
            ss.SERVER,
            "Currency/Convert",
            {"rpc.service": "oteldemo.CurrencyService", "rpc.method": "Convert"},
            "oteldemo.CurrencyService/Convert",
        ),
        (
            "cart",
            ss.SERVER,
            "POST /oteldemo.CartService/AddItem",
            {"http.request.method": "POST", "http.route": "/oteldemo.CartService/AddItem"},
            "POST /oteldemo.CartService/AddItem",
        ),
        ("checkout", ss.CLIENT, "HTTP POST", {"http.request.method": "POST"}, "POST"),
        (
            "checkout",
            ss.PRODUCER,
            "orders publish",
            {"messaging.operation": "publish", "messaging.destination.name": "orders"},
            "publish orders",
        ),
        (
            "product-catalog",
            ss.CLIENT,
            "sql.conn.query",
            {"db.system.name": "postgresql", "server.address": "astronomy-db"},
            "astronomy-db",
        ),
        (
            "frontend",
            ss.SERVER,
            "GET /api/products/OLJCESPC7Z",
            {"http.method": "GET", "http.target": "/api/products/OLJCESPC7Z"},
            "GET /api/products/{productId}",
        ),
        (
            "frontend",
            ss.SERVER,
            "GET /",
            {"http.method": "GET", "http.target": "/"},
            "GET",
        ),
        ("load-generator", ss.INTERNAL, "charge", {"http.method": "GET"}, "charge"),
    ],
)
def test_sanitize_spans_names_as_the_3_0_0_collector(
    service: str, kind: int, name: str, attrs: dict[str, object], expected: str
) -> None:
    new, added = ss.sanitize(service, kind, name, attrs)
    assert new == expected
    if new != name:
        assert added[ss.ORIGINAL] == name
    else:
        assert ss.ORIGINAL not in added


def test_sanitize_spans_sets_the_frontend_route_only_when_missing() -> None:
    _, added = ss.sanitize(
        "frontend",
        ss.SERVER,
        "x",
        {"http.method": "GET", "http.target": "/api/data/?contextKeys=a"},
    )
    assert added["http.route"] == "/api/data"
    _, added = ss.sanitize(
        "frontend",
        ss.SERVER,
        "x",
        {"http.method": "GET", "http.target": "/api/cart", "http.route": "/r"},
    )
    assert "http.route" not in added
    _, added = ss.sanitize("ad", ss.SERVER, "x", {"http.method": "GET", "http.target": "/api/cart"})
    assert "http.route" not in added


def test_the_processor_file_imports_nothing_from_tracebed() -> None:
    # rotel runs it in its own embedded interpreter
    tree = ast.parse(Path(ss.__file__).read_text())
    modules = [
        name
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]
    assert modules and not [m for m in modules if m.startswith("tracebed")]


# --- the rename table ---------------------------------------------------------------------


def test_renames_follow_the_3_0_0_map() -> None:
    renames = versions.ATTRIBUTE_RENAMES[versions.V3]
    out = rename_attributes(
        {"app.user.id": "u", "app.email.recipient": "x", "rpc.method": "M"}, renames
    )
    assert out == {"user.id": "u", "rpc.method": "M"}
    assert versions.ATTRIBUTE_RENAMES[versions.V2] == {}


def test_every_renamed_key_is_in_the_3_0_0_registry() -> None:
    schema = REFERENCE / "otel-demo-3.0.0" / "telemetry-schema"
    if not schema.is_dir():
        pytest.skip("the demo 3.0.0 reference files are missing")
    from tracebed.query.registry import load_registry

    registry = load_registry(schema, dependency=REFERENCE / "semconv-1.40.0" / "model")
    for new in versions.ATTRIBUTE_RENAMES[versions.V3].values():
        if new is not None:
            assert registry.attribute(new) is not None, new


def test_unknown_version_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(versions.ENV, "9.9.9")
    with pytest.raises(versions.EnvError, match="unknown demo version '9.9.9'"):
        versions.current()
    monkeypatch.delenv(versions.ENV)
    assert versions.current() == versions.DEFAULT == "3.0.0"
    monkeypatch.setenv(versions.ENV, "2.0.2")
    assert build_spec(tmp_path, "127.0.0.1:4317")["x-tracebed-stack"]["demo_version"] == "2.0.2"


def test_kafka_topic_comes_from_the_environment_at_3_0_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPIC", "orders-b")
    monkeypatch.setenv(versions.ENV, "3.0.0")
    assert versions.kafka_topic() == "orders-b"
    monkeypatch.setenv(versions.ENV, "2.0.2")
    assert versions.kafka_topic() == "orders"  # a constant at 2.0.2
    monkeypatch.delenv("KAFKA_TOPIC")
    monkeypatch.setenv(versions.ENV, "3.0.0")
    assert versions.kafka_topic() == "orders"


# --- the flag file ------------------------------------------------------------------------


def test_the_3_0_0_flag_file_matches_the_release() -> None:
    ours = flagfile.read(flagfile.bundled_flag_file("3.0.0"))["flags"]
    assert len(ours) == 15 and "loadGeneratorFloodHomepage" not in ours
    assert ours["cartFailure"]["variants"]["90%"] == 0.9
    assert ours["paymentFailure"]["variants"]["90%"] == 0.95
    assert ours["loadGeneratorTraffic"]["defaultVariant"] == "on"
    demo = REFERENCE / "otel-demo-3.0.0" / "demo.flagd.json"
    if demo.is_file():
        theirs = json.loads(demo.read_text())["flags"]
        assert sorted(ours) == sorted(theirs)
        for key, flag in theirs.items():
            assert ours[key]["variants"] == flag["variants"], key
            assert ours[key]["defaultVariant"] == flag["defaultVariant"], key
            assert ours[key].get("targeting") == flag.get("targeting"), key
    assert len(flagfile.read(flagfile.bundled_flag_file())["flags"]) == 11  # 2.0.2's


# --- the spec -----------------------------------------------------------------------------


def test_spec_3_0_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(versions.ENV, raising=False)  # tests/conftest.py pins 2.0.2
    spec = build_spec(tmp_path, "127.0.0.1:4317", with_load_generator=True)
    assert spec["x-tracebed-stack"]["demo_version"] == "3.0.0"  # the default
    services = spec["services"]
    assert "astronomy-db" in services
    assert services["product-catalog"]["depends_on"]["astronomy-db"] == {
        "condition": "service_healthy"
    }
    assert "load-generator" not in services["frontend-proxy"].get("depends_on", {})
    assert services["load-generator"]["depends_on"]["frontend-proxy"] == {
        "condition": "service_healthy"
    }
    for name, svc in services.items():
        env = svc["environment"]
        if "OTEL_SERVICE_NAME" not in env:
            continue
        assert env["TRACEBED_DEMO_VERSION"] == "3.0.0"
        http = env.get("OTEL_EXPORTER_OTLP_PROTOCOL") == "http/protobuf"
        assert http == (name in versions.OTLP_HTTP_SERVICES["3.0.0"]), name
        port = spec["x-tracebed-stack"]["ports"][
            "OTEL_COLLECTOR_PORT_HTTP" if http else "OTEL_COLLECTOR_PORT_GRPC"
        ]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(f":{port}"), name
    assert services["checkout"]["environment"]["SHIPPING_ADDR"].startswith("http://")
    assert services["checkout"]["environment"]["KAFKA_TOPIC"] == "orders"
    assert services["shipping"]["x-tracebed"]["probe"]["type"] == "tcp"
    assert "--otlp-with-trace-processor" in services["otel-collector"]["command"]
    absent = spec["x-tracebed-stack"]["absent"]
    assert set(absent) == set(ABSENT_V3) >= {"opamp-server", "jaeger"}
    assert "telemetry-docs" in services and "telemetry-docs" not in absent
    assert set(DEMO_DEPENDS_ON_V3) >= set(services)


def test_spec_2_0_2_is_unchanged(tmp_path: Path) -> None:
    spec = build_spec(tmp_path, "127.0.0.1:4317", demo_version="2.0.2")
    services = spec["services"]
    assert "astronomy-db" not in services
    assert "--otlp-with-trace-processor" not in services["otel-collector"]["command"]
    assert services["shipping"]["x-tracebed"]["probe"]["type"] == "grpc"
    assert all("OTEL_EXPORTER_OTLP_PROTOCOL" not in s["environment"] for s in services.values())
    with pytest.raises(versions.EnvError):
        build_spec(tmp_path, "127.0.0.1:4317", demo_version="2.2.0")


# --- the load generator's mix ----------------------------------------------------------


# Locust monkey-patches the interpreter with gevent on import: inspect it in a child process.
_INSPECT = """
import importlib.util, json, random, sys
spec = importlib.util.spec_from_file_location("locustfile_v3", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
rng = random.Random(7)
picks = [mod.pick_task(rng) for _ in range(29000)]
print(json.dumps({"weights": mod.WEIGHTS, "browse": picks.count("browse_product"),
                  "flag": [mod.flag_value({"value": 1}), mod.flag_value({"errorCode": "x"})],
                  "tasks": [t.__name__ for t in mod.WebsiteUser.tasks]}))
"""


def test_loadgen_mix_is_k6s() -> None:
    from tracebed.reference.loadgen import LOCUSTFILE_V3

    out = subprocess.run(
        [sys.executable, "-c", _INSPECT, str(LOCUSTFILE_V3)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert sum(doc["weights"].values()) == 29
    assert doc["weights"]["browse_product"] == 10 and doc["weights"]["flood_home"] == 5
    assert 9_000 < doc["browse"] < 11_000
    assert doc["flag"] == [1.0, 0.0]
    assert doc["tasks"] == ["iteration"]  # one k6 iteration per Locust task run


def test_email_memory_leak_keeps_padded_mails(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracebed.reference.services.email import EmailService

    class TenX:
        def integer(self, key: str, default: int = 0, **_: object) -> int:
            assert key == "emailMemoryLeak"
            return 10

    svc = EmailService(TenX())  # type: ignore[arg-type]
    svc._leak("abcd")
    assert svc.kept == ["abcd" + " " * 36]  # length x (m - 1) spaces
