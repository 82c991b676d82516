"""`tracebed contract draft|check|deps`, and drafting contracts from observed traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.contracts.demo_traces import checkout_2_0_2
from tests.contracts.test_deps import CONTRACTS, DEMO
from tracebed.cli import cli
from tracebed.contracts import check_operation, draft_contract, dump_contract, parse_contract
from tracebed.otlp.otlp_json import trace_to_otlp_json
from tracebed.otlp.sink import Sink


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_draft_from_traces_then_check_them() -> None:
    traces = [
        checkout_2_0_2(lines=1, trace_id="1" * 32),
        checkout_2_0_2(lines=3, trace_id="2" * 32),
    ]
    contract = draft_contract(
        "checkout",
        traces,
        depends_on=["cart", "kafka"],
        known_services={"kafka", "valkey-cart"},
        aliases={"db.system=redis": "valkey-cart"},
    )
    assert list(contract.operations) == ["PlaceOrder"]
    op = contract.operations["PlaceOrder"]
    entry = {a.key: a for a in op.entry.attributes}
    # Protocol values pinned, business values only typed, status codes typed.
    assert (
        entry["rpc.service"].value == "oteldemo.CheckoutService" and entry["rpc.service"].has_value
    )
    assert entry["app.order.amount"].type == "double" and not entry["app.order.amount"].has_value
    assert (
        entry["rpc.grpc.status_code"].type == "int" and not entry["rpc.grpc.status_code"].has_value
    )
    assert op.entry.status == "not_error"
    calls = {(c.service, c.via, c.span, c.optional) for c in op.calls}
    assert calls == {
        ("cart", "rpc", None, False),
        ("currency", "rpc", None, False),
        ("email", "http", None, False),
        ("payment", "rpc", None, False),
        ("product-catalog", "rpc", None, False),
        ("shipping", "rpc", None, False),
        ("kafka", "messaging", "orders publish", False),
        ("accounting", "messaging", None, False),
        ("fraud-detection", "messaging", None, False),
    }
    spans = {s.name: s for s in op.spans}
    assert (
        spans["oteldemo.CartService/GetCart"].parent == "prepareOrderItemsAndShippingQuoteFromCart"
    )
    assert not spans["orders publish"].optional
    # The YAML round-trips, and the traces it came from satisfy it.
    again = parse_contract(yaml.safe_load(dump_contract(contract)), "draft")
    assert check_operation(again, "PlaceOrder", traces).ok
    # A trace that lost an attribute every drafted call had does not.
    broken = checkout_2_0_2(
        drop=(("prepareOrderItemsAndShippingQuoteFromCart", "app.cart.items.count"),)
    )
    result = check_operation(again, "PlaceOrder", broken)
    assert [v.message for v in result.violations] == [
        "span 'prepareOrderItemsAndShippingQuoteFromCart' [internal]: missing attribute "
        "app.cart.items.count (int)"
    ]


def test_draft_normalises_next_js_names_into_a_match_pattern() -> None:
    from tests.factories import TraceBuilder

    traces = []
    for i, product in enumerate(("OLJCESPC7Z", "66VCHSJNUP")):
        b = TraceBuilder(f"{i + 1:032x}")
        b.span(
            "frontend",
            f"GET /api/products/{product}?currencyCode=",
            "server",
            attrs={"http.method": "GET", "http.status_code": 200},
        )
        traces.append(b.trace())
    contract = draft_contract("frontend", traces)
    assert list(contract.operations) == ["GET /api/products/{productId}"]
    (op,) = contract.operations.values()
    assert op.entry.name == "GET /api/products/{productId}"
    assert op.entry.match is not None
    assert op.entry.matches("GET /api/products/L9ECAV7KIM?currencyCode=CHF", op.entry.kind)
    assert op.entry.matches("GET /api/products/{productId}", op.entry.kind)
    assert check_operation(contract, op.name, traces).ok


def test_draft_marks_what_only_some_calls_have_as_optional() -> None:
    with_mail = checkout_2_0_2(trace_id="3" * 32)
    without = checkout_2_0_2(trace_id="4" * 32, without_email=True)
    op = draft_contract("checkout", [with_mail, without]).operations["PlaceOrder"]
    assert {s.name: s.optional for s in op.spans}["HTTP POST"] is True
    assert {c.service: c.optional for c in op.calls}["email"] is True
    with pytest.raises(ValueError, match="no span of service 'nope'"):
        draft_contract("nope", [with_mail])


def test_cli_draft_check_roundtrip(tmp_path: Path) -> None:
    trace_file = tmp_path / "checkout.json"
    trace_file.write_text(json.dumps(trace_to_otlp_json(checkout_2_0_2())))
    out = tmp_path / "contracts" / "payment.yaml"
    out.parent.mkdir()
    code, text = run("contract", "draft", "payment", str(trace_file), "-o", str(out))
    assert code == 0, text
    assert "payment: 1 operation(s)" in text
    drafted = yaml.safe_load(out.read_text())
    assert drafted["service"] == "payment"
    assert drafted["operations"]["Charge"]["entry"]["name"] == "grpc.oteldemo.PaymentService/Charge"
    code, text = run("contract", "check", str(out.parent), str(trace_file))
    assert (code, text.strip().splitlines()[-1]) == (
        0,
        "1 operation check(s) in 1 trace(s), 0 failed",
    )

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(trace_to_otlp_json(checkout_2_0_2(drop=(("charge", "app.payment.card_type"),))))
    )
    code, text = run("contract", "check", str(CONTRACTS), str(bad))
    assert code == 1
    assert (
        "payment Charge: span 'charge' [internal]: missing attribute app.payment.card_type" in text
    )
    assert "1 failed" in text


def test_cli_draft_from_a_running_sink() -> None:
    with Sink() as sink:
        sink.store.add_spans(checkout_2_0_2().spans)
        code, text = run("contract", "draft", "shipping", "--sink", sink.http_url)
    assert code == 0, text
    drafted = yaml.safe_load(text)
    assert sorted(drafted["operations"]) == ["GetQuote", "ShipOrder"]
    assert drafted["operations"]["GetQuote"]["calls"] == [{"service": "quote", "via": "http"}]


def test_cli_deps_on_the_demo_compose() -> None:
    compose = DEMO / "docker-compose.yml"
    if not compose.exists():
        pytest.skip(f"demo 2.0.2 files not found at {DEMO}")
    code, text = run(
        "contract",
        "deps",
        "--compose",
        str(compose),
        "--env-file",
        str(DEMO / "demo.env"),
        "--contracts",
        str(CONTRACTS),
    )
    assert code == 1  # races exist at 2.0.2
    assert "shipping -> quote: start-order race" in text
    assert "frontend -> quote: declared in depends_on, never called" in text


def test_cli_deps_on_the_reference_stack() -> None:
    code, text = run("contract", "deps", "--reference", "--contracts", str(CONTRACTS))
    assert code == 1
    assert "fraud-detection -> flagd: start-order race" in text
    assert "calls outside the topology (not checked): 2" in text  # jaeger, grafana


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    code, text = run("contract", "draft", "payment")
    assert code == 2 and "give OTLP/JSON trace files, or --sink" in text
    junk = tmp_path / "junk.json"
    junk.write_text("{")
    code, text = run("contract", "check", str(CONTRACTS), str(junk))
    assert code == 2 and "junk.json: not JSON" in text
    code, text = run("contract", "deps", "--contracts", str(CONTRACTS))
    assert code == 2 and "give the topology: --compose FILE... or --reference" in text


def test_check_json_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(trace_to_otlp_json(checkout_2_0_2(drop=(("charge", "app.payment.card_type"),))))
    )
    code, text = run("contract", "check", str(CONTRACTS), str(bad), "--json")
    assert code == 1  # the same exit code as without --json
    document = json.loads(text)
    assert document["ok"] is False and document["failed"] >= 1
    [charge] = [r for r in document["results"] if r["operation"] == "Charge"]
    assert charge["service"] == "payment" and charge["ok"] is False
    assert any("app.payment.card_type" in v["message"] for v in charge["violations"])


def test_deps_json_output() -> None:
    code, text = run("contract", "deps", "--reference", "--contracts", str(CONTRACTS), "--json")
    assert code == 1  # races exist at 2.0.2, as without --json
    document = json.loads(text)
    assert document["ok"] is False
    races = {(r["caller"], r["callee"]) for r in document["races"]}
    assert ("fraud-detection", "flagd") in races
    assert len(document["unknown"]) == 2  # jaeger, grafana
