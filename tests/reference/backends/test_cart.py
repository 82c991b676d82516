"""cart: the tracetest sequence, Valkey spans, quirks, cartFailure."""

from __future__ import annotations

import secrets

import grpc
import pytest

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, FlagService, has, new_traceparent, one


def test_tracetest_sequence(backends: Backends) -> None:
    stub = backends.stub("cart", demo_pb2_grpc.CartServiceStub)
    user = "1234-" + secrets.token_hex(4)

    trace_id, md = new_traceparent()
    stub.EmptyCart(demo_pb2.EmptyCartRequest(user_id=user), metadata=md)
    trace = backends.wait_trace(trace_id, has("POST /oteldemo.CartService/EmptyCart", "EXPIRE"))
    server = one(trace, "POST /oteldemo.CartService/EmptyCart")
    assert server.kind is SpanKind.SERVER and server.service == "cart"
    assert server.attributes["grpc.status_code"] == 0
    expire = one(trace, "EXPIRE")
    assert expire.kind is SpanKind.CLIENT and expire.parent_span_id == server.span_id
    assert expire.attributes["db.system"] == "redis"
    assert expire.attributes["db.redis.database_index"] == 0
    assert expire.attributes["db.statement"] == f"EXPIRE {user}"

    trace_id, md = new_traceparent()
    item = demo_pb2.CartItem(product_id="OLJCESPC7Z", quantity=1)
    reply = stub.AddItem(demo_pb2.AddItemRequest(user_id=user, item=item), metadata=md)
    assert reply == demo_pb2.Empty()
    trace = backends.wait_trace(trace_id, has("POST /oteldemo.CartService/AddItem", "HMSET"))
    assert one(trace, "HMSET").attributes["db.statement"] == f"HMSET {user}"
    add = one(trace, "POST /oteldemo.CartService/AddItem")
    assert add.attributes["app.product.id"] == "OLJCESPC7Z"
    assert add.attributes["app.product.quantity"] == 1
    assert [s.name for s in trace.children(add)] == ["HGET", "HMSET", "EXPIRE"]

    trace_id, md = new_traceparent()
    cart = stub.GetCart(demo_pb2.GetCartRequest(user_id=user), metadata=md)
    assert [(i.product_id, i.quantity) for i in cart.items] == [("OLJCESPC7Z", 1)]
    # The cart was created by EmptyCart with a blank user id, and AddItem keeps it.
    assert cart.user_id == ""
    get = one(
        backends.wait_trace(trace_id, has("POST /oteldemo.CartService/GetCart")),
        "POST /oteldemo.CartService/GetCart",
    )
    assert get.attributes["app.cart.items.count"] == 1
    assert [e.name for e in get.events] == ["Fetch cart"]

    stub.EmptyCart(demo_pb2.EmptyCartRequest(user_id=user))
    cart = stub.GetCart(demo_pb2.GetCartRequest(user_id=user))
    assert list(cart.items) == [] and cart.user_id == ""  # emptied carts lose the user id


def test_quantities_accumulate_and_unknown_carts_are_blank(backends: Backends) -> None:
    stub = backends.stub("cart", demo_pb2_grpc.CartServiceStub)
    user = secrets.token_hex(6)
    for qty in (2, 3):
        item = demo_pb2.CartItem(product_id="66VCHSJNUP", quantity=qty)
        stub.AddItem(demo_pb2.AddItemRequest(user_id=user, item=item))
    stub.AddItem(
        demo_pb2.AddItemRequest(
            user_id=user, item=demo_pb2.CartItem(product_id="L9ECAV7KIM", quantity=1)
        )
    )
    cart = stub.GetCart(demo_pb2.GetCartRequest(user_id=user))
    assert [(i.product_id, i.quantity) for i in cart.items] == [
        ("66VCHSJNUP", 5),
        ("L9ECAV7KIM", 1),
    ]
    unknown = stub.GetCart(demo_pb2.GetCartRequest(user_id="nobody-" + user))
    assert unknown.user_id == "" and list(unknown.items) == []


def test_cart_failure_flag_breaks_empty_cart(backends: Backends, flags: FlagService) -> None:
    stub = backends.stub("cart", demo_pb2_grpc.CartServiceStub)
    user = secrets.token_hex(6)
    flags.set("cartFailure", "on")
    trace_id, md = new_traceparent()
    with pytest.raises(grpc.RpcError) as err:
        stub.EmptyCart(demo_pb2.EmptyCartRequest(user_id=user), metadata=md)
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert err.value.details().startswith("Can't access cart storage. ")
    name = "POST /oteldemo.CartService/EmptyCart"
    span = one(backends.wait_trace(trace_id, has(name)), name)
    assert span.status.code is StatusCode.ERROR
    assert span.attributes["grpc.status_code"] == 9
    # AddItem and GetCart still use the good store.
    item = demo_pb2.CartItem(product_id="OLJCESPC7Z", quantity=1)
    stub.AddItem(demo_pb2.AddItemRequest(user_id=user, item=item))
    assert len(stub.GetCart(demo_pb2.GetCartRequest(user_id=user)).items) == 1
