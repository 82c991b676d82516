"""ShopClient against a traced stand-in of the frontend API exporting to a real sink."""

from __future__ import annotations

import json
import random
import socket
from typing import Any

import pytest

from tests.flows.fake_frontend import FakeFrontend
from tracebed.flows import ChainCheck, FlowResult, FlowRun, NoSinkError, ShopClient
from tracebed.flows.context import TraceContext
from tracebed.flows.data import LOADGEN_CATEGORIES, QUANTITIES, default_people, default_products
from tracebed.model import SpanKind, TraceTimeoutError
from tracebed.otlp import Sink
from tracebed.otlp.client import SinkClient


@pytest.fixture
def shop(frontend: FakeFrontend, sink: Sink) -> ShopClient:
    return ShopClient(frontend.url, sink_store=sink.store, rng=random.Random(1), timeout=10)


def _only(frontend: FakeFrontend) -> Any:
    requests = frontend.api_requests()
    assert len(requests) == 1, [(s.method, s.path) for s in requests]
    return requests[0]


def test_server_sees_the_trace_id_the_client_chose(
    shop: ShopClient, frontend: FakeFrontend
) -> None:
    result = shop.index()
    seen = _only(frontend)
    ctx = TraceContext.parse(seen.headers["traceparent"])
    assert (ctx.trace_id, ctx.span_id, ctx.sampled) == (result.trace_id, result.span_id, True)
    assert len(result.trace_id) == 32 and int(result.trace_id, 16)
    assert f"session.id={shop.session_id}" in seen.headers["baggage"]
    assert "synthetic_request" not in seen.headers["baggage"]

    trace = result.trace(quiet=0.2, timeout=15)
    (root,) = trace.tops
    assert root.trace_id == result.trace_id
    assert root.parent_span_id == result.span_id  # the server span is the child of ours
    assert (root.service, root.name, root.kind) == ("frontend", "GET /", SpanKind.SERVER)


def test_every_request_gets_a_fresh_trace_id(shop: ShopClient) -> None:
    ids = {shop.index().trace_id for _ in range(5)}
    assert len(ids) == 5


def test_synthetic_and_unsampled(frontend: FakeFrontend) -> None:
    shop = ShopClient(frontend.url, synthetic=True, sampled=False, session_id="s-1")
    shop.index()
    seen = _only(frontend)
    assert seen.headers["traceparent"].endswith("-00")
    assert seen.headers["baggage"] == "session.id=s-1,synthetic_request=true"


@pytest.mark.parametrize(
    ("call", "method", "path", "query"),
    [
        (lambda s: s.index(), "GET", "/", {}),
        (lambda s: s.browse_product("OLJCESPC7Z"), "GET", "/api/products/OLJCESPC7Z", {}),
        (
            lambda s: s.browse_product("OLJCESPC7Z", currency="CHF"),
            "GET",
            "/api/products/OLJCESPC7Z",
            {"currencyCode": ["CHF"]},
        ),
        (
            lambda s: s.get_recommendations("66VCHSJNUP"),
            "GET",
            "/api/recommendations",
            {"productIds": ["66VCHSJNUP"]},
        ),
        (
            lambda s: s.get_recommendations(["A1", "B2"], user="u1"),
            "GET",
            "/api/recommendations",
            {"productIds": ["A1,B2"], "sessionId": ["u1"]},
        ),
        (lambda s: s.get_ads("telescopes"), "GET", "/api/data", {"contextKeys": ["telescopes"]}),
        (lambda s: s.get_ads(None), "GET", "/api/data", {}),
        (lambda s: s.view_cart(), "GET", "/api/cart", {}),
        (
            lambda s: s.view_cart("u7", currency="EUR"),
            "GET",
            "/api/cart",
            {"sessionId": ["u7"], "currencyCode": ["EUR"]},
        ),
        (lambda s: s.list_products("CHF"), "GET", "/api/products", {"currencyCode": ["CHF"]}),
        (lambda s: s.get_currencies(), "GET", "/api/currency", {}),
        (lambda s: s.get("/api/currency"), "GET", "/api/currency", {}),
        (
            lambda s: s.get_product_reviews("L9ECAV7KIM"),
            "GET",
            "/api/product-reviews/L9ECAV7KIM",
            {},
        ),
    ],
)
def test_get_tasks_hit_their_route(
    shop: ShopClient,
    frontend: FakeFrontend,
    call: Any,
    method: str,
    path: str,
    query: dict[str, list[str]],
) -> None:
    result = call(shop)
    seen = _only(frontend)
    assert (seen.method, seen.path, seen.query, seen.body) == (method, path, query, None)
    assert TraceContext.parse(seen.headers["traceparent"]).trace_id == result.trace_id


def test_get_ads_uses_the_trailing_slash_and_follows_the_redirect(
    shop: ShopClient, frontend: FakeFrontend
) -> None:
    result = shop.get_ads("books")
    assert result.request.url.endswith("/api/data/?contextKeys=books")
    assert result.status_code == 200 and result.json == [
        {"redirectUrl": "/product/X", "text": "ad"}
    ]
    hop, final = frontend.seen
    assert (hop.path, hop.status, final.path) == ("/api/data/", 308, "/api/data")
    # The redirect keeps the trace: both hops carry the same traceparent.
    assert hop.headers["traceparent"] == final.headers["traceparent"]


def test_add_to_cart_browses_then_posts(shop: ShopClient, frontend: FakeFrontend) -> None:
    run = shop.add_to_cart(user="u-1", product="2ZYFJ3GM2N", quantity=3)
    assert isinstance(run, FlowRun) and run.ok
    browse, post = frontend.api_requests()
    assert (browse.method, browse.path) == ("GET", "/api/products/2ZYFJ3GM2N")
    assert (post.method, post.path) == ("POST", "/api/cart")
    assert post.body == {"item": {"productId": "2ZYFJ3GM2N", "quantity": 3}, "userId": "u-1"}
    assert run.trace_ids == [
        TraceContext.parse(s.headers["traceparent"]).trace_id for s in (browse, post)
    ]
    assert run.main is run.steps[1] and run.json == {"userId": "u-1", "items": [post.body["item"]]}


def test_add_to_cart_random_defaults(shop: ShopClient, frontend: FakeFrontend) -> None:
    for _ in range(8):
        shop.add_to_cart()
    posts = [s for s in frontend.api_requests() if s.method == "POST"]
    users = {p.body["userId"] for p in posts}
    assert len(users) == 8  # a fresh uuid1 per call, as the load generator
    for post in posts:
        assert post.body["item"]["productId"] in default_products()
        assert post.body["item"]["quantity"] in QUANTITIES


def test_checkout_fills_a_cart_then_places_the_order(
    shop: ShopClient, frontend: FakeFrontend, sink: Sink
) -> None:
    person = default_people()[0]
    run = shop.checkout(user="u-9", person=person["email"], product="OLJCESPC7Z", quantity=2)
    browse, add, order = frontend.api_requests()
    assert [s.path for s in (browse, add, order)] == [
        "/api/products/OLJCESPC7Z",
        "/api/cart",
        "/api/checkout",
    ]
    assert add.body["userId"] == order.body["userId"] == "u-9"
    assert order.body == {**person, "userId": "u-9"}
    assert order.query == {}  # no currencyCode unless asked, as the load generator
    assert run.trace_id == run.steps[-1].trace_id and len(set(run.trace_ids)) == 3

    trace = run.trace(until=ChainCheck(), timeout=15)
    assert trace.trace_id == run.trace_id
    assert ("checkout", "email") in trace.edges and ("shipping", "quote") in trace.edges
    assert trace.named("orders publish")[0].kind is SpanKind.PRODUCER


def test_checkout_with_currency(shop: ShopClient, frontend: FakeFrontend) -> None:
    shop.checkout(person=2, currency="EUR")
    order = frontend.api_requests()[-1]
    assert order.body["userCurrency"] == "EUR" and order.query == {"currencyCode": ["EUR"]}
    assert order.body["email"] == default_people()[2]["email"]


def test_checkout_multi(shop: ShopClient, frontend: FakeFrontend) -> None:
    run = shop.checkout_multi(items=[("A1", 1), "B2", ("C3", 5)])
    adds = [s for s in frontend.api_requests() if s.path == "/api/cart"]
    assert [a.body["item"] for a in adds] == [
        {"productId": "A1", "quantity": 1},
        {"productId": "B2", "quantity": adds[1].body["item"]["quantity"]},
        {"productId": "C3", "quantity": 5},
    ]
    assert len({a.body["userId"] for a in adds}) == 1
    assert len(run.steps) == 7 and run.main.name == "POST /api/checkout"

    frontend.reset()
    shop.checkout_multi()
    adds = [s for s in frontend.api_requests() if s.path == "/api/cart"]
    assert 2 <= len(adds) <= 4


def test_flood_home_by_count_and_by_flag(frontend: FakeFrontend) -> None:
    shop = ShopClient(frontend.url, ofrep_url=frontend.url)
    assert len(shop.flood_home(count=3)) == 3
    frontend.reset()
    frontend.flood_count = 4
    run = shop.flood_home()
    assert len(run) == 4 and {s.path for s in frontend.api_requests()} == {"/"}
    flag_calls = [s for s in frontend.seen if s.path.startswith("/ofrep/")]
    assert len(flag_calls) == 1 and flag_calls[0].body == {"context": {}}
    # Without a flag service the flag's default (0) applies, as in the load generator.
    assert len(ShopClient(frontend.url).flood_home()) == 0


def test_post_and_delete_direct_calls(shop: ShopClient, frontend: FakeFrontend) -> None:
    ask = shop.ask_product_ai_assistant("L9ECAV7KIM")
    assert ask.status_code == 404  # the fake has no 2.2.0 routes: the result says so
    empty = shop.empty_cart("u-3")
    assert empty.status_code == 204 and empty.text == "" and empty.json is None
    shipping = shop.get_shipping([("A1", 2)], currency="CHF")
    posted, deleted, shipped = frontend.api_requests()
    assert (posted.method, posted.path, posted.body) == (
        "POST",
        "/api/product-ask-ai-assistant/L9ECAV7KIM",
        {"question": "Can you summarize the product reviews?"},
    )
    assert (deleted.method, deleted.body) == ("DELETE", {"userId": "u-3"})
    assert json.loads(shipped.query["itemList"][0]) == [{"productId": "A1", "quantity": 2}]
    assert set(json.loads(shipped.query["address"][0])) >= {"streetAddress", "zipCode", "country"}
    assert shipping.json["units"] == 8


def test_seeded_rng_repeats_choices(frontend: FakeFrontend) -> None:
    def picks() -> list[Any]:
        frontend.reset()
        shop = ShopClient(frontend.url, rng=random.Random(42))
        for _ in range(6):
            shop.browse_product()
            shop.get_ads()
        return [(s.path, s.query.get("contextKeys")) for s in frontend.api_requests()]

    first = picks()
    assert first == picks()
    keys = {k[0] for _, k in first if k}
    assert keys <= {c for c in LOADGEN_CATEGORIES if c}


def test_result_prints_request_status_body_and_trace(shop: ShopClient) -> None:
    result = shop.post("/api/cart", {"item": {"productId": "A1", "quantity": 1}, "userId": "u"})
    text = str(result)
    assert f"POST {shop.base_url}/api/cart" in text
    assert '"productId":"A1"' in text and "-> 200 in" in text and '"userId": "u"' in text
    assert "not fetched (call .trace())" in text
    result.trace(quiet=0.2, timeout=15)
    text = repr(result)
    assert f"trace {result.trace_id}:" in text and "POST /api/cart" in text.split("trace ")[-1]

    run = shop.add_to_cart(user="u2", product="A2", quantity=1)
    run.trace(quiet=0.2, timeout=15)
    text = str(run)
    assert text.startswith("add_to_cart: 2 request(s); main = POST /api/cart")
    assert "1. [browse_product] GET" in text and "*2. [add_to_cart] POST" in text


def test_failure_is_a_result_not_an_exception(frontend: FakeFrontend) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shop = ShopClient(f"http://127.0.0.1:{port}", timeout=2)
    result = shop.index()
    assert result.status_code == 0 and not result.ok and "ConnectionError" in (result.error or "")
    assert "no response after" in str(result)
    with pytest.raises(AssertionError, match="request failed"):
        result.raise_for_status()
    with pytest.raises(NoSinkError, match="sink_store"):
        result.trace(timeout=0.1)


def test_bad_inputs_have_clear_errors(frontend: FakeFrontend) -> None:
    with pytest.raises(ValueError, match="http"):
        ShopClient("localhost:8080")
    shop = ShopClient(frontend.url)
    with pytest.raises(ValueError, match="quantity"):
        shop.add_to_cart(quantity=0)
    with pytest.raises(LookupError, match="no person with email"):
        shop.checkout(person="nobody@example.com")
    with pytest.raises(ValueError, match="product id"):
        shop.browse_product("a/b")
    with pytest.raises(ValueError, match="unknown task"):
        shop.run_task("browse")
    with pytest.raises(ValueError, match="must start with"):
        shop.get("api/cart")
    assert frontend.api_requests() == []  # nothing was sent


def test_trace_through_the_sink_http_api(shop: ShopClient, sink: Sink) -> None:
    remote = ShopClient(shop.base_url, sink_store=SinkClient(sink.http_url))
    run = remote.checkout()
    trace = run.trace(until=ChainCheck(), timeout=15)
    assert ChainCheck()(trace) and trace.trace_id == run.trace_id
    result: FlowResult = remote.index()
    assert result.trace(quiet=0.2, timeout=15).tops[0].name == "GET /"


def test_browser_tasks_replay_their_pages_requests(
    shop: ShopClient, frontend: FakeFrontend
) -> None:
    run = shop.add_product_to_cart(user="b-1")
    seen = frontend.api_requests()
    assert [(s.method, s.path) for s in seen] == [
        ("GET", "/"),
        ("GET", "/api/products"),
        ("GET", "/product/2ZYFJ3GM2N"),
        ("GET", "/api/products/2ZYFJ3GM2N"),
        ("GET", "/api/data"),
        ("GET", "/api/recommendations"),
        ("POST", "/api/cart"),
        ("GET", "/cart"),
    ]
    assert seen[4].query == {"contextKeys": ["binoculars"]}
    assert seen[6].body == {"item": {"productId": "2ZYFJ3GM2N", "quantity": 1}, "userId": "b-1"}
    assert run.main.name == "POST /api/cart" and run.ok
    assert all("synthetic_request=true" in s.headers["baggage"] for s in seen)

    frontend.reset()
    run = shop.open_cart_page_and_change_currency(user="b-1", currency="CHF")
    seen = frontend.api_requests()
    assert [s.path for s in seen] == [
        "/cart",
        "/api/currency",
        "/api/cart",
        "/api/cart",
        "/api/recommendations",
    ]
    assert seen[3].query == {"sessionId": ["b-1"], "currencyCode": ["CHF"]}
    assert run.main.request.url.endswith("currencyCode=CHF")
    assert seen[4].query["currencyCode"] == ["CHF"]


def test_caller_chosen_traceparent_and_baggage(shop: ShopClient, frontend: FakeFrontend) -> None:
    mine = TraceContext.fresh()
    result = shop.get("/", headers={"TraceParent": mine.traceparent, "baggage": "k=v"})
    seen = _only(frontend)
    assert (result.trace_id, result.span_id) == (mine.trace_id, mine.span_id)
    assert seen.headers["traceparent"] == mine.traceparent and seen.headers["baggage"] == "k=v"
    with pytest.raises(ValueError, match="not a W3C traceparent"):
        shop.get("/", headers={"traceparent": "00-xyz"})


def test_trace_defaults_to_the_entry_span_and_keeps_what_arrived_on_timeout(
    shop: ShopClient,
) -> None:
    result = shop.view_cart("u-5")
    trace = result.trace(timeout=15)  # no until/quiet: waits for the span continuing ours
    assert [s.name for s in trace if s.parent_span_id == result.span_id] == ["GET /api/cart"]

    other = shop.index()
    with pytest.raises(TraceTimeoutError, match="never held"):
        other.trace(until=lambda t: len(t) > 5, timeout=1)
    assert other.fetched is not None and "GET /" in str(other)
