"""cart: the demo's .NET CartService, keeping carts in valkey-cart (redis-server)."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import redis
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import HealthServicer
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env, grpc_target
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

CART_FIELD = "cart"
TTL_SECONDS = 60 * 60
#: Where the cartFailure flag sends EmptyCart (an address that cannot resolve).
BAD_VALKEY_ADDR = "badhost:1234"

T = TypeVar("T")


class CartStore:
    """A Valkey-backed cart store; every command gets a StackExchange.Redis-style span."""

    def __init__(self, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit():
            raise EnvError(f"valkey address {addr!r} is not host:port")
        self.host, self.port = host, int(port)
        # A few quick retries (the demo's client retries connects too), bounded well
        # under a second so a failing store answers promptly.
        self.client = redis.Redis(
            host=host,
            port=self.port,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 3),
        )
        self.tracer = trace.get_tracer("cart")

    def _command(self, name: str, user_id: str, call: Callable[[], T]) -> T:
        attrs: dict[str, Any] = {
            "db.system": "redis",
            "db.redis.database_index": 0,
            "db.statement": f"{name} {user_id}",
            "server.address": self.host,
            "server.port": self.port,
        }
        with self.tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs):
            return call()

    def get(self, user_id: str) -> demo_pb2.Cart | None:
        raw = self._command("HGET", user_id, lambda: self.client.hget(user_id, CART_FIELD))
        if raw is None:
            return None
        cart = demo_pb2.Cart()
        cart.ParseFromString(bytes(raw))  # type: ignore[arg-type]
        return cart

    def put(self, user_id: str, cart: demo_pb2.Cart) -> None:
        data = cart.SerializeToString()
        self._command(
            "HMSET", user_id, lambda: self.client.hset(user_id, mapping={CART_FIELD: data})
        )
        self._command("EXPIRE", user_id, lambda: self.client.expire(user_id, TTL_SECONDS))


def _storage_error(exc: Exception) -> RpcError:
    return RpcError(grpc.StatusCode.FAILED_PRECONDITION, f"Can't access cart storage. {exc}")


class CartService(demo_pb2_grpc.CartServiceServicer):
    def __init__(self, store: CartStore, bad_store: CartStore, flags: Flags) -> None:
        self.store = store
        self.bad_store = bad_store
        self.flags = flags

    def AddItem(
        self, request: demo_pb2.AddItemRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Empty:
        span = trace.get_current_span()
        span.set_attribute("app.user.id", request.user_id)
        span.set_attribute("app.product.id", request.item.product_id)
        span.set_attribute("app.product.quantity", request.item.quantity)
        telemetry.log(
            "add_item",
            user_id=request.user_id,
            product_id=request.item.product_id,
            quantity=request.item.quantity,
        )
        started = time.perf_counter_ns()
        try:
            cart = self.store.get(request.user_id)
            if cart is None:
                cart = demo_pb2.Cart(user_id=request.user_id, items=[request.item])
            else:
                for line in cart.items:
                    if line.product_id == request.item.product_id:
                        line.quantity += request.item.quantity  # repeated adds accumulate
                        break
                else:
                    cart.items.append(request.item)
            self.store.put(request.user_id, cart)
        except redis.RedisError as exc:
            raise _storage_error(exc) from exc
        finally:
            # Stopwatch ticks, which are nanoseconds on Linux (failures are recorded too)
            telemetry.record("add_item_latency", time.perf_counter_ns() - started)
        return demo_pb2.Empty()

    def GetCart(
        self, request: demo_pb2.GetCartRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Cart:
        span = trace.get_current_span()
        span.set_attribute("app.user.id", request.user_id)
        span.add_event("Fetch cart")
        telemetry.log("get_cart", user_id=request.user_id)
        started = time.perf_counter_ns()
        try:
            cart = self.store.get(request.user_id)
        except redis.RedisError as exc:
            raise _storage_error(exc) from exc
        finally:
            telemetry.record("get_cart_latency", time.perf_counter_ns() - started)
        # An unknown cart is an empty Cart whose user_id is "" (not the requested id).
        cart = cart if cart is not None else demo_pb2.Cart()
        span.set_attribute("app.cart.items.count", sum(i.quantity for i in cart.items))
        return cart

    def EmptyCart(
        self, request: demo_pb2.EmptyCartRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Empty:
        span = trace.get_current_span()
        span.set_attribute("app.user.id", request.user_id)
        span.add_event("Empty cart")
        telemetry.log("empty_cart", user_id=request.user_id)
        if versions.is_v3():
            # a probability at 3.0.0 (the "90%" variant is 0.9); a bool at 2.0.2
            p = self.flags.number("cartFailure", 0.0, event=True)
            failing = p > 0 and random.random() < p
        else:
            failing = self.flags.boolean("cartFailure", False, event=True)
        store = self.bad_store if failing else self.store
        try:
            # The emptied cart's user_id is blank too.
            store.put(request.user_id, demo_pb2.Cart())
        except redis.RedisError as exc:
            raise _storage_error(exc) from exc
        return demo_pb2.Empty()


def build() -> list[Registration]:
    addr = grpc_target("VALKEY_ADDR")
    store = CartStore(addr)
    bad_store = CartStore(env("CART_BAD_VALKEY_ADDR", BAD_VALKEY_ADDR))
    service = CartService(store, bad_store, Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_CartServiceServicer_to_server(service, s)]


class ReadinessHealth(HealthServicer):
    """3.0.0's cart health service: NOT_SERVING while ``failedReadinessProbe`` is on."""

    def __init__(self, flags: Flags) -> None:
        super().__init__()
        self.flags = flags

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:
        if self.flags.boolean("failedReadinessProbe", False):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)
        return super().Check(request, context)


def main() -> int:
    health = (lambda: ReadinessHealth(Flags.from_env())) if versions.is_v3() else None
    return run_grpc("cart", Style.DOTNET, "CART_PORT", build, health_servicer=health)


if __name__ == "__main__":
    sys.exit(main())
