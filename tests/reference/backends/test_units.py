"""The demo's arithmetic and encodings, checked without processes."""

from __future__ import annotations

import pytest

from tracebed.reference.common.rpc_tracing import Style, span_name
from tracebed.reference.proto import demo_pb2
from tracebed.reference.services.checkout import (
    MoneyError,
    go_json,
    money_multiply,
    money_sum,
    whole_units,
)
from tracebed.reference.services.currency import money_to_double
from tracebed.reference.services.payment import card_info, js_amount
from tracebed.reference.services.recommendation import requested_ids
from tracebed.reference.services.shipping import cost_from_quote


def usd(units: int, nanos: int) -> demo_pb2.Money:
    return demo_pb2.Money(currency_code="USD", units=units, nanos=nanos)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (Style.GO, "oteldemo.CartService/AddItem"),
        (Style.NODE, "grpc.oteldemo.CartService/AddItem"),
        (Style.PYTHON, "/oteldemo.CartService/AddItem"),
        (Style.DOTNET, "POST /oteldemo.CartService/AddItem"),
        (Style.CURRENCY, "Currency/AddItem"),
    ],
)
def test_span_name_styles(style: Style, expected: str) -> None:
    assert span_name(style, "/oteldemo.CartService/AddItem") == expected


def test_money_sum_carries_and_checks_currency() -> None:
    assert money_sum(usd(1, 600_000_000), usd(2, 500_000_000)) == usd(4, 100_000_000)
    assert money_sum(usd(-1, -600_000_000), usd(-2, -500_000_000)) == usd(-4, -100_000_000)
    assert money_multiply(usd(349, 950_000_000), 2) == usd(699, 900_000_000)
    assert money_multiply(usd(5, 0), 0) == usd(5, 0)  # MultiplySlow quirk
    with pytest.raises(MoneyError, match="mismatching currency codes"):
        money_sum(usd(1, 0), demo_pb2.Money(currency_code="EUR", units=1))
    with pytest.raises(MoneyError, match="invalid"):
        money_sum(usd(1, -5), usd(1, 0))


def test_amount_attributes_drop_cents() -> None:
    assert whole_units(usd(17, 980_000_000)) == 17.0
    assert whole_units(usd(0, 990_000_000)) == 0.0


def test_go_json_is_snake_case_omitempty_with_numeric_int64() -> None:
    order = demo_pb2.OrderResult(
        order_id="o1",
        shipping_cost=usd(17, 980_000_000),
        shipping_address=demo_pb2.Address(city="Paris"),
    )
    body = go_json(demo_pb2.SendOrderConfirmationRequest(email="a@b.c", order=order))
    assert body == {
        "email": "a@b.c",
        "order": {
            "order_id": "o1",
            "shipping_cost": {"currency_code": "USD", "units": 17, "nanos": 980_000_000},
            "shipping_address": {"city": "Paris"},
        },
    }  # no "items" key: email answers 500 for such an order, as in the demo


def test_currency_decimal_bug() -> None:
    assert money_to_double(57, 80_000_000) == pytest.approx(57.8)
    assert money_to_double(330, 750_000_000) == pytest.approx(330.75)
    assert money_to_double(1, 5) == pytest.approx(1.5)


def test_shipping_cost_attribute_is_not_zero_padded() -> None:
    assert cost_from_quote(12.05) == (12, 50_000_000, "12.5")
    assert cost_from_quote(0.0) == (0, 0, "0.0")


def test_payment_amount_and_cards() -> None:
    assert js_amount(43, 130_000_000) == "43.13"
    assert js_amount(43, 50_000_000) == "43.50"
    assert card_info("4026-0000-0000-0002") == ("visa_electron", True)
    assert card_info("5555 5555 5555 4444") == ("mastercard", True)
    assert card_info("4111-1111-1111-1112") == ("visa", False)  # Luhn fails


def test_recommendation_join_then_split() -> None:
    assert requested_ids(["A1"]) == ["A1"]
    assert requested_ids(list("A1,B2")) == ["A1", "B2"]
    assert requested_ids(["A1", "B2"]) == ["A1B2"]


def test_config_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracebed.reference.common.config import EnvError, env_port, grpc_target, http_base

    monkeypatch.setenv("QUOTE_PORT", "99999")
    with pytest.raises(EnvError, match="QUOTE_PORT=99999 is not a TCP port"):
        env_port("QUOTE_PORT")
    monkeypatch.delenv("CURRENCY_PORT", raising=False)
    with pytest.raises(EnvError, match="CURRENCY_PORT is required"):
        env_port("CURRENCY_PORT")
    monkeypatch.setenv("CART_ADDR", "cart")
    with pytest.raises(EnvError, match="CART_ADDR='cart' is not host:port"):
        grpc_target("CART_ADDR")
    monkeypatch.setenv("SHIPPING_ADDR", "http://shipping:50050")
    assert grpc_target("SHIPPING_ADDR") == "shipping:50050"
    monkeypatch.setenv("EMAIL_ADDR", "email:6060")
    assert http_base("EMAIL_ADDR") == "http://email:6060"
