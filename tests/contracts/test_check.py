"""Contracts: loading, checking hand-built 2.0.2 traces, and the failure messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.contracts.demo_traces import checkout_2_0_2
from tests.factories import TraceBuilder, grpc_attrs
from tracebed.contracts import (
    Contract,
    ContractError,
    assert_contract,
    check_operation,
    check_trace,
    load_contracts,
    parse_contract,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "fixtures" / "contracts" / "2.0.2"


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return load_contracts(CONTRACTS)


def test_every_fixture_contract_loads_and_is_named_after_its_file(
    contracts: dict[str, Contract],
) -> None:
    files = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))
    assert sorted(contracts) == files
    # The backends the shop flows reach all have operations.
    for service in (
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
        "frontend",
    ):
        assert contracts[service].operations, service


def test_a_faithful_checkout_trace_satisfies_every_contract_it_touches(
    contracts: dict[str, Contract],
) -> None:
    results = check_trace(contracts, checkout_2_0_2())
    checked = {(r.service, r.operation) for r in results}
    assert checked == {
        ("frontend", "Checkout"),
        ("checkout", "PlaceOrder"),
        ("cart", "GetCart"),
        ("cart", "EmptyCart"),
        ("product-catalog", "GetProduct"),
        ("currency", "Convert"),
        ("shipping", "GetQuote"),
        ("shipping", "ShipOrder"),
        ("quote", "GetQuote"),
        ("payment", "Charge"),
        ("email", "SendOrderConfirmation"),
        ("accounting", "ConsumeOrder"),
        ("fraud-detection", "ProcessOrder"),
    }
    bad = [r.explain() for r in results if not r.ok]
    assert not bad, "\n\n".join(bad)
    by_op = {(r.service, r.operation): r for r in results}
    # GetProduct runs once per cart line in checkout and once per item in the frontend.
    assert by_op[("product-catalog", "GetProduct")].occurrences == 4


def test_missing_attribute_is_named_and_the_span_shown(contracts: dict[str, Contract]) -> None:
    trace = checkout_2_0_2(drop=(("oteldemo.CheckoutService/PlaceOrder", "app.order.id"),))
    result = check_operation(contracts["checkout"], "PlaceOrder", trace)
    assert [v.message for v in result.violations] == [
        "span 'oteldemo.CheckoutService/PlaceOrder' [server]: missing attribute app.order.id (string)"
    ]
    text = result.explain()
    assert "the span:\n    checkout: oteldemo.CheckoutService/PlaceOrder [server]" in text
    assert "app.user.currency = 'USD' (string)" in text  # the span's attributes are listed
    assert ">> " in text  # and the span is marked in the trace tree
    with pytest.raises(AssertionError, match="missing attribute app.order.id"):
        assert_contract(contracts["checkout"], "PlaceOrder", trace)


def test_wrong_type_value_and_status_are_each_reported(contracts: dict[str, Contract]) -> None:
    trace = checkout_2_0_2(
        override={
            ("grpc.oteldemo.PaymentService/Charge", "app.payment.amount"): 219.0,  # not a string
            ("charge", "app.loyalty.level"): "diamond",
            ("charge", "app.payment.card_valid"): "true",
        }
    )
    messages = [
        v.message for v in check_operation(contracts["payment"], "Charge", trace).violations
    ]
    assert messages == [
        "span 'grpc.oteldemo.PaymentService/Charge' [server]: attribute app.payment.amount is "
        "double 219.0, expected string",
        "span 'charge' [internal]: attribute app.payment.card_valid is string 'true', expected bool",
        "span 'charge' [internal]: attribute app.loyalty.level = 'diamond', expected one of "
        "['platinum', 'gold', 'silver', 'bronze']",
    ]


def test_error_status_and_its_error_rule(contracts: dict[str, Contract]) -> None:
    message = "Payment request failed. Invalid token. app.loyalty.level=gold"
    trace = checkout_2_0_2(payment_error=message)
    result = check_operation(contracts["payment"], "Charge", trace)
    assert [v.message for v in result.violations] == [
        f"span 'grpc.oteldemo.PaymentService/Charge' [server]: status is ERROR {message!r}, "
        "expected not ERROR",
        "span 'grpc.oteldemo.PaymentService/Charge' [server]: attribute rpc.grpc.status_code = 2, "
        "expected 0",
        "missing span 'charge' [internal] under payment: 'grpc.oteldemo.PaymentService/Charge' "
        "[server]; its spans there: none",
    ]
    # In error, the on_error rule holds: grpc.error_message and the exception event are there.
    data = {
        "service": "payment",
        "operations": {
            "Charge": {
                "entry": {
                    "name": "grpc.oteldemo.PaymentService/Charge",
                    "kind": "server",
                    "status": "error",
                    "on_error": {
                        "attributes": {"grpc.error_message": {"type": "string", "value": message}},
                        "events": ["exception"],
                        "message": True,
                    },
                }
            }
        },
    }
    assert check_operation(parse_contract(data), "Charge", trace).ok
    data["operations"]["Charge"]["entry"]["on_error"]["events"] = ["exception", "Error"]  # type: ignore[index]
    failing = check_operation(parse_contract(data), "Charge", trace)
    assert [v.message for v in failing.violations] == [
        "span 'grpc.oteldemo.PaymentService/Charge' [server] (in error): missing event 'Error'"
    ]


def test_calls_missing_and_unlisted(contracts: dict[str, Contract]) -> None:
    result = check_operation(
        contracts["checkout"], "PlaceOrder", checkout_2_0_2(without_email=True)
    )
    assert [v.message for v in result.violations] == [
        "missing span 'HTTP POST' [client] under checkout: 'oteldemo.CheckoutService/PlaceOrder' "
        "[server]; its spans there: 'orders publish' [producer], "
        "'oteldemo.CartService/EmptyCart' [client], "
        "'oteldemo.CartService/GetCart' [client], 'oteldemo.CurrencyService/Convert' [client], "
        "'oteldemo.PaymentService/Charge' [client], "
        "'oteldemo.ProductCatalogService/GetProduct' [client], "
        "'oteldemo.ShippingService/GetQuote' [client], 'oteldemo.ShippingService/ShipOrder' "
        "[client], 'prepareOrderItemsAndShippingQuoteFromCart' [internal]",
        "no call to email (http) under checkout: 'oteldemo.CheckoutService/PlaceOrder' [server]; "
        "calls seen: accounting (messaging), cart (rpc), currency (rpc), fraud-detection "
        "(messaging), payment (rpc), product-catalog (rpc), shipping (rpc)",
    ]
    extra = check_operation(contracts["checkout"], "PlaceOrder", checkout_2_0_2(extra_call=True))
    assert [v.message for v in extra.violations] == [
        "calls recommendation (rpc), which the contract of PlaceOrder does not list"
    ]
    lenient = check_operation(
        contracts["checkout"], "PlaceOrder", checkout_2_0_2(extra_call=True), strict_calls=False
    )
    assert lenient.ok


def test_repeated_violations_on_sibling_spans_are_counted_once(
    contracts: dict[str, Contract],
) -> None:
    trace = checkout_2_0_2(
        lines=3, drop=(("oteldemo.ProductCatalogService/GetProduct", "rpc.method"),)
    )
    result = check_operation(contracts["checkout"], "PlaceOrder", trace)
    assert len(result.violations) == 1
    assert result.violations[0].repeats == 3
    assert "(and on 2 more span(s) like it)" in result.explain()


def test_operation_absent_from_the_trace(contracts: dict[str, Contract]) -> None:
    b = TraceBuilder()
    b.span("ad", "oteldemo.AdService/GetAds", "server", attrs=grpc_attrs("AdService", "GetAds"))
    result = check_operation(contracts["cart"], "AddItem", b.trace())
    assert [v.message for v in result.violations] == [
        "no span 'POST /oteldemo.CartService/AddItem' [server] of service cart in the trace; "
        "the trace has no span of cart at all"
    ]
    with pytest.raises(KeyError, match="cart has no operation 'Nope'"):
        check_operation(contracts["cart"], "Nope", b.trace())


def test_frontend_names_match_with_and_without_query_strings(
    contracts: dict[str, Contract],
) -> None:
    op = contracts["frontend"].operation("GetProduct")
    assert op.entry.matches("GET /api/products/OLJCESPC7Z?currencyCode=CHF", op.entry.kind)
    assert op.entry.matches("GET /api/products/{productId}", op.entry.kind)
    assert not op.entry.matches("GET /api/products", op.entry.kind)
    ads = contracts["frontend"].operation("GetAds")
    assert ads.entry.matches("GET /api/data?contextKeys=telescopes", ads.entry.kind)
    assert not ads.entry.matches("GET /api/data/?contextKeys=telescopes", ads.entry.kind)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "'service' (the service name) is required"),
        ({"service": "x", "operations": {"A": {}}}, "operations.A: an operation needs an 'entry'"),
        (
            {"service": "x", "operations": {"A": {"entry": {"name": "a", "kind": "sideways"}}}},
            "unknown span kind 'sideways'",
        ),
        (
            {
                "service": "x",
                "operations": {"A": {"entry": {"name": "a", "attributes": {"k": "str"}}}},
            },
            "operations.A.entry.attributes.k: unknown attribute type 'str'",
        ),
        (
            {"service": "x", "operations": {"A": {"entry": {"name": "a", "status": "fine"}}}},
            "status 'fine' is not one of",
        ),
        (
            {
                "service": "x",
                "operations": {
                    "A": {"entry": {"name": "a"}, "calls": [{"service": "y", "via": "pigeon"}]}
                },
            },
            "calls[0]: via 'pigeon' is not one of",
        ),
        ({"service": "x", "operation": {}}, "unknown key(s) operation"),
        (
            {"service": "x", "operations": {"A": {"entry": {"name": "a", "match": "("}}}},
            "bad match pattern",
        ),
    ],
)
def test_bad_contracts_get_clear_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match=re.escape(message)):
        parse_contract(data, "x.yaml")


def test_contract_files_with_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("service: [unclosed")
    with pytest.raises(ContractError, match=r"a\.yaml: not valid YAML"):
        load_contracts(tmp_path)
    (tmp_path / "a.yaml").write_text("service: a\n")
    (tmp_path / "b.yaml").write_text("service: a\n")
    with pytest.raises(ContractError, match="already has a contract"):
        load_contracts(tmp_path)
    with pytest.raises(ContractError, match="not a directory of contracts"):
        load_contracts(tmp_path / "a.yaml")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ContractError, match="no \\*.yaml contracts"):
        load_contracts(empty)


def test_upgrade_attribute_renames_show_in_the_diff_and_break_the_contract(
    contracts: dict[str, Contract],
) -> None:
    """3.0.0 renamed app.* attributes (demo-facts §14.2): what `tracebed diff` and the
    2.0.2 contract each say about a PlaceOrder span that carries the new names."""
    from tracebed.regress import ChangeKind, diff_shapes, normalise

    place = "oteldemo.CheckoutService/PlaceOrder"
    old = checkout_2_0_2()
    new = checkout_2_0_2(
        drop=((place, "app.user.id"), (place, "app.order.id")),
        override={(place, "user.id"): "u-1", (place, "demo.order.id"): "o-1"},
    )
    changes = diff_shapes(normalise(old, "checkout"), normalise(new, "checkout"))
    # Renames, not a removal plus an addition each (issue 15: the diff pairs them).
    assert sorted((c.kind, c.detail) for c in changes) == [
        (ChangeKind.ATTRIBUTE_RENAMED, "app.order.id -> demo.order.id (string)"),
        (ChangeKind.ATTRIBUTE_RENAMED, "app.user.id -> user.id (string)"),
    ]
    assert all(c.where.endswith(f"checkout: {place}") for c in changes)
    messages = [
        v.message for v in check_operation(contracts["checkout"], "PlaceOrder", new).violations
    ]
    assert messages == [
        f"span '{place}' [server]: missing attribute app.user.id (string)",
        f"span '{place}' [server]: missing attribute app.order.id (string)",
    ]
