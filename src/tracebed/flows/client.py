"""The shop client: every task of the demo's load generator, each request with its own trace id."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from tracebed.flows import data
from tracebed.flows.context import TraceContext, baggage_header
from tracebed.flows.result import FlowRequest, FlowResult, FlowRun
from tracebed.flows.tasks import ALL_TASKS
from tracebed.model.source import DEFAULT_QUIET_S, TraceSource

PersonSpec = Mapping[str, Any] | int | str | None
ItemSpec = str | tuple[str, int]
Params = Mapping[str, str | Sequence[str] | None] | None

_RANDOM: Any = object()  # "choose at random", distinct from an explicit None
FLOOD_FLAG = "loadGeneratorFloodHomepage"
AI_QUESTION = "Can you summarize the product reviews?"
_BROWSER_CART = "open_cart_page_and_change_currency"
_BROWSER_ADD = "add_product_to_cart"


class ShopClient:
    """Drives the shop through its front door (frontend-proxy, or the frontend directly).

    Each HTTP request carries a W3C `traceparent` with a fresh random trace id (and
    `baggage: session.id=…`, plus `synthetic_request=true` when `synthetic`, as the load
    generator sends), and returns a `FlowResult`; tasks of several requests return a `FlowRun`.
    Random choices (product, quantity, person, category) use `rng`, so a seeded `rng`
    repeats the same choices; trace ids and user ids are always fresh. One client serves one
    thread at a time (like a `requests.Session`); give each thread or Locust user its own.
    """

    def __init__(
        self,
        base_url: str,
        *,
        sink_store: TraceSource | None = None,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        people: Sequence[Mapping[str, Any]] | None = None,
        products: Sequence[str] | None = None,
        categories: Sequence[str | None] | None = None,
        session_id: str | None = None,
        synthetic: bool = False,
        sampled: bool = True,
        ofrep_url: str | None = None,
        on_result: Callable[[FlowResult], None] | None = None,
        quiet: float = DEFAULT_QUIET_S,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"base_url must be an http(s) URL like http://127.0.0.1:8080, got {base_url!r}"
            )
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.sink_store = sink_store
        self.session = session if session is not None else requests.Session()
        self.rng = rng if rng is not None else random.Random()
        self.timeout = timeout
        self.people = (
            [data.validate_person(p, f"people[{i}]") for i, p in enumerate(people)]
            if people is not None
            else list(data.default_people())
        )
        self.products = list(products) if products is not None else list(data.default_products())
        self.categories = (
            list(categories) if categories is not None else list(data.LOADGEN_CATEGORIES)
        )
        if not self.people or not self.products or not self.categories:
            raise ValueError("people, products and categories must not be empty")
        self.session_id = session_id or str(uuid.uuid4())
        self.synthetic = synthetic
        self.sampled = sampled
        self.ofrep_url = ofrep_url.rstrip("/") if ofrep_url else None
        self.on_result = on_result
        #: `.trace()`'s quiet window on this client's results: at least the stack's export delay
        self.quiet = quiet

    def __repr__(self) -> str:
        return f"ShopClient({self.base_url!r}, session_id={self.session_id!r})"

    def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        self.session.close()

    def __enter__(self) -> ShopClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one place requests are made ----------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json_body: Any = None,
        task: str | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        synthetic: bool | None = None,
    ) -> FlowResult:
        """One HTTP request with a fresh trace id; never raises for HTTP or network errors.

        A `traceparent` in `headers` is used instead of a fresh one (to continue a trace of
        your own); a `baggage` there replaces the client's. `synthetic` overrides the client's
        choice of `synthetic_request=true` baggage.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        method = method.upper()
        url = self.base_url + path
        query = _encode_params(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        ctx = _given_context(headers) or TraceContext.fresh(self.sampled)
        baggage = {"session.id": self.session_id}
        if self.synthetic if synthetic is None else synthetic:
            baggage["synthetic_request"] = "true"
        extra = dict(headers or {})
        extra.setdefault("baggage", baggage_header(baggage))
        result = send(
            self.session,
            method,
            url,
            ctx,
            headers=extra,
            json_body=json_body,
            timeout=self.timeout,
            task=task,
            name=name or f"{method} {path.split('?')[0]}",
            source=self.sink_store,
        )
        result.quiet = self.quiet
        if self.on_result is not None:
            self.on_result(result)
        return result

    def get(self, path: str, params: Params = None, **kwargs: Any) -> FlowResult:
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> FlowResult:
        return self.request("POST", path, json_body=json, **kwargs)

    def delete(self, path: str, json: Any = None, **kwargs: Any) -> FlowResult:
        return self.request("DELETE", path, json_body=json, **kwargs)

    # -- random choices ----------------------------------------------------------------------
    def random_product(self) -> str:
        return self.rng.choice(self.products)

    def random_quantity(self) -> int:
        return self.rng.choice(data.QUANTITIES)

    def person(self, spec: PersonSpec = None) -> dict[str, Any]:
        """A checkout identity: random, by index, by email, or given as a mapping."""
        if spec is None:
            return dict(self.rng.choice(self.people))
        if isinstance(spec, bool):
            raise TypeError("person must be a mapping, an index or an email")
        if isinstance(spec, int):
            if not -len(self.people) <= spec < len(self.people):
                raise IndexError(f"person #{spec}: only {len(self.people)} people")
            return dict(self.people[spec])
        if isinstance(spec, str):
            for person in self.people:
                if person["email"] == spec:
                    return dict(person)
            known = ", ".join(p["email"] for p in self.people)
            raise LookupError(f"no person with email {spec!r}; known: {known}")
        return data.validate_person(spec)

    # -- the load generator's tasks ----------------------------------------------------------
    def index(self) -> FlowResult:
        """`GET /` (the home page)."""
        return self.get("/", task="index", name="GET /")

    def browse_product(self, product: str | None = None, currency: str | None = None) -> FlowResult:
        """`GET /api/products/{product}` (random product unless given)."""
        product = product or self.random_product()
        return self.get(
            f"/api/products/{_path_segment(product)}",
            {"currencyCode": currency},
            task="browse_product",
            name="GET /api/products/{productId}",
        )

    def get_recommendations(
        self,
        product: str | Sequence[str] | None = None,
        user: str | None = None,
        currency: str | None = None,
    ) -> FlowResult:
        """`GET /api/recommendations?productIds=…` (several ids are comma-joined, as the browser does)."""
        product = product or self.random_product()
        ids = product if isinstance(product, str) else ",".join(product)
        return self.get(
            "/api/recommendations",
            {"productIds": ids, "sessionId": user, "currencyCode": currency},
            task="get_recommendations",
            name="GET /api/recommendations",
        )

    def get_ads(self, category: str | Sequence[str] | None = _RANDOM) -> FlowResult:
        """`GET /api/data/?contextKeys=…` (trailing slash as the load generator; None = no keys)."""
        if category is _RANDOM:
            category = self.rng.choice(self.categories)
        keys = category if category is None or isinstance(category, str) else ",".join(category)
        return self.get("/api/data/", {"contextKeys": keys}, task="get_ads", name="GET /api/data")

    def view_cart(self, user: str | None = None, currency: str | None = None) -> FlowResult:
        """`GET /api/cart` — like the load generator, without sessionId (user "") unless given."""
        return self.get(
            "/api/cart",
            {"sessionId": user, "currencyCode": currency},
            task="view_cart",
            name="GET /api/cart",
        )

    def add_to_cart(
        self,
        user: str | None = None,
        product: str | None = None,
        quantity: int | None = None,
        currency: str | None = None,
    ) -> FlowRun:
        """Browse a product, then `POST /api/cart` with it (user: a fresh uuid1 unless given)."""
        user = user if user is not None else str(uuid.uuid1())
        product = product or self.random_product()
        quantity = _quantity(quantity if quantity is not None else self.random_quantity())
        browse = self.browse_product(product, currency)
        body = {"item": {"productId": product, "quantity": quantity}, "userId": user}
        add = self.post("/api/cart", body, task="add_to_cart", name="POST /api/cart")
        return FlowRun("add_to_cart", [browse, add])

    def checkout(
        self,
        user: str | None = None,
        person: PersonSpec = None,
        product: str | None = None,
        quantity: int | None = None,
        currency: str | None = None,
    ) -> FlowRun:
        """Add one product to a fresh user's cart, then `POST /api/checkout` as a random person."""
        user = user if user is not None else str(uuid.uuid1())
        who = self.person(person)  # resolved first: a bad person sends nothing
        steps = self.add_to_cart(user, product, quantity).steps
        steps.append(self.place_order(user, who, currency, task="checkout"))
        return FlowRun("checkout", steps)

    def checkout_multi(
        self,
        user: str | None = None,
        person: PersonSpec = None,
        items: int | Sequence[ItemSpec] | None = None,
        currency: str | None = None,
    ) -> FlowRun:
        """Add 2–4 products (or `items`: a count, or ids / (id, quantity) pairs), then check out."""
        user = user if user is not None else str(uuid.uuid1())
        who = self.person(person)
        if items is None:
            items = self.rng.choice((2, 3, 4))
        chosen: list[tuple[str | None, int | None]]
        if isinstance(items, int):
            if items < 1:
                raise ValueError(f"checkout_multi needs at least one item, got {items}")
            chosen = [(None, None)] * items
        else:
            chosen = [(i, None) if isinstance(i, str) else (i[0], i[1]) for i in items]
            if not chosen:
                raise ValueError("checkout_multi needs at least one item")
            for product, quantity in chosen:  # validated before anything is sent
                _path_segment(product or "-")
                if quantity is not None:
                    _quantity(quantity)
        steps: list[FlowResult] = []
        for product, quantity in chosen:
            steps += self.add_to_cart(user, product, quantity).steps
        steps.append(self.place_order(user, who, currency, task="checkout_multi"))
        return FlowRun("checkout_multi", steps)

    def flood_home(self, count: int | None = None) -> FlowRun:
        """`GET /` as many times as the flag `loadGeneratorFloodHomepage` says (or `count`)."""
        if count is None:
            count = self.flag_value(FLOOD_FLAG, 0)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"flood count must be a non-negative int, got {count!r}")
        return FlowRun(
            "flood_home", [self.get("/", task="flood_home", name="GET /") for _ in range(count)]
        )

    def get_product_reviews(self, product: str | None = None) -> FlowResult:
        """(2.2.0) `GET /api/product-reviews/{product}`."""
        product = product or self.random_product()
        return self.get(
            f"/api/product-reviews/{_path_segment(product)}",
            task="get_product_reviews",
            name="GET /api/product-reviews/{productId}",
        )

    def ask_product_ai_assistant(
        self, product: str | None = None, question: str = AI_QUESTION
    ) -> FlowResult:
        """(2.2.0) `POST /api/product-ask-ai-assistant/{product}` with `{question}`."""
        product = product or self.random_product()
        return self.post(
            f"/api/product-ask-ai-assistant/{_path_segment(product)}",
            {"question": question},
            task="ask_product_ai_assistant",
            name="POST /api/product-ask-ai-assistant/{productId}",
        )

    # -- the load generator's browser user, replayed as the HTTP calls its pages make -------------
    def open_cart_page_and_change_currency(
        self, user: str | None = None, currency: str = "CHF"
    ) -> FlowRun:
        """(browser task, HTTP replay) Open /cart, then switch the currency selector.

        No browser runs: these are the requests the cart page makes, with the browser user's
        `synthetic_request=true` baggage; there are no `frontend-web` spans. Main: the cart
        fetched in the new currency.
        """
        user = user if user is not None else self.session_id
        steps = [
            self.get("/cart", task=_BROWSER_CART, synthetic=True, name="GET /cart"),
            self.get("/api/currency", task=_BROWSER_CART, synthetic=True, name="GET /api/currency"),
            self.get(
                "/api/cart",
                {"sessionId": user, "currencyCode": "USD"},
                task=_BROWSER_CART,
                synthetic=True,
                name="GET /api/cart",
            ),
        ]
        steps.append(
            self.get(
                "/api/cart",
                {"sessionId": user, "currencyCode": currency},
                task=_BROWSER_CART,
                synthetic=True,
                name="GET /api/cart",
            )
        )
        main = len(steps) - 1
        cart_ids = _cart_product_ids(steps[-1].json) or [self.random_product()]
        steps.append(
            self.get(
                "/api/recommendations",
                {"productIds": ",".join(cart_ids), "sessionId": user, "currencyCode": currency},
                task=_BROWSER_CART,
                synthetic=True,
                name="GET /api/recommendations",
            )
        )
        return FlowRun(_BROWSER_CART, steps, main_index=main)

    def add_product_to_cart(
        self, user: str | None = None, product_name: str = "Roof Binoculars"
    ) -> FlowRun:
        """(browser task, HTTP replay) Home page, click a product, "Add To Cart", go to /cart.

        Main: the `POST /api/cart`. See `open_cart_page_and_change_currency` for what a replay
        is and is not.
        """
        user = user if user is not None else self.session_id
        product, categories = data.product_by_name(product_name)
        task, usd = _BROWSER_ADD, {"currencyCode": "USD"}
        steps = [
            self.get("/", task=task, synthetic=True, name="GET /"),
            self.get("/api/products", usd, task=task, synthetic=True, name="GET /api/products"),
            self.get(
                f"/product/{_path_segment(product)}",
                task=task,
                synthetic=True,
                name="GET /product/{productId}",
            ),
            self.get(
                f"/api/products/{product}",
                usd,
                task=task,
                synthetic=True,
                name="GET /api/products/{productId}",
            ),
        ]
        if categories:  # the page skips the ads call for a product without categories
            steps.append(
                self.get(
                    "/api/data",
                    {"contextKeys": ",".join(categories)},
                    task=task,
                    synthetic=True,
                    name="GET /api/data",
                )
            )
        steps.append(
            self.get(
                "/api/recommendations",
                {"productIds": product, "sessionId": user, "currencyCode": "USD"},
                task=task,
                synthetic=True,
                name="GET /api/recommendations",
            )
        )
        body = {"item": {"productId": product, "quantity": 1}, "userId": user}
        steps.append(self.post("/api/cart", body, task=task, synthetic=True, name="POST /api/cart"))
        main = len(steps) - 1
        steps.append(self.get("/cart", task=task, synthetic=True, name="GET /cart"))
        return FlowRun(task, steps, main_index=main)

    def run_task(self, name: str) -> FlowResult | FlowRun:
        """Run a load-generator task by name with its random defaults."""
        if name not in ALL_TASKS:
            raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(ALL_TASKS))}")
        method: Callable[[], FlowResult | FlowRun] = getattr(self, name)
        return method()

    # -- direct calls for the rest of the API --------------------------------------------------
    def list_products(self, currency: str | None = None) -> FlowResult:
        """`GET /api/products` (converted prices when `currency` is not USD)."""
        return self.get(
            "/api/products",
            {"currencyCode": currency},
            task="list_products",
            name="GET /api/products",
        )

    def get_currencies(self) -> FlowResult:
        """`GET /api/currency` (the supported currency codes)."""
        return self.get("/api/currency", task="get_currencies", name="GET /api/currency")

    def empty_cart(self, user: str) -> FlowResult:
        """`DELETE /api/cart` with `{userId}` (answers 204)."""
        return self.delete(
            "/api/cart", {"userId": user}, task="empty_cart", name="DELETE /api/cart"
        )

    def get_shipping(
        self,
        items: Sequence[ItemSpec],
        address: Mapping[str, Any] | None = None,
        currency: str | None = None,
    ) -> FlowResult:
        """`GET /api/shipping` with `itemList` and `address` as JSON strings (the browser's way)."""
        item_list = [
            {"productId": i, "quantity": 1}
            if isinstance(i, str)
            else {"productId": i[0], "quantity": _quantity(i[1])}
            for i in items
        ]
        address = address if address is not None else self.person()["address"]
        return self.get(
            "/api/shipping",
            {
                "itemList": json.dumps(item_list),
                "address": json.dumps(dict(address)),
                "currencyCode": currency,
            },
            task="get_shipping",
            name="GET /api/shipping",
        )

    def place_order(
        self,
        user: str,
        person: PersonSpec = None,
        currency: str | None = None,
        *,
        task: str = "place_order",
    ) -> FlowResult:
        """`POST /api/checkout` only: the person's JSON plus `userId` (the cart must be filled)."""
        body = self.person(person)
        body["userId"] = user
        if currency:
            body["userCurrency"] = currency
        return self.post(
            "/api/checkout",
            body,
            params={"currencyCode": currency} if currency else None,
            task=task,
            synthetic=True,
            name="POST /api/checkout",
        )

    def flag_value(self, flag: str, default: int) -> int:
        """An int flag over OFREP (`ofrep_url`), or `default` when no flag service is configured."""
        if self.ofrep_url is None:
            return default
        url = f"{self.ofrep_url}/ofrep/v1/evaluate/flags/{flag}"
        try:
            response = self.session.post(url, json={"context": {}}, timeout=self.timeout)
            value = response.json().get("value", default) if response.ok else default
        except (requests.RequestException, ValueError, AttributeError):
            return default  # the load generator also falls back to the default
        return value if isinstance(value, int) and not isinstance(value, bool) else default


def send(
    session: requests.Session,
    method: str,
    url: str,
    context: TraceContext,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    timeout: float = 30.0,
    task: str | None = None,
    name: str | None = None,
    source: TraceSource | None = None,
) -> FlowResult:
    """One HTTP request whose `traceparent` is `context` (any given one is replaced): the
    request path of every flow, and of Tracetest's http trigger. Never raises for HTTP or
    network errors (the result's `error` says what happened)."""
    method = method.upper()
    sent = {
        **{k: v for k, v in (headers or {}).items() if k.lower() != "traceparent"},
        "traceparent": context.traceparent,
    }
    started = time.perf_counter()
    status, text, error = 0, "", None
    response_headers: dict[str, str] = {}
    try:
        response = session.request(
            method, url, json=json_body, data=data, headers=sent, timeout=timeout
        )
        status, text = response.status_code, response.text
        response_headers = dict(response.headers)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    return FlowResult(
        task=task or f"{method.lower()}",
        name=name or f"{method} {urlsplit(url).path or '/'}",
        request=FlowRequest(method, url, json_body, sent),
        trace_id=context.trace_id,
        span_id=context.span_id,
        status_code=status,
        text=text,
        elapsed=time.perf_counter() - started,
        error=error,
        source=source,
        response_headers=response_headers,
    )


def _encode_params(params: Params) -> str:
    if not params:
        return ""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue  # dropped, as `requests` does with None
        if isinstance(value, str):
            pairs.append((key, value))
        else:
            pairs.extend((key, v) for v in value)
    return urlencode(pairs)


def _given_context(headers: Mapping[str, str] | None) -> TraceContext | None:
    """A caller-chosen `traceparent` header (any case) wins over a fresh one."""
    for key, value in (headers or {}).items():
        if key.lower() == "traceparent":
            return TraceContext.parse(value)  # ValueError names the bad header
    return None


def _cart_product_ids(cart: Any) -> list[str]:
    items = cart.get("items") if isinstance(cart, dict) else None
    return [str(i["productId"]) for i in items or [] if isinstance(i, dict) and i.get("productId")]


def _path_segment(value: str) -> str:
    if not value or "/" in value or "?" in value or "#" in value:
        raise ValueError(f"not a usable product id: {value!r}")
    return value


def _quantity(value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"quantity must be a positive int, got {value!r}")
    return value
