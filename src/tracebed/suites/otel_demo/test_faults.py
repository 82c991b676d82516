"""Fault scenarios: one test per flag of the demo's flag file, per release (demo-facts §8.2
for 2.0.2, demo-facts-3.0 §8.2 for 3.0.0).

The effects are the same across releases where the flag is; the names they show up under
are the release's (`Names`: 3.0.0's collector renames spans, its code renames `app.*` keys).
Flags of one release only (2.0.2's boolean cartFailure and loadGeneratorFloodHomepage,
3.0.0's probabilistic cartFailure and failedReadinessProbe) are switched inside the test,
after it has checked the release, since a marker would switch them before.

Each test switches its flag on through the flag service (`@pytest.mark.flags`), drives the
flow the flag affects, and asserts where the error appears in the trace, with which status
and message, and how it reaches the caller; then it switches the flag off through the same
service and checks the flow is healthy again (the marker switches its flags back after the
test as well).

The scenarios run side by side where their flags cannot touch each other's flows
(`scenarios.py`): each names the flows it drives (`@side_by_side(drives=...)`) and calls
`release()` once it has sent its last request, after which it only reads the sink. Their
checkouts are `order()`s (a product and a person no other flag than payment's and cart's can
touch), so that only those flags hold them up.

Services cache flag values briefly (the demo's providers do too), so the first request after
a switch may still see the old value: effects are awaited with short bounded retries.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import grpc
import pytest
from tenacity import (
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_none,
)

from tracebed.flows.context import TraceContext
from tracebed.model import Span, SpanKind, StatusCode, Trace
from tracebed.plugin.core import trace_timeout
from tracebed.query.conditions import all_of
from tracebed.suites.otel_demo.batch import drivers_from_env
from tracebed.suites.otel_demo.release import demo_version, require_release
from tracebed.suites.otel_demo.scenarios import release, side_by_side
from tracebed.suites.otel_demo.waiting import (
    export_left,
    exported,
    follows_its_chain,
    quiet_s,
    settled,
    spans,
)

T = TypeVar("T")

EFFECT_TIMEOUT_S = 15.0  # a switched flag must show its effect within this (caches, reloads)
RATE_SAMPLES = 200  # calls per probabilistic variant; bounds below are ±6 standard deviations
PARALLEL = 8  # independent calls of a scenario sent at once (their statistics ignore order)
# TRACEBED_SUITE_BATCH=0: every call and wait one after another, as before (the bench's baseline)
SEQUENTIAL = drivers_from_env() == 0

# paymentFailure's variants and the failure probability each really means ("90%" is 0.95).
PAYMENT_VARIANTS = {"100%": 1.0, "90%": 0.95, "75%": 0.75, "50%": 0.5, "25%": 0.25, "10%": 0.1}
VALID_CARD: dict[str, Any] = {
    "credit_card_number": "4432-8015-6152-0454",
    "credit_card_cvv": 672,
    "credit_card_expiration_year": 2039,
    "credit_card_expiration_month": 1,
}


@dataclass(frozen=True)
class Names:
    """What a release calls the spans and attributes the fault tests look at."""

    payment_server: str
    loyalty: str
    frontend_client: str  # the frontend's gRPC client spans: prefix + "oteldemo.X/Y"
    ad_response_type: str
    product_id: str
    cache_enabled: str
    cache_hit: str
    publish: str
    receive: str
    ship_order: str  # checkout's call to shipping's ShipOrder, in any service
    ingress: str  # Envoy's server span for a GET

    @property
    def payment_failure(self) -> str:
        return f"Payment request failed. Invalid token. {self.loyalty}=gold"

    def client(self, rpc: str) -> str:
        return self.frontend_client + rpc


NAMES = {
    "2.0.2": Names(
        payment_server="grpc.oteldemo.PaymentService/Charge",
        loyalty="app.loyalty.level",
        frontend_client="grpc.",
        ad_response_type="app.ads.ad_response_type",
        product_id="app.product.id",
        cache_enabled="app.recommendation.cache_enabled",
        cache_hit="app.cache_hit",
        publish="orders publish",
        receive="orders receive",
        ship_order="oteldemo.ShippingService/ShipOrder",
        ingress="ingress",
    ),
    # After the 3.0.0 collector (demo-facts-3.0 §5.2) with 3.0.0's keys (§5.4).
    "3.0.0": Names(
        payment_server="oteldemo.PaymentService/Charge",
        loyalty="demo.user_context.loyalty_level",
        frontend_client="",
        ad_response_type="demo.ad.response_type",
        product_id="demo.product.id",
        cache_enabled="demo.feature_flag.recommendation_cache",
        cache_hit="demo.recommendation.cache_hit",
        publish="publish orders",
        receive="receive orders",
        ship_order="POST /ship-order",
        ingress="GET",
    ),
}


def names(demo_stack: Any) -> Names:
    release = demo_version(demo_stack)
    if release not in NAMES:
        pytest.skip(f"no fault scenarios for demo {release} (known: {', '.join(NAMES)})")
    return NAMES[release]


CATALOG_FAILURE = "Error: Product Catalog Fail Feature Flag Enabled"
FAILING_PRODUCT = "OLJCESPC7Z"
PICTURE = "/images/products/NationalParkFoundationExplorascope.jpg"


# -- helpers ------------------------------------------------------------------------------------
def eventually(
    action: Callable[[], T], done: Callable[[T], bool], what: str, *, chance: bool = False
) -> T:
    """Repeat `action` until `done(result)`, bounded by EFFECT_TIMEOUT_S; fail naming `what`.

    Deterministic effects are retried with back-off (they only wait for caches). For effects
    that happen by chance (1 call in 10) `chance=True` retries at once: the bound is then
    time, not attempts, so that hundreds of calls make a miss practically impossible.
    """
    limit = effect_timeout()
    retrying = Retrying(
        retry=retry_if_result(lambda r: not done(r)),
        wait=wait_none() if chance else wait_exponential(multiplier=0.05, max=0.5),
        stop=stop_after_delay(limit),
    )
    try:
        return retrying(action)
    except RetryError as exc:
        attempt = exc.last_attempt
        last = attempt.exception() if attempt.failed else attempt.result()
        raise AssertionError(
            f"{what}: not seen within {limit:g}s ({attempt.attempt_number} attempts); "
            f"last:\n{last}"
        ) from None


def eventually_traced(action: Callable[[], T], done: Callable[[T], bool], what: str) -> T:
    """`eventually` for effects only a trace shows: `done` waits for one (up to an export
    delay), so attempts overlap, a new one every little while (back-off up to 0.5 s, at
    most PARALLEL at once), and the first attempt whose `done` holds is the answer.
    `action` runs on several threads at once: give it a shop client per thread."""
    if SEQUENTIAL:
        return eventually(action, done, what)
    limit = effect_timeout()
    deadline = time.monotonic() + limit
    gap, attempts = 0.05, 0
    pending: set[Future[tuple[T, bool]]] = set()
    last: Any = None

    def attempt() -> tuple[T, bool]:
        result = action()
        return result, done(result)

    with ThreadPoolExecutor(PARALLEL, "tracebed-attempt") as pool:
        while True:
            now = time.monotonic()
            if now < deadline and len(pending) < PARALLEL:
                pending.add(pool.submit(attempt))
                attempts += 1
            if not pending:
                break  # past the deadline, every attempt answered
            finished, _ = wait_futures(pending, timeout=gap, return_when=FIRST_COMPLETED)
            gap = min(0.5, gap * 2)
            for future in finished:
                pending.discard(future)
                result, ok = future.result()  # an error fails the test, as in `eventually`
                if ok:
                    return result
                last = result
    raise AssertionError(f"{what}: not seen within {limit:g}s ({attempts} attempts); last:\n{last}")


def effect_timeout() -> float:
    """EFFECT_TIMEOUT_S, plus room for two trace waits of the session's quiet window (an
    attempt that checks a trace waits for it: at a 5 s export delay, seconds each)."""
    return EFFECT_TIMEOUT_S + 2 * quiet_s()


def in_parallel(call: Callable[[], T], n: int) -> list[T]:
    """`n` independent calls, PARALLEL at a time, in order of submission."""
    if SEQUENTIAL:
        return [call() for _ in range(n)]
    with ThreadPoolExecutor(min(PARALLEL, n), "tracebed-fault") as pool:
        return list(pool.map(lambda _: call(), range(n)))


_WAITS = ThreadPoolExecutor(4 * PARALLEL, "tracebed-fault-wait")  # for scenarios side by side


def later(wait: Callable[[], T]) -> Future[T]:
    """Start a trace wait now and take its trace later (`.result()`): a trace's spans arrive
    whatever the flags say by then, so a scenario switches its flag back while they come,
    and its waits overlap instead of each costing up to an export delay in turn."""
    if SEQUENTIAL:  # wait now, in order
        done: Future[T] = Future()
        try:
            done.set_result(wait())
        except Exception as exc:  # noqa: BLE001 - raised by .result(), where the test reads it
            done.set_exception(exc)
        return done
    return _WAITS.submit(wait)


def thread_shops(shop: Any, request: pytest.FixtureRequest) -> Callable[[], Any]:
    """A shop client per thread (a client serves one thread), recording on the test as `shop`."""
    harness = request.getfixturevalue("tracebed_harness")
    local = threading.local()

    def current() -> Any:
        if not hasattr(local, "shop"):
            local.shop = harness.shop(timeout=shop.timeout, on_result=shop.on_result)
        return local.shop

    return current


def flag_value(demo_stack: Any, key: str) -> Any:
    """The value the flag service evaluates now (OFREP), as every SDK would get it."""
    flags = demo_stack.flags
    if flags is None or flags.ofrep_url is None:
        pytest.skip("this stack has no OFREP endpoint to read flag values from")
    response = flags.session.post(
        f"{flags.ofrep_url}/ofrep/v1/evaluate/flags/{key}", json={"context": {}}, timeout=5
    )
    assert response.status_code == 200, f"OFREP {key}: {response.status_code} {response.text}"
    return response.json()["value"]


def switch_off(demo_stack: Any, *flags: str) -> None:
    demo_stack.flags.set(**{flag: "off" for flag in flags})


SPARED_PRODUCT = "66VCHSJNUP"  # productCatalogFailure breaks OLJCESPC7Z only


def order(shop: Any, person: dict[str, Any] | None = None) -> Any:
    """A checkout only payment's and cart's flags can touch (flow "order" of scenarios.py):
    a product productCatalogFailure spares, a US person (intlShippingSlowdown spares them)
    unless one is given."""
    return shop.checkout(person=person or person_in(shop, domestic=True), product=SPARED_PRODUCT)


def one(trace: Trace, service: str, name: str, kind: SpanKind | None = None) -> Span:
    spans = [s for s in trace.named(name, service) if kind is None or s.kind is kind]
    assert spans, f"no {service}: {name!r} span in the trace:\n{trace.render()}"
    return spans[0]


def frontend_server(trace: Trace) -> Span:
    spans = [s for s in trace if s.service == "frontend" and s.kind is SpanKind.SERVER]
    assert spans, f"no frontend SERVER span in the trace:\n{trace.render()}"
    return spans[-1]  # after a redirect, the handler's span is the last


_WINDOW = -1.0  # wait_trace's default quiet: the session's window unless a shape is given


def wait_trace(
    step: Any,
    request: pytest.FixtureRequest,
    until: Callable[[Trace], bool] | None = None,
    quiet: float | None = _WINDOW,
) -> Trace:
    """The request's trace once settled and `until` holds, then quiet for `quiet` seconds.

    `until` is the trace's expected shape (the spans the test asserts on): it says the trace
    is complete, so by default no quiet window is added. Without one, nothing but a quiet
    window can say so, and it is the session's (`quiet_s()`: longer than the export delay).
    A test that asserts a span of another process is absent waits with `exported` instead.
    """
    if quiet == _WINDOW:
        quiet = None if until is not None else quiet_s()
    trace: Trace = step.trace(
        until=settled(step, until), quiet=quiet, timeout=trace_timeout(request.config)
    )
    return trace


def wait_healthy(step: Any, request: pytest.FixtureRequest, flow: str) -> Trace:
    """A healthy flow's trace: complete once it follows its chain fixture (when it has one)."""
    until = follows_its_chain(request.getfixturevalue("demo_stack"), step.source, flow)
    return wait_trace(step, request, until)


def assert_error(span: Span, trace: Trace, message: str | None = None) -> None:
    assert span.status.code is StatusCode.ERROR, (
        f"expected ERROR status on {span!r}\n{trace.render(marks={span.span_id})}"
    )
    if message is not None:
        assert message in span.status.message, (
            f"{span!r}: status message {span.status.message!r} lacks {message!r}"
        )


def assert_healthy(trace: Trace) -> None:
    assert trace.errors == [], f"ERROR spans in a healthy flow:\n{trace.render()}"


def rate_bounds(p: float, n: int = RATE_SAMPLES) -> tuple[int, int]:
    """Failures expected in n calls at probability p, within ±6 sd (at least 1 when p > 0)."""
    sd = math.sqrt(n * p * (1 - p))
    low = max(1, math.floor(n * p - 6 * sd)) if p > 0 else 0
    return low, min(n, math.ceil(n * p + 6 * sd))


def grpc_stub(demo_stack: Any, service: str, stub_name: str) -> tuple[Any, grpc.Channel]:
    from tracebed.reference.proto import demo_pb2_grpc

    try:
        target = demo_stack.endpoint(service)
    except LookupError as exc:
        pytest.skip(f"cannot reach {service} directly on this stack: {exc}")
    channel = grpc.insecure_channel(target)
    return getattr(demo_pb2_grpc, stub_name)(channel), channel


def call_traced(method: Callable[..., Any], request: Any) -> tuple[str, grpc.StatusCode, str]:
    """One direct gRPC call under a trace id of our choosing: (trace_id, code, details)."""
    ctx = TraceContext.fresh()
    try:
        method(request, metadata=[("traceparent", ctx.traceparent)], timeout=10)
    except grpc.RpcError as err:
        return ctx.trace_id, err.code(), err.details() or ""  # type: ignore[attr-defined]
    return ctx.trace_id, grpc.StatusCode.OK, ""


# -- payment --------------------------------------------------------------------------------------
@side_by_side(drives=("order",))
@pytest.mark.flags(paymentFailure="100%")
def test_payment_failure_100_fails_every_checkout(
    shop: Any, demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    n = names(demo_stack)
    assert flag_value(demo_stack, "paymentFailure") == 1
    run = eventually(lambda: order(shop), lambda r: r.status_code == 500, "checkout failing with 500")
    shape = spans(
        ("payment", n.payment_server, SpanKind.SERVER),
        ("payment", "charge", SpanKind.INTERNAL),
        ("checkout", "oteldemo.PaymentService/Charge", SpanKind.CLIENT),
        ("checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER),
        ("frontend", None, SpanKind.SERVER),
    )
    # (No quiet window for the absent ShipOrder: checkout's own span for it would have ended,
    # and so been exported, before its PlaceOrder span, which the shape waits for.)
    failed = later(partial(wait_trace, run.main, request, shape))
    # Healthy again once the flag is off.
    switch_off(demo_stack, "paymentFailure")
    run = eventually(
        lambda: order(shop), lambda r: r.ok, "checkout succeeding after paymentFailure=off"
    )
    healthy = later(partial(wait_healthy, run.main, request, "checkout"))
    release()
    trace = failed.result()
    # Where: payment's Charge server span, UNKNOWN (2), the demo's message verbatim.
    charge = one(trace, "payment", n.payment_server, SpanKind.SERVER)
    assert_error(charge, trace, n.payment_failure)
    assert charge.attributes.get("rpc.grpc.status_code") == 2
    assert charge.attributes.get("grpc.error_message") == n.payment_failure
    # The `charge` span is ended before the throw, with the loyalty level the message names.
    inner = one(trace, "payment", "charge", SpanKind.INTERNAL)
    assert inner.attributes.get(n.loyalty) == "gold"
    # Propagation: checkout's client span, then PlaceOrder as INTERNAL, then the frontend 500.
    client = one(trace, "checkout", "oteldemo.PaymentService/Charge", SpanKind.CLIENT)
    assert_error(client, trace, n.payment_failure)
    place = one(trace, "checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER)
    assert_error(place, trace, "failed to charge card: could not charge the card")
    assert place.attributes.get("rpc.grpc.status_code") == 13  # INTERNAL
    assert "charged" not in {e.name for e in place.events}
    assert not trace.named(n.ship_order), "no shipping after a failed charge"
    front = frontend_server(trace)
    assert_error(front, trace)
    assert front.attributes.get("http.status_code") == 500
    assert_healthy(healthy.result())


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(v, marks=pytest.mark.flags(paymentFailure=v), id=v)
        for v in ("90%", "75%", "50%", "25%", "10%")
    ],
)
@side_by_side(drives=("payment", "order"))
def test_payment_failure_rate_follows_the_variant(
    variant: str, shop: Any, demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    from tracebed.reference.proto import demo_pb2

    n = names(demo_stack)
    p = PAYMENT_VARIANTS[variant]
    assert flag_value(demo_stack, "paymentFailure") == pytest.approx(p)
    stub, channel = grpc_stub(demo_stack, "payment", "PaymentServiceStub")
    charge = demo_pb2.ChargeRequest(
        amount=demo_pb2.Money(currency_code="USD", units=43, nanos=130_000_000),
        credit_card=demo_pb2.CreditCardInfo(**VALID_CARD),
    )
    with channel:
        # The first failure shows the service uses the new value (its flag cache refreshed).
        first = eventually(
            lambda: call_traced(stub.Charge, charge),
            lambda r: r[1] is not grpc.StatusCode.OK,
            f"a Charge failing under paymentFailure={variant}",
            chance=True,
        )
        outcomes = in_parallel(lambda: call_traced(stub.Charge, charge), RATE_SAMPLES)
    failed = [o for o in outcomes if o[1] is not grpc.StatusCode.OK]
    low, high = rate_bounds(p)
    assert low <= len(failed) <= high, (
        f"paymentFailure={variant} (p={p}): {len(failed)}/{RATE_SAMPLES} Charge calls failed, "
        f"expected {low}..{high}"
    )
    assert {(code, details) for _, code, details in failed} == {
        (grpc.StatusCode.UNKNOWN, n.payment_failure)
    }
    first_trace = later(
        lambda: span_sink.store.wait_for_trace(
            first[0],
            until=lambda t: bool(t.named(n.payment_server)),
            timeout=trace_timeout(request.config),
        )
    )
    switch_off(demo_stack, "paymentFailure")
    run = eventually(
        lambda: order(shop), lambda r: r.ok, "checkout succeeding after paymentFailure=off"
    )
    healthy = later(partial(wait_healthy, run.main, request, "checkout"))
    release()
    # The failure in the trace: payment's server span, in error with the same message.
    trace = first_trace.result()
    span = one(trace, "payment", n.payment_server, SpanKind.SERVER)
    assert_error(span, trace, n.payment_failure)
    assert span.attributes.get("grpc.error_message") == n.payment_failure
    assert_healthy(healthy.result())


@side_by_side(drives=("order",))
@pytest.mark.flags(paymentUnreachable="on")
def test_payment_unreachable_fails_checkout_at_the_client(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    n = names(demo_stack)
    run = eventually(lambda: order(shop), lambda r: r.status_code == 500, "checkout failing with 500")
    shape = spans(
        ("checkout", "oteldemo.PaymentService/Charge", SpanKind.CLIENT),
        ("checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER),
        ("frontend", None, SpanKind.SERVER),
    )
    # Payment, another process, must be seen to send no span: wait out the export delay
    # after the trace's spans ended (`exported`; it overlaps the rest).
    failed = later(partial(exported, run.main, trace_timeout(request.config), shape))
    switch_off(demo_stack, "paymentUnreachable")
    run = eventually(
        lambda: order(shop), lambda r: r.ok, "checkout succeeding after paymentUnreachable=off"
    )
    healthy = later(partial(wait_healthy, run.main, request, "checkout"))
    release()
    trace = failed.result()
    # Where: checkout's own Charge client span (it dials badAddress:50051); payment never sees it.
    client = one(trace, "checkout", "oteldemo.PaymentService/Charge", SpanKind.CLIENT)
    assert_error(client, trace)
    assert client.attributes.get("rpc.grpc.status_code") == 14  # UNAVAILABLE
    assert trace.children(client) == [], "the call must not reach any payment server"
    assert not [s for s in trace if s.service == "payment"], trace.render()
    place = one(trace, "checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER)
    assert_error(
        place,
        trace,
        "failed to charge card: could not charge the card: rpc error: code = Unavailable",
    )
    front = frontend_server(trace)
    assert_error(front, trace)
    assert front.attributes.get("http.status_code") == 500
    trace = healthy.result()
    assert_healthy(trace)
    assert trace.named(n.payment_server, "payment")


# -- cart -----------------------------------------------------------------------------------------
@side_by_side(drives=("cart", "order"), switches=("cartFailure",))
def test_cart_failure_breaks_empty_cart_only(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """2.0.2: cartFailure is a bool; on, every EmptyCart fails."""
    require_release(demo_stack, "2.0.2")
    with demo_stack.flags.switched(cartFailure="on"):
        _cart_failure_breaks_empty_cart(shop, demo_stack, request)


@side_by_side(drives=("cart", "order"), switches=("cartFailure",))
def test_cart_failure_100_breaks_every_empty_cart(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """3.0.0: cartFailure is a probability (demo-facts-3.0 §8.2); at 100% it is 2.0.2's "on"."""
    require_release(demo_stack, "3.0.0")
    with demo_stack.flags.switched(cartFailure="100%"):
        assert flag_value(demo_stack, "cartFailure") == 1
        _cart_failure_breaks_empty_cart(shop, demo_stack, request)


def _cart_failure_breaks_empty_cart(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    checkout_chain = follows_its_chain(demo_stack, shop.sink_store, "checkout")
    empty_cart = spans(
        ("cart", "POST /oteldemo.CartService/EmptyCart", SpanKind.SERVER),
        ("checkout", "oteldemo.CartService/EmptyCart", SpanKind.CLIENT),
        ("checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER),
    )
    complete = empty_cart if checkout_chain is None else all_of(checkout_chain, empty_cart)

    user = "tracebed-fault-cart"
    # A 500 from DELETE /api/cart says cart serves the flag (an answer, no trace to wait
    # for); from then on every EmptyCart fails until the flag goes off, so the checkout's
    # and both DELETEs' traces are awaited together, after the off switch.
    eventually(lambda: shop.empty_cart(user), lambda r: r.status_code == 500, "a 500 first")
    # Checkout still succeeds: it ignores EmptyCart's error (demo-facts §4.1 step 8).
    run = order(shop)
    assert run.ok, run
    checked_out = later(partial(wait_trace, run.main, request, complete))
    # DELETE /api/cart surfaces the same failure to the browser as a 500.
    deleted = shop.empty_cart(run.main.request.body["userId"] if run.main.request.body else "u")
    assert deleted.status_code == 500, deleted
    deleted_shape = spans(
        ("cart", "POST /oteldemo.CartService/EmptyCart", SpanKind.SERVER),
        ("frontend", None, SpanKind.SERVER),
    )
    failed = later(partial(wait_trace, deleted, request, deleted_shape))
    switch_off(demo_stack, "cartFailure")
    deleted = eventually(lambda: shop.empty_cart(user), lambda r: r.status_code == 204, "204 again")
    healthy = later(partial(wait_trace, deleted, request, deleted_shape))
    release()
    trace = checked_out.result()
    empty = one(trace, "cart", "POST /oteldemo.CartService/EmptyCart", SpanKind.SERVER)
    assert_error(empty, trace)
    assert empty.attributes.get("grpc.status_code") == 9  # FAILED_PRECONDITION
    client = one(trace, "checkout", "oteldemo.CartService/EmptyCart", SpanKind.CLIENT)
    assert_error(client, trace)
    place = one(trace, "checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER)
    assert place.status.code is not StatusCode.ERROR, "checkout must swallow the EmptyCart error"
    assert {s.service for s in trace.errors} == {"cart", "checkout"}
    trace = failed.result()
    assert_error(one(trace, "cart", "POST /oteldemo.CartService/EmptyCart", SpanKind.SERVER), trace)
    assert_error(frontend_server(trace), trace)
    assert_healthy(healthy.result())


# -- ad -------------------------------------------------------------------------------------------
@side_by_side(drives=("ads",))
@pytest.mark.flags(adFailure="on")
def test_ad_failure_fails_one_in_ten(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    from tracebed.reference.proto import demo_pb2

    stub, channel = grpc_stub(demo_stack, "ad", "AdServiceStub")
    ask = demo_pb2.AdRequest(context_keys=["telescopes"])
    with channel:
        eventually(
            lambda: call_traced(stub.GetAds, ask),
            lambda r: r[1] is not grpc.StatusCode.OK,
            "a GetAds failing under adFailure",
            chance=True,
        )
        outcomes = in_parallel(lambda: call_traced(stub.GetAds, ask), RATE_SAMPLES)
    failed = [o for o in outcomes if o[1] is not grpc.StatusCode.OK]
    low, high = rate_bounds(0.1)
    assert low <= len(failed) <= high, (
        f"{len(failed)}/{RATE_SAMPLES} GetAds failed, expected 1 in 10"
    )
    assert {code for _, code, _ in failed} == {grpc.StatusCode.UNAVAILABLE}
    # Through the shop: the frontend's /api/data answers 500 when GetAds fails.
    run = eventually(
        lambda: shop.get_ads("telescopes"), lambda r: r.status_code == 500, "a 500", chance=True
    )
    client = names(demo_stack).client("oteldemo.AdService/GetAds")
    shape = spans(
        ("ad", "oteldemo.AdService/GetAds", SpanKind.SERVER),
        ("frontend", client, SpanKind.CLIENT),
        ("frontend", None, SpanKind.SERVER),
    )
    failing = later(partial(wait_trace, run, request, shape))
    switch_off(demo_stack, "adFailure")

    # With the flag off, 40 calls in a row succeed (under the flag: 0.9^40 < 2%), once the
    # service's flag cache lets go of "on" — and then 40 more, with no retry.
    shops = thread_shops(shop, request)

    def forty() -> list[Any]:
        return in_parallel(lambda: shops().get_ads("telescopes"), 40)

    eventually(forty, lambda rs: all(r.ok for r in rs), "40 GetAds in a row")
    results = forty()
    failed = [r for r in results if not r.ok]
    assert not failed, f"{len(failed)} of 40 GetAds failed with adFailure off:\n{failed[0]}"
    result = results[-1]
    healthy = later(partial(wait_healthy, result, request, "get_ads"))
    release()
    trace = failing.result()
    ad = one(trace, "ad", "oteldemo.AdService/GetAds", SpanKind.SERVER)
    assert_error(ad, trace)
    assert ad.attributes.get("rpc.grpc.status_code") == 14  # UNAVAILABLE
    assert "Error" in {e.name for e in ad.events}
    assert_error(one(trace, "frontend", client, SpanKind.CLIENT), trace)
    assert frontend_server(trace).attributes.get("http.status_code") == 500
    assert_healthy(healthy.result())


@pytest.mark.parametrize(
    "flag",
    [
        pytest.param("adHighCpu", marks=pytest.mark.flags(adHighCpu="on"), id="adHighCpu"),
        pytest.param("adManualGc", marks=pytest.mark.flags(adManualGc="on"), id="adManualGc"),
    ],
)
@side_by_side(drives=("ads",))
def test_ad_resource_flags_keep_ads_answering(
    flag: str, shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """adHighCpu / adManualGc cost CPU or pauses, never errors: GetAds keeps answering."""
    assert flag_value(demo_stack, flag) is True
    shops = thread_shops(shop, request)
    results = in_parallel(lambda: shops().get_ads("telescopes"), 5)
    for result in results:
        assert result.ok, result

    def answered(result: Any) -> Callable[[], Trace]:
        # (The trace holds the 308 of `/api/data/` first: wait for the call it led to.)
        return lambda: wait_trace(
            result, request, until=lambda t: bool(t.named("oteldemo.AdService/GetAds", "ad"))
        )

    traces = [later(answered(result)) for result in results]
    switch_off(demo_stack, flag)
    assert flag_value(demo_stack, flag) is False
    result = shop.get_ads("telescopes")
    assert result.ok, result
    healthy = later(partial(wait_healthy, result, request, "get_ads"))
    release()
    for pending in traces:
        trace = pending.result()
        assert_healthy(trace)
        ad = one(trace, "ad", "oteldemo.AdService/GetAds", SpanKind.SERVER)
        assert ad.attributes.get(names(demo_stack).ad_response_type) == "TARGETED"
    assert_healthy(healthy.result())


# -- product catalog ------------------------------------------------------------------------------
@side_by_side(drives=("browse",), switches=("productCatalogFailure",))
def test_product_catalog_failure_breaks_one_product(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    # At 3.0.0 the switch writes the targeting rule's then-branch (demo-facts-3.0 §8.2),
    # so "on" holds for product_id OLJCESPC7Z only: the same effect as 2.0.2's default.
    with demo_stack.flags.switched(productCatalogFailure="on"):
        _product_catalog_failure(shop, demo_stack, request)


def _product_catalog_failure(shop: Any, demo_stack: Any, request: pytest.FixtureRequest) -> None:
    n = names(demo_stack)
    run = eventually(
        lambda: shop.browse_product(FAILING_PRODUCT), lambda r: r.status_code == 500, "a 500"
    )
    shape = spans(
        ("product-catalog", "oteldemo.ProductCatalogService/GetProduct", SpanKind.SERVER),
        ("frontend", n.client("oteldemo.ProductCatalogService/GetProduct"), SpanKind.CLIENT),
        ("frontend", None, SpanKind.SERVER),
    )
    failing = later(partial(wait_trace, run, request, shape))
    # Only that product: another one still loads.
    other = shop.browse_product(SPARED_PRODUCT)
    assert other.ok, other
    other_healthy = later(partial(wait_healthy, other, request, "browse_product"))
    switch_off(demo_stack, "productCatalogFailure")
    run = eventually(lambda: shop.browse_product(FAILING_PRODUCT), lambda r: r.ok, "200 again")
    healthy = later(partial(wait_healthy, run, request, "browse_product"))
    release()
    trace = failing.result()
    get = one(
        trace, "product-catalog", "oteldemo.ProductCatalogService/GetProduct", SpanKind.SERVER
    )
    assert_error(get, trace, CATALOG_FAILURE)
    assert get.attributes.get("rpc.grpc.status_code") == 13  # INTERNAL
    assert get.attributes.get(n.product_id) == FAILING_PRODUCT
    client = one(
        trace, "frontend", n.client("oteldemo.ProductCatalogService/GetProduct"), SpanKind.CLIENT
    )
    assert_error(client, trace, CATALOG_FAILURE)
    assert frontend_server(trace).attributes.get("http.status_code") == 500
    assert_healthy(other_healthy.result())
    assert_healthy(healthy.result())


# -- recommendation -------------------------------------------------------------------------------
@side_by_side(drives=("recommendations",))
@pytest.mark.flags(recommendationCacheFailure="on")
def test_recommendation_cache_failure_turns_the_leaky_cache_on(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    n = names(demo_stack)

    def has_cache_span(trace: Trace) -> bool:
        return bool(trace.named("get_product_list", "recommendation"))

    def cache_span(result: Any) -> Span:
        # Only this span matters here: no quiet window, so 20 calls stay quick.
        trace = wait_trace(result, request, until=has_cache_span, quiet=None)
        assert_healthy(trace)  # a leak, not an error
        return one(trace, "recommendation", "get_product_list", SpanKind.INTERNAL)

    def cached(result: Any) -> bool:
        return bool(result.ok and cache_span(result).attributes.get(n.cache_enabled))

    shops = thread_shops(shop, request)
    eventually_traced(
        lambda: shops().get_recommendations(), cached, "the cache mode in get_product_list"
    )
    hits = set()
    # 50% misses: both outcomes show in 20 calls (miss 2^-20 to fail)
    results = in_parallel(lambda: shops().get_recommendations(), 20)
    # Every call has been answered under the flag: their spans come whatever it says next,
    # so their waits overlap the off phase instead of preceding it.
    cached_spans = [later(partial(cache_span, r)) for r in results]
    switch_off(demo_stack, "recommendationCacheFailure")
    result = eventually_traced(
        lambda: shops().get_recommendations(),
        lambda r: r.ok and cache_span(r).attributes.get(n.cache_enabled) is False,
        "the cache mode off again",
    )
    release()
    for span in [pending.result() for pending in cached_spans]:
        assert span.attributes.get(n.cache_enabled) is True
        hits.add(span.attributes.get(n.cache_hit))
    assert hits == {True, False}, f"{n.cache_hit} values seen: {hits}"
    assert n.cache_hit not in cache_span(result).attributes


# -- kafka ----------------------------------------------------------------------------------------
@side_by_side(drives=("order",))
@pytest.mark.flags(kafkaQueueProblems="on")
def test_kafka_queue_problems_floods_the_consumers(
    shop: Any, demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    n = names(demo_stack)
    copies = flag_value(demo_stack, "kafkaQueueProblems")
    assert copies == 100
    timeout = trace_timeout(request.config)
    store = span_sink.store

    def consumed(trace_id: str) -> list[Span]:
        """accounting's spans for the order: children of the publish span (context from the
        message headers) or, with instrumentations that start a new trace, linked to it.
        Read outside any store wait: a wait's predicate must not query the store."""
        linked = [
            s
            for s in store.spans_linking_to(trace_id)
            if s.service == "accounting" and s.trace_id != trace_id
        ]
        return [*store.trace(trace_id).named(n.receive, "accounting"), *linked]

    def poll(trace_id: str, done: Callable[[int], bool], limit: float) -> int:
        retrying = Retrying(
            retry=retry_if_result(lambda n: not done(n)),
            wait=wait_exponential(multiplier=0.02, max=0.25),
            stop=stop_after_delay(limit),
        )
        try:
            return int(retrying(lambda: len(consumed(trace_id))))
        except RetryError as exc:
            return int(exc.last_attempt.result())

    def flooded(run: Any) -> bool:
        # One copy shows up first; more than one means the checkout saw the flag (its flag
        # cache may still say "off" for the first order after the switch).
        return run.ok and poll(run.main.trace_id, lambda n: n > 1, 5.0 + quiet_s()) > 1

    run = eventually(lambda: order(shop), flooded, "more than one consumed copy of the order")
    # The order was answered under the flag, its copies published with it (checkout sends
    # them before it answers): the waits for them overlap the off phase below.
    counted = later(lambda: poll(run.main.trace_id, lambda n: n >= 1 + copies, timeout))
    published = later(
        # checkout exports on its own timer: its publish span may land after the copies.
        lambda: store.wait_for_trace(
            run.main.trace_id,
            until=spans(("checkout", n.publish, SpanKind.PRODUCER)),
            timeout=timeout,
        )
    )
    switch_off(demo_stack, "kafkaQueueProblems")

    def single(run: Any) -> bool:
        if not run.ok or poll(run.main.trace_id, lambda n: n >= 1, timeout) < 1:
            return False
        # Stragglers land: copies reach the consumer over a second or so, then their export.
        store.wait_for_trace(run.main.trace_id, quiet=max(1.0, quiet_s()), timeout=timeout)
        return len(consumed(run.main.trace_id)) == 1

    once = later(
        lambda: eventually(
            lambda: order(shop), single, "exactly one consumed copy after kafkaQueueProblems=off"
        )
    )
    # One traced publish, then N untraced copies carrying the same context: the consumer
    # reads every copy, each becomes a CONSUMER span tied to the one publish span.
    once.result()  # (the off phase's orders: the last request this scenario sends)
    release()
    count = counted.result()
    assert count == 1 + copies, f"accounting consumed {count} copies, expected {1 + copies}"
    trace = published.result()
    publish = one(trace, "checkout", n.publish, SpanKind.PRODUCER)
    assert len(trace.named(n.publish)) == 1, "the extra copies are not traced"
    assert all(
        s.parent_span_id == publish.span_id or any(k.span_id == publish.span_id for k in s.links)
        for s in consumed(trace.trace_id)
    )
    assert_healthy(trace)  # the problem is lag, not errors


# -- load generator -------------------------------------------------------------------------------
@side_by_side(drives=("home",), switches=("loadGeneratorFloodHomepage",))
def test_flood_homepage_sends_n_home_page_requests(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """2.0.2 only: 3.0.0 removed the flag (demo-facts-3.0 §8.2)."""
    require_release(demo_stack, "2.0.2")
    with demo_stack.flags.switched(loadGeneratorFloodHomepage="on"):
        _flood_homepage(shop, demo_stack, request)


def _flood_homepage(shop: Any, demo_stack: Any, request: pytest.FixtureRequest) -> None:
    count = flag_value(demo_stack, "loadGeneratorFloodHomepage")
    assert count == 100
    run = shop.flood_home()  # reads the flag over OFREP, as the load generator's task does
    assert len(run) == count
    assert run.ok, run
    timeout = trace_timeout(request.config)
    for step in (run[0], run[-1]):
        trace = step.trace(
            until=lambda t: any(s.service == "frontend" and s.kind is SpanKind.SERVER for s in t),
            timeout=timeout,
        )
        assert frontend_server(trace).name.split("?")[0] == "GET /"  # 2.0.2 only
    assert len({step.trace_id for step in run}) == count  # one trace per request
    switch_off(demo_stack, "loadGeneratorFloodHomepage")
    assert len(shop.flood_home()) == 0


# -- images (browser) -----------------------------------------------------------------------------
@side_by_side(drives=("image",))
@pytest.mark.flags(imageSlowLoad="5sec")
def test_image_slow_load_delays_images_at_the_proxy(
    shop: Any, demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """The browser sends `x-envoy-fault-delay-request: <flag ms>`; Envoy's fault filter waits."""
    delay_ms = flag_value(demo_stack, "imageSlowLoad")
    assert delay_ms == 5000

    def fetch(ms: int) -> Any:
        headers = {"x-envoy-fault-delay-request": str(ms), "Cache-Control": "no-cache"}
        return shop.get(
            PICTURE, task="image", name="GET /images/products/{picture}", headers=headers
        )

    started = time.monotonic()
    result = fetch(delay_ms)
    elapsed = time.monotonic() - started
    assert result.ok, result
    assert elapsed >= delay_ms / 1000, f"the image came after {elapsed:.2f}s, not >= 5s"
    # Every span of this trace is the proxy's (one process, exported in the order they end).
    shape = spans(
        ("frontend-proxy", names(demo_stack).ingress, SpanKind.SERVER),
        ("frontend-proxy", None, SpanKind.CLIENT),
    )
    # (Answered: its trace is awaited while the flag goes off and the quick fetch runs.)
    slow = later(partial(wait_trace, result, request, shape))
    switch_off(demo_stack, "imageSlowLoad")
    off = flag_value(demo_stack, "imageSlowLoad")
    assert off == 0
    started = time.monotonic()
    quick = fetch(off)
    assert quick.ok, quick
    assert time.monotonic() - started < delay_ms / 1000
    release()
    trace = slow.result()
    ingress = one(trace, "frontend-proxy", names(demo_stack).ingress, SpanKind.SERVER)
    # (Envoy's timer may fire a hair before the span's start-to-end: allow 5%.)
    assert ingress.duration >= 0.95 * delay_ms / 1000, trace.render()
    # The delay is the proxy's: the upstream call itself is quick.
    egress = [s for s in trace if s.service == "frontend-proxy" and s.kind is SpanKind.CLIENT]
    assert egress and all(s.duration < delay_ms / 1000 for s in egress), trace.render()
    assert_healthy(trace)


# -- cart readiness (3.0.0) -----------------------------------------------------------------------
@side_by_side(drives=("cart-health",), switches=("failedReadinessProbe",))
def test_failed_readiness_probe_makes_cart_not_serving(
    demo_stack: Any, request: pytest.FixtureRequest
) -> None:
    """3.0.0: cart's gRPC Health/Check answers NOT_SERVING while the flag is on (§8.2)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    require_release(demo_stack, "3.0.0")
    try:
        target = demo_stack.endpoint("cart")
    except LookupError as exc:
        pytest.skip(f"cannot reach cart directly on this stack: {exc}")
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING

    def status() -> int:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            return int(answer.status)

    assert status() == serving
    with demo_stack.flags.switched(failedReadinessProbe="on"):
        assert flag_value(demo_stack, "failedReadinessProbe") is True
        eventually(status, lambda s: s == not_serving, "cart NOT_SERVING under the flag")
    eventually(status, lambda s: s == serving, "cart SERVING again with the flag off")


# -- flags new in 3.0.0 ---------------------------------------------------------------------------
# Appended scenarios for 3.0.0's own flags (demo-facts-3.0 §8.2); each skips at 2.0.2, whose
# flag file has no such flag.

#: Every flag of both releases' flag files -> its scenarios (checked against the files below).
FLAG_SCENARIOS: dict[str, tuple[str, ...]] = {
    "adFailure": ("test_ad_failure_fails_one_in_ten",),
    "adHighCpu": ("test_ad_resource_flags_keep_ads_answering",),
    "adManualGc": ("test_ad_resource_flags_keep_ads_answering",),
    "cartFailure": (
        "test_cart_failure_breaks_empty_cart_only",  # 2.0.2: bool
        "test_cart_failure_100_breaks_every_empty_cart",  # 3.0.0: a probability
    ),
    "emailMemoryLeak": ("test_email_memory_leak_keeps_confirmations_telemetry_alike",),
    "failedReadinessProbe": ("test_failed_readiness_probe_makes_cart_not_serving",),
    "imageSlowLoad": ("test_image_slow_load_delays_images_at_the_proxy",),
    "intlShippingSlowdown": ("test_intl_shipping_slowdown_delays_non_us_orders",),
    "kafkaQueueProblems": ("test_kafka_queue_problems_floods_the_consumers",),
    "loadGeneratorFloodHomepage": ("test_flood_homepage_sends_n_home_page_requests",),
    "loadGeneratorTraffic": ("test_load_generator_traffic_off_only_evaluates_the_flag",),
    "loadGeneratorVUs": ("test_load_generator_vus_follow_the_flag",),
    "paymentFailure": (
        "test_payment_failure_100_fails_every_checkout",
        "test_payment_failure_rate_follows_the_variant",
    ),
    "paymentUnreachable": ("test_payment_unreachable_fails_checkout_at_the_client",),
    "productCatalogFailure": ("test_product_catalog_failure_breaks_one_product",),
    "recommendationCacheFailure": ("test_recommendation_cache_failure_turns_the_leaky_cache_on",),
}


@pytest.mark.parametrize("release", sorted(NAMES))
def test_every_flag_of_the_release_has_a_scenario(release: str) -> None:
    """The release's flag file (the project's copy of the demo's) holds no flag without a
    scenario here, and FLAG_SCENARIOS names only tests this module has."""
    import json

    from tracebed.reference.flagd.flagfile import bundled_flag_file

    flags = json.loads(bundled_flag_file(release).read_text(encoding="utf-8"))["flags"]
    missing = sorted(set(flags) - set(FLAG_SCENARIOS))
    assert not missing, f"demo {release} flags without a fault scenario: {missing}"
    unknown = [t for ts in FLAG_SCENARIOS.values() for t in ts if not callable(globals().get(t))]
    assert not unknown, f"FLAG_SCENARIOS names tests that do not exist: {unknown}"


#: shipping's domestic countries (demo-facts-3.0 §3.4); any other address is slowed down.
DOMESTIC = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}


def require_v3_flag(demo_stack: Any, flag: str) -> Names:
    """Skip at a release without `flag` (2.0.2's file has none of the 3.0.0-only flags)."""
    release = demo_version(demo_stack)
    if release != "3.0.0":
        pytest.skip(f"{flag} is a 3.0.0 flag: the demo {release} flag file has no such flag")
    return names(demo_stack)


def person_in(shop: Any, domestic: bool) -> dict[str, Any]:
    """The first checkout identity shipping counts as domestic (or not)."""
    for person in shop.people:
        if (str(person["address"]["country"]).strip().upper() in DOMESTIC) is domestic:
            return dict(person)
    pytest.skip(f"no {'US' if domestic else 'non-US'} address among the shop's people")


# -- shipping (3.0.0) -----------------------------------------------------------------------------
@side_by_side(drives=("order",), switches=("intlShippingSlowdown",))
def test_intl_shipping_slowdown_delays_non_us_orders(
    shop: Any, demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    """A non-US `/ship-order` sleeps the flag's seconds: PlaceOrder is that much slower, and
    succeeds (checkout's HTTP client has no timeout); a US address is spared. "5sec" is the
    shortest variant. Durations are the spans', as the trace shows them."""
    n = require_v3_flag(demo_stack, "intlShippingSlowdown")
    abroad, home = person_in(shop, domestic=False), person_in(shop, domestic=True)

    def placed(person: dict[str, Any]) -> Any:
        run = order(shop, person)
        assert run.ok, run
        return run

    def shipped(run: Any) -> tuple[Any, Trace, Span]:
        trace = wait_trace(run.main, request, until=lambda t: bool(t.named(n.ship_order)))
        return run, trace, one(trace, "shipping", n.ship_order, SpanKind.SERVER)

    def ordered(person: dict[str, Any]) -> tuple[Any, Trace, Span]:
        return shipped(placed(person))

    with demo_stack.flags.switched(intlShippingSlowdown="5sec"):
        delay = flag_value(demo_stack, "intlShippingSlowdown")
        assert delay == 5
        mark = span_sink.store.mark()
        # (The first order after the switch may still meet shipping's cached "off".)
        _, trace, ship = eventually(
            lambda: ordered(abroad), lambda r: r[2].duration >= delay, "a slow non-US ShipOrder"
        )
        # Where: shipping's own server span holds the sleep; the quote is not slowed.
        assert ship.status.code is not StatusCode.ERROR, trace.render(marks={ship.span_id})
        assert ship.attributes.get("http.response.status_code", 200) == 200
        quote = one(trace, "shipping", "POST /get-quote", SpanKind.SERVER)
        assert quote.duration < delay, trace.render(marks={quote.span_id})
        # Propagation: checkout's HTTP client span waits it out, and PlaceOrder with it.
        client = trace.parent(ship)
        assert client is not None and client.service == "checkout", trace.render()
        assert client.kind is SpanKind.CLIENT and client.duration >= delay
        assert client.status.code is not StatusCode.ERROR
        place = one(trace, "checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER)
        assert place.duration >= delay, trace.render(marks={place.span_id})
        assert place.status.code is not StatusCode.ERROR
        assert "shipped" in {e.name for e in place.events}
        assert frontend_server(trace).duration >= delay
        assert_healthy(trace)  # slow, not failed
        # shipping's log says so (its EventName, demo-facts-3.0 §6.2).
        slowdown = "shipping.international.slowdown"
        logged = later(
            lambda: span_sink.store.wait_for_logs(
                service="shipping",
                since=mark,
                until=lambda rs: any(r.event_name == slowdown for r in rs),
                timeout=trace_timeout(request.config),
            )
        )
        # A US address is spared under the same flag (answered under it; its trace and the
        # log are awaited while the off phase runs).
        spared = later(partial(shipped, placed(home)))
    # Off again: the non-US order ships without the wait (answered sooner than the sleep:
    # shipping cannot have slept; its trace is checked after).
    quick = eventually(
        lambda: placed(abroad), lambda r: r.elapsed < delay, "a quick non-US checkout"
    )
    release()
    _, trace, ship = shipped(quick)
    assert ship.duration < delay, trace.render(marks={ship.span_id})
    records = logged.result()
    assert {r.attributes.get("delay_secs") for r in records if r.event_name == slowdown} == {
        delay
    }
    _, trace, ship = spared.result()
    assert ship.duration < delay, trace.render(marks={ship.span_id})
    assert_healthy(trace)


# -- email (3.0.0) --------------------------------------------------------------------------------
CONFIRMATION_SENT = "email.confirmation_sent"
CONFIRMATIONS = "demo.notification.confirmations"


@side_by_side(drives=("order",), switches=("emailMemoryLeak",))
def test_email_memory_leak_keeps_confirmations_telemetry_alike(
    shop: Any, demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    """emailMemoryLeak pads each mail by (m-1) x its length and keeps the mails (§8.2): an
    effect on memory only. email's telemetry (demo-facts-3.0 §5.3.5, §6) carries no sign of
    it: the Ruby SDK has no flag hook and email exports no memory metric (memory shows in
    the collector's docker_stats on a compose stack, not in OTLP from email). So under a
    variant a confirmation's spans, log and counter are what they are with the flag off."""
    require_v3_flag(demo_stack, "emailMemoryLeak")
    store = span_sink.store
    timeout = trace_timeout(request.config)

    def placed() -> tuple[Any, Any]:
        mark = store.mark()
        run = order(shop)
        assert run.ok, run
        return run, mark

    def confirmation(run: Any, mark: Any) -> set[tuple[str, SpanKind, frozenset[str]]]:
        trace = wait_trace(run.main, request, until=lambda t: bool(t.named("send_email", "email")))
        assert_healthy(trace)
        place = one(trace, "checkout", "oteldemo.CheckoutService/PlaceOrder", SpanKind.SERVER)
        order_id = place.attributes.get("demo.order.id")
        assert order_id, trace.render(marks={place.span_id})
        server = [s for s in trace if s.service == "email" and s.kind is SpanKind.SERVER]
        send = one(trace, "email", "send_email", SpanKind.INTERNAL)
        assert [s.attributes.get("demo.order.id") for s in server] == [order_id]
        assert send.attributes.get("demo.order.id") == order_id
        # The confirmation log of this order (its trace: other scenarios order meanwhile),
        # inside send_email, and one more confirmation counted.
        def sent(records: list[Any]) -> list[Any]:
            return [r for r in records if r.event_name == CONFIRMATION_SENT]

        records = store.wait_for_logs(
            service="email",
            trace_id=trace.trace_id,
            since=mark,
            until=lambda rs: bool(sent(rs)),
            timeout=timeout,
        )
        logged = sent(records)
        assert [r.attributes.get("demo.order.id") for r in logged] == [order_id]
        assert logged[0].span_id == send.span_id
        store.wait_for_metric(
            "email", CONFIRMATIONS, since=mark, until=lambda s: s.increase() >= 1, timeout=timeout
        )
        return {(s.name, s.kind, frozenset(s.attributes)) for s in trace if s.service == "email"}

    # Both orders are answered under their flag state (email's telemetry of an order is made
    # while it is answered), then both confirmations are read.
    with demo_stack.flags.switched(emailMemoryLeak="100x"):
        assert flag_value(demo_stack, "emailMemoryLeak") == 100
        leaking = later(partial(confirmation, *placed()))
    assert flag_value(demo_stack, "emailMemoryLeak") == 0
    healthy = placed()
    release()
    assert leaking.result() == confirmation(*healthy), (
        "email's spans differ between emailMemoryLeak=100x and off"
    )


# -- load generator (3.0.0) -----------------------------------------------------------------------
# The 3.0.0 load generator's iteration (demo-facts-3.0 §10.3) is the stand-in's k6 script
# re-told for Locust (reference/loadgen/locustfile_v3.py), run here headless for a bounded
# time against the stack's front door, its flagd (OFREP) and its collector (OTLP/HTTP).
# (`tracebed load` drives tracebed's own flows, which are not the 3.0.0 iteration: they
# neither ask loadGeneratorTraffic nor export the generator's spans.)
LOAD_GENERATOR = "load-generator"
EVALUATE = "feature_flag.evaluate"
SESSION_START = "user_session_start"


def load_generator_command(
    demo_stack: Any, users: int, seconds: float, vus_poll_s: float | None = None
) -> tuple[list[str], dict[str, str]]:
    """The stand-in 3.0.0 load generator as a bounded headless Locust run, and its env."""
    import os
    import sys
    from urllib.parse import urlsplit

    from tracebed.reference.loadgen import LOCUSTFILE_V3

    flags = demo_stack.flags
    if flags is None or flags.ofrep_url is None:
        pytest.skip("this stack has no OFREP endpoint for the load generator to read flags from")
    try:
        collector = demo_stack.stack.endpoints("otel-collector").get("otlp_http")
    except (AttributeError, LookupError):
        collector = None
    if not collector:
        pytest.skip("cannot reach the collector's OTLP/HTTP port directly on this stack")
    ofrep, otlp = urlsplit(flags.ofrep_url), urlsplit(collector)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            # the directory holding this tracebed (src/tracebed/reference/loadgen/<file>)
            filter(None, [str(LOCUSTFILE_V3.parents[3]), os.environ.get("PYTHONPATH")])
        ),
        "FLAGD_HOST": ofrep.hostname or "127.0.0.1",
        "FLAGD_OFREP_PORT": str(ofrep.port or 8016),
        "OTEL_COLLECTOR_HOST": otlp.hostname or "127.0.0.1",
        "OTEL_COLLECTOR_PORT_HTTP": str(otlp.port or 4318),
        "OTEL_SERVICE_NAME": LOAD_GENERATOR,
    }
    if vus_poll_s is not None:
        env["TRACEBED_LOADGEN_VUS_POLL_SECONDS"] = str(vus_poll_s)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE_V3),
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "--run-time",
        f"{seconds:g}s",
        "--stop-timeout",
        "2",
        "--host",
        demo_stack.frontend_url,
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    return command, env


def run_load_generator(demo_stack: Any, users: int, seconds: float) -> None:
    """One bounded run to its end (a few seconds past `seconds` at most)."""
    import subprocess

    command, env = load_generator_command(demo_stack, users, seconds)
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    # Locust exits 1 when a request failed; anything else means it did not run.
    assert done.returncode in (0, 1), f"load generator exit {done.returncode}:\n{done.stderr}"


def load_generator_traces(
    store: Any,
    before: set[str],
    enough: Callable[[list[Trace]], bool],
    timeout: float,
    *,
    quiet: bool = True,
) -> list[Trace]:
    """The traces with a load-generator span among those new since `before`, once `enough`
    holds (and, with `quiet`, the export delay has passed since their last span ended: the
    generator's and Envoy's exports trail). Under load spans arrive all the time: the new
    traces are looked at on an arrival at most every 0.2 s, not on each. (The store's last
    arrival would not do: other scenarios' spans keep arriving beside these.)"""
    found: list[list[Trace]] = [[]]
    next_look = [0.0]

    def check() -> bool | float:
        now = time.monotonic()
        if now < next_look[0]:
            return next_look[0]
        next_look[0] = now + 0.2
        traces = [store.trace(t) for t in store.trace_ids() if t not in before]
        found[0] = [t for t in traces if any(s.service == LOAD_GENERATOR for s in t)]
        if not enough(found[0]):
            return False
        if not quiet:
            return True
        # The generator exports every 0.2 s, the stack after its export delay: what ended
        # before the latest end seen has arrived once that much has passed since then.
        left = export_left((s for t in found[0] for s in t), max(1.0, quiet_s()))
        return True if left <= 0 else now + left

    try:
        store.wait(check, timeout=timeout, description="the load generator's traces")
    except TimeoutError:
        names_seen = sorted({s.name for t in found[0] for s in t if s.service == LOAD_GENERATOR})
        raise AssertionError(
            f"load generator: {len(found[0])} traces after {timeout}s, not enough; "
            f"its span names: {names_seen}"
        ) from None
    return found[0]


def named_spans(traces: list[Trace], name: str) -> list[Span]:
    return [s for t in traces for s in t if s.service == LOAD_GENERATOR and s.name == name]


def sessions(n: int) -> Callable[[list[Trace]], bool]:
    """At least `n` VUs opened their session."""
    return lambda traces: len(named_spans(traces, SESSION_START)) >= n


@side_by_side(drives=("load-generator",), switches=("loadGeneratorTraffic",), slow=True)
def test_load_generator_traffic_off_only_evaluates_the_flag(
    demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    """At 0 each iteration evaluates the flag (a `feature_flag.evaluate` span) and sleeps:
    no session, no task, no request to the shop. At its default (on, 1) the same run shops."""
    require_v3_flag(demo_stack, "loadGeneratorTraffic")
    store, users, timeout = span_sink.store, 3, trace_timeout(request.config)
    assert flag_value(demo_stack, "loadGeneratorTraffic") == 1  # the flag file's default

    # On: every VU opens its session (user_session_start + GET / through the proxy).
    before = set(store.trace_ids())
    run_load_generator(demo_stack, users, seconds=3)
    traces = load_generator_traces(
        store, before, lambda ts: len(named_spans(ts, SESSION_START)) >= users, timeout
    )
    shopping = [t for t in traces if t.named(SESSION_START, LOAD_GENERATOR)]
    assert all("frontend-proxy" in t.services for t in shopping), "\n".join(
        t.render() for t in shopping
    )

    with demo_stack.flags.switched(loadGeneratorTraffic="off"):
        assert flag_value(demo_stack, "loadGeneratorTraffic") == 0
        before = set(store.trace_ids())
        run_load_generator(demo_stack, users, seconds=3)
    # Each VU's first iteration is at once: at least one evaluation per VU. (Read before the
    # release: these are every generator trace since `before`, and the next scenario of
    # the load generator would add its own.)
    traces = load_generator_traces(
        store, before, lambda ts: len(named_spans(ts, EVALUATE)) >= users, timeout
    )
    release()
    for trace in traces:
        # Only the evaluation (and flagd answering it): no task span, no shop request.
        assert trace.services <= {LOAD_GENERATOR, "flagd"}, trace.render()
        for span in trace:
            if span.service == LOAD_GENERATOR:
                assert (span.name, span.kind) == (EVALUATE, SpanKind.CLIENT), trace.render()
                assert span.attributes.get("feature_flag.key") == "loadGeneratorTraffic"


@side_by_side(drives=("load-generator",), switches=("loadGeneratorVUs",), slow=True)
def test_load_generator_vus_follow_the_flag(
    demo_stack: Any, span_sink: Any, request: pytest.FixtureRequest
) -> None:
    """The VU count is the flag's (read at start, then polled: 10 s in the demo, 0.5 s here
    through the stand-in's poll knob). Each VU opens one session (`user_session_start`), so
    the sessions count the VUs: started with 1 (LOAD_GENERATOR_VUS) under the flag's "10",
    there are 10; switched to "25" during the run, 25."""
    import subprocess

    require_v3_flag(demo_stack, "loadGeneratorVUs")
    if demo_stack.topology is not None and LOAD_GENERATOR in demo_stack.topology.services:
        pytest.skip("the stack runs its own load generator, whose VUs follow the flag too")
    store, timeout = span_sink.store, trace_timeout(request.config)
    with demo_stack.flags.switched(loadGeneratorVUs="10"):
        assert flag_value(demo_stack, "loadGeneratorVUs") == 10
        before = set(store.trace_ids())
        command, env = load_generator_command(demo_stack, 1, seconds=60, vus_poll_s=0.5)
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            traces = load_generator_traces(store, before, sessions(10), timeout, quiet=False)
            started = len(named_spans(traces, SESSION_START))
            assert started == 10, f"{started} sessions under loadGeneratorVUs=10"
            demo_stack.flags.set(loadGeneratorVUs="25")
            load_generator_traces(store, before, sessions(25), timeout, quiet=False)
        finally:
            proc.terminate()  # Locust stops its users and exits
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # Once quiet: exactly 25 sessions, one per VU (not 1 + 10 + 25: no VU was replaced).
    traces = load_generator_traces(store, before, sessions(25), timeout)
    assert len(named_spans(traces, SESSION_START)) == 25
