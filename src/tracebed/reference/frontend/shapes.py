"""JSON shapes of the demo frontend (ts-proto objects: lowerCamelCase, every field present,
int64 ``units`` as a JSON number) and parsing of request bodies into protobuf messages."""

from __future__ import annotations

from typing import Any

from tracebed.reference.proto import demo_pb2


class BadRequest(ValueError):
    """A request body or query parameter the handler cannot use (answered with 400)."""


def money(m: demo_pb2.Money) -> dict[str, Any]:
    return {"currencyCode": m.currency_code, "units": int(m.units), "nanos": int(m.nanos)}


def product(p: demo_pb2.Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "picture": p.picture,
        "priceUsd": money(p.price_usd),
        "categories": list(p.categories),
    }


def cart_item(i: demo_pb2.CartItem) -> dict[str, Any]:
    return {"productId": i.product_id, "quantity": int(i.quantity)}


def cart(c: demo_pb2.Cart) -> dict[str, Any]:
    return {"userId": c.user_id, "items": [cart_item(i) for i in c.items]}


def address(a: demo_pb2.Address) -> dict[str, Any]:
    return {
        "streetAddress": a.street_address,
        "city": a.city,
        "state": a.state,
        "country": a.country,
        "zipCode": a.zip_code,
    }


def ad(a: demo_pb2.Ad) -> dict[str, Any]:
    return {"redirectUrl": a.redirect_url, "text": a.text}


# --- parsing (ts-proto fromPartial semantics: missing fields take their defaults) ----------


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def _str(d: dict[str, Any], key: str, what: str) -> str:
    value = d.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{what}.{key} must be a string")
    return value


def _int(d: dict[str, Any], key: str, what: str) -> int:
    value = d.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{what}.{key} must be a number")
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{what}.{key} must be a number") from None


def parse_cart_item(value: Any) -> demo_pb2.CartItem:
    d = _obj(value, "item")
    return demo_pb2.CartItem(
        product_id=_str(d, "productId", "item"), quantity=_int(d, "quantity", "item")
    )


def parse_address(value: Any) -> demo_pb2.Address:
    d = _obj(value, "address")
    return demo_pb2.Address(
        street_address=_str(d, "streetAddress", "address"),
        city=_str(d, "city", "address"),
        state=_str(d, "state", "address"),
        country=_str(d, "country", "address"),
        zip_code=_str(d, "zipCode", "address"),
    )


def parse_credit_card(value: Any) -> demo_pb2.CreditCardInfo:
    d = _obj(value, "creditCard")
    return demo_pb2.CreditCardInfo(
        credit_card_number=_str(d, "creditCardNumber", "creditCard"),
        credit_card_cvv=_int(d, "creditCardCvv", "creditCard"),
        credit_card_expiration_year=_int(d, "creditCardExpirationYear", "creditCard"),
        credit_card_expiration_month=_int(d, "creditCardExpirationMonth", "creditCard"),
    )


def parse_place_order(value: Any) -> demo_pb2.PlaceOrderRequest:
    d = _obj(value, "body")
    return demo_pb2.PlaceOrderRequest(
        user_id=_str(d, "userId", "body"),
        user_currency=_str(d, "userCurrency", "body"),
        address=parse_address(d.get("address")),
        email=_str(d, "email", "body"),
        credit_card=parse_credit_card(d.get("creditCard")),
    )
