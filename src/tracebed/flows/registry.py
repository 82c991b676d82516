"""Every flow tracebed drives, by name: how one run of it is driven, and who uses it.

One table for the three users of flow names: the load generator's task mixes (`tasks.py`:
flows of kind `task` and `browser`), `tracebed record` (flows marked `recorded`) and the
bundled suite's contract checks (every flow here; the contracts name flows by these names).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from tracebed.errors import ConfigError

if TYPE_CHECKING:
    from tracebed.flows.client import ShopClient
    from tracebed.flows.result import FlowResult, FlowRun

FlowKind = Literal["task", "browser", "api"]
FlowDriver = Callable[["ShopClient"], "FlowResult | FlowRun"]

# A product picture every demo release ships (the image-provider's route).
PICTURE = "NationalParkFoundationExplorascope.jpg"


@dataclass(frozen=True, slots=True)
class Flow:
    """One flow.

    `kind`: `task` is a load-generator (Locust `WebsiteUser`) task, `browser` a task of the
    demo's browser user, `api` a single call of the shop's API the browser makes (the suite's
    contracts reach some operations only that way). `drive` runs the flow once on a shop
    client; for the tasks a load run instead calls the client's method of the same name with
    its random defaults. `recorded`: `tracebed record` records it by default.
    """

    name: str
    kind: FlowKind
    drive: FlowDriver
    recorded: bool = False

    @property
    def is_task(self) -> bool:
        """Runnable by name in a task mix (`ShopClient.run_task`, Locust)."""
        return self.kind in ("task", "browser")


def _method(name: str) -> FlowDriver:
    """`shop.<name>()` with the client's random defaults."""

    def drive(shop: ShopClient) -> FlowResult | FlowRun:
        method: Callable[[], FlowResult | FlowRun] = getattr(shop, name)
        return method()

    return drive


def _get_image(shop: ShopClient) -> FlowResult:
    return shop.get(
        f"/images/products/{PICTURE}", task="get_image", name="GET /images/products/{picture}"
    )


def _get_telemetry_docs(shop: ShopClient) -> FlowResult:
    # demo 3.0.0's telemetry-docs, behind the front door's /telemetry/ route
    return shop.get(
        "/telemetry/services/checkout/",
        task="get_telemetry_docs",
        name="GET /telemetry/services/{service_name}",
    )


def _flows(*flows: Flow) -> Mapping[str, Flow]:
    return MappingProxyType({flow.name: flow for flow in flows})


# Recorded flows pin the choices that change a trace's shape (an ad category with ads: always
# the targeted path); choices that only change counts (products, quantities, people) stay
# random. The order is the order `tracebed record` records them in.
FLOWS: Mapping[str, Flow] = _flows(
    Flow("index", "task", _method("index"), recorded=True),
    Flow("browse_product", "task", _method("browse_product"), recorded=True),
    Flow("get_recommendations", "task", _method("get_recommendations"), recorded=True),
    Flow("get_ads", "task", lambda shop: shop.get_ads("telescopes"), recorded=True),
    Flow("view_cart", "task", _method("view_cart"), recorded=True),
    Flow("add_to_cart", "task", _method("add_to_cart"), recorded=True),
    Flow("checkout", "task", _method("checkout"), recorded=True),
    Flow("checkout_multi", "task", _method("checkout_multi"), recorded=True),
    Flow("flood_home", "task", _method("flood_home")),
    # 2.2.0's product-review tasks.
    Flow("get_product_reviews", "task", _method("get_product_reviews")),
    Flow("ask_product_ai_assistant", "task", _method("ask_product_ai_assistant")),
    # The browser user's tasks (Playwright in the demo), replayed as their pages' HTTP calls.
    Flow(
        "open_cart_page_and_change_currency",
        "browser",
        _method("open_cart_page_and_change_currency"),
    ),
    Flow("add_product_to_cart", "browser", _method("add_product_to_cart")),
    # Direct API calls, for the contract operations no task isolates.
    Flow("place_order", "api", _method("checkout")),  # the order is placed by a checkout
    Flow("list_products", "api", _method("list_products")),
    Flow("get_currencies", "api", _method("get_currencies")),
    Flow("get_shipping", "api", lambda shop: shop.get_shipping([("66VCHSJNUP", 2)])),
    Flow("empty_cart", "api", lambda shop: shop.empty_cart(str(uuid.uuid1()))),
    Flow("get_image", "api", _get_image),
    Flow("get_telemetry_docs", "api", _get_telemetry_docs),  # 3.0.0 only
)

#: The flows `tracebed record` records when none are named, in order.
RECORDED_FLOWS: tuple[str, ...] = tuple(name for name, flow in FLOWS.items() if flow.recorded)


def get_flow(name: str) -> Flow:
    """The flow of that name; a `ConfigError` naming the known ones otherwise."""
    try:
        return FLOWS[name]
    except KeyError:
        raise ConfigError(f"unknown flow {name!r}; known: {', '.join(sorted(FLOWS))}") from None


def run_flow(shop: Any, name: str) -> FlowResult | FlowRun:
    """Run the flow `name` once on a shop client."""
    return get_flow(name).drive(shop)
